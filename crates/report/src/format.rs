//! Numbers and times as people read them in reports: `12,345`, `3.2 %`, `1 h 5 min`,
//! `2026-11-19 09:00:00 UTC`. Every time is UTC, and says so.

use chrono::{DateTime, Utc};

pub use callbudget_api::text::{duration, thousands};

/// A share (0..=1, or more) as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1} %", share * 100.0)
    } else {
        "—".to_owned()
    }
}

/// A consumer's change against the previous period, as every table says it: `+25 %`, `new`, or
/// `not collected` when there was no previous period to compare with.
pub fn period_change(change: Option<&callbudget_analysis::PeriodChange>) -> String {
    match change {
        None => "not collected".to_owned(),
        Some(ch) => ch
            .delta_percent
            .map_or_else(|| "new".to_owned(), |p| format!("{p:+.0} %")),
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
        let t = callbudget_api::timestamp::parse("2026-11-19T09:00:00.5Z").unwrap();
        assert_eq!(when(&t), "2026-11-19 09:00:00 UTC");
    }
}
