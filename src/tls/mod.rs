//! Stage 4b: TLS handshakes over a reassembled connection.
//!
//! Input: the two byte streams of a connection that starts with a TLS (or SSLv2-compatible)
//! ClientHello. Output: one [`TlsRecord`] per connection with the handshake's persistence
//! evidence (session id, ticket, PSK, SNI, resumption) and anomalies. Records and handshake
//! messages are reassembled across segments and records and parsed with tls-parser; once
//! encryption starts only the application-data bytes are counted.

/// TLS 1.3 makes the legacy session id a random echo: it is no persistence key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsRecord {
    /// Highest version the client offered (`supported_versions` or ClientHello version),
    /// printed like Zeek: `SSLv3`, `TLSv10`, `TLSv11`, `TLSv12`, `TLSv13`.
    pub client_version: Option<String>,
    /// Version the server chose.
    pub version: Option<String>,
    /// Cipher suite the server chose, by IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
    pub cipher: Option<String>,
    pub server_name: Option<String>,
    /// ALPN protocols the client offered, comma-separated, and the one the server chose.
    pub alpn_offered: Option<String>,
    pub alpn: Option<String>,
    /// Session ids in hex (empty session id: `None`).
    pub client_session_id: Option<String>,
    pub server_session_id: Option<String>,
    /// True when the session ids are TLS 1.3 compatibility echoes, not persistence keys.
    pub session_id_is_legacy_echo: bool,
    pub ticket_offered: bool,
    /// SHA-256 (hex, first 16 bytes) of the ticket the client offered, to link resumptions.
    pub ticket_offered_hash: Option<String>,
    pub psk_offered: bool,
    pub resumed: bool,
    pub new_ticket_issued: bool,
    /// SHA-256 (hex, first 16 bytes) of a NewSessionTicket sent in clear (TLS ≤ 1.2).
    pub new_ticket_hash: Option<String>,
    pub renegotiation: bool,
    pub established: bool,
    /// Alerts seen in clear, `level:description` comma-separated.
    pub alerts: Option<String>,
    pub cert_subject: Option<String>,
    pub cert_sha256: Option<String>,
    /// Client random in hex, to stitch the two sides of a TLS-passthrough balancer.
    pub client_random: Option<String>,
    pub client_app_bytes: u64,
    pub server_app_bytes: u64,
}
