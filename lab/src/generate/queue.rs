//! Frames waiting to be written, earliest first. Connections emit a burst's packets (data and
//! the peer's ACKs, whose times interleave with other connections'), and the scheduler writes
//! everything up to the earliest time any connection can still emit at: the file stays in time
//! order while each connection works a burst at a time.
//!
//! Ties are broken by emission order, so the output is a pure function of the emissions.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::Nanos;

/// Spare frame buffers kept for reuse; beyond this they are freed.
const MAX_SPARE_BUFFERS: usize = 4096;
/// Room for a full-size Ethernet frame with a VLAN tag.
const FRAME_CAPACITY: usize = 1536;

struct Queued {
    time: Nanos,
    order: u64,
    frame: Vec<u8>,
}

impl Queued {
    fn key(&self) -> (Nanos, u64) {
        (self.time, self.order)
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Queued) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Queued) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest frame must come out first.
    fn cmp(&self, other: &Queued) -> Ordering {
        other.key().cmp(&self.key())
    }
}

#[derive(Default)]
pub struct PacketQueue {
    heap: BinaryHeap<Queued>,
    emitted: u64,
    spare: Vec<Vec<u8>>,
}

impl PacketQueue {
    /// Queues the frame `write` builds (into a cleared, reused buffer) at `time`.
    pub fn push_with(&mut self, time: Nanos, write: impl FnOnce(&mut Vec<u8>)) {
        let mut frame = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(FRAME_CAPACITY));
        frame.clear();
        write(&mut frame);
        self.heap.push(Queued {
            time,
            order: self.emitted,
            frame,
        });
        self.emitted += 1;
    }

    /// The earliest frame, if it is due at or before `limit`.
    pub fn pop_due(&mut self, limit: Nanos) -> Option<(Nanos, Vec<u8>)> {
        if self.heap.peek()?.time > limit {
            return None;
        }
        self.heap.pop().map(|queued| (queued.time, queued.frame))
    }

    /// Gives a written frame's buffer back for reuse.
    pub fn recycle(&mut self, frame: Vec<u8>) {
        if self.spare.len() < MAX_SPARE_BUFFERS {
            self.spare.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_emission_order_up_to_the_limit() {
        let mut queue = PacketQueue::default();
        for (time, tag) in [(30, b'a'), (10, b'b'), (30, b'c'), (20, b'd')] {
            queue.push_with(time, |frame| frame.push(tag));
        }
        assert_eq!(queue.pop_due(5), None);
        let mut popped = Vec::new();
        while let Some((time, frame)) = queue.pop_due(30) {
            popped.push((time, frame[0]));
            queue.recycle(frame);
        }
        assert_eq!(popped, [(10, b'b'), (20, b'd'), (30, b'a'), (30, b'c')]);
        assert_eq!(queue.pop_due(Nanos::MAX), None);
    }

    #[test]
    fn reused_buffers_start_empty() {
        let mut queue = PacketQueue::default();
        queue.push_with(1, |frame| frame.extend_from_slice(b"long frame"));
        let (_, frame) = queue.pop_due(1).unwrap();
        queue.recycle(frame);
        queue.push_with(2, |frame| frame.push(b'x'));
        assert_eq!(queue.pop_due(2).unwrap().1, b"x");
    }
}
