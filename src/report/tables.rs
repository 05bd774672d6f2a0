//! The report tables: their columns, and the conversion of each stage's records into rows.
//!
//! Every per-connection table starts with the keys they all share (`conn_id`, `client_ip`,
//! `client_port`, `server_ip`, `server_port`) so any two join on `conn_id` (like Zeek's `uid`).
//! The audit's tables join on `session_ref` (sessions, moves, transactions, tls, Outlook
//! Anywhere pairs) and on the server name (servers, the `server` columns).

use std::net::IpAddr;
use std::path::Path;

use super::encoder::Encoder;
use super::table::{col, ColumnSpec, ColumnType::*, TableError, TableSpec, TableWriter, TableWritten, Value};
use crate::anomaly::Anomaly;
use crate::audit::{
    Attribution, AuditSink, ClientRow, MoveRow, OaPairRow, ServerRow, SessionRow, TlsRow, TransactionRow,
};
use crate::reassembly::{ConnEnd, ConnId, ConnMeta, ConnStart, ConnectionRecord, Direction, DirectionStats};
use crate::timestamp::Timestamp;

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

/// Who served a row and which session it belongs to: the audit's columns of the transactions
/// and tls tables.
macro_rules! attribution_columns {
    ($what:literal) => {
        [
            col("server", Str, concat!("CAS server that handled the ", $what, ", by its most specific known name (naming file, X-FEServer header, balancer cookie, server address); empty when the capture does not show it"), None),
            col("server_source", Str, "Evidence that named the server: names, header, cookie or address", None),
            col("session_ref", Str, concat!("Session of the ", $what, " (sessions table); the server side of a stitched pair has its client side's session"), None),
            col("stitched_conn_id", Str, "Connection on the other side of the balancer this one was stitched to (client side: the server-side connection, and the reverse)", None),
        ]
    };
}

const TRANSACTION_COLUMNS: [ColumnSpec; 54] = concat(
    conn_keys!(),
    concat::<45, 4, 49>(concat::<30, 15, 45>(
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
    ), attribution_columns!("request")),
);

pub static TRANSACTIONS: TableSpec = TableSpec {
    name: "transactions",
    doc: "One row per HTTP request, paired with its response (Zeek's http.log), with the persistence evidence it carries. Cookie values are written as the first 12 hex digits of their SHA-256: equal values give equal digests, and no live session token or encrypted credential (cadata) reaches a report.",
    columns: &TRANSACTION_COLUMNS,
};

const TLS_COLUMNS: [ColumnSpec; 33] = concat(
    conn_keys!(),
    concat::<24, 4, 28>([
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
    ], attribution_columns!("connection")),
);

pub static TLS: TableSpec = TableSpec {
    name: "tls",
    doc: "One row per connection that carried a TLS handshake (Zeek's ssl.log).",
    columns: &TLS_COLUMNS,
};

const ANOMALY_COLUMNS: [ColumnSpec; 8] = concat(
    conn_keys!(),
    [
        col("ts", F64, "When it was seen; damage to a capture file: its last packet before the damage; a step back of the capture's clock: the first packet after it", Some("ts")),
        col("kind", Str, "Stable snake_case name of the anomaly", Some("name")),
        col("detail", Str, "What exactly: sizes, offsets, the offending bytes (never a credential)", Some("addl")),
    ],
);

pub static ANOMALIES: TableSpec = TableSpec {
    name: "anomalies",
    doc: "What the capture showed that could not be taken at face value (Zeek's weird.log); the key columns are empty for damage outside any connection.",
    columns: &ANOMALY_COLUMNS,
};

const SESSION_COLUMNS: [ColumnSpec; 25] = [
    col("session_ref", Str, "Session id (S1, S2, … in order of first transaction), shared with the transactions, tls, session_moves and oa_pairs tables", None),
    col("app", Str, "Application family: owa (with ECP, which shares its logon cookie), owa_logon (OWA/ECP requests without any OWA session cookie: the logon form and its resources), ews, activesync, outlook_anywhere, mapi, powershell, autodiscover, oab, other, or tls (TLS whose HTTP the capture cannot read)", None),
    col("affinity", Str, "How much the application needs affinity (Microsoft, Exchange 2010): required, beneficial, not_needed, unknown", None),
    col("key_kind", Str, "Persistence key the session is defined by: tls (session lineage), cadata, sessionid, usercontext, cookie (balancer cookie and client address), device (ActiveSync user/DeviceId), user, source (client address)", None),
    col("key", Str, "The key's value: cookie values as the first 12 hex digits of their SHA-256, TLS lineages by the first 16 hex digits of their session id or ticket hash", None),
    col("ts_first", F64, "Time of the first transaction (epoch seconds)", None),
    col("ts_last", F64, "Time of the last transaction", None),
    col("transactions", U64, "HTTP transactions, or TLS connections for the tls application", None),
    col("unresolved_transactions", U64, "Transactions whose server the capture does not show", None),
    col("servers", U64, "Distinct servers reached", None),
    col("server_list", Str, "server:transactions for each server, in order of first visit", None),
    col("verdict", Str, "single (one transaction), sticky (one server), moved (several), unknown (no server known)", None),
    col("verdict_basis", Str, "servers (the transactions' servers), tls_resumption (no server visible, but every connection resumed the TLS session, which only its issuer can do), or empty", None),
    col("moves", U64, "Times a transaction reached another server than the previous one of the session", None),
    col("failover_moves", U64, "Moves explained by a failing server (refused or reset connections, 5xx, failed probes, requests redispatched away from it, or silence)", None),
    col("drain_moves", U64, "Moves away from a server in drain (it answered only clients pinned to it)", None),
    col("unexplained_moves", U64, "Moves nothing explains: persistence failures (moves beyond the first 256 of a session count here)", None),
    col("severity", Str, "failure (unexplained moves of an affinity-required application), warning (of a beneficial or unknown one), none", None),
    col("client_ips", U64, "Distinct client addresses (original clients when a proxy named them)", None),
    col("client_ip_list", Str, "The client addresses, comma-separated (the first 16, then …)", None),
    col("users", U64, "Distinct users (Authorization, ActiveSync User, OWA logon name)", None),
    col("user", Str, "The users, comma-separated (the first 16)", None),
    col("bytes", U64, "Request and response body bytes (TLS: application-data bytes)", None),
    col("first_server", Str, "Server of the first transaction with a known server", None),
    col("last_server", Str, "Server of the last transaction with a known server", None),
];

pub static SESSIONS: TableSpec = TableSpec {
    name: "sessions",
    doc: "One row per client session: the transactions of one application family that share a persistence key (the first key of the application's priority list that a transaction carries; see --keys), with the verdict on its affinity. A key idle for --session-idle-limit seconds ends its session, which is written then (so sessions that ended that way come first); if the key comes back, it begins a new one.",
    columns: &SESSION_COLUMNS,
};

const MOVE_COLUMNS: [ColumnSpec; 10] = [
    col("session_ref", Str, "Session that moved", None),
    col("app", Str, "Application family of the session", None),
    col("key_kind", Str, "Key kind of the session", None),
    col("ts", F64, "Time of the first request answered by the new server", None),
    col("from_server", Str, "Server the session was on", None),
    col("to_server", Str, "Server it moved to", None),
    col("conn_id", Str, "Connection of the request that reached the new server", None),
    col("explanation", Str, "failover (the first server failed around that time), drain (it was in drain), unexplained (a persistence failure)", None),
    col("evidence", Str, "What explains the move: the failures counted, or the drain's start", None),
    col("severity", Str, "failure, warning or none: what an unexplained move means for the application", None),
];

pub static SESSION_MOVES: TableSpec = TableSpec {
    name: "session_moves",
    doc: "One row per move of a session from one server to another, with its explanation.",
    columns: &MOVE_COLUMNS,
};

const CLIENT_COLUMNS: [ColumnSpec; 13] = [
    col("client_ip", Str, "Client address: the original client when a proxy named it (X-Forwarded-For), else the connection's", None),
    col("users", U64, "Distinct users behind the address", None),
    col("user_list", Str, "The users, comma-separated", None),
    col("devices", U64, "Distinct ActiveSync devices", None),
    col("sessions", U64, "Sessions with transactions from the address", None),
    col("transactions", U64, "User transactions and TLS connections", None),
    col("bytes", U64, "Request and response body bytes (TLS: application-data bytes)", None),
    col("servers", U64, "Distinct servers reached", None),
    col("top_server", Str, "Server of which the address has the largest share of load", None),
    col("top_server_share", F64, "That share: the address's transactions on the server over all of the server's transactions", None),
    col("server_loads", Str, "server:share of that server's transactions, for each server reached", None),
    col("hotspot", Bool, "NAT hot-spot: at least --hotspot-users users, and a server takes more than (1 + --hotspot-tilt) times its even share of all transactions while this address sends at least --hotspot-share of that server's", None),
    col("hotspot_reason", Str, "The figures behind the flag", None),
];

pub static CLIENTS: TableSpec = TableSpec {
    name: "clients",
    doc: "One row per client address: who is behind it and how much of each server's load it carries (NAT hot-spots).",
    columns: &CLIENT_COLUMNS,
};

const SERVER_COLUMNS: [ColumnSpec; 21] = [
    col("server", Str, "Server name, as in the server columns of the other tables", None),
    col("addresses", Str, "Addresses (ip:port) known to be this server", None),
    col("transactions", U64, "User transactions and TLS connections (health probes not included)", None),
    col("share", F64, "Share of all user transactions", None),
    col("sessions", U64, "Sessions with transactions on the server", None),
    col("bytes", U64, "Request and response body bytes (TLS: application-data bytes)", None),
    col("first_seen", F64, "First event of the server (epoch seconds)", None),
    col("last_seen", F64, "Last event", None),
    col("pinned", U64, "Answered requests that carried a balancer cookie or resumed a TLS session", None),
    col("unpinned", U64, "Answered requests the balancer was free to place", None),
    col("errors_5xx", U64, "5xx responses to user requests", None),
    col("refused", U64, "Connection attempts answered by a reset", None),
    col("unanswered", U64, "Connection attempts never answered", None),
    col("resets", U64, "Established connections reset by the server", None),
    col("probes", U64, "Health probes (HTTP requests of the balancer's or a monitor's checks)", None),
    col("probes_failed", U64, "Probes not answered with 2xx or 3xx", None),
    col("probe_connections", U64, "Connections that carried only health probes", None),
    col("redispatched_away", U64, "Requests carrying this server's persistence cookie that another server answered", None),
    col("moves_away", U64, "Session moves away from the server", None),
    col("moves_in", U64, "Session moves to the server", None),
    col("drained_from", F64, "Start of a drain: from then on the server answered only clients pinned to it while the others took the new ones", None),
];

pub static SERVERS: TableSpec = TableSpec {
    name: "servers",
    doc: "One row per CAS server: its load, and what the capture shows of its health (probes, refused connections, drain).",
    columns: &SERVER_COLUMNS,
};

const OA_PAIR_COLUMNS: [ColumnSpec; 12] = [
    col("client_ip", Str, "Client address of both channels", None),
    col("user", Str, "User of the channels", None),
    col("rpc_target", Str, "RPC server and port the channels target (the query of /rpc/rpcproxy.dll)", None),
    col("ts_in", F64, "Start of the RPC_IN_DATA request", None),
    col("ts_out", F64, "Start of the RPC_OUT_DATA request", None),
    col("conn_in", Str, "Connection of RPC_IN_DATA", None),
    col("conn_out", Str, "Connection of RPC_OUT_DATA", None),
    col("server_in", Str, "Server of RPC_IN_DATA", None),
    col("server_out", Str, "Server of RPC_OUT_DATA", None),
    col("split", Bool, "The channels reached two different servers", None),
    col("session_in", Str, "Session of RPC_IN_DATA", None),
    col("session_out", Str, "Session of RPC_OUT_DATA", None),
];

pub static OA_PAIRS: TableSpec = TableSpec {
    name: "oa_pairs",
    doc: "One row per Outlook Anywhere channel pair: the RPC_IN_DATA and RPC_OUT_DATA requests of one client to one RPC server, started within 5 s of each other; split pairs are the ones the RPC proxy cannot join.",
    columns: &OA_PAIR_COLUMNS,
};

/// The key columns' values for a connection.
fn key_values<'a>(meta: &ConnMeta, ids: &'a mut IdStrings) -> [Value<'a>; 5] {
    let IdStrings { conn_id, client_ip, server_ip } = ids;
    [
        Value::Str(Some(conn_id.text_of(meta.conn_id))),
        Value::Str(Some(client_ip.text_of(meta.client_ip))),
        Value::U32(Some(meta.client_port.into())),
        Value::Str(Some(server_ip.text_of(meta.server_ip))),
        Value::U32(Some(meta.server_port.into())),
    ]
}

/// Reused text of the key columns, so writing a row allocates nothing in the steady state.
#[derive(Default)]
struct IdStrings {
    conn_id: LastText<ConnId>,
    client_ip: LastText<IpAddr>,
    server_ip: LastText<IpAddr>,
}

/// The text of the value last asked for, formatted again only when the value changes: rows of
/// one connection come together and most share their server address (formatting addresses
/// was 2 % of a run's instructions on the lab mix).
struct LastText<T> {
    value: Option<T>,
    text: String,
}

impl<T> Default for LastText<T> {
    fn default() -> Self {
        LastText { value: None, text: String::new() }
    }
}

impl<T: Copy + PartialEq + std::fmt::Display> LastText<T> {
    fn text_of(&mut self, value: T) -> &str {
        if self.value != Some(value) {
            rewrite(&mut self.text, value);
            self.value = Some(value);
        }
        &self.text
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

/// What the application stages learned about a connection, for its row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionApp {
    pub service: Option<&'static str>,
    pub http_mode: Option<&'static str>,
    pub http_transactions: u64,
    pub anomalies: u64,
}

/// The open tables of one report folder.
pub struct Tables {
    connections: TableWriter,
    transactions: TableWriter,
    tls: TableWriter,
    anomalies: TableWriter,
    sessions: TableWriter,
    session_moves: TableWriter,
    clients: TableWriter,
    servers: TableWriter,
    oa_pairs: TableWriter,
    ids: IdStrings,
    attribution: AttributionStrings,
    /// The `lb_cookie_set` cell's text, reused.
    lb_cookie_set: String,
}

impl Tables {
    /// Creates the nine tables in `dir`, their batches encoded by `encoder`.
    pub fn create(dir: &Path, encoder: Encoder) -> Result<Self, TableError> {
        Ok(Tables {
            connections: TableWriter::create(dir, &CONNECTIONS, &encoder)?,
            transactions: TableWriter::create(dir, &TRANSACTIONS, &encoder)?,
            tls: TableWriter::create(dir, &TLS, &encoder)?,
            anomalies: TableWriter::create(dir, &ANOMALIES, &encoder)?,
            sessions: TableWriter::create(dir, &SESSIONS, &encoder)?,
            session_moves: TableWriter::create(dir, &SESSION_MOVES, &encoder)?,
            clients: TableWriter::create(dir, &CLIENTS, &encoder)?,
            servers: TableWriter::create(dir, &SERVERS, &encoder)?,
            oa_pairs: TableWriter::create(dir, &OA_PAIRS, &encoder)?,
            ids: IdStrings::default(),
            attribution: AttributionStrings::default(),
            lb_cookie_set: String::new(),
        })
    }

    pub fn connection(&mut self, rec: &ConnectionRecord, app: &ConnectionApp) -> Result<(), TableError> {
        let (c, s): (&DirectionStats, &DirectionStats) = (&rec.to_server, &rec.to_client);
        let keys = key_values(&rec.meta, &mut self.ids);
        let row: [Value; CONNECTION_COLUMNS.len()] = join(
            keys,
            [
                secs(rec.meta.ts_start),
                secs(rec.ts_last),
                Value::F64(Some(rec.ts_last.secs_since(rec.meta.ts_start))),
                Value::Str(app.service),
                Value::Str(Some(start_name(rec.start))),
                Value::Str(Some(end_name(rec.end))),
                Value::Str(rec.closed_by.map(Direction::sender)),
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

    /// One transaction's row, built on the stack from text the row's records and reused
    /// buffers already hold: nothing is allocated per row.
    fn write_transaction(&mut self, r: &TransactionRow<'_>) -> Result<(), TableError> {
        let (meta, tx, ev) = (r.meta, r.tx, r.evidence);
        let request = &tx.request;
        let response = tx.response.as_ref();
        let lb = ev.lb_cookie.as_ref();
        let lb_set = ev.lb_cookie_set.as_ref().map(|c| {
            self.lb_cookie_set.clear();
            self.lb_cookie_set.extend([c.name.as_str(), "=", c.value.as_str()]);
            self.lb_cookie_set.as_str()
        });
        let cookies = ev.exchange_cookies().map(|c| Value::Str(c.map(|c| c.digest.as_str())));
        let keys = key_values(meta, &mut self.ids);
        let evidence: [Value; 35] = join(
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
                Value::Str(lb_set),
                Value::Str(str_of(&ev.fe_server)),
                Value::Str(str_of(&ev.be_server)),
                Value::Str(str_of(&ev.diag_info)),
            ],
        );
        let with_cookies: [Value; 50] = join(evidence, cookies);
        let row: [Value; TRANSACTION_COLUMNS.len()] = join(with_cookies, self.attribution.values(r.attribution));
        self.transactions.push_row(&row)
    }

    fn write_tls(&mut self, r: &TlsRow<'_>) -> Result<(), TableError> {
        let (meta, rec) = (r.meta, r.tls);
        let keys = key_values(meta, &mut self.ids);
        let record: [Value; 29] = join(
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
        let row: [Value; TLS_COLUMNS.len()] = join(record, self.attribution.values(r.attribution));
        self.tls.push_row(&row)
    }

    /// An anomaly, inside a connection or (`meta` None) outside any.
    pub fn anomaly(&mut self, meta: Option<&ConnMeta>, anomaly: &Anomaly) -> Result<(), TableError> {
        let keys = match meta {
            Some(meta) => key_values(meta, &mut self.ids),
            None => [Value::Str(None), Value::Str(None), Value::U32(None), Value::Str(None), Value::U32(None)],
        };
        let tail = [secs(anomaly.ts), Value::Str(Some(anomaly.kind)), Value::Str(Some(&anomaly.detail))];
        let row: [Value; ANOMALY_COLUMNS.len()] = join(keys, tail);
        self.anomalies.push_row(&row)
    }

    /// Hands over the last rows of the connections and anomalies tables, complete once the
    /// dissection's events are all applied (the audit writes neither): with a background
    /// encoder they are encoded while the audit finishes.
    pub fn flush_dissection_tables(&mut self) -> Result<(), TableError> {
        self.connections.flush_last()?;
        self.anomalies.flush_last()
    }

    /// Closes every table; returns (table name, rows) in a fixed order.
    pub fn finish(self) -> Result<Vec<TableWritten>, TableError> {
        let writers = [
            self.connections,
            self.transactions,
            self.tls,
            self.anomalies,
            self.sessions,
            self.session_moves,
            self.clients,
            self.servers,
            self.oa_pairs,
        ];
        writers.into_iter().map(TableWriter::finish).collect()
    }
}

/// Reused text of the attribution columns, like [`IdStrings`].
#[derive(Default)]
struct AttributionStrings {
    session_ref: String,
    stitched_conn_id: String,
}

impl AttributionStrings {
    fn values<'a>(&'a mut self, attribution: &'a Attribution) -> [Value<'a>; 4] {
        let session_ref = attribution.session_ref.map(|s| rewrite(&mut self.session_ref, s));
        let stitched_conn_id = attribution.stitched_conn_id.map(|c| rewrite(&mut self.stitched_conn_id, c));
        [
            Value::Str(attribution.server.as_deref()),
            Value::Str(attribution.server_source.map(|s| s.as_str())),
            Value::Str(session_ref),
            Value::Str(stitched_conn_id),
        ]
    }
}

/// `buffer` holding `value`'s text alone.
fn rewrite(buffer: &mut String, value: impl std::fmt::Display) -> &str {
    use std::fmt::Write;
    buffer.clear();
    // Writing into a String cannot fail.
    let _ = write!(buffer, "{value}");
    buffer
}

fn opt_secs(ts: Option<Timestamp>) -> Value<'static> {
    Value::F64(ts.map(Timestamp::as_secs_f64))
}

impl AuditSink for Tables {
    type Error = TableError;

    fn transaction(&mut self, row: &TransactionRow<'_>) -> Result<(), TableError> {
        self.write_transaction(row)
    }

    fn tls(&mut self, row: &TlsRow<'_>) -> Result<(), TableError> {
        self.write_tls(row)
    }

    fn oa_pair(&mut self, r: &OaPairRow) -> Result<(), TableError> {
        let (conn_in, conn_out) = (r.conn_in.to_string(), r.conn_out.to_string());
        let (session_in, session_out) = (r.session_in.map(|s| s.to_string()), r.session_out.map(|s| s.to_string()));
        self.oa_pairs.push_row(&[
            Value::Str(Some(&r.client)),
            Value::Str(r.user.as_deref()),
            Value::Str(Some(&r.rpc_target)),
            secs(r.ts_in),
            secs(r.ts_out),
            Value::Str(Some(&conn_in)),
            Value::Str(Some(&conn_out)),
            Value::Str(r.server_in.as_deref()),
            Value::Str(r.server_out.as_deref()),
            Value::Bool(Some(r.split)),
            Value::Str(session_in.as_deref()),
            Value::Str(session_out.as_deref()),
        ])
    }

    /// The streamed tables are complete: their last batches are encoded while the audit judges
    /// sessions (the largest of them, transactions, would otherwise be encoded after it).
    fn streamed_rows_done(&mut self) -> Result<(), TableError> {
        self.transactions.flush_last()?;
        self.tls.flush_last()?;
        self.oa_pairs.flush_last()
    }

    fn session(&mut self, r: &SessionRow) -> Result<(), TableError> {
        let session_ref = r.session_ref.to_string();
        self.sessions.push_row(&[
            Value::Str(Some(&session_ref)),
            Value::Str(Some(r.app)),
            Value::Str(Some(r.affinity)),
            Value::Str(Some(r.key_kind)),
            Value::Str(Some(&r.key)),
            secs(r.ts_first),
            secs(r.ts_last),
            Value::U64(Some(r.transactions)),
            Value::U64(Some(r.unresolved_transactions)),
            Value::U64(Some(r.servers)),
            Value::Str(Some(&r.server_list)),
            Value::Str(Some(r.verdict)),
            Value::Str(Some(r.verdict_basis).filter(|b| !b.is_empty())),
            Value::U64(Some(r.moves)),
            Value::U64(Some(r.failover_moves)),
            Value::U64(Some(r.drain_moves)),
            Value::U64(Some(r.unexplained_moves)),
            Value::Str(Some(r.severity)),
            Value::U64(Some(r.client_ips)),
            Value::Str(Some(&r.client_ip_list)),
            Value::U64(Some(r.users)),
            Value::Str(r.user.as_deref()),
            Value::U64(Some(r.bytes)),
            Value::Str(r.first_server.as_deref()),
            Value::Str(r.last_server.as_deref()),
        ])
    }

    fn session_move(&mut self, r: &MoveRow) -> Result<(), TableError> {
        let (session_ref, conn_id) = (r.session_ref.to_string(), r.conn_id.to_string());
        self.session_moves.push_row(&[
            Value::Str(Some(&session_ref)),
            Value::Str(Some(r.app)),
            Value::Str(Some(r.key_kind)),
            secs(r.ts),
            Value::Str(Some(&r.from_server)),
            Value::Str(Some(&r.to_server)),
            Value::Str(Some(&conn_id)),
            Value::Str(Some(r.explanation)),
            Value::Str(Some(&r.evidence).filter(|e| !e.is_empty()).map(String::as_str)),
            Value::Str(Some(r.severity)),
        ])
    }

    fn client(&mut self, r: &ClientRow) -> Result<(), TableError> {
        self.clients.push_row(&[
            Value::Str(Some(&r.client_ip)),
            Value::U64(Some(r.users)),
            Value::Str(Some(&r.user_list)),
            Value::U64(Some(r.devices)),
            Value::U64(Some(r.sessions)),
            Value::U64(Some(r.transactions)),
            Value::U64(Some(r.bytes)),
            Value::U64(Some(r.servers)),
            Value::Str(r.top_server.as_deref()),
            Value::F64(r.top_server_share),
            Value::Str(Some(&r.server_loads)),
            Value::Bool(Some(r.hotspot)),
            Value::Str(r.hotspot_reason.as_deref()),
        ])
    }

    fn server(&mut self, r: &ServerRow) -> Result<(), TableError> {
        let t = &r.totals;
        self.servers.push_row(&[
            Value::Str(Some(&r.server)),
            Value::Str(Some(&r.addresses)),
            Value::U64(Some(t.transactions)),
            Value::F64(Some(r.share)),
            Value::U64(Some(r.sessions)),
            Value::U64(Some(t.bytes)),
            opt_secs(r.first_seen),
            opt_secs(r.last_seen),
            Value::U64(Some(t.pinned)),
            Value::U64(Some(t.unpinned)),
            Value::U64(Some(t.errors_5xx)),
            Value::U64(Some(t.refused)),
            Value::U64(Some(t.unanswered)),
            Value::U64(Some(t.resets)),
            Value::U64(Some(t.probes)),
            Value::U64(Some(t.probes_failed)),
            Value::U64(Some(t.probe_connections)),
            Value::U64(Some(t.redispatched_away)),
            Value::U64(Some(r.moves_away)),
            Value::U64(Some(r.moves_in)),
            opt_secs(r.drained_from),
        ])
    }
}

fn str_of(value: &Option<String>) -> Option<&str> {
    value.as_deref()
}

/// The values of `a` then those of `b`, as one row on the stack.
fn join<'a, const A: usize, const B: usize, const N: usize>(a: [Value<'a>; A], b: [Value<'a>; B]) -> [Value<'a>; N] {
    const { assert!(A + B == N) };
    let mut row = [Value::Str(None); N];
    // Cannot panic: the lengths add up, checked at compile time.
    let (head, tail) = row.split_at_mut(A);
    head.copy_from_slice(&a);
    tail.copy_from_slice(&b);
    row
}

/// Every table of a report, in the order the README lists them.
pub fn all_tables() -> [&'static TableSpec; 9] {
    [&CONNECTIONS, &TRANSACTIONS, &TLS, &ANOMALIES, &SESSIONS, &SESSION_MOVES, &CLIENTS, &SERVERS, &OA_PAIRS]
}
