//! One direction's byte stream: passes bytes on in stream order, each offset exactly once.
//!
//! Shaped after smoltcp's `storage/assembler.rs`, except that it keeps the out-of-order bytes
//! themselves (a passive observer has no receive buffer to park them in). Offsets are 64-bit
//! positions in the stream, 0 being the first byte; the caller maps sequence numbers to them.
//!
//! In-order bytes are handed to the [`Deliver`] sink straight from the caller's slice; only
//! out-of-order bytes are copied. The first copy of an offset wins: later copies are compared
//! with it when it is still buffered, and counted.
//!
//! # Invariants
//!
//! Between calls:
//! 1. every buffered chunk starts strictly after `delivered` (bytes at `delivered` are passed on
//!    at once, never buffered);
//! 2. chunks are non-empty, sorted by start, and do not overlap;
//! 3. `cost` is the sum over chunks of their length plus [`CHUNK_OVERHEAD`], and at most
//!    `max_cost` (one `insert` may exceed it only until it returns);
//! 4. every offset below `delivered` has been passed on exactly once, as data or inside a gap, in
//!    offset order, and no offset at or above it has.

use std::collections::VecDeque;

/// Bookkeeping charged against the cap per buffered chunk (deque slot, `Vec` header, allocator
/// slack), so that a flood of tiny out-of-order segments cannot outgrow the cap.
pub(crate) const CHUNK_OVERHEAD: usize = 64;

/// Where the ordered stream goes.
pub(crate) trait Deliver {
    /// The next bytes of the stream (never empty).
    fn data(&mut self, bytes: &[u8]);
    /// The next `len` bytes of the stream are missing (never 0).
    fn gap(&mut self, len: u64);
}

/// Counters of one assembler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AssemblerStats {
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Bytes that arrived after a first copy of their offset (below `delivered` or buffered).
    pub retransmitted_bytes: u64,
    /// Of those, bytes that differed from the still-buffered first copy.
    pub conflicting_bytes: u64,
    /// Gap bytes declared early because the buffer reached its cap.
    pub overflow_bytes: u64,
}

impl AssemblerStats {
    /// Counts a later copy (`again`) of buffered bytes (`first`).
    fn count_copy(&mut self, first: &[u8], again: &[u8]) {
        self.retransmitted_bytes = self.retransmitted_bytes.saturating_add(len64(again.len()));
        if first != again {
            let differing = first.iter().zip(again).filter(|(a, b)| a != b).count();
            self.conflicting_bytes = self.conflicting_bytes.saturating_add(len64(differing));
        }
    }
}

/// Out-of-order bytes starting at a stream offset.
#[derive(Debug)]
struct Chunk {
    start: u64,
    bytes: Vec<u8>,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start.saturating_add(len64(self.bytes.len()))
    }

    fn cost(&self) -> usize {
        self.bytes.len().saturating_add(CHUNK_OVERHEAD)
    }
}

#[derive(Debug)]
pub(crate) struct Assembler {
    /// Offset of the next byte to pass on.
    delivered: u64,
    chunks: VecDeque<Chunk>,
    cost: usize,
    max_cost: usize,
    stats: AssemblerStats,
}

impl Assembler {
    /// An empty stream at offset 0 whose out-of-order buffer may cost at most `max_cost`.
    pub fn new(max_cost: usize) -> Self {
        Assembler {
            delivered: 0,
            chunks: VecDeque::new(),
            cost: 0,
            max_cost,
            stats: AssemblerStats::default(),
        }
    }

    /// Offset of the next byte to pass on: everything below it was delivered or declared a gap.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    pub fn stats(&self) -> &AssemblerStats {
        &self.stats
    }

    /// Takes `data` found at stream offset `start`, which may lie before 0 (a retransmission of
    /// bytes from before the stream's first byte) or overlap anything seen before. Passes on all
    /// that became contiguous; if the buffer then exceeds its cap, declares the first holes gaps.
    pub fn insert(&mut self, start: i64, data: &[u8], out: &mut impl Deliver) {
        let (mut cursor, mut rest) = self.trim_delivered(start, data);
        while !rest.is_empty() {
            let index = self.chunks.partition_point(|chunk| chunk.end() <= cursor);
            let taken = match self.chunks.get(index) {
                Some(chunk) if chunk.start <= cursor => {
                    let n = span(chunk.end() - cursor, rest.len());
                    let at = span(cursor - chunk.start, chunk.bytes.len());
                    // `at + n <= chunk length` because `n <= chunk.end() - cursor`.
                    let first = &chunk.bytes[at..at + n];
                    self.stats.count_copy(first, &rest[..n]);
                    n
                }
                next => {
                    let n = next.map_or(rest.len(), |chunk| span(chunk.start - cursor, rest.len()));
                    self.accept_new(index, cursor, &rest[..n], out);
                    n
                }
            };
            cursor = cursor.saturating_add(len64(taken));
            rest = &rest[taken..];
        }
        self.drain_front(out);
        self.enforce_cap(out);
    }

    /// Declares everything still missing below `target` a gap, passing on the buffered bytes in
    /// between (and those contiguous after them). Returns the gap bytes declared.
    pub fn skip_to(&mut self, target: u64, out: &mut impl Deliver) -> u64 {
        let mut declared = 0u64;
        while self.delivered < target {
            // Invariant 1: the front chunk starts after `delivered`, so the hole is never empty.
            let hole_end = self
                .chunks
                .front()
                .map_or(target, |chunk| chunk.start.min(target));
            let len = hole_end - self.delivered;
            self.stats.gaps += 1;
            self.stats.gap_bytes = self.stats.gap_bytes.saturating_add(len);
            self.delivered = hole_end;
            declared = declared.saturating_add(len);
            out.gap(len);
            self.drain_front(out);
        }
        declared
    }

    /// Passes on everything up to `sent_end` (the end of what the sender is known to have sent)
    /// and everything buffered, holes as gaps; the buffer is empty afterwards.
    pub fn flush(&mut self, sent_end: u64, out: &mut impl Deliver) {
        let end = self
            .chunks
            .back()
            .map_or(sent_end, |chunk| chunk.end().max(sent_end));
        self.skip_to(end, out);
    }

    /// Drops the part of `data` below `delivered`, counting it as retransmitted.
    fn trim_delivered<'d>(&mut self, start: i64, data: &'d [u8]) -> (u64, &'d [u8]) {
        let below = (i128::from(self.delivered) - i128::from(start)).max(0);
        let cut = usize::try_from(below).map_or(data.len(), |below| below.min(data.len()));
        self.stats.retransmitted_bytes = self.stats.retransmitted_bytes.saturating_add(len64(cut));
        // With a cut, the rest starts at `delivered`; without, `start >= delivered >= 0`.
        let start = if cut > 0 {
            self.delivered
        } else {
            u64::try_from(start).unwrap_or(self.delivered)
        };
        (start, &data[cut..])
    }

    /// Takes bytes at `offset` that no chunk holds; `index` is where a chunk there would go.
    fn accept_new(&mut self, index: usize, offset: u64, bytes: &[u8], out: &mut impl Deliver) {
        if offset == self.delivered {
            self.delivered = self.delivered.saturating_add(len64(bytes.len()));
            out.data(bytes);
            return;
        }
        let previous = index.checked_sub(1).and_then(|i| self.chunks.get_mut(i));
        match previous {
            // Extending the chunk that ends here keeps the count of chunks (and their overhead)
            // low when a run of segments follows a hole.
            Some(chunk) if chunk.end() == offset => {
                chunk.bytes.extend_from_slice(bytes);
                self.cost = self.cost.saturating_add(bytes.len());
            }
            _ => {
                let chunk = Chunk {
                    start: offset,
                    bytes: bytes.to_vec(),
                };
                self.cost = self.cost.saturating_add(chunk.cost());
                self.chunks.insert(index, chunk);
            }
        }
    }

    /// Passes on the buffered chunks that start at `delivered`.
    fn drain_front(&mut self, out: &mut impl Deliver) {
        while let Some(chunk) = self.chunks.pop_front() {
            if chunk.start != self.delivered {
                self.chunks.push_front(chunk);
                return;
            }
            self.cost = self.cost.saturating_sub(chunk.cost());
            self.delivered = chunk.end();
            out.data(&chunk.bytes);
        }
    }

    /// Restores invariant 3 by giving up on the first holes.
    fn enforce_cap(&mut self, out: &mut impl Deliver) {
        while self.cost > self.max_cost {
            let Some(first_start) = self.chunks.front().map(|chunk| chunk.start) else {
                return;
            };
            let declared = self.skip_to(first_start, out);
            self.stats.overflow_bytes = self.stats.overflow_bytes.saturating_add(declared);
        }
    }

    #[cfg(test)]
    pub fn buffered_cost(&self) -> usize {
        self.cost
    }

    /// Asserts invariants 1 to 3.
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let mut previous_end = self.delivered;
        let mut cost = 0;
        for chunk in &self.chunks {
            assert!(!chunk.bytes.is_empty(), "empty chunk");
            assert!(
                chunk.start > self.delivered,
                "chunk at {} not after delivered {}",
                chunk.start,
                self.delivered
            );
            assert!(
                chunk.start >= previous_end,
                "chunk at {} overlaps or is unsorted",
                chunk.start
            );
            previous_end = chunk.end();
            cost += chunk.cost();
        }
        assert_eq!(cost, self.cost, "cost bookkeeping");
        assert!(
            self.cost <= self.max_cost,
            "cost {} over cap {}",
            self.cost,
            self.max_cost
        );
    }
}

fn len64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// `n` as a length, at most `max`.
fn span(n: u64, max: usize) -> usize {
    usize::try_from(n).map_or(max, |n| n.min(max))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_rng::Rng;

    /// What a sink received, consecutive data merged.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum Piece {
        Data(Vec<u8>),
        Gap(u64),
    }

    /// Records the stream and the number of `data` calls.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub pieces: Vec<Piece>,
        pub data_calls: usize,
    }

    impl Deliver for Recorder {
        fn data(&mut self, bytes: &[u8]) {
            assert!(!bytes.is_empty(), "empty data delivered");
            self.data_calls += 1;
            match self.pieces.last_mut() {
                Some(Piece::Data(last)) => last.extend_from_slice(bytes),
                _ => self.pieces.push(Piece::Data(bytes.to_vec())),
            }
        }
        fn gap(&mut self, len: u64) {
            assert!(len > 0, "empty gap delivered");
            self.pieces.push(Piece::Gap(len));
        }
    }

    fn data(bytes: &[u8]) -> Piece {
        Piece::Data(bytes.to_vec())
    }

    const BIG: usize = 1 << 20;

    /// Inserts each (offset, bytes) and checks the invariants after each.
    fn feed(asm: &mut Assembler, out: &mut Recorder, pieces: &[(i64, &[u8])]) {
        for &(offset, bytes) in pieces {
            asm.insert(offset, bytes, out);
            asm.check_invariants();
        }
    }

    #[test]
    fn in_order_is_passed_on_without_buffering() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(&mut asm, &mut out, &[(0, b"abc"), (3, b"def"), (6, b"")]);
        assert_eq!(out.pieces, vec![data(b"abcdef")]);
        assert_eq!(out.data_calls, 2);
        assert_eq!(asm.delivered(), 6);
        assert_eq!(asm.buffered_cost(), 0);
        assert_eq!(*asm.stats(), AssemblerStats::default());
    }

    #[test]
    fn out_of_order_waits_for_the_hole() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(&mut asm, &mut out, &[(3, b"def")]);
        assert!(out.pieces.is_empty());
        assert_eq!(asm.buffered_cost(), 3 + CHUNK_OVERHEAD);
        feed(&mut asm, &mut out, &[(0, b"abc")]);
        assert_eq!(out.pieces, vec![data(b"abcdef")]);
        assert_eq!(asm.buffered_cost(), 0);
    }

    /// Every order of `0..n`.
    pub(crate) fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut all = Vec::new();
        for rest in permutations(n - 1) {
            for at in 0..=rest.len() {
                let mut p = rest.clone();
                p.insert(at, n - 1);
                all.push(p);
            }
        }
        all
    }

    #[test]
    fn every_order_of_two_and_three_segments() {
        let stream = b"0123456789";
        for segments in [vec![(0, 4), (4, 10)], vec![(0, 3), (3, 5), (5, 10)]] {
            for order in permutations(segments.len()) {
                let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
                for &i in &order {
                    let (from, to) = segments[i];
                    feed(&mut asm, &mut out, &[(from as i64, &stream[from..to])]);
                }
                assert_eq!(out.pieces, vec![data(stream)], "order {order:?}");
                assert_eq!(asm.buffered_cost(), 0);
                assert_eq!(*asm.stats(), AssemblerStats::default(), "order {order:?}");
            }
        }
    }

    #[test]
    fn exact_duplicate_is_retransmission() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(
            &mut asm,
            &mut out,
            &[(0, b"abc"), (0, b"abc"), (5, b"fg"), (5, b"fg"), (3, b"de")],
        );
        assert_eq!(out.pieces, vec![data(b"abcdefg")]);
        assert_eq!(asm.stats().retransmitted_bytes, 5);
        assert_eq!(asm.stats().conflicting_bytes, 0);
    }

    #[test]
    fn partial_overlap_with_same_bytes() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        // Below delivered, straddling delivered, and straddling a buffered chunk on both sides.
        feed(
            &mut asm,
            &mut out,
            &[
                (0, b"abcd"),
                (2, b"cdef"),
                (8, b"ij"),
                (7, b"hijk"),
                (6, b"g"),
            ],
        );
        assert_eq!(out.pieces, vec![data(b"abcdefghijk")]);
        assert_eq!(asm.stats().retransmitted_bytes, 2 + 2);
        assert_eq!(asm.stats().conflicting_bytes, 0);
    }

    #[test]
    fn conflicting_overlap_keeps_the_first_copy() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(
            &mut asm,
            &mut out,
            &[(4, b"EFGH"), (2, b"cdXYZh"), (0, b"ab")],
        );
        assert_eq!(out.pieces, vec![data(b"abcdEFGH")]);
        assert_eq!(asm.stats().retransmitted_bytes, 4);
        assert_eq!(asm.stats().conflicting_bytes, 4);
    }

    #[test]
    fn in_order_bytes_overlapping_a_buffered_chunk_lose_to_it() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(&mut asm, &mut out, &[(2, b"CD"), (0, b"abcdef")]);
        assert_eq!(out.pieces, vec![data(b"abCDef")]);
        assert_eq!(asm.stats().retransmitted_bytes, 2);
        assert_eq!(asm.stats().conflicting_bytes, 2);
    }

    #[test]
    fn bytes_before_the_stream_start_are_retransmissions() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(
            &mut asm,
            &mut out,
            &[(-3, b"xyzab"), (-10, b"q"), (i64::MIN, b"q")],
        );
        assert_eq!(out.pieces, vec![data(b"ab")]);
        assert_eq!(asm.stats().retransmitted_bytes, 5);
    }

    #[test]
    fn a_run_after_a_hole_is_one_chunk() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(
            &mut asm,
            &mut out,
            &[(10, b"aaaa"), (14, b"bbbb"), (18, b"cc")],
        );
        assert_eq!(asm.buffered_cost(), 10 + CHUNK_OVERHEAD);
        feed(&mut asm, &mut out, &[(5, b"x")]);
        assert_eq!(asm.buffered_cost(), 11 + 2 * CHUNK_OVERHEAD);
    }

    #[test]
    fn skip_to_declares_holes_and_passes_buffered_bytes() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(
            &mut asm,
            &mut out,
            &[(0, b"ab"), (5, b"fg"), (9, b"j"), (20, b"u")],
        );
        assert_eq!(asm.skip_to(12, &mut out), 3 + 2 + 2);
        assert_eq!(
            out.pieces,
            vec![
                data(b"ab"),
                Piece::Gap(3),
                data(b"fg"),
                Piece::Gap(2),
                data(b"j"),
                Piece::Gap(2)
            ]
        );
        assert_eq!(asm.delivered(), 12);
        assert_eq!(asm.skip_to(12, &mut out), 0);
        assert_eq!(asm.skip_to(3, &mut out), 0);
        asm.check_invariants();
        assert_eq!((asm.stats().gaps, asm.stats().gap_bytes), (3, 7));
        assert_eq!(asm.stats().overflow_bytes, 0);
    }

    #[test]
    fn skip_to_a_chunk_start_passes_the_chunk_on() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(&mut asm, &mut out, &[(4, b"ef")]);
        assert_eq!(asm.skip_to(4, &mut out), 4);
        assert_eq!(out.pieces, vec![Piece::Gap(4), data(b"ef")]);
        assert_eq!(asm.delivered(), 6);
    }

    #[test]
    fn flush_passes_everything_on() {
        let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
        feed(&mut asm, &mut out, &[(2, b"c"), (6, b"gh")]);
        asm.flush(4, &mut out);
        assert_eq!(
            out.pieces,
            vec![Piece::Gap(2), data(b"c"), Piece::Gap(3), data(b"gh")]
        );
        asm.flush(10, &mut out);
        assert_eq!(out.pieces.last(), Some(&Piece::Gap(2)));
        assert_eq!(asm.delivered(), 10);
        assert_eq!(asm.buffered_cost(), 0);
    }

    #[test]
    fn cap_overflow_gives_up_the_first_hole() {
        let cap = 2 * (4 + CHUNK_OVERHEAD);
        let (mut asm, mut out) = (Assembler::new(cap), Recorder::default());
        feed(&mut asm, &mut out, &[(10, b"kkkk"), (20, b"uuuu")]);
        assert!(out.pieces.is_empty());
        feed(&mut asm, &mut out, &[(30, b"EEEE")]);
        assert_eq!(out.pieces, vec![Piece::Gap(10), data(b"kkkk")]);
        assert_eq!(asm.stats().overflow_bytes, 10);
        assert_eq!(asm.buffered_cost(), cap);
        // The late bytes of the given-up hole are retransmissions now.
        feed(&mut asm, &mut out, &[(0, b"0123456789")]);
        assert_eq!(asm.stats().retransmitted_bytes, 10);
        feed(&mut asm, &mut out, &[(14, b"abcdef")]);
        assert_eq!(out.pieces, vec![Piece::Gap(10), data(b"kkkkabcdefuuuu")]);
        assert_eq!((asm.stats().gaps, asm.stats().gap_bytes), (1, 10));
    }

    #[test]
    fn a_segment_larger_than_the_cap_is_passed_on_after_a_gap() {
        let (mut asm, mut out) = (Assembler::new(8), Recorder::default());
        feed(&mut asm, &mut out, &[(5, b"0123456789")]);
        assert_eq!(out.pieces, vec![Piece::Gap(5), data(b"0123456789")]);
        assert_eq!(asm.stats().overflow_bytes, 5);
    }

    #[test]
    fn zero_cap_never_buffers() {
        let (mut asm, mut out) = (Assembler::new(0), Recorder::default());
        feed(&mut asm, &mut out, &[(1, b"b"), (0, b"a"), (2, b"c")]);
        assert_eq!(out.pieces, vec![Piece::Gap(1), data(b"bc")]);
        assert_eq!(asm.stats().retransmitted_bytes, 1);
    }

    #[test]
    fn random_overlapping_segments_reassemble_exactly() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..300 {
            let len = 1 + rng.below(400);
            let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut segments = Vec::new();
            for _ in 0..(1 + rng.below(40)) {
                let from = rng.below(len);
                let to = from + 1 + rng.below(len - from);
                segments.push((from, to));
            }
            // Cover every byte at least once.
            let mut at = 0;
            while at < len {
                let to = (at + 1 + rng.below(60)).min(len);
                segments.push((at, to));
                at = to;
            }
            for i in (1..segments.len()).rev() {
                segments.swap(i, rng.below(i + 1));
            }
            let (mut asm, mut out) = (Assembler::new(BIG), Recorder::default());
            for &(from, to) in &segments {
                feed(&mut asm, &mut out, &[(from as i64, &stream[from..to])]);
            }
            assert_eq!(out.pieces, vec![Piece::Data(stream.clone())]);
            assert_eq!(asm.stats().conflicting_bytes, 0);
            let sent: usize = segments.iter().map(|(from, to)| to - from).sum();
            assert_eq!(asm.stats().retransmitted_bytes, (sent - len) as u64);
        }
    }
}
