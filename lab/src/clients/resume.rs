//! A TLS client that reconnects several times, resuming its TLS 1.2 session by ID when told to
//! (`openssl s_client -sess_in/-sess_out`): what SSL-session-ID persistence in `mode tcp` relies
//! on. Each connection makes one HTTP/1.0 request to the TLS server behind the balancer, whose
//! page names the server.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::link::read_response;
use super::net::Dialer;
use super::plan::Resumer;
use super::Clock;
use crate::exchange::HOST;

pub fn run(plan: &Resumer, dialer: &Dialer, clock: &Clock, session_file: &Path) -> String {
    clock.sleep_until(plan.start);
    let mut servers: BTreeMap<String, u32> = BTreeMap::new();
    let mut failures = 0;
    for pause in &plan.connections {
        if !clock.sleep(*pause) {
            break;
        }
        match fetch(plan, dialer, session_file) {
            Ok(server) => *servers.entry(server).or_default() += 1,
            Err(_) => failures += 1,
        }
    }
    let servers: Vec<String> = servers
        .iter()
        .map(|(server, count)| format!("{server}×{count}"))
        .collect();
    let mode = if plan.resumes {
        "resuming"
    } else {
        "new session each time"
    };
    format!(
        "tls {} ({mode}): servers {} failures {failures}",
        plan.from,
        servers.join(" ")
    )
}

/// One connection, one request; returns the server the page names.
fn fetch(plan: &Resumer, dialer: &Dialer, session_file: &Path) -> io::Result<String> {
    let mut conn = dialer.dial(plan.from, plan.resumes.then_some(session_file))?;
    conn.write_all(format!("GET /owa/healthcheck.htm HTTP/1.0\r\nHost: {HOST}\r\nUser-Agent: lab-tls-client\r\n\r\n").as_bytes())?;
    let response = read_response(conn.reader(), "GET")?;
    Ok(server_named(&String::from_utf8_lossy(&response.body))
        .unwrap_or_else(|| format!("status {}", response.code)))
}

/// `200 OK<br/>CAS01.contoso.test<br/>` → `CAS01`.
fn server_named(page: &str) -> Option<String> {
    let host = page.split("<br/>").nth(1)?;
    host.split('.')
        .next()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_from_the_health_page() {
        assert_eq!(
            server_named("200 OK<br/>CAS02.contoso.test<br/>"),
            Some("CAS02".to_owned())
        );
        assert_eq!(server_named("200 OK"), None);
        assert_eq!(server_named("x<br/><br/>"), None);
    }
}
