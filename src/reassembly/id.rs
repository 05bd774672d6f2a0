//! Connection ids: FNV-1a 64 of the first timestamp and the endpoints, written out here because
//! std's hasher may change between Rust versions and the ids must not.

use std::net::IpAddr;

use super::{ConnId, ConnMeta};
use crate::timestamp::Timestamp;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

struct Fnv1a(u64);

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
    }

    fn write_ip(&mut self, ip: IpAddr) {
        // The family tag keeps an IPv4 address apart from its IPv4-mapped IPv6 form.
        match ip {
            IpAddr::V4(v4) => {
                self.write(&[4]);
                self.write(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.write(&[6]);
                self.write(&v6.octets());
            }
        }
    }
}

impl ConnMeta {
    /// The identity of a connection first seen at `ts_start`, with its id derived from it.
    pub fn new(ts_start: Timestamp, client: (IpAddr, u16), server: (IpAddr, u16)) -> ConnMeta {
        let mut hash = Fnv1a(FNV_OFFSET_BASIS);
        hash.write(&ts_start.as_nanos().to_le_bytes());
        hash.write_ip(client.0);
        hash.write(&client.1.to_be_bytes());
        hash.write_ip(server.0);
        hash.write(&server.1.to_be_bytes());
        ConnMeta {
            conn_id: ConnId(hash.0),
            ts_start,
            client_ip: client.0,
            client_port: client.1,
            server_ip: server.0,
            server_port: server.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn fnv1a_reference_vectors() {
        for (input, expected) in [
            (&b""[..], 0xcbf2_9ce4_8422_2325),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut hash = Fnv1a(FNV_OFFSET_BASIS);
            hash.write(input);
            assert_eq!(hash.0, expected);
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let c = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 50000);
        let s = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443);
        let ts = Timestamp::from_secs_nanos(1_700_000_000, 5);
        let meta = ConnMeta::new(ts, c, s);
        // Pinned (computed independently): a change here changes every report's ids.
        assert_eq!(meta.conn_id, ConnId(0x0430_a4cb_48d8_085a));
        assert_eq!(meta.conn_id.to_string(), "C0MIo4bJwnO6");
        assert_eq!(
            (
                meta.client_ip,
                meta.client_port,
                meta.server_ip,
                meta.server_port
            ),
            (c.0, 50000, s.0, 443)
        );
        let others = [
            ConnMeta::new(Timestamp::from_secs_nanos(1_700_000_000, 6), c, s),
            ConnMeta::new(ts, s, c),
            ConnMeta::new(ts, (c.0, 50001), s),
            ConnMeta::new(
                ts,
                (
                    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, 1)),
                    50000,
                ),
                s,
            ),
        ];
        for other in &others {
            assert_ne!(other.conn_id, meta.conn_id);
        }
    }
}
