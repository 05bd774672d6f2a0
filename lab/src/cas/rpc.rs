//! Outlook Anywhere's two channels on the stand-in CAS. RPC_IN_DATA (client → server, a
//! 1 GiB `Content-Length` body that never ends) registers its virtual-connection cookie and
//! drains the body until the client leaves; it gets no response. RPC_OUT_DATA (76-byte CONN/A1
//! body) gets a 200 with a 1 GiB `Content-Length`, CONN/A3, then — only if the IN channel of
//! the same virtual connection reached this CAS within a second — CONN/C2 and a slow trickle
//! of response PDUs; otherwise the CAS drops it, as an Exchange 2010 CAS cannot join channels
//! that landed on different servers.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crate::http::{read_body, Head};
use crate::rts::{self, Cookie, CHANNEL_LENGTH};

const PDU_SIZE: usize = 240;

/// Timing of an OUT channel.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// How long an OUT channel waits for its IN channel.
    pub join_wait: Duration,
    /// The trickle after joining: one response PDU per interval, at most `max_pdus`.
    pub pdu_interval: Duration,
    pub max_pdus: u32,
}

impl Pacing {
    /// A few KB over about nine seconds: longer than any client keeps a channel open.
    pub const LAB: Pacing = Pacing {
        join_wait: Duration::from_secs(1),
        pdu_interval: Duration::from_millis(300),
        max_pdus: 30,
    };
}

/// IN channels currently open on this CAS, by virtual-connection cookie.
#[derive(Default)]
pub struct Rendezvous {
    open_in_channels: Mutex<HashSet<Cookie>>,
    changed: Condvar,
}

impl Rendezvous {
    fn open(&self, cookie: Cookie) {
        self.open_in_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cookie);
        self.changed.notify_all();
    }

    fn close(&self, cookie: &Cookie) {
        self.open_in_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(cookie);
    }

    fn wait_for(&self, cookie: &Cookie, patience: Duration) -> bool {
        let channels = self
            .open_in_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (channels, _) = self
            .changed
            .wait_timeout_while(channels, patience, |open| !open.contains(cookie))
            .unwrap_or_else(PoisonError::into_inner);
        channels.contains(cookie)
    }
}

/// What the CAS log says about a channel: status sent (none for IN) and body bytes moved.
pub struct ChannelOutcome {
    pub status: Option<u16>,
    pub bytes: u64,
    pub note: String,
}

/// Serves RPC_IN_DATA until the client closes it.
pub fn serve_in(rendezvous: &Rendezvous, reader: &mut impl Read) -> ChannelOutcome {
    let mut b1 = [0u8; rts::CONN_B1_LEN];
    let cookie = reader
        .read_exact(&mut b1)
        .ok()
        .and_then(|()| rts::virtual_connection_cookie(&b1));
    let Some(cookie) = cookie else {
        return ChannelOutcome {
            status: None,
            bytes: 0,
            note: "no CONN/B1".to_owned(),
        };
    };
    rendezvous.open(cookie);
    let drained = drain(reader);
    rendezvous.close(&cookie);
    ChannelOutcome {
        status: None,
        bytes: b1.len() as u64 + drained,
        note: format!("IN channel vc={}", hex(&cookie)),
    }
}

/// Serves RPC_OUT_DATA: joins the IN channel or drops the connection.
pub fn serve_out(
    rendezvous: &Rendezvous,
    pacing: Pacing,
    server: &str,
    head: &Head,
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> ChannelOutcome {
    let a1 = head
        .content_length()
        .ok()
        .flatten()
        .and_then(|length| read_body(reader, length, 1024).ok());
    let Some(cookie) = a1.as_deref().and_then(rts::virtual_connection_cookie) else {
        return ChannelOutcome {
            status: None,
            bytes: 0,
            note: "no CONN/A1".to_owned(),
        };
    };
    let outcome = |bytes: u64, note: &str| ChannelOutcome {
        status: Some(200),
        bytes,
        note: format!("OUT channel vc={} {note}", hex(&cookie)),
    };
    let response_head = format!(
        "HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\nContent-Length: {CHANNEL_LENGTH}\r\nServer: Microsoft-IIS/7.5\r\nX-FEServer: {server}\r\nX-Powered-By: ASP.NET\r\n\r\n"
    );
    let a3 = rts::conn_a3();
    if writer
        .write_all(response_head.as_bytes())
        .and_then(|()| writer.write_all(&a3))
        .is_err()
    {
        return outcome(0, "client gone");
    }
    let mut body_bytes = a3.len() as u64;
    if !rendezvous.wait_for(&cookie, pacing.join_wait) {
        return outcome(body_bytes, "IN channel not on this CAS: dropped");
    }
    let mut pdus = 0;
    let mut next = rts::conn_c2();
    while writer.write_all(&next).is_ok() {
        body_bytes += next.len() as u64;
        if pdus == pacing.max_pdus {
            break;
        }
        thread::sleep(pacing.pdu_interval);
        pdus += 1;
        next = rts::traffic_pdu(false, pdus, PDU_SIZE);
    }
    outcome(body_bytes, &format!("joined, {pdus} PDUs"))
}

/// Reads and discards until EOF, a reset, the idle timeout or the announced length: the
/// channel's end is the client's choice. Returns the bytes read.
fn drain(reader: &mut impl Read) -> u64 {
    let mut buffer = [0u8; 8192];
    let mut drained = 0u64;
    while drained < CHANNEL_LENGTH {
        match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(count) => drained += count as u64,
        }
    }
    drained
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VC: Cookie = [7; 16];

    fn out_head() -> Head {
        Head {
            start: "RPC_OUT_DATA /rpc/rpcproxy.dll?cas01.contoso.test:6001 HTTP/1.1".into(),
            headers: vec![("Content-Length".into(), "76".into())],
        }
    }

    #[test]
    fn in_channel_registers_while_open_and_counts_bytes() {
        let rendezvous = Rendezvous::default();
        let mut body = rts::conn_b1(&VC, &[1; 16], &[2; 16]);
        body.extend_from_slice(&[0u8; 50]);
        let outcome = serve_in(&rendezvous, &mut &body[..]);
        assert_eq!((outcome.status, outcome.bytes), (None, 154));
        assert!(
            !rendezvous.wait_for(&VC, Duration::ZERO),
            "closed channel must be forgotten"
        );
    }

    const FAST: Pacing = Pacing {
        join_wait: Duration::from_millis(10),
        pdu_interval: Duration::ZERO,
        max_pdus: 3,
    };

    #[test]
    fn out_channel_without_in_channel_is_dropped_after_a3() {
        let rendezvous = Rendezvous::default();
        let mut written = Vec::new();
        let outcome = serve_out(
            &rendezvous,
            FAST,
            "CAS02",
            &out_head(),
            &mut &rts::conn_a1(&VC, &[1; 16])[..],
            &mut written,
        );
        assert_eq!((outcome.status, outcome.bytes), (Some(200), 28));
        assert!(outcome
            .note
            .ends_with("IN channel not on this CAS: dropped"));
        let text = String::from_utf8_lossy(&written);
        assert!(text.starts_with("HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\nContent-Length: 1073741824\r\n"));
        assert!(text.contains("X-FEServer: CAS02\r\n"));
        assert!(written.ends_with(&rts::conn_a3()));
    }

    #[test]
    fn out_channel_joins_a_waiting_in_channel() {
        let rendezvous = Rendezvous::default();
        rendezvous.open(VC);
        let mut written = Vec::new();
        let outcome = serve_out(
            &rendezvous,
            FAST,
            "CAS01",
            &out_head(),
            &mut &rts::conn_a1(&VC, &[1; 16])[..],
            &mut written,
        );
        let body_len = (rts::CONN_A3_LEN + rts::CONN_C2_LEN + 3 * PDU_SIZE) as u64;
        assert_eq!((outcome.status, outcome.bytes), (Some(200), body_len));
        assert_eq!(
            written.len() as u64,
            body_len + written.windows(4).position(|w| w == b"\r\n\r\n").unwrap() as u64 + 4
        );
        assert_eq!(outcome.note, "OUT channel vc=07070707 joined, 3 PDUs");
    }

    #[test]
    fn channels_without_rts_pdus_are_refused() {
        let rendezvous = Rendezvous::default();
        assert_eq!(
            serve_in(&rendezvous, &mut &[0u8; rts::CONN_B1_LEN][..]).note,
            "no CONN/B1"
        );
        let outcome = serve_out(
            &rendezvous,
            FAST,
            "CAS01",
            &out_head(),
            &mut &[0u8; 76][..],
            &mut Vec::new(),
        );
        assert_eq!(
            (outcome.status, outcome.note.as_str()),
            (None, "no CONN/A1")
        );
    }
}
