//! `replay`: real captures played back to back until a size is reached, for benchmarks on
//! traffic that real software produced (the lab's HAProxy captures) rather than the simulation.
//!
//! Each copy is moved in time to start [`GAP`] after the copy before it ended, so the result is
//! one capture in time order: the same clients coming back round after round, on the same
//! addresses and ports, each round's connections opened anew. The file stops at the last whole
//! packet that fits in `--size`. Inputs are classic pcap files (either byte order, µs or ns) of
//! Ethernet frames, as tcpdump writes on Linux.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::time::{Nanos, SECOND};
use super::writer::{CaptureWriter, Format};
use super::{parse_size, WRITE_BUFFER};
use crate::args::Flags;

/// Between the last packet of a copy and the first of the next: past the linger of a closed
/// connection, so a port reused by the next round opens a new connection.
const GAP: Nanos = 10 * SECOND;

const LINKTYPE_ETHERNET: u32 = 1;

/// One input capture, read whole (the inputs are small lab captures).
#[derive(Debug, PartialEq, Eq)]
struct Recording {
    /// (time, frame), in file order.
    packets: Vec<(Nanos, Vec<u8>)>,
}

impl Recording {
    fn read(path: &Path) -> Result<Recording, String> {
        let bytes = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        Recording::parse(&bytes).map_err(|error| format!("{}: {error}", path.display()))
    }

    fn parse(bytes: &[u8]) -> Result<Recording, String> {
        let magic = bytes.get(..4).ok_or("not a pcap file: shorter than its magic number")?;
        let (big_endian, fraction) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, 1_000),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, 1),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, 1_000),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, 1),
            _ => return Err("not a classic pcap file (pcapng: convert it with editcap -F pcap)".to_owned()),
        };
        let u32_at = |at: usize| -> Option<u32> {
            let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            Some(if big_endian { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) })
        };
        let link_type = u32_at(20).ok_or("file header cut short")?;
        if link_type != LINKTYPE_ETHERNET {
            return Err(format!("link type {link_type}: only Ethernet captures can be replayed"));
        }
        let (mut packets, mut at) = (Vec::new(), 24);
        while at < bytes.len() {
            let field = |offset: usize| u32_at(at + offset).ok_or(format!("record at byte {at} cut short"));
            let (secs, fraction_part, caplen) = (field(0)?, field(4)?, field(8)? as usize);
            let frame = bytes.get(at + 16..at + 16 + caplen).ok_or(format!("record at byte {at} cut short"))?;
            let time = Nanos::from(secs) * SECOND + Nanos::from(fraction_part) * fraction;
            packets.push((time, frame.to_vec()));
            at += 16 + caplen;
        }
        if packets.is_empty() {
            return Err("no packet".to_owned());
        }
        Ok(Recording { packets })
    }

    /// Time of the first and last packet (the earliest and latest: a capture's own order may
    /// step back a little).
    fn span(&self) -> (Nanos, Nanos) {
        let times = self.packets.iter().map(|(time, _)| *time);
        (times.clone().min().unwrap_or(0), times.max().unwrap_or(0))
    }
}

/// What was written.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub bytes: u64,
    pub packets: u64,
    /// Copies of the inputs begun, the last one possibly cut by the size.
    pub copies: u64,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args, &["out", "size", "format", "captures"])?;
    let out: PathBuf = flags.required("out")?;
    let size_text: String = flags.required("size")?;
    let size = parse_size(&size_text).ok_or_else(|| format!("--size: cannot use {size_text:?} (e.g. 100MiB)"))?;
    let format = flags.optional("format")?.unwrap_or(Format::Pcap);
    let paths: Vec<PathBuf> = flags.list("captures")?.ok_or("--captures is required (comma-separated pcap files)")?;
    let recordings = paths.iter().map(|path| Recording::read(path)).collect::<Result<Vec<_>, _>>()?;
    let file = File::create(&out).map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    let outcome = replay(&recordings, size, format, BufWriter::with_capacity(WRITE_BUFFER, file))
        .map_err(|error| format!("writing {}: {error}", out.display()))?;
    println!(
        "{}: {} bytes, {} packets, {} copies of {} captures",
        out.display(),
        outcome.bytes,
        outcome.packets,
        outcome.copies,
        recordings.len()
    );
    Ok(())
}

/// Writes copies of `recordings`, in turn, until the next packet would pass `size`.
fn replay<W: Write>(recordings: &[Recording], size: u64, format: Format, sink: W) -> io::Result<Outcome> {
    let mut writer = CaptureWriter::new(sink, format)?;
    let (mut packets, mut copies) = (0, 0);
    // Where the next copy starts; the first keeps its own times.
    let mut next_start = None;
    'rounds: for recording in recordings.iter().cycle() {
        let (first, last) = recording.span();
        let start = next_start.unwrap_or(first);
        copies += 1;
        for (time, frame) in &recording.packets {
            if writer.bytes_written() + writer.record_len(frame.len()) > size {
                break 'rounds;
            }
            writer.write_packet(time - first + start, frame)?;
            packets += 1;
        }
        next_start = Some(start + (last - first) + GAP);
    }
    let bytes = writer.bytes_written();
    writer.finish()?;
    Ok(Outcome { bytes, packets, copies })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(times_ms: &[u64], tag: u8) -> Recording {
        Recording { packets: times_ms.iter().map(|ms| (ms * 1_000_000, vec![tag; 20])).collect() }
    }

    #[test]
    fn copies_follow_each_other_in_time_until_the_size() {
        let inputs = [recording(&[1_000, 1_500, 1_400, 2_000], 1), recording(&[50_000, 50_250], 2)];
        let record = 16 + 20;
        let mut bytes = Vec::new();
        let outcome = replay(&inputs, 24 + 9 * record + record - 1, Format::Pcap, &mut bytes).unwrap();
        assert_eq!(outcome, Outcome { bytes: 24 + 9 * record, packets: 9, copies: 3 });
        let replayed = Recording::parse(&bytes).unwrap();
        let times: Vec<u64> = replayed.packets.iter().map(|(time, _)| time / 1_000_000).collect();
        // Copy 1 as it was; copy 2 from 10 s after 2.0 s; copy 3 from 10 s after 12.25 s, cut.
        assert_eq!(times, [1_000, 1_500, 1_400, 2_000, 12_000, 12_250, 22_250, 22_750, 22_650]);
        let tags: Vec<u8> = replayed.packets.iter().map(|(_, frame)| frame[0]).collect();
        assert_eq!(tags, [1, 1, 1, 1, 2, 2, 1, 1, 1]);
    }

    #[test]
    fn reads_both_byte_orders_and_resolutions_and_refuses_the_rest() {
        for (magic, big_endian, fraction) in [
            ([0xd4, 0xc3, 0xb2, 0xa1], false, 7_000u32),
            ([0xa1, 0xb2, 0x3c, 0x4d], true, 7_000_000),
        ] {
            let put = |value: u32| if big_endian { value.to_be_bytes() } else { value.to_le_bytes() };
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&[0; 16]);
            bytes.extend_from_slice(&put(LINKTYPE_ETHERNET));
            for value in [5, fraction, 3, 3] {
                bytes.extend_from_slice(&put(value));
            }
            bytes.extend_from_slice(b"abc");
            let parsed = Recording::parse(&bytes).unwrap();
            assert_eq!(parsed.packets, [(5 * SECOND + 7 * 1_000_000, b"abc".to_vec())]);
            bytes.pop();
            assert!(Recording::parse(&bytes).unwrap_err().contains("cut short"));
            bytes[20..24].copy_from_slice(&put(113));
            assert!(Recording::parse(&bytes).unwrap_err().contains("link type 113"));
        }
        assert!(Recording::parse(b"\x0a\x0d\x0d\x0a").unwrap_err().contains("not a classic pcap"));
    }
}
