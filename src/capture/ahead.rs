//! [`ReadAhead`]: a capture stream read (and, for gzip, inflated) on a thread of its own, a few
//! chunks ahead of the parser. With two cores the copy out of the page cache, a fifth of the
//! dissecting thread's time on the generated mix, then overlaps the parsing.
//!
//! Chunks are handed over whole, never copied: each is a buffer whose data starts after
//! [`HEADROOM`] free bytes, where the [`super::buffer::ReadBuffer`] puts the unconsumed tail of
//! the chunk before (a record cut at the chunk's end), so that records stay contiguous. Used
//! buffers come back for reuse.
//!
//! Invariants:
//! - Chunks arrive in stream order; a read error comes after every byte read before it, and
//!   ends the stream.
//! - At most [`BUFFERS`] chunk buffers exist per stream: memory is bounded per file read ahead,
//!   whatever the file's size. The parser holds one at a time and gives each back when it takes
//!   the next chunk, so the thread, which waits for a buffer once it has allocated them all,
//!   always has one while the parser waits for a chunk.
//! - Dropping the [`ReadAhead`] ends the thread at its next chunk (it never blocks on a full
//!   queue nobody reads).

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;

use super::input::read_some;

/// Bytes of stream data per chunk: 4 k chunks for a 4 GiB capture, each a few reads.
pub(super) const CHUNK_LEN: usize = 1024 * 1024;
/// Free bytes before a chunk's data, for the tail of the chunk before; a longer tail (a record
/// over 64 KiB, rare: jumbo frames and large pcapng blocks) is copied the other way round.
pub(super) const HEADROOM: usize = 64 * 1024;
/// Chunks read and waiting for the parser.
const QUEUED: usize = 2;
/// Chunk buffers per stream: the queued ones, the one being read and the parser's. The thread
/// allocates them once and then waits for one to come back (a buffer freed and allocated again
/// would cost its pages' faults anew: mimalloc returns freed memory at once, see `main.rs`).
const BUFFERS: usize = QUEUED + 2;

/// A chunk of the stream: its data is `bytes[HEADROOM..end]`.
pub(super) struct Chunk {
    pub bytes: Vec<u8>,
    pub end: usize,
}

/// The receiving end of a stream read ahead.
pub(super) struct ReadAhead {
    chunks: Receiver<Result<Chunk, String>>,
    spare: SyncSender<Vec<u8>>,
}

impl ReadAhead {
    /// Starts reading `stream` on a thread of its own.
    pub(super) fn start(stream: Box<dyn Read + Send>) -> io::Result<ReadAhead> {
        let (send_chunk, chunks) = sync_channel(QUEUED);
        let (spare, take_spare) = sync_channel(BUFFERS);
        thread::Builder::new()
            .name("capture-read".into())
            .spawn(move || read_chunks(stream, &send_chunk, &take_spare))?;
        Ok(ReadAhead { chunks, spare })
    }

    /// The next chunk, or the text of a read error; `None` at the end of the stream.
    pub(super) fn next(&self) -> Option<Result<Chunk, String>> {
        self.chunks.recv().ok()
    }

    /// Gives a buffer back for reuse: every chunk's buffer must come back, even one that grew
    /// to hold a long record (the thread allocates only [`BUFFERS`] and then waits for one).
    /// A smaller buffer (the file header's) is not a chunk's, and is dropped.
    pub(super) fn recycle(&self, mut bytes: Vec<u8>) {
        if bytes.capacity() >= HEADROOM + CHUNK_LEN {
            bytes.resize(HEADROOM + CHUNK_LEN, 0);
            bytes.shrink_to(HEADROOM + CHUNK_LEN);
            // Never full (it has room for every buffer); the thread may be gone: then it is freed.
            let _ = self.spare.try_send(bytes);
        }
    }
}

/// The reading thread: fills chunks until the stream ends, fails, or nobody takes them.
fn read_chunks(mut stream: Box<dyn Read + Send>, chunks: &SyncSender<Result<Chunk, String>>, spare: &Receiver<Vec<u8>>) {
    let mut allocated = 0;
    loop {
        let mut bytes = match spare.try_recv() {
            Ok(bytes) => bytes,
            Err(_) if allocated < BUFFERS => {
                allocated += 1;
                vec![0; HEADROOM + CHUNK_LEN]
            }
            Err(_) => match spare.recv() {
                Ok(bytes) => bytes,
                // The parser is gone: no buffer can come back.
                Err(_) => return,
            },
        };
        let (end, stop) = fill_chunk(&mut stream, &mut bytes);
        if end > HEADROOM && chunks.send(Ok(Chunk { bytes, end })).is_err() {
            return;
        }
        match stop {
            None => {}
            Some(Ok(())) => return,
            Some(Err(why)) => {
                let _ = chunks.send(Err(why));
                return;
            }
        }
    }
}

/// Reads into `bytes` after the headroom until it is full; returns where the data ends and,
/// when the stream stopped first, why (`Ok`: its end).
fn fill_chunk(stream: &mut impl Read, bytes: &mut [u8]) -> (usize, Option<Result<(), String>>) {
    let mut end = HEADROOM;
    while let Some(room) = bytes.get_mut(end..).filter(|room| !room.is_empty()) {
        match read_some(stream, room) {
            Ok(0) => return (end, Some(Ok(()))),
            Ok(read) => end += read,
            Err(why) => return (end, Some(Err(why))),
        }
    }
    (end, None)
}
