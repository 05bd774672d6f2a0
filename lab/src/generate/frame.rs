//! Ethernet frames of one TCP connection: Ethernet II (optionally one 802.1Q tag), IPv4 or
//! IPv6, TCP with options; IPv4 header and TCP checksums are computed, as on a real wire.

use std::net::IpAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IP_PROTOCOL_TCP: u8 = 6;
const IPV4_HEADER_LEN: usize = 20;
const TCP_HEADER_LEN: usize = 20;
const IPV4_DONT_FRAGMENT: u16 = 0x4000;
/// Windows' initial TTL / hop limit; the CAS servers sit on the captured segment.
const SERVER_TTL: u8 = 128;

/// Client and server addresses, of one family by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addresses {
    V4 { client: [u8; 4], server: [u8; 4] },
    V6 { client: [u8; 16], server: [u8; 16] },
}

impl Addresses {
    /// `None` when the families differ.
    pub fn new(client: IpAddr, server: IpAddr) -> Option<Addresses> {
        match (client, server) {
            (IpAddr::V4(client), IpAddr::V4(server)) => Some(Addresses::V4 {
                client: client.octets(),
                server: server.octets(),
            }),
            (IpAddr::V6(client), IpAddr::V6(server)) => Some(Addresses::V6 {
                client: client.octets(),
                server: server.octets(),
            }),
            _ => None,
        }
    }
}

/// Everything about a connection's frames that does not change from packet to packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub client_mac: [u8; 6],
    pub server_mac: [u8; 6],
    pub vlan: Option<u16>,
    pub addresses: Addresses,
    pub client_port: u16,
    pub server_port: u16,
    /// TTL (hop limit) of the client's packets when they reach the capture point.
    pub client_ttl: u8,
}

/// A client at 10.1.0.1:50000 talking IPv4 to 10.2.0.1 on `server_port`: the path of the
/// TCP and connection tests.
#[cfg(test)]
pub fn test_path(server_port: u16) -> Path {
    Path {
        client_mac: [2, 0, 0, 0, 0, 1],
        server_mac: [2, 0, 0, 0, 0, 2],
        vlan: None,
        addresses: Addresses::new(
            std::net::Ipv4Addr::new(10, 1, 0, 1).into(),
            std::net::Ipv4Addr::new(10, 2, 0, 1).into(),
        )
        .expect("both addresses are IPv4"),
        client_port: 50_000,
        server_port,
        client_ttl: 120,
    }
}

#[derive(Clone, Copy, Debug)]
pub struct TcpHeader<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Already padded to a multiple of 4 bytes.
    pub options: &'a [u8],
}

/// Appends one frame to `out` (which is cleared first).
pub fn write_frame(
    out: &mut Vec<u8>,
    path: &Path,
    from_client: bool,
    ip_id: u16,
    tcp: &TcpHeader,
    payload: &[u8],
) {
    out.clear();
    let (src_mac, dst_mac) = if from_client {
        (path.client_mac, path.server_mac)
    } else {
        (path.server_mac, path.client_mac)
    };
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&src_mac);
    if let Some(vlan) = path.vlan {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    let tcp_len = TCP_HEADER_LEN + tcp.options.len() + payload.len();
    let ttl = if from_client {
        path.client_ttl
    } else {
        SERVER_TTL
    };
    let pseudo_sum = match path.addresses {
        Addresses::V4 { client, server } => {
            let (src, dst) = oriented(client, server, from_client);
            out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            write_ipv4_header(out, &src, &dst, ip_id, ttl, tcp_len);
            sum_words(&src, sum_words(&dst, 0)) + u64::from(IP_PROTOCOL_TCP) + tcp_len as u64
        }
        Addresses::V6 { client, server } => {
            let (src, dst) = oriented(client, server, from_client);
            out.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            write_ipv6_header(out, &src, &dst, ttl, tcp_len);
            sum_words(&src, sum_words(&dst, 0)) + u64::from(IP_PROTOCOL_TCP) + tcp_len as u64
        }
    };
    let (src_port, dst_port) = oriented(path.client_port, path.server_port, from_client);
    let tcp_start = out.len();
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&tcp.seq.to_be_bytes());
    out.extend_from_slice(&tcp.ack.to_be_bytes());
    let data_offset_words = ((TCP_HEADER_LEN + tcp.options.len()) / 4) as u8;
    out.push(data_offset_words << 4);
    out.push(tcp.flags);
    out.extend_from_slice(&tcp.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    out.extend_from_slice(tcp.options);
    out.extend_from_slice(payload);
    let checksum = fold(sum_words(&out[tcp_start..], pseudo_sum));
    out[tcp_start + 16..tcp_start + 18].copy_from_slice(&checksum.to_be_bytes());
}

fn oriented<T>(client: T, server: T, from_client: bool) -> (T, T) {
    if from_client {
        (client, server)
    } else {
        (server, client)
    }
}

fn write_ipv4_header(
    out: &mut Vec<u8>,
    src: &[u8; 4],
    dst: &[u8; 4],
    id: u16,
    ttl: u8,
    tcp_len: usize,
) {
    let start = out.len();
    out.push(0x45); // version 4, 5 words
    out.push(0); // DSCP/ECN
    out.extend_from_slice(&((IPV4_HEADER_LEN + tcp_len) as u16).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&IPV4_DONT_FRAGMENT.to_be_bytes());
    out.push(ttl);
    out.push(IP_PROTOCOL_TCP);
    out.extend_from_slice(&[0, 0]); // checksum
    out.extend_from_slice(src);
    out.extend_from_slice(dst);
    let checksum = fold(sum_words(&out[start..], 0));
    out[start + 10..start + 12].copy_from_slice(&checksum.to_be_bytes());
}

fn write_ipv6_header(
    out: &mut Vec<u8>,
    src: &[u8; 16],
    dst: &[u8; 16],
    hop_limit: u8,
    tcp_len: usize,
) {
    out.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no traffic class or flow label
    out.extend_from_slice(&(tcp_len as u16).to_be_bytes());
    out.push(IP_PROTOCOL_TCP);
    out.push(hop_limit);
    out.extend_from_slice(src);
    out.extend_from_slice(dst);
}

/// Adds `data` as big-endian 16-bit words (odd tail padded with zero) to a one's-complement
/// accumulator. Eight bytes at a time: 2^16 ≡ 1 modulo 2^16 − 1, so wider words fold the same.
pub fn sum_words(data: &[u8], accumulator: u64) -> u64 {
    let mut sum = accumulator;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let value = u64::from_be_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        sum += (value >> 32) + (value & 0xffff_ffff);
    }
    let mut pairs = words.remainder().chunks_exact(2);
    for pair in &mut pairs {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// The one's-complement checksum of an accumulated sum.
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn path(addresses: Addresses, vlan: Option<u16>) -> Path {
        Path {
            client_mac: [2, 0, 0, 0, 0, 1],
            server_mac: [2, 0, 0, 0, 0, 2],
            vlan,
            addresses,
            client_port: 50_000,
            server_port: 80,
            client_ttl: 120,
        }
    }

    fn v4() -> Addresses {
        Addresses::new(
            Ipv4Addr::new(10, 1, 2, 3).into(),
            Ipv4Addr::new(10, 20, 0, 10).into(),
        )
        .unwrap()
    }

    const HEADER: TcpHeader = TcpHeader {
        seq: 0x0102_0304,
        ack: 0x0a0b_0c0d,
        flags: ACK | PSH,
        window: 65_535,
        options: &[],
    };

    /// Recomputing a checksum over data that includes it gives zero.
    fn verifies(data: &[u8], pseudo: u64) -> bool {
        fold(sum_words(data, pseudo)) == 0
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        assert_eq!(
            fold(sum_words(
                &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7],
                0
            )),
            !0xddf2
        );
        assert_eq!(sum_words(&[0xab], 0), 0xab00);
        assert_eq!(
            fold(sum_words(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0)),
            fold(sum_words(
                &[1, 2, 3, 4, 5, 6],
                sum_words(&[7, 8, 9, 10, 11], 0)
            ))
        );
    }

    #[test]
    fn ipv4_frame_layout_and_checksums() {
        let mut frame = Vec::new();
        write_frame(&mut frame, &path(v4(), None), true, 7, &HEADER, b"hello");
        assert_eq!(frame.len(), 14 + 20 + 20 + 5);
        assert_eq!(frame[..12], [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        assert_eq!(frame[12..14], [0x08, 0x00]);
        let ip = &frame[14..34];
        assert_eq!(ip[..4], [0x45, 0, 0, 45]);
        assert_eq!(ip[4..6], [0, 7]);
        assert_eq!((ip[8], ip[9]), (120, 6));
        assert_eq!(ip[12..20], [10, 1, 2, 3, 10, 20, 0, 10]);
        assert!(verifies(ip, 0));
        let tcp = &frame[34..];
        assert_eq!(tcp[..4], [0xc3, 0x50, 0, 80]);
        assert_eq!(tcp[12..14], [0x50, ACK | PSH]);
        let pseudo = sum_words(&ip[12..20], 0) + 6 + tcp.len() as u64;
        assert!(verifies(tcp, pseudo));
    }

    #[test]
    fn server_frames_swap_everything() {
        let mut frame = Vec::new();
        write_frame(&mut frame, &path(v4(), None), false, 1, &HEADER, b"");
        assert_eq!(frame[..12], [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        assert_eq!(frame[14 + 8], 128);
        assert_eq!(frame[26..34], [10, 20, 0, 10, 10, 1, 2, 3]);
        assert_eq!(frame[34..38], [0, 80, 0xc3, 0x50]);
    }

    #[test]
    fn vlan_tag_and_tcp_options() {
        let mut frame = Vec::new();
        let options = [2, 4, 0x05, 0xb4];
        let syn = TcpHeader {
            flags: SYN,
            options: &options,
            ..HEADER
        };
        write_frame(&mut frame, &path(v4(), Some(101)), true, 1, &syn, b"");
        assert_eq!(frame[12..18], [0x81, 0x00, 0, 101, 0x08, 0x00]);
        let tcp = &frame[38..];
        assert_eq!(tcp.len(), 24);
        assert_eq!(tcp[12], 6 << 4);
        assert_eq!(tcp[20..], options);
    }

    #[test]
    fn ipv6_frame_layout_and_checksum() {
        let client = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 5);
        let server = Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x10);
        let addresses = Addresses::new(client.into(), server.into()).unwrap();
        let mut frame = Vec::new();
        write_frame(&mut frame, &path(addresses, None), true, 0, &HEADER, b"abc");
        assert_eq!(frame[12..14], [0x86, 0xdd]);
        let ip = &frame[14..54];
        assert_eq!(ip[..8], [0x60, 0, 0, 0, 0, 23, 6, 120]);
        assert_eq!(ip[8..24], client.octets());
        let tcp = &frame[54..];
        let pseudo = sum_words(&ip[8..40], 0) + 6 + tcp.len() as u64;
        assert!(verifies(tcp, pseudo));
    }

    #[test]
    fn mixed_families_are_refused() {
        assert_eq!(
            Addresses::new(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()),
            None
        );
    }
}
