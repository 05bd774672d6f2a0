//! Handshake layer: cuts the handshake records of one direction into handshake messages.
//!
//! Invariants:
//! - messages are delivered whole and in order, however the records cut them (one message over
//!   several records, several messages in one record);
//! - a message that lies whole in one record is handed over without copying; at most one message
//!   cut by a record boundary is buffered (≤ `MAX_HANDSHAKE_MESSAGE` body bytes plus its header),
//!   and the buffer is freed once the message is delivered;
//! - a message announced larger than `MAX_HANDSHAKE_MESSAGE` is reported without its body and
//!   skipped, so the messages after it are still read.

use std::ops::ControlFlow;

/// Largest message body kept, enough for ordinary certificate chains.
pub(super) const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;
/// Type (1 byte) and body length (3 bytes).
const HEADER_LEN: usize = 4;

#[derive(Debug, PartialEq, Eq)]
pub(super) struct HandshakeMessage<'a> {
    pub msg_type: u8,
    /// Body length the header announced.
    pub len: usize,
    /// The body; `None` when the message is larger than `MAX_HANDSHAKE_MESSAGE`.
    pub body: Option<&'a [u8]>,
}

/// Handshake message framing of one direction.
#[derive(Debug, Default)]
pub(super) struct HandshakeReader {
    /// The first bytes (header included) of a message cut by the end of a record.
    partial: Vec<u8>,
    /// Bytes still to skip of a message too large to keep.
    skip: usize,
}

impl HandshakeReader {
    /// Reads the body of one handshake record. `on_message` breaks when the direction's handshake
    /// must not be parsed further (its keys changed); the rest of the record is then dropped.
    pub fn feed(
        &mut self,
        mut record: &[u8],
        mut on_message: impl FnMut(HandshakeMessage<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while !record.is_empty() {
            record = if self.skip > 0 {
                self.skip_bytes(record)
            } else if self.partial.is_empty() {
                self.read_in_place(record, &mut on_message)?
            } else {
                self.read_buffered(record, &mut on_message)?
            };
        }
        ControlFlow::Continue(())
    }

    /// Forgets a message in progress (its bytes were lost) and frees the buffer.
    pub fn clear(&mut self) {
        *self = HandshakeReader::default();
    }

    fn skip_bytes<'a>(&mut self, record: &'a [u8]) -> &'a [u8] {
        let (skipped, rest) = record.split_at(self.skip.min(record.len()));
        self.skip -= skipped.len();
        rest
    }

    /// Hands over the message at the start of `record` if it is whole there; otherwise starts
    /// buffering it, or skipping it if too large.
    fn read_in_place<'a>(
        &mut self,
        record: &'a [u8],
        on_message: &mut impl FnMut(HandshakeMessage<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<(), &'a [u8]> {
        let Some((msg_type, len)) = parse_header(record) else {
            self.partial.extend_from_slice(record);
            return ControlFlow::Continue(&[]);
        };
        if len > MAX_HANDSHAKE_MESSAGE {
            self.skip = len;
            on_message(HandshakeMessage { msg_type, len, body: None })?;
            return ControlFlow::Continue(record.get(HEADER_LEN..).unwrap_or_default());
        }
        match record.get(HEADER_LEN..HEADER_LEN + len) {
            Some(body) => {
                on_message(HandshakeMessage { msg_type, len, body: Some(body) })?;
                ControlFlow::Continue(record.get(HEADER_LEN + len..).unwrap_or_default())
            }
            None => {
                self.partial.extend_from_slice(record);
                ControlFlow::Continue(&[])
            }
        }
    }

    /// Continues the message in `partial` with the first bytes of `record`: its header first, then
    /// as much body as the header announced.
    fn read_buffered<'a>(
        &mut self,
        record: &'a [u8],
        on_message: &mut impl FnMut(HandshakeMessage<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<(), &'a [u8]> {
        let header_missing = HEADER_LEN.saturating_sub(self.partial.len());
        let (head, record) = record.split_at(header_missing.min(record.len()));
        self.partial.extend_from_slice(head);
        let Some((msg_type, len)) = parse_header(&self.partial) else {
            return ControlFlow::Continue(record);
        };
        if len > MAX_HANDSHAKE_MESSAGE {
            self.skip = len;
            self.partial = Vec::new();
            on_message(HandshakeMessage { msg_type, len, body: None })?;
            return ControlFlow::Continue(record);
        }
        let missing = (HEADER_LEN + len).saturating_sub(self.partial.len());
        let (tail, rest) = record.split_at(missing.min(record.len()));
        self.partial.extend_from_slice(tail);
        if tail.len() == missing {
            let message = std::mem::take(&mut self.partial);
            on_message(HandshakeMessage { msg_type, len, body: message.get(HEADER_LEN..) })?;
        }
        ControlFlow::Continue(rest)
    }
}

/// Type and announced body length, once the 4 header bytes are there.
fn parse_header(bytes: &[u8]) -> Option<(u8, usize)> {
    match *bytes {
        [msg_type, l0, l1, l2, ..] => Some((msg_type, u32::from_be_bytes([0, l0, l1, l2]) as usize)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Seen {
        msg_type: u8,
        len: usize,
        body: Option<Vec<u8>>,
    }

    fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let len = (body.len() as u32).to_be_bytes();
        [&[msg_type, len[1], len[2], len[3]][..], body].concat()
    }

    fn read_records(records: &[&[u8]]) -> Vec<Seen> {
        let mut reader = HandshakeReader::default();
        let mut seen = Vec::new();
        for record in records {
            let flow = reader.feed(record, |m| {
                seen.push(Seen { msg_type: m.msg_type, len: m.len, body: m.body.map(<[u8]>::to_vec) });
                ControlFlow::Continue(())
            });
            assert_eq!(flow, ControlFlow::Continue(()));
        }
        assert!(reader.partial.capacity() == 0 && reader.skip == 0, "nothing left over");
        seen
    }

    fn seen(msg_type: u8, body: &[u8]) -> Seen {
        Seen { msg_type, len: body.len(), body: Some(body.to_vec()) }
    }

    #[test]
    fn messages_cut_at_every_point_of_two_records() {
        let stream = [message(1, b"client hello"), message(14, b""), message(11, &[9; 40])].concat();
        let expected = vec![seen(1, b"client hello"), seen(14, b""), seen(11, &[9; 40])];
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(read_records(&[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn empty_message_is_delivered_when_its_header_completes() {
        let stream = message(14, b"");
        for split in 1..HEADER_LEN {
            let (a, b) = stream.split_at(split);
            assert_eq!(read_records(&[a, b]), vec![seen(14, b"")], "split at {split}");
        }
    }

    #[test]
    fn one_message_over_many_records() {
        let stream = message(11, &(0..=255).collect::<Vec<u8>>());
        for size in 1..=8 {
            let records: Vec<&[u8]> = stream.chunks(size).collect();
            assert_eq!(read_records(&records), vec![seen(11, &(0..=255).collect::<Vec<u8>>())], "records of {size}");
        }
    }

    #[test]
    fn largest_message_is_kept() {
        let stream = message(11, &vec![3; MAX_HANDSHAKE_MESSAGE]);
        let records: Vec<&[u8]> = stream.chunks(16384).collect();
        assert_eq!(read_records(&records), vec![seen(11, &vec![3; MAX_HANDSHAKE_MESSAGE])]);
    }

    #[test]
    fn too_large_message_is_skipped_and_the_next_read() {
        let stream = [message(11, &vec![3; MAX_HANDSHAKE_MESSAGE + 1]), message(14, b"")].concat();
        let expected = vec![Seen { msg_type: 11, len: MAX_HANDSHAKE_MESSAGE + 1, body: None }, seen(14, b"")];
        for size in [1, 3, 4, 5, 16384] {
            let records: Vec<&[u8]> = stream.chunks(size).collect();
            assert_eq!(read_records(&records), expected, "records of {size}");
        }
    }

    #[test]
    fn break_drops_the_rest_of_the_record() {
        let stream = [message(2, b"server hello"), message(8, b"encrypted")].concat();
        let mut reader = HandshakeReader::default();
        let mut types = Vec::new();
        let flow = reader.feed(&stream, |m| {
            types.push(m.msg_type);
            ControlFlow::Break(())
        });
        assert_eq!((flow, types), (ControlFlow::Break(()), vec![2]));
    }

    #[test]
    fn clear_forgets_a_partial_message() {
        let stream = [message(11, &[1; 10]), message(14, b"")].concat();
        let mut reader = HandshakeReader::default();
        let mut types = Vec::new();
        let _ = reader.feed(&stream[..6], |m| {
            types.push(m.msg_type);
            ControlFlow::Continue(())
        });
        reader.clear();
        let _ = reader.feed(&stream[14..], |m| {
            types.push(m.msg_type);
            ControlFlow::Continue(())
        });
        assert_eq!(types, vec![14]);
    }
}
