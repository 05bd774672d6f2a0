//! Opening one capture file: gzip detection, the file header, and the byte stream the reader
//! reads, instrumented for progress (bytes read from disk).
//!
//! A gzip decoder may return fewer bytes than asked, so the file header is read here until it
//! is whole, checked, and handed to the reader with the rest of the stream.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use super::pcapng;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(super) const PCAP_HEADER_LEN: usize = 24;
const PCAPNG_SECTION_HEADER_MIN_LEN: usize = 28;
/// Read size on the compressed file; plain files bypass it (the reader asks for more).
const DISK_BUFFER_LEN: usize = 64 * 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    Pcap,
    PcapNg,
}

/// A capture stream whose file header has been read and checked.
pub(super) struct Input {
    pub(super) kind: FileKind,
    /// The file header: pcap file header or pcapng section header block.
    pub(super) header: Vec<u8>,
    /// The rest of the (decompressed) file.
    pub(super) stream: Box<dyn Read + Send>,
    pub(super) disk_bytes: Arc<DiskBytes>,
}

pub(super) enum Opened {
    Capture(Input),
    /// Empty, not a capture, or damaged in its file header: why.
    Unusable(String),
}

/// Bytes read from the file on disk (compressed bytes for gzip), counted while the reader owns
/// the stream.
#[derive(Debug, Default)]
pub(super) struct DiskBytes(AtomicU64);

impl DiskBytes {
    pub(super) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Opens `path`. Only failing to open the file is an `Err`.
pub(super) fn open(path: &Path) -> io::Result<Opened> {
    let disk_bytes = Arc::new(DiskBytes::default());
    let file = CountDiskBytes { file: File::open(path)?, counter: Arc::clone(&disk_bytes) };
    let mut disk = BufReader::with_capacity(DISK_BUFFER_LEN, file);
    let is_gzip = match disk.fill_buf() {
        Ok(start) => start.starts_with(&GZIP_MAGIC),
        Err(e) => return Ok(Opened::Unusable(read_error(&e))),
    };
    let mut stream: Box<dyn Read + Send> =
        if is_gzip { Box::new(MultiGzDecoder::new(disk)) } else { Box::new(disk) };
    Ok(match read_file_header(&mut stream) {
        Ok((kind, header)) => Opened::Capture(Input { kind, header, stream, disk_bytes }),
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
    Ok(len)
}

/// One read from `stream` into `buf` (retried when interrupted): the bytes read, 0 at the end
/// of the stream, or the text of the error as a capture issue gives it. Read inline or ahead,
/// a capture's reads go through here, so both report a failing stream alike.
pub(super) fn read_some(stream: &mut (impl Read + ?Sized), buf: &mut [u8]) -> Result<usize, String> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(&e)),
            Ok(read) => return Ok(read),
        }
    }
}

fn read_error(e: &io::Error) -> String {
    format!("read error: {e}")
}

/// Appends bytes from `stream` to `buf` until it holds `len` bytes or the stream ends.
fn read_up_to(stream: &mut impl Read, buf: &mut Vec<u8>, len: usize) -> Result<(), String> {
    let missing = len.saturating_sub(buf.len());
    let missing = u64::try_from(missing).unwrap_or(u64::MAX);
    match stream.take(missing).read_to_end(buf) {
        Ok(_) => Ok(()),
        Err(e) => Err(read_error(&e)),
    }
}

/// The file on disk, counting the bytes read from it.
struct CountDiskBytes {
    file: File,
    counter: Arc<DiskBytes>,
}

impl Read for CountDiskBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        self.counter.0.fetch_add(n64, Ordering::Relaxed);
        Ok(n)
    }
}
