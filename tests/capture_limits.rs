//! What a capture keeps from view, on real HAProxy lab captures: a clock that steps back, a
//! record dated far ahead, packets cut by the snap length. The analysis does what it can and
//! the summary says what it could not see.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use affinity_audit::pipeline::analyze;
use common::{fresh_dir, options, sample, PcapFile, Report, Row};

/// What a transaction is, apart from its connection id and times (which the shift changes).
fn transaction_keys(rows: &[Row]) -> BTreeMap<Vec<String>, usize> {
    let mut keys = BTreeMap::new();
    for row in rows {
        let key = ["client_ip", "client_port", "server_port", "trans_depth", "method", "uri", "status", "server"]
            .iter()
            .map(|column| row[*column].clone())
            .collect();
        *keys.entry(key).or_default() += 1;
    }
    keys
}

fn analyzed(tag: &str, capture: PathBuf, threads: usize) -> Report {
    let dir = fresh_dir(tag);
    let mut opts = options(&[capture], &dir);
    opts.threads = threads;
    let summary = analyze(&opts).unwrap_or_else(|e| panic!("analyze: {e}"));
    Report { dir, summary }
}

#[test]
fn a_capture_stepping_back_an_hour_is_analysed_as_its_two_parts() {
    let mut first = PcapFile::read(&sample("lab/roundrobin/capture.pcap"));
    let second = PcapFile::read(&sample("lab/cookie-insert/capture.pcap"));
    assert_eq!(first.header, second.header, "both lab captures come from tcpdump on lo");
    let hour_before = second.records[0].ts - first.records[0].ts + 3600.0;
    let moved = second.shifted_records(-(hour_before as i64));

    let dir = fresh_dir("clock-steps-input");
    let stepped = dir.join("stepped.pcap");
    let records: Vec<_> = std::mem::take(&mut first.records).into_iter().chain(moved).collect();
    first.write_part(&records, &stepped);

    let parts = [
        analyzed("clock-steps-first", sample("lab/roundrobin/capture.pcap"), 1),
        analyzed("clock-steps-second", sample("lab/cookie-insert/capture.pcap"), 1),
    ];
    for threads in [1, 2] {
        let whole = analyzed("clock-steps-whole", stepped.clone(), threads);
        let capture = &whole.summary.capture;
        assert_eq!(capture.clock_steps_back, 1);
        assert_eq!(capture.packets_behind, second.records.len() as u64);
        assert!(capture.largest_step_back_nanos > 3_600_000_000_000);

        let anomalies = whole.table("anomalies");
        let steps: Vec<&Row> = anomalies.iter().filter(|row| row["kind"] == "clock_step_back").collect();
        assert_eq!(steps.len(), 1, "{anomalies:?}");
        assert!(steps[0]["detail"].starts_with(&format!("{}: timestamps step back 36", stepped.display())), "{:?}", steps[0]);
        let part_anomalies: usize = parts.iter().map(|part| part.table("anomalies").len()).sum();
        assert_eq!(anomalies.len(), part_anomalies + 1, "no anomaly but the step itself: {anomalies:?}");

        for table in ["connections", "transactions", "oa_pairs"] {
            let apart: usize = parts.iter().map(|part| part.table(table).len()).sum();
            assert_eq!(whole.table(table).len(), apart, "{table} rows, {threads} threads");
        }
        let mut apart = transaction_keys(&parts[0].table("transactions"));
        for (key, count) in transaction_keys(&parts[1].table("transactions")) {
            *apart.entry(key).or_default() += count;
        }
        assert_eq!(transaction_keys(&whole.table("transactions")), apart);
        let summary = whole.summary.to_markdown();
        assert!(summary.contains("- clock steps back: 1 (largest 36"), "{summary}");
        assert!(summary.contains("\n- The capture's timestamps step back 1 times"), "{summary}");
    }
}

/// A lab capture cut to 96 bytes a packet (headers and the first bytes of payload), as some
/// capture appliances cut.
#[test]
fn packets_cut_by_the_snap_length_are_named_among_what_the_capture_could_not_show() {
    let capture = PcapFile::read(&sample("lab/roundrobin/capture.pcap"));
    let dir = fresh_dir("snapped-input");
    let snapped = dir.join("snapped.pcap");
    let records = capture.snapped_records(96);
    let cut = records.iter().filter(|record| (record.data().len() as u32) < record.orig_len).count();
    assert!(cut > 100, "the sample has packets longer than 96 bytes");
    capture.write_part(&records, &snapped);

    let whole = analyzed("snapped", sample("lab/roundrobin/capture.pcap"), 1);
    assert!(!whole.summary.to_markdown().contains("were cut by the snap length"));
    let report = analyzed("snapped", snapped, 1);
    assert_eq!(report.summary.capture.truncated_packets, cut as u64);
    assert_eq!(report.table("connections").len(), whole.table("connections").len(), "connections are still seen whole");
    let summary = report.summary.to_markdown();
    let limits = summary.split("### What the capture could not show").nth(1).expect("the audit's limits");
    assert!(limits.starts_with(&format!("\n\n- {cut} packets were cut by the snap length")), "{summary}");
}

/// One packet of a lab capture (both sides of the balancer) dated 35 days ahead, as a damaged
/// record may be: reported as a step back, and the rest is analysed nearly as before; the
/// clocks wait for a leap ahead to be confirmed and follow the capture back, so the far time
/// neither ends what is live nor makes anything wait for it (memory stays where it was: 50 MB
/// for a 300 MiB lab replay, where it grew to 87 MB when the clocks stayed ahead).
#[test]
fn one_garbage_time_far_ahead_changes_the_analysis_of_its_packet_only() {
    let original = sample("lab/roundrobin/capture.pcap");
    let mut capture = PcapFile::read(&original);
    // A packet of the client side's first connection, well into the capture.
    let garbage = capture.records.len() / 3;
    let ahead = capture.shifted(&capture.records[garbage], 35 * 86_400);
    capture.records[garbage] = ahead;
    let dir = fresh_dir("garbage-time-input");
    let damaged = dir.join("garbage-time.pcap");
    capture.write_part(&capture.records, &damaged);

    let clean = analyzed("garbage-time-clean", original, 1);
    for threads in [1, 2] {
        let report = analyzed("garbage-time", damaged.clone(), threads);
        assert_eq!(report.summary.capture.clock_steps_back, 1);
        let audit = report.summary.audit.as_ref().expect("an audit");
        let clean_audit = clean.summary.audit.as_ref().expect("an audit");
        // The packet's own connection and transaction may differ.
        let near = |a: u64, b: u64| a.abs_diff(b) <= 1;
        assert!(near(audit.stitch.http_pairs, clean_audit.stitch.http_pairs), "{} pairs, {} clean", audit.stitch.http_pairs, clean_audit.stitch.http_pairs);
        for table in ["connections", "transactions", "oa_pairs", "sessions"] {
            let (rows, clean_rows) = (report.table(table).len() as u64, clean.table(table).len() as u64);
            assert!(near(rows, clean_rows), "{table}: {rows} rows, {clean_rows} clean");
        }
    }
}
