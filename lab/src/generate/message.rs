//! HTTP/1.1 messages as pieces for an [`Outbox`](super::outbox::Outbox): a head written as
//! text, then a body that is literal, described (filled on the wire), chunked, or only announced
//! by its `Content-Length` (Outlook Anywhere channels, whose body follows in later turns).

use std::fmt::{Display, Write};

use super::outbox::{Content, Piece};

/// Chunked bodies are flushed in pieces of this size, as IIS's response buffer does.
pub const CHUNK: u64 = 8 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body and no length header (GET requests, 304s).
    None,
    Bytes(Vec<u8>),
    Fill {
        content: Content,
        len: u64,
    },
    Chunked {
        content: Content,
        len: u64,
    },
    /// `Content-Length: len`, the bytes sent separately.
    Announced(u64),
}

/// A message head being written.
#[derive(Debug)]
pub struct Head {
    text: String,
}

impl Head {
    pub fn request(method: &str, target: &str, version: &str) -> Head {
        Head {
            text: format!("{method} {target} {version}\r\n"),
        }
    }

    pub fn response(code: u16, reason: &str) -> Head {
        Head {
            text: format!("HTTP/1.1 {code} {reason}\r\n"),
        }
    }

    pub fn header(mut self, name: &str, value: impl Display) -> Head {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// The head with its length header, then the body.
    pub fn finish(self, body: Body) -> Vec<Piece> {
        let Head { text } = match &body {
            Body::None => self,
            Body::Bytes(bytes) => self.header("Content-Length", bytes.len()),
            Body::Fill { len, .. } | Body::Announced(len) => self.header("Content-Length", len),
            Body::Chunked { .. } => self.header("Transfer-Encoding", "chunked"),
        };
        let mut pieces = vec![Piece::Bytes(format!("{text}\r\n").into_bytes())];
        match body {
            Body::None | Body::Announced(_) => {}
            Body::Bytes(bytes) => pieces.push(Piece::Bytes(bytes)),
            Body::Fill { content, len } => pieces.push(Piece::fill(content, len, len as usize)),
            Body::Chunked { content, len } => pieces.extend(chunked(content, len)),
        }
        pieces
    }
}

/// Chunks of [`CHUNK`] bytes (the last one shorter), then the last-chunk and an empty trailer.
fn chunked(content: Content, len: u64) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut separator = "";
    let mut sent = 0;
    while sent < len {
        let size = (len - sent).min(CHUNK);
        pieces.push(Piece::Bytes(
            format!("{separator}{size:x}\r\n").into_bytes(),
        ));
        pieces.push(Piece::fill(content, size, (len + sent) as usize));
        separator = "\r\n";
        sent += size;
    }
    pieces.push(Piece::Bytes(format!("{separator}0\r\n\r\n").into_bytes()));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::outbox::Outbox;

    fn wire(pieces: Vec<Piece>) -> String {
        let mut outbox = Outbox::default();
        outbox.extend(pieces);
        let mut out = Vec::new();
        while outbox.take(4096, &mut out) > 0 {}
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn requests_and_fixed_bodies() {
        let text = wire(
            Head::request("POST", "/owa/auth.owa", "HTTP/1.1")
                .header("Host", "mail.contoso.test")
                .finish(Body::Bytes(b"a=1".to_vec())),
        );
        assert_eq!(
            text,
            "POST /owa/auth.owa HTTP/1.1\r\nHost: mail.contoso.test\r\nContent-Length: 3\r\n\r\na=1"
        );
        let text = wire(Head::request("GET", "/", "HTTP/1.0").finish(Body::None));
        assert_eq!(text, "GET / HTTP/1.0\r\n\r\n");
        let text = wire(Head::response(200, "OK").finish(Body::Fill {
            content: Content::Text,
            len: 10,
        }));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 10");
        assert_eq!(body.len(), 10);
    }

    #[test]
    fn announced_bodies_only_have_their_length() {
        let text = wire(
            Head::request("RPC_IN_DATA", "/rpc/rpcproxy.dll", "HTTP/1.1")
                .finish(Body::Announced(1 << 30)),
        );
        assert!(text.ends_with("Content-Length: 1073741824\r\n\r\n"));
    }

    #[test]
    fn chunked_bodies_decode_to_their_length() {
        let len = 2 * CHUNK + 100;
        let text = wire(Head::response(200, "OK").finish(Body::Chunked {
            content: Content::Text,
            len,
        }));
        let (head, mut rest) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.ends_with("Transfer-Encoding: chunked"));
        let mut sizes = Vec::new();
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let size = usize::from_str_radix(size, 16).unwrap();
            sizes.push(size);
            let (_data, after) = after.split_at(size);
            rest = after.strip_prefix("\r\n").unwrap();
            if size == 0 {
                break;
            }
        }
        assert_eq!(sizes, [8192, 8192, 100, 0]);
        assert_eq!(rest, "");
        assert_eq!(wire(chunked(Content::Text, 0)), "0\r\n\r\n");
    }
}
