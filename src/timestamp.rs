//! Capture time, shared by every stage.

use std::fmt;

/// A point in capture time: nanoseconds since the Unix epoch.
///
/// Nanoseconds keep pcap's nanosecond captures exact; reports print epoch seconds as `f64`,
/// which keeps sub-microsecond precision for present-day dates.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub const fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Epoch seconds, the unit of every `ts_*` report column.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1e9
    }

    pub const fn add_secs(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1_000_000_000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0.div_euclid(1_000_000_000), self.0.rem_euclid(1_000_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_seconds() {
        let ts = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789);
        assert_eq!(ts.to_string(), "1700000000.123456789");
        assert!((ts.as_secs_f64() - 1_700_000_000.123_456_7).abs() < 1e-6);
        assert_eq!(ts.add_secs(2).secs_since(ts), 2.0);
        assert_eq!(Timestamp::from_nanos(-1).to_string(), "-1.999999999");
    }
}
