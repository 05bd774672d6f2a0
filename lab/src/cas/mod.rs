//! `cas-server`: a stand-in Exchange 2010 Client Access server. HTTP/1.1 with keep-alive and
//! pipelining (requests on one connection are answered strictly in order), a thread per
//! connection, every response stamped `X-FEServer: <name>`, and one log line per request on
//! stderr: `<UTC time> <name> <peer ip:port> "<request line>" <status|-> <body bytes> <note>`.

mod owa;
mod reply;
mod routes;
mod rpc;
mod services;
#[cfg(test)]
mod tests;

use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use crate::args::Flags;
use crate::clock;
use crate::http::{self, Head, RequestLine};
use reply::Reply;
use routes::Incoming;

pub use rpc::Pacing;

/// Bodies the CAS reads whole (forms, SOAP, WBXML); RPC channels are streamed instead.
const MAX_BODY: u64 = 1 << 20;
/// An idle keep-alive connection (or a silent RPC channel) is closed after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Cas {
    pub name: String,
    serial: AtomicU32,
    rendezvous: rpc::Rendezvous,
    pacing: Pacing,
}

impl Cas {
    pub fn new(name: &str, pacing: rpc::Pacing) -> Cas {
        Cas {
            name: name.to_owned(),
            serial: AtomicU32::new(1),
            rendezvous: rpc::Rendezvous::default(),
            pacing,
        }
    }

    fn next_serial(&self) -> u32 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    fn log(
        &self,
        peer: SocketAddr,
        request_line: &str,
        status: Option<u16>,
        bytes: u64,
        note: &str,
    ) {
        let status = status.map_or_else(|| "-".to_owned(), |code| code.to_string());
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(" {note}")
        };
        // One write per line so that threads never interleave inside a line.
        let line = format!(
            "{} {} {peer} \"{request_line}\" {status} {bytes}{note}\n",
            clock::iso_millis(SystemTime::now()),
            self.name
        );
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args, &["name", "listen"])?;
    let name: String = flags.required("name")?;
    let listen: SocketAddr = flags.required("listen")?;
    let listener =
        TcpListener::bind(listen).map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    let cas = Arc::new(Cas::new(&name, rpc::Pacing::LAB));
    eprintln!(
        "{} {name} listening on {listen}",
        clock::iso_millis(SystemTime::now())
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let cas = Arc::clone(&cas);
                thread::spawn(move || serve(&cas, stream));
            }
            Err(error) => eprintln!("{name}: accept failed: {error}"),
        }
    }
    Ok(())
}

/// Serves one connection until the client closes it, asks to, or breaks the protocol.
pub fn serve(cas: &Cas, stream: TcpStream) {
    let Ok(peer) = stream.peer_addr() else { return };
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let mut reader = BufReader::new(stream);
    loop {
        let head = match http::read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(error) if is_disconnect(&error) => return,
            Err(error) => {
                let reply =
                    Reply::new(400, "Bad Request").note(format!("unreadable head: {error}"));
                return send(cas, &mut writer, peer, "-", reply, None);
            }
        };
        let Some(line) = RequestLine::parse(&head.start) else {
            let reply = Reply::new(400, "Bad Request").note("bad request line");
            return send(cas, &mut writer, peer, &head.start, reply, None);
        };
        if line.method == "RPC_IN_DATA" || line.method == "RPC_OUT_DATA" {
            return serve_rpc_channel(cas, &mut reader, &mut writer, peer, line, head);
        }
        let Some(body) = read_small_body(&head, &mut reader) else {
            let reply = Reply::new(413, "Request Entity Too Large")
                .note("body unreadable, too large or chunked");
            return send(cas, &mut writer, peer, &head.start, reply, None);
        };
        let keep_alive = head.keeps_alive(&line.version);
        let request = Incoming { line, head, body };
        let reply = routes::route(cas, &request);
        let keep_alive = keep_alive && !reply.close;
        let connection = match (keep_alive, request.line.version.as_str()) {
            (false, _) => Some("close"),
            (true, "HTTP/1.0") => Some("keep-alive"),
            (true, _) => None,
        };
        send(
            cas,
            &mut writer,
            peer,
            &request.head.start,
            reply,
            connection,
        );
        if !keep_alive {
            return;
        }
    }
}

fn read_small_body(head: &Head, reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    if head.is_chunked() {
        return None;
    }
    let length = head.content_length().ok()?.unwrap_or(0);
    http::read_body(reader, length, MAX_BODY).ok()
}

fn send(
    cas: &Cas,
    writer: &mut TcpStream,
    peer: SocketAddr,
    request_line: &str,
    reply: Reply,
    connection: Option<&str>,
) {
    let written = writer.write_all(&reply.encode(&cas.name, connection));
    let note = match written {
        Ok(()) => reply.note,
        Err(error) => format!("{} (response not delivered: {error})", reply.note),
    };
    cas.log(
        peer,
        request_line,
        Some(reply.code),
        reply.body.len() as u64,
        &note,
    );
}

fn serve_rpc_channel(
    cas: &Cas,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    peer: SocketAddr,
    line: RequestLine,
    head: Head,
) {
    let request = Incoming {
        line,
        head,
        body: Vec::new(),
    };
    let user = match routes::basic_user(&request) {
        Ok(user) => user,
        Err(reply) => {
            return send(
                cas,
                writer,
                peer,
                &request.head.start,
                reply.closing(),
                Some("close"),
            )
        }
    };
    let outcome = if request.line.method == "RPC_IN_DATA" {
        rpc::serve_in(&cas.rendezvous, reader)
    } else {
        rpc::serve_out(
            &cas.rendezvous,
            cas.pacing,
            &cas.name,
            &request.head,
            reader,
            writer,
        )
    };
    cas.log(
        peer,
        &request.head.start,
        outcome.status,
        outcome.bytes,
        &format!("user={user} {}", outcome.note),
    );
}

fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::BrokenPipe
    )
}
