//! One TCP connection as a capture next to the servers sees it: three-way handshake, data cut at
//! the MSS in bursts of one receive window, the receiver's delayed ACKs, FIN or RST close, and
//! the capture's imperfections — a segment the capture missed (a gap for the analyzer), two
//! adjacent segments swapped, a segment retransmitted after a timeout.
//!
//! Timing: a client packet is seen when it arrives; the server answers `SERVER_TURNAROUND`
//! later; a server packet is answered by the client one round trip later. Every packet of a
//! call is emitted at or after the time given, and the returned time is the last one emitted.

use super::frame::{write_frame, Path, TcpHeader, ACK, FIN, PSH, RST, SYN};
use super::queue::PacketQueue;
use super::time::{Nanos, MICROSECOND, MILLISECOND, SECOND};
use crate::rng::Rng;

pub const MSS: usize = 1460;
/// Bytes a sender puts on the wire before it waits a round trip for ACKs.
pub const WINDOW: usize = 64 * 1024;
const SERVER_TURNAROUND: Nanos = 40 * MICROSECOND;
/// Windows' minimum retransmission timeout.
const RETRANSMISSION_TIMEOUT: Nanos = 300 * MILLISECOND;
const SERVER_RATE_BPS: u64 = 1_000_000_000;
/// MSS 1460, NOP, window scale 8, NOP, NOP, SACK permitted: what Windows sends.
const SYN_OPTIONS: [u8; 12] = [2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
/// Scaled by 256 (window scale 8): 256 KiB and 128 KiB.
const CLIENT_WINDOW: u16 = 1024;
const SERVER_WINDOW: u16 = 513;
/// Per-million rolls are drawn in this range.
const MILLION: u64 = 1_000_000;

/// The client's network as seen from the capture point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub rtt: Nanos,
    pub client_rate_bps: u64,
}

/// How often (per million data segments) each imperfection happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Impairments {
    pub missed: u64,
    pub swapped: u64,
    pub retransmitted: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Sent,
    Missed,
    SwappedWithNext,
    Retransmitted,
}

struct Side {
    next_seq: u32,
    ip_id: u16,
    window: u16,
}

pub struct TcpFlow {
    path: Path,
    client: Side,
    server: Side,
    link: Link,
    impairments: Impairments,
    rng: Rng,
}

impl TcpFlow {
    pub fn new(path: Path, link: Link, impairments: Impairments, mut rng: Rng) -> TcpFlow {
        let mut side = |window| Side {
            next_seq: rng.next_u64() as u32,
            ip_id: rng.next_u64() as u16,
            window,
        };
        let client = side(CLIENT_WINDOW);
        let server = side(SERVER_WINDOW);
        TcpFlow {
            path,
            client,
            server,
            link,
            impairments,
            rng,
        }
    }

    pub fn client_port(&self) -> u16 {
        self.path.client_port
    }

    pub fn rtt(&self) -> Nanos {
        self.link.rtt
    }

    /// SYN, SYN-ACK, ACK.
    pub fn open(&mut self, time: Nanos, out: &mut PacketQueue) -> Nanos {
        self.control(true, time, SYN, &SYN_OPTIONS, out);
        let syn_ack = time + SERVER_TURNAROUND;
        self.control(false, syn_ack, SYN | ACK, &SYN_OPTIONS, out);
        let ack = syn_ack + self.link.rtt;
        self.control(true, ack, ACK, &[], out);
        ack
    }

    /// Sends `payload` (at most a window) from one side, with the other side's ACKs.
    pub fn send(
        &mut self,
        from_client: bool,
        time: Nanos,
        payload: &[u8],
        out: &mut PacketQueue,
    ) -> Nanos {
        let spacing = self.segment_spacing(from_client);
        let ack_delay = self.answer_delay(!from_client);
        let base = self.sender(from_client).next_seq;
        let count = payload.len().div_ceil(MSS);
        let mut time = time;
        let mut last = time;
        let mut index = 0;
        let mut unacked = 0;
        while index < count {
            let order: &[usize] = match self.fate() {
                Fate::SwappedWithNext if index + 1 < count => &[1, 0],
                Fate::Missed => &[],
                Fate::Retransmitted => {
                    let retransmission = time + RETRANSMISSION_TIMEOUT + self.link.rtt;
                    self.data(from_client, retransmission, base, payload, index, out);
                    last = last.max(retransmission);
                    &[0]
                }
                _ => &[0],
            };
            for (position, offset) in order.iter().enumerate() {
                let sent = time + spacing * position as u64;
                self.data(from_client, sent, base, payload, index + offset, out);
            }
            let consumed = order.len().max(1);
            time += spacing * consumed as u64;
            index += consumed;
            unacked += consumed;
            if unacked >= 2 || index == count {
                unacked = 0;
                let acked = base.wrapping_add((index * MSS).min(payload.len()) as u32);
                let ack_time = time - spacing + ack_delay;
                self.ack_up_to(!from_client, ack_time, acked, out);
                last = last.max(ack_time);
            }
        }
        self.sender(from_client).next_seq = base.wrapping_add(payload.len() as u32);
        last.max(time)
    }

    /// FIN from one side, FIN from the other, last ACK.
    pub fn close(&mut self, from_client: bool, time: Nanos, out: &mut PacketQueue) -> Nanos {
        self.control(from_client, time, FIN | ACK, &[], out);
        let reply = time + self.answer_delay(!from_client);
        self.control(!from_client, reply, FIN | ACK, &[], out);
        let last = reply + self.answer_delay(from_client);
        self.control(from_client, last, ACK, &[], out);
        last
    }

    pub fn reset(&mut self, from_client: bool, time: Nanos, out: &mut PacketQueue) -> Nanos {
        self.control(from_client, time, RST | ACK, &[], out);
        time
    }

    fn sender(&mut self, from_client: bool) -> &mut Side {
        if from_client {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    /// How long after a packet from the other side this side's answer is seen.
    fn answer_delay(&self, from_client: bool) -> Nanos {
        if from_client {
            self.link.rtt
        } else {
            SERVER_TURNAROUND
        }
    }

    fn segment_spacing(&self, from_client: bool) -> Nanos {
        let rate = if from_client {
            self.link.client_rate_bps
        } else {
            SERVER_RATE_BPS
        };
        // Ethernet, IP and TCP headers come on top of the MSS.
        (MSS as u64 + 58) * 8 * SECOND / rate.max(1)
    }

    fn fate(&mut self) -> Fate {
        let roll = self.rng.range(0, MILLION - 1);
        let Impairments {
            missed,
            swapped,
            retransmitted,
        } = self.impairments;
        if roll < missed {
            Fate::Missed
        } else if roll < missed + swapped {
            Fate::SwappedWithNext
        } else if roll < missed + swapped + retransmitted {
            Fate::Retransmitted
        } else {
            Fate::Sent
        }
    }

    /// Data segment `index` of a burst of `payload` starting at sequence number `base`.
    fn data(
        &mut self,
        from_client: bool,
        time: Nanos,
        base: u32,
        payload: &[u8],
        index: usize,
        out: &mut PacketQueue,
    ) {
        let start = index * MSS;
        let end = (start + MSS).min(payload.len());
        let flags = if end == payload.len() { ACK | PSH } else { ACK };
        let seq = base.wrapping_add(start as u32);
        let parts = SegmentParts { seq, flags, options: &[], payload: &payload[start..end] };
        self.emit(from_client, time, parts, out);
    }

    fn ack_up_to(&mut self, from_client: bool, time: Nanos, acked: u32, out: &mut PacketQueue) {
        let seq = self.sender(from_client).next_seq;
        let (ip_id, window) = self.next_ip_id(from_client);
        let header = TcpHeader {
            seq,
            ack: acked,
            flags: ACK,
            window,
            options: &[],
        };
        let path = &self.path;
        out.push_with(time, |frame| {
            write_frame(frame, path, from_client, ip_id, &header, &[])
        });
    }

    /// A payload-less segment; SYN and FIN consume a sequence number.
    fn control(
        &mut self,
        from_client: bool,
        time: Nanos,
        flags: u8,
        options: &[u8],
        out: &mut PacketQueue,
    ) {
        let seq = self.sender(from_client).next_seq;
        let parts = SegmentParts { seq, flags, options, payload: &[] };
        self.emit(from_client, time, parts, out);
        if flags & (SYN | FIN) != 0 {
            let side = self.sender(from_client);
            side.next_seq = side.next_seq.wrapping_add(1);
        }
    }

    fn emit(&mut self, from_client: bool, time: Nanos, parts: SegmentParts<'_>, out: &mut PacketQueue) {
        let SegmentParts { seq, flags, options, payload } = parts;
        // A bare SYN acknowledges nothing.
        let ack = if flags == SYN {
            0
        } else {
            self.sender(!from_client).next_seq
        };
        let (ip_id, window) = self.next_ip_id(from_client);
        let header = TcpHeader {
            seq,
            ack,
            flags,
            window,
            options,
        };
        let path = &self.path;
        out.push_with(time, |frame| {
            write_frame(frame, path, from_client, ip_id, &header, payload)
        });
    }

    fn next_ip_id(&mut self, from_client: bool) -> (u16, u16) {
        let side = self.sender(from_client);
        side.ip_id = side.ip_id.wrapping_add(1);
        (side.ip_id, side.window)
    }
}

/// What one segment carries; `emit` adds the acknowledgement, IP id and window.
struct SegmentParts<'a> {
    seq: u32,
    flags: u8,
    options: &'a [u8],
    payload: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::frame::test_path;

    /// One decoded packet: (time, from client, seq, ack, flags, payload length).
    type Seen = (Nanos, bool, u32, u32, u8, usize);

    const RTT: Nanos = 10 * MILLISECOND;

    fn flow(impairments: Impairments) -> TcpFlow {
        let path = test_path(80);
        let link = Link {
            rtt: RTT,
            client_rate_bps: 100_000_000,
        };
        TcpFlow::new(path, link, impairments, Rng::new(3))
    }

    fn seen(queue: &mut PacketQueue) -> Vec<Seen> {
        let mut packets = Vec::new();
        while let Some((time, frame)) = queue.pop_due(Nanos::MAX) {
            let tcp = &frame[34..];
            let word = |at: usize| u32::from_be_bytes(tcp[at..at + 4].try_into().unwrap());
            let from_client = tcp[..2] == 50_000u16.to_be_bytes();
            let header_len = usize::from(tcp[12] >> 4) * 4;
            packets.push((
                time,
                from_client,
                word(4),
                word(8),
                tcp[13],
                tcp.len() - header_len,
            ));
        }
        packets
    }

    #[test]
    fn handshake_data_and_close_keep_sequence_numbers_consistent() {
        let mut flow = flow(Impairments::default());
        let (client_isn, server_isn) = (flow.client.next_seq, flow.server.next_seq);
        let mut queue = PacketQueue::default();
        let opened = flow.open(0, &mut queue);
        assert_eq!(opened, SERVER_TURNAROUND + RTT);
        let sent = flow.send(true, opened, &[b'x'; 3000], &mut queue);
        let closed = flow.close(false, sent, &mut queue);
        let packets = seen(&mut queue);
        let c = client_isn.wrapping_add(1);
        let s = server_isn.wrapping_add(1);
        assert_eq!(
            packets[..3],
            [
                (0, true, client_isn, 0, SYN, 0),
                (SERVER_TURNAROUND, false, server_isn, c, SYN | ACK, 0),
                (opened, true, c, s, ACK, 0),
            ]
        );
        let data: Vec<_> = packets.iter().filter(|p| p.5 > 0).collect();
        assert_eq!(data.len(), 3);
        assert_eq!((data[0].2, data[0].4, data[0].5), (c, ACK, 1460));
        assert_eq!(
            (data[2].2, data[2].4, data[2].5),
            (c.wrapping_add(2920), ACK | PSH, 80)
        );
        // ACKs every second segment and at the end, from the server.
        let before_close = &packets[..packets.len() - 3];
        let acks: Vec<u32> = before_close
            .iter()
            .filter(|p| !p.1 && p.4 == ACK)
            .map(|p| p.3)
            .collect();
        assert_eq!(acks, [c.wrapping_add(2920), c.wrapping_add(3000)]);
        // Server-initiated close: FIN, client FIN one round trip later, last ACK.
        let end = &packets[packets.len() - 3..];
        assert_eq!(end[0], (sent, false, s, c.wrapping_add(3000), FIN | ACK, 0));
        assert_eq!(
            end[1],
            (
                sent + RTT,
                true,
                c.wrapping_add(3000),
                s.wrapping_add(1),
                FIN | ACK,
                0
            )
        );
        assert_eq!(end[2].4, ACK);
        assert_eq!(closed, end[2].0);
    }

    #[test]
    fn server_data_is_acked_a_round_trip_later() {
        let mut flow = flow(Impairments::default());
        let mut queue = PacketQueue::default();
        let end = flow.send(false, 1_000, &[0; 100], &mut queue);
        let packets = seen(&mut queue);
        assert_eq!(packets.len(), 2);
        assert_eq!(
            (packets[0].0, packets[0].1, packets[0].5),
            (1_000, false, 100)
        );
        assert_eq!(
            (packets[1].0, packets[1].1, packets[1].4),
            (1_000 + RTT, true, ACK)
        );
        assert_eq!(end, 1_000 + RTT);
    }

    #[test]
    fn missed_segments_leave_a_hole_but_are_acked() {
        let mut flow = flow(Impairments {
            missed: MILLION,
            ..Impairments::default()
        });
        let base = flow.client.next_seq;
        let mut queue = PacketQueue::default();
        flow.send(true, 0, &[1; 2000], &mut queue);
        let packets = seen(&mut queue);
        assert!(packets.iter().all(|p| p.5 == 0));
        assert_eq!(packets.last().unwrap().3, base.wrapping_add(2000));
        assert_eq!(flow.client.next_seq, base.wrapping_add(2000));
    }

    #[test]
    fn swapped_segments_arrive_out_of_order() {
        let mut flow = flow(Impairments {
            swapped: MILLION,
            ..Impairments::default()
        });
        let base = flow.client.next_seq;
        let mut queue = PacketQueue::default();
        flow.send(true, 0, &[1; 3000], &mut queue);
        let seqs: Vec<u32> = seen(&mut queue)
            .iter()
            .filter(|p| p.5 > 0)
            .map(|p| p.2.wrapping_sub(base))
            .collect();
        // Two swapped, then the last one alone (it has no next to swap with).
        assert_eq!(seqs, [1460, 0, 2920]);
    }

    #[test]
    fn retransmissions_repeat_a_segment_after_the_timeout() {
        let mut flow = flow(Impairments {
            retransmitted: MILLION,
            ..Impairments::default()
        });
        let mut queue = PacketQueue::default();
        let end = flow.send(true, 0, &[1; 100], &mut queue);
        let data: Vec<Seen> = seen(&mut queue).into_iter().filter(|p| p.5 > 0).collect();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0].2, data[1].2);
        assert_eq!(data[1].0, RETRANSMISSION_TIMEOUT + RTT);
        assert_eq!(end, RETRANSMISSION_TIMEOUT + RTT);
    }

    #[test]
    fn reset_sends_one_rst() {
        let mut flow = flow(Impairments::default());
        let mut queue = PacketQueue::default();
        assert_eq!(flow.reset(true, 5, &mut queue), 5);
        let packets = seen(&mut queue);
        assert_eq!(packets.len(), 1);
        assert_eq!((packets[0].1, packets[0].4), (true, RST | ACK));
    }
}
