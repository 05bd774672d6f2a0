//! The ingestion summary: what was read, what was skipped and why, what the tables hold.
//!
//! Printed on the terminal and written as `summary.md` in the report folder.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::capture::{CaptureIssue, CaptureStats};
use crate::decode::DecodeStats;
use crate::reassembly::ReassemblyStats;

/// Connections of one HTTP connection mode, per server and application.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModeKey {
    /// `ip:port` of the server side.
    pub server: String,
    /// Application of the connection's first request.
    pub app: &'static str,
    pub mode: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct IngestSummary {
    pub capture: CaptureStats,
    pub capture_issues: Vec<CaptureIssue>,
    pub decode: DecodeStats,
    pub reassembly: ReassemblyStats,
    /// Connections per detected service (`http`, `tls`, `other`).
    pub services: BTreeMap<&'static str, u64>,
    pub anomalies: BTreeMap<&'static str, u64>,
    pub modes: BTreeMap<ModeKey, u64>,
    /// Rows written per table.
    pub tables: Vec<(&'static str, u64)>,
}

impl IngestSummary {
    pub fn count_service(&mut self, service: Option<&'static str>) {
        if let Some(service) = service {
            *self.services.entry(service).or_default() += 1;
        }
    }

    /// The summary as Markdown (also readable as plain text on a terminal).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the results are ignored throughout.
        let _ = self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) -> std::fmt::Result {
        let c = &self.capture;
        writeln!(out, "# affinity-audit: ingestion summary\n")?;
        writeln!(out, "## Capture\n")?;
        writeln!(out, "- files: {}", c.files)?;
        writeln!(out, "- packets: {} ({} captured bytes)", c.packets, c.captured_bytes)?;
        writeln!(out, "- packets cut by the snap length: {}", c.truncated_packets)?;
        if self.capture_issues.is_empty() {
            writeln!(out, "- damage: none")?;
        } else {
            writeln!(out, "- damage (everything before it was analysed):")?;
            for issue in &self.capture_issues {
                writeln!(out, "  - {issue}")?;
            }
        }

        let d = &self.decode;
        writeln!(out, "\n## Decoding\n")?;
        writeln!(out, "- TCP segments: {}", d.tcp_segments)?;
        writeln!(out, "- IPv4 fragments: {} ({} datagrams reassembled)", d.ipv4_fragments, d.ipv4_reassembled)?;
        if d.skipped.is_empty() {
            writeln!(out, "- skipped: nothing")?;
        } else {
            writeln!(out, "- skipped (not TCP, or not decodable), by kind:")?;
            for (kind, count) in &d.skipped {
                writeln!(out, "  - {kind}: {count}")?;
            }
        }

        let r = &self.reassembly;
        writeln!(out, "\n## Connections\n")?;
        writeln!(out, "- connections: {} ({} started before the capture)", r.connections, r.midstream_connections)?;
        writeln!(out, "- most connections open at once: {}", r.peak_live_connections)?;
        writeln!(out, "- late segments of closed connections: {}", r.late_segments)?;
        for (service, count) in &self.services {
            writeln!(out, "- {service}: {count}")?;
        }

        if !self.modes.is_empty() {
            writeln!(out, "\n## HTTP connection modes\n")?;
            writeln!(out, "| server | application | mode | connections |")?;
            writeln!(out, "|---|---|---|---:|")?;
            for (key, count) in &self.modes {
                writeln!(out, "| {} | {} | {} | {count} |", key.server, key.app, key.mode)?;
            }
        }

        writeln!(out, "\n## Anomalies\n")?;
        if self.anomalies.is_empty() {
            writeln!(out, "none")?;
        } else {
            for (kind, count) in &self.anomalies {
                writeln!(out, "- {kind}: {count}")?;
            }
        }

        writeln!(out, "\n## Tables written\n")?;
        for (name, rows) in &self.tables {
            writeln!(out, "- {name}: {rows} rows")?;
        }
        Ok(())
    }
}
