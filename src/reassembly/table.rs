//! The connection table: finds each segment's connection, starts and ends connections.
//!
//! A key (the unordered pair of endpoints) holds at most one connection: live, or closed and
//! lingering a few seconds without buffers to absorb late ACKs and retransmissions. A SYN that
//! cannot belong to the connection held (port reuse), a segment for a connection idle too long,
//! or one after the linger, starts a new connection. Time is capture time: the latest timestamp
//! seen, so a capture whose timestamps step back does not move it backwards.
//!
//! Idle connections are swept at most once per second of capture time; connections ended
//! together are closed in the order they were opened, so the handler's calls are deterministic.

use std::collections::HashMap;
use std::net::IpAddr;

use super::connection::Connection;
use super::{
    roles, ConnEnd, ConnMeta, ConnStart, ConnectionRecord, ReassemblyConfig, ReassemblyStats,
    StreamHandler,
};
use crate::decode::TcpSegment;
use crate::timestamp::Timestamp;

const SWEEP_INTERVAL_SECS: i64 = 1;

/// The unordered pair of endpoints, lower first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
struct ConnKey {
    low: (IpAddr, u16),
    high: (IpAddr, u16),
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

enum Entry<S> {
    /// `serial` orders connections by opening, for deterministic eviction.
    Live {
        serial: u64,
        conn: Box<Connection<S>>,
    },
    /// Closed; absorbs segments until `until`. A SYN-ACK with another ISN than the server's is
    /// not late but a new connection's.
    Lingering {
        until: Timestamp,
        server_isn: Option<u32>,
    },
}

/// Tracks the TCP connections of a capture and feeds their streams to a [`StreamHandler`].
pub struct ConnectionTable<H: StreamHandler> {
    config: ReassemblyConfig,
    handler: H,
    stats: ReassemblyStats,
    entries: HashMap<ConnKey, Entry<H::State>>,
    next_serial: u64,
    live: u64,
    clock: Timestamp,
    next_sweep: Timestamp,
}

impl<H: StreamHandler> ConnectionTable<H> {
    pub fn new(config: ReassemblyConfig, handler: H) -> Self {
        ConnectionTable {
            config,
            handler,
            stats: ReassemblyStats::default(),
            entries: HashMap::new(),
            next_serial: 0,
            live: 0,
            clock: Timestamp::from_nanos(i64::MIN),
            next_sweep: Timestamp::from_nanos(i64::MIN),
        }
    }

    /// Feeds one segment, in capture order.
    pub fn segment(&mut self, seg: &TcpSegment<'_>) {
        self.advance_clock(seg.ts);
        let key = ConnKey::of(seg);
        let idle_timeout = self.config.idle_timeout_secs;
        match self.entries.get_mut(&key) {
            Some(Entry::Live { conn, .. })
                if conn.accepts(seg)
                    && !expired(conn.ts_last().add_secs(idle_timeout), self.clock) =>
            {
                if let Some(end) = conn.segment(&mut self.handler, seg) {
                    self.close(key, end);
                }
            }
            Some(Entry::Lingering { until, server_isn })
                if !expired(*until, self.clock) && !starts_new_connection(seg, *server_isn) =>
            {
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
    /// with gaps for the holes, and returns the handler and the statistics.
    pub fn finish(mut self) -> (H, ReassemblyStats) {
        let mut live: Vec<(u64, Box<Connection<H::State>>)> = self
            .entries
            .drain()
            .filter_map(|(_, entry)| match entry {
                Entry::Live { serial, conn } => Some((serial, conn)),
                Entry::Lingering { .. } => None,
            })
            .collect();
        live.sort_unstable_by_key(|&(serial, _)| serial);
        for (_, conn) in live {
            let end = conn.end_when_evicted(ConnEnd::Open);
            self.retire(conn, end);
        }
        (self.handler, self.stats)
    }

    fn advance_clock(&mut self, ts: Timestamp) {
        self.clock = self.clock.max(ts);
        if self.clock >= self.next_sweep {
            self.sweep();
            self.next_sweep = self.clock.add_secs(SWEEP_INTERVAL_SECS);
        }
    }

    /// Ends the idle connections and forgets the lingering ones whose time is up.
    fn sweep(&mut self) {
        let (clock, idle_timeout) = (self.clock, self.config.idle_timeout_secs);
        let mut idle = Vec::new();
        self.entries.retain(|key, entry| match entry {
            Entry::Lingering { until, .. } => !expired(*until, clock),
            Entry::Live { serial, conn } => {
                if expired(conn.ts_last().add_secs(idle_timeout), clock) {
                    idle.push((*serial, *key));
                }
                true
            }
        });
        idle.sort_unstable_by_key(|&(serial, _)| serial);
        for (_, key) in idle {
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
        self.entries.insert(key, Entry::Live { serial, conn });
        if let Some(end) = end {
            self.close(key, end);
        }
    }

    /// Ends the live connection at `key`, if any, with no linger (it is idle or displaced), and
    /// forgets a lingering one.
    fn evict(&mut self, key: ConnKey) {
        if let Some(Entry::Live { conn, .. }) = self.entries.remove(&key) {
            let end = conn.end_when_evicted(ConnEnd::Idle);
            self.retire(conn, end);
        }
    }

    /// Closes the live connection at `key` and leaves it lingering.
    fn close(&mut self, key: ConnKey, end: ConnEnd) {
        if let Some(Entry::Live { conn, .. }) = self.entries.remove(&key) {
            let server_isn = conn.server_isn();
            let record = self.retire(conn, end);
            let until = record.ts_last.add_secs(self.config.close_linger_secs);
            self.entries
                .insert(key, Entry::Lingering { until, server_isn });
        }
    }

    /// Closes a connection removed from the table: its buffers and state are released.
    fn retire(&mut self, conn: Box<Connection<H::State>>, end: ConnEnd) -> ConnectionRecord {
        self.live = self.live.saturating_sub(1);
        let record = conn.close(&mut self.handler, end);
        if record.start == ConnStart::Midstream {
            self.stats.midstream_connections += 1;
        }
        record
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
