//! Who is refused with 429, and for how long: the live budgets (a token bucket per organization and
//! per source IP, on the simulator's clock, as the real service keeps them) and injected 429 storms
//! (every call to the organization refused for a while, as if another consumer had drained it).

use crate::scenario::Scenario;
use callbudget_api::budget::{BucketLimits, TokenBucket};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The refusals of a running simulator; `now_us` is always the clock's elapsed time.
pub struct Limiter {
    enforce_budgets: bool,
    budgets: Mutex<LiveBudgets>,
    /// Until when (µs on the clock) each organization is in an injected storm.
    storms: Mutex<HashMap<usize, i64>>,
    storm_length: Duration,
}

impl Limiter {
    pub fn new(scenarios: &[Scenario], enforce_budgets: bool, storm_length: Duration) -> Self {
        Limiter {
            enforce_budgets,
            budgets: Mutex::new(LiveBudgets::new(scenarios)),
            storms: Mutex::new(HashMap::new()),
            storm_length,
        }
    }

    /// How long the caller must wait, if this call is refused: a storm (begun now if `start_storm`)
    /// or a spent budget. An admitted call spends a token of each budget it is under.
    pub fn refusal(
        &self,
        org: Option<usize>,
        ip: IpAddr,
        now_us: i64,
        start_storm: bool,
    ) -> Option<Duration> {
        if let Some(o) = org {
            let mut storms = self.storms.lock().unwrap_or_else(|p| p.into_inner());
            if start_storm {
                let length = i64::try_from(self.storm_length.as_micros()).unwrap_or(i64::MAX);
                storms.insert(o, now_us.saturating_add(length));
            }
            if let Some(&until) = storms.get(&o)
                && until > now_us
            {
                return Some(Duration::from_micros((until - now_us).unsigned_abs()));
            }
        }
        if !self.enforce_budgets {
            return None;
        }
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        budgets.admit(org, ip, now_us).err()
    }
}

/// A bucket per organization and per source IP, each created full at its first call.
struct LiveBudgets {
    org_limits: Vec<BucketLimits>,
    ip_limits: BucketLimits,
    orgs: HashMap<usize, TokenBucket>,
    ips: HashMap<IpAddr, TokenBucket>,
}

impl LiveBudgets {
    fn new(scenarios: &[Scenario]) -> Self {
        LiveBudgets {
            org_limits: scenarios.iter().map(|s| s.org_budget).collect(),
            ip_limits: scenarios
                .first()
                .map_or(BucketLimits::MERAKI_SOURCE_IP, |s| s.source_ip_budget),
            orgs: HashMap::new(),
            ips: HashMap::new(),
        }
    }

    /// Admits a call (taking a token from each bucket, or from none) or says how long to wait.
    fn admit(&mut self, org: Option<usize>, ip: IpAddr, now_us: i64) -> Result<(), Duration> {
        let ip_limits = self.ip_limits;
        let ip_bucket = self
            .ips
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(ip_limits, now_us));
        match org {
            Some(o) => {
                let limits = self.org_limits[o];
                let org_bucket = self
                    .orgs
                    .entry(o)
                    .or_insert_with(|| TokenBucket::new(limits, now_us));
                TokenBucket::take_all(&mut [org_bucket, ip_bucket], now_us)
            }
            None => ip_bucket.try_take(now_us),
        }
    }
}
