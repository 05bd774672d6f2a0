//! ActiveSync as both the phones and the stand-in CAS speak it: the phone kinds, their
//! minimal WBXML bodies ([MS-ASWBXML]), and request queries ([MS-ASHTTP] 2.2.1.1.1), both forms:
//! - plain: `Cmd=Sync&User=user1&DeviceId=ApplF17XK2ABC&DeviceType=iPhone`;
//! - base64: the base64 of protocol version (1 byte), command code (1), locale (2, LE),
//!   device ID length and bytes, policy key length (0 or 4) and key (LE), device type length
//!   and bytes, then parameters as tag (1), length (1), value (tag 8 is `User`); percent-encoded
//!   in the URL because base64 uses `+`, `/` and `=`.

use std::fmt::Write;

use crate::{base64, http};

/// Command codes of the base64 form (2.2.1.1.1.1.2).
const COMMANDS: [(&str, u8); 19] = [
    ("Sync", 0),
    ("SendMail", 1),
    ("SmartForward", 2),
    ("SmartReply", 3),
    ("GetAttachment", 4),
    ("FolderSync", 9),
    ("FolderCreate", 10),
    ("FolderDelete", 11),
    ("FolderUpdate", 12),
    ("MoveItems", 13),
    ("GetItemEstimate", 14),
    ("MeetingResponse", 15),
    ("Search", 16),
    ("Settings", 17),
    ("Ping", 18),
    ("ItemOperations", 19),
    ("Provision", 20),
    ("ResolveRecipients", 21),
    ("ValidateCert", 22),
];

/// Protocol version 14.1 as the base64 form writes it.
const PROTOCOL_14_1: u8 = 141;
/// en-US.
const LOCALE: u16 = 0x0409;
const USER_TAG: u8 = 8;

/// The policy key a provisioned device sends (Provision itself goes without).
pub const POLICY_KEY: u32 = 3_942_919_513;

/// The phones the lab simulates: they differ in device ID, device type and query form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneKind {
    IPhone,
    Android,
    /// Windows Phone: the base64 query form.
    WindowsPhone,
}

impl PhoneKind {
    /// The `DeviceType` parameter.
    pub fn device_type(self) -> &'static str {
        match self {
            PhoneKind::IPhone => "iPhone",
            PhoneKind::Android => "Android",
            PhoneKind::WindowsPhone => "WP",
        }
    }

    /// The `DeviceId` parameter of the plain form: iPhones and Android phones use printable
    /// IDs; Windows Phone sends a binary one (hex here).
    pub fn device_id_text(self, device_id: &[u8; 8]) -> String {
        let mut hex = String::with_capacity(2 * device_id.len());
        for byte in device_id {
            let _ = write!(hex, "{byte:02X}");
        }
        match self {
            // 8 bytes make 16 hex digits, so the first 12 are there.
            PhoneKind::IPhone => format!("Appl{}", &hex[..12]),
            PhoneKind::Android => format!("androidc{}", hex.to_ascii_lowercase()),
            PhoneKind::WindowsPhone => hex,
        }
    }
}

pub fn plain_query(command: &str, user: &str, device_id: &str, device_type: &str) -> String {
    format!("Cmd={command}&User={user}&DeviceId={device_id}&DeviceType={device_type}")
}

/// The base64 form, percent-encoded; `None` for a command without a code or a field longer
/// than its one-byte length allows.
pub fn base64_query(
    command: &str,
    device_id: &[u8],
    policy_key: Option<u32>,
    device_type: &str,
    user: Option<&str>,
) -> Option<String> {
    let code = COMMANDS.iter().find(|(name, _)| *name == command)?.1;
    let mut raw = vec![PROTOCOL_14_1, code];
    raw.extend_from_slice(&LOCALE.to_le_bytes());
    push_counted(&mut raw, device_id)?;
    let key = policy_key.map(u32::to_le_bytes);
    push_counted(&mut raw, key.as_ref().map_or(&[][..], |key| &key[..]))?;
    push_counted(&mut raw, device_type.as_bytes())?;
    if let Some(user) = user {
        raw.push(USER_TAG);
        push_counted(&mut raw, user.as_bytes())?;
    }
    Some(http::url_encode(&base64::encode(&raw)))
}

fn push_counted(out: &mut Vec<u8>, field: &[u8]) -> Option<()> {
    out.push(u8::try_from(field.len()).ok()?);
    out.extend_from_slice(field);
    Some(())
}

/// A phone's minimal request body: `<Root><FirstChild>0</FirstChild></Root>`.
pub fn wbxml_request(command: &str) -> Vec<u8> {
    let tags = tags(command);
    wbxml_document(&tags, tags.first_child, b'0')
}

/// The CAS's minimal response: `<Root><Status>1</Status></Root>`.
pub fn wbxml_status(command: &str) -> Vec<u8> {
    let tags = tags(command);
    wbxml_document(&tags, tags.status, b'1')
}

/// The code page and tags of a command's documents ([MS-ASWBXML]).
struct Tags {
    page: u8,
    root: u8,
    /// The request's first child element.
    first_child: u8,
    /// The response's `Status` element.
    status: u8,
}

/// Commands without a page of their own use AirSync's `Sync`.
fn tags(command: &str) -> Tags {
    let (page, root, first_child, status) = match command {
        "FolderSync" => (7, 0x16, 0x12, 0x0C),
        "Ping" => (13, 0x05, 0x08, 0x07),
        "Provision" => (14, 0x05, 0x06, 0x0B),
        _ => (0, 0x05, 0x0B, 0x0E),
    };
    Tags {
        page,
        root,
        first_child,
        status,
    }
}

/// `<Root><Child>value</Child></Root>` with a one-byte inline string, in the tags' code page.
fn wbxml_document(tags: &Tags, child: u8, value: u8) -> Vec<u8> {
    const VERSION_1_3: u8 = 0x03;
    const UNKNOWN_PUBLIC_ID: u8 = 0x01;
    const UTF_8: u8 = 0x6A;
    const EMPTY_STRING_TABLE: u8 = 0x00;
    const SWITCH_PAGE: u8 = 0x00;
    const WITH_CONTENT: u8 = 0x40;
    const STR_I: u8 = 0x03;
    const END: u8 = 0x01;
    vec![
        VERSION_1_3,
        UNKNOWN_PUBLIC_ID,
        UTF_8,
        EMPTY_STRING_TABLE,
        SWITCH_PAGE,
        tags.page,
        tags.root | WITH_CONTENT,
        child | WITH_CONTENT,
        STR_I,
        value,
        0x00,
        END,
        END,
    ]
}

/// The command of a query in either form (`code N` for an unnamed code), for the CAS log.
pub fn command(query: &str) -> Option<String> {
    if query.contains('&') || query.contains("Cmd=") {
        return http::form_field(query, "Cmd");
    }
    let raw = base64::decode(&http::url_decode(query, false))?;
    let code = *raw.get(1)?;
    Some(
        COMMANDS
            .iter()
            .find(|(_, c)| *c == code)
            .map_or_else(|| format!("code {code}"), |(name, _)| (*name).to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_form_names_every_parameter() {
        let query = plain_query("Sync", "user2", "ApplF17XK2ABC", "iPhone");
        assert_eq!(
            query,
            "Cmd=Sync&User=user2&DeviceId=ApplF17XK2ABC&DeviceType=iPhone"
        );
        assert_eq!(command(&query).as_deref(), Some("Sync"));
    }

    #[test]
    fn base64_form_has_the_specified_layout() {
        let query =
            base64_query("Ping", &[0xAB, 0xCD], Some(0x0102_0304), "WP", Some("u1")).unwrap();
        let raw = base64::decode(&http::url_decode(&query, false)).unwrap();
        assert_eq!(
            raw,
            [141, 18, 0x09, 0x04, 2, 0xAB, 0xCD, 4, 4, 3, 2, 1, 2, b'W', b'P', 8, 2, b'u', b'1']
        );
        assert!(!query.contains(['+', '/', '=']));
        assert_eq!(command(&query).as_deref(), Some("Ping"));
    }

    #[test]
    fn base64_form_without_policy_key_or_user() {
        let query = base64_query("FolderSync", &[1; 16], None, "WP", None).unwrap();
        let raw = base64::decode(&http::url_decode(&query, false)).unwrap();
        assert_eq!(raw.len(), 4 + 17 + 1 + 3);
        assert_eq!(raw[21], 0);
        assert_eq!(command(&query).as_deref(), Some("FolderSync"));
    }

    #[test]
    fn device_ids_per_kind() {
        let id = [0xAB, 0xCD, 0xEF, 0x01, 0x02, 0x03, 0x04, 0x05];
        assert_eq!(PhoneKind::IPhone.device_id_text(&id), "ApplABCDEF010203");
        assert_eq!(
            PhoneKind::Android.device_id_text(&id),
            "androidcabcdef0102030405"
        );
        assert_eq!(
            PhoneKind::WindowsPhone.device_id_text(&id),
            "ABCDEF0102030405"
        );
        assert_eq!(PhoneKind::WindowsPhone.device_type(), "WP");
    }

    #[test]
    fn wbxml_documents_in_the_command_page() {
        assert_eq!(
            wbxml_status("FolderSync"),
            [0x03, 0x01, 0x6A, 0x00, 0x00, 7, 0x56, 0x4C, 0x03, b'1', 0x00, 0x01, 0x01]
        );
        assert_eq!(
            wbxml_status("Ping"),
            [3, 1, 0x6A, 0, 0, 13, 0x45, 0x47, 3, b'1', 0, 1, 1]
        );
        assert_eq!(
            wbxml_request("Sync"),
            [0x03, 0x01, 0x6A, 0x00, 0x00, 0, 0x45, 0x4B, 0x03, b'0', 0x00, 0x01, 0x01]
        );
        assert_eq!(wbxml_request("Provision")[5..8], [14, 0x45, 0x46]);
    }

    #[test]
    fn unknown_commands_and_garbage() {
        assert_eq!(base64_query("Options", &[], None, "WP", None), None);
        assert_eq!(base64_query("Sync", &[0; 256], None, "WP", None), None);
        assert_eq!(
            command(&base64::encode(&[141, 99, 9, 4])).as_deref(),
            Some("code 99")
        );
        assert_eq!(command("%%%"), None);
        assert_eq!(command(""), None);
    }
}
