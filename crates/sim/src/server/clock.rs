//! The simulator's clock: the scenarios' timelines end at one instant and the simulated time moves on
//! from there. Every reading of time in the simulator goes through it, so a test chooses its time —
//! frozen, or moved by hand — and only the running clock of `callbudget simulate` reads the machine's.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How the simulated time moves after the timeline's end.
#[derive(Debug, Clone, Default)]
pub enum ClockMode {
    /// On at the machine's pace, from the moment the simulator is built.
    #[default]
    Running,
    /// Stands at the timeline's end: every call lands at the same instant, buckets never refill and
    /// storms never end.
    Frozen,
    /// Moves only when the test moves it, with [`ClockHand::advance`].
    Manual(ClockHand),
}

/// Moves a [`ClockMode::Manual`] clock; every clone moves the same clock.
#[derive(Debug, Clone, Default)]
pub struct ClockHand(Arc<AtomicI64>);

impl ClockHand {
    pub fn new() -> Self {
        ClockHand::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }

    fn elapsed_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The simulated time: `end` (where the timelines end) plus what elapsed since, by the clock's mode.
#[derive(Debug, Clone)]
pub struct SimClock {
    end: DateTime<Utc>,
    pace: Pace,
}

#[derive(Debug, Clone)]
enum Pace {
    Running(Instant),
    Frozen,
    Manual(ClockHand),
}

impl SimClock {
    /// Starts a clock at `end`; a running clock starts counting now.
    pub fn start(end: DateTime<Utc>, mode: &ClockMode) -> Self {
        let pace = match mode {
            ClockMode::Running => Pace::Running(Instant::now()),
            ClockMode::Frozen => Pace::Frozen,
            ClockMode::Manual(hand) => Pace::Manual(hand.clone()),
        };
        SimClock { end, pace }
    }

    /// The simulated now: what the `Date` header says and when a served call is logged.
    pub fn now(&self) -> DateTime<Utc> {
        self.end + TimeDelta::microseconds(self.elapsed_us())
    }

    /// Microseconds since the timeline's end: the live budgets' and storms' time.
    pub fn elapsed_us(&self) -> i64 {
        match &self.pace {
            Pace::Running(started) => {
                i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX)
            }
            Pace::Frozen => 0,
            Pace::Manual(hand) => hand.elapsed_us(),
        }
    }

    /// What the caller's own clock reads now, against which it reads a `Retry-After` written as an
    /// HTTP date: the machine's clock beside a running simulator; in a test with a frozen or manual
    /// clock, the simulated time (there it stands for every clock).
    pub fn caller_now(&self) -> SystemTime {
        match &self.pace {
            Pace::Running(_) => SystemTime::now(),
            Pace::Frozen | Pace::Manual(_) => SystemTime::from(self.now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-20T00:00:00Z").expect("a valid time")
    }

    #[test]
    fn a_frozen_clock_reads_the_timeline_end_for_caller_and_server_alike() {
        let clock = SimClock::start(end(), &ClockMode::Frozen);
        assert_eq!(clock.now(), end());
        assert_eq!(clock.elapsed_us(), 0);
        assert_eq!(clock.caller_now(), SystemTime::from(end()));
    }

    #[test]
    fn a_manual_clock_moves_only_when_its_hand_moves() {
        let hand = ClockHand::new();
        let clock = SimClock::start(end(), &ClockMode::Manual(hand.clone()));
        assert_eq!(clock.now(), end());
        hand.advance(Duration::from_millis(1500));
        assert_eq!(clock.elapsed_us(), 1_500_000);
        assert_eq!(clock.now(), end() + TimeDelta::milliseconds(1500));
        assert_eq!(
            clock.caller_now(),
            SystemTime::from(end() + TimeDelta::milliseconds(1500))
        );
    }
}
