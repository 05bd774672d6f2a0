//! The connection table: finds each segment's connection, starts and ends connections.
//!
//! A key (the unordered pair of endpoints) holds at most one connection: live, or closed and
//! lingering a few seconds without buffers to absorb late ACKs and retransmissions. A SYN that
//! cannot belong to the connection held (port reuse), a segment for a connection idle too long,
//! or one after the linger, starts a new connection. Whether a connection is idle or its linger
//! over is judged on the segment's own time; sweeps go by the capture clock, the latest
//! timestamp seen. Where a capture's timestamps step back (a clock set back, files
//! concatenated, one packet with a garbage time far ahead), the connections after the step are
//! followed as usual; a step back of less than the idle timeout leaves the clock where it was
//! (sweeps wait a little), a longer one takes the clock back with it, so that sweeps go on: a
//! connection whose last segment lies ahead of the clock then waits for the clock to pass it.
//! A leap ahead longer than the idle timeout sweeps only once the next segment confirms it, so
//! a single garbage time far ahead does not end every live connection.
//!
//! A connection closed by FINs or a RST passes on all its bytes at once, but the handler's
//! `close` waits for the end of the linger, so that the record counts the late segments as
//! Zeek does (the last ACK after the FINs). Idle connections and ended lingers are swept at most
//! once per second of capture time; connections ended together (by a sweep or the capture's
//! end) get their `close` in the order they were opened, so the handler's calls are
//! deterministic.
//!
//! Lookups: the segments of a connection mostly come in runs (a burst of data, its ACKs), so the
//! table remembers where the last key's entry is and a run's next segment finds it without
//! hashing; the map itself keeps its keyed hash, as keys come from untrusted captures.

use std::collections::{hash_map, HashMap};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use super::connection::{Closed, Connection};
use super::{
    roles, ConnEnd, ConnMeta, ConnStart, ReassemblyConfig, ReassemblyStats, StreamHandler,
};
use crate::decode::TcpSegment;
use crate::timestamp::Timestamp;

const SWEEP_INTERVAL_SECS: i64 = 1;

/// The clock before the first segment.
const NO_TIME_YET: Timestamp = Timestamp::from_nanos(i64::MIN);

/// The unordered pair of endpoints, lower first.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct ConnKey {
    low: (IpAddr, u16),
    high: (IpAddr, u16),
}

/// Bytes of an endpoint in a key's hash: see [`endpoint_bytes`].
const ENDPOINT_BYTES: usize = 1 + 16 + 2;

impl Hash for ConnKey {
    /// One write of all the key's bytes: SipHash costs as much per write as per 8 bytes, and the
    /// derived hash makes six writes.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut bytes = [0; 2 * ENDPOINT_BYTES];
        bytes[..ENDPOINT_BYTES].copy_from_slice(&endpoint_bytes(self.low));
        bytes[ENDPOINT_BYTES..].copy_from_slice(&endpoint_bytes(self.high));
        state.write(&bytes);
    }
}

/// An endpoint's bytes: address family, address (IPv4 mapped into IPv6), port.
fn endpoint_bytes((ip, port): (IpAddr, u16)) -> [u8; ENDPOINT_BYTES] {
    let (family, address) = match ip {
        IpAddr::V4(v4) => (4, v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => (6, v6.octets()),
    };
    let mut bytes = [family; ENDPOINT_BYTES];
    bytes[1..17].copy_from_slice(&address);
    bytes[17..].copy_from_slice(&port.to_be_bytes());
    bytes
}

impl ConnKey {
    fn of(seg: &TcpSegment<'_>) -> ConnKey {
        let (src, dst) = ((seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port));
        if src <= dst {
            ConnKey {
                low: src,
                high: dst,
            }
        } else {
            ConnKey {
                low: dst,
                high: src,
            }
        }
    }
}

/// What a key holds; `serial` orders connections by opening, for deterministic closes.
enum Entry<S> {
    /// Invariant: `ts_last == conn.ts_last()` between segments. The copy beside the key lets
    /// the sweep, every second of capture time, find the idle connections in the slots alone,
    /// without visiting every connection's own allocation.
    Live {
        serial: u64,
        ts_last: Timestamp,
        conn: Box<Connection<S>>,
    },
    /// Closed; absorbs segments until `until`, counting their packets. A SYN-ACK with another ISN
    /// than the server's is not late but a new connection's.
    Lingering {
        serial: u64,
        until: Timestamp,
        server_isn: Option<u32>,
        closed: Box<Closed<S>>,
    },
}

impl<S> Entry<S> {
    fn serial(&self) -> u64 {
        match self {
            Entry::Live { serial, .. } | Entry::Lingering { serial, .. } => *serial,
        }
    }

    /// Whether the entry is due to end by capture time `clock`: idle, or done lingering.
    fn is_due(&self, clock: Timestamp, idle_timeout_secs: i64) -> bool {
        match self {
            Entry::Live { ts_last, conn, .. } => {
                debug_assert_eq!(*ts_last, conn.ts_last(), "the slot's copy follows the connection");
                expired(ts_last.add_secs(idle_timeout_secs), clock)
            }
            Entry::Lingering { until, .. } => expired(*until, clock),
        }
    }
}

/// Tracks the TCP connections of a capture and feeds their streams to a [`StreamHandler`].
pub struct ConnectionTable<H: StreamHandler> {
    config: ReassemblyConfig,
    handler: H,
    stats: ReassemblyStats,
    entries: Entries<Entry<H::State>>,
    next_serial: u64,
    live: u64,
    clock: Timestamp,
    next_sweep: Timestamp,
    /// The clock leapt ahead by more than the idle timeout with the last segment, unconfirmed.
    leapt: bool,
}

impl<H: StreamHandler> ConnectionTable<H> {
    pub fn new(config: ReassemblyConfig, handler: H) -> Self {
        ConnectionTable {
            config,
            handler,
            stats: ReassemblyStats::default(),
            entries: Entries::default(),
            next_serial: 0,
            live: 0,
            clock: NO_TIME_YET,
            next_sweep: NO_TIME_YET,
            leapt: false,
        }
    }

    /// Feeds one segment, in capture order.
    pub fn segment(&mut self, seg: &TcpSegment<'_>) {
        self.advance_clock(seg.ts);
        let key = ConnKey::of(seg);
        let idle_timeout = self.config.idle_timeout_secs;
        match self.entries.get_mut(&key) {
            Some(Entry::Live { ts_last, conn, .. })
                if conn.accepts(seg) && !expired(ts_last.add_secs(idle_timeout), seg.ts) =>
            {
                let end = conn.segment(&mut self.handler, seg);
                *ts_last = conn.ts_last();
                if let Some(end) = end {
                    self.close(key, end);
                }
            }
            Some(Entry::Lingering {
                until,
                server_isn,
                closed,
                ..
            }) if !expired(*until, seg.ts) && !starts_new_connection(seg, *server_isn) => {
                closed.count_late(seg);
                self.stats.late_segments += 1;
            }
            _ => self.start_connection(key, seg),
        }
    }

    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Ends every live connection (`Open`, `HalfClosed` or `Fin`), passing on its buffered bytes
    /// with gaps for the holes, closes the lingering ones, and returns the handler and the
    /// statistics.
    pub fn finish(mut self) -> (H, ReassemblyStats) {
        if self.leapt {
            // The capture ends on a leap ahead: its last time is taken as it is.
            self.sweep();
        }
        let mut entries = std::mem::take(&mut self.entries).into_values();
        entries.sort_unstable_by_key(Entry::serial);
        for entry in entries {
            self.release(entry, ConnEnd::Open);
        }
        (self.handler, self.stats)
    }

    /// Moves the clock to `ts`, following steps back and confirming leaps ahead (see the module
    /// documentation), and sweeps when a sweep is due.
    fn advance_clock(&mut self, ts: Timestamp) {
        let idle_timeout = self.config.idle_timeout_secs;
        let leapt = std::mem::take(&mut self.leapt);
        if ts.add_secs(idle_timeout) < self.clock {
            self.clock = ts;
            self.next_sweep = ts.add_secs(SWEEP_INTERVAL_SECS);
        } else if !leapt && self.clock != NO_TIME_YET && ts > self.clock.add_secs(idle_timeout) {
            self.clock = ts;
            self.leapt = true;
            return;
        }
        self.clock = self.clock.max(ts);
        if self.clock >= self.next_sweep {
            self.sweep();
            self.next_sweep = self.clock.add_secs(SWEEP_INTERVAL_SECS);
        }
    }

    /// Ends the idle connections and closes the lingering ones whose time is up.
    fn sweep(&mut self) {
        let (clock, idle_timeout) = (self.clock, self.config.idle_timeout_secs);
        let mut due: Vec<(u64, ConnKey)> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.is_due(clock, idle_timeout))
            .map(|(key, entry)| (entry.serial(), *key))
            .collect();
        due.sort_unstable_by_key(|&(serial, _)| serial);
        for (_, key) in due {
            self.evict(key);
        }
    }

    /// Starts a connection with `seg`, ending what held its key first.
    fn start_connection(&mut self, key: ConnKey, seg: &TcpSegment<'_>) {
        self.evict(key);
        let src = (seg.src_ip, seg.src_port);
        let dst = (seg.dst_ip, seg.dst_port);
        let (client, server) = if roles::sender_is_client(seg) {
            (src, dst)
        } else {
            (dst, src)
        };
        let meta = ConnMeta::new(seg.ts, client, server);
        let state = self.handler.open(&meta);
        let mut conn = Box::new(Connection::new(
            meta,
            state,
            self.config.max_out_of_order_bytes,
        ));
        self.stats.connections += 1;
        self.live += 1;
        self.stats.peak_live_connections = self.stats.peak_live_connections.max(self.live);
        let serial = self.next_serial;
        self.next_serial += 1;
        let end = conn.segment(&mut self.handler, seg);
        let ts_last = conn.ts_last();
        self.entries.insert(key, Entry::Live { serial, ts_last, conn });
        if let Some(end) = end {
            self.close(key, end);
        }
    }

    /// Ends what `key` holds, if anything: a live connection with no linger (it is idle or
    /// displaced), or a lingering one.
    fn evict(&mut self, key: ConnKey) {
        if let Some(entry) = self.entries.remove(&key) {
            self.release(entry, ConnEnd::Idle);
        }
    }

    /// Gives the handler its last call for an entry taken out of the table; a live connection
    /// with no RST and not both FINs ends as `still_open`.
    fn release(&mut self, entry: Entry<H::State>, still_open: ConnEnd) {
        match entry {
            Entry::Live { conn, .. } => {
                let end = conn.end_when_evicted(still_open);
                self.retire(*conn, end).close(&mut self.handler);
            }
            Entry::Lingering { closed, .. } => closed.close(&mut self.handler),
        }
    }

    /// Ends the live connection at `key` and leaves it lingering, its `close` to come.
    fn close(&mut self, key: ConnKey, end: ConnEnd) {
        if let Some(Entry::Live { serial, conn, .. }) = self.entries.remove(&key) {
            let server_isn = conn.server_isn();
            let closed = self.retire(*conn, end);
            let until = closed
                .record()
                .ts_last
                .add_secs(self.config.close_linger_secs);
            self.entries.insert(
                key,
                Entry::Lingering {
                    serial,
                    until,
                    server_isn,
                    closed: Box::new(closed),
                },
            );
        }
    }

    /// Ends a connection removed from the table: its bytes are passed on and its buffers
    /// released; the handler's state waits in the result for the last call.
    fn retire(&mut self, conn: Connection<H::State>, end: ConnEnd) -> Closed<H::State> {
        self.live = self.live.saturating_sub(1);
        let closed = conn.end(&mut self.handler, end);
        if closed.record().start == ConnStart::Midstream {
            self.stats.midstream_connections += 1;
        }
        closed
    }
}

/// Whether a deadline has passed by capture time `clock`.
fn expired(deadline: Timestamp, clock: Timestamp) -> bool {
    deadline < clock
}

/// Whether `seg`, arriving at a closed connection's key, starts a new connection: a SYN, or a
/// SYN-ACK that is not the closed connection's.
fn starts_new_connection(seg: &TcpSegment<'_>, closed_server_isn: Option<u32>) -> bool {
    seg.flags.syn && !seg.flags.rst && (!seg.flags.ack || closed_server_isn != Some(seg.seq))
}

/// Values by [`ConnKey`], each kept in one slot for its life so that the slot of the last key
/// looked up can be remembered: looking that key up again costs a comparison, not a hash.
///
/// Invariant: `index[key] == slot` if and only if `slots[slot]` holds `key`. The remembered
/// slot is trusted only when it holds the key asked for, so a removed entry, or a slot reused
/// by another key, is never reached through it.
struct Entries<V> {
    index: HashMap<ConnKey, usize>,
    slots: Vec<Option<(ConnKey, V)>>,
    /// Empty slots, reused before the vector grows.
    free: Vec<usize>,
    /// Slot of the last key looked up or inserted.
    last: usize,
}

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            last: 0,
        }
    }
}

impl<V> Entries<V> {
    fn get_mut(&mut self, key: &ConnKey) -> Option<&mut V> {
        let slot = match self.slots.get(self.last) {
            Some(Some((held, _))) if held == key => self.last,
            _ => {
                self.last = *self.index.get(key)?;
                self.last
            }
        };
        let (_, value) = self.slots.get_mut(slot)?.as_mut()?;
        Some(value)
    }

    /// Inserts `value` at `key`; returns the value it replaces, if any.
    fn insert(&mut self, key: ConnKey, value: V) -> Option<V> {
        let (slot, replaced) = match self.index.entry(key) {
            hash_map::Entry::Occupied(held) => {
                let slot = *held.get();
                let old = self
                    .slots
                    .get_mut(slot)
                    .and_then(|s| s.replace((key, value)));
                (slot, old.map(|(_, old)| old))
            }
            hash_map::Entry::Vacant(vacant) => {
                let slot = self.free.pop().unwrap_or(self.slots.len());
                match self.slots.get_mut(slot) {
                    Some(empty) => *empty = Some((key, value)),
                    None => self.slots.push(Some((key, value))),
                }
                vacant.insert(slot);
                (slot, None)
            }
        };
        self.last = slot;
        replaced
    }

    fn remove(&mut self, key: &ConnKey) -> Option<V> {
        let slot = self.index.remove(key)?;
        self.release(slot)
    }

    fn release(&mut self, slot: usize) -> Option<V> {
        let (_, value) = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(value)
    }

    fn iter(&self) -> impl Iterator<Item = (&ConnKey, &V)> {
        self.slots.iter().flatten().map(|(key, value)| (key, value))
    }

    fn into_values(self) -> Vec<V> {
        self.slots
            .into_iter()
            .flatten()
            .map(|(_, value)| value)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    type Endpoint = (IpAddr, u16);

    const SERVER: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 80);
    const A: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
    const B: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2000);

    fn key(client: Endpoint) -> ConnKey {
        ConnKey {
            low: client,
            high: SERVER,
        }
    }

    #[test]
    fn entries_trust_the_remembered_slot_only_for_its_key() {
        let mut entries = Entries::default();
        assert_eq!(entries.insert(key(A), 1), None);
        assert_eq!(entries.get_mut(&key(A)), Some(&mut 1));
        assert_eq!(entries.remove(&key(A)), Some(1));
        // The remembered slot is empty now.
        assert_eq!(entries.get_mut(&key(A)), None);
        assert_eq!(entries.insert(key(B), 2), None);
        assert_eq!(entries.slots.len(), 1, "the slot is reused");
        // The remembered slot holds another key now.
        assert_eq!(entries.get_mut(&key(A)), None);
        assert_eq!(entries.get_mut(&key(B)), Some(&mut 2));
        assert_eq!(entries.insert(key(B), 3), Some(2));
        assert_eq!(entries.insert(key(A), 4), None);
        assert_eq!(entries.get_mut(&key(B)), Some(&mut 3));
        assert_eq!(entries.get_mut(&key(A)), Some(&mut 4));
        let keys: Vec<ConnKey> = entries.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, [key(B), key(A)]);
        assert_eq!(entries.into_values(), [3, 4]);
    }
}
