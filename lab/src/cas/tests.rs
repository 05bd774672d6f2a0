//! The CAS's behaviour where persistence matters, request by request, then over a socket.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use super::*;
use crate::exchange::{basic_authorization, PASSWORD};
use crate::token::Ticket;

fn cas(name: &str) -> Cas {
    Cas::new(name, rpc::Pacing::LAB)
}

fn incoming(text: &str) -> Incoming {
    let mut bytes = text.as_bytes();
    let head = http::read_head(&mut bytes).unwrap().unwrap();
    Incoming {
        line: RequestLine::parse(&head.start).unwrap(),
        head,
        body: bytes.to_vec(),
    }
}

fn reply_text(reply: &Reply) -> String {
    String::from_utf8(reply.encode("CASX", None)).unwrap()
}

fn set_cookie_names(reply: &Reply) -> Vec<String> {
    reply_text(reply)
        .lines()
        .filter_map(|line| line.strip_prefix("Set-Cookie: "))
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect()
}

fn logon_form(password: &str) -> String {
    let body = format!("destination=https%3A%2F%2Fmail.contoso.test%2Fowa%2F&flags=4&username=CONTOSO%5Cuser1&password={}&isUtf8=1", http::url_encode(password));
    format!("POST /owa/auth.owa HTTP/1.1\r\nHost: mail.contoso.test\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

fn cadata_of(issuer: &str) -> String {
    Ticket {
        issuer: issuer.into(),
        user: "user1".into(),
        serial: 1,
    }
    .seal()
}

#[test]
fn logon_sets_the_exchange_cookies_bound_to_this_cas() {
    let reply = routes::route(&cas("CAS01"), &incoming(&logon_form(PASSWORD)));
    assert_eq!(reply.code, 302);
    assert_eq!(reply.note, "user=user1 logon serial=1");
    assert_eq!(
        set_cookie_names(&reply),
        [
            "cadata",
            "cadataIV",
            "cadataKey",
            "cadataSig",
            "cadataTTL",
            "sessionid",
            "UserContext",
            "PBack",
            "logondata",
            "cookieTest"
        ]
    );
    let text = reply_text(&reply);
    assert!(text.contains("Location: https://mail.contoso.test/owa/\r\n"));
    let cadata = text
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: cadata="))
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(
        Ticket::open(cadata).map(|t| t.issuer),
        Some("CAS01".to_owned())
    );
    assert!(!text.contains(PASSWORD));
}

#[test]
fn wrong_password_goes_back_to_the_form() {
    let reply = routes::route(&cas("CAS01"), &incoming(&logon_form("nope")));
    assert_eq!(reply.code, 302);
    assert!(
        reply_text(&reply).contains("Location: /owa/auth/logon.aspx?replaceCurrent=1&reason=2\r\n")
    );
    assert!(set_cookie_names(&reply).is_empty());
    assert_eq!(reply.note, "user=user1 bad password");
}

#[test]
fn owa_without_cadata_redirects_to_logon() {
    let reply = routes::route(
        &cas("CAS01"),
        &incoming("GET /owa/?ae=Folder HTTP/1.1\r\n\r\n"),
    );
    assert_eq!(reply.code, 302);
    assert!(reply_text(&reply).contains("Location: /owa/auth/logon.aspx?url=https%3A%2F%2Fmail.contoso.test%2Fowa%2F%3Fae%3DFolder&reason=0\r\n"));
}

#[test]
fn owa_accepts_own_cadata_and_refuses_another_servers() {
    let own = format!(
        "GET /owa/ HTTP/1.1\r\nCookie: PBack=0; cadata=\"{}\"\r\n\r\n",
        cadata_of("CAS01")
    );
    let reply = routes::route(&cas("CAS01"), &incoming(&own));
    assert_eq!((reply.code, reply.note.as_str()), (200, "user=user1"));
    assert_eq!(
        set_cookie_names(&reply),
        ["OutlookSession", "owacsdc", "tzid"]
    );
    let refused = routes::route(&cas("CAS02"), &incoming(&own));
    assert_eq!(
        (refused.code, refused.note.as_str()),
        (440, "user=user1 cadata-from=CAS01")
    );
    assert!(reply_text(&refused).starts_with("HTTP/1.1 440 Login Timeout\r\n"));
    let garbage = routes::route(
        &cas("CAS01"),
        &incoming(
            "POST /owa/ev.owa?oeh=1&ns=Notify&ev=Poll HTTP/1.1\r\nCookie: cadata=xyz\r\n\r\n",
        ),
    );
    assert_eq!(
        (garbage.code, garbage.note.as_str()),
        (440, "cadata-unreadable")
    );
}

#[test]
fn owa_main_page_sets_client_cookies_once() {
    let again = format!(
        "GET /owa/ HTTP/1.1\r\nCookie: cadata=\"{}\"; tzid=W. Europe Standard Time\r\n\r\n",
        cadata_of("CAS01")
    );
    assert!(set_cookie_names(&routes::route(&cas("CAS01"), &incoming(&again))).is_empty());
    let event = format!(
        "POST /owa/ev.owa?oeh=1&ns=Notify&ev=Poll HTTP/1.1\r\nCookie: cadata={}\r\n\r\n",
        cadata_of("CAS01")
    );
    assert_eq!(
        routes::route(&cas("CAS01"), &incoming(&event)).note,
        "user=user1 ev=Poll"
    );
}

#[test]
fn logoff_expires_the_logon_cookies() {
    let reply = routes::route(
        &cas("CAS01"),
        &incoming("GET /owa/logoff.owa HTTP/1.1\r\n\r\n"),
    );
    assert_eq!(reply.code, 302);
    assert_eq!(
        set_cookie_names(&reply),
        [
            "cadata",
            "cadataIV",
            "cadataKey",
            "cadataSig",
            "cadataTTL",
            "sessionid",
            "UserContext"
        ]
    );
    assert!(reply_text(&reply)
        .contains("Set-Cookie: cadata=; expires=Thu, 01-Jan-1970 00:00:00 GMT; path=/\r\n"));
}

#[test]
fn ecp_issues_a_canary_and_checks_it() {
    let cadata = cadata_of("CAS01");
    let page = routes::route(
        &cas("CAS01"),
        &incoming(&format!(
            "GET /ecp/?rfr=owa HTTP/1.1\r\nCookie: cadata={cadata}\r\n\r\n"
        )),
    );
    assert_eq!(page.code, 200);
    assert_eq!(
        set_cookie_names(&page),
        [
            "msExchEcpCanary",
            "ASP.NET_SessionId",
            "ecpCookieTest",
            "MstrPgLd1",
            "MstrPgLd2"
        ]
    );
    let text = reply_text(&page);
    let canary = text
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: msExchEcpCanary="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let service = |query_canary: &str| {
        let text = format!("POST /ecp/PersonalSettings/Accounts.svc/GetObject?msExchEcpCanary={query_canary} HTTP/1.1\r\nCookie: cadata={cadata}; msExchEcpCanary={canary}\r\nContent-Length: 2\r\n\r\n{{}}");
        routes::route(&cas("CAS01"), &incoming(&text))
    };
    assert_eq!(service(&canary).code, 200);
    assert_eq!(
        (service("0000").code, service("0000").note.as_str()),
        (440, "user=user1 bad canary")
    );
}

#[test]
fn basic_services_challenge_then_serve() {
    let unauthenticated = routes::route(
        &cas("CAS01"),
        &incoming("POST /EWS/Exchange.asmx HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
    );
    assert_eq!(unauthenticated.code, 401);
    assert_eq!(
        reply_text(&unauthenticated)
            .matches("WWW-Authenticate: ")
            .count(),
        3
    );
    let auth = basic_authorization("user2");
    let ews = routes::route(
        &cas("CAS01"),
        &incoming(&format!("POST /EWS/Exchange.asmx HTTP/1.1\r\nAuthorization: {auth}\r\nSOAPAction: \"http://schemas.microsoft.com/exchange/services/2006/messages/FindItem\"\r\n\r\n")),
    );
    assert_eq!(
        (ews.code, ews.note.as_str()),
        (200, "user=user2 action=FindItem")
    );
    assert_eq!(set_cookie_names(&ews), ["exchangecookie"]);
    let options = routes::route(
        &cas("CAS01"),
        &incoming(&format!(
            "OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n"
        )),
    );
    assert!(
        reply_text(&options).contains("MS-ASProtocolVersions: 2.0,2.1,2.5,12.0,12.1,14.0,14.1\r\n")
    );
    let query = crate::eas::base64_query("FolderSync", &[9; 16], None, "WP", None).unwrap();
    let sync = routes::route(
        &cas("CAS01"),
        &incoming(&format!(
            "POST /Microsoft-Server-ActiveSync?{query} HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n"
        )),
    );
    assert_eq!(
        (sync.code, sync.note.as_str()),
        (200, "user=user2 cmd=FolderSync")
    );
    let oab = routes::route(
        &cas("CAS01"),
        &incoming(&format!(
            "GET {} HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n",
            crate::exchange::OAB_PATH
        )),
    );
    assert_eq!(oab.code, 200);
}

#[test]
fn autodiscover_names_this_cas() {
    let body = "<Autodiscover><Request><EMailAddress>user2@contoso.test</EMailAddress></Request></Autodiscover>";
    let text = format!("POST /autodiscover/autodiscover.xml HTTP/1.1\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}", basic_authorization("user2"), body.len());
    let reply = routes::route(&cas("CAS03"), &incoming(&text));
    assert!(reply_text(&reply).contains("<Type>EXCH</Type><Server>cas03.contoso.test</Server>"));
}

#[test]
fn health_static_and_unknown_paths() {
    let health = routes::route(
        &cas("CAS02"),
        &incoming("GET /owa/healthcheck.htm HTTP/1.0\r\n\r\n"),
    );
    assert_eq!(
        (health.code, health.body.as_slice()),
        (200, &b"200 OK<br/>CAS02.contoso.test<br/>"[..])
    );
    let script = routes::route(
        &cas("CAS02"),
        &incoming("GET /owa/14.3.123.4/scripts/premium/uglobal.js HTTP/1.1\r\n\r\n"),
    );
    assert!(reply_text(&script).contains("Content-Type: application/x-javascript\r\n"));
    assert_eq!(
        routes::route(&cas("CAS02"), &incoming("GET /nothing HTTP/1.1\r\n\r\n")).code,
        404
    );
}

/// Starts a CAS on an ephemeral port; returns its address.
fn listening(name: &str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let cas = Arc::new(cas(name));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let cas = Arc::clone(&cas);
            thread::spawn(move || serve(&cas, stream));
        }
    });
    address
}

fn read_response(reader: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
    let head = http::read_head(reader).unwrap().unwrap();
    let body = http::read_body(reader, head.content_length().unwrap().unwrap(), 1 << 20).unwrap();
    (head.start, body)
}

#[test]
fn answers_pipelined_requests_in_order_then_honours_close() {
    let mut stream = TcpStream::connect(listening("CAS01")).unwrap();
    stream
        .write_all(b"GET /owa/healthcheck.htm HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\nGET /owa/healthcheck.htm HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK");
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 404 Not Found");
    assert_eq!(
        read_response(&mut reader).1,
        b"200 OK<br/>CAS01.contoso.test<br/>"
    );
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "the server must close after Connection: close"
    );
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let mut stream = TcpStream::connect(listening("CAS01")).unwrap();
    stream.write_all(b"GET /owa/healthcheck.htm HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /owa/healthcheck.htm HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(text.matches("Connection: keep-alive").count(), 1);
    assert_eq!(text.matches("Connection: close").count(), 1);
}

#[test]
fn malformed_and_oversized_requests_get_an_error_and_a_close() {
    let mut stream = TcpStream::connect(listening("CAS01")).unwrap();
    stream.write_all(b"HELLO\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    let mut stream = TcpStream::connect(listening("CAS01")).unwrap();
    stream
        .write_all(b"POST /owa/auth.owa HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 413 "));
}

#[test]
fn rpc_channels_need_credentials() {
    let mut stream = TcpStream::connect(listening("CAS01")).unwrap();
    stream.write_all(b"RPC_IN_DATA /rpc/rpcproxy.dll?cas01.contoso.test:6001 HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    assert!(text.contains("Connection: close\r\n"));
}
