//! Link layer: from a frame of any supported link type to an EtherType and the bytes it types.
//!
//! Ethernet and VLAN tags are sliced by etherparse. By hand, because etherparse does not cover
//! them: the BSD loopback headers, Linux cooked capture v2, and v1 too since etherparse's
//! `LinuxSllSlice` rejects the loopback and tunnel hardware types that `tcpdump -i any` records.

use etherparse::{EtherType, Ethernet2Slice, SingleVlanSlice};

use super::skip::Skip;
use crate::capture::Linktype;

/// `DLT_RAW` as old libpcap versions wrote it: 12 on most systems, 14 on OpenBSD.
pub(super) const LINKTYPE_OLD_RAW: [Linktype; 2] = [Linktype(12), Linktype(14)];

/// Linux `ARPHRD_NETLINK`: the protocol field of such a cooked frame is not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// BSD address families of the loopback header. IPv6 has a different number per system:
/// 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [24, 28, 30];

/// How a loopback header stores its address family.
#[derive(Copy, Clone)]
enum FamilyOrder {
    /// `LINKTYPE_NULL`: byte order of the host that captured, which the file does not record.
    CapturingHost,
    /// `LINKTYPE_LOOP`: network byte order.
    Network,
}

/// The network-layer bytes of `frame` and their EtherType, with every VLAN tag removed.
pub(super) fn network_payload(
    link_type: Linktype,
    frame: &[u8],
) -> Result<(EtherType, &[u8]), Skip> {
    let (ether_type, payload) = match link_type {
        Linktype::ETHERNET => ethernet(frame)?,
        Linktype::LINUX_SLL => linux_sll(frame)?,
        Linktype::LINUX_SLL2 => linux_sll2(frame)?,
        Linktype::NULL => loopback(frame, FamilyOrder::CapturingHost)?,
        Linktype::LOOP => loopback(frame, FamilyOrder::Network)?,
        Linktype::IPV4 => (EtherType::IPV4, frame),
        Linktype::IPV6 => (EtherType::IPV6, frame),
        Linktype::RAW => raw_ip(frame)?,
        lt if LINKTYPE_OLD_RAW.contains(&lt) => raw_ip(frame)?,
        Linktype(other) => return Err(Skip::UnknownLinktype(other)),
    };
    strip_vlan_tags(ether_type, payload)
}

fn ethernet(frame: &[u8]) -> Result<(EtherType, &[u8]), Skip> {
    let ethernet =
        Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| Skip::TruncatedEthernet)?;
    Ok((ethernet.ether_type(), ethernet.payload_slice()))
}

/// Linux cooked capture v1: packet type, hardware type, address length, address (8), protocol.
fn linux_sll(frame: &[u8]) -> Result<(EtherType, &[u8]), Skip> {
    let (header, payload) = frame.split_first_chunk::<16>().ok_or(Skip::TruncatedLinuxSll)?;
    let hardware = u16::from_be_bytes([header[2], header[3]]);
    let protocol = u16::from_be_bytes([header[14], header[15]]);
    cooked_payload(hardware, protocol, payload)
}

/// Linux cooked capture v2: protocol, reserved, interface index (4), hardware type, packet type,
/// address length, address (8).
fn linux_sll2(frame: &[u8]) -> Result<(EtherType, &[u8]), Skip> {
    let (header, payload) = frame.split_first_chunk::<20>().ok_or(Skip::TruncatedLinuxSll2)?;
    let protocol = u16::from_be_bytes([header[0], header[1]]);
    let hardware = u16::from_be_bytes([header[8], header[9]]);
    cooked_payload(hardware, protocol, payload)
}

/// For every hardware type but netlink the kernel stores the EtherType (values below 0x0600 are
/// its pseudo-types for 802.2/802.3 frames, counted as LLC like Ethernet length fields).
fn cooked_payload(
    hardware: u16,
    protocol: u16,
    payload: &[u8],
) -> Result<(EtherType, &[u8]), Skip> {
    if hardware == ARPHRD_NETLINK {
        return Err(Skip::Netlink);
    }
    Ok((EtherType(protocol), payload))
}

fn loopback(frame: &[u8], order: FamilyOrder) -> Result<(EtherType, &[u8]), Skip> {
    let (family, payload) = frame.split_first_chunk::<4>().ok_or(Skip::TruncatedLoopback)?;
    let family = match order {
        FamilyOrder::Network => u32::from_be_bytes(*family),
        // Families are below 256, so the byte order that yields a small value is the writer's.
        FamilyOrder::CapturingHost => match u32::from_le_bytes(*family) {
            little if little < 256 => little,
            _ => u32::from_be_bytes(*family),
        },
    };
    match family {
        AF_INET => Ok((EtherType::IPV4, payload)),
        f if AF_INET6.contains(&f) => Ok((EtherType::IPV6, payload)),
        // Bounded kinds: a counter per garbage value would let the input grow the stats.
        other => Err(u8::try_from(other).map_or(Skip::BadLoopbackHeader, Skip::LoopbackFamily)),
    }
}

/// Raw IP: the version nibble tells IPv4 from IPv6.
fn raw_ip(frame: &[u8]) -> Result<(EtherType, &[u8]), Skip> {
    match frame.first().map(|byte| byte >> 4) {
        Some(4) => Ok((EtherType::IPV4, frame)),
        Some(6) => Ok((EtherType::IPV6, frame)),
        Some(version) => Err(Skip::IpVersion(version)),
        None => Err(Skip::TruncatedIp),
    }
}

/// Removes 802.1Q, 802.1ad and legacy QinQ (0x9100) tags, any number of them: etherparse's
/// packet slicers stop after three link extensions, so tags are peeled one at a time here.
fn strip_vlan_tags(
    mut ether_type: EtherType,
    mut payload: &[u8],
) -> Result<(EtherType, &[u8]), Skip> {
    while matches!(
        ether_type,
        EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME
    ) {
        let tag = SingleVlanSlice::from_slice(payload).map_err(|_| Skip::TruncatedVlan)?;
        ether_type = tag.ether_type();
        payload = tag.payload_slice();
    }
    Ok((ether_type, payload))
}
