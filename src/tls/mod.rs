//! Stage 4b: TLS handshakes over a reassembled connection.
//!
//! Input: the two byte streams of a connection that starts with a TLS (or SSLv2-compatible)
//! ClientHello, in chunks of any size, with gaps. Output: one [`TlsRecord`] per connection with
//! the handshake's persistence evidence (session id, ticket, PSK, SNI, resumption) and anomalies.
//!
//! Layers, per direction, each feeding the next:
//!
//! ```text
//! bytes ─▶ record::RecordReader ─▶ handshake::HandshakeReader ─▶ messages (tls-parser, x509-parser)
//!          (framing; bodies read       (messages across records,        │
//!           or skipped, gaps)           several per record)             ▼
//!                                          connection::TlsConnection: what the handshake says
//! ```
//!
//! Contract:
//! - Memory per connection is bounded: at most one record body (`record::MAX_RECORD_BODY`) and
//!   one handshake message (`handshake::MAX_HANDSHAKE_MESSAGE`) per direction, and only while
//!   the handshake is in clear; application data is counted, never buffered.
//! - Once a direction is encrypted (its ChangeCipherSpec in TLS ≤ 1.2, or a ServerHello that
//!   chose TLS 1.3) its handshake and alerts are no longer read.
//! - A gap inside a record the stage only counts keeps the framing; a gap that swallows part of a
//!   record it reads (handshake, alert, ChangeCipherSpec) ends the reading of that direction, whose
//!   application data is still counted; a gap across a record boundary loses the framing of that
//!   direction for good. Each loss is one anomaly.
//! - Malformed input becomes an anomaly `tls_*`, never a panic.

mod connection;
mod handshake;
mod messages;
mod record;
mod sslv2;
#[cfg(test)]
mod tests;

pub use connection::TlsConnection;
pub use record::looks_like_client_hello;

use crate::anomaly::Anomaly;
use crate::timestamp::Timestamp;

/// Where the layers note what they could not take at face value: the caller's anomaly list,
/// stamped with the time of the data being read.
struct AnomalyLog<'a> {
    ts: Timestamp,
    anomalies: &'a mut Vec<Anomaly>,
}

impl AnomalyLog<'_> {
    fn push(&mut self, kind: &'static str, detail: impl Into<String>) {
        self.anomalies.push(Anomaly::new(self.ts, kind, detail));
    }
}

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
    /// TLS ≤ 1.2: the server echoed the client's session id (Zeek's rule), or went from its hello
    /// straight to ChangeCipherSpec (abbreviated handshake: session id or ticket). TLS 1.3: the
    /// server accepted a pre-shared key.
    pub resumed: bool,
    pub new_ticket_issued: bool,
    /// SHA-256 (hex, first 16 bytes) of a NewSessionTicket sent in clear (TLS ≤ 1.2).
    pub new_ticket_hash: Option<String>,
    /// A second ClientHello in clear (not one answering a HelloRetryRequest), or a non-empty
    /// `renegotiation_info` in a ClientHello.
    pub renegotiation: bool,
    /// Both sides started encrypting, as Zeek decides it: a ChangeCipherSpec each way in
    /// TLS ≤ 1.2, a non-empty application_data record each way after a TLS 1.3 ServerHello.
    pub established: bool,
    /// Alerts seen in clear, `level:description` comma-separated.
    pub alerts: Option<String>,
    pub cert_subject: Option<String>,
    pub cert_sha256: Option<String>,
    /// Client random in hex, to stitch the two sides of a TLS-passthrough balancer.
    pub client_random: Option<String>,
    /// Payload bytes of application_data records seen each way (in TLS 1.3 these include the
    /// encrypted handshake).
    pub client_app_bytes: u64,
    pub server_app_bytes: u64,
}
