//! Stage 2: decode link, IP and TCP headers.
//!
//! Input: [`PacketRef`]s of any link type. Output: [`TcpSegment`]s borrowing the packet (or the
//! decoder's fragment-reassembly buffer). Everything that is not TCP over IPv4/IPv6, and every
//! frame that cannot be decoded, is counted by kind in [`DecodeStats`]: never an error.
//!
//! Link types: Ethernet (with any number of 802.1Q / 802.1ad / QinQ tags), Linux cooked capture
//! v1 and v2, BSD loopback (`NULL` in either byte order, `LOOP`), raw IP (`RAW`, the old `DLT_RAW`
//! values 12 and 14, `IPV4`, `IPV6`). Headers are sliced by etherparse where it covers them.
//!
//! A segment's `payload` ends at the IP length (link padding is never payload) and
//! `payload_missing` counts the bytes the snap length cut from it (rules in `ip.rs`). Fragmented
//! datagrams, IPv4 and IPv6, are reassembled in a bounded table (`fragment.rs`) when they may
//! carry TCP; a non-first fragment is never read as a TCP header. Call [`Decoder::finish`] at the
//! end of the capture so that datagrams left incomplete are counted.

mod fragment;
mod ip;
mod link;
mod skip;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

use etherparse::err::tcp;
use etherparse::{IpNumber, TcpSlice};

pub use self::fragment::FragmentLimits;
use self::fragment::{FragmentInfo, FragmentKey, FragmentTable};
use self::ip::IpPacket;
use self::skip::{Counters, Skip};
use crate::capture::{Linktype, PacketRef};
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
/// not be decoded (`arp`, `udp`, `icmpv6`, `unknown_linktype_105`, `truncated_ipv4`, ...), and
/// each fragmented datagram given up (`fragment_overlap`, `fragment_timeout`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub tcp_segments: u64,
    /// Fragment frames seen, of any protocol (a non-TCP one is also counted in `skipped`).
    pub ipv4_fragments: u64,
    /// Datagrams reassembled from fragments.
    pub ipv4_reassembled: u64,
    pub ipv6_fragments: u64,
    pub ipv6_reassembled: u64,
    pub skipped: BTreeMap<String, u64>,
}

/// Decodes packets into TCP segments; holds the fragment table and the statistics.
pub struct Decoder {
    counters: Counters,
    fragments: FragmentTable,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::with_limits(FragmentLimits::default())
    }

    pub fn with_limits(limits: FragmentLimits) -> Self {
        Decoder { counters: Counters::default(), fragments: FragmentTable::new(limits) }
    }

    /// Decodes one packet; `Some(segment)` for TCP over IPv4/IPv6, `None` otherwise (counted in
    /// the stats, or held as a fragment until its datagram completes).
    pub fn decode<'a>(&'a mut self, pkt: PacketRef<'a>) -> Option<TcpSegment<'a>> {
        self.fragments.expire(pkt.ts, &mut self.counters);
        let frame_missing =
            pkt.orig_len.saturating_sub(u32::try_from(pkt.data.len()).unwrap_or(u32::MAX));
        let packet = link::network_payload(pkt.link_type, pkt.data)
            .and_then(|(ether_type, bytes)| ip::network_packet(ether_type, bytes, frame_missing));
        let packet = self.counters.ok(packet)?;
        let packet = match packet.fragment {
            None => packet,
            Some(info) => {
                reassemble(&mut self.fragments, &mut self.counters, pkt.ts, packet, info)?
            }
        };
        let segment = self.counters.ok(tcp_segment(pkt.ts, packet))?;
        self.counters.stats.tcp_segments += 1;
        Some(segment)
    }

    /// Counts the fragments still waiting for the rest of their datagram as incomplete; call
    /// once at the end of the capture.
    pub fn finish(&mut self) {
        self.fragments.flush(&mut self.counters);
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.counters.stats
    }
}

/// Adds a fragment to its datagram; returns the whole datagram once this fragment completes it.
fn reassemble<'t>(
    fragments: &'t mut FragmentTable,
    counters: &mut Counters,
    ts: Timestamp,
    piece: IpPacket<'_>,
    info: FragmentInfo,
) -> Option<IpPacket<'t>> {
    let over_ipv6 = piece.src.is_ipv6();
    if over_ipv6 {
        counters.stats.ipv6_fragments += 1;
    } else {
        counters.stats.ipv4_fragments += 1;
    }
    if piece.payload_missing > 0 {
        counters.skip(Skip::FragmentTruncated);
        return None;
    }
    // Only datagrams that may carry TCP are worth memory; with IPv6 the fragmentable part may
    // begin with extension headers before TCP.
    let may_carry_tcp =
        piece.protocol == IpNumber::TCP || (over_ipv6 && piece.protocol.is_ipv6_ext_header_value());
    if !may_carry_tcp {
        counters.skip(Skip::non_tcp(piece.protocol, over_ipv6));
        return None;
    }
    let key = FragmentKey { src: piece.src, dst: piece.dst, protocol: piece.protocol, id: info.id };
    let datagram = fragments.insert(ts, key, info, piece.payload, counters)?;
    if over_ipv6 {
        counters.stats.ipv6_reassembled += 1;
    } else {
        counters.stats.ipv4_reassembled += 1;
    }
    counters.ok(ip::reassembled_packet(&piece, datagram))
}

/// The TCP segment of an unfragmented IP packet, or the reason there is none.
fn tcp_segment(ts: Timestamp, packet: IpPacket<'_>) -> Result<TcpSegment<'_>, Skip> {
    if packet.protocol != IpNumber::TCP {
        return Err(Skip::non_tcp(packet.protocol, packet.src.is_ipv6()));
    }
    let tcp = TcpSlice::from_slice(packet.payload).map_err(|error| match error {
        tcp::HeaderSliceError::Len(_) => Skip::TruncatedTcpHeader,
        tcp::HeaderSliceError::Content(_) => Skip::BadTcpHeader,
    })?;
    Ok(TcpSegment {
        ts,
        src_ip: packet.src,
        dst_ip: packet.dst,
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
        },
        window: tcp.window_size(),
        payload: tcp.payload(),
        payload_missing: packet.payload_missing,
        ip_len: packet.ip_len,
    })
}

/// Name of a link type for the summary, as tcpdump.org's list spells it (`ETHERNET`,
/// `LINUX_SLL2`, ...); the old raw-IP values say so, others give their number.
pub fn linktype_name(lt: Linktype) -> String {
    let name = match lt {
        Linktype::NULL => "NULL",
        Linktype::ETHERNET => "ETHERNET",
        Linktype::RAW => "RAW",
        Linktype::LOOP => "LOOP",
        Linktype::LINUX_SLL => "LINUX_SLL",
        Linktype::LINUX_SLL2 => "LINUX_SLL2",
        Linktype::IPV4 => "IPV4",
        Linktype::IPV6 => "IPV6",
        Linktype(n) if link::LINKTYPE_OLD_RAW.contains(&lt) => return format!("RAW (DLT {n})"),
        Linktype(n) => return format!("LINKTYPE {n}"),
    };
    name.to_string()
}
