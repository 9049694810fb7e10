//! The one timestamp representation callbudget writes everywhere: ISO 8601 UTC with exactly six
//! fractional digits and a `Z` (`2026-11-20T10:15:02.120000Z`).
//!
//! Why: fixed width makes text order equal time order (so SQLite indexes and `ORDER BY` work on the
//! text), it reads as-is in the sqlite3 shell, SQLite's date functions accept it, and microseconds
//! keep every digit the Meraki API sends. Parsing is lenient (fraction optional, `Z` or an offset),
//! as the API's timestamps vary.

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds, the unit of every timestamp the analysis and the simulator compute with.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;

/// The first instant the canonical form writes, 0001-01-01T00:00:00Z, in microseconds since the
/// Unix epoch: before it, years have no four digits and text order is no longer time order.
pub const EARLIEST_US: i64 = -62_135_596_800 * MICROS_PER_SECOND;
/// The last instant the canonical form writes, 9999-12-31T23:59:59.999999Z.
pub const LATEST_US: i64 = 253_402_300_800 * MICROS_PER_SECOND - 1;

/// Why a text is not a timestamp callbudget accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error(transparent)]
    Format(#[from] chrono::ParseError),
    #[error("it lies outside the years 0001 to 9999 (UTC)")]
    OutOfRange,
}

/// Formats a time in the canonical representation.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an ISO 8601 / RFC 3339 timestamp, with or without a fraction, `Z` or an offset, within
/// the years 0001 to 9999 in UTC ([`EARLIEST_US`] to [`LATEST_US`]).
pub fn parse(text: &str) -> Result<DateTime<Utc>, TimestampError> {
    let t = DateTime::parse_from_rfc3339(text.trim())?.with_timezone(&Utc);
    if (EARLIEST_US..=LATEST_US).contains(&t.timestamp_micros()) {
        Ok(t)
    } else {
        Err(TimestampError::OutOfRange)
    }
}

/// Microseconds since the Unix epoch of a timestamp in exactly the canonical form
/// (`2026-11-20T10:15:02.120000Z`), without the general parser: reading millions of stored rows
/// is dominated by this. `None` for anything else (use [`parse`] then).
pub fn canonical_to_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if year == 0 {
        return None;
    }
    let (hour, minute, second, micros) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1_000_000 + i64::from(micros))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Microseconds since the Unix epoch, the simulator's and the budget model's clock unit.
pub fn to_micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`to_micros`]; out-of-range values clamp to the Unix epoch.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// `#[serde(with = "crate::timestamp::serde_canonical")]`: writes the canonical form, reads leniently.
pub mod serde_canonical {
    use chrono::{DateTime, Utc};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_str(TimestampVisitor)
    }

    /// Reads the text where it lies (no copy), the canonical form without the general parser.
    struct TimestampVisitor;

    impl serde::de::Visitor<'_> for TimestampVisitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an ISO 8601 timestamp")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
            if let Some(t) = super::canonical_to_micros(text)
                .and_then(chrono::DateTime::<Utc>::from_timestamp_micros)
            {
                return Ok(t);
            }
            super::parse(text).map_err(|e| E::custom(format!("invalid timestamp {text:?}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_has_six_fraction_digits_and_z() {
        let t = parse("2026-11-20T10:15:02.12Z").unwrap();
        assert_eq!(format(&t), "2026-11-20T10:15:02.120000Z");
    }

    #[test]
    fn parsing_accepts_offsets_and_missing_fraction() {
        let a = parse("2026-11-20T11:15:02+01:00").unwrap();
        let b = parse("2026-11-20T10:15:02Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(format(&a), "2026-11-20T10:15:02.000000Z");
    }

    #[test]
    fn text_order_is_time_order() {
        let early = format(&parse("2026-11-20T09:59:59.999999Z").unwrap());
        let late = format(&parse("2026-11-20T10:00:00Z").unwrap());
        assert!(early < late);
    }

    #[test]
    fn the_canonical_fast_path_agrees_with_the_parser() {
        for text in [
            "2026-11-20T10:15:02.120000Z",
            "2028-02-29T23:59:59.999999Z",
            "1970-01-01T00:00:00.000000Z",
            "1969-12-31T23:59:59.999999Z",
            "2000-02-29T00:00:00.000001Z",
            "2100-03-01T12:00:00.500000Z",
            "2026-01-01T00:00:00.000000Z",
            "2026-12-31T23:59:59.000000Z",
            "0001-01-01T00:00:00.000000Z",
        ] {
            assert_eq!(
                canonical_to_micros(text),
                Some(to_micros(&parse(text).unwrap())),
                "{text}"
            );
        }
        for text in [
            "2026-11-20T10:15:02Z",
            "2026-02-30T10:15:02.000000Z",
            "2100-02-29T10:15:02.000000Z",
            "2026-13-01T10:15:02.000000Z",
            "2026-11-20T24:00:00.000000Z",
            "2026-11-20T10:60:02.000000Z",
            "2026-11-20T10:15:60.000000Z",
            "2026-11-20T10:15:02.12000xZ",
            "2026-11-20 10:15:02.120000Z",
        ] {
            assert_eq!(canonical_to_micros(text), None, "{text}");
        }
    }

    #[test]
    fn times_outside_the_years_0001_to_9999_are_refused_on_either_path() {
        assert_eq!(
            parse("0001-01-01T00:00:00Z").map(|t| to_micros(&t)),
            Ok(EARLIEST_US)
        );
        assert_eq!(
            parse("9999-12-31T23:59:59.999999Z").map(|t| to_micros(&t)),
            Ok(LATEST_US)
        );
        assert_eq!(
            canonical_to_micros("0001-01-01T00:00:00.000000Z"),
            Some(EARLIEST_US)
        );
        assert_eq!(
            canonical_to_micros("9999-12-31T23:59:59.999999Z"),
            Some(LATEST_US)
        );
        for text in [
            "0000-06-01T00:00:00Z",
            "0001-01-01T00:30:00+01:00",
            "9999-12-31T23:30:00-01:00",
        ] {
            assert_eq!(parse(text), Err(TimestampError::OutOfRange), "{text}");
        }
        assert_eq!(canonical_to_micros("0000-06-01T00:00:00.000000Z"), None);
        assert_eq!(
            parse("0000-06-01T00:00:00Z").unwrap_err().to_string(),
            "it lies outside the years 0001 to 9999 (UTC)"
        );
    }

    #[test]
    fn micros_round_trip() {
        let t = parse("2026-11-20T10:15:02.123456Z").unwrap();
        assert_eq!(from_micros(to_micros(&t)), t);
    }
}
