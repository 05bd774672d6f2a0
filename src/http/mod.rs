//! Stage 4a: HTTP/1.x over a reassembled connection.
//!
//! Input: the two byte streams of one connection, in pieces of any size, with gaps
//! ([`HttpConnection::data`], [`HttpConnection::gap`], then [`HttpConnection::finish`]).
//! Output: [`Transaction`]s, one per request, in request order, each paired with its final
//! response; the connection's [`ConnMode`]; and anomalies. Headers are parsed with httparse (a
//! Zeek-like tolerant parser takes over where httparse is stricter than Zeek); bodies are framed
//! (Content-Length, chunked, close-delimited, no body for HEAD/1xx/204/304, tunnels after
//! CONNECT 2xx and 101) and counted, never buffered.
//!
//! Contract:
//! - A transaction is emitted when its request and its final response are both complete, or at
//!   [`HttpConnection::finish`]; always in request order, `depth` counting from 1.
//! - Nothing is invented: a response no request waits for is an anomaly, and bytes that are not
//!   HTTP are skipped (reported once per episode) until a start line appears.
//! - Memory per connection: one header block or line per direction (at most `max_header_bytes`
//!   each) and the requests waiting for a response (at most 100; beyond, the oldest is given up).
//! - Never panics on input; malformed input becomes an anomaly (`http_*` kinds).
//!
//! Where this differs from Zeek on purpose: garbage before a request line is skipped and the
//! request parsed (Zeek drops it); responses without request are not logged; chunked is honoured
//! in HTTP/1.0 messages too; a gap where a response was due marks that request's response lost
//! (Zeek stops parsing the direction); body lengths count bytes after de-chunking only (Zeek
//! counts gzip/deflate bodies decompressed, and multipart bodies line by line).

mod connection;
mod framing;
mod head;
mod side;
mod start_line;
mod syntax;
#[cfg(test)]
mod tests;

pub use connection::HttpConnection;
pub use start_line::{looks_like_request, looks_like_response};

use crate::timestamp::Timestamp;

/// One header as it appeared on the wire (value bytes decoded lossily as UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A list of headers with case-insensitive look-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// First value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    /// Every value of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub ts: Timestamp,
    pub method: String,
    pub uri: String,
    /// `1.0`, `1.1`, or `0.9` for a version-less request line.
    pub version: String,
    pub headers: Headers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub ts: Timestamp,
    pub version: String,
    /// `0` for an HTTP/0.9 response, which has no status line (version `0.9`), like Zeek.
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
}

/// A request and the final response that answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Position on the connection, from 1 (Zeek's `trans_depth`).
    pub depth: u32,
    pub request: RequestHead,
    /// Interim 1xx responses (100 Continue) are not final; 101 is, and starts a tunnel.
    pub response: Option<ResponseHead>,
    /// Body bytes after de-chunking (Zeek's `request_body_len`/`response_body_len`).
    pub request_body_len: u64,
    pub response_body_len: u64,
    /// Time of the last byte of the response body (or of its head when it has none).
    pub ts_response_end: Option<Timestamp>,
    /// A gap in the capture fell inside this transaction's messages.
    pub incomplete: bool,
}

/// How a connection carried HTTP, as a load balancer would see it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnMode {
    /// One transaction, then closed.
    Close,
    /// Several transactions, each request sent after the previous response.
    KeepAlive,
    /// A request sent before the previous response was complete.
    Pipelining,
    /// CONNECT, Upgrade/101, or Outlook Anywhere RPC_IN_DATA/RPC_OUT_DATA channels: after the
    /// opening request a balancer can no longer inspect requests on this connection.
    Tunnel,
}

impl ConnMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnMode::Close => "close",
            ConnMode::KeepAlive => "keep-alive",
            ConnMode::Pipelining => "pipelining",
            ConnMode::Tunnel => "tunnel",
        }
    }
}

/// Tunables of the HTTP parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Largest header block (request/status line plus headers) kept; beyond it: anomaly, cut.
    pub max_header_bytes: usize,
    /// Most headers kept per message; beyond it: anomaly, cut.
    pub max_headers: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { max_header_bytes: 64 * 1024, max_headers: 256 }
    }
}
