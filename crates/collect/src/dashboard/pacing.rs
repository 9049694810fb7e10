//! Pacing: the collector is itself a consumer of the budget it audits, so it spends only its share.
//!
//! One [`Pacer`] per organization and one for the source IP, each a token bucket at
//! `share × limit` with AIMD on top: every 429 halves the rate (the official SDK: × 0.7) and pauses
//! the whole pacer until `Retry-After` has passed — not just the call that was refused. While 429s
//! keep coming the pause doubles (with jitter); only after [`HOLD`] without one does each success
//! add back 5 % of the share (the SDK: + 0.2 requests/s at once), never above it. So beside a
//! consumer that keeps the budget empty, the collector backs off instead of probing every second. A maintained
//! rate-limiting crate (governor) was considered: its quotas are fixed at creation, and AIMD needs
//! the rate to move, so the pacer reuses the token bucket the simulator and analysis replay.

use callbudget_api::budget::{BucketLimits, TokenBucket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The slowest a pacer goes after repeated 429s, as a fraction of its share.
const MIN_FRACTION: f64 = 0.05;
/// What a 429 multiplies the rate by.
const DECREASE: f64 = 0.5;
/// What a success adds to the rate, as a fraction of the share.
const INCREASE_FRACTION: f64 = 0.05;
/// How long after a 429 the rate stays down before successes raise it again.
pub const HOLD: Duration = Duration::from_secs(10);
/// The longest pause a streak of 429s grows to.
const MAX_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct PacerState {
    bucket: TokenBucket,
    rate: f64,
    paused_until_us: i64,
    /// 429s since the last success.
    streak: u32,
    last_throttled_us: Option<i64>,
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
                streak: 0,
                last_throttled_us: None,
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

    /// A call succeeded: speed up a little, up to the share, once 429s have stopped for [`HOLD`].
    pub fn on_success(&self) {
        let now = self.now_us();
        let mut state = self.lock();
        state.streak = 0;
        let holding = state
            .last_throttled_us
            .is_some_and(|t| now - t < HOLD.as_micros() as i64);
        if state.rate < self.max_rate && !holding {
            state.rate = (state.rate + self.max_rate * INCREASE_FRACTION).min(self.max_rate);
            let limits = Self::limits(state.rate);
            state.bucket.set_limits(limits, now);
        }
    }

    /// A call was refused with 429: slow down and hold every call until `retry_after` has passed —
    /// longer, doubling with jitter, while 429s keep coming. Returns the pause.
    pub fn on_throttled(&self, retry_after: Duration, jitter: f64) -> Duration {
        let now = self.now_us();
        let mut state = self.lock();
        state.rate = (state.rate * DECREASE).max(self.max_rate * MIN_FRACTION);
        let limits = Self::limits(state.rate);
        state.bucket.set_limits(limits, now);
        state.streak += 1;
        state.last_throttled_us = Some(now);
        // The first 429 waits what the server asked; each further one in a row doubles that
        // (at least a second), spread by `jitter` in [0, 1) so that clients do not re-sync, and
        // never past MAX_PAUSE — unless the server itself asked for longer.
        let grown = retry_after
            .max(Duration::from_secs(1))
            .saturating_mul(1 << (state.streak - 1).min(6))
            .min(MAX_PAUSE);
        let pause = if state.streak == 1 {
            retry_after
        } else {
            grown
                .mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
                .min(MAX_PAUSE)
                .max(retry_after)
        };
        let until = now.saturating_add(i64::try_from(pause.as_micros()).unwrap_or(i64::MAX));
        state.paused_until_us = state.paused_until_us.max(until);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pacer whose last 429 lies `ago` in the past.
    fn throttled_ago(pacer: &Pacer, ago: Duration) {
        pacer.lock().last_throttled_us = Some(pacer.now_us() - ago.as_micros() as i64);
    }

    #[test]
    fn throttling_halves_the_rate_and_successes_restore_it_to_the_share_only_after_the_hold() {
        let pacer = Pacer::new(3.0);
        pacer.on_throttled(Duration::ZERO, 0.5);
        assert_eq!(pacer.current_rate(), 1.5);
        pacer.on_throttled(Duration::ZERO, 0.5);
        assert_eq!(pacer.current_rate(), 0.75);
        // Within the hold, successes do not speed it up.
        for _ in 0..100 {
            pacer.on_success();
        }
        assert_eq!(pacer.current_rate(), 0.75);
        throttled_ago(&pacer, HOLD);
        for _ in 0..100 {
            pacer.on_success();
        }
        assert_eq!(pacer.current_rate(), 3.0);
        for _ in 0..100 {
            pacer.on_throttled(Duration::ZERO, 0.5);
        }
        assert!((pacer.current_rate() - 0.15).abs() < 1e-9);
    }

    #[test]
    fn a_throttled_pacer_holds_every_call_until_retry_after() {
        let pacer = Pacer::new(100.0);
        assert_eq!(
            pacer.on_throttled(Duration::from_secs(5), 0.9),
            Duration::from_secs(5)
        );
        let wait = pacer.try_acquire().expect("paused");
        assert!(
            wait > Duration::from_millis(4900) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
    }

    #[test]
    fn a_streak_of_429s_doubles_the_pause_with_jitter_up_to_a_minute() {
        let pacer = Pacer::new(3.0);
        let pauses: Vec<u64> = (0..9)
            .map(|_| pacer.on_throttled(Duration::from_secs(1), 0.5).as_secs())
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Jitter spreads a pause over 0.75–1.25 of its value, never below Retry-After and never
        // above a minute, the cap docs/collecting.md states.
        assert_eq!(
            pacer.on_throttled(Duration::from_secs(1), 0.0),
            Duration::from_secs(45)
        );
        assert_eq!(
            pacer.on_throttled(Duration::from_secs(1), 0.999),
            Duration::from_secs(60)
        );
        // Only the server may ask for longer: its own Retry-After is waited in full.
        assert_eq!(
            pacer.on_throttled(Duration::from_secs(90), 0.999),
            Duration::from_secs(90)
        );
        pacer.on_success();
        assert_eq!(
            pacer.on_throttled(Duration::from_secs(3), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            pacer.on_throttled(Duration::from_secs(3), 0.0),
            Duration::from_millis(4500)
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
