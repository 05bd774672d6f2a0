//! What the handshake messages say, parsed with tls-parser (and x509-parser for the certificate)
//! into report-ready values: Zeek's version names, IANA cipher and alert names, hex, hashes.
//!
//! Each parser takes a message body (without its 4-byte header) from a peer that may send
//! anything: a message it cannot read gives `None` and an anomaly, one with unreadable trailing
//! parts gives what could be read and an anomaly.

use std::fmt::Write;

use tls_parser::nom::multi::length_data;
use tls_parser::nom::number::complete::be_u16;
use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_extension_unknown, parse_tls_handshake_client_hello,
    parse_tls_handshake_msg_certificate, parse_tls_handshake_msg_newsessionticket, parse_tls_handshake_msg_server_hello,
    parse_tls_server_hello_extension, IResult, SNIType, TlsAlertSeverity, TlsCipherSuite, TlsExtension, TlsExtensionType,
    TlsMessageAlert, TlsMessageHandshake,
};
use x509_parser::asn1_rs::{Any, Tag};
use x509_parser::objects::{oid2abbrev, oid_registry};
use x509_parser::x509::X509Name;

use super::AnomalyLog;
pub(super) use crate::fingerprint::hex;
use crate::fingerprint::sha256_prefix_hex;

/// The extensions the report reads.
const USED_EXTENSIONS: [TlsExtensionType; 6] = [
    TlsExtensionType::ServerName,
    TlsExtensionType::ApplicationLayerProtocolNegotiation,
    TlsExtensionType::SessionTicketTLS,
    TlsExtensionType::PreSharedKey,
    TlsExtensionType::SupportedVersions,
    TlsExtensionType::RenegotiationInfo,
];

/// Bytes of SHA-256 kept when a secret (a session ticket) is hashed to link connections.
const SHORT_HASH_LEN: usize = 16;

/// The random of a TLS 1.3 ServerHello that is a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ClientHelloFacts {
    /// Highest version offered: in `supported_versions`, else the hello's own.
    pub version: u16,
    pub random: String,
    pub session_id: Option<String>,
    pub server_name: Option<String>,
    pub alpn_offered: Option<String>,
    /// Short hash of a non-empty `session_ticket` extension.
    pub ticket_hash: Option<String>,
    pub psk_offered: bool,
    /// A non-empty `renegotiation_info`: this hello renegotiates.
    pub renegotiation_info: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ServerHelloFacts {
    /// Version chosen: `supported_versions` if it names one, else the hello's own.
    pub version: u16,
    pub cipher: String,
    pub session_id: Option<String>,
    pub alpn: Option<String>,
    /// The server took a pre-shared key: TLS 1.3 resumption.
    pub psk_accepted: bool,
    /// A TLS 1.3 HelloRetryRequest: another ClientHello follows, the handshake goes on in clear.
    pub hello_retry: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CertificateFacts {
    pub subject: Option<String>,
    pub sha256: String,
}

pub(super) fn client_hello(body: &[u8], log: &mut AnomalyLog) -> Option<ClientHelloFacts> {
    let Ok((rest, hello)) = parse_tls_handshake_client_hello(body) else {
        return malformed("ClientHello", body, log);
    };
    note_trailing_bytes("ClientHello", rest, log);
    let mut facts = ClientHelloFacts {
        version: hello.version.0,
        random: hex(hello.random),
        session_id: hello.session_id.map(hex),
        ..ClientHelloFacts::default()
    };
    for extension in extensions("ClientHello", hello.ext, parse_tls_client_hello_extension, log) {
        match extension {
            TlsExtension::SNI(names) => {
                facts.server_name = names.iter().find(|(kind, _)| *kind == SNIType::HostName).map(|(_, name)| text(name));
            }
            TlsExtension::ALPN(protocols) => facts.alpn_offered = Some(comma_separated(&protocols)),
            TlsExtension::SessionTicket(ticket) => facts.ticket_hash = (!ticket.is_empty()).then(|| short_hash(ticket)),
            TlsExtension::PreSharedKey(_) => facts.psk_offered = true,
            TlsExtension::SupportedVersions(versions) => {
                if let Some(highest) = versions.iter().map(|v| v.0).filter(|&v| version_rank(v) > 0).max_by_key(|&v| version_rank(v)) {
                    facts.version = highest;
                }
            }
            TlsExtension::RenegotiationInfo(info) => facts.renegotiation_info = !info.is_empty(),
            _ => {}
        }
    }
    Some(facts)
}

pub(super) fn server_hello(body: &[u8], log: &mut AnomalyLog) -> Option<ServerHelloFacts> {
    let parsed = parse_tls_handshake_msg_server_hello(body);
    let (rest, version, random, session_id, cipher, ext) = match parsed {
        Ok((rest, TlsMessageHandshake::ServerHello(h))) => (rest, h.version, h.random, h.session_id, h.cipher, h.ext),
        Ok((rest, TlsMessageHandshake::ServerHelloV13Draft18(h))) => (rest, h.version, h.random, None, h.cipher, h.ext),
        _ => return malformed("ServerHello", body, log),
    };
    note_trailing_bytes("ServerHello", rest, log);
    let mut facts = ServerHelloFacts {
        version: version.0,
        cipher: cipher_name(cipher.0),
        session_id: session_id.map(hex),
        alpn: None,
        psk_accepted: false,
        hello_retry: random == HELLO_RETRY_RANDOM,
    };
    for extension in extensions("ServerHello", ext, parse_tls_server_hello_extension, log) {
        match extension {
            TlsExtension::SupportedVersions(versions) => {
                if let [selected] = versions[..] {
                    facts.version = selected.0;
                }
            }
            TlsExtension::ALPN(protocols) => facts.alpn = protocols.first().map(|p| text(p)),
            TlsExtension::PreSharedKey(_) => facts.psk_accepted = true,
            _ => {}
        }
    }
    Some(facts)
}

/// The ticket of a NewSessionTicket (TLS ≤ 1.2, RFC 5077: lifetime hint, then the ticket with a
/// two-byte length), as a client sends it back in its `session_ticket` extension.
pub(super) fn new_session_ticket<'a>(body: &'a [u8], log: &mut AnomalyLog) -> Option<&'a [u8]> {
    let parsed = match parse_tls_handshake_msg_newsessionticket(body, body.len()) {
        Ok((_, TlsMessageHandshake::NewSessionTicket(content))) => length_prefixed(content.ticket),
        _ => return malformed("NewSessionTicket", body, log),
    };
    match parsed {
        Ok((rest, ticket)) => {
            note_trailing_bytes("NewSessionTicket", rest, log);
            Some(ticket)
        }
        Err(_) => malformed("NewSessionTicket", body, log),
    }
}

/// Subject and fingerprint of the first certificate of the chain; `None` for an empty chain.
pub(super) fn server_certificate(body: &[u8], log: &mut AnomalyLog) -> Option<CertificateFacts> {
    let Ok((_, TlsMessageHandshake::Certificate(contents))) = parse_tls_handshake_msg_certificate(body) else {
        return malformed("Certificate", body, log);
    };
    let der = contents.cert_chain.first()?.data;
    let subject = match x509_parser::parse_x509_certificate(der) {
        Ok((_, certificate)) => Some(rfc4514(certificate.subject())),
        Err(error) => {
            log.push("tls_bad_certificate", format!("server certificate of {} bytes: {error}", der.len()));
            None
        }
    };
    Some(CertificateFacts { subject, sha256: sha256_prefix_hex(der, 32) })
}

/// `level:description`, like `fatal:handshake_failure`.
pub(super) fn alert_text(alert: &TlsMessageAlert) -> String {
    let level = match alert.severity {
        TlsAlertSeverity::Warning => "warning".to_owned(),
        TlsAlertSeverity::Fatal => "fatal".to_owned(),
        TlsAlertSeverity(other) => format!("unknown-{other}"),
    };
    let description = alert_description(alert.code.0).map_or_else(|| format!("unknown-{}", alert.code.0), str::to_owned);
    format!("{level}:{description}")
}

/// Zeek's name of a protocol version (`TLSv12`, `TLSv13-draft23`, `unknown-32257`).
pub(super) fn version_name(version: u16) -> String {
    match version {
        0x0002 => "SSLv2".to_owned(),
        0x0300 => "SSLv3".to_owned(),
        0x0301 => "TLSv10".to_owned(),
        0x0302 => "TLSv11".to_owned(),
        0x0303 => "TLSv12".to_owned(),
        0x0304 => "TLSv13".to_owned(),
        0x7f00..=0x7fff => format!("TLSv13-draft{}", version & 0xff),
        _ => format!("unknown-{version}"),
    }
}

/// TLS 1.3, its drafts (0x7fxx) and Google's experimental variants of it (0x7exx): everything
/// after the ServerHello is encrypted.
pub(super) fn is_tls13(version: u16) -> bool {
    version == 0x0304 || version >> 8 == 0x7f || version >> 8 == 0x7e
}

/// Order of versions a client may offer; 0 for unknown values (GREASE among them).
fn version_rank(version: u16) -> u8 {
    match version {
        0x0002 => 1,
        0x0300 => 2,
        0x0301 => 3,
        0x0302 => 4,
        0x0303 => 5,
        0x7e00..=0x7fff => 6,
        0x0304 => 7,
        _ => 0,
    }
}

/// IANA name of a cipher suite, or Zeek's `unknown-<decimal>`.
pub(super) fn cipher_name(id: u16) -> String {
    TlsCipherSuite::from_id(id).map_or_else(|| format!("unknown-{id}"), |suite| suite.name.to_owned())
}

/// Hex of the first 16 bytes of SHA-256: links equal secrets without writing them.
pub(super) fn short_hash(secret: &[u8]) -> String {
    sha256_prefix_hex(secret, SHORT_HASH_LEN)
}

/// Bytes behind a two-byte length.
fn length_prefixed(input: &[u8]) -> IResult<&[u8], &[u8]> {
    length_data(be_u16)(input)
}

fn malformed<T>(message: &str, body: &[u8], log: &mut AnomalyLog) -> Option<T> {
    log.push("tls_malformed_handshake", format!("{message} of {} bytes unreadable", body.len()));
    None
}

fn note_trailing_bytes(message: &str, rest: &[u8], log: &mut AnomalyLog) {
    if !rest.is_empty() {
        log.push("tls_malformed_handshake", format!("{message}: {} bytes after its last field", rest.len()));
    }
}

/// The extensions of a hello that the report uses, each parsed on its own: one that `parse_one`
/// rejects hides no other, and extensions the report does not use are never parsed.
fn extensions<'a>(
    message: &str,
    block: Option<&'a [u8]>,
    parse_one: fn(&'a [u8]) -> IResult<&'a [u8], TlsExtension<'a>>,
    log: &mut AnomalyLog,
) -> Vec<TlsExtension<'a>> {
    let mut input = block.unwrap_or_default();
    let mut used = Vec::new();
    while !input.is_empty() {
        let Ok((rest, TlsExtension::Unknown(kind, _))) = parse_tls_extension_unknown(input) else {
            log.push("tls_malformed_extension", format!("{message}: last {} bytes of extensions unreadable", input.len()));
            break;
        };
        let raw = input.get(..input.len() - rest.len()).unwrap_or_default();
        if USED_EXTENSIONS.contains(&kind) {
            match parse_one(raw) {
                Ok((_, extension)) => used.push(extension),
                Err(_) => log.push("tls_malformed_extension", format!("{message}: {kind} extension of {} bytes unreadable", raw.len())),
            }
        }
        input = rest;
    }
    used
}

/// Peer-chosen bytes meant as text (host names, protocol names).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn comma_separated(items: &[&[u8]]) -> String {
    items.iter().map(|item| text(item)).collect::<Vec<_>>().join(",")
}

/// A distinguished name as RFC 4514 writes it: most specific first, `,` between RDNs, `+` inside
/// one, special characters escaped; values that are no string are `#` and the hex of their content.
fn rfc4514(name: &X509Name) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let kind = oid2abbrev(attribute.attr_type(), oid_registry())
                        .map_or_else(|_| attribute.attr_type().to_id_string(), str::to_owned);
                    let value = attribute_text(attribute.attr_value()).map_or_else(
                        || format!("#{}", hex(attribute.attr_value().as_bytes())),
                        |text| escape_dn_value(&text),
                    );
                    format!("{kind}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// The text of a directory string; `None` when the value is no string. 8-bit strings that are
/// not UTF-8 (old T61String certificates) are read as Latin-1.
fn attribute_text(value: &Any) -> Option<String> {
    let data = value.as_bytes();
    let units = |size: usize| data.chunks_exact(size);
    match value.tag() {
        Tag::BmpString => Some(
            char::decode_utf16(units(2).filter_map(|c| <[u8; 2]>::try_from(c).ok().map(u16::from_be_bytes)))
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        ),
        Tag::UniversalString => Some(
            units(4)
                .filter_map(|c| <[u8; 4]>::try_from(c).ok().map(u32::from_be_bytes))
                .map(|c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        ),
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::T61String
        | Tag::VideotexString
        | Tag::GraphicString
        | Tag::GeneralString => Some(match std::str::from_utf8(data) {
            Ok(text) => text.to_owned(),
            Err(_) => data.iter().map(|&b| char::from(b)).collect(),
        }),
        _ => None,
    }
}

/// RFC 4514 §2.4 escaping, with control characters as `\XX` so names stay on one line.
fn escape_dn_value(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut utf8 = [0; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    let _ = write!(out, "\\{byte:02X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// IANA TLS Alert Registry names (Zeek's `SSL::alert_descriptions`).
fn alert_description(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use tls_parser::TlsAlertDescription;

    use super::*;
    use crate::timestamp::Timestamp;

    #[test]
    fn version_names_like_zeek() {
        let names: Vec<String> = [0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f17, 0x7e01, 0xfefd].map(version_name).into();
        assert_eq!(
            names,
            ["SSLv2", "SSLv3", "TLSv10", "TLSv11", "TLSv12", "TLSv13", "TLSv13-draft23", "unknown-32257", "unknown-65277"]
        );
        assert!(is_tls13(0x0304) && is_tls13(0x7f17) && is_tls13(0x7e01));
        assert!(!is_tls13(0x0303) && !is_tls13(0x0300));
    }

    #[test]
    fn cipher_names_from_iana() {
        assert_eq!(cipher_name(0x0004), "TLS_RSA_WITH_RC4_128_MD5");
        assert_eq!(cipher_name(0xc030), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x0a0a), "unknown-2570");
    }

    #[test]
    fn alert_texts() {
        let alert = |severity, code| alert_text(&TlsMessageAlert { severity: TlsAlertSeverity(severity), code: TlsAlertDescription(code) });
        assert_eq!(alert(2, 40), "fatal:handshake_failure");
        assert_eq!(alert(1, 0), "warning:close_notify");
        assert_eq!(alert(1, 90), "warning:user_canceled");
        assert_eq!(alert(7, 200), "unknown-7:unknown-200");
    }

    #[test]
    fn short_hash_is_a_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(short_hash(b"abc"), "ba7816bf8f01cfea414140de5dae2223");
    }

    #[test]
    fn dn_values_escaped() {
        assert_eq!(escape_dn_value("Contoso, Ltd"), "Contoso\\, Ltd");
        assert_eq!(escape_dn_value("#1 a+b;<c>\"d\"\\"), "\\#1 a\\+b\\;\\<c\\>\\\"d\\\"\\\\");
        assert_eq!(escape_dn_value(" padded "), "\\ padded\\ ");
        assert_eq!(escape_dn_value("line\nbreak"), "line\\0Abreak");
        assert_eq!(escape_dn_value("Zürich"), "Zürich");
        assert_eq!(escape_dn_value(""), "");
    }

    fn log_of(anomalies: &mut Vec<crate::anomaly::Anomaly>) -> AnomalyLog<'_> {
        AnomalyLog { ts: Timestamp::default(), anomalies }
    }

    #[test]
    fn new_session_ticket_strips_its_length() {
        let mut anomalies = Vec::new();
        let body = [0, 0, 0x1c, 0x20, 0, 3, 0xaa, 0xbb, 0xcc];
        assert_eq!(new_session_ticket(&body, &mut log_of(&mut anomalies)), Some(&[0xaa, 0xbb, 0xcc][..]));
        assert_eq!(new_session_ticket(&body[..8], &mut log_of(&mut anomalies)), None);
        assert_eq!(new_session_ticket(&[0, 0, 1], &mut log_of(&mut anomalies)), None);
        let kinds: Vec<_> = anomalies.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["tls_malformed_handshake", "tls_malformed_handshake"]);
    }

    #[test]
    fn malformed_hellos_are_noted() {
        let mut anomalies = Vec::new();
        assert_eq!(client_hello(&[3, 3, 1, 2], &mut log_of(&mut anomalies)), None);
        assert_eq!(server_hello(&[3, 3], &mut log_of(&mut anomalies)), None);
        assert_eq!(server_hello(&[0x12, 0x34, 0, 0], &mut log_of(&mut anomalies)), None, "unknown version");
        assert_eq!(anomalies.len(), 3);
        assert!(anomalies.iter().all(|a| a.kind == "tls_malformed_handshake"));
    }
}
