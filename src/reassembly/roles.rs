//! Which side of a new connection is the client, decided from its first segment.
//!
//! The SYN sender is the client and the SYN-ACK sender the server. Mid-stream, ports decide (a
//! privileged or well-known service port against an ephemeral one; else the lower port is the
//! server), and the first payload overrides them when it is plainly HTTP going the other way.

use crate::decode::TcpSegment;

/// Service ports at or above 1024 that mark the server side (HTTP alternates, proxies, WinRM).
const SERVICE_PORTS: &[u16] = &[
    1080, 3128, 5985, 5986, 8000, 8008, 8080, 8081, 8443, 8888, 9443,
];

/// Whether the sender of `seg`, the first segment of a connection, is its client.
pub(crate) fn sender_is_client(seg: &TcpSegment<'_>) -> bool {
    if seg.flags.syn {
        return !seg.flags.ack;
    }
    // On equal ports, the first segment's receiver is taken for the server.
    let by_ports = receiver_is_server_by_ports(seg.src_port, seg.dst_port).unwrap_or(true);
    if by_ports && looks_like_http_response(seg.payload) {
        return false;
    }
    if !by_ports && looks_like_http_request(seg.payload) {
        return true;
    }
    by_ports
}

/// `Some(true)` when the ports say the receiver (`dst`) is the server, `None` when they tie.
fn receiver_is_server_by_ports(src: u16, dst: u16) -> Option<bool> {
    let privileged = |port: u16| port < 1024;
    let service = |port: u16| privileged(port) || SERVICE_PORTS.contains(&port);
    if privileged(src) != privileged(dst) {
        return Some(privileged(dst));
    }
    if service(src) != service(dst) {
        return Some(service(dst));
    }
    (src != dst).then_some(dst < src)
}

fn looks_like_http_response(payload: &[u8]) -> bool {
    payload.starts_with(b"HTTP/")
}

/// A method token (upper-case letters, `_` or `-`, like `GET` or `RPC_IN_DATA`) then a space.
fn looks_like_http_request(payload: &[u8]) -> bool {
    const MAX_METHOD: usize = 20;
    let token_len = payload
        .iter()
        .take(MAX_METHOD + 1)
        .take_while(|&&b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
        .count();
    (3..=MAX_METHOD).contains(&token_len) && payload.get(token_len) == Some(&b' ')
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::decode::TcpFlags;
    use crate::timestamp::Timestamp;

    fn first(src_port: u16, dst_port: u16, syn: bool, ack: bool, payload: &[u8]) -> bool {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        sender_is_client(&TcpSegment {
            ts: Timestamp::from_nanos(0),
            src_ip: ip,
            dst_ip: ip,
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags: TcpFlags {
                syn,
                ack,
                ..TcpFlags::default()
            },
            window: 1,
            payload,
            payload_missing: 0,
            ip_len: 40,
        })
    }

    #[test]
    fn handshake_flags_decide() {
        // Whatever the ports say.
        assert!(first(443, 50000, true, false, b""));
        assert!(!first(50000, 443, true, true, b""));
    }

    #[test]
    fn ports_decide_midstream() {
        assert!(first(50000, 443, false, true, b""));
        assert!(!first(443, 50000, false, true, b""));
        assert!(first(50000, 8080, false, true, b""));
        assert!(!first(8443, 50000, false, true, b""));
        // Both privileged: the lower port is the server.
        assert!(first(1000, 443, false, true, b""));
        assert!(!first(443, 1000, false, true, b""));
        // Both at or above 1024, neither a service port: the lower port is the server.
        assert!(first(50001, 50000, false, true, b""));
        assert!(!first(50000, 50001, false, true, b""));
        assert!(first(7000, 7000, false, true, b""));
    }

    #[test]
    fn first_payload_overrides_ports() {
        // A response from the high port: the high port is the server.
        assert!(!first(50001, 40000, false, true, b"HTTP/1.1 200 OK\r\n"));
        // A request from the side the ports call the server.
        assert!(first(
            443,
            50000,
            false,
            true,
            b"RPC_IN_DATA /rpc/rpcproxy.dll HTTP/1.1\r\n"
        ));
        // Payload agreeing with the ports, or not HTTP, changes nothing.
        assert!(first(50000, 80, false, true, b"GET / HTTP/1.1\r\n"));
        assert!(!first(80, 50000, false, true, b"HTTP/1.1 200 OK\r\n"));
        assert!(!first(80, 50000, false, true, b"\x16\x03\x01\x02\x00"));
        assert!(!first(80, 50000, false, true, b"GE / x"));
        assert!(!first(80, 50000, false, true, b"get / x"));
        assert!(!first(80, 50000, false, true, b"ABCDEFGHIJKLMNOPQRSTU / x"));
        assert!(!first(80, 50000, false, true, b"GET"));
    }
}
