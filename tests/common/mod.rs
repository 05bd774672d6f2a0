//! Helpers shared by the integration tests: run an analysis into a fresh folder, read its CSV
//! tables and Zeek's logs as rows of named fields.
#![allow(dead_code)] // each test binary uses its own part of these helpers

pub mod haproxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use affinity_audit::capture::ReadOrder;
use affinity_audit::pipeline::{analyze, AnalyzeOptions};
use affinity_audit::report::summary::IngestSummary;

pub type Row = BTreeMap<String, String>;

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample(relative: &str) -> PathBuf {
    project_root().join("samples").join(relative)
}

/// The Zeek reference corpus beside the project (`../shared/corpus/zeek`). Missing is a failure
/// in CI (`CI` set), where it is always there; elsewhere the corpus tests are skipped.
pub fn zeek_corpus() -> Option<PathBuf> {
    let dir = project_root().join("../shared/corpus/zeek");
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "the Zeek corpus is missing at {}", dir.display());
    eprintln!("skipped: no Zeek corpus at {}", dir.display());
    None
}

/// A fresh, empty folder under the system's temporary folder.
pub fn fresh_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("affinity-test-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// The outcome of one analysis: its folder and summary.
pub struct Report {
    pub dir: PathBuf,
    pub summary: IngestSummary,
}

impl Report {
    /// Rows of `<table>.csv`.
    pub fn table(&self, table: &str) -> Vec<Row> {
        read_csv(&self.dir.join(format!("{table}.csv")))
    }
}

pub fn options(captures: &[PathBuf], out_dir: &Path) -> AnalyzeOptions {
    AnalyzeOptions {
        captures: captures.to_vec(),
        order: ReadOrder::MergeByTime,
        out_dir: out_dir.to_path_buf(),
        reassembly: Default::default(),
        http: Default::default(),
        evidence: Default::default(),
        audit: Default::default(),
        progress: false,
        threads: 1,
        formats: Default::default(),
    }
}

/// Analyses the captures with default options into a fresh folder.
pub fn analyze_captures(tag: &str, captures: &[PathBuf]) -> Report {
    let dir = fresh_dir(tag);
    let summary = analyze(&options(captures, &dir)).unwrap_or_else(|e| panic!("analyze {captures:?}: {e}"));
    Report { dir, summary }
}

/// Reads a CSV file with a header line (RFC 4180 quoting) into rows keyed by column name.
pub fn read_csv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().unwrap_or_default();
    records.map(|fields| header.iter().cloned().zip(fields).collect()).collect()
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// A Zeek log: its columns, and its rows with the unset fields (`-`) left out and the empty ones
/// (`(empty)`) empty.
pub struct ZeekLog {
    pub fields: Vec<String>,
    pub rows: Vec<Row>,
}

impl ZeekLog {
    /// Whether the log has that column (a baseline cut to a few columns may not).
    pub fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }
}

/// Reads a Zeek log: either the full format (`#fields` header, tab-separated, `-` unset) or a
/// baseline cut to a few columns (first line names them).
pub fn read_zeek_log(path: &Path) -> ZeekLog {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(names) = line.strip_prefix("#fields\t") {
            fields = Some(names.split('\t').map(str::to_string).collect());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let values: Vec<&str> = line.split('\t').collect();
        match &fields {
            None => fields = Some(values.iter().map(|v| v.to_string()).collect()),
            Some(names) => rows.push(
                names
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| *v != "-")
                    .map(|(n, v)| (n.clone(), if v == "(empty)" { String::new() } else { v.to_string() }))
                    .collect(),
            ),
        }
    }
    ZeekLog { fields: fields.unwrap_or_default(), rows }
}

/// The uids Zeek's test suite gives the first connections of a trace, in the order Zeek creates
/// them (btest seeds Zeek's uid generator; read off the corpus's full conn.logs). A baseline cut
/// down to the uid names its connection only through them.
const ZEEK_TEST_UIDS: &[&str] =
    &["CHhAvVGS1DHFjwGM9", "ClEkJM2Vm5giqnMf4h", "C4J4Th3PJpwUYZZ6gc", "CtPZjS20MLrsMUOJi2", "CUM0KZ3MLUfNB0cl11"];

/// Our connections table, to find the connection a Zeek log row speaks of.
pub struct Connections {
    /// In the order the connections began (Zeek's creation order).
    rows: Vec<Row>,
}

impl Connections {
    pub fn of(report: &Report) -> Self {
        let mut rows = report.table("connections");
        rows.sort_by(|a, b| a["ts_first"].parse::<f64>().unwrap().total_cmp(&b["ts_first"].parse::<f64>().unwrap()));
        Connections { rows }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Ours for a Zeek row: by its endpoints (Zeek's originator is our client), or, in a baseline
    /// cut to the uid, by the uid's place in Zeek's creation order.
    pub fn find(&self, zeek: &Row) -> Option<&Row> {
        match (zeek.get("id.orig_h"), zeek.get("uid")) {
            (Some(orig), _) => self.rows.iter().find(|r| {
                r["client_ip"] == *orig
                    && r["client_port"] == zeek["id.orig_p"]
                    && r["server_ip"] == zeek["id.resp_h"]
                    && r["server_port"] == zeek["id.resp_p"]
            }),
            (None, Some(uid)) => {
                let rank = ZEEK_TEST_UIDS.iter().position(|u| u == uid)?;
                self.rows.get(rank)
            }
            (None, None) => None,
        }
    }
}

/// One row of the corpus manifest: a Zeek test, its traces and its baseline logs.
pub struct ZeekCase {
    pub name: String,
    pub traces: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

impl ZeekCase {
    /// The baseline log of that kind (`conn.log`, or its cut variant), if the test has one.
    pub fn log(&self, kind: &str) -> Option<&PathBuf> {
        self.logs.iter().find(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name == kind || name == format!("{kind}.cut")
        })
    }
}

pub fn zeek_cases(corpus: &Path) -> Vec<ZeekCase> {
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let name = cols.next()?.to_string();
            let traces = cols.next()?.split(' ').map(|t| corpus.join("traces").join(t)).collect();
            let logs = cols.next().unwrap_or("").split(' ').filter(|l| !l.is_empty()).map(|l| corpus.join("baselines").join(l)).collect();
            Some(ZeekCase { name, traces, logs })
        })
        .collect()
}

/// What a conformance test found on the corpus: how many records it compared, and where they
/// differ from Zeek's as (Zeek test, field, what exactly).
pub struct Findings {
    case: String,
    pub compared: usize,
    differences: Vec<(String, String, String)>,
}

impl Findings {
    /// Notes a difference of `field` in the case being compared.
    pub fn differ(&mut self, field: &str, what: String) {
        self.differences.push((self.case.clone(), field.to_string(), what));
    }

    /// Notes a difference of `field` when Zeek's value and ours are not the same.
    pub fn check(&mut self, field: &str, zeek: &str, ours: &str, what: &str) {
        if zeek != ours {
            self.differ(field, format!("{what}: zeek {zeek:?}, ours {ours:?}"));
        }
    }
}

/// Runs `compare` on each corpus case that has a baseline log of `kind` (`conn.log`, ...), with
/// that log and our report on the case's traces. Then fails on every difference `known` does
/// not list as (Zeek test, field, reason), and on every listed one that no longer occurs, so
/// that the list stays true. Skipped without the corpus (see [`zeek_corpus`]).
pub fn compare_with_zeek(kind: &str, known: &[(&str, &str, &str)], mut compare: impl FnMut(&ZeekLog, &Report, &mut Findings)) {
    let Some(corpus) = zeek_corpus() else { return };
    let mut findings = Findings { case: String::new(), compared: 0, differences: Vec::new() };
    for case in zeek_cases(&corpus) {
        let Some(log) = case.log(kind) else { continue };
        let report = analyze_captures("zeek", &case.traces);
        findings.case.clone_from(&case.name);
        compare(&read_zeek_log(log), &report, &mut findings);
        let _ = std::fs::remove_dir_all(&report.dir);
    }
    assert!(findings.compared > 0, "no record of {kind} compared");
    assert_known_differences(known, &findings.differences);
}

/// Fails on every difference found that `known` does not list, and on every listed one that
/// was not found.
fn assert_known_differences(known: &[(&str, &str, &str)], found: &[(String, String, String)]) {
    let is_known = |(case, field, _): &&(String, String, String)| known.iter().any(|(c, f, _)| c == case && f == field);
    let unlisted: Vec<String> =
        found.iter().filter(|d| !is_known(d)).map(|(case, field, what)| format!("{case}: {field}: {what}")).collect();
    let stale: Vec<String> = known
        .iter()
        .filter(|(c, f, _)| !found.iter().any(|(case, field, _)| case == c && field == f))
        .map(|(case, field, _)| format!("{case}: {field}"))
        .collect();
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "{} differences from Zeek not in KNOWN_DIFFERENCES:\n{}\n{} listed differences that no longer occur:\n{}",
        unlisted.len(),
        unlisted.join("\n"),
        stale.len(),
        stale.join("\n")
    );
}

/// A Zeek field's value, empty when unset.
pub fn zeek_value<'a>(row: &'a Row, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

// ---- Helpers of the tests on the project's own captures (samples/) ----

/// Rows of a ground-truth TSV file of samples/ (header line, tab-separated; `-` kept as written).
pub fn read_tsv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines.map(|line| header.iter().map(|h| h.to_string()).zip(line.split('\t').map(str::to_string)).collect()).collect()
}

/// First 12 hex digits of the SHA-256 of `value`: the cookie digest the transactions table
/// documents, computed here independently of the crate.
pub fn sha256_prefix12(value: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(value.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// One record of a classic pcap file: its offset in the file and its bytes, record header
/// (16 bytes) included.
pub struct PcapRecord {
    pub offset: u64,
    /// Capture time, epoch seconds.
    pub ts: f64,
    pub orig_len: u32,
    pub bytes: Vec<u8>,
}

impl PcapRecord {
    /// The captured frame.
    pub fn data(&self) -> &[u8] {
        &self.bytes[16..]
    }
}

/// A classic pcap file cut into records (test-side reader, independent of the crate's).
pub struct PcapFile {
    /// The 24-byte file header.
    pub header: Vec<u8>,
    pub records: Vec<PcapRecord>,
    /// Offset of a last record whose data the file does not hold in full.
    pub truncated_record_at: Option<u64>,
    little_endian: bool,
}

impl PcapFile {
    pub fn read(path: &Path) -> PcapFile {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let header = bytes[..24].to_vec();
        // (byte order, units of the fraction per second)
        let (little_endian, fraction_per_sec) = match header[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (true, 1e6),
            [0x4d, 0x3c, 0xb2, 0xa1] => (true, 1e9),
            [0xa1, 0xb2, 0xc3, 0xd4] => (false, 1e6),
            [0xa1, 0xb2, 0x3c, 0x4d] => (false, 1e9),
            _ => panic!("{}: not a classic pcap file", path.display()),
        };
        let u32_at = |at: usize| {
            let raw: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            if little_endian { u32::from_le_bytes(raw) } else { u32::from_be_bytes(raw) }
        };
        let (mut records, mut offset) = (Vec::new(), 24usize);
        while offset + 16 <= bytes.len() {
            let (caplen, orig_len) = (u32_at(offset + 8) as usize, u32_at(offset + 12));
            let end = offset + 16 + caplen;
            if end > bytes.len() {
                return PcapFile { header, records, truncated_record_at: Some(offset as u64), little_endian };
            }
            let ts = f64::from(u32_at(offset)) + f64::from(u32_at(offset + 4)) / fraction_per_sec;
            records.push(PcapRecord { offset: offset as u64, ts, orig_len, bytes: bytes[offset..end].to_vec() });
            offset = end;
        }
        let truncated_record_at = (offset < bytes.len()).then_some(offset as u64);
        PcapFile { header, records, truncated_record_at, little_endian }
    }

    /// Copies of the records cut to `snaplen` bytes of frame, as `tcpdump -s SNAPLEN` writes them.
    pub fn snapped_records(&self, snaplen: usize) -> Vec<PcapRecord> {
        self.records
            .iter()
            .map(|record| {
                let kept = record.data().len().min(snaplen);
                let mut bytes = record.bytes[..16 + kept].to_vec();
                let caplen = u32::try_from(kept).expect("a frame's length fits pcap's field");
                let raw = if self.little_endian { caplen.to_le_bytes() } else { caplen.to_be_bytes() };
                bytes[8..12].copy_from_slice(&raw);
                PcapRecord { offset: record.offset, ts: record.ts, orig_len: record.orig_len, bytes }
            })
            .collect()
    }

    /// Copies of the records with their timestamps moved by `secs` seconds.
    pub fn shifted_records(&self, secs: i64) -> Vec<PcapRecord> {
        self.records.iter().map(|record| self.shifted(record, secs)).collect()
    }

    /// A copy of `record` with its timestamp moved by `secs` seconds.
    pub fn shifted(&self, record: &PcapRecord, secs: i64) -> PcapRecord {
        let mut bytes = record.bytes.clone();
        let raw: [u8; 4] = bytes[..4].try_into().unwrap();
        let old = if self.little_endian { u32::from_le_bytes(raw) } else { u32::from_be_bytes(raw) };
        let new = u32::try_from(i64::from(old) + secs).expect("a shift within pcap's seconds");
        let raw = if self.little_endian { new.to_le_bytes() } else { new.to_be_bytes() };
        bytes[..4].copy_from_slice(&raw);
        PcapRecord { offset: record.offset, ts: record.ts + secs as f64, orig_len: record.orig_len, bytes }
    }

    /// Writes the file header and the given records as a new pcap file.
    pub fn write_part(&self, records: &[PcapRecord], path: &Path) {
        let mut out = self.header.clone();
        for record in records {
            out.extend_from_slice(&record.bytes);
        }
        std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Every text a report folder holds, file by file: CSV and Markdown as written, Parquet as its
/// cells rendered as text (the Parquet bytes are compressed, so a search must look at the cells).
pub fn report_texts(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("read a report folder entry").path();
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => {
                let (_, rows) = read_parquet(&path);
                rows.iter().flat_map(|row| row.values()).cloned().collect::<Vec<_>>().join("\n")
            }
            _ => String::from_utf8_lossy(&std::fs::read(&path).expect("read a report file")).into_owned(),
        };
        texts.push((path, text));
    }
    texts
}

/// A Parquet table: its column names in order, and its rows (null: empty text; numbers and
/// booleans as Rust prints them).
pub fn read_parquet(path: &Path) -> (Vec<String>, Vec<Row>) {
    use polars::prelude::*;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let df = ParquetReader::new(file).finish().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names: Vec<String> = df.columns().iter().map(|c| c.name().to_string()).collect();
    let mut rows = vec![Row::new(); df.height()];
    for column in df.columns() {
        let cells: Vec<String> = if column.dtype() == &DataType::Float64 {
            column.f64().expect("f64 column").iter().map(|v| v.map(|v| v.to_string()).unwrap_or_default()).collect()
        } else {
            let text = column.cast(&DataType::String).expect("cast a column to text");
            text.str().expect("text column").iter().map(|v| v.unwrap_or_default().to_string()).collect()
        };
        for (row, cell) in rows.iter_mut().zip(cells) {
            row.insert(column.name().to_string(), cell);
        }
    }
    (names, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(parse_csv("a,b\n\"x,\"\"y\"\"\",\n"), vec![vec!["a", "b"], vec!["x,\"y\"", ""]]);
    }
}
