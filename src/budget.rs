//! The call budget as Meraki enforces it: a token bucket per organization (10 requests/s plus a
//! burst of 10) and one per source IP (100 requests/s).
//!
//! The bucket runs on an explicit clock (microseconds) so that the simulator, its live rate limiter
//! and the analysis can replay the same arithmetic exactly. Token levels are integers in
//! nano-tokens, so 40 requests at one instant always admit exactly `rate + burst` of them.

use std::time::Duration;

/// How an organization's (or a source IP's) budget is shaped.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BucketLimits {
    /// Sustained requests per second.
    pub rate_per_second: f64,
    /// Extra requests allowed at once on top of one second's worth.
    pub burst: f64,
}

impl BucketLimits {
    /// Meraki's per-organization budget: 10 requests/s plus a burst of 10.
    pub const MERAKI_ORG: BucketLimits = BucketLimits {
        rate_per_second: 10.0,
        burst: 10.0,
    };
    /// Meraki's per-source-IP budget: 100 requests/s across all organizations.
    pub const MERAKI_SOURCE_IP: BucketLimits = BucketLimits {
        rate_per_second: 100.0,
        burst: 0.0,
    };

    /// The most requests a full bucket admits at one instant.
    pub fn capacity(&self) -> f64 {
        self.rate_per_second + self.burst
    }
}

const NANO: i64 = 1_000_000_000;

/// A token bucket on a microsecond clock. Starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens per second × 1000, so that rate × elapsed µs is in nano-tokens.
    milli_rate: i64,
    capacity_nt: i64,
    level_nt: i64,
    last_us: i64,
}

impl TokenBucket {
    pub fn new(limits: BucketLimits, start_us: i64) -> Self {
        let capacity_nt = (limits.capacity() * NANO as f64).round() as i64;
        TokenBucket {
            milli_rate: ((limits.rate_per_second * 1000.0).round() as i64).max(1),
            capacity_nt,
            level_nt: capacity_nt,
            last_us: start_us,
        }
    }

    fn refill(&mut self, now_us: i64) {
        if now_us > self.last_us {
            let elapsed = now_us - self.last_us;
            // Saturating: a bucket idle for years is simply full.
            let added = elapsed.saturating_mul(self.milli_rate);
            self.level_nt = self.level_nt.saturating_add(added).min(self.capacity_nt);
            self.last_us = now_us;
        }
    }

    /// Takes one token at `now_us`, or says how long until one is available.
    /// A clock that goes backwards is treated as "no time passed".
    pub fn try_take(&mut self, now_us: i64) -> Result<(), Duration> {
        self.refill(now_us);
        if self.level_nt >= NANO {
            self.level_nt -= NANO;
            Ok(())
        } else {
            let deficit = NANO - self.level_nt;
            let wait_us = (deficit + self.milli_rate - 1) / self.milli_rate;
            Err(Duration::from_micros(wait_us as u64))
        }
    }

    /// Whether a token would be available at `now_us`, without taking it.
    pub fn has_token(&mut self, now_us: i64) -> bool {
        self.refill(now_us);
        self.level_nt >= NANO
    }

    /// How long from `now_us` until a token is available (zero if one is), without taking it.
    pub fn time_until_token(&mut self, now_us: i64) -> Duration {
        self.refill(now_us);
        if self.level_nt >= NANO {
            Duration::ZERO
        } else {
            let deficit = NANO - self.level_nt;
            Duration::from_micros(((deficit + self.milli_rate - 1) / self.milli_rate) as u64)
        }
    }

    /// Takes a token from every bucket, or from none: a call refused by one budget spends nothing
    /// from the others. On refusal, returns the longest wait among the buckets.
    pub fn take_all(buckets: &mut [&mut TokenBucket], now_us: i64) -> Result<(), Duration> {
        let wait = buckets
            .iter_mut()
            .map(|b| b.time_until_token(now_us))
            .max()
            .unwrap_or_default();
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for b in buckets.iter_mut() {
            b.level_nt -= NANO;
        }
        Ok(())
    }

    /// Changes the bucket's shape from `now_us` on (AIMD pacing): tokens earned so far are kept, up
    /// to the new capacity.
    pub fn set_limits(&mut self, limits: BucketLimits, now_us: i64) {
        self.refill(now_us);
        self.milli_rate = ((limits.rate_per_second * 1000.0).round() as i64).max(1);
        self.capacity_nt = (limits.capacity() * NANO as f64).round() as i64;
        self.level_nt = self.level_nt.min(self.capacity_nt);
    }

    /// Removes every token, as a burst from someone else would (used for injected 429 storms).
    pub fn drain(&mut self, now_us: i64) {
        self.refill(now_us);
        self.level_nt = 0;
    }
}

/// Replays requests through a bucket that starts full at the first one: `timestamps` (µs, in time
/// order) come back paired with whether the bucket admitted each. The analysis' detectors all
/// replay the log this way.
pub fn replay<I: IntoIterator<Item = i64>>(
    limits: BucketLimits,
    timestamps: I,
) -> impl Iterator<Item = (i64, bool)> {
    let mut bucket: Option<TokenBucket> = None;
    timestamps.into_iter().map(move |ts| {
        let bucket = bucket.get_or_insert_with(|| TokenBucket::new(limits, ts));
        (ts, bucket.try_take(ts).is_ok())
    })
}

/// `Retry-After` in whole seconds for a wait, as Meraki sends it: rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let secs = wait.as_micros().div_ceil(1_000_000) as u64;
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_requests_at_one_instant_admit_exactly_twenty() {
        let mut bucket = TokenBucket::new(BucketLimits::MERAKI_ORG, 0);
        let admitted = (0..40).filter(|_| bucket.try_take(0).is_ok()).count();
        assert_eq!(admitted, 20);
    }

    #[test]
    fn refused_request_is_told_how_long_to_wait() {
        let mut bucket = TokenBucket::new(BucketLimits::MERAKI_ORG, 0);
        for _ in 0..20 {
            bucket.try_take(0).unwrap();
        }
        assert_eq!(bucket.try_take(0), Err(Duration::from_millis(100)));
        assert_eq!(retry_after_seconds(Duration::from_millis(100)), 1);
    }

    #[test]
    fn empty_bucket_refills_at_ten_per_second() {
        let mut bucket = TokenBucket::new(BucketLimits::MERAKI_ORG, 0);
        while bucket.try_take(0).is_ok() {}
        // One second later exactly ten more are admitted.
        let admitted = (0..40)
            .filter(|_| bucket.try_take(1_000_000).is_ok())
            .count();
        assert_eq!(admitted, 10);
        // 99.999 ms later: still nothing; at 100 ms: one.
        assert!(bucket.try_take(1_099_999).is_err());
        assert!(bucket.try_take(1_100_000).is_ok());
    }

    #[test]
    fn sustained_demand_gets_the_burst_then_ten_per_second() {
        let mut bucket = TokenBucket::new(BucketLimits::MERAKI_ORG, 0);
        // One attempt every millisecond for ten seconds: the full bucket (20), then one token
        // every 100 ms for the remaining 9.999 s (99).
        let admitted = (0..10_000)
            .filter(|ms| bucket.try_take(ms * 1000).is_ok())
            .count();
        assert_eq!(admitted, 119);
    }

    #[test]
    fn clock_going_backwards_adds_nothing() {
        let mut bucket = TokenBucket::new(BucketLimits::MERAKI_ORG, 5_000_000);
        while bucket.try_take(5_000_000).is_ok() {}
        assert!(bucket.try_take(4_000_000).is_err());
    }

    #[test]
    fn a_call_refused_by_one_bucket_spends_nothing_from_the_other() {
        let mut org = TokenBucket::new(BucketLimits::MERAKI_ORG, 0);
        let mut ip = TokenBucket::new(BucketLimits::MERAKI_SOURCE_IP, 0);
        for _ in 0..20 {
            TokenBucket::take_all(&mut [&mut org, &mut ip], 0).unwrap();
        }
        for _ in 0..50 {
            let wait = TokenBucket::take_all(&mut [&mut org, &mut ip], 0).unwrap_err();
            assert_eq!(wait, Duration::from_millis(100));
        }
        // The IP bucket lost only the 20 admitted calls' tokens: 80 remain.
        let admitted = (0..100).filter(|_| ip.try_take(0).is_ok()).count();
        assert_eq!(admitted, 80);
    }

    #[test]
    fn slowing_a_bucket_down_keeps_earned_tokens_up_to_the_new_capacity() {
        let mut bucket = TokenBucket::new(BucketLimits::MERAKI_ORG, 0);
        bucket.set_limits(
            BucketLimits {
                rate_per_second: 2.0,
                burst: 0.0,
            },
            0,
        );
        let admitted = (0..10).filter(|_| bucket.try_take(0).is_ok()).count();
        assert_eq!(admitted, 2);
        // Now one token every 500 ms.
        assert!(bucket.try_take(499_999).is_err());
        assert!(bucket.try_take(500_000).is_ok());
    }

    #[test]
    fn replay_starts_full_at_the_first_request() {
        let admitted: Vec<bool> = replay(BucketLimits::MERAKI_ORG, (0..22).map(|i| 5_000_000 + i))
            .map(|(_, ok)| ok)
            .collect();
        assert_eq!(admitted.iter().filter(|ok| **ok).count(), 20);
        assert!(!admitted[20] && !admitted[21]);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
