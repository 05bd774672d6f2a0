//! Outlook 2010 over Outlook Anywhere: Autodiscover (challenged, then Basic), the offline
//! address book, then an RPC over HTTP virtual connection — an RPC_IN_DATA and an RPC_OUT_DATA
//! channel on two connections from the same address, without cookies, as Outlook sends them.
//! The channels only work if both reach the same CAS; when the OUT channel is dropped,
//! Outlook tries again (a few times). Once joined, it sends request PDUs on IN while the
//! responses trickle in on OUT, then closes both.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::jar::Jar;
use super::link::{Link, Request};
use super::net::{Conn, Dialer};
use super::plan::Outlook;
use super::Clock;
use crate::exchange::{basic_authorization, OAB_PATH};
use crate::http::{self, StatusLine};
use crate::rng::{fnv1a, Rng};
use crate::rts;

const USER_AGENT: &str = "Microsoft Office/14.0 (Windows NT 6.1; Microsoft Outlook 14.0.7116; Pro)";
const RPC_USER_AGENT: &str = "MSRPC";
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(300);
const PDU_INTERVAL: Duration = Duration::from_millis(300);
const PDU_SIZE: usize = 180;

pub fn run(plan: &Outlook, dialer: &Dialer, clock: &Clock) -> String {
    clock.sleep_until(plan.start);
    let mut link = Link::new(
        dialer,
        plan.from,
        Some(Arc::new(Mutex::new(Jar::default()))),
    );
    let discovered = discover(&mut link, &plan.user);
    link.close();
    let outcome = match discovered {
        Err(error) => format!("autodiscover failed: {error}"),
        Ok(server) => connect(plan, dialer, clock, &server),
    };
    format!(
        "outlook {} from {}: {outcome}; http {}",
        plan.user,
        plan.from,
        link.tally.summary()
    )
}

/// Autodiscover and OAB; returns the RPC server Autodiscover named.
fn discover(link: &mut Link, user: &str) -> io::Result<String> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>{user}@contoso.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"
    );
    let request = Request::post("/autodiscover/autodiscover.xml", "text/xml", body)
        .header("User-Agent", USER_AGENT);
    let challenged = link.send(&request)?;
    let authorization = basic_authorization(user);
    let response = if challenged.code == 401 {
        link.send(&request.header("Authorization", &authorization))?
    } else {
        challenged
    };
    let text = String::from_utf8_lossy(&response.body);
    let server = text
        .split_once("<Type>EXCH</Type><Server>")
        .and_then(|(_, rest)| rest.split_once("</Server>"))
        .map(|(server, _)| server.to_owned())
        .ok_or_else(|| {
            io::Error::other(format!("no EXCH server in a {} response", response.code))
        })?;
    link.send(
        &Request::get(OAB_PATH)
            .header("User-Agent", USER_AGENT)
            .header("Authorization", &authorization),
    )?;
    Ok(server)
}

fn connect(plan: &Outlook, dialer: &Dialer, clock: &Clock, server: &str) -> String {
    let mut failures = Vec::new();
    for attempt in 1..=ATTEMPTS {
        match open_channels(plan, dialer, server, attempt) {
            Ok((inbound, outbound, cas)) => {
                let (sent, received) =
                    converse(inbound, outbound, plan.channel_time.min(clock.remaining()));
                return format!("RPC to {server} joined on {cas} at attempt {attempt}, IN {sent} B, OUT {received} B{}", failure_list(&failures));
            }
            Err(error) => failures.push(format!("attempt {attempt}: {error}")),
        }
        if !clock.sleep(RETRY_PAUSE) {
            break;
        }
    }
    format!("RPC to {server} never joined{}", failure_list(&failures))
}

fn failure_list(failures: &[String]) -> String {
    if failures.is_empty() {
        String::new()
    } else {
        format!(" ({})", failures.join("; "))
    }
}

fn channel_request(method: &str, plan: &Outlook, server: &str) -> Request {
    Request::new(method, &format!("/rpc/rpcproxy.dll?{server}:6001"))
        .header("Accept", "application/rpc")
        .header("User-Agent", RPC_USER_AGENT)
        .header("Connection", "Keep-Alive")
        .header("Cache-Control", "no-cache")
        .header("Pragma", "No-cache")
        .header("Authorization", &basic_authorization(&plan.user))
}

/// Opens IN then OUT; succeeds once OUT has delivered CONN/A3 and CONN/C2. Returns both
/// connections and the CAS (`X-FEServer`) that answered OUT.
fn open_channels(
    plan: &Outlook,
    dialer: &Dialer,
    server: &str,
    attempt: u32,
) -> io::Result<(Conn, Conn, String)> {
    let mut rng = Rng::new(fnv1a(plan.user.as_bytes()) ^ u64::from(attempt));
    let virtual_connection: rts::Cookie = rng.bytes();
    let mut inbound = dialer.dial(plan.from, None)?;
    let in_request = channel_request("RPC_IN_DATA", plan, server)
        .header("Content-Length", &rts::CHANNEL_LENGTH.to_string());
    let mut opening = in_request.encode(None);
    opening.extend_from_slice(&rts::conn_b1(
        &virtual_connection,
        &rng.bytes(),
        &rng.bytes(),
    ));
    inbound.write_all(&opening)?;
    let mut outbound = dialer.dial(plan.from, None)?;
    let out_request = channel_request("RPC_OUT_DATA", plan, server)
        .body(rts::conn_a1(&virtual_connection, &rng.bytes()));
    outbound.write_all(&out_request.encode(None))?;
    let head = http::read_head(outbound.reader())?.ok_or(io::ErrorKind::UnexpectedEof)?;
    let cas = head.header("X-FEServer").unwrap_or("-").to_owned();
    if StatusLine::parse(&head.start).map(|status| status.code) != Some(200) {
        return Err(io::Error::other(format!(
            "OUT channel answered {:?} by {cas}",
            head.start
        )));
    }
    let mut handshake = [0u8; rts::CONN_A3_LEN + rts::CONN_C2_LEN];
    outbound
        .reader()
        .read_exact(&mut handshake)
        .map_err(|_| io::Error::other(format!("OUT channel dropped by {cas}")))?;
    Ok((inbound, outbound, cas))
}

/// Request PDUs on IN, responses read on OUT, for `duration`; returns bytes sent and received.
fn converse(mut inbound: Conn, mut outbound: Conn, duration: Duration) -> (u64, u64) {
    let until = Instant::now() + duration;
    thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut received = 0u64;
            let mut buffer = [0u8; 4096];
            while Instant::now() < until {
                match outbound.reader().read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(count) => received += count as u64,
                }
            }
            received
        });
        let mut sent = 0u64;
        let mut call_id = 0;
        while Instant::now() < until {
            call_id += 1;
            let pdu = rts::traffic_pdu(true, call_id, PDU_SIZE);
            if inbound.write_all(&pdu).is_err() {
                break;
            }
            sent += pdu.len() as u64;
            thread::sleep(PDU_INTERVAL.min(until.saturating_duration_since(Instant::now())));
        }
        drop(inbound);
        (sent, reader.join().unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn channel_requests_look_like_outlooks() {
        let plan = Outlook {
            user: "user4".into(),
            from: Ipv4Addr::LOCALHOST,
            start: Duration::ZERO,
            channel_time: Duration::ZERO,
        };
        let text = String::from_utf8(
            channel_request("RPC_OUT_DATA", &plan, "cas02.contoso.test")
                .body(vec![0; 76])
                .encode(None),
        )
        .unwrap();
        assert!(text.starts_with("RPC_OUT_DATA /rpc/rpcproxy.dll?cas02.contoso.test:6001 HTTP/1.1\r\nHost: mail.contoso.test\r\nAccept: application/rpc\r\nUser-Agent: MSRPC\r\n"));
        assert!(text.contains("Content-Length: 76\r\n"));
        assert!(!text.contains("Cookie:"));
    }
}
