//! Conformance of the connections table with Zeek's conn.log on the reference corpus.
//!
//! Every connection Zeek logged must be in our table with the same endpoints, and where the
//! baseline has them, the same packet and byte counts, missed bytes and duration. How it began
//! and ended must agree with Zeek's `history` letters. A difference is only accepted when it is
//! listed in `KNOWN_DIFFERENCES` with the reason.

mod common;

use common::{analyze_captures, read_zeek_log, zeek_cases, zeek_corpus, Row};

/// (Zeek test, field, why we differ).
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

fn known(case: &str, field: &str) -> bool {
    KNOWN_DIFFERENCES.iter().any(|(c, f, _)| *c == case && *f == field)
}

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
    let Some(corpus) = zeek_corpus() else { return };
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in zeek_cases(&corpus) {
        let Some(log) = case.log("conn.log") else { continue };
        let zeek_rows = read_zeek_log(log);
        let report = analyze_captures("zeek-conn", &case.traces);
        let ours = report.table("connections");
        let mut check = |field: &str, zeek: &str, mine: &str, what: &str| {
            if zeek != mine && !known(&case.name, field) {
                failures.push(format!("{}: {what}: {field}: zeek {zeek:?}, ours {mine:?}", case.name));
            }
        };
        check("connections", &zeek_rows.len().to_string(), &ours.len().to_string(), "count");
        for (i, z) in zeek_rows.iter().enumerate() {
            // Full baselines carry the endpoints; cut ones are matched in order.
            let mine: Option<&Row> = match z.get("id.orig_h") {
                Some(orig) => ours.iter().find(|r| {
                    r["client_ip"] == *orig
                        && r["client_port"] == z["id.orig_p"]
                        && r["server_ip"] == z["id.resp_h"]
                        && r["server_port"] == z["id.resp_p"]
                }),
                None => ours.get(i),
            };
            let Some(mine) = mine else {
                check("connection", &format!("{z:?}"), "missing", "row");
                continue;
            };
            compared += 1;
            let what = format!("{}:{}", mine["client_ip"], mine["client_port"]);
            if let Some(service) = z.get("service") {
                check("service", service_of(service), &mine["service"], &what);
            }
            if let Some(history) = z.get("history") {
                check("start", start_of(history), &mine["start"], &what);
                if ended_by_reset(history) {
                    check("end", "reset", &mine["end"], &what);
                } else if ended_by_fin(history) {
                    check("end", "fin", &mine["end"], &what);
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
                    check(zeek_field, value, &mine[our_field], &what);
                }
            }
            if let Some(missed) = z.get("missed_bytes") {
                let ours_missed: u64 = mine["client_gap_bytes"].parse::<u64>().unwrap() + mine["server_gap_bytes"].parse::<u64>().unwrap();
                check("missed_bytes", missed, &ours_missed.to_string(), &what);
            }
            if let Some(duration) = z.get("duration") {
                let (zd, od): (f64, f64) = (duration.parse().unwrap(), mine["duration"].parse().unwrap());
                let close = (zd - od).abs() < 1e-5;
                check("duration", "equal", if close { "equal" } else { "different" }, &format!("{what} zeek {zd} ours {od}"));
            }
        }
    }
    assert!(compared > 0, "no connection compared");
    assert!(failures.is_empty(), "{} differences from Zeek:\n{}", failures.len(), failures.join("\n"));
}
