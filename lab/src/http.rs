//! The HTTP/1.1 subset both sides of the lab speak: message heads, `Content-Length` bodies,
//! keep-alive rules, and the small text codecs (percent-encoding, forms, cookies) Exchange uses.
//! Chunked transfer coding is not spoken: the stand-in CAS never sends it and rejects it.

use std::io::{self, BufRead, Read};

/// Longest head (start line and headers) accepted, as IIS's default limits do.
pub const MAX_HEAD: usize = 64 * 1024;

/// A start line and its header fields, in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// First value of a header field (names are case-insensitive).
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn content_length(&self) -> io::Result<Option<u64>> {
        match self.header("Content-Length") {
            None => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| invalid("bad Content-Length")),
        }
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name)
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after this message (RFC 9112 §9.3).
    pub fn keeps_alive(&self, version: &str) -> bool {
        if self.has_token("Connection", "close") {
            false
        } else if version == "HTTP/1.0" {
            self.has_token("Connection", "keep-alive")
        } else {
            true
        }
    }

    pub fn is_chunked(&self) -> bool {
        self.has_token("Transfer-Encoding", "chunked")
    }

    /// A cookie sent in the `Cookie` header(s), value as sent (quotes kept).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.all("Cookie")
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(cookie, _)| *cookie == name)
            .map(|(_, value)| value)
    }
}

/// Reads one head. `Ok(None)` when the peer closed cleanly before sending a byte of it.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut head = Head::default();
    let mut size = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .by_ref()
            .take((MAX_HEAD - size) as u64 + 1)
            .read_line(&mut line)?;
        size += read;
        if read == 0 {
            return if size == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if size > MAX_HEAD {
            return Err(invalid("head too large"));
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if head.start.is_empty() {
            // RFC 9112 §2.2: ignore empty lines before the start line.
            head.start = text.to_owned();
        } else if text.is_empty() {
            return Ok(Some(head));
        } else {
            let (name, value) = text
                .split_once(':')
                .ok_or_else(|| invalid("header without colon"))?;
            head.headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
}

/// Reads exactly `length` bytes of body, refusing bodies over `limit`.
pub fn read_body(reader: &mut impl Read, length: u64, limit: u64) -> io::Result<Vec<u8>> {
    if length > limit {
        return Err(invalid("body too large"));
    }
    let mut body = vec![0u8; length as usize];
    reader.read_exact(&mut body)?;
    Ok(body)
}

pub fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// `METHOD target HTTP/x.y`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    pub target: String,
    pub version: String,
}

impl RequestLine {
    pub fn parse(line: &str) -> Option<RequestLine> {
        let mut parts = line.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        let well_formed = parts.next().is_none()
            && !method.is_empty()
            && target.starts_with('/')
            && version.starts_with("HTTP/1.");
        well_formed.then(|| RequestLine {
            method: method.to_owned(),
            target: target.to_owned(),
            version: version.to_owned(),
        })
    }

    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }
}

/// `HTTP/x.y code reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusLine {
    pub version: String,
    pub code: u16,
}

impl StatusLine {
    pub fn parse(line: &str) -> Option<StatusLine> {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().filter(|v| v.starts_with("HTTP/1."))?;
        let code = parts
            .next()?
            .parse()
            .ok()
            .filter(|code| (100..1000).contains(code))?;
        Some(StatusLine {
            version: version.to_owned(),
            code,
        })
    }
}

/// `application/x-www-form-urlencoded` and query-string encoding of one value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-decoding; `plus_is_space` for form bodies. Bad escapes are kept literally.
pub fn url_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| {
                std::str::from_utf8(hex)
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            });
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                index += 3;
            }
            None => {
                out.push(if plus_is_space && byte == b'+' {
                    b' '
                } else {
                    byte
                });
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A field of a form body or query string, decoded.
pub fn form_field(encoded: &str, name: &str) -> Option<String> {
    encoded
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| url_decode(value, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(text: &str) -> io::Result<Option<Head>> {
        read_head(&mut text.as_bytes())
    }

    #[test]
    fn reads_heads_in_sequence_leaving_the_body() {
        let mut input: &[u8] =
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n";
        let head = read_head(&mut input).unwrap().unwrap();
        assert_eq!(head.start, "POST /a HTTP/1.1");
        assert_eq!(
            head.headers,
            vec![
                ("Host".into(), "x".into()),
                ("Content-Length".into(), "3".into())
            ]
        );
        assert_eq!(head.content_length().unwrap(), Some(3));
        assert_eq!(read_body(&mut input, 3, 10).unwrap(), b"abc");
        assert_eq!(
            read_head(&mut input).unwrap().unwrap().start,
            "GET /b HTTP/1.1"
        );
        assert_eq!(read_head(&mut input).unwrap(), None);
    }

    #[test]
    fn rejects_truncated_oversized_and_malformed_heads() {
        assert_eq!(
            head_of("GET / HTTP/1.1\r\nHost: x\r\n").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            head_of("GET / HTTP/1.1\r\nno colon\r\n\r\n")
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            head_of(&huge).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let bad_length = head_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(bad_length.content_length().is_err());
    }

    #[test]
    fn refuses_bodies_over_the_limit() {
        assert_eq!(
            read_body(&mut &b"abcdef"[..], 6, 5).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let head = |value: &str| Head {
            start: String::new(),
            headers: vec![("Connection".into(), value.into())],
        };
        assert!(Head::default().keeps_alive("HTTP/1.1"));
        assert!(!Head::default().keeps_alive("HTTP/1.0"));
        assert!(!head("Close").keeps_alive("HTTP/1.1"));
        assert!(head("Keep-Alive").keeps_alive("HTTP/1.0"));
        assert!(!head("keep-alive, close").keeps_alive("HTTP/1.0"));
    }

    #[test]
    fn finds_cookies_across_headers_keeping_quotes() {
        let head = Head {
            start: String::new(),
            headers: vec![
                ("Cookie".into(), "a=1; cadata=\"x==\"".into()),
                ("cookie".into(), "tzid=W. Europe Standard Time".into()),
            ],
        };
        assert_eq!(head.cookie("cadata"), Some("\"x==\""));
        assert_eq!(head.cookie("tzid"), Some("W. Europe Standard Time"));
        assert_eq!(head.cookie("CADATA"), None);
    }

    #[test]
    fn parses_request_and_status_lines() {
        let line =
            RequestLine::parse("RPC_IN_DATA /rpc/rpcproxy.dll?cas01.contoso.test:6001 HTTP/1.1")
                .unwrap();
        assert_eq!(
            (line.method.as_str(), line.path(), line.query()),
            (
                "RPC_IN_DATA",
                "/rpc/rpcproxy.dll",
                "cas01.contoso.test:6001"
            )
        );
        assert_eq!(
            RequestLine::parse("GET /owa/ HTTP/1.1").unwrap().query(),
            ""
        );
        for bad in [
            "GET /",
            "GET owa HTTP/1.1",
            "GET / HTTP/2",
            "GET / HTTP/1.1 extra",
            "",
        ] {
            assert_eq!(RequestLine::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            StatusLine::parse("HTTP/1.1 440 Login Timeout"),
            Some(StatusLine {
                version: "HTTP/1.1".into(),
                code: 440
            })
        );
        assert_eq!(
            StatusLine::parse("HTTP/1.0 200"),
            Some(StatusLine {
                version: "HTTP/1.0".into(),
                code: 200
            })
        );
        assert_eq!(StatusLine::parse("HTTP/1.1 20 x"), None);
        assert_eq!(StatusLine::parse("ICY 200 OK"), None);
    }

    #[test]
    fn percent_codecs_round_trip() {
        assert_eq!(url_encode("CONTOSO\\user1"), "CONTOSO%5Cuser1");
        assert_eq!(
            url_encode("https://mail/owa/"),
            "https%3A%2F%2Fmail%2Fowa%2F"
        );
        assert_eq!(url_decode("a+b%2Bc%zz%4", true), "a b+c%zz%4");
        assert_eq!(url_decode("a+b", false), "a+b");
        assert_eq!(
            form_field("destination=x&username=CONTOSO%5Cuser1&flags=4", "UserName"),
            Some("CONTOSO\\user1".into())
        );
        assert_eq!(form_field("a=1", "b"), None);
    }
}
