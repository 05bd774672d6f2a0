//! The README's recipe for many captures ("Many captures, many machines"): each capture is
//! analysed apart, and the session audit is run again over the union of the reports, joining
//! each report's transactions to its sessions and grouping by session key. That only works if
//! a session's key is the same in every report while its number (`session_ref`) is not.
//!
//! Two capture points are simulated by dealing the connections of one lab capture into two
//! files by client port (connections stay whole), so that the sessions (keyed by cookie, user or address) have
//! connections in both. The union of the two reports must find, for every key, exactly the
//! servers one analysis of the whole capture finds.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{analyze_captures, fresh_dir, sample, PcapFile, PcapRecord, Report};

/// A session's identity across reports: application, key kind, key.
type SessionKey = (String, String, String);

/// The recipe's join and grouping on one report: the servers each session key reached, with
/// the number of transactions.
fn servers_by_key(report: &Report) -> BTreeMap<SessionKey, (BTreeSet<String>, usize)> {
    let sessions: HashMap<String, SessionKey> = report
        .table("sessions")
        .into_iter()
        .map(|s| (s["session_ref"].clone(), (s["app"].clone(), s["key_kind"].clone(), s["key"].clone())))
        .collect();
    let mut by_key: BTreeMap<SessionKey, (BTreeSet<String>, usize)> = BTreeMap::new();
    for tx in report.table("transactions") {
        let (Some(key), server) = (sessions.get(&tx["session_ref"]), &tx["server"]) else { continue };
        if server.is_empty() {
            continue;
        }
        let entry = by_key.entry(key.clone()).or_default();
        entry.0.insert(server.clone());
        entry.1 += 1;
    }
    by_key
}

/// The client's port of a frame of the lab's client side (Ethernet, IPv4, TCP, VIP port 18080).
fn client_port(record: &PcapRecord) -> u16 {
    let frame = record.data();
    assert_eq!(frame[12..14], [0x08, 0x00], "the lab captures IPv4 on Ethernet framing");
    let tcp = 14 + usize::from(frame[14] & 0x0f) * 4;
    let (src, dst) = (u16::from_be_bytes([frame[tcp], frame[tcp + 1]]), u16::from_be_bytes([frame[tcp + 2], frame[tcp + 3]]));
    if src == 18080 { dst } else { src }
}

#[test]
fn the_union_of_partitioned_reports_finds_each_sessions_servers_as_one_analysis_does() {
    let whole_path = sample("lab/roundrobin/client-side.pcap");
    let whole = analyze_captures("union-whole", std::slice::from_ref(&whole_path));

    let mut capture = PcapFile::read(&whole_path);
    let dir = fresh_dir("union-parts");
    // By the port's second bit: Linux gives connect() even ports only.
    let (seen_at_a, seen_at_b): (Vec<PcapRecord>, Vec<PcapRecord>) = std::mem::take(&mut capture.records).into_iter().partition(|r| client_port(r) & 2 == 0);
    let (a, b) = (dir.join("point-a.pcap"), dir.join("point-b.pcap"));
    capture.write_part(&seen_at_a, &a);
    capture.write_part(&seen_at_b, &b);
    let reports = [analyze_captures("union-a", &[a]), analyze_captures("union-b", &[b])];

    let mut union: BTreeMap<SessionKey, (BTreeSet<String>, usize)> = BTreeMap::new();
    let mut partitions_of_key: BTreeMap<SessionKey, usize> = BTreeMap::new();
    for report in &reports {
        for (key, (servers, transactions)) in servers_by_key(report) {
            let entry = union.entry(key.clone()).or_default();
            entry.0.extend(servers);
            entry.1 += transactions;
            *partitions_of_key.entry(key).or_default() += 1;
        }
    }
    let expected = servers_by_key(&whole);
    assert!(union == expected, "union of the partitions:\n{union:#?}\none analysis:\n{expected:#?}");

    // The test has teeth: sessions that moved, and keys whose transactions the union had to
    // bring together from both partitions (their session_ref differs from one report to the
    // other, their key does not).
    let moved: Vec<&SessionKey> = expected.iter().filter(|(_, (servers, _))| servers.len() > 1).map(|(key, _)| key).collect();
    assert!(moved.len() >= 3, "moved sessions in the round-robin capture: {moved:?}");
    let joined = moved.iter().filter(|key| partitions_of_key.get(**key) == Some(&2)).count();
    assert!(joined >= 10, "moved sessions seen from both capture points: {joined}");
}
