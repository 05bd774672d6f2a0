//! Each kind of client against an in-process stand-in CAS (no balancer): with one server,
//! every session holds and every request is answered by it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::net::Transport;
use super::plan::Workload;
use super::*;
use crate::cas::{self, Cas};

fn single_cas(name: &str) -> SocketAddrV4 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let SocketAddr::V4(address) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    let cas = Arc::new(Cas::new(
        name,
        cas::Pacing {
            join_wait: Duration::from_millis(500),
            pdu_interval: Duration::from_millis(50),
            max_pdus: 10,
        },
    ));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let cas = Arc::clone(&cas);
            thread::spawn(move || cas::serve(&cas, stream));
        }
    });
    address
}

#[test]
fn every_client_kind_completes_against_one_cas() {
    let vip = single_cas("CAS07");
    let dialer = Dialer {
        vip,
        transport: Transport::Plain,
    };
    let mut plan = Plan::build(
        Workload::Exchange,
        5,
        Some(vec![Ipv4Addr::new(127, 0, 8, 1)]),
    );
    // Keep the test short: everyone starts at once, Outlook keeps its channels 300 ms.
    plan.browsers
        .iter_mut()
        .for_each(|browser| browser.start = Duration::ZERO);
    plan.ews
        .iter_mut()
        .for_each(|client| client.start = Duration::ZERO);
    plan.phones
        .iter_mut()
        .for_each(|phone| phone.start = Duration::ZERO);
    plan.outlooks.iter_mut().for_each(|outlook| {
        outlook.start = Duration::ZERO;
        outlook.channel_time = Duration::from_millis(300);
    });
    let lines = run_plan(
        &plan,
        &dialer,
        &Clock::new(Duration::from_secs(20)),
        &std::env::temp_dir(),
    );
    assert_eq!(lines.len(), 6 + 2 + 3 + 2);
    for line in &lines {
        assert!(line.contains("failures 0"), "{line}");
        assert!(!line.contains("P@ss"), "{line}");
        let servers = line
            .rsplit_once("servers ")
            .unwrap()
            .1
            .split(" statuses")
            .next()
            .unwrap();
        assert!(
            servers.split(' ').all(|entry| entry.starts_with("CAS07×")),
            "{line}"
        );
    }
    for line in &lines[..6] {
        assert!(line.contains(" 0 relogons"), "{line}");
        assert!(!line.contains("440×"), "{line}");
    }
    for line in &lines[11..] {
        assert!(line.contains("joined on CAS07 at attempt 1"), "{line}");
    }
}

#[test]
fn clock_cuts_sleeps_at_the_end_of_the_run() {
    let clock = Clock::new(Duration::from_millis(30));
    assert!(clock.sleep(Duration::from_millis(1)));
    let before = std::time::Instant::now();
    assert!(!clock.sleep(Duration::from_secs(5)));
    assert!(before.elapsed() < Duration::from_secs(1));
    assert!(!clock.sleep_until(Duration::from_secs(1)));
}
