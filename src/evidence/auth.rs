//! `Authorization`: the scheme, and the user name when the credentials carry one in clear.
//!
//! - Basic (RFC 7617): base64 of `user:password`; only the part before the first `:` is kept.
//! - NTLM ([MS-NLMP] 2.2.1.3), alone or inside a Negotiate/SPNEGO token: the AUTHENTICATE
//!   message's domain and user fields, `DOMAIN\user`; the LM/NT responses are never read.
//! - Negotiate with a Kerberos or SPNEGO token: `kerberos` when the token names a Kerberos
//!   mechanism, else `negotiate`; no user (it is inside the encrypted ticket).
//!
//! Password bytes never leave this module and are never quoted in an anomaly.

use super::{decode_base64, decode_text, non_empty, Anomalies};

/// What an `Authorization` header says about who is logging on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Credentials {
    /// Lowercased; `ntlm` or `kerberos` for a Negotiate token whose mechanism is known.
    pub scheme: String,
    pub username: Option<String>,
}

/// Longest scheme kept: registered schemes are far shorter, and a long "scheme" is more likely
/// a bare credential.
const MAX_SCHEME_LEN: usize = 32;

/// Schemes kept even without credentials after them. Any other lone word may be a credential
/// sent without a scheme, so it is not kept.
const SCHEMES_ALONE: [&str; 6] = ["basic", "bearer", "digest", "kerberos", "negotiate", "ntlm"];

/// Reads an `Authorization` header; `None` when it is blank or has no usable scheme (reported
/// by length only: the word may be a credential).
pub(super) fn parse_authorization(header: &str, anomalies: &mut Anomalies) -> Option<Credentials> {
    let header = header.trim();
    if header.is_empty() {
        return None;
    }
    let (scheme, token) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    let scheme = scheme.to_ascii_lowercase();
    let token = token.trim();
    if !is_scheme(&scheme) || (token.is_empty() && !SCHEMES_ALONE.contains(&scheme.as_str())) {
        anomalies.report("auth_bad_scheme", format!("Authorization without a usable scheme ({} chars)", header.len()));
        return None;
    }
    let credentials = match scheme.as_str() {
        "basic" => Credentials { username: basic_user(token, anomalies), scheme },
        "ntlm" => Credentials {
            username: decode_token(&scheme, token, anomalies).and_then(|t| ntlm_user(&t, anomalies)),
            scheme,
        },
        "negotiate" => match decode_token(&scheme, token, anomalies) {
            Some(t) => negotiate(&t, anomalies),
            None => Credentials { scheme, username: None },
        },
        _ => Credentials { scheme, username: None },
    };
    Some(credentials)
}

/// An RFC 9110 token (`tchar`s) of at most [`MAX_SCHEME_LEN`] characters.
fn is_scheme(word: &str) -> bool {
    (1..=MAX_SCHEME_LEN).contains(&word.len())
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The base64 token of a scheme, reported when it does not decode. An empty token (a bare
/// `Negotiate`) is absent, not malformed.
fn decode_token(scheme: &str, token: &str, anomalies: &mut Anomalies) -> Option<Vec<u8>> {
    if token.is_empty() {
        return None;
    }
    let decoded = decode_base64(token);
    if decoded.is_none() {
        anomalies.report("auth_bad_base64", format!("{scheme} credentials are not base64 ({} chars)", token.len()));
    }
    decoded
}

/// The user of Basic credentials: what precedes the first `:` of the decoded `user:password`.
fn basic_user(token: &str, anomalies: &mut Anomalies) -> Option<String> {
    let decoded = decode_token("basic", token, anomalies)?;
    let mut parts = decoded.splitn(2, |&b| b == b':');
    let user = parts.next().unwrap_or_default();
    if parts.next().is_none() {
        anomalies.report(
            "auth_basic_without_colon",
            format!("decoded Basic credentials have no ':' ({} bytes)", decoded.len()),
        );
        return None;
    }
    non_empty(decode_text(user))
}

/// How a Negotiate token is read (RFC 4559): NTLM inside it (raw, or wrapped in SPNEGO) makes
/// it `ntlm`; a GSS-API token naming a Kerberos mechanism makes it `kerberos`.
fn negotiate(token: &[u8], anomalies: &mut Anomalies) -> Credentials {
    if let Some(ntlm) = find(token, NTLMSSP_SIGNATURE).and_then(|at| token.get(at..)) {
        return Credentials { scheme: "ntlm".to_owned(), username: ntlm_user(ntlm, anomalies) };
    }
    let scheme = if token.first() == Some(&GSS_INITIAL_CONTEXT_TOKEN) && names_kerberos(token) {
        "kerberos"
    } else {
        "negotiate"
    };
    Credentials { scheme: scheme.to_owned(), username: None }
}

/// `[APPLICATION 0]`, the DER tag that opens a GSS-API initial context token (RFC 2743 §3.1).
const GSS_INITIAL_CONTEXT_TOKEN: u8 = 0x60;

/// DER of the Kerberos v5 mechanism OIDs: 1.2.840.113554.1.2.2 and Microsoft's
/// 1.2.840.48018.1.2.2 (what Windows lists first in SPNEGO).
const KERBEROS_OIDS: [&[u8]; 2] = [
    &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02],
    &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02],
];

/// How far into a token the mechanism OIDs are looked for: the token's own OID and SPNEGO's
/// mechTypes list come first, long before the Kerberos AP-REQ (cheap, and no chance to match
/// inside the ticket's ciphertext).
const MECHANISM_WINDOW: usize = 128;

fn names_kerberos(token: &[u8]) -> bool {
    let head = token.get(..MECHANISM_WINDOW).unwrap_or(token);
    KERBEROS_OIDS.iter().any(|oid| find(head, oid).is_some())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

const NTLMSSP_SIGNATURE: &[u8] = b"NTLMSSP\0";
const NTLM_AUTHENTICATE: u32 = 3;
/// NTLMSSP_NEGOTIATE_UNICODE: strings are UTF-16LE; else they are in the OEM code page.
const NTLM_NEGOTIATE_UNICODE: u32 = 0x0000_0001;

/// Offsets in the AUTHENTICATE message of the fields this module reads ([MS-NLMP] 2.2.1.3).
/// The LM and NT response fields, at 12 and 20, are deliberately never read.
const MESSAGE_TYPE_AT: usize = 8;
const DOMAIN_FIELDS_AT: usize = 28;
const USER_FIELDS_AT: usize = 36;
const FLAGS_AT: usize = 60;
/// End of the fixed header when it has NegotiateFlags; old (NTLMv1-era) messages end at 52
/// and their payload starts there.
const HEADER_WITH_FLAGS_LEN: usize = 64;

/// `DOMAIN\user` (or `user` with an empty domain) of an NTLM AUTHENTICATE message; `None`
/// for the NEGOTIATE and CHALLENGE messages, an anonymous logon, or a malformed message
/// (reported).
fn ntlm_user(message: &[u8], anomalies: &mut Anomalies) -> Option<String> {
    if !message.starts_with(NTLMSSP_SIGNATURE) {
        anomalies.report("auth_ntlm_malformed", format!("token is not an NTLMSSP message ({} bytes)", message.len()));
        return None;
    }
    match read_u32(message, MESSAGE_TYPE_AT) {
        Some(NTLM_AUTHENTICATE) => {}
        Some(_) => return None,
        None => {
            anomalies.report("auth_ntlm_malformed", format!("NTLMSSP message truncated at {} bytes", message.len()));
            return None;
        }
    }
    let (Some(domain), Some(user)) =
        (security_buffer(message, DOMAIN_FIELDS_AT), security_buffer(message, USER_FIELDS_AT))
    else {
        anomalies.report(
            "auth_ntlm_malformed",
            format!("AUTHENTICATE domain or user field outside the {}-byte message", message.len()),
        );
        return None;
    };
    let unicode = ntlm_flags(message) & NTLM_NEGOTIATE_UNICODE != 0;
    let text = |bytes: &[u8]| if unicode { decode_utf16le(bytes) } else { decode_text(bytes) };
    let user = text(user);
    if user.is_empty() {
        return None;
    }
    let domain = text(domain);
    Some(if domain.is_empty() { user } else { format!("{domain}\\{user}") })
}

/// NegotiateFlags, or 0 (OEM strings) for an old message whose payload starts where the
/// flags would be.
fn ntlm_flags(message: &[u8]) -> u32 {
    let user_offset = read_u32(message, USER_FIELDS_AT + 4).and_then(|o| usize::try_from(o).ok()).unwrap_or(0);
    if user_offset < HEADER_WITH_FLAGS_LEN {
        return 0;
    }
    read_u32(message, FLAGS_AT).unwrap_or(0)
}

/// The bytes a security buffer (length u16, allocated u16, offset u32) points at, if they are
/// inside the message.
fn security_buffer(message: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(read_u16(message, at)?);
    let offset = usize::try_from(read_u32(message, at.checked_add(4)?)?).ok()?;
    message.get(offset..offset.checked_add(len)?)
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(field.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

/// UTF-16LE, invalid units replaced; an odd trailing byte is dropped.
fn decode_utf16le(bytes: &[u8]) -> String {
    let units = bytes.chunks_exact(2).filter_map(|pair| pair.try_into().ok()).map(u16::from_le_bytes);
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::timestamp::Timestamp;

    const NTLM_NEGOTIATE_OEM: u32 = 0x0000_0002;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// An AUTHENTICATE message as Windows lays it out: the 64-byte header with NegotiateFlags
    /// (no Version, no MIC), then domain, user, workstation, LM and NT responses.
    fn authenticate_message(domain: &[u8], user: &[u8], flags: u32) -> Vec<u8> {
        let workstation = b"WS01";
        let lm_response = [0xAA; 24];
        let nt_response = [0xBB; 24];
        let payload: [&[u8]; 5] = [domain, user, workstation, &lm_response, &nt_response];
        let mut offsets = Vec::new();
        let mut next = HEADER_WITH_FLAGS_LEN;
        for field in payload {
            offsets.push((field.len(), next));
            next += field.len();
        }
        let field = |(len, offset): (usize, usize)| {
            let mut f = Vec::new();
            f.extend_from_slice(&(len as u16).to_le_bytes());
            f.extend_from_slice(&(len as u16).to_le_bytes());
            f.extend_from_slice(&(offset as u32).to_le_bytes());
            f
        };
        let mut message = NTLMSSP_SIGNATURE.to_vec();
        message.extend_from_slice(&NTLM_AUTHENTICATE.to_le_bytes());
        message.extend(field(offsets[3])); // LmChallengeResponseFields
        message.extend(field(offsets[4])); // NtChallengeResponseFields
        message.extend(field(offsets[0])); // DomainNameFields
        message.extend(field(offsets[1])); // UserNameFields
        message.extend(field(offsets[2])); // WorkstationFields
        message.extend(field((0, next))); // EncryptedRandomSessionKeyFields
        message.extend_from_slice(&flags.to_le_bytes());
        assert_eq!(message.len(), HEADER_WITH_FLAGS_LEN);
        for field in payload {
            message.extend_from_slice(field);
        }
        message
    }

    fn parse(header: &str) -> (Option<Credentials>, Vec<&'static str>) {
        let mut anomalies = Anomalies::new(Timestamp::default());
        let credentials = parse_authorization(header, &mut anomalies);
        (credentials, anomalies.list.iter().map(|a| a.kind).collect())
    }

    fn credentials(scheme: &str, username: Option<&str>) -> Option<Credentials> {
        Some(Credentials { scheme: scheme.to_owned(), username: username.map(str::to_owned) })
    }

    #[test]
    fn basic_keeps_the_user_only() {
        let header = format!("Basic {}", b64(b"CONTOSO\\jdoe:pa:ss"));
        let (parsed, anomalies) = parse(&header);
        assert_eq!(parsed, credentials("basic", Some("CONTOSO\\jdoe")));
        assert!(anomalies.is_empty());
        // Scheme case-insensitive, padding optional, extra blanks tolerated.
        let unpadded = b64(b"jdoe@contoso.com:secret").trim_end_matches('=').to_owned();
        assert_eq!(parse(&format!("  bAsIc   {unpadded} ")).0, credentials("basic", Some("jdoe@contoso.com")));
        // Latin-1 user names (not UTF-8) are read byte for byte.
        assert_eq!(parse(&format!("Basic {}", b64(b"j\xfcrgen:x"))).0, credentials("basic", Some("jürgen")));
    }

    #[test]
    fn basic_without_user_or_colon_or_base64() {
        assert_eq!(parse(&format!("Basic {}", b64(b":secret"))), (credentials("basic", None), vec![]));
        assert_eq!(
            parse(&format!("Basic {}", b64(b"secret"))),
            (credentials("basic", None), vec!["auth_basic_without_colon"])
        );
        assert_eq!(parse("Basic !!notbase64!!"), (credentials("basic", None), vec!["auth_bad_base64"]));
        assert_eq!(parse("Basic"), (credentials("basic", None), vec![]));
    }

    #[test]
    fn ntlm_authenticate_unicode() {
        let message = authenticate_message(&utf16le("CONTOSO"), &utf16le("Jürgen"), NTLM_NEGOTIATE_UNICODE);
        let (parsed, anomalies) = parse(&format!("NTLM {}", b64(&message)));
        assert_eq!(parsed, credentials("ntlm", Some("CONTOSO\\Jürgen")));
        assert!(anomalies.is_empty());
    }

    #[test]
    fn ntlm_authenticate_oem() {
        let message = authenticate_message(b"CONTOSO", b"jdoe", NTLM_NEGOTIATE_OEM);
        assert_eq!(parse(&format!("NTLM {}", b64(&message))), (credentials("ntlm", Some("CONTOSO\\jdoe")), vec![]));
    }

    #[test]
    fn ntlm_without_domain_and_anonymous() {
        let message = authenticate_message(b"", &utf16le("jdoe@contoso.com"), NTLM_NEGOTIATE_UNICODE);
        assert_eq!(parse(&format!("NTLM {}", b64(&message))).0, credentials("ntlm", Some("jdoe@contoso.com")));
        let anonymous = authenticate_message(b"", b"", NTLM_NEGOTIATE_UNICODE);
        assert_eq!(parse(&format!("NTLM {}", b64(&anonymous))), (credentials("ntlm", None), vec![]));
    }

    #[test]
    fn ntlm_old_header_without_flags_is_oem() {
        // Payload right after the 52-byte header: the bytes at 60..64 are the user name.
        let mut message = authenticate_message(b"DOM", b"olduser!", 0);
        message.drain(52..64);
        for (at, shift) in [(12, 12), (20, 12), (28, 12), (36, 12), (44, 12)] {
            let offset = read_u32(&message, at + 4).unwrap() - shift;
            message[at + 4..at + 8].copy_from_slice(&offset.to_le_bytes());
        }
        assert_eq!(parse(&format!("NTLM {}", b64(&message))).0, credentials("ntlm", Some("DOM\\olduser!")));
    }

    #[test]
    fn ntlm_negotiate_and_challenge_carry_no_user() {
        let mut negotiate = NTLMSSP_SIGNATURE.to_vec();
        negotiate.extend_from_slice(&1u32.to_le_bytes());
        negotiate.extend_from_slice(&0xe208_8297u32.to_le_bytes());
        assert_eq!(parse(&format!("NTLM {}", b64(&negotiate))), (credentials("ntlm", None), vec![]));
    }

    #[test]
    fn ntlm_malformed_is_reported_never_read_out_of_bounds() {
        let mut message = authenticate_message(b"CONTOSO", b"jdoe", NTLM_NEGOTIATE_OEM);
        // User field pointing past the end; then one whose offset + length overflows 32 bits.
        let near_end = message.len() as u32 - 2;
        message[40..44].copy_from_slice(&near_end.to_le_bytes());
        assert_eq!(parse(&format!("NTLM {}", b64(&message))), (credentials("ntlm", None), vec!["auth_ntlm_malformed"]));
        message[36..38].copy_from_slice(&u16::MAX.to_le_bytes());
        message[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&format!("NTLM {}", b64(&message))), (credentials("ntlm", None), vec!["auth_ntlm_malformed"]));
        // Truncated inside the header, at every length.
        let whole = authenticate_message(b"CONTOSO", b"jdoe", NTLM_NEGOTIATE_OEM);
        for len in 0..HEADER_WITH_FLAGS_LEN {
            let (parsed, anomalies) = parse(&format!("NTLM {}", b64(&whole[..len])));
            assert_eq!(parsed, credentials("ntlm", None), "length {len}");
            let expected: &[&str] = if len == 0 { &[] } else { &["auth_ntlm_malformed"] };
            assert_eq!(anomalies, expected, "length {len}");
        }
        assert_eq!(
            parse(&format!("NTLM {}", b64(b"KERBEROS-ish"))),
            (credentials("ntlm", None), vec!["auth_ntlm_malformed"])
        );
        assert_eq!(parse("NTLM %%%"), (credentials("ntlm", None), vec!["auth_bad_base64"]));
    }

    #[test]
    fn negotiate_carrying_ntlm_is_ntlm() {
        let message = authenticate_message(&utf16le("CONTOSO"), &utf16le("jdoe"), NTLM_NEGOTIATE_UNICODE);
        assert_eq!(parse(&format!("Negotiate {}", b64(&message))).0, credentials("ntlm", Some("CONTOSO\\jdoe")));
        // SPNEGO NegTokenResp (RFC 4178) whose responseToken is the AUTHENTICATE message.
        let mut wrapped = vec![0xa1, 0x82, 0x01, 0x00, 0x30, 0x81, 0xfc, 0xa2, 0x81, 0xf9, 0x04, 0x81, 0xf6];
        wrapped.extend_from_slice(&message);
        assert_eq!(parse(&format!("Negotiate {}", b64(&wrapped))).0, credentials("ntlm", Some("CONTOSO\\jdoe")));
    }

    #[test]
    fn negotiate_kerberos_and_spnego() {
        // Raw Kerberos GSS token: [APPLICATION 0], the krb5 OID, TOK_ID 01 00, then the AP-REQ.
        let mut krb5 = vec![0x60, 0x82, 0x05, 0x00];
        krb5.extend_from_slice(KERBEROS_OIDS[0]);
        krb5.extend_from_slice(&[0x01, 0x00, 0x6e, 0x82, 0x04, 0xf0]);
        assert_eq!(parse(&format!("Negotiate {}", b64(&krb5))), (credentials("kerberos", None), vec![]));
        // SPNEGO NegTokenInit listing MS-KRB5 first.
        let mut spnego = vec![0x60, 0x82, 0x06, 0x00, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
        spnego.extend_from_slice(&[0xa0, 0x82, 0x05, 0xf0, 0x30, 0x82, 0x05, 0xec, 0xa0, 0x30, 0x30, 0x2e]);
        spnego.extend_from_slice(KERBEROS_OIDS[1]);
        assert_eq!(parse(&format!("Negotiate {}", b64(&spnego))).0, credentials("kerberos", None));
        // SPNEGO without a known mechanism, and a token that is neither.
        let unknown = [0x60, 0x0c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x02, 0x30, 0x00];
        assert_eq!(parse(&format!("Negotiate {}", b64(&unknown))).0, credentials("negotiate", None));
        assert_eq!(parse(&format!("Negotiate {}", b64(b"\x01\x02"))).0, credentials("negotiate", None));
        assert_eq!(parse("Negotiate"), (credentials("negotiate", None), vec![]));
        assert_eq!(parse("Negotiate ***"), (credentials("negotiate", None), vec!["auth_bad_base64"]));
    }

    #[test]
    fn other_schemes_are_lowercased() {
        assert_eq!(parse("Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig").0, credentials("bearer", None));
        assert_eq!(parse("Kerberos YIIF"), (credentials("kerberos", None), vec![]));
        assert_eq!(parse("X-Custom-Scheme\tabc").0, credentials("x-custom-scheme", None));
        assert_eq!(parse("Digest").0, credentials("digest", None));
        assert_eq!(parse("   "), (None, vec![]));
        assert_eq!(parse(""), (None, vec![]));
    }

    #[test]
    fn unusable_schemes_are_dropped_and_reported() {
        // A credential without a scheme must not become the scheme.
        let bare = b64(b"jdoe:secret");
        for header in [bare.as_str(), "dXNlcjpzZWNyZXQ", "a/b token", "{json} x", &"x".repeat(MAX_SCHEME_LEN + 1)] {
            assert_eq!(parse(header), (None, vec!["auth_bad_scheme"]), "{header}");
        }
        let mut anomalies = Anomalies::new(Timestamp::default());
        parse_authorization(&bare, &mut anomalies);
        assert_eq!(anomalies.list[0].detail, format!("Authorization without a usable scheme ({} chars)", bare.len()));
    }
}
