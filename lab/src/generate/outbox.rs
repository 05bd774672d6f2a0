//! What one side of a connection still has to send: a queue of pieces, literal bytes or bodies
//! described by their length and filled only when they are cut into segments, so that a
//! multi-megabyte body costs a few words of memory until it is on the wire.

use std::collections::VecDeque;
use std::sync::OnceLock;

use crate::rng::Rng;

/// Text bodies cycle through this (pages, XML, SOAP: compressible, readable in a capture).
const TEXT: &[u8] =
    b"<div class=\"itm\"><span class=\"frm\">Contoso Ltd.</span> Lorem ipsum dolor sit amet, \
consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. \
<a href=\"?ae=Item&amp;t=IPM.Note\">Quarterly review</a></div>\r\n";
/// Opaque bodies (attachments, RPC stubs, TLS ciphertext) cycle through this many pseudo-random
/// bytes, made once from a fixed seed.
const OPAQUE_LEN: usize = 64 * 1024;
const OPAQUE_SEED: u64 = 0x6f70_6171_7565;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    Text,
    Opaque,
}

impl Content {
    fn pattern(self) -> &'static [u8] {
        match self {
            Content::Text => TEXT,
            Content::Opaque => opaque_pattern(),
        }
    }
}

fn opaque_pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut rng = Rng::new(OPAQUE_SEED);
        (0..OPAQUE_LEN / 8)
            .flat_map(|_| rng.next_u64().to_le_bytes())
            .collect()
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    /// `len` bytes of `content`'s pattern, starting `start` bytes into it (so that bodies of
    /// different messages differ).
    Fill {
        content: Content,
        len: u64,
        start: usize,
    },
}

impl Piece {
    pub fn fill(content: Content, len: u64, start: usize) -> Piece {
        Piece::Fill {
            content,
            len,
            start,
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Fill { len, .. } => *len,
        }
    }
}

/// Total length of a list of pieces.
pub fn total_len(pieces: &[Piece]) -> u64 {
    pieces.iter().map(Piece::len).sum()
}

#[derive(Debug, Default)]
pub struct Outbox {
    pieces: VecDeque<Piece>,
    /// Bytes of the front piece already taken.
    taken: u64,
}

impl Outbox {
    pub fn extend(&mut self, pieces: impl IntoIterator<Item = Piece>) {
        self.pieces
            .extend(pieces.into_iter().filter(|piece| piece.len() > 0));
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Appends up to `max` bytes to `out`; returns how many.
    pub fn take(&mut self, max: usize, out: &mut Vec<u8>) -> usize {
        let mut copied = 0;
        while copied < max {
            let Some(front) = self.pieces.front() else {
                break;
            };
            let left = front.len() - self.taken;
            let count = left.min((max - copied) as u64) as usize;
            match front {
                Piece::Bytes(bytes) => {
                    let from = self.taken as usize;
                    out.extend_from_slice(&bytes[from..from + count]);
                }
                Piece::Fill { content, start, .. } => {
                    copy_cycled(content.pattern(), *start as u64 + self.taken, count, out)
                }
            }
            copied += count;
            self.taken += count as u64;
            if self.taken == front.len() {
                self.pieces.pop_front();
                self.taken = 0;
            }
        }
        copied
    }
}

/// The pieces' bytes as text: how tests read the HTTP the scripts write.
#[cfg(test)]
pub fn pieces_text(pieces: Vec<Piece>) -> String {
    let mut outbox = Outbox::default();
    outbox.extend(pieces);
    let mut out = Vec::new();
    while outbox.take(1 << 20, &mut out) > 0 {}
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends `count` bytes of `pattern` repeated forever, from `offset` on.
fn copy_cycled(pattern: &[u8], offset: u64, count: usize, out: &mut Vec<u8>) {
    let mut position = (offset % pattern.len() as u64) as usize;
    let mut left = count;
    while left > 0 {
        let run = left.min(pattern.len() - position);
        out.extend_from_slice(&pattern[position..position + run]);
        left -= run;
        position = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(outbox: &mut Outbox, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while outbox.take(step, &mut out) > 0 {}
        out
    }

    #[test]
    fn takes_across_pieces_in_order() {
        let mut outbox = Outbox::default();
        outbox.extend([
            Piece::Bytes(b"HEAD\r\n\r\n".to_vec()),
            Piece::Bytes(Vec::new()),
            Piece::fill(Content::Text, 30, 2),
            Piece::Bytes(b"!".to_vec()),
        ]);
        let mut out = Vec::new();
        assert_eq!(outbox.take(5, &mut out), 5);
        assert_eq!(out, b"HEAD\r");
        let rest = drain(&mut outbox, 7);
        assert_eq!(rest.len(), 3 + 30 + 1);
        assert_eq!(&rest[..3], b"\n\r\n");
        assert_eq!(&rest[3..33], &TEXT[2..32]);
        assert_eq!(rest[33], b'!');
        assert!(outbox.is_empty());
        assert_eq!(outbox.take(10, &mut out), 0);
    }

    #[test]
    fn fills_wrap_around_their_pattern() {
        let len = TEXT.len() as u64 * 2 + 5;
        let mut outbox = Outbox::default();
        outbox.extend([Piece::fill(Content::Text, len, TEXT.len() - 1)]);
        let out = drain(&mut outbox, 1000);
        assert_eq!(out.len() as u64, len);
        assert_eq!(out[0], TEXT[TEXT.len() - 1]);
        assert_eq!(&out[1..TEXT.len() + 1], TEXT);
    }

    #[test]
    fn opaque_pattern_is_fixed_and_not_text() {
        let mut outbox = Outbox::default();
        outbox.extend([Piece::fill(Content::Opaque, 16, 0)]);
        let out = drain(&mut outbox, 16);
        assert_eq!(out, opaque_pattern()[..16]);
        assert_eq!(opaque_pattern().len(), OPAQUE_LEN);
        assert!(out.iter().any(|byte| !byte.is_ascii()));
        assert_eq!(
            total_len(&[Piece::fill(Content::Opaque, 7, 3), Piece::Bytes(vec![1])]),
            8
        );
    }
}
