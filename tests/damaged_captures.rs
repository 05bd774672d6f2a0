//! Damaged captures through the whole pipeline: bytes flipped, runs overwritten, ranges
//! duplicated or cut, files truncated. Whatever the damage, `analyze` ends without a panic,
//! with a report (or, when nothing readable is left, a capture error), and every table holds
//! the rows the summary counts. Each stage has its own arbitrary-input tests; this one checks
//! that what a damaged stage hands on cannot break the stages after it.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use affinity_audit::pipeline::{analyze, AnalyzeError};
use common::{fresh_dir, options, read_csv, sample};

/// Damaged copies made of each sample capture; `AFFINITY_MUTANTS=N` makes more (a longer hunt).
const MUTANTS_PER_CAPTURE: u64 = 40;

fn mutants() -> u64 {
    std::env::var("AFFINITY_MUTANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(MUTANTS_PER_CAPTURE)
}

/// xorshift64*: the same damage on every run, so a failure names a reproducible mutant.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One kind of damage applied to `bytes`, past the file header (24 bytes covers a pcap file
/// header; a pcapng section header block is longer, and damaging its tail is fair game).
fn damage(bytes: &mut Vec<u8>, rng: &mut Rng) -> &'static str {
    const HEADER: usize = 24;
    let len = bytes.len();
    let at = HEADER + rng.below(len - HEADER);
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(64) {
                let i = HEADER + rng.below(len - HEADER);
                bytes[i] ^= 1 << rng.below(8);
            }
            "bits flipped"
        }
        1 => {
            let run = (1 + rng.below(2000)).min(len - at);
            let fill = rng.next().to_le_bytes();
            for (i, b) in bytes[at..at + run].iter_mut().enumerate() {
                *b = fill[i % 8];
            }
            "run overwritten"
        }
        2 => {
            let run = (1 + rng.below(3000)).min(len - at);
            let copy = bytes[at..at + run].to_vec();
            let to = HEADER + rng.below(len - HEADER);
            bytes.splice(to..to, copy);
            "range duplicated"
        }
        3 => {
            let run = (1 + rng.below(3000)).min(len - at);
            bytes.drain(at..at + run);
            "range cut"
        }
        _ => {
            bytes.truncate(at);
            "truncated"
        }
    }
}

fn analyze_mutants(relative: &str) {
    let original = std::fs::read(sample(relative)).unwrap();
    for mutant in 0..mutants() {
        let mut rng = Rng::new(mutant + 1);
        let mut bytes = original.clone();
        let kinds: Vec<&str> = (0..1 + rng.below(3)).map(|_| damage(&mut bytes, &mut rng)).collect();
        let kind = kinds.join(", ");
        let name = format!("{relative} mutant {mutant} ({kind})");
        let dir = fresh_dir("damaged");
        let capture = dir.join("capture");
        std::fs::write(&capture, &bytes).unwrap();
        let out = dir.join("report");
        let mut opts = options(&[capture], &out);
        opts.threads = 1 + (mutant % 2) as usize;

        let outcome = catch_unwind(AssertUnwindSafe(|| analyze(&opts)));
        let summary = match outcome {
            Err(_) => panic!("{name}: analyze panicked"),
            Ok(Err(AnalyzeError::Capture(message))) => {
                assert!(!message.is_empty(), "{name}: an empty capture error");
                continue;
            }
            Ok(Err(e)) => panic!("{name}: {e}"),
            Ok(Ok(summary)) => summary,
        };
        for table in &summary.tables {
            let written = read_csv(&out.join(format!("{}.csv", table.name))).len() as u64;
            assert_eq!(written, table.rows, "{name}: rows of {}", table.name);
        }
        assert_no_temporary_file(&out, &name);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn assert_no_temporary_file(dir: &Path, name: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            file.ends_with(".csv") || file.ends_with(".parquet") || file.ends_with(".md"),
            "{name}: {file} left in the report folder"
        );
    }
}

#[test]
fn damaged_http_pcapng_of_curl() {
    analyze_mutants("basic/http-curl.pcapng");
}

#[test]
fn damaged_tls_capture_with_resumption() {
    analyze_mutants("tls/https-curl.pcap");
}

#[test]
fn damaged_capture_of_both_sides_of_haproxy() {
    analyze_mutants("lab/roundrobin/capture.pcap");
}

#[test]
fn damaged_capture_of_tls_terminated_by_haproxy() {
    analyze_mutants("lab/tls-terminated/capture.pcap");
}
