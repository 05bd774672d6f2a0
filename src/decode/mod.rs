//! Stage 2: decode link, IP and TCP headers.
//!
//! Input: [`Packet`]s of any link type. Output: [`TcpSegment`]s borrowing the packet (or the
//! decoder's fragment-reassembly buffer). Everything that is not TCP over IPv4/IPv6, and every
//! frame that cannot be decoded, is counted by kind in [`DecodeStats`]: never an error.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::capture::Packet;
use crate::timestamp::Timestamp;

/// TCP flags of a segment.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

/// A decoded TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub ts: Timestamp,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload bytes the wire carried beyond `payload` (cut by the snap length): the reassembler
    /// turns them into a gap rather than pretending they were not sent.
    pub payload_missing: u32,
    /// IP total length (header + payload) on the wire, for Zeek's `*_ip_bytes`.
    pub ip_len: u32,
}

/// Counters of the decode stage. `skipped` names each kind of frame that was not TCP or could
/// not be decoded (`arp`, `udp`, `icmpv6`, `unknown_linktype_105`, `truncated_ipv4`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub tcp_segments: u64,
    pub ipv4_fragments: u64,
    pub ipv4_reassembled: u64,
    pub skipped: BTreeMap<String, u64>,
}
