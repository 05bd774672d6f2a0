//! Byte-level helpers shared by the HTTP parsers: token characters, line handling, and the
//! escaping of raw bytes for anomaly details.

/// A `token` character of RFC 9110, as Zeek reads it: visible ASCII except the separators.
pub(super) fn is_token(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// Linear white space inside a line.
pub(super) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The line without its terminator (`\n`, `\r\n`, or a lone trailing `\r`).
pub(super) fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(super) fn trim_ws_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| !is_ws(b)).unwrap_or(bytes.len());
    &bytes[start..]
}

pub(super) fn trim_ws(bytes: &[u8]) -> &[u8] {
    let bytes = trim_ws_start(bytes);
    let end = bytes.iter().rposition(|&b| !is_ws(b)).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Whether a line is empty apart from its terminator: the end of a header block.
pub(super) fn is_blank_line(line: &[u8]) -> bool {
    trim_line_end(line).is_empty()
}

/// Appends `input` up to and including its first `\n` to `line`, keeping at most `limit` bytes
/// in `line` (the rest of an over-long line is consumed but dropped). Returns the bytes consumed
/// and whether the line ended.
pub(super) fn take_line(line: &mut Vec<u8>, input: &[u8], limit: usize) -> (usize, bool) {
    let end = memchr::memchr(b'\n', input).map(|i| i + 1);
    let consumed = end.unwrap_or(input.len());
    let room = limit.saturating_sub(line.len());
    line.extend_from_slice(&input[..consumed.min(room)]);
    (consumed, end.is_some())
}

/// At most `max` bytes, printable ASCII as is and everything else as `\xNN`.
pub(super) fn escape_bytes(bytes: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(max.min(bytes.len()) * 2);
    for &b in bytes.iter().take(max) {
        if (b.is_ascii_graphic() && b != b'\\') || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Lower-case markers after which raw bytes may hold a credential (authorization headers and
/// schemes, `TlRMTVNT` = base64 of an NTLMSSP message, form fields); anomaly samples stop
/// before them.
const CREDENTIAL_MARKERS: [&[u8]; 10] =
    [b"authorization", b"basic", b"bearer", b"negotiate", b"ntlm", b"tlrmtvnt", b"pass", b"pwd", b"secret", b"token"];

/// The prefix of `bytes` before the first credential marker (case-insensitive), and whether
/// anything was cut.
pub(super) fn before_credentials(bytes: &[u8]) -> (&[u8], bool) {
    let cut = CREDENTIAL_MARKERS
        .iter()
        .filter_map(|marker| {
            bytes.windows(marker.len()).position(|w| w.eq_ignore_ascii_case(marker))
        })
        .min();
    match cut {
        Some(at) => (&bytes[..at], true),
        None => (bytes, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_trimming() {
        assert!(is_token(b'G') && is_token(b'_') && is_token(b'-') && is_token(b'!'));
        assert!(!is_token(b' ') && !is_token(b'/') && !is_token(b':') && !is_token(0x80));
        assert_eq!(trim_line_end(b"abc\r\n"), b"abc");
        assert_eq!(trim_line_end(b"abc\n"), b"abc");
        assert_eq!(trim_line_end(b"abc"), b"abc");
        assert_eq!(trim_ws(b" \t a b \t"), b"a b");
        assert_eq!(trim_ws(b"   "), b"");
        assert!(is_blank_line(b"\r\n") && is_blank_line(b"\n") && !is_blank_line(b" \n"));
    }

    #[test]
    fn take_line_stops_at_newline_and_bounds_storage() {
        let mut line = Vec::new();
        assert_eq!(take_line(&mut line, b"ab", 8), (2, false));
        assert_eq!(take_line(&mut line, b"c\ndef", 8), (2, true));
        assert_eq!(line, b"abc\n");
        let mut long = Vec::new();
        assert_eq!(take_line(&mut long, b"0123456789\nx", 4), (11, true));
        assert_eq!(long, b"0123");
    }

    #[test]
    fn escaping_and_credential_cut() {
        assert_eq!(escape_bytes(b"\xdd\x00 GET\\\r\n", 32), "\\xdd\\x00 GET\\x5c\\x0d\\x0a");
        assert_eq!(escape_bytes(b"abcdef", 3), "abc");
        assert_eq!(before_credentials(b"user=a&Password=b"), (&b"user=a&"[..], true));
        assert_eq!(before_credentials(b"GET / HTTP/1.1"), (&b"GET / HTTP/1.1"[..], false));
        assert_eq!(before_credentials(b"x TlRMTVNTUAADAAAA"), (&b"x "[..], true));
    }
}
