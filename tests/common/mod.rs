//! Helpers shared by the integration tests: run an analysis into a fresh folder, read its CSV
//! tables and Zeek's logs as rows of named fields.
#![allow(dead_code)] // each test binary uses its own part of these helpers

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
        progress: false,
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

/// Reads a Zeek log: either the full format (`#fields` header, tab-separated, `-` unset) or a
/// baseline cut to a few columns (first line names them). Unset fields are left out of the row.
pub fn read_zeek_log(path: &Path) -> Vec<Row> {
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
                names.iter().zip(values).filter(|(_, v)| *v != "-").map(|(n, v)| (n.clone(), v.to_string())).collect(),
            ),
        }
    }
    rows
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(parse_csv("a,b\n\"x,\"\"y\"\"\",\n"), vec![vec!["a", "b"], vec!["x,\"y\"", ""]]);
    }
}
