//! Numbers and times as people read them in reports: `12,345`, `3.2 %`, `1 h 5 min`,
//! `2026-11-19 09:00:00 UTC`. Every time is UTC, and says so.

use chrono::{DateTime, TimeDelta, Utc};

pub use crate::text::thousands;

/// A share (0..=1, or more) as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1} %", share * 100.0)
    } else {
        "—".to_owned()
    }
}

/// A length of time in the two largest units that matter.
pub fn duration(span: TimeDelta) -> String {
    let seconds = span.num_seconds().max(0);
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// A time to the second, in UTC.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_as_people_write_them() {
        assert_eq!(percent(0.1234), "12.3 %");
        assert_eq!(percent(f64::NAN), "—");
        assert_eq!(duration(TimeDelta::seconds(42)), "42 s");
        assert_eq!(duration(TimeDelta::seconds(180)), "3 min");
        assert_eq!(duration(TimeDelta::seconds(185)), "3 min 5 s");
        assert_eq!(duration(TimeDelta::seconds(3_900)), "1 h 5 min");
        assert_eq!(duration(TimeDelta::days(7)), "7 d");
        assert_eq!(duration(TimeDelta::hours(30)), "1 d 6 h");
        let t = crate::timestamp::parse("2026-11-19T09:00:00.5Z").unwrap();
        assert_eq!(when(&t), "2026-11-19 09:00:00 UTC");
    }
}
