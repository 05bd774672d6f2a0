//! ActiveSync request parameters ([MS-ASHTTP] 2.2.1.1.1): who (`User`), which device
//! (`DeviceId`, `DeviceType`) and what (`Cmd`), from the query of `/Microsoft-Server-ActiveSync`.
//!
//! Two forms exist:
//! - plain text (2.2.1.1.1.2): `?Cmd=Sync&User=jdoe&DeviceId=ABC&DeviceType=iPhone`, percent-
//!   encoded, names case-insensitive;
//! - base64 (2.2.1.1.1.1, protocol 12.1 and later): the whole query is the base64 of a byte
//!   sequence: protocol version (1 byte), command code (1), locale (2), device ID length (1) and
//!   bytes, policy key length (1, 0 or 4) and bytes, device type length (1) and bytes, then
//!   command parameters, each tag (1), length (1), value. Tag 8 is `User`; it is optional, and
//!   without it the user is only in `Authorization`.
//!
//! A query is the base64 form when it has no `&` and no `=` other than trailing padding.

use super::{decode_base64, decode_text, excerpt, non_empty, Anomalies};

/// The ActiveSync parameters of one request; `None` where the request does not give one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveSyncParams {
    pub user: Option<String>,
    /// As sent; in the base64 form a device ID that is not printable ASCII (a binary GUID) is
    /// written in uppercase hex.
    pub device_id: Option<String>,
    pub device_type: Option<String>,
    /// The command name (`Sync`, `Ping`, …); the base64 form's code is translated.
    pub cmd: Option<String>,
}

/// Reads the parameters of an ActiveSync request's query (the part after `?`).
pub(super) fn parse_query(query: &str, anomalies: &mut Anomalies) -> ActiveSyncParams {
    if query.is_empty() {
        ActiveSyncParams::default()
    } else if query.trim_end_matches('=').contains(['=', '&']) {
        parse_plain_query(query)
    } else {
        parse_base64_query(query, anomalies)
    }
}

fn parse_plain_query(query: &str) -> ActiveSyncParams {
    let mut params = ActiveSyncParams::default();
    for (name, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        let field = if name.eq_ignore_ascii_case("Cmd") {
            &mut params.cmd
        } else if name.eq_ignore_ascii_case("User") {
            &mut params.user
        } else if name.eq_ignore_ascii_case("DeviceId") {
            &mut params.device_id
        } else if name.eq_ignore_ascii_case("DeviceType") {
            &mut params.device_type
        } else {
            continue;
        };
        if field.is_none() {
            *field = non_empty(decode_text(&percent_decode(value, true)));
        }
    }
    params
}

/// Tag of the `User` command parameter (2.2.1.1.1.1.3).
const USER_TAG: u8 = 8;

fn parse_base64_query(query: &str, anomalies: &mut Anomalies) -> ActiveSyncParams {
    // '+', '/' and '=' may arrive percent-encoded; a '+' here is base64, not a space.
    let Some(raw) = decode_base64(percent_decode(query, false)) else {
        anomalies
            .report("activesync_bad_query", format!("query is neither key=value pairs nor base64: {}", excerpt(query)));
        return ActiveSyncParams::default();
    };
    let mut reader = ByteReader { rest: &raw };
    let Some(header) = EncodedHeader::read(&mut reader) else {
        anomalies.report("activesync_bad_query", format!("base64 query truncated ({} bytes)", raw.len()));
        return ActiveSyncParams::default();
    };
    let cmd = command_name(header.command);
    if cmd.is_none() {
        anomalies.report("activesync_unknown_command", format!("command code {}", header.command));
    }
    let mut user = None;
    while !reader.rest.is_empty() {
        let Some((tag, value)) = reader.parameter() else {
            anomalies.report(
                "activesync_bad_query",
                format!("command parameter truncated ({} bytes left)", reader.rest.len()),
            );
            break;
        };
        if tag == USER_TAG && user.is_none() {
            user = non_empty(decode_text(value));
        }
    }
    ActiveSyncParams {
        user,
        device_id: non_empty(device_id_text(header.device_id)),
        device_type: non_empty(decode_text(header.device_type)),
        cmd: cmd.map(str::to_owned),
    }
}

/// The fixed fields of the base64 form that precede the command parameters.
struct EncodedHeader<'a> {
    command: u8,
    device_id: &'a [u8],
    device_type: &'a [u8],
}

impl<'a> EncodedHeader<'a> {
    fn read(reader: &mut ByteReader<'a>) -> Option<Self> {
        let _protocol_version = reader.byte()?;
        let command = reader.byte()?;
        let _locale = reader.bytes(2)?;
        let device_id = reader.counted()?;
        let _policy_key = reader.counted()?;
        let device_type = reader.counted()?;
        Some(EncodedHeader { command, device_id, device_type })
    }
}

/// Bounds-checked reading from the front of a byte slice.
struct ByteReader<'a> {
    rest: &'a [u8],
}

impl<'a> ByteReader<'a> {
    fn bytes(&mut self, count: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(count)?;
        self.rest = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.bytes(1)?.first().copied()
    }

    /// A field preceded by its one-byte length.
    fn counted(&mut self) -> Option<&'a [u8]> {
        let len = self.byte()?;
        self.bytes(usize::from(len))
    }

    /// A command parameter: tag, then a counted value.
    fn parameter(&mut self) -> Option<(u8, &'a [u8])> {
        Some((self.byte()?, self.counted()?))
    }
}

/// Command codes of the base64 form (2.2.1.1.1.1.2); 5 to 8 are unassigned.
fn command_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "Sync",
        1 => "SendMail",
        2 => "SmartForward",
        3 => "SmartReply",
        4 => "GetAttachment",
        9 => "FolderSync",
        10 => "FolderCreate",
        11 => "FolderDelete",
        12 => "FolderUpdate",
        13 => "MoveItems",
        14 => "GetItemEstimate",
        15 => "MeetingResponse",
        16 => "Search",
        17 => "Settings",
        18 => "Ping",
        19 => "ItemOperations",
        20 => "Provision",
        21 => "ResolveRecipients",
        22 => "ValidateCert",
        _ => return None,
    })
}

/// A device ID as text: itself when printable ASCII, else uppercase hex (a binary GUID).
fn device_id_text(bytes: &[u8]) -> String {
    if bytes.iter().all(u8::is_ascii_graphic) {
        decode_text(bytes)
    } else {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// Percent-decoding of a query component; a `%` not followed by two hex digits stays as is.
/// `plus_as_space` for `key=value` queries, where ASP.NET (and so Exchange) reads `+` as a space.
fn percent_decode(text: &str, plus_as_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let escaped = (byte == b'%').then(|| bytes.get(at + 1..at + 3).and_then(hex_pair)).flatten();
        match (escaped, byte) {
            (Some(decoded), _) => {
                out.push(decoded);
                at += 3;
                continue;
            }
            (None, b'+') if plus_as_space => out.push(b' '),
            (None, other) => out.push(other),
        }
        at += 1;
    }
    out
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let [high, low] = pair else { return None };
    let digit = |b: &u8| char::from(*b).to_digit(16);
    u8::try_from(digit(high)? * 16 + digit(low)?).ok()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::timestamp::Timestamp;

    fn parse(query: &str) -> (ActiveSyncParams, Vec<&'static str>) {
        let mut anomalies = Anomalies::new(Timestamp::default());
        let params = parse_query(query, &mut anomalies);
        (params, anomalies.list.iter().map(|a| a.kind).collect())
    }

    fn params(
        user: Option<&str>,
        device_id: Option<&str>,
        device_type: Option<&str>,
        cmd: Option<&str>,
    ) -> ActiveSyncParams {
        let own = |s: Option<&str>| s.map(str::to_owned);
        ActiveSyncParams { user: own(user), device_id: own(device_id), device_type: own(device_type), cmd: own(cmd) }
    }

    /// The base64 byte sequence of 2.2.1.1.1.1, built field by field.
    fn encoded(
        command: u8,
        device_id: &[u8],
        policy_key: &[u8],
        device_type: &[u8],
        parameters: &[(u8, &[u8])],
    ) -> Vec<u8> {
        let mut bytes = vec![141, command, 0x09, 0x04]; // protocol 14.1, locale 0x0409 (en-US)
        for field in [device_id, policy_key, device_type] {
            bytes.push(field.len() as u8);
            bytes.extend_from_slice(field);
        }
        for (tag, value) in parameters {
            bytes.push(*tag);
            bytes.push(value.len() as u8);
            bytes.extend_from_slice(value);
        }
        bytes
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn plain_query() {
        let (parsed, anomalies) = parse("Cmd=Sync&User=CONTOSO%5Cjdoe&DeviceId=ApplDNPX12345&DeviceType=iPhone");
        assert_eq!(parsed, params(Some("CONTOSO\\jdoe"), Some("ApplDNPX12345"), Some("iPhone"), Some("Sync")));
        assert!(anomalies.is_empty());
    }

    #[test]
    fn plain_query_case_plus_duplicates_and_garbage() {
        let query = "cmd=Ping&USER=j+doe%40contoso.com&deviceid=&DeviceId=A%zzB&DeviceType=Android%&User=second&junk&=x&Extra=1";
        assert_eq!(
            parse(query),
            (params(Some("j doe@contoso.com"), Some("A%zzB"), Some("Android%"), Some("Ping")), vec![])
        );
        // UTF-8 escapes; a query without the parameters.
        assert_eq!(parse("User=J%C3%BCrgen&Cmd=Sync").0, params(Some("Jürgen"), None, None, Some("Sync")));
        assert_eq!(parse("a=b&c=d"), (ActiveSyncParams::default(), vec![]));
        assert_eq!(parse(""), (ActiveSyncParams::default(), vec![]));
    }

    #[test]
    fn base64_example_of_the_specification() {
        // [MS-ASHTTP] 2.2.1.1.1.1: protocol 14.0, Sync, en-US, device "v140Device", no policy
        // key, type "SmartPhone", no parameters.
        let (parsed, anomalies) = parse("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l");
        assert_eq!(parsed, params(None, Some("v140Device"), Some("SmartPhone"), Some("Sync")));
        assert!(anomalies.is_empty());
    }

    #[test]
    fn base64_with_user_policy_key_and_binary_device_id() {
        let guid = [0xFB, 0xFF, 0xE0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x00, 0x10, 0x20, 0x30, 0x40];
        let bytes =
            encoded(9, &guid, &[1, 2, 3, 4], b"iPhone", &[(7, &[0x01]), (USER_TAG, b"jdoe"), (USER_TAG, b"later")]);
        let query = b64(&bytes);
        assert!(query.contains('/') && query.contains('+'), "vector must exercise '+' and '/': {query}");
        let expected =
            params(Some("jdoe"), Some("FBFFE00123456789ABCDEF0010203040"), Some("iPhone"), Some("FolderSync"));
        assert_eq!(parse(&query), (expected.clone(), vec![]));
        // The same, percent-encoded as some clients send it.
        let escaped = query.replace('+', "%2B").replace('/', "%2f").replace('=', "%3D");
        assert_eq!(parse(&escaped), (expected, vec![]));
    }

    #[test]
    fn base64_without_user_and_padding() {
        let bytes = encoded(18, b"ABC", &[], b"WP8", &[]);
        let query = b64(&bytes);
        assert!(query.ends_with('='));
        assert_eq!(parse(&query).0, params(None, Some("ABC"), Some("WP8"), Some("Ping")));
        assert_eq!(parse(query.trim_end_matches('=')).0, params(None, Some("ABC"), Some("WP8"), Some("Ping")));
    }

    #[test]
    fn every_command_code() {
        let names = [
            (0, "Sync"),
            (1, "SendMail"),
            (2, "SmartForward"),
            (3, "SmartReply"),
            (4, "GetAttachment"),
            (9, "FolderSync"),
            (10, "FolderCreate"),
            (11, "FolderDelete"),
            (12, "FolderUpdate"),
            (13, "MoveItems"),
            (14, "GetItemEstimate"),
            (15, "MeetingResponse"),
            (16, "Search"),
            (17, "Settings"),
            (18, "Ping"),
            (19, "ItemOperations"),
            (20, "Provision"),
            (21, "ResolveRecipients"),
            (22, "ValidateCert"),
        ];
        for code in 0..=u8::MAX {
            let expected = names.iter().find(|(c, _)| *c == code).map(|(_, name)| *name);
            assert_eq!(command_name(code), expected, "code {code}");
        }
    }

    #[test]
    fn base64_unknown_command_is_reported() {
        let (parsed, anomalies) = parse(&b64(&encoded(5, b"D1", &[], b"T", &[])));
        assert_eq!(parsed, params(None, Some("D1"), Some("T"), None));
        assert_eq!(anomalies, ["activesync_unknown_command"]);
    }

    #[test]
    fn base64_truncated_or_invalid() {
        let whole = encoded(0, b"DEVICE", &[1, 2, 3, 4], b"TYPE", &[(USER_TAG, b"jdoe")]);
        let header_len = whole.len() - 6;
        for len in 1..header_len {
            assert_eq!(
                parse(&b64(&whole[..len])),
                (ActiveSyncParams::default(), vec!["activesync_bad_query"]),
                "length {len}"
            );
        }
        // Cut inside the parameter: the fixed fields are kept.
        for len in header_len + 1..whole.len() {
            let (parsed, anomalies) = parse(&b64(&whole[..len]));
            assert_eq!(parsed, params(None, Some("DEVICE"), Some("TYPE"), Some("Sync")), "length {len}");
            assert_eq!(anomalies, ["activesync_bad_query"], "length {len}");
        }
        assert_eq!(parse("not*base64"), (ActiveSyncParams::default(), vec!["activesync_bad_query"]));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2B%", true), b"a b c+%");
        assert_eq!(percent_decode("a%20b+c%2B%", false), b"a b+c+%");
        assert_eq!(percent_decode("%4", false), b"%4");
        assert_eq!(percent_decode("%%41%g1%ff", false), b"%A%g1\xff");
        assert_eq!(percent_decode("é%C3%A9", false), "éé".as_bytes());
    }
}
