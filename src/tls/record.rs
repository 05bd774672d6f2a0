//! Record layer: cuts one direction's byte stream into TLS records.
//!
//! Invariants:
//! - every byte fed is accounted for exactly once: as part of a header, of a body handed whole to
//!   [`RecordSink::record`], or of a body reported to [`RecordSink::skipped`];
//! - at most one record body is buffered, only when the sink asked to read it and the body did not
//!   arrive in one chunk, and it is freed once delivered; skipped bodies are never copied;
//! - once the framing is lost (an invalid header, a gap across a record boundary) nothing more of
//!   the direction is delivered.

use tls_parser::{parse_tls_record_header, TlsRecordType};

/// Largest record body accepted: the TLSCiphertext limit of RFC 5246 §6.2.3 (2^14 + 2048).
pub(super) const MAX_RECORD_BODY: usize = (1 << 14) + 2048;
const TLS_HEADER_LEN: usize = 5;
const SSLV2_HEADER_LEN: usize = 2;
/// In the first byte of an SSLv2 record with a two-byte header.
const SSLV2_HEADER_FLAG: u8 = 0x80;
/// SSLv2 CLIENT-HELLO message type, the first byte of the body.
const SSLV2_CLIENT_HELLO: u8 = 1;
/// Fixed part of an SSLv2 CLIENT-HELLO: type, version and three lengths.
const SSLV2_CLIENT_HELLO_FIXED_LEN: usize = 9;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RecordKind {
    /// A TLS record of this content type.
    Tls(TlsRecordType),
    /// An SSLv2 record (two-byte header, high bit set), accepted only as a direction's first
    /// record: an SSLv2-compatible CLIENT-HELLO, or an SSLv2 server's SERVER-HELLO.
    Sslv2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RecordHeader {
    pub kind: RecordKind,
    /// Body length.
    pub len: usize,
}

/// What the sink wants done with a record's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    /// Buffer it if need be and hand it over whole.
    Read,
    /// Only report how many bytes went by.
    Skip,
}

/// Receives the records of one direction.
pub(super) trait RecordSink {
    /// A record begins: read or skip its body?
    fn start(&mut self, header: &RecordHeader) -> Body;
    /// The whole body of a record the sink chose to read.
    fn record(&mut self, header: &RecordHeader, body: &[u8]);
    /// `len` more body bytes of a skipped record went by.
    fn skipped(&mut self, header: &RecordHeader, len: usize);
    /// Content this direction carried is unknown from here: a gap swallowed part of a record the
    /// sink chose to read, or the framing was lost.
    fn content_lost(&mut self);
    fn anomaly(&mut self, kind: &'static str, detail: String);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// Between records, or inside a header (its first bytes in `RecordReader::header`).
    Header,
    /// Inside a body to read; its first bytes are in `RecordReader::body` unless they came in
    /// the chunk that ends it.
    Read { header: RecordHeader, remaining: usize },
    /// Inside a body to skip.
    Skip { header: RecordHeader, remaining: usize },
    /// Framing lost: the rest of the direction is ignored.
    Lost,
}

/// Record framing of one direction.
#[derive(Debug)]
pub(super) struct RecordReader {
    position: Position,
    header: [u8; TLS_HEADER_LEN],
    header_len: usize,
    body: Vec<u8>,
    /// No record has begun yet: an SSLv2 header is still allowed.
    first_record: bool,
}

impl Default for RecordReader {
    fn default() -> Self {
        RecordReader {
            position: Position::Header,
            header: [0; TLS_HEADER_LEN],
            header_len: 0,
            body: Vec::new(),
            first_record: true,
        }
    }
}

impl RecordReader {
    /// The next bytes of the direction.
    pub fn feed(&mut self, mut input: &[u8], sink: &mut impl RecordSink) {
        while !input.is_empty() {
            input = match self.position {
                Position::Header => self.take_header(input, sink),
                Position::Read { header, remaining } => self.take_read_body(input, header, remaining, sink),
                Position::Skip { header, remaining } => self.take_skipped_body(input, header, remaining, sink),
                Position::Lost => return,
            };
        }
    }

    /// `len` bytes of the direction are missing. Inside a body the framing survives (the rest of
    /// the body is skipped); anywhere else it is lost.
    pub fn gap(&mut self, len: u64, sink: &mut impl RecordSink) {
        // A length beyond usize is beyond any body.
        let missing = usize::try_from(len).unwrap_or(usize::MAX);
        match self.position {
            _ if missing == 0 => {}
            Position::Skip { header, remaining } if missing <= remaining => {
                self.continue_skipping(header, remaining - missing);
            }
            Position::Read { header, remaining } if missing <= remaining => {
                sink.anomaly("tls_gap_in_record", format!("{len} bytes missing inside a {} record", kind_name(header.kind)));
                sink.content_lost();
                self.body = Vec::new();
                self.continue_skipping(header, remaining - missing);
            }
            Position::Lost => {}
            Position::Header | Position::Read { .. } | Position::Skip { .. } => {
                self.lose(sink, "tls_lost_sync", format!("gap of {len} bytes across a record boundary"));
            }
        }
    }

    fn take_header<'a>(&mut self, input: &'a [u8], sink: &mut impl RecordSink) -> &'a [u8] {
        let Some(&next) = input.first() else { return input };
        let first_byte = if self.header_len == 0 { next } else { self.header[0] };
        let needed = if self.first_record && first_byte & SSLV2_HEADER_FLAG != 0 { SSLV2_HEADER_LEN } else { TLS_HEADER_LEN };
        let n = needed.saturating_sub(self.header_len).min(input.len());
        let (head, rest) = input.split_at(n);
        self.header[self.header_len..self.header_len + n].copy_from_slice(head);
        self.header_len += n;
        if self.header_len < needed {
            return rest;
        }
        self.header_len = 0;
        self.first_record = false;
        match parse_header(&self.header[..needed]) {
            Ok(header) => self.begin_body(header, sink),
            Err((kind, detail)) => self.lose(sink, kind, detail),
        }
        rest
    }

    fn begin_body(&mut self, header: RecordHeader, sink: &mut impl RecordSink) {
        let body = sink.start(&header);
        if header.len == 0 {
            if body == Body::Read {
                sink.record(&header, &[]);
            }
            self.position = Position::Header;
        } else {
            self.position = match body {
                Body::Read => Position::Read { header, remaining: header.len },
                Body::Skip => Position::Skip { header, remaining: header.len },
            };
        }
    }

    fn take_read_body<'a>(&mut self, input: &'a [u8], header: RecordHeader, remaining: usize, sink: &mut impl RecordSink) -> &'a [u8] {
        let (chunk, rest) = input.split_at(remaining.min(input.len()));
        let complete = chunk.len() == remaining;
        if complete && self.body.is_empty() {
            // The whole body is in this chunk: no copy.
            sink.record(&header, chunk);
        } else {
            self.body.extend_from_slice(chunk);
            if complete {
                // Freed rather than kept: most connections never need a buffer again.
                let body = std::mem::take(&mut self.body);
                sink.record(&header, &body);
            }
        }
        self.position = if complete {
            Position::Header
        } else {
            Position::Read { header, remaining: remaining - chunk.len() }
        };
        rest
    }

    fn take_skipped_body<'a>(&mut self, input: &'a [u8], header: RecordHeader, remaining: usize, sink: &mut impl RecordSink) -> &'a [u8] {
        let (chunk, rest) = input.split_at(remaining.min(input.len()));
        sink.skipped(&header, chunk.len());
        self.continue_skipping(header, remaining - chunk.len());
        rest
    }

    fn continue_skipping(&mut self, header: RecordHeader, remaining: usize) {
        self.position = if remaining == 0 { Position::Header } else { Position::Skip { header, remaining } };
    }

    fn lose(&mut self, sink: &mut impl RecordSink, kind: &'static str, detail: String) {
        sink.anomaly(kind, detail);
        sink.content_lost();
        self.position = Position::Lost;
        self.body = Vec::new();
    }
}

/// A complete header: two bytes for SSLv2 (high bit set), five for TLS.
fn parse_header(bytes: &[u8]) -> Result<RecordHeader, (&'static str, String)> {
    let header = match *bytes {
        [b0, b1] => RecordHeader { kind: RecordKind::Sslv2, len: sslv2_len(b0, b1) },
        _ => {
            let (_, tls) = parse_tls_record_header(bytes).map_err(|_| ("tls_bad_record_header", hex_detail(bytes)))?;
            if !is_known_content_type(tls.record_type) || tls.version.0 >> 8 != 3 {
                return Err(("tls_bad_record_header", hex_detail(bytes)));
            }
            RecordHeader { kind: RecordKind::Tls(tls.record_type), len: usize::from(tls.len) }
        }
    };
    if header.len > MAX_RECORD_BODY {
        return Err(("tls_record_too_large", format!("{} record of {} bytes", kind_name(header.kind), header.len)));
    }
    Ok(header)
}

fn sslv2_len(b0: u8, b1: u8) -> usize {
    usize::from(u16::from_be_bytes([b0 & !SSLV2_HEADER_FLAG, b1]))
}

fn is_known_content_type(content_type: TlsRecordType) -> bool {
    matches!(
        content_type,
        TlsRecordType::ChangeCipherSpec
            | TlsRecordType::Alert
            | TlsRecordType::Handshake
            | TlsRecordType::ApplicationData
            | TlsRecordType::Heartbeat
    )
}

fn kind_name(kind: RecordKind) -> String {
    match kind {
        RecordKind::Tls(content_type) => format!("{content_type:?}"),
        RecordKind::Sslv2 => "SSLv2".to_owned(),
    }
}

fn hex_detail(bytes: &[u8]) -> String {
    format!("header {}", super::messages::hex(bytes))
}

/// Does this look like the start of a TLS (or SSLv2-compatible) ClientHello? For protocol
/// detection on any port: needs the first 6 bytes (TLS) or 5 bytes (SSLv2).
pub fn looks_like_client_hello(first_bytes: &[u8]) -> bool {
    match *first_bytes {
        // Handshake record, version 3.x, a ClientHello first.
        [0x16, 0x03, minor, len_hi, len_lo, 0x01, ..] => {
            let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
            minor <= 0x04 && (1..=MAX_RECORD_BODY).contains(&len)
        }
        // SSLv2 record, CLIENT-HELLO, version 2.0 or 3.x.
        [b0, b1, SSLV2_CLIENT_HELLO, major, minor, ..] if b0 & SSLV2_HEADER_FLAG != 0 => {
            let version_ok = matches!((major, minor), (0x00, 0x02) | (0x03, 0x00..=0x04));
            version_ok && (SSLV2_CLIENT_HELLO_FIXED_LEN..=MAX_RECORD_BODY).contains(&sslv2_len(b0, b1))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a reader hands over, in order.
    #[derive(Debug, Default, PartialEq)]
    struct Trace {
        events: Vec<Event>,
        read_kinds: Vec<TlsRecordType>,
    }

    #[derive(Debug, PartialEq)]
    enum Event {
        Record(RecordKind, Vec<u8>),
        Skipped(RecordKind, usize),
        Lost,
        Anomaly(&'static str),
    }

    impl RecordSink for Trace {
        fn start(&mut self, header: &RecordHeader) -> Body {
            match header.kind {
                RecordKind::Tls(t) if !self.read_kinds.contains(&t) => Body::Skip,
                _ => Body::Read,
            }
        }
        fn record(&mut self, header: &RecordHeader, body: &[u8]) {
            self.events.push(Event::Record(header.kind, body.to_vec()));
        }
        fn skipped(&mut self, header: &RecordHeader, len: usize) {
            // Merge consecutive pieces of the same record so traces compare across chunkings.
            if let Some(Event::Skipped(kind, total)) = self.events.last_mut() {
                if *kind == header.kind {
                    *total += len;
                    return;
                }
            }
            self.events.push(Event::Skipped(header.kind, len));
        }
        fn content_lost(&mut self) {
            self.events.push(Event::Lost);
        }
        fn anomaly(&mut self, kind: &'static str, _detail: String) {
            self.events.push(Event::Anomaly(kind));
        }
    }

    fn reading(kinds: &[TlsRecordType]) -> Trace {
        Trace { events: Vec::new(), read_kinds: kinds.to_vec() }
    }

    fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// Two handshake records (one empty), an alert, and application data.
    fn stream() -> Vec<u8> {
        [record(22, b"hello"), record(22, b""), record(21, &[2, 40]), record(23, &[7; 300])].concat()
    }

    fn expected_stream_events() -> Vec<Event> {
        vec![
            Event::Record(RecordKind::Tls(TlsRecordType::Handshake), b"hello".to_vec()),
            Event::Record(RecordKind::Tls(TlsRecordType::Handshake), Vec::new()),
            Event::Skipped(RecordKind::Tls(TlsRecordType::Alert), 2),
            Event::Skipped(RecordKind::Tls(TlsRecordType::ApplicationData), 300),
        ]
    }

    #[test]
    fn same_records_whatever_the_chunking() {
        let bytes = stream();
        for chunk in 1..=bytes.len() {
            let mut reader = RecordReader::default();
            let mut trace = reading(&[TlsRecordType::Handshake]);
            for piece in bytes.chunks(chunk) {
                reader.feed(piece, &mut trace);
            }
            assert_eq!(trace.events, expected_stream_events(), "chunks of {chunk}");
            assert!(reader.body.is_empty() && reader.body.capacity() == 0, "buffer freed");
        }
    }

    #[test]
    fn every_split_point_in_two_chunks() {
        let bytes = stream();
        for split in 0..=bytes.len() {
            let mut reader = RecordReader::default();
            let mut trace = reading(&[TlsRecordType::Handshake]);
            reader.feed(&bytes[..split], &mut trace);
            reader.feed(&bytes[split..], &mut trace);
            assert_eq!(trace.events, expected_stream_events(), "split at {split}");
        }
    }

    #[test]
    fn gap_inside_skipped_body_keeps_framing() {
        let bytes = [record(23, &[1; 100]), record(22, b"next")].concat();
        let mut reader = RecordReader::default();
        let mut trace = reading(&[TlsRecordType::Handshake]);
        reader.feed(&bytes[..20], &mut trace);
        reader.gap(60, &mut trace);
        reader.feed(&bytes[80..], &mut trace);
        assert_eq!(
            trace.events,
            vec![
                Event::Skipped(RecordKind::Tls(TlsRecordType::ApplicationData), 40),
                Event::Record(RecordKind::Tls(TlsRecordType::Handshake), b"next".to_vec()),
            ]
        );
    }

    #[test]
    fn gap_ending_a_skipped_body_exactly_keeps_framing() {
        let bytes = [record(23, &[1; 10]), record(22, b"x")].concat();
        let mut reader = RecordReader::default();
        let mut trace = reading(&[TlsRecordType::Handshake]);
        reader.feed(&bytes[..5], &mut trace);
        reader.gap(10, &mut trace);
        reader.feed(&bytes[15..], &mut trace);
        assert_eq!(trace.events, vec![Event::Record(RecordKind::Tls(TlsRecordType::Handshake), b"x".to_vec())]);
    }

    #[test]
    fn gap_inside_read_body_loses_its_content_but_not_the_framing() {
        let bytes = [record(22, &[5; 50]), record(22, b"after")].concat();
        let mut reader = RecordReader::default();
        let mut trace = reading(&[TlsRecordType::Handshake]);
        reader.feed(&bytes[..10], &mut trace);
        reader.gap(20, &mut trace);
        reader.feed(&bytes[30..], &mut trace);
        assert_eq!(
            trace.events,
            vec![
                Event::Anomaly("tls_gap_in_record"),
                Event::Lost,
                Event::Skipped(RecordKind::Tls(TlsRecordType::Handshake), 25),
                Event::Record(RecordKind::Tls(TlsRecordType::Handshake), b"after".to_vec()),
            ]
        );
    }

    #[test]
    fn gap_across_a_boundary_loses_the_framing() {
        for (fed, gap) in [(0, 3), (2, 1), (7, 10), (15, 1)] {
            let bytes = [record(23, &[1; 10]), record(22, b"x")].concat();
            let mut reader = RecordReader::default();
            let mut trace = reading(&[TlsRecordType::Handshake]);
            reader.feed(&bytes[..fed], &mut trace);
            let before_gap = trace.events.len();
            reader.gap(gap, &mut trace);
            reader.feed(&bytes[fed + gap as usize..], &mut trace);
            assert_eq!(trace.events[before_gap..], [Event::Anomaly("tls_lost_sync"), Event::Lost], "fed {fed}, gap {gap}");
            assert_eq!(reader.position, Position::Lost);
        }
    }

    #[test]
    fn zero_gap_changes_nothing() {
        let mut reader = RecordReader::default();
        let mut trace = reading(&[]);
        reader.gap(0, &mut trace);
        assert!(trace.events.is_empty());
        assert_eq!(reader.position, Position::Header);
    }

    #[test]
    fn invalid_headers_lose_the_framing() {
        let cases: [(&[u8], &str); 4] = [
            (&[0x42, 3, 3, 0, 1, 0], "tls_bad_record_header"),
            (&[0x16, 2, 0, 0, 1, 0], "tls_bad_record_header"),
            (&[0x17, 3, 3, 0x48, 0x01], "tls_record_too_large"),
            (&[0xff, 0xff, 1], "tls_record_too_large"),
        ];
        for (bytes, kind) in cases {
            let mut reader = RecordReader::default();
            let mut trace = reading(&[]);
            reader.feed(bytes, &mut trace);
            reader.feed(&record(22, b"ignored"), &mut trace);
            assert_eq!(trace.events, vec![Event::Anomaly(kind), Event::Lost], "{bytes:02x?}");
        }
    }

    #[test]
    fn largest_record_is_accepted() {
        let bytes = record(23, &vec![0; MAX_RECORD_BODY]);
        let mut reader = RecordReader::default();
        let mut trace = reading(&[]);
        reader.feed(&bytes, &mut trace);
        assert_eq!(trace.events, vec![Event::Skipped(RecordKind::Tls(TlsRecordType::ApplicationData), MAX_RECORD_BODY)]);
    }

    #[test]
    fn sslv2_header_only_for_the_first_record() {
        let bytes = [&[0x80, 3, 1, 2, 3][..], &record(22, b"tls")].concat();
        let mut reader = RecordReader::default();
        let mut trace = reading(&[TlsRecordType::Handshake]);
        reader.feed(&bytes, &mut trace);
        reader.feed(&[0x80, 3, 1, 2, 3], &mut trace);
        assert_eq!(
            trace.events,
            vec![
                Event::Record(RecordKind::Sslv2, vec![1, 2, 3]),
                Event::Record(RecordKind::Tls(TlsRecordType::Handshake), b"tls".to_vec()),
                Event::Anomaly("tls_bad_record_header"),
                Event::Lost,
            ]
        );
    }

    #[test]
    fn detects_client_hellos() {
        assert!(looks_like_client_hello(&[0x16, 3, 1, 0, 0xc8, 1, 0, 0, 0xc4]));
        assert!(looks_like_client_hello(&[0x16, 3, 0, 0, 0x40, 1]));
        assert!(!looks_like_client_hello(&[0x16, 3, 1, 0, 0xc8]), "too short to see the message type");
        assert!(!looks_like_client_hello(&[0x16, 3, 3, 0, 0x40, 2]), "ServerHello");
        assert!(!looks_like_client_hello(&[0x16, 3, 5, 0, 0x40, 1]), "unknown minor version");
        assert!(!looks_like_client_hello(&[0x16, 3, 1, 0, 0, 1]), "empty record");
        assert!(!looks_like_client_hello(&[0x16, 3, 1, 0x48, 0x01, 1]), "record too large");
        assert!(!looks_like_client_hello(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_client_hello(&[0x80, 0x2e, 1, 3, 1, 0, 0x15]));
        assert!(looks_like_client_hello(&[0x80, 0x2e, 1, 0, 2]));
        assert!(!looks_like_client_hello(&[0x80, 0x2e, 1, 0, 3]), "SSLv2 with a bad version");
        assert!(!looks_like_client_hello(&[0x80, 0x08, 1, 3, 1]), "SSLv2 shorter than its fixed part");
        assert!(!looks_like_client_hello(&[0x80, 0x2e, 4, 3, 1]), "SSLv2 SERVER-HELLO");
        assert!(!looks_like_client_hello(&[]));
    }
}
