//! The captured site: an F5-style balancer whose virtual server (VIP) fronts four Exchange 2010
//! CAS servers on IIS 7.5. The capture point sees clients talk to the VIP (HTTP on 80, TLS
//! passed through on 443) and the balancer probe each CAS directly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::message::Head;
use super::time::{http_date, Nanos};
use crate::rng::fnv1a;

pub const CAS_NAMES: [&str; 4] = ["CAS01", "CAS02", "CAS03", "CAS04"];
pub const VIP_V4: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 10);
pub const VIP_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x10);
/// The balancer's own address, from which it probes the servers.
pub const BALANCER_SELF: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 2);
pub const HTTP_PORT: u16 = 80;
pub const HTTPS_PORT: u16 = 443;
/// Frames to and from the VIP pass the router; probes come from the balancer itself.
pub const ROUTER_MAC: [u8; 6] = [0x00, 0x1b, 0x17, 0x00, 0x01, 0x01];
pub const BALANCER_MAC: [u8; 6] = [0x00, 0x23, 0xe9, 0x00, 0x02, 0x02];
/// F5 BIG-IP's cookie-insert persistence cookie for the CAS pool.
pub const LB_COOKIE: &str = "BIGipServerpool_exchange_cas";

pub fn cas_address(cas: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, 1, 11 + (cas % CAS_NAMES.len()) as u8)
}

pub fn cas_mac(cas: usize) -> [u8; 6] {
    [
        0x00,
        0x15,
        0x5d,
        0x14,
        0x01,
        11 + (cas % CAS_NAMES.len()) as u8,
    ]
}

pub fn cas_name(cas: usize) -> &'static str {
    CAS_NAMES[cas % CAS_NAMES.len()]
}

/// BIG-IP's encoding of a pool member: the IPv4 address as a little-endian integer and the port
/// byte-swapped, both in decimal: `10.20.1.11:80` → `184620042.20480.0000`.
pub fn lb_cookie_value(cas: usize) -> String {
    let address = u32::from_le_bytes(cas_address(cas).octets());
    format!("{address}.{}.0000", HTTP_PORT.swap_bytes())
}

/// Source-address persistence (for clients that keep no cookie): a stable hash of the source.
pub fn cas_by_source(source: IpAddr) -> usize {
    let octets = match source {
        IpAddr::V4(address) => address.octets().to_vec(),
        IpAddr::V6(address) => address.octets().to_vec(),
    };
    (fnv1a(&octets) % CAS_NAMES.len() as u64) as usize
}

/// A response head as IIS 7.5 with ASP.NET on an Exchange 2010 CAS starts it; the caller adds
/// the response's own fields.
pub fn iis_response(code: u16, reason: &str, cas: usize, time: Nanos) -> Head {
    Head::response(code, reason)
        .header("Server", "Microsoft-IIS/7.5")
        .header("X-AspNet-Version", "2.0.50727")
        .header("X-FEServer", cas_name(cas))
        .header("X-Powered-By", "ASP.NET")
        .header("Date", http_date(time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::message::Body;
    use crate::generate::time::CAPTURE_START;

    #[test]
    fn f5_cookie_encodes_the_member() {
        assert_eq!(cas_address(0), Ipv4Addr::new(10, 20, 1, 11));
        // 11 << 24 | 1 << 16 | 20 << 8 | 10.
        assert_eq!(lb_cookie_value(0), "184620042.20480.0000");
        assert_eq!(lb_cookie_value(3), "234951690.20480.0000");
    }

    #[test]
    fn source_persistence_is_stable_and_spread() {
        let pick = |last: u8| cas_by_source(Ipv4Addr::new(10, 101, 0, last).into());
        assert_eq!(pick(7), pick(7));
        let mut used: Vec<usize> = (0..=255).map(pick).collect();
        used.sort_unstable();
        used.dedup();
        assert_eq!(used, [0, 1, 2, 3]);
    }

    #[test]
    fn iis_heads_name_the_server() {
        let pieces = iis_response(440, "Login Timeout", 1, CAPTURE_START).finish(Body::None);
        let crate::generate::outbox::Piece::Bytes(head) = &pieces[0] else {
            panic!("head")
        };
        assert_eq!(
            String::from_utf8_lossy(head),
            "HTTP/1.1 440 Login Timeout\r\nServer: Microsoft-IIS/7.5\r\nX-AspNet-Version: 2.0.50727\r\n\
             X-FEServer: CAS02\r\nX-Powered-By: ASP.NET\r\nDate: Mon, 11 Mar 2024 08:00:00 GMT\r\n\r\n"
        );
    }
}
