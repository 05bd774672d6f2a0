//! The HTTP captures of samples/basic against their ground truth.
//!
//! One curl/python run against `cas_http_server.py`, captured several ways (samples/README.md).
//! What the report must say comes from the generating side: the server's log
//! (`http-curl.truth.tsv`), the README's description of the clients, and the capture files'
//! own record headers read by a small reader here (packets, payload lengths, snap-length cuts),
//! never from our own output.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::{analyze_captures, read_tsv, report_texts, sample, sha256_prefix12, PcapFile, Report, Row};

const REFERENCE: &str = "basic/http-curl.pcap";
const SERVER_PORT: u16 = 8080;
/// The `conn` of the truth whose three requests `pipelined_client.py` sends in one segment.
const PIPELINED_CONN: &str = "10";
/// The body of the one POST, an ActiveSync Sync (README: 21-byte WBXML body).
const ACTIVESYNC_BODY_LEN: &str = "21";
/// Separate tcpdumps of the same packets stamp them a few microseconds apart.
const CAPTURE_CLOCK_TOLERANCE_SECS: f64 = 100e-6;
/// A time read from the file's microseconds, within f64's precision at today's epoch seconds.
const FILE_TIME_TOLERANCE_SECS: f64 = 1e-6;

fn analyze_sample(tag: &str, relative: &str) -> Report {
    analyze_captures(tag, &[sample(relative)])
}

/// The server's log, by connection and request order.
fn truth() -> Vec<Row> {
    let mut rows = read_tsv(&sample("basic/http-curl.truth.tsv"));
    let number = |row: &Row, column: &str| row[column].parse::<u32>().expect("a number");
    rows.sort_by_key(|r| (number(r, "conn"), number(r, "req_in_conn")));
    rows
}

/// A connection as the truth names it: client address and port.
type Client = (String, String);

fn client_of(row: &Row) -> Client {
    (row["client_ip"].clone(), row["client_port"].clone())
}

/// Rows grouped by client, each group in table order.
fn by_client(rows: &[Row]) -> BTreeMap<Client, Vec<&Row>> {
    let mut groups: BTreeMap<Client, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        groups.entry(client_of(row)).or_default().push(row);
    }
    groups
}

/// The truth's `-` (none) as the report's empty cell.
fn none_as_empty(value: &str) -> &str {
    if value == "-" {
        ""
    } else {
        value
    }
}

/// Differences between two tables compared row by row, all columns but `skip`.
fn row_differences(what: &str, expected: &[Row], actual: &[Row], skip: &[&str]) -> Vec<String> {
    if expected.len() != actual.len() {
        return vec![format!("{what}: {} rows expected, {} found", expected.len(), actual.len())];
    }
    let mut diffs = Vec::new();
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        for (column, value) in e {
            if !skip.contains(&column.as_str()) && a.get(column) != Some(value) {
                diffs.push(format!("{what}: row {i}: {column}: expected {value:?}, found {:?}", a.get(column)));
            }
        }
        if e.len() != a.len() {
            diffs.push(format!("{what}: row {i}: {} columns expected, {} found", e.len(), a.len()));
        }
    }
    diffs
}

fn assert_no_differences(diffs: Vec<String>) {
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
}

#[test]
fn every_file_format_gives_the_same_tables() {
    let reference = analyze_sample("fmt-ref", REFERENCE);
    assert_eq!(reference.table("connections").len(), 11, "README: 11 TCP connections");
    let mut diffs = Vec::new();
    for variant in ["ns.pcap", "pcapng", "pcap.gz", "be.pcap", "vlan.pcap"] {
        let other = analyze_sample("fmt", &format!("basic/http-curl.{variant}"));
        for table in ["connections", "transactions", "anomalies"] {
            diffs.extend(row_differences(&format!("{variant} {table}"), &reference.table(table), &other.table(table), &[]));
        }
    }
    assert_no_differences(diffs);
}

/// Columns of a table that hold capture times.
fn time_columns(table: &str) -> &'static [&'static str] {
    match table {
        "connections" => &["ts_first", "ts_last", "duration"],
        "transactions" => &["ts_request", "ts_response", "ts_response_end"],
        _ => unreachable!("no time columns listed for {table}"),
    }
}

/// Whether a time cell holds `expected` within `tolerance`, or is empty when nothing is expected.
fn time_matches(cell: &str, expected: Option<f64>, tolerance: f64) -> bool {
    match (cell.parse::<f64>(), expected) {
        (Ok(found), Some(expected)) => (found - expected).abs() <= tolerance,
        (_, None) => cell.is_empty(),
        (Err(_), Some(_)) => false,
    }
}

#[test]
fn cooked_captures_give_the_same_connections_and_transactions() {
    let reference = analyze_sample("cooked-ref", REFERENCE);
    let mut diffs = Vec::new();
    for variant in ["sll.pcap", "sll2.pcap"] {
        let other = analyze_sample("cooked", &format!("basic/http-curl.{variant}"));
        for table in ["connections", "transactions"] {
            let sorted = |mut rows: Vec<Row>| {
                let key = |r: &Row| (client_of(r), r.get("trans_depth").cloned());
                rows.sort_by_key(key);
                rows
            };
            let (expected, actual) = (sorted(reference.table(table)), sorted(other.table(table)));
            let what = format!("{variant} {table}");
            // The id hashes the first packet's time with the endpoints.
            let mut skip = vec!["conn_id"];
            skip.extend(time_columns(table));
            diffs.extend(row_differences(&what, &expected, &actual, &skip));
            for (e, a) in expected.iter().zip(&actual) {
                for &column in time_columns(table) {
                    if !time_matches(&a[column], e[column].parse().ok(), CAPTURE_CLOCK_TOLERANCE_SECS) {
                        diffs.push(format!("{what}: {:?}: {column}: reference {}, found {}", client_of(e), e[column], a[column]));
                    }
                }
            }
        }
    }
    assert_no_differences(diffs);
}

/// Endpoints, flags and lengths of a TCP segment in an Ethernet frame (IPv4, or IPv6 without
/// extension headers, as on loopback).
struct FrameTcp {
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    fin: bool,
    /// Payload length on the wire, from the IP length field (the frame may be cut shorter).
    wire_payload: u64,
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn ethernet_tcp(frame: &[u8]) -> FrameTcp {
    let ip = &frame[14..];
    let (src_ip, dst_ip, ip_payload, ip_header): (IpAddr, IpAddr, usize, usize) = match be16(frame, 12) {
        0x0800 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let addr = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&ip[at..at + 4]).unwrap());
            (addr(12), addr(16), usize::from(be16(ip, 2)) - ihl, ihl)
        }
        0x86dd => {
            let addr = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&ip[at..at + 16]).unwrap());
            (addr(8), addr(24), usize::from(be16(ip, 4)), 40)
        }
        other => panic!("unexpected EtherType {other:#06x}"),
    };
    let tcp = &ip[ip_header..];
    let tcp_header = usize::from(tcp[12] >> 4) * 4;
    FrameTcp {
        src: (src_ip, be16(tcp, 0)),
        dst: (dst_ip, be16(tcp, 2)),
        fin: tcp[13] & 0x01 != 0,
        wire_payload: (ip_payload - tcp_header) as u64,
    }
}

/// What one side of a connection sent, counted from the capture's records.
#[derive(Default, Debug)]
struct SideCounts {
    packets: u64,
    /// Payload bytes on the wire (no retransmission on loopback: equal to the sequence space).
    payload: u64,
    /// Payload bytes the snap length cut off.
    cut: u64,
    /// Index of the record carrying this side's first FIN.
    first_fin: Option<usize>,
    /// Time of this side's first packet.
    first_ts: Option<f64>,
    /// Time of this side's first segment with payload.
    first_payload_ts: Option<f64>,
}

/// Per client (address, port): what the client and the server sent.
fn counts_by_client(pcap: &PcapFile) -> BTreeMap<Client, [SideCounts; 2]> {
    let mut counts: BTreeMap<Client, [SideCounts; 2]> = BTreeMap::new();
    for (index, record) in pcap.records.iter().enumerate() {
        let seg = ethernet_tcp(record.data());
        let (client, side) = if seg.dst.1 == SERVER_PORT { (seg.src, 0) } else { (seg.dst, 1) };
        let counts = &mut counts.entry((client.0.to_string(), client.1.to_string())).or_default()[side];
        counts.packets += 1;
        counts.first_ts.get_or_insert(record.ts);
        counts.payload += seg.wire_payload;
        if seg.wire_payload > 0 {
            counts.first_payload_ts.get_or_insert(record.ts);
        }
        counts.cut += u64::from(record.orig_len) - record.data().len() as u64;
        if seg.fin {
            counts.first_fin.get_or_insert(index);
        }
    }
    counts
}

/// Checks the connections table against the counts of the capture's records.
fn connection_differences(what: &str, connections: &[Row], pcap: &PcapFile) -> Vec<String> {
    let counts = counts_by_client(pcap);
    let mut diffs = Vec::new();
    let ours: BTreeSet<Client> = connections.iter().map(client_of).collect();
    if ours != counts.keys().cloned().collect() {
        diffs.push(format!("{what}: connections {ours:?}, the capture has {:?}", counts.keys().collect::<Vec<_>>()));
    }
    for row in connections {
        let Some([client, server]) = counts.get(&client_of(row)) else { continue };
        let closed_by = match (client.first_fin, server.first_fin) {
            (Some(c), Some(s)) => Some(if c < s { "client" } else { "server" }),
            _ => None,
        };
        let mut check = |column: &str, expected: String| {
            if row[column] != expected {
                diffs.push(format!("{what}: {:?}: {column}: expected {expected}, found {}", client_of(row), row[column]));
            }
        };
        check("client_pkts", client.packets.to_string());
        check("server_pkts", server.packets.to_string());
        check("client_bytes", client.payload.to_string());
        check("server_bytes", server.payload.to_string());
        check("client_gap_bytes", client.cut.to_string());
        check("server_gap_bytes", server.cut.to_string());
        check("server_port", SERVER_PORT.to_string());
        check("start", "handshake".into());
        check("end", if closed_by.is_some() { "fin" } else { "open" }.into());
        check("closed_by", closed_by.unwrap_or_default().into());
        check("service", "http".into());
        let first_ts = client.first_ts.into_iter().chain(server.first_ts).reduce(f64::min);
        if !time_matches(&row["ts_first"], first_ts, FILE_TIME_TOLERANCE_SECS) {
            diffs.push(format!("{what}: {:?}: ts_first: expected {first_ts:?}, found {}", client_of(row), row["ts_first"]));
        }
    }
    diffs
}

#[test]
fn connections_count_what_the_capture_holds() {
    let report = analyze_sample("counts", REFERENCE);
    let pcap = PcapFile::read(&sample(REFERENCE));
    let connections = report.table("connections");
    let ipv6 = connections.iter().filter(|r| r["client_ip"].contains(':')).count();
    assert_eq!((connections.len() - ipv6, ipv6), (10, 1), "README: 10 IPv4 and 1 IPv6 connections");
    assert_eq!(report.summary.capture.packets, pcap.records.len() as u64);
    assert_no_differences(connection_differences("http-curl.pcap", &connections, &pcap));
}

#[test]
fn first_request_and_response_are_timed_by_their_first_segments() {
    let report = analyze_sample("times", REFERENCE);
    let counts = counts_by_client(&PcapFile::read(&sample(REFERENCE)));
    let mut diffs = Vec::new();
    for tx in report.table("transactions").iter().filter(|t| t["trans_depth"] == "1") {
        let [client, server] = &counts[&client_of(tx)];
        for (column, expected) in [("ts_request", client.first_payload_ts), ("ts_response", server.first_payload_ts)] {
            if !time_matches(&tx[column], expected, FILE_TIME_TOLERANCE_SECS) {
                diffs.push(format!("{:?}: {column}: expected {expected:?}, found {}", client_of(tx), tx[column]));
            }
        }
    }
    assert_no_differences(diffs);
}

/// Body bytes of the response the truth's `framing` describes.
fn response_body_len(method: &str, framing: &str) -> String {
    match framing.split_once(':') {
        // A HEAD answer announces the GET's length and sends no body.
        Some(("content-length", _)) if method == "HEAD" => "0".into(),
        Some(("content-length" | "chunked", n)) => n.into(),
        None if framing == "none" => "0".into(),
        _ => panic!("unknown framing {framing:?} in the truth"),
    }
}

#[test]
fn transactions_match_the_server_log() {
    let report = analyze_sample("truth", REFERENCE);
    let (truth, transactions) = (truth(), report.table("transactions"));
    let (expected, ours) = (by_client(&truth), by_client(&transactions));
    let mut diffs = Vec::new();
    if expected.keys().collect::<Vec<_>>() != ours.keys().collect::<Vec<_>>() {
        diffs.push(format!("connections with requests: truth {:?}, ours {:?}", expected.keys(), ours.keys()));
    }
    for (client, requests) in &expected {
        let found = ours.get(client).map(Vec::as_slice).unwrap_or_default();
        if found.len() != requests.len() {
            diffs.push(format!("{client:?}: {} requests in the truth, {} found", requests.len(), found.len()));
        }
        for (t, row) in requests.iter().zip(found) {
            let expected_columns = [
                ("trans_depth", t["req_in_conn"].clone()),
                ("method", t["method"].clone()),
                ("uri", t["uri"].clone()),
                ("version", t["req_version"].trim_start_matches("HTTP/").to_string()),
                ("status", t["status"].clone()),
                ("username", none_as_empty(&t["auth_user"]).to_string()),
                ("forwarded_for", none_as_empty(&t["xff"]).to_string()),
                ("response_body_len", response_body_len(&t["method"], &t["framing"])),
                ("request_body_len", if t["method"] == "POST" { ACTIVESYNC_BODY_LEN } else { "0" }.to_string()),
                ("incomplete", "false".to_string()),
                ("fe_server", "CAS01".to_string()),
                ("server_port", SERVER_PORT.to_string()),
            ];
            for (column, value) in expected_columns {
                if row[column] != value {
                    diffs.push(format!("{client:?} request {}: {column}: truth {value:?}, found {:?}", t["req_in_conn"], row[column]));
                }
            }
        }
    }
    assert_no_differences(diffs);
}

#[test]
fn activesync_request_names_its_user_and_device() {
    let report = analyze_sample("activesync", REFERENCE);
    let truth = truth();
    let t = truth.iter().find(|t| t["uri"].starts_with("/Microsoft-Server-ActiveSync?")).expect("the ActiveSync request of the truth");
    let query: BTreeMap<&str, &str> = t["uri"].split_once('?').expect("a query").1.split('&').filter_map(|p| p.split_once('=')).collect();
    let transactions = report.table("transactions");
    let row = transactions.iter().find(|r| client_of(r) == client_of(t)).expect("the ActiveSync transaction");
    for (column, expected) in [
        ("as_user", query["User"]),
        ("as_device_id", query["DeviceId"]),
        ("as_device_type", query["DeviceType"]),
        ("as_cmd", query["Cmd"]),
        ("username", t["auth_user"].as_str()),
        ("auth_scheme", "basic"),
        ("user_agent", "Apple-iPhone9C1/1402.100"),
    ] {
        assert_eq!(row[column], expected, "{column}");
    }
    for other in transactions.iter().filter(|r| client_of(r) != client_of(t)) {
        assert_eq!((other["as_user"].as_str(), other["as_device_id"].as_str()), ("", ""), "{:?} is no ActiveSync request", other["uri"]);
    }
}

/// `name=value` pairs of a Cookie header (`; `-separated) or of the truth's `set_cookies` (`;`).
fn cookie_pairs(list: &str) -> BTreeMap<String, String> {
    if list == "-" {
        return BTreeMap::new();
    }
    list.split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The report column of an Exchange cookie.
fn cookie_column(name: &str) -> String {
    format!("cookie_{}", name.to_lowercase().replace('.', "_"))
}

#[test]
fn exchange_cookies_are_digests_of_the_values_sent_else_set() {
    let report = analyze_sample("cookies", REFERENCE);
    let (truth, transactions) = (truth(), report.table("transactions"));
    let ours = by_client(&transactions);
    let mut diffs = Vec::new();
    let mut raw_values = BTreeSet::new();
    for t in &truth {
        let Some(row) = ours.get(&client_of(t)).and_then(|rows| rows.iter().find(|r| r["trans_depth"] == t["req_in_conn"])) else {
            diffs.push(format!("{:?} request {}: missing", client_of(t), t["req_in_conn"]));
            continue;
        };
        // The value sent wins over the one set.
        let mut cookies = cookie_pairs(&t["set_cookies"]);
        cookies.extend(cookie_pairs(&t["req_cookies"]));
        let expected: BTreeMap<String, String> =
            cookies.iter().map(|(name, value)| (cookie_column(name), sha256_prefix12(value))).collect();
        raw_values.extend(cookies.into_values());
        for (column, value) in row.iter().filter(|(c, _)| c.starts_with("cookie_")) {
            let want = expected.get(column).map(String::as_str).unwrap_or_default();
            if value != want {
                diffs.push(format!("{:?} request {}: {column}: expected {want:?}, found {value:?}", client_of(t), t["req_in_conn"]));
            }
        }
        for column in expected.keys().filter(|c| !row.contains_key(*c)) {
            diffs.push(format!("transactions has no column {column}"));
        }
    }
    assert_no_differences(diffs);
    assert_eq!(raw_values.len(), 3 * 6, "README: three cookies of each of six OWA sessions");

    // Conn 2 sends back the cookies conn 1 received: same digests; conn 3 has a new session.
    let first_of = |conn: &str| {
        let t = truth.iter().find(|t| t["conn"] == conn && t["req_in_conn"] == "1").expect("truth row");
        ours[&client_of(t)][0]
    };
    for column in ["cookie_sessionid", "cookie_cadata", "cookie_usercontext"] {
        let (set, sent, other) = (&first_of("1")[column], &first_of("2")[column], &first_of("3")[column]);
        assert!(set.len() == 12 && set.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{column}: {set:?} is not 12 hex digits");
        assert_eq!(set, sent, "{column}: the same value set then sent must give the same digest");
        assert_ne!(set, other, "{column}: two sessions must give different digests");
    }
    for (path, text) in report_texts(&report.dir) {
        for value in &raw_values {
            assert!(!text.contains(value.as_str()), "{}: holds a raw cookie value (digest {})", path.display(), sha256_prefix12(value));
        }
    }
}

#[test]
fn connection_modes_follow_the_clients() {
    let report = analyze_sample("modes", REFERENCE);
    let truth = truth();
    let requests = by_client(&truth);
    let mut diffs = Vec::new();
    for row in report.table("connections") {
        let Some(requests) = requests.get(&client_of(&row)) else {
            diffs.push(format!("{:?}: not in the truth", client_of(&row)));
            continue;
        };
        let mode = match requests.len() {
            _ if requests[0]["conn"] == PIPELINED_CONN => "pipelining",
            1 => "close",
            _ => "keep-alive",
        };
        for (column, expected) in [("http_mode", mode.to_string()), ("http_transactions", requests.len().to_string())] {
            if row[column] != expected {
                diffs.push(format!("conn {} {:?}: {column}: expected {expected}, found {}", requests[0]["conn"], client_of(&row), row[column]));
            }
        }
    }
    assert_no_differences(diffs);
    // Spelled out for the three cases the README describes.
    let mode_of_conn = |conn: &str| {
        let t = truth.iter().find(|t| t["conn"] == conn).expect("truth row");
        report.table("connections").into_iter().find(|r| client_of(r) == client_of(t)).expect("connection row")["http_mode"].clone()
    };
    assert_eq!(mode_of_conn(PIPELINED_CONN), "pipelining");
    assert_eq!(mode_of_conn("3"), "keep-alive", "curl reused the connection for 3 requests");
    assert_eq!(mode_of_conn("7"), "keep-alive", "curl reused the connection after the 401");
    assert_eq!(mode_of_conn("5"), "close", "HTTP/1.0");
}

#[test]
fn truncated_capture_is_reported_and_loses_only_its_last_ack() {
    let path = sample("basic/http-truncated.pcap");
    let cut = PcapFile::read(&path);
    let full = PcapFile::read(&sample(REFERENCE));
    let offset = cut.truncated_record_at.expect("the sample ends inside a record");
    assert_eq!(cut.records.len() + 1, full.records.len(), "the sample lost exactly the reference's last record");

    let report = analyze_captures("truncated", std::slice::from_ref(&path));
    let reference = analyze_sample("truncated-ref", REFERENCE);
    assert_eq!(report.summary.capture.packets, cut.records.len() as u64);
    let issues = &report.summary.capture_issues;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!((&issues[0].file, issues[0].offset), (&path, offset));
    let anomalies = report.table("anomalies");
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    let damage = &anomalies[0];
    assert_eq!(damage["kind"], "capture_damage");
    assert!(damage["detail"].contains(&path.display().to_string()), "{damage:?} does not name the file");
    assert!(damage["detail"].contains(&format!("offset {offset}")), "{damage:?} does not give offset {offset}");
    let last_packet = cut.records.last().expect("records before the cut").ts;
    let dated = damage["ts"].parse::<f64>().expect("a time");
    assert!((dated - last_packet).abs() < 1e-6, "{damage:?}: dated by the last packet before it, {last_packet}");
    for key in ["conn_id", "client_ip", "client_port", "server_ip", "server_port"] {
        assert_eq!(damage[key], "", "damage outside any connection has no {key}");
    }

    // The lost record is a bare ACK: it only counts in its sender's packets and IP bytes.
    let lost = ethernet_tcp(full.records.last().expect("records").data());
    assert_eq!(lost.wire_payload, 0, "README: the last record is a bare ACK");
    let lost_ip_bytes = u64::from(full.records.last().expect("records").orig_len) - 14;
    let lost_side = if lost.dst.1 == SERVER_PORT { "client" } else { "server" };
    let lost_client = if lost_side == "client" { lost.src } else { lost.dst };
    let lost_client = (lost_client.0.to_string(), lost_client.1.to_string());
    let (mut expected, mut actual) = (reference.table("connections"), report.table("connections"));
    for row in expected.iter_mut().filter(|r| client_of(r) == lost_client) {
        for (column, minus) in [("pkts", 1), ("ip_bytes", lost_ip_bytes)] {
            let column = format!("{lost_side}_{column}");
            let value: u64 = row[&column].parse().expect("a count");
            row.insert(column, (value - minus).to_string());
        }
    }
    // Whether a late ACK moves the end time is the connections table's rule, not this test's.
    for row in expected.iter_mut().chain(actual.iter_mut()).filter(|r| client_of(r) == lost_client) {
        row.remove("ts_last");
        row.remove("duration");
    }
    assert_no_differences(row_differences("connections", &expected, &actual, &[]));
    assert_no_differences(row_differences("transactions", &reference.table("transactions"), &report.table("transactions"), &[]));
}

#[test]
fn snaplen_capture_reports_its_gaps_and_invents_nothing() {
    let report = analyze_sample("snaplen", "basic/http-snaplen.pcap");
    let pcap = PcapFile::read(&sample("basic/http-snaplen.pcap"));
    let cut_records = pcap.records.iter().filter(|r| (r.data().len() as u64) < u64::from(r.orig_len)).count();
    assert!(cut_records > 0, "the sample has frames cut by the snap length");
    assert_eq!(report.summary.capture.truncated_packets, cut_records as u64);

    let connections = report.table("connections");
    let mut diffs = connection_differences("http-snaplen.pcap", &connections, &pcap);
    let anomalies = report.table("anomalies");
    for row in &connections {
        let mine: Vec<&Row> = anomalies.iter().filter(|a| a["conn_id"] == row["conn_id"]).collect();
        let content_gaps = mine.iter().filter(|a| a["kind"] == "content_gap").count();
        let holes: u64 = row["client_gaps"].parse::<u64>().unwrap_or(0) + row["server_gaps"].parse::<u64>().unwrap_or(0);
        if content_gaps as u64 != holes || holes == 0 {
            diffs.push(format!("{:?}: {content_gaps} content_gap anomalies for {holes} holes", client_of(row)));
        }
        if row["anomalies"] != mine.len().to_string() {
            diffs.push(format!("{:?}: anomalies column {}, {} rows in the anomalies table", client_of(row), row["anomalies"], mine.len()));
        }
    }
    let known: BTreeSet<(String, String)> = truth().iter().map(|t| (t["method"].clone(), t["uri"].clone())).collect();
    for tx in report.table("transactions") {
        if !known.contains(&(tx["method"].clone(), tx["uri"].clone())) {
            diffs.push(format!("invented transaction {} {} on {:?}", tx["method"], tx["uri"], client_of(&tx)));
        }
    }
    assert_no_differences(diffs);
}
