//! ActiveSync request queries ([MS-ASHTTP] 2.2.1.1.1), both forms:
//! - plain: `Cmd=Sync&User=user1&DeviceId=ApplF17XK2ABC&DeviceType=iPhone`;
//! - base64: the base64 of protocol version (1 byte), command code (1), locale (2, LE),
//!   device ID length and bytes, policy key length (0 or 4) and key (LE), device type length
//!   and bytes, then parameters as tag (1), length (1), value (tag 8 is `User`); percent-encoded
//!   in the URL because base64 uses `+`, `/` and `=`.

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
