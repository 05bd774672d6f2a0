//! Wall-clock formatting without dependencies: HTTP `Date` headers and log timestamps, both UTC.

use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Utc {
    year: i64,
    month: u32,
    day: u32,
    weekday: usize,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u32,
}

impl Utc {
    fn at(time: SystemTime) -> Utc {
        // Times before 1970 never occur here; clamp rather than fail.
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since_epoch.as_secs();
        let days = seconds / 86_400;
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            weekday: (days % 7) as usize,
            hour: seconds % 86_400 / 3600,
            minute: seconds % 3600 / 60,
            second: seconds % 60,
            millis: since_epoch.subsec_millis(),
        }
    }
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
fn civil_from_days(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC calendar year of a time.
pub fn year(time: SystemTime) -> i64 {
    Utc::at(time).year
}

/// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let t = Utc::at(time);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[t.weekday],
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// ISO 8601 with milliseconds: `1994-11-06T08:49:37.123Z`.
pub fn iso_millis(time: SystemTime) -> String {
    let t = Utc::at(time);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(seconds * 1000 + millis)
    }

    #[test]
    fn formats_rfc9110_example() {
        assert_eq!(
            http_date(at(784_111_777, 0)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn formats_epoch_and_leap_day() {
        assert_eq!(iso_millis(at(0, 5)), "1970-01-01T00:00:00.005Z");
        assert_eq!(iso_millis(at(951_782_400, 999)), "2000-02-29T00:00:00.999Z");
        assert_eq!(
            http_date(at(1_709_164_800, 0)),
            "Thu, 29 Feb 2024 00:00:00 GMT"
        );
        assert_eq!(iso_millis(at(1_735_689_599, 0)), "2024-12-31T23:59:59.000Z");
        assert_eq!(year(at(1_735_689_599, 0)), 2024);
    }
}
