//! Tests of the capture stage on captures built byte by byte.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::*;
use crate::test_rng::Rng;

/// Capture files written byte by byte.
mod build {
    /// A classic pcap record: seconds, fraction (µs or ns), wire length, captured bytes.
    pub struct Record<'a>(pub u32, pub u32, pub u32, pub &'a [u8]);

    pub fn pcap(big_endian: bool, nanos: bool, link_type: u32, records: &[Record]) -> Vec<u8> {
        let mut out = Bytes { big_endian, bytes: Vec::new() };
        out.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        out.u16(2);
        out.u16(4);
        out.u32(0); // thiszone
        out.u32(0); // sigfigs
        out.u32(65535); // snaplen
        out.u32(link_type);
        for Record(secs, fraction, orig_len, data) in records {
            out.u32(*secs);
            out.u32(*fraction);
            out.u32(data.len() as u32);
            out.u32(*orig_len);
            out.bytes.extend_from_slice(data);
        }
        out.bytes
    }

    /// Bytes in a chosen byte order.
    pub struct Bytes {
        pub big_endian: bool,
        pub bytes: Vec<u8>,
    }

    impl Bytes {
        pub fn u16(&mut self, v: u16) {
            let raw = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            self.bytes.extend_from_slice(&raw);
        }

        pub fn u32(&mut self, v: u32) {
            let raw = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            self.bytes.extend_from_slice(&raw);
        }

        pub fn i64(&mut self, v: i64) {
            let raw = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            self.bytes.extend_from_slice(&raw);
        }

        pub fn padded(&mut self, data: &[u8]) {
            self.bytes.extend_from_slice(data);
            self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
        }
    }

    /// A pcapng file; each block method returns the block's offset.
    pub struct PcapNg {
        out: Bytes,
    }

    impl PcapNg {
        pub fn new() -> Self {
            PcapNg { out: Bytes { big_endian: false, bytes: Vec::new() } }
        }

        pub fn bytes(&self) -> Vec<u8> {
            self.out.bytes.clone()
        }

        pub fn len(&self) -> u64 {
            self.out.bytes.len() as u64
        }

        /// A body in the current byte order.
        pub fn body(&self) -> Bytes {
            Bytes { big_endian: self.out.big_endian, bytes: Vec::new() }
        }

        /// Any block; `body` is padded to 32 bits.
        pub fn block(&mut self, block_type: u32, body: &[u8]) -> u64 {
            let len = 12 + body.len().next_multiple_of(4) as u32;
            self.block_with_lengths(block_type, len, body, len)
        }

        pub fn block_with_lengths(
            &mut self,
            block_type: u32,
            len: u32,
            body: &[u8],
            trailer: u32,
        ) -> u64 {
            let offset = self.len();
            self.out.u32(block_type);
            self.out.u32(len);
            self.out.padded(body);
            self.out.u32(trailer);
            offset
        }

        /// Starts a section in the given byte order.
        pub fn shb(&mut self, big_endian: bool) -> u64 {
            self.out.big_endian = big_endian;
            let mut body = self.body();
            body.u32(0x1a2b_3c4d);
            body.u16(1);
            body.u16(0);
            body.i64(-1); // section length unknown
            self.block(0x0a0d_0d0a, &body.bytes)
        }

        /// `options`: (code, value); the end-of-options marker is added.
        pub fn idb(&mut self, link_type: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> u64 {
            let mut body = self.body();
            body.u16(link_type);
            body.u16(0);
            body.u32(snaplen);
            if !options.is_empty() {
                for (code, value) in options {
                    body.u16(*code);
                    body.u16(value.len() as u16);
                    body.padded(value);
                }
                body.u32(0);
            }
            self.block(1, &body.bytes)
        }

        /// An `if_tsoffset` value in the section's byte order.
        pub fn tsoffset(&self, secs: i64) -> (u16, Vec<u8>) {
            let mut value = self.body();
            value.i64(secs);
            (14, value.bytes)
        }

        pub fn epb(&mut self, if_id: u32, ticks: u64, orig_len: u32, data: &[u8]) -> u64 {
            let mut body = self.body();
            body.u32(if_id);
            body.u32((ticks >> 32) as u32);
            body.u32(ticks as u32);
            body.u32(data.len() as u32);
            body.u32(orig_len);
            body.padded(data);
            self.block(6, &body.bytes)
        }

        pub fn spb(&mut self, orig_len: u32, data: &[u8]) -> u64 {
            let mut body = self.body();
            body.u32(orig_len);
            body.padded(data);
            self.block(3, &body.bytes)
        }

        /// The obsolete Packet Block (type 2).
        pub fn packet_block(&mut self, if_id: u16, ticks: u64, orig_len: u32, data: &[u8]) -> u64 {
            let mut body = self.body();
            body.u16(if_id);
            body.u16(0); // drops
            body.u32((ticks >> 32) as u32);
            body.u32(ticks as u32);
            body.u32(data.len() as u32);
            body.u32(orig_len);
            body.padded(data);
            self.block(2, &body.bytes)
        }

        /// Blocks that carry no packet: name resolution, interface statistics, custom.
        pub fn other_blocks(&mut self) {
            let mut nrb = self.body();
            nrb.u16(1); // IPv4 record
            nrb.u16(9);
            nrb.padded(&[10, 0, 0, 1, b'c', b'a', b's', b'1', 0]);
            nrb.u32(0); // end of records
            self.block(4, &nrb.bytes);
            let mut isb = self.body();
            isb.u32(0);
            isb.u32(0);
            isb.u32(0);
            self.block(5, &isb.bytes);
            let mut custom = self.body();
            custom.u32(32473); // private enterprise number
            custom.padded(b"custom data");
            self.block(0x0000_0bad, &custom.bytes);
        }
    }

    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = super::GzEncoder::new(Vec::new(), super::Compression::default());
        super::Write::write_all(&mut encoder, bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Bytes that do not compress (xorshift).
    pub fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = crate::test_rng::Rng(seed);
        (0..len).map(|_| rng.next() as u8).collect()
    }
}

use build::{PcapNg, Record};


/// A directory of test files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("affinity-capture-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a test compares of a packet: ns timestamp, link type, wire length, bytes.
type Seen = (i64, i32, u32, Vec<u8>);

fn seen(pkt: &PacketRef<'_>) -> Seen {
    (pkt.ts.as_nanos(), pkt.link_type.0, pkt.orig_len, pkt.data.to_vec())
}

/// Every packet, issue and count of `paths`; read on the test's thread and again read ahead on
/// threads of their own, which must see the same.
fn read_all(paths: &[PathBuf], order: ReadOrder) -> (Vec<Seen>, Vec<CaptureIssue>, CaptureStats) {
    let inline = read_all_with(paths, order, 0);
    let ahead = read_all_with(paths, order, paths.len());
    assert!(inline == ahead, "reading ahead changed what was read: {:?} {:?}", inline.1, ahead.1);
    inline
}

fn read_all_with(paths: &[PathBuf], order: ReadOrder, read_ahead: usize) -> (Vec<Seen>, Vec<CaptureIssue>, CaptureStats) {
    let mut source = PacketSource::open(paths, order).unwrap();
    source.read_ahead(read_ahead);
    let mut packets = Vec::new();
    while let Some(pkt) = source.next_packet() {
        packets.push(seen(&pkt));
    }
    assert_eq!(source.bytes_read(), source.total_bytes());
    (packets, source.issues().to_vec(), source.stats().clone())
}

fn read_one(path: &Path) -> (Vec<Seen>, Vec<CaptureIssue>) {
    let (packets, issues, _) = read_all(&[path.to_path_buf()], ReadOrder::AsGiven);
    (packets, issues)
}

/// An issue found before the file gave any packet.
fn issue(file: &Path, offset: u64, message: &str) -> CaptureIssue {
    CaptureIssue { file: file.to_path_buf(), offset, after: None, message: message.to_string() }
}

/// An issue found after the file gave a packet at `after_ns`.
fn issue_after(file: &Path, offset: u64, after_ns: i64, message: &str) -> CaptureIssue {
    CaptureIssue { after: Some(Timestamp::from_nanos(after_ns)), ..issue(file, offset, message) }
}

const SEC: i64 = 1_000_000_000;
const ETHERNET: i32 = 1;
const RAW: i32 = 101;
const LINUX_SLL: i32 = 113;

#[test]
fn pcap_byte_orders_and_resolutions() {
    let dir = TempDir::new("pcap-orders");
    let frame = build::noise(100, 1);
    for (big_endian, nanos) in [(false, false), (false, true), (true, false), (true, true)] {
        let records = [
            Record(1_700_000_000, 123_456, 60, &frame[..60]),
            Record(1_700_000_001, 999_999, 1514, &frame[..100]),
        ];
        // Upper bits of the link-type field carry FCS information, not the link type.
        let bytes = build::pcap(big_endian, nanos, 0x0400_0000 | 101, &records);
        let path = dir.file("a.pcap", &bytes);
        let (packets, issues, stats) = read_all(&[path], ReadOrder::AsGiven);
        let unit = if nanos { 1 } else { 1000 };
        assert_eq!(
            packets,
            vec![
                (1_700_000_000 * SEC + 123_456 * unit, RAW, 60, frame[..60].to_vec()),
                (1_700_000_001 * SEC + 999_999 * unit, RAW, 1514, frame[..100].to_vec()),
            ],
            "big endian {big_endian}, nanos {nanos}"
        );
        assert_eq!(issues, []);
        let expected =
            CaptureStats { files: 1, packets: 2, captured_bytes: 160, truncated_packets: 1, ..CaptureStats::default() };
        assert_eq!(stats, expected);
    }
}

#[test]
fn pcap_orig_len_below_caplen_is_raised() {
    let dir = TempDir::new("pcap-origlen");
    let path = dir.file("a.pcap", &build::pcap(false, false, 1, &[Record(5, 0, 10, &[7; 40])]));
    let (packets, issues) = read_one(&path);
    assert_eq!(packets, vec![(5 * SEC, ETHERNET, 40, vec![7; 40])]);
    assert_eq!(issues, []);
}

/// Two sections: the first little-endian with two interfaces of different link types and
/// clocks, blocks without packets, all packet block kinds; the second big-endian, where
/// interface 1 no longer exists.
fn two_section_pcapng() -> (PcapNg, Vec<Seen>, u64) {
    let mut ng = PcapNg::new();
    let (a, b, c, d, e, f) =
        (vec![1; 60], vec![2; 33], vec![3; 70], vec![4; 10], vec![5; 64], vec![6; 20]);
    ng.shb(false);
    ng.idb(1, 0, &[]);
    let tsoffset = ng.tsoffset(100);
    ng.idb(101, 0, &[(9, vec![9]), tsoffset, (2, b"eth1".to_vec())]);
    ng.other_blocks();
    ng.epb(0, 1_700_000_000_000_001, 60, &a);
    ng.epb(1, 1_700_000_000_000_000_123, 1500, &b);
    ng.spb(70, &c);
    ng.packet_block(0, 1_700_000_002_000_000, 10, &d);
    ng.shb(true);
    ng.idb(113, 62, &[(9, vec![3])]);
    let unknown_interface = ng.epb(1, 1, 60, &[0; 60]);
    ng.epb(0, 1_700_000_000_500, 64, &e);
    // The block holds min(wire length, snap length) bytes; the padding after them is dropped.
    ng.spb(100, &e[..62]);
    ng.epb(0, 1_700_000_003_000, 20, &f);
    let expected = vec![
        (1_700_000_000 * SEC + 1_000, ETHERNET, 60, a),
        (1_700_000_100 * SEC + 123, RAW, 1500, b.clone()),
        (1_700_000_100 * SEC + 123, ETHERNET, 70, c),
        (1_700_000_002 * SEC, ETHERNET, 10, d),
        (1_700_000_000 * SEC + SEC / 2, LINUX_SLL, 64, e.clone()),
        (1_700_000_000 * SEC + SEC / 2, LINUX_SLL, 100, e[..62].to_vec()),
        (1_700_000_003 * SEC, LINUX_SLL, 20, f),
    ];
    (ng, expected, unknown_interface)
}

/// Packets of [`two_section_pcapng`] complete once each of its blocks is (the EPB on an
/// unknown interface gives none).
const TWO_SECTION_PACKETS_AFTER_BLOCK: [usize; 16] =
    [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 4, 5, 6, 7];

#[test]
fn pcapng_sections_interfaces_and_clocks() {
    let dir = TempDir::new("pcapng");
    let (ng, expected, unknown_interface) = two_section_pcapng();
    let path = dir.file("a.pcapng", &ng.bytes());
    let (packets, issues, stats) = read_all(std::slice::from_ref(&path), ReadOrder::AsGiven);
    assert_eq!(packets, expected);
    let skipped = "packet on unknown interface 1 skipped";
    assert_eq!(issues, [issue_after(&path, unknown_interface, 1_700_000_002 * SEC, skipped)]);
    assert_eq!(stats.packets, 7);
    assert_eq!(stats.truncated_packets, 2);
    assert_eq!(stats.captured_bytes, 60 + 33 + 70 + 10 + 64 + 62 + 20);
}

#[test]
fn pcapng_interface_problems_are_noted() {
    let dir = TempDir::new("pcapng-notes");
    let mut ng = PcapNg::new();
    ng.shb(false);
    let early = ng.spb(4, &[1, 2, 3, 4]);
    let bad_resolution = ng.idb(1, 0, &[(9, vec![0x80 | 64])]);
    ng.epb(0, 2_500_000, 4, &[9; 4]);
    let path = dir.file("a.pcapng", &ng.bytes());
    let (packets, issues) = read_one(&path);
    assert_eq!(packets, vec![(2 * SEC + SEC / 2, ETHERNET, 4, vec![9; 4])]);
    assert_eq!(
        issues,
        [
            issue(&path, early, "simple packet block before any interface: skipped"),
            issue(
                &path,
                bad_resolution,
                "interface 0: unusable if_tsresol 0xc0, timestamps read as microseconds"
            ),
        ]
    );
}

#[test]
fn notes_per_file_are_capped() {
    let dir = TempDir::new("notes-cap");
    let mut ng = PcapNg::new();
    ng.shb(false);
    let offsets: Vec<u64> = (0..150).map(|_| ng.epb(3, 0, 4, &[0; 4])).collect();
    ng.idb(1, 0, &[]);
    ng.epb(0, 1_000_000, 4, &[1; 4]);
    let path = dir.file("a.pcapng", &ng.bytes());
    let (packets, issues) = read_one(&path);
    assert_eq!(packets, vec![(SEC, ETHERNET, 4, vec![1; 4])]);
    assert_eq!(issues.len(), MAX_NOTES_PER_FILE);
    assert_eq!(issues[0], issue(&path, offsets[0], "packet on unknown interface 3 skipped"));
    let last = MAX_NOTES_PER_FILE - 1;
    let message =
        "packet on unknown interface 3 skipped; further non-fatal issues in this file not listed";
    assert_eq!(issues[last], issue(&path, offsets[last], message));
}

/// Packets tagged with their file and rank, at the given whole seconds (halves allowed).
fn tagged_pcap(file: u8, times_ms: &[i64]) -> (Vec<u8>, Vec<Seen>) {
    let data: Vec<Vec<u8>> = (0..times_ms.len()).map(|i| vec![file, i as u8]).collect();
    let records: Vec<Record> = times_ms
        .iter()
        .zip(&data)
        .map(|(ms, d)| Record((ms / 1000) as u32, (ms % 1000 * 1000) as u32, 2, d))
        .collect();
    let expected =
        times_ms.iter().zip(&data).map(|(ms, d)| (ms * 1_000_000, ETHERNET, 2, d.clone()));
    (build::pcap(false, false, 1, &records), expected.collect())
}

#[test]
fn merge_by_time_is_stable_and_as_given_keeps_files_apart() {
    let dir = TempDir::new("merge");
    let (a, a_seen) = tagged_pcap(0, &[1000, 3000, 5000]);
    let (c, c_seen) = tagged_pcap(2, &[500, 6000]);
    let mut b = PcapNg::new();
    b.shb(true);
    b.idb(1, 0, &[(9, vec![3])]);
    let b_data = [[1, 0], [1, 1], [1, 2]];
    for (ms, data) in [2000, 3000, 4000].iter().zip(&b_data) {
        b.epb(0, *ms, 2, data);
    }
    let b_seen: Vec<Seen> = [2000, 3000, 4000]
        .iter()
        .zip(&b_data)
        .map(|(ms, d)| (ms * 1_000_000, ETHERNET, 2, d.to_vec()))
        .collect();
    let paths = [dir.file("a.pcap", &a), dir.file("b.pcapng", &b.bytes()), dir.file("c.pcap", &c)];

    let (merged, issues, stats) = read_all(&paths, ReadOrder::MergeByTime);
    let by_time = [
        &c_seen[0], &a_seen[0], &b_seen[0], &a_seen[1], &b_seen[1], &b_seen[2], &a_seen[2],
        &c_seen[1],
    ];
    assert_eq!(merged, by_time.map(Clone::clone));
    assert_eq!(issues, []);
    assert_eq!(stats.files, 3);
    assert_eq!(stats.packets, 8);

    let (in_order, _, _) = read_all(&paths, ReadOrder::AsGiven);
    assert_eq!(in_order, [a_seen, b_seen, c_seen].concat());
}

#[test]
fn steps_back_of_the_clock_are_reported_jitter_is_not() {
    let dir = TempDir::new("clock");
    // Within a file: back 0.5 s (jitter), then back 600 s, then back 2 s while still behind.
    let (a, _) = tagged_pcap(0, &[1_000_000, 1_000_500, 1_000_000, 1_001_000, 401_000, 402_000, 400_000, 1_002_000]);
    let a = dir.file("a.pcap", &a);
    let mut source = PacketSource::open(std::slice::from_ref(&a), ReadOrder::MergeByTime).unwrap();
    let mut steps = Vec::new();
    while source.next_packet().is_some() {
        steps.extend(source.take_clock_steps());
    }
    let at = |ms: i64| Timestamp::from_nanos(ms * 1_000_000);
    assert_eq!(
        steps,
        [
            ClockStep { file: a.clone(), from: at(1_001_000), to: at(401_000) },
            ClockStep { file: a.clone(), from: at(402_000), to: at(400_000) },
        ]
    );
    assert_eq!(steps[0].to_string(), format!("{}: timestamps step back 600.000 s, from 1001.000000000 to 401.000000000", a.display()));
    assert!(source.take_clock_steps().is_empty(), "steps are taken once");
    let stats = source.stats();
    assert_eq!((stats.clock_steps_back, stats.largest_step_back_nanos, stats.packets_behind), (2, 600_000_000_000, 3));

    // Files given out of order step back where the next one starts; merged by time, they do not.
    let (late, _) = tagged_pcap(1, &[5000, 6000]);
    let (early, _) = tagged_pcap(2, &[1000, 2000]);
    let paths = [dir.file("late.pcap", &late), dir.file("early.pcap", &early)];
    let (_, _, merged) = read_all(&paths, ReadOrder::MergeByTime);
    assert_eq!((merged.clock_steps_back, merged.packets_behind), (0, 0));
    let (_, _, as_given) = read_all(&paths, ReadOrder::AsGiven);
    assert_eq!((as_given.clock_steps_back, as_given.largest_step_back_nanos, as_given.packets_behind), (1, 5_000_000_000, 2));
}

#[test]
fn merge_opens_files_when_due_and_counts_progress() {
    let dir = TempDir::new("progress");
    let (a, _) = tagged_pcap(0, &[1000, 2000]);
    let (b, _) = tagged_pcap(1, &[3000, 4000]);
    let paths = [dir.file("b.pcap", &b), dir.file("a.pcap", &a)];
    let total = (a.len() + b.len()) as u64;
    let mut source = PacketSource::open(&paths, ReadOrder::MergeByTime).unwrap();
    assert_eq!((source.bytes_read(), source.total_bytes()), (0, total));
    assert_eq!(source.next_packet().map(|pkt| pkt.data.to_vec()), Some(vec![0, 0]));
    // Only a.pcap is open: b.pcap starts later.
    assert_eq!(source.bytes_read(), a.len() as u64);
    let mut order = vec![vec![0, 0]];
    while let Some(pkt) = source.next_packet() {
        order.push(pkt.data.to_vec());
    }
    assert_eq!(order, [[0, 0], [0, 1], [1, 0], [1, 1]]);
    assert_eq!(source.bytes_read(), total);
}

/// A pcap file of `count` frames of random sizes (1 to 3000 bytes) at random times, 0 to 3 ms
/// apart (so with ties); and what a reader sees of it.
fn random_pcap(seed: u64, count: usize) -> (Vec<u8>, Vec<Seen>) {
    let mut rng = Rng(seed);
    let frames: Vec<Vec<u8>> =
        (0..count as u64).map(|i| build::noise(1 + rng.below(3000), seed * 10_000 + i)).collect();
    let times: Vec<i64> = (0..count)
        .scan(0, |ms, _| {
            *ms += rng.below(4) as i64;
            Some(*ms)
        })
        .collect();
    let records: Vec<Record> = times
        .iter()
        .zip(&frames)
        .map(|(ms, f)| Record((ms / 1000) as u32, (ms % 1000 * 1000) as u32, f.len() as u32, f))
        .collect();
    let expected = times.iter().zip(&frames);
    let expected = expected.map(|(ms, f)| (ms * 1_000_000, ETHERNET, f.len() as u32, f.clone()));
    (build::pcap(false, false, 1, &records), expected.collect())
}

#[test]
fn merge_of_files_larger_than_their_read_buffers() {
    let dir = TempDir::new("merge-large");
    // About four read buffers each, c read through gzip; many equal times across files.
    let (a, a_seen) = random_pcap(1, 700);
    let (b, b_seen) = random_pcap(2, 700);
    let (c, c_seen) = random_pcap(3, 350);
    assert!(a.len() > 3 * reader::READ_BUFFER_LEN);
    let paths =
        [dir.file("a.pcap", &a), dir.file("b.pcap", &b), dir.file("c.pcap.gz", &build::gzip(&c))];
    let mut by_time: Vec<(usize, Seen)> = [&a_seen, &b_seen, &c_seen]
        .into_iter()
        .enumerate()
        .flat_map(|(file, seen)| seen.iter().map(move |packet| (file, packet.clone())))
        .collect();
    // Stable: equal times keep file order.
    by_time.sort_by_key(|(file, packet)| (packet.0, *file));
    let by_time: Vec<Seen> = by_time.into_iter().map(|(_, packet)| packet).collect();

    let (merged, issues, stats) = read_all(&paths, ReadOrder::MergeByTime);
    assert_eq!(merged.len(), by_time.len());
    assert!(merged == by_time, "merged packets differ");
    assert_eq!(issues, []);
    assert_eq!(stats.packets, 1750);

    let (in_order, _, _) = read_all(&paths, ReadOrder::AsGiven);
    assert!(in_order == [a_seen, b_seen, c_seen].concat(), "packets as given differ");
}

#[test]
fn packets_are_views_of_the_read_buffer() {
    let dir = TempDir::new("views");
    let (bytes, expected) = random_pcap(4, 50);
    assert!(bytes.len() < reader::READ_BUFFER_LEN);
    let mut source = PacketSource::open(&[dir.file("a.pcap", &bytes)], ReadOrder::AsGiven).unwrap();
    let mut places = Vec::new();
    while let Some(pkt) = source.next_packet() {
        places.push((pkt.data.as_ptr().addr(), pkt.data.len()));
    }
    assert_eq!(places.len(), expected.len());
    // Not copied: each packet's bytes are where the file has them, after the previous packet
    // and its own 16-byte record header.
    for pair in places.windows(2) {
        let [(previous, previous_len), (next, _)] = pair else { unreachable!() };
        assert_eq!(*next, previous + previous_len + 16);
    }
}

#[test]
fn truncated_last_record() {
    let dir = TempDir::new("truncated");
    let bytes =
        build::pcap(true, true, 1, &[Record(1, 2, 50, &[1; 50]), Record(3, 4, 80, &[2; 80])]);
    let path = dir.file("a.pcap", &bytes[..bytes.len() - 5]);
    let (packets, issues) = read_one(&path);
    assert_eq!(packets, vec![(SEC + 2, ETHERNET, 50, vec![1; 50])]);
    let message = "truncated record (91 bytes left)";
    assert_eq!(issues, [issue_after(&path, 24 + 16 + 50, SEC + 2, message)]);

    let mut ng = PcapNg::new();
    ng.shb(false);
    ng.idb(1, 0, &[]);
    ng.epb(0, 1, 4, &[1; 4]);
    let last = ng.epb(0, 2, 4, &[2; 4]);
    let bytes = ng.bytes();
    let path = dir.file("a.pcapng", &bytes[..bytes.len() - 1]);
    let (packets, issues) = read_one(&path);
    assert_eq!(packets, vec![(1000, ETHERNET, 4, vec![1; 4])]);
    assert_eq!(issues, [issue_after(&path, last, 1000, "truncated record (35 bytes left)")]);
}

#[test]
fn truncated_file_headers() {
    let dir = TempDir::new("headers");
    let pcap = build::pcap(false, false, 1, &[]);
    let path = dir.file("a.pcap", &pcap[..10]);
    let (packets, issues) = read_one(&path);
    assert_eq!(packets, []);
    assert_eq!(issues, [issue(&path, 0, "truncated pcap file header (10 of 24 bytes)")]);

    let mut ng = PcapNg::new();
    ng.shb(false);
    for (len, message) in [
        (6, "truncated pcapng section header block (6 of 28 bytes)"),
        (20, "truncated pcapng section header block (20 of 28 bytes)"),
    ] {
        let path = dir.file("a.pcapng", &ng.bytes()[..len]);
        assert_eq!(read_one(&path), (vec![], vec![issue(&path, 0, message)]));
    }
}

#[test]
fn bad_pcapng_block_lengths() {
    let dir = TempDir::new("block-len");
    let mut ng = PcapNg::new();
    ng.shb(false);
    ng.idb(1, 0, &[]);
    ng.epb(0, 1, 4, &[1; 4]);
    let good = ng.bytes();
    let expected = vec![(1000, ETHERNET, 4, vec![1; 4])];

    let mut seven = PcapNg::new();
    seven.shb(false);
    let at = seven.block_with_lengths(5, 7, &[], 7);
    let path = dir.file("a.pcapng", &[good.clone(), seven.bytes()[28..].to_vec()].concat());
    let at = at - 28 + good.len() as u64;
    let issues = vec![issue_after(&path, at, 1000, "bad block length 7")];
    assert_eq!(read_one(&path), (expected.clone(), issues));

    // Trailers checked by pcap-parser (EPB) and by the reader (SPB).
    for block_type in [6, 3] {
        let mut tail = PcapNg::new();
        tail.block_with_lengths(block_type, 48, &[0; 36], 52);
        let path = dir.file("a.pcapng", &[good.clone(), tail.bytes()].concat());
        let (packets, issues) = read_one(&path);
        assert_eq!(packets, expected);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].offset, good.len() as u64);
    }
    let mut tail = PcapNg::new();
    tail.block_with_lengths(3, 48, &[0; 36], 52);
    let path = dir.file("a.pcapng", &[good.clone(), tail.bytes()].concat());
    let message = "block length 48 does not match trailer 52";
    assert_eq!(read_one(&path).1, [issue_after(&path, good.len() as u64, 1000, message)]);
}

#[test]
fn inconsistent_and_oversized_records() {
    let dir = TempDir::new("inconsistent");
    let mut ng = PcapNg::new();
    ng.shb(false);
    ng.idb(1, 0, &[]);
    ng.epb(0, 1, 4, &[1; 4]);
    let good_len = ng.len();
    // An EPB whose captured length runs past its block, followed by more data and at the end.
    let mut body = ng.body();
    for v in [0, 0, 0, 400, 400] {
        body.u32(v);
    }
    body.padded(&[0; 8]);
    ng.block(6, &body.bytes);
    let bad = ng.bytes();
    let message = "inconsistent record: its content runs past its length 40";
    for bytes in [bad.clone(), [bad.clone(), vec![0; 1000]].concat()] {
        let path = dir.file("a.pcapng", &bytes);
        let expected =
            (vec![(1000, ETHERNET, 4, vec![1; 4])], vec![issue_after(&path, good_len, 1000, message)]);
        assert_eq!(read_one(&path), expected);
    }

    let mut huge = build::pcap(false, false, 1, &[Record(1, 0, 4, &[1; 4])]);
    huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    huge.extend_from_slice(&[0; 100]);
    let path = dir.file("a.pcap", &huge);
    let message =
        format!("record claims 4294967296 bytes, more than the limit of {MAX_RECORD_LEN}");
    let expected = (vec![(SEC, ETHERNET, 4, vec![1; 4])], vec![issue_after(&path, 44, SEC, &message)]);
    assert_eq!(read_one(&path), expected);

    let mut huge = PcapNg::new();
    huge.shb(false);
    let at = huge.block_with_lengths(5, 0x7fff_fff0, &[], 0);
    let path = dir.file("a.pcapng", &huge.bytes());
    let message =
        format!("record claims 2147483632 bytes, more than the limit of {MAX_RECORD_LEN}");
    assert_eq!(read_one(&path), (vec![], vec![issue(&path, at, &message)]));
}

#[test]
fn records_larger_than_the_read_buffer() {
    let dir = TempDir::new("large");
    let big = build::noise(3 * reader::READ_BUFFER_LEN + 5, 7);
    let pcap =
        build::pcap(false, false, 1, &[Record(1, 0, 70_000, &big), Record(2, 0, 3, &[1, 2, 3])]);
    let mut ng = PcapNg::new();
    ng.shb(false);
    ng.idb(1, 0, &[]);
    ng.epb(0, 1_000_000, 70_000, &big);
    ng.epb(0, 2_000_000, 3, &[1, 2, 3]);
    let expected =
        vec![(SEC, ETHERNET, big.len() as u32, big.clone()), (2 * SEC, ETHERNET, 3, vec![1, 2, 3])];
    for (name, bytes) in [("a.pcap", pcap), ("a.pcapng.gz", build::gzip(&ng.bytes()))] {
        let path = dir.file(name, &bytes);
        assert_eq!(read_one(&path), (expected.clone(), vec![]), "{name}");
    }
}

#[test]
fn files_that_are_not_captures_are_issues() {
    let dir = TempDir::new("not-captures");
    let (good, good_seen) = tagged_pcap(0, &[1000]);
    let paths = [
        dir.file("notes.txt", b"hello, this is not a capture\n"),
        dir.file("empty.pcap", b""),
        dir.file("x", &[0xd4, 0xc3]),
        dir.file("good.pcap.txt", &good),
        dir.file("empty.gz", &build::gzip(b"")),
        dir.file("bad.gz", &[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
    ];
    for order in [ReadOrder::AsGiven, ReadOrder::MergeByTime] {
        let (packets, issues, stats) = read_all(&paths, order);
        assert_eq!(packets, good_seen);
        assert_eq!(stats.files, 6);
        let expected = [
            issue(&paths[0], 0, "not a pcap or pcapng file (starts with 68 65 6c 6c)"),
            issue(&paths[1], 0, "empty file"),
            issue(&paths[2], 0, "not a pcap or pcapng file (starts with d4 c3)"),
            issue(&paths[4], 0, "empty file"),
            issue(&paths[5], 0, "read error: invalid gzip header"),
        ];
        assert_eq!(issues, expected, "{order:?}");
    }
}

#[test]
fn unopenable_files_are_errors() {
    let dir = TempDir::new("errors");
    let (good, _) = tagged_pcap(0, &[1000]);
    let missing = dir.0.join("missing.pcap");
    for order in [ReadOrder::AsGiven, ReadOrder::MergeByTime] {
        let paths = [dir.file("good.pcap", &good), missing.clone()];
        let Err(error) = PacketSource::open(&paths, order) else { panic!("missing file opened") };
        assert_eq!(error.file, missing);
        assert_eq!(error.source.kind(), std::io::ErrorKind::NotFound);
        assert!(error.to_string().contains("missing.pcap"), "{error}");
        let Err(error) = PacketSource::open(std::slice::from_ref(&dir.0), order) else {
            panic!("directory opened")
        };
        assert_eq!(error.file, dir.0);
    }
}

#[test]
fn gzip_of_pcapng_in_several_members() {
    let dir = TempDir::new("gzip");
    let (ng, expected, unknown_interface) = two_section_pcapng();
    let bytes = ng.bytes();
    let (first, second) = bytes.split_at(100);
    let gz = [build::gzip(first), build::gzip(second)].concat();
    let path = dir.file("capture", &gz);
    let (packets, issues, _) = read_all(std::slice::from_ref(&path), ReadOrder::MergeByTime);
    assert_eq!(packets, expected);
    let skipped = "packet on unknown interface 1 skipped";
    assert_eq!(issues, [issue_after(&path, unknown_interface, 1_700_000_002 * SEC, skipped)]);
}

#[test]
fn gzip_cut_mid_stream_keeps_earlier_packets() {
    let dir = TempDir::new("gzip-cut");
    let frames: Vec<Vec<u8>> = (0..40).map(|i| build::noise(1000, i + 1)).collect();
    let records: Vec<Record> =
        frames.iter().enumerate().map(|(i, f)| Record(i as u32, 0, 1000, f)).collect();
    let pcap = build::pcap(false, false, 1, &records);
    let gz = build::gzip(&pcap);
    let path = dir.file("a.pcap.gz", &gz[..gz.len() / 2]);
    let (packets, issues) = read_one(&path);
    assert!(!packets.is_empty() && packets.len() < 40, "{} packets", packets.len());
    let expected: Vec<Seen> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (i as i64 * SEC, ETHERNET, 1000, f.clone()))
        .collect();
    assert_eq!(packets, expected[..packets.len()]);
    let next_record = 24 + 1016 * packets.len() as u64;
    let message = "read error: incomplete deflate stream";
    let last = (packets.len() as i64 - 1) * SEC;
    assert_eq!(issues, [issue_after(&path, next_record, last, message)]);
}

#[test]
fn packet_source_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<PacketSource>();
}

/// Every prefix of a capture: the complete packets before the cut, and an issue unless the cut
/// falls between records.
#[test]
fn every_truncation_delivers_the_packets_before_it() {
    let dir = TempDir::new("every-truncation");
    let frame = build::noise(50, 3);
    let records = [
        Record(1, 0, 50, &frame[..20]),
        Record(2, 0, 50, &frame[..50]),
        Record(3, 0, 9, &frame[..9]),
    ];
    let pcap = build::pcap(true, false, 1, &records);
    let pcap_ends = [24, 24 + 36, 24 + 36 + 66, 24 + 36 + 66 + 25];
    let pcap_packets = [0, 1, 2, 3];
    let (ng, ng_expected, _) = two_section_pcapng();
    let ng_bytes = ng.bytes();
    let ng_ends = block_ends(&ng_bytes);
    let ng_packets = TWO_SECTION_PACKETS_AFTER_BLOCK;
    assert_eq!(ng_ends.len(), ng_packets.len());
    let (pcap_expected, _, _) = read_all(&[dir.file("full.pcap", &pcap)], ReadOrder::AsGiven);
    let cases = [
        (&pcap, &pcap_ends[..], &pcap_packets[..], &pcap_expected),
        (&ng_bytes, &ng_ends[..], &ng_packets[..], &ng_expected),
    ];
    for (bytes, ends, packets_at, expected) in cases {
        for cut in 0..=bytes.len() {
            let path = dir.file("cut", &bytes[..cut]);
            let (packets, issues) = read_one(&path);
            let complete = ends.iter().rposition(|&end| end <= cut).map_or(0, |i| packets_at[i]);
            assert_eq!(packets, expected[..complete], "cut at {cut}");
            let at_boundary = cut > 0 && ends.contains(&cut);
            let damage = issues.iter().filter(|i| !i.message.contains("unknown interface")).count();
            assert_eq!(damage, usize::from(!at_boundary), "cut at {cut}: {issues:?}");
        }
    }
}

/// Ends of the pcapng blocks in `bytes`, read from their length fields.
fn block_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    let mut big_endian = false;
    while at < bytes.len() {
        if bytes[at..at + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            big_endian = bytes[at + 8] == 0x1a;
        }
        let len: [u8; 4] = bytes[at + 4..at + 8].try_into().unwrap();
        at += if big_endian { u32::from_be_bytes(len) } else { u32::from_le_bytes(len) } as usize;
        ends.push(at);
    }
    ends
}

/// Random damage anywhere: no panic, and every packet wholly before the first damaged byte is
/// delivered unchanged and first.
#[test]
fn random_damage_never_panics() {
    let dir = TempDir::new("random-damage");
    let (ng, ng_expected, _) = two_section_pcapng();
    let ng_bytes = ng.bytes();
    let ng_ends = block_ends(&ng_bytes);
    let ng_packets = TWO_SECTION_PACKETS_AFTER_BLOCK;
    let frame = build::noise(300, 9);
    let records: Vec<Record> =
        (0..6).map(|i| Record(i, i * 7, 300, &frame[..50 * i as usize])).collect();
    let pcap = build::pcap(false, true, 1, &records);
    let pcap_ends: Vec<usize> =
        (0..=6).map(|i| 24 + (0..i).map(|j| 16 + 50 * j).sum::<usize>()).collect();
    let pcap_packets: Vec<usize> = (0..=6).collect();
    let (pcap_expected, _, _) = read_all(&[dir.file("full.pcap", &pcap)], ReadOrder::AsGiven);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases = [
        (&pcap, &pcap_ends[..], &pcap_packets[..], &pcap_expected),
        (&ng_bytes, &ng_ends[..], &ng_packets[..], &ng_expected),
    ];
    for (bytes, ends, packets_at, expected) in cases {
        for _ in 0..500 {
            let mut damaged = bytes.clone();
            let mut first_damage = damaged.len();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(damaged.len());
                damaged[at] = rng.next() as u8;
                first_damage = first_damage.min(at);
            }
            let cut = if rng.below(4) == 0 { rng.below(damaged.len()) } else { damaged.len() };
            damaged.truncate(cut);
            let intact = first_damage.min(cut);
            for name in ["damaged", "damaged.gz"] {
                let content =
                    if name.ends_with(".gz") { build::gzip(&damaged) } else { damaged.clone() };
                let path = dir.file(name, &content);
                let (packets, _) = read_one(&path);
                let complete =
                    ends.iter().rposition(|&end| end <= intact).map_or(0, |i| packets_at[i]);
                assert!(packets.len() >= complete, "damage at {first_damage}, cut {cut}");
                assert_eq!(
                    packets[..complete],
                    expected[..complete],
                    "damage at {first_damage}, cut {cut}"
                );
            }
        }
    }
}
