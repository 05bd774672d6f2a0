//! `analyze` with several threads writes the same bytes as with one: every table, CSV and
//! Parquet, on every bundled sample and on a generated Exchange capture large enough to fill
//! many batches between the threads.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use affinity_audit::pipeline::{analyze, AnalyzeOptions};
use common::{fresh_dir, options, sample};

/// Analyses `captures` with `threads` threads and the options `configure` sets; returns the
/// report folder.
fn report(tag: &str, captures: &[PathBuf], threads: usize, configure: fn(&mut AnalyzeOptions)) -> PathBuf {
    let dir = fresh_dir(tag);
    let mut opts = options(captures, &dir);
    opts.threads = threads;
    configure(&mut opts);
    analyze(&opts).unwrap_or_else(|e| panic!("analyze {captures:?} with {threads} threads: {e}"));
    dir
}

/// File names and bytes of a report folder, sorted by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("list the report folder")
        .map(|entry| {
            let path = entry.expect("read the report folder").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            (name, std::fs::read(&path).expect("read a report file"))
        })
        .collect();
    files.sort();
    files
}

/// The report with one thread, after checking that two and three give the same bytes.
fn assert_same_reports(tag: &str, captures: &[PathBuf], configure: fn(&mut AnalyzeOptions)) -> Vec<(String, Vec<u8>)> {
    let single = files(&report(tag, captures, 1, configure));
    assert_eq!(single.len(), 18, "{tag}: nine tables, CSV and Parquet");
    for threads in [2, 3] {
        let multi = files(&report(tag, captures, threads, configure));
        let names = |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&single), names(&multi), "{tag}: same files with {threads} threads");
        for ((name, one), (_, many)) in single.iter().zip(&multi) {
            assert!(one == many, "{tag}: {name} differs between 1 and {threads} threads");
        }
    }
    single
}

#[test]
fn every_bundled_sample_gives_the_same_report_with_any_number_of_threads() {
    let mut sets: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for folder in ["basic", "tls"] {
        for entry in std::fs::read_dir(sample(folder)).expect("list samples") {
            let path = entry.expect("list samples").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.contains(".pcap") {
                sets.push((name, vec![path]));
            }
        }
    }
    for entry in std::fs::read_dir(sample("lab")).expect("list lab samples") {
        let dir = entry.expect("list lab samples").path();
        if dir.join("capture.pcap").is_file() {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            sets.push((format!("{name}-vip"), vec![dir.join("capture.pcap")]));
            sets.push((format!("{name}-both-sides"), vec![dir.join("client-side.pcap"), dir.join("cas-side.pcap")]));
        }
    }
    assert!(sets.len() > 25, "the samples are all there: {}", sets.len());
    for (tag, captures) in &sets {
        assert_same_reports(tag, captures, |_| {});
    }
}

/// The lab's generator, built into the target folder this test runs from.
fn lab_generator() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    // <target>/<profile>/deps/threads-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("profile folder of the test binary");
    let target_dir = profile_dir.parent().expect("target folder of the test binary");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "affinity-lab"])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(common::project_root())
        .status()
        .expect("run cargo build -p affinity-lab");
    assert!(status.success(), "cargo build -p affinity-lab: {status}");
    target_dir.join("debug").join("affinity-lab")
}

#[test]
fn a_generated_exchange_capture_gives_the_same_report_with_any_number_of_threads() {
    let dir = fresh_dir("generated");
    let capture = dir.join("exchange.pcapng");
    let status = Command::new(lab_generator())
        .args(["generate", "--out"])
        .arg(&capture)
        .args(["--size", "32MiB", "--seed", "7", "--clients", "3000", "--format", "pcapng"])
        .status()
        .expect("run affinity-lab generate");
    assert!(status.success(), "affinity-lab generate: {status}");
    let whole = assert_same_reports("generated", std::slice::from_ref(&capture), |_| {});
    // Gzipped, the capture is read and inflated ahead on a thread of its own (with two threads
    // or more): the same tables.
    let gzipped = dir.join("exchange.pcapng.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&std::fs::read(&capture).expect("read the capture")).expect("gzip the capture");
    std::fs::write(&gzipped, encoder.finish().expect("gzip the capture")).expect("write the gzip");
    let tables = |report: &[(String, Vec<u8>)]| report.iter().filter(|(name, _)| name.ends_with(".csv")).cloned().collect::<Vec<_>>();
    let inflated = assert_same_reports("generated-gzip", &[gzipped], |_| {});
    assert!(tables(&inflated) == tables(&whole), "the gzip's tables differ from the capture's");
    // Sessions that end idle during the run are judged on the audit's thread, in capture
    // order: the same bytes again, and more sessions than when all are judged at the end.
    let ending = assert_same_reports("generated-idle", &[capture], |opts| opts.audit.session_idle_limit_secs = 2);
    let session_rows = |report: &[(String, Vec<u8>)]| {
        let (_, csv) = report.iter().find(|(name, _)| name == "sessions.csv").expect("a sessions table");
        csv.iter().filter(|&&b| b == b'\n').count()
    };
    assert!(session_rows(&ending) > session_rows(&whole), "sessions ended idle and began anew");
}

/// Real HAProxy traffic round after round: three copies of a lab capture back to back
/// (`affinity-lab replay`) give three times its connections and transactions, no anomaly (each
/// round reuses the ports of the one before: new connections, not retransmissions), and the
/// same bytes with any number of threads.
#[test]
fn a_replayed_lab_capture_is_its_rounds_with_any_number_of_threads() {
    let original = sample("lab/roundrobin/capture.pcap");
    let once = common::analyze_captures("replay-once", std::slice::from_ref(&original));
    let dir = fresh_dir("replay");
    let capture = dir.join("rounds.pcap");
    // The replay writes each record as it was, after the 24-byte file header.
    let len = std::fs::metadata(&original).expect("the sample's size").len();
    let status = Command::new(lab_generator())
        .args(["replay", "--out"])
        .arg(&capture)
        .args(["--size", &(24 + 3 * (len - 24)).to_string(), "--captures"])
        .arg(&original)
        .status()
        .expect("run affinity-lab replay");
    assert!(status.success(), "affinity-lab replay: {status}");
    assert_same_reports("replay", std::slice::from_ref(&capture), |_| {});

    let rounds = common::analyze_captures("replay-rounds", &[capture]);
    for table in ["connections", "transactions", "oa_pairs"] {
        assert_eq!(rounds.table(table).len(), 3 * once.table(table).len(), "{table}");
    }
    assert_eq!(rounds.table("anomalies").len(), 0);
    assert_eq!(rounds.summary.capture.clock_steps_back, 0);
}
