//! affinity-audit: audit load-balancer persistence of Exchange CAS farms from packet captures.
//!
//! The pipeline runs one way, one module per stage:
//!
//! ```text
//! capture ──Packet──▶ decode ──TcpSegment──▶ reassembly ──stream bytes/gaps──▶ http | tls
//!                                                   │                              │
//!                                                   └── ConnectionRecord           └── Transaction / TlsRecord
//!                                                                   evidence ◀─────┘
//!                         audit ◀── transactions with evidence, TLS records, closed connections
//!                           │       (server identity, stitching, sessions, verdicts, hot-spots)
//!                           ▼
//!                        report ◀── rows of every table, keyed by conn_id and session_ref
//! ```
//!
//! `pipeline` wires the stages together; `cli` is the command line around it.
//! Every stage takes bytes from a capture and must never panic on them: malformed input becomes
//! an [`anomaly::Anomaly`] or a counter in the stage's statistics.

pub mod anomaly;
pub mod audit;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod evidence;
pub mod fingerprint;
pub mod http;
pub mod pipeline;
pub mod reassembly;
pub mod report;
#[cfg(test)]
mod test_rng;
pub mod timestamp;
pub mod tls;
