//! Stage 1: read packets from capture files.
//!
//! Input: paths of classic pcap (both byte orders, µs and ns), pcapng (several sections and
//! interfaces, per-interface link type and timestamp resolution) or a gzip of either.
//! Output: [`PacketRef`]s in timestamp order (several files merged) or in the order given.
//! Damage in a file (truncated record, bad block length, not a capture, empty file) becomes a
//! [`CaptureIssue`] naming the file and byte offset; the packets before it are still delivered
//! and the remaining files are still read.
//!
//! Contract of [`PacketSource`]:
//! - The format is recognised by magic bytes, never by file name: gzip (`1f 8b`, possibly
//!   several members), then inside it pcap (`a1b2c3d4`/`a1b23c4d` in either byte order) or
//!   pcapng (`0a0d0d0a`).
//! - Only a file that cannot be opened at all is an error ([`CaptureError`]). Anything wrong
//!   inside a file is an issue: fatal damage ends that file (every packet before it has been
//!   delivered); a packet that cannot be placed (unknown pcapng interface) is skipped and
//!   reading goes on. At most [`MAX_NOTES_PER_FILE`] non-fatal issues are listed per file.
//! - `ReadOrder::MergeByTime` is a stable k-way merge: equal timestamps keep file order; a
//!   file whose own timestamps go backwards is still read in its own order.
//! - Where the delivered packets' time steps back by more than [`CLOCK_STEP_TOLERANCE_SECS`]
//!   (a clock set back while capturing, files concatenated or given out of order), the step is
//!   a [`ClockStep`] for the caller to report, and counted in [`CaptureStats`].
//! - Memory is bounded by live state: one read buffer per file being read (four 1 MiB chunks
//!   for a file read ahead, see [`PacketSource::read_ahead`]; files are opened
//!   when the merge reaches their first packet, so `tcpdump -C` series stay cheap), a record
//!   may be at most [`MAX_RECORD_LEN`] bytes, a pcapng section at most [`MAX_INTERFACES`]
//!   interfaces.
//! - Packets are not copied: a [`PacketRef`] borrows the bytes in the read buffer of its file,
//!   which keeps them in place until the next call of [`PacketSource::next_packet`].
//! - Nothing panics on any input.

mod ahead;
mod buffer;
mod input;
mod pcap;
mod pcapng;
mod reader;
mod source;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::timestamp::Timestamp;

pub use pcap_parser::Linktype;
pub use pcapng::MAX_INTERFACES;
pub use reader::{MAX_NOTES_PER_FILE, MAX_RECORD_LEN};
pub use source::{CaptureError, PacketSource};

/// One captured frame, borrowed from the reader until the next packet is asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PacketRef<'a> {
    pub ts: Timestamp,
    pub link_type: Linktype,
    /// Length of the frame on the wire; `data.len()` may be less (snap length). Never less than
    /// `data.len()`: a record claiming so is read as not truncated.
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// How several capture files are combined.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ReadOrder {
    /// Merge packets of all files by timestamp (files split by `tcpdump -C`/`-G`, or several
    /// capture points of one incident).
    #[default]
    MergeByTime,
    /// Read the files one after the other, in the order given.
    AsGiven,
}

/// Damage found in a capture file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureIssue {
    pub file: PathBuf,
    /// Byte offset in the (decompressed) file where the damage starts.
    pub offset: u64,
    /// Time of the last packet the file gave before the damage: when it happened, as far as
    /// the capture tells (`None`: the file gave no packet before it).
    pub after: Option<Timestamp>,
    pub message: String,
}

impl std::fmt::Display for CaptureIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: at byte offset {}: {}", self.file.display(), self.offset, self.message)
    }
}

/// A packet earlier than the one delivered before it by more than this is a step of the
/// capture's clock, not the jitter of interfaces or files merged by time (milliseconds).
pub const CLOCK_STEP_TOLERANCE_SECS: i64 = 1;

/// A place where the delivered packets' time steps back (see [`CLOCK_STEP_TOLERANCE_SECS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// The file of the packet after the step.
    pub file: PathBuf,
    /// Time of the packet before the step.
    pub from: Timestamp,
    /// Time of the packet after it.
    pub to: Timestamp,
}

impl std::fmt::Display for ClockStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: timestamps step back {:.3} s, from {} to {}",
            self.file.display(),
            self.from.secs_since(self.to),
            self.from,
            self.to
        )
    }
}

/// Counters of the capture stage, for the terminal summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Files given, readable or not.
    pub files: u64,
    /// Packets delivered.
    pub packets: u64,
    /// Captured bytes of all packets (`data.len()` summed).
    pub captured_bytes: u64,
    /// Packets whose captured length is below their wire length.
    pub truncated_packets: u64,
    /// Steps back of the capture's clock ([`ClockStep`]s).
    pub clock_steps_back: u64,
    /// The largest of them, in nanoseconds.
    pub largest_step_back_nanos: u64,
    /// Packets earlier than the latest packet before them by more than
    /// [`CLOCK_STEP_TOLERANCE_SECS`]: the packets between a step and the time it went back from.
    pub packets_behind: u64,
}

impl CaptureStats {
    /// The largest step back, in seconds, for the summary and warnings.
    pub fn largest_step_back_secs(&self) -> f64 {
        self.largest_step_back_nanos as f64 / 1e9
    }

    fn count(&mut self, pkt: &PacketRef<'_>) {
        let captured = u64::try_from(pkt.data.len()).unwrap_or(u64::MAX);
        self.packets = self.packets.saturating_add(1);
        self.captured_bytes = self.captured_bytes.saturating_add(captured);
        if captured < u64::from(pkt.orig_len) {
            self.truncated_packets = self.truncated_packets.saturating_add(1);
        }
    }
}

/// The `u16` at `at` in `bytes`, if there are enough bytes.
fn read_u16(bytes: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian { u16::from_be_bytes(raw) } else { u16::from_le_bytes(raw) })
}

/// The `u32` at `at` in `bytes`, if there are enough bytes.
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) })
}
