//! Stage 1: read packets from capture files.
//!
//! Input: paths of classic pcap (both byte orders, µs and ns), pcapng (several sections and
//! interfaces, per-interface link type and timestamp resolution) or a gzip of either.
//! Output: [`Packet`]s in timestamp order (several files merged) or in the order given.
//! Damage in a file (truncated record, bad block length, not a capture, empty file) becomes a
//! [`CaptureIssue`] naming the file and byte offset; the packets before it are still delivered
//! and the remaining files are still read.

use std::path::PathBuf;

use crate::timestamp::Timestamp;

pub use pcap_parser::Linktype;

/// One captured frame. Owned and reused by the reader: [`PacketSource::next_packet`] refills it.
#[derive(Clone, Debug, Default)]
pub struct Packet {
    pub ts: Timestamp,
    pub link_type: Linktype,
    /// Length of the frame on the wire; `data.len()` may be less (snap length).
    pub orig_len: u32,
    pub data: Vec<u8>,
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
    pub message: String,
}

impl std::fmt::Display for CaptureIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: at byte offset {}: {}", self.file.display(), self.offset, self.message)
    }
}

/// Counters of the capture stage, for the terminal summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub files: u64,
    pub packets: u64,
    /// Captured bytes of all packets (`data.len()` summed).
    pub captured_bytes: u64,
    /// Packets whose captured length is below their wire length.
    pub truncated_packets: u64,
}
