//! Wiring of the stages: capture → decode → reassembly → http | tls → evidence → audit → report.
//!
//! [`analyze`] pulls packets through the stages one at a time; nothing holds more than the live
//! connections' state, the audit's sessions and stitch window, and one batch of report rows,
//! whatever the capture's size. Transactions and TLS connections reach their tables through the
//! audit, which adds their server and session; the audit's own tables are written at the end.
//!
//! With more than one thread, evidence extraction, the audit and the report run on a thread of
//! their own, fed by the dissector through `handoff` in capture order, and the report files are
//! encoded on two more; every table is the same bytes as with one thread.

mod handoff;

use std::path::PathBuf;

use crate::anomaly::Anomaly;
use crate::audit::{AuditConfig, Auditor};
use crate::capture::{PacketSource, ReadOrder};
use crate::decode::Decoder;
use crate::evidence::{EvidenceConfig, EvidenceExtractor};
use crate::http::{self, HttpConfig, HttpConnection, Transaction};
use crate::reassembly::{ConnMeta, ConnectionRecord, ConnectionTable, Direction, ReassemblyConfig, StreamHandler};
use crate::report::summary::IngestSummary;
use crate::report::encoder::{Encoder, Encoding};
use crate::report::table::{Formats, TableError};
use crate::report::tables::{ConnectionApp, Tables};
use handoff::{ClosedConnection, Event, Handoff, Recorder};
use crate::timestamp::Timestamp;
use crate::tls::{self, TlsConnection};

/// Everything `analyze` needs to know.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    pub captures: Vec<PathBuf>,
    pub order: ReadOrder,
    pub out_dir: PathBuf,
    pub reassembly: ReassemblyConfig,
    pub http: HttpConfig,
    pub evidence: EvidenceConfig,
    pub audit: AuditConfig,
    /// Draw a progress bar on stderr (the caller decides: large capture, stderr a terminal).
    pub progress: bool,
    /// Threads to use: 1 runs every stage on the caller's thread; 2 or more also run evidence,
    /// audit and report rows on a second thread and the report files' encoding on two more.
    pub threads: usize,
    /// The files each table is written to.
    pub formats: Formats,
}

/// Why an analysis could not produce its report.
#[derive(Debug)]
pub enum AnalyzeError {
    /// A capture could not be opened or read at all.
    Capture(String),
    /// A report file could not be written.
    Report(TableError),
    /// The output folder could not be created.
    OutDir(PathBuf, std::io::Error),
    /// The operating system refused a thread.
    Thread(std::io::Error),
}

impl std::fmt::Display for AnalyzeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalyzeError::Capture(msg) => write!(f, "{msg}"),
            AnalyzeError::Report(e) => write!(f, "writing the report: {e}"),
            AnalyzeError::OutDir(dir, e) => write!(f, "{}: cannot create the output folder: {e}", dir.display()),
            AnalyzeError::Thread(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for AnalyzeError {}

impl From<TableError> for AnalyzeError {
    fn from(e: TableError) -> Self {
        AnalyzeError::Report(e)
    }
}

/// Reads the captures, writes every table into `opts.out_dir`, and returns the summary.
pub fn analyze(opts: &AnalyzeOptions) -> Result<IngestSummary, AnalyzeError> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| AnalyzeError::OutDir(opts.out_dir.clone(), e))?;
    let mut source = PacketSource::open(&opts.captures, opts.order).map_err(|e| AnalyzeError::Capture(e.to_string()))?;
    // Each further thread can read a file ahead (a single capture: one).
    source.read_ahead(opts.threads.saturating_sub(1));
    let progress = opts.progress.then(|| progress_bar(source.total_bytes()));

    let encoding = if opts.threads > 1 { Encoding::Background } else { Encoding::Inline };
    let encoder = Encoder::start(encoding, opts.formats).map_err(AnalyzeError::Thread)?;
    let recorder = Recorder::new(EvidenceExtractor::new(&opts.evidence), Auditor::new(opts.audit.clone()), Tables::create(&opts.out_dir, encoder)?);
    let handoff = if opts.threads > 1 { Handoff::threaded(recorder).map_err(AnalyzeError::Thread)? } else { Handoff::inline(recorder) };
    let dissector = Dissector::new(handoff, opts);
    let mut connections = ConnectionTable::new(opts.reassembly.clone(), dissector);
    let mut decoder = Decoder::new();
    let mut packets_since_tick = 0u32;
    while let Some(packet) = source.next_packet() {
        if let Some(segment) = decoder.decode(packet) {
            connections.segment(&segment);
        }
        packets_since_tick += 1;
        if packets_since_tick == 4096 {
            packets_since_tick = 0;
            if let Some(bar) = &progress {
                bar.set_position(source.bytes_read());
            }
            record_clock_steps(&mut source, connections.handler_mut());
            if connections.handler_mut().handoff.failed() {
                break;
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    record_clock_steps(&mut source, connections.handler_mut());
    decoder.finish();
    let (mut dissector, reassembly_stats) = connections.finish();
    for issue in source.issues() {
        let ts = issue.after.unwrap_or_default();
        dissector.record(None, Anomaly::new(ts, "capture_damage", issue.to_string()));
    }
    let Dissector { handoff, mut summary, .. } = dissector;
    let recorded = handoff.finish()?;
    summary.audit = Some(recorded.audit);
    summary.anomalies = recorded.anomalies;
    summary.modes = recorded.modes;
    summary.tables = recorded.tables;
    summary.capture = source.stats().clone();
    summary.capture_issues = source.issues().to_vec();
    summary.decode = decoder.stats().clone();
    summary.reassembly = reassembly_stats;
    Ok(summary)
}

/// An anomaly for each step back of the capture's clock since the last call, and the step for
/// the audit's clocks (the connection table follows steps by itself).
fn record_clock_steps(source: &mut PacketSource, dissector: &mut Dissector) {
    for step in source.take_clock_steps() {
        dissector.record(None, Anomaly::new(step.to, "clock_step_back", step.to_string()));
        dissector.handoff.send(Event::ClockStep(step.to));
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Bytes of a stream's start needed to tell its protocol when the first message is unclear.
const DETECT_BYTES: usize = 16;

/// Which application parser a connection's bytes go to.
enum Protocol {
    /// Too few bytes of the first direction seen to tell: the chunks are held (fewer than
    /// [`DETECT_BYTES`] bytes in all) and replayed once the protocol is known.
    Undecided { dir: Direction, held: Vec<(Timestamp, Vec<u8>)> },
    Http(Box<HttpConnection>),
    Tls(Box<TlsConnection>),
    /// Neither HTTP nor TLS: bytes are counted in the connections table only.
    Other,
}

impl Protocol {
    fn service(&self) -> Option<&'static str> {
        match self {
            Protocol::Http(_) => Some("http"),
            Protocol::Tls(_) => Some("tls"),
            Protocol::Other => Some("other"),
            Protocol::Undecided { .. } => None,
        }
    }
}

/// Per-connection state kept by the connection table.
pub struct ConnState {
    protocol: Protocol,
    transactions: u64,
    /// Anomalies of the dissection (evidence adds its own behind the hand-off).
    anomalies: u64,
}

/// The application stages behind the reassembler: protocol detection, HTTP and TLS. What they
/// find goes to evidence extraction, the audit and the report through the hand-off.
struct Dissector {
    handoff: Handoff,
    http_config: HttpConfig,
    transactions: Vec<Transaction>,
    anomalies: Vec<Anomaly>,
    summary: IngestSummary,
}

impl Dissector {
    fn new(handoff: Handoff, opts: &AnalyzeOptions) -> Self {
        Dissector {
            handoff,
            http_config: opts.http.clone(),
            transactions: Vec::new(),
            anomalies: Vec::new(),
            summary: IngestSummary::default(),
        }
    }

    fn record(&mut self, meta: Option<&ConnMeta>, anomaly: Anomaly) {
        self.handoff.send(Event::Anomaly(Box::new((meta.cloned(), anomaly))));
    }

    /// Writes the rows the parsers produced since the last call.
    fn drain(&mut self, state: &mut ConnState, meta: &ConnMeta) {
        // Taken and given back drained: the buffers keep their capacity across calls.
        let mut anomalies = std::mem::take(&mut self.anomalies);
        for anomaly in anomalies.drain(..) {
            state.anomalies += 1;
            self.record(Some(meta), anomaly);
        }
        self.anomalies = anomalies;
        let mut transactions = std::mem::take(&mut self.transactions);
        for tx in transactions.drain(..) {
            state.transactions += 1;
            self.handoff.send(Event::Transaction(Box::new((meta.clone(), tx))));
        }
        self.transactions = transactions;
    }

    /// Picks the parser for a connection from the first bytes of its first talking side.
    /// `None` while those bytes are too few to tell and more may come (`complete` false).
    fn detect(&self, meta: &ConnMeta, dir: Direction, start: &[u8], complete: bool) -> Option<Protocol> {
        let from_client = dir == Direction::ToServer;
        if from_client && tls::looks_like_client_hello(start) {
            return Some(Protocol::Tls(Box::new(TlsConnection::new())));
        }
        if (from_client && http::looks_like_request(start)) || (!from_client && http::looks_like_response(start)) {
            return Some(self.http());
        }
        if start.len() < DETECT_BYTES && !complete {
            return None;
        }
        // A capture that starts inside an HTTP body: the parser resynchronises on the next message.
        Some(if is_http_port(meta.server_port) { self.http() } else { Protocol::Other })
    }

    fn http(&self) -> Protocol {
        Protocol::Http(Box::new(HttpConnection::new(self.http_config.clone())))
    }

    /// Settles an undecided connection: `next` is the chunk about to be parsed, if any; with
    /// `complete`, the protocol is decided from whatever was held.
    fn settle(&mut self, state: &mut ConnState, meta: &ConnMeta, next: Option<(Direction, &[u8])>, complete: bool) {
        let Protocol::Undecided { dir, held } = &state.protocol else { return };
        let mut start: Vec<u8> = held.iter().flat_map(|(_, chunk)| chunk.iter().copied()).collect();
        let mut complete = complete;
        match next {
            Some((next_dir, bytes)) if next_dir == *dir => start.extend_from_slice(&bytes[..bytes.len().min(DETECT_BYTES)]),
            // The other side answered: its first talker said all it will before a reply.
            Some(_) => complete = true,
            None => {}
        }
        let Some(protocol) = self.detect(meta, *dir, &start, complete) else { return };
        let Protocol::Undecided { dir, held } = std::mem::replace(&mut state.protocol, protocol) else { return };
        self.summary.count_service(state.protocol.service());
        for (ts, chunk) in held {
            self.parse(state, dir, ts, &chunk);
        }
    }

    /// The stream ends here (gap or close): a protocol still undecided is decided from the bytes
    /// held, if any (a connection that carried nothing keeps no service).
    fn settle_at_end(&mut self, state: &mut ConnState, meta: &ConnMeta) {
        if matches!(&state.protocol, Protocol::Undecided { held, .. } if !held.is_empty()) {
            self.settle(state, meta, None, true);
        }
    }

    fn parse(&mut self, state: &mut ConnState, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        match &mut state.protocol {
            Protocol::Http(http) => http.data(dir, ts, bytes, &mut self.transactions, &mut self.anomalies),
            Protocol::Tls(tls) => tls.data(dir, ts, bytes, &mut self.anomalies),
            Protocol::Undecided { held, .. } => held.push((ts, bytes.to_vec())),
            Protocol::Other => {}
        }
    }
}

/// Ports where a stream that does not start with a message is still taken for HTTP.
fn is_http_port(port: u16) -> bool {
    matches!(port, 80 | 81 | 591 | 8000 | 8008 | 8080 | 8088 | 8888 | 3128)
}

impl StreamHandler for Dissector {
    type State = ConnState;

    fn open(&mut self, _meta: &ConnMeta) -> ConnState {
        ConnState {
            protocol: Protocol::Undecided { dir: Direction::ToServer, held: Vec::new() },
            transactions: 0,
            anomalies: 0,
        }
    }

    fn data(&mut self, state: &mut ConnState, meta: &ConnMeta, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        if let Protocol::Undecided { dir: first_dir, held } = &mut state.protocol {
            if held.is_empty() {
                *first_dir = dir;
            }
        }
        self.settle(state, meta, Some((dir, bytes)), false);
        self.parse(state, dir, ts, bytes);
        self.drain(state, meta);
        self.handoff.advance(ts);
    }

    fn gap(&mut self, state: &mut ConnState, meta: &ConnMeta, dir: Direction, ts: Timestamp, len: u64) {
        self.anomalies.push(Anomaly::new(ts, "content_gap", format!("{len} bytes missing from the {} stream", dir.sender())));
        self.settle_at_end(state, meta);
        match &mut state.protocol {
            Protocol::Http(http) => http.gap(dir, ts, len, &mut self.transactions, &mut self.anomalies),
            Protocol::Tls(tls) => tls.gap(dir, ts, len, &mut self.anomalies),
            Protocol::Undecided { .. } | Protocol::Other => {}
        }
        self.drain(state, meta);
    }

    fn close(&mut self, mut state: ConnState, record: &ConnectionRecord) {
        let meta = &record.meta;
        self.settle_at_end(&mut state, meta);
        let service = state.protocol.service();
        let mut http_mode = None;
        match std::mem::replace(&mut state.protocol, Protocol::Other) {
            Protocol::Http(mut http) => {
                http.finish(record.ts_last, &mut self.transactions, &mut self.anomalies);
                http_mode = http.mode().map(|m| m.as_str());
            }
            Protocol::Tls(tls) => self.handoff.send(Event::TlsConnection(Box::new((record.clone(), tls.finish())))),
            Protocol::Undecided { .. } | Protocol::Other => {}
        }
        self.drain(&mut state, meta);
        let app = ConnectionApp { service, http_mode, http_transactions: state.transactions, anomalies: state.anomalies };
        self.handoff.send(Event::Closed(Box::new(ClosedConnection { record: record.clone(), app })));
    }
}

