//! The hand-off from the dissection stages (reassembly, HTTP, TLS, evidence) to the audit and
//! the report tables.
//!
//! The dissector turns what it learns into [`Event`]s in capture order; a [`Recorder`] applies
//! them to the [`Auditor`] and the [`Tables`]. A [`Handoff`] either applies each event at once
//! on the dissector's thread, or sends them in batches to a recorder on a thread of its own, so
//! reading and dissecting the capture overlaps with auditing and writing the report. Both ways
//! apply the same events in the same order: the report is the same bytes with any number of
//! threads.
//!
//! Memory stays bounded: at most [`BATCHES_IN_FLIGHT`] batches of [`BATCH_EVENTS`] events wait
//! between the threads; a dissector that runs ahead blocks until the recorder catches up.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::anomaly::Anomaly;
use crate::audit::{AuditSummary, Auditor};
use crate::evidence::TransactionEvidence;
use crate::http::Transaction;
use crate::reassembly::{ConnMeta, ConnectionRecord};
use crate::report::table::TableError;
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
    /// An anomaly, of a connection or of the capture itself.
    Anomaly(Box<(Option<ConnMeta>, Anomaly)>),
    /// An HTTP transaction with its evidence.
    Transaction(Box<(ConnMeta, Transaction, TransactionEvidence)>),
    /// A TLS connection closed, with what its handshake showed.
    TlsConnection(Box<(ConnectionRecord, TlsRecord)>),
    /// Any connection closed: its row, and whether it only carried health probes.
    Closed(Box<ClosedConnection>),
}

/// A connection at its close, as the connections table and the audit's health counters see it.
pub struct ClosedConnection {
    pub record: ConnectionRecord,
    pub app: ConnectionApp,
    /// Every transaction of the connection was a health probe (and there was at least one).
    pub probe_only: bool,
}

/// What the recorder produced once every event was applied.
pub struct Recorded {
    pub audit: AuditSummary,
    /// Rows written per table.
    pub tables: Vec<(&'static str, u64)>,
}

/// Applies events to the audit and the tables.
pub struct Recorder {
    auditor: Auditor,
    tables: Tables,
}

impl Recorder {
    pub fn new(auditor: Auditor, tables: Tables) -> Self {
        Recorder { auditor, tables }
    }

    pub fn apply(&mut self, event: Event) -> Result<(), TableError> {
        let Recorder { auditor, tables } = self;
        match event {
            Event::Advance(ts) => auditor.advance(ts, tables),
            Event::Anomaly(anomaly) => tables.anomaly(anomaly.0.as_ref(), &anomaly.1),
            Event::Transaction(tx) => {
                let (meta, tx, evidence) = *tx;
                auditor.transaction(&meta, tx, evidence, tables)
            }
            Event::TlsConnection(tls) => {
                let (record, tls) = *tls;
                auditor.tls_connection(&record, tls, tables)
            }
            Event::Closed(closed) => {
                auditor.connection(&closed.record, closed.probe_only);
                tables.connection(&closed.record, &closed.app)
            }
        }
    }

    /// Ends the audit (its own tables are written now) and closes every table.
    pub fn finish(self) -> Result<Recorded, TableError> {
        let Recorder { auditor, mut tables } = self;
        let audit = auditor.finish(&mut tables)?;
        Ok(Recorded { audit, tables: tables.finish()? })
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
    Inline { recorder: Recorder, error: Option<TableError> },
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
        Handoff { route: Route::Inline { recorder, error: None }, pending_advance: None }
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
