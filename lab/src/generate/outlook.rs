//! Outlook 2010 over Outlook Anywhere, on three connections from one address: Autodiscover
//! (challenged, then Basic) and the offline address book; then an RPC over HTTP virtual
//! connection — an RPC_IN_DATA channel (1 GiB announced request body: CONN/B1 then request
//! PDUs for as long as Outlook runs) and an RPC_OUT_DATA channel (CONN/A1; a 200 with a 1 GiB
//! announced body: CONN/A3, CONN/C2, then response PDUs, in bursts when mail is downloaded).
//! Large transfers are cut into turns of at most [`MAX_TURN_BYTES`], so a channel never holds
//! more than that.

use super::farm::{cas_name, iis_response};
use super::message::{Body, Head};
use super::outbox::{Content, Piece};
use super::script::{Close, Script, Turn};
use super::time::{Nanos, MILLISECOND, SECOND};
use crate::exchange::{basic_authorization, HOST, OAB_PATH};
use crate::rng::Rng;
use crate::rts::{self, CHANNEL_LENGTH};

const USER_AGENT: &str = "Microsoft Office/14.0 (Windows NT 6.1; Microsoft Outlook 14.0.7116; Pro)";
const RPC_USER_AGENT: &str = "MSRPC";
/// Largest RPC fragment Outlook and the RPC proxy send.
const MAX_PDU: u64 = 8 * 1024;
/// A common header and a few bytes of stub.
const MIN_PDU: u64 = 24;
pub const MAX_TURN_BYTES: u64 = 64 * 1024;

/// One Outlook start-up: who, on which CAS (source-address persistence), which virtual
/// connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlookSession {
    pub user: String,
    pub cas: usize,
    pub virtual_connection: rts::Cookie,
}

impl OutlookSession {
    fn rpc_target(&self) -> String {
        format!(
            "/rpc/rpcproxy.dll?{}.contoso.test:6001",
            cas_name(self.cas).to_ascii_lowercase()
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Discovery {
    Challenged,
    Autodiscover,
    OabManifest,
    OabDownload,
    Done,
}

/// Autodiscover and the offline address book, on one keep-alive connection.
pub struct DiscoveryConnection {
    session: OutlookSession,
    next: Discovery,
    downloads_oab: bool,
}

impl DiscoveryConnection {
    pub fn new(session: OutlookSession, rng: &mut Rng) -> DiscoveryConnection {
        DiscoveryConnection {
            session,
            next: Discovery::Challenged,
            downloads_oab: rng.chance(5),
        }
    }

    fn request(&self, method: &str, target: &str, authenticated: bool) -> Head {
        let head = Head::request(method, target, "HTTP/1.1")
            .header("Host", HOST)
            .header("User-Agent", USER_AGENT)
            .header("Connection", "Keep-Alive");
        if authenticated {
            head.header("Authorization", basic_authorization(&self.session.user))
        } else {
            head
        }
    }

    fn autodiscover(&self, authenticated: bool) -> Vec<Piece> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>{}@contoso.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>",
            self.session.user
        );
        self.request("POST", "/autodiscover/autodiscover.xml", authenticated)
            .header("Content-Type", "text/xml")
            .finish(Body::Bytes(body.into_bytes()))
    }

    fn turn(&self, step: Discovery, now: Nanos, rng: &mut Rng) -> Turn {
        let cas = self.session.cas;
        let (request, response) = match step {
            Discovery::Challenged => (
                self.autodiscover(false),
                iis_response(401, "Unauthorized", cas, now)
                    .header("Content-Type", "text/html")
                    .header("WWW-Authenticate", "Negotiate")
                    .header("WWW-Authenticate", "NTLM")
                    .header("WWW-Authenticate", format_args!("Basic realm=\"{HOST}\""))
                    .finish(Body::Fill {
                        content: Content::Text,
                        len: 1_293,
                    }),
            ),
            Discovery::Autodiscover => (
                self.autodiscover(true),
                iis_response(200, "OK", cas, now)
                    .header("Cache-Control", "private")
                    .header("Content-Type", "text/xml; charset=utf-8")
                    .finish(Body::Fill {
                        content: Content::Text,
                        len: rng.range(2_500, 4_000),
                    }),
            ),
            Discovery::OabManifest => (
                self.request("GET", OAB_PATH, true).finish(Body::None),
                iis_response(200, "OK", cas, now)
                    .header("Content-Type", "text/xml")
                    .header("Last-Modified", "Mon, 11 Mar 2024 02:00:00 GMT")
                    .finish(Body::Fill {
                        content: Content::Text,
                        len: rng.range(600, 1_500),
                    }),
            ),
            // `next_turn` never asks for `Done`.
            Discovery::OabDownload | Discovery::Done => {
                let file = OAB_PATH.replace("oab.xml", "2f5c1e9a-data-12.lzx");
                (
                    self.request("GET", &file, true).finish(Body::None),
                    iis_response(200, "OK", cas, now)
                        .header("Content-Type", "application/octet-stream")
                        .header("Last-Modified", "Mon, 11 Mar 2024 02:00:00 GMT")
                        .finish(Body::Fill {
                            content: Content::Opaque,
                            len: rng.range(200_000, 1_500_000),
                        }),
                )
            }
        };
        Turn::exchange(
            rng.range(5, 200) * MILLISECOND,
            vec![request],
            rng.range(10, 80) * MILLISECOND,
            vec![response],
        )
    }
}

impl Script for DiscoveryConnection {
    fn next_turn(&mut self, now: Nanos, rng: &mut Rng) -> Option<Turn> {
        let step = self.next;
        self.next = match step {
            Discovery::Challenged => Discovery::Autodiscover,
            Discovery::Autodiscover => Discovery::OabManifest,
            Discovery::OabManifest if self.downloads_oab => Discovery::OabDownload,
            Discovery::OabManifest | Discovery::OabDownload | Discovery::Done => Discovery::Done,
        };
        (step != Discovery::Done).then(|| self.turn(step, now, rng))
    }

    fn close(&self, rng: &mut Rng) -> Close {
        Close {
            after: rng.range(1, 10) * SECOND,
            by_client: true,
            reset: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// RPC_IN_DATA: client to server.
    In,
    /// RPC_OUT_DATA: server to client.
    Out,
}

/// One channel of the virtual connection.
pub struct RpcChannel {
    session: OutlookSession,
    channel: Channel,
    opened: bool,
    /// Exchanges left before Outlook closes the channel.
    exchanges_left: u32,
    /// Bytes of a large transfer still to send, in later turns.
    transfer_left: u64,
    call_id: u32,
}

impl RpcChannel {
    pub fn new(session: OutlookSession, channel: Channel, rng: &mut Rng) -> RpcChannel {
        RpcChannel {
            session,
            channel,
            opened: false,
            exchanges_left: rng.range(20, 300) as u32,
            transfer_left: 0,
            call_id: 1,
        }
    }

    fn is_client_to_server(&self) -> bool {
        self.channel == Channel::In
    }

    /// The channel's request head (and, for OUT, the response head and its first PDUs).
    fn open(&self, now: Nanos, rng: &mut Rng) -> Turn {
        let (method, announced) = match self.channel {
            Channel::In => ("RPC_IN_DATA", CHANNEL_LENGTH),
            Channel::Out => ("RPC_OUT_DATA", 76),
        };
        let mut request = Head::request(method, &self.session.rpc_target(), "HTTP/1.1")
            .header("Accept", "application/rpc")
            .header("User-Agent", RPC_USER_AGENT)
            .header("Host", HOST)
            .header("Connection", "Keep-Alive")
            .header("Cache-Control", "no-cache")
            .header("Pragma", "no-cache")
            .header("Authorization", basic_authorization(&self.session.user))
            .finish(Body::Announced(announced));
        let cookies: [rts::Cookie; 2] = [rng.bytes(), rng.bytes()];
        let vc = &self.session.virtual_connection;
        match self.channel {
            Channel::In => {
                request.push(Piece::Bytes(rts::conn_b1(vc, &cookies[0], &cookies[1])));
                Turn {
                    pause: 0,
                    client: request,
                    server_delay: 0,
                    server: Vec::new(),
                }
            }
            Channel::Out => {
                request.push(Piece::Bytes(rts::conn_a1(vc, &cookies[0])));
                let mut response = iis_response(200, "Success", self.session.cas, now)
                    .header("Content-Type", "application/rpc")
                    .finish(Body::Announced(CHANNEL_LENGTH));
                response.push(Piece::Bytes(rts::conn_a3()));
                response.push(Piece::Bytes(rts::conn_c2()));
                Turn {
                    pause: 0,
                    client: request,
                    server_delay: rng.range(5, 30) * MILLISECOND,
                    server: response,
                }
            }
        }
    }

    /// The PDUs of one turn: up to [`MAX_TURN_BYTES`] of a pending large transfer, else a few
    /// ordinary calls (sometimes starting a large transfer: a message with attachments).
    fn pdus(&mut self, rng: &mut Rng) -> (Nanos, Vec<Piece>) {
        if self.transfer_left == 0 {
            self.exchanges_left = self.exchanges_left.saturating_sub(1);
            if rng.chance(2) {
                self.transfer_left = rng.range(100_000, 2_000_000);
            }
        }
        let (pause, mut budget) = if self.transfer_left > 0 {
            let chunk = self.transfer_left.min(MAX_TURN_BYTES);
            self.transfer_left -= chunk;
            (rng.range(1, 5) * MILLISECOND, chunk)
        } else {
            (rng.range(500, 45_000) * MILLISECOND, rng.range(100, 6_000))
        };
        let mut pdus = Vec::new();
        while budget > 0 {
            let len = budget.clamp(MIN_PDU, MAX_PDU);
            pdus.push(Piece::Bytes(rts::traffic_pdu(
                self.is_client_to_server(),
                self.call_id,
                len as usize,
            )));
            self.call_id = self.call_id.wrapping_add(1);
            budget = budget.saturating_sub(len);
        }
        (pause, pdus)
    }
}

impl Script for RpcChannel {
    fn next_turn(&mut self, now: Nanos, rng: &mut Rng) -> Option<Turn> {
        if !self.opened {
            self.opened = true;
            return Some(self.open(now, rng));
        }
        if self.exchanges_left == 0 && self.transfer_left == 0 {
            return None;
        }
        let (pause, pdus) = self.pdus(rng);
        Some(match self.channel {
            Channel::In => Turn {
                pause,
                client: pdus,
                server_delay: 0,
                server: Vec::new(),
            },
            Channel::Out => Turn {
                pause,
                client: Vec::new(),
                server_delay: 0,
                server: pdus,
            },
        })
    }

    /// Outlook closes its channels when it exits, or they are reset under it.
    fn close(&self, rng: &mut Rng) -> Close {
        Close {
            after: rng.range(0, 5) * SECOND,
            by_client: true,
            reset: rng.chance(50),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::outbox::{total_len, Outbox};
    use crate::generate::time::CAPTURE_START;

    fn session() -> OutlookSession {
        OutlookSession {
            user: "user9".into(),
            cas: 3,
            virtual_connection: [0x5a; 16],
        }
    }

    fn bytes(pieces: &[Piece]) -> Vec<u8> {
        let mut outbox = Outbox::default();
        outbox.extend(pieces.iter().cloned());
        let mut out = Vec::new();
        while outbox.take(1 << 20, &mut out) > 0 {}
        out
    }

    #[test]
    fn discovery_is_challenged_then_authenticated() {
        let mut rng = Rng::new(3);
        let mut connection = DiscoveryConnection::new(session(), &mut rng);
        connection.downloads_oab = true;
        let turns: Vec<Turn> =
            std::iter::from_fn(|| connection.next_turn(CAPTURE_START, &mut rng)).collect();
        assert_eq!(turns.len(), 4);
        let text = |pieces: &[Piece]| String::from_utf8_lossy(&bytes(pieces)).into_owned();
        assert!(!text(&turns[0].client).contains("Authorization"));
        assert!(text(&turns[0].server).starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        assert!(text(&turns[0].server)
            .contains("WWW-Authenticate: Basic realm=\"mail.contoso.test\"\r\n"));
        let authorization = format!("Authorization: {}\r\n", basic_authorization("user9"));
        assert!(turns[1..]
            .iter()
            .all(|turn| text(&turn.client).contains(&authorization)));
        assert!(text(&turns[2].client).starts_with(&format!("GET {OAB_PATH} HTTP/1.1\r\n")));
        assert!(total_len(&turns[3].server) >= 200_000);
    }

    #[test]
    fn in_channel_announces_a_gigabyte_and_sends_conn_b1_then_requests() {
        let mut rng = Rng::new(6);
        let mut channel = RpcChannel::new(session(), Channel::In, &mut rng);
        let open = channel.next_turn(CAPTURE_START, &mut rng).unwrap();
        let wire = bytes(&open.client);
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&wire[..head_end]);
        assert!(
            head.starts_with("RPC_IN_DATA /rpc/rpcproxy.dll?cas04.contoso.test:6001 HTTP/1.1\r\n")
        );
        assert!(head.contains("Content-Length: 1073741824\r\n"));
        assert_eq!(wire.len() - head_end, rts::CONN_B1_LEN);
        assert_eq!(
            rts::virtual_connection_cookie(&wire[head_end..]),
            Some([0x5a; 16])
        );
        assert!(open.server.is_empty());
        let mut turns = 0;
        while let Some(turn) = channel.next_turn(CAPTURE_START, &mut rng) {
            assert!(turn.server.is_empty());
            assert!(total_len(&turn.client) <= MAX_TURN_BYTES);
            // Every piece is one whole request PDU whose length field says its size.
            for piece in &turn.client {
                let pdu = bytes(std::slice::from_ref(piece));
                assert_eq!(
                    (pdu[2], usize::from(u16::from_le_bytes([pdu[8], pdu[9]]))),
                    (0, pdu.len())
                );
            }
            turns += 1;
        }
        assert!(turns >= 20);
    }

    #[test]
    fn out_channel_answers_with_conn_a3_and_c2_then_pushes_responses() {
        let mut rng = Rng::new(6);
        let mut channel = RpcChannel::new(session(), Channel::Out, &mut rng);
        let open = channel.next_turn(CAPTURE_START, &mut rng).unwrap();
        let request = bytes(&open.client);
        assert!(request
            .starts_with(b"RPC_OUT_DATA /rpc/rpcproxy.dll?cas04.contoso.test:6001 HTTP/1.1\r\n"));
        let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(String::from_utf8_lossy(&request[..head_end]).contains("Content-Length: 76\r\n"));
        assert_eq!(request.len() - head_end, 76);
        assert_eq!(
            rts::virtual_connection_cookie(&request[head_end..]),
            Some([0x5a; 16])
        );
        let response = bytes(&open.server);
        let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&response[..head_end]);
        assert!(head.starts_with("HTTP/1.1 200 Success\r\n"));
        assert!(head.contains("X-FEServer: CAS04\r\n"));
        assert!(head.contains("Content-Length: 1073741824\r\n"));
        assert_eq!(
            response[head_end..],
            [rts::conn_a3(), rts::conn_c2()].concat()
        );
        let next = channel.next_turn(CAPTURE_START, &mut rng).unwrap();
        assert!(next.client.is_empty());
        assert_eq!(bytes(&next.server)[2], 2);
    }
}
