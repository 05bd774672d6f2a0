//! Stage 4a: HTTP/1.x over a reassembled connection.
//!
//! Input: the two byte streams of one connection (with gaps). Output: [`Transaction`]s, one per
//! request, in request order, each paired with its response; the connection's [`ConnMode`]; and
//! anomalies. Headers are parsed with httparse; bodies are framed (Content-Length, chunked,
//! close-delimited, no body for HEAD/1xx/204/304) and counted, never buffered.

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
