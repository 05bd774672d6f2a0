//! The summary: the affinity audit an architect reads in a minute, then what was read, what
//! was skipped and why, and what the tables hold.
//!
//! Printed on the terminal and written as `summary.md` in the report folder.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::audit::{format_utc, AuditSummary};
use crate::capture::{CaptureIssue, CaptureStats, CLOCK_STEP_TOLERANCE_SECS};
use crate::decode::DecodeStats;
use crate::reassembly::ReassemblyStats;
use super::parts::part_name;
use super::table::TableWritten;

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
    pub tables: Vec<TableWritten>,
    /// The audit's findings (absent only when the analysis failed before the end).
    pub audit: Option<AuditSummary>,
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

    /// What the capture itself kept from view: cut packets, damage, a clock that steps back.
    fn capture_limits(&self) -> Vec<String> {
        let c = &self.capture;
        let mut out = Vec::new();
        if c.truncated_packets > 0 {
            out.push(format!(
                "{} packets were cut by the snap length: their payload past the cut is missing, and HTTP messages or TLS handshakes in it could not be read ({} gaps in streams). Capture whole packets (tcpdump -s 0).",
                c.truncated_packets,
                self.anomalies.get("content_gap").copied().unwrap_or(0)
            ));
        }
        if !self.capture_issues.is_empty() {
            out.push(format!(
                "Capture files are damaged ({} notes, see Capture): what a file held after a fatal damage was not read.",
                self.capture_issues.len()
            ));
        }
        if c.clock_steps_back > 0 {
            out.push(format!(
                "The capture's timestamps step back {} times: times, moves and idleness across a step are the capture's, not the traffic's (see Capture).",
                c.clock_steps_back
            ));
        }
        out
    }

    fn write_markdown(&self, out: &mut String) -> std::fmt::Result {
        let c = &self.capture;
        writeln!(out, "# affinity-audit: summary\n")?;
        if let Some(audit) = &self.audit {
            write_audit(out, audit, &self.capture_limits())?;
        }
        writeln!(out, "## Capture\n")?;
        writeln!(out, "- files: {}", c.files)?;
        writeln!(out, "- packets: {} ({} captured bytes)", c.packets, c.captured_bytes)?;
        writeln!(out, "- packets cut by the snap length: {}", c.truncated_packets)?;
        if c.clock_steps_back > 0 {
            writeln!(
                out,
                "- clock steps back: {} (largest {:.3} s; {} packets came more than {CLOCK_STEP_TOLERANCE_SECS} s before a packet read earlier): connections and sessions are followed on each packet's own time, but the timeline across a step is the capture's, not the traffic's; see the `clock_step_back` anomalies",
                c.clock_steps_back,
                c.largest_step_back_secs(),
                c.packets_behind
            )?;
        }
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
        writeln!(out, "- IPv6 fragments: {} ({} datagrams reassembled)", d.ipv6_fragments, d.ipv6_reassembled)?;
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
        for table in &self.tables {
            write!(out, "- {}: {} rows", table.name, table.rows)?;
            if table.parquet_parts > 1 {
                write!(out, " (Parquet in {} parts, {} ...)", table.parquet_parts, part_name(table.name, 1))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The audit's part of the summary; `capture_limits` open its list of what the capture could
/// not show.
fn write_audit(out: &mut String, a: &AuditSummary, capture_limits: &[String]) -> std::fmt::Result {
    writeln!(out, "## Affinity audit\n")?;
    let sources: Vec<String> = a.server_sources.iter().map(|(source, n)| format!("{source} {n}")).collect();
    let sources = if sources.is_empty() { "nothing to identify".to_owned() } else { sources.join(", ") };
    writeln!(out, "- server identity, by evidence used: {sources}")?;
    if a.stitched > 0 {
        writeln!(out, "- named through the other side of the balancer (stitched): {}", a.stitched)?;
    }
    if !a.vips.is_empty() {
        writeln!(out, "- balancer virtual addresses: {}", a.vips.join(", "))?;
    }
    let st = &a.stitch;
    if st.http_pairs + st.tls_pairs + st.back_unstitched + st.tls_offloaded > 0 {
        writeln!(
            out,
            "- both sides of the balancer: {} HTTP and {} TLS pairs stitched; not stitched: {} client-side and {} server-side transactions ({} with X-Forwarded-For), {} client-side and {} server-side TLS connections; {} TLS connections terminated by the balancer",
            st.http_pairs, st.tls_pairs, st.front_unstitched, st.back_unstitched, st.back_forwarded, st.tls_front_unstitched, st.tls_back_unstitched, st.tls_offloaded
        )?;
    }
    writeln!(out, "- health probes: {} (counted per server, never sessions)", a.probes)?;

    writeln!(out, "\n| application | affinity | sessions | sticky | moved | single | unknown | sticky share | moves explained (failover / drain) | unexplained moves | failing sessions | warnings |")?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for (family, app) in &a.apps {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} |",
            family.as_str(),
            family.affinity().as_str(),
            app.sessions,
            app.sticky,
            app.moved,
            app.single,
            app.unknown,
            app.sticky_share().map_or_else(|| "–".to_owned(), percent),
            app.failover_moves,
            app.drain_moves,
            app.unexplained_moves,
            app.failure_sessions,
            app.warning_sessions
        )?;
    }
    if a.oa_pairs + a.oa_unpaired > 0 {
        writeln!(
            out,
            "\nOutlook Anywhere: {} RPC_IN_DATA/RPC_OUT_DATA pairs, {} split over two servers (the RPC proxy cannot join them), {} channels without partner.",
            a.oa_pairs, a.oa_split_pairs, a.oa_unpaired
        )?;
    }

    if !a.servers.is_empty() {
        writeln!(out, "\n### Servers\n")?;
        writeln!(out, "| server | transactions | share | sessions | probes (failed) | failure events | drain from |")?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---|")?;
        for s in &a.servers {
            let drain = s.drained_from.map(format_utc).unwrap_or_default();
            writeln!(out, "| {} | {} | {} | {} | {} ({}) | {} | {drain} |", s.name, s.transactions, percent(s.share), s.sessions, s.probes, s.probes_failed, s.failures)?;
        }
    }

    if !a.top_clients.is_empty() {
        writeln!(out, "\n### Client addresses ({} NAT hot-spots)\n", a.hotspots)?;
        writeln!(out, "| address | users | transactions | top server (its share of that server's load) | hot-spot |")?;
        writeln!(out, "|---|---:|---:|---|---|")?;
        for c in &a.top_clients {
            let top = c.top_server.as_deref().map(|s| format!("{s} ({})", percent(c.top_server_share))).unwrap_or_default();
            writeln!(out, "| {} | {} | {} | {top} | {} |", c.address, c.users, c.transactions, c.hotspot.as_deref().unwrap_or("no"))?;
        }
    }

    writeln!(out, "\n### What the capture could not show\n")?;
    if capture_limits.is_empty() && a.limits.is_empty() {
        writeln!(out, "nothing noted")?;
    }
    for limit in capture_limits.iter().chain(&a.limits) {
        writeln!(out, "- {limit}")?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_written_name_their_parquet_parts() {
        let summary = IngestSummary {
            tables: vec![
                TableWritten { name: "transactions", rows: 600_000, parquet_parts: 2 },
                TableWritten { name: "tls", rows: 3, parquet_parts: 1 },
                TableWritten { name: "servers", rows: 2, parquet_parts: 0 },
            ],
            ..IngestSummary::default()
        };
        let markdown = summary.to_markdown();
        let tables = &markdown[markdown.find("## Tables written").unwrap()..];
        assert!(tables.contains("- transactions: 600000 rows (Parquet in 2 parts, transactions-00001.parquet ...)\n"), "{tables}");
        assert!(tables.contains("- tls: 3 rows\n- servers: 2 rows\n"), "{tables}");
    }
}
