//! The one timestamp representation callbudget writes everywhere: ISO 8601 UTC with exactly six
//! fractional digits and a `Z` (`2026-11-20T10:15:02.120000Z`).
//!
//! Why: fixed width makes text order equal time order (so SQLite indexes and `ORDER BY` work on the
//! text), it reads as-is in the sqlite3 shell, SQLite's date functions accept it, and microseconds
//! keep every digit the Meraki API sends. Parsing is lenient (fraction optional, `Z` or an offset),
//! as the API's timestamps vary.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time in the canonical representation.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an ISO 8601 / RFC 3339 timestamp, with or without a fraction, `Z` or an offset.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&Utc))
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
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {text:?}: {e}")))
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
    fn micros_round_trip() {
        let t = parse("2026-11-20T10:15:02.123456Z").unwrap();
        assert_eq!(from_micros(to_micros(&t)), t);
    }
}
