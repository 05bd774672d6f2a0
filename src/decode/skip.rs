//! Why a frame produced no TCP segment: the kinds counted in [`DecodeStats::skipped`].
//!
//! The printed names are stable report keys (snake_case, numbers in decimal except EtherTypes,
//! which are printed the way they are usually written, `0x88cc`).

use std::fmt;

use etherparse::IpNumber;

use super::DecodeStats;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Skip {
    // Link layer.
    UnknownLinktype(i32),
    TruncatedEthernet,
    TruncatedLinuxSll,
    TruncatedLinuxSll2,
    TruncatedLoopback,
    /// Loopback header with an address family other than IPv4 or IPv6.
    LoopbackFamily(u8),
    /// Loopback header whose family is no family at all (at least 256 in either byte order).
    BadLoopbackHeader,
    Netlink,
    TruncatedVlan,
    /// Raw-IP link type with an empty frame.
    TruncatedIp,
    /// Raw-IP link type whose first nibble is neither 4 nor 6.
    IpVersion(u8),
    // What the link layer carries when it is not IP.
    Arp,
    Lldp,
    /// IEEE 802.3 length field instead of an EtherType (STP, CDP and other LLC frames).
    Llc,
    Ethertype(u16),
    // Network layer.
    TruncatedIpv4,
    BadIpv4Header,
    TruncatedIpv6,
    BadIpv6Header,
    BadIpv6ExtensionHeader,
    Udp,
    Icmp,
    Icmpv6,
    Ipv4OtherProto(u8),
    Ipv6OtherProto(u8),
    // Transport layer.
    TruncatedTcpHeader,
    BadTcpHeader,
    // Fragments: the first two count frames, the others count datagrams given up.
    /// A fragment cut by the snap length cannot be reassembled.
    FragmentTruncated,
    /// A fragment that duplicates one already held (same range, same bytes): ignored.
    FragmentDuplicate,
    /// A fragment overlapping another with different bounds or bytes: datagram dropped.
    FragmentOverlap,
    /// Impossible fragment (empty, misaligned, past 64 KiB or past the datagram's end): datagram
    /// dropped.
    FragmentInconsistent,
    /// Datagram still incomplete after the timeout.
    FragmentTimeout,
    /// Incomplete datagram evicted to stay within the table limits.
    FragmentEvicted,
    /// Datagram still incomplete when the capture ended.
    FragmentIncomplete,
}

impl Skip {
    /// The kind for a transport protocol other than TCP.
    pub(super) fn non_tcp(protocol: IpNumber, over_ipv6: bool) -> Skip {
        match protocol {
            IpNumber::UDP => Skip::Udp,
            IpNumber::ICMP => Skip::Icmp,
            IpNumber::IPV6_ICMP => Skip::Icmpv6,
            IpNumber(other) if over_ipv6 => Skip::Ipv6OtherProto(other),
            IpNumber(other) => Skip::Ipv4OtherProto(other),
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Skip::UnknownLinktype(n) => return write!(f, "unknown_linktype_{n}"),
            Skip::LoopbackFamily(n) => return write!(f, "loopback_family_{n}"),
            Skip::IpVersion(n) => return write!(f, "ip_version_{n}"),
            Skip::Ethertype(n) => return write!(f, "ethertype_0x{n:04x}"),
            Skip::Ipv4OtherProto(n) => return write!(f, "ipv4_other_proto_{n}"),
            Skip::Ipv6OtherProto(n) => return write!(f, "ipv6_other_proto_{n}"),
            Skip::TruncatedEthernet => "truncated_ethernet",
            Skip::TruncatedLinuxSll => "truncated_linux_sll",
            Skip::TruncatedLinuxSll2 => "truncated_linux_sll2",
            Skip::TruncatedLoopback => "truncated_loopback",
            Skip::BadLoopbackHeader => "bad_loopback_header",
            Skip::Netlink => "netlink",
            Skip::TruncatedVlan => "truncated_vlan",
            Skip::TruncatedIp => "truncated_ip",
            Skip::Arp => "arp",
            Skip::Lldp => "lldp",
            Skip::Llc => "llc",
            Skip::TruncatedIpv4 => "truncated_ipv4",
            Skip::BadIpv4Header => "bad_ipv4_header",
            Skip::TruncatedIpv6 => "truncated_ipv6",
            Skip::BadIpv6Header => "bad_ipv6_header",
            Skip::BadIpv6ExtensionHeader => "bad_ipv6_extension_header",
            Skip::Udp => "udp",
            Skip::Icmp => "icmp",
            Skip::Icmpv6 => "icmpv6",
            Skip::TruncatedTcpHeader => "truncated_tcp_header",
            Skip::BadTcpHeader => "bad_tcp_header",
            Skip::FragmentTruncated => "fragment_truncated",
            Skip::FragmentDuplicate => "fragment_duplicate",
            Skip::FragmentOverlap => "fragment_overlap",
            Skip::FragmentInconsistent => "fragment_inconsistent",
            Skip::FragmentTimeout => "fragment_timeout",
            Skip::FragmentEvicted => "fragment_evicted",
            Skip::FragmentIncomplete => "fragment_incomplete",
        };
        f.write_str(name)
    }
}

/// The decoder's statistics, with a reusable buffer for counter names so that counting a skip
/// allocates only the first time its kind is seen.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub stats: DecodeStats,
    name: String,
}

impl Counters {
    /// The value, or `None` with the reason counted.
    pub(super) fn ok<T>(&mut self, result: Result<T, Skip>) -> Option<T> {
        result.map_err(|kind| self.skip(kind)).ok()
    }

    // Cold: kept out of `ok`, so that `ok` inlines and a decoded value is not copied through it.
    #[cold]
    pub(super) fn skip(&mut self, kind: Skip) {
        use std::fmt::Write;
        self.name.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.name, "{kind}");
        match self.stats.skipped.get_mut(self.name.as_str()) {
            Some(count) => *count += 1,
            None => {
                self.stats.skipped.insert(self.name.clone(), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Skip::UnknownLinktype(105).to_string(), "unknown_linktype_105");
        assert_eq!(Skip::Ethertype(0x88b5).to_string(), "ethertype_0x88b5");
        assert_eq!(Skip::Ethertype(0x8).to_string(), "ethertype_0x0008");
        assert_eq!(Skip::non_tcp(IpNumber(47), false).to_string(), "ipv4_other_proto_47");
        assert_eq!(Skip::non_tcp(IpNumber(59), true).to_string(), "ipv6_other_proto_59");
        assert_eq!(Skip::non_tcp(IpNumber::UDP, true), Skip::Udp);
        assert_eq!(Skip::non_tcp(IpNumber::IPV6_ICMP, true), Skip::Icmpv6);
    }

    #[test]
    fn counting_accumulates_by_name() {
        let mut counters = Counters::default();
        counters.skip(Skip::Arp);
        counters.skip(Skip::Ipv4OtherProto(47));
        counters.skip(Skip::Arp);
        let expected = [("arp".to_string(), 2), ("ipv4_other_proto_47".to_string(), 1)];
        assert_eq!(counters.stats.skipped, expected.into_iter().collect());
    }
}
