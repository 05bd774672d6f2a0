//! Stitching the two sides of a proxy seen in one capture: the client's request to the
//! balancer's virtual address (the front) and the balancer's request to a CAS server (the back).
//!
//! Every HTTP transaction (but health probes) and every TLS connection with a ClientHello is
//! held for the stitch window (capture time) so that its partner, which the pipeline may emit
//! a little earlier or later, can be found. Rules:
//! - TLS passthrough: two connections with the same ClientHello random; the one that started
//!   first is the front.
//! - HTTP: two transactions from different client addresses to different endpoints with the
//!   same method, target, Host, User-Agent, tracked cookies sent (the balancer's persistence
//!   cookie excluded, since a balancer may strip its own) and user, whose requests start at most
//!   the window apart
//!   (unanswered requests, which cannot be checked for nesting: at most
//!   [`UNANSWERED_GAP_NANOS`]), with the same status (or both unanswered, or the front answered
//!   with a gateway error, 502/503/504, that the balancer made itself because the server never
//!   answered the back: a server that died holding the request), nested in time (the back's
//!   request starts no earlier than the front's and its response, if any, no later), and, when
//!   the back carries `X-Forwarded-For`, naming the front's client. The earlier request is the
//!   front. A transparent balancer, which connects to the servers from the client's own address,
//!   is not stitched.
//!
//! Held transactions are indexed by a hash of what must be the same ([`signature`]); candidates
//! under one hash are then compared field by field, so a hash collision costs a comparison,
//! never a wrong pair, and the hash needs no key.
//!
//! A stitched front endpoint is a VIP and a stitched back client address is the balancer's own
//! (its SNAT address); both are remembered ([`Stitcher::is_vip`], [`Stitcher::is_proxy`]).
//! Memory: the items of one window, at most [`MAX_HELD`] (beyond, the oldest leave early).
//!
//! The stitcher keeps the audit's capture clock: the latest time its items and the stream data
//! showed. A time more than [`LEAP_SECS`] ahead of it waits for a later time near it to confirm
//! it (a capture resuming after a silence) and is forgotten at the next step back of the
//! capture's clock (one damaged record dated far ahead), so that such a record neither releases
//! every held item at once nor stops their release.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use crate::evidence::{ExchangeApp, TrackedCookie, TransactionEvidence};
use crate::fingerprint::FastHasher;
use crate::http::Transaction;
use crate::reassembly::{ConnMeta, ConnectionRecord};
use crate::timestamp::Timestamp;
use crate::tls::TlsRecord;

/// An HTTP transaction with its connection and evidence.
#[derive(Clone, Debug)]
pub struct TxItem {
    pub meta: ConnMeta,
    pub tx: Transaction,
    pub evidence: TransactionEvidence,
}

/// A TLS connection whose HTTP the capture cannot read.
#[derive(Clone, Debug)]
pub struct TlsItem {
    pub record: ConnectionRecord,
    pub tls: TlsRecord,
}

#[derive(Clone, Debug)]
pub enum Item {
    Tx(Box<TxItem>),
    Tls(Box<TlsItem>),
}

impl Item {
    fn meta(&self) -> &ConnMeta {
        match self {
            Item::Tx(t) => &t.meta,
            Item::Tls(t) => &t.record.meta,
        }
    }

    /// The latest time the item shows: its place on the capture clock.
    fn ts(&self) -> Timestamp {
        match self {
            Item::Tx(t) => {
                let response = t.tx.response.as_ref().map(|r| r.ts);
                t.tx.request.ts.max(response.unwrap_or_default()).max(t.tx.ts_response_end.unwrap_or_default())
            }
            Item::Tls(t) => t.record.ts_last,
        }
    }
}

/// Greatest gap between the starts of two unanswered requests stitched together: a balancer
/// forwards a request as soon as it has chosen the server, and without responses nothing else
/// tells a proxied request from the same client's next attempt.
pub const UNANSWERED_GAP_NANOS: u64 = 100_000_000;

/// Most items held at once: at very high rates the window is cut short rather than memory grown.
pub const MAX_HELD: usize = 65_536;

/// What leaves the stitcher.
#[derive(Debug)]
pub enum Released {
    Alone(Item),
    Pair { front: Item, back: Item },
}

pub fn endpoint(meta: &ConnMeta) -> SocketAddr {
    SocketAddr::new(meta.server_ip, meta.server_port)
}

struct Slot {
    deadline: Timestamp,
    /// How the item is indexed, to unindex it when it leaves.
    key: Key,
    item: Option<Item>,
}

/// How far ahead of the clock a time may be and still move it at once (see the module
/// documentation).
pub const LEAP_SECS: i64 = 60;

/// The clock before the first time.
const NO_TIME_YET: Timestamp = Timestamp::from_nanos(i64::MIN);

/// Holds items for the window and pairs them.
pub struct Stitcher {
    window_nanos: i64,
    clock: Timestamp,
    /// A time more than [`LEAP_SECS`] ahead of the clock, not yet confirmed.
    leap: Option<Timestamp>,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    first_seq: u64,
    by_signature: HashMap<u64, Vec<Held>>,
    by_random: HashMap<String, u64>,
    vips: HashSet<SocketAddr>,
    proxies: HashSet<IpAddr>,
}

impl Stitcher {
    pub fn new(window_secs: f64) -> Self {
        let window_nanos = (window_secs.max(0.0) * 1e9).min(i64::MAX as f64) as i64;
        Stitcher {
            window_nanos,
            clock: NO_TIME_YET,
            leap: None,
            slots: VecDeque::new(),
            first_seq: 0,
            by_signature: HashMap::new(),
            by_random: HashMap::new(),
            vips: HashSet::new(),
            proxies: HashSet::new(),
        }
    }

    pub fn is_vip(&self, endpoint: SocketAddr) -> bool {
        self.vips.contains(&endpoint)
    }

    pub fn is_proxy(&self, ip: IpAddr) -> bool {
        self.proxies.contains(&ip)
    }

    /// Takes an item: released at once when it completes a pair or cannot be stitched, else
    /// held for the window.
    pub fn push(&mut self, item: Item, out: &mut Vec<Released>) {
        self.advance(item.ts(), out);
        let key = match &item {
            Item::Tx(t) if t.evidence.app != ExchangeApp::HealthProbe => Key::Signature(signature(t)),
            Item::Tls(t) => match &t.tls.client_random {
                Some(random) => Key::Random(random.clone()),
                None => Key::None,
            },
            Item::Tx(_) => Key::None,
        };
        if let Some((seq, item_is_front)) = self.find_partner(&key, &item) {
            if let Some(partner) = self.take(seq) {
                let (front, back) = if item_is_front { (item, partner) } else { (partner, item) };
                self.vips.insert(endpoint(front.meta()));
                self.proxies.insert(back.meta().client_ip);
                out.push(Released::Pair { front, back });
                return;
            }
        }
        let seq = self.first_seq + self.slots.len() as u64;
        match &key {
            Key::Signature(sig) => {
                let held = Held { seq, client_ip: item.meta().client_ip };
                self.by_signature.entry(*sig).or_default().push(held);
            }
            Key::Random(random) => {
                self.by_random.insert(random.clone(), seq);
            }
            Key::None => {
                out.push(Released::Alone(item));
                return;
            }
        }
        // An item ahead of the clock (a leap not yet confirmed) waits its window from its own time.
        let held_from = self.clock.max(item.ts());
        let deadline = Timestamp::from_nanos(held_from.as_nanos().saturating_add(self.window_nanos));
        self.slots.push_back(Slot { deadline, key, item: Some(item) });
        while self.slots.len() > MAX_HELD {
            self.pop_front(out);
        }
    }

    /// The capture's clock stepped back to `to` (a clock set back, files concatenated, a garbage
    /// time far ahead): when by more than the window, the clock follows, and what waits is due
    /// a window after `to` at the latest, so that it does not wait for the clock to come back.
    pub fn step_back(&mut self, to: Timestamp, out: &mut Vec<Released>) {
        self.leap = None;
        if to.as_nanos().saturating_add(self.window_nanos) < self.clock.as_nanos() {
            self.clock = to;
            let latest = Timestamp::from_nanos(to.as_nanos().saturating_add(self.window_nanos));
            for slot in &mut self.slots {
                slot.deadline = slot.deadline.min(latest);
            }
        }
        self.advance(to, out);
    }

    /// The capture clock: the latest time seen, leaps ahead once confirmed.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    /// Moves the clock to `now` and releases what waited its window.
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<Released>) {
        if let Some(leap) = self.leap.filter(|&leap| now >= leap.add_secs(-LEAP_SECS)) {
            self.leap = None;
            self.clock = self.clock.max(leap);
        } else if self.clock != NO_TIME_YET && now > self.clock.add_secs(LEAP_SECS) {
            self.leap = Some(self.leap.map_or(now, |leap| leap.min(now)));
            return;
        }
        self.clock = self.clock.max(now);
        while self.slots.front().is_some_and(|s| s.deadline <= self.clock || s.item.is_none()) {
            self.pop_front(out);
        }
    }

    /// Releases everything (end of capture).
    pub fn flush(&mut self, out: &mut Vec<Released>) {
        while !self.slots.is_empty() {
            self.pop_front(out);
        }
    }

    fn pop_front(&mut self, out: &mut Vec<Released>) {
        let seq = self.first_seq;
        if let Some(item) = self.take(seq) {
            out.push(Released::Alone(item));
        }
        self.slots.pop_front();
        self.first_seq += 1;
    }

    /// Removes the item `seq` from the slots and the indexes.
    fn take(&mut self, seq: u64) -> Option<Item> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        let slot = self.slots.get_mut(index)?;
        let item = slot.item.take()?;
        match &slot.key {
            Key::Signature(sig) => {
                if let Some(list) = self.by_signature.get_mut(sig) {
                    list.retain(|held| held.seq != seq);
                    if list.is_empty() {
                        self.by_signature.remove(sig);
                    }
                }
            }
            Key::Random(random) => {
                if self.by_random.get(random) == Some(&seq) {
                    self.by_random.remove(random);
                }
            }
            Key::None => {}
        }
        Some(item)
    }

    fn held(&self, seq: u64) -> Option<&Item> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.slots.get(index)?.item.as_ref()
    }

    /// The held partner of `item` and whether `item` is the front.
    fn find_partner(&self, key: &Key, item: &Item) -> Option<(u64, bool)> {
        match (key, item) {
            (Key::Random(random), Item::Tls(t)) => {
                let seq = *self.by_random.get(random)?;
                let Some(Item::Tls(other)) = self.held(seq) else { return None };
                if endpoint(&other.record.meta) == endpoint(&t.record.meta) || other.record.meta.conn_id == t.record.meta.conn_id {
                    return None;
                }
                Some((seq, t.record.meta.ts_start < other.record.meta.ts_start))
            }
            (Key::Signature(sig), Item::Tx(t)) => self
                .by_signature
                .get(sig)?
                .iter()
                // Most candidates are the same client's earlier requests: no need to fetch them.
                .filter(|held| held.client_ip != t.meta.client_ip)
                .filter_map(|&Held { seq, .. }| match self.held(seq) {
                    Some(Item::Tx(other)) => {
                        let item_is_front = http_roles(t, other, self.window_nanos)?;
                        if !same_request(t, other) {
                            return None;
                        }
                        Some((seq, item_is_front, start_gap(t, other)))
                    }
                    _ => None,
                })
                .min_by_key(|&(_, _, gap)| gap)
                .map(|(seq, front, _)| (seq, front)),
            _ => None,
        }
    }
}

/// A held transaction as its signature lists it: with what rules most candidates out.
#[derive(Copy, Clone, Debug)]
struct Held {
    seq: u64,
    client_ip: IpAddr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Signature(u64),
    Random(String),
    None,
}

fn start_gap(a: &TxItem, b: &TxItem) -> u64 {
    (a.tx.request.ts.as_nanos() - b.tx.request.ts.as_nanos()).unsigned_abs()
}

/// A hash of what a proxy leaves unchanged in a request (see [`same_request`]).
fn signature(t: &TxItem) -> u64 {
    let request = &t.tx.request;
    // Not keyed, which is fine: a collision only costs a comparison.
    let mut h = FastHasher::default();
    request.method.hash(&mut h);
    request.uri.hash(&mut h);
    match request.headers.get("host") {
        Some(host) => hash_lowercase(&mut h, host.as_bytes()),
        None => h.write_u8(0),
    }
    request.headers.get("user-agent").hash(&mut h);
    for cookie in forwarded_cookies(&t.evidence) {
        cookie.name.hash(&mut h);
        cookie.digest.hash(&mut h);
    }
    t.evidence.username.hash(&mut h);
    // Not something a proxy keeps, but a pair must have it in common (see `stitch_status`).
    stitch_status(t).hash(&mut h);
    h.finish()
}

/// Gateway errors a balancer answers itself when the server does not: 502 Bad Gateway,
/// 503 Service Unavailable, 504 Gateway Timeout.
fn is_gateway_error(status: u16) -> bool {
    matches!(status, 502..=504)
}

/// The status the two sides of a pair must share in the signature: a gateway error counts as
/// no answer, since its back may have none.
fn stitch_status(t: &TxItem) -> Option<u16> {
    t.tx.response.as_ref().map(|r| r.status).filter(|&status| !is_gateway_error(status))
}

/// Whether two requests carry what a proxy leaves unchanged: method, target, Host (in any
/// case), User-Agent, tracked cookies sent but the balancer's, and user.
fn same_request(a: &TxItem, b: &TxItem) -> bool {
    let (ra, rb) = (&a.tx.request, &b.tx.request);
    let header = |name| (ra.headers.get(name), rb.headers.get(name));
    let same_host = || match header("host") {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (x, y) => x == y,
    };
    ra.method == rb.method
        && ra.uri == rb.uri
        && a.evidence.username == b.evidence.username
        && forwarded_cookies(&a.evidence).eq(forwarded_cookies(&b.evidence))
        && same_host()
        && matches!(header("user-agent"), (x, y) if x == y)
}

/// The tracked cookies a request sent that a proxy forwards: all but the balancer's own.
fn forwarded_cookies(ev: &TransactionEvidence) -> impl Iterator<Item = &TrackedCookie> {
    let balancer = ev.lb_cookie.as_ref().map(|c| c.name.as_str());
    ev.cookies_sent.iter().filter(move |c| Some(c.name.as_str()) != balancer)
}

/// Writes `bytes` ASCII-lowercased, without copying them whole.
fn hash_lowercase(h: &mut impl Hasher, bytes: &[u8]) {
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        for (to, from) in word.iter_mut().zip(chunk) {
            *to = from.to_ascii_lowercase();
        }
        h.write(word.get(..chunk.len()).unwrap_or_default());
    }
    h.write_u8(0xff);
}

/// Whether `a` and `b` (same signature) are the front and back of one proxied request:
/// `Some(true)` when `a` is the front.
fn http_roles(a: &TxItem, b: &TxItem, window_nanos: i64) -> Option<bool> {
    if a.meta.client_ip == b.meta.client_ip || endpoint(&a.meta) == endpoint(&b.meta) {
        return None;
    }
    let unanswered = a.tx.response.is_none() && b.tx.response.is_none();
    let max_gap = if unanswered { UNANSWERED_GAP_NANOS } else { window_nanos.unsigned_abs() };
    if start_gap(a, b) > max_gap {
        return None;
    }
    let (front, back, a_is_front) =
        if a.tx.request.ts <= b.tx.request.ts { (a, b, true) } else { (b, a, false) };
    match (&front.tx.response, &back.tx.response) {
        (Some(f), Some(b)) if f.status != b.status || b.ts > f.ts => return None,
        // The balancer answered for a server that never did; the back started before that.
        (Some(f), None) if !is_gateway_error(f.status) || back.tx.request.ts > f.ts => return None,
        (None, Some(_)) => return None,
        _ => {}
    }
    // The evidence writes addresses in canonical form: equal as text is equal as addresses.
    if let Some(original) = &back.evidence.forwarded_for {
        if original.parse::<IpAddr>().ok() != Some(front.meta.client_ip) {
            return None;
        }
    }
    Some(a_is_front)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{EvidenceConfig, EvidenceExtractor};
    use crate::http::{Headers, RequestHead, ResponseHead};

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_nanos(millis * 1_000_000)
    }

    fn meta(client: &str, server: &str, start: i64) -> ConnMeta {
        let c: SocketAddr = client.parse().unwrap();
        let s: SocketAddr = server.parse().unwrap();
        ConnMeta::new(at(start), (c.ip(), c.port()), (s.ip(), s.port()))
    }

    fn headers(list: &[(&str, &str)]) -> Headers {
        list.iter().copied().collect()
    }

    fn tx_item(meta: ConnMeta, request_ms: i64, response_ms: Option<i64>, extra: &[(&str, &str)]) -> Item {
        tx_item_status(meta, request_ms, response_ms.map(|ms| (ms, 200)), extra)
    }

    /// A transaction answered at `(millis, status)`, if at all.
    fn tx_item_status(meta: ConnMeta, request_ms: i64, response: Option<(i64, u16)>, extra: &[(&str, &str)]) -> Item {
        let response_ms = response.map(|(ms, _)| ms);
        let mut request_headers = vec![("Host", "mail.contoso.test"), ("User-Agent", "Mozilla"), ("Cookie", "cadata=abc; SERVERID=CAS01")];
        request_headers.extend_from_slice(extra);
        let tx = Transaction {
            depth: 1,
            request: RequestHead { ts: at(request_ms), method: "GET".into(), uri: "/owa/".into(), version: "1.1".into(), headers: headers(&request_headers) },
            response: response.map(|(ms, status)| ResponseHead { ts: at(ms), version: "1.1".into(), status, reason: "".into(), headers: headers(&[]) }),
            request_body_len: 0,
            response_body_len: 0,
            ts_response_end: response_ms.map(at),
            incomplete: false,
        };
        let evidence = EvidenceExtractor::new(&EvidenceConfig::default()).extract(&tx);
        Item::Tx(Box::new(TxItem { meta, tx, evidence }))
    }

    fn conn(item: &Item) -> String {
        item.meta().client_ip.to_string()
    }

    #[test]
    fn http_pair_back_first() {
        let mut s = Stitcher::new(1.0);
        let mut out = Vec::new();
        // The back (proxy 10.0.0.2 → CAS) completes first; HAProxy stripped SERVERID.
        let back = tx_item(meta("10.0.0.2:5000", "10.0.0.11:80", 100), 101, Some(102), &[("x-forwarded-for", "192.0.2.7")]);
        s.push(back, &mut out);
        assert!(out.is_empty());
        s.push(tx_item(meta("192.0.2.7:40000", "10.0.0.100:80", 99), 100, Some(103), &[]), &mut out);
        let [Released::Pair { front, back }] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!((conn(front), conn(back)), ("192.0.2.7".to_owned(), "10.0.0.2".to_owned()));
        assert!(s.is_vip("10.0.0.100:80".parse().unwrap()));
        assert!(s.is_proxy("10.0.0.2".parse().unwrap()));
        assert!(s.slots.iter().all(|slot| slot.item.is_none()));
    }

    #[test]
    fn http_not_stitched() {
        let cases = [
            // X-Forwarded-For names another client.
            (tx_item(meta("10.0.0.2:5000", "10.0.0.11:80", 100), 101, Some(102), &[("x-forwarded-for", "192.0.2.8")]), 100),
            // Not nested: the back's response starts after the front's.
            (tx_item(meta("10.0.0.2:5000", "10.0.0.11:80", 100), 101, Some(104), &[]), 100),
            // Too far apart.
            (tx_item(meta("10.0.0.2:5000", "10.0.0.11:80", 100), 1200, Some(1201), &[]), 100),
            // Same endpoint: two clients of the VIP.
            (tx_item(meta("10.0.0.3:5000", "10.0.0.100:80", 100), 101, Some(102), &[]), 100),
            // Same client address: one client's two requests.
            (tx_item(meta("192.0.2.7:5000", "10.0.0.11:80", 100), 101, Some(102), &[]), 100),
            // Another request: another user.
            (tx_item(meta("10.0.0.2:5000", "10.0.0.11:80", 100), 101, Some(102), &[("Authorization", "Basic dXNlcjpw")]), 100),
        ];
        for (back, front_ms) in cases {
            let mut s = Stitcher::new(1.0);
            let mut out = Vec::new();
            s.push(back, &mut out);
            s.push(tx_item(meta("192.0.2.7:40000", "10.0.0.100:80", 99), front_ms, Some(103), &[]), &mut out);
            assert!(out.is_empty(), "{out:?}");
            s.advance(at(5000), &mut out);
            assert_eq!(out.len(), 2);
            assert!(out.iter().all(|r| matches!(r, Released::Alone(_))));
        }
    }

    #[test]
    fn a_gateway_error_the_balancer_made_pairs_with_the_unanswered_back() {
        // (front's answer, back's answer, stitched): a server that died holding the request.
        let cases = [
            (Some((300, 502)), None, true),
            (Some((300, 503)), None, true),
            (Some((300, 504)), None, true),
            // An ordinary answer must come from the back.
            (Some((300, 200)), None, false),
            (Some((300, 500)), None, false),
            // The server's own gateway error goes through like any status.
            (Some((300, 502)), Some((250, 502)), true),
            (Some((300, 502)), Some((250, 200)), false),
            // The back cannot answer what the front never got an answer to.
            (None, Some((250, 200)), false),
        ];
        for (front_answer, back_answer, stitched) in cases {
            let mut s = Stitcher::new(1.0);
            let mut out = Vec::new();
            s.push(tx_item_status(meta("192.0.2.7:40000", "10.0.0.100:80", 0), 10, front_answer, &[]), &mut out);
            s.push(tx_item_status(meta("10.0.0.2:5000", "10.0.0.11:80", 0), 11, back_answer, &[]), &mut out);
            s.advance(at(5000), &mut out);
            let paired = matches!(out.as_slice(), [Released::Pair { .. }]);
            assert_eq!(paired, stitched, "front {front_answer:?}, back {back_answer:?}: {out:?}");
        }
        // The back's request must start before the balancer gave up on it.
        let mut s = Stitcher::new(1.0);
        let mut out = Vec::new();
        s.push(tx_item_status(meta("192.0.2.7:40000", "10.0.0.100:80", 0), 10, Some((20, 502)), &[]), &mut out);
        s.push(tx_item_status(meta("10.0.0.2:5000", "10.0.0.11:80", 0), 21, None, &[]), &mut out);
        s.advance(at(5000), &mut out);
        assert!(out.iter().all(|r| matches!(r, Released::Alone(_))), "{out:?}");
    }

    #[test]
    fn unanswered_requests_stitch_only_when_close() {
        for (gap, stitched) in [(1, true), (100, true), (101, false)] {
            let mut s = Stitcher::new(1.0);
            let mut out = Vec::new();
            s.push(tx_item(meta("192.0.2.7:40000", "10.0.0.100:80", 0), 10, None, &[]), &mut out);
            s.push(tx_item(meta("10.0.0.2:5000", "10.0.0.11:80", 0), 10 + gap, None, &[]), &mut out);
            assert_eq!(matches!(out.as_slice(), [Released::Pair { .. }]), stitched, "{gap} ms");
        }
    }

    #[test]
    fn held_items_leave_after_the_window_in_order() {
        let mut s = Stitcher::new(1.0);
        let mut out = Vec::new();
        s.push(tx_item(meta("192.0.2.7:40000", "10.0.0.100:80", 0), 10, Some(20), &[]), &mut out);
        s.push(tx_item(meta("192.0.2.8:40000", "10.0.0.100:80", 0), 500, Some(600), &[]), &mut out);
        s.advance(at(1019), &mut out);
        assert!(out.is_empty());
        s.advance(at(1020), &mut out);
        assert_eq!(out.len(), 1);
        s.flush(&mut out);
        let clients: Vec<String> = out.iter().map(|r| match r {
            Released::Alone(i) => conn(i),
            Released::Pair { .. } => String::new(),
        }).collect();
        assert_eq!(clients, vec!["192.0.2.7", "192.0.2.8"]);
    }

    #[test]
    fn after_a_step_back_held_items_wait_a_window_at_most() {
        let mut s = Stitcher::new(1.0);
        let mut out = Vec::new();
        // A garbage time far ahead set the clock; an item came while the clock was there.
        s.advance(at(1_000_000_000), &mut out);
        s.push(tx_item(meta("192.0.2.7:40000", "10.0.0.100:80", 0), 10, Some(20), &[]), &mut out);
        // A step back within the window changes nothing.
        s.step_back(at(999_999_500), &mut out);
        s.advance(at(1_000), &mut out);
        assert!(out.is_empty());
        // One beyond it takes the clock back: the item leaves a window after the step.
        s.step_back(at(100), &mut out);
        s.push(tx_item(meta("192.0.2.8:40000", "10.0.0.100:80", 0), 150, Some(160), &[]), &mut out);
        s.advance(at(1_099), &mut out);
        assert!(out.is_empty());
        s.advance(at(1_100), &mut out);
        assert_eq!(out.len(), 1);
        s.advance(at(1_160), &mut out);
        assert_eq!(out.len(), 2, "the item after the step waits its own window, from the clock it found");
    }

    #[test]
    fn a_leap_ahead_waits_for_a_time_near_it() {
        let mut s = Stitcher::new(1.0);
        let mut out = Vec::new();
        s.push(tx_item(meta("192.0.2.7:40000", "10.0.0.100:80", 0), 10, Some(20), &[]), &mut out);
        // One garbage time 70 years ahead: the clock does not move, nothing leaves.
        s.advance(at(2_200_000_000_000), &mut out);
        assert_eq!((s.clock(), out.len()), (at(20), 0));
        // Times as before go on as before, and the step back forgets the leap.
        s.advance(at(1_020), &mut out);
        assert_eq!((s.clock(), out.len()), (at(1_020), 1));
        s.step_back(at(1_030), &mut out);
        s.advance(at(2_200_000_000_001), &mut out);
        assert_eq!(s.clock(), at(1_030), "a leap again, unconfirmed");
        // A capture resuming after two minutes of silence: the next time near it confirms it.
        let mut s = Stitcher::new(1.0);
        s.advance(at(1_000), &mut out);
        s.advance(at(121_000), &mut out);
        assert_eq!(s.clock(), at(1_000));
        s.advance(at(121_000), &mut out);
        assert_eq!(s.clock(), at(121_000));
    }

    fn tls_item(meta: ConnMeta, random: Option<&str>) -> Item {
        let record = ConnectionRecord {
            ts_last: meta.ts_start.add_secs(1),
            meta,
            start: crate::reassembly::ConnStart::Handshake,
            end: crate::reassembly::ConnEnd::Fin,
            closed_by: None,
            to_server: Default::default(),
            to_client: Default::default(),
        };
        let tls = TlsRecord { client_random: random.map(str::to_owned), ..TlsRecord::default() };
        Item::Tls(Box::new(TlsItem { record, tls }))
    }

    #[test]
    fn tls_pairs_by_client_random() {
        let mut s = Stitcher::new(1.0);
        let mut out = Vec::new();
        s.push(tls_item(meta("10.0.0.2:5000", "10.0.0.11:443", 101), Some("ab")), &mut out);
        s.push(tls_item(meta("192.0.2.9:1000", "10.0.0.100:443", 100), Some("cd")), &mut out);
        s.push(tls_item(meta("192.0.2.7:40000", "10.0.0.100:443", 100), Some("ab")), &mut out);
        s.push(tls_item(meta("192.0.2.7:40001", "10.0.0.100:443", 100), None), &mut out);
        assert_eq!(out.len(), 2);
        let Released::Pair { front, back } = &out[0] else { panic!() };
        assert_eq!((conn(front), conn(back)), ("192.0.2.7".to_owned(), "10.0.0.2".to_owned()));
        assert!(matches!(&out[1], Released::Alone(i) if conn(i) == "192.0.2.7"));
        s.flush(&mut out);
        assert_eq!(out.len(), 3);
    }
}
