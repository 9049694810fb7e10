//! What a call asks for: its query parameters read by the API's rules (a bad value is a `400` with
//! `{"errors": [...]}`), the time window `t0`/`t1`/`timespan` resolves to, the request-log filters,
//! and the opaque page tokens of `startingAfter`/`endingBefore`.

use super::responses::ApiError;
use crate::log::RecordFilter;
use callbudget_api::MAX_TIMESPAN;
use chrono::{DateTime, TimeDelta, Utc};

/// Parsed query parameters, arrays (`name[]=a&name[]=b`) collected under `name`.
pub struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        let array = format!("{name}[]");
        self.pairs
            .iter()
            .filter(|(k, _)| *k == array || k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn int<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("'{name}' must be an integer"))),
        }
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => callbudget_api::timestamp::parse(v).map(Some).map_err(|_| {
                ApiError::bad_request(format!("'{name}' must be an ISO 8601 timestamp"))
            }),
        }
    }

    /// A page token parameter (`startingAfter`, `endingBefore`): the log position it stands for.
    pub fn token(&self, name: &str) -> Result<Option<usize>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(t) => decode_token(t)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid '{name}'"))),
        }
    }
}

/// Resolves t0 / t1 / timespan the way the API does: at most 31 days long and no further back than
/// 31 days; `timespan` (seconds) excludes t0. Defaults to the last 31 days.
pub fn resolve_window(
    q: &Query,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let t0 = q.time("t0")?;
    let t1 = q.time("t1")?;
    let timespan = timespan_seconds(q, t0.is_some())?;
    let t1 = match (t1, t0) {
        (Some(t1), _) => t1,
        (None, Some(t0)) => (t0 + MAX_TIMESPAN).min(now),
        (None, None) => now,
    };
    let t0 = match t0 {
        Some(t0) => t0,
        None => {
            let span = timespan.unwrap_or(MAX_TIMESPAN.num_seconds() as f64);
            t1 - TimeDelta::microseconds((span * 1e6) as i64)
        }
    };
    if t0 > t1 {
        return Err(ApiError::bad_request("'t0' must be before 't1'"));
    }
    if t1 - t0 > MAX_TIMESPAN {
        return Err(ApiError::bad_request(
            "'t1' can be at most 31 days after 't0'",
        ));
    }
    if t0 < now - MAX_TIMESPAN {
        return Err(ApiError::bad_request(
            "'t0' can be at most 31 days before now",
        ));
    }
    Ok((t0, t1))
}

/// `timespan` in seconds: more than 0, at most 31 days, and never beside `t0`.
fn timespan_seconds(q: &Query, with_t0: bool) -> Result<Option<f64>, ApiError> {
    let Some(v) = q.get("timespan") else {
        return Ok(None);
    };
    let span: f64 = v
        .parse()
        .map_err(|_| ApiError::bad_request("'timespan' must be a number of seconds"))?;
    if with_t0 {
        return Err(ApiError::bad_request(
            "'timespan' cannot be combined with 't0'",
        ));
    }
    let max_seconds = MAX_TIMESPAN.num_seconds() as f64;
    if !(span > 0.0 && span <= max_seconds) {
        return Err(ApiError::bad_request(format!(
            "'timespan' must be greater than 0 and at most {max_seconds} seconds (31 days)"
        )));
    }
    Ok(Some(span))
}

/// The byInterval interval the API derives from a time span when none is given. The real rule is
/// not documented (*unverified*); this keeps the number of intervals small, finest first.
pub fn default_interval_seconds(span: TimeDelta) -> u32 {
    let hours = span.num_seconds() as f64 / 3600.0;
    if hours <= 8.0 {
        120
    } else if hours <= 7.0 * 24.0 {
        3600
    } else if hours <= 21.0 * 24.0 {
        14400
    } else {
        21600
    }
}

/// Opaque page tokens: the position in the org's log, disguised so clients do not parse them.
const TOKEN_MASK: u64 = 0x5eed_c0de_b00c_7a11;

pub fn encode_token(index: usize) -> String {
    format!("p{:016x}", index as u64 ^ TOKEN_MASK)
}

fn decode_token(token: &str) -> Option<usize> {
    let hex = token.strip_prefix('p')?;
    if hex.len() != 16 {
        return None;
    }
    // Positions are far below u32::MAX; anything larger is a forged token.
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|v| v ^ TOKEN_MASK)
        .filter(|&v| v < u64::from(u32::MAX))
        .map(|v| v as usize)
}

/// The request-log filters of a call; byInterval matches `userAgent` partially, apiRequests exactly.
pub fn record_filter(q: &Query, partial_user_agent: bool) -> Result<RecordFilter, ApiError> {
    let method = q.get("method").map(str::to_ascii_uppercase);
    if let Some(m) = &method
        && !["GET", "PUT", "POST", "DELETE"].contains(&m.as_str())
    {
        return Err(ApiError::bad_request(
            "'method' must be one of GET, PUT, POST, DELETE",
        ));
    }
    let version: Option<u8> = q.int("version")?;
    if version.is_some_and(|v| v > 1) {
        return Err(ApiError::bad_request("'version' must be 0 or 1"));
    }
    let mut admin_ids = q.all("adminIds");
    admin_ids.extend(q.get("adminId").map(str::to_owned));
    let mut source_ips = q.all("sourceIps");
    source_ips.extend(q.get("sourceIp").map(str::to_owned));
    Ok(RecordFilter {
        admin_ids,
        source_ips,
        user_agent: q.get("userAgent").map(str::to_owned),
        user_agent_partial: partial_user_agent,
        path: q.get("path").map(str::to_owned),
        method,
        response_code: q.int("responseCode")?,
        version,
        operation_ids: q.all("operationIds"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token(2344)), Some(2344));
        assert_eq!(decode_token("2344"), None);
        assert_eq!(decode_token("pzz"), None);
        assert_eq!(
            decode_token(&format!("p{:016x}", u64::MAX ^ TOKEN_MASK)),
            None
        );
    }

    #[test]
    fn default_interval_grows_with_the_span() {
        assert_eq!(default_interval_seconds(TimeDelta::hours(2)), 120);
        assert_eq!(default_interval_seconds(TimeDelta::days(1)), 3600);
        assert_eq!(default_interval_seconds(TimeDelta::days(14)), 14400);
        assert_eq!(default_interval_seconds(TimeDelta::days(31)), 21600);
    }

    #[test]
    fn windows_follow_the_api_rules() {
        let now = callbudget_api::timestamp::parse("2026-11-20T00:00:00Z").unwrap();
        let q = |s: &str| Query::parse(Some(s));
        let (t0, t1) = resolve_window(&q("timespan=3600"), now).ok().unwrap();
        assert_eq!((t1 - t0).num_seconds(), 3600);
        assert_eq!(t1, now);
        let (t0, _) = resolve_window(&q(""), now).ok().unwrap();
        assert_eq!(now - t0, MAX_TIMESPAN);
        assert!(resolve_window(&q("timespan=2678401"), now).is_err());
        assert!(resolve_window(&q("t0=2026-10-19T23:59:59Z"), now).is_err());
        assert!(
            resolve_window(&q("t0=2026-11-19T00:00:00Z&t1=2026-11-18T00:00:00Z"), now).is_err()
        );
        assert!(resolve_window(&q("t0=yesterday"), now).is_err());
        assert!(resolve_window(&q("t0=2026-11-19T00:00:00Z&timespan=60"), now).is_err());
    }
}
