//! When to try a call again: `Retry-After` in every form servers send (seconds, an HTTP date, or
//! `3172s` as Cisco XDR writes it), `X-RateLimit-Reset` (a Unix time), and otherwise exponential
//! backoff with full jitter, capped. Also what is left of the budget, when the server says:
//! Cisco XDR's `x-ratelimit-org-limit` / `x-ratelimit-org-remaining`, else the common
//! `X-RateLimit-Limit` / `X-RateLimit-Remaining`.

use rand::Rng;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest wait a server can impose with one 429 (Cisco XDR's rolling hour can ask for most of
/// an hour): a larger `Retry-After` is read as this.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// How long a `Retry-After` value asks to wait, read against `now` (the local wall clock) for the
/// date form. `None` when the value is unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let seconds = value.strip_suffix('s').unwrap_or(value).trim();
    if let Ok(s) = seconds.parse::<f64>() {
        return (s >= 0.0).then(|| {
            Duration::try_from_secs_f64(s)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT)
        });
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

/// How long until an `X-RateLimit-Reset` Unix time (seconds, possibly fractional).
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let reset: f64 = value.trim().parse().ok()?;
    if !reset.is_finite() || reset < 0.0 {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(
        Duration::try_from_secs_f64((reset - now).max(0.0))
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT),
    )
}

/// What a server says is left of the budget its answer was counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitQuota {
    /// Requests the window allows (XDR: 8000 per rolling hour).
    pub limit: u64,
    /// Requests left in it after this one.
    pub remaining: u64,
}

/// The quota of an answer, from its headers (`header` looks one up by its lower-case name): the
/// organization's (XDR's `x-ratelimit-org-*`) before the generic `x-ratelimit-*`. Both the limit
/// and the remainder must be whole numbers; a remainder over the limit is read as the limit.
pub fn parse_quota<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<RateLimitQuota> {
    let pair = |limit: &str, remaining: &str| {
        let limit: u64 = header(limit)?.trim().parse().ok()?;
        let remaining: u64 = header(remaining)?.trim().parse().ok()?;
        Some(RateLimitQuota {
            limit,
            remaining: remaining.min(limit),
        })
    };
    pair("x-ratelimit-org-limit", "x-ratelimit-org-remaining")
        .or_else(|| pair("x-ratelimit-limit", "x-ratelimit-remaining"))
}

/// Exponential backoff with full jitter: a random wait in `[0, min(cap, base × 2^attempt)]`, so
/// clients that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let grown = self.base.saturating_mul(1u32 << attempt.min(20));
        grown.min(self.cap)
    }

    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_secs_f64();
        Duration::from_secs_f64(rng.random_range(0.0..=ceiling))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_in_seconds_with_or_without_a_unit() {
        assert_eq!(parse_retry_after("2", at(0)), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 3172s", at(0)),
            Some(Duration::from_secs(3172))
        );
        assert_eq!(
            parse_retry_after("0.5", at(0)),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retry_after("-1", at(0)), None);
        assert_eq!(parse_retry_after("1e300", at(0)), Some(MAX_WAIT));
        assert_eq!(parse_retry_after("86400", at(0)), Some(MAX_WAIT));
        assert_eq!(parse_retry_after("NaN", at(0)), None);
        assert_eq!(parse_retry_after("soon", at(0)), None);
    }

    #[test]
    fn retry_after_as_a_date_counts_from_now_and_never_goes_negative() {
        // Thu, 01 Jan 1970 00:01:40 GMT is 100 s after the epoch.
        let date = "Thu, 01 Jan 1970 00:01:40 GMT";
        assert_eq!(
            parse_retry_after(date, at(90)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after(date, at(200)), Some(Duration::ZERO));
    }

    #[test]
    fn rate_limit_reset_is_a_unix_time() {
        assert_eq!(
            parse_rate_limit_reset("1000", at(994)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(
            parse_rate_limit_reset("1000", at(2000)),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_rate_limit_reset("x", at(0)), None);
        assert_eq!(parse_rate_limit_reset("1e300", at(0)), Some(MAX_WAIT));
    }

    #[test]
    fn xdr_org_quota_headers_come_before_the_generic_ones() {
        fn headers<'a>(
            pairs: &'a [(&'static str, &'static str)],
        ) -> impl Fn(&str) -> Option<&'static str> + 'a {
            move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        const XDR: [(&str, &str); 4] = [
            ("x-ratelimit-org-limit", "8000"),
            ("x-ratelimit-org-remaining", " 17"),
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "99"),
        ];
        assert_eq!(
            parse_quota(headers(&XDR)),
            Some(RateLimitQuota {
                limit: 8000,
                remaining: 17
            })
        );
        assert_eq!(
            parse_quota(headers(&XDR[2..])),
            Some(RateLimitQuota {
                limit: 100,
                remaining: 99
            })
        );
        // Half a pair, or a word, is no quota; a remainder over the limit is capped.
        assert_eq!(parse_quota(headers(&XDR[..1])), None);
        assert_eq!(
            parse_quota(headers(&[
                ("x-ratelimit-org-limit", "8000"),
                ("x-ratelimit-org-remaining", "lots")
            ])),
            None
        );
        assert_eq!(
            parse_quota(headers(&[
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "12")
            ])),
            Some(RateLimitQuota {
                limit: 10,
                remaining: 10
            })
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jitters_below_its_ceiling() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(10), Duration::from_secs(60));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let delays: Vec<Duration> = (0..100).map(|_| b.delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(8)));
        // Full jitter spreads the waits: not all in the top half.
        assert!(delays.iter().any(|d| *d < Duration::from_secs(4)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(4)));
    }
}
