//! Where the report tables' batches are encoded into CSV and Parquet: on the caller's thread,
//! or on [`BACKGROUND_THREADS`] background threads shared by the tables of a report (each table
//! bound to one of them), so the pipeline only builds the columns and hands them over. Two
//! threads let the last batches of different tables, all handed over at the end of a run, be
//! encoded at the same time.
//!
//! Contract of the background threads:
//! - Same bytes as inline: each table's batches reach its files in the order they were handed
//!   over (one thread per table, one first-in first-out queue per thread).
//! - Bounded memory: at most [`QUEUED_BATCHES`] batches wait for each thread besides the one it
//!   encodes; a table that hands over more blocks until its thread catches up.
//! - No lost errors: after the first failure of any thread (an error naming its file) no thread
//!   writes anything more, and the next `TableOutput::write` or `TableOutput::finish` of
//!   any table returns that error.
//! - Atomic tables: `TableOutput::finish` returns once the table's files are complete and
//!   renamed into place. A table dropped unfinished leaves no file: its temporary files are
//!   removed once its thread let go of its batches, at the latest when the last table is gone,
//!   which stops and joins the threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use polars::prelude::DataFrame;

use super::table::{Formats, TableError, TableFiles};

/// Batches that may wait for a background thread besides the one it encodes. Memory stays
/// bounded: a batch holds at most `BATCH_ROWS` rows and `BATCH_TEXT_BYTES` of text. One is
/// enough: with two, a 1 GiB capture of small transactions peaked 15 MB higher (118 against
/// 103 MB) and ran no faster (generated 1 GiB, two threads: 691 against 643 ms).
pub const QUEUED_BATCHES: usize = 1;

/// Background encoding threads; tables are bound to them in turn, in the order they are made.
pub const BACKGROUND_THREADS: usize = 2;

/// Where batches are encoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// On the thread that hands them over, before it goes on.
    Inline,
    /// On [`BACKGROUND_THREADS`] background threads shared by the tables of the [`Encoder`].
    Background,
}

/// Encodes the batches of a report's tables; cloning shares the background threads, if any.
#[derive(Clone)]
pub struct Encoder {
    /// The files each table is written to.
    formats: Formats,
    /// Empty when encoding inline.
    threads: Vec<Arc<EncoderThread>>,
    /// Tables bound so far, to bind the next one to the next thread.
    bound: Arc<AtomicUsize>,
}

impl Encoder {
    /// Starts an encoder writing `formats`; only [`Encoding::Background`] starts threads, and so
    /// can fail.
    pub fn start(encoding: Encoding, formats: Formats) -> std::io::Result<Self> {
        match encoding {
            Encoding::Inline => Ok(Encoder { formats, ..Self::inline() }),
            Encoding::Background => {
                let failure = Arc::new(OnceLock::new());
                let threads = (0..BACKGROUND_THREADS)
                    .map(|i| EncoderThread::spawn(i, Arc::clone(&failure)).map(Arc::new))
                    .collect::<std::io::Result<_>>()?;
                Ok(Encoder { formats, threads, bound: Arc::default() })
            }
        }
    }

    /// Encodes on the caller's thread, into both formats.
    pub fn inline() -> Self {
        Encoder { formats: Formats::default(), threads: Vec::new(), bound: Arc::default() }
    }

    pub(super) fn formats(&self) -> Formats {
        self.formats
    }

    /// Whether batches are encoded on background threads, where a batch's two formats may be
    /// encoded side by side ([`TableFiles::write`]).
    pub(super) fn in_background(&self) -> bool {
        !self.threads.is_empty()
    }

    /// How one table's batches reach its files.
    pub(super) fn output(&self, files: TableFiles) -> TableOutput {
        if self.threads.is_empty() {
            return TableOutput::Inline(Box::new(files));
        }
        let thread = &self.threads[self.bound.fetch_add(1, Ordering::Relaxed) % self.threads.len()];
        let path = files.path().to_path_buf();
        TableOutput::Background { files: Arc::new(Mutex::new(files)), thread: Arc::clone(thread), path }
    }
}

/// One table's files, written inline or through the background thread.
pub(super) enum TableOutput {
    Inline(Box<TableFiles>),
    Background {
        /// Locked by the thread only (the table hands it over with each job), so never waited for.
        files: Arc<Mutex<TableFiles>>,
        thread: Arc<EncoderThread>,
        /// The table's name in errors ([`TableFiles::path`], kept out of the lock).
        path: PathBuf,
    },
}

impl TableOutput {
    pub(super) fn path(&self) -> &Path {
        match self {
            TableOutput::Inline(files) => files.path(),
            TableOutput::Background { path, .. } => path,
        }
    }

    /// Encodes `batch` now, or queues it after surfacing the thread's failure, if any.
    pub(super) fn write(&mut self, batch: DataFrame) -> Result<(), TableError> {
        match self {
            TableOutput::Inline(files) => files.write(&batch),
            TableOutput::Background { files, thread, path } => thread.send(Job { files: Arc::clone(files), work: Work::Write(batch) }, path),
        }
    }

    /// Closes the files and renames them into place, after every batch handed over before.
    /// Returns the Parquet parts written ([`TableFiles::close`]).
    pub(super) fn finish(self) -> Result<usize, TableError> {
        match self {
            TableOutput::Inline(mut files) => files.close(),
            TableOutput::Background { files, thread, path } => {
                let (done, closed) = sync_channel(1);
                thread.send(Job { files, work: Work::Close(done) }, &path)?;
                // If this was the thread's last table, `thread`, dropped at the end of this arm,
                // joins it.
                closed.recv().unwrap_or_else(|_| Err(stopped(&path)))
            }
        }
    }
}

/// A background thread and the way to it. Dropping the last handle (every table bound to it
/// finished or dropped, and the encoder gone) lets the thread drain its queue and end, and
/// joins it.
pub(super) struct EncoderThread {
    /// `None` only while dropping.
    sender: Option<SyncSender<Job>>,
    handle: Option<JoinHandle<()>>,
    /// The first failure of any of the encoder's threads.
    failure: Arc<OnceLock<TableError>>,
}

struct Job {
    files: Arc<Mutex<TableFiles>>,
    work: Work,
}

enum Work {
    Write(DataFrame),
    /// Close the files, then answer.
    Close(SyncSender<Result<usize, TableError>>),
}

impl EncoderThread {
    fn spawn(index: usize, failure: Arc<OnceLock<TableError>>) -> std::io::Result<Self> {
        let (sender, jobs) = sync_channel(QUEUED_BATCHES);
        let thread_failure = Arc::clone(&failure);
        let handle = std::thread::Builder::new().name(format!("report-encoder-{index}")).spawn(move || {
            lower_priority();
            run(&jobs, &thread_failure)
        })?;
        Ok(EncoderThread { sender: Some(sender), handle: Some(handle), failure })
    }

    /// Queues a job of the table named `path`, unless the thread already failed.
    fn send(&self, job: Job, path: &Path) -> Result<(), TableError> {
        if let Some(failure) = self.failure.get() {
            return Err(failure.clone());
        }
        let sender = self.sender.as_ref().ok_or_else(|| stopped(path))?;
        sender.send(job).map_err(|_| stopped(path))
    }
}

impl Drop for EncoderThread {
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(handle) = self.handle.take() {
            // A panic on the encoder's thread is a bug: let it surface as it would inline
            // (unless this thread is unwinding already).
            if let Err(panic) = handle.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

/// A thread's loop: runs the jobs in order until every handle is gone. After the first
/// failure (of any thread) it only answers, so that no table blocks on a full queue or waits
/// for its close.
fn run(jobs: &Receiver<Job>, failure: &OnceLock<TableError>) {
    for Job { files, work } in jobs {
        let mut files = files.lock().unwrap_or_else(PoisonError::into_inner);
        match work {
            Work::Write(batch) => {
                if failure.get().is_none() {
                    if let Err(e) = files.write(&batch) {
                        record(failure, e);
                    }
                }
            }
            Work::Close(done) => {
                let closed = match failure.get() {
                    Some(first) => Err(first.clone()),
                    None => files.close(),
                };
                if let Err(e) = &closed {
                    record(failure, e.clone());
                }
                // The table waits for this answer; if it is gone, nobody needs it.
                let _ = done.send(closed);
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority (nice 10): called on the encoder threads, so
/// that encoding bursts take the core time the pipeline leaves idle instead of preempting the
/// dissecting thread, which sets the pace. Best effort: a failure changes only the speed.
fn lower_priority() {
    // SAFETY: setpriority has no memory effects; on Linux, PRIO_PROCESS with who 0 applies to
    // the calling thread only.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Keeps the thread's first failure; later ones follow from it.
fn record(failure: &OnceLock<TableError>, error: TableError) {
    let _ = failure.set(error);
}

fn stopped(path: &Path) -> TableError {
    TableError { path: path.to_path_buf(), message: "a report encoder thread stopped".into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::{col, ColumnType, TableSpec, TableWriter, Value, BATCH_ROWS};
    use std::fs;

    static LEFT: TableSpec = TableSpec {
        name: "left",
        doc: "test",
        columns: &[col("name", ColumnType::Str, "a name", None), col("n", ColumnType::U64, "a number", None)],
    };
    static RIGHT: TableSpec = TableSpec { name: "right", ..LEFT };

    const ENCODINGS: [Encoding; 2] = [Encoding::Inline, Encoding::Background];

    fn temp_dir(tag: &str, encoding: Encoding) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("affinity-encoder-{tag}-{encoding:?}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn push(writer: &mut TableWriter, i: u64) -> Result<(), TableError> {
        writer.push_row(&[Value::Str(Some(&format!("row {i}"))), Value::U64(Some(i))])
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// Two tables on one encoder, their rows interleaved, several batches each: the four files'
    /// bytes.
    fn write_two_tables(encoding: Encoding) -> Vec<Vec<u8>> {
        let dir = temp_dir("bytes", encoding);
        let encoder = Encoder::start(encoding, Formats::default()).unwrap();
        let mut left = TableWriter::create(&dir, &LEFT, &encoder).unwrap();
        let mut right = TableWriter::create(&dir, &RIGHT, &encoder).unwrap();
        let rows = 2 * BATCH_ROWS as u64 + 3;
        for i in 0..rows {
            push(&mut left, i).unwrap();
            if i % 2 == 0 {
                push(&mut right, i).unwrap();
            }
        }
        // Batches are written, under temporary names only.
        assert!(file_names(&dir).iter().all(|name| name.starts_with('.')));
        assert_eq!(left.finish().unwrap().rows, rows);
        assert_eq!(right.finish().unwrap().rows, rows.div_ceil(2));
        drop(encoder);
        assert_eq!(file_names(&dir), ["left.csv", "left.parquet", "right.csv", "right.parquet"]);
        let bytes = file_names(&dir).iter().map(|name| fs::read(dir.join(name)).unwrap()).collect();
        fs::remove_dir_all(dir).unwrap();
        bytes
    }

    #[test]
    fn background_writes_the_same_bytes_as_inline() {
        let inline = write_two_tables(Encoding::Inline);
        let background = write_two_tables(Encoding::Background);
        let csv = String::from_utf8(inline[0].clone()).unwrap();
        assert_eq!(csv.lines().count(), 2 * BATCH_ROWS + 4);
        assert_eq!(csv.lines().last(), Some(format!("row {0},{0}", 2 * BATCH_ROWS + 2).as_str()));
        assert!(inline == background, "background encoding wrote other bytes");
    }

    #[test]
    fn a_table_that_cannot_be_renamed_into_place_fails_its_finish() {
        for encoding in ENCODINGS {
            let dir = temp_dir("rename", encoding);
            let encoder = Encoder::start(encoding, Formats::default()).unwrap();
            let mut left = TableWriter::create(&dir, &LEFT, &encoder).unwrap();
            push(&mut left, 1).unwrap();
            fs::remove_dir_all(&dir).unwrap();
            let error = left.finish().err().unwrap();
            assert_eq!(error.path, dir.join("left.csv"), "{encoding:?}");
        }
    }

    #[test]
    fn the_encoder_threads_failure_reaches_every_table() {
        let dir = temp_dir("failure", Encoding::Background);
        let encoder = Encoder::start(Encoding::Background, Formats::default()).unwrap();
        let mut left = TableWriter::create(&dir, &LEFT, &encoder).unwrap();
        let mut right = TableWriter::create(&dir, &RIGHT, &encoder).unwrap();
        push(&mut left, 1).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(left.finish().err().unwrap().path, dir.join("left.csv"));
        // The other table learns of it at its next batch, and at its finish.
        let failed_at = (1..=BATCH_ROWS as u64).find(|&i| push(&mut right, i).is_err());
        assert_eq!(failed_at, Some(BATCH_ROWS as u64));
        let error = right.finish().err().unwrap();
        assert_eq!(error.path, dir.join("left.csv"));
        assert!(error.message.contains("No such file"), "{error}");
    }

    #[test]
    fn a_table_dropped_unfinished_leaves_no_file() {
        for encoding in ENCODINGS {
            let dir = temp_dir("drop", encoding);
            let encoder = Encoder::start(encoding, Formats::default()).unwrap();
            let mut left = TableWriter::create(&dir, &LEFT, &encoder).unwrap();
            let mut right = TableWriter::create(&dir, &RIGHT, &encoder).unwrap();
            push(&mut right, 0).unwrap();
            right.finish().unwrap();
            // The last row hands a batch over: the thread is still at it when `left` goes.
            for i in 0..2 * BATCH_ROWS as u64 {
                push(&mut left, i).unwrap();
            }
            drop(left);
            // The last handle joins the thread, which has let go of the batches by then.
            drop(encoder);
            assert_eq!(file_names(&dir), ["right.csv", "right.parquet"], "{encoding:?}");
            fs::remove_dir_all(dir).unwrap();
        }
    }
}
