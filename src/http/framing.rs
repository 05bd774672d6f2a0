//! Message framing: what follows a header block, and reading bodies.
//!
//! Body length follows RFC 9112 §6 with Zeek's tolerance: chunked wins over Content-Length (an
//! anomaly), a Content-Length that is negative, not a number or beyond `i64::MAX` counts as 0
//! (Zeek does the same, so a smuggled request after it is still seen), conflicting values keep
//! the last. Bodies are counted, never buffered: only a chunk-size or trailer line is kept, bounded,
//! until it ends.

use super::syntax::{escape_bytes, is_blank_line, take_line, trim_line_end, trim_ws, trim_ws_start};
use super::Headers;

/// Longest header value or line quoted in an anomaly detail.
const DETAIL_MAX: usize = 64;

/// How the body of a message is delimited, from its headers.
#[derive(Debug, PartialEq, Eq)]
enum Length {
    Chunked,
    Exact(u64),
    Unspecified,
}

/// What follows a complete header block.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AfterHead {
    /// The message has no body.
    Done,
    Body(Body),
    /// The message has no body and the connection stops carrying HTTP after it.
    Tunnel,
    /// An interim (1xx) response: the final response is still to come.
    Interim,
}

/// Anomalies are reported through this: (kind, detail).
pub(super) type Report<'a> = dyn FnMut(&'static str, String) + 'a;

/// Framing of a request: HTTP/0.9 and requests without length have no body.
pub(super) fn request_framing(version: &str, headers: &Headers, report: &mut Report<'_>) -> AfterHead {
    if version == "0.9" {
        return AfterHead::Done;
    }
    match body_length(headers, report) {
        Length::Chunked => AfterHead::Body(Body::Chunked(Chunk::Size)),
        Length::Exact(0) | Length::Unspecified => AfterHead::Done,
        Length::Exact(n) => AfterHead::Body(Body::Length { remaining: n }),
    }
}

/// Framing of a response to a request with `method` (`None` when no request is waiting).
pub(super) fn response_framing(
    status: u16,
    method: Option<&str>,
    headers: &Headers,
    report: &mut Report<'_>,
) -> AfterHead {
    let method_is = |name: &str| method.is_some_and(|m| m.eq_ignore_ascii_case(name));
    match status {
        101 => return AfterHead::Tunnel,
        100..=199 => return AfterHead::Interim,
        200..=299 if method_is("CONNECT") => return AfterHead::Tunnel,
        204 | 304 => return AfterHead::Done,
        _ if method_is("HEAD") => return AfterHead::Done,
        _ => {}
    }
    match body_length(headers, report) {
        Length::Chunked => AfterHead::Body(Body::Chunked(Chunk::Size)),
        Length::Exact(0) => AfterHead::Done,
        Length::Exact(n) => AfterHead::Body(Body::Length { remaining: n }),
        Length::Unspecified => AfterHead::Body(Body::UntilClose),
    }
}

fn body_length(headers: &Headers, report: &mut Report<'_>) -> Length {
    let chunked = is_chunked(headers, report);
    match (chunked, content_length(headers, report)) {
        (true, Some(n)) => {
            report("http_content_length_and_chunked", format!("Content-Length {n} ignored: chunked wins"));
            Length::Chunked
        }
        (true, None) => Length::Chunked,
        (false, Some(n)) => Length::Exact(n),
        (false, None) => Length::Unspecified,
    }
}

/// Whether `chunked` is among the transfer codings; any other coding is reported (Zeek reads
/// only the first, RFC 9112 asks for chunked last: both agree when chunked is alone).
fn is_chunked(headers: &Headers, report: &mut Report<'_>) -> bool {
    let mut chunked = false;
    let mut other = false;
    for coding in headers.get_all("transfer-encoding").flat_map(|v| v.split(',')).map(str::trim) {
        if coding.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else {
            other = true;
        }
    }
    if other {
        let codings: Vec<&str> = headers.get_all("transfer-encoding").collect();
        report("http_transfer_encoding_unusual", clip(&codings.join(", ")));
    }
    chunked
}

/// The Content-Length, if any: a list of equal values (`42, 42`) is one value.
fn content_length(headers: &Headers, report: &mut Report<'_>) -> Option<u64> {
    let mut length = None;
    for value in headers.get_all("content-length") {
        for item in value.split(',') {
            let n = parse_decimal(item.trim()).unwrap_or_else(|| {
                report("http_bad_content_length", format!("{:?} taken as 0", clip(value)));
                0
            });
            if length.is_some_and(|previous| previous != n) {
                report("http_content_length_conflict", format!("{:?}: the last value {n} is used", clip(value)));
            }
            length = Some(n);
        }
    }
    length
}

/// A non-negative decimal that fits `i64` (leading zeros allowed).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.bytes()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .filter(|&n| i64::try_from(n).is_ok())
}

fn clip(text: &str) -> String {
    text.chars().take(DETAIL_MAX).collect()
}

/// A body being read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Body {
    Length { remaining: u64 },
    Chunked(Chunk),
    /// Until the connection ends (responses without length, HTTP/0.9 responses).
    UntilClose,
}

/// Where a chunked body stands.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Reading a chunk-size line (with optional extensions).
    Size,
    Data { remaining: u64 },
    /// Reading the line end after chunk data.
    DataEnd,
    /// After the last chunk: reading trailer lines until an empty one.
    Trailer,
}

/// What one call to [`Body::consume`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Progress {
    /// Bytes of the input taken; at least 1 when the input is not empty.
    pub consumed: usize,
    /// Body bytes among them, after de-chunking.
    pub body_bytes: u64,
    pub done: bool,
}

/// What a gap in the stream did to a body.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum GapOutcome {
    /// The gap fell inside the body, whose `body_bytes` it replaced; `done` if it ended the body.
    Absorbed { body_bytes: u64, done: bool },
    /// The body ended inside the gap after `body_bytes`; `excess` bytes of what follows are lost.
    Overran { body_bytes: u64, excess: u64 },
    /// The gap hid framing (a chunk size): the end of the body is unknown.
    LostSync,
}

#[derive(Debug, PartialEq, Eq)]
enum ChunkSizeError {
    Invalid,
    Overflow,
}

impl Body {
    /// Takes the body's part of `input`. `line` (empty between calls that complete a line) holds
    /// a partial chunk-size or trailer line, at most `limit` bytes of it.
    pub(super) fn consume(&mut self, input: &[u8], line: &mut Vec<u8>, limit: usize, report: &mut Report<'_>) -> Progress {
        match self {
            Body::Length { remaining } => {
                let n = take_counted(remaining, input.len());
                Progress { consumed: n, body_bytes: n as u64, done: *remaining == 0 }
            }
            Body::UntilClose => Progress { consumed: input.len(), body_bytes: input.len() as u64, done: false },
            Body::Chunked(Chunk::Data { remaining }) => {
                let n = take_counted(remaining, input.len());
                if *remaining == 0 {
                    *self = Body::Chunked(Chunk::DataEnd);
                }
                Progress { consumed: n, body_bytes: n as u64, done: false }
            }
            Body::Chunked(chunk) => {
                let (consumed, ended) = take_line(line, input, limit);
                let done = ended && chunk.line_ended(line, report);
                if ended {
                    line.clear();
                }
                Progress { consumed, body_bytes: 0, done }
            }
        }
    }

    /// Accounts for `len` bytes missing from the stream.
    pub(super) fn skip_gap(&mut self, len: u64) -> GapOutcome {
        match self {
            Body::UntilClose => GapOutcome::Absorbed { body_bytes: len, done: false },
            Body::Length { remaining } if len <= *remaining => {
                *remaining -= len;
                GapOutcome::Absorbed { body_bytes: len, done: *remaining == 0 }
            }
            Body::Length { remaining } => GapOutcome::Overran { body_bytes: *remaining, excess: len - *remaining },
            Body::Chunked(Chunk::Data { remaining }) if len <= *remaining => {
                *remaining -= len;
                if *remaining == 0 {
                    *self = Body::Chunked(Chunk::DataEnd);
                }
                GapOutcome::Absorbed { body_bytes: len, done: false }
            }
            Body::Chunked(_) => GapOutcome::LostSync,
        }
    }

    /// Whether the body ends normally with the connection.
    pub(super) fn ends_at_close(&self) -> bool {
        matches!(self, Body::UntilClose)
    }
}

/// Takes up to `available` bytes of a body part with `remaining` bytes left.
fn take_counted(remaining: &mut u64, available: usize) -> usize {
    let n = usize::try_from(*remaining).map_or(available, |r| r.min(available));
    *remaining -= n as u64;
    n
}

impl Chunk {
    /// A complete line in a chunked body; returns whether the body is done.
    fn line_ended(&mut self, line: &[u8], report: &mut Report<'_>) -> bool {
        match self {
            Chunk::Size => {
                *self = match parse_chunk_size(line) {
                    Ok(0) => Chunk::Trailer,
                    Ok(n) => Chunk::Data { remaining: n },
                    Err(error) => {
                        // Like Zeek: a chunk size that cannot be read ends the data.
                        let kind = match error {
                            ChunkSizeError::Invalid => "http_bad_chunk_size",
                            ChunkSizeError::Overflow => "http_chunk_size_overflow",
                        };
                        report(kind, format!("{}: taken as the last chunk", escape_bytes(trim_line_end(line), 32)));
                        Chunk::Trailer
                    }
                };
                false
            }
            Chunk::DataEnd => {
                if !is_blank_line(line) {
                    report("http_chunk_data_mismatch", format!("{} bytes after chunk data", trim_line_end(line).len()));
                }
                *self = Chunk::Size;
                false
            }
            Chunk::Trailer => is_blank_line(line),
            Chunk::Data { .. } => false,
        }
    }
}

/// `hex-digits [ws] [; extensions]`; sizes beyond `i64::MAX` overflow (Zeek reads them as int64).
fn parse_chunk_size(line: &[u8]) -> Result<u64, ChunkSizeError> {
    let line = trim_ws(trim_line_end(line));
    let digits_len = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let (digits, rest) = line.split_at(digits_len);
    let rest = trim_ws_start(rest);
    if digits.is_empty() || !(rest.is_empty() || rest.starts_with(b";")) {
        return Err(ChunkSizeError::Invalid);
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(16)?.checked_add(u64::from(char::from(d).to_digit(16)?)))
        .filter(|&n| i64::try_from(n).is_ok())
        .ok_or(ChunkSizeError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().copied().collect()
    }

    fn request(pairs: &[(&str, &str)]) -> (AfterHead, Vec<&'static str>) {
        let mut kinds = Vec::new();
        let after = request_framing("1.1", &headers(pairs), &mut |kind, _| kinds.push(kind));
        (after, kinds)
    }

    fn length(n: u64) -> AfterHead {
        AfterHead::Body(Body::Length { remaining: n })
    }

    #[test]
    fn content_length_variants() {
        assert_eq!(request(&[("Content-Length", "5")]), (length(5), vec![]));
        assert_eq!(request(&[("Content-Length", "00000000000000000000000000000050")]), (length(50), vec![]));
        assert_eq!(request(&[("Content-Length", "0")]), (AfterHead::Done, vec![]));
        assert_eq!(request(&[]), (AfterHead::Done, vec![]));
        assert_eq!(request(&[("Content-Length", "-1")]), (AfterHead::Done, vec!["http_bad_content_length"]));
        assert_eq!(request(&[("Content-Length", "abc")]), (AfterHead::Done, vec!["http_bad_content_length"]));
        assert_eq!(
            request(&[("Content-Length", "18446744073709551615")]),
            (AfterHead::Done, vec!["http_bad_content_length"])
        );
        assert_eq!(request(&[("Content-Length", "9223372036854775807")]), (length(i64::MAX as u64), vec![]));
        assert_eq!(request(&[("Content-Length", "7, 7")]), (length(7), vec![]));
        assert_eq!(
            request(&[("Content-Length", "7"), ("Content-Length", "9")]),
            (length(9), vec!["http_content_length_conflict"])
        );
        assert_eq!(request_framing("0.9", &headers(&[("Content-Length", "5")]), &mut |_, _| {}), AfterHead::Done);
    }

    #[test]
    fn transfer_encoding_variants() {
        let chunked = AfterHead::Body(Body::Chunked(Chunk::Size));
        assert_eq!(request(&[("Transfer-Encoding", "chunked")]), (AfterHead::Body(Body::Chunked(Chunk::Size)), vec![]));
        assert_eq!(
            request(&[("Transfer-Encoding", "chunked"), ("Content-Length", "50")]),
            (AfterHead::Body(Body::Chunked(Chunk::Size)), vec!["http_content_length_and_chunked"])
        );
        assert_eq!(
            request(&[("Transfer-Encoding", "chunked, identity")]),
            (chunked, vec!["http_transfer_encoding_unusual"])
        );
        assert_eq!(
            request(&[("Transfer-Encoding", "gzip"), ("Content-Length", "3")]),
            (length(3), vec!["http_transfer_encoding_unusual"])
        );
    }

    fn response(status: u16, method: Option<&str>, pairs: &[(&str, &str)]) -> AfterHead {
        response_framing(status, method, &headers(pairs), &mut |_, _| {})
    }

    #[test]
    fn response_framing_rules() {
        let cl = [("Content-Length", "10")];
        assert_eq!(response(200, Some("GET"), &cl), length(10));
        assert_eq!(response(200, Some("HEAD"), &cl), AfterHead::Done);
        assert_eq!(response(204, Some("GET"), &cl), AfterHead::Done);
        assert_eq!(response(304, Some("GET"), &cl), AfterHead::Done);
        assert_eq!(response(100, Some("POST"), &[]), AfterHead::Interim);
        assert_eq!(response(103, Some("GET"), &[]), AfterHead::Interim);
        assert_eq!(response(101, Some("GET"), &[]), AfterHead::Tunnel);
        assert_eq!(response(200, Some("CONNECT"), &[]), AfterHead::Tunnel);
        assert_eq!(response(407, Some("CONNECT"), &cl), length(10));
        assert_eq!(response(200, Some("GET"), &[]), AfterHead::Body(Body::UntilClose));
        assert_eq!(response(200, None, &[]), AfterHead::Body(Body::UntilClose));
    }

    /// Feeds `input` in pieces of `piece` bytes; returns (body bytes, done, anomalies).
    fn read(mut body: Body, input: &[u8], piece: usize) -> (u64, bool, Vec<&'static str>, usize) {
        let mut line = Vec::new();
        let mut kinds = Vec::new();
        let (mut total, mut offset) = (0, 0);
        while offset < input.len() {
            let end = (offset + piece).min(input.len());
            let progress = body.consume(&input[offset..end], &mut line, 64, &mut |kind, _| kinds.push(kind));
            assert!(progress.consumed > 0);
            total += progress.body_bytes;
            offset += progress.consumed;
            if progress.done {
                return (total, true, kinds, offset);
            }
        }
        (total, false, kinds, offset)
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";
        for piece in 1..=input.len() {
            assert_eq!(read(Body::Chunked(Chunk::Size), input, piece), (23, true, vec![], input.len() - 4), "{piece}");
        }
        let bare_lf = b"3\nabc\n0\n\n";
        assert_eq!(read(Body::Chunked(Chunk::Size), bare_lf, 100), (3, true, vec![], bare_lf.len()));
    }

    #[test]
    fn chunked_errors() {
        let overflow = b"10000000000000000\r\n\r\nGET";
        assert_eq!(read(Body::Chunked(Chunk::Size), overflow, 100), (0, true, vec!["http_chunk_size_overflow"], 21));
        let bad = b"zz\r\n\r\n";
        assert_eq!(read(Body::Chunked(Chunk::Size), bad, 100), (0, true, vec!["http_bad_chunk_size"], 6));
        let long_data = b"2\r\nabcd\r\n0\r\n\r\n";
        assert_eq!(read(Body::Chunked(Chunk::Size), long_data, 100), (2, true, vec!["http_chunk_data_mismatch"], 14));
        assert_eq!(parse_chunk_size(b"ffffffffffffffff\r\n"), Err(ChunkSizeError::Overflow));
        assert_eq!(parse_chunk_size(b"7fffffffffffffff\r\n"), Ok(i64::MAX as u64));
        assert_eq!(parse_chunk_size(b"0000000000000000001a\r\n"), Ok(26));
    }

    #[test]
    fn length_and_until_close() {
        assert_eq!(read(Body::Length { remaining: 5 }, b"abcdeNEXT", 2), (5, true, vec![], 5));
        assert_eq!(read(Body::UntilClose, b"abcdef", 4), (6, false, vec![], 6));
    }

    #[test]
    fn gaps() {
        let mut body = Body::Length { remaining: 10 };
        assert_eq!(body.skip_gap(4), GapOutcome::Absorbed { body_bytes: 4, done: false });
        assert_eq!(body.skip_gap(6), GapOutcome::Absorbed { body_bytes: 6, done: true });
        let mut body = Body::Length { remaining: 10 };
        assert_eq!(body.skip_gap(15), GapOutcome::Overran { body_bytes: 10, excess: 5 });
        let mut body = Body::Chunked(Chunk::Data { remaining: 8 });
        assert_eq!(body.skip_gap(8), GapOutcome::Absorbed { body_bytes: 8, done: false });
        assert_eq!(body, Body::Chunked(Chunk::DataEnd));
        assert_eq!(body.skip_gap(1), GapOutcome::LostSync);
        assert_eq!(Body::UntilClose.skip_gap(7), GapOutcome::Absorbed { body_bytes: 7, done: false });
    }
}
