//! [`ReadBuffer`]: the bytes of one capture stream between reading and parsing.
//!
//! Invariants:
//! - `bytes[start..end]` are the bytes read and not consumed yet; `offset` is the position of
//!   `bytes[start]` in the stream.
//! - Bytes are moved only when more must be read and no room is left after `end`, and then only
//!   the unconsumed ones: a record (and the packet in it) stays in place until it is consumed.
//! - The buffer grows (doubling, up to the length asked for) only when it is full of unconsumed
//!   bytes, so its size is at most twice the bytes actually there, or the initial size.
//! - Reads go to all the room after `end`: with a file, one `read` per buffer's worth of records.
//! - Read ahead ([`Feed::Ahead`]), the buffer is the chunk last taken: the unconsumed bytes move
//!   into the next chunk's headroom (or, longer than it, the chunk is appended to them).

use std::io::Read;

use super::ahead::{Chunk, ReadAhead, HEADROOM};
use super::input::read_some;

/// Where a [`ReadBuffer`]'s bytes come from.
pub(super) enum Feed {
    /// Read on the parsing thread, into the buffer.
    Inline(Box<dyn Read + Send>),
    /// Read on a thread of its own, in chunks.
    Ahead(ReadAhead),
}

pub(super) struct ReadBuffer {
    feed: Feed,
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
}

impl ReadBuffer {
    /// A buffer of `capacity` bytes (more if `first` is longer) holding `first`, the bytes
    /// already taken from the stream `feed` goes on with.
    pub(super) fn new(mut first: Vec<u8>, feed: Feed, capacity: usize) -> Self {
        let end = first.len();
        first.resize(capacity.max(end), 0);
        ReadBuffer { feed, bytes: first, start: 0, end, offset: 0 }
    }

    /// The bytes read and not consumed yet.
    pub(super) fn data(&self) -> &[u8] {
        self.bytes.get(self.start..self.end).unwrap_or_default()
    }

    /// Position in the stream of the first byte of `data`.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the stream is read on a thread of its own.
    pub(super) fn reads_ahead(&self) -> bool {
        matches!(self.feed, Feed::Ahead(_))
    }

    /// Drops the first `len` bytes of `data` (all of them if fewer).
    pub(super) fn consume(&mut self, len: usize) {
        let len = len.min(self.end - self.start);
        self.start += len;
        self.offset = self.offset.saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
    }

    /// Reads until `data` holds at least `want` bytes; `Ok(false)` if the stream ends first.
    /// `Err` is the text of a read error.
    pub(super) fn fill(&mut self, want: usize) -> Result<bool, String> {
        while self.end - self.start < want {
            let more = if self.reads_ahead() { self.take_chunk()? } else { self.read_inline(want)? };
            if !more {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One read into the room after `end`; `Ok(false)` at the end of the stream.
    fn read_inline(&mut self, want: usize) -> Result<bool, String> {
        self.make_room(want);
        let Feed::Inline(stream) = &mut self.feed else { return Ok(false) };
        let read = read_some(stream, self.bytes.get_mut(self.end..).unwrap_or_default())?;
        self.end += read;
        Ok(read > 0)
    }

    /// Makes room after `end`, for a `want` bytes long run of unconsumed bytes.
    fn make_room(&mut self, want: usize) {
        if self.end < self.bytes.len() {
            return;
        }
        if self.start > 0 {
            self.compact();
        } else {
            // `want` is more than the buffer holds (it is full, and `fill` wants more).
            let doubled = self.bytes.len().saturating_mul(2).max(1);
            self.bytes.resize(doubled.min(want), 0);
        }
    }

    /// Moves the unconsumed bytes to the front.
    fn compact(&mut self) {
        self.bytes.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Takes the next chunk read ahead; `Ok(false)` at the end of the stream.
    fn take_chunk(&mut self) -> Result<bool, String> {
        let Feed::Ahead(ahead) = &self.feed else { return Ok(false) };
        let Some(chunk) = ahead.next() else { return Ok(false) };
        let Chunk { bytes: mut chunk, end: chunk_end } = chunk?;
        let left = self.end - self.start;
        let headroom = HEADROOM.checked_sub(left).and_then(|start| Some((start, chunk.get_mut(start..HEADROOM)?)));
        let used = if let Some((start, tail)) = headroom {
            // The usual case: the few unconsumed bytes go before the chunk's data.
            tail.copy_from_slice(self.data());
            self.start = start;
            self.end = chunk_end;
            std::mem::replace(&mut self.bytes, chunk)
        } else {
            // A record longer than the headroom: the chunk's data goes after it (the buffer
            // grows by doubling, so a record of many chunks is not copied once per chunk).
            if self.start > 0 {
                self.compact();
            }
            self.bytes.truncate(self.end);
            self.bytes.extend_from_slice(chunk.get(HEADROOM..chunk_end).unwrap_or_default());
            self.end = self.bytes.len();
            chunk
        };
        if let Feed::Ahead(ahead) = &self.feed {
            ahead.recycle(used);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A stream giving its bytes in reads of at most `chunk` bytes.
    struct Chunked {
        bytes: Vec<u8>,
        at: usize,
        chunk: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = buf.len().min(self.chunk).min(self.bytes.len() - self.at);
            buf[..len].copy_from_slice(&self.bytes[self.at..self.at + len]);
            self.at += len;
            Ok(len)
        }
    }

    fn buffer(first: &[u8], rest_len: usize, chunk: usize, capacity: usize) -> ReadBuffer {
        let rest = (0..rest_len).map(|i| (i % 251) as u8).collect();
        let stream = Box::new(Chunked { bytes: rest, at: 0, chunk });
        ReadBuffer::new(first.to_vec(), Feed::Inline(stream), capacity)
    }

    #[test]
    fn first_bytes_come_first_and_offsets_count_consumed_bytes() {
        let mut buf = buffer(&[9, 9, 9], 10, 4, 8);
        assert_eq!(buf.data(), [9, 9, 9]);
        assert_eq!(buf.fill(3), Ok(true));
        assert_eq!(buf.data(), [9, 9, 9], "no read while enough bytes are there");
        assert_eq!(buf.fill(5), Ok(true));
        assert_eq!(buf.data(), [9, 9, 9, 0, 1, 2, 3]);
        buf.consume(4);
        assert_eq!((buf.data(), buf.offset()), (&[1, 2, 3][..], 4));
        buf.consume(100);
        assert_eq!((buf.data(), buf.offset()), (&[][..], 7));
    }

    #[test]
    fn unconsumed_bytes_stay_in_place_while_there_is_room() {
        let mut buf = buffer(&[], 32, 3, 16);
        assert_eq!(buf.fill(3), Ok(true));
        let record = buf.data().as_ptr();
        assert_eq!(buf.fill(9), Ok(true));
        assert_eq!(buf.data().as_ptr(), record);
        assert_eq!(buf.data(), (0..9).collect::<Vec<u8>>());
    }

    #[test]
    fn a_full_buffer_moves_its_unconsumed_bytes_to_the_front() {
        let mut buf = buffer(&[], 32, 100, 16);
        assert_eq!(buf.fill(1), Ok(true));
        assert_eq!(buf.data().len(), 16, "one read fills all the room");
        buf.consume(12);
        assert_eq!(buf.fill(10), Ok(true));
        assert_eq!(buf.data(), (12..28).collect::<Vec<u8>>());
        assert_eq!(buf.bytes.len(), 16, "no growth while consumed bytes make room");
        assert_eq!(buf.offset(), 12);
    }

    #[test]
    fn growth_doubles_only_when_full_of_what_is_wanted() {
        let mut buf = buffer(&[], 100, 100, 16);
        assert_eq!(buf.fill(40), Ok(true));
        assert_eq!(buf.bytes.len(), 40, "16, then 32, then the 40 wanted");
        assert_eq!(buf.data(), (0..40).collect::<Vec<u8>>());
        let mut small = buffer(&[], 100, 100, 16);
        assert_eq!(small.fill(17), Ok(true));
        assert_eq!(small.bytes.len(), 17);
    }

    #[test]
    fn end_of_stream_and_read_errors() {
        let mut buf = buffer(&[1], 4, 2, 8);
        assert_eq!(buf.fill(6), Ok(false));
        assert_eq!(buf.data(), [1, 0, 1, 2, 3]);
        assert_eq!(buf.fill(5), Ok(true));

        struct Failing(bool);
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                // Interrupted reads are retried.
                let interrupted = std::mem::replace(&mut self.0, false);
                let kind =
                    if interrupted { io::ErrorKind::Interrupted } else { io::ErrorKind::Other };
                Err(io::Error::new(kind, "disk on fire"))
            }
        }
        let mut buf = ReadBuffer::new(vec![], Feed::Inline(Box::new(Failing(true))), 8);
        assert_eq!(buf.fill(1), Err("read error: disk on fire".to_string()));
    }

    /// Records of these lengths, read through `feed`: each as `fill` and `data` show it, with
    /// its offset.
    fn records_through(feed: Feed, stream: &[u8], lens: &[usize]) -> Vec<(u64, Vec<u8>)> {
        let mut buf = ReadBuffer::new(stream[..5].to_vec(), feed, 0);
        let mut seen = Vec::new();
        for &len in lens {
            assert_eq!(buf.fill(len), Ok(true));
            seen.push((buf.offset(), buf.data()[..len].to_vec()));
            buf.consume(len);
        }
        assert_eq!(buf.fill(1), Ok(false), "end of the stream");
        seen
    }

    #[test]
    fn read_ahead_gives_the_same_records_across_chunks() {
        use super::super::ahead::{CHUNK_LEN, HEADROOM};
        // Short records cut at chunk ends, one longer than the headroom, one longer than a chunk.
        let mut lens: Vec<usize> = (0..4000).map(|i| 1 + i * 7919 % 1500).collect();
        lens.extend([HEADROOM + 1, 3, CHUNK_LEN + HEADROOM + 17, 2, HEADROOM, 1]);
        // Many records longer than the headroom: every chunk buffer they grew must come back,
        // or the reading thread waits for one forever.
        lens.extend((0..200).map(|i| HEADROOM + 1 + i % 40 * 10_007));
        lens.extend((0..3000).map(|i| 1 + i * 104_729 % 3000));
        let total: usize = lens.iter().sum();
        let stream: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
        let rest = || Box::new(Chunked { bytes: stream[5..].to_vec(), at: 0, chunk: 100_000 });
        let inline = records_through(Feed::Inline(rest()), &stream, &lens);
        let ahead = records_through(Feed::Ahead(ReadAhead::start(rest()).unwrap()), &stream, &lens);
        assert_eq!(inline.len(), lens.len());
        assert!(inline == ahead, "records read ahead differ");
        let mut at = 0;
        for (offset, record) in &ahead {
            assert_eq!((*offset, &record[..]), (at as u64, &stream[at..at + record.len()]));
            at += record.len();
        }
    }

    #[test]
    fn read_ahead_keeps_a_record_in_place_until_more_is_wanted() {
        let stream = vec![7u8; 3 * 1024 * 1024];
        let rest = Box::new(Chunked { bytes: stream[5..].to_vec(), at: 0, chunk: 4096 });
        let mut buf = ReadBuffer::new(stream[..5].to_vec(), Feed::Ahead(ReadAhead::start(rest).unwrap()), 0);
        assert_eq!(buf.fill(100), Ok(true));
        let record = buf.data().as_ptr();
        buf.consume(10);
        assert_eq!(buf.fill(50), Ok(true), "there already");
        assert_eq!(buf.data().as_ptr(), record.wrapping_add(10));
    }

    #[test]
    fn read_ahead_delivers_the_bytes_before_a_read_error_then_the_error() {
        /// `good` bytes, then an error.
        struct FailsAfter(usize);
        impl Read for FailsAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.min(buf.len()) {
                    0 => Err(io::Error::other("disk on fire")),
                    len => {
                        buf[..len].fill(1);
                        self.0 -= len;
                        Ok(len)
                    }
                }
            }
        }
        let good = 2 * 1024 * 1024 + 10;
        let ahead = ReadAhead::start(Box::new(FailsAfter(good))).unwrap();
        let mut buf = ReadBuffer::new(vec![], Feed::Ahead(ahead), 0);
        assert_eq!(buf.fill(good), Ok(true));
        assert_eq!(buf.fill(good + 1), Err("read error: disk on fire".to_string()));
        assert_eq!(buf.data().len(), good);
    }

    #[test]
    fn dropping_a_buffer_read_ahead_ends_its_thread() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        /// Endless bytes; says when it is dropped (by the reading thread, as it ends).
        struct Endless(Arc<AtomicBool>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                Ok(buf.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let ahead = ReadAhead::start(Box::new(Endless(Arc::clone(&dropped)))).unwrap();
        let mut buf = ReadBuffer::new(vec![], Feed::Ahead(ahead), 0);
        assert_eq!(buf.fill(5 * 1024 * 1024), Ok(true));
        drop(buf);
        // The thread ends at its next chunk; wait for it, however slow the machine.
        while !dropped.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
