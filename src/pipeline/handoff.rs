//! The hand-off from the dissection stages (reassembly, HTTP, TLS) to evidence extraction, the
//! audit and the report tables.
//!
//! The dissector turns what it learns into [`Event`]s in capture order; a [`Recorder`] extracts
//! the evidence of each transaction and applies the events to the [`Auditor`] and the
//! [`Tables`]. Evidence is extracted here rather than by the dissector because this side has the
//! spare time when they run on two threads. A [`Handoff`] either applies each event at once
//! on the dissector's thread, or sends them in batches to a recorder on a thread of its own, so
//! reading and dissecting the capture overlaps with auditing and writing the report. Both ways
//! apply the same events in the same order: the report is the same bytes with any number of
//! threads.
//!
//! Memory stays bounded: at most [`BATCHES_IN_FLIGHT`] batches of [`BATCH_EVENTS`] events wait
//! between the threads; a dissector that runs ahead blocks until the recorder catches up.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::anomaly::Anomaly;
use crate::audit::{AuditSummary, Auditor};
use crate::evidence::{EvidenceExtractor, ExchangeApp};
use crate::fingerprint::FastHash;
use crate::http::Transaction;
use crate::reassembly::{ConnId, ConnMeta, ConnectionRecord};
use crate::report::summary::ModeKey;
use crate::report::table::{TableError, TableWritten};
use crate::report::tables::{ConnectionApp, Tables};
use crate::timestamp::Timestamp;
use crate::tls::TlsRecord;

/// Events per batch sent to the recorder's thread.
const BATCH_EVENTS: usize = 1024;

/// Full batches that may wait for the recorder's thread.
const BATCHES_IN_FLIGHT: usize = 4;

/// What the dissection stages hand to the audit and the report, in capture order. Large
/// payloads are boxed so a batch of events stays small whatever it carries.
pub enum Event {
    /// The capture clock moved (stream data arrived at this time).
    Advance(Timestamp),
    /// The capture's timestamps stepped back to this time.
    ClockStep(Timestamp),
    /// An anomaly, of a connection or of the capture itself.
    Anomaly(Box<(Option<ConnMeta>, Anomaly)>),
    /// An HTTP transaction.
    Transaction(Box<(ConnMeta, Transaction)>),
    /// A TLS connection closed, with what its handshake showed.
    TlsConnection(Box<(ConnectionRecord, TlsRecord)>),
    /// Any connection closed: its row as the dissector saw it (the evidence's anomalies are
    /// added by the recorder).
    Closed(Box<ClosedConnection>),
}

/// A connection at its close, as the connections table and the audit's health counters see it.
pub struct ClosedConnection {
    pub record: ConnectionRecord,
    pub app: ConnectionApp,
}

/// What the recorder produced once every event was applied.
pub struct Recorded {
    pub audit: AuditSummary,
    /// Rows written per table.
    pub tables: Vec<TableWritten>,
    /// Anomalies per kind, of every stage.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// HTTP connections per server, first application and connection mode.
    pub modes: BTreeMap<ModeKey, u64>,
}

/// What the evidence showed of an open connection's transactions, until its close.
#[derive(Default)]
struct EvidenceTally {
    anomalies: u64,
    /// Transactions that were health probes: a connection of nothing else is a monitor's.
    probes: u64,
    /// Application of the connection's first transaction, for the modes summary.
    first_app: Option<&'static str>,
}

/// Extracts evidence and applies events to the audit and the tables.
pub struct Recorder {
    extractor: EvidenceExtractor,
    auditor: Auditor,
    tables: Tables,
    /// Open connections with transactions; an entry leaves at its connection's close.
    tallies: HashMap<ConnId, EvidenceTally, FastHash>,
    anomalies: BTreeMap<&'static str, u64>,
    modes: BTreeMap<ModeKey, u64>,
}

impl Recorder {
    pub fn new(extractor: EvidenceExtractor, auditor: Auditor, tables: Tables) -> Self {
        Recorder { extractor, auditor, tables, tallies: HashMap::default(), anomalies: BTreeMap::new(), modes: BTreeMap::new() }
    }

    pub fn apply(&mut self, event: Event) -> Result<(), TableError> {
        match event {
            Event::Advance(ts) => self.auditor.advance(ts, &mut self.tables),
            Event::ClockStep(to) => self.auditor.clock_stepped_back(to, &mut self.tables),
            Event::Anomaly(anomaly) => self.anomaly(anomaly.0.as_ref(), &anomaly.1),
            Event::Transaction(tx) => {
                let (meta, tx) = *tx;
                let mut evidence = self.extractor.extract(&tx);
                let tally = self.tallies.entry(meta.conn_id).or_default();
                tally.anomalies += evidence.anomalies.len() as u64;
                tally.probes += u64::from(evidence.app == ExchangeApp::HealthProbe);
                tally.first_app.get_or_insert(evidence.app.as_str());
                for anomaly in std::mem::take(&mut evidence.anomalies) {
                    self.anomaly(Some(&meta), &anomaly)?;
                }
                self.auditor.transaction(&meta, tx, evidence, &mut self.tables)
            }
            Event::TlsConnection(tls) => {
                let (record, tls) = *tls;
                self.auditor.tls_connection(&record, tls, &mut self.tables)
            }
            Event::Closed(closed) => {
                let ClosedConnection { record, mut app } = *closed;
                let tally = self.tallies.remove(&record.meta.conn_id).unwrap_or_default();
                app.anomalies += tally.anomalies;
                if let Some(mode) = app.http_mode {
                    let server = format!("{}:{}", record.meta.server_ip, record.meta.server_port);
                    *self.modes.entry(ModeKey { server, app: tally.first_app.unwrap_or("other"), mode }).or_default() += 1;
                }
                let probe_only = app.http_transactions > 0 && tally.probes == app.http_transactions;
                self.auditor.connection(&record, probe_only);
                self.tables.connection(&record, &app)
            }
        }
    }

    fn anomaly(&mut self, meta: Option<&ConnMeta>, anomaly: &Anomaly) -> Result<(), TableError> {
        *self.anomalies.entry(anomaly.kind).or_default() += 1;
        self.tables.anomaly(meta, anomaly)
    }

    /// Ends the audit (its own tables are written now) and closes every table.
    pub fn finish(self) -> Result<Recorded, TableError> {
        let Recorder { auditor, mut tables, anomalies, modes, .. } = self;
        tables.flush_dissection_tables()?;
        let audit = auditor.finish(&mut tables)?;
        Ok(Recorded { audit, tables: tables.finish()?, anomalies, modes })
    }
}

/// Where the dissector's events go: a recorder on the same thread, or on its own thread.
pub struct Handoff {
    route: Route,
    /// Clock advances are merged until the next other event: two advances in a row release
    /// exactly what one advance to the later time releases, and most chunks of stream data
    /// produce nothing else.
    pending_advance: Option<Timestamp>,
}

enum Route {
    Inline { recorder: Box<Recorder>, error: Option<TableError> },
    Threaded(Box<Worker>),
}

struct Worker {
    batch: Vec<Event>,
    /// `None` once the recorder stopped (it failed); its error comes with [`Handoff::finish`].
    sender: Option<SyncSender<Vec<Event>>>,
    thread: JoinHandle<Result<Recorded, TableError>>,
}

impl Handoff {
    /// Applies every event at once, on the caller's thread.
    pub fn inline(recorder: Recorder) -> Self {
        Handoff { route: Route::Inline { recorder: Box::new(recorder), error: None }, pending_advance: None }
    }

    /// Applies the events on a new thread.
    pub fn threaded(recorder: Recorder) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(BATCHES_IN_FLIGHT);
        let thread = std::thread::Builder::new().name("audit".into()).spawn(move || record_batches(recorder, receiver))?;
        let worker = Worker { batch: Vec::with_capacity(BATCH_EVENTS), sender: Some(sender), thread };
        Ok(Handoff { route: Route::Threaded(Box::new(worker)), pending_advance: None })
    }

    /// The capture clock moved to `ts`.
    pub fn advance(&mut self, ts: Timestamp) {
        self.pending_advance = Some(self.pending_advance.map_or(ts, |pending| pending.max(ts)));
    }

    pub fn send(&mut self, event: Event) {
        self.route_pending_advance();
        self.route(event);
    }

    fn route_pending_advance(&mut self) {
        if let Some(ts) = self.pending_advance.take() {
            self.route(Event::Advance(ts));
        }
    }

    fn route(&mut self, event: Event) {
        match &mut self.route {
            Route::Inline { recorder, error } => {
                if error.is_none() {
                    *error = recorder.apply(event).err();
                }
            }
            Route::Threaded(worker) => {
                worker.batch.push(event);
                if worker.batch.len() == BATCH_EVENTS {
                    worker.send_batch();
                }
            }
        }
    }

    /// Recording failed (a table could not be written): reading on is pointless.
    pub fn failed(&self) -> bool {
        match &self.route {
            Route::Inline { error, .. } => error.is_some(),
            Route::Threaded(worker) => worker.sender.is_none(),
        }
    }

    /// Applies what is pending, ends the audit and closes the tables.
    pub fn finish(mut self) -> Result<Recorded, TableError> {
        self.route_pending_advance();
        match self.route {
            Route::Inline { recorder, error: None } => recorder.finish(),
            Route::Inline { error: Some(e), .. } => Err(e),
            Route::Threaded(mut worker) => {
                worker.send_batch();
                drop(worker.sender.take());
                // A panic on the recorder's thread is a bug: let it surface as it would inline.
                worker.thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

impl Worker {
    fn send_batch(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_EVENTS));
        if let Some(sender) = &self.sender {
            if sender.send(batch).is_err() {
                self.sender = None;
            }
        }
    }
}

/// The recorder's thread: applies batches until the dissector hangs up or a table fails.
fn record_batches(mut recorder: Recorder, batches: Receiver<Vec<Event>>) -> Result<Recorded, TableError> {
    for batch in batches {
        for event in batch {
            recorder.apply(event)?;
        }
    }
    recorder.finish()
}
