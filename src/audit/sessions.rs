//! Sessions: the transactions (or TLS connections) of one application that share a key, the
//! servers they reached in order, and the verdict on them.
//!
//! A session is created by its first transaction and numbered in creation order
//! ([`SessionRef`]). Moves are recorded as transactions arrive (a transaction answered by another
//! server than the previous one of its session) with the servers known then; at the end they
//! are replayed through the final server identities ([`Session::settle`]), since an alias learned
//! later may show two names to be one server.
//!
//! Memory per session is bounded: at most [`MAX_LISTED_MOVES`] moves, [`MAX_LISTED`] client
//! addresses and users are kept; beyond, only counted.

use std::collections::HashMap;
use std::fmt;

use super::identity::ServerId;
use super::keys::{AppFamily, Key, KeyKind};
use crate::reassembly::ConnId;
use crate::timestamp::Timestamp;

/// Moves kept per session for explanation and the moves table; later moves are counted and
/// taken as unexplained.
pub const MAX_LISTED_MOVES: usize = 256;
/// Client addresses and users listed per session.
pub const MAX_LISTED: usize = 16;

/// A session's number, printed `S<n>`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionRef(pub u64);

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0)
    }
}

/// A transaction (or TLS connection) of a session that reached another server than the one
/// before it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub ts: Timestamp,
    pub from: ServerId,
    pub to: ServerId,
    /// The connection of the transaction that landed on `to`.
    pub conn_id: ConnId,
    /// The server that transaction's persistence cookie named, if any.
    pub pinned: Option<ServerId>,
}

/// What one transaction tells its session.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    pub ts: Timestamp,
    pub conn_id: ConnId,
    /// The server as known now; `None` when the capture does not show it.
    pub server: Option<ServerId>,
    /// The server the request's persistence cookie named, if any.
    pub pinned: Option<ServerId>,
    /// The client address (original client when a proxy named it).
    pub client: Option<&'a str>,
    pub user: Option<&'a str>,
    pub bytes: u64,
    /// TLS sessions: whether this connection resumed the lineage (`None`: the lineage's first).
    pub resumed: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub session_ref: SessionRef,
    pub family: AppFamily,
    pub key: Key,
    pub ts_first: Timestamp,
    pub ts_last: Timestamp,
    pub transactions: u64,
    /// Transactions whose server the capture does not show.
    pub unresolved: u64,
    pub bytes: u64,
    /// Servers reached, in order of first visit, with their transactions.
    pub visits: Vec<(ServerId, u64)>,
    current: Option<ServerId>,
    pub moves: Vec<Move>,
    /// Moves beyond [`MAX_LISTED_MOVES`].
    pub moves_unlisted: u64,
    pub client_ips: Vec<String>,
    pub more_client_ips: bool,
    pub users: Vec<String>,
    pub more_users: bool,
    /// TLS lineages: connections after the first, and how many of them resumed.
    pub continuations: u64,
    pub resumed_continuations: u64,
}

impl Session {
    fn new(session_ref: SessionRef, family: AppFamily, key: Key, ts: Timestamp) -> Self {
        Session {
            session_ref,
            family,
            key,
            ts_first: ts,
            ts_last: ts,
            transactions: 0,
            unresolved: 0,
            bytes: 0,
            visits: Vec::new(),
            current: None,
            moves: Vec::new(),
            moves_unlisted: 0,
            client_ips: Vec::new(),
            more_client_ips: false,
            users: Vec::new(),
            more_users: false,
            continuations: 0,
            resumed_continuations: 0,
        }
    }

    fn observe(&mut self, obs: &Observation<'_>) {
        self.ts_first = self.ts_first.min(obs.ts);
        self.ts_last = self.ts_last.max(obs.ts);
        self.transactions += 1;
        self.bytes = self.bytes.saturating_add(obs.bytes);
        if let Some(client) = obs.client {
            push_bounded(&mut self.client_ips, &mut self.more_client_ips, client);
        }
        if let Some(user) = obs.user {
            push_bounded(&mut self.users, &mut self.more_users, user);
        }
        if let Some(resumed) = obs.resumed {
            self.continuations += 1;
            self.resumed_continuations += u64::from(resumed);
        }
        let Some(server) = obs.server else {
            self.unresolved += 1;
            return;
        };
        match self.visits.iter_mut().find(|(s, _)| *s == server) {
            Some((_, count)) => *count += 1,
            None => self.visits.push((server, 1)),
        }
        if let Some(from) = self.current.filter(|&c| c != server) {
            let step = Move { ts: obs.ts, from, to: server, conn_id: obs.conn_id, pinned: obs.pinned };
            if self.moves.len() < MAX_LISTED_MOVES {
                self.moves.push(step);
            } else {
                self.moves_unlisted += 1;
            }
        }
        self.current = Some(server);
    }

    /// The session with its servers and moves mapped through `canonical` (final identities;
    /// `None` for what turned out to be a VIP): visits merged, moves between aliases of one
    /// server dropped, moves through an unknown server joined.
    pub fn settle(&self, canonical: impl Fn(ServerId) -> Option<ServerId>) -> Settled {
        let mut visits: Vec<(ServerId, u64)> = Vec::new();
        let mut unresolved = self.unresolved;
        for &(server, count) in &self.visits {
            match canonical(server) {
                Some(id) => match visits.iter_mut().find(|(s, _)| *s == id) {
                    Some((_, c)) => *c += count,
                    None => visits.push((id, count)),
                },
                None => unresolved += count,
            }
        }
        let mut moves = Vec::new();
        let mut current = self.moves.first().and_then(|m| canonical(m.from)).or_else(|| visits.first().map(|v| v.0));
        for m in &self.moves {
            let Some(to) = canonical(m.to) else { continue };
            let from = current.or_else(|| canonical(m.from));
            if let Some(from) = from.filter(|&f| f != to) {
                moves.push(Move { from, to, pinned: m.pinned.and_then(&canonical), ..*m });
            }
            current = Some(to);
        }
        Settled { visits, unresolved, moves, moves_unlisted: self.moves_unlisted }
    }
}

/// Adds `item` to a list of at most [`MAX_LISTED`] distinct strings; `more` tells one was left out.
fn push_bounded(list: &mut Vec<String>, more: &mut bool, item: &str) {
    if list.iter().any(|i| i == item) {
        return;
    }
    if list.len() < MAX_LISTED {
        list.push(item.to_owned());
    } else {
        *more = true;
    }
}

/// A session's servers and moves in final identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub visits: Vec<(ServerId, u64)>,
    pub unresolved: u64,
    pub moves: Vec<Move>,
    pub moves_unlisted: u64,
}

/// The verdict on a session.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// One transaction: nothing to stay sticky across.
    Single,
    /// Every transaction with a known server reached the same one.
    Sticky,
    /// At least two servers.
    Moved,
    /// No server known for any transaction.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Single => "single",
            Verdict::Sticky => "sticky",
            Verdict::Moved => "moved",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What a verdict rests on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum VerdictBasis {
    /// The servers of the transactions.
    Servers,
    /// No server is visible, but every connection after the first resumed the TLS session: a
    /// server resumes only sessions it issued, so they all reached the issuer (unless the farm
    /// shares a session cache or ticket keys).
    TlsResumption,
    None,
}

impl VerdictBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictBasis::Servers => "servers",
            VerdictBasis::TlsResumption => "tls_resumption",
            VerdictBasis::None => "",
        }
    }
}

impl Session {
    pub fn verdict(&self, settled: &Settled) -> (Verdict, VerdictBasis) {
        if self.transactions <= 1 {
            let basis = if settled.visits.is_empty() { VerdictBasis::None } else { VerdictBasis::Servers };
            return (Verdict::Single, basis);
        }
        match settled.visits.len() {
            0 if self.key.kind == KeyKind::Tls
                && self.continuations > 0
                && self.resumed_continuations == self.continuations =>
            {
                (Verdict::Sticky, VerdictBasis::TlsResumption)
            }
            0 => (Verdict::Unknown, VerdictBasis::None),
            1 => (Verdict::Sticky, VerdictBasis::Servers),
            _ => (Verdict::Moved, VerdictBasis::Servers),
        }
    }
}

/// The sessions not yet retired, by key, in the order they began.
#[derive(Debug, Default)]
pub struct SessionStore {
    index: HashMap<(AppFamily, Key), usize>,
    sessions: Vec<Session>,
    /// Sessions begun so far, retired ones included: the last reference given.
    begun: u64,
}

impl SessionStore {
    /// Adds a transaction to the session of `key` (created if new); returns its reference.
    pub fn observe(&mut self, family: AppFamily, key: Key, obs: &Observation<'_>) -> SessionRef {
        let indexed = (family, key);
        // Looked up before inserted: the key is cloned only for a new session.
        let index = match self.index.get(&indexed) {
            Some(&index) => index,
            None => {
                let next = self.sessions.len();
                self.index.insert(indexed.clone(), next);
                self.begun = self.begun.saturating_add(1);
                self.sessions.push(Session::new(SessionRef(self.begun), family, indexed.1, obs.ts));
                next
            }
        };
        match self.sessions.get_mut(index) {
            Some(session) => {
                session.observe(obs);
                session.session_ref
            }
            None => SessionRef(0),
        }
    }

    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// Takes out the sessions whose last transaction is before `before`, in the order they
    /// began; a later transaction with one of their keys begins a new session.
    pub fn retire_idle(&mut self, before: Timestamp) -> Vec<Session> {
        if self.sessions.iter().all(|s| s.ts_last >= before) {
            return Vec::new();
        }
        let mut retired = Vec::new();
        let mut kept = Vec::with_capacity(self.sessions.len());
        // Where each session went: its new place among the kept ones, or `None`.
        let mut places = Vec::with_capacity(self.sessions.len());
        for session in std::mem::take(&mut self.sessions) {
            if session.ts_last < before {
                places.push(None);
                retired.push(session);
            } else {
                places.push(Some(kept.len()));
                kept.push(session);
            }
        }
        self.sessions = kept;
        self.index.retain(|_, place| match places.get(*place).copied().flatten() {
            Some(new) => {
                *place = new;
                true
            }
            None => false,
        });
        retired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(secs: i64, server: Option<u32>) -> Observation<'static> {
        Observation {
            ts: Timestamp::from_secs_nanos(secs, 0),
            conn_id: ConnId(secs as u64),
            server: server.map(ServerId::test),
            pinned: None,
            client: Some("10.0.0.1"),
            user: Some("bob"),
            bytes: 10,
            resumed: None,
        }
    }

    fn key(value: &str) -> Key {
        Key { kind: KeyKind::Source, value: value.to_owned() }
    }

    fn identity(id: ServerId) -> Option<ServerId> {
        Some(id)
    }

    #[test]
    fn sticky_single_and_moved() {
        let mut store = SessionStore::default();
        let a = store.observe(AppFamily::Owa, key("a"), &obs(1, Some(1)));
        assert_eq!(store.observe(AppFamily::Owa, key("a"), &obs(2, Some(1))), a);
        let b = store.observe(AppFamily::Owa, key("b"), &obs(3, Some(1)));
        // The same key in another family is another session.
        let c = store.observe(AppFamily::Ews, key("a"), &obs(4, Some(1)));
        assert_eq!((a, b, c), (SessionRef(1), SessionRef(2), SessionRef(3)));
        for s in [2, 1, 1, 3] {
            store.observe(AppFamily::Ews, key("m"), &obs(10 + i64::from(s), Some(s)));
        }
        let sessions = store.sessions();
        let verdicts: Vec<_> = sessions.iter().map(|s| s.verdict(&s.settle(identity)).0).collect();
        assert_eq!(verdicts, vec![Verdict::Sticky, Verdict::Single, Verdict::Single, Verdict::Moved]);
        let moved = sessions[3].settle(identity);
        let steps: Vec<_> = moved.moves.iter().map(|m| (m.ts.as_nanos() / 1_000_000_000, m.from, m.to)).collect();
        assert_eq!(steps, vec![(11, ServerId::test(2), ServerId::test(1)), (13, ServerId::test(1), ServerId::test(3))]);
        assert_eq!(moved.visits, vec![(ServerId::test(2), 1), (ServerId::test(1), 2), (ServerId::test(3), 1)]);
        assert_eq!(sessions[3].users, vec!["bob".to_owned()]);
    }

    #[test]
    fn settling_merges_aliases_and_skips_vips() {
        let mut store = SessionStore::default();
        // 1 and 2 turn out to be one server (2 is an alias of 1); 9 is a VIP.
        for s in [1, 2, 9, 3, 1] {
            store.observe(AppFamily::Owa, key("k"), &obs(i64::from(s), Some(s)));
        }
        store.observe(AppFamily::Owa, key("k"), &obs(20, None));
        let canonical = |id: ServerId| match id {
            id if id == ServerId::test(9) => None,
            id if id == ServerId::test(2) => Some(ServerId::test(1)),
            id => Some(id),
        };
        let session = &store.sessions()[0];
        let settled = session.settle(canonical);
        assert_eq!(settled.visits, vec![(ServerId::test(1), 3), (ServerId::test(3), 1)]);
        assert_eq!(settled.unresolved, 2);
        let steps: Vec<_> = settled.moves.iter().map(|m| (m.from, m.to)).collect();
        assert_eq!(steps, vec![(ServerId::test(1), ServerId::test(3)), (ServerId::test(3), ServerId::test(1))]);
        assert_eq!(session.verdict(&settled), (Verdict::Moved, VerdictBasis::Servers));
    }

    #[test]
    fn unknown_servers_and_tls_resumption() {
        let mut store = SessionStore::default();
        let tls = Key { kind: KeyKind::Tls, value: "sid".into() };
        let mut first = obs(1, None);
        first.resumed = None;
        store.observe(AppFamily::Tls, tls.clone(), &first);
        for t in 2..5 {
            let mut o = obs(t, None);
            o.resumed = Some(true);
            store.observe(AppFamily::Tls, tls.clone(), &o);
        }
        let mut failed = Key { kind: KeyKind::Tls, value: "sid2".into() };
        store.observe(AppFamily::Tls, failed.clone(), &obs(1, None));
        let mut o = obs(2, None);
        o.resumed = Some(false);
        store.observe(AppFamily::Tls, failed.clone(), &o);
        failed.kind = KeyKind::Source;
        store.observe(AppFamily::Tls, failed.clone(), &obs(1, None));
        store.observe(AppFamily::Tls, failed, &obs(2, None));
        let verdicts: Vec<_> = store.sessions().iter().map(|s| s.verdict(&s.settle(identity))).collect();
        assert_eq!(
            verdicts,
            vec![
                (Verdict::Sticky, VerdictBasis::TlsResumption),
                (Verdict::Unknown, VerdictBasis::None),
                (Verdict::Unknown, VerdictBasis::None)
            ]
        );
    }

    #[test]
    fn bounded_lists() {
        let mut store = SessionStore::default();
        let clients: Vec<String> = (0..250).map(|i| format!("10.0.0.{i}")).collect();
        for i in 0..(MAX_LISTED_MOVES as u32 + 10) {
            let mut o = obs(i64::from(i), Some(i % 2));
            o.client = clients.get(i as usize % 250).map(String::as_str);
            store.observe(AppFamily::Owa, key("k"), &o);
        }
        let s = &store.sessions()[0];
        assert_eq!(s.moves.len(), MAX_LISTED_MOVES);
        assert_eq!(s.moves_unlisted, 9);
        assert_eq!(s.client_ips.len(), MAX_LISTED);
        assert!(s.more_client_ips);
    }

    #[test]
    fn idle_sessions_retire_in_order_and_their_keys_begin_new_ones() {
        let mut store = SessionStore::default();
        let a = store.observe(AppFamily::Owa, key("a"), &obs(1, Some(1)));
        let b = store.observe(AppFamily::Owa, key("b"), &obs(2, Some(1)));
        let c = store.observe(AppFamily::Owa, key("c"), &obs(3, Some(1)));
        let d = store.observe(AppFamily::Owa, key("d"), &obs(4, Some(1)));
        store.observe(AppFamily::Owa, key("b"), &obs(50, Some(2)));
        assert!(store.retire_idle(Timestamp::from_secs_nanos(1, 0)).is_empty(), "idle since before 1 s: none");
        let retired = store.retire_idle(Timestamp::from_secs_nanos(10, 0));
        let refs: Vec<SessionRef> = retired.iter().map(|s| s.session_ref).collect();
        assert_eq!(refs, [a, c, d], "in the order they began");
        let kept: Vec<SessionRef> = store.sessions().iter().map(|s| s.session_ref).collect();
        assert_eq!(kept, [b]);
        // The kept session is still found by its key; a retired key begins a new session.
        assert_eq!(store.observe(AppFamily::Owa, key("b"), &obs(60, Some(2))), b);
        let c2 = store.observe(AppFamily::Owa, key("c"), &obs(61, Some(1)));
        assert_eq!(c2, SessionRef(5));
        assert_eq!(store.sessions().iter().map(|s| (s.session_ref, s.transactions)).collect::<Vec<_>>(), [(b, 3), (c2, 1)]);
        assert_eq!(store.sessions()[1].ts_first, Timestamp::from_secs_nanos(61, 0));
    }
}
