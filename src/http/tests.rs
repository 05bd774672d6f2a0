//! Connection-level tests: whole exchanges fed to [`HttpConnection`], exact outputs.

mod corpus;

use super::connection::MAX_PENDING_REQUESTS;
use super::*;
use crate::anomaly::Anomaly;
use crate::reassembly::Direction::{self, ToClient, ToServer};
use crate::test_rng::Rng;

fn ts(second: i64) -> Timestamp {
    Timestamp::from_secs_nanos(1_700_000_000 + second, 0)
}

/// What the connection delivers, in order: event `i` happens at `ts(i)`.
#[derive(Clone, Copy)]
enum Ev<'a> {
    Data(Direction, &'a [u8]),
    Gap(Direction, u64),
}
use Ev::{Data, Gap};

/// Everything a connection produced, finish included (at `ts(1000)`).
#[derive(Debug, PartialEq)]
struct Run {
    txs: Vec<Transaction>,
    anomalies: Vec<Anomaly>,
    mode: Option<ConnMode>,
    tunnel: (u64, u64),
}

impl Run {
    fn kinds(&self) -> Vec<&'static str> {
        self.anomalies.iter().map(|a| a.kind).collect()
    }

    /// One line per transaction: `depth method uri version -> status req=N resp=N [incomplete]`.
    fn lines(&self) -> Vec<String> {
        self.txs.iter().map(summary).collect()
    }
}

fn summary(tx: &Transaction) -> String {
    let status = tx.response.as_ref().map_or("-".to_owned(), |r| r.status.to_string());
    let r = &tx.request;
    let incomplete = if tx.incomplete { " incomplete" } else { "" };
    format!(
        "{} {} {} {} -> {status} req={} resp={}{incomplete}",
        tx.depth, r.method, r.uri, r.version, tx.request_body_len, tx.response_body_len
    )
}

fn config() -> HttpConfig {
    HttpConfig::default()
}

/// Feeds each event's bytes in pieces cut by `split` (given the length, returns piece sizes).
fn run_split(config: HttpConfig, events: &[Ev], split: &mut dyn FnMut(usize) -> Vec<usize>) -> Run {
    let mut conn = HttpConnection::new(config);
    let (mut txs, mut anomalies) = (Vec::new(), Vec::new());
    for (i, event) in events.iter().enumerate() {
        let at = ts(i as i64);
        match *event {
            Data(dir, bytes) => {
                let mut offset = 0;
                for size in split(bytes.len()) {
                    conn.data(dir, at, &bytes[offset..offset + size], &mut txs, &mut anomalies);
                    offset += size;
                }
                assert_eq!(offset, bytes.len(), "split must cover the bytes");
            }
            Gap(dir, len) => conn.gap(dir, at, len, &mut txs, &mut anomalies),
        }
    }
    conn.finish(ts(1000), &mut txs, &mut anomalies);
    Run { txs, anomalies, mode: conn.mode(), tunnel: conn.tunnel_bytes() }
}

fn run_with(config: HttpConfig, events: &[Ev]) -> Run {
    run_split(config, events, &mut |len| vec![len])
}

fn run(events: &[Ev]) -> Run {
    run_with(config(), events)
}

fn corpus(segments: &[(Direction, &'static [u8])]) -> Run {
    let events: Vec<Ev> = segments.iter().map(|&(dir, bytes)| Data(dir, bytes)).collect();
    run(&events)
}

/// `len` cut in pieces of 1 to 64 bytes.
fn pieces(rng: &mut Rng, mut len: usize) -> Vec<usize> {
    let mut pieces = Vec::new();
    while len > 0 {
        let size = 1 + rng.below(len.min(64));
        pieces.push(size);
        len -= size;
    }
    pieces
}

/// The same events fed whole, one byte at a time, cut at every position, and in random pieces
/// must give the same result.
fn assert_split_invariant(events: &[Ev]) -> Run {
    let whole = run(events);
    assert_eq!(run_split(config(), events, &mut |len| vec![1; len]), whole, "byte by byte");
    let longest = events.iter().map(|e| if let Data(_, b) = e { b.len() } else { 0 }).max().unwrap_or(0);
    for cut in 1..longest {
        let mut split = |len: usize| if cut < len { vec![cut, len - cut] } else { vec![len] };
        assert_eq!(run_split(config(), events, &mut split), whole, "cut at {cut}");
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        assert_eq!(run_split(config(), events, &mut |len| pieces(&mut rng, len)), whole, "random round {round}");
    }
    whole
}

const GET: &[u8] = b"GET /owa/ HTTP/1.1\r\nHost: mail.example.com\r\nUser-Agent: test\r\n\r\n";
const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";

#[test]
fn simple_get_200() {
    let out = run(&[Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.kinds(), Vec::<&str>::new());
    assert_eq!(out.mode, Some(ConnMode::Close));
    let tx = &out.txs[0];
    assert_eq!(tx.request.ts, ts(0));
    assert_eq!(tx.request.headers.get("host"), Some("mail.example.com"));
    assert_eq!(tx.request.headers.len(), 2);
    let response = tx.response.as_ref().unwrap();
    assert_eq!((response.ts, &*response.version, response.reason.as_str()), (ts(1), "1.1", "OK"));
    assert_eq!(response.headers.get("CONTENT-TYPE"), Some("text/plain"));
    assert_eq!(tx.ts_response_end, Some(ts(1)));
    assert!(!tx.incomplete);
}

#[test]
fn transaction_is_emitted_when_complete_not_at_finish() {
    let mut conn = HttpConnection::new(config());
    let (mut txs, mut anomalies) = (Vec::new(), Vec::new());
    conn.data(ToServer, ts(0), GET, &mut txs, &mut anomalies);
    conn.data(ToClient, ts(1), &OK_HELLO[..OK_HELLO.len() - 1], &mut txs, &mut anomalies);
    assert!(txs.is_empty());
    conn.data(ToClient, ts(2), b"o", &mut txs, &mut anomalies);
    assert_eq!(txs.iter().map(summary).collect::<Vec<_>>(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(txs[0].ts_response_end, Some(ts(2)));
}

#[test]
fn every_split_of_an_exchange_gives_the_same_result() {
    let requests: &[u8] = b"POST /ews/exchange.asmx HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        4;ext=1\r\nabcd\r\n0\r\nX-Trailer: t\r\n\r\n\
        GET /b HTTP/1.1\r\nHost: a\r\n\r\nHEAD /c HTTP/1.1\r\nHost: a\r\n\r\n";
    let responses: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz\
        HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
    let out = assert_split_invariant(&[Data(ToServer, requests), Data(ToClient, responses)]);
    assert_eq!(
        out.lines(),
        [
            "1 POST /ews/exchange.asmx 1.1 -> 200 req=4 resp=3",
            "2 GET /b 1.1 -> 200 req=0 resp=2",
            "3 HEAD /c 1.1 -> 200 req=0 resp=0"
        ]
    );
    assert_eq!(out.kinds(), Vec::<&str>::new());
    assert_eq!(out.mode, Some(ConnMode::Pipelining));
}

#[test]
fn every_split_of_garbage_and_tunnels_gives_the_same_result() {
    let requests: &[u8] = b"\xdd\x00 junk\r\nmore junk GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /zeek.html\n";
    let responses: &[u8] = b"<html>\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokraw bytes";
    let out = assert_split_invariant(&[Data(ToServer, requests), Data(ToClient, responses)]);
    assert_eq!(out.lines(), ["1 GET /a 1.1 -> 200 req=0 resp=2", "2 GET /zeek.html 0.9 -> 0 req=0 resp=9"]);
    assert_eq!(out.kinds(), ["http_garbage", "http_garbage"]);
    let connect: &[u8] = b"CONNECT mail.example.com:443 HTTP/1.1\r\nHost: mail.example.com:443\r\n\r\n\x16\x03\x01";
    let established: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00";
    let out = assert_split_invariant(&[Data(ToServer, connect), Data(ToClient, established)]);
    assert_eq!(out.lines(), ["1 CONNECT mail.example.com:443 1.1 -> 200 req=0 resp=0"]);
    assert_eq!((out.tunnel, out.kinds()), ((3, 4), vec![]));
}

#[test]
fn pipelining_of_three_requests() {
    let requests = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    let responses = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nbb";
    let last = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nccc";
    let out = run(&[Data(ToServer, requests), Data(ToClient, responses), Data(ToClient, last)]);
    assert_eq!(
        out.lines(),
        ["1 GET /1 1.1 -> 200 req=0 resp=1", "2 GET /2 1.1 -> 404 req=0 resp=2", "3 GET /3 1.1 -> 200 req=0 resp=3"]
    );
    assert_eq!(out.txs.iter().map(|tx| tx.ts_response_end).collect::<Vec<_>>(), [Some(ts(1)), Some(ts(1)), Some(ts(2))]);
    assert_eq!(out.mode, Some(ConnMode::Pipelining));
}

#[test]
fn keep_alive() {
    let out = run(&[Data(ToServer, GET), Data(ToClient, OK_HELLO), Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.txs[1].request.ts, ts(2));
    assert_eq!(out.mode, Some(ConnMode::KeepAlive));
}

#[test]
fn request_sent_before_the_previous_body_ended_is_pipelining() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab";
    let out = run(&[Data(ToServer, GET), Data(ToClient, head), Data(ToServer, GET), Data(ToClient, b"cd"), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=4", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.mode, Some(ConnMode::Pipelining));
}

#[test]
fn content_length_bodies_both_ways() {
    let post = b"POST /owa/auth.owa HTTP/1.1\r\nContent-Length: 000012\r\n\r\nusername=abc";
    let out = run(&[Data(ToServer, post), Data(ToClient, b"HTTP/1.0 302 Found\r\nContent-Length: 0\r\n\r\n")]);
    assert_eq!(out.lines(), ["1 POST /owa/auth.owa 1.1 -> 302 req=12 resp=0"]);
    assert_eq!(out.kinds(), Vec::<&str>::new());
}

#[test]
fn chunked_with_extension_and_trailers() {
    let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        1a;name=\"quoted;value\"\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n0123456789abcdef\r\n\
        0;last\r\nExpires: never\r\nX-Checksum: 1\r\n\r\n";
    let out = run(&[Data(ToServer, GET), Data(ToClient, response), Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=42", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.kinds(), Vec::<&str>::new());
}

#[test]
fn close_delimited_response_ends_with_the_connection() {
    let response = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
    let out = run(&[Data(ToServer, GET), Data(ToClient, response), Data(ToClient, b"</html>")]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=13"]);
    assert_eq!(out.txs[0].ts_response_end, Some(ts(2)));
    assert_eq!(out.kinds(), Vec::<&str>::new());
}

#[test]
fn head_response_has_no_body() {
    let head = b"HEAD /owa/ HTTP/1.1\r\nHost: a\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    let out = run(&[Data(ToServer, head), Data(ToClient, response), Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 HEAD /owa/ 1.1 -> 200 req=0 resp=0", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.mode, Some(ConnMode::KeepAlive));
}

#[test]
fn continue_100_is_interim() {
    let head = b"POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n";
    let out = run(&[
        Data(ToServer, head),
        Data(ToClient, b"HTTP/1.1 100 Continue\r\n\r\n"),
        Data(ToServer, b"abcdef"),
        Data(ToClient, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    assert_eq!(out.lines(), ["1 POST /upload 1.1 -> 201 req=6 resp=2"]);
    assert_eq!(out.txs[0].response.as_ref().map(|r| r.ts), Some(ts(3)));
    assert_eq!((out.kinds(), out.mode), (vec![], Some(ConnMode::Close)));
}

#[test]
fn no_body_for_204_and_304() {
    let responses = b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n\
        HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    let requests = [GET, GET, GET].concat();
    let out = run(&[Data(ToServer, &requests), Data(ToClient, responses)]);
    assert_eq!(
        out.lines(),
        ["1 GET /owa/ 1.1 -> 204 req=0 resp=0", "2 GET /owa/ 1.1 -> 304 req=0 resp=0", "3 GET /owa/ 1.1 -> 200 req=0 resp=1"]
    );
}

#[test]
fn connect_tunnel() {
    let out = run(&[
        Data(ToServer, b"CONNECT outlook.office365.com:443 HTTP/1.1\r\nHost: outlook.office365.com:443\r\n\r\n"),
        Data(ToClient, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        Data(ToServer, b"\x16\x03\x01\x00\x05hello"),
        Data(ToClient, b"\x16\x03\x03\x00\x02hi"),
        Gap(ToClient, 100),
        Data(ToServer, b"GET / HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(out.lines(), ["1 CONNECT outlook.office365.com:443 1.1 -> 200 req=0 resp=0"]);
    assert_eq!(out.tunnel, (10 + 18, 7 + 100));
    assert_eq!((out.kinds(), out.mode), (vec![], Some(ConnMode::Tunnel)));
}

#[test]
fn refused_connect_stays_http() {
    let out = run(&[
        Data(ToServer, b"CONNECT a:443 HTTP/1.1\r\n\r\n"),
        Data(ToClient, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
        Data(ToServer, b"CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Negotiate x\r\n\r\n"),
        Data(ToClient, b"HTTP/1.1 200 OK\r\n\r\nTLS"),
    ]);
    assert_eq!(out.lines(), ["1 CONNECT a:443 1.1 -> 407 req=0 resp=0", "2 CONNECT a:443 1.1 -> 200 req=0 resp=0"]);
    assert_eq!((out.tunnel, out.mode), ((0, 3), Some(ConnMode::Tunnel)));
}

#[test]
fn upgrade_101_starts_a_tunnel() {
    let request = b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x82\x04\xef\x83\xbfN";
    let out = run(&[Data(ToServer, request), Data(ToClient, response), Data(ToServer, b"\x81\x91\\\xcc")]);
    assert_eq!(out.lines(), ["1 GET /echo 1.1 -> 101 req=0 resp=0"]);
    assert_eq!((out.tunnel, out.kinds(), out.mode), ((4, 6), vec![], Some(ConnMode::Tunnel)));
}

#[test]
fn rpc_in_data_streams_until_the_connection_ends() {
    let head = b"RPC_IN_DATA /rpc/rpcproxy.dll?mbx.example.com:6001 HTTP/1.1\r\nHost: mail.example.com\r\n\
        Content-Length: 1073741824\r\n\r\n";
    let rpc = vec![0x05u8; 40_000];
    let out = run(&[Data(ToServer, head), Data(ToServer, &rpc), Data(ToServer, &rpc), Gap(ToServer, 1000), Data(ToServer, &rpc)]);
    assert_eq!(out.lines(), ["1 RPC_IN_DATA /rpc/rpcproxy.dll?mbx.example.com:6001 1.1 -> - req=121000 resp=0 incomplete"]);
    assert_eq!(out.kinds(), ["http_gap_in_message"]);
    assert_eq!(out.mode, Some(ConnMode::Tunnel));
}

#[test]
fn rpc_out_data_response_streams_too() {
    let head = b"RPC_OUT_DATA /rpc/rpcproxy.dll?mbx:6001 HTTP/1.1\r\nContent-Length: 76\r\n\r\n";
    let response = b"HTTP/1.1 200 Success\r\nContent-Length: 1073741824\r\n\r\n\x05\x00\x14\x03";
    let out = run(&[Data(ToServer, head), Data(ToServer, &[0u8; 76]), Data(ToClient, response), Data(ToClient, &[1u8; 5000])]);
    assert_eq!(out.lines(), ["1 RPC_OUT_DATA /rpc/rpcproxy.dll?mbx:6001 1.1 -> 200 req=76 resp=5004"]);
    assert_eq!(out.txs[0].ts_response_end, Some(ts(3)));
    assert_eq!((out.kinds(), out.mode), (vec![], Some(ConnMode::Tunnel)));
}

#[test]
fn truncated_body_of_other_methods_is_an_anomaly() {
    let out = corpus(corpus::CONTENT_LENGTH_OVERFLOW);
    assert_eq!(out.lines(), ["1 GET /bigfile 1.1 -> 200 req=0 resp=100"]);
    assert_eq!(out.kinds(), ["http_message_truncated"]);
}

#[test]
fn garbage_then_resync_on_the_request_side() {
    let out = corpus(corpus::BAD_REQUEST_WITH_VERSION);
    assert_eq!(out.lines(), ["1 GET /txt 1.1 -> 200 req=0 resp=14"]);
    assert_eq!(out.kinds(), ["http_garbage"]);
    assert_eq!(
        out.anomalies[0].detail,
        "5 bytes skipped before HTTP resumed; first bytes: \\xdd\\x00\\x00\\x00 "
    );
    assert_eq!(out.anomalies[0].ts, ts(0));
}

#[test]
fn garbage_then_resync_on_the_response_side() {
    let responses = b"\x00\x01binary\r\nstill not http\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let out = run(&[Data(ToServer, GET), Data(ToClient, responses)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.kinds(), ["http_garbage"]);
    assert_eq!(out.anomalies[0].detail, "26 bytes skipped before HTTP resumed; first bytes: \\x00\\x01binary\\x0d\\x0astill not http\\x0d\\x0a");
}

#[test]
fn garbage_never_resynchronised_is_reported_at_the_end() {
    let out = corpus(corpus::REQUEST_THEN_CRUFT);
    assert_eq!(out.lines(), ["1 GET / 1.1 -> 301 req=0 resp=162"]);
    assert_eq!(out.kinds(), ["http_response_without_request", "http_garbage"]);
    assert_eq!(out.anomalies[1].detail, "40 bytes skipped to the end of the connection; first bytes: T / HTTP\\x0a\\x0aT / HTTP\\x0a\\x0aT / HTTP\\x0a\\x0aT ");
}

#[test]
fn garbage_sample_stops_before_a_credential() {
    let out = run(&[Data(ToServer, b"&password=hunter2 GET / HTTP/1.1\r\n\r\n")]);
    assert_eq!(out.lines(), ["1 GET / 1.1 -> - req=0 resp=0"]);
    assert_eq!(out.anomalies[0].detail, "18 bytes skipped before HTTP resumed; first bytes: &[cut before a possible credential]");
}

#[test]
fn gap_in_body_with_known_length() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    let out = run(&[
        Data(ToServer, GET),
        Data(ToClient, head),
        Data(ToClient, &[b'a'; 300]),
        Gap(ToClient, 500),
        Data(ToClient, &[b'b'; 200]),
        Data(ToServer, GET),
        Data(ToClient, OK_HELLO),
    ]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=1000 incomplete", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.txs[0].ts_response_end, Some(ts(4)));
    assert_eq!(out.kinds(), ["http_gap_in_message"]);
}

#[test]
fn gap_beyond_the_end_of_a_body_loses_the_next_response() {
    let requests = [GET, GET, GET].concat();
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123";
    let out = run(&[
        Data(ToServer, &requests),
        Data(ToClient, first),
        Gap(ToClient, 6 + 40),
        Data(ToClient, b"ntent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz"),
    ]);
    assert_eq!(
        out.lines(),
        [
            "1 GET /owa/ 1.1 -> 200 req=0 resp=10 incomplete",
            "2 GET /owa/ 1.1 -> - req=0 resp=0 incomplete",
            "3 GET /owa/ 1.1 -> 200 req=0 resp=3"
        ]
    );
    assert_eq!(out.kinds(), ["http_gap_in_message", "http_gap_in_message"]);
}

#[test]
fn gap_where_a_response_was_due_keeps_the_pairing() {
    // Zeek's 1000-requests-one-dropped-response, in small: the first response head is missing.
    let mut events = vec![Data(ToServer, GET), Gap(ToClient, 36), Data(ToClient, b"hello")];
    for _ in 0..150 {
        events.extend([Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    }
    let out = run(&events);
    assert_eq!(out.txs.len(), 151);
    assert_eq!(summary(&out.txs[0]), "1 GET /owa/ 1.1 -> - req=0 resp=0 incomplete");
    assert!(out.txs[1..].iter().all(|tx| summary(tx).ends_with("-> 200 req=0 resp=5")));
    assert_eq!(out.kinds(), ["http_gap_in_message"]);
    assert_eq!(out.mode, Some(ConnMode::KeepAlive));
}

#[test]
fn gap_in_headers() {
    let out = run(&[
        Data(ToServer, b"GET /lost HTTP/1.1\r\nHo"),
        Gap(ToServer, 20),
        Data(ToServer, b"-Agent: x\r\n\r\n"),
        Data(ToClient, OK_HELLO),
        Data(ToServer, GET),
        Data(ToClient, b"HTTP/1.1 200 OK\r\nServ"),
        Gap(ToClient, 30),
        Data(ToClient, b"ength: 5\r\n\r\nhello"),
        Data(ToServer, GET),
        Data(ToClient, OK_HELLO),
    ]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> - req=0 resp=0 incomplete", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(
        out.kinds(),
        ["http_gap_in_message", "http_response_without_request", "http_gap_in_message"]
    );
}

#[test]
fn gap_in_chunked_framing_resynchronises() {
    let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    let out = run(&[
        Data(ToServer, GET),
        Data(ToClient, response),
        Gap(ToClient, 8),
        Data(ToClient, b"world\r\n0\r\n\r\n"),
        Data(ToServer, GET),
        Data(ToClient, OK_HELLO),
    ]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5 incomplete", "2 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.kinds(), ["http_gap_in_message"]);
}

#[test]
fn an_idle_keep_alive_connection_holds_no_buffer() {
    let mut conn = HttpConnection::new(config());
    let (mut txs, mut anomalies) = (Vec::new(), Vec::new());
    for round in 0..3 {
        // The request's head in two pieces, so that it is buffered.
        conn.data(ToServer, ts(round), &GET[..10], &mut txs, &mut anomalies);
        conn.data(ToServer, ts(round), &GET[10..], &mut txs, &mut anomalies);
        assert!(conn.held_capacity() > 0, "a request waits for its response");
        conn.data(ToClient, ts(round), OK_HELLO, &mut txs, &mut anomalies);
        assert_eq!(conn.held_capacity(), 0, "round {round}: nothing held between messages");
    }
    assert_eq!(txs.len(), 3);
    assert_eq!(anomalies, []);
}

#[test]
fn giant_header_is_cut_with_bounded_memory() {
    let mut request = b"GET /owa/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nCookie: ".to_vec();
    request.extend(std::iter::repeat_n(b'c', 100_000));
    request.extend_from_slice(b"\r\nX-After: 1\r\n\r\nabc");
    let mut conn = HttpConnection::new(config());
    let (mut txs, mut anomalies) = (Vec::new(), Vec::new());
    for piece in request.chunks(1460) {
        conn.data(ToServer, ts(0), piece, &mut txs, &mut anomalies);
        assert!(conn.held_capacity() <= 2 * 64 * 1024 + 1024, "{}", conn.held_capacity());
    }
    conn.data(ToClient, ts(1), OK_HELLO, &mut txs, &mut anomalies);
    assert_eq!(conn.held_capacity(), 0, "released after use");
    conn.finish(ts(2), &mut txs, &mut anomalies);
    assert_eq!(txs.iter().map(summary).collect::<Vec<_>>(), ["1 GET /owa/ 1.1 -> 200 req=3 resp=5"]);
    let names: Vec<&str> = txs[0].request.headers.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["Host", "Content-Length"]);
    assert_eq!(anomalies.iter().map(|a| a.kind).collect::<Vec<_>>(), ["http_header_too_large"]);
    assert_eq!(anomalies[0].detail, "request header block over 65536 bytes: the lines beyond are dropped");
}

#[test]
fn giant_request_line_is_skipped() {
    let mut request = b"GET /".to_vec();
    request.extend(std::iter::repeat_n(b'u', 70_000));
    request.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    let out = run(&[Data(ToServer, &request), Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.kinds(), ["http_header_too_large"]);
}

#[test]
fn thousand_headers_keep_the_first_max_headers() {
    let mut request = b"GET /owa/ HTTP/1.1\r\n".to_vec();
    for i in 0..1000 {
        request.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let out = run(&[Data(ToServer, &request), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    let headers = &out.txs[0].request.headers;
    assert_eq!((headers.len(), headers.iter().nth(255)), (256, Some(("X-H255", "255"))));
    assert_eq!(out.kinds(), ["http_too_many_headers"]);
    assert_eq!(out.anomalies[0].detail, "744 request headers beyond the first 256 dropped");
}

#[test]
fn response_without_request() {
    let out = run(&[Data(ToClient, OK_HELLO), Data(ToServer, GET), Data(ToClient, OK_HELLO)]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> 200 req=0 resp=5"]);
    assert_eq!(out.kinds(), ["http_response_without_request"]);
    assert_eq!(out.anomalies[0].detail, "status 200");
    let orphan_only = run(&[Data(ToClient, OK_HELLO)]);
    assert_eq!((orphan_only.txs.len(), orphan_only.mode), (0, None));
}

#[test]
fn requests_without_response_are_emitted_at_finish() {
    let out = run(&[Data(ToServer, GET), Data(ToServer, b"GET /partial HTTP/1.1\r\nHost: a\r\n")]);
    assert_eq!(out.lines(), ["1 GET /owa/ 1.1 -> - req=0 resp=0", "2 GET /partial 1.1 -> - req=0 resp=0"]);
    assert_eq!(out.txs[1].request.headers.get("host"), Some("a"));
    assert_eq!(out.kinds(), ["http_message_truncated"]);
}

#[test]
fn excessive_pipelining_gives_up_the_oldest() {
    let requests: Vec<u8> = GET.repeat(MAX_PENDING_REQUESTS + 5);
    let out = run(&[Data(ToServer, &requests)]);
    assert_eq!(out.txs.len(), MAX_PENDING_REQUESTS + 5);
    assert!(out.txs.windows(2).all(|w| w[0].depth + 1 == w[1].depth));
    assert_eq!(out.kinds(), ["http_excessive_pipelining"]);
}

#[test]
fn http_09() {
    let out = corpus(corpus::HTTP09_GET);
    assert_eq!(out.lines(), ["1 GET /zeek.html 0.9 -> 0 req=0 resp=51"]);
    let response = out.txs[0].response.as_ref().unwrap();
    assert_eq!((&*response.version, response.ts), ("0.9", ts(1)));
    assert_eq!((out.kinds(), out.mode), (vec![], Some(ConnMode::Close)));
    assert_eq!(corpus(corpus::HTTP09_POST).lines(), ["1 POST /zeek.html 0.9 -> 0 req=0 resp=11"]);
    let out = corpus(corpus::NO_VERSION);
    assert_eq!(
        out.lines(),
        ["1 GET /cgi-bin/formmail.pl?email=f2@aol.com&subject=www-nrg.ee/cgi-bin/formmail.pl\
          &recipient=unknownz@buy2save.com&msg=w00t 0.9 -> 0 req=0 resp=323"]
    );
}

#[test]
fn http_09_like_zeek_in_confusing_cases() {
    // A raw answer to an HTTP/1.1 request is not HTTP: no response.
    let out = corpus(corpus::CURL_HTTP09);
    assert_eq!(out.lines(), ["1 GET /zeek.html 1.1 -> - req=0 resp=0"]);
    assert_eq!(out.kinds(), ["http_garbage"]);
    // A response before any request, then an HTTP/0.9 request: its answer is all that follows.
    let out = corpus(corpus::HTTP09_CONTENT_LENGTH_CONFUSION);
    assert_eq!(out.lines(), ["1 GET / 0.9 -> 0 req=0 resp=19"]);
    assert_eq!(out.kinds(), ["http_response_without_request"]);
}

/// The 261 variants: request smuggling attempts; Zeek sees both requests in each.
#[test]
fn zeek_261_smuggling_variants() {
    // (stream, Zeek's summary line, the smuggled URI, anomalies)
    type Case = (&'static [(Direction, &'static [u8])], &'static str, &'static str, &'static [&'static str]);
    let cases: [Case; 8] = [
        (corpus::CHUNK_2POW64_OVERFLOW, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-chunk-2pow64", &["http_chunk_size_overflow"]),
        (corpus::CL_UINT64MAX, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-cl-uint64max", &["http_bad_content_length"]),
        (corpus::CL_NEGATIVE, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-cl-negative", &["http_bad_content_length"]),
        (corpus::TE_CL_DESYNC, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-te-cl", &["http_content_length_and_chunked"]),
        (corpus::EXPECT_100_CL0, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-expect-100", &[]),
        (corpus::CL_LEADING_ZEROS, "1 POST / 1.1 -> - req=50 resp=0", "/smuggled-leading-zeros", &[]),
        (corpus::TE_OBS_FOLD, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-obsfold", &["http_obsolete_line_folding"]),
        (corpus::MULTI_VALUE_TE, "1 POST / 1.1 -> - req=0 resp=0", "/smuggled-multi-te", &["http_transfer_encoding_unusual"]),
    ];
    for (segments, first, smuggled, kinds) in cases {
        let out = corpus(segments);
        assert_eq!(out.lines(), [first.to_owned(), format!("2 GET {smuggled} 1.1 -> - req=0 resp=0")], "{smuggled}");
        assert_eq!(out.kinds(), kinds, "{smuggled}");
        assert_eq!(out.mode, Some(ConnMode::Pipelining), "{smuggled}");
    }
}

#[test]
fn zeek_corpus_exchanges() {
    let out = corpus(corpus::NO_URI);
    assert_eq!(out.lines(), ["1 GET  1.1 -> 200 req=0 resp=4705"]);
    assert_eq!(out.kinds(), ["http_malformed_request_line"]);
    assert_eq!(out.anomalies[0].detail, "missing URI");

    let out = corpus(corpus::INTERLEAVED_ENTITY);
    assert_eq!(out.lines(), ["1 POST / 1.1 -> 200 req=10 resp=3"]);
    assert_eq!(out.kinds(), Vec::<&str>::new());

    let out = corpus(corpus::SMUGGLE);
    assert_eq!(out.lines(), ["1 POST /first 1.1 -> 200 req=80 resp=35", "2 POST /smuggle-this 1.1 -> 200 req=0 resp=35"]);

    let out = corpus(corpus::CONTENT_LENGTH_IN_BODY);
    assert_eq!(out.lines(), ["1 POST /first 1.1 -> 200 req=95 resp=35", "2 POST /smuggle-this 1.1 -> 200 req=0 resp=35"]);
    assert_eq!(out.mode, Some(ConnMode::KeepAlive));

    let out = corpus(corpus::DESYNC_RESPONSES);
    assert_eq!(out.lines(), (1..=5).map(|d| format!("{d} GET / 1.1 -> 200 req=0 resp=19")).collect::<Vec<_>>());
    assert_eq!(out.kinds(), ["http_response_without_request", "http_response_without_request"]);

    let out = corpus(corpus::CONNECT_WITH_SMTP);
    assert_eq!(out.lines(), ["1 CONNECT mailin03.sul.t-online.de:25 / 1.0 -> 200 req=0 resp=0"]);
    assert_eq!(out.kinds(), ["http_malformed_request_line", "http_invalid_header_line"]);
    assert_eq!((out.tunnel, out.mode), ((20 + 40, 69 + 9), Some(ConnMode::Tunnel)));
}

#[test]
fn every_split_of_corpus_exchanges_gives_the_same_result() {
    for segments in [corpus::NO_URI, corpus::INTERLEAVED_ENTITY, corpus::DESYNC_RESPONSES, corpus::TE_OBS_FOLD,
        corpus::BAD_REQUEST_WITH_VERSION, corpus::HTTP09_CONTENT_LENGTH_CONFUSION, corpus::CONNECT_WITH_SMTP]
    {
        let events: Vec<Ev> = segments.iter().map(|&(dir, bytes)| Data(dir, bytes)).collect();
        let whole = run(&events);
        assert_eq!(run_split(config(), &events, &mut |len| vec![1; len]), whole);
        let mut rng = Rng(7);
        for _ in 0..20 {
            assert_eq!(run_split(config(), &events, &mut |len| pieces(&mut rng, len)), whole);
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic_or_hang() {
    let mut rng = Rng(42);
    let alphabet = b"GET POST HTTP/1.1 \r\n:0123456789abcdef;Content-Length: Transfer-Encoding: chunked\x00\xff";
    for _ in 0..300 {
        let events: Vec<(Direction, Vec<u8>)> = (0..8)
            .map(|i| {
                let dir = if i % 2 == 0 { ToServer } else { ToClient };
                let len = rng.below(300);
                (dir, (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect())
            })
            .collect();
        let evs: Vec<Ev> = events.iter().map(|(dir, bytes)| Data(*dir, bytes.as_slice())).collect();
        let small = HttpConfig { max_header_bytes: 40, max_headers: 2 };
        let whole = run_with(small.clone(), &evs);
        assert_eq!(run_split(small, &evs, &mut |len| vec![1; len]), whole);
    }
}

#[test]
fn headers_share_one_buffer_and_look_up_by_any_case() {
    let mut headers = Headers::with_capacity(4, 64);
    headers.push("Host", b"mail.example.com");
    headers.push("Cookie", b"a=1");
    headers.push("X-Bad", b"caf\xe9");
    headers.push("cookie", b"b=2");
    headers.push("Empty", b"");
    headers.continue_last(b"folded");
    headers.continue_last(b"twice");
    assert_eq!(headers.len(), 5);
    assert_eq!(headers.get("HOST"), Some("mail.example.com"));
    assert_eq!(headers.get_all("COOKIE").collect::<Vec<_>>(), ["a=1", "b=2"]);
    // A value that is not UTF-8 is replaced on its own; the next header is intact.
    assert_eq!(headers.get("x-bad"), Some("caf\u{fffd}"));
    assert_eq!(headers.get("empty"), Some("folded twice"));
    assert_eq!(headers.get("missing"), None);
    assert_eq!(format!("{headers:?}").matches("\"Cookie\"").count(), 1);
    let rebuilt: Headers = headers.iter().collect();
    assert_eq!(rebuilt, headers);
    // Continuing nothing does nothing.
    let mut none = Headers::default();
    none.continue_last(b"x");
    assert!(none.is_empty());
    assert_eq!(none, Headers::default());
}

#[test]
fn header_names_alike_in_their_first_bytes_are_told_apart() {
    let long_a = format!("X-{}", "a".repeat(300));
    let long_b = format!("X-{}b", "a".repeat(299));
    let mut headers = Headers::default();
    for (name, value) in [("X-Forwarded-Fox", "fox"), ("X-Forwarded-For", "for"), ("USER-agent", "ua"), ("Host2", "h2"), ("host", "h")] {
        headers.push(name, value.as_bytes());
    }
    headers.push(&long_a, b"a");
    headers.push(&long_b, b"b");
    assert_eq!(headers.get("x-forwarded-for"), Some("for"));
    assert_eq!(headers.get("X-FORWARDED-FOX"), Some("fox"));
    assert_eq!(headers.get("X-Forwarded-Fo"), None);
    assert_eq!(headers.get("user-AGENT"), Some("ua"));
    assert_eq!(headers.get("Host"), Some("h"));
    assert_eq!(headers.get("host2"), Some("h2"));
    assert_eq!(headers.get("hos"), None);
    // Names past 255 bytes share a key's length byte: compared whole.
    assert_eq!(headers.get(&long_b.to_uppercase()), Some("b"));
    assert_eq!(headers.get(&long_a), Some("a"));
}

#[test]
fn headers_over_a_block_point_into_one_copy_of_it() {
    let block: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\r\n";
    let part = |from: usize, len: usize| &block[from..from + len];
    let parsed = [(part(16, 4), part(22, 1)), (part(25, 8), part(35, 3))];
    let mut headers = Headers::over_block(block, parsed.into_iter()).expect("UTF-8 block");
    assert_eq!(headers.iter().collect::<Vec<_>>(), [("Host", "a"), ("X-Folded", "one")]);
    assert_eq!(headers, [("Host", "a"), ("X-Folded", "one")].into_iter().collect());
    // Growing a value that is not at the end of the buffer moves it there first.
    headers.continue_last(b"two");
    headers.push("Next", b"3");
    assert_eq!(headers.iter().collect::<Vec<_>>(), [("Host", "a"), ("X-Folded", "one two"), ("Next", "3")]);

    let elsewhere: &[u8] = b"Host";
    assert!(Headers::over_block(block, [(elsewhere, part(22, 1))].into_iter()).is_none());
    assert!(Headers::over_block(b"X: caf\xe9\r\n", std::iter::empty()).is_none());
    let accented = "X: é\r\n".as_bytes();
    let inside_a_char = (&accented[0..1], &accented[3..4]);
    assert!(Headers::over_block(accented, [inside_a_char].into_iter()).is_none());
}

#[test]
fn look_ups_tell_names_that_share_their_first_bytes_apart() {
    let headers: Headers =
        [("X-Forwarded-For", "a"), ("X-Forwarded-Host", "b"), ("x-forwarded-for", "c"), ("X-Forwarde", "d")].into_iter().collect();
    assert_eq!(headers.get_all("X-FORWARDED-FOR").collect::<Vec<_>>(), ["a", "c"]);
    assert_eq!(headers.get("x-forwarded-host"), Some("b"));
    assert_eq!(headers.get("X-Forwarde"), Some("d"));
    assert_eq!(headers.get("X-Forwarded"), None);
    let long = "X".repeat(300);
    let headers: Headers = [(long.as_str(), "1"), (&long[..299], "2")].into_iter().collect();
    assert_eq!(headers.get(&long.to_lowercase()), Some("1"));
    assert_eq!(headers.get(&long[..299]), Some("2"));
}
