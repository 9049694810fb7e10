//! Pacing: the collector is itself a consumer of the budget it audits, so it spends only its share.
//!
//! One [`Pacer`] per organization and one for the source IP, each a token bucket at
//! `share × limit` with AIMD on top: every 429 halves the rate (the official SDK: × 0.7) and pauses
//! the whole pacer until `Retry-After` has passed — not just the call that was refused — and every
//! success adds back 5 % of the share (the SDK: + 0.2 requests/s), never above it. A maintained
//! rate-limiting crate (governor) was considered: its quotas are fixed at creation, and AIMD needs
//! the rate to move, so the pacer reuses the token bucket the simulator and analysis replay.

use crate::budget::{BucketLimits, TokenBucket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The slowest a pacer goes after repeated 429s, as a fraction of its share.
const MIN_FRACTION: f64 = 0.05;
/// What a 429 multiplies the rate by.
const DECREASE: f64 = 0.5;
/// What a success adds to the rate, as a fraction of the share.
const INCREASE_FRACTION: f64 = 0.05;

#[derive(Debug)]
struct PacerState {
    bucket: TokenBucket,
    rate: f64,
    paused_until_us: i64,
}

/// A token bucket at a share of a budget, slowed by 429s and sped back up by successes.
#[derive(Debug)]
pub struct Pacer {
    /// The share: the most this pacer ever spends.
    max_rate: f64,
    started: Instant,
    state: Mutex<PacerState>,
}

impl Pacer {
    /// A pacer spending at most `rate_per_second`, evenly spaced.
    pub fn new(rate_per_second: f64) -> Pacer {
        let max_rate = rate_per_second.max(0.001);
        Pacer {
            max_rate,
            started: Instant::now(),
            state: Mutex::new(PacerState {
                bucket: TokenBucket::new(Self::limits(max_rate), 0),
                rate: max_rate,
                paused_until_us: 0,
            }),
        }
    }

    fn limits(rate: f64) -> BucketLimits {
        // A bucket holding one call: calls go evenly spaced, never in a burst, so the polite
        // client never adds to a spike and its rate over any stretch is its share.
        BucketLimits {
            rate_per_second: rate,
            burst: 1.0 - rate,
        }
    }

    fn now_us(&self) -> i64 {
        self.started.elapsed().as_micros() as i64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rate the pacer currently allows, requests per second.
    pub fn current_rate(&self) -> f64 {
        self.lock().rate
    }

    pub fn max_rate(&self) -> f64 {
        self.max_rate
    }

    /// How long to wait before a call may go, taking its token if none.
    fn try_acquire(&self) -> Option<Duration> {
        let now = self.now_us();
        let mut state = self.lock();
        if state.paused_until_us > now {
            return Some(Duration::from_micros((state.paused_until_us - now) as u64));
        }
        state.bucket.try_take(now).err()
    }

    /// Waits until a call may go; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let started = Instant::now();
        while let Some(wait) = self.try_acquire() {
            tokio::time::sleep(wait).await;
        }
        started.elapsed()
    }

    /// A call succeeded: speed up a little, up to the share.
    pub fn on_success(&self) {
        let now = self.now_us();
        let mut state = self.lock();
        if state.rate < self.max_rate {
            state.rate = (state.rate + self.max_rate * INCREASE_FRACTION).min(self.max_rate);
            let limits = Self::limits(state.rate);
            state.bucket.set_limits(limits, now);
        }
    }

    /// A call was refused with 429: slow down and hold every call until `retry_after` has passed.
    pub fn on_throttled(&self, retry_after: Duration) {
        let now = self.now_us();
        let mut state = self.lock();
        state.rate = (state.rate * DECREASE).max(self.max_rate * MIN_FRACTION);
        let limits = Self::limits(state.rate);
        state.bucket.set_limits(limits, now);
        let until = now + retry_after.as_micros() as i64;
        state.paused_until_us = state.paused_until_us.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_halves_the_rate_and_successes_restore_it_to_the_share_only() {
        let pacer = Pacer::new(3.0);
        pacer.on_throttled(Duration::ZERO);
        assert_eq!(pacer.current_rate(), 1.5);
        pacer.on_throttled(Duration::ZERO);
        assert_eq!(pacer.current_rate(), 0.75);
        for _ in 0..100 {
            pacer.on_success();
        }
        assert_eq!(pacer.current_rate(), 3.0);
        for _ in 0..100 {
            pacer.on_throttled(Duration::ZERO);
        }
        assert!((pacer.current_rate() - 0.15).abs() < 1e-9);
    }

    #[test]
    fn a_throttled_pacer_holds_every_call_until_retry_after() {
        let pacer = Pacer::new(100.0);
        pacer.on_throttled(Duration::from_secs(5));
        let wait = pacer.try_acquire().expect("paused");
        assert!(
            wait > Duration::from_millis(4900) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn a_pacer_spends_no_more_than_its_share_and_never_bursts() {
        let pacer = Pacer::new(100.0);
        let started = Instant::now();
        for _ in 0..31 {
            pacer.acquire().await;
        }
        // One at once, then one every 10 ms: 30 gaps, at least 0.3 s.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(299), "{elapsed:?}");
    }
}
