//! Network layer: IPv4 and IPv6 (with extension headers), reduced to what the TCP decoder and the
//! fragment table need, with the snap-length bookkeeping.
//!
//! Lengths: the IP length field bounds the payload, so link padding and trailers (60-byte
//! minimum Ethernet frames, FCS) never count as payload; bytes the length field claims beyond the
//! capture are `payload_missing`, but never more than the frame lost to the snap length
//! (`orig_len - data.len()`), since bytes absent from the wire were never sent. When the length
//! field is unusable (IPv4 total length below the header, as segmentation offload leaves it;
//! IPv6 jumbograms), the captured bytes plus the snapped bytes are the packet.

use std::net::IpAddr;

use etherparse::err::{ip_auth, ipv4, ipv6, ipv6_exts};
use etherparse::{
    EtherType, IpNumber, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6FragmentHeader,
    Ipv6FragmentHeaderSlice, Ipv6Header, LaxIpv4Slice, LaxIpv6Slice,
};

use super::fragment::{FragmentInfo, Reassembled};
use super::skip::Skip;

const ETHERTYPE_LLDP: EtherType = EtherType(0x88cc);
/// EtherType values below this are IEEE 802.3 length fields.
const ETHERTYPE_MIN: u16 = 0x0600;

/// One IP packet of a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// What `payload` starts with; for a fragment, what the reassembled payload starts with.
    pub protocol: IpNumber,
    /// Bytes after the IP headers that the capture holds, up to the IP length.
    pub payload: &'a [u8],
    /// Bytes after `payload` that the wire carried but the snap length cut.
    pub payload_missing: u32,
    /// IP total length on the wire (headers included).
    pub ip_len: u32,
    /// Set when `payload` is one piece of a fragmented datagram.
    pub fragment: Option<FragmentInfo>,
}

/// Decodes the network layer typed by `ether_type`. `frame_missing` is how many bytes of the frame
/// the snap length cut.
pub(super) fn network_packet(
    ether_type: EtherType,
    bytes: &[u8],
    frame_missing: u32,
) -> Result<IpPacket<'_>, Skip> {
    match ether_type {
        EtherType::IPV4 => ipv4_packet(bytes, frame_missing),
        EtherType::IPV6 => ipv6_packet(bytes, frame_missing),
        EtherType::ARP => Err(Skip::Arp),
        ETHERTYPE_LLDP => Err(Skip::Lldp),
        EtherType(length) if length < ETHERTYPE_MIN => Err(Skip::Llc),
        EtherType(other) => Err(Skip::Ethertype(other)),
    }
}

/// The packet a reassembled datagram makes: addresses from one of its fragments (`piece`),
/// the payload from the table. For IPv6 the fragmentable part may still begin with extension
/// headers (destination options, routing, authentication), walked here.
pub(super) fn reassembled_packet<'t>(
    piece: &IpPacket<'_>,
    datagram: Reassembled<'t>,
) -> Result<IpPacket<'t>, Skip> {
    let (protocol, payload) = if piece.src.is_ipv4() {
        (piece.protocol, datagram.payload)
    } else {
        let (exts, upper, payload) =
            Ipv6ExtensionsSlice::from_slice(piece.protocol, datagram.payload)
                .map_err(ipv6_ext_skip)?;
        // A fragment header inside a reassembled datagram would make `payload` a fragment again.
        if exts.is_fragmenting_payload() {
            return Err(Skip::BadIpv6ExtensionHeader);
        }
        (upper, payload)
    };
    Ok(IpPacket {
        src: piece.src,
        dst: piece.dst,
        protocol,
        payload,
        payload_missing: 0,
        ip_len: to_u32(datagram.header_len.saturating_add(datagram.payload.len())),
        fragment: None,
    })
}

/// How much of an IP packet the capture holds.
struct Extent {
    /// Bytes of the packet in the captured slice (from the start of the IP header).
    captured: usize,
    payload_missing: u32,
    ip_len: u32,
}

/// `claimed`: the packet length by its header, if usable. `available`: bytes from the IP header
/// to the end of the captured frame.
fn extent(claimed: Option<usize>, available: usize, frame_missing: u32) -> Extent {
    match claimed {
        Some(claimed) => {
            let captured = claimed.min(available);
            let cut = to_u32(claimed - captured);
            Extent { captured, payload_missing: cut.min(frame_missing), ip_len: to_u32(claimed) }
        }
        None => Extent {
            captured: available,
            payload_missing: frame_missing,
            ip_len: to_u32(available).saturating_add(frame_missing),
        },
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn ipv4_packet(bytes: &[u8], frame_missing: u32) -> Result<IpPacket<'_>, Skip> {
    let (ip, auth_error) = LaxIpv4Slice::from_slice(bytes).map_err(|e| match e {
        ipv4::HeaderSliceError::Len(_) => Skip::TruncatedIpv4,
        ipv4::HeaderSliceError::Content(_) => Skip::BadIpv4Header,
    })?;
    let header = ip.header();
    let header_len = header.slice().len();
    let total_len = usize::from(header.total_len());
    let extent = extent((total_len >= header_len).then_some(total_len), bytes.len(), frame_missing);
    let mut packet = IpPacket {
        src: IpAddr::V4(header.source_addr()),
        dst: IpAddr::V4(header.destination_addr()),
        protocol: ip.payload().ip_number,
        payload: ip.payload().payload,
        payload_missing: extent.payload_missing,
        ip_len: extent.ip_len,
        fragment: None,
    };
    if header.is_fragmenting_payload() {
        // Taken from the header alone: an authentication header belongs to the fragmentable
        // part, so etherparse's parse of it is meaningless for a non-first fragment.
        packet.protocol = header.protocol();
        packet.payload = bytes.get(header_len..extent.captured).unwrap_or_default();
        packet.fragment = Some(FragmentInfo {
            id: u32::from(header.identification()),
            offset: usize::from(header.fragments_offset().byte_offset()),
            more: header.more_fragments(),
            header_len,
        });
        return Ok(packet);
    }
    match auth_error {
        None => Ok(packet),
        Some(ip_auth::HeaderSliceError::Len(_)) => Err(Skip::TruncatedIpv4),
        Some(ip_auth::HeaderSliceError::Content(_)) => Err(Skip::BadIpv4Header),
    }
}

fn ipv6_packet(bytes: &[u8], frame_missing: u32) -> Result<IpPacket<'_>, Skip> {
    let (ip, ext_error) = LaxIpv6Slice::from_slice(bytes).map_err(|e| match e {
        ipv6::HeaderSliceError::Len(_) => Skip::TruncatedIpv6,
        ipv6::HeaderSliceError::Content(_) => Skip::BadIpv6Header,
    })?;
    let header = ip.header();
    let claimed = match header.payload_length() {
        0 => None, // jumbogram, or a length left unset by offload
        len => Some(Ipv6Header::LEN + usize::from(len)),
    };
    let extent = extent(claimed, bytes.len(), frame_missing);
    let mut packet = IpPacket {
        src: IpAddr::V6(header.source_addr()),
        dst: IpAddr::V6(header.destination_addr()),
        protocol: ip.payload().ip_number,
        payload: ip.payload().payload,
        payload_missing: extent.payload_missing,
        ip_len: extent.ip_len,
        fragment: None,
    };
    // Checked before the extension error: etherparse walks on past a fragment header, and in a
    // non-first fragment what follows it is data, which may well not parse as a header.
    if let Some((unfragmentable_len, fragment)) = fragment_header(ip.extensions()) {
        let header_len = Ipv6Header::LEN + unfragmentable_len;
        packet.protocol = fragment.next_header();
        packet.payload =
            bytes.get(header_len + Ipv6FragmentHeader::LEN..extent.captured).unwrap_or_default();
        packet.fragment = Some(FragmentInfo {
            id: fragment.identification(),
            offset: usize::from(fragment.fragment_offset().byte_offset()),
            more: fragment.more_fragments(),
            header_len,
        });
        return Ok(packet);
    }
    match ext_error {
        None => Ok(packet),
        Some((error, _layer)) => Err(ipv6_ext_skip(error)),
    }
}

/// The first fragment header that fragments the payload, with the length of the extension
/// headers before it (the unfragmentable part).
///
/// The iteration is guarded: the iterator of a laxly parsed `Ipv6ExtensionsSlice` reads past the
/// slice (etherparse 0.21 indexes unchecked) once it passes the last header parsed, as it does
/// when the walk stopped at a malformed header. A fragmenting header, when reported, is among
/// the headers parsed, and the iteration returns on reaching it.
fn fragment_header<'a>(
    exts: &Ipv6ExtensionsSlice<'a>,
) -> Option<(usize, Ipv6FragmentHeaderSlice<'a>)> {
    if !exts.is_fragmenting_payload() {
        return None;
    }
    let mut before = 0;
    for ext in exts.clone() {
        before += match ext {
            Ipv6ExtensionSlice::Fragment(fragment) if fragment.is_fragmenting_payload() => {
                return Some((before, fragment))
            }
            Ipv6ExtensionSlice::Fragment(fragment) => fragment.slice().len(),
            Ipv6ExtensionSlice::HopByHop(raw)
            | Ipv6ExtensionSlice::Routing(raw)
            | Ipv6ExtensionSlice::DestinationOptions(raw) => raw.slice().len(),
            Ipv6ExtensionSlice::Authentication(auth) => auth.slice().len(),
        };
    }
    None
}

fn ipv6_ext_skip(error: ipv6_exts::HeaderSliceError) -> Skip {
    match error {
        ipv6_exts::HeaderSliceError::Len(_) => Skip::TruncatedIpv6,
        ipv6_exts::HeaderSliceError::Content(_) => Skip::BadIpv6ExtensionHeader,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_bounds_payload_by_the_length_field_and_the_snap() {
        // Padding after the IP length: excluded, nothing missing.
        let padded = extent(Some(40), 46, 0);
        assert_eq!((padded.captured, padded.payload_missing, padded.ip_len), (40, 0, 40));
        // Snapped: the cut bytes are missing.
        let snapped = extent(Some(1500), 96, 1404);
        assert_eq!((snapped.captured, snapped.payload_missing, snapped.ip_len), (96, 1404, 1500));
        // Length field beyond a frame the capture holds whole: nothing was cut.
        let lying = extent(Some(1500), 96, 0);
        assert_eq!((lying.captured, lying.payload_missing, lying.ip_len), (96, 0, 1500));
        // Unusable length field: the captured and the snapped bytes make the packet.
        let unset = extent(None, 96, 4);
        assert_eq!((unset.captured, unset.payload_missing, unset.ip_len), (96, 4, 100));
    }
}
