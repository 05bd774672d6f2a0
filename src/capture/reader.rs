//! Reading the packets of one file: records are cut from a [`ReadBuffer`] by the length in
//! their header, and read whole (pcapng blocks by pcap-parser's block parsers).
//!
//! Invariants of the read loop:
//! - Before a record is parsed, its length is read from its header (`record_len`) and checked
//!   against [`MAX_RECORD_LEN`]; then exactly that many bytes are read, and parsed. A parser
//!   asking for more than that is damage, not a reason to read on: every step consumes a record
//!   or ends the file, so the loop terminates.
//! - The record holding the packet handed out stays at the start of the buffer, unconsumed,
//!   until the next call: the packet is a view of it, never a copy.
//! - `offset()` of the buffer is the offset (in the decompressed stream) of the next record:
//!   every issue names the offset of the record it is about.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pcap_parser::{parse_pcap_header, Linktype};

use super::ahead::ReadAhead;
use super::buffer::{Feed, ReadBuffer};
use super::input::{self, DiskBytes, FileKind, Input, Opened, PCAP_HEADER_LEN};
use super::pcap::PcapFormat;
use super::pcapng::Section;
use super::{CaptureIssue, PacketRef};
use crate::timestamp::Timestamp;

/// Largest record (pcap record or pcapng block) read; a larger claim is damage.
pub const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;
/// Non-fatal issues listed per file; the fatal one that ends a file is always listed.
pub const MAX_NOTES_PER_FILE: usize = 100;
/// Initial read buffer per file, and so the usual size of a read; grows for larger records.
pub(super) const READ_BUFFER_LEN: usize = 256 * 1024;

pub(super) fn oversized_record(len: usize) -> String {
    format!("record claims {len} bytes, more than the limit of {MAX_RECORD_LEN}")
}

/// A packet in a record: what the record says of it, and where its bytes are in the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RecordPacket {
    ts: Timestamp,
    link_type: Linktype,
    orig_len: u32,
    data: Range<usize>,
}

impl RecordPacket {
    /// A wire length below the captured length is raised to it.
    pub(super) fn new(
        ts: Timestamp,
        link_type: Linktype,
        orig_len: u32,
        data: Range<usize>,
    ) -> Self {
        let orig_len = orig_len.max(u32::try_from(data.len()).unwrap_or(u32::MAX));
        RecordPacket { ts, link_type, orig_len, data }
    }
}

/// What a record gave.
pub(super) enum Outcome {
    Packet(RecordPacket),
    /// A record without packet (section header, statistics, …).
    Nothing,
    /// No packet, and something to report; reading goes on.
    Note(String),
}

impl Outcome {
    /// The packet `data`, which is a part of `record`.
    pub(super) fn packet(
        record: &[u8],
        ts: Timestamp,
        link_type: Linktype,
        orig_len: u32,
        data: &[u8],
    ) -> Outcome {
        match position_in(record, data) {
            Some(range) => Outcome::Packet(RecordPacket::new(ts, link_type, orig_len, range)),
            None => Outcome::Note("packet data outside its record: skipped".to_string()),
        }
    }
}

/// Where `part` lies in `whole`, if it is a part of it.
fn position_in(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

enum Format {
    Pcap(PcapFormat),
    PcapNg(Section),
}

impl Format {
    fn record_len(&self, data: &[u8]) -> Result<Option<usize>, String> {
        match self {
            Format::Pcap(format) => format.record_len(data),
            Format::PcapNg(section) => section.record_len(data),
        }
    }

    /// Reads a whole record; `Err` is damage.
    fn interpret(&mut self, record: &[u8]) -> Result<Outcome, String> {
        match self {
            Format::Pcap(format) => format.interpret(record),
            Format::PcapNg(section) => section.interpret(record),
        }
    }
}

/// One step of the read loop.
enum Step {
    /// A packet, in the record of the given length at the start of the buffer.
    Packet(usize, RecordPacket),
    Continue,
    Note(String),
    End,
}

/// The packet handed out last.
struct Held {
    /// Length of its record, consumed when the next packet is asked for.
    record_len: usize,
    packet: RecordPacket,
}

/// Packets of one capture file, in file order.
pub(super) struct FileReader {
    path: PathBuf,
    buffer: ReadBuffer,
    format: Format,
    disk_bytes: Arc<DiskBytes>,
    held: Option<Held>,
    /// Time of the last packet handed out.
    last_ts: Option<Timestamp>,
    notes: usize,
    finished: bool,
}

impl FileReader {
    /// Opens `path`, to be read on a thread of its own when `ahead`. `Ok(None)`, with the
    /// reason in `issues`, when it is not a readable capture.
    pub(super) fn open(path: &Path, ahead: bool, issues: &mut Vec<CaptureIssue>) -> io::Result<Option<Self>> {
        let opened = match input::open(path)? {
            Opened::Capture(input) => start(input, ahead)?,
            Opened::Unusable(why) => Err(why),
        };
        Ok(match opened {
            Ok((buffer, format, disk_bytes)) => Some(FileReader {
                path: path.to_path_buf(),
                buffer,
                format,
                disk_bytes,
                held: None,
                last_ts: None,
                notes: 0,
                finished: false,
            }),
            Err(why) => {
                let file = path.to_path_buf();
                issues.push(CaptureIssue { file, offset: 0, after: None, message: why });
                None
            }
        })
    }

    /// Releases the packet held and moves to the next one; its timestamp, or `None` once the
    /// file is done.
    pub(super) fn advance(&mut self, issues: &mut Vec<CaptureIssue>) -> Option<Timestamp> {
        if let Some(held) = self.held.take() {
            self.buffer.consume(held.record_len);
        }
        while !self.finished {
            let offset = self.buffer.offset();
            match self.step() {
                Ok(Step::Packet(record_len, packet)) => {
                    let ts = packet.ts;
                    self.last_ts = Some(ts);
                    self.held = Some(Held { record_len, packet });
                    return Some(ts);
                }
                Ok(Step::Continue) => {}
                Ok(Step::Note(message)) => self.note(issues, offset, message),
                Ok(Step::End) => self.finished = true,
                Err(damage) => {
                    issues.push(self.issue(offset, damage));
                    self.finished = true;
                }
            }
        }
        None
    }

    /// The packet `advance` moved to, if any.
    pub(super) fn packet(&self) -> Option<PacketRef<'_>> {
        let RecordPacket { ts, link_type, orig_len, data } = &self.held.as_ref()?.packet;
        let data = self.buffer.data().get(data.clone())?;
        Some(PacketRef { ts: *ts, link_type: *link_type, orig_len: *orig_len, data })
    }

    /// Whether the file is read on a thread of its own.
    pub(super) fn reads_ahead(&self) -> bool {
        self.buffer.reads_ahead()
    }

    /// Bytes read so far from the file on disk.
    pub(super) fn disk_bytes_read(&self) -> u64 {
        self.disk_bytes.get()
    }

    /// Reads one record; `Err` is damage that ends the file.
    fn step(&mut self) -> Result<Step, String> {
        let Some(len) = self.next_record_len()? else { return Ok(Step::End) };
        if !self.buffer.fill(len)? {
            return Err(truncated_record(self.buffer.data().len()));
        }
        let record = self.buffer.data().get(..len).unwrap_or_default();
        let step = match self.format.interpret(record)? {
            // Its record stays in the buffer until the packet is released.
            Outcome::Packet(packet) => return Ok(Step::Packet(len, packet)),
            Outcome::Nothing => Step::Continue,
            Outcome::Note(message) => Step::Note(message),
        };
        self.buffer.consume(len);
        Ok(step)
    }

    /// Length of the next record, from its header; `None` at the end of the file.
    fn next_record_len(&mut self) -> Result<Option<usize>, String> {
        loop {
            if let Some(len) = self.format.record_len(self.buffer.data())? {
                return Ok(Some(len));
            }
            let available = self.buffer.data().len();
            if !self.buffer.fill(available.saturating_add(1))? {
                return match available {
                    0 => Ok(None),
                    left => Err(truncated_record(left)),
                };
            }
        }
    }

    fn note(&mut self, issues: &mut Vec<CaptureIssue>, offset: u64, message: String) {
        self.notes = self.notes.saturating_add(1);
        if self.notes < MAX_NOTES_PER_FILE {
            issues.push(self.issue(offset, message));
        } else if self.notes == MAX_NOTES_PER_FILE {
            issues.push(self.issue(
                offset,
                format!("{message}; further non-fatal issues in this file not listed"),
            ));
        }
    }

    fn issue(&self, offset: u64, message: String) -> CaptureIssue {
        let after = self.last_ts;
        CaptureIssue { file: self.path.clone(), offset, after, message }
    }
}

/// A file ready to read: its buffer at the first record, the records' format, its disk bytes.
type Started = (ReadBuffer, Format, Arc<DiskBytes>);

/// The read buffer positioned at the first record, and the format of the records (`Err`
/// inside: why the file cannot be read). Only failing to start a thread is an `Err`.
fn start(input: Input, ahead: bool) -> io::Result<Result<Started, String>> {
    let Input { kind, header, stream, disk_bytes } = input;
    // Read ahead, the buffer is the chunk last taken: nothing to reserve.
    let (feed, capacity) =
        if ahead { (Feed::Ahead(ReadAhead::start(stream)?), 0) } else { (Feed::Inline(stream), READ_BUFFER_LEN) };
    let mut buffer = ReadBuffer::new(header, feed, capacity);
    Ok(first_record(&mut buffer, kind).map(|format| (buffer, format, disk_bytes)))
}

/// Positions `buffer` at the first record; the format of the records.
fn first_record(buffer: &mut ReadBuffer, kind: FileKind) -> Result<Format, String> {
    Ok(match kind {
        FileKind::Pcap => {
            let (_, header) = parse_pcap_header(buffer.data())
                .map_err(|_| "pcap file header not understood".to_string())?;
            buffer.consume(PCAP_HEADER_LEN);
            Format::Pcap(PcapFormat::new(&header))
        }
        // The section header block is read as the first record.
        FileKind::PcapNg => Format::PcapNg(Section::default()),
    })
}

fn truncated_record(left: usize) -> String {
    format!("truncated record ({left} bytes left)")
}
