//! The report tables: their columns, and the conversion of each stage's records into rows.
//!
//! Every table starts with the keys they all share (`conn_id`, `client_ip`, `client_port`,
//! `server_ip`, `server_port`) so any two join on `conn_id` (like Zeek's `uid`).

use std::path::Path;

use super::table::{col, ColumnSpec, ColumnType::*, TableError, TableSpec, TableWriter, Value};
use crate::anomaly::Anomaly;
use crate::evidence::{TransactionEvidence, EXCHANGE_COOKIES};
use crate::http::Transaction;
use crate::reassembly::{ConnEnd, ConnMeta, ConnStart, ConnectionRecord, Direction, DirectionStats};
use crate::timestamp::Timestamp;
use crate::tls::TlsRecord;

macro_rules! conn_keys {
    () => {
        [
            col("conn_id", Str, "Connection id, shared by every table", Some("uid")),
            col("client_ip", Str, "Client address (the SYN's sender, or judged from ports and payload)", Some("id.orig_h")),
            col("client_port", U32, "Client port", Some("id.orig_p")),
            col("server_ip", Str, "Server address", Some("id.resp_h")),
            col("server_port", U32, "Server port", Some("id.resp_p")),
        ]
    };
}

const fn concat<const A: usize, const B: usize, const N: usize>(a: [ColumnSpec; A], b: [ColumnSpec; B]) -> [ColumnSpec; N] {
    assert!(A + B == N);
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

const CONNECTION_COLUMNS: [ColumnSpec; 34] = concat(
    conn_keys!(),
    [
        col("ts_first", F64, "Time of the first packet (epoch seconds)", Some("ts")),
        col("ts_last", F64, "Time of the last packet (epoch seconds)", None),
        col("duration", F64, "ts_last - ts_first, seconds", Some("duration")),
        col("service", Str, "Protocol found in the payload: http, tls or other (empty: no payload)", Some("service")),
        col("start", Str, "handshake (SYN and SYN-ACK seen), syn_only, synack_only, or midstream", None),
        col("end", Str, "fin (both sides), half_closed, reset, idle (evicted), or open at capture end", None),
        col("closed_by", Str, "client or server: who sent the first FIN or the RST", None),
        col("client_pkts", U64, "Packets from the client", Some("orig_pkts")),
        col("client_bytes", U64, "Payload bytes from the client by sequence space, gaps included", Some("orig_bytes")),
        col("client_ip_bytes", U64, "IP bytes from the client", Some("orig_ip_bytes")),
        col("server_pkts", U64, "Packets from the server", Some("resp_pkts")),
        col("server_bytes", U64, "Payload bytes from the server by sequence space, gaps included", Some("resp_bytes")),
        col("server_ip_bytes", U64, "IP bytes from the server", Some("resp_ip_bytes")),
        col("client_gaps", U64, "Holes in the client's stream never filled", None),
        col("client_gap_bytes", U64, "Bytes of those holes", Some("missed_bytes (client part)")),
        col("server_gaps", U64, "Holes in the server's stream never filled", None),
        col("server_gap_bytes", U64, "Bytes of those holes", Some("missed_bytes (server part)")),
        col("client_retrans_bytes", U64, "Client bytes seen again after the first copy", None),
        col("server_retrans_bytes", U64, "Server bytes seen again after the first copy", None),
        col("client_conflict_bytes", U64, "Client bytes whose retransmission differed from the first copy (kept)", None),
        col("server_conflict_bytes", U64, "Server bytes whose retransmission differed from the first copy (kept)", None),
        col("client_overflow_bytes", U64, "Client out-of-order bytes dropped at the buffer cap (part of the gaps)", None),
        col("server_overflow_bytes", U64, "Server out-of-order bytes dropped at the buffer cap (part of the gaps)", None),
        col("keepalive_probes", U64, "TCP keep-alive probes, both sides", None),
        col("zero_windows", U64, "Zero-window advertisements, both sides", None),
        col("http_mode", Str, "HTTP connection mode: close, keep-alive, pipelining or tunnel", None),
        col("http_transactions", U64, "HTTP requests on the connection", None),
        col("anomalies", U64, "Rows of the anomalies table for this connection", None),
        col("tcp_handshake", Bool, "SYN and SYN-ACK both in the capture", None),
    ],
);

pub static CONNECTIONS: TableSpec = TableSpec {
    name: "connections",
    doc: "One row per TCP connection (Zeek's conn.log).",
    columns: &CONNECTION_COLUMNS,
};

const TRANSACTION_COLUMNS: [ColumnSpec; 50] = concat(
    conn_keys!(),
    concat::<30, 15, 45>(
        [
            col("trans_depth", U64, "Position of the request on its connection, from 1", Some("trans_depth")),
            col("ts_request", F64, "Time of the request's first byte", Some("ts")),
            col("ts_response", F64, "Time of the final response's first byte", None),
            col("ts_response_end", F64, "Time of the response's last byte", None),
            col("method", Str, "Request method", Some("method")),
            col("host", Str, "Host header", Some("host")),
            col("uri", Str, "Request target as sent", Some("uri")),
            col("version", Str, "HTTP version of the request (1.0, 1.1, 0.9)", Some("version")),
            col("status", U32, "Status of the final response (empty: no response in the capture)", Some("status_code")),
            col("reason", Str, "Reason phrase of the final response", Some("status_msg")),
            col("request_body_len", U64, "Request body bytes (de-chunked)", Some("request_body_len")),
            col("response_body_len", U64, "Response body bytes (de-chunked)", Some("response_body_len")),
            col("incomplete", Bool, "A capture gap fell inside this transaction", None),
            col("user_agent", Str, "User-Agent header", Some("user_agent")),
            col("app", Str, "Exchange application from the path: owa, ecp, ews, activesync, outlook_anywhere, mapi, autodiscover, oab, powershell, health_probe, other", None),
            col("forwarded_for", Str, "Original client from X-Forwarded-For (left-most), X-Real-IP or Forwarded", None),
            col("auth_scheme", Str, "Authorization scheme: basic, ntlm, negotiate, kerberos, bearer, ...", None),
            col("username", Str, "User from Basic or NTLM authentication (never the password)", Some("username")),
            col("as_user", Str, "ActiveSync User (plain or base64 query)", None),
            col("as_device_id", Str, "ActiveSync DeviceId", None),
            col("as_device_type", Str, "ActiveSync DeviceType", None),
            col("as_cmd", Str, "ActiveSync Cmd", None),
            col("lb_cookie_kind", Str, "Balancer cookie kind: haproxy, f5, citrix, aws_alb, aws_elb, extra", None),
            col("lb_cookie_name", Str, "Balancer cookie name (SERVERID, BIGipServer<pool>, NSC_..., AWSALB)", None),
            col("lb_cookie_value", Str, "Balancer cookie value, sent by the client, else set by the response", None),
            col("lb_cookie_server", Str, "Server address the balancer cookie encodes (F5)", None),
            col("lb_cookie_set", Str, "Balancer cookie the response set, name=value: where the balancer placed the client", None),
            col("fe_server", Str, "X-FEServer response header", None),
            col("be_server", Str, "X-CalculatedBETarget or X-BEServer response header", None),
            col("diag_info", Str, "X-DiagInfo response header", None),
        ],
        [
        col("cookie_usercontext", Str, "Exchange cookie UserContext: digest of the value sent, else set", None),
        col("cookie_sessionid", Str, "Exchange cookie sessionid: digest of the value sent, else set", None),
        col("cookie_cadata", Str, "Exchange cookie cadata: digest of the value sent, else set", None),
        col("cookie_pback", Str, "Exchange cookie PBack: digest of the value sent, else set", None),
        col("cookie_outlooksession", Str, "Exchange cookie OutlookSession: digest of the value sent, else set", None),
        col("cookie_logondata", Str, "Exchange cookie logondata: digest of the value sent, else set", None),
        col("cookie_cookietest", Str, "Exchange cookie cookieTest: digest of the value sent, else set", None),
        col("cookie_owacsdc", Str, "Exchange cookie owacsdc: digest of the value sent, else set", None),
        col("cookie_asp_net_sessionid", Str, "Exchange cookie ASP.NET_SessionId: digest of the value sent, else set", None),
        col("cookie_msexchecpcanary", Str, "Exchange cookie msExchEcpCanary: digest of the value sent, else set", None),
        col("cookie_ecpcookietest", Str, "Exchange cookie ecpCookieTest: digest of the value sent, else set", None),
        col("cookie_tzid", Str, "Exchange cookie tzid: digest of the value sent, else set", None),
        col("cookie_ecpupdatedusersettings", Str, "Exchange cookie EcpUpdatedUserSettings: digest of the value sent, else set", None),
        col("cookie_mstrpgld1", Str, "Exchange cookie MstrPgLd1: digest of the value sent, else set", None),
        col("cookie_mstrpgld2", Str, "Exchange cookie MstrPgLd2: digest of the value sent, else set", None),
        ],
    ),
);

pub static TRANSACTIONS: TableSpec = TableSpec {
    name: "transactions",
    doc: "One row per HTTP request, paired with its response (Zeek's http.log), with the persistence evidence it carries. Cookie values are written as the first 12 hex digits of their SHA-256: equal values give equal digests, and no live session token or encrypted credential (cadata) reaches a report.",
    columns: &TRANSACTION_COLUMNS,
};

const TLS_COLUMNS: [ColumnSpec; 29] = concat(
    conn_keys!(),
    [
        col("ts", F64, "Time of the connection's first packet", Some("ts")),
        col("client_version", Str, "Highest version the client offered (SSLv2 … TLSv13)", None),
        col("version", Str, "Version the server chose", Some("version")),
        col("cipher", Str, "Cipher suite the server chose", Some("cipher")),
        col("server_name", Str, "SNI host name", Some("server_name")),
        col("alpn_offered", Str, "ALPN protocols offered by the client, comma-separated", None),
        col("alpn", Str, "ALPN protocol the server chose", Some("next_protocol")),
        col("client_session_id", Str, "Session id offered by the client (hex)", None),
        col("server_session_id", Str, "Session id returned by the server (hex)", None),
        col("session_id_is_legacy_echo", Bool, "TLS 1.3: the session ids are a compatibility echo, not a persistence key", None),
        col("ticket_offered", Bool, "The client offered a session ticket", None),
        col("ticket_offered_hash", Str, "SHA-256 prefix of the offered ticket, to link resumptions", None),
        col("psk_offered", Bool, "The client offered a TLS 1.3 pre-shared key", None),
        col("resumed", Bool, "The server accepted a resumption", Some("resumed")),
        col("new_ticket_issued", Bool, "The server issued a session ticket", None),
        col("new_ticket_hash", Str, "SHA-256 prefix of the issued ticket (TLS ≤ 1.2, sent in clear)", None),
        col("renegotiation", Bool, "A renegotiation was seen", None),
        col("established", Bool, "The handshake completed", Some("established")),
        col("alerts", Str, "Alerts seen in clear, level:description", None),
        col("cert_subject", Str, "Subject of the server certificate", Some("subject (x509)")),
        col("cert_sha256", Str, "SHA-256 fingerprint of the server certificate", Some("cert_chain_fps[0]")),
        col("client_random", Str, "ClientHello random (hex), to stitch the two sides of a TLS passthrough", None),
        col("client_app_bytes", U64, "Application-data bytes from the client", None),
        col("server_app_bytes", U64, "Application-data bytes from the server", None),
    ],
);

pub static TLS: TableSpec = TableSpec {
    name: "tls",
    doc: "One row per connection that carried a TLS handshake (Zeek's ssl.log).",
    columns: &TLS_COLUMNS,
};

const ANOMALY_COLUMNS: [ColumnSpec; 8] = concat(
    conn_keys!(),
    [
        col("ts", F64, "When it was seen", Some("ts")),
        col("kind", Str, "Stable snake_case name of the anomaly", Some("name")),
        col("detail", Str, "What exactly: sizes, offsets, the offending bytes (never a credential)", Some("addl")),
    ],
);

pub static ANOMALIES: TableSpec = TableSpec {
    name: "anomalies",
    doc: "What the capture showed that could not be taken at face value (Zeek's weird.log); the key columns are empty for damage outside any connection.",
    columns: &ANOMALY_COLUMNS,
};

/// The key columns' values for a connection.
fn key_values<'a>(meta: &ConnMeta, ids: &'a mut IdStrings) -> [Value<'a>; 5] {
    ids.fill(meta);
    [
        Value::Str(Some(&ids.conn_id)),
        Value::Str(Some(&ids.client_ip)),
        Value::U32(Some(meta.client_port.into())),
        Value::Str(Some(&ids.server_ip)),
        Value::U32(Some(meta.server_port.into())),
    ]
}

/// Reused text of the key columns, so writing a row allocates nothing in the steady state.
#[derive(Default)]
struct IdStrings {
    conn_id: String,
    client_ip: String,
    server_ip: String,
}

impl IdStrings {
    fn fill(&mut self, meta: &ConnMeta) {
        use std::fmt::Write;
        self.conn_id.clear();
        self.client_ip.clear();
        self.server_ip.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.conn_id, "{}", meta.conn_id);
        let _ = write!(self.client_ip, "{}", meta.client_ip);
        let _ = write!(self.server_ip, "{}", meta.server_ip);
    }
}

fn secs(ts: Timestamp) -> Value<'static> {
    Value::F64(Some(ts.as_secs_f64()))
}

fn start_name(start: ConnStart) -> &'static str {
    match start {
        ConnStart::Handshake => "handshake",
        ConnStart::SynOnly => "syn_only",
        ConnStart::SynAckOnly => "synack_only",
        ConnStart::Midstream => "midstream",
    }
}

fn end_name(end: ConnEnd) -> &'static str {
    match end {
        ConnEnd::Fin => "fin",
        ConnEnd::HalfClosed => "half_closed",
        ConnEnd::Reset => "reset",
        ConnEnd::Idle => "idle",
        ConnEnd::Open => "open",
    }
}

fn side_name(dir: Direction) -> &'static str {
    match dir {
        // The side that sends towards the server is the client.
        Direction::ToServer => "client",
        Direction::ToClient => "server",
    }
}

/// What the application stages learned about a connection, for its row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionApp {
    pub service: Option<&'static str>,
    pub http_mode: Option<&'static str>,
    pub http_transactions: u64,
    pub anomalies: u64,
}

/// First 12 hex digits of the SHA-256 of a secret value: enough to tell values apart, useless
/// to replay.
pub fn digest(value: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(value.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The open tables of one report folder.
pub struct Tables {
    connections: TableWriter,
    transactions: TableWriter,
    tls: TableWriter,
    anomalies: TableWriter,
    ids: IdStrings,
}

impl Tables {
    pub fn create(dir: &Path) -> Result<Self, TableError> {
        Ok(Tables {
            connections: TableWriter::create(dir, &CONNECTIONS)?,
            transactions: TableWriter::create(dir, &TRANSACTIONS)?,
            tls: TableWriter::create(dir, &TLS)?,
            anomalies: TableWriter::create(dir, &ANOMALIES)?,
            ids: IdStrings::default(),
        })
    }

    pub fn connection(&mut self, rec: &ConnectionRecord, app: &ConnectionApp) -> Result<(), TableError> {
        let (c, s): (&DirectionStats, &DirectionStats) = (&rec.to_server, &rec.to_client);
        let keys = key_values(&rec.meta, &mut self.ids);
        let row = concat_values(
            keys,
            [
                secs(rec.meta.ts_start),
                secs(rec.ts_last),
                Value::F64(Some(rec.ts_last.secs_since(rec.meta.ts_start))),
                Value::Str(app.service),
                Value::Str(Some(start_name(rec.start))),
                Value::Str(Some(end_name(rec.end))),
                Value::Str(rec.closed_by.map(side_name)),
                Value::U64(Some(c.packets)),
                Value::U64(Some(c.bytes)),
                Value::U64(Some(c.ip_bytes)),
                Value::U64(Some(s.packets)),
                Value::U64(Some(s.bytes)),
                Value::U64(Some(s.ip_bytes)),
                Value::U64(Some(c.gaps)),
                Value::U64(Some(c.gap_bytes)),
                Value::U64(Some(s.gaps)),
                Value::U64(Some(s.gap_bytes)),
                Value::U64(Some(c.retransmitted_bytes)),
                Value::U64(Some(s.retransmitted_bytes)),
                Value::U64(Some(c.conflicting_bytes)),
                Value::U64(Some(s.conflicting_bytes)),
                Value::U64(Some(c.overflow_bytes)),
                Value::U64(Some(s.overflow_bytes)),
                Value::U64(Some(c.keepalive_probes + s.keepalive_probes)),
                Value::U64(Some(c.zero_windows + s.zero_windows)),
                Value::Str(app.http_mode),
                Value::U64(Some(app.http_transactions)),
                Value::U64(Some(app.anomalies)),
                Value::Bool(Some(rec.start == ConnStart::Handshake)),
            ],
        );
        self.connections.push_row(&row)
    }

    pub fn transaction(&mut self, meta: &ConnMeta, tx: &Transaction, ev: &TransactionEvidence) -> Result<(), TableError> {
        let request = &tx.request;
        let response = tx.response.as_ref();
        let lb = ev.lb_cookie.as_ref();
        let lb_set = ev.lb_cookie_set.as_ref().map(|c| format!("{}={}", c.name, c.value));
        let cookies: Vec<Option<String>> = (0..EXCHANGE_COOKIES.len()).map(|i| ev.exchange_cookie(i).map(digest)).collect();
        let keys = key_values(meta, &mut self.ids);
        let mut row = concat_values(
            keys,
            [
                Value::U64(Some(tx.depth.into())),
                secs(request.ts),
                Value::F64(response.map(|r| r.ts.as_secs_f64())),
                Value::F64(tx.ts_response_end.map(Timestamp::as_secs_f64)),
                Value::Str(Some(&request.method)),
                Value::Str(request.headers.get("host")),
                Value::Str(Some(&request.uri)),
                Value::Str(Some(&request.version)),
                Value::U32(response.map(|r| r.status.into())),
                Value::Str(response.map(|r| r.reason.as_str())),
                Value::U64(Some(tx.request_body_len)),
                Value::U64(Some(tx.response_body_len)),
                Value::Bool(Some(tx.incomplete)),
                Value::Str(request.headers.get("user-agent")),
                Value::Str(Some(ev.app.as_str())),
                Value::Str(str_of(&ev.forwarded_for)),
                Value::Str(str_of(&ev.auth_scheme)),
                Value::Str(str_of(&ev.username)),
                Value::Str(str_of(&ev.activesync.user)),
                Value::Str(str_of(&ev.activesync.device_id)),
                Value::Str(str_of(&ev.activesync.device_type)),
                Value::Str(str_of(&ev.activesync.cmd)),
                Value::Str(lb.map(|c| c.kind.as_str())),
                Value::Str(lb.map(|c| c.name.as_str())),
                Value::Str(lb.map(|c| c.value.as_str())),
                Value::Str(lb.and_then(|c| c.decoded_server.as_deref())),
                Value::Str(lb_set.as_deref()),
                Value::Str(str_of(&ev.fe_server)),
                Value::Str(str_of(&ev.be_server)),
                Value::Str(str_of(&ev.diag_info)),
            ],
        );
        row.extend(cookies.iter().map(|c| Value::Str(c.as_deref())));
        self.transactions.push_row(&row)
    }

    pub fn tls(&mut self, meta: &ConnMeta, rec: &TlsRecord) -> Result<(), TableError> {
        let keys = key_values(meta, &mut self.ids);
        let row = concat_values(
            keys,
            [
                secs(meta.ts_start),
                Value::Str(str_of(&rec.client_version)),
                Value::Str(str_of(&rec.version)),
                Value::Str(str_of(&rec.cipher)),
                Value::Str(str_of(&rec.server_name)),
                Value::Str(str_of(&rec.alpn_offered)),
                Value::Str(str_of(&rec.alpn)),
                Value::Str(str_of(&rec.client_session_id)),
                Value::Str(str_of(&rec.server_session_id)),
                Value::Bool(Some(rec.session_id_is_legacy_echo)),
                Value::Bool(Some(rec.ticket_offered)),
                Value::Str(str_of(&rec.ticket_offered_hash)),
                Value::Bool(Some(rec.psk_offered)),
                Value::Bool(Some(rec.resumed)),
                Value::Bool(Some(rec.new_ticket_issued)),
                Value::Str(str_of(&rec.new_ticket_hash)),
                Value::Bool(Some(rec.renegotiation)),
                Value::Bool(Some(rec.established)),
                Value::Str(str_of(&rec.alerts)),
                Value::Str(str_of(&rec.cert_subject)),
                Value::Str(str_of(&rec.cert_sha256)),
                Value::Str(str_of(&rec.client_random)),
                Value::U64(Some(rec.client_app_bytes)),
                Value::U64(Some(rec.server_app_bytes)),
            ],
        );
        self.tls.push_row(&row)
    }

    /// An anomaly, inside a connection or (`meta` None) outside any.
    pub fn anomaly(&mut self, meta: Option<&ConnMeta>, anomaly: &Anomaly) -> Result<(), TableError> {
        let tail = [secs(anomaly.ts), Value::Str(Some(anomaly.kind)), Value::Str(Some(&anomaly.detail))];
        match meta {
            Some(meta) => {
                let keys = key_values(meta, &mut self.ids);
                self.anomalies.push_row(&concat_values(keys, tail))
            }
            None => {
                let keys = [Value::Str(None), Value::Str(None), Value::U32(None), Value::Str(None), Value::U32(None)];
                self.anomalies.push_row(&concat_values(keys, tail))
            }
        }
    }

    /// Closes every table; returns (table name, rows) in a fixed order.
    pub fn finish(self) -> Result<Vec<(&'static str, u64)>, TableError> {
        let mut counts = Vec::new();
        for writer in [self.connections, self.transactions, self.tls, self.anomalies] {
            let name = writer.spec().name;
            counts.push((name, writer.finish()?));
        }
        Ok(counts)
    }
}

fn str_of(value: &Option<String>) -> Option<&str> {
    value.as_deref()
}

fn concat_values<'a, const A: usize, const B: usize>(a: [Value<'a>; A], b: [Value<'a>; B]) -> Vec<Value<'a>> {
    let mut out = Vec::with_capacity(A + B);
    out.extend(a);
    out.extend(b);
    out
}

/// Every table of a report, in the order the README lists them.
pub fn all_tables() -> [&'static TableSpec; 4] {
    [&CONNECTIONS, &TRANSACTIONS, &TLS, &ANOMALIES]
}
