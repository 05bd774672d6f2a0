//! Anomalies: what a stage met in the capture that it could not take at face value.
//!
//! Like Zeek's `weird.log`: nothing malformed is dropped silently. Each stage pushes an
//! [`Anomaly`] into the `Vec` it is handed; the pipeline tags it with the connection id and the
//! report writes the `anomalies` table.

use crate::timestamp::Timestamp;

#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    pub ts: Timestamp,
    /// Short snake_case name, stable across versions (for example `http_header_too_large`).
    pub kind: &'static str,
    /// Human-readable detail: sizes, offsets, the offending token (never a credential).
    pub detail: String,
}

impl Anomaly {
    pub fn new(ts: Timestamp, kind: &'static str, detail: impl Into<String>) -> Self {
        Anomaly { ts, kind, detail: detail.into() }
    }
}
