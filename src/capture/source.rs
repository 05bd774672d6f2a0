//! [`PacketSource`]: the packets of all files, merged by time or one file after the other.
//!
//! Files are opened lazily. For `MergeByTime`, `open` reads each file up to its first packet
//! (then closes it) to learn when it starts; a file is opened for good only when the merge
//! reaches that time. Files written one after the other (`tcpdump -C`/`-G`) are thus read
//! one or two at a time, while overlapping captures are merged. For `AsGiven`, a file is
//! opened when the previous one is done.
//!
//! Invariant: `active` holds one entry per open file that has a packet waiting (its `head`);
//! the heap's top is the earliest such packet, ties going to the file given first.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::reader::FileReader;
use super::{CaptureIssue, CaptureStats, Packet, ReadOrder};
use crate::timestamp::Timestamp;

/// A file that could not be opened at all.
#[derive(Debug)]
pub struct CaptureError {
    pub file: PathBuf,
    pub source: io::Error,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open capture file {}: {}", self.file.display(), self.source)
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The packets of a set of capture files; see the module documentation of `capture`.
pub struct PacketSource {
    order: ReadOrder,
    files: Vec<CaptureFile>,
    /// Files not opened yet, in the order they are due: (first packet time, file index) for
    /// `MergeByTime`, file index only for `AsGiven` (the time is then unused).
    waiting: VecDeque<(Timestamp, usize)>,
    active: BinaryHeap<ActiveFile>,
    /// Disk bytes of the files done with.
    finished_bytes: u64,
    issues: Vec<CaptureIssue>,
    stats: CaptureStats,
}

struct CaptureFile {
    path: PathBuf,
    size: u64,
}

impl PacketSource {
    /// Opens every file; see [`CaptureError`] for what fails here and `issues` for the rest.
    pub fn open(paths: &[PathBuf], order: ReadOrder) -> Result<PacketSource, CaptureError> {
        let files = paths
            .iter()
            .map(|path| Ok(CaptureFile { path: path.clone(), size: file_size(path)? }))
            .collect::<Result<Vec<_>, CaptureError>>()?;
        let mut source = PacketSource {
            order,
            files,
            waiting: VecDeque::new(),
            active: BinaryHeap::new(),
            finished_bytes: 0,
            issues: Vec::new(),
            stats: CaptureStats {
                files: u64::try_from(paths.len()).unwrap_or(u64::MAX),
                ..CaptureStats::default()
            },
        };
        match order {
            ReadOrder::AsGiven => {
                source.waiting =
                    (0..source.files.len()).map(|i| (Timestamp::default(), i)).collect()
            }
            ReadOrder::MergeByTime => source.schedule_by_first_packet()?,
        }
        Ok(source)
    }

    /// Refills `pkt` with the next packet; `false` at the end of all files.
    pub fn next_packet(&mut self, pkt: &mut Packet) -> bool {
        self.open_due_files();
        let Some(mut file) = self.active.pop() else { return false };
        // The caller's buffer becomes the file's next head: no copy.
        std::mem::swap(pkt, &mut file.head);
        if file.reader.next_packet(&mut file.head, &mut self.issues) {
            self.active.push(file);
        } else {
            self.finish(file.index);
        }
        self.stats.count(pkt);
        true
    }

    /// Damage found so far, in the order found.
    pub fn issues(&self) -> &[CaptureIssue] {
        &self.issues
    }

    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Bytes on disk (compressed, for gzip) consumed so far, for a progress bar. A file stopped
    /// by damage counts as consumed whole.
    pub fn bytes_read(&self) -> u64 {
        self.active
            .iter()
            .map(|file| file.reader.disk_bytes_read().min(self.files[file.index].size))
            .fold(self.finished_bytes, u64::saturating_add)
    }

    /// Sum of the files' sizes on disk.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size).fold(0, u64::saturating_add)
    }

    /// Learns when each file starts. A file without packets is done here, its issues kept.
    fn schedule_by_first_packet(&mut self) -> Result<(), CaptureError> {
        let mut starts = Vec::with_capacity(self.files.len());
        for index in 0..self.files.len() {
            let path = &self.files[index].path;
            let mut probe_issues = Vec::new();
            let first = first_packet_time(path, &mut probe_issues)
                .map_err(|source| CaptureError { file: path.clone(), source })?;
            match first {
                // Issues before the first packet are found again when the file is opened.
                Some(ts) => starts.push((ts, index)),
                None => {
                    self.issues.append(&mut probe_issues);
                    self.finish(index);
                }
            }
        }
        starts.sort_unstable();
        self.waiting = starts.into();
        Ok(())
    }

    /// Opens the waiting files whose first packet may come before the earliest head.
    fn open_due_files(&mut self) {
        while let Some(&(first_ts, index)) = self.waiting.front() {
            let due = match (self.order, self.active.peek()) {
                (_, None) => true,
                (ReadOrder::AsGiven, Some(_)) => false,
                (ReadOrder::MergeByTime, Some(earliest)) => (first_ts, index) <= earliest.key(),
            };
            if !due {
                break;
            }
            self.waiting.pop_front();
            self.start(index);
        }
    }

    /// Opens file `index` and reads its first packet.
    fn start(&mut self, index: usize) {
        let path = &self.files[index].path;
        match FileReader::open(path, &mut self.issues) {
            Ok(Some(mut reader)) => {
                let mut head = Packet::default();
                if reader.next_packet(&mut head, &mut self.issues) {
                    self.active.push(ActiveFile { index, reader, head });
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => self.issues.push(CaptureIssue {
                file: path.clone(),
                offset: 0,
                message: format!("cannot reopen: {e}"),
            }),
        }
        self.finish(index);
    }

    fn finish(&mut self, index: usize) {
        self.finished_bytes = self.finished_bytes.saturating_add(self.files[index].size);
    }
}

fn file_size(path: &Path) -> Result<u64, CaptureError> {
    let error = |source| CaptureError { file: path.to_path_buf(), source };
    let metadata = fs::File::open(path).and_then(|file| file.metadata()).map_err(error)?;
    if metadata.is_dir() {
        return Err(error(io::Error::new(io::ErrorKind::InvalidInput, "is a directory")));
    }
    Ok(metadata.len())
}

/// Time of the first packet of `path`, or `None` (with why in `issues`) if it has none.
fn first_packet_time(path: &Path, issues: &mut Vec<CaptureIssue>) -> io::Result<Option<Timestamp>> {
    let Some(mut reader) = FileReader::open(path, issues)? else { return Ok(None) };
    let mut first = Packet::default();
    Ok(reader.next_packet(&mut first, issues).then_some(first.ts))
}

/// An open file and its next packet.
struct ActiveFile {
    index: usize,
    reader: FileReader,
    head: Packet,
}

impl ActiveFile {
    fn key(&self) -> (Timestamp, usize) {
        (self.head.ts, self.index)
    }
}

// `BinaryHeap` is a max-heap: order reversed so that the earliest head is on top.
impl Ord for ActiveFile {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

impl PartialOrd for ActiveFile {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ActiveFile {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ActiveFile {}
