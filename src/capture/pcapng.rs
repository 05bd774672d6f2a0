//! pcapng: the state of the current section (byte order, interfaces with their link type,
//! snap length and clock) and the packets of its blocks.
//!
//! Packets come from Enhanced Packet Blocks, Simple Packet Blocks (interface 0, no timestamp:
//! the last timestamp seen in the file is used) and obsolete Packet Blocks. Every other block
//! (name resolution, statistics, decryption secrets, custom, unknown) is skipped.

use pcap_parser::nom;
use pcap_parser::pcapng::{
    parse_block_be, parse_block_le, Block, InterfaceDescriptionBlock, OptionCode, PcapNGOption,
};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Linktype, PcapError, SimplePacketBlock};

use super::reader::{oversized_record, Outcome, MAX_RECORD_LEN};
use super::{read_u16, read_u32};
use crate::timestamp::Timestamp;

/// Interfaces kept per section; more is hostile input, not a capture setup.
pub const MAX_INTERFACES: usize = 65_536;

const SECTION_HEADER_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Block type of the obsolete Packet Block, which pcap-parser hands over as unknown.
const OBSOLETE_PACKET_BLOCK: u32 = 2;
/// Type, length and trailing length.
const MIN_BLOCK_LEN: usize = 12;
/// Body of an obsolete Packet Block before its data: interface id (u16), drops (u16),
/// timestamp high and low, captured length, wire length.
const OBSOLETE_PACKET_HEADER_LEN: usize = 20;
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Length of the block starting `data`, read from its header; `None` until the header is
/// there. A section header block carries its own byte order; others use the section's.
pub(super) fn block_len(data: &[u8], section_big_endian: bool) -> Result<Option<usize>, String> {
    let big_endian = if data.starts_with(&SECTION_HEADER_TYPE) {
        let Some(byte_order_magic) = data.get(8..12) else { return Ok(None) };
        match byte_order_magic {
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            _ => return Err("section header block with unknown byte-order magic".to_string()),
        }
    } else {
        section_big_endian
    };
    let Some(len) = read_u32(data, 4, big_endian) else { return Ok(None) };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len < MIN_BLOCK_LEN || len % 4 != 0 {
        return Err(format!("bad block length {len}"));
    }
    if len > MAX_RECORD_LEN {
        return Err(oversized_record(len));
    }
    Ok(Some(len))
}

/// The text of the parser's error on a block of `len` bytes, all of them there.
fn parse_error(error: nom::Err<PcapError<&[u8]>>, len: usize) -> String {
    match error {
        nom::Err::Incomplete(_) => {
            format!("inconsistent record: its content runs past its length {len}")
        }
        nom::Err::Error(e) | nom::Err::Failure(e) => match e {
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                format!("malformed record ({kind:?})")
            }
            other => format!("malformed record ({other})"),
        },
    }
}

#[derive(Debug, Default)]
pub(super) struct Section {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Timestamp of the last packet with one, for Simple Packet Blocks.
    last_ts: Timestamp,
}

#[derive(Copy, Clone, Debug)]
struct Interface {
    link_type: Linktype,
    /// 0: no limit.
    snaplen: u32,
    clock: Clock,
}

impl Section {
    pub(super) fn record_len(&self, data: &[u8]) -> Result<Option<usize>, String> {
        block_len(data, self.big_endian)
    }

    /// Reads a whole block, as long as `record_len` said.
    pub(super) fn interpret(&mut self, record: &[u8]) -> Result<Outcome, String> {
        let parse = if self.big_endian { parse_block_be } else { parse_block_le };
        let (_, block) = parse(record).map_err(|e| parse_error(e, record.len()))?;
        let outcome = self.interpret_block(&block, record);
        // After the block: a section header block sets the byte order of its own trailer.
        self.check_trailer(record)?;
        Ok(outcome)
    }

    /// Checks the trailing length of a parsed `block` (pcap-parser does not for every type).
    fn check_trailer(&self, block: &[u8]) -> Result<(), String> {
        let trailer =
            block.len().checked_sub(4).and_then(|at| read_u32(block, at, self.big_endian));
        match trailer {
            Some(len) if usize::try_from(len) == Ok(block.len()) => Ok(()),
            Some(len) => Err(format!("block length {} does not match trailer {len}", block.len())),
            None => Err(format!("bad block length {}", block.len())),
        }
    }

    /// `record`: the block's bytes, where its packet data lie.
    fn interpret_block(&mut self, block: &Block, record: &[u8]) -> Outcome {
        match block {
            Block::SectionHeader(shb) => {
                self.big_endian = shb.big_endian();
                self.interfaces.clear();
                Outcome::Nothing
            }
            Block::InterfaceDescription(idb) => self.add_interface(idb),
            Block::EnhancedPacket(epb) => {
                let ticks = ticks(epb.ts_high, epb.ts_low);
                self.timestamped_packet(record, epb.if_id, ticks, epb.origlen, epb.packet_data())
            }
            Block::SimplePacket(spb) => self.simple_packet(record, spb),
            Block::Unknown(b) if self.native(b.block_type) == OBSOLETE_PACKET_BLOCK => {
                self.obsolete_packet(record, b.data)
            }
            _ => Outcome::Nothing,
        }
    }

    /// Block types are read little-endian by pcap-parser whatever the section's byte order.
    fn native(&self, block_type: u32) -> u32 {
        if self.big_endian {
            block_type.swap_bytes()
        } else {
            block_type
        }
    }

    fn add_interface(&mut self, idb: &InterfaceDescriptionBlock) -> Outcome {
        if self.interfaces.len() >= MAX_INTERFACES {
            return Outcome::Note(format!(
                "more than {MAX_INTERFACES} interfaces in one section: interface ignored"
            ));
        }
        let (clock, problem) = Clock::from_options(&idb.options, self.big_endian);
        self.interfaces.push(Interface { link_type: idb.linktype, snaplen: idb.snaplen, clock });
        match problem {
            Some(problem) => {
                Outcome::Note(format!("interface {}: {problem}", self.interfaces.len() - 1))
            }
            None => Outcome::Nothing,
        }
    }

    fn timestamped_packet(
        &mut self,
        record: &[u8],
        if_id: u32,
        ticks: u64,
        orig_len: u32,
        data: &[u8],
    ) -> Outcome {
        let interface = usize::try_from(if_id).ok().and_then(|i| self.interfaces.get(i));
        let Some(interface) = interface else {
            return Outcome::Note(format!("packet on unknown interface {if_id} skipped"));
        };
        self.last_ts = interface.clock.timestamp(ticks);
        Outcome::packet(record, self.last_ts, interface.link_type, orig_len, data)
    }

    fn simple_packet(&mut self, record: &[u8], spb: &SimplePacketBlock) -> Outcome {
        let Some(interface) = self.interfaces.first() else {
            return Outcome::Note("simple packet block before any interface: skipped".to_string());
        };
        // The block holds min(wire length, snap length) bytes, padded to 32 bits.
        let data = spb.packet_data();
        let snaplen = usize::try_from(interface.snaplen).unwrap_or(usize::MAX);
        let captured = if snaplen == 0 { data.len() } else { data.len().min(snaplen) };
        let data = &data[..captured];
        Outcome::packet(record, self.last_ts, interface.link_type, spb.origlen, data)
    }

    /// `body`: the block between its length fields.
    fn obsolete_packet(&mut self, record: &[u8], body: &[u8]) -> Outcome {
        let be = self.big_endian;
        let fields = (
            read_u16(body, 0, be),
            read_u32(body, 4, be),
            read_u32(body, 8, be),
            read_u32(body, 12, be),
            read_u32(body, 16, be),
        );
        let (Some(if_id), Some(ts_high), Some(ts_low), Some(caplen), Some(orig_len)) = fields
        else {
            return Outcome::Note("packet block too short: skipped".to_string());
        };
        let data_end = usize::try_from(caplen)
            .ok()
            .and_then(|len| len.checked_add(OBSOLETE_PACKET_HEADER_LEN));
        let Some(data) = data_end.and_then(|end| body.get(OBSOLETE_PACKET_HEADER_LEN..end)) else {
            return Outcome::Note(format!(
                "packet block claims {caplen} captured bytes, more than it holds: skipped"
            ));
        };
        let ticks = ticks(ts_high, ts_low);
        self.timestamped_packet(record, u32::from(if_id), ticks, orig_len, data)
    }
}

fn ticks(ts_high: u32, ts_low: u32) -> u64 {
    (u64::from(ts_high) << 32) | u64::from(ts_low)
}

/// An interface's clock: timestamps count ticks since the epoch, shifted by an offset.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Clock {
    /// From `if_tsresol`; never 0.
    ticks_per_sec: u64,
    /// `if_tsoffset`, in seconds.
    offset_secs: i64,
}

impl Clock {
    /// The default of an interface without `if_tsresol`.
    const MICROSECONDS: Clock = Clock { ticks_per_sec: 1_000_000, offset_secs: 0 };

    /// Reads `if_tsresol` and `if_tsoffset` (whose value is in the section's byte order);
    /// an unusable option is described and its default kept.
    fn from_options(options: &[PcapNGOption], big_endian: bool) -> (Clock, Option<String>) {
        let mut clock = Clock::MICROSECONDS;
        let mut problem = None;
        for option in options {
            match option.code {
                OptionCode::IfTsresol => match option.as_bytes() {
                    Ok(&[code]) => match ticks_per_sec(code) {
                        Some(ticks) => clock.ticks_per_sec = ticks,
                        None => {
                            problem = Some(format!(
                                "unusable if_tsresol {code:#04x}, timestamps read as microseconds"
                            ))
                        }
                    },
                    _ => problem = Some("malformed if_tsresol option ignored".to_string()),
                },
                OptionCode::IfTsoffset => {
                    match option.as_bytes().ok().and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                        Some(raw) if big_endian => clock.offset_secs = i64::from_be_bytes(raw),
                        Some(raw) => clock.offset_secs = i64::from_le_bytes(raw),
                        None => problem = Some("malformed if_tsoffset option ignored".to_string()),
                    }
                }
                _ => {}
            }
        }
        (clock, problem)
    }

    /// Exact to the nanosecond below; saturates at the ends of `Timestamp`'s range.
    fn timestamp(self, ticks: u64) -> Timestamp {
        let per_sec = i128::from(self.ticks_per_sec);
        let ticks = i128::from(ticks);
        // i128 holds (2^64 + 2^63) * 10^9: no overflow.
        let secs = ticks / per_sec + i128::from(self.offset_secs);
        let nanos = secs * NANOS_PER_SEC + ticks % per_sec * NANOS_PER_SEC / per_sec;
        let nanos = i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX });
        Timestamp::from_nanos(nanos)
    }
}

/// Ticks per second of an `if_tsresol` value: a power of 10, or of 2 when the top bit is set;
/// `None` when it does not fit 64 bits.
fn ticks_per_sec(tsresol: u8) -> Option<u64> {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exponent)
    } else {
        1u64.checked_shl(exponent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsresol_decimal_and_binary() {
        assert_eq!(ticks_per_sec(0), Some(1));
        assert_eq!(ticks_per_sec(6), Some(1_000_000));
        assert_eq!(ticks_per_sec(9), Some(1_000_000_000));
        assert_eq!(ticks_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(ticks_per_sec(20), None);
        assert_eq!(ticks_per_sec(0x80 | 10), Some(1024));
        assert_eq!(ticks_per_sec(0x80 | 63), Some(1 << 63));
        assert_eq!(ticks_per_sec(0x80 | 64), None);
    }

    #[test]
    fn clock_is_exact() {
        let micro = Clock::MICROSECONDS;
        assert_eq!(micro.timestamp(1_700_000_000_123_456).as_nanos(), 1_700_000_000_123_456_000);
        let nano = Clock { ticks_per_sec: 1_000_000_000, offset_secs: -3600 };
        assert_eq!(nano.timestamp(5_000_000_007).as_nanos(), (5 - 3600) * 1_000_000_000 + 7);
        // 2^-10 s = 976562.5 ns: truncated to the nanosecond below.
        let binary = Clock { ticks_per_sec: 1024, offset_secs: 10 };
        assert_eq!(binary.timestamp(1024 * 3 + 1).as_nanos(), 13_000_976_562);
        let pico = Clock { ticks_per_sec: 1_000_000_000_000, offset_secs: 0 };
        assert_eq!(pico.timestamp(1_999_999_999_999).as_nanos(), 1_999_999_999);
    }

    #[test]
    fn clock_saturates() {
        let huge = Clock { ticks_per_sec: 1, offset_secs: i64::MAX };
        assert_eq!(huge.timestamp(u64::MAX).as_nanos(), i64::MAX);
        let negative = Clock { ticks_per_sec: 1, offset_secs: i64::MIN };
        assert_eq!(negative.timestamp(0).as_nanos(), i64::MIN);
    }

    #[test]
    fn block_len_checks() {
        let le = |len: u32| [&[6, 0, 0, 0][..], &len.to_le_bytes()].concat();
        assert_eq!(block_len(&le(32), false), Ok(Some(32)));
        assert_eq!(block_len(&le(32)[..7], false), Ok(None));
        assert_eq!(block_len(&le(7), false), Err("bad block length 7".to_string()));
        assert_eq!(block_len(&le(34), false), Err("bad block length 34".to_string()));
        assert!(block_len(&le(0xffff_fff0), false).is_err());
        let shb_be = [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d];
        assert_eq!(block_len(&shb_be, false), Ok(Some(28)));
        assert_eq!(block_len(&shb_be[..11], false), Ok(None));
        let shb_bad = [0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4];
        assert!(block_len(&shb_bad, false).is_err());
    }
}
