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

use std::borrow::Cow;

use crate::timestamp::Timestamp;

/// The headers of one message, in wire order, with case-insensitive look-up.
///
/// A head costs two allocations whatever its number of headers: one text buffer and one list
/// of ranges into it. A parsed header block that is UTF-8 (nearly all) is copied into the
/// buffer whole and its headers point into it; otherwise each name and value is appended to
/// the buffer (values decoded lossily as UTF-8, each on its own, so a bad byte in one value
/// never spills into the next). Invariant: every span lies inside `text`, on `char` boundaries.
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    spans: Vec<HeaderSpan>,
}

/// Where one header's name and value lie in [`Headers::text`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct HeaderSpan {
    /// [`name_key`] of the name: look-ups compare it before the name.
    key: u64,
    name: (usize, usize),
    value: (usize, usize),
}

/// A header name's length and first 7 bytes, ASCII-lowercased, in one word: names whose keys
/// differ differ (ignoring case), so a look-up compares one word per header it passes.
fn name_key(name: &[u8]) -> u64 {
    let length = name.len().min(usize::from(u8::MAX)) as u64;
    name.iter().take(7).enumerate().fold(length, |key, (i, b)| key | u64::from(b.to_ascii_lowercase()) << (8 * (i + 1)))
}

impl Headers {
    /// Headers with room for `headers` headers of `text_bytes` bytes of names and values.
    pub fn with_capacity(headers: usize, text_bytes: usize) -> Self {
        Headers { text: String::with_capacity(text_bytes), spans: Vec::with_capacity(headers) }
    }

    /// The headers `parsed` out of `block` (names and values that are slices of it), over one
    /// copy of the block; `None` when the block is not UTF-8 or a slice is not inside it.
    pub(crate) fn over_block<'b>(
        block: &'b [u8],
        parsed: impl ExactSizeIterator<Item = (&'b [u8], &'b [u8])>,
    ) -> Option<Headers> {
        let text = std::str::from_utf8(block).ok()?;
        // Where a slice of the block lies in it, if it is one and cut on `char` boundaries.
        let range = |part: &[u8]| {
            let start = (part.as_ptr() as usize).checked_sub(block.as_ptr() as usize)?;
            let end = start.checked_add(part.len())?;
            text.get(start..end).map(|_| (start, end))
        };
        let mut spans = Vec::with_capacity(parsed.len());
        for (name, value) in parsed {
            spans.push(HeaderSpan { key: name_key(name), name: range(name)?, value: range(value)? });
        }
        Some(Headers { text: text.to_owned(), spans })
    }

    /// Appends a header; the value's bytes are decoded lossily as UTF-8.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let key = name_key(name.as_bytes());
        let name = self.append(name);
        let value = self.append(&String::from_utf8_lossy(value));
        self.spans.push(HeaderSpan { key, name, value });
    }

    /// Extends the last header's value with a continuation line (obsolete line folding),
    /// joined by one space. Does nothing when there is no header.
    pub(crate) fn continue_last(&mut self, more: &[u8]) {
        let Some(&HeaderSpan { value: (start, end), .. }) = self.spans.last() else { return };
        let mut value = if end == self.text.len() {
            (start, end)
        } else {
            // The value is not at the end of the buffer, where it could grow: move it there.
            let old = self.text.get(start..end).unwrap_or_default().to_owned();
            self.append(&old)
        };
        if value.1 > value.0 {
            self.text.push(' ');
        }
        self.text.push_str(&String::from_utf8_lossy(more));
        value.1 = self.text.len();
        if let Some(last) = self.spans.last_mut() {
            last.value = value;
        }
    }

    /// Appends `text` to the buffer; returns where it lies.
    fn append(&mut self, text: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(text);
        (start, self.text.len())
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Every header as (name, value), in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans.iter().map(|span| (self.text(span.name), self.text(span.value)))
    }

    /// First value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        let key = name_key(name.as_bytes());
        self.spans.iter().find(|span| span.key == key && self.is_named(span, name)).map(|span| self.text(span.value))
    }

    /// Every value of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let key = name_key(name.as_bytes());
        self.spans.iter().filter(move |span| span.key == key && self.is_named(span, name)).map(|span| self.text(span.value))
    }

    /// Compares bytes, so that only the value of a header found is cut out as text.
    fn is_named(&self, span: &HeaderSpan, name: &str) -> bool {
        let (start, end) = span.name;
        self.text.as_bytes().get(start..end).unwrap_or_default().eq_ignore_ascii_case(name.as_bytes())
    }

    fn text(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }
}

/// Headers are equal when they list the same names and values, however they are stored.
impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Self {
        let mut headers = Headers::default();
        for (name, value) in pairs {
            headers.push(name, value.as_bytes());
        }
        headers
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub ts: Timestamp,
    pub method: String,
    pub uri: String,
    /// `1.0`, `1.1`, or `0.9` for a version-less request line (the usual ones not allocated).
    pub version: Cow<'static, str>,
    pub headers: Headers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub ts: Timestamp,
    pub version: Cow<'static, str>,
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
