//! Fault injection for the simulator, off by default: each fault has a rate (the chance per call)
//! and all draws come from one seeded RNG, so a run with the same calls in the same order sees the
//! same faults.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// How `Retry-After` is written on a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfterStyle {
    /// Whole seconds, as Meraki sends it: `Retry-After: 2`.
    #[default]
    Seconds,
    /// An HTTP date: `Retry-After: Thu, 09 Jan 2026 12:00:00 GMT`.
    Date,
    /// Seconds with a unit, as Cisco XDR sends it: `Retry-After: 2s`.
    Unit,
}

impl FromStr for RetryAfterStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "seconds" => Ok(RetryAfterStyle::Seconds),
            "date" => Ok(RetryAfterStyle::Date),
            "unit" => Ok(RetryAfterStyle::Unit),
            other => Err(format!("{other:?}: expected seconds, date or unit")),
        }
    }
}

/// Which faults to inject and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Chance per call that a 429 storm starts: every call to the org is refused for `storm_length`,
    /// as if another consumer had drained the budget.
    pub storm_rate: f64,
    pub storm_length: Duration,
    /// Chance of a 500/502/503/504.
    pub server_error_rate: f64,
    /// Chance of answering only after `slow_delay`.
    pub slow_rate: f64,
    pub slow_delay: Duration,
    /// Chance of closing the connection halfway through the body.
    pub reset_rate: f64,
    /// Chance of a 200 whose JSON body is cut short.
    pub truncate_rate: f64,
    /// Chance of a 200 whose body is not JSON at all.
    pub malformed_rate: f64,
    pub retry_after: RetryAfterStyle,
    pub seed: u64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            storm_rate: 0.0,
            storm_length: Duration::from_secs(3),
            server_error_rate: 0.0,
            slow_rate: 0.0,
            slow_delay: Duration::from_secs(2),
            reset_rate: 0.0,
            truncate_rate: 0.0,
            malformed_rate: 0.0,
            retry_after: RetryAfterStyle::Seconds,
            seed: 0,
        }
    }
}

/// One `--fault KIND=RATE` setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSetting {
    pub kind: FaultKind,
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Storm,
    ServerError,
    Slow,
    Reset,
    Truncate,
    Malformed,
}

impl FromStr for FaultSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rate) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected KIND=RATE, e.g. 5xx=0.1"))?;
        let kind = match kind {
            "storm" | "429" => FaultKind::Storm,
            "5xx" => FaultKind::ServerError,
            "slow" => FaultKind::Slow,
            "reset" => FaultKind::Reset,
            "truncate" => FaultKind::Truncate,
            "malformed" => FaultKind::Malformed,
            other => {
                return Err(format!(
                    "unknown fault {other:?}: expected storm, 5xx, slow, reset, truncate or malformed"
                ));
            }
        };
        let rate: f64 = rate
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("{s:?}: the rate must be a number from 0 to 1"))?;
        Ok(FaultSetting { kind, rate })
    }
}

impl FaultPlan {
    pub fn with(mut self, setting: FaultSetting) -> Self {
        let rate = setting.rate;
        match setting.kind {
            FaultKind::Storm => self.storm_rate = rate,
            FaultKind::ServerError => self.server_error_rate = rate,
            FaultKind::Slow => self.slow_rate = rate,
            FaultKind::Reset => self.reset_rate = rate,
            FaultKind::Truncate => self.truncate_rate = rate,
            FaultKind::Malformed => self.malformed_rate = rate,
        }
        self
    }
}

/// What to do to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDraw {
    pub start_storm: bool,
    pub server_error: Option<u16>,
    pub slow: bool,
    pub body: BodyFault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFault {
    #[default]
    None,
    Reset,
    Truncate,
    Malformed,
}

/// Draws faults for calls, in call order, from the plan's seed.
#[derive(Debug)]
pub struct FaultInjector {
    plan: FaultPlan,
    rng: Mutex<ChaCha8Rng>,
}

impl FaultInjector {
    pub fn new(plan: FaultPlan) -> Self {
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(plan.seed));
        FaultInjector { plan, rng }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    pub fn draw(&self) -> FaultDraw {
        let p = &self.plan;
        let mut rng = match self.rng.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Draw every chance on every call so one fault's rate does not shift another's sequence.
        let mut hit = |rate: f64| rng.random_range(0.0..1.0) < rate;
        let start_storm = hit(p.storm_rate);
        let server_error = hit(p.server_error_rate);
        let slow = hit(p.slow_rate);
        let reset = hit(p.reset_rate);
        let truncate = hit(p.truncate_rate);
        let malformed = hit(p.malformed_rate);
        let code = [500, 502, 503, 504][rng.random_range(0..4)];
        FaultDraw {
            start_storm,
            server_error: server_error.then_some(code),
            slow,
            body: if reset {
                BodyFault::Reset
            } else if truncate {
                BodyFault::Truncate
            } else if malformed {
                BodyFault::Malformed
            } else {
                BodyFault::None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_settings_parse_and_reject_nonsense() {
        let s: FaultSetting = "5xx=0.1".parse().unwrap();
        assert_eq!(
            s,
            FaultSetting {
                kind: FaultKind::ServerError,
                rate: 0.1
            }
        );
        assert!("5xx=2".parse::<FaultSetting>().is_err());
        assert!(
            "lag=0.1"
                .parse::<FaultSetting>()
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!("5xx".parse::<FaultSetting>().is_err());
    }

    #[test]
    fn no_plan_no_faults_and_rate_one_always() {
        let quiet = FaultInjector::new(FaultPlan::default());
        assert!((0..1000).all(|_| quiet.draw() == FaultDraw::default()));
        let loud = FaultInjector::new(FaultPlan::default().with("truncate=1".parse().unwrap()));
        assert!((0..100).all(|_| loud.draw().body == BodyFault::Truncate));
    }

    #[test]
    fn a_ten_percent_rate_hits_about_ten_percent_and_repeats_with_the_seed() {
        let plan = FaultPlan {
            seed: 9,
            ..FaultPlan::default()
        }
        .with("5xx=0.1".parse().unwrap());
        let a: Vec<_> = {
            let f = FaultInjector::new(plan.clone());
            (0..2000).map(|_| f.draw()).collect()
        };
        let b: Vec<_> = {
            let f = FaultInjector::new(plan);
            (0..2000).map(|_| f.draw()).collect()
        };
        assert_eq!(a, b);
        let hits = a.iter().filter(|d| d.server_error.is_some()).count();
        assert!((150..250).contains(&hits), "{hits}");
    }
}
