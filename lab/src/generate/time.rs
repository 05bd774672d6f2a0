//! Simulated time: nanoseconds since the Unix epoch, starting at a fixed instant so that a seed
//! always gives the same timestamps and `Date` headers.

use std::time::{Duration, UNIX_EPOCH};

use crate::clock;

pub type Nanos = u64;

pub const MICROSECOND: Nanos = 1_000;
pub const MILLISECOND: Nanos = 1_000_000;
pub const SECOND: Nanos = 1_000_000_000;

/// 2024-03-11T08:00:00Z, a Monday morning: when every generated capture starts.
pub const CAPTURE_START: Nanos = 1_710_144_000 * SECOND;

/// RFC 9110 `Date` value of a simulated instant.
pub fn http_date(time: Nanos) -> String {
    clock::http_date(UNIX_EPOCH + Duration::from_nanos(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_starts_on_a_monday_morning() {
        assert_eq!(http_date(CAPTURE_START), "Mon, 11 Mar 2024 08:00:00 GMT");
        assert_eq!(
            http_date(CAPTURE_START + 90 * SECOND + 999 * MILLISECOND),
            "Mon, 11 Mar 2024 08:01:30 GMT"
        );
    }
}
