//! Classic pcap: the file header fixes byte order, timestamp unit and link type for every
//! record.

use pcap_parser::{Linktype, PcapHeader};

use super::read_u32;
use super::reader::{oversized_record, Outcome, RecordPacket, MAX_RECORD_LEN};
use crate::timestamp::Timestamp;

/// Record header: seconds, fraction, captured length, wire length.
const RECORD_HEADER_LEN: usize = 16;
/// The link-type field's upper bits carry FCS information; libpcap keeps the low 26 bits.
const LINKTYPE_MASK: i32 = 0x03ff_ffff;

#[derive(Clone, Debug)]
pub(super) struct PcapFormat {
    link_type: Linktype,
    big_endian: bool,
    /// Nanoseconds per unit of the record's fraction field: 1000 (µs files) or 1 (ns files).
    nanos_per_fraction: i64,
}

impl PcapFormat {
    pub(super) fn new(header: &PcapHeader) -> Self {
        PcapFormat {
            link_type: Linktype(header.network.0 & LINKTYPE_MASK),
            big_endian: header.is_bigendian(),
            nanos_per_fraction: if header.is_nanosecond_precision() { 1 } else { 1000 },
        }
    }

    /// Length of the record starting `data`, from its header; `None` until the header is there.
    pub(super) fn record_len(&self, data: &[u8]) -> Result<Option<usize>, String> {
        let Some(caplen) = read_u32(data, 8, self.big_endian) else { return Ok(None) };
        let len = usize::try_from(caplen).unwrap_or(usize::MAX).saturating_add(RECORD_HEADER_LEN);
        if len > MAX_RECORD_LEN {
            return Err(oversized_record(len));
        }
        Ok(Some(len))
    }

    /// Reads a whole record, as long as `record_len` said: its header is there, and its data
    /// are the rest.
    pub(super) fn interpret(&self, record: &[u8]) -> Result<Outcome, String> {
        let field = |at| read_u32(record, at, self.big_endian);
        let (Some(secs), Some(fraction), Some(orig_len)) = (field(0), field(4), field(12)) else {
            return Err(format!("record shorter than its {RECORD_HEADER_LEN}-byte header"));
        };
        let ts = Timestamp::from_secs_nanos(
            i64::from(secs),
            i64::from(fraction).saturating_mul(self.nanos_per_fraction),
        );
        let data = RECORD_HEADER_LEN..record.len();
        Ok(Outcome::Packet(RecordPacket::new(ts, self.link_type, orig_len, data)))
    }
}
