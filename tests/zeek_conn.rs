//! Conformance of the connections table with Zeek's conn.log on the reference corpus.
//!
//! Every connection Zeek logged must be in our table with the same endpoints, and where the
//! baseline has them, the same packet and byte counts, missed bytes and duration. How it began
//! and ended must agree with Zeek's `history` letters. A difference is only accepted when it is
//! listed in `KNOWN_DIFFERENCES` with the reason, and a listed difference that no longer occurs
//! fails too, so that the list stays true.

mod common;

use common::{compare_with_zeek, Connections};

/// (Zeek test, field, why we differ): none left. Zeek counts the last ACK after the FINs, which
/// the connection table absorbs while the closed connection lingers: it counts it too.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

/// Our `service` value for Zeek's (the first protocol Zeek found; Zeek says ssl for TLS).
fn service_of(zeek: &str) -> &str {
    match zeek.split(',').next().unwrap_or("") {
        "ssl" => "tls",
        other => other,
    }
}

/// What Zeek's history letters say of the start and end (upper case: originator).
fn start_of(history: &str) -> &'static str {
    match (history.contains('S'), history.contains('h') || history.contains('H')) {
        (true, true) => "handshake",
        (true, false) => "syn_only",
        (false, true) => "synack_only",
        (false, false) => "midstream",
    }
}

fn ended_by_reset(history: &str) -> bool {
    history.contains('R') || history.contains('r')
}

fn ended_by_fin(history: &str) -> bool {
    history.contains('F') && history.contains('f') && !ended_by_reset(history)
}

#[test]
fn connections_agree_with_zeek_conn_log() {
    compare_with_zeek("conn.log", KNOWN_DIFFERENCES, |zeek, report, findings| {
        let ours = Connections::of(report);
        findings.check("connections", &zeek.rows.len().to_string(), &ours.len().to_string(), "count");
        for z in &zeek.rows {
            let Some(mine) = ours.find(z) else {
                findings.differ("connection", format!("missing: {z:?}"));
                continue;
            };
            findings.compared += 1;
            let what = format!("{}:{}", mine["client_ip"], mine["client_port"]);
            if let Some(service) = z.get("service") {
                findings.check("service", service_of(service), &mine["service"], &what);
            }
            if let Some(history) = z.get("history") {
                findings.check("start", start_of(history), &mine["start"], &what);
                if ended_by_reset(history) {
                    findings.check("end", "reset", &mine["end"], &what);
                } else if ended_by_fin(history) {
                    findings.check("end", "fin", &mine["end"], &what);
                }
            }
            for (zeek_field, our_field) in [
                ("orig_pkts", "client_pkts"),
                ("orig_bytes", "client_bytes"),
                ("orig_ip_bytes", "client_ip_bytes"),
                ("resp_pkts", "server_pkts"),
                ("resp_bytes", "server_bytes"),
                ("resp_ip_bytes", "server_ip_bytes"),
            ] {
                if let Some(value) = z.get(zeek_field) {
                    findings.check(zeek_field, value, &mine[our_field], &what);
                }
            }
            if let Some(missed) = z.get("missed_bytes") {
                let ours_missed: u64 =
                    mine["client_gap_bytes"].parse::<u64>().unwrap() + mine["server_gap_bytes"].parse::<u64>().unwrap();
                findings.check("missed_bytes", missed, &ours_missed.to_string(), &what);
            }
            if let Some(duration) = z.get("duration") {
                let (zd, od): (f64, f64) = (duration.parse().unwrap(), mine["duration"].parse().unwrap());
                let equal = if (zd - od).abs() < 1e-5 { "equal" } else { "different" };
                findings.check("duration", "equal", equal, &format!("{what} zeek {zd} ours {od}"));
            }
        }
    });
}
