//! SSLv2 messages that can open a connection (tls-parser has no SSLv2): the CLIENT-HELLO that
//! old clients send in an SSLv2 record to reach SSLv3/TLS servers too (RFC 5246 appendix E.2),
//! and the SERVER-HELLO of a server that answers in SSLv2.

use tls_parser::nom::bytes::complete::take;
use tls_parser::nom::combinator::verify;
use tls_parser::nom::number::complete::{be_u16, be_u8};
use tls_parser::IResult;

use super::messages::{hex, ClientHelloFacts};

const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 4;
/// Each SSLv2 cipher spec is 3 bytes.
const CIPHER_SPEC_LEN: u16 = 3;

/// The body of an SSLv2 CLIENT-HELLO record.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ClientHello<'a> {
    /// 0x0002 for SSLv2, 0x03xx for a client that also speaks SSLv3/TLS.
    pub version: u16,
    pub cipher_specs: &'a [u8],
    /// Empty, or 16 bytes to resume an SSLv2 session.
    pub session_id: &'a [u8],
    /// 16 to 32 bytes; it stands for the client random of a TLS handshake.
    pub challenge: &'a [u8],
}

pub(super) fn parse_client_hello(body: &[u8]) -> IResult<&[u8], ClientHello<'_>> {
    let (i, _) = verify(be_u8, |&t| t == CLIENT_HELLO)(body)?;
    let (i, version) = be_u16(i)?;
    let (i, cipher_specs_len) = verify(be_u16, |&n| n % CIPHER_SPEC_LEN == 0)(i)?;
    let (i, session_id_len) = verify(be_u16, |&n| n == 0 || n == 16)(i)?;
    let (i, challenge_len) = verify(be_u16, |&n| (16..=32).contains(&n))(i)?;
    let (i, cipher_specs) = take(cipher_specs_len)(i)?;
    let (i, session_id) = take(session_id_len)(i)?;
    let (i, challenge) = take(challenge_len)(i)?;
    Ok((i, ClientHello { version, cipher_specs, session_id, challenge }))
}

impl ClientHello<'_> {
    /// What the report takes from it: the challenge stands for the client random.
    pub fn facts(&self) -> ClientHelloFacts {
        ClientHelloFacts {
            version: self.version,
            random: hex(self.challenge),
            session_id: (!self.session_id.is_empty()).then(|| hex(self.session_id)),
            ..ClientHelloFacts::default()
        }
    }
}

/// Does this SSLv2 record body hold a SERVER-HELLO?
pub(super) fn is_server_hello(body: &[u8]) -> bool {
    body.first() == Some(&SERVER_HELLO)
}

/// An SSLv2-compatible hello: version 3.1, two cipher specs, no session id, 16-byte challenge.
#[cfg(test)]
pub(super) fn test_client_hello_body() -> Vec<u8> {
    let mut body = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
    body.extend_from_slice(&[0x00, 0x00, 0x2f, 0x01, 0x00, 0x80]);
    body.extend(0x10..0x20);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_compatible_client_hello() {
        let body = test_client_hello_body();
        let (rest, hello) = parse_client_hello(&body).expect("valid hello");
        assert!(rest.is_empty());
        assert_eq!(hello.version, 0x0301);
        assert_eq!(hello.cipher_specs, [0x00, 0x00, 0x2f, 0x01, 0x00, 0x80]);
        assert_eq!(hello.session_id, b"");
        assert_eq!(hello.challenge, (0x10..0x20).collect::<Vec<u8>>());
    }

    #[test]
    fn rejects_bad_lengths_and_truncations() {
        let body = test_client_hello_body();
        for len in 0..body.len() {
            assert!(parse_client_hello(&body[..len]).is_err(), "truncated to {len}");
        }
        let mut bad_specs = body.clone();
        bad_specs[4] = 5;
        assert!(parse_client_hello(&bad_specs).is_err(), "cipher specs not a multiple of 3");
        let mut bad_session = body.clone();
        bad_session[6] = 8;
        assert!(parse_client_hello(&bad_session).is_err(), "session id neither 0 nor 16");
        let mut short_challenge = body.clone();
        short_challenge[8] = 8;
        assert!(parse_client_hello(&short_challenge).is_err(), "challenge under 16");
        let mut not_hello = body;
        not_hello[0] = 2;
        assert!(parse_client_hello(&not_hello).is_err(), "not a CLIENT-HELLO");
    }

    #[test]
    fn recognises_server_hello() {
        assert!(is_server_hello(&[4, 0, 1, 0, 2]));
        assert!(!is_server_hello(&[1]));
        assert!(!is_server_hello(&[]));
    }
}
