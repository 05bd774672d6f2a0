//! HTTP/1.1 over a client connection: requests written back to back (pipelining), responses
//! read in order, cookies kept in an optional shared jar, and a connection that the server (or
//! the balancer) closes early replaced so that the unanswered requests are sent again — what a
//! browser does under `option httpclose` or when a server dies.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

use super::jar::Jar;
use super::net::{Conn, Dialer};
use crate::exchange::HOST;
use crate::http::{self, Head, StatusLine};

/// Largest response body read (ours are a few KB).
const MAX_BODY: u64 = 1 << 20;
/// Connection failures in a row (without a response in between) an exchange survives.
const MAX_RECONNECTS: u32 = 2;

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    pub fn post(target: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Request {
        Request::new("POST", target)
            .header("Content-Type", content_type)
            .body(body)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The wire form, with `Host`, the jar's cookies and `Content-Length` when there is a body.
    pub fn encode(&self, cookie: Option<&str>) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {HOST}\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(cookie) = cookie {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if !self.body.is_empty() || self.method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

#[derive(Debug)]
pub struct Response {
    pub code: u16,
    pub head: Head,
    pub body: Vec<u8>,
    /// The server closes the connection after this response.
    pub closes: bool,
}

impl Response {
    pub fn location(&self) -> Option<&str> {
        self.head.header("Location")
    }

    /// Which CAS answered (`X-FEServer`).
    pub fn server(&self) -> Option<&str> {
        self.head.header("X-FEServer")
    }
}

/// Reads one response to a request made with `method`.
pub fn read_response(reader: &mut impl BufRead, method: &str) -> io::Result<Response> {
    let head = http::read_head(reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    let status = StatusLine::parse(&head.start).ok_or_else(|| http::invalid("bad status line"))?;
    let mut closes = !head.keeps_alive(&status.version);
    let bodiless =
        method == "HEAD" || status.code < 200 || status.code == 204 || status.code == 304;
    let body = if bodiless {
        Vec::new()
    } else if head.is_chunked() {
        return Err(http::invalid("chunked responses are not spoken here"));
    } else if let Some(length) = head.content_length()? {
        http::read_body(reader, length, MAX_BODY)?
    } else {
        // No length: the body ends with the connection (HTTP/1.0 servers such as s_server -WWW).
        closes = true;
        let mut body = Vec::new();
        reader.take(MAX_BODY).read_to_end(&mut body)?;
        body
    };
    Ok(Response {
        code: status.code,
        head,
        body,
        closes,
    })
}

/// What one actor saw: responses by server and by status, plus failures.
#[derive(Debug, Default)]
pub struct Tally {
    pub by_server: BTreeMap<String, u32>,
    pub by_status: BTreeMap<u16, u32>,
    pub reconnects: u32,
    pub failures: u32,
}

impl Tally {
    pub fn count(&mut self, response: &Response) {
        *self
            .by_server
            .entry(response.server().unwrap_or("-").to_owned())
            .or_default() += 1;
        *self.by_status.entry(response.code).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        for (server, count) in other.by_server {
            *self.by_server.entry(server).or_default() += count;
        }
        for (status, count) in other.by_status {
            *self.by_status.entry(status).or_default() += count;
        }
        self.reconnects += other.reconnects;
        self.failures += other.failures;
    }

    /// `servers CAS01×3 CAS02×1 statuses 200×3 440×1 reconnects 0 failures 0`.
    pub fn summary(&self) -> String {
        let servers: Vec<String> = self
            .by_server
            .iter()
            .map(|(server, count)| format!("{server}×{count}"))
            .collect();
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, count)| format!("{status}×{count}"))
            .collect();
        format!(
            "servers {} statuses {} reconnects {} failures {}",
            servers.join(" "),
            statuses.join(" "),
            self.reconnects,
            self.failures
        )
    }
}

/// A client's HTTP connection to the VIP, opened on demand and replaced when it closes.
pub struct Link {
    dialer: Dialer,
    from: Ipv4Addr,
    conn: Option<Conn>,
    jar: Option<Arc<Mutex<Jar>>>,
    pub tally: Tally,
}

impl Link {
    pub fn new(dialer: &Dialer, from: Ipv4Addr, jar: Option<Arc<Mutex<Jar>>>) -> Link {
        Link {
            dialer: dialer.clone(),
            from,
            conn: None,
            jar,
            tally: Tally::default(),
        }
    }

    /// Moves to another source address (a roaming phone): the next request opens a new connection.
    pub fn move_to(&mut self, from: Ipv4Addr) {
        self.from = from;
        self.conn = None;
    }

    pub fn close(&mut self) {
        self.conn = None;
    }

    pub fn send(&mut self, request: &Request) -> io::Result<Response> {
        let mut responses = self.exchange(std::slice::from_ref(request))?;
        responses
            .pop()
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }

    /// Sends `requests` pipelined and returns their responses in order.
    pub fn exchange(&mut self, requests: &[Request]) -> io::Result<Vec<Response>> {
        let mut responses = Vec::with_capacity(requests.len());
        let mut reconnects = 0;
        while responses.len() < requests.len() {
            let answered = responses.len();
            if let Err(error) = self.pipeline(&requests[answered..], &mut responses) {
                self.conn = None;
                reconnects = if responses.len() > answered {
                    1
                } else {
                    reconnects + 1
                };
                self.tally.reconnects += 1;
                if reconnects > MAX_RECONNECTS {
                    self.tally.failures += 1;
                    return Err(error);
                }
            }
        }
        Ok(responses)
    }

    /// One connection's share of an exchange: stops early, without error, when the server
    /// announces it closes.
    fn pipeline(&mut self, pending: &[Request], responses: &mut Vec<Response>) -> io::Result<()> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.dialer.dial(self.from, None)?,
        };
        let conn = self.conn.insert(conn);
        let mut wire = Vec::new();
        for request in pending {
            let cookie = self.jar.as_ref().and_then(|jar| {
                jar.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .header_for(&request.target)
            });
            wire.extend_from_slice(&request.encode(cookie.as_deref()));
        }
        conn.write_all(&wire)?;
        for request in pending {
            let response = read_response(conn.reader(), &request.method)?;
            if let Some(jar) = &self.jar {
                jar.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .absorb(&response.head);
            }
            self.tally.count(&response);
            let closes = response.closes;
            responses.push(response);
            if closes {
                self.conn = None;
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::net::Transport;
    use std::io::Write;
    use std::net::{SocketAddr, TcpListener};
    use std::thread;

    #[test]
    fn encodes_host_cookie_and_length() {
        let request = Request::post("/owa/auth.owa", "application/x-www-form-urlencoded", "a=1")
            .header("User-Agent", "t");
        let text = String::from_utf8(request.encode(Some("x=1"))).unwrap();
        assert_eq!(text, "POST /owa/auth.owa HTTP/1.1\r\nHost: mail.contoso.test\r\nContent-Type: application/x-www-form-urlencoded\r\nUser-Agent: t\r\nCookie: x=1\r\nContent-Length: 3\r\n\r\na=1");
        assert_eq!(
            Request::get("/").encode(None),
            b"GET / HTTP/1.1\r\nHost: mail.contoso.test\r\n\r\n"
        );
    }

    #[test]
    fn reads_length_delimited_bodiless_and_close_delimited_responses() {
        let mut input: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.0 200 ok\r\n\r\nrest";
        let first = read_response(&mut input, "GET").unwrap();
        assert_eq!(
            (first.code, first.body.as_slice(), first.closes),
            (200, &b"hi"[..], false)
        );
        assert_eq!(read_response(&mut input, "GET").unwrap().body, b"");
        let last = read_response(&mut input, "GET").unwrap();
        assert_eq!((last.body.as_slice(), last.closes), (&b"rest"[..], true));
        assert!(read_response(
            &mut &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            "GET"
        )
        .is_err());
    }

    #[test]
    fn tally_summary_lists_servers_and_statuses() {
        let mut tally = Tally::default();
        let response = |server: &str, code| Response {
            code,
            head: Head {
                start: String::new(),
                headers: vec![("X-FEServer".into(), server.into())],
            },
            body: Vec::new(),
            closes: false,
        };
        tally.count(&response("CAS02", 200));
        let mut other = Tally::default();
        other.count(&response("CAS01", 440));
        other.reconnects = 1;
        tally.merge(other);
        assert_eq!(
            tally.summary(),
            "servers CAS01×1 CAS02×1 statuses 200×1 440×1 reconnects 1 failures 0"
        );
    }

    /// A server that answers each connection's requests with `Connection: close` after the first.
    fn closing_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            for (index, stream) in listener.incoming().flatten().enumerate() {
                let mut reader = io::BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                if let Ok(Some(head)) = http::read_head(&mut reader) {
                    let body = format!("{index}:{}", head.start);
                    let _ = write!(stream, "HTTP/1.1 200 OK\r\nSet-Cookie: n={index}; path=/\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                }
                // Drain the other pipelined requests so that closing sends FIN, not RST.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let _ = io::copy(&mut reader, &mut io::sink());
            }
        });
        address
    }

    #[test]
    fn resends_unanswered_pipelined_requests_on_new_connections() {
        let SocketAddr::V4(vip) = closing_server() else {
            unreachable!()
        };
        let jar = Arc::new(Mutex::new(Jar::default()));
        let mut link = Link::new(
            &Dialer {
                vip,
                transport: Transport::Plain,
            },
            Ipv4Addr::new(127, 0, 9, 9),
            Some(Arc::clone(&jar)),
        );
        let responses = link
            .exchange(&[Request::get("/a"), Request::get("/b"), Request::get("/c")])
            .unwrap();
        let bodies: Vec<String> = responses
            .iter()
            .map(|r| String::from_utf8(r.body.clone()).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                "0:GET /a HTTP/1.1",
                "1:GET /b HTTP/1.1",
                "2:GET /c HTTP/1.1"
            ]
        );
        assert_eq!(jar.lock().unwrap().get("n"), Some("2"));
        assert_eq!(link.tally.reconnects, 0);
    }

    #[test]
    fn gives_up_after_repeated_connection_failures() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(vip) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        drop(listener);
        let mut link = Link::new(
            &Dialer {
                vip,
                transport: Transport::Plain,
            },
            Ipv4Addr::LOCALHOST,
            None,
        );
        assert!(link.send(&Request::get("/")).is_err());
        assert_eq!((link.tally.reconnects, link.tally.failures), (3, 1));
    }
}
