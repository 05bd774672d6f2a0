//! Start lines (request line, status line), read leniently like Zeek.
//!
//! httparse (in `head`) is the strict, fast path. These parsers decide whether a line can start
//! an HTTP message at all: the first line of every header block is classified here as soon as it
//! is complete (or, while incomplete, as soon as its prefix is impossible), so a stream that stops
//! being HTTP is recognised without waiting for a header block that never ends. They also recover
//! the fields of lines httparse rejects but Zeek accepts (missing URI, white space in the URI,
//! versions other than 1.0 and 1.1, HTTP/0.9), and find where HTTP resumes after garbage.
//!
//! Invariant used by resynchronisation: every position [`find_request_start`] returns starts a
//! line [`parse_request_line`] accepts with a version, and every position
//! [`find_status_start`] returns starts with `HTTP/1.`.

use super::syntax::{is_token, is_ws, trim_line_end, trim_ws, trim_ws_start};

/// Longest method accepted (the longest registered methods have 16 characters).
pub(super) const MAX_METHOD_LEN: usize = 32;

/// A request line. `version` is the text after `HTTP/`, or `None` for HTTP/0.9 (`GET /path`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RequestLine<'a> {
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub version: Option<&'a [u8]>,
}

/// A status line; `version` is the text after `HTTP/`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct StatusLine<'a> {
    pub version: &'a [u8],
    pub status: u16,
    pub reason: &'a [u8],
}

/// Length of the method token at the start of `line`, looking at no more than one byte past
/// [`MAX_METHOD_LEN`] (so a long run costs nothing).
fn method_len(line: &[u8]) -> usize {
    line.iter().take(MAX_METHOD_LEN + 1).take_while(|&&b| is_token(b)).count()
}

/// Zeek's request line: a method token, white space, the URI up to the first `HTTP/` that
/// follows white space, the version after it. Without a version it is HTTP/0.9, accepted (like
/// Zeek) only with a method of at least 3 characters and a URI, here also without white space.
pub(super) fn parse_request_line(line: &[u8]) -> Option<RequestLine<'_>> {
    let line = trim_line_end(line);
    let len = method_len(line);
    if len == 0 || len > MAX_METHOD_LEN {
        return None;
    }
    let (method, rest) = line.split_at(len);
    let target = trim_ws_start(rest);
    if target.len() == rest.len() {
        return None;
    }
    match find_version(target) {
        Some(at) => {
            let after = target.get(at + 5..).unwrap_or_default();
            let version = after.split(|&b| is_ws(b)).next().unwrap_or_default();
            Some(RequestLine { method, uri: trim_ws(&target[..at]), version: Some(version) })
        }
        None => {
            let uri = trim_ws(target);
            let plausible = len >= 3 && !uri.is_empty() && !uri.iter().any(|&b| is_ws(b));
            plausible.then_some(RequestLine { method, uri, version: None })
        }
    }
}

/// Offset of `HTTP/` (any case) at the start of `target` or right after white space.
fn find_version(target: &[u8]) -> Option<usize> {
    target.windows(5).enumerate().find_map(|(i, window)| {
        let after_ws = i == 0 || target.get(i - 1).is_some_and(|&b| is_ws(b));
        (after_ws && window.eq_ignore_ascii_case(b"HTTP/")).then_some(i)
    })
}

/// `HTTP/<version> <3 digits>[ <reason>]`, the prefix in any case (Zeek accepts it too).
pub(super) fn parse_status_line(line: &[u8]) -> Option<StatusLine<'_>> {
    let line = trim_line_end(line);
    let rest = line.get(5..).filter(|_| line[..5].eq_ignore_ascii_case(b"HTTP/"))?;
    let version_len = rest.iter().take_while(|&&b| !is_ws(b)).count();
    let (version, rest) = rest.split_at(version_len);
    let code_on = trim_ws_start(rest);
    if version.is_empty() || code_on.len() == rest.len() {
        return None;
    }
    let digits = code_on.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit))?;
    let after = &code_on[3..];
    if after.first().is_some_and(|&b| !is_ws(b)) {
        return None;
    }
    let status = digits.iter().fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    Some(StatusLine { version, status, reason: trim_ws(after) })
}

/// Whether `prefix`, the start of a first line whose end has not arrived yet, can still become
/// a request line: a method token being read, or one already followed by white space.
pub(super) fn request_prefix_plausible(prefix: &[u8]) -> bool {
    let len = method_len(prefix);
    if len > MAX_METHOD_LEN {
        return false;
    }
    match prefix.get(len) {
        None => true,
        Some(&b) => len > 0 && is_ws(b),
    }
}

/// Whether `prefix` can still become a status line: it agrees with `HTTP/` so far.
pub(super) fn response_prefix_plausible(prefix: &[u8]) -> bool {
    let n = prefix.len().min(5);
    prefix[..n].eq_ignore_ascii_case(&b"HTTP/"[..n])
}

/// Where a request line starts inside the complete `line`, at or after `min_start`: a whole
/// method token (not the tail of a longer word), white space, and ` HTTP/1.` further on.
/// Preferred: the usual `METHOD URI HTTP/1.x` just before the version,
/// so garbage words in front are not taken for a method; else the earliest such token.
pub(super) fn find_request_start(line: &[u8], min_start: usize) -> Option<usize> {
    let version_at = line.windows(8).position(|w| w == b" HTTP/1.")?;
    let is_method = |(start, end): (usize, usize)| {
        let word = line.get(start..end).unwrap_or_default();
        start >= min_start && (1..=MAX_METHOD_LEN).contains(&word.len()) && word.iter().all(|&b| is_token(b))
    };
    let uri = word_before(line, version_at);
    if let Some((start, _)) = uri.and_then(|(start, _)| word_before(line, start)).filter(|&w| is_method(w)) {
        return Some(start);
    }
    (min_start..=version_at).find(|&p| {
        let word_start = p == 0 || line.get(p - 1).is_some_and(|&b| !is_token(b));
        let rest = line.get(p..).unwrap_or_default();
        let len = method_len(rest);
        word_start
            && (1..=MAX_METHOD_LEN).contains(&len)
            && p + len <= version_at
            && rest.get(len).is_some_and(|&b| is_ws(b))
    })
}

/// The word (bytes between white space) that ends before `end`, skipping white space.
fn word_before(line: &[u8], end: usize) -> Option<(usize, usize)> {
    let before = line.get(..end)?;
    let word_end = before.iter().rposition(|&b| !is_ws(b))? + 1;
    let word_start = before[..word_end].iter().rposition(|&b| is_ws(b)).map_or(0, |i| i + 1);
    Some((word_start, word_end))
}

/// Where a status line starts inside the complete `line`, at or after `min_start`: `HTTP/1.` at
/// the start of the line; or, further on, a full `HTTP/1.x NNN` (a body without final newline
/// runs into the next response head).
pub(super) fn find_status_start(line: &[u8], min_start: usize) -> Option<usize> {
    if min_start == 0 && line.starts_with(b"HTTP/1.") {
        return Some(0);
    }
    (min_start.max(1)..line.len()).find(|&p| line.get(p..).is_some_and(starts_with_status))
}

/// `HTTP/1.0` or `HTTP/1.1`, a space, three digits, then white space or the line end.
fn starts_with_status(text: &[u8]) -> bool {
    let Some(prefix) = text.get(..12) else { return false };
    (prefix.starts_with(b"HTTP/1.0 ") || prefix.starts_with(b"HTTP/1.1 "))
        && prefix[9..].iter().all(u8::is_ascii_digit)
        && text.get(12).is_none_or(|&b| is_ws(b) || b == b'\r' || b == b'\n')
}

/// A method as clients write them: an upper-case letter, then upper-case letters, digits, `_`
/// or `-` (`GET`, `RPC_IN_DATA`, `VERSION-CONTROL`).
fn is_conventional_method(method: &[u8]) -> bool {
    method.first().is_some_and(u8::is_ascii_uppercase)
        && method.len() <= MAX_METHOD_LEN
        && method.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The first line of `bytes` (with its `\n`), and whether it is complete.
fn first_line(bytes: &[u8]) -> (&[u8], bool) {
    match memchr::memchr(b'\n', bytes) {
        Some(end) => (&bytes[..=end], true),
        None => (bytes, false),
    }
}

/// Does this look like the start of an HTTP request (for the pipeline's protocol detection)?
///
/// Stricter than the parser: a conventional method, then a request line with a version; HTTP/0.9
/// only for `GET`. A first line still incomplete passes once its method and a space are seen.
pub fn looks_like_request(first_bytes: &[u8]) -> bool {
    let (line, complete) = first_line(first_bytes);
    let len = method_len(line);
    if !is_conventional_method(&line[..len]) {
        return false;
    }
    if !complete {
        return line.get(len).is_some_and(|&b| is_ws(b));
    }
    match parse_request_line(line) {
        Some(RequestLine { version: Some(_), .. }) => true,
        Some(RequestLine { method, version: None, .. }) => method == b"GET",
        None => false,
    }
}

/// Does this look like the start of an HTTP response: `HTTP/` then a status code?
pub fn looks_like_response(first_bytes: &[u8]) -> bool {
    let (line, complete) = first_line(first_bytes);
    if !line.starts_with(b"HTTP/") {
        return false;
    }
    !complete || parse_status_line(line).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(line: &str) -> Option<(String, String, Option<String>)> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        parse_request_line(line.as_bytes()).map(|r| (text(r.method), text(r.uri), r.version.map(text)))
    }

    fn some(method: &str, uri: &str, version: Option<&str>) -> Option<(String, String, Option<String>)> {
        Some((method.into(), uri.into(), version.map(Into::into)))
    }

    #[test]
    fn request_lines_like_zeek() {
        assert_eq!(request("GET /a?b=c HTTP/1.1\r\n"), some("GET", "/a?b=c", Some("1.1")));
        assert_eq!(request("GET HTTP/1.1\r\n"), some("GET", "", Some("1.1")));
        assert_eq!(
            request("CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0\r\n"),
            some("CONNECT", "mailin03.sul.t-online.de:25 /", Some("1.0"))
        );
        assert_eq!(request("GET / HTTP/1.\n"), some("GET", "/", Some("1.")));
        assert_eq!(request("GET / http/2.0 crud\n"), some("GET", "/", Some("2.0")));
        assert_eq!(request("GET /zeek.html\n"), some("GET", "/zeek.html", None));
        assert_eq!(request("GET /HTTP/1.1\n"), some("GET", "/HTTP/1.1", None));
        assert_eq!(request("POST /zeek.html\n"), some("POST", "/zeek.html", None));
        for bad in ["T /zeek.html\n", "GET \n", "T \n", "OPTIONS\n", "OPTIONSHTTP/1.1\n", "GET/ HTTP/1.1\n",
            "T / HTTP\n", "\u{c3}\u{83} / HTTP/1.1\n", "GET a b\n", ""]
        {
            assert_eq!(request(bad), None, "{bad:?}");
        }
        let long_method = format!("{} / HTTP/1.1\r\n", "X".repeat(MAX_METHOD_LEN + 1));
        assert_eq!(request(&long_method), None);
    }

    #[test]
    fn status_lines() {
        let line = parse_status_line(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!((line.version, line.status, line.reason), (&b"1.1"[..], 200, &b"OK"[..]));
        let line = parse_status_line(b"http/1.0 404\n").unwrap();
        assert_eq!((line.version, line.status, line.reason), (&b"1.0"[..], 404, &b""[..]));
        let line = parse_status_line(b"HTTP/2 101  Switching Protocols \r\n").unwrap();
        assert_eq!((line.version, line.status, line.reason), (&b"2"[..], 101, &b"Switching Protocols"[..]));
        for bad in ["HTTP/1.1 20\r\n", "HTTP/1.1 2000 OK\n", "HTTP/1.1\n", "HTTP/ 200 OK\n", "HTTX/1.1 200\n", "HTT"] {
            assert!(parse_status_line(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn prefixes() {
        assert!(request_prefix_plausible(b""));
        assert!(request_prefix_plausible(b"GE"));
        assert!(request_prefix_plausible(b"GET /x\xff"));
        assert!(!request_prefix_plausible(b"\x16\x03"));
        assert!(!request_prefix_plausible(b"GET/"));
        assert!(!request_prefix_plausible(b" GET"));
        assert!(!request_prefix_plausible("A".repeat(MAX_METHOD_LEN + 1).as_bytes()));
        assert!(response_prefix_plausible(b"HT"));
        assert!(response_prefix_plausible(b"http/1.1 2"));
        assert!(!response_prefix_plausible(b"HTML"));
    }

    #[test]
    fn resynchronisation_points() {
        let line = b"\xdd\x00\x00\x00 GET /txt HTTP/1.1\r\n";
        assert_eq!(find_request_start(line, 0), Some(5));
        assert_eq!(find_request_start(b"GET / HTTP/1.1\r\n", 1), None);
        assert_eq!(find_request_start(b"xGET / HTTP/1.1\r\n", 1), None, "tail of a word");
        assert_eq!(find_request_start(b"more junk GET /a HTTP/1.1\r\n", 0), Some(10), "method and URI before the version");
        assert_eq!(find_request_start(b"\x00 GET HTTP/1.1\r\n", 0), Some(2), "no URI");
        assert_eq!(find_request_start(b"junk GET /a b HTTP/1.1\r\n", 0), Some(0), "earliest otherwise");
        assert_eq!(find_request_start(b"x GET HTTP/1.1\r\n", 1), Some(2));
        assert_eq!(find_request_start(b"no version here\r\n", 0), None);
        assert_eq!(parse_request_line(&line[5..]).and_then(|r| r.version), Some(&b"1.1"[..]));
        assert_eq!(find_status_start(b"HTTP/1.1 200 OK\r\n", 0), Some(0));
        assert_eq!(find_status_start(b"HTTP/1.1 200 OK\r\n", 1), None);
        assert_eq!(find_status_start(b"xHTTP/1.1 200 OK\r\n", 0), Some(1));
        assert_eq!(find_status_start(b"xHTTP/1.1 200\n", 0), Some(1));
        assert_eq!(find_status_start(b"see HTTP/1.1 for details\r\n", 0), None);
        assert_eq!(find_status_start(b"xHTTP/1.1 2000\n", 0), None);
        for line in [&b"HTTP/1.1 200 OK\r\n"[..], b"xHTTP/1.1 200\n", b"x HTTP/1.0 404 Not Found\r\n"] {
            let start = find_status_start(line, 0).unwrap();
            assert!(parse_status_line(&line[start..]).is_some());
        }
    }

    #[test]
    fn protocol_detection() {
        assert!(looks_like_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(looks_like_request(b"RPC_IN_DATA /rpc/rpcproxy.dll?x:6001 HTTP/1.1\r\n"));
        assert!(looks_like_request(b"GET /zeek.html\n"));
        assert!(looks_like_request(b"POST /a-very-long-uri-cut-by-the-segm"));
        assert!(!looks_like_request(b"EHLO mail.example.com\r\n"));
        assert!(!looks_like_request(b"\x16\x03\x01\x02\x00\x01"));
        assert!(!looks_like_request(b"get / HTTP/1.1\r\n"));
        assert!(!looks_like_request(b"GET"));
        assert!(!looks_like_request(b""));
        assert!(looks_like_response(b"HTTP/1.1 200 OK\r\n"));
        assert!(looks_like_response(b"HTTP/1.1 2"));
        assert!(!looks_like_response(b"HTTP/1.1 OK\r\n"));
        assert!(!looks_like_response(b"<html>\n"));
        assert!(!looks_like_response(b"HTT"));
    }
}
