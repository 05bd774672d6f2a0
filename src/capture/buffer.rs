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

use std::io::{self, Read};

pub(super) struct ReadBuffer {
    stream: Box<dyn Read + Send>,
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
}

impl ReadBuffer {
    /// A buffer of `capacity` bytes (more if `first` is longer) holding `first`, the bytes
    /// already taken from `stream`.
    pub(super) fn new(mut first: Vec<u8>, stream: Box<dyn Read + Send>, capacity: usize) -> Self {
        let end = first.len();
        first.resize(capacity.max(end), 0);
        ReadBuffer { stream, bytes: first, start: 0, end, offset: 0 }
    }

    /// The bytes read and not consumed yet.
    pub(super) fn data(&self) -> &[u8] {
        self.bytes.get(self.start..self.end).unwrap_or_default()
    }

    /// Position in the stream of the first byte of `data`.
    pub(super) fn offset(&self) -> u64 {
        self.offset
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
            self.make_room(want);
            let read = loop {
                match self.stream.read(self.bytes.get_mut(self.end..).unwrap_or_default()) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("read error: {e}")),
                    Ok(read) => break read,
                }
            };
            if read == 0 {
                return Ok(false);
            }
            self.end += read;
        }
        Ok(true)
    }

    /// Makes room after `end`, for a `want` bytes long run of unconsumed bytes.
    fn make_room(&mut self, want: usize) {
        if self.end < self.bytes.len() {
            return;
        }
        if self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else {
            // `want` is more than the buffer holds (it is full, and `fill` wants more).
            let doubled = self.bytes.len().saturating_mul(2).max(1);
            self.bytes.resize(doubled.min(want), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ReadBuffer::new(first.to_vec(), stream, capacity)
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
        let mut buf = ReadBuffer::new(vec![], Box::new(Failing(true)), 8);
        assert_eq!(buf.fill(1), Err("read error: disk on fire".to_string()));
    }
}
