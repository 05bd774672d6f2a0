//! Stage 3: TCP connection tracking and stream reassembly.
//!
//! Input: [`TcpSegment`](crate::decode::TcpSegment)s in capture order. Output, per connection,
//! through a [`StreamHandler`]: the bytes of each direction in sequence order, each exactly once,
//! with every hole reported as a gap of known size (data is never glued across a gap), and a
//! [`ConnectionRecord`] when the connection ends, is evicted idle, or the capture ends. A
//! connection closed by FINs or a RST gets its record only when the close linger ends, so that
//! it counts the late packets (the last ACK) as Zeek's conn.log does.
//!
//! Memory is bounded by the live connections and their out-of-order bytes (capped per direction);
//! closed connections keep only their record and the handler's state for the linger, and idle
//! ones are released.
//!
//! Layout: `assembler` turns one direction's offset-tagged pieces into an ordered stream;
//! `stream` maps that direction's sequence numbers onto offsets and tracks its FIN and the peer's
//! acknowledgements; `connection` is the per-connection state machine (handshake, close);
//! `roles` decides which side is the client; `id` derives the [`ConnId`]; [`ConnectionTable`]
//! holds the connections, starts and ends them.

mod assembler;
mod connection;
mod id;
mod roles;
mod stream;
mod table;
#[cfg(test)]
mod tests;

pub use table::ConnectionTable;

use std::fmt;
use std::net::IpAddr;

use crate::timestamp::Timestamp;

/// Which way bytes flow on a connection. The client is the side that sent the SYN (or, when the
/// handshake is not in the capture, the side judged to be the client from ports and payload).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    /// The other way.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }

    /// The side that sends this way: `client` or `server`, as reports and anomalies name it.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::ToServer => "client",
            Direction::ToClient => "server",
        }
    }
}

/// Stable connection id shared by every report table (like Zeek's `uid`): a hash of the
/// connection's first timestamp and endpoints, so the same capture always gives the same ids and
/// captures analysed apart do not collide. Printed as `C` followed by 11 base-62 digits.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut buf = [b'0'; 11];
        let mut n = self.0;
        for slot in buf.iter_mut().rev() {
            *slot = DIGITS[(n % 62) as usize];
            n /= 62;
        }
        // 62^11 > 2^64, so every u64 fits and the loop leaves n == 0.
        write!(f, "C{}", std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

/// Identity of a connection, handed to the handler when it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    pub conn_id: ConnId,
    pub ts_start: Timestamp,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
}

/// How a connection began, as far as the capture shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnStart {
    /// SYN and SYN-ACK both seen.
    Handshake,
    /// Only the SYN seen (no answer in the capture).
    SynOnly,
    /// The SYN-ACK seen but not the SYN.
    SynAckOnly,
    /// Neither: the capture started mid-stream.
    Midstream,
}

/// How a connection ended, as far as the capture shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnEnd {
    /// FIN from both sides.
    Fin,
    /// FIN from one side only, then nothing more before eviction or the capture's end.
    HalfClosed,
    /// A RST ended it (sent by either side).
    Reset,
    /// No packet for the idle timeout: evicted, possibly still open.
    Idle,
    /// Still open when the capture ended.
    Open,
}

/// Per-direction counters of a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    pub packets: u64,
    /// Payload bytes by sequence space, delivered plus missed (Zeek's `orig_bytes`/`resp_bytes`).
    pub bytes: u64,
    /// IP bytes on the wire (Zeek's `orig_ip_bytes`/`resp_ip_bytes`).
    pub ip_bytes: u64,
    /// Number of gaps (holes never filled) and their bytes (Zeek's `missed_bytes`, per side).
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Bytes that arrived again after a first copy had been kept (retransmissions), including
    /// the conflicting ones.
    pub retransmitted_bytes: u64,
    /// Bytes of overlapping segments whose content differed from the first copy, which wins
    /// (a subset of `retransmitted_bytes`; only bytes still buffered can be compared).
    pub conflicting_bytes: u64,
    /// Bytes of holes declared gaps early because the out-of-order buffer reached its cap
    /// (a subset of `gap_bytes`).
    pub overflow_bytes: u64,
    /// Keep-alive probes (sequence number one below the next byte, 0 or 1 byte): never data.
    pub keepalive_probes: u64,
    /// Segments of this direction advertising a zero receive window (the sender's buffer full).
    pub zero_windows: u64,
}

/// The row of the connections table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub meta: ConnMeta,
    /// Time of the last packet up to the close: late packets after it count but do not move it
    /// (as Zeek's duration).
    pub ts_last: Timestamp,
    pub start: ConnStart,
    pub end: ConnEnd,
    /// Which side sent the first FIN or the RST, when one was seen.
    pub closed_by: Option<Direction>,
    pub to_server: DirectionStats,
    pub to_client: DirectionStats,
}

/// Receives the reassembled streams. One `State` per connection lives inside the connection
/// table and is released with it.
pub trait StreamHandler {
    type State;
    /// A new connection (first packet seen; the client side is decided).
    fn open(&mut self, meta: &ConnMeta) -> Self::State;
    /// In-order bytes of one direction; the next call for this direction continues them unless
    /// a [`StreamHandler::gap`] comes between.
    fn data(&mut self, state: &mut Self::State, meta: &ConnMeta, dir: Direction, ts: Timestamp, bytes: &[u8]);
    /// `len` bytes of one direction are missing from the capture; the stream resumes after them.
    fn gap(&mut self, state: &mut Self::State, meta: &ConnMeta, dir: Direction, ts: Timestamp, len: u64);
    /// The connection ended (or was evicted, or the capture ended): last call for this state.
    /// After a FIN or RST close, every byte is passed on at once but this call waits for the end
    /// of the linger (or the capture); calls for other connections may come in between.
    fn close(&mut self, state: Self::State, record: &ConnectionRecord);
}

/// Tunables of the connection table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Cap on buffered out-of-order bytes per direction; beyond it the hole becomes a gap. Each
    /// buffered chunk is charged a small bookkeeping overhead against it, so that a flood of tiny
    /// segments cannot outgrow it.
    pub max_out_of_order_bytes: usize,
    /// A connection with no packet for this long is evicted (Zeek: 5 minutes).
    pub idle_timeout_secs: i64,
    /// How long a closed connection is kept to absorb late retransmissions and ACKs, counting
    /// their packets (Zeek's `tcp_close_delay`: 5 s).
    pub close_linger_secs: i64,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig { max_out_of_order_bytes: 1 << 20, idle_timeout_secs: 300, close_linger_secs: 5 }
    }
}

/// Counters of the reassembly stage, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Connections opened.
    pub connections: u64,
    /// Connections closed that had neither SYN nor SYN-ACK in the capture.
    pub midstream_connections: u64,
    /// Peak number of live connections held at once (the memory bound in practice; closed
    /// connections lingering without reassembly buffers are not counted).
    pub peak_live_connections: u64,
    /// Segments for a connection already closed (late ACKs, retransmitted FINs) that were
    /// absorbed: counted in its packets, their bytes not passed on.
    pub late_segments: u64,
}
