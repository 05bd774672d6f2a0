//! [`PacketSource`]: the packets of all files, merged by time or one file after the other.
//!
//! Files are opened lazily. For `MergeByTime`, `open` reads each file up to its first packet
//! (then closes it) to learn when it starts; a file is opened for good only when the merge
//! reaches that time. Files written one after the other (`tcpdump -C`/`-G`) are thus read
//! one or two at a time, while overlapping captures are merged. For `AsGiven`, a file is
//! opened when the previous one is done.
//!
//! Invariant: every open file has a packet waiting (its head, in its read buffer). The file
//! whose packet was handed out last is `current`; the others are in `heads`, a heap of their
//! head's (timestamp, file index) whose top is the earliest, ties going to the file given first.
//! Only keys move in the heap, never packets; and the next packet of `current` is compared with
//! the top before it goes in, so one file, or a file that stays the earliest, never touches it.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::reader::FileReader;
use super::{CaptureIssue, CaptureStats, ClockStep, PacketRef, ReadOrder, CLOCK_STEP_TOLERANCE_SECS};
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
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    current: Option<usize>,
    /// Disk bytes of the files done with.
    finished_bytes: u64,
    issues: Vec<CaptureIssue>,
    stats: CaptureStats,
    clock: ClockWatch,
    /// Most files read ahead on threads of their own at once (see [`PacketSource::read_ahead`]).
    read_ahead: usize,
}

/// Follows the time of the packets handed out, for [`ClockStep`]s.
#[derive(Default)]
struct ClockWatch {
    /// Time of the packet handed out last.
    last: Option<Timestamp>,
    /// The latest time handed out.
    latest: Timestamp,
    /// Steps the caller has not taken yet.
    steps: Vec<ClockStep>,
}

impl ClockWatch {
    fn watch(&mut self, ts: Timestamp, file: &Path, stats: &mut CaptureStats) {
        const TOLERANCE_NANOS: i64 = CLOCK_STEP_TOLERANCE_SECS * 1_000_000_000;
        let behind = |earlier: Timestamp| earlier.as_nanos().saturating_sub(ts.as_nanos()) > TOLERANCE_NANOS;
        if let Some(last) = self.last.filter(|&last| behind(last)) {
            stats.clock_steps_back = stats.clock_steps_back.saturating_add(1);
            let back = u64::try_from(last.as_nanos().saturating_sub(ts.as_nanos())).unwrap_or(0);
            stats.largest_step_back_nanos = stats.largest_step_back_nanos.max(back);
            self.steps.push(ClockStep { file: file.to_path_buf(), from: last, to: ts });
        }
        if behind(self.latest) && self.last.is_some() {
            stats.packets_behind = stats.packets_behind.saturating_add(1);
        }
        self.last = Some(ts);
        self.latest = self.latest.max(ts);
    }
}

struct CaptureFile {
    path: PathBuf,
    size: u64,
    /// While the file is open.
    reader: Option<FileReader>,
}

impl PacketSource {
    /// Opens every file; see [`CaptureError`] for what fails here and `issues` for the rest.
    pub fn open(paths: &[PathBuf], order: ReadOrder) -> Result<PacketSource, CaptureError> {
        let files = paths
            .iter()
            .map(|path| {
                Ok(CaptureFile { path: path.clone(), size: file_size(path)?, reader: None })
            })
            .collect::<Result<Vec<_>, CaptureError>>()?;
        let mut source = PacketSource {
            order,
            files,
            waiting: VecDeque::new(),
            heads: BinaryHeap::new(),
            current: None,
            finished_bytes: 0,
            issues: Vec::new(),
            stats: CaptureStats {
                files: u64::try_from(paths.len()).unwrap_or(u64::MAX),
                ..CaptureStats::default()
            },
            clock: ClockWatch::default(),
            read_ahead: 0,
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

    /// Reads up to `files` files at once on threads of their own, a few MiB ahead of the
    /// packets handed out (a file opened while `files` others are read ahead is read on the
    /// caller's thread). For more than one core: with one, the reading would only take turns
    /// with the parsing. Packets, issues and their order are the same either way.
    pub fn read_ahead(&mut self, files: usize) {
        self.read_ahead = files;
    }

    /// The next packet; `None` at the end of all files. The packet borrows its file's read
    /// buffer: it is valid until the next call.
    pub fn next_packet(&mut self) -> Option<PacketRef<'_>> {
        let next_of_current = self.advance_current();
        self.open_due_files(next_of_current);
        let index = self.pick(next_of_current)?;
        self.current = Some(index);
        let file = self.files.get(index)?;
        let packet = file.reader.as_ref()?.packet()?;
        self.stats.count(&packet);
        self.clock.watch(packet.ts, &file.path, &mut self.stats);
        Some(packet)
    }

    /// Damage found so far, in the order found.
    pub fn issues(&self) -> &[CaptureIssue] {
        &self.issues
    }

    /// The steps back of the capture's clock since the last call, in the order met. They wait
    /// here until taken (one at most per packet): take them as reading goes.
    pub fn take_clock_steps(&mut self) -> Vec<ClockStep> {
        std::mem::take(&mut self.clock.steps)
    }

    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Bytes on disk (compressed, for gzip) consumed so far, for a progress bar. A file stopped
    /// by damage counts as consumed whole.
    pub fn bytes_read(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|file| Some(file.reader.as_ref()?.disk_bytes_read().min(file.size)))
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

    /// Moves the file handed out last to its next packet: the key of that packet, or `None`
    /// (the file is then closed).
    fn advance_current(&mut self) -> Option<(Timestamp, usize)> {
        let index = self.current.take()?;
        let reader = self.files.get_mut(index)?.reader.as_mut()?;
        match reader.advance(&mut self.issues) {
            Some(ts) => Some((ts, index)),
            None => {
                self.finish(index);
                None
            }
        }
    }

    /// Opens the waiting files whose first packet may come before the earliest head.
    fn open_due_files(&mut self, next_of_current: Option<(Timestamp, usize)>) {
        while let Some(&first) = self.waiting.front() {
            let top = self.heads.peek().map(|Reverse(top)| *top);
            let earliest = [next_of_current, top].into_iter().flatten().min();
            let due = match (self.order, earliest) {
                (_, None) => true,
                (ReadOrder::AsGiven, Some(_)) => false,
                (ReadOrder::MergeByTime, Some(earliest)) => first <= earliest,
            };
            if !due {
                break;
            }
            self.waiting.pop_front();
            self.start(first.1);
        }
    }

    /// The file whose head comes next: the current file's, unless the top of `heads` is earlier;
    /// then that file leaves the heap and the current file's key takes its place.
    fn pick(&mut self, next_of_current: Option<(Timestamp, usize)>) -> Option<usize> {
        let Some(mut top) = self.heads.peek_mut() else {
            return next_of_current.map(|(_, index)| index);
        };
        let Reverse((_, index)) = match next_of_current {
            Some((ts, index)) if (ts, index) <= top.0 => return Some(index),
            // In place of the top: one sift down, no pop and push.
            Some(next) => std::mem::replace(&mut *top, Reverse(next)),
            None => PeekMut::pop(top),
        };
        Some(index)
    }

    /// Opens file `index` and reads its first packet.
    fn start(&mut self, index: usize) {
        let reading_ahead = self.files.iter().filter(|file| file.reader.as_ref().is_some_and(FileReader::reads_ahead)).count();
        let ahead = reading_ahead < self.read_ahead;
        let Some(file) = self.files.get_mut(index) else { return };
        match FileReader::open(&file.path, ahead, &mut self.issues) {
            Ok(Some(mut reader)) => {
                if let Some(ts) = reader.advance(&mut self.issues) {
                    file.reader = Some(reader);
                    self.heads.push(Reverse((ts, index)));
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => self.issues.push(CaptureIssue {
                file: file.path.clone(),
                offset: 0,
                after: None,
                message: format!("cannot reopen: {e}"),
            }),
        }
        self.finish(index);
    }

    /// Closes file `index`, done with.
    fn finish(&mut self, index: usize) {
        if let Some(file) = self.files.get_mut(index) {
            file.reader = None;
            self.finished_bytes = self.finished_bytes.saturating_add(file.size);
        }
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
    let Some(mut reader) = FileReader::open(path, false, issues)? else { return Ok(None) };
    Ok(reader.advance(issues))
}
