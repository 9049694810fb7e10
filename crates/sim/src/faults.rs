//! Fault injection for the simulator, off by default. Two families, each with a rate (the chance per
//! call), all drawn from the plan's seed for every call received (refused and redirected ones too),
//! so a run with the same calls in the same order sees the same faults:
//! - **faults** (`--fault KIND=RATE`): what a good client rides out and still collects the truth
//!   through — 429 storms, 5xx, 503 with `Retry-After`, slow answers, cut or damaged bodies;
//! - **hostile modes** (`--hostile NAME[=RATE]`): a server that is wrong, which a good client must
//!   refuse rather than follow or store — Links that loop or lead elsewhere, empty pages that
//!   promise more, a record that fails the schema, a `Date` in 2100, oversized headers, terminal
//!   escapes in error bodies, overview counts past a `u64`, a body that never ends; pages that
//!   repeat their records or flood the window, an organization id that climbs the path, a `Date`
//!   in 1970.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
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

impl RetryAfterStyle {
    /// The names `FromStr` reads, for the command line.
    pub const NAMES: [&'static str; 3] = ["seconds", "date", "unit"];
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
    /// Chance of a 503 that says when to come back (`Retry-After: unavailable_for`).
    pub unavailable_rate: f64,
    pub unavailable_for: Duration,
    pub retry_after: RetryAfterStyle,
    /// The hostile modes on, each with its chance per call.
    pub hostile: BTreeMap<HostileMode, f64>,
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
            unavailable_rate: 0.0,
            unavailable_for: Duration::from_secs(2),
            retry_after: RetryAfterStyle::Seconds,
            hostile: BTreeMap::new(),
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
    Unavailable,
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
            "unavailable" => FaultKind::Unavailable,
            other => {
                return Err(format!(
                    "unknown fault {other:?}: expected storm, 5xx, unavailable, slow, reset, truncate or malformed"
                ));
            }
        };
        Ok(FaultSetting {
            kind,
            rate: parse_rate(s, rate)?,
        })
    }
}

fn parse_rate(setting: &str, rate: &str) -> Result<f64, String> {
    rate.parse()
        .ok()
        .filter(|r: &f64| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("{setting:?}: the rate must be a number from 0 to 1"))
}

/// A deliberately wrong server behaviour (`--hostile NAME`). The Link modes and `bad-record` act on
/// getOrganizationApiRequests pages; the others on every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostileMode {
    /// `rel=next` names the page just fetched.
    SelfLink,
    /// A `200 []` whose `rel=next` leads to another empty page, and so on.
    EmptyNext,
    /// `rel=next` leads to another organization's request log (the same window).
    ForeignOrgLink,
    /// `rel=next` leads to another endpoint of the same organization (its admins).
    OtherEndpointLink,
    /// One record of the page has `"ts": "not-a-time"`.
    BadRecord,
    /// `Date` says the simulated time in the year 2100.
    FutureDate,
    /// A response header of 1 MiB, beyond what HTTP clients accept.
    HugeHeaders,
    /// Error bodies carry terminal escapes and control characters ([`HOSTILE_TEXT`]).
    Escapes,
    /// The request overview's counts add up to more than a `u64` holds.
    HugeCounts,
    /// A request-log page's body never ends: `[` and then spaces, for as long as it is read.
    EndlessBody,
    /// A request-log page's records repeated until it holds 1000, the most a page holds.
    RepeatedRecords,
    /// A request-log page's records repeated 200 times, past the 1000 a page holds.
    OversizedPage,
    /// The overview counts as many 429s as a window could plausibly hold (10,000 a second), and
    /// request-log pages of 1000 distinct 429 records within the window link on without end.
    Flood,
    /// `GET /organizations` also lists an organization whose id climbs the path:
    /// `{first}/../{second}` (the first and second scenario's ids; the first twice with one).
    OrgIdTraversal,
    /// `Date` says the simulated time in the year 1970.
    PastDate,
}

impl HostileMode {
    /// Every mode, in the order their chances are drawn.
    pub const ALL: [HostileMode; 15] = [
        HostileMode::SelfLink,
        HostileMode::EmptyNext,
        HostileMode::ForeignOrgLink,
        HostileMode::OtherEndpointLink,
        HostileMode::BadRecord,
        HostileMode::FutureDate,
        HostileMode::HugeHeaders,
        HostileMode::Escapes,
        HostileMode::HugeCounts,
        HostileMode::EndlessBody,
        HostileMode::RepeatedRecords,
        HostileMode::OversizedPage,
        HostileMode::Flood,
        HostileMode::OrgIdTraversal,
        HostileMode::PastDate,
    ];

    /// Whether the mode's chance is drawn on every call, on or off: the first eight's are. Modes
    /// added later draw only when on, so that a seed's sequence for the first eight stays what
    /// it was.
    fn drawn_when_off(self) -> bool {
        !matches!(
            self,
            HostileMode::HugeCounts
                | HostileMode::EndlessBody
                | HostileMode::RepeatedRecords
                | HostileMode::OversizedPage
                | HostileMode::Flood
                | HostileMode::OrgIdTraversal
                | HostileMode::PastDate
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            HostileMode::SelfLink => "self-link",
            HostileMode::EmptyNext => "empty-next",
            HostileMode::ForeignOrgLink => "foreign-org-link",
            HostileMode::OtherEndpointLink => "other-endpoint-link",
            HostileMode::BadRecord => "bad-record",
            HostileMode::FutureDate => "future-date",
            HostileMode::HugeHeaders => "huge-headers",
            HostileMode::Escapes => "escapes",
            HostileMode::HugeCounts => "huge-counts",
            HostileMode::EndlessBody => "endless-body",
            HostileMode::RepeatedRecords => "repeated-records",
            HostileMode::OversizedPage => "oversized-page",
            HostileMode::Flood => "flood",
            HostileMode::OrgIdTraversal => "org-id-traversal",
            HostileMode::PastDate => "past-date",
        }
    }
}

/// What the `escapes` mode puts before every error message: a terminal title change
/// (`ESC]0;…BEL`), a screen clear (`ESC[2J`), a terminal reset (`ESC c`), colour, backspaces, NUL
/// and BEL.
pub const HOSTILE_TEXT: &str =
    "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}c\u{1b}[32mALL GOOD\u{1b}[0m\u{8}\u{8}\u{0}\u{7}";

/// One `--hostile NAME[=RATE]` setting; without a rate, every call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostileSetting {
    pub mode: HostileMode,
    pub rate: f64,
}

impl FromStr for HostileSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rate) = match s.split_once('=') {
            Some((name, rate)) => (name, parse_rate(s, rate)?),
            None => (s, 1.0),
        };
        let mode = HostileMode::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = HostileMode::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown hostile mode {name:?}: expected one of {}",
                    names.join(", ")
                )
            })?;
        Ok(HostileSetting { mode, rate })
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
            FaultKind::Unavailable => self.unavailable_rate = rate,
        }
        self
    }

    pub fn with_hostile(mut self, setting: HostileSetting) -> Self {
        self.hostile.insert(setting.mode, setting.rate);
        self
    }
}

/// What to do to one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultDraw {
    pub start_storm: bool,
    pub server_error: Option<u16>,
    /// A 503 with `Retry-After`.
    pub unavailable: bool,
    pub slow: bool,
    pub body: BodyFault,
    /// The hostile modes this call meets.
    pub hostile: BTreeSet<HostileMode>,
}

impl FaultDraw {
    pub fn hostile(&self, mode: HostileMode) -> bool {
        self.hostile.contains(&mode)
    }
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
    /// The faults added after the first six, and the hostile modes, draw from a stream of their own
    /// so that the first six's sequence for a seed is what it always was.
    later_rng: Mutex<ChaCha8Rng>,
}

/// Seeds the second stream apart from the first.
const LATER_STREAM: u64 = 0x6e65_7720_6661_756c;

impl FaultInjector {
    pub fn new(plan: FaultPlan) -> Self {
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(plan.seed));
        let later_rng = Mutex::new(ChaCha8Rng::seed_from_u64(plan.seed ^ LATER_STREAM));
        FaultInjector {
            plan,
            rng,
            later_rng,
        }
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
        drop(rng);
        let mut later = self.later_rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut hit = |rate: f64| later.random_range(0.0..1.0) < rate;
        let unavailable = hit(p.unavailable_rate);
        let hostile = HostileMode::ALL
            .into_iter()
            .filter(|mode| match p.hostile.get(mode) {
                Some(&rate) => hit(rate),
                None => mode.drawn_when_off() && hit(0.0),
            })
            .collect();
        FaultDraw {
            start_storm,
            server_error: server_error.then_some(code),
            unavailable,
            hostile,
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
    fn hostile_settings_parse_with_or_without_a_rate() {
        assert_eq!(
            "self-link".parse::<HostileSetting>(),
            Ok(HostileSetting {
                mode: HostileMode::SelfLink,
                rate: 1.0
            })
        );
        assert_eq!(
            "bad-record=0.25".parse::<HostileSetting>(),
            Ok(HostileSetting {
                mode: HostileMode::BadRecord,
                rate: 0.25
            })
        );
        let e = "loop".parse::<HostileSetting>().unwrap_err();
        assert!(e.starts_with("unknown hostile mode \"loop\": expected one of self-link, empty-next, foreign-org-link"), "{e}");
        assert!("escapes=1.5".parse::<HostileSetting>().is_err());
    }

    #[test]
    fn later_faults_and_hostile_modes_leave_the_first_sequence_alone() {
        let plan = FaultPlan {
            seed: 5,
            ..FaultPlan::default()
        }
        .with("5xx=0.3".parse().unwrap())
        .with("storm=0.2".parse().unwrap());
        let busier = plan
            .clone()
            .with("unavailable=0.5".parse().unwrap())
            .with_hostile("bad-record=0.5".parse().unwrap())
            .with_hostile("escapes".parse().unwrap());
        let first = |plan: FaultPlan| -> Vec<(bool, Option<u16>)> {
            let f = FaultInjector::new(plan);
            (0..500)
                .map(|_| {
                    let d = f.draw();
                    (d.start_storm, d.server_error)
                })
                .collect()
        };
        assert_eq!(first(plan), first(busier.clone()));
        let f = FaultInjector::new(busier);
        let draws: Vec<FaultDraw> = (0..500).map(|_| f.draw()).collect();
        assert!(draws.iter().all(|d| d.hostile(HostileMode::Escapes)));
        let bad = draws
            .iter()
            .filter(|d| d.hostile(HostileMode::BadRecord))
            .count();
        assert!((200..300).contains(&bad), "{bad}");
        assert!(draws.iter().any(|d| d.unavailable));
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
