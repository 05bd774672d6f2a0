//! Header blocks: finding where one ends in a stream, and parsing it.
//!
//! [`HeadScan`] finds the end of a header block (start line, header lines, empty line) in a
//! growing buffer, resuming where it stopped, and classifies the first line as soon as it is
//! complete. Parsing goes through httparse, strict and fast; when httparse rejects a block that
//! Zeek would accept, a tolerant parser recovers it (lenient start line, header lines without a
//! name and colon skipped, obsolete line folding unfolded, headers beyond the limit dropped) and
//! [`HeadIssues`] says what was wrong.

use std::borrow::Cow;

use httparse::{Status, EMPTY_HEADER};

use super::start_line::{
    find_request_start, find_status_start, parse_request_line, parse_status_line, request_prefix_plausible,
    response_prefix_plausible, RequestLine,
};
use super::syntax::{is_blank_line, is_token, is_ws, trim_line_end, trim_ws};
use super::Headers;

/// Header slots tried on the stack before a heap array of `max_headers`.
const STACK_HEADERS: usize = 64;

/// Which side of the exchange a stream carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Request,
    Response,
}

/// What a complete first line says about the message it starts.
enum LineClass {
    NotHttp,
    Http,
    /// A request line without version: the request is that line alone.
    Http09,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
        }
    }

    fn prefix_plausible(self, prefix: &[u8]) -> bool {
        match self {
            Kind::Request => request_prefix_plausible(prefix),
            Kind::Response => response_prefix_plausible(prefix),
        }
    }

    fn classify(self, line: &[u8]) -> LineClass {
        match self {
            Kind::Request => match parse_request_line(line) {
                None => LineClass::NotHttp,
                Some(RequestLine { version: None, .. }) => LineClass::Http09,
                Some(_) => LineClass::Http,
            },
            Kind::Response if parse_status_line(line).is_some() => LineClass::Http,
            Kind::Response => LineClass::NotHttp,
        }
    }

    /// Where a start line of this kind begins in a complete `line` (see `start_line`).
    pub(super) fn find_start(self, line: &[u8], min_start: usize) -> Option<usize> {
        match self {
            Kind::Request => find_request_start(line, min_start),
            Kind::Response => find_status_start(line, min_start),
        }
    }
}

/// Result of scanning a header block buffer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scan {
    NeedMore,
    /// The first line (its first `line_len` bytes of the buffer) cannot start a message.
    NotHttp { line_len: usize },
    /// The header block is the first `len` bytes of the buffer.
    Complete { len: usize },
}

/// Incremental search for the end of a header block. Invariant: `line_start <= scanned <=` the
/// length of the buffer last scanned, which only grows until [`HeadScan::reset`].
#[derive(Debug, Default)]
pub(super) struct HeadScan {
    scanned: usize,
    line_start: usize,
    first_line_done: bool,
}

impl HeadScan {
    pub(super) fn reset(&mut self) {
        *self = HeadScan::default();
    }

    /// Whether the first line is complete (a block cut short can still be parsed).
    pub(super) fn first_line_done(&self) -> bool {
        self.first_line_done
    }

    /// Scans what was appended to `buf` since the last call. `buf` must not start with an empty
    /// line (leading CR/LF are skipped before a block starts).
    pub(super) fn scan(&mut self, buf: &[u8], kind: Kind) -> Scan {
        while let Some(i) = buf.get(self.scanned..).and_then(|rest| memchr::memchr(b'\n', rest)) {
            let end = self.scanned + i + 1;
            let line = buf.get(self.line_start..end).unwrap_or_default();
            self.scanned = end;
            self.line_start = end;
            if self.first_line_done {
                if is_blank_line(line) {
                    return Scan::Complete { len: end };
                }
                continue;
            }
            self.first_line_done = true;
            match kind.classify(line) {
                LineClass::NotHttp => return Scan::NotHttp { line_len: end },
                LineClass::Http09 => return Scan::Complete { len: end },
                LineClass::Http => {}
            }
        }
        self.scanned = buf.len();
        if !self.first_line_done && !kind.prefix_plausible(buf) {
            return Scan::NotHttp { line_len: buf.len() };
        }
        Scan::NeedMore
    }
}

/// Where the rest of a header block cut at the size limit stands, to find its empty line
/// without keeping it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum TailScan {
    InLine,
    LineStart,
    LineStartCr,
}

impl TailScan {
    /// The state after the kept part of the block.
    pub(super) fn after(kept: &[u8]) -> TailScan {
        if kept.ends_with(b"\n") {
            TailScan::LineStart
        } else if kept.ends_with(b"\n\r") {
            TailScan::LineStartCr
        } else {
            TailScan::InLine
        }
    }

    /// Bytes of `input` up to and including the empty line ending the block, if it is there.
    pub(super) fn feed(&mut self, input: &[u8]) -> Option<usize> {
        for (i, &b) in input.iter().enumerate() {
            *self = match (*self, b) {
                (TailScan::LineStart | TailScan::LineStartCr, b'\n') => return Some(i + 1),
                (TailScan::LineStart, b'\r') => TailScan::LineStartCr,
                (_, b'\n') => TailScan::LineStart,
                _ => TailScan::InLine,
            };
        }
        None
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct RequestParts {
    pub method: String,
    pub uri: String,
    /// `1.0`, `1.1`, the text after `HTTP/` when unusual, or `0.9` without version.
    pub version: Cow<'static, str>,
    pub headers: Headers,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct ResponseParts {
    pub version: Cow<'static, str>,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
}

/// What was wrong with a head that parsed anyway; each becomes an anomaly.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct HeadIssues {
    /// Why the start line is not RFC 9112 (`None` when it is, or for HTTP/0.9).
    pub start_line: Option<&'static str>,
    /// Header lines without a valid name and colon, skipped.
    pub invalid_lines: usize,
    /// Continuation lines (obsolete line folding), unfolded into the previous header.
    pub folded_lines: usize,
    /// Headers beyond `max_headers`, dropped.
    pub dropped_headers: usize,
    /// httparse rejected the head for none of the reasons above (say, two spaces in the request
    /// line, or a space before a header's colon): read leniently.
    pub not_strict: bool,
}

/// Parses a request header block; `cut` when it was cut at the size limit (no empty line).
pub(super) fn parse_request(block: &[u8], max_headers: usize, cut: bool) -> Option<(RequestParts, HeadIssues)> {
    let strict = if cut { None } else { with_header_slots(block, max_headers, strict_request) };
    match strict {
        Some(parts) => Some((parts, HeadIssues::default())),
        None => tolerant_request(block, max_headers, cut),
    }
}

/// Parses a response header block; `cut` as for [`parse_request`].
pub(super) fn parse_response(block: &[u8], max_headers: usize, cut: bool) -> Option<(ResponseParts, HeadIssues)> {
    let strict = if cut { None } else { with_header_slots(block, max_headers, strict_response) };
    match strict {
        Some(parts) => Some((parts, HeadIssues::default())),
        None => tolerant_response(block, max_headers, cut),
    }
}

type StrictResult<T> = Result<Option<T>, httparse::Error>;

/// Runs a strict parse with `max_headers` slots: on the stack when few, else retried on the heap
/// when the stack slots were too few. `None` when httparse rejects the block.
fn with_header_slots<'b, T>(
    block: &'b [u8],
    max_headers: usize,
    parse: impl Fn(&'b [u8], &mut [httparse::Header<'b>]) -> StrictResult<T>,
) -> Option<T> {
    let mut slots: [httparse::Header<'b>; STACK_HEADERS] = [EMPTY_HEADER; STACK_HEADERS];
    match parse(block, &mut slots[..max_headers.min(STACK_HEADERS)]) {
        Err(httparse::Error::TooManyHeaders) if max_headers > STACK_HEADERS => {
            let mut slots = vec![EMPTY_HEADER; max_headers];
            parse(block, &mut slots).ok().flatten()
        }
        result => result.ok().flatten(),
    }
}

fn strict_request<'b>(block: &'b [u8], slots: &mut [httparse::Header<'b>]) -> StrictResult<RequestParts> {
    let mut request = httparse::Request::new(slots);
    Ok(match request.parse(block)? {
        Status::Complete(_) => Some(RequestParts {
            method: request.method.unwrap_or_default().to_owned(),
            uri: request.path.unwrap_or_default().to_owned(),
            version: minor_version(request.version),
            headers: owned_headers(block, request.headers),
        }),
        Status::Partial => None,
    })
}

fn strict_response<'b>(block: &'b [u8], slots: &mut [httparse::Header<'b>]) -> StrictResult<ResponseParts> {
    let mut response = httparse::Response::new(slots);
    Ok(match response.parse(block)? {
        Status::Complete(_) => Some(ResponseParts {
            version: minor_version(response.version),
            status: response.code.unwrap_or_default(),
            reason: response.reason.unwrap_or_default().to_owned(),
            headers: owned_headers(block, response.headers),
        }),
        Status::Partial => None,
    })
}

/// `1.0` or `1.1` from httparse's minor version, without allocating.
fn minor_version(minor: Option<u8>) -> Cow<'static, str> {
    match minor.unwrap_or_default() {
        0 => Cow::Borrowed("1.0"),
        1 => Cow::Borrowed("1.1"),
        other => Cow::Owned(format!("1.{other}")),
    }
}

/// A version from the start line, without allocating for the usual ones.
fn version_text(version: &[u8]) -> Cow<'static, str> {
    match version {
        b"1.0" => Cow::Borrowed("1.0"),
        b"1.1" => Cow::Borrowed("1.1"),
        other => Cow::Owned(text(other)),
    }
}

/// The parsed headers, over one copy of the block (or, when the block is not UTF-8, copied one
/// by one with lossy decoding).
fn owned_headers(block: &[u8], parsed: &[httparse::Header<'_>]) -> Headers {
    let pairs = parsed.iter().map(|h| (h.name.as_bytes(), h.value));
    Headers::over_block(block, pairs).unwrap_or_else(|| {
        let mut headers = Headers::with_capacity(parsed.len(), block.len());
        for header in parsed {
            headers.push(header.name, header.value);
        }
        headers
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn split_first_line(block: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\n', block) {
        Some(end) => block.split_at(end + 1),
        None => (block, &[]),
    }
}

fn is_usual_version(version: &[u8]) -> bool {
    version == b"1.0" || version == b"1.1"
}

fn tolerant_request(block: &[u8], max_headers: usize, cut: bool) -> Option<(RequestParts, HeadIssues)> {
    let (first, rest) = split_first_line(block);
    if cut && !first.ends_with(b"\n") {
        return None;
    }
    let line = parse_request_line(first)?;
    let mut issues = HeadIssues {
        start_line: match line.version {
            Some(_) if line.uri.is_empty() => Some("missing URI"),
            Some(_) if line.uri.iter().any(|&b| is_ws(b)) => Some("white space in the URI"),
            Some(version) if !is_usual_version(version) => Some("HTTP version other than 1.0 and 1.1"),
            _ => None,
        },
        ..HeadIssues::default()
    };
    let headers = tolerant_headers(rest, max_headers, &mut issues);
    issues.not_strict = !cut && issues == HeadIssues::default() && line.version.is_some();
    let version = line.version.map_or(Cow::Borrowed("0.9"), version_text);
    Some((RequestParts { method: text(line.method), uri: text(line.uri), version, headers }, issues))
}

fn tolerant_response(block: &[u8], max_headers: usize, cut: bool) -> Option<(ResponseParts, HeadIssues)> {
    let (first, rest) = split_first_line(block);
    if cut && !first.ends_with(b"\n") {
        return None;
    }
    let line = parse_status_line(first)?;
    let mut issues = HeadIssues {
        start_line: (!is_usual_version(line.version)).then_some("HTTP version other than 1.0 and 1.1"),
        ..HeadIssues::default()
    };
    let headers = tolerant_headers(rest, max_headers, &mut issues);
    issues.not_strict = !cut && issues == HeadIssues::default();
    let parts = ResponseParts { version: version_text(line.version), status: line.status, reason: text(line.reason), headers };
    Some((parts, issues))
}

/// Header lines up to the first empty line (or the end of a cut block).
fn tolerant_headers(lines: &[u8], max_headers: usize, issues: &mut HeadIssues) -> Headers {
    let mut headers = Headers::with_capacity(0, lines.len());
    // Whether the previous line was a header we kept, which a continuation line extends.
    let mut previous_kept = false;
    for raw in lines.split_inclusive(|&b| b == b'\n') {
        let line = trim_line_end(raw);
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|&b| is_ws(b)) {
            issues.folded_lines += 1;
            if previous_kept {
                headers.continue_last(trim_ws(line));
            }
            continue;
        }
        previous_kept = false;
        match split_header(line) {
            Some(_) if headers.len() >= max_headers => issues.dropped_headers += 1,
            Some((name, value)) => {
                // A valid name is made of token characters: ASCII.
                headers.push(&String::from_utf8_lossy(name), value);
                previous_kept = true;
            }
            None => issues.invalid_lines += 1,
        }
    }
    headers
}

/// `name: value`, tolerating white space before the colon.
fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = trim_ws(&line[..colon]);
    let valid = !name.is_empty() && name.iter().all(|&b| is_token(b));
    valid.then(|| (name, trim_ws(&line[colon + 1..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(kind: Kind, input: &[u8]) -> Scan {
        let mut scan = HeadScan::default();
        scan.scan(input, kind)
    }

    #[test]
    fn scan_finds_block_end_incrementally() {
        let block = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        let mut scan = HeadScan::default();
        for end in 1..=26 {
            assert_eq!(scan.scan(&block[..end], Kind::Request), Scan::NeedMore, "at {end}");
        }
        assert_eq!(scan.scan(&block[..27], Kind::Request), Scan::Complete { len: 27 });
        assert_eq!(scan_all(Kind::Request, b"GET / HTTP/1.1\nA: b\n\nx"), Scan::Complete { len: 21 });
        assert_eq!(scan_all(Kind::Request, b"GET /zeek.html\nmore"), Scan::Complete { len: 15 });
    }

    #[test]
    fn scan_rejects_garbage_early() {
        assert_eq!(scan_all(Kind::Request, b"\x16\x03\x01\x00"), Scan::NotHttp { line_len: 4 });
        assert_eq!(scan_all(Kind::Request, b"T / HTTP\n\nGET"), Scan::NotHttp { line_len: 9 });
        assert_eq!(scan_all(Kind::Response, b"<html>"), Scan::NotHttp { line_len: 6 });
        assert_eq!(scan_all(Kind::Response, b"HTTP/1.1 abc\r\n"), Scan::NotHttp { line_len: 14 });
        assert_eq!(scan_all(Kind::Response, b"HTTP/1.1 200 OK\r\nServer: x"), Scan::NeedMore);
    }

    #[test]
    fn tail_scan_finds_the_empty_line_across_pieces() {
        let mut tail = TailScan::after(b"GET / HTTP/1.1\r\nCookie: aaa");
        assert_eq!(tail, TailScan::InLine);
        assert_eq!(tail.feed(b"aaa\r"), None);
        assert_eq!(tail.feed(b"\n\r"), None);
        assert_eq!(tail.feed(b"\nBODY"), Some(1));
        assert_eq!(TailScan::after(b"x\r\n"), TailScan::LineStart);
        assert_eq!(TailScan::after(b"x\n\r"), TailScan::LineStartCr);
        assert_eq!(TailScan::after(b"x\n\r").feed(b"\n"), Some(1));
    }

    fn header_pairs(headers: &Headers) -> Vec<(&str, &str)> {
        headers.iter().collect()
    }

    #[test]
    fn strict_parse_of_a_clean_request() {
        let (parts, issues) =
            parse_request(b"POST /x?y HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", 256, false).unwrap();
        assert_eq!((parts.method.as_str(), parts.uri.as_str(), &*parts.version), ("POST", "/x?y", "1.1"));
        assert_eq!(header_pairs(&parts.headers), [("Host", "h"), ("Content-Length", "3")]);
        assert_eq!(issues, HeadIssues::default());
    }

    #[test]
    fn tolerant_parse_recovers_what_zeek_accepts() {
        let block = b"CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0\r\nMozilla 4.0 (compatible)\r\n\r\n";
        let (parts, issues) = parse_request(block, 256, false).unwrap();
        assert_eq!(parts.uri, "mailin03.sul.t-online.de:25 /");
        assert_eq!(parts.version, "1.0");
        assert!(parts.headers.is_empty());
        assert_eq!(issues.start_line, Some("white space in the URI"));
        assert_eq!(issues.invalid_lines, 1);

        let (parts, issues) = parse_request(b"GET HTTP/1.1\r\nHost: bro.org\r\n\r\n", 256, false).unwrap();
        assert_eq!((parts.uri.as_str(), parts.headers.get("host")), ("", Some("bro.org")));
        assert_eq!(issues.start_line, Some("missing URI"));

        let block = b"POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding:\r\n chunked\r\n\r\n";
        let (parts, issues) = parse_request(block, 256, false).unwrap();
        assert_eq!(parts.headers.get("transfer-encoding"), Some("chunked"));
        assert_eq!(issues.folded_lines, 1);

        let (parts, issues) = parse_request(b"GET /zeek.html\n", 256, false).unwrap();
        assert_eq!((&*parts.version, issues), ("0.9", HeadIssues::default()));

        let (parts, issues) = parse_response(b"HTTP/1.1 200 OK\r\nServer : iis\r\n\r\n", 256, false).unwrap();
        assert_eq!(parts.headers.get("server"), Some("iis"));
        assert_eq!(issues, HeadIssues { not_strict: true, ..HeadIssues::default() });

        let (parts, issues) = parse_response(b"HTTP/1.2 200 OK\r\nA: b\r\n\r\n", 256, false).unwrap();
        assert_eq!((&*parts.version, parts.status), ("1.2", 200));
        assert_eq!(issues.start_line, Some("HTTP version other than 1.0 and 1.1"));
    }

    #[test]
    fn header_limit_keeps_the_first_headers() {
        let mut block = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..300 {
            block.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        block.extend_from_slice(b"\r\n");
        let (parts, issues) = parse_request(&block, 100, false).unwrap();
        assert_eq!(parts.headers.len(), 100);
        assert_eq!(parts.headers.iter().last().map(|(name, _)| name), Some("X-99"));
        assert_eq!(issues.dropped_headers, 200);
        let (parts, issues) = parse_request(&block, 300, false).unwrap();
        assert_eq!((parts.headers.len(), issues), (300, HeadIssues::default()));
    }

    #[test]
    fn cut_blocks_parse_their_complete_lines() {
        let (parts, issues) = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 8, true).unwrap();
        assert_eq!(parts.headers.get("content-length"), Some("5"));
        assert_eq!(issues, HeadIssues::default());
        assert!(parse_request(b"GET /aaaaaaaa", 8, true).is_none());
    }
}
