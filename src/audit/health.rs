//! Server state over time, from what the capture shows of each server, and the explanation of
//! moves by it.
//!
//! Every event is counted per server ([`ServerLedger`]): user transactions (answered, pinned by
//! a balancer cookie or TLS resumption, or free for the balancer to place), 5xx responses,
//! refused and unanswered connection attempts, resets by the server, health probes and their
//! failures, and clients the balancer re-placed away from a server (a request carrying the
//! server's persistence cookie answered by another server). Over time, only what the
//! explanations below ask after the fact is kept: answered and unpinned requests per second, and
//! the failures per tenth of a second, since whether a failure came before or after a move
//! decides whether it explains it. Memory: 16 bytes per server and second with answers, whatever
//! the traffic (about 0.2 MB per hour for four servers), and one bucket per tenth of a second
//! with failures.
//!
//! At the end ([`HealthIndex`]) a move from server A at time t is explained, in this order:
//! 1. failover: A shows failure evidence from `before` seconds before t to `after` seconds after
//!    it, in tenths of a second (refused, unanswered or reset connections, 5xx, failed probes,
//!    clients re-placed away from it); or the request that moved carried a persistence cookie naming a
//!    third server P that shows such evidence (the balancer re-placed a client pinned to a
//!    failed server, and the client's other requests bounce until it is pinned again);
//! 2. drain: A was in drain at t: from time d on it answered only pinned requests (clients whose
//!    cookie or TLS session names it) for at least [`ExplainConfig::drain_min_secs`], while the
//!    other servers took at least [`ExplainConfig::drain_min_unpinned`] unpinned requests after d
//!    and A showed no failure after d — a planned drain, not a failure;
//! 3. failover (stopped answering): A answered nothing from t to the end of the capture while
//!    the other servers answered at least [`ExplainConfig::silence_min_transactions`];
//! 4. otherwise unexplained: a persistence failure.

use std::collections::{BTreeMap, HashMap};
use std::ops::{AddAssign, Sub};

use super::identity::ServerId;
use crate::timestamp::Timestamp;

/// Thresholds of the explanations.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainConfig {
    /// Failure evidence counts from this many seconds before a move…
    pub before_secs: i64,
    /// …to this many after it (0: the move's own tenth of a second; failures cause moves, so
    /// evidence after them matters only where the capture saw the failure late).
    pub after_secs: i64,
    /// Answers by the other servers after a move, with none by the server left, for "stopped
    /// answering".
    pub silence_min_transactions: u64,
    /// Unpinned requests the other servers must take while a server gets none, for a drain.
    pub drain_min_unpinned: u64,
    /// Seconds a drained server must go on answering pinned requests.
    pub drain_min_secs: i64,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig { before_secs: 10, after_secs: 0, silence_min_transactions: 20, drain_min_unpinned: 10, drain_min_secs: 1 }
    }
}

/// What one server did during a bucket (or, summed, a range of them).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// User transactions (or TLS-only connections) attributed to the server.
    pub transactions: u64,
    /// Of those, answered (a response, or a TLS handshake the server took part in).
    pub answered: u64,
    /// Answered transactions that carried a balancer cookie or resumed a TLS session.
    pub pinned: u64,
    /// Answered transactions the balancer was free to place.
    pub unpinned: u64,
    /// Request and response body bytes (TLS: application data bytes).
    pub bytes: u64,
    pub errors_5xx: u64,
    /// Connection attempts answered by a reset.
    pub refused: u64,
    /// Connection attempts never answered.
    pub unanswered: u64,
    /// Established connections reset by the server.
    pub resets: u64,
    pub probes: u64,
    /// Probes answered with a status other than 2xx/3xx, or not answered.
    pub probes_failed: u64,
    /// Connections that carried only health probes (the balancer's monitor).
    pub probe_connections: u64,
    /// Requests carrying this server's persistence cookie that another server answered.
    pub redispatched_away: u64,
}

impl Counters {
    /// Events that show the server failing.
    pub fn failures(&self) -> u64 {
        self.refused + self.unanswered + self.resets + self.errors_5xx + self.probes_failed + self.redispatched_away
    }

    /// The failure counts in words, for a move's evidence.
    fn describe_failures(&self) -> String {
        let parts = [
            (self.refused, "refused connections"),
            (self.unanswered, "unanswered connection attempts"),
            (self.resets, "connections reset by the server"),
            (self.errors_5xx, "5xx responses"),
            (self.probes_failed, "failed health probes"),
            (self.redispatched_away, "requests pinned to it answered elsewhere"),
        ];
        let listed: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        listed.join(", ")
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.transactions = self.transactions.saturating_add(o.transactions);
        self.answered = self.answered.saturating_add(o.answered);
        self.pinned = self.pinned.saturating_add(o.pinned);
        self.unpinned = self.unpinned.saturating_add(o.unpinned);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.errors_5xx = self.errors_5xx.saturating_add(o.errors_5xx);
        self.refused = self.refused.saturating_add(o.refused);
        self.unanswered = self.unanswered.saturating_add(o.unanswered);
        self.resets = self.resets.saturating_add(o.resets);
        self.probes = self.probes.saturating_add(o.probes);
        self.probes_failed = self.probes_failed.saturating_add(o.probes_failed);
        self.probe_connections = self.probe_connections.saturating_add(o.probe_connections);
        self.redispatched_away = self.redispatched_away.saturating_add(o.redispatched_away);
    }
}

impl Sub for Counters {
    type Output = Counters;

    /// Difference of two running totals (later minus earlier).
    fn sub(self, o: Counters) -> Counters {
        Counters {
            transactions: self.transactions.saturating_sub(o.transactions),
            answered: self.answered.saturating_sub(o.answered),
            pinned: self.pinned.saturating_sub(o.pinned),
            unpinned: self.unpinned.saturating_sub(o.unpinned),
            bytes: self.bytes.saturating_sub(o.bytes),
            errors_5xx: self.errors_5xx.saturating_sub(o.errors_5xx),
            refused: self.refused.saturating_sub(o.refused),
            unanswered: self.unanswered.saturating_sub(o.unanswered),
            resets: self.resets.saturating_sub(o.resets),
            probes: self.probes.saturating_sub(o.probes),
            probes_failed: self.probes_failed.saturating_sub(o.probes_failed),
            probe_connections: self.probe_connections.saturating_sub(o.probe_connections),
            redispatched_away: self.redispatched_away.saturating_sub(o.redispatched_away),
        }
    }
}

/// The bucket (second) of a time.
fn bucket(ts: Timestamp) -> i64 {
    ts.as_nanos().div_euclid(1_000_000_000)
}

/// Tenths of a second in a second: the failure buckets' resolution.
const FINE_PER_SECOND: i64 = 10;

/// The failure bucket (tenth of a second) of a time.
fn fine_bucket(ts: Timestamp) -> i64 {
    ts.as_nanos().div_euclid(1_000_000_000 / FINE_PER_SECOND)
}

/// Exact times kept per server beside the buckets.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub last_answer: Option<Timestamp>,
    pub last_unpinned: Option<Timestamp>,
    pub last_pinned: Option<Timestamp>,
}

impl Marks {
    fn merge(&mut self, o: &Marks) {
        self.first_seen = min_opt(self.first_seen, o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        self.last_answer = self.last_answer.max(o.last_answer);
        self.last_unpinned = self.last_unpinned.max(o.last_unpinned);
        self.last_pinned = self.last_pinned.max(o.last_pinned);
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Requests a server answered, summed over a range of seconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Answers {
    answered: u64,
    /// Of those, the ones the balancer was free to place (no balancer cookie, no resumption).
    unpinned: u64,
}

impl AddAssign for Answers {
    fn add_assign(&mut self, o: Answers) {
        self.answered = self.answered.saturating_add(o.answered);
        self.unpinned = self.unpinned.saturating_add(o.unpinned);
    }
}

impl Sub for Answers {
    type Output = Answers;

    /// Difference of two running totals (later minus earlier).
    fn sub(self, o: Answers) -> Answers {
        Answers { answered: self.answered.saturating_sub(o.answered), unpinned: self.unpinned.saturating_sub(o.unpinned) }
    }
}

/// [`Answers`] of one second, in the 8 bytes the ledger keeps per server and second (the counts
/// saturate at 4 billion a second).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct SecondAnswers {
    answered: u32,
    unpinned: u32,
}

impl SecondAnswers {
    fn add(&mut self, answered: u64, unpinned: u64) {
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.answered = self.answered.saturating_add(narrow(answered));
        self.unpinned = self.unpinned.saturating_add(narrow(unpinned));
    }

    fn widen(self) -> Answers {
        Answers { answered: u64::from(self.answered), unpinned: u64::from(self.unpinned) }
    }
}

/// A server's answers per second, in time order. Events come nearly in time order, so the
/// second of an event is mostly the last one or near it.
#[derive(Clone, Debug, Default)]
struct AnswersBySecond(Vec<(i64, SecondAnswers)>);

impl AnswersBySecond {
    /// The seconds in time order, their counts widened for sums.
    fn widened(&self) -> impl Iterator<Item = (i64, Answers)> + '_ {
        self.0.iter().map(|&(second, answers)| (second, answers.widen()))
    }

    fn add(&mut self, second: i64, answered: u64, unpinned: u64) {
        let at = match self.0.last() {
            Some(&(last, _)) if last < second => self.0.len(),
            _ => self.0.partition_point(|&(s, _)| s < second),
        };
        match self.0.get_mut(at) {
            Some((s, answers)) if *s == second => answers.add(answered, unpinned),
            _ => {
                let mut answers = SecondAnswers::default();
                answers.add(answered, unpinned);
                self.0.insert(at, (second, answers));
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Track {
    answers: AnswersBySecond,
    /// The failure counters alone, by tenth of a second.
    failures: BTreeMap<i64, Counters>,
    totals: Counters,
    marks: Marks,
}

impl Counters {
    /// Only the failure counters of `self`.
    fn failures_only(&self) -> Counters {
        Counters {
            refused: self.refused,
            unanswered: self.unanswered,
            resets: self.resets,
            errors_5xx: self.errors_5xx,
            probes_failed: self.probes_failed,
            redispatched_away: self.redispatched_away,
            ..Counters::default()
        }
    }
}

/// Events per server (as identified when they happened) and second.
#[derive(Clone, Debug, Default)]
pub struct ServerLedger {
    servers: HashMap<ServerId, Track>,
}

impl ServerLedger {
    /// Adds `delta` to `server`'s bucket at `ts`.
    pub fn record(&mut self, server: ServerId, ts: Timestamp, delta: Counters) {
        let track = self.servers.entry(server).or_default();
        track.totals += delta;
        if delta.answered > 0 || delta.unpinned > 0 {
            track.answers.add(bucket(ts), delta.answered, delta.unpinned);
        }
        if delta.failures() > 0 {
            *track.failures.entry(fine_bucket(ts)).or_default() += delta.failures_only();
        }
        let m = &mut track.marks;
        m.first_seen = min_opt(m.first_seen, Some(ts));
        m.last_seen = m.last_seen.max(Some(ts));
        if delta.answered > 0 {
            m.last_answer = m.last_answer.max(Some(ts));
        }
        if delta.unpinned > 0 {
            m.last_unpinned = m.last_unpinned.max(Some(ts));
        }
        if delta.pinned > 0 {
            m.last_pinned = m.last_pinned.max(Some(ts));
        }
    }
}

/// Running totals over buckets, for range sums.
#[derive(Clone, Debug)]
struct Cumulative<T>(Vec<(i64, T)>);

impl<T: Copy + Default + AddAssign + Sub<Output = T>> Cumulative<T> {
    /// From buckets in increasing order.
    fn build(buckets: impl IntoIterator<Item = (i64, T)>) -> Self {
        let mut total = T::default();
        Cumulative(
            buckets
                .into_iter()
                .map(|(b, c)| {
                    total += c;
                    (b, total)
                })
                .collect(),
        )
    }

    /// Total of the buckets up to and including `b`.
    fn through(&self, b: i64) -> T {
        let n = self.0.partition_point(|&(k, _)| k <= b);
        n.checked_sub(1).and_then(|i| self.0.get(i)).map(|&(_, c)| c).unwrap_or_default()
    }

    /// Total of the buckets in `[from, to]`.
    fn range(&self, from: i64, to: i64) -> T {
        self.through(to) - self.through(from.saturating_sub(1))
    }
}

/// Answers of several tracks of one server (its aliases) merged into one series in time order.
fn merged_answers<'t>(tracks: impl IntoIterator<Item = &'t AnswersBySecond>) -> Vec<(i64, Answers)> {
    let mut merged: Vec<(i64, Answers)> = tracks.into_iter().flat_map(AnswersBySecond::widened).collect();
    merged.sort_by_key(|&(s, _)| s);
    merged.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
    merged
}

/// What the capture shows of one server over the whole capture.
#[derive(Clone, Debug, Default)]
pub struct ServerHealth {
    pub totals: Counters,
    pub marks: Marks,
    /// Start of a drain: from then on the server answered only pinned requests.
    pub drained_from: Option<Timestamp>,
}

/// Why a session moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Explanation {
    Failover(String),
    Drain(String),
    Unexplained,
}

impl Explanation {
    pub fn kind(&self) -> &'static str {
        match self {
            Explanation::Failover(_) => "failover",
            Explanation::Drain(_) => "drain",
            Explanation::Unexplained => "unexplained",
        }
    }

    pub fn evidence(&self) -> &str {
        match self {
            Explanation::Failover(e) | Explanation::Drain(e) => e,
            Explanation::Unexplained => "",
        }
    }

    pub fn is_explained(&self) -> bool {
        !matches!(self, Explanation::Unexplained)
    }
}

/// One server's running totals: answers per second, and failures per tenth of a second.
#[derive(Debug)]
struct Totals {
    answers: Cumulative<Answers>,
    fine_failures: Cumulative<Counters>,
}

/// The ledger in final server identities, ready for questions. Its running totals are the
/// only copy of the ledger's seconds it makes (what all servers did is summed from them), so
/// that building it at the end of a long capture costs little beyond the ledger itself.
#[derive(Debug)]
pub struct HealthIndex {
    config: ExplainConfig,
    servers: HashMap<ServerId, (Totals, ServerHealth)>,
}

impl HealthIndex {
    /// Merges the ledger's servers through `canonical` (VIPs, `None`, are dropped) and finds
    /// drains.
    pub fn build(ledger: &ServerLedger, canonical: impl Fn(ServerId) -> Option<ServerId>, config: ExplainConfig) -> Self {
        // The raw tracks of each server (aliases merge), VIPs left out.
        let mut tracks: HashMap<ServerId, Vec<&Track>> = HashMap::new();
        for (&raw, track) in &ledger.servers {
            if let Some(id) = canonical(raw) {
                tracks.entry(id).or_default().push(track);
            }
        }
        let servers = tracks
            .into_iter()
            .map(|(id, raw)| {
                let mut failures: BTreeMap<i64, Counters> = BTreeMap::new();
                let mut health = ServerHealth::default();
                for track in &raw {
                    for (&b, &c) in &track.failures {
                        *failures.entry(b).or_default() += c;
                    }
                    health.totals += track.totals;
                    health.marks.merge(&track.marks);
                }
                let answers = match raw.as_slice() {
                    [one] => Cumulative::build(one.answers.widened()),
                    aliases => Cumulative::build(merged_answers(aliases.iter().map(|t| &t.answers))),
                };
                (id, (Totals { answers, fine_failures: Cumulative::build(failures) }, health))
            })
            .collect();
        let mut index = HealthIndex { config, servers };
        let drains: Vec<(ServerId, Timestamp)> =
            index.servers.keys().filter_map(|&id| index.find_drain(id).map(|d| (id, d))).collect();
        for (id, from) in drains {
            if let Some((_, health)) = index.servers.get_mut(&id) {
                health.drained_from = Some(from);
            }
        }
        index
    }

    #[cfg(test)]
    fn server(&self, id: ServerId) -> Option<&ServerHealth> {
        self.servers.get(&id).map(|(_, h)| h)
    }

    /// Every server with its health, in id order.
    pub fn servers(&self) -> Vec<(ServerId, &ServerHealth)> {
        let mut list: Vec<_> = self.servers.iter().map(|(&id, (_, h))| (id, h)).collect();
        list.sort_by_key(|(id, _)| *id);
        list
    }

    /// What the other servers answered in `[from, to]`.
    fn others(&self, id: ServerId, from: i64, to: i64) -> Answers {
        let mut others = Answers::default();
        for (_, (totals, _)) in self.servers.iter().filter(|(&other, _)| other != id) {
            others += totals.answers.range(from, to);
        }
        others
    }

    fn find_drain(&self, id: ServerId) -> Option<Timestamp> {
        let (totals, health) = self.servers.get(&id)?;
        let start = health.marks.last_unpinned?;
        let kept_serving = health.marks.last_pinned?.secs_since(start) >= self.config.drain_min_secs as f64;
        let b = bucket(start);
        let others_unpinned = self.others(id, b.saturating_add(1), i64::MAX).unpinned;
        let failed_after = totals.fine_failures.range(fine_bucket(start), i64::MAX).failures();
        (kept_serving && others_unpinned >= self.config.drain_min_unpinned && failed_after == 0).then_some(start)
    }

    /// The failure evidence of `server` around `ts`, in words; `None` when there is none.
    fn failures_around(&self, server: ServerId, ts: Timestamp) -> Option<String> {
        let (totals, _) = self.servers.get(&server)?;
        let b = fine_bucket(ts);
        let before = self.config.before_secs.saturating_mul(FINE_PER_SECOND);
        let after = self.config.after_secs.saturating_mul(FINE_PER_SECOND);
        let window = totals.fine_failures.range(b.saturating_sub(before), b.saturating_add(after));
        (window.failures() > 0).then(|| window.describe_failures())
    }

    /// Why a session left `from` at `ts` with a request that `pinned` (the server its
    /// persistence cookie named, if any); `name` gives servers' names for the evidence text.
    pub fn explain<'n>(&self, from: ServerId, ts: Timestamp, pinned: Option<ServerId>, name: impl Fn(ServerId) -> &'n str) -> Explanation {
        let window = format!("from {} s before the move to {} s after", self.config.before_secs, self.config.after_secs);
        if let Some(failures) = self.failures_around(from, ts) {
            return Explanation::Failover(format!("{}: {failures}, {window}", name(from)));
        }
        if let Some(p) = pinned.filter(|&p| p != from) {
            if let Some(failures) = self.failures_around(p, ts) {
                return Explanation::Failover(format!("request pinned to {} re-placed; {}: {failures}, {window}", name(p), name(p)));
            }
        }
        let Some((_, health)) = self.servers.get(&from) else { return Explanation::Unexplained };
        if let Some(start) = health.drained_from.filter(|&d| d <= ts) {
            return Explanation::Drain(format!(
                "{} in drain from {}: it answered only clients pinned to it, none of the {} others",
                name(from),
                format_utc(start),
                self.others(from, bucket(start).saturating_add(1), i64::MAX).unpinned
            ));
        }
        let silent = health.marks.last_answer.is_none_or(|last| last < ts);
        let others_after = self.others(from, bucket(ts).saturating_add(1), i64::MAX).answered;
        if silent && others_after >= self.config.silence_min_transactions {
            return Explanation::Failover(format!(
                "{} answered nothing from {} to the end of the capture while the other servers answered {others_after} requests",
                name(from),
                format_utc(ts)
            ));
        }
        Explanation::Unexplained
    }
}

/// A time as UTC, `2026-11-22 02:48:32.110`, for sentences (tables keep epoch seconds).
pub fn format_utc(ts: Timestamp) -> String {
    let nanos = ts.as_nanos();
    let secs = nanos.div_euclid(1_000_000_000);
    let millis = nanos.rem_euclid(1_000_000_000) / 1_000_000;
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_secs_nanos(1_000 + secs, 0)
    }

    fn answered(pinned: bool) -> Counters {
        Counters { transactions: 1, answered: 1, pinned: u64::from(pinned), unpinned: u64::from(!pinned), ..Counters::default() }
    }

    fn names(id: ServerId) -> &'static str {
        ["CAS01", "CAS02", "CAS03"].get(id_index(id)).copied().unwrap_or("?")
    }

    fn id_index(id: ServerId) -> usize {
        (0..3).find(|&i| ServerId::test(i as u32) == id).unwrap_or(9)
    }

    fn build_index(ledger: &ServerLedger) -> HealthIndex {
        HealthIndex::build(ledger, Some, ExplainConfig::default())
    }

    /// Three servers answering unpinned requests in turn for `secs` seconds.
    fn busy_farm(secs: i64) -> ServerLedger {
        let mut ledger = ServerLedger::default();
        for s in 0..secs {
            for id in 0..3 {
                ledger.record(ServerId::test(id), at(s), answered(false));
            }
        }
        ledger
    }

    #[test]
    fn failover_by_failure_evidence() {
        let mut ledger = busy_farm(30);
        let cas02 = ServerId::test(1);
        ledger.record(cas02, at(12), Counters { refused: 2, ..Counters::default() });
        ledger.record(cas02, at(12), Counters { redispatched_away: 1, ..Counters::default() });
        let index = build_index(&ledger);
        let e = index.explain(cas02, at(12), None, names);
        assert_eq!(
            e,
            Explanation::Failover(
                "CAS02: 2 refused connections, 1 requests pinned to it answered elsewhere, from 10 s before the move to 0 s after".into()
            )
        );
        assert!(index.explain(cas02, at(22), None, names).is_explained());
        // Evidence more than 10 s earlier, or from another server, explains nothing.
        assert_eq!(index.explain(cas02, Timestamp::from_nanos(at(22).as_nanos() + 100_000_000), None, names), Explanation::Unexplained);
        assert_eq!(index.explain(ServerId::test(0), at(13), None, names), Explanation::Unexplained);
        // A move before the failure is not explained by it, even within the same second.
        assert_eq!(index.explain(cas02, Timestamp::from_nanos(at(12).as_nanos() - 1), None, names), Explanation::Unexplained);
        assert_eq!(index.explain(cas02, Timestamp::from_nanos(at(12).as_nanos() + 99_999_999), None, names).kind(), "failover");
        // A request pinned to the failed server bounced between two healthy ones: failover.
        let e = index.explain(ServerId::test(2), at(13), Some(cas02), names);
        assert_eq!(e.kind(), "failover");
        assert!(e.evidence().starts_with("request pinned to CAS02 re-placed; CAS02: 2 refused"), "{e:?}");
        assert_eq!(index.explain(ServerId::test(2), at(13), Some(ServerId::test(0)), names), Explanation::Unexplained);
    }

    #[test]
    fn failover_by_silence() {
        let mut ledger = ServerLedger::default();
        for s in 0..20 {
            for id in 0..3 {
                if id != 1 || s < 8 {
                    ledger.record(ServerId::test(id), at(s), answered(false));
                }
            }
        }
        let index = build_index(&ledger);
        let e = index.explain(ServerId::test(1), at(9), None, names);
        assert_eq!(e.kind(), "failover");
        assert!(e.evidence().contains("answered nothing"), "{e:?}");
        // A move while the server was still answering is not explained by its later silence.
        assert_eq!(index.explain(ServerId::test(1), at(5), None, names), Explanation::Unexplained);
    }

    #[test]
    fn drain_and_its_limits() {
        let mut ledger = ServerLedger::default();
        let cas02 = ServerId::test(1);
        for s in 0..20 {
            for id in 0..3 {
                let id = ServerId::test(id);
                if id == cas02 && s >= 5 {
                    // After 5 s, CAS02 only answers its pinned clients.
                    ledger.record(id, at(s), answered(true));
                } else {
                    ledger.record(id, at(s), answered(false));
                }
            }
        }
        let index = build_index(&ledger);
        assert_eq!(index.server(cas02).and_then(|h| h.drained_from), Some(at(4)));
        assert_eq!(index.server(ServerId::test(0)).and_then(|h| h.drained_from), None);
        let e = index.explain(cas02, at(8), None, names);
        assert_eq!(e.kind(), "drain");
        assert_eq!(e.evidence(), "CAS02 in drain from 1970-01-01 00:16:44.000: it answered only clients pinned to it, none of the 30 others");
        assert_eq!(index.explain(cas02, at(3), None, names), Explanation::Unexplained);

        // A server that fails after its last unpinned request is not in drain.
        let mut failing = ledger.clone();
        failing.record(cas02, at(10), Counters { refused: 1, ..Counters::default() });
        assert_eq!(build_index(&failing).server(cas02).and_then(|h| h.drained_from), None);
        // Too few unpinned requests elsewhere: chance, not drain.
        let mut quiet = ServerLedger::default();
        quiet.record(cas02, at(0), answered(false));
        quiet.record(cas02, at(5), answered(true));
        for s in 1..9 {
            quiet.record(ServerId::test(0), at(s), answered(false));
        }
        assert_eq!(build_index(&quiet).server(cas02).and_then(|h| h.drained_from), None);
    }

    #[test]
    fn utc_text() {
        assert_eq!(format_utc(Timestamp::from_secs_nanos(0, 0)), "1970-01-01 00:00:00.000");
        assert_eq!(format_utc(Timestamp::from_secs_nanos(1_795_315_712, 110_000_000)), "2026-11-22 02:48:32.110");
        assert_eq!(format_utc(Timestamp::from_secs_nanos(951_782_400, 0)), "2000-02-29 00:00:00.000");
        assert_eq!(format_utc(Timestamp::from_nanos(-1)), "1969-12-31 23:59:59.999");
    }

    #[test]
    fn aliases_merge_and_vips_drop() {
        let mut ledger = ServerLedger::default();
        ledger.record(ServerId::test(0), at(0), answered(false));
        ledger.record(ServerId::test(5), at(1), Counters { refused: 1, ..Counters::default() });
        ledger.record(ServerId::test(9), at(1), answered(false));
        let canonical = |id: ServerId| match id {
            id if id == ServerId::test(5) => Some(ServerId::test(0)),
            id if id == ServerId::test(9) => None,
            id => Some(id),
        };
        let index = HealthIndex::build(&ledger, canonical, ExplainConfig::default());
        let servers = index.servers();
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].1.totals, Counters { refused: 1, ..answered(false) });
        assert_eq!(servers[0].1.marks.first_seen, Some(at(0)));
        assert_eq!(servers[0].1.marks.last_seen, Some(at(1)));
    }

    #[test]
    fn answers_stay_in_time_order_whatever_order_they_come_in() {
        let mut track = AnswersBySecond::default();
        for (second, answered, unpinned) in [(5, 1, 1), (7, 2, 0), (5, 3, 3), (2, 1, 0), (9, 1, 1), (6, 4, 4), (7, 1, 1)] {
            track.add(second, answered, unpinned);
        }
        let widened: Vec<(i64, Answers)> = track.widened().collect();
        let answers = |answered, unpinned| Answers { answered, unpinned };
        assert_eq!(widened, [(2, answers(1, 0)), (5, answers(4, 4)), (6, answers(4, 4)), (7, answers(3, 1)), (9, answers(1, 1))]);

        let mut other = AnswersBySecond::default();
        other.add(6, 10, 0);
        other.add(8, 1, 1);
        other.add(1, u64::MAX, 1);
        let merged = merged_answers([&track, &other]);
        assert_eq!(
            merged,
            [(1, answers(u64::from(u32::MAX), 1)), (2, answers(1, 0)), (5, answers(4, 4)), (6, answers(14, 4)), (7, answers(3, 1)), (8, answers(1, 1)), (9, answers(1, 1))]
        );
        let sums = Cumulative::build(merged);
        assert_eq!(sums.range(6, i64::MAX), answers(19, 7));
    }

    #[test]
    fn range_sums() {
        let buckets = [2, 5, 9].map(|b| (b, Counters { refused: b as u64, ..Counters::default() }));
        let c = Cumulative::build(buckets);
        assert_eq!(c.range(0, 1).refused, 0);
        assert_eq!(c.range(2, 5).refused, 7);
        assert_eq!(c.range(3, 9).refused, 14);
        assert_eq!(c.range(i64::MIN, i64::MAX).refused, 16);
        assert_eq!(c.range(10, i64::MAX).refused, 0);
    }
}
