//! What the audit hands to the report: one row type per table it feeds, and the sink that
//! receives them (implemented by the report's tables).
//!
//! Transaction, TLS and Outlook Anywhere pair rows stream out while the capture is read, as
//! soon as the audit has resolved them; sessions, moves, clients and servers come at the end.

use crate::evidence::TransactionEvidence;
use crate::http::Transaction;
use crate::reassembly::{ConnId, ConnMeta};
use crate::timestamp::Timestamp;
use crate::tls::TlsRecord;

use super::health::Counters;
use super::identity::ServerSource;
use super::sessions::SessionRef;

/// Who served a transaction (or TLS connection) and which session it belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The server, by its most specific known name; `None` when the capture does not show it.
    pub server: Option<String>,
    pub server_source: Option<ServerSource>,
    /// `None` for health probes and transactions without any usable key; the server side of a
    /// stitched pair has its client side's session.
    pub session_ref: Option<SessionRef>,
    /// The connection of the other side of the proxy, when stitched.
    pub stitched_conn_id: Option<ConnId>,
}

pub struct TransactionRow<'a> {
    pub meta: &'a ConnMeta,
    pub tx: &'a Transaction,
    pub evidence: &'a TransactionEvidence,
    pub attribution: &'a Attribution,
}

pub struct TlsRow<'a> {
    pub meta: &'a ConnMeta,
    pub tls: &'a TlsRecord,
    pub attribution: &'a Attribution,
}

/// An Outlook Anywhere channel pair.
#[derive(Clone, Debug, PartialEq)]
pub struct OaPairRow {
    pub client: String,
    pub user: Option<String>,
    pub rpc_target: String,
    pub ts_in: Timestamp,
    pub ts_out: Timestamp,
    pub conn_in: ConnId,
    pub conn_out: ConnId,
    pub server_in: Option<String>,
    pub server_out: Option<String>,
    pub split: bool,
    pub session_in: Option<SessionRef>,
    pub session_out: Option<SessionRef>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SessionRow {
    pub session_ref: SessionRef,
    pub app: &'static str,
    pub affinity: &'static str,
    pub key_kind: &'static str,
    pub key: String,
    pub ts_first: Timestamp,
    pub ts_last: Timestamp,
    pub transactions: u64,
    pub unresolved_transactions: u64,
    pub servers: u64,
    /// `name:transactions` in order of first visit, comma-separated.
    pub server_list: String,
    pub verdict: &'static str,
    pub verdict_basis: &'static str,
    pub moves: u64,
    pub failover_moves: u64,
    pub drain_moves: u64,
    pub unexplained_moves: u64,
    pub severity: &'static str,
    pub client_ips: u64,
    pub client_ip_list: String,
    pub users: u64,
    pub user: Option<String>,
    pub bytes: u64,
    pub first_server: Option<String>,
    pub last_server: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MoveRow {
    pub session_ref: SessionRef,
    pub app: &'static str,
    pub key_kind: &'static str,
    pub ts: Timestamp,
    pub from_server: String,
    pub to_server: String,
    pub conn_id: ConnId,
    pub explanation: &'static str,
    pub evidence: String,
    pub severity: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClientRow {
    pub client_ip: String,
    pub users: u64,
    pub user_list: String,
    pub devices: u64,
    pub sessions: u64,
    pub transactions: u64,
    pub bytes: u64,
    pub servers: u64,
    pub top_server: Option<String>,
    /// Share of the top server's transactions that came from this client.
    pub top_server_share: Option<f64>,
    /// `server:share of that server's load` for every server it reached, comma-separated.
    pub server_loads: String,
    pub hotspot: bool,
    pub hotspot_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerRow {
    pub server: String,
    pub addresses: String,
    /// What the server did over the whole capture.
    pub totals: Counters,
    /// Of all servers' transactions.
    pub share: f64,
    pub sessions: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub moves_away: u64,
    pub moves_in: u64,
    pub drained_from: Option<Timestamp>,
}

/// Receives the audit's rows.
pub trait AuditSink {
    type Error;
    fn transaction(&mut self, row: &TransactionRow<'_>) -> Result<(), Self::Error>;
    fn tls(&mut self, row: &TlsRow<'_>) -> Result<(), Self::Error>;
    fn oa_pair(&mut self, row: &OaPairRow) -> Result<(), Self::Error>;
    /// Every streamed row (transactions, TLS connections, Outlook Anywhere pairs) is written;
    /// only the rows judged at the end follow. A sink may hand those tables' last rows on now.
    fn streamed_rows_done(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn session(&mut self, row: &SessionRow) -> Result<(), Self::Error>;
    fn session_move(&mut self, row: &MoveRow) -> Result<(), Self::Error>;
    fn client(&mut self, row: &ClientRow) -> Result<(), Self::Error>;
    fn server(&mut self, row: &ServerRow) -> Result<(), Self::Error>;
}
