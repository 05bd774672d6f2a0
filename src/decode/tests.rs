//! Decoder tests: frames are built here (IP and TCP with etherparse's `PacketBuilder`, link
//! headers by hand from their published layouts) and decoded end to end.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4Header, Ipv6Extensions, Ipv6FragmentHeader, Ipv6Header,
    Ipv6RawExtHeader, PacketBuilder,
};

use super::*;

const CLIENT4: [u8; 4] = [192, 168, 1, 10];
const SERVER4: [u8; 4] = [10, 0, 0, 5];
const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
const SERVER6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05];
const CLIENT_PORT: u16 = 50_000;
const SERVER_PORT: u16 = 443;
const SEQ: u32 = 1_000_000;
const ACK: u32 = 2_000_000;
const WINDOW: u16 = 8192;
const TS: Timestamp = Timestamp::from_secs_nanos(1_700_000_000, 0);

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_NONE: u16 = 0xfffe;
const ARPHRD_NETLINK: u16 = 824;

// ---- Frame builders ----------------------------------------------------------------------

/// Payload bytes whose values show their offsets.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A raw IPv4 packet: TCP client → server with ACK+PSH.
fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ipv4(CLIENT4, SERVER4, 64)
        .tcp(CLIENT_PORT, SERVER_PORT, SEQ, WINDOW)
        .ack(ACK)
        .psh();
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ipv6(CLIENT6, SERVER6, 64)
        .tcp(CLIENT_PORT, SERVER_PORT, SEQ, WINDOW)
        .ack(ACK)
        .psh();
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

/// A raw IPv6 packet with a hop-by-hop and a destination options header before TCP.
fn ipv6_tcp_with_extensions(payload: &[u8]) -> Vec<u8> {
    let header =
        Ipv6Header { hop_limit: 64, source: CLIENT6, destination: SERVER6, ..Default::default() };
    let extensions = Ipv6Extensions {
        hop_by_hop_options: Some(
            Ipv6RawExtHeader::new_raw(IpNumber::TCP, &[1, 4, 0, 0, 0, 0]).unwrap(),
        ),
        destination_options: Some(
            Ipv6RawExtHeader::new_raw(IpNumber::TCP, &[1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .unwrap(),
        ),
        ..Default::default()
    };
    let builder = PacketBuilder::ip(IpHeaders::Ipv6(header, extensions))
        .tcp(CLIENT_PORT, SERVER_PORT, SEQ, WINDOW)
        .ack(ACK)
        .psh();
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn segment_v4(payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        ts: TS,
        src_ip: IpAddr::V4(Ipv4Addr::from(CLIENT4)),
        dst_ip: IpAddr::V4(Ipv4Addr::from(SERVER4)),
        src_port: CLIENT_PORT,
        dst_port: SERVER_PORT,
        seq: SEQ,
        ack: ACK,
        flags: TcpFlags { ack: true, psh: true, ..TcpFlags::default() },
        window: WINDOW,
        payload,
        payload_missing: 0,
        ip_len: 40 + payload.len() as u32,
    }
}

fn segment_v6(payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        src_ip: IpAddr::V6(Ipv6Addr::from(CLIENT6)),
        dst_ip: IpAddr::V6(Ipv6Addr::from(SERVER6)),
        ip_len: 60 + payload.len() as u32,
        ..segment_v4(payload)
    }
}

fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An Ethernet frame with a stack of VLAN tags: `tpids[0]` is the outermost tag's type.
fn vlan_tagged(tpids: &[u16], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut inner = Vec::new();
    for (i, _) in tpids.iter().enumerate() {
        let next = tpids.get(i + 1).copied().unwrap_or(ether_type);
        let tci = 100 + i as u16; // priority 0, VLAN id 100, 101, ...
        inner.extend_from_slice(&tci.to_be_bytes());
        inner.extend_from_slice(&next.to_be_bytes());
    }
    inner.extend_from_slice(payload);
    ethernet(tpids[0], &inner)
}

/// Linux cooked capture v1: packet type, hardware type, address length, address, protocol.
fn sll(hardware: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, 0];
    frame.extend_from_slice(&hardware.to_be_bytes());
    frame.extend_from_slice(&[0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    frame.extend_from_slice(&protocol.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Linux cooked capture v2: protocol, reserved, interface index, hardware type, packet type,
/// address length, address.
fn sll2(hardware: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = protocol.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 0, 0, 0, 0, 3]);
    frame.extend_from_slice(&hardware.to_be_bytes());
    frame.extend_from_slice(&[4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

fn loopback(family: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut frame = family.to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// A frame as the capture stage hands it over, owning its bytes.
struct OwnedPacket {
    ts: Timestamp,
    link_type: Linktype,
    orig_len: u32,
    data: Vec<u8>,
}

impl OwnedPacket {
    fn view(&self) -> PacketRef<'_> {
        PacketRef {
            ts: self.ts,
            link_type: self.link_type,
            orig_len: self.orig_len,
            data: &self.data,
        }
    }
}

fn packet_at(ts: Timestamp, link_type: Linktype, data: Vec<u8>) -> OwnedPacket {
    OwnedPacket { ts, link_type, orig_len: data.len() as u32, data }
}

fn packet(link_type: Linktype, data: Vec<u8>) -> OwnedPacket {
    packet_at(TS, link_type, data)
}

fn skipped(decoder: &Decoder) -> Vec<(&str, u64)> {
    decoder.stats().skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

// ---- Link types --------------------------------------------------------------------------

#[test]
fn every_link_type_yields_the_segment() {
    let data = payload(30);
    let v4 = ipv4_tcp(&data);
    let v6 = ipv6_tcp(&data);
    let cases: Vec<(&str, Linktype, Vec<u8>, TcpSegment)> = vec![
        ("ethernet ipv4", Linktype::ETHERNET, ethernet(ETHERTYPE_IPV4, &v4), segment_v4(&data)),
        ("ethernet ipv6", Linktype::ETHERNET, ethernet(ETHERTYPE_IPV6, &v6), segment_v6(&data)),
        (
            "sll ethernet",
            Linktype::LINUX_SLL,
            sll(ARPHRD_ETHER, ETHERTYPE_IPV4, &v4),
            segment_v4(&data),
        ),
        (
            "sll loopback",
            Linktype::LINUX_SLL,
            sll(ARPHRD_LOOPBACK, ETHERTYPE_IPV4, &v4),
            segment_v4(&data),
        ),
        (
            "sll tunnel",
            Linktype::LINUX_SLL,
            sll(ARPHRD_NONE, ETHERTYPE_IPV6, &v6),
            segment_v6(&data),
        ),
        (
            "sll2 ethernet",
            Linktype::LINUX_SLL2,
            sll2(ARPHRD_ETHER, ETHERTYPE_IPV6, &v6),
            segment_v6(&data),
        ),
        (
            "sll2 loopback",
            Linktype::LINUX_SLL2,
            sll2(ARPHRD_LOOPBACK, ETHERTYPE_IPV4, &v4),
            segment_v4(&data),
        ),
        ("null little-endian inet", Linktype::NULL, loopback([2, 0, 0, 0], &v4), segment_v4(&data)),
        ("null big-endian inet", Linktype::NULL, loopback([0, 0, 0, 2], &v4), segment_v4(&data)),
        ("null inet6 openbsd", Linktype::NULL, loopback([24, 0, 0, 0], &v6), segment_v6(&data)),
        ("null inet6 freebsd", Linktype::NULL, loopback([28, 0, 0, 0], &v6), segment_v6(&data)),
        (
            "null inet6 macos big-endian",
            Linktype::NULL,
            loopback([0, 0, 0, 30], &v6),
            segment_v6(&data),
        ),
        ("loop inet", Linktype::LOOP, loopback([0, 0, 0, 2], &v4), segment_v4(&data)),
        ("loop inet6", Linktype::LOOP, loopback([0, 0, 0, 28], &v6), segment_v6(&data)),
        ("raw ipv4", Linktype::RAW, v4.clone(), segment_v4(&data)),
        ("raw ipv6", Linktype::RAW, v6.clone(), segment_v6(&data)),
        ("old raw 12", Linktype(12), v4.clone(), segment_v4(&data)),
        ("old raw 14", Linktype(14), v6.clone(), segment_v6(&data)),
        ("ipv4", Linktype::IPV4, v4.clone(), segment_v4(&data)),
        ("ipv6", Linktype::IPV6, v6.clone(), segment_v6(&data)),
    ];
    for (name, link_type, frame, expected) in cases {
        let mut decoder = Decoder::new();
        let pkt = packet(link_type, frame);
        assert_eq!(decoder.decode(pkt.view()), Some(expected), "{name}");
        assert_eq!(decoder.stats().tcp_segments, 1, "{name}");
        assert!(decoder.stats().skipped.is_empty(), "{name}");
    }
}

#[test]
fn vlan_tags_of_any_kind_and_number_are_removed() {
    let data = payload(10);
    let v4 = ipv4_tcp(&data);
    let stacks: [&[u16]; 5] = [
        &[0x8100],
        &[0x88a8, 0x8100],
        &[0x9100, 0x8100],
        &[0x88a8, 0x8100, 0x8100],
        &[0x88a8, 0x9100, 0x8100, 0x8100, 0x8100],
    ];
    for tpids in stacks {
        let mut decoder = Decoder::new();
        let pkt = packet(Linktype::ETHERNET, vlan_tagged(tpids, ETHERTYPE_IPV4, &v4));
        assert_eq!(decoder.decode(pkt.view()), Some(segment_v4(&data)), "{tpids:x?}");
    }
    // A tag inside Linux cooked capture.
    let mut tagged = vec![0, 100];
    tagged.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    tagged.extend_from_slice(&v4);
    let mut decoder = Decoder::new();
    let pkt = packet(Linktype::LINUX_SLL, sll(ARPHRD_ETHER, 0x8100, &tagged));
    assert_eq!(decoder.decode(pkt.view()), Some(segment_v4(&data)));
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let data = payload(25);
    let mut decoder = Decoder::new();
    let pkt =
        packet(Linktype::ETHERNET, ethernet(ETHERTYPE_IPV6, &ipv6_tcp_with_extensions(&data)));
    // 40 header + 8 hop-by-hop + 16 destination options + 20 TCP + payload.
    let expected = TcpSegment { ip_len: 84 + 25, ..segment_v6(&data) };
    assert_eq!(decoder.decode(pkt.view()), Some(expected));
}

#[test]
fn linktype_names() {
    assert_eq!(linktype_name(Linktype::ETHERNET), "ETHERNET");
    assert_eq!(linktype_name(Linktype::LINUX_SLL2), "LINUX_SLL2");
    assert_eq!(linktype_name(Linktype(14)), "RAW (DLT 14)");
    assert_eq!(linktype_name(Linktype(105)), "LINKTYPE 105");
}

// ---- Lengths: padding and snap length ----------------------------------------------------

#[test]
fn ethernet_padding_is_not_payload() {
    for len in [0, 1, 5, 6] {
        let data = payload(len);
        let mut frame = ethernet(ETHERTYPE_IPV4, &ipv4_tcp(&data));
        frame.resize(60, 0xee); // minimum frame, padded
        let mut decoder = Decoder::new();
        let pkt = packet(Linktype::ETHERNET, frame);
        assert_eq!(decoder.decode(pkt.view()), Some(segment_v4(&data)), "payload of {len}");
    }
    // A frame captured with its FCS.
    let data = payload(100);
    let mut frame = ethernet(ETHERTYPE_IPV6, &ipv6_tcp(&data));
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let mut decoder = Decoder::new();
    let pkt = packet(Linktype::ETHERNET, frame);
    assert_eq!(decoder.decode(pkt.view()), Some(segment_v6(&data)));
}

#[test]
fn snap_length_cut_is_payload_missing() {
    let data = payload(1000);
    for (name, frame, header_len, full) in [
        ("ipv4", ethernet(ETHERTYPE_IPV4, &ipv4_tcp(&data)), 54, segment_v4(&data)),
        ("ipv6", ethernet(ETHERTYPE_IPV6, &ipv6_tcp(&data)), 74, segment_v6(&data)),
    ] {
        let orig_len = frame.len() as u32;
        let pkt = OwnedPacket {
            ts: TS,
            link_type: Linktype::ETHERNET,
            orig_len,
            data: frame[..header_len + 100].to_vec(),
        };
        let mut decoder = Decoder::new();
        let expected = TcpSegment { payload: &data[..100], payload_missing: 900, ..full };
        assert_eq!(decoder.decode(pkt.view()), Some(expected), "{name}");
    }
}

#[test]
fn ip_length_beyond_an_uncut_frame_is_not_missing() {
    // The frame is whole (orig_len == captured) yet the IP length claims 1000 more bytes: those
    // bytes were never on the wire, so there is nothing to count as a gap.
    let data = payload(1000);
    let frame = ethernet(ETHERTYPE_IPV4, &ipv4_tcp(&data));
    let mut decoder = Decoder::new();
    let pkt = packet(Linktype::ETHERNET, frame[..54 + 100].to_vec());
    let expected = TcpSegment { payload: &data[..100], ..segment_v4(&data) };
    assert_eq!(decoder.decode(pkt.view()), Some(expected));
}

#[test]
fn unset_ipv4_total_length_takes_the_frame() {
    // Segmentation offload on the capturing host leaves the total length 0.
    let data = payload(3000);
    let mut ip = ipv4_tcp(&data);
    ip[2..4].copy_from_slice(&[0, 0]);
    let frame = ethernet(ETHERTYPE_IPV4, &ip);
    let orig_len = frame.len() as u32;
    let pkt = OwnedPacket {
        ts: TS,
        link_type: Linktype::ETHERNET,
        orig_len,
        data: frame[..14 + 40 + 2000].to_vec(),
    };
    let mut decoder = Decoder::new();
    let expected =
        TcpSegment { payload: &data[..2000], payload_missing: 1000, ..segment_v4(&data) };
    assert_eq!(decoder.decode(pkt.view()), Some(expected));
}

// ---- IPv4 fragments -----------------------------------------------------------------------

/// Splits a raw IPv4 packet's payload into fragments at the given payload offsets (multiples
/// of 8), as Ethernet frames with identification `id`.
fn ipv4_fragments(ip: &[u8], id: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
    let header = Ipv4Header::from_slice(ip).unwrap().0;
    let body = &ip[header.header_len()..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(body.len());
    bounds
        .windows(2)
        .map(|w| ipv4_fragment(&header, id, w[0], w[1] < body.len(), &body[w[0]..w[1]]))
        .collect()
}

fn ipv4_fragment(
    template: &Ipv4Header,
    id: u16,
    offset: usize,
    more: bool,
    bytes: &[u8],
) -> Vec<u8> {
    let mut header = template.clone();
    header.identification = id;
    header.dont_fragment = false;
    header.more_fragments = more;
    header.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).unwrap();
    header.set_payload_len(bytes.len()).unwrap();
    header.header_checksum = header.calc_header_checksum();
    let mut ip = header.to_bytes().to_vec();
    ip.extend_from_slice(bytes);
    ethernet(ETHERTYPE_IPV4, &ip)
}

/// Decodes frames in order; returns what each one yielded, as owned segments.
fn decode_all(
    decoder: &mut Decoder,
    frames: &[(Timestamp, Vec<u8>)],
) -> Vec<Option<(Vec<u8>, u32)>> {
    frames
        .iter()
        .map(|(ts, frame)| {
            let pkt = packet_at(*ts, Linktype::ETHERNET, frame.clone());
            decoder.decode(pkt.view()).map(|seg| (seg.payload.to_vec(), seg.ip_len))
        })
        .collect()
}

#[test]
fn ipv4_fragments_in_order_reassemble() {
    let data = payload(100);
    let frames = ipv4_fragments(&ipv4_tcp(&data), 7, &[48, 96]);
    let mut decoder = Decoder::new();
    let pkts: Vec<OwnedPacket> =
        frames.into_iter().map(|f| packet(Linktype::ETHERNET, f)).collect();
    assert_eq!(decoder.decode(pkts[0].view()), None);
    assert_eq!(decoder.decode(pkts[1].view()), None);
    assert_eq!(decoder.decode(pkts[2].view()), Some(segment_v4(&data)));
    let stats = decoder.stats();
    assert_eq!((stats.ipv4_fragments, stats.ipv4_reassembled, stats.tcp_segments), (3, 1, 1));
    assert!(stats.skipped.is_empty());
}

#[test]
fn ipv4_fragments_out_of_order_reassemble() {
    let data = payload(100);
    let frames = ipv4_fragments(&ipv4_tcp(&data), 7, &[48, 96]);
    let mut decoder = Decoder::new();
    let order = [(TS, frames[2].clone()), (TS, frames[0].clone()), (TS, frames[1].clone())];
    assert_eq!(decode_all(&mut decoder, &order), [None, None, Some((data.clone(), 140))]);
    assert_eq!(decoder.stats().ipv4_reassembled, 1);
}

#[test]
fn overlapping_ipv4_fragment_drops_the_datagram() {
    let data = payload(100);
    let ip = ipv4_tcp(&data);
    let frames = ipv4_fragments(&ip, 7, &[48, 96]);
    let template = Ipv4Header::from_slice(&ip).unwrap().0;
    // Rewrites bytes 40..56 of the datagram (the TCP payload start) with other bytes.
    let forged = ipv4_fragment(&template, 7, 40, true, &[0x41; 16]);
    let mut decoder = Decoder::new();
    let sequence =
        [(TS, frames[0].clone()), (TS, forged), (TS, frames[1].clone()), (TS, frames[2].clone())];
    assert_eq!(decode_all(&mut decoder, &sequence), [None, None, None, None]);
    assert_eq!(decoder.stats().tcp_segments, 0);
    assert_eq!(skipped(&decoder), [("fragment_overlap", 1)]);
    decoder.finish();
    // The two fragments after the drop began a new datagram that never completed.
    assert_eq!(skipped(&decoder), [("fragment_incomplete", 1), ("fragment_overlap", 1)]);
}

#[test]
fn duplicate_ipv4_fragment_is_ignored() {
    let data = payload(100);
    let frames = ipv4_fragments(&ipv4_tcp(&data), 7, &[48]);
    let mut decoder = Decoder::new();
    let sequence = [(TS, frames[0].clone()), (TS, frames[0].clone()), (TS, frames[1].clone())];
    assert_eq!(decode_all(&mut decoder, &sequence), [None, None, Some((data.clone(), 140))]);
    assert_eq!(skipped(&decoder), [("fragment_duplicate", 1)]);
}

#[test]
fn missing_ipv4_fragment_times_out() {
    let data = payload(100);
    let frames = ipv4_fragments(&ipv4_tcp(&data), 7, &[48, 96]);
    let later = TS.add_secs(31);
    let other = ethernet(ETHERTYPE_IPV4, &ipv4_tcp(b"x"));
    let mut decoder = Decoder::new();
    let sequence = [
        (TS, frames[0].clone()),
        (TS, frames[2].clone()),
        (later, other),
        (later, frames[1].clone()),
    ];
    assert_eq!(decode_all(&mut decoder, &sequence), [None, None, Some((b"x".to_vec(), 41)), None]);
    assert_eq!(skipped(&decoder), [("fragment_timeout", 1)]);
    assert_eq!(decoder.stats().ipv4_reassembled, 0);
}

#[test]
fn non_first_fragment_is_never_read_as_tcp() {
    // The second fragment's data is itself a whole TCP header and payload.
    let data = payload(100);
    let ip = ipv4_tcp(&data);
    let template = Ipv4Header::from_slice(&ip).unwrap().0;
    let frame = ipv4_fragment(&template, 9, 64, false, &ip[20..]);
    let mut decoder = Decoder::new();
    assert_eq!(decode_all(&mut decoder, &[(TS, frame)]), [None]);
    assert_eq!(decoder.stats().tcp_segments, 0);
    assert_eq!(decoder.stats().ipv4_fragments, 1);
    decoder.finish();
    assert_eq!(skipped(&decoder), [("fragment_incomplete", 1)]);
}

#[test]
fn non_tcp_and_snapped_fragments_are_not_held() {
    let mut udp = Vec::new();
    PacketBuilder::ipv4(CLIENT4, SERVER4, 64).udp(5353, 53).write(&mut udp, &payload(100)).unwrap();
    let udp_frames = ipv4_fragments(&udp, 3, &[48]);
    let tcp_frames = ipv4_fragments(&ipv4_tcp(&payload(100)), 4, &[48]);
    let first = &tcp_frames[0];
    let snapped = OwnedPacket {
        ts: TS,
        link_type: Linktype::ETHERNET,
        orig_len: first.len() as u32,
        data: first[..50].to_vec(),
    };
    let mut decoder = Decoder::new();
    assert_eq!(
        decode_all(&mut decoder, &[(TS, udp_frames[0].clone()), (TS, udp_frames[1].clone())]),
        [None, None]
    );
    assert_eq!(decoder.decode(snapped.view()), None);
    decoder.finish();
    assert_eq!(skipped(&decoder), [("fragment_truncated", 1), ("udp", 2)]);
    assert_eq!(decoder.stats().ipv4_fragments, 3);
}

#[test]
fn fragment_table_limits_apply_through_the_decoder() {
    let limits = FragmentLimits { max_datagrams: 2, ..FragmentLimits::default() };
    let mut decoder = Decoder::with_limits(limits);
    let data = payload(100);
    let ip = ipv4_tcp(&data);
    let firsts: Vec<(Timestamp, Vec<u8>)> =
        (1..=3).map(|id| (TS, ipv4_fragments(&ip, id, &[48])[0].clone())).collect();
    assert_eq!(decode_all(&mut decoder, &firsts), [None, None, None]);
    assert_eq!(skipped(&decoder), [("fragment_evicted", 1)]);
}

// ---- IPv6 fragments -----------------------------------------------------------------------

#[test]
fn ipv6_fragments_reassemble_past_extension_headers() {
    let data = payload(100);
    let whole = ipv6_tcp_with_extensions(&data);
    // Unfragmentable part: the hop-by-hop header (bytes 40..48), now followed by the fragment
    // header. Fragmentable part: destination options + TCP.
    let mut hop_by_hop = whole[40..48].to_vec();
    hop_by_hop[0] = 44;
    let fragmentable = &whole[48..];
    let cuts = [0, 56, 112, fragmentable.len()];
    let frames: Vec<(Timestamp, Vec<u8>)> = [2, 0, 1]
        .iter()
        .map(|&i| {
            let (start, end) = (cuts[i], cuts[i + 1]);
            let fragment = Ipv6FragmentHeader::new(
                IpNumber::IPV6_DESTINATION_OPTIONS,
                IpFragOffset::try_new((start / 8) as u16).unwrap(),
                end < fragmentable.len(),
                0xdead_beef,
            );
            let header = Ipv6Header {
                payload_length: (8 + 8 + end - start) as u16,
                next_header: IpNumber::IPV6_HEADER_HOP_BY_HOP,
                hop_limit: 64,
                source: CLIENT6,
                destination: SERVER6,
                ..Default::default()
            };
            let mut ip = header.to_bytes().to_vec();
            ip.extend_from_slice(&hop_by_hop);
            ip.extend_from_slice(&fragment.to_bytes());
            ip.extend_from_slice(&fragmentable[start..end]);
            (TS, ethernet(ETHERTYPE_IPV6, &ip))
        })
        .collect();
    let mut decoder = Decoder::new();
    // The original packet's IP length: 40 + 8 + 16 + 20 + 100.
    assert_eq!(decode_all(&mut decoder, &frames), [None, None, Some((data.clone(), 184))]);
    let stats = decoder.stats();
    assert_eq!((stats.ipv6_fragments, stats.ipv6_reassembled, stats.tcp_segments), (3, 1, 1));
    assert!(stats.skipped.is_empty());
}

// ---- What is not TCP, and what is broken ---------------------------------------------------

/// An IPv4 packet with the given protocol and body (not TCP).
fn ipv4_with_protocol(protocol: u8, body: &[u8]) -> Vec<u8> {
    let mut header =
        Ipv4Header::new(body.len() as u16, 64, IpNumber(protocol), CLIENT4, SERVER4).unwrap();
    header.header_checksum = header.calc_header_checksum();
    let mut ip = header.to_bytes().to_vec();
    ip.extend_from_slice(body);
    ip
}

fn ipv6_with_next_header(next_header: u8, body: &[u8]) -> Vec<u8> {
    let header = Ipv6Header {
        payload_length: body.len() as u16,
        next_header: IpNumber(next_header),
        hop_limit: 64,
        source: CLIENT6,
        destination: SERVER6,
        ..Default::default()
    };
    let mut ip = header.to_bytes().to_vec();
    ip.extend_from_slice(body);
    ip
}

#[test]
fn skips_are_counted_by_kind() {
    let mut udp = Vec::new();
    PacketBuilder::ipv4(CLIENT4, SERVER4, 64).udp(5353, 53).write(&mut udp, b"query").unwrap();
    let mut icmp = Vec::new();
    PacketBuilder::ipv4(CLIENT4, SERVER4, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut icmp, b"ping")
        .unwrap();
    let mut icmpv6 = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, 64)
        .icmpv6_echo_request(1, 1)
        .write(&mut icmpv6, b"ping")
        .unwrap();
    let arp =
        [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 168, 1, 10, 0, 0, 0, 0, 0, 0, 10, 0, 0, 5];
    let tcp = ipv4_tcp(b"data");
    let mut tcp_offset_too_small = tcp.clone();
    tcp_offset_too_small[20 + 12] = 0x40;
    let mut ihl_too_small = tcp.clone();
    ihl_too_small[0] = 0x43;
    // Destination options followed by a hop-by-hop header, which must come first.
    let hop_by_hop_late =
        ipv6_with_next_header(60, &[0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0]);
    let ether = Linktype::ETHERNET;
    let frames: Vec<(Linktype, Vec<u8>)> = vec![
        (ether, ethernet(0x0806, &arp)),
        (ether, ethernet(0x0800, &udp)),
        (ether, ethernet(0x0800, &icmp)),
        (ether, ethernet(0x86dd, &icmpv6)),
        (ether, ethernet(0x0800, &ipv4_with_protocol(47, &[0; 8]))),
        (ether, ethernet(0x86dd, &ipv6_with_next_header(59, &[]))),
        (ether, ethernet(0x88cc, &[2, 7, 4, 0, 0, 0, 0, 0, 1])),
        (ether, ethernet(0x88b5, &[1, 2, 3])),
        (ether, ethernet(0x0026, &[0x42, 0x42, 0x03, 0, 0])),
        (ether, vec![0; 13]),
        (ether, ethernet(0x8100, &[0, 100])),
        (ether, ethernet(0x0800, &tcp[..19])),
        (ether, ethernet(0x0800, &ihl_too_small)),
        (ether, ethernet(0x86dd, &tcp)),
        (ether, ethernet(0x86dd, &ipv6_tcp(b"")[..39])),
        (ether, ethernet(0x86dd, &hop_by_hop_late)),
        (ether, ethernet(0x0800, &tcp[..39])),
        (ether, ethernet(0x0800, &tcp_offset_too_small)),
        (Linktype(105), tcp.clone()),
        (Linktype::LINUX_SLL, vec![0; 15]),
        (Linktype::LINUX_SLL2, vec![0; 19]),
        (Linktype::LINUX_SLL, sll(ARPHRD_NETLINK, 16, &[0; 16])),
        (Linktype::NULL, vec![2, 0, 0]),
        (Linktype::LOOP, loopback([2, 0, 0, 0], &tcp)),
        (Linktype::NULL, loopback([7, 0, 0, 0], &tcp)),
        (Linktype::RAW, vec![]),
        (Linktype::RAW, vec![0x50; 40]),
    ];
    let mut decoder = Decoder::new();
    for (link_type, frame) in frames {
        let pkt = packet(link_type, frame);
        assert_eq!(decoder.decode(pkt.view()), None, "{link_type}: {:02x?}", pkt.data);
    }
    assert_eq!(
        skipped(&decoder),
        [
            ("arp", 1),
            ("bad_ipv4_header", 1),
            ("bad_ipv6_extension_header", 1),
            ("bad_ipv6_header", 1),
            ("bad_loopback_header", 1),
            ("bad_tcp_header", 1),
            ("ethertype_0x88b5", 1),
            ("icmp", 1),
            ("icmpv6", 1),
            ("ip_version_5", 1),
            ("ipv4_other_proto_47", 1),
            ("ipv6_other_proto_59", 1),
            ("llc", 1),
            ("lldp", 1),
            ("loopback_family_7", 1),
            ("netlink", 1),
            ("truncated_ethernet", 1),
            ("truncated_ip", 1),
            ("truncated_ipv4", 1),
            ("truncated_ipv6", 1),
            ("truncated_linux_sll", 1),
            ("truncated_linux_sll2", 1),
            ("truncated_loopback", 1),
            ("truncated_tcp_header", 1),
            ("truncated_vlan", 1),
            ("udp", 1),
            ("unknown_linktype_105", 1),
        ]
    );
    assert_eq!(decoder.stats().tcp_segments, 0);
}

// ---- Robustness -----------------------------------------------------------------------------

/// Every frame is accounted for somewhere in the stats.
fn accounted(stats: &DecodeStats) -> u64 {
    stats.tcp_segments
        + stats.ipv4_fragments
        + stats.ipv6_fragments
        + stats.skipped.values().sum::<u64>()
}

const ALL_LINK_TYPES: [Linktype; 11] = [
    Linktype::NULL,
    Linktype::ETHERNET,
    Linktype(12),
    Linktype(14),
    Linktype::RAW,
    Linktype::LOOP,
    Linktype::LINUX_SLL,
    Linktype::IPV4,
    Linktype::IPV6,
    Linktype::LINUX_SLL2,
    Linktype(105),
];

/// Decodes `frame` with `orig_len` both equal to and above its length; checks it is counted.
fn decode_and_account(decoder: &mut Decoder, link_type: Linktype, frame: &[u8]) {
    for orig_len in [frame.len() as u32, u32::MAX] {
        let before = accounted(decoder.stats());
        let pkt = OwnedPacket { ts: TS, link_type, orig_len, data: frame.to_vec() };
        let decoded = decoder.decode(pkt.view()).is_some();
        assert!(decoded || accounted(decoder.stats()) > before, "{link_type}: {frame:02x?}");
    }
}

#[test]
fn garbage_of_every_length_never_panics_and_is_counted() {
    let mut state: u32 = 0x1234_5678;
    let mut random = move || {
        // xorshift32: deterministic bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    };
    let mut decoder = Decoder::new();
    for link_type in ALL_LINK_TYPES {
        for len in 0..100 {
            for fill in [0x00, 0xff, 0x45, 0x60] {
                decode_and_account(&mut decoder, link_type, &vec![fill; len]);
            }
            let noise: Vec<u8> = (0..len).map(|_| random()).collect();
            decode_and_account(&mut decoder, link_type, &noise);
        }
    }
}

#[test]
fn every_prefix_and_byte_flip_of_valid_frames_is_safe() {
    let data = payload(40);
    let frames = [
        (Linktype::ETHERNET, vlan_tagged(&[0x88a8, 0x8100], ETHERTYPE_IPV4, &ipv4_tcp(&data))),
        (Linktype::ETHERNET, ethernet(ETHERTYPE_IPV6, &ipv6_tcp_with_extensions(&data))),
        (Linktype::LINUX_SLL2, sll2(ARPHRD_ETHER, ETHERTYPE_IPV6, &ipv6_tcp(&data))),
        (Linktype::ETHERNET, ipv4_fragments(&ipv4_tcp(&data), 1, &[16])[0].clone()),
        (Linktype::ETHERNET, ipv4_fragments(&ipv4_tcp(&data), 1, &[16])[1].clone()),
    ];
    let mut decoder =
        Decoder::with_limits(FragmentLimits { max_datagrams: 4, ..FragmentLimits::default() });
    for (link_type, frame) in &frames {
        for len in 0..=frame.len() {
            decode_and_account(&mut decoder, *link_type, &frame[..len]);
        }
        for i in 0..frame.len() {
            for flip in [0x01, 0x10, 0x80, 0xff] {
                let mut damaged = frame.clone();
                damaged[i] ^= flip;
                decode_and_account(&mut decoder, *link_type, &damaged);
            }
        }
    }
    decoder.finish();
}
