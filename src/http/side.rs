//! The parsing state of one direction of a connection.

use super::framing::{AfterHead, Body};
use super::head::{HeadScan, Kind, TailScan};
use crate::timestamp::Timestamp;

/// Where a direction's stream stands.
#[derive(Debug)]
pub(super) enum Phase {
    /// Between messages, or inside a header block being gathered in [`Side::buf`].
    Head,
    /// The header block was cut at `max_header_bytes`: skip its tail, then read what follows.
    HeaderTail { tail: TailScan, after: AfterHead },
    Body(Body),
    /// The stream stopped being HTTP: skipping lines until a start line.
    Resync(Resync),
    /// After CONNECT 2xx or 101 Switching Protocols: bytes are counted, not parsed.
    Tunnel,
}

/// Skipping towards the next start line, one line at a time (held in [`Side::buf`]).
#[derive(Debug)]
pub(super) struct Resync {
    /// What to report when the episode ends; `None` when a gap or an over-long head caused it
    /// (already reported).
    pub garbage: Option<Garbage>,
    /// Bytes skipped in lines already discarded.
    pub skipped: u64,
    /// Bytes of the current line so far (more than `buf` holds when the line is over-long).
    pub line_bytes: u64,
    /// A start line must begin at or after this offset of the current line: 1 for the line that
    /// just failed to parse, so the search always moves forward.
    pub min_start: usize,
    /// Time of the current line's first byte: the time of a message found in it.
    pub line_ts: Timestamp,
}

/// Bytes of garbage kept to quote in the anomaly.
pub(super) const GARBAGE_SAMPLE: usize = 32;

/// Garbage met at a message boundary: where it started and its first bytes (gathered line by
/// line as they are skipped, so the quote does not depend on how the stream was cut).
#[derive(Debug)]
pub(super) struct Garbage {
    pub ts: Timestamp,
    pub first: Vec<u8>,
}

impl Resync {
    pub(super) fn new(garbage: Option<Garbage>, line_bytes: usize, min_start: usize, line_ts: Timestamp) -> Self {
        Resync { garbage, skipped: 0, line_bytes: line_bytes as u64, min_start, line_ts }
    }

    /// Notes the bytes of the current line (complete, or as far as it goes) for the quote.
    pub(super) fn note_line(&mut self, line: &[u8]) {
        if let Some(garbage) = &mut self.garbage {
            let room = GARBAGE_SAMPLE.saturating_sub(garbage.first.len());
            garbage.first.extend_from_slice(line.get(..room).unwrap_or(line));
        }
    }

    /// The current line held no start line.
    pub(super) fn discard_line(&mut self) {
        self.skipped = self.skipped.saturating_add(self.line_bytes);
        self.line_bytes = 0;
        self.min_start = 0;
    }

    /// Every byte this episode took off the stream.
    pub(super) fn total(&self) -> u64 {
        self.skipped.saturating_add(self.line_bytes)
    }
}

/// One direction of a connection.
#[derive(Debug)]
pub(super) struct Side {
    pub kind: Kind,
    pub phase: Phase,
    /// The header block being gathered, or the current chunk-size, trailer or resync line;
    /// never more than `max_header_bytes`.
    pub buf: Vec<u8>,
    pub scan: HeadScan,
    /// Time of the first byte of the header block being gathered.
    pub head_ts: Timestamp,
    /// Request side: when the current head started, the previous response was unfinished.
    pub started_while_unanswered: bool,
    /// Depth of the transaction whose message is being read, if any.
    pub current: Option<u32>,
    /// Time of the latest bytes or gap delivered.
    pub last_ts: Timestamp,
    pub tunnel_bytes: u64,
}

impl Side {
    pub(super) fn new(kind: Kind) -> Self {
        Side {
            kind,
            phase: Phase::Head,
            buf: Vec::new(),
            scan: HeadScan::default(),
            head_ts: Timestamp::default(),
            started_while_unanswered: false,
            current: None,
            last_ts: Timestamp::default(),
            tunnel_bytes: 0,
        }
    }

    /// Empties the buffer (and the scan over it) and gives its memory back: between messages a
    /// connection holds no buffer, and idle keep-alive connections are most of those open at
    /// once (their kept buffers were a sixth of the heap on a 1 GiB capture).
    pub(super) fn clear_buf(&mut self) {
        self.buf = Vec::new();
        self.scan.reset();
    }

    pub(super) fn count_tunnel(&mut self, len: u64) {
        self.tunnel_bytes = self.tunnel_bytes.saturating_add(len);
    }
}
