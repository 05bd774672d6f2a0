//! TLS 1.2 as the wire shows it, from a real handshake: `openssl s_server -tls1_2 -no_ticket`
//! (ECDHE-RSA-AES128-GCM-SHA256, a self-signed certificate for `mail.contoso.test`) and
//! `openssl s_client -servername mail.contoso.test`, captured on loopback — a full handshake,
//! then one resumed by session id. Each generated connection patches the client and server
//! randoms and the session id into copies of those flights; everything after the handshake is
//! application data of the right lengths with opaque contents.

use super::outbox::{total_len, Content, Piece};
use crate::rng::Rng;

pub type SessionId = [u8; 32];

const FULL_CLIENT_HELLO: &[u8] = include_bytes!("handshake/full_client_hello.bin");
/// ServerHello, Certificate, ServerKeyExchange, ServerHelloDone.
const FULL_SERVER_HELLO: &[u8] = include_bytes!("handshake/full_server_hello.bin");
/// ClientKeyExchange, ChangeCipherSpec, Finished.
const FULL_CLIENT_FINISHED: &[u8] = include_bytes!("handshake/full_client_finished.bin");
/// ChangeCipherSpec, Finished.
const FULL_SERVER_FINISHED: &[u8] = include_bytes!("handshake/full_server_finished.bin");
const RESUMED_CLIENT_HELLO: &[u8] = include_bytes!("handshake/resumed_client_hello.bin");
/// ServerHello, ChangeCipherSpec, Finished.
const RESUMED_SERVER_FINISHED: &[u8] = include_bytes!("handshake/resumed_server_finished.bin");
/// ChangeCipherSpec, Finished.
const RESUMED_CLIENT_FINISHED: &[u8] = include_bytes!("handshake/resumed_client_finished.bin");

/// In a flight starting with a hello: record header (5), handshake header (4), version (2).
const RANDOM_OFFSET: usize = 11;
/// After the random, the session id's length byte.
const SESSION_ID_OFFSET: usize = RANDOM_OFFSET + 32 + 1;

const APPLICATION_DATA: u8 = 23;
const ALERT: u8 = 21;
const TLS12: [u8; 2] = [3, 3];
const MAX_PLAINTEXT: u64 = 16 * 1024;
/// AES-GCM: explicit nonce (8) and tag (16).
const RECORD_OVERHEAD: u64 = 24;
/// An encrypted close_notify: two bytes of alert plus the GCM overhead.
const CLOSE_NOTIFY_LEN: u64 = 2 + RECORD_OVERHEAD;

/// The handshake of one connection: the flights each side sends, in order.
pub struct Handshake {
    /// (client flight, the server's answer); the second turn of a resumption has no answer.
    pub turns: [(Vec<u8>, Vec<u8>); 2],
    /// The session id the server assigned or accepted.
    pub session: SessionId,
}

impl Handshake {
    /// A full handshake (the server assigns a new session id), or an abbreviated one resuming
    /// `resume`.
    pub fn new(rng: &mut Rng, resume: Option<SessionId>) -> Handshake {
        let client_random: [u8; 32] = rng.bytes();
        let server_random: [u8; 32] = rng.bytes();
        match resume {
            None => {
                let session: SessionId = rng.bytes();
                Handshake {
                    turns: [
                        (
                            hello(FULL_CLIENT_HELLO, &client_random, None),
                            hello(FULL_SERVER_HELLO, &server_random, Some(&session)),
                        ),
                        (FULL_CLIENT_FINISHED.to_vec(), FULL_SERVER_FINISHED.to_vec()),
                    ],
                    session,
                }
            }
            Some(session) => Handshake {
                turns: [
                    (
                        hello(RESUMED_CLIENT_HELLO, &client_random, Some(&session)),
                        hello(RESUMED_SERVER_FINISHED, &server_random, Some(&session)),
                    ),
                    (RESUMED_CLIENT_FINISHED.to_vec(), Vec::new()),
                ],
                session,
            },
        }
    }
}

/// A copy of a flight starting with a hello, its random and (if given) session id replaced.
fn hello(flight: &[u8], random: &[u8; 32], session: Option<&SessionId>) -> Vec<u8> {
    let mut copy = flight.to_vec();
    copy[RANDOM_OFFSET..RANDOM_OFFSET + 32].copy_from_slice(random);
    if let Some(session) = session {
        copy[SESSION_ID_OFFSET..SESSION_ID_OFFSET + 32].copy_from_slice(session);
    }
    copy
}

/// The application_data records carrying `plaintext` (their contents are opaque).
pub fn seal(plaintext: &[Piece]) -> Vec<Piece> {
    let mut left = total_len(plaintext);
    let mut records = Vec::new();
    while left > 0 {
        let chunk = left.min(MAX_PLAINTEXT);
        records.extend(record(
            APPLICATION_DATA,
            chunk + RECORD_OVERHEAD,
            left as usize,
        ));
        left -= chunk;
    }
    records
}

/// An encrypted close_notify alert.
pub fn close_notify() -> Vec<Piece> {
    record(ALERT, CLOSE_NOTIFY_LEN, 0).to_vec()
}

fn record(content_type: u8, len: u64, start: usize) -> [Piece; 2] {
    let len_bytes = (len as u16).to_be_bytes();
    [
        Piece::Bytes(vec![
            content_type,
            TLS12[0],
            TLS12[1],
            len_bytes[0],
            len_bytes[1],
        ]),
        Piece::fill(Content::Opaque, len, start),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (content type, record length) of each record of a flight; the lengths must add up.
    fn records(flight: &[u8]) -> Vec<(u8, usize)> {
        let mut rest = flight;
        let mut found = Vec::new();
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            found.push((rest[0], len));
            rest = &rest[5 + len..];
        }
        found
    }

    #[test]
    fn fixtures_are_the_expected_flights() {
        assert_eq!(records(FULL_CLIENT_HELLO), [(22, 209)]);
        assert_eq!(
            records(FULL_SERVER_HELLO),
            [(22, 93), (22, 866), (22, 300), (22, 4)]
        );
        assert_eq!(records(FULL_CLIENT_FINISHED), [(22, 37), (20, 1), (22, 40)]);
        assert_eq!(records(FULL_SERVER_FINISHED), [(20, 1), (22, 40)]);
        assert_eq!(records(RESUMED_CLIENT_HELLO), [(22, 241)]);
        assert_eq!(
            records(RESUMED_SERVER_FINISHED),
            [(22, 85), (20, 1), (22, 40)]
        );
        assert_eq!(records(RESUMED_CLIENT_FINISHED), [(20, 1), (22, 40)]);
        // Handshake types and session id lengths where `hello` patches them.
        for (flight, kind, session_len) in [
            (FULL_CLIENT_HELLO, 1, 0),
            (FULL_SERVER_HELLO, 2, 32),
            (RESUMED_CLIENT_HELLO, 1, 32),
            (RESUMED_SERVER_FINISHED, 2, 32),
        ] {
            assert_eq!(flight[5], kind);
            assert_eq!(flight[9..11], TLS12);
            assert_eq!(flight[SESSION_ID_OFFSET - 1], session_len);
        }
    }

    #[test]
    fn full_handshake_assigns_a_session_the_resumption_offers() {
        let mut rng = Rng::new(9);
        let full = Handshake::new(&mut rng, None);
        let [(client_hello, server_hello), (client_finished, server_finished)] = &full.turns;
        assert_eq!(client_hello.len(), FULL_CLIENT_HELLO.len());
        assert_eq!(client_hello[SESSION_ID_OFFSET - 1], 0);
        assert_eq!(
            server_hello[SESSION_ID_OFFSET..SESSION_ID_OFFSET + 32],
            full.session
        );
        assert_ne!(
            client_hello[RANDOM_OFFSET..43],
            FULL_CLIENT_HELLO[RANDOM_OFFSET..43]
        );
        assert_eq!(client_finished[..], *FULL_CLIENT_FINISHED);
        assert_eq!(server_finished[..], *FULL_SERVER_FINISHED);

        let resumed = Handshake::new(&mut rng, Some(full.session));
        let [(client_hello, server_hello), (client_finished, server_answer)] = &resumed.turns;
        assert_eq!(resumed.session, full.session);
        assert_eq!(
            client_hello[SESSION_ID_OFFSET..SESSION_ID_OFFSET + 32],
            full.session
        );
        assert_eq!(
            server_hello[SESSION_ID_OFFSET..SESSION_ID_OFFSET + 32],
            full.session
        );
        assert_eq!(client_finished[..], *RESUMED_CLIENT_FINISHED);
        assert!(server_answer.is_empty());
    }

    #[test]
    fn sealing_cuts_records_at_16k_with_gcm_overhead() {
        let sealed = seal(&[
            Piece::Bytes(vec![0; 100]),
            Piece::fill(Content::Text, 16_384 + 50, 0),
        ]);
        let lengths: Vec<u64> = sealed.iter().map(Piece::len).collect();
        assert_eq!(lengths, [5, 16_384 + 24, 5, 150 + 24]);
        assert_eq!(sealed[0], Piece::Bytes(vec![23, 3, 3, 0x40, 0x18]));
        assert!(seal(&[]).is_empty());
        let alert = close_notify();
        assert_eq!(alert[0], Piece::Bytes(vec![21, 3, 3, 0, 26]));
        assert_eq!(alert[1].len(), 26);
    }
}
