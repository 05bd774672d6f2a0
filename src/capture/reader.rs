//! Reading the packets of one file with pcap-parser's streaming readers.
//!
//! Invariants of the read loop:
//! - Before each block, its length is read from its header (`record_len`) and checked against
//!   [`MAX_RECORD_LEN`]. The read buffer grows (doubling) only when it is full of a record
//!   that passed that check, so its size is at most twice the bytes actually there.
//! - When the parser asks for more bytes although the buffer already holds the whole record
//!   as claimed by its header, the record is inconsistent: damage, not a reason to read on.
//!   So every refill either adds bytes or ends the file, and the loop terminates.
//! - `consumed()` of the parser is the offset (in the decompressed stream) of the next record:
//!   every issue names the offset of the record it is about.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use super::input::{self, FileKind, Input, Opened, StreamStatus};
use super::pcap::PcapFormat;
use super::pcapng::Section;
use super::{CaptureIssue, Packet};

/// Largest record (pcap record or pcapng block) read; a larger claim is damage.
pub const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;
/// Non-fatal issues listed per file; the fatal one that ends a file is always listed.
pub const MAX_NOTES_PER_FILE: usize = 100;
/// Initial read buffer per file; grows for larger records.
pub(super) const READ_BUFFER_LEN: usize = 256 * 1024;

pub(super) fn oversized_record(len: usize) -> String {
    format!("record claims {len} bytes, more than the limit of {MAX_RECORD_LEN}")
}

/// What a block gave.
pub(super) enum Outcome {
    Packet,
    /// A block without packet (section header, statistics, …).
    Nothing,
    /// No packet, and something to report; reading goes on.
    Note(String),
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

    fn interpret(&mut self, block: &PcapBlockOwned, pkt: &mut Packet) -> Outcome {
        match (self, block) {
            (Format::Pcap(format), PcapBlockOwned::Legacy(record)) => format.interpret(record, pkt),
            (Format::PcapNg(section), PcapBlockOwned::NG(block)) => section.interpret(block, pkt),
            // The pcap header is consumed on opening; each reader yields only its own blocks.
            _ => Outcome::Nothing,
        }
    }

    /// Checks what the parser does not: the trailing length of pcapng blocks.
    fn check_framing(&self, raw_block: &[u8]) -> Result<(), String> {
        match self {
            Format::Pcap(_) => Ok(()),
            Format::PcapNg(section) => section.check_trailer(raw_block),
        }
    }
}

/// Why the parser gave no block, without its borrow of the buffer.
enum NoBlock {
    EndOfFile,
    NeedMoreData,
    /// The stream ended inside a record.
    EndOfStream,
    Malformed(String),
}

impl From<PcapError<&[u8]>> for NoBlock {
    fn from(e: PcapError<&[u8]>) -> Self {
        match e {
            PcapError::Eof => NoBlock::EndOfFile,
            PcapError::Incomplete(_) | PcapError::BufferTooSmall => NoBlock::NeedMoreData,
            PcapError::UnexpectedEof => NoBlock::EndOfStream,
            // Not from `next`; only `refill` reads.
            PcapError::ReadError => NoBlock::Malformed("read error".to_string()),
            PcapError::HeaderNotRecognized => {
                NoBlock::Malformed("header not recognized".to_string())
            }
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                NoBlock::Malformed(format!("malformed record ({kind:?})"))
            }
        }
    }
}

/// One step of the read loop.
enum Step {
    Packet,
    Continue,
    Note(String),
    End,
}

/// Packets of one capture file, in file order.
pub(super) struct FileReader {
    path: PathBuf,
    parser: Box<dyn PcapReaderIterator + Send>,
    format: Format,
    status: Arc<StreamStatus>,
    buffer_len: usize,
    notes: usize,
    finished: bool,
}

impl FileReader {
    /// Opens `path`. `Ok(None)`, with the reason in `issues`, when it is not a readable capture.
    pub(super) fn open(path: &Path, issues: &mut Vec<CaptureIssue>) -> io::Result<Option<Self>> {
        let opened = match input::open(path)? {
            Opened::Capture(input) => start_parser(input),
            Opened::Unusable(why) => Err(why),
        };
        Ok(match opened {
            Ok((parser, format, status)) => Some(FileReader {
                path: path.to_path_buf(),
                parser,
                format,
                status,
                buffer_len: READ_BUFFER_LEN,
                notes: 0,
                finished: false,
            }),
            Err(why) => {
                issues.push(CaptureIssue { file: path.to_path_buf(), offset: 0, message: why });
                None
            }
        })
    }

    /// Refills `pkt` with the next packet; `false` once the file is done.
    pub(super) fn next_packet(&mut self, pkt: &mut Packet, issues: &mut Vec<CaptureIssue>) -> bool {
        while !self.finished {
            let offset = u64::try_from(self.parser.consumed()).unwrap_or(u64::MAX);
            match self.step(pkt) {
                Ok(Step::Packet) => return true,
                Ok(Step::Continue) => {}
                Ok(Step::Note(message)) => self.note(issues, offset, message),
                Ok(Step::End) => self.finished = true,
                Err(damage) => {
                    issues.push(self.issue(offset, damage));
                    self.finished = true;
                }
            }
        }
        false
    }

    /// Bytes read so far from the file on disk.
    pub(super) fn disk_bytes_read(&self) -> u64 {
        self.status.disk_bytes()
    }

    /// Reads one block; `Err` is damage that ends the file.
    fn step(&mut self, pkt: &mut Packet) -> Result<Step, String> {
        let claimed_len = self.format.record_len(self.parser.data())?;
        let parsed = match self.parser.next() {
            Ok((len, block)) => Ok((len, self.format.interpret(&block, pkt))),
            Err(e) => Err(NoBlock::from(e)),
        };
        let (len, outcome) = match parsed {
            Ok(parsed) => parsed,
            Err(NoBlock::EndOfFile) => return Ok(Step::End),
            Err(NoBlock::NeedMoreData) => return self.refill(claimed_len).map(|()| Step::Continue),
            Err(NoBlock::EndOfStream) => return self.end_of_stream(claimed_len),
            Err(NoBlock::Malformed(why)) => return Err(why),
        };
        let raw_block = self.parser.data().get(..len).unwrap_or_default();
        self.format.check_framing(raw_block)?;
        self.parser.consume(len);
        Ok(match outcome {
            Outcome::Packet => Step::Packet,
            Outcome::Nothing => Step::Continue,
            Outcome::Note(message) => Step::Note(message),
        })
    }

    fn refill(&mut self, claimed_len: Option<usize>) -> Result<(), String> {
        let available = self.parser.data().len();
        if let Some(len) = claimed_len {
            if available >= len {
                return Err(inconsistent_record(len));
            }
            // Grow only a full buffer, so memory follows the bytes read, not what a header
            // claims; the reader wants room to spare beyond the record.
            if available >= self.buffer_len {
                self.buffer_len =
                    self.buffer_len.saturating_mul(2).min(len.saturating_add(READ_BUFFER_LEN));
                self.parser.grow(self.buffer_len);
            }
        }
        self.parser
            .refill()
            .map_err(|_| format!("read error: {}", self.status.first_error().unwrap_or("unknown")))
    }

    fn end_of_stream(&self, claimed_len: Option<usize>) -> Result<Step, String> {
        let left = self.parser.data().len();
        match claimed_len {
            // The reader reports an end inside a record even when nothing is left.
            _ if left == 0 => Ok(Step::End),
            Some(len) if left >= len => Err(inconsistent_record(len)),
            _ => Err(format!("truncated record ({left} bytes left)")),
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
        CaptureIssue { file: self.path.clone(), offset, message }
    }
}

type Started = (Box<dyn PcapReaderIterator + Send>, Format, Arc<StreamStatus>);

fn start_parser(input: Input) -> Result<Started, String> {
    let Input { kind, stream, status } = input;
    let (parser, format): (Box<dyn PcapReaderIterator + Send>, Format) = match kind {
        FileKind::Pcap => {
            let mut parser = LegacyPcapReader::new(READ_BUFFER_LEN, stream).map_err(describe)?;
            let (header_len, format) = match parser.next() {
                Ok((len, PcapBlockOwned::LegacyHeader(header))) => (len, PcapFormat::new(&header)),
                Ok(_) => return Err("pcap file header not understood".to_string()),
                Err(e) => return Err(describe(e)),
            };
            parser.consume(header_len);
            (Box::new(parser), Format::Pcap(format))
        }
        FileKind::PcapNg => {
            let parser = PcapNGReader::new(READ_BUFFER_LEN, stream).map_err(describe)?;
            (Box::new(parser), Format::PcapNg(Section::default()))
        }
    };
    Ok((parser, format, status))
}

fn describe(e: PcapError<&[u8]>) -> String {
    match NoBlock::from(e) {
        NoBlock::EndOfFile | NoBlock::EndOfStream | NoBlock::NeedMoreData => {
            "file header cut short".to_string()
        }
        NoBlock::Malformed(why) => why,
    }
}

fn inconsistent_record(len: usize) -> String {
    format!("inconsistent record: its content runs past its length {len}")
}
