//! Stage 6: the affinity audit. Did each client session stay on one CAS server, and if not,
//! why?
//!
//! Input, as the capture is read: every HTTP transaction with its connection and evidence
//! ([`Auditor::transaction`]), every TLS connection whose HTTP cannot be read
//! ([`Auditor::tls_connection`]), every closed connection ([`Auditor::connection`], for server
//! health), and the capture clock ([`Auditor::advance`]). Output, through an [`AuditSink`]:
//! each transaction and TLS row with its server and session (streamed, at most the stitch window
//! after the pipeline emitted it), Outlook Anywhere channel pairs as they pair, each session
//! with its verdict and the moves with their explanations once its key has been idle for
//! [`AuditConfig::session_idle_limit_secs`], and at the end ([`Auditor::finish`]) the sessions
//! still open, the client addresses and the servers, and an [`AuditSummary`] for the summary
//! and policies.
//!
//! Steps, one submodule each:
//! - `stitch`: pairs the client side and the server side of a proxy seen in one capture;
//! - `identity`: the server of each transaction (`--server-id`, naming file, learned aliases);
//! - `keys`: the session key of each transaction, by application (`--keys`);
//! - `sessions`: sessions, their moves and verdicts;
//! - `health`: per-server state in one-second buckets, and the explanation of moves;
//! - `outlook`: Outlook Anywhere RPC_IN_DATA/RPC_OUT_DATA pairs;
//! - `clients`: client addresses and NAT hot-spots;
//! - `policy`: the rules `affinity-audit check` enforces.
//!
//! Health probes (application `health_probe`) and monitor connections are never sessions: they
//! count per server, as evidence of its state. Memory is bounded by the sessions of the last
//! idle limit, the client addresses, the servers and their seconds with events, and the items
//! of one stitch window; never by the number of transactions or packets.

mod clients;
mod health;
mod identity;
mod keys;
mod outlook;
pub mod policy;
mod rows;
mod sessions;
mod stitch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::evidence::{CookieSource, ExchangeApp, TransactionEvidence};
use crate::http::Transaction;
use crate::reassembly::{ConnEnd, ConnMeta, ConnStart, ConnectionRecord, Direction};
use crate::timestamp::Timestamp;
use crate::tls::TlsRecord;

pub use clients::HotspotThresholds;
pub use health::{format_utc, Counters, ExplainConfig};
pub use identity::{ServerIdMode, ServerNames, ServerSource};
pub use keys::{parse_key_list, AffinityClass, AppFamily, KeyKind};
pub use rows::{
    Attribution, AuditSink, ClientRow, MoveRow, OaPairRow, ServerRow, SessionRow, TlsRow, TransactionRow,
};
pub use sessions::{SessionRef, Verdict};

use clients::{ClientLedger, ClientObservation};
use health::{Explanation, HealthIndex, ServerLedger};
use identity::{Candidates, ServerId, ServerRegistry};
use keys::{user_of, Key, KeySource, TlsLineages};
use outlook::{Channel, ChannelInfo, OaPair, OaPairer};
use sessions::{Observation, Session, SessionStore};
use stitch::{endpoint, Item, Released, Stitcher, TlsItem, TxItem};

/// Everything the audit is told by the user.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    pub server_id: ServerIdMode,
    pub server_names: ServerNames,
    /// One key priority for every application; `None`: each application's default.
    pub keys: Option<Vec<KeyKind>>,
    /// How long items wait for the other side of a proxy, and how far apart the two requests
    /// of a stitched pair may start, in seconds.
    pub stitch_window_secs: f64,
    pub hotspot: HotspotThresholds,
    pub explain: ExplainConfig,
    /// A session idle this long (seconds of capture time) ends: it is judged and written during
    /// the run, and a later transaction with its key begins a new session. So memory holds the
    /// sessions of the last this-many seconds, not every session of a capture of days. It must
    /// exceed by far the time the audit's evidence can arrive late (stitch window, connection
    /// idle timeout, explanation window).
    pub session_idle_limit_secs: i64,
}

/// Default [`AuditConfig::session_idle_limit_secs`]: 8 hours, Exchange 2010's forms-based
/// logon timeout on a private computer, the longest any persistence of the farm outlives.
pub const SESSION_IDLE_LIMIT_SECS: i64 = 8 * 3600;

/// Idle sessions are looked for this many times per idle limit, so one ends at most a
/// sixteenth of the limit late.
const RETIREMENT_PASSES_PER_LIMIT: i64 = 16;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            server_id: ServerIdMode::Auto,
            server_names: ServerNames::default(),
            keys: None,
            stitch_window_secs: 2.0,
            hotspot: HotspotThresholds::default(),
            explain: ExplainConfig::default(),
            session_idle_limit_secs: SESSION_IDLE_LIMIT_SECS,
        }
    }
}

/// How the two sides of a proxy were stitched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StitchStats {
    pub http_pairs: u64,
    pub tls_pairs: u64,
    /// Client-side transactions (to a VIP) left without a server-side partner.
    pub front_unstitched: u64,
    /// Server-side transactions (from the balancer's address) left without a client-side one.
    pub back_unstitched: u64,
    /// Of those, carrying `X-Forwarded-For` (the client side is TLS the capture cannot read).
    pub back_forwarded: u64,
    pub tls_front_unstitched: u64,
    pub tls_back_unstitched: u64,
    /// Client-side TLS connections terminated by the balancer (their requests are seen on the
    /// server side with `X-Forwarded-For`).
    pub tls_offloaded: u64,
}

/// One application family's sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppSummary {
    pub transactions: u64,
    pub sessions: u64,
    pub single: u64,
    pub sticky: u64,
    pub moved: u64,
    pub unknown: u64,
    pub moves: u64,
    pub failover_moves: u64,
    pub drain_moves: u64,
    pub unexplained_moves: u64,
    pub failure_sessions: u64,
    pub warning_sessions: u64,
}

impl AppSummary {
    /// Sticky sessions among those that could move (sticky or moved); `None` without any.
    pub fn sticky_share(&self) -> Option<f64> {
        let judged = self.sticky + self.moved;
        (judged > 0).then(|| self.sticky as f64 / judged as f64)
    }
}

/// A server as the summary shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSummary {
    pub name: String,
    pub transactions: u64,
    pub share: f64,
    pub sessions: u64,
    pub failures: u64,
    pub probes: u64,
    pub probes_failed: u64,
    pub drained_from: Option<Timestamp>,
}

/// A client address as the summary shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientSummary {
    pub address: String,
    pub users: u64,
    pub transactions: u64,
    pub top_server: Option<String>,
    /// Share of the top server's load from this client.
    pub top_server_share: f64,
    pub hotspot: Option<String>,
}

/// What the audit found, for the summary and the policy check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditSummary {
    /// User transactions and TLS connections by the evidence that named their server
    /// (`unresolved` when none did).
    pub server_sources: BTreeMap<&'static str, u64>,
    /// Of them, named through the other side of the proxy.
    pub stitched: u64,
    pub stitch: StitchStats,
    pub vips: Vec<String>,
    pub proxies: Vec<String>,
    pub probes: u64,
    pub unkeyed_transactions: u64,
    pub http_transactions: u64,
    pub tls_connections: u64,
    pub tls13_connections: u64,
    pub balancer_cookies: u64,
    pub apps: BTreeMap<AppFamily, AppSummary>,
    /// Busiest first.
    pub servers: Vec<ServerSummary>,
    pub hotspots: u64,
    /// Hot-spots first, then the busiest; at most [`TOP_CLIENTS`].
    pub top_clients: Vec<ClientSummary>,
    /// The largest share of one server's load from one client address, among the servers that
    /// take at least their even share of the farm's transactions (a client that is most of a
    /// little-used server's load unbalances nothing): (client, server, share).
    pub max_client_share: Option<(String, String, f64)>,
    pub oa_pairs: u64,
    pub oa_split_pairs: u64,
    pub oa_unpaired: u64,
    /// What the capture could not show, in sentences.
    pub limits: Vec<String>,
}

/// Client addresses listed in the summary.
pub const TOP_CLIENTS: usize = 5;

/// The audit stage.
pub struct Auditor {
    keys: Option<Vec<KeyKind>>,
    hotspot: HotspotThresholds,
    explain: ExplainConfig,
    registry: ServerRegistry,
    stitcher: Stitcher,
    sessions: SessionStore,
    ledger: ServerLedger,
    clients: ClientLedger,
    pairer: OaPairer,
    lineages: TlsLineages,
    /// Last request seen from the balancer with `X-Forwarded-For`, per original client: tells
    /// client-side TLS connections the balancer terminated.
    forwarded: HashMap<String, Timestamp>,
    released: Vec<Released>,
    summary: AuditSummary,
    /// Sessions and moves per server, of the sessions judged so far.
    per_server: HashMap<ServerId, ServerSessions>,
    session_idle_limit_secs: i64,
    /// When to look for idle sessions next (set by the first clock advance).
    next_retirement: Option<Timestamp>,
}

impl Auditor {
    pub fn new(config: AuditConfig) -> Self {
        Auditor {
            keys: config.keys,
            hotspot: config.hotspot,
            explain: config.explain,
            registry: ServerRegistry::new(config.server_id, config.server_names),
            stitcher: Stitcher::new(config.stitch_window_secs),
            sessions: SessionStore::default(),
            ledger: ServerLedger::default(),
            clients: ClientLedger::default(),
            pairer: OaPairer::default(),
            lineages: TlsLineages::default(),
            forwarded: HashMap::new(),
            released: Vec::new(),
            summary: AuditSummary::default(),
            per_server: HashMap::new(),
            session_idle_limit_secs: config.session_idle_limit_secs,
            next_retirement: None,
        }
    }

    /// An HTTP transaction, as the pipeline emits it.
    pub fn transaction<S: AuditSink>(
        &mut self,
        meta: &ConnMeta,
        tx: Transaction,
        evidence: TransactionEvidence,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        if let Some(original) = &evidence.forwarded_for {
            // Noted on arrival, not release: a client-side TLS connection the balancer
            // terminated may close (and be released) before its last forwarded request.
            let last = self.forwarded.entry(original.clone()).or_insert(tx.request.ts);
            *last = (*last).max(tx.request.ts);
        }
        let item = Item::Tx(Box::new(TxItem { meta: meta.clone(), tx, evidence }));
        self.stitcher.push(item, &mut self.released);
        self.release(sink)
    }

    /// A TLS connection whose HTTP the capture cannot read, when it closes.
    pub fn tls_connection<S: AuditSink>(&mut self, record: &ConnectionRecord, tls: TlsRecord, sink: &mut S) -> Result<(), S::Error> {
        let item = Item::Tls(Box::new(TlsItem { record: record.clone(), tls }));
        self.stitcher.push(item, &mut self.released);
        self.release(sink)
    }

    /// Any connection, when it closes: refused, unanswered and reset connections and monitor
    /// connections (`probe_only`: every transaction a health probe) count for their server.
    pub fn connection(&mut self, record: &ConnectionRecord, probe_only: bool) {
        let by_server = record.closed_by == Some(Direction::ToClient);
        let delta = Counters {
            refused: u64::from(record.start == ConnStart::SynOnly && record.end == ConnEnd::Reset && by_server),
            unanswered: u64::from(record.start == ConnStart::SynOnly && record.end != ConnEnd::Reset),
            resets: u64::from(record.start != ConnStart::SynOnly && record.end == ConnEnd::Reset && by_server),
            probe_connections: u64::from(probe_only),
            ..Counters::default()
        };
        let server_end = endpoint(&record.meta);
        if delta == Counters::default() || self.stitcher.is_vip(server_end) {
            return;
        }
        if let Some(server) = self.registry.endpoint_server(server_end) {
            self.ledger.record(server, record.meta.ts_start, delta);
        }
    }

    /// The capture clock moved to `now`: releases what waited for the other side of a proxy.
    pub fn advance<S: AuditSink>(&mut self, now: Timestamp, sink: &mut S) -> Result<(), S::Error> {
        self.stitcher.advance(now, &mut self.released);
        self.release(sink)?;
        self.retire_idle_sessions(self.stitcher.clock(), sink)
    }

    /// The capture's clock stepped back to `to`: the stitcher's clock follows when the step is
    /// longer than its window, and idle sessions are looked for anew from there.
    pub fn clock_stepped_back<S: AuditSink>(&mut self, to: Timestamp, sink: &mut S) -> Result<(), S::Error> {
        self.stitcher.step_back(to, &mut self.released);
        self.next_retirement = None;
        self.release(sink)
    }

    /// Judges and writes the sessions idle for the idle limit, every sixteenth of it.
    fn retire_idle_sessions<S: AuditSink>(&mut self, now: Timestamp, sink: &mut S) -> Result<(), S::Error> {
        let limit = self.session_idle_limit_secs;
        let due = *self.next_retirement.get_or_insert(now.add_secs(limit));
        if now < due {
            return Ok(());
        }
        self.next_retirement = Some(now.add_secs((limit / RETIREMENT_PASSES_PER_LIMIT).max(1)));
        let idle = self.sessions.retire_idle(now.add_secs(limit.saturating_neg()));
        if idle.is_empty() {
            return Ok(());
        }
        let health = self.health_index();
        for session in &idle {
            judge_session(session, &self.registry, &health, &mut self.summary, &mut self.per_server, sink)?;
        }
        Ok(())
    }

    /// Server health as recorded so far, in the servers' identities as known now.
    fn health_index(&self) -> HealthIndex {
        let registry = &self.registry;
        HealthIndex::build(&self.ledger, |id| registry.canonical(id), self.explain.clone())
    }

    fn release<S: AuditSink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let mut released = std::mem::take(&mut self.released);
        let mut result = Ok(());
        for r in released.drain(..) {
            if result.is_ok() {
                result = self.admit(r, sink);
            }
        }
        self.released = released;
        result
    }

    fn admit<S: AuditSink>(&mut self, released: Released, sink: &mut S) -> Result<(), S::Error> {
        match released {
            Released::Alone(Item::Tx(t)) => self.admit_tx(&t, None, sink).map(drop),
            Released::Alone(Item::Tls(t)) => self.admit_tls(&t, None, sink).map(drop),
            Released::Pair { front: Item::Tx(front), back: Item::Tx(back) } => {
                self.summary.stitch.http_pairs += 1;
                let front_attribution = self.admit_tx(&front, Some(&back), sink)?;
                let c = self.registry.candidates(endpoint(&back.meta), &back.evidence);
                let attribution = self.back_attribution(&c, &front_attribution, &front.meta);
                sink.transaction(&TransactionRow { meta: &back.meta, tx: &back.tx, evidence: &back.evidence, attribution: &attribution })
            }
            Released::Pair { front: Item::Tls(front), back: Item::Tls(back) } => {
                self.summary.stitch.tls_pairs += 1;
                let front_attribution = self.admit_tls(&front, Some(&back), sink)?;
                let c = self.registry.endpoint_candidates(endpoint(&back.record.meta));
                let attribution = self.back_attribution(&c, &front_attribution, &front.record.meta);
                sink.tls(&TlsRow { meta: &back.record.meta, tls: &back.tls, attribution: &attribution })
            }
            // Pairs are only ever made of two items of one kind.
            Released::Pair { front, back } => {
                self.admit(Released::Alone(front), sink)?;
                self.admit(Released::Alone(back), sink)
            }
        }
    }

    /// The server side of a stitched pair: its own server, the client side's session.
    fn back_attribution(&mut self, c: &Candidates, front: &Attribution, front_meta: &ConnMeta) -> Attribution {
        let resolved = self.registry.resolve(c);
        Attribution {
            server: resolved.map(|(id, _)| self.registry.name(id).to_owned()),
            server_source: resolved.map(|(_, source)| source),
            session_ref: front.session_ref,
            stitched_conn_id: Some(front_meta.conn_id),
        }
    }

    /// The server of an item from its candidates, with the other side's when stitched (the
    /// front's own endpoint is then the VIP, no server); counts the evidence used.
    fn identify(&mut self, own: Candidates, front_end: SocketAddr, back: Option<Candidates>) -> Option<(ServerId, ServerSource)> {
        let mut c = own;
        if back.is_some() || self.stitcher.is_vip(front_end) {
            c.names = None;
            c.address = None;
            self.registry.mark_vip(front_end);
        }
        if let Some(back) = &back {
            c.merge(back);
            self.summary.stitched += 1;
        }
        let resolved = self.registry.resolve(&c);
        let source = resolved.map_or("unresolved", |(_, s)| s.as_str());
        *self.summary.server_sources.entry(source).or_default() += 1;
        resolved
    }

    /// The client address of a transaction: the original client a proxy named, else the
    /// connection's client unless it is the balancer itself.
    fn client_address(&self, meta: &ConnMeta, evidence: Option<&TransactionEvidence>) -> Option<String> {
        match evidence.and_then(|e| e.forwarded_for.clone()) {
            Some(original) => Some(original),
            None => (!self.stitcher.is_proxy(meta.client_ip)).then(|| meta.client_ip.to_string()),
        }
    }

    fn admit_tx<S: AuditSink>(&mut self, t: &TxItem, back: Option<&TxItem>, sink: &mut S) -> Result<Attribution, S::Error> {
        let (meta, ev) = (&t.meta, &t.evidence);
        let ts = t.tx.request.ts;
        let front_end = endpoint(meta);
        if ev.app == ExchangeApp::HealthProbe {
            let attribution = self.admit_probe(t);
            sink.transaction(&TransactionRow { meta, tx: &t.tx, evidence: ev, attribution: &attribution })?;
            return Ok(attribution);
        }
        self.count_unstitched_tx(t, back.is_none());
        let own = self.registry.candidates(front_end, ev);
        let back_candidates = back.map(|b| self.registry.candidates(endpoint(&b.meta), &b.evidence));
        let resolved = self.identify(own, front_end, back_candidates);
        let server = resolved.map(|(id, _)| id);
        self.summary.http_transactions += 1;
        self.summary.balancer_cookies += u64::from(ev.lb_cookie.is_some());

        let client = self.client_address(meta, Some(ev));
        let user = user_of(ev);
        let family = AppFamily::of_transaction(ev).unwrap_or(AppFamily::Other);
        let key = {
            let source = KeySource { evidence: ev, client: client.as_deref(), user: user.as_deref() };
            source.first(self.keys.as_deref().unwrap_or(family.default_keys()))
        };
        let bytes = t.tx.request_body_len.saturating_add(t.tx.response_body_len);
        let pinned = self.registry.pinned_server(ev);
        let obs = Observation { ts, conn_id: meta.conn_id, server, pinned, client: client.as_deref(), user: user.as_deref(), bytes, resumed: None };
        let session_ref = self.observe_session(family, key, &obs);

        let status = t.tx.response.as_ref().map(|r| r.status);
        let load = Load {
            answered: status.is_some(),
            error_5xx: status.is_some_and(|s| s >= 500),
            pinned: ev.lb_cookie.as_ref().is_some_and(|c| c.source == CookieSource::Sent),
            bytes,
        };
        self.record_load(server, ts, load);
        self.record_redispatch(pinned, server, ts);
        if let Some(client) = &client {
            let device = ev.activesync.device_id.as_deref();
            let observation = ClientObservation { user: user.as_deref(), device, session: session_ref, server, bytes };
            self.clients.observe(client, &observation);
        }
        let attribution = Attribution {
            server: server.map(|id| self.registry.name(id).to_owned()),
            server_source: resolved.map(|(_, s)| s),
            session_ref,
            stitched_conn_id: back.map(|b| b.meta.conn_id),
        };
        if let (Some(channel), Some(client)) = (Channel::of_method(&t.tx.request.method), &client) {
            let info = ChannelInfo { channel, ts, conn_id: meta.conn_id, server, session_ref, user };
            let target = t.tx.request.uri.split_once('?').map_or("", |(_, q)| q);
            if let Some(pair) = self.pairer.channel(client, target, info, ts) {
                sink.oa_pair(&self.oa_pair_row(pair))?;
            }
        }
        sink.transaction(&TransactionRow { meta, tx: &t.tx, evidence: ev, attribution: &attribution })?;
        Ok(attribution)
    }

    fn count_unstitched_tx(&mut self, t: &TxItem, alone: bool) {
        if !alone {
            return;
        }
        let stats = &mut self.summary.stitch;
        if self.stitcher.is_vip(endpoint(&t.meta)) {
            stats.front_unstitched += 1;
        }
        if self.stitcher.is_proxy(t.meta.client_ip) || t.evidence.forwarded_for.is_some() {
            stats.back_unstitched += 1;
            stats.back_forwarded += u64::from(t.evidence.forwarded_for.is_some());
        }
    }

    /// A health probe: evidence of its server's state, never a session.
    fn admit_probe(&mut self, t: &TxItem) -> Attribution {
        self.summary.probes += 1;
        let c = self.registry.candidates(endpoint(&t.meta), &t.evidence);
        let resolved = self.registry.resolve(&c);
        let failed = !t.tx.response.as_ref().is_some_and(|r| (200..400).contains(&r.status));
        if let Some((server, _)) = resolved {
            let delta = Counters { probes: 1, probes_failed: u64::from(failed), ..Counters::default() };
            self.ledger.record(server, t.tx.request.ts, delta);
        }
        Attribution {
            server: resolved.map(|(id, _)| self.registry.name(id).to_owned()),
            server_source: resolved.map(|(_, s)| s),
            session_ref: None,
            stitched_conn_id: None,
        }
    }

    fn observe_session(&mut self, family: AppFamily, key: Option<Key>, obs: &Observation<'_>) -> Option<SessionRef> {
        match key {
            Some(key) => Some(self.sessions.observe(family, key, obs)),
            None => {
                self.summary.unkeyed_transactions += 1;
                None
            }
        }
    }

    /// One user transaction (or TLS connection) of `server`.
    fn record_load(&mut self, server: Option<ServerId>, ts: Timestamp, load: Load) {
        let Some(server) = server else { return };
        let delta = Counters {
            transactions: 1,
            answered: u64::from(load.answered),
            pinned: u64::from(load.answered && load.pinned),
            unpinned: u64::from(load.answered && !load.pinned),
            bytes: load.bytes,
            errors_5xx: u64::from(load.error_5xx),
            ..Counters::default()
        };
        self.ledger.record(server, ts, delta);
    }

    /// A request that carried a persistence cookie naming another server than the one that
    /// answered: the balancer re-placed the client away from the cookie's server.
    fn record_redispatch(&mut self, pinned: Option<ServerId>, served: Option<ServerId>, ts: Timestamp) {
        let (Some(served), Some(pinned_to)) = (served, pinned) else { return };
        if self.registry.canonical(pinned_to) != self.registry.canonical(served) {
            self.ledger.record(pinned_to, ts, Counters { redispatched_away: 1, ..Counters::default() });
        }
    }

    fn admit_tls<S: AuditSink>(&mut self, t: &TlsItem, back: Option<&TlsItem>, sink: &mut S) -> Result<Attribution, S::Error> {
        let meta = &t.record.meta;
        let front_end = endpoint(meta);
        self.summary.tls_connections += 1;
        let alone = back.is_none();
        if alone && self.forwarded.get(&meta.client_ip.to_string()).is_some_and(|&last| last >= meta.ts_start) {
            // Terminated by the balancer: its requests are the server side's forwarded ones.
            self.summary.stitch.tls_offloaded += 1;
            self.registry.mark_vip(front_end);
            let attribution = Attribution::default();
            sink.tls(&TlsRow { meta, tls: &t.tls, attribution: &attribution })?;
            return Ok(attribution);
        }
        // What TLS 1.3 hides matters only where the TLS is all the capture shows.
        self.summary.tls13_connections += u64::from(t.tls.version.as_deref() == Some("TLSv13"));
        if alone {
            let stats = &mut self.summary.stitch;
            stats.tls_front_unstitched += u64::from(self.stitcher.is_vip(front_end));
            stats.tls_back_unstitched += u64::from(self.stitcher.is_proxy(meta.client_ip));
        }
        let own = self.registry.endpoint_candidates(front_end);
        let back_candidates = back.map(|b| self.registry.endpoint_candidates(endpoint(&b.record.meta)));
        let resolved = self.identify(own, front_end, back_candidates);
        let server = resolved.map(|(id, _)| id);

        let client = self.client_address(meta, None);
        let lineage = self.lineages.observe(&t.tls);
        let priority = self.keys.as_deref().unwrap_or(AppFamily::Tls.default_keys());
        let key = priority.iter().find_map(|kind| match kind {
            KeyKind::Tls => lineage.as_ref().map(|(key, _)| key.clone()),
            KeyKind::Source => client.clone().map(|c| Key { kind: KeyKind::Source, value: c }),
            _ => None,
        });
        let resumed = lineage.as_ref().and_then(|(_, r)| *r);
        let bytes = t.tls.client_app_bytes.saturating_add(t.tls.server_app_bytes);
        let obs = Observation { ts: meta.ts_start, conn_id: meta.conn_id, server, pinned: None, client: client.as_deref(), user: None, bytes, resumed };
        let session_ref = self.observe_session(AppFamily::Tls, key, &obs);
        // A server hello or any byte from the server: the server took the connection.
        let answered = t.tls.version.is_some() || t.tls.server_app_bytes > 0;
        self.record_load(server, meta.ts_start, Load { answered, error_5xx: false, pinned: resumed == Some(true), bytes });
        if let Some(client) = &client {
            let observation = ClientObservation { user: None, device: None, session: session_ref, server, bytes };
            self.clients.observe(client, &observation);
        }
        let attribution = Attribution {
            server: server.map(|id| self.registry.name(id).to_owned()),
            server_source: resolved.map(|(_, s)| s),
            session_ref,
            stitched_conn_id: back.map(|b| b.record.meta.conn_id),
        };
        sink.tls(&TlsRow { meta, tls: &t.tls, attribution: &attribution })?;
        Ok(attribution)
    }

    fn oa_pair_row(&mut self, pair: OaPair) -> OaPairRow {
        let registry = &self.registry;
        let split = pair.split(|id| registry.canonical(id));
        self.summary.oa_split_pairs += u64::from(split);
        let name = |id: Option<ServerId>| id.and_then(|id| registry.canonical(id)).map(|id| registry.name(id).to_owned());
        OaPairRow {
            client: pair.client,
            user: pair.user,
            rpc_target: pair.rpc_target,
            ts_in: pair.rpc_in.ts,
            ts_out: pair.rpc_out.ts,
            conn_in: pair.rpc_in.conn_id,
            conn_out: pair.rpc_out.conn_id,
            server_in: name(pair.rpc_in.server),
            server_out: name(pair.rpc_out.server),
            split,
            session_in: pair.rpc_in.session_ref,
            session_out: pair.rpc_out.session_ref,
        }
    }

    /// Releases everything still held, then writes sessions, moves, clients and servers.
    pub fn finish<S: AuditSink>(mut self, sink: &mut S) -> Result<AuditSummary, S::Error> {
        self.stitcher.flush(&mut self.released);
        self.release(sink)?;
        sink.streamed_rows_done()?;
        self.pairer.finish();
        let health = self.health_index();
        let registry = &self.registry;
        let mut summary = std::mem::take(&mut self.summary);
        for session in self.sessions.sessions() {
            judge_session(session, registry, &health, &mut summary, &mut self.per_server, sink)?;
        }
        write_servers(registry, &health, &self.per_server, &mut summary, sink)?;
        write_clients(&self.clients, registry, &self.hotspot, &mut summary, sink)?;
        summary.oa_pairs = self.pairer.paired;
        summary.oa_unpaired = self.pairer.unpaired;
        summary.vips = registry.vips();
        summary.limits = limits(&summary);
        Ok(summary)
    }
}

/// One user transaction or TLS connection, as its server's load.
struct Load {
    answered: bool,
    error_5xx: bool,
    /// Sent a persistence cookie, or resumed a TLS session: the balancer had no choice to make.
    pinned: bool,
    bytes: u64,
}

/// Sessions and moves per server, counted while judging sessions.
#[derive(Default)]
struct ServerSessions {
    sessions: u64,
    moves_away: u64,
    moves_in: u64,
}

/// A session's severity: unexplained moves matter as much as its application needs affinity.
fn severity(class: AffinityClass, unexplained: u64) -> &'static str {
    match (unexplained, class) {
        (0, _) | (_, AffinityClass::NotNeeded) => "none",
        (_, AffinityClass::Required) => "failure",
        (_, AffinityClass::Beneficial | AffinityClass::Unknown) => "warning",
    }
}

fn judge_session<S: AuditSink>(
    session: &Session,
    registry: &ServerRegistry,
    health: &HealthIndex,
    summary: &mut AuditSummary,
    per_server: &mut HashMap<ServerId, ServerSessions>,
    sink: &mut S,
) -> Result<(), S::Error> {
    let settled = session.settle(|id| registry.canonical(id));
    let (verdict, basis) = session.verdict(&settled);
    let class = session.family.affinity();
    let name = |id: ServerId| registry.name(id);
    let explanations: Vec<Explanation> = settled.moves.iter().map(|m| health.explain(m.from, m.ts, m.pinned, name)).collect();
    let count = |kind: &str| explanations.iter().filter(|e| e.kind() == kind).count() as u64;
    let (failover, drain) = (count("failover"), count("drain"));
    // Moves beyond the listed ones cannot be explained: they count as unexplained.
    let unexplained = count("unexplained") + settled.moves_unlisted;
    let session_severity = severity(class, unexplained);
    for (m, explanation) in settled.moves.iter().zip(&explanations) {
        let move_severity = severity(class, u64::from(!explanation.is_explained()));
        sink.session_move(&MoveRow {
            session_ref: session.session_ref,
            app: session.family.as_str(),
            key_kind: session.key.kind.as_str(),
            ts: m.ts,
            from_server: name(m.from).to_owned(),
            to_server: name(m.to).to_owned(),
            conn_id: m.conn_id,
            explanation: explanation.kind(),
            evidence: explanation.evidence().to_owned(),
            severity: move_severity,
        })?;
        per_server.entry(m.from).or_default().moves_away += 1;
        per_server.entry(m.to).or_default().moves_in += 1;
    }
    for &(server, _) in &settled.visits {
        per_server.entry(server).or_default().sessions += 1;
    }
    let moves = settled.moves.len() as u64 + settled.moves_unlisted;
    let app = summary.apps.entry(session.family).or_default();
    app.sessions += 1;
    app.transactions += session.transactions;
    match verdict {
        Verdict::Single => app.single += 1,
        Verdict::Sticky => app.sticky += 1,
        Verdict::Moved => app.moved += 1,
        Verdict::Unknown => app.unknown += 1,
    }
    app.moves += moves;
    app.failover_moves += failover;
    app.drain_moves += drain;
    app.unexplained_moves += unexplained;
    app.failure_sessions += u64::from(session_severity == "failure");
    app.warning_sessions += u64::from(session_severity == "warning");
    let server_list: Vec<String> = settled.visits.iter().map(|&(id, n)| format!("{}:{n}", name(id))).collect();
    sink.session(&SessionRow {
        session_ref: session.session_ref,
        app: session.family.as_str(),
        affinity: class.as_str(),
        key_kind: session.key.kind.as_str(),
        key: session.key.display(),
        ts_first: session.ts_first,
        ts_last: session.ts_last,
        transactions: session.transactions,
        unresolved_transactions: settled.unresolved,
        servers: settled.visits.len() as u64,
        server_list: server_list.join(","),
        verdict: verdict.as_str(),
        verdict_basis: basis.as_str(),
        moves,
        failover_moves: failover,
        drain_moves: drain,
        unexplained_moves: unexplained,
        severity: session_severity,
        client_ips: session.client_ips.len() as u64 + u64::from(session.more_client_ips),
        client_ip_list: session.client_ips.join(",") + if session.more_client_ips { ",…" } else { "" },
        users: session.users.len() as u64 + u64::from(session.more_users),
        user: (!session.users.is_empty()).then(|| session.users.join(",")),
        bytes: session.bytes,
        first_server: settled.visits.first().map(|&(id, _)| name(id).to_owned()),
        last_server: settled.moves.last().map(|m| m.to).or(settled.visits.first().map(|&(id, _)| id)).map(|id| name(id).to_owned()),
    })
}

fn write_servers<S: AuditSink>(
    registry: &ServerRegistry,
    health: &HealthIndex,
    per_server: &HashMap<ServerId, ServerSessions>,
    summary: &mut AuditSummary,
    sink: &mut S,
) -> Result<(), S::Error> {
    let servers = health.servers();
    let total: u64 = servers.iter().map(|(_, h)| h.totals.transactions).sum();
    let mut rows: Vec<ServerRow> = servers
        .iter()
        .map(|&(id, h)| {
            let t = &h.totals;
            let counts = per_server.get(&id);
            ServerRow {
                server: registry.name(id).to_owned(),
                addresses: registry.addresses_of(id),
                totals: *t,
                share: if total == 0 { 0.0 } else { t.transactions as f64 / total as f64 },
                sessions: counts.map_or(0, |c| c.sessions),
                first_seen: h.marks.first_seen,
                last_seen: h.marks.last_seen,
                moves_away: counts.map_or(0, |c| c.moves_away),
                moves_in: counts.map_or(0, |c| c.moves_in),
                drained_from: h.drained_from,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.totals.transactions.cmp(&a.totals.transactions).then_with(|| a.server.cmp(&b.server)));
    for row in &rows {
        sink.server(row)?;
    }
    summary.servers = rows
        .into_iter()
        .map(|r| ServerSummary {
            failures: r.totals.failures(),
            name: r.server,
            transactions: r.totals.transactions,
            share: r.share,
            sessions: r.sessions,
            probes: r.totals.probes,
            probes_failed: r.totals.probes_failed,
            drained_from: r.drained_from,
        })
        .collect();
    Ok(())
}

fn write_clients<S: AuditSink>(
    clients: &ClientLedger,
    registry: &ServerRegistry,
    thresholds: &HotspotThresholds,
    summary: &mut AuditSummary,
    sink: &mut S,
) -> Result<(), S::Error> {
    let name = |id: ServerId| registry.name(id).to_owned();
    let reports = clients.report(|id| registry.canonical(id), thresholds);
    let farm_servers = summary.servers.iter().filter(|s| s.transactions > 0).count();
    let mut listed: Vec<ClientSummary> = Vec::new();
    for report in &reports {
        let top = report.shares.iter().max_by(|a, b| a.share_of_server.total_cmp(&b.share_of_server));
        let reason = report.hotspot.as_ref().map(|h| {
            format!(
                "{} users; {} takes {:.0}% of all transactions (even split {:.0}%), {:.0}% of them from this address",
                report.users.len(),
                name(h.server),
                h.server_share_of_farm * 100.0,
                h.even_share * 100.0,
                h.share_of_server * 100.0
            )
        });
        let loads: Vec<String> = report.shares.iter().map(|s| format!("{}:{:.3}", name(s.server), s.share_of_server)).collect();
        sink.client(&ClientRow {
            client_ip: report.address.clone(),
            users: report.users.len() as u64,
            user_list: report.users.join(","),
            devices: report.devices,
            sessions: report.sessions,
            transactions: report.transactions,
            bytes: report.bytes,
            servers: report.shares.len() as u64,
            top_server: top.map(|s| name(s.server)),
            top_server_share: top.map(|s| s.share_of_server),
            server_loads: loads.join(","),
            hotspot: reason.is_some(),
            hotspot_reason: reason.clone(),
        })?;
        let loaded = report.shares.iter().filter(|s| s.server_share_of_farm * farm_servers as f64 >= 1.0);
        if let Some(top) = loaded.max_by(|a, b| a.share_of_server.total_cmp(&b.share_of_server)) {
            let larger = summary.max_client_share.as_ref().is_none_or(|(_, _, share)| top.share_of_server > *share);
            if larger {
                summary.max_client_share = Some((report.address.clone(), name(top.server), top.share_of_server));
            }
        }
        summary.hotspots += u64::from(reason.is_some());
        listed.push(ClientSummary {
            address: report.address.clone(),
            users: report.users.len() as u64,
            transactions: report.transactions,
            top_server: top.map(|s| name(s.server)),
            top_server_share: top.map_or(0.0, |s| s.share_of_server),
            hotspot: reason,
        });
    }
    // Hot-spots first; the sort is stable, so the busiest come first within each group.
    listed.sort_by_key(|c| c.hotspot.is_none());
    listed.truncate(TOP_CLIENTS);
    summary.top_clients = listed;
    Ok(())
}

/// What the capture could not show, from the summary's figures.
fn limits(s: &AuditSummary) -> Vec<String> {
    let mut out = Vec::new();
    let unresolved = s.server_sources.get("unresolved").copied().unwrap_or(0);
    let tls_alone = s.tls_connections.saturating_sub(s.stitch.tls_offloaded);
    if s.http_transactions == 0 && tls_alone > 0 {
        out.push(format!(
            "All {tls_alone} connections were TLS with no key: only TLS session ids, tickets and source addresses were usable, and the applications are unknown."
        ));
    } else if tls_alone > 0 {
        out.push(format!("{tls_alone} TLS connections carried HTTP the capture cannot read: for them only TLS session ids, tickets and source addresses were usable."));
    }
    if s.tls13_connections > 0 {
        out.push(format!("{} connections used TLS 1.3, whose session ids are echoes and tickets encrypted: only their source addresses were usable.", s.tls13_connections));
    }
    let named: Vec<&ServerSummary> = s.servers.iter().filter(|srv| srv.transactions > 0).collect();
    let only_addresses = s.server_sources.keys().all(|k| matches!(*k, "address" | "unresolved"));
    if let ([one], true) = (named.as_slice(), only_addresses) {
        out.push(format!(
            "Every server identity came from one address, {}: if it is a balancer's virtual address, mark it `vip` in the naming file (--servers), since the capture shows no server behind it.",
            one.name
        ));
    }
    if unresolved > 0 {
        out.push(format!(
            "{unresolved} user transactions or TLS connections have no server identity: they reached a virtual address with no server header, balancer cookie or server-side partner."
        ));
    }
    if s.http_transactions > 0 && s.balancer_cookies == 0 {
        out.push("No balancer persistence cookie was seen: a drain cannot be told from the balancer's own choices.".to_owned());
    }
    if s.stitch.back_unstitched > s.stitch.back_forwarded {
        out.push(format!(
            "{} server-side transactions had no client-side partner and no X-Forwarded-For: their original clients are unknown.",
            s.stitch.back_unstitched - s.stitch.back_forwarded
        ));
    }
    if s.stitch.front_unstitched > 0 {
        out.push(format!("{} client-side transactions had no server-side partner.", s.stitch.front_unstitched));
    }
    if s.probes == 0 && s.servers.iter().all(|srv| srv.failures == 0) {
        out.push("No health probe or failed connection was seen: failovers can only be told by servers that stop answering.".to_owned());
    }
    if s.unkeyed_transactions > 0 {
        out.push(format!("{} transactions carried no usable session key (see --keys) and belong to no session.", s.unkeyed_transactions));
    }
    out
}
