//! The command line, run as a user runs it: the built binary on the project's own captures.
//!
//! Exit codes and messages, the files a report folder holds (and no temporary file left), damaged
//! and foreign inputs, the order of several files, `columns`, `--help`, and that no credential or
//! session token of the samples reaches any output.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::{fresh_dir, read_csv, read_parquet, read_tsv, report_texts, sample, PcapFile, Row};

const TABLES: [&str; 9] =
    ["connections", "transactions", "tls", "anomalies", "sessions", "session_moves", "clients", "servers", "oa_pairs"];
const REFERENCE: &str = "basic/http-curl.pcap";

/// What a run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The run for an assertion message, credentials masked should a bug have printed one.
    fn describe(&self) -> String {
        redacted(&format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr))
    }

    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "{}", self.describe());
        assert!(!self.stderr.contains("panicked"), "{}", self.describe());
    }
}

fn affinity_audit<I: AsRef<OsStr>>(args: impl IntoIterator<Item = I>) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_affinity-audit")).args(args).output().expect("run affinity-audit");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `affinity-audit analyze -q [extra…] CAPTURES… --out OUT`.
fn analyze(captures: &[PathBuf], out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("analyze"), OsStr::new("-q")];
    args.extend(extra.iter().map(OsStr::new));
    args.extend(captures.iter().map(|c| c.as_os_str()));
    args.extend([OsStr::new("--out"), out.as_os_str()]);
    affinity_audit(args)
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("folder entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn assert_no_temporary_file(dir: &Path) {
    let hidden: Vec<String> = file_names(dir).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(hidden.is_empty(), "{}: temporary files left: {hidden:?}", dir.display());
}

/// The column names of a CSV table: its header line.
fn csv_header(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().next().unwrap_or_default().split(',').map(str::to_string).collect()
}

/// A cell as a number where it is one with a fraction, so CSV's and Parquet's renderings of the
/// same float compare equal.
fn normalized(row: &Row) -> Row {
    row.iter()
        .map(|(column, cell)| {
            let cell = match cell.parse::<f64>() {
                Ok(v) if cell.contains('.') => v.to_string(),
                _ => cell.clone(),
            };
            (column.clone(), cell)
        })
        .collect()
}

#[test]
fn analyze_writes_every_table_in_both_formats_and_the_summary() {
    let out = fresh_dir("cli-files");
    let run = affinity_audit([OsStr::new("analyze"), sample(REFERENCE).as_os_str(), OsStr::new("--out"), out.as_os_str()]);
    run.assert_code(0);
    let mut expected: BTreeSet<String> = TABLES.iter().flat_map(|t| [format!("{t}.csv"), format!("{t}.parquet")]).collect();
    expected.insert("summary.md".into());
    assert_no_temporary_file(&out);
    assert_eq!(file_names(&out), expected);
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("read summary.md");
    assert!(run.stdout == summary, "the summary printed is not the one written: {}", run.describe());

    for table in TABLES {
        let (csv_path, parquet_path) = (out.join(format!("{table}.csv")), out.join(format!("{table}.parquet")));
        let (columns, parquet_rows) = read_parquet(&parquet_path);
        assert_eq!(columns, csv_header(&csv_path), "{table}: Parquet and CSV columns");
        let csv_rows: Vec<Row> = read_csv(&csv_path).iter().map(normalized).collect();
        let parquet_rows: Vec<Row> = parquet_rows.iter().map(normalized).collect();
        assert_eq!(parquet_rows, csv_rows, "{table}: Parquet and CSV rows");
    }
    assert_eq!(read_csv(&out.join("connections.csv")).len(), 11, "README: 11 connections");
}

#[test]
fn formats_choose_the_files_and_not_their_contents() {
    let dir = fresh_dir("cli-formats");
    let both = dir.join("both");
    analyze(&[sample(REFERENCE)], &both, &[]).assert_code(0);
    for format in ["csv", "parquet"] {
        let out = dir.join(format);
        analyze(&[sample(REFERENCE)], &out, &["--formats", format]).assert_code(0);
        let mut expected: BTreeSet<String> = TABLES.iter().map(|t| format!("{t}.{format}")).collect();
        expected.insert("summary.md".into());
        assert_eq!(file_names(&out), expected);
        for name in expected {
            let same = std::fs::read(out.join(&name)).ok() == std::fs::read(both.join(&name)).ok();
            assert!(same, "{name} with --formats {format} differs from both formats'");
        }
    }
    let run = analyze(&[sample(REFERENCE)], &dir.join("xml"), &["--formats", "csv,xml"]);
    run.assert_code(2);
    assert!(run.stderr.contains("xml"), "{}", run.describe());
}

#[test]
fn a_missing_capture_exits_2_naming_it() {
    let out = fresh_dir("cli-missing");
    let missing = out.join("no-such-capture.pcap");
    let run = analyze(std::slice::from_ref(&missing), &out.join("report"), &[]);
    run.assert_code(2);
    assert!(run.stderr.contains(&missing.display().to_string()), "{}", run.describe());
}

#[test]
fn a_session_idle_limit_shorter_than_late_evidence_exits_2_saying_why() {
    let out = fresh_dir("cli-idle-limit");
    let run = analyze(&[sample(REFERENCE)], &out, &["--session-idle-limit", "300"]);
    run.assert_code(2);
    // Defaults: explanation window ends at the move (0 s), 300 s connection idle timeout, 2 s
    // stitch window, and a minute.
    assert!(run.stderr.contains("--session-idle-limit 300 is too short") && run.stderr.contains("362 s later"), "{}", run.describe());
    analyze(&[sample(REFERENCE)], &out, &["--session-idle-limit", "362"]).assert_code(0);
}

/// Bytes that are no capture: fixed, so a run is repeatable (xorshift64).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Files of no capture format, in `dir`.
fn not_captures(dir: &Path) -> Vec<PathBuf> {
    let files: [(&str, Vec<u8>); 3] = [
        ("empty.pcap", Vec::new()),
        ("notes.txt", b"These are notes, not packets.\nSecond line.\n".to_vec()),
        ("random.bin", random_bytes(4096)),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write a test input");
            path
        })
        .collect()
}

#[test]
fn a_file_with_no_packet_exits_2_naming_the_file_and_offset() {
    let dir = fresh_dir("cli-not-captures");
    for input in not_captures(&dir) {
        let out = dir.join(format!("report-{}", input.file_name().unwrap().to_string_lossy()));
        let run = analyze(std::slice::from_ref(&input), &out, &[]);
        run.assert_code(2);
        assert!(run.stderr.contains(&input.display().to_string()), "does not name the file: {}", run.describe());
        assert!(run.stderr.contains("offset 0"), "does not give the offset: {}", run.describe());
        if out.exists() {
            assert_no_temporary_file(&out);
        }
    }
}

#[test]
fn a_bad_file_beside_a_good_one_is_a_warning() {
    let dir = fresh_dir("cli-bad-beside-good");
    let good = sample(REFERENCE);
    let alone = dir.join("alone");
    analyze(std::slice::from_ref(&good), &alone, &[]).assert_code(0);
    for bad in not_captures(&dir) {
        let out = dir.join(format!("report-{}", bad.file_name().unwrap().to_string_lossy()));
        let run = analyze(&[bad.clone(), good.clone()], &out, &[]);
        run.assert_code(0);
        let warning = run.stderr.lines().find(|l| l.contains("warning") && l.contains(&bad.display().to_string()));
        assert!(warning.is_some(), "no warning naming {}: {}", bad.display(), run.describe());
        assert!(!run.stderr.contains(&good.display().to_string()), "the good file is named: {}", run.describe());
        for table in ["connections", "transactions"] {
            let file = format!("{table}.csv");
            assert_eq!(read_csv(&out.join(&file)), read_csv(&alone.join(&file)), "{table} of the good file, with {}", bad.display());
        }
        let damage: Vec<Row> = read_csv(&out.join("anomalies.csv")).into_iter().filter(|a| a["kind"] == "capture_damage").collect();
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert!(damage[0]["detail"].contains(&bad.display().to_string()), "{damage:?}");
        assert_no_temporary_file(&out);
    }
}

#[test]
fn a_truncated_capture_is_read_up_to_the_cut_with_a_warning() {
    let truncated = sample("basic/http-truncated.pcap");
    let offset = PcapFile::read(&truncated).truncated_record_at.expect("the sample ends inside a record");
    let out = fresh_dir("cli-truncated");
    let run = analyze(std::slice::from_ref(&truncated), &out, &[]);
    run.assert_code(0);
    let warning = run.stderr.lines().find(|l| l.contains("warning") && l.contains(&truncated.display().to_string()));
    assert!(warning.is_some_and(|w| w.contains(&format!("offset {offset}"))), "no warning naming the file and offset {offset}: {}", run.describe());
    assert_eq!(read_csv(&out.join("transactions.csv")).len(), 16, "README: 16 requests");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("read the summary");
    let limits = summary.split("### What the capture could not show").nth(1).expect("the audit's limits");
    assert!(limits.starts_with("\n\n- Capture files are damaged (1 notes, see Capture)"), "{summary}");
    assert_no_temporary_file(&out);
}

#[test]
fn files_given_out_of_order_are_a_warning() {
    let dir = fresh_dir("cli-out-of-order");
    let pcap = PcapFile::read(&sample("lab/roundrobin/capture.pcap"));
    let (first, second) = pcap.records.split_at(pcap.records.len() / 2);
    let (a, b) = (dir.join("part-a.pcap"), dir.join("part-b.pcap"));
    pcap.write_part(first, &a);
    pcap.write_part(second, &b);
    let step = second[0].ts - first[0].ts;
    assert!(step > 1.0, "the sample's halves start {step} s apart: no step to see");

    let out = dir.join("report");
    let run = analyze(&[b, a.clone()], &out, &["--order", "given"]);
    run.assert_code(0);
    let warning = run.stderr.lines().find(|l| l.contains("warning") && l.contains("step back 1 times"));
    assert!(warning.is_some(), "no warning of the step: {}", run.describe());
    let steps: Vec<Row> = read_csv(&out.join("anomalies.csv")).into_iter().filter(|row| row["kind"] == "clock_step_back").collect();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(steps[0]["detail"].starts_with(&a.display().to_string()), "names the file after the step: {steps:?}");
}

#[test]
fn packets_cut_by_the_snap_length_are_a_warning() {
    let dir = fresh_dir("cli-snapped");
    let pcap = PcapFile::read(&sample("lab/roundrobin/capture.pcap"));
    let snapped = dir.join("snapped.pcap");
    let records = pcap.snapped_records(96);
    let cut = records.iter().filter(|record| (record.data().len() as u32) < record.orig_len).count();
    pcap.write_part(&records, &snapped);
    let run = analyze(std::slice::from_ref(&snapped), &dir.join("report"), &[]);
    run.assert_code(0);
    let warning = format!("warning: {cut} packets were cut by the snap length");
    assert!(run.stderr.contains(&warning), "no warning '{warning}': {}", run.describe());
}

#[test]
fn a_capture_split_in_two_gives_the_tables_of_the_whole() {
    let dir = fresh_dir("cli-split");
    let whole = sample(REFERENCE);
    let pcap = PcapFile::read(&whole);
    // The middle record falls inside a connection: its halves are in different files.
    let (first, second) = pcap.records.split_at(pcap.records.len() / 2);
    let (a, b) = (dir.join("part-a.pcap"), dir.join("part-b.pcap"));
    pcap.write_part(first, &a);
    pcap.write_part(second, &b);

    let reports = [
        ("whole", vec![whole], &[][..]),
        ("given", vec![a.clone(), b.clone()], &["--order", "given"][..]),
        // Merged by time, whatever order the files are named in.
        ("merged", vec![b, a], &[][..]),
    ];
    let mut texts = Vec::new();
    for (name, captures, extra) in reports {
        let out = dir.join(name);
        analyze(&captures, &out, extra).assert_code(0);
        let tables: Vec<String> = TABLES.iter().map(|t| std::fs::read_to_string(out.join(format!("{t}.csv"))).expect("read a table")).collect();
        texts.push((name, tables));
    }
    let (_, whole_tables) = &texts[0];
    for (name, tables) in &texts[1..] {
        for ((table, expected), found) in TABLES.iter().zip(whole_tables).zip(tables) {
            assert_eq!(found, expected, "{table} of the two halves read {name}");
        }
    }
}

/// Column names per table of `columns`' Markdown: `### \`table\`` then rows `| \`column\` | …`.
fn markdown_columns(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for line in markdown.lines() {
        if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            tables.push((name.to_string(), Vec::new()));
        } else if let Some(cell) = line.strip_prefix("| `") {
            let column = cell.split('`').next().unwrap_or_default().to_string();
            tables.last_mut().expect("a column row before any table heading").1.push(column);
        }
    }
    tables
}

#[test]
fn columns_prints_a_markdown_table_per_report_table() {
    let run = affinity_audit(["columns"]);
    run.assert_code(0);
    assert_eq!(run.stdout.matches("| column | type | meaning | Zeek |\n|---|---|---|---|\n").count(), TABLES.len(), "{}", run.stdout);
    let out = fresh_dir("cli-columns");
    analyze(&[sample(REFERENCE)], &out, &[]).assert_code(0);
    let written: Vec<(String, Vec<String>)> = TABLES.iter().map(|t| (t.to_string(), csv_header(&out.join(format!("{t}.csv"))))).collect();
    assert_eq!(markdown_columns(&run.stdout), written, "`columns` lists the columns the CSV files have");
}

#[test]
fn help_exits_0() {
    let run = affinity_audit(["--help"]);
    run.assert_code(0);
    for command in ["analyze", "columns"] {
        assert!(run.stdout.contains(command), "{}", run.describe());
    }
    let run = affinity_audit(["analyze", "--help"]);
    run.assert_code(0);
    for option in ["--out", "--order"] {
        assert!(run.stdout.contains(option), "{}", run.describe());
    }
}

/// A value that must never reach a report, and how to name it in a message without showing it.
struct Secret {
    label: String,
    value: String,
}

/// Every capture of samples/: basic/, tls/ and each lab scenario's capture.pcap.
fn all_sample_captures() -> Vec<PathBuf> {
    let mut captures = Vec::new();
    for folder in ["basic", "tls"] {
        for entry in std::fs::read_dir(sample(folder)).expect("read a samples folder") {
            let path = entry.expect("folder entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz") {
                captures.push(path);
            }
        }
    }
    for entry in std::fs::read_dir(sample("lab")).expect("read samples/lab") {
        let capture = entry.expect("folder entry").path().join("capture.pcap");
        if capture.is_file() {
            captures.push(capture);
        }
    }
    captures.sort();
    captures
}

/// Values of the cookie `name` set or sent in a capture's clear-text bytes.
fn cookie_values_in(capture: &[u8], name: &str) -> Vec<String> {
    let needle = format!("{name}=");
    let mut values = Vec::new();
    let mut rest = capture;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle.as_bytes()) {
        rest = &rest[at + needle.len()..];
        let value = rest.strip_prefix(b"\"").unwrap_or(rest);
        let end = value.iter().position(|b| b"\";\r\n ,".contains(b)).unwrap_or(value.len());
        // Short values are no tokens (and could match anything).
        if end >= 16 {
            values.push(String::from_utf8_lossy(&value[..end]).into_owned());
        }
    }
    values
}

/// The passwords of the samples (samples/README.md, samples/lab/README.md) and the Basic
/// credentials built from them: users jdoe, and user1 to user8 in the lab.
fn credentials() -> Vec<Secret> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut secrets = vec![
        Secret { label: "the basic samples' password".into(), value: "Secret-Pass-1".into() },
        Secret { label: "the lab's password".into(), value: "P@ss-lab-only".into() },
        Secret { label: "the lab's password, form-encoded".into(), value: "P%40ss-lab-only".into() },
        Secret { label: "Basic credential of CONTOSO\\jdoe".into(), value: b64("CONTOSO\\jdoe:Secret-Pass-1") },
    ];
    for n in 1..=8 {
        secrets.push(Secret { label: format!("Basic credential of CONTOSO\\user{n}"), value: b64(&format!("CONTOSO\\user{n}:P@ss-lab-only")) });
    }
    secrets
}

/// `text` with every credential replaced by its label.
fn redacted(text: &str) -> String {
    credentials().iter().fold(text.to_string(), |text, secret| text.replace(&secret.value, &format!("<{}>", secret.label)))
}

/// The credentials, and the session tokens the truth files hold and the captures' clear text
/// carries.
fn secrets(captures: &[PathBuf]) -> Vec<Secret> {
    let mut secrets = credentials();
    let mut cookies = BTreeSet::new();
    for truth in ["basic/http-curl.truth.tsv", "tls/https-curl.truth.tsv"] {
        for row in read_tsv(&sample(truth)) {
            for list in [&row["req_cookies"], &row["set_cookies"]] {
                for (name, value) in list.split(';').filter_map(|p| p.trim().split_once('=')) {
                    if name == "cadata" || name == "sessionid" {
                        cookies.insert((name.to_string(), value.to_string()));
                    }
                }
            }
        }
    }
    assert!(cookies.len() >= 12, "the truth files hold cadata and sessionid of six sessions: {}", cookies.len());
    for capture in captures.iter().filter(|c| c.extension().is_some_and(|e| e == "pcap")) {
        let bytes = std::fs::read(capture).expect("read a capture");
        for name in ["cadata", "sessionid"] {
            cookies.extend(cookie_values_in(&bytes, name).into_iter().map(|v| (name.to_string(), v)));
        }
    }
    secrets.extend(cookies.into_iter().map(|(name, value)| Secret { label: format!("raw {name} value {}", common::sha256_prefix12(&value)), value }));
    secrets
}

#[test]
fn no_credential_or_session_token_reaches_any_output() {
    let captures = all_sample_captures();
    // samples/README.md: 10 files in basic/, 5 in tls/; samples/lab/README.md: 9 scenarios.
    assert!(captures.len() >= 10 + 5 + 9, "basic, tls and nine lab captures expected, found {}", captures.len());
    let secrets = secrets(&captures);

    // The search is only worth something if the captures hold what it looks for.
    let raw: Vec<Vec<u8>> = captures.iter().map(|c| std::fs::read(c).expect("read a capture")).collect();
    let in_captures = |value: &str| raw.iter().any(|bytes| bytes.windows(value.len()).any(|w| w == value.as_bytes()));
    let found = |label: &str| secrets.iter().filter(|s| s.label.starts_with(label) && in_captures(&s.value)).count();
    assert_eq!(found("Basic credential of CONTOSO\\jdoe"), 1, "jdoe's Basic credential is in the basic captures");
    assert!(found("Basic credential of CONTOSO\\user") > 0, "the lab users' Basic credentials are in the lab captures");
    assert_eq!(found("the lab's password, form-encoded"), 1, "the lab's form logons are in the lab captures");

    let dir = fresh_dir("cli-secrets");
    let mut leaks = Vec::new();
    for (i, capture) in captures.iter().enumerate() {
        let out = dir.join(i.to_string());
        // Not -q: the summary printed is an output too.
        let run = affinity_audit([OsStr::new("analyze"), capture.as_os_str(), OsStr::new("--out"), out.as_os_str()]);
        run.assert_code(0);
        let mut texts = report_texts(&out);
        texts.push((PathBuf::from("stdout"), run.stdout));
        texts.push((PathBuf::from("stderr"), run.stderr));
        for (file, text) in &texts {
            for secret in secrets.iter().filter(|s| text.contains(&s.value)) {
                leaks.push(format!("{}: {}: {}", capture.display(), file.display(), secret.label));
            }
        }
    }
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
}

#[test]
fn partition_by_capture_writes_one_report_per_capture_equal_to_its_own_analysis() {
    let captures = [sample("lab/failover/client-side.pcap"), sample("lab/failover/cas-side.pcap")];
    let out = fresh_dir("partitioned");
    analyze(&captures, &out, &["--partition-by", "capture"]).assert_code(0);
    assert_eq!(file_names(&out), BTreeSet::from(["capture=cas-side.pcap".to_string(), "capture=client-side.pcap".to_string()]));
    for capture in &captures {
        let alone = fresh_dir("partition-alone");
        analyze(std::slice::from_ref(capture), &alone, &[]).assert_code(0);
        let name = capture.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let partition = out.join(format!("capture={name}"));
        assert_eq!(file_names(&partition), file_names(&alone), "{name}");
        for file in file_names(&alone) {
            let (a, b) = (std::fs::read(alone.join(&file)).unwrap(), std::fs::read(partition.join(&file)).unwrap());
            assert!(a == b, "{name}: {file} differs from the capture's own analysis");
        }
    }
}

#[test]
fn partition_by_capture_refuses_two_captures_of_the_same_name() {
    let captures = [sample("lab/failover/capture.pcap"), sample("lab/drain/capture.pcap")];
    let out = fresh_dir("partition-clash");
    let run = analyze(&captures, &out, &["--partition-by", "capture"]);
    run.assert_code(2);
    assert!(run.stderr.contains("capture=capture.pcap"), "{}", run.describe());
}
