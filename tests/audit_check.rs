//! `affinity-audit check` through the binary: the shipped Exchange 2010 policy holds on the
//! cookie-insertion lab capture (exit 0) and fails on the round-robin one (exit 1, with the
//! reasons) and on a cut copy of the cookie-insertion one; a broken policy or capture is an
//! error (exit 2).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fresh_dir, project_root, sample, PcapFile};

fn check(capture: &Path, policy: &Path) -> Output {
    let out = fresh_dir("check");
    Command::new(env!("CARGO_BIN_EXE_affinity-audit"))
        .arg("check")
        .arg(capture)
        .arg("--policy")
        .arg(policy)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .output()
        .expect("run affinity-audit")
}

fn exchange_2010() -> std::path::PathBuf {
    project_root().join("policies/exchange-2010.toml")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn cookie_insertion_holds_the_exchange_2010_policy() {
    let output = check(&sample("lab/cookie-insert/capture.pcap"), &exchange_2010());
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
    assert!(stdout(&output).ends_with(": holds\n"), "{}", stdout(&output));
}

#[test]
fn round_robin_breaks_the_exchange_2010_policy() {
    let output = check(&sample("lab/roundrobin/capture.pcap"), &exchange_2010());
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    let reasons: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("- ")).collect();
    assert!(reasons.iter().any(|r| r.starts_with("owa: 0.0% of sessions sticky")), "{text}");
    assert!(reasons.iter().any(|r| r.starts_with("owa: unexplained moves: ")), "{text}");
    assert!(reasons.iter().any(|r| r.starts_with("ews: sessions failing affinity: ")), "{text}");
    // Round robin spreads the NAT address too: no hot-spot, and every server is identified.
    assert!(!reasons.iter().any(|r| r.starts_with("farm:")), "{text}");
}

#[test]
fn broken_policy_or_capture_is_an_error() {
    let dir = fresh_dir("bad-policy");
    let policy = dir.join("typo.toml");
    std::fs::write(&policy, "[apps.owa]\nmin_sticky = 0.9\n").expect("write policy");
    let output = check(&sample("lab/cookie-insert/capture.pcap"), &policy);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field"));
    let output = check(&dir.join("missing.pcap"), &exchange_2010());
    assert_eq!(output.status.code(), Some(2));
    let output = check(&sample("lab/cookie-insert/capture.pcap"), &dir.join("missing.toml"));
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_cut_capture_breaks_the_exchange_2010_policy_whatever_its_verdicts() {
    let dir = fresh_dir("cut-capture");
    let whole = PcapFile::read(&sample("lab/cookie-insert/capture.pcap"));
    // The first half, its last record cut short: one damage note, the verdicts as they were.
    let mut bytes = whole.header.clone();
    for record in &whole.records[..whole.records.len() / 2] {
        bytes.extend_from_slice(&record.bytes);
    }
    bytes.truncate(bytes.len() - 3);
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, bytes).expect("write the cut capture");
    let output = check(&cut, &exchange_2010());
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    let reasons: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("- ")).collect();
    assert_eq!(reasons, ["capture: damage notes: 1, policy allows at most 0"], "{text}");
}
