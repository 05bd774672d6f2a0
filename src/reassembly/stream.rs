//! One direction of a connection: maps its sequence numbers onto stream offsets and feeds the
//! [`Assembler`]; tracks its FIN and how far the peer acknowledged it, to turn holes the capture
//! missed into gaps.
//!
//! Offset 0 is the first byte after the SYN (ISN + 1) when the SYN was seen; otherwise the
//! peer's first acknowledgement number, or failing that this direction's first sequence number.
//! Sequence numbers are mapped relative to the current position (`delivered`) with wrapping
//! 32-bit arithmetic, so streams crossing 2^32 keep counting up in 64 bits.

use super::assembler::{Assembler, AssemblerStats, Deliver};
use super::DirectionStats;
use crate::decode::TcpSegment;

/// How far beyond everything seen from a direction the peer may acknowledge before the
/// acknowledgement is taken for garbage rather than for bytes the capture missed (a generous
/// receive window).
const MAX_UNSEEN_ACKED_BYTES: u64 = 1 << 24;

#[derive(Debug)]
pub(crate) struct HalfStream {
    /// Sequence number of the SYN, when seen.
    isn: Option<u32>,
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    assembler: Assembler,
    /// Offset of the FIN (the end of the data), first one wins.
    fin: Option<u64>,
    /// Offset up to which the peer acknowledged this direction (the FIN counts one).
    acked: u64,
    /// End of the data this side is known to have sent: segments seen (captured or cut by the
    /// snap length) and sequence numbers of pure ACKs (past the FIN, one beyond it).
    seen_end: u64,
    /// The per-packet counters (packets, IP bytes, keep-alives, zero windows); the assembler
    /// keeps the byte and gap counters.
    sent: DirectionStats,
}

impl HalfStream {
    pub fn new(max_out_of_order_bytes: usize) -> Self {
        HalfStream {
            isn: None,
            base: None,
            assembler: Assembler::new(max_out_of_order_bytes),
            fin: None,
            acked: 0,
            seen_end: 0,
            sent: DirectionStats::default(),
        }
    }

    pub fn isn(&self) -> Option<u32> {
        self.isn
    }

    /// Whether a SYN with `seq` from this side can belong to the stream seen so far: same ISN as
    /// the SYN seen, or no SYN seen and offset 0 right after it (or nothing known yet).
    pub fn accepts_syn(&self, seq: u32) -> bool {
        match (self.isn, self.base) {
            (Some(isn), _) => isn == seq,
            (None, Some(base)) => base == seq.wrapping_add(1),
            (None, None) => true,
        }
    }

    pub fn fin_seen(&self) -> bool {
        self.fin.is_some()
    }

    /// The FIN was seen and every byte before it passed on (as data or gap).
    pub fn finished(&self) -> bool {
        self.fin
            .is_some_and(|fin| self.assembler.delivered() >= fin)
    }

    /// Counts a segment sent by this side (any segment, RST included).
    pub fn count_packet(&mut self, seg: &TcpSegment<'_>) {
        self.sent.count_packet(seg);
    }

    /// Takes the SYN, payload and FIN of a segment sent by this side (not a RST).
    pub fn receive(&mut self, seg: &TcpSegment<'_>, out: &mut impl Deliver) {
        let syn = seg.flags.syn;
        if syn && self.isn.is_none() {
            self.isn = Some(seg.seq);
        }
        let data_seq = seg.seq.wrapping_add(u32::from(syn));
        let base = *self.base.get_or_insert(data_seq);
        let start = self.offset_of(base, data_seq);
        let captured = i64::try_from(seg.payload.len()).unwrap_or(i64::MAX);
        let len = captured.saturating_add(i64::from(seg.payload_missing));
        if !syn && !seg.flags.fin && len <= 1 && start == self.delivered_i64() - 1 {
            self.sent.keepalive_probes += 1;
            return;
        }
        let end = start.saturating_add(len);
        self.seen_end = self.seen_end.max(u64::try_from(end).unwrap_or(0));
        if seg.flags.fin && self.fin.is_none() && end >= self.delivered_i64() {
            // A FIN below bytes already passed on contradicts them: not taken.
            self.fin = u64::try_from(end).ok();
        }
        self.assembler.insert(start, seg.payload, out);
        let captured_end = start.saturating_add(captured);
        if seg.payload_missing > 0 && self.delivered_i64() >= captured_end {
            // The bytes cut by the snap length follow the stream directly: they are a gap now.
            self.assembler.skip_to(u64::try_from(end).unwrap_or(0), out);
        }
        self.settle(out);
    }

    /// Takes an acknowledgement number sent by the peer.
    pub fn peer_ack(&mut self, ack: u32, out: &mut impl Deliver) {
        // Before this side sent anything, the peer's ACK says where its stream starts.
        let base = *self.base.get_or_insert(ack);
        let Ok(acked) = u64::try_from(self.offset_of(base, ack)) else {
            return;
        };
        let known_end = self.seen_end.max(self.fin.unwrap_or(0));
        if acked <= self.acked || acked > known_end.saturating_add(MAX_UNSEEN_ACKED_BYTES) {
            return;
        }
        self.acked = acked;
        self.settle(out);
    }

    /// Passes on everything this side is known to have sent, holes as gaps (the connection ends).
    pub fn flush(&mut self, out: &mut impl Deliver) {
        // Without a FIN, bytes acknowledged but never seen are data, except the last unit, which
        // may be a FIN the capture missed (alone, or riding on the last data segment).
        let sent_end = match self.fin {
            Some(fin) => fin,
            None => self.seen_end.max(self.acked.saturating_sub(1)),
        };
        self.assembler.flush(sent_end, out);
    }

    pub fn stats(&self) -> DirectionStats {
        let AssemblerStats {
            gaps,
            gap_bytes,
            retransmitted_bytes,
            conflicting_bytes,
            overflow_bytes,
        } = *self.assembler.stats();
        DirectionStats {
            bytes: self.assembler.delivered(),
            gaps,
            gap_bytes,
            retransmitted_bytes,
            conflicting_bytes,
            overflow_bytes,
            ..self.sent.clone()
        }
    }

    /// Declares gaps for the holes the peer acknowledged: the peer got those bytes, the capture
    /// did not. Only bytes known to be data count (below the FIN, or below what was seen: the
    /// last acknowledged unit may be a FIN not seen yet).
    fn settle(&mut self, out: &mut impl Deliver) {
        let data_end = self.fin.unwrap_or(self.seen_end);
        self.assembler.skip_to(self.acked.min(data_end), out);
    }

    /// Stream offset of `seq`: the signed 32-bit distance from the sequence number at the
    /// current position, so that it wraps around 2^32 correctly.
    fn offset_of(&self, base: u32, seq: u32) -> i64 {
        let delivered = self.assembler.delivered();
        // Truncation intended: sequence numbers are offsets modulo 2^32.
        let here = base.wrapping_add(delivered as u32);
        let distance = seq.wrapping_sub(here) as i32;
        self.delivered_i64().saturating_add(i64::from(distance))
    }

    fn delivered_i64(&self) -> i64 {
        i64::try_from(self.assembler.delivered()).unwrap_or(i64::MAX)
    }
}

impl DirectionStats {
    /// Counts a segment sent by this direction's side: also a closed connection's late ones,
    /// which count as packets though their bytes are no longer delivered.
    pub(crate) fn count_packet(&mut self, seg: &TcpSegment<'_>) {
        self.packets += 1;
        self.ip_bytes = self.ip_bytes.saturating_add(u64::from(seg.ip_len));
        if seg.window == 0 && !seg.flags.rst {
            self.zero_windows += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::decode::TcpFlags;
    use crate::reassembly::assembler::tests::{Piece, Recorder};
    use crate::timestamp::Timestamp;

    fn seg(seq: u32, flags: TcpFlags, payload: &[u8]) -> TcpSegment<'_> {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        TcpSegment {
            ts: Timestamp::from_nanos(0),
            src_ip: ip,
            dst_ip: ip,
            src_port: 1,
            dst_port: 2,
            seq,
            ack: 0,
            flags,
            window: 100,
            payload,
            payload_missing: 0,
            ip_len: 40 + payload.len() as u32,
        }
    }

    const DATA: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
        psh: false,
    };
    const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
        psh: false,
    };
    const FIN: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: true,
        rst: false,
        psh: false,
    };

    fn data(bytes: &[u8]) -> Piece {
        Piece::Data(bytes.to_vec())
    }

    #[test]
    fn offsets_wrap_around_2_pow_32() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.receive(&seg(u32::MAX - 2, SYN, b""), &mut out);
        half.receive(&seg(u32::MAX - 1, DATA, b"ab"), &mut out);
        half.receive(&seg(3, DATA, b"fg"), &mut out);
        half.receive(&seg(0, DATA, b"cde"), &mut out);
        assert_eq!(out.pieces, vec![data(b"abcdefg")]);
        assert_eq!(half.stats().bytes, 7);
        assert!(half.accepts_syn(u32::MAX - 2));
        assert!(!half.accepts_syn(7));
    }

    #[test]
    fn base_from_the_peers_ack_reveals_a_lost_first_segment() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.peer_ack(1000, &mut out);
        half.receive(&seg(1010, DATA, b"kl"), &mut out);
        assert!(out.pieces.is_empty());
        assert!(half.accepts_syn(999));
        assert!(!half.accepts_syn(1000));
        half.peer_ack(1012, &mut out);
        assert_eq!(out.pieces, vec![Piece::Gap(10), data(b"kl")]);
    }

    #[test]
    fn ack_beyond_everything_seen_waits_for_the_last_unit() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.receive(&seg(0, DATA, b"ab"), &mut out);
        half.peer_ack(6, &mut out);
        // Bytes 2..6 or 2..5 plus a FIN: unknown until more is seen.
        assert_eq!(out.pieces, vec![data(b"ab")]);
        half.receive(&seg(6, DATA, b"gh"), &mut out);
        assert_eq!(out.pieces, vec![data(b"ab"), Piece::Gap(4), data(b"gh")]);
    }

    #[test]
    fn flush_takes_the_last_acknowledged_unit_for_a_fin() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.receive(&seg(0, DATA, b"ab"), &mut out);
        half.peer_ack(6, &mut out);
        half.flush(&mut out);
        assert_eq!(out.pieces, vec![data(b"ab"), Piece::Gap(3)]);
    }

    #[test]
    fn fin_beyond_a_hole_waits_for_the_ack() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.receive(&seg(0, DATA, b"ab"), &mut out);
        half.receive(&seg(4, FIN, b"ef"), &mut out);
        assert!(half.fin_seen() && !half.finished());
        half.peer_ack(7, &mut out);
        assert!(half.finished());
        assert_eq!(out.pieces, vec![data(b"ab"), Piece::Gap(2), data(b"ef")]);
    }

    #[test]
    fn implausible_acks_are_ignored() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.receive(&seg(0, DATA, b"ab"), &mut out);
        half.peer_ack(2 + (1 << 24) + 1, &mut out);
        half.peer_ack(0x8000_0000, &mut out);
        half.receive(&seg(2, DATA, b"cd"), &mut out);
        half.flush(&mut out);
        assert_eq!(out.pieces, vec![data(b"abcd")]);
    }

    #[test]
    fn keepalive_is_counted_not_delivered() {
        let (mut half, mut out) = (HalfStream::new(1 << 20), Recorder::default());
        half.receive(&seg(100, SYN, b""), &mut out);
        // Right after the handshake: one below offset 0 is the SYN's number.
        half.receive(&seg(100, DATA, b""), &mut out);
        half.receive(&seg(101, DATA, b"abc"), &mut out);
        half.receive(&seg(103, DATA, b"\0"), &mut out);
        half.receive(&seg(103, DATA, b""), &mut out);
        assert_eq!(out.pieces, vec![data(b"abc")]);
        let stats = half.stats();
        assert_eq!(
            (
                stats.keepalive_probes,
                stats.retransmitted_bytes,
                stats.bytes
            ),
            (3, 0, 3)
        );
    }
}
