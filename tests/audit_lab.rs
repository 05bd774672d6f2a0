//! The audit against HAProxy's own log, on every lab scenario (samples/lab, see its README):
//! every request HAProxy logged must be attributed to the server HAProxy chose, and the
//! verdicts must be the ones the README expects. Any difference fails.
//!
//! Captures of each scenario, and where the server must come from:
//! - `capture.pcap` (both sides) and `client-side.pcap`: the client's transactions, matched by
//!   client address and port and request line; the server from a header, a cookie or the
//!   server side (stitching), never from the VIP's address;
//! - `cas-side.pcap`: the balancer's transactions, matched by HAProxy's side of the server
//!   connection (`%bi:%bp`), with a naming file giving the servers' names.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use affinity_audit::audit::ServerNames;
use affinity_audit::pipeline::analyze;
use common::haproxy::{epoch_millis, read_log, LogLine, Topology};
use common::{fresh_dir, options, sample, Report, Row};

struct Scenario {
    name: &'static str,
    dir: PathBuf,
    log: Vec<LogLine>,
    topology: Topology,
}

impl Scenario {
    /// The committed fixture of a scenario.
    fn load(name: &'static str) -> Scenario {
        Scenario::at(name, sample(&format!("lab/{name}")))
    }

    /// A scenario's output folder (`lab/run-scenario.sh NAME DIR`).
    fn at(name: &'static str, dir: PathBuf) -> Scenario {
        Scenario { name, log: read_log(&dir.join("haproxy.log")), topology: Topology::read(&dir.join("haproxy.cfg")), dir }
    }

    fn capture(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Analyses one of the scenario's captures, with a naming file when given.
    fn analyze(&self, file: &str, naming: Option<String>) -> Report {
        let dir = fresh_dir(&format!("lab-{}-{}", self.name, file.trim_end_matches(".pcap")));
        let mut opts = options(&[self.capture(file)], &dir);
        if let Some(text) = naming {
            opts.audit.server_names = ServerNames::parse(&text).expect("naming file");
        }
        let summary = analyze(&opts).unwrap_or_else(|e| panic!("{} {file}: {e}", self.name));
        Report { dir, summary }
    }

    /// Epoch milliseconds of the events.log line that mentions `what`.
    fn event_millis(&self, what: &str) -> i64 {
        let text = std::fs::read_to_string(self.capture("events.log")).expect("events.log");
        let line = text.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("{}: no `{what}` event", self.name));
        // 2026-11-22T02:48:22.863Z
        let stamp = line.split_whitespace().next().unwrap_or_default();
        let num = |range: std::ops::Range<usize>| stamp.get(range).and_then(|s| s.parse::<i64>().ok()).expect("event time");
        epoch_millis(num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19), num(20..23))
    }
}

fn f64_of(row: &Row, column: &str) -> f64 {
    row.get(column).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn field<'a>(row: &'a Row, column: &str) -> &'a str {
    row.get(column).map(String::as_str).unwrap_or("")
}

fn endpoint(row: &Row) -> String {
    format!("{}:{}", field(row, "client_ip"), field(row, "client_port"))
}

fn request_line(row: &Row) -> String {
    format!("{} {} HTTP/{}", field(row, "method"), field(row, "uri"), field(row, "version"))
}

/// Where a logged request must be found, and which server it must show.
struct Expectation<'a> {
    /// The connection of the log line the rows are keyed by.
    connection: fn(&LogLine) -> &str,
    /// The server a row must show for a log line.
    server: &'a dyn Fn(&LogLine) -> String,
    /// Whether a row's server comes from acceptable evidence.
    source_ok: fn(&Row) -> bool,
}

/// Matches every logged request to a transaction row of the same connection and request line
/// (the unused one closest in time, since rows leave the audit as soon as they are resolved,
/// not strictly in request order) and lists every difference. Rows on those connections that no
/// line explains must be requests the balancer never answered (pipelined requests `httpclose`
/// dropped).
fn compare_requests(rows: &[Row], log: &[LogLine], expect: &Expectation<'_>) -> Vec<String> {
    let mut candidates: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        candidates.entry((endpoint(row), request_line(row))).or_default().push(i);
    }
    let mut used = HashSet::new();
    let mut differences = Vec::new();
    for line in log.iter().filter(|l| l.server != "<NOSRV>") {
        let Some(request) = &line.request else { continue };
        let key = ((expect.connection)(line).to_owned(), request.clone());
        let found = candidates.get_mut(&key).and_then(|list| (!list.is_empty()).then(|| list.remove(0)));
        let Some(i) = found else {
            differences.push(format!("{} {request}: not in the report", key.0));
            continue;
        };
        used.insert(i);
        let row = &rows[i];
        let expected = (expect.server)(line);
        if field(row, "server") != expected {
            differences.push(format!("{} {request}: server {:?}, HAProxy chose {expected}", key.0, field(row, "server")));
        } else if !(expect.source_ok)(row) {
            differences.push(format!("{} {request}: server from {:?}", key.0, field(row, "server_source")));
        }
    }
    let logged: HashSet<&str> = log.iter().map(|l| (expect.connection)(l)).collect();
    for (i, row) in rows.iter().enumerate() {
        let on_logged_connection = logged.contains(endpoint(row).as_str());
        let answered = !field(row, "status").is_empty();
        if on_logged_connection && answered && !used.contains(&i) && field(row, "app") != "health_probe" {
            differences.push(format!("{} {}: answered, but HAProxy logged no such request", endpoint(row), request_line(row)));
        }
    }
    differences
}

fn assert_no_differences(what: &str, differences: Vec<String>) {
    assert!(differences.is_empty(), "{what}: {} differences:\n{}", differences.len(), differences.join("\n"));
}

const HTTP_SCENARIOS: [&str; 8] =
    ["cookie-insert", "roundrobin", "source-nat", "tls-terminated", "failover", "drain", "http-server-close", "httpclose"];

fn from_header_cookie_or_stitching(row: &Row) -> bool {
    let unknown = field(row, "server").is_empty();
    unknown || matches!(field(row, "server_source"), "header" | "cookie") || !field(row, "stitched_conn_id").is_empty()
}

fn any_source(row: &Row) -> bool {
    !field(row, "server_source").is_empty()
}

/// Every request of every HTTP scenario, on each capture point that shows it.
#[test]
fn every_logged_request_reaches_the_server_haproxy_chose() {
    for name in HTTP_SCENARIOS {
        check_every_logged_request(&Scenario::load(name));
    }
}

fn check_every_logged_request(s: &Scenario) {
    let name = s.name;
    let by_name = |line: &LogLine| line.server.clone();
    // On the client side alone, a request that got no response (RPC_IN_DATA: status -1)
    // carries nothing that names its server.
    let answered_by_name = |line: &LogLine| if line.status == Some(-1) { String::new() } else { line.server.clone() };
    // The client side is TLS in tls-terminated: its requests are only seen on the server side.
    let client_points: &[&str] = if name == "tls-terminated" { &["capture.pcap"] } else { &["capture.pcap", "client-side.pcap"] };
    for file in client_points {
        let report = s.analyze(file, None);
        let rows = report.table("transactions");
        let expect = if name == "tls-terminated" {
            Expectation { connection: |l| &l.backend_conn, server: &by_name, source_ok: any_source }
        } else if *file == "client-side.pcap" {
            Expectation { connection: |l| &l.client, server: &answered_by_name, source_ok: from_header_cookie_or_stitching }
        } else {
            Expectation { connection: |l| &l.client, server: &by_name, source_ok: from_header_cookie_or_stitching }
        };
        assert_no_differences(&format!("{name} {file}"), compare_requests(&rows, &s.log, &expect));
    }
    let report = s.analyze("cas-side.pcap", Some(s.topology.naming_file(true)));
    let rows = report.table("transactions");
    let expect = Expectation { connection: |l| &l.backend_conn, server: &by_name, source_ok: any_source };
    assert_no_differences(&format!("{name} cas-side.pcap"), compare_requests(&rows, &s.log, &expect));
}

/// tls-passthrough: every TCP connection HAProxy logged, on each capture point.
#[test]
fn every_passthrough_connection_reaches_the_server_haproxy_chose() {
    let s = Scenario::load("tls-passthrough");
    assert!(s.log.len() > 20);
    let check = |file: &str, naming: Option<String>, connection: fn(&LogLine) -> &str, server: &dyn Fn(&LogLine) -> String| {
        let report = s.analyze(file, naming);
        let rows: HashMap<String, Row> = report.table("tls").into_iter().map(|r| (endpoint(&r), r)).collect();
        let mut differences = Vec::new();
        for line in &s.log {
            match rows.get(connection(line)) {
                None => differences.push(format!("{}: not in the report", connection(line))),
                Some(row) if field(row, "server") != server(line) => {
                    differences.push(format!("{}: server {:?}, HAProxy chose {}", connection(line), field(row, "server"), server(line)))
                }
                Some(_) => {}
            }
        }
        assert_no_differences(&format!("tls-passthrough {file}"), differences);
        report
    };
    // Both sides: the client's connection takes the server side's server (its address), by the
    // identical ClientHello random.
    let by_address = |l: &LogLine| s.topology.address_of(&l.server).unwrap_or("?").to_owned();
    let report = check("capture.pcap", None, |l| &l.client, &by_address);
    let tls = report.table("tls");
    let front = tls.iter().filter(|r| field(r, "server_port") == "18443");
    assert!(front.clone().all(|r| !field(r, "stitched_conn_id").is_empty()));
    assert_eq!(front.count(), s.log.len());
    // The server side, with names.
    let by_name = |l: &LogLine| l.server.clone();
    check("cas-side.pcap", Some(s.topology.naming_file(true)), |l| &l.backend_conn, &by_name);
    // The client side alone shows no server: the VIP is marked as such.
    let none = |_: &LogLine| String::new();
    check("client-side.pcap", Some(s.topology.naming_file(false)), |l| &l.client, &none);
}

/// tls-passthrough: the clients that resume their TLS session stay on one server, and the audit
/// says so on every capture point; the others are new sessions each time.
#[test]
fn passthrough_ssl_id_stickiness() {
    let s = Scenario::load("tls-passthrough");
    // HAProxy's view: a client resumes when the session id it offers is the one assigned.
    let mut resumers: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    let mut fresh: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for line in &s.log {
        let ip = line.client.split(':').next().unwrap_or_default();
        let resumed = line.offered.is_some() && line.offered != Some("-".into()) && line.offered == line.assigned;
        if resumed {
            resumers.entry(ip).or_default().insert(&line.server);
        } else {
            fresh.entry(ip).or_default().insert(&line.server);
        }
    }
    let resuming: Vec<&str> = resumers.keys().copied().collect();
    assert_eq!(resuming.len(), 4, "{resumers:?}");
    let never_resuming: Vec<&str> = fresh.keys().copied().filter(|ip| !resumers.contains_key(ip)).collect();
    assert_eq!(never_resuming.len(), 2);
    for (file, naming, basis) in [
        ("capture.pcap", None, "servers"),
        ("cas-side.pcap", Some(s.topology.naming_file(true)), "servers"),
        ("client-side.pcap", Some(s.topology.naming_file(false)), "tls_resumption"),
    ] {
        let report = s.analyze(file, naming);
        let sessions = report.table("sessions");
        let lineages: Vec<&Row> = sessions.iter().filter(|r| field(r, "key_kind") == "tls" && f64_of(r, "transactions") >= 2.0).collect();
        assert_eq!(lineages.len(), resuming.len(), "{file}: {lineages:?}");
        for row in &lineages {
            assert_eq!((field(row, "verdict"), field(row, "verdict_basis")), ("sticky", basis), "{file}: {row:?}");
        }
        if file == "capture.pcap" {
            // The client addresses are those of the real clients, and the two that never resume
            // reach more than one server.
            let clients = report.table("clients");
            for ip in &never_resuming {
                let row = clients.iter().find(|c| field(c, "client_ip") == *ip).expect("client row");
                assert!(f64_of(row, "servers") >= 2.0, "{row:?}");
                assert_eq!(f64_of(row, "servers") as usize, fresh[ip].len());
            }
            for row in &lineages {
                assert!(resuming.contains(&field(row, "client_ip_list")), "{row:?}");
            }
        }
    }
}

fn sessions_of<'a>(sessions: &'a [Row], app: &str) -> Vec<&'a Row> {
    sessions.iter().filter(|r| field(r, "app") == app).collect()
}

fn assert_owa_sticky(name: &str, report: &Report) {
    let sessions = report.table("sessions");
    let owa = sessions_of(&sessions, "owa");
    assert!(owa.len() >= 6, "{name}: {} OWA sessions", owa.len());
    for row in owa {
        assert!(matches!(field(row, "verdict"), "sticky" | "single"), "{name}: {row:?}");
    }
    for row in sessions_of(&sessions, "ews") {
        assert_eq!(field(row, "verdict"), "sticky", "{name}: {row:?}");
    }
}

/// Cookie persistence (cookie-insert, http-server-close, httpclose, tls-terminated): every
/// OWA/ECP and EWS session sticks; Outlook Anywhere's cookie-less channels are split.
#[test]
fn cookie_persistence_keeps_sessions_sticky() {
    for name in ["cookie-insert", "http-server-close", "httpclose", "tls-terminated"] {
        let s = Scenario::load(name);
        let report = s.analyze("capture.pcap", None);
        assert_owa_sticky(name, &report);
        let audit = report.summary.audit.as_ref().expect("audit");
        assert!(audit.oa_pairs > 0 && audit.oa_split_pairs == audit.oa_pairs, "{name}: {} pairs, {} split", audit.oa_pairs, audit.oa_split_pairs);
        let pairs = report.table("oa_pairs");
        assert!(pairs.iter().all(|p| field(p, "split") == "true" && field(p, "server_in") != field(p, "server_out")));
        if name == "tls-terminated" {
            // The client side is TLS terminated by HAProxy: recognised, not counted as sessions.
            assert!(audit.stitch.tls_offloaded > 0);
            assert!(report.table("sessions").iter().all(|r| field(r, "app") != "tls"));
        }
    }
}

/// roundrobin: OWA sessions move between servers with nothing to explain it: failures.
#[test]
fn roundrobin_breaks_owa_sessions() {
    let s = Scenario::load("roundrobin");
    for file in ["capture.pcap", "client-side.pcap"] {
        let report = s.analyze(file, None);
        let sessions = report.table("sessions");
        let moved: Vec<&Row> = sessions_of(&sessions, "owa").into_iter().filter(|r| field(r, "verdict") == "moved").collect();
        assert!(moved.len() >= 6, "{file}: {} moved OWA sessions", moved.len());
        for row in &moved {
            assert_eq!((field(row, "severity"), f64_of(row, "failover_moves"), f64_of(row, "drain_moves")), ("failure", 0.0, 0.0), "{row:?}");
        }
        let moves = report.table("session_moves");
        assert!(moves.iter().all(|m| field(m, "explanation") == "unexplained"), "{file}");
        // Load as HAProxy's log shows it (on the client side alone, without the requests that
        // got no response: nothing there names their server).
        let servers = report.table("servers");
        let mut logged: BTreeMap<String, f64> = BTreeMap::new();
        let identifiable = |l: &LogLine| file == "capture.pcap" || l.status != Some(-1);
        for line in s.log.iter().filter(|&x| identifiable(x)).cloned() {
            *logged.entry(line.server).or_default() += 1.0;
        }
        for row in &servers {
            assert_eq!(f64_of(row, "transactions"), logged[field(row, "server")], "{row:?}");
        }
    }
}

/// failover: moves away from the killed CAS02 (or of requests pinned to it) are explained as
/// failover; nothing long before the kill is (a move in the last second before it may be: the
/// capture shows CAS02 answering nothing after it, which is all a capture can show).
#[test]
fn failover_moves_are_explained() {
    let s = Scenario::load("failover");
    let killed = s.event_millis("killed") as f64 / 1000.0;
    for (file, naming) in [("capture.pcap", None), ("client-side.pcap", None), ("cas-side.pcap", Some(s.topology.naming_file(true)))] {
        let report = s.analyze(file, naming);
        let moves = report.table("session_moves");
        let from_cas02: Vec<&Row> = moves.iter().filter(|m| field(m, "from_server") == "CAS02" && f64_of(m, "ts") >= killed).collect();
        assert!(!from_cas02.is_empty(), "{file}: no move away from CAS02");
        for m in &from_cas02 {
            assert_eq!(field(m, "explanation"), "failover", "{file}: {m:?}");
        }
        for m in moves.iter().filter(|m| f64_of(m, "ts") < killed - 1.0) {
            assert_ne!(field(m, "explanation"), "failover", "{file}: {m:?}");
        }
        let servers = report.table("servers");
        let cas02 = servers.iter().find(|r| field(r, "server") == "CAS02").expect("CAS02");
        assert!(field(cas02, "drained_from").is_empty(), "{file}: a failed server is no drain");
        if file != "client-side.pcap" {
            // HAProxy's checks and retries hit a closed port.
            assert!(f64_of(cas02, "refused") > 0.0, "{file}: {cas02:?}");
            assert!(f64_of(cas02, "probes") > 0.0);
        }
    }
}

/// drain: CAS02 is seen in drain from about the moment it was put there, keeps its sessions,
/// and no other server is.
#[test]
fn drain_is_seen() {
    let s = Scenario::load("drain");
    let drained = s.event_millis("state drain") as f64 / 1000.0;
    for file in ["capture.pcap", "client-side.pcap"] {
        let report = s.analyze(file, None);
        let servers = report.table("servers");
        for row in &servers {
            let from = field(row, "drained_from");
            if field(row, "server") == "CAS02" {
                let from: f64 = from.parse().unwrap_or_else(|_| panic!("{file}: CAS02 not seen in drain: {row:?}"));
                // The drain starts after CAS02's last new client, before the command took effect.
                assert!(from <= drained && from > drained - 2.0, "{file}: drain from {from}, commanded at {drained}");
            } else {
                assert!(from.is_empty(), "{file}: {row:?}");
            }
        }
        assert_owa_sticky("drain", &report);
        // Nothing new reached CAS02 after the drain: only requests pinned to it.
        let moves = report.table("session_moves");
        assert!(moves.iter().all(|m| !(field(m, "to_server") == "CAS02" && f64_of(m, "ts") > drained)), "{file}");
    }
}

/// source-nat: sessions hold (persistence by address), but the NAT addresses tilt the farm.
#[test]
fn source_nat_hotspot_flagged() {
    let s = Scenario::load("source-nat");
    for file in ["capture.pcap", "client-side.pcap"] {
        let report = s.analyze(file, None);
        assert_owa_sticky("source-nat", &report);
        let clients = report.table("clients");
        let flagged: Vec<&str> = clients.iter().filter(|c| field(c, "hotspot") == "true").map(|c| field(c, "client_ip")).collect();
        assert!(!flagged.is_empty(), "{file}: no hot-spot");
        assert!(flagged.iter().all(|ip| ip.starts_with("127.0.2.")), "{file}: {flagged:?}");
        let audit = report.summary.audit.as_ref().expect("audit");
        assert_eq!(audit.oa_split_pairs, 0, "{file}: Outlook Anywhere joins under source persistence");
        assert!(audit.oa_pairs > 0);
    }
}

/// A fresh run of the cookie-insert scenario through the real HAProxy on this machine, so the
/// tool cannot be tuned to a fixed file: every request HAProxy logged reaches the server it
/// chose, and OWA sessions stick. Needs root, haproxy and tcpdump; `.ci/run` installs them and
/// sets `AFFINITY_LIVE_LAB=1`, which makes their absence a failure instead of a skip.
#[test]
fn live_lab_run_agrees_with_haproxy_log() {
    let required = std::env::var_os("AFFINITY_LIVE_LAB").is_some();
    let have = |tool: &str| std::process::Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !(root && have("haproxy") && have("tcpdump")) {
        assert!(!required, "the live lab needs root, haproxy and tcpdump");
        eprintln!("skipped: the live lab needs root, haproxy and tcpdump");
        return;
    }
    let dir = fresh_dir("live-lab");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs() % 1000 + 1);
    let status = std::process::Command::new("bash")
        .arg(common::project_root().join("lab/run-scenario.sh"))
        .arg("cookie-insert")
        .arg(&dir)
        .env("SEED", seed.to_string())
        .status()
        .expect("run lab/run-scenario.sh");
    assert!(status.success(), "lab/run-scenario.sh cookie-insert (seed {seed}) failed: {status}");
    let s = Scenario::at("cookie-insert", dir);
    assert!(s.log.len() > 20, "seed {seed}: only {} requests logged", s.log.len());
    check_every_logged_request(&s);
    assert_owa_sticky("live cookie-insert", &s.analyze("capture.pcap", None));
}
