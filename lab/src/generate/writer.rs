//! Capture file writers: classic pcap (microsecond, little-endian) and pcapng (one section, one
//! Ethernet interface, Enhanced Packet Blocks), both streaming through any `Write`.
//!
//! Invariant: `bytes_written` is exactly the number of bytes handed to the sink, so the caller
//! can stop at a size target; [`CaptureWriter::record_len`] says what the next packet will cost.

use std::io::{self, Write};
use std::str::FromStr;

use super::time::Nanos;

/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u16 = 1;
/// Largest frame the file announces; generated frames are far below it.
const SNAPLEN: u32 = 262_144;

const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_FILE_HEADER_LEN: u64 = 24;
const PCAP_RECORD_HEADER_LEN: u64 = 16;

const PCAPNG_SECTION_HEADER: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const PCAPNG_INTERFACE_DESCRIPTION: u32 = 1;
const PCAPNG_ENHANCED_PACKET: u32 = 6;
const PCAPNG_SECTION_HEADER_LEN: u32 = 28;
const PCAPNG_INTERFACE_DESCRIPTION_LEN: u32 = 20;
/// Enhanced Packet Block without its (padded) packet data.
const PCAPNG_ENHANCED_PACKET_FIXED_LEN: u32 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    Pcapng,
}

impl FromStr for Format {
    type Err = ();

    fn from_str(text: &str) -> Result<Format, ()> {
        match text {
            "pcap" => Ok(Format::Pcap),
            "pcapng" => Ok(Format::Pcapng),
            _ => Err(()),
        }
    }
}

pub struct CaptureWriter<W: Write> {
    sink: W,
    format: Format,
    bytes_written: u64,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file (pcap) or section and interface (pcapng) header.
    pub fn new(sink: W, format: Format) -> io::Result<CaptureWriter<W>> {
        let mut writer = CaptureWriter {
            sink,
            format,
            bytes_written: 0,
        };
        match format {
            Format::Pcap => writer.write_pcap_header()?,
            Format::Pcapng => writer.write_pcapng_headers()?,
        }
        Ok(writer)
    }

    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Bytes the record of a `frame_len`-byte frame takes in the file.
    pub fn record_len(&self, frame_len: usize) -> u64 {
        match self.format {
            Format::Pcap => PCAP_RECORD_HEADER_LEN + frame_len as u64,
            Format::Pcapng => {
                u64::from(PCAPNG_ENHANCED_PACKET_FIXED_LEN) + padded_to_4(frame_len) as u64
            }
        }
    }

    pub fn write_packet(&mut self, time: Nanos, frame: &[u8]) -> io::Result<()> {
        match self.format {
            Format::Pcap => self.write_pcap_record(time, frame),
            Format::Pcapng => self.write_enhanced_packet(time, frame),
        }
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.sink.flush()?;
        Ok(self.sink)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sink.write_all(bytes)?;
        self.bytes_written += bytes.len() as u64;
        Ok(())
    }

    fn put_u32(&mut self, value: u32) -> io::Result<()> {
        self.put(&value.to_le_bytes())
    }

    fn write_pcap_header(&mut self) -> io::Result<()> {
        let mut header = Vec::with_capacity(PCAP_FILE_HEADER_LEN as usize);
        header.extend_from_slice(&PCAP_MAGIC_MICROS.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&u32::from(LINKTYPE_ETHERNET).to_le_bytes());
        self.put(&header)
    }

    fn write_pcap_record(&mut self, time: Nanos, frame: &[u8]) -> io::Result<()> {
        let micros = time / 1_000;
        // Seconds overflow u32 in 2106: out of the generator's range.
        self.put_u32((micros / 1_000_000) as u32)?;
        self.put_u32((micros % 1_000_000) as u32)?;
        self.put_u32(frame.len() as u32)?;
        self.put_u32(frame.len() as u32)?;
        self.put(frame)
    }

    fn write_pcapng_headers(&mut self) -> io::Result<()> {
        self.put_u32(PCAPNG_SECTION_HEADER)?;
        self.put_u32(PCAPNG_SECTION_HEADER_LEN)?;
        self.put_u32(PCAPNG_BYTE_ORDER_MAGIC)?;
        self.put(&1u16.to_le_bytes())?; // version 1.0
        self.put(&0u16.to_le_bytes())?;
        self.put(&(-1i64).to_le_bytes())?; // section length: unknown (streamed)
        self.put_u32(PCAPNG_SECTION_HEADER_LEN)?;

        self.put_u32(PCAPNG_INTERFACE_DESCRIPTION)?;
        self.put_u32(PCAPNG_INTERFACE_DESCRIPTION_LEN)?;
        self.put(&LINKTYPE_ETHERNET.to_le_bytes())?;
        self.put(&0u16.to_le_bytes())?; // reserved
        self.put_u32(SNAPLEN)?;
        // No options: the timestamp resolution is the default, microseconds.
        self.put_u32(PCAPNG_INTERFACE_DESCRIPTION_LEN)
    }

    fn write_enhanced_packet(&mut self, time: Nanos, frame: &[u8]) -> io::Result<()> {
        let block_len = self.record_len(frame.len()) as u32;
        let micros = time / 1_000;
        self.put_u32(PCAPNG_ENHANCED_PACKET)?;
        self.put_u32(block_len)?;
        self.put_u32(0)?; // interface 0
        self.put_u32((micros >> 32) as u32)?;
        self.put_u32(micros as u32)?;
        self.put_u32(frame.len() as u32)?;
        self.put_u32(frame.len() as u32)?;
        self.put(frame)?;
        let padding = padded_to_4(frame.len()) - frame.len();
        self.put(&[0u8; 3][..padding])?;
        self.put_u32(block_len)
    }
}

fn padded_to_4(len: usize) -> usize {
    len.div_ceil(4) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-11T08:00:00.123456789Z.
    const TIME: Nanos = 1_710_144_000_123_456_789;

    fn written(format: Format, frames: &[&[u8]]) -> Vec<u8> {
        let mut writer = CaptureWriter::new(Vec::new(), format).unwrap();
        for frame in frames {
            writer.write_packet(TIME, frame).unwrap();
        }
        let counted = writer.bytes_written();
        let bytes = writer.finish().unwrap();
        assert_eq!(counted, bytes.len() as u64);
        bytes
    }

    fn u32_at(bytes: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn pcap_header_and_record() {
        let bytes = written(Format::Pcap, &[b"abcde"]);
        assert_eq!(
            bytes[..24],
            [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]
        );
        assert_eq!(u32_at(&bytes, 24), 1_710_144_000);
        assert_eq!(u32_at(&bytes, 28), 123_456);
        assert_eq!(u32_at(&bytes, 32), 5);
        assert_eq!(u32_at(&bytes, 36), 5);
        assert_eq!(&bytes[40..], b"abcde");
        let writer = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
        assert_eq!(writer.record_len(5), 21);
    }

    #[test]
    fn pcapng_blocks_are_padded_and_framed() {
        let bytes = written(Format::Pcapng, &[b"abcde", b"wxyz"]);
        // Section header block.
        assert_eq!(u32_at(&bytes, 0), 0x0a0d_0d0a);
        assert_eq!(u32_at(&bytes, 4), 28);
        assert_eq!(u32_at(&bytes, 8), 0x1a2b_3c4d);
        assert_eq!(bytes[16..24], [0xff; 8]);
        assert_eq!(u32_at(&bytes, 24), 28);
        // Interface description block: Ethernet, snaplen.
        assert_eq!(
            bytes[28..48],
            [1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 20, 0, 0, 0]
        );
        // First enhanced packet block: 32 + 8 (5 bytes padded).
        let epb = &bytes[48..];
        assert_eq!(u32_at(epb, 0), 6);
        assert_eq!(u32_at(epb, 4), 40);
        assert_eq!(u32_at(epb, 8), 0);
        let micros = u64::from(u32_at(epb, 12)) << 32 | u64::from(u32_at(epb, 16));
        assert_eq!(micros, TIME / 1_000);
        assert_eq!((u32_at(epb, 20), u32_at(epb, 24)), (5, 5));
        assert_eq!(&epb[28..36], b"abcde\0\0\0");
        assert_eq!(u32_at(epb, 36), 40);
        // Second: no padding needed.
        let epb = &epb[40..];
        assert_eq!(u32_at(epb, 4), 36);
        assert_eq!(&epb[28..32], b"wxyz");
        assert_eq!(epb.len(), 36);
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("pcap".parse(), Ok(Format::Pcap));
        assert_eq!("pcapng".parse(), Ok(Format::Pcapng));
        assert_eq!("PCAP".parse::<Format>(), Err(()));
    }
}
