//! Reassembly of fragmented IP datagrams (IPv4, and IPv6 fragment headers), with bounded memory.
//!
//! etherparse's `IpDefragPool` does not fit: it is unbounded (its documentation says so), lets an
//! overlapping fragment silently overwrite earlier bytes, and keys on VLAN ids. This table keeps:
//!
//! - Datagrams keyed by (source, destination, protocol, identification).
//! - Per datagram, the received byte ranges, pairwise disjoint: a fragment overlapping another
//!   drops the whole datagram (the RFC 5722 rule, which also defeats overlap-based evasion),
//!   unless it is an exact duplicate (same range, same bytes, as a SPAN port often delivers),
//!   which is ignored. With disjoint ranges inside `[0, len)`, the datagram is complete exactly
//!   when the received byte count equals `len`, known from the last fragment.
//! - At most `max_datagrams` pending datagrams holding at most `max_bytes` of fragment data
//!   (`held_bytes` is the sum of the pending buffers' lengths); the oldest datagrams are evicted
//!   to make room for a new fragment.
//! - A datagram not complete `timeout_secs` of capture time after its first fragment is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use etherparse::IpNumber;

use super::skip::{Counters, Skip};
use crate::timestamp::Timestamp;

/// Largest reassembled payload: IP length fields are 16 bits.
const MAX_DATAGRAM_LEN: usize = u16::MAX as usize;

/// Expired datagrams are swept at most once per this much capture time (a sweep scans the whole
/// table); a fragment arriving for an expired datagram still drops it at once.
const SWEEP_INTERVAL_SECS: i64 = 1;

/// Bounds of the fragment table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Pending (incomplete) datagrams at most; at least 1 is used.
    pub max_datagrams: usize,
    /// Bytes of fragment data held at most; at least 65535 (one full datagram) is used.
    pub max_bytes: usize,
    /// Capture seconds after its first fragment when an incomplete datagram is dropped.
    pub timeout_secs: i64,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits { max_datagrams: 1024, max_bytes: 16 << 20, timeout_secs: 30 }
    }
}

/// Fragmentation fields of one fragment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct FragmentInfo {
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// Byte offset of this fragment's data in the datagram's payload.
    pub offset: usize,
    /// More fragments follow (clear on the last fragment).
    pub more: bool,
    /// Length of the headers before the fragment data (IPv4 header; IPv6 header plus the
    /// unfragmentable extension headers): the reassembled IP length is this plus the payload's.
    pub header_len: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: IpNumber,
    pub id: u32,
}

/// A datagram just completed; `payload` is the table's output buffer, valid until the next call.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Reassembled<'t> {
    pub header_len: usize,
    pub payload: &'t [u8],
}

/// A fragment whose shape is possible: not empty, ending within the 16-bit IP length, and a
/// multiple of 8 bytes long unless it is the last one.
struct Piece<'b> {
    info: FragmentInfo,
    bytes: &'b [u8],
    /// `info.offset + bytes.len()`, at most `MAX_DATAGRAM_LEN`.
    end: usize,
}

impl<'b> Piece<'b> {
    fn new(info: FragmentInfo, bytes: &'b [u8]) -> Option<Self> {
        let end = info.offset.checked_add(bytes.len())?;
        let possible =
            !bytes.is_empty() && end <= MAX_DATAGRAM_LEN && (!info.more || bytes.len().is_multiple_of(8));
        possible.then_some(Piece { info, bytes, end })
    }

    fn range(&self) -> Range<usize> {
        self.info.offset..self.end
    }
}

/// Why a piece was not added to its datagram.
enum Rejection {
    Duplicate,
    Overlap,
    Inconsistent,
}

struct PendingDatagram {
    first_seen: Timestamp,
    /// Fragment data at its offsets; bytes not received yet are zero.
    data: Vec<u8>,
    /// Ranges received, pairwise disjoint.
    ranges: Vec<Range<usize>>,
    /// Sum of the lengths of `ranges`.
    received: usize,
    /// Payload length, known once the last fragment arrived.
    len: Option<usize>,
    /// From the first fragment (offset 0), once it arrived.
    header_len: Option<usize>,
}

impl PendingDatagram {
    fn new(first_seen: Timestamp) -> Self {
        PendingDatagram {
            first_seen,
            data: Vec::new(),
            ranges: Vec::new(),
            received: 0,
            len: None,
            header_len: None,
        }
    }

    fn is_expired(&self, now: Timestamp, timeout_secs: i64) -> bool {
        now > self.first_seen.add_secs(timeout_secs)
    }

    fn is_complete(&self) -> bool {
        self.len == Some(self.received) && self.header_len.is_some()
    }

    fn add(&mut self, piece: &Piece<'_>) -> Result<(), Rejection> {
        // The last fragment fixes the length: nothing may end past it, another last fragment
        // must agree with it, and it may not end before data already received.
        let consistent = match (self.len, piece.info.more) {
            (Some(len), true) => piece.end <= len,
            (Some(len), false) => piece.end == len,
            (None, true) => true,
            (None, false) => piece.end >= self.data.len(),
        };
        if !consistent {
            return Err(Rejection::Inconsistent);
        }
        let range = piece.range();
        if let Some(held) =
            self.ranges.iter().find(|held| held.start < range.end && range.start < held.end)
        {
            let duplicate = *held == range && self.data.get(range.clone()) == Some(piece.bytes);
            return Err(if duplicate { Rejection::Duplicate } else { Rejection::Overlap });
        }
        if self.data.len() < piece.end {
            self.data.resize(piece.end, 0);
        }
        // In bounds: `data` is at least `end` long, and the range is exactly `bytes` long.
        self.data[range.clone()].copy_from_slice(piece.bytes);
        self.received += piece.bytes.len();
        self.ranges.push(range);
        if !piece.info.more {
            self.len = Some(piece.end);
        }
        if piece.info.offset == 0 {
            self.header_len = Some(piece.info.header_len);
        }
        Ok(())
    }
}

pub(super) struct FragmentTable {
    limits: FragmentLimits,
    pending: HashMap<FragmentKey, PendingDatagram>,
    /// Sum of `data.len()` over `pending`.
    held_bytes: usize,
    next_sweep: Timestamp,
    /// Payload of the datagram completed last.
    assembled: Vec<u8>,
}

impl FragmentTable {
    pub(super) fn new(limits: FragmentLimits) -> Self {
        let limits = FragmentLimits {
            max_datagrams: limits.max_datagrams.max(1),
            max_bytes: limits.max_bytes.max(MAX_DATAGRAM_LEN),
            ..limits
        };
        FragmentTable {
            limits,
            pending: HashMap::new(),
            held_bytes: 0,
            next_sweep: Timestamp::from_nanos(i64::MIN),
            assembled: Vec::new(),
        }
    }

    /// Drops the datagrams that timed out by `now` (at most one sweep per capture second; cheap
    /// to call for every packet).
    pub(super) fn expire(&mut self, now: Timestamp, counters: &mut Counters) {
        if self.pending.is_empty() || now < self.next_sweep {
            return;
        }
        self.next_sweep = now.add_secs(SWEEP_INTERVAL_SECS);
        let timeout_secs = self.limits.timeout_secs;
        let mut freed = 0;
        self.pending.retain(|_, datagram| {
            let expired = datagram.is_expired(now, timeout_secs);
            if expired {
                freed += datagram.data.len();
                counters.skip(Skip::FragmentTimeout);
            }
            !expired
        });
        self.held_bytes = self.held_bytes.saturating_sub(freed);
    }

    /// Adds one fragment's data; returns the datagram if this fragment completed it.
    pub(super) fn insert<'t>(
        &'t mut self,
        now: Timestamp,
        key: FragmentKey,
        info: FragmentInfo,
        bytes: &[u8],
        counters: &mut Counters,
    ) -> Option<Reassembled<'t>> {
        let Some(piece) = Piece::new(info, bytes) else {
            counters.skip(Skip::FragmentInconsistent);
            return None;
        };
        // A datagram past its deadline is an earlier one whose identification is being reused.
        if self.pending.get(&key).is_some_and(|d| d.is_expired(now, self.limits.timeout_secs)) {
            self.remove(&key);
            counters.skip(Skip::FragmentTimeout);
        }
        let held = self.pending.get(&key).map(|d| d.data.len());
        self.make_room(&key, held.is_none(), piece.end.saturating_sub(held.unwrap_or(0)), counters);

        let datagram = self.pending.entry(key).or_insert_with(|| PendingDatagram::new(now));
        let held_before = datagram.data.len();
        let added = datagram.add(&piece);
        // `add` only ever grows the buffer.
        self.held_bytes += datagram.data.len().saturating_sub(held_before);
        let complete_header_len = datagram.header_len.filter(|_| datagram.is_complete());

        let kind = match added {
            Ok(()) => {
                let header_len = complete_header_len?;
                let datagram = self.remove(&key)?;
                self.assembled = datagram.data;
                return Some(Reassembled { header_len, payload: &self.assembled });
            }
            Err(Rejection::Duplicate) => Skip::FragmentDuplicate,
            Err(Rejection::Overlap) => {
                self.remove(&key);
                Skip::FragmentOverlap
            }
            Err(Rejection::Inconsistent) => {
                self.remove(&key);
                Skip::FragmentInconsistent
            }
        };
        counters.skip(kind);
        None
    }

    /// Drops every pending datagram, counting it incomplete (at the end of the capture).
    pub(super) fn flush(&mut self, counters: &mut Counters) {
        for _ in self.pending.drain() {
            counters.skip(Skip::FragmentIncomplete);
        }
        self.held_bytes = 0;
    }

    fn remove(&mut self, key: &FragmentKey) -> Option<PendingDatagram> {
        let datagram = self.pending.remove(key)?;
        self.held_bytes = self.held_bytes.saturating_sub(datagram.data.len());
        Some(datagram)
    }

    /// Evicts the oldest datagrams other than `keep` until one more datagram (if `new_datagram`)
    /// and `growth` more bytes fit the limits. Always succeeds, as `growth` is at most
    /// `MAX_DATAGRAM_LEN`, which `max_bytes` is never below.
    fn make_room(
        &mut self,
        keep: &FragmentKey,
        new_datagram: bool,
        growth: usize,
        counters: &mut Counters,
    ) {
        loop {
            let too_many = new_datagram && self.pending.len() >= self.limits.max_datagrams;
            let too_big = self.held_bytes.saturating_add(growth) > self.limits.max_bytes;
            if !too_many && !too_big {
                return;
            }
            let oldest = self
                .pending
                .iter()
                .filter(|(key, _)| *key != keep)
                .min_by_key(|(_, datagram)| datagram.first_seen)
                .map(|(key, _)| *key);
            let Some(oldest) = oldest else { return };
            self.remove(&oldest);
            counters.skip(Skip::FragmentEvicted);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            protocol: IpNumber::TCP,
            id,
        }
    }

    fn info(offset: usize, more: bool) -> FragmentInfo {
        FragmentInfo { id: 0, offset, more, header_len: 20 }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_secs_nanos(secs, 0)
    }

    /// Bytes 0, 1, 2, ... of a datagram, wrapping at 251 so that offsets show in the data.
    fn datagram_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Inserts `data[start..end]` as a fragment and returns the reassembled payload, if any.
    fn insert(
        table: &mut FragmentTable,
        counters: &mut Counters,
        now: Timestamp,
        id: u32,
        data: &[u8],
        range: Range<usize>,
        more: bool,
    ) -> Option<Vec<u8>> {
        let bytes = &data[range.clone()];
        table.insert(now, key(id), info(range.start, more), bytes, counters).map(|done| {
            assert_eq!(done.header_len, 20);
            done.payload.to_vec()
        })
    }

    fn skipped(counters: &Counters) -> Vec<(&str, u64)> {
        counters.stats.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }

    #[test]
    fn reassembles_in_any_order_and_frees_its_bytes() {
        let data = datagram_bytes(100);
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut table = FragmentTable::new(FragmentLimits::default());
            let mut counters = Counters::default();
            let pieces = [(0..40, true), (40..80, true), (80..100, false)];
            let mut results = Vec::new();
            for i in order {
                let (range, more) = pieces[i].clone();
                results.push(insert(&mut table, &mut counters, at(0), 7, &data, range, more));
            }
            assert_eq!(results, [None, None, Some(data.clone())], "order {order:?}");
            assert!(table.pending.is_empty());
            assert_eq!(table.held_bytes, 0);
            assert!(counters.stats.skipped.is_empty());
        }
    }

    #[test]
    fn exact_duplicate_is_ignored() {
        let data = datagram_bytes(48);
        let mut table = FragmentTable::new(FragmentLimits::default());
        let mut counters = Counters::default();
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 0..24, true), None);
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 0..24, true), None);
        assert_eq!(
            insert(&mut table, &mut counters, at(0), 1, &data, 24..48, false),
            Some(data.clone())
        );
        assert_eq!(skipped(&counters), [("fragment_duplicate", 1)]);
    }

    #[test]
    fn overlap_drops_the_datagram() {
        let data = datagram_bytes(48);
        // Same range, different bytes; and a range straddling a held one.
        let mut other = data.clone();
        other[3] ^= 0xff;
        for (second, second_range) in [(&other, 0..24), (&data, 16..32)] {
            let mut table = FragmentTable::new(FragmentLimits::default());
            let mut counters = Counters::default();
            assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 0..24, true), None);
            assert_eq!(
                insert(&mut table, &mut counters, at(0), 1, second, second_range, true),
                None
            );
            assert!(table.pending.is_empty());
            assert_eq!(table.held_bytes, 0);
            // The rest of the datagram alone never completes it.
            assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 24..48, false), None);
            assert_eq!(skipped(&counters), [("fragment_overlap", 1)]);
        }
    }

    #[test]
    fn impossible_fragments_are_inconsistent() {
        let data = datagram_bytes(70_000);
        // (case, first fragment's range and more-fragments flag, second fragment's)
        type Case = (&'static str, Range<usize>, bool, Range<usize>, bool);
        let cases: [Case; 4] = [
            ("misaligned non-last", 0..8, true, 8..13, true),
            ("past the 16-bit length", 0..8, true, 65_528..65_544, false),
            ("second last fragment disagrees", 16..24, false, 8..16, false),
            ("data past the last fragment", 16..24, false, 24..32, true),
        ];
        for (name, first, first_more, second, second_more) in cases {
            let mut table = FragmentTable::new(FragmentLimits::default());
            let mut counters = Counters::default();
            assert_eq!(
                insert(&mut table, &mut counters, at(0), 1, &data, first, first_more),
                None,
                "{name}"
            );
            assert_eq!(
                insert(&mut table, &mut counters, at(0), 1, &data, second, second_more),
                None,
                "{name}"
            );
            assert_eq!(skipped(&counters), [("fragment_inconsistent", 1)], "{name}");
        }
        // A last fragment ending before data already received.
        let mut table = FragmentTable::new(FragmentLimits::default());
        let mut counters = Counters::default();
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 16..24, true), None);
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 0..8, false), None);
        assert!(table.pending.is_empty());
        assert_eq!(skipped(&counters), [("fragment_inconsistent", 1)]);
    }

    #[test]
    fn incomplete_datagram_times_out() {
        let data = datagram_bytes(48);
        let mut table = FragmentTable::new(FragmentLimits::default());
        let mut counters = Counters::default();
        assert_eq!(insert(&mut table, &mut counters, at(100), 1, &data, 0..24, true), None);
        table.expire(at(130), &mut counters);
        assert_eq!(table.pending.len(), 1, "30 s is not past the timeout");
        table.expire(at(131), &mut counters);
        assert!(table.pending.is_empty());
        assert_eq!(table.held_bytes, 0);
        // The missing half alone does not complete anything.
        assert_eq!(insert(&mut table, &mut counters, at(131), 1, &data, 24..48, false), None);
        assert_eq!(skipped(&counters), [("fragment_timeout", 1)]);
    }

    #[test]
    fn reused_identification_after_timeout_starts_afresh() {
        let data = datagram_bytes(48);
        let mut table = FragmentTable::new(FragmentLimits::default());
        let mut counters = Counters::default();
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 24..48, false), None);
        // No sweep in between: the lookup itself notices the old datagram expired.
        table.next_sweep = at(1000);
        assert_eq!(insert(&mut table, &mut counters, at(40), 1, &data, 0..24, true), None);
        assert_eq!(
            insert(&mut table, &mut counters, at(40), 1, &data, 24..48, false),
            Some(data.clone())
        );
        assert_eq!(skipped(&counters), [("fragment_timeout", 1)]);
    }

    #[test]
    fn datagram_limit_evicts_the_oldest() {
        let data = datagram_bytes(48);
        let limits = FragmentLimits { max_datagrams: 2, ..FragmentLimits::default() };
        let mut table = FragmentTable::new(limits);
        let mut counters = Counters::default();
        for (id, secs) in [(1, 2), (2, 1), (3, 3)] {
            assert_eq!(insert(&mut table, &mut counters, at(secs), id, &data, 0..24, true), None);
        }
        assert_eq!(skipped(&counters), [("fragment_evicted", 1)]);
        assert!(!table.pending.contains_key(&key(2)), "id 2 was the oldest");
        // A fragment for a datagram already held evicts nothing.
        assert_eq!(
            insert(&mut table, &mut counters, at(4), 1, &data, 24..48, false),
            Some(data.clone())
        );
        assert_eq!(skipped(&counters), [("fragment_evicted", 1)]);
    }

    #[test]
    fn byte_limit_evicts_until_the_fragment_fits() {
        let data = datagram_bytes(65_535);
        let limits = FragmentLimits { max_bytes: 100_000, ..FragmentLimits::default() };
        let mut table = FragmentTable::new(limits);
        let mut counters = Counters::default();
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 0..40_000, true), None);
        assert_eq!(insert(&mut table, &mut counters, at(1), 2, &data, 0..40_000, true), None);
        assert_eq!(table.held_bytes, 80_000);
        // Growing datagram 2 to 65 535 bytes needs 25 535 more: datagram 1 goes.
        assert_eq!(insert(&mut table, &mut counters, at(2), 2, &data, 60_000..65_535, false), None);
        assert_eq!(table.held_bytes, 65_535);
        assert_eq!(skipped(&counters), [("fragment_evicted", 1)]);
        assert!(table.held_bytes <= table.limits.max_bytes);
    }

    #[test]
    fn limits_below_one_datagram_are_raised() {
        let table =
            FragmentTable::new(FragmentLimits { max_datagrams: 0, max_bytes: 10, timeout_secs: 5 });
        assert_eq!(
            table.limits,
            FragmentLimits { max_datagrams: 1, max_bytes: 65_535, timeout_secs: 5 }
        );
    }

    #[test]
    fn flush_counts_pending_datagrams() {
        let data = datagram_bytes(48);
        let mut table = FragmentTable::new(FragmentLimits::default());
        let mut counters = Counters::default();
        assert_eq!(insert(&mut table, &mut counters, at(0), 1, &data, 0..24, true), None);
        assert_eq!(insert(&mut table, &mut counters, at(0), 2, &data, 24..48, false), None);
        table.flush(&mut counters);
        assert!(table.pending.is_empty());
        assert_eq!(table.held_bytes, 0);
        assert_eq!(skipped(&counters), [("fragment_incomplete", 2)]);
    }
}
