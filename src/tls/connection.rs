//! One connection: the readers of both directions, and what the handshake has said so far.
//!
//! Hellos, certificate and tickets are read while in clear; when several hellos come in clear (a
//! HelloRetryRequest, a renegotiation in clear) the report holds the last one's values.

use std::ops::ControlFlow;

use tls_parser::{parse_tls_message_alert, parse_tls_message_changecipherspec, TlsHandshakeType, TlsMessage, TlsRecordType};

use super::handshake::{HandshakeMessage, HandshakeReader};
use super::messages::{self, ClientHelloFacts};
use super::record::{Body, RecordHeader, RecordKind, RecordReader, RecordSink};
use super::{sslv2, AnomalyLog, TlsRecord};
use crate::anomaly::Anomaly;
use crate::reassembly::Direction;
use crate::timestamp::Timestamp;

/// Alerts kept per connection; more are noted once and dropped.
const MAX_ALERTS: u32 = 16;
const SSLV2: u16 = 0x0002;

/// The TLS analysis of one connection, fed the two reassembled streams.
#[derive(Debug, Default)]
pub struct TlsConnection {
    client: Readers,
    server: Readers,
    session: Session,
}

/// The framing state of one direction.
#[derive(Debug, Default)]
struct Readers {
    records: RecordReader,
    handshake: HandshakeReader,
}

impl TlsConnection {
    pub fn new() -> Self {
        TlsConnection::default()
    }

    /// In-order bytes of one direction, continuing the previous ones unless a gap came between.
    pub fn data(&mut self, dir: Direction, ts: Timestamp, bytes: &[u8], anomalies: &mut Vec<Anomaly>) {
        self.read(dir, ts, anomalies, |records, handler| records.feed(bytes, handler));
    }

    /// `len` bytes of one direction are missing from the capture.
    pub fn gap(&mut self, dir: Direction, ts: Timestamp, len: u64, anomalies: &mut Vec<Anomaly>) {
        self.read(dir, ts, anomalies, |records, handler| records.gap(len, handler));
    }

    pub fn finish(self) -> TlsRecord {
        let mut record = self.session.record;
        record.established = self.session.client.encrypting && self.session.server.encrypting;
        record
    }

    fn read(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        anomalies: &mut Vec<Anomaly>,
        read: impl FnOnce(&mut RecordReader, &mut RecordHandler<'_>),
    ) {
        // An SSLv2 server goes on in SSLv2 records: nothing more to learn from them.
        if self.session.sslv2_server {
            return;
        }
        let readers = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        let mut handler = RecordHandler {
            dir,
            handshake: &mut readers.handshake,
            session: &mut self.session,
            log: AnomalyLog { ts, anomalies },
        };
        read(&mut readers.records, &mut handler);
    }
}

/// What one side has done to its own stream.
#[derive(Debug, Default)]
struct SideState {
    /// Its records are encrypted from here on: it sent ChangeCipherSpec (TLS ≤ 1.2), or a first
    /// non-empty application_data record (TLS 1.3). Both sides encrypting is Zeek's `established`
    /// (its TLS analyzer's rule).
    encrypting: bool,
    /// Some of its content is unknown (gap, lost framing): its records are no longer read.
    content_lost: bool,
}

/// What the handshake has said so far.
#[derive(Debug, Default)]
struct Session {
    record: TlsRecord,
    client: SideState,
    server: SideState,
    /// Version chosen by the last ServerHello that was not a retry request.
    negotiated: Option<u16>,
    /// Version proposed by a TLS 1.3 HelloRetryRequest.
    retry_version: Option<u16>,
    /// A HelloRetryRequest came: the next ClientHello answers it, it does not renegotiate.
    retry_requested: bool,
    client_hello_seen: bool,
    server_hello_done_seen: bool,
    client_key_exchange_seen: bool,
    alerts_seen: u32,
    /// The server answered in SSLv2.
    sslv2_server: bool,
}

impl Session {
    fn side(&self, dir: Direction) -> &SideState {
        match dir {
            Direction::ToServer => &self.client,
            Direction::ToClient => &self.server,
        }
    }

    fn side_mut(&mut self, dir: Direction) -> &mut SideState {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    fn tls13(&self) -> bool {
        self.negotiated.is_some_and(messages::is_tls13)
    }

    /// TLS 1.3 encrypts both sides' handshake after the ServerHello.
    fn handshake_encrypted(&self, dir: Direction) -> bool {
        self.side(dir).encrypting || self.tls13()
    }

    /// In TLS 1.3 a ChangeCipherSpec is a no-op for middleboxes (RFC 8446 §D.4).
    fn change_cipher_spec_starts_encryption(&self) -> bool {
        !self.negotiated.or(self.retry_version).is_some_and(messages::is_tls13)
    }

    fn handshake_message(&mut self, dir: Direction, message: HandshakeMessage<'_>, log: &mut AnomalyLog) -> ControlFlow<()> {
        let msg_type = TlsHandshakeType(message.msg_type);
        match (dir, msg_type) {
            (Direction::ToClient, TlsHandshakeType::ServerDone) => self.server_hello_done_seen = true,
            (Direction::ToServer, TlsHandshakeType::ClientKeyExchange) => self.client_key_exchange_seen = true,
            _ => {}
        }
        let Some(body) = message.body else {
            log.push("tls_handshake_message_too_large", format!("{msg_type:?} of {} bytes", message.len));
            return ControlFlow::Continue(());
        };
        match (dir, msg_type) {
            (Direction::ToServer, TlsHandshakeType::ClientHello) => self.client_hello(messages::client_hello(body, log)),
            (Direction::ToClient, TlsHandshakeType::ServerHello) => return self.server_hello(body, log),
            // The draft-TLS 1.3 form of a retry request.
            (Direction::ToClient, TlsHandshakeType::HelloRetryRequest) => self.retry_requested = true,
            (Direction::ToClient, TlsHandshakeType::Certificate) => self.server_certificate(body, log),
            (Direction::ToClient, TlsHandshakeType::NewSessionTicket) => self.new_session_ticket(body, log),
            (Direction::ToClient, TlsHandshakeType::ClientHello) | (Direction::ToServer, TlsHandshakeType::ServerHello) => {
                log.push("tls_unexpected_handshake", format!("{msg_type:?} sent by the {}", dir.sender()));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn client_hello(&mut self, hello: Option<ClientHelloFacts>) {
        if self.client_hello_seen && !self.retry_requested {
            self.record.renegotiation = true;
        }
        self.client_hello_seen = true;
        self.retry_requested = false;
        let Some(hello) = hello else { return };
        let record = &mut self.record;
        record.client_version = Some(messages::version_name(hello.version));
        record.client_random = Some(hello.random);
        record.client_session_id = hello.session_id;
        record.server_name = hello.server_name;
        record.alpn_offered = hello.alpn_offered;
        record.ticket_offered = hello.ticket_hash.is_some();
        record.ticket_offered_hash = hello.ticket_hash;
        record.psk_offered = hello.psk_offered;
        record.renegotiation |= hello.renegotiation_info;
    }

    /// Breaks when the ServerHello chose TLS 1.3: what follows it is encrypted.
    fn server_hello(&mut self, body: &[u8], log: &mut AnomalyLog) -> ControlFlow<()> {
        let Some(hello) = messages::server_hello(body, log) else { return ControlFlow::Continue(()) };
        let record = &mut self.record;
        record.version = Some(messages::version_name(hello.version));
        record.cipher = Some(hello.cipher);
        if hello.hello_retry {
            self.retry_requested = true;
            self.retry_version = Some(hello.version);
            return ControlFlow::Continue(());
        }
        self.negotiated = Some(hello.version);
        let tls13 = messages::is_tls13(hello.version);
        record.server_session_id = hello.session_id;
        record.alpn = hello.alpn;
        record.session_id_is_legacy_echo = tls13;
        record.resumed = if tls13 {
            hello.psk_accepted
        } else {
            resumes_session_id(&record.client_session_id, &record.server_session_id)
        };
        if tls13 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn server_certificate(&mut self, body: &[u8], log: &mut AnomalyLog) {
        if let Some(certificate) = messages::server_certificate(body, log) {
            self.record.cert_subject = certificate.subject;
            self.record.cert_sha256 = Some(certificate.sha256);
        }
    }

    fn new_session_ticket(&mut self, body: &[u8], log: &mut AnomalyLog) {
        // An empty ticket is the server declining to issue one (RFC 5077 §3.3).
        if let Some(ticket) = messages::new_session_ticket(body, log).filter(|t| !t.is_empty()) {
            self.record.new_ticket_issued = true;
            self.record.new_ticket_hash = Some(messages::short_hash(ticket));
        }
    }

    fn start_encryption_by_change_cipher_spec(&mut self, dir: Direction) {
        if !self.client.encrypting && !self.server.encrypting && self.abbreviated_handshake() {
            self.record.resumed = true;
        }
        self.side_mut(dir).encrypting = true;
    }

    /// At the first ChangeCipherSpec of TLS ≤ 1.2: the server went from its hello straight to
    /// finishing, with no ServerHelloDone and no ClientKeyExchange — the abbreviated handshake of
    /// a resumption (RFC 5246 §7.3, by session id or ticket). Only trusted when both sides'
    /// handshakes were read whole.
    fn abbreviated_handshake(&self) -> bool {
        self.negotiated.is_some()
            && !self.server_hello_done_seen
            && !self.client_key_exchange_seen
            && !self.client.content_lost
            && !self.server.content_lost
    }

    fn note_alert(&mut self, alert: String, log: &mut AnomalyLog) {
        self.alerts_seen = self.alerts_seen.saturating_add(1);
        if self.alerts_seen > MAX_ALERTS {
            if self.alerts_seen == MAX_ALERTS + 1 {
                log.push("tls_too_many_alerts", format!("alerts after the first {MAX_ALERTS} dropped"));
            }
            return;
        }
        match &mut self.record.alerts {
            Some(alerts) => {
                alerts.push(',');
                alerts.push_str(&alert);
            }
            None => self.record.alerts = Some(alert),
        }
    }
}

/// Zeek resumes on a session id the client offered, non-empty and not all zeros, that the
/// server echoes.
fn resumes_session_id(client: &Option<String>, server: &Option<String>) -> bool {
    matches!((client, server), (Some(c), Some(s)) if c == s && c.bytes().any(|b| b != b'0'))
}

/// Takes the records of one direction for the session.
struct RecordHandler<'a> {
    dir: Direction,
    handshake: &'a mut HandshakeReader,
    session: &'a mut Session,
    log: AnomalyLog<'a>,
}

impl RecordSink for RecordHandler<'_> {
    fn start(&mut self, header: &RecordHeader) -> Body {
        if self.session.tls13() && header.kind == RecordKind::Tls(TlsRecordType::ApplicationData) && header.len > 0 {
            self.session.side_mut(self.dir).encrypting = true;
        }
        let side = self.session.side(self.dir);
        let readable = !side.content_lost
            && match header.kind {
                RecordKind::Sslv2 => true,
                RecordKind::Tls(TlsRecordType::Handshake) => !self.session.handshake_encrypted(self.dir),
                RecordKind::Tls(TlsRecordType::Alert | TlsRecordType::ChangeCipherSpec) => !side.encrypting,
                RecordKind::Tls(_) => false,
            };
        if readable {
            Body::Read
        } else {
            Body::Skip
        }
    }

    fn record(&mut self, header: &RecordHeader, body: &[u8]) {
        match header.kind {
            RecordKind::Sslv2 => self.sslv2_record(body),
            RecordKind::Tls(TlsRecordType::Handshake) => self.handshake_record(body),
            RecordKind::Tls(TlsRecordType::Alert) => self.alert_record(body),
            RecordKind::Tls(TlsRecordType::ChangeCipherSpec) => self.change_cipher_spec(body),
            RecordKind::Tls(_) => {}
        }
    }

    fn skipped(&mut self, header: &RecordHeader, len: usize) {
        if header.kind == RecordKind::Tls(TlsRecordType::ApplicationData) {
            let record = &mut self.session.record;
            let counter = match self.dir {
                Direction::ToServer => &mut record.client_app_bytes,
                Direction::ToClient => &mut record.server_app_bytes,
            };
            *counter = counter.saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
        }
    }

    fn content_lost(&mut self) {
        self.session.side_mut(self.dir).content_lost = true;
        self.handshake.clear();
    }

    fn anomaly(&mut self, kind: &'static str, detail: String) {
        self.log.push(kind, detail);
    }
}

impl RecordHandler<'_> {
    fn handshake_record(&mut self, body: &[u8]) {
        let (dir, session, log) = (self.dir, &mut *self.session, &mut self.log);
        if self.handshake.feed(body, |message| session.handshake_message(dir, message, log)).is_break() {
            self.handshake.clear();
        }
    }

    fn alert_record(&mut self, body: &[u8]) {
        if body.is_empty() {
            self.log.push("tls_malformed_alert", "empty alert record");
        }
        let mut rest = body;
        while !rest.is_empty() {
            match parse_tls_message_alert(rest) {
                Ok((next, TlsMessage::Alert(alert))) => {
                    self.session.note_alert(messages::alert_text(&alert), &mut self.log);
                    rest = next;
                }
                _ => {
                    self.log.push("tls_malformed_alert", format!("last {} bytes of an alert record unreadable", rest.len()));
                    break;
                }
            }
        }
    }

    fn change_cipher_spec(&mut self, body: &[u8]) {
        if !matches!(parse_tls_message_changecipherspec(body), Ok((rest, _)) if rest.is_empty()) {
            // Taken as a ChangeCipherSpec all the same: that is what the peer meant to switch.
            self.log.push("tls_malformed_change_cipher_spec", format!("body of {} bytes", body.len()));
        }
        if self.session.change_cipher_spec_starts_encryption() {
            self.session.start_encryption_by_change_cipher_spec(self.dir);
            self.handshake.clear();
        }
    }

    fn sslv2_record(&mut self, body: &[u8]) {
        match self.dir {
            Direction::ToServer => match sslv2::parse_client_hello(body) {
                Ok((rest, hello)) => {
                    if !rest.is_empty() {
                        self.log.push("tls_malformed_sslv2", format!("{} bytes after the CLIENT-HELLO", rest.len()));
                    }
                    self.session.client_hello(Some(hello.facts()));
                }
                Err(_) => self.log.push("tls_malformed_sslv2", format!("CLIENT-HELLO of {} bytes unreadable", body.len())),
            },
            Direction::ToClient if sslv2::is_server_hello(body) => {
                self.session.record.version = Some(messages::version_name(SSLV2));
                self.session.sslv2_server = true;
            }
            Direction::ToClient => self.log.push("tls_malformed_sslv2", "the server's SSLv2 record is no SERVER-HELLO"),
        }
    }
}
