//! Opening one capture file: gzip detection, the file header, and the byte stream the pcap
//! parser reads, instrumented for progress (bytes read from disk) and read errors (whose text
//! pcap-parser does not keep).
//!
//! The parser's readers need the whole file header (pcap header or pcapng section header
//! block) in their first `read`, and a gzip decoder may return fewer bytes than asked. So the
//! header is read here, checked, and put back in front of the rest of the stream.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use flate2::bufread::MultiGzDecoder;

use super::pcapng;
use super::reader::READ_BUFFER_LEN;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAP_HEADER_LEN: usize = 24;
const PCAPNG_SECTION_HEADER_MIN_LEN: usize = 28;
/// Read size on the compressed file; plain files bypass it (the parser asks for more).
const DISK_BUFFER_LEN: usize = 64 * 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    Pcap,
    PcapNg,
}

/// A capture stream positioned at its start, the file header already checked.
pub(super) struct Input {
    pub(super) kind: FileKind,
    pub(super) stream: Box<dyn Read + Send>,
    pub(super) status: Arc<StreamStatus>,
}

pub(super) enum Opened {
    Capture(Input),
    /// Empty, not a capture, or damaged in its file header: why.
    Unusable(String),
}

/// What the stream of one file reports while the parser owns it.
#[derive(Debug, Default)]
pub(super) struct StreamStatus {
    disk_bytes: AtomicU64,
    first_error: OnceLock<String>,
}

impl StreamStatus {
    /// Bytes read from the file on disk (compressed bytes for gzip).
    pub(super) fn disk_bytes(&self) -> u64 {
        self.disk_bytes.load(Ordering::Relaxed)
    }

    /// Text of the first read error (for example a corrupt or cut gzip stream).
    pub(super) fn first_error(&self) -> Option<&str> {
        self.first_error.get().map(String::as_str)
    }
}

/// Opens `path`. Only failing to open the file is an `Err`.
pub(super) fn open(path: &Path) -> io::Result<Opened> {
    let status = Arc::new(StreamStatus::default());
    let file = CountDiskBytes { file: File::open(path)?, status: Arc::clone(&status) };
    let mut disk = BufReader::with_capacity(DISK_BUFFER_LEN, file);
    let is_gzip = match disk.fill_buf() {
        Ok(start) => start.starts_with(&GZIP_MAGIC),
        Err(e) => return Ok(Opened::Unusable(format!("read error: {e}"))),
    };
    let decoded: Box<dyn Read + Send> =
        if is_gzip { Box::new(MultiGzDecoder::new(disk)) } else { Box::new(disk) };
    let mut rest = KeepFirstError { inner: decoded, status: Arc::clone(&status) };
    Ok(match read_file_header(&mut rest) {
        Ok((kind, header)) => {
            let stream = Box::new(Cursor::new(header).chain(rest));
            Opened::Capture(Input { kind, stream, status })
        }
        Err(why) => Opened::Unusable(why),
    })
}

/// Reads and checks the file header; returns its bytes.
fn read_file_header(stream: &mut impl Read) -> Result<(FileKind, Vec<u8>), String> {
    let mut header = Vec::with_capacity(PCAP_HEADER_LEN);
    read_up_to(stream, &mut header, 4)?;
    let kind = classify(&header)?;
    let (name, len) = match kind {
        FileKind::Pcap => ("pcap file header", PCAP_HEADER_LEN),
        FileKind::PcapNg => {
            read_up_to(stream, &mut header, 12)?;
            ("pcapng section header block", section_header_len(&header)?)
        }
    };
    read_up_to(stream, &mut header, len)?;
    if header.len() < len {
        return Err(format!("truncated {name} ({} of {len} bytes)", header.len()));
    }
    Ok((kind, header))
}

fn classify(magic: &[u8]) -> Result<FileKind, String> {
    match magic {
        [] => Err("empty file".to_string()),
        // µs and ns pcap, little then big endian
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => Ok(FileKind::Pcap),
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => Ok(FileKind::Pcap),
        [0x0a, 0x0d, 0x0d, 0x0a] => Ok(FileKind::PcapNg),
        _ => {
            let hex: Vec<String> = magic.iter().map(|b| format!("{b:02x}")).collect();
            Err(format!("not a pcap or pcapng file (starts with {})", hex.join(" ")))
        }
    }
}

/// Length of the section header block whose first 12 bytes (or fewer, if the file is that
/// short) are `start`.
fn section_header_len(start: &[u8]) -> Result<usize, String> {
    let Some(len) = pcapng::block_len(start, false)? else {
        return Err(format!(
            "truncated pcapng section header block ({} of {PCAPNG_SECTION_HEADER_MIN_LEN} bytes)",
            start.len()
        ));
    };
    if len < PCAPNG_SECTION_HEADER_MIN_LEN {
        return Err(format!("bad block length {len} for a section header block"));
    }
    // The parser's reader wants the whole block in its first buffer.
    if len > READ_BUFFER_LEN {
        return Err(format!("section header block of {len} bytes is too large"));
    }
    Ok(len)
}

/// Appends bytes from `stream` to `buf` until it holds `len` bytes or the stream ends.
fn read_up_to(stream: &mut impl Read, buf: &mut Vec<u8>, len: usize) -> Result<(), String> {
    let missing = len.saturating_sub(buf.len());
    let missing = u64::try_from(missing).unwrap_or(u64::MAX);
    match stream.take(missing).read_to_end(buf) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read error: {e}")),
    }
}

/// The file on disk, counting the bytes read from it.
struct CountDiskBytes {
    file: File,
    status: Arc<StreamStatus>,
}

impl Read for CountDiskBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        self.status.disk_bytes.fetch_add(n64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The decoded stream, keeping the text of its first error and retrying interrupted reads
/// (pcap-parser's readers turn any error into a bare `ReadError`).
struct KeepFirstError {
    inner: Box<dyn Read + Send>,
    status: Arc<StreamStatus>,
}

impl Read for KeepFirstError {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.status.first_error.get_or_init(|| e.to_string());
                    return Err(e);
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}
