//! Connection-table scenarios: segments in, the handler's exact calls out.

use std::net::{IpAddr, Ipv4Addr};

use super::assembler::tests::permutations;
use crate::test_rng::Rng;
use super::*;
use crate::decode::{TcpFlags, TcpSegment};

/// One handler call, consecutive data of a connection's direction merged.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Open(ConnMeta),
    Data(ConnId, Direction, Vec<u8>),
    Gap(ConnId, Direction, u64),
    Close(ConnectionRecord),
}

#[derive(Default)]
struct Recording {
    events: Vec<Event>,
    /// The timestamp of every data and gap call.
    times: Vec<Timestamp>,
}

impl StreamHandler for Recording {
    type State = ConnId;

    fn open(&mut self, meta: &ConnMeta) -> ConnId {
        self.events.push(Event::Open(meta.clone()));
        meta.conn_id
    }

    fn data(
        &mut self,
        state: &mut ConnId,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) {
        assert_eq!(*state, meta.conn_id, "state of another connection");
        self.times.push(ts);
        assert!(!bytes.is_empty(), "empty data");
        match self.events.last_mut() {
            Some(Event::Data(id, last_dir, last)) if *id == meta.conn_id && *last_dir == dir => {
                last.extend_from_slice(bytes)
            }
            _ => self
                .events
                .push(Event::Data(meta.conn_id, dir, bytes.to_vec())),
        }
    }

    fn gap(
        &mut self,
        state: &mut ConnId,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        len: u64,
    ) {
        assert_eq!(*state, meta.conn_id, "state of another connection");
        self.times.push(ts);
        assert!(len > 0, "empty gap");
        self.events.push(Event::Gap(meta.conn_id, dir, len));
    }

    fn close(&mut self, state: ConnId, record: &ConnectionRecord) {
        assert_eq!(state, record.meta.conn_id, "state of another connection");
        self.events.push(Event::Close(record.clone()));
    }
}

type Endpoint = (IpAddr, u16);

const CLIENT: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 50000);
const SERVER: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443);
const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;
/// Sequence numbers of the first data byte of each side after the handshake.
const C1: u32 = C_ISN + 1;
const S1: u32 = S_ISN + 1;

use Direction::{ToClient as TC, ToServer as TS};

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
}

/// A segment from `from` to `to`; `flags` in tcpdump letters (`S`, `A`, `F`, `R`, `P`).
fn seg_between<'a>(
    ms: i64,
    from: Endpoint,
    to: Endpoint,
    seq: u32,
    ack: u32,
    flags: &str,
    payload: &'a [u8],
) -> TcpSegment<'a> {
    TcpSegment {
        ts: ts(ms),
        src_ip: from.0,
        dst_ip: to.0,
        src_port: from.1,
        dst_port: to.1,
        seq,
        ack,
        flags: TcpFlags {
            syn: flags.contains('S'),
            ack: flags.contains('A'),
            fin: flags.contains('F'),
            rst: flags.contains('R'),
            psh: flags.contains('P'),
        },
        window: 8192,
        payload,
        payload_missing: 0,
        ip_len: 40 + payload.len() as u32,
    }
}

fn c<'a>(ms: i64, seq: u32, ack: u32, flags: &str, payload: &'a [u8]) -> TcpSegment<'a> {
    seg_between(ms, CLIENT, SERVER, seq, ack, flags, payload)
}

fn s<'a>(ms: i64, seq: u32, ack: u32, flags: &str, payload: &'a [u8]) -> TcpSegment<'a> {
    seg_between(ms, SERVER, CLIENT, seq, ack, flags, payload)
}

fn handshake() -> Vec<TcpSegment<'static>> {
    vec![
        c(0, C_ISN, 0, "S", b""),
        s(1, S_ISN, C1, "SA", b""),
        c(2, C1, S1, "A", b""),
    ]
}

/// The handshake, a request and its response, FINs both ways (the client's first) and the
/// last ACK, 0 to 7 ms.
fn closed_exchange() -> Vec<TcpSegment<'static>> {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"request"),
        s(4, S1, C1 + 7, "PA", b"response!"),
        c(5, C1 + 7, S1 + 9, "FA", b""),
        s(6, S1 + 9, C1 + 8, "FA", b""),
        c(7, C1 + 8, S1 + 10, "A", b""),
    ]);
    segs
}

fn run_with(config: ReassemblyConfig, segs: &[TcpSegment<'_>]) -> (Vec<Event>, ReassemblyStats) {
    let mut table = ConnectionTable::new(config, Recording::default());
    for seg in segs {
        table.segment(seg);
    }
    let (recording, stats) = table.finish();
    (recording.events, stats)
}

fn run(segs: &[TcpSegment<'_>]) -> (Vec<Event>, ReassemblyStats) {
    run_with(ReassemblyConfig::default(), segs)
}

fn opened(events: &[Event]) -> Vec<ConnMeta> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Open(meta) = e {
                Some(meta.clone())
            } else {
                None
            }
        })
        .collect()
}

fn records(events: &[Event]) -> Vec<ConnectionRecord> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Close(record) = e {
                Some(record.clone())
            } else {
                None
            }
        })
        .collect()
}

/// The only connection's events: open, data and gaps, close (asserted to be one connection).
fn single(events: &[Event]) -> (ConnId, ConnectionRecord) {
    let metas = opened(events);
    assert_eq!(metas.len(), 1, "{events:#?}");
    let recs = records(events);
    assert_eq!(recs.len(), 1, "{events:#?}");
    assert_eq!(events.first(), Some(&Event::Open(metas[0].clone())));
    assert_eq!(events.last(), Some(&Event::Close(recs[0].clone())));
    (metas[0].conn_id, recs[0].clone())
}

/// The data and gap events of one connection.
fn flow(events: &[Event], id: ConnId) -> Vec<Event> {
    events
        .iter()
        .filter(|e| matches!(e, Event::Data(i, ..) | Event::Gap(i, ..) if *i == id))
        .cloned()
        .collect()
}

fn data(id: ConnId, dir: Direction, bytes: &[u8]) -> Event {
    Event::Data(id, dir, bytes.to_vec())
}

fn meta(ms: i64, client: Endpoint, server: Endpoint) -> ConnMeta {
    ConnMeta::new(ts(ms), client, server)
}

#[test]
fn in_order_exchange_with_fin_both_ways() {
    let (events, stats) = run(&closed_exchange());
    let (id, record) = single(&events);
    let expected_meta = meta(0, CLIENT, SERVER);
    assert_eq!(events[0], Event::Open(expected_meta.clone()));
    assert_eq!(
        flow(&events, id),
        vec![data(id, TS, b"request"), data(id, TC, b"response!")]
    );
    assert_eq!(
        record,
        ConnectionRecord {
            meta: expected_meta,
            ts_last: ts(6),
            start: ConnStart::Handshake,
            end: ConnEnd::Fin,
            closed_by: Some(TS),
            // The last ACK, after the close, counts (as in Zeek) but does not move `ts_last`.
            to_server: DirectionStats {
                packets: 5,
                bytes: 7,
                ip_bytes: 5 * 40 + 7,
                ..DirectionStats::default()
            },
            to_client: DirectionStats {
                packets: 3,
                bytes: 9,
                ip_bytes: 3 * 40 + 9,
                ..DirectionStats::default()
            },
        }
    );
    assert_eq!(
        stats,
        ReassemblyStats {
            connections: 1,
            midstream_connections: 0,
            peak_live_connections: 1,
            late_segments: 1
        }
    );
}

#[test]
fn out_of_order_segments_in_every_order() {
    let stream = b"abcdefghij";
    for cuts in [vec![0, 4, 10], vec![0, 3, 5, 10]] {
        let pieces: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
        for order in permutations(pieces.len()) {
            let mut segs = handshake();
            for &i in &order {
                let (from, to) = pieces[i];
                segs.push(c(3, C1 + from as u32, S1, "PA", &stream[from..to]));
            }
            let (events, _) = run(&segs);
            let (id, record) = single(&events);
            assert_eq!(
                flow(&events, id),
                vec![data(id, TS, stream)],
                "order {order:?}"
            );
            assert_eq!(record.to_server.bytes, 10);
            assert_eq!(
                (record.to_server.gaps, record.to_server.retransmitted_bytes),
                (0, 0)
            );
            assert_eq!(record.end, ConnEnd::Open);
        }
    }
}

#[test]
fn exact_duplicate_is_a_retransmission() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"abc"),
        c(4, C1, S1, "PA", b"abc"),
        c(5, C1 + 3, S1, "PA", b"de"),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"abcde")]);
    assert_eq!(
        (
            record.to_server.retransmitted_bytes,
            record.to_server.conflicting_bytes
        ),
        (3, 0)
    );
    assert_eq!(record.to_server.bytes, 5);
    assert_eq!(record.to_server.packets, 5);
}

#[test]
fn partial_overlap_with_the_same_bytes() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"abcd"),
        c(4, C1 + 6, S1, "PA", b"ghi"),
        c(5, C1 + 2, S1, "PA", b"cdefgh"),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"abcdefghi")]);
    assert_eq!(
        (
            record.to_server.retransmitted_bytes,
            record.to_server.conflicting_bytes
        ),
        (4, 0)
    );
}

#[test]
fn conflicting_overlap_keeps_the_first_copy() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1 + 4, S1, "PA", b"EFGH"),
        c(4, C1 + 2, S1, "PA", b"cdXYGH"),
        c(5, C1, S1, "PA", b"ab"),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"abcdEFGH")]);
    assert_eq!(
        (
            record.to_server.retransmitted_bytes,
            record.to_server.conflicting_bytes
        ),
        (4, 2)
    );
}

#[test]
fn sequence_numbers_wrap_around() {
    let isn = u32::MAX - 3;
    let segs = [
        c(0, isn, 0, "S", b""),
        s(1, S_ISN, isn.wrapping_add(1), "SA", b""),
        c(2, isn.wrapping_add(1), S1, "PA", b"abc"),
        c(3, isn.wrapping_add(7), S1, "PA", b"ghi"),
        c(4, isn.wrapping_add(4), S1, "PA", b"def"),
        s(5, S1, isn.wrapping_add(10), "A", b""),
    ];
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"abcdefghi")]);
    assert_eq!((record.to_server.bytes, record.to_server.gaps), (9, 0));
}

#[test]
fn handshake_variants_set_the_start() {
    let (events, stats) = run(&handshake());
    assert_eq!(single(&events).1.start, ConnStart::Handshake);
    assert_eq!(stats.midstream_connections, 0);

    let (events, _) = run(&[c(0, C_ISN, 0, "S", b""), c(1000, C_ISN, 0, "S", b"")]);
    let (_, record) = single(&events);
    assert_eq!(
        (record.start, record.end, record.to_server.packets),
        (ConnStart::SynOnly, ConnEnd::Open, 2)
    );

    // The SYN-ACK alone: its receiver is the client, whatever the ports say.
    let (events, _) = run(&[seg_between(0, SERVER, CLIENT, S_ISN, C1, "SA", b"")]);
    let (_, record) = single(&events);
    assert_eq!(record.start, ConnStart::SynAckOnly);
    assert_eq!(record.meta, meta(0, CLIENT, SERVER));

    // A SYN retransmitted after the SYN-ACK was captured first belongs to the same connection.
    let (events, _) = run(&[
        s(0, S_ISN, C1, "SA", b""),
        c(1, C_ISN, 0, "S", b""),
        c(2, C1, S1, "PA", b"x"),
    ]);
    let (id, record) = single(&events);
    assert_eq!(record.start, ConnStart::Handshake);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"x")]);
}

#[test]
fn data_on_syn_and_syn_ack() {
    let segs = [
        c(0, C_ISN, 0, "S", b"early"),
        s(1, S_ISN, C1 + 5, "SA", b"hi"),
        c(2, C1 + 5, S1 + 2, "PA", b"-rest"),
        c(3, C_ISN, 0, "S", b"early"),
    ];
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            data(id, TS, b"early"),
            data(id, TC, b"hi"),
            data(id, TS, b"-rest")
        ]
    );
    assert_eq!(record.to_server.retransmitted_bytes, 5);
    assert_eq!(record.to_server.bytes, 10);
}

#[test]
fn midstream_client_decided_by_ports() {
    // First packet from the server, no payload: ports alone decide.
    let segs = [
        s(0, 7000, 3000, "A", b""),
        c(1, 3000, 7000, "PA", b"req"),
        s(2, 7000, 3003, "PA", b"resp"),
    ];
    let (events, stats) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(record.meta, meta(0, CLIENT, SERVER));
    assert_eq!(record.start, ConnStart::Midstream);
    assert_eq!(
        flow(&events, id),
        vec![data(id, TS, b"req"), data(id, TC, b"resp")]
    );
    assert_eq!(stats.midstream_connections, 1);
}

#[test]
fn midstream_client_decided_by_first_payload() {
    let high: Endpoint = (CLIENT.0, 50001);
    let low: Endpoint = (SERVER.0, 40000);
    // By ports the lower port would be the server, but the high port answers HTTP.
    let segs = [
        seg_between(0, high, low, 100, 900, "PA", b"HTTP/1.1 200 OK\r\n"),
        seg_between(1, low, high, 900, 117, "A", b""),
    ];
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(record.meta, meta(0, low, high));
    assert_eq!(
        flow(&events, id),
        vec![data(id, TC, b"HTTP/1.1 200 OK\r\n")]
    );
}

#[test]
fn missing_segment_acknowledged_by_the_peer_is_a_gap() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"0123"),
        // C1 + 4 .. C1 + 10 never captured.
        c(5, C1 + 10, S1, "PA", b"abc"),
        s(6, S1, C1 + 13, "A", b""),
        c(7, C1 + 13, S1, "PA", b"def"),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            data(id, TS, b"0123"),
            Event::Gap(id, TS, 6),
            data(id, TS, b"abcdef")
        ]
    );
    assert_eq!(
        (
            record.to_server.gaps,
            record.to_server.gap_bytes,
            record.to_server.bytes
        ),
        (1, 6, 16)
    );
}

#[test]
fn hole_before_fin_waits_for_the_peers_ack() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"ab"),
        c(4, C1 + 4, S1, "FPA", b"ef"),
        s(5, S1, C1 + 2, "FA", b""),
        // Everything up to here is still open: the client's FIN waits behind the hole.
        c(6, C1 + 7, S1 + 1, "A", b""),
        s(7, S1 + 1, C1 + 7, "A", b""),
    ]);
    let mut table = ConnectionTable::new(ReassemblyConfig::default(), Recording::default());
    for seg in &segs[..7] {
        table.segment(seg);
    }
    assert!(records(&table.handler_mut().events).is_empty());
    table.segment(&segs[7]);
    let (recording, stats) = table.finish();
    let events = recording.events;
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            data(id, TS, b"ab"),
            Event::Gap(id, TS, 2),
            data(id, TS, b"ef")
        ]
    );
    assert_eq!(
        (record.end, record.closed_by, record.ts_last),
        (ConnEnd::Fin, Some(TS), ts(7))
    );
    assert_eq!(stats.late_segments, 0);
}

#[test]
fn hole_before_fin_at_capture_end_is_a_gap() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"ab"),
        c(4, C1 + 4, S1, "FPA", b"ef"),
        s(5, S1, C1 + 2, "FA", b""),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            data(id, TS, b"ab"),
            Event::Gap(id, TS, 2),
            data(id, TS, b"ef")
        ]
    );
    assert_eq!(record.end, ConnEnd::Fin);
}

#[test]
fn out_of_order_cap_overflow_is_a_gap() {
    let config = ReassemblyConfig {
        max_out_of_order_bytes: 2 * (4 + 64),
        ..ReassemblyConfig::default()
    };
    let mut segs = handshake();
    segs.extend([
        c(3, C1 + 2, S1, "PA", b"cdef"),
        c(4, C1 + 10, S1, "PA", b"klmn"),
        c(5, C1 + 14, S1, "PA", b"uvwx"),
        c(6, C1, S1, "PA", b"ab"),
    ]);
    let (events, _) = run_with(config, &segs);
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            Event::Gap(id, TS, 2),
            data(id, TS, b"cdef"),
            Event::Gap(id, TS, 4),
            data(id, TS, b"klmnuvwx")
        ]
    );
    let stats = &record.to_server;
    assert_eq!(
        (
            stats.overflow_bytes,
            stats.gaps,
            stats.gap_bytes,
            stats.retransmitted_bytes
        ),
        (2, 2, 6, 2)
    );
}

#[test]
fn rst_after_fin_is_a_reset_by_its_sender() {
    let mut segs = handshake();
    segs.extend([c(3, C1, S1, "FA", b""), s(4, S1, C1 + 1, "RA", b"")]);
    let (events, _) = run(&segs);
    let (_, record) = single(&events);
    assert_eq!((record.end, record.closed_by), (ConnEnd::Reset, Some(TC)));
}

#[test]
fn rst_closes_and_flushes() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"ab"),
        c(4, C1 + 5, S1, "PA", b"fg"),
        s(5, S1, C1 + 2, "RA", b"ignored"),
        c(6, C1 + 2, S1, "PA", b"cde"),
    ]);
    let (events, stats) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            data(id, TS, b"ab"),
            Event::Gap(id, TS, 3),
            data(id, TS, b"fg")
        ]
    );
    assert_eq!((record.end, record.closed_by), (ConnEnd::Reset, Some(TC)));
    assert_eq!((record.to_client.packets, record.to_client.bytes), (2, 0));
    assert_eq!(stats.late_segments, 1);
}

#[test]
fn fin_from_both_sides_closes_once_both_are_passed() {
    let mut segs = handshake();
    segs.extend([
        s(3, S1, C1, "FPA", b"bye"),
        c(4, C1, S1 + 4, "FA", b""),
        s(5, S1 + 4, C1 + 1, "A", b""),
    ]);
    let (events, stats) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TC, b"bye")]);
    assert_eq!(
        (record.end, record.closed_by, record.ts_last),
        (ConnEnd::Fin, Some(TC), ts(4))
    );
    assert_eq!(stats.late_segments, 1);
}

#[test]
fn the_first_fin_wins() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "FPA", b"abc"),
        c(4, C1 + 5, S1, "FA", b""),
        s(5, S1, C1 + 4, "FA", b""),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"abc")]);
    assert_eq!((record.end, record.ts_last), (ConnEnd::Fin, ts(5)));
}

#[test]
fn port_reuse_after_fin_opens_a_second_connection() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "FPA", b"one"),
        s(4, S1, C1 + 4, "FA", b""),
        c(5, C1 + 4, S1 + 1, "A", b""),
        c(1000, 90000, 0, "S", b""),
        s(1001, 70000, 90001, "SA", b""),
        c(1002, 90001, 70001, "PA", b"two"),
    ]);
    let (events, stats) = run(&segs);
    let metas = opened(&events);
    assert_eq!(
        metas,
        vec![meta(0, CLIENT, SERVER), meta(1000, CLIENT, SERVER)]
    );
    let (first, second) = (metas[0].conn_id, metas[1].conn_id);
    assert_ne!(first, second);
    assert_eq!(flow(&events, first), vec![data(first, TS, b"one")]);
    assert_eq!(flow(&events, second), vec![data(second, TS, b"two")]);
    let recs = records(&events);
    assert_eq!(
        (recs[0].end, recs[0].start),
        (ConnEnd::Fin, ConnStart::Handshake)
    );
    assert_eq!(
        (recs[1].end, recs[1].start),
        (ConnEnd::Open, ConnStart::Handshake)
    );
    assert_eq!(
        (
            stats.connections,
            stats.late_segments,
            stats.peak_live_connections
        ),
        (2, 1, 1)
    );
}

#[test]
fn syn_with_another_isn_on_a_live_key_replaces_the_connection() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1 + 3, S1, "PA", b"late"),
        c(4, 77, 0, "S", b""),
        s(5, 88, 78, "SA", b""),
    ]);
    let (events, _) = run(&segs);
    let metas = opened(&events);
    assert_eq!(metas.len(), 2);
    let recs = records(&events);
    // The old one ends when the new SYN arrives, its hole flushed, before the new one opens.
    assert_eq!(
        events[1..4],
        [
            Event::Gap(metas[0].conn_id, TS, 3),
            data(metas[0].conn_id, TS, b"late"),
            Event::Close(recs[0].clone())
        ]
    );
    assert_eq!(events[4], Event::Open(metas[1].clone()));
    assert_eq!((recs[0].end, recs[0].ts_last), (ConnEnd::Idle, ts(3)));
    assert_eq!(
        (recs[1].start, recs[1].end),
        (ConnStart::Handshake, ConnEnd::Open)
    );

    // The same ISN again is a retransmitted SYN, not a new connection.
    let mut segs = handshake();
    segs.push(c(3, C_ISN, 0, "S", b""));
    let (events, _) = run(&segs);
    assert_eq!(single(&events).1.to_server.packets, 3);

    // A SYN from the server's side cannot belong to the connection, whatever its ISN.
    let mut segs = handshake();
    segs.push(s(3, S_ISN, 0, "S", b""));
    let (events, _) = run(&segs);
    assert_eq!(opened(&events)[1], meta(3, SERVER, CLIENT));

    // A SYN-ACK from the server with another ISN is a new connection too.
    let mut segs = handshake();
    segs.push(s(3, 4444, C1, "SA", b""));
    let (events, _) = run(&segs);
    assert_eq!(opened(&events).len(), 2);
}

#[test]
fn keepalive_probes_are_counted_not_delivered() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"abc"),
        c(4, C1 + 2, S1, "A", b"\0"),
        c(5, C1 + 2, S1, "A", b""),
        s(6, S1, C1 + 3, "A", b""),
        c(7, C1 + 3, S1, "PA", b"d"),
    ]);
    let (events, _) = run(&segs);
    let (id, record) = single(&events);
    assert_eq!(flow(&events, id), vec![data(id, TS, b"abcd")]);
    assert_eq!(
        (
            record.to_server.keepalive_probes,
            record.to_server.retransmitted_bytes
        ),
        (2, 0)
    );
}

#[test]
fn zero_windows_are_counted_by_the_advertising_side() {
    let mut segs = handshake();
    let mut full = s(3, S1, C1, "A", b"");
    full.window = 0;
    let mut rst = c(4, C1, S1, "R", b"");
    rst.window = 0;
    segs.extend([full.clone(), full, rst]);
    let (events, _) = run(&segs);
    let (_, record) = single(&events);
    assert_eq!(
        (record.to_client.zero_windows, record.to_server.zero_windows),
        (2, 0)
    );
}

#[test]
fn connections_after_the_clock_steps_back_are_followed_on_their_own_time() {
    let config = ReassemblyConfig { idle_timeout_secs: 10, ..ReassemblyConfig::default() };
    let other: Endpoint = (CLIENT.0, 50001);
    // Another connection sets the clock at 100 s; then the capture steps back to 0 s, far more
    // than the idle timeout, and a whole exchange follows there.
    let mut segs = vec![seg_between(100_000, other, SERVER, 1, 0, "S", b"")];
    segs.extend(closed_exchange());
    // Idle on its own time: 20 s after the last segment, the key starts anew.
    segs.push(c(20_000, C1 + 9, S1 + 10, "PA", b"later"));
    let (events, stats) = run_with(config, &segs);
    let metas = opened(&events);
    assert_eq!(metas.iter().map(|m| m.ts_start).collect::<Vec<_>>(), [ts(100_000), ts(0), ts(20_000)]);
    let id = metas[1].conn_id;
    assert_eq!(flow(&events, id), [data(id, TS, b"request"), data(id, TC, b"response!")]);
    let exchange = records(&events).into_iter().find(|r| r.meta.conn_id == id).unwrap();
    assert_eq!((exchange.start, exchange.end, exchange.ts_last), (ConnStart::Handshake, ConnEnd::Fin, ts(6)));
    assert_eq!(exchange.to_server.packets, 5, "the last ACK counts as a late segment, as without the step");
    assert_eq!((stats.connections, stats.midstream_connections, stats.late_segments), (3, 1, 1));
}

#[test]
fn a_garbage_time_far_ahead_does_not_stop_the_sweeps() {
    let config = ReassemblyConfig { idle_timeout_secs: 10, ..ReassemblyConfig::default() };
    let (ahead, later): (Endpoint, Endpoint) = ((CLIENT.0, 50001), (CLIENT.0, 50002));
    let segs = [
        c(0, C_ISN, 0, "S", b""),
        // One packet dated 35 days ahead (a damaged record), then the capture goes on.
        seg_between(3_000_000_000, ahead, SERVER, 1, 0, "S", b""),
        seg_between(1_000, later, SERVER, 1, 0, "S", b""),
        // 29 s later (idle on its own time: the key starts anew), confirmed by the next segment.
        seg_between(30_000, later, SERVER, 2, 0, "A", b""),
        seg_between(30_001, later, SERVER, 2, 0, "A", b""),
    ];
    let mut table = ConnectionTable::new(config, Recording::default());
    for seg in &segs {
        table.segment(seg);
    }
    // The garbage time ended no connection; the first, idle since 0 s, was swept at 30 s as
    // without it; the one of the garbage time waits for the clock to pass it (here: the end).
    let recs = records(&table.handler_mut().events);
    assert_eq!(recs.iter().map(|r| (r.meta.ts_start, r.end)).collect::<Vec<_>>(), [(ts(1_000), ConnEnd::Idle), (ts(0), ConnEnd::Idle)]);
    let (recording, _) = table.finish();
    let ends: Vec<(Timestamp, ConnEnd)> = records(&recording.events).iter().map(|r| (r.meta.ts_start, r.end)).collect();
    assert_eq!(ends[2..], [(ts(3_000_000_000), ConnEnd::Open), (ts(30_000), ConnEnd::Open)]);
}

#[test]
fn idle_connections_are_evicted() {
    let config = ReassemblyConfig {
        idle_timeout_secs: 10,
        ..ReassemblyConfig::default()
    };
    let other: Endpoint = (CLIENT.0, 50001);
    let segs = [
        c(0, C_ISN, 0, "S", b""),
        c(100, C1, S1, "PA", b"x"),
        seg_between(10_100, other, SERVER, 1, 0, "S", b""),
        // The next sweep, a second later.
        seg_between(11_100, other, SERVER, 1, 0, "S", b""),
        // After the timeout on the same key: a new, mid-stream connection.
        c(30_000, C1 + 1, S1, "PA", b"y"),
    ];
    let mut table = ConnectionTable::new(config.clone(), Recording::default());
    for seg in &segs[..3] {
        table.segment(seg);
    }
    assert!(
        records(&table.handler_mut().events).is_empty(),
        "not idle at exactly the timeout"
    );
    table.segment(&segs[3]);
    let recs = records(&table.handler_mut().events);
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].end, recs[0].ts_last), (ConnEnd::Idle, ts(100)));
    table.segment(&segs[4]);
    let (recording, stats) = table.finish();
    let metas = opened(&recording.events);
    assert_eq!(metas.len(), 3);
    assert_eq!(metas[2], meta(30_000, CLIENT, SERVER));
    let recs = records(&recording.events);
    assert_eq!(
        recs.iter().map(|r| r.end).collect::<Vec<_>>(),
        [ConnEnd::Idle, ConnEnd::Idle, ConnEnd::Open]
    );
    assert_eq!(recs[2].start, ConnStart::Midstream);
    assert_eq!(
        (
            stats.connections,
            stats.midstream_connections,
            stats.peak_live_connections
        ),
        (3, 1, 2)
    );

    // Idle past the timeout but before the next sweep: found idle when its next segment comes.
    let segs = [
        c(0, C_ISN, 0, "S", b""),
        seg_between(9_500, other, SERVER, 1, 0, "S", b""),
        c(10_200, C1, S1, "PA", b"z"),
    ];
    let (events, _) = run_with(config, &segs);
    let recs = records(&events);
    assert_eq!(
        recs.iter().map(|r| r.end).collect::<Vec<_>>(),
        [ConnEnd::Idle, ConnEnd::Open, ConnEnd::Open]
    );
    assert_eq!(
        (recs[0].meta.ts_start, recs[2].meta.ts_start, recs[2].start),
        (ts(0), ts(10_200), ConnStart::Midstream)
    );
}

#[test]
fn linger_absorbs_late_segments_then_forgets() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "RA", b""),
        s(4, S1, C1, "A", b""),
        // A retransmitted SYN-ACK is late too.
        s(5, S_ISN, C1, "SA", b""),
        s(5_003, S1, C1, "PA", b"x"),
        // After the 5 s linger: a new, mid-stream connection.
        s(5_004, S1, C1, "PA", b"y"),
    ]);
    let (events, stats) = run(&segs);
    let metas = opened(&events);
    assert_eq!(metas.len(), 2);
    assert_eq!(metas[1], meta(5_004, CLIENT, SERVER));
    let recs = records(&events);
    // The three late segments count in the server's packets: its close waited for the linger.
    assert_eq!(
        (recs[0].end, recs[0].closed_by, recs[0].to_client.packets),
        (ConnEnd::Reset, Some(TS), 4)
    );
    assert_eq!(
        (recs[0].ts_last, recs[0].to_client.ip_bytes),
        (ts(3), 4 * 40 + 1)
    );
    assert_eq!(
        (recs[1].end, recs[1].start),
        (ConnEnd::Open, ConnStart::Midstream)
    );
    assert_eq!(
        flow(&events, metas[1].conn_id),
        vec![data(metas[1].conn_id, TC, b"y")]
    );
    assert_eq!(stats.late_segments, 3);

    // A SYN-ACK with another ISN is a new connection's.
    let mut segs = handshake();
    segs.extend([c(3, C1, S1, "RA", b""), s(4, 4444, C1, "SA", b"")]);
    let (events, stats) = run(&segs);
    let recs = records(&events);
    assert_eq!(
        recs.iter().map(|r| r.start).collect::<Vec<_>>(),
        [ConnStart::Handshake, ConnStart::SynAckOnly]
    );
    assert_eq!(stats.late_segments, 0);
}

#[test]
fn close_waits_for_the_end_of_the_linger() {
    let other: Endpoint = (CLIENT.0, 50001);
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "FPA", b"q"),
        s(4, S1, C1 + 2, "FA", b""),
        c(5, C1 + 2, S1 + 1, "A", b""),
        seg_between(3_000, other, SERVER, 1, 0, "S", b""),
        // The linger ends at 5_004; the sweep at the next segment closes the connection.
        seg_between(5_005, other, SERVER, 1, 0, "S", b""),
    ]);
    let mut table = ConnectionTable::new(ReassemblyConfig::default(), Recording::default());
    for seg in &segs[..7] {
        table.segment(seg);
    }
    let id = meta(0, CLIENT, SERVER).conn_id;
    // Every byte is passed on at the close, but not the record yet.
    assert_eq!(
        flow(&table.handler_mut().events, id),
        vec![data(id, TS, b"q")]
    );
    assert!(records(&table.handler_mut().events).is_empty());
    table.segment(&segs[7]);
    let recs = records(&table.handler_mut().events);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0].meta.conn_id,
            recs[0].end,
            recs[0].ts_last,
            recs[0].to_server.packets,
            recs[0].to_server.ip_bytes
        ),
        (id, ConnEnd::Fin, ts(4), 4, 4 * 40 + 1)
    );
    let (recording, stats) = table.finish();
    assert_eq!(records(&recording.events).len(), 2);
    assert_eq!((stats.late_segments, stats.peak_live_connections), (1, 1));
}

#[test]
fn capture_end_closes_live_and_lingering_connections_in_opening_order() {
    let client = |port: u16| (CLIENT.0, port);
    let segs = [
        seg_between(0, client(50001), SERVER, 1, 0, "S", b""),
        seg_between(1, client(50002), SERVER, 1, 0, "S", b""),
        seg_between(2, client(50003), SERVER, 1, 0, "S", b""),
        seg_between(3, client(50002), SERVER, 2, 0, "R", b""),
        seg_between(4, SERVER, client(50002), 9, 0, "A", b""),
    ];
    let (events, _) = run(&segs);
    let recs = records(&events);
    assert_eq!(
        recs.iter()
            .map(|r| (r.meta.client_port, r.end, r.to_client.packets))
            .collect::<Vec<_>>(),
        [
            (50001, ConnEnd::Open, 0),
            (50002, ConnEnd::Reset, 1),
            (50003, ConnEnd::Open, 0)
        ]
    );
}

#[test]
fn capture_end_flushes_open_and_half_closed_connections() {
    let other: Endpoint = (CLIENT.0, 50001);
    let mut segs = handshake();
    segs.extend([
        c(3, C1, S1, "PA", b"ab"),
        c(4, C1 + 4, S1, "PA", b"ef"),
        seg_between(5, other, SERVER, 10, 0, "S", b""),
        seg_between(6, other, SERVER, 11, 0, "FPA", b"q"),
    ]);
    let (events, stats) = run(&segs);
    let metas = opened(&events);
    let recs = records(&events);
    assert_eq!(
        flow(&events, metas[0].conn_id),
        vec![
            data(metas[0].conn_id, TS, b"ab"),
            Event::Gap(metas[0].conn_id, TS, 2),
            data(metas[0].conn_id, TS, b"ef")
        ]
    );
    assert_eq!(
        recs.iter()
            .map(|r| (r.meta.conn_id, r.end))
            .collect::<Vec<_>>(),
        [
            (metas[0].conn_id, ConnEnd::Open),
            (metas[1].conn_id, ConnEnd::HalfClosed)
        ]
    );
    assert_eq!(recs[1].closed_by, Some(TS));
    assert_eq!(stats.peak_live_connections, 2);
}

#[test]
fn snap_length_cut_bytes_are_a_gap() {
    let mut segs = handshake();
    let mut cut = c(3, C1, S1, "PA", b"abcd");
    cut.payload_missing = 6;
    cut.ip_len = 40 + 10;
    let mut cut_out_of_order = c(5, C1 + 14, S1, "PA", b"op");
    cut_out_of_order.payload_missing = 2;
    cut_out_of_order.ip_len = 40 + 4;
    segs.extend([
        cut,
        cut_out_of_order,
        c(4, C1 + 10, S1, "PA", b"klmn"),
        s(6, S1, C1 + 18, "A", b""),
    ]);
    let mut table = ConnectionTable::new(ReassemblyConfig::default(), Recording::default());
    for seg in &segs[..4] {
        table.segment(seg);
    }
    // The cut bytes follow the stream directly: a gap at once.
    assert_eq!(
        table.handler_mut().events.last(),
        Some(&Event::Gap(meta(0, CLIENT, SERVER).conn_id, TS, 6))
    );
    for seg in &segs[4..] {
        table.segment(seg);
    }
    let events = table.finish().0.events;
    let (id, record) = single(&events);
    assert_eq!(
        flow(&events, id),
        vec![
            data(id, TS, b"abcd"),
            Event::Gap(id, TS, 6),
            data(id, TS, b"klmnop"),
            Event::Gap(id, TS, 2)
        ]
    );
    assert_eq!(
        (
            record.to_server.bytes,
            record.to_server.gap_bytes,
            record.to_server.ip_bytes
        ),
        (18, 8, 2 * 40 + (40 + 10) + (40 + 4) + (40 + 4))
    );
}

#[test]
fn ids_are_stable_across_runs_and_distinct() {
    let other: Endpoint = (CLIENT.0, 50001);
    let segs = [
        c(0, C_ISN, 0, "S", b""),
        seg_between(0, other, SERVER, 1, 0, "S", b""),
        c(1, C_ISN, 0, "S", b""),
    ];
    let (first_run, _) = run(&segs);
    let (second_run, _) = run(&segs);
    let ids: Vec<ConnId> = opened(&first_run).iter().map(|m| m.conn_id).collect();
    assert_eq!(
        ids,
        opened(&second_run)
            .iter()
            .map(|m| m.conn_id)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        ids,
        vec![
            meta(0, CLIENT, SERVER).conn_id,
            meta(0, other, SERVER).conn_id
        ]
    );
    assert_ne!(ids[0], ids[1]);
}

/// A random stream cut into random segments, sent with duplicates and overlaps in random order,
/// the last one carrying the FIN: the server sees exactly the stream.
#[test]
fn random_segmentation_and_order_reassemble_exactly() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..500 {
        let len = 1 + rng.below(3000);
        let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let isn = rng.next() as u32;
        let first = isn.wrapping_add(1);
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < len {
            let to = (at + 1 + rng.below(300)).min(len);
            pieces.push((at, to));
            at = to;
        }
        for _ in 0..rng.below(10) {
            let from = rng.below(len);
            pieces.push((from, from + 1 + rng.below(len - from)));
        }
        for i in (1..pieces.len()).rev() {
            pieces.swap(i, rng.below(i + 1));
        }
        let mut segs = vec![c(0, isn, 0, "S", b""), s(1, S_ISN, first, "SA", b"")];
        for &(from, to) in &pieces {
            let flags = if to == len { "FPA" } else { "PA" };
            segs.push(c(
                2,
                first.wrapping_add(from as u32),
                S1,
                flags,
                &stream[from..to],
            ));
        }
        let end_ack = first.wrapping_add(len as u32 + 1);
        segs.push(s(3, S1, end_ack, "FA", b""));
        let (events, _) = run(&segs);
        let (id, record) = single(&events);
        assert_eq!(
            flow(&events, id),
            vec![data(id, TS, &stream)],
            "round {round}"
        );
        assert_eq!(
            (record.end, record.to_server.bytes, record.to_server.gaps),
            (ConnEnd::Fin, len as u64, 0)
        );
        // Each later copy is a retransmission, or a keep-alive when it is one byte just below
        // the next one expected.
        let sent: usize = pieces.iter().map(|(from, to)| to - from).sum();
        let again = record.to_server.retransmitted_bytes + record.to_server.keepalive_probes;
        assert_eq!(again, (sent - len) as u64, "round {round}");
    }
}

/// As above with some segments lost to the capture (never the one with the FIN): each hole is
/// one gap of its exact size once the server acknowledges the FIN.
#[test]
fn random_losses_become_gaps_of_the_exact_size() {
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    for round in 0..500 {
        let len = 2 + rng.below(3000);
        let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < len {
            let to = (at + 1 + rng.below(300)).min(len);
            pieces.push((at, to));
            at = to;
        }
        let mut captured = vec![false; len];
        pieces.retain(|&(from, to)| {
            let keep = to == len || rng.below(4) != 0;
            if keep {
                captured[from..to].fill(true);
            }
            keep
        });
        for i in (1..pieces.len()).rev() {
            pieces.swap(i, rng.below(i + 1));
        }
        let mut segs = handshake();
        for &(from, to) in &pieces {
            let flags = if to == len { "FPA" } else { "PA" };
            segs.push(c(3, C1 + from as u32, S1, flags, &stream[from..to]));
        }
        segs.push(s(4, S1, C1 + len as u32 + 1, "FA", b""));
        let (events, _) = run(&segs);
        let (id, record) = single(&events);
        let mut expected = Vec::new();
        for (i, &byte) in stream.iter().enumerate() {
            match (expected.last_mut(), captured[i]) {
                (Some(Event::Data(_, _, bytes)), true) => bytes.push(byte),
                (Some(Event::Gap(_, _, n)), false) => *n += 1,
                (_, true) => expected.push(data(id, TS, &[byte])),
                (_, false) => expected.push(Event::Gap(id, TS, 1)),
            }
        }
        assert_eq!(flow(&events, id), expected, "round {round}");
        let missed = captured.iter().filter(|&&c| !c).count() as u64;
        assert_eq!(
            (
                record.end,
                record.to_server.bytes,
                record.to_server.gap_bytes
            ),
            (ConnEnd::Fin, len as u64, missed)
        );
    }
}

#[test]
fn connections_idle_together_are_closed_in_opening_order() {
    let config = ReassemblyConfig {
        idle_timeout_secs: 10,
        ..ReassemblyConfig::default()
    };
    let mut segs: Vec<TcpSegment<'_>> = (0..8)
        .map(|i| seg_between(i, (CLIENT.0, 50_100 - i as u16), SERVER, 1, 0, "S", b""))
        .collect();
    segs.push(seg_between(
        20_000,
        (CLIENT.0, 60_000),
        SERVER,
        1,
        0,
        "S",
        b"",
    ));
    let (events, _) = run_with(config, &segs);
    let opened: Vec<ConnId> = opened(&events).iter().map(|m| m.conn_id).collect();
    let closed: Vec<ConnId> = records(&events).iter().map(|r| r.meta.conn_id).collect();
    assert_eq!(opened, closed);
    assert_eq!(
        records(&events)[..8]
            .iter()
            .filter(|r| r.end == ConnEnd::Idle)
            .count(),
        8
    );
}

#[test]
fn handler_calls_carry_the_segments_time_or_the_last_packets() {
    let mut segs = handshake();
    segs.extend([
        c(3, C1 + 2, S1, "PA", b"cd"),
        c(4, C1, S1, "PA", b"ab"),
        c(5, C1 + 6, S1, "PA", b"gh"),
    ]);
    let mut table = ConnectionTable::new(ReassemblyConfig::default(), Recording::default());
    for seg in &segs {
        table.segment(seg);
    }
    let recording = table.finish().0;
    // "ab" then the buffered "cd" when "ab" came; the hole and "gh" at the end, stamped with the
    // connection's last packet.
    assert_eq!(recording.times, vec![ts(4), ts(4), ts(5), ts(5)]);
}

/// The events as one line each, connections named by the order they opened in (`#0 open 1000`,
/// `#0 a1`, `#0 close Idle after 2 packets`): for scenarios where several connections of one
/// client follow each other.
fn calls(events: &[Event]) -> Vec<String> {
    let ids: Vec<ConnId> = opened(events).iter().map(|meta| meta.conn_id).collect();
    let name = |id: &ConnId| ids.iter().position(|o| o == id).map_or(-1, |n| n as i64);
    events
        .iter()
        .map(|e| match e {
            Event::Open(meta) => format!("#{} open {}", name(&meta.conn_id), meta.client_port),
            Event::Data(id, _, bytes) => format!("#{} {}", name(id), String::from_utf8_lossy(bytes)),
            Event::Gap(id, _, len) => format!("#{} gap {len}", name(id)),
            Event::Close(r) => {
                format!("#{} close {:?} after {} packets", name(&r.meta.conn_id), r.end, r.to_server.packets + r.to_client.packets)
            }
        })
        .collect()
}

// The connection table remembers the slot of its last lookup; these check it never hands a
// segment to the wrong connection.
const A: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
const B: Endpoint = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 2000);

/// A client's segment (acknowledging the server's byte 500, where its data starts) or the
/// server's.
fn to_server(ms: i64, client: Endpoint, seq: u32, flags: &str, payload: &'static [u8]) -> TcpSegment<'static> {
    seg_between(ms, client, SERVER, seq, 500, flags, payload)
}

fn to_client(ms: i64, client: Endpoint, seq: u32, flags: &str, payload: &'static [u8]) -> TcpSegment<'static> {
    seg_between(ms, SERVER, client, seq, 0, flags, payload)
}

#[test]
fn an_evicted_connection_is_not_found_through_the_remembered_slot() {
    let config = ReassemblyConfig { idle_timeout_secs: 10, ..ReassemblyConfig::default() };
    let segs = [
        to_server(0, A, 100, "A", b"a1"),
        to_client(1, A, 500, "A", b"r1"),
        // A is idle past its timeout: swept before this lookup, its slot left empty.
        to_server(20_000, A, 102, "A", b"a2"),
        // B takes A's first slot, where A's lookups were remembered: A's segment must not go
        // to B's connection.
        to_server(40_000, B, 100, "A", b"b1"),
        to_server(40_001, A, 104, "A", b"a3"),
        to_client(40_002, B, 500, "A", b"r2"),
    ];
    let (events, stats) = run_with(config, &segs);
    assert_eq!(
        calls(&events),
        [
            "#0 open 1000",
            "#0 a1",
            "#0 r1",
            "#0 close Idle after 2 packets",
            "#1 open 1000",
            "#1 a2",
            "#1 close Idle after 1 packets",
            "#2 open 2000",
            "#2 b1",
            "#3 open 1000",
            "#3 a3",
            "#2 r2",
            "#2 close Open after 2 packets",
            "#3 close Open after 1 packets",
        ]
    );
    assert_eq!(stats.connections, 4);
}

#[test]
fn a_closed_connection_lingers_in_its_slot_then_leaves_it() {
    let config = ReassemblyConfig { close_linger_secs: 5, ..ReassemblyConfig::default() };
    let segs = [
        to_server(0, A, 100, "A", b"a1"),
        to_server(1, A, 102, "R", b""),
        // Late: counted by the lingering entry, found through the remembered slot.
        to_client(2, A, 500, "A", b""),
        to_server(3, B, 100, "A", b"b1"),
        to_client(4, A, 500, "A", b""),
        // After the linger: a new connection, not the closed one.
        to_server(10_000, A, 200, "A", b"a2"),
    ];
    let (events, stats) = run_with(config, &segs);
    assert_eq!(
        calls(&events),
        [
            "#0 open 1000",
            "#0 a1",
            "#1 open 2000",
            "#1 b1",
            "#0 close Reset after 4 packets",
            "#2 open 1000",
            "#2 a2",
            "#1 close Open after 1 packets",
            "#2 close Open after 1 packets",
        ]
    );
    assert_eq!((stats.connections, stats.late_segments), (3, 2));
}
