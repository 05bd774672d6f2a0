//! The audit end to end on hand-made transactions: one test per verdict kind and per rule that
//! decides a session or a server.

use std::convert::Infallible;
use std::net::SocketAddr;

use super::*;
use crate::evidence::{EvidenceConfig, EvidenceExtractor};
use crate::http::{Headers, RequestHead, ResponseHead};
use crate::reassembly::{ConnId, ConnectionRecord};

/// Every row the audit writes, owned.
#[derive(Default)]
struct Collect {
    /// (uri, client ip:port, attribution, conn id)
    txs: Vec<(String, String, Attribution, ConnId)>,
    tls: Vec<(String, Attribution)>,
    pairs: Vec<OaPairRow>,
    sessions: Vec<SessionRow>,
    moves: Vec<MoveRow>,
    clients: Vec<ClientRow>,
    servers: Vec<ServerRow>,
    /// Rows of each kind (transactions, TLS, pairs, sessions) when the audit said the streamed
    /// rows were done.
    streamed_done_at: Option<[usize; 4]>,
}

impl AuditSink for Collect {
    type Error = Infallible;

    fn transaction(&mut self, row: &TransactionRow<'_>) -> Result<(), Infallible> {
        let client = format!("{}:{}", row.meta.client_ip, row.meta.client_port);
        self.txs.push((row.tx.request.uri.clone(), client, row.attribution.clone(), row.meta.conn_id));
        Ok(())
    }
    fn tls(&mut self, row: &TlsRow<'_>) -> Result<(), Infallible> {
        self.tls.push((format!("{}:{}", row.meta.client_ip, row.meta.client_port), row.attribution.clone()));
        Ok(())
    }
    fn oa_pair(&mut self, row: &OaPairRow) -> Result<(), Infallible> {
        self.pairs.push(row.clone());
        Ok(())
    }
    fn streamed_rows_done(&mut self) -> Result<(), Infallible> {
        assert_eq!(self.streamed_done_at, None, "said once");
        self.streamed_done_at = Some([self.txs.len(), self.tls.len(), self.pairs.len(), self.sessions.len()]);
        Ok(())
    }
    fn session(&mut self, row: &SessionRow) -> Result<(), Infallible> {
        self.sessions.push(row.clone());
        Ok(())
    }
    fn session_move(&mut self, row: &MoveRow) -> Result<(), Infallible> {
        self.moves.push(row.clone());
        Ok(())
    }
    fn client(&mut self, row: &ClientRow) -> Result<(), Infallible> {
        self.clients.push(row.clone());
        Ok(())
    }
    fn server(&mut self, row: &ServerRow) -> Result<(), Infallible> {
        self.servers.push(row.clone());
        Ok(())
    }
}

impl Collect {
    fn session(&self, session_ref: Option<SessionRef>) -> &SessionRow {
        self.sessions.iter().find(|s| Some(s.session_ref) == session_ref).expect("the session exists")
    }

    fn attribution(&self, uri: &str) -> &Attribution {
        &self.txs.iter().find(|(u, ..)| u == uri).expect("the transaction exists").2
    }
}

const T0: i64 = 1_700_000_000_000;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_nanos((T0 + millis) * 1_000_000)
}

fn headers(list: &[(&str, &str)]) -> Headers {
    list.iter().copied().collect()
}

/// One request and its response, on its own connection.
struct Exchange<'a> {
    client: &'a str,
    server: &'a str,
    millis: i64,
    method: &'a str,
    uri: &'a str,
    request: &'a [(&'a str, &'a str)],
    status: Option<u16>,
    /// Milliseconds from the request to the response.
    latency: i64,
    response: &'a [(&'a str, &'a str)],
}

impl Default for Exchange<'_> {
    fn default() -> Self {
        Exchange { client: "192.0.2.1:40000", server: "10.0.0.11:80", millis: 0, method: "GET", uri: "/owa/", request: &[], status: Some(200), latency: 1, response: &[] }
    }
}

struct Harness {
    auditor: Auditor,
    sink: Collect,
    extractor: EvidenceExtractor,
}

impl Harness {
    fn new(config: AuditConfig) -> Self {
        Harness { auditor: Auditor::new(config), sink: Collect::default(), extractor: EvidenceExtractor::new(&EvidenceConfig::default()) }
    }

    fn send(&mut self, e: Exchange<'_>) {
        let client: SocketAddr = e.client.parse().unwrap();
        let server: SocketAddr = e.server.parse().unwrap();
        let meta = ConnMeta::new(at(e.millis), (client.ip(), client.port()), (server.ip(), server.port()));
        let tx = Transaction {
            depth: 1,
            request: RequestHead { ts: at(e.millis), method: e.method.into(), uri: e.uri.into(), version: "1.1".into(), headers: headers(e.request) },
            response: e.status.map(|status| ResponseHead { ts: at(e.millis + e.latency), version: "1.1".into(), status, reason: String::new(), headers: headers(e.response) }),
            request_body_len: 10,
            response_body_len: 100,
            ts_response_end: e.status.map(|_| at(e.millis + e.latency + 1)),
            incomplete: false,
        };
        let evidence = self.extractor.extract(&tx);
        self.auditor.transaction(&meta, tx, evidence, &mut self.sink).unwrap();
    }

    fn connection(&mut self, record: &ConnectionRecord) {
        self.auditor.connection(record, false);
    }

    /// The capture clock reaches `millis`.
    fn advance(&mut self, millis: i64) {
        self.auditor.advance(at(millis), &mut self.sink).unwrap();
    }

    /// The audit's end. Every test checks that the streamed rows were said done after the
    /// last of them and before the first row judged at the end (sessions that ended idle are
    /// judged before).
    fn finish(self) -> (Collect, AuditSummary) {
        let mut sink = self.sink;
        let ended_idle = sink.sessions.len();
        let summary = self.auditor.finish(&mut sink).unwrap();
        let streamed = [sink.txs.len(), sink.tls.len(), sink.pairs.len(), ended_idle];
        assert_eq!(sink.streamed_done_at, Some(streamed), "streamed rows said done at their end");
        (sink, summary)
    }
}

/// An OWA request with `cadata` answered by `cas` (X-FEServer) at `server`.
fn owa(h: &mut Harness, client: &str, server: &str, millis: i64, uri: &str, cadata: &str, cas: &str) {
    let cookie = format!("cadata={cadata}; sessionid=s-{cadata}");
    h.send(Exchange {
        client,
        server,
        millis,
        uri,
        request: &[("Cookie", &cookie), ("User-Agent", "Mozilla")],
        response: &[("X-FEServer", cas)],
        ..Exchange::default()
    });
}

fn refused(server: &str, millis: i64) -> ConnectionRecord {
    let server: SocketAddr = server.parse().unwrap();
    let meta = ConnMeta::new(at(millis), ("10.0.0.2".parse().unwrap(), 50_000), (server.ip(), server.port()));
    ConnectionRecord {
        meta,
        ts_last: at(millis),
        start: ConnStart::SynOnly,
        end: ConnEnd::Reset,
        closed_by: Some(Direction::ToClient),
        to_server: Default::default(),
        to_client: Default::default(),
    }
}

#[test]
fn sticky_session() {
    let mut h = Harness::new(AuditConfig::default());
    for (i, uri) in ["/owa/a", "/owa/b", "/ecp/c"].into_iter().enumerate() {
        owa(&mut h, "192.0.2.1:40000", "10.0.0.11:80", 100 * i as i64, uri, "A", "CAS01");
    }
    let (sink, summary) = h.finish();
    assert_eq!(sink.sessions.len(), 1);
    let s = &sink.sessions[0];
    assert_eq!((s.app, s.key_kind, s.verdict, s.transactions, s.servers), ("owa", "cadata", "sticky", 3, 1));
    assert_eq!((s.server_list.as_str(), s.severity, s.moves), ("CAS01:3", "none", 0));
    assert!(sink.txs.iter().all(|(_, _, a, _)| a.server.as_deref() == Some("CAS01") && a.session_ref == Some(s.session_ref)));
    assert_eq!(sink.txs[0].2.server_source, Some(ServerSource::Header));
    let owa = &summary.apps[&AppFamily::Owa];
    assert_eq!((owa.sessions, owa.sticky, owa.sticky_share()), (1, 1, Some(1.0)));
}

#[test]
fn moved_unexplained_is_a_failure_for_owa() {
    let mut h = Harness::new(AuditConfig::default());
    owa(&mut h, "192.0.2.1:40000", "10.0.0.11:80", 0, "/owa/a", "A", "CAS01");
    owa(&mut h, "192.0.2.1:40001", "10.0.0.12:80", 500, "/owa/b", "A", "CAS02");
    owa(&mut h, "192.0.2.1:40002", "10.0.0.11:80", 900, "/owa/c", "A", "CAS01");
    let (sink, summary) = h.finish();
    let s = &sink.sessions[0];
    assert_eq!((s.verdict, s.moves, s.unexplained_moves, s.severity), ("moved", 2, 2, "failure"));
    assert_eq!(s.server_list, "CAS01:2,CAS02:1");
    let moves: Vec<_> = sink.moves.iter().map(|m| (m.from_server.as_str(), m.to_server.as_str(), m.explanation, m.severity)).collect();
    assert_eq!(moves, vec![("CAS01", "CAS02", "unexplained", "failure"), ("CAS02", "CAS01", "unexplained", "failure")]);
    assert_eq!(sink.moves[0].ts, at(500));
    assert_eq!(summary.apps[&AppFamily::Owa].failure_sessions, 1);
}

#[test]
fn moved_by_failover_is_explained() {
    let mut h = Harness::new(AuditConfig::default());
    owa(&mut h, "192.0.2.1:40000", "10.0.0.12:80", 0, "/owa/a", "A", "CAS02");
    owa(&mut h, "192.0.2.1:40000", "10.0.0.12:80", 1000, "/owa/b", "A", "CAS02");
    // CAS02's address refuses connections (the balancer's retries and checks), then the
    // session reaches CAS01. The refused address is CAS02's: learned from its responses.
    h.connection(&refused("10.0.0.12:80", 5200));
    h.connection(&refused("10.0.0.12:80", 5300));
    owa(&mut h, "192.0.2.1:40001", "10.0.0.11:80", 5500, "/owa/c", "A", "CAS01");
    let (sink, summary) = h.finish();
    let s = &sink.sessions[0];
    assert_eq!((s.verdict, s.moves, s.failover_moves, s.unexplained_moves, s.severity), ("moved", 1, 1, 0, "none"));
    let m = &sink.moves[0];
    assert_eq!((m.explanation, m.severity), ("failover", "none"));
    assert!(m.evidence.starts_with("CAS02: 2 refused connections"), "{}", m.evidence);
    let cas02 = sink.servers.iter().find(|r| r.server == "CAS02").unwrap();
    assert_eq!((cas02.totals.refused, cas02.addresses.as_str(), cas02.moves_away), (2, "10.0.0.12:80", 1));
    assert_eq!(summary.apps[&AppFamily::Owa].failover_moves, 1);
}

#[test]
fn drain_is_told_from_failover() {
    let mut h = Harness::new(AuditConfig::default());
    let cas = [("10.0.0.11:80", "CAS01"), ("10.0.0.12:80", "CAS02"), ("10.0.0.13:80", "CAS03")];
    // An ActiveSync phone (no cookie: balanced anew each time) first on CAS02.
    let phone = |h: &mut Harness, millis: i64, (server, name): (&str, &str)| {
        h.send(Exchange {
            client: "198.51.100.7:1000",
            server,
            millis,
            method: "POST",
            uri: "/Microsoft-Server-ActiveSync?Cmd=Sync&User=u9&DeviceId=D9&DeviceType=iPhone",
            response: &[("X-FEServer", name)],
            ..Exchange::default()
        })
    };
    phone(&mut h, 0, cas[1]);
    // Until 3 s, unpinned requests reach every server.
    for i in 0..9 {
        let client = format!("203.0.113.{i}:2000");
        h.send(Exchange { client: &client, server: cas[i % 3].0, millis: 300 * i as i64, response: &[("X-FEServer", cas[i % 3].1)], ..Exchange::default() });
    }
    // Then CAS02 takes only requests pinned to it by its cookie; the others take the new ones.
    for i in 0..12 {
        let millis = 3000 + 400 * i as i64;
        h.send(Exchange {
            client: "192.0.2.50:3000",
            server: cas[1].0,
            millis,
            uri: "/owa/pinned",
            request: &[("Cookie", "SERVERID=CAS02; cadata=P")],
            response: &[("X-FEServer", "CAS02")],
            ..Exchange::default()
        });
        let client = format!("203.0.113.{}:2000", 100 + i);
        let (server, name) = if i % 2 == 0 { cas[0] } else { cas[2] };
        h.send(Exchange { client: &client, server, millis: millis + 100, response: &[("X-FEServer", name)], ..Exchange::default() });
    }
    phone(&mut h, 6000, cas[0]);
    let (sink, summary) = h.finish();
    let cas02 = sink.servers.iter().find(|r| r.server == "CAS02").unwrap();
    assert_eq!(cas02.drained_from, Some(at(2100)), "{:?}", cas02);
    assert_eq!(summary.servers.iter().find(|s| s.name == "CAS02").unwrap().drained_from, Some(at(2100)));
    let m = sink.moves.iter().find(|m| m.app == "activesync").unwrap();
    assert_eq!((m.from_server.as_str(), m.to_server.as_str(), m.explanation), ("CAS02", "CAS01", "drain"));
    let pinned = sink.sessions.iter().find(|s| s.key_kind == "cadata").unwrap();
    assert_eq!(pinned.verdict, "sticky");
    assert!(sink.servers.iter().filter(|r| r.server != "CAS02").all(|r| r.drained_from.is_none()));
}

#[test]
fn outlook_anywhere_pair_split() {
    let names = ServerNames::parse("10.0.0.11 CAS01\n10.0.0.12 CAS02\n").unwrap();
    let mut h = Harness::new(AuditConfig { server_names: names, ..AuditConfig::default() });
    let auth = [("Authorization", "Basic Q09OVE9TT1x1c2VyMzpQQHNz")]; // CONTOSO\user3
    let uri = "/rpc/rpcproxy.dll?cas01.contoso.test:6001";
    h.send(Exchange { client: "192.0.2.3:1000", server: "10.0.0.11:80", millis: 0, method: "RPC_IN_DATA", uri, request: &auth, status: None, ..Exchange::default() });
    h.send(Exchange { client: "192.0.2.3:1001", server: "10.0.0.12:80", millis: 20, method: "RPC_OUT_DATA", uri, request: &auth, ..Exchange::default() });
    // A joined pair, later, on one server.
    h.send(Exchange { client: "192.0.2.3:1002", server: "10.0.0.11:80", millis: 9000, method: "RPC_IN_DATA", uri, request: &auth, status: None, ..Exchange::default() });
    h.send(Exchange { client: "192.0.2.3:1003", server: "10.0.0.11:80", millis: 9010, method: "RPC_OUT_DATA", uri, request: &auth, ..Exchange::default() });
    let (sink, summary) = h.finish();
    let pairs: Vec<_> = sink.pairs.iter().map(|p| (p.server_in.as_deref(), p.server_out.as_deref(), p.split, p.user.as_deref())).collect();
    assert_eq!(pairs, vec![(Some("CAS01"), Some("CAS02"), true, Some("user3")), (Some("CAS01"), Some("CAS01"), false, Some("user3"))]);
    assert_eq!(sink.pairs[0].rpc_target, "cas01.contoso.test:6001");
    assert_eq!((summary.oa_pairs, summary.oa_split_pairs, summary.oa_unpaired), (2, 1, 0));
    assert_eq!(sink.attribution(uri).server_source, Some(ServerSource::Names));
}

#[test]
fn nat_hotspot_flagged() {
    let mut h = Harness::new(AuditConfig::default());
    let users = ["Q09OVE9TT1x1MTp4", "Q09OVE9TT1x1Mjp4", "Q09OVE9TT1x1Mzp4", "Q09OVE9TT1x1NDp4"]; // CONTOSO\u1..u4 : x
    let mut millis = 0;
    for user in users {
        let auth = format!("Basic {user}");
        for _ in 0..10 {
            millis += 10;
            h.send(Exchange { client: "192.0.2.1:4000", server: "10.0.0.11:80", millis, method: "POST", uri: "/EWS/Exchange.asmx", request: &[("Authorization", &auth)], response: &[("X-FEServer", "CAS01")], ..Exchange::default() });
        }
    }
    for (i, (server, name)) in [("10.0.0.12:80", "CAS02"), ("10.0.0.13:80", "CAS03"), ("10.0.0.11:80", "CAS01")].into_iter().enumerate() {
        let client = format!("198.51.100.{i}:5000");
        for _ in 0..10 {
            millis += 10;
            h.send(Exchange { client: &client, server, millis, response: &[("X-FEServer", name)], ..Exchange::default() });
        }
    }
    let (sink, summary) = h.finish();
    let nat = sink.clients.iter().find(|c| c.client_ip == "192.0.2.1").unwrap();
    assert!(nat.hotspot);
    assert_eq!((nat.users, nat.user_list.as_str(), nat.top_server.as_deref()), (4, "u1,u2,u3,u4", Some("CAS01")));
    assert_eq!(nat.top_server_share, Some(0.8));
    assert_eq!(nat.hotspot_reason.as_deref(), Some("4 users; CAS01 takes 71% of all transactions (even split 33%), 80% of them from this address"));
    assert_eq!(sink.clients.iter().filter(|c| c.hotspot).count(), 1);
    assert_eq!(summary.hotspots, 1);
    assert_eq!(summary.max_client_share, Some(("192.0.2.1".to_owned(), "CAS01".to_owned(), 0.8)));
    let cas01 = sink.servers.iter().find(|r| r.server == "CAS01").unwrap();
    assert_eq!((cas01.totals.transactions, cas01.share), (50, 50.0 / 70.0));
}

#[test]
fn logon_post_joins_the_session_its_response_created() {
    let mut h = Harness::new(AuditConfig::default());
    let set = [("Set-Cookie", "cadata=\"NEW\"; path=/"), ("Set-Cookie", "sessionid=abc; path=/"), ("Set-Cookie", "logondata=acc=0&lgn=CONTOSO\\user4; path=/"), ("X-FEServer", "CAS01")];
    h.send(Exchange { uri: "/owa/", status: Some(302), response: &[("X-FEServer", "CAS01")], ..Exchange::default() });
    h.send(Exchange { millis: 100, method: "POST", uri: "/owa/auth.owa", request: &[("Cookie", "cookieTest=1")], status: Some(302), response: &set, ..Exchange::default() });
    h.send(Exchange { millis: 200, uri: "/owa/?ae=Folder", request: &[("Cookie", "cadata=\"NEW\"; sessionid=abc")], response: &[("X-FEServer", "CAS01")], ..Exchange::default() });
    let (sink, _) = h.finish();
    let logon = sink.attribution("/owa/auth.owa").session_ref;
    assert_eq!(logon, sink.attribution("/owa/?ae=Folder").session_ref);
    assert_ne!(logon, sink.attribution("/owa/").session_ref);
    let session = sink.session(logon);
    assert_eq!((session.key_kind, session.transactions, session.user.as_deref()), ("cadata", 2, Some("user4")));
    assert_eq!(session.key, crate::fingerprint::token_digest("\"NEW\"".trim_matches('"')));
    assert_eq!(sink.session(sink.attribution("/owa/").session_ref).key_kind, "source");
}

#[test]
fn key_priority_is_the_users_choice() {
    let send_two_logons = |h: &mut Harness| {
        owa(h, "192.0.2.1:40000", "10.0.0.11:80", 0, "/owa/a", "A", "CAS01");
        owa(h, "192.0.2.1:40001", "10.0.0.12:80", 100, "/owa/b", "B", "CAS02");
    };
    let mut h = Harness::new(AuditConfig::default());
    send_two_logons(&mut h);
    let (sink, _) = h.finish();
    assert_eq!(sink.sessions.iter().map(|s| (s.key_kind, s.verdict)).collect::<Vec<_>>(), vec![("cadata", "single"), ("cadata", "single")]);

    let mut h = Harness::new(AuditConfig { keys: Some(vec![KeyKind::Source]), ..AuditConfig::default() });
    send_two_logons(&mut h);
    let (sink, _) = h.finish();
    let s: Vec<_> = sink.sessions.iter().map(|s| (s.key_kind, s.key.as_str(), s.verdict)).collect();
    assert_eq!(s, vec![("source", "192.0.2.1", "moved")]);

    // A list without any key the transactions carry leaves them out of sessions.
    let mut h = Harness::new(AuditConfig { keys: Some(vec![KeyKind::Device]), ..AuditConfig::default() });
    send_two_logons(&mut h);
    let (sink, summary) = h.finish();
    assert!(sink.sessions.is_empty());
    assert_eq!(summary.unkeyed_transactions, 2);
}

#[test]
fn stitched_pair_takes_the_server_side_server() {
    let names = ServerNames::parse("10.0.0.11 CAS01\n10.0.0.100:443 vip\n").unwrap();
    let mut h = Harness::new(AuditConfig { server_names: names, ..AuditConfig::default() });
    let request = [("Host", "mail.contoso.com"), ("User-Agent", "MacOutlook"), ("Authorization", "Basic Q09OVE9TT1x1Nzp4")];
    let mut back_request = request.to_vec();
    back_request.push(("X-Forwarded-For", "192.0.2.7"));
    for i in 0..2 {
        let millis = 1000 * i;
        // Exchange 2010 sends no X-FEServer: only the server side's address names the CAS.
        h.send(Exchange { client: "10.0.0.2:6000", server: "10.0.0.11:80", millis: millis + 1, method: "POST", uri: "/EWS/Exchange.asmx", request: &back_request, ..Exchange::default() });
        h.send(Exchange { client: "192.0.2.7:40000", server: "10.0.0.100:443", millis, method: "POST", uri: "/EWS/Exchange.asmx", request: &request, latency: 3, ..Exchange::default() });
    }
    let (sink, summary) = h.finish();
    assert_eq!(summary.stitch.http_pairs, 2);
    assert_eq!(sink.txs.len(), 4);
    let front: Vec<_> = sink.txs.iter().filter(|(_, c, ..)| c.starts_with("192.0.2.7")).collect();
    let back: Vec<_> = sink.txs.iter().filter(|(_, c, ..)| c.starts_with("10.0.0.2")).collect();
    for (f, b) in front.iter().zip(&back) {
        assert_eq!((f.2.server.as_deref(), f.2.server_source), (Some("CAS01"), Some(ServerSource::Names)));
        assert_eq!(f.2.stitched_conn_id, Some(b.3));
        assert_eq!(b.2.stitched_conn_id, Some(f.3));
        assert_eq!(b.2.session_ref, f.2.session_ref);
    }
    // One session, from the real client, counted once.
    let s: Vec<_> = sink.sessions.iter().map(|s| (s.app, s.key_kind, s.key.as_str(), s.transactions, s.client_ip_list.as_str())).collect();
    assert_eq!(s, vec![("ews", "user", "u7", 2, "192.0.2.7")]);
    assert_eq!(summary.proxies_or_vips(), (vec!["10.0.0.100:443".to_owned()], 2));
}

impl AuditSummary {
    /// The VIPs, and the stitched count (test shorthand).
    fn proxies_or_vips(&self) -> (Vec<String>, u64) {
        (self.vips.clone(), self.stitched)
    }
}

#[test]
fn health_probes_are_no_sessions() {
    let mut h = Harness::new(AuditConfig::default());
    for i in 0..3 {
        h.send(Exchange { client: "10.0.0.2:7000", millis: 500 * i, uri: "/owa/healthcheck.htm", status: Some(if i == 2 { 503 } else { 200 }), response: &[("X-FEServer", "CAS01")], ..Exchange::default() });
    }
    let (sink, summary) = h.finish();
    assert!(sink.sessions.is_empty());
    assert!(sink.txs.iter().all(|(_, _, a, _)| a.session_ref.is_none() && a.server.as_deref() == Some("CAS01")));
    let cas01 = &sink.servers[0];
    assert_eq!((cas01.totals.probes, cas01.totals.probes_failed, cas01.totals.transactions), (3, 1, 0));
    assert_eq!(summary.probes, 3);
    assert!(sink.clients.is_empty());
}

#[test]
fn tls_resumption_shows_stickiness_without_server_names() {
    // The client side of a TLS passthrough: the only address is the VIP, which names no server.
    let names = ServerNames::parse("10.0.0.100:443 vip\n").unwrap();
    let mut h = Harness::new(AuditConfig { server_names: names, ..AuditConfig::default() });
    let connection = |h: &mut Harness, port: u16, millis: i64, offered: Option<&str>, given: &str, resumed: bool| {
        let meta = ConnMeta::new(at(millis), ("192.0.2.9".parse().unwrap(), port), ("10.0.0.100".parse().unwrap(), 443));
        let record = ConnectionRecord {
            meta,
            ts_last: at(millis + 50),
            start: ConnStart::Handshake,
            end: ConnEnd::Fin,
            closed_by: Some(Direction::ToServer),
            to_server: Default::default(),
            to_client: Default::default(),
        };
        let tls = TlsRecord {
            version: Some("TLSv12".into()),
            client_session_id: offered.map(str::to_owned),
            server_session_id: Some(given.into()),
            resumed,
            client_random: Some(format!("random-{port}")),
            ..TlsRecord::default()
        };
        h.auditor.tls_connection(&record, tls, &mut h.sink).unwrap();
    };
    connection(&mut h, 1000, 0, None, "AAAA", false);
    connection(&mut h, 1001, 1000, Some("AAAA"), "AAAA", true);
    connection(&mut h, 1002, 2000, Some("AAAA"), "AAAA", true);
    // A client that never resumes: a new lineage each time.
    connection(&mut h, 1003, 2500, None, "BBBB", false);
    let (sink, summary) = h.finish();
    let s: Vec<_> = sink.sessions.iter().map(|s| (s.app, s.key_kind, s.key.as_str(), s.transactions, s.verdict, s.verdict_basis)).collect();
    assert_eq!(s, vec![("tls", "tls", "AAAA", 3, "sticky", "tls_resumption"), ("tls", "tls", "BBBB", 1, "single", "")]);
    assert!(sink.tls.iter().all(|(_, a)| a.server.is_none()));
    assert_eq!(summary.tls_connections, 4);
    assert!(summary.limits.iter().any(|l| l.starts_with("All 4 connections were TLS with no key")), "{:?}", summary.limits);
}

#[test]
fn a_session_idle_for_the_limit_is_judged_during_the_run_and_its_key_begins_anew() {
    let config = AuditConfig { session_idle_limit_secs: 600, ..AuditConfig::default() };
    let mut h = Harness::new(config);
    // Session A moves from CAS01 to CAS02 (no failure to explain it); B stays busy all along.
    owa(&mut h, "192.0.2.1:40000", "10.0.0.11:80", 0, "/owa/a1", "A", "CAS01");
    owa(&mut h, "192.0.2.1:40001", "10.0.0.12:80", 1_000, "/owa/a2", "A", "CAS02");
    for minute in 0..=20 {
        owa(&mut h, "192.0.2.2:40000", "10.0.0.11:80", minute * 60_000 + 500, &format!("/owa/b{minute}"), "B", "CAS01");
        h.advance(minute * 60_000 + 30_000);
    }
    // By 20 minutes A has been idle for 19: judged and written, with its move, before the end.
    assert_eq!(h.sink.sessions.iter().map(|s| (s.key_kind, s.transactions, s.verdict)).collect::<Vec<_>>(), [("cadata", 2, "moved")]);
    assert_eq!(h.sink.moves.len(), 1);
    // A's key again: a new session.
    owa(&mut h, "192.0.2.1:40002", "10.0.0.12:80", 21 * 60_000, "/owa/a3", "A", "CAS02");
    let (sink, summary) = h.finish();
    let sessions: Vec<_> = sink.sessions.iter().map(|s| (s.session_ref, s.transactions, s.verdict)).collect();
    assert_eq!(sessions, [(SessionRef(1), 2, "moved"), (SessionRef(2), 21, "sticky"), (SessionRef(3), 1, "single")]);
    assert_eq!(summary.apps[&AppFamily::Owa].sessions, 3);
    assert_eq!(summary.apps[&AppFamily::Owa].moves, 1);
    let cas02 = sink.servers.iter().find(|r| r.server == "CAS02").unwrap();
    assert_eq!((cas02.sessions, cas02.moves_in), (2, 1), "servers count the sessions judged early too");
}
