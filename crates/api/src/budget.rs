//! Call budgets: Meraki's token bucket (10 requests/s plus a burst of 10 per organization, 100/s
//! per source IP), and [`BudgetModel`], a budget described as data — token buckets, rolling windows
//! (Cisco XDR: 8000 per 60 minutes, not clock-aligned) and fixed, clock-aligned windows, org-wide
//! or per endpoint class — that the analysis replays a request log through.
//!
//! Every limit runs on an explicit clock (microseconds) so that the simulator, its live rate
//! limiter and the analysis can replay the same arithmetic exactly. Token levels are integers in
//! nano-tokens, so 40 requests at one instant always admit exactly `rate + burst` of them.

use crate::timestamp::MICROS_PER_SECOND;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
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

/// Replays requests through the model's org-wide limits, which start unspent (a full bucket, empty
/// windows) at the first request: `timestamps` (µs, in time order) come back paired with whether
/// every org-wide limit admitted each. The analysis' detectors all replay the log this way; the
/// per-class limits need each request's path and are replayed by [`BudgetReplay`].
pub fn replay<I: IntoIterator<Item = i64>>(
    model: &BudgetModel,
    timestamps: I,
) -> impl Iterator<Item = (i64, bool)> + use<I> {
    let limits = model.limits.clone();
    let mut states: Option<Vec<LimitState>> = None;
    timestamps.into_iter().map(move |ts| {
        let states =
            states.get_or_insert_with(|| limits.iter().map(|l| LimitState::new(l, ts)).collect());
        (ts, offer_all(states, ts).is_none())
    })
}

/// One limit of a budget. A limit counts the requests it admits; a request it refuses (over the
/// limit) spends nothing from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Limit {
    /// `rate_per_second` sustained, plus `burst` at once on top of one second's worth (Meraki).
    TokenBucket { rate_per_second: f64, burst: f64 },
    /// At most `limit` requests in any `window_seconds` — any, not clock-aligned: a request is
    /// over when `limit` requests were admitted in the `window_seconds` before it (Cisco XDR:
    /// 8000 in any 60 minutes).
    RollingWindow { limit: u64, window_seconds: u64 },
    /// At most `limit` requests per clock-aligned window of `window_seconds` (counted from the
    /// Unix epoch, so 60 is each UTC minute, 3600 each UTC hour, 86400 each UTC day), as the
    /// `X-RateLimit-Limit`/`Reset` style of API enforces.
    FixedWindow { limit: u64, window_seconds: u64 },
}

impl Limit {
    /// The requests per second this limit allows over a long run.
    pub fn sustained_rate_per_second(&self) -> f64 {
        match *self {
            Limit::TokenBucket {
                rate_per_second, ..
            } => rate_per_second,
            Limit::RollingWindow {
                limit,
                window_seconds,
            }
            | Limit::FixedWindow {
                limit,
                window_seconds,
            } => limit as f64 / window_seconds as f64,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match *self {
            Limit::TokenBucket {
                rate_per_second,
                burst,
            } => {
                if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
                    return Err(format!(
                        "a token bucket's rate_per_second must be a positive number, got {rate_per_second}"
                    ));
                }
                if !(burst.is_finite() && burst >= 0.0) {
                    return Err(format!(
                        "a token bucket's burst must be zero or more, got {burst}"
                    ));
                }
            }
            Limit::RollingWindow {
                limit,
                window_seconds,
            }
            | Limit::FixedWindow {
                limit,
                window_seconds,
            } => {
                if limit == 0 || window_seconds == 0 {
                    return Err(format!(
                        "a window's limit and window_seconds must be at least 1, got {limit} per {window_seconds} s"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let span = |f: &mut std::fmt::Formatter<'_>, seconds: u64| match seconds {
            s if s % 86_400 == 0 => write!(f, "{} d", s / 86_400),
            s if s % 60 == 0 => write!(f, "{} min", s / 60),
            s => write!(f, "{s} s"),
        };
        match *self {
            Limit::TokenBucket {
                rate_per_second,
                burst,
            } => write!(f, "{rate_per_second}/s + {burst}"),
            Limit::RollingWindow {
                limit,
                window_seconds,
            } => {
                write!(f, "{limit} per ")?;
                span(f, window_seconds)?;
                write!(f, " rolling")
            }
            Limit::FixedWindow {
                limit,
                window_seconds,
            } => {
                write!(f, "{limit} per ")?;
                span(f, window_seconds)?;
                write!(f, " clock-aligned")
            }
        }
    }
}

/// Requests of one kind with limits of their own on top of the org-wide ones (XDR's workflow
/// runs: 10 per minute). A request belongs to the class when it matches one of `paths` or one of
/// `operations` (either list may be empty, not both), and, if `methods` is given, one of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointClass {
    pub name: String,
    /// Path patterns, matched against the request's path without its query: `*` stands for one
    /// path segment or part of one, `**` for any run of characters, slashes included.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Operation ids (the log's `operationId`).
    #[serde(default)]
    pub operations: Vec<String>,
    /// HTTP methods, any case; empty: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    pub limits: Vec<Limit>,
}

impl EndpointClass {
    pub fn matches(&self, request: &OfferedRequest<'_>) -> bool {
        let method_ok = self.methods.is_empty()
            || request
                .method
                .is_some_and(|m| self.methods.iter().any(|x| x.eq_ignore_ascii_case(m)));
        let path = request.path.map(|p| p.split('?').next().unwrap_or(p));
        let path_ok = path.is_some_and(|p| self.paths.iter().any(|pat| glob_matches(pat, p)));
        let operation_ok = request
            .operation_id
            .is_some_and(|op| self.operations.iter().any(|x| x == op));
        method_ok && (path_ok || operation_ok)
    }
}

/// `*` matches within a segment, `**` across segments.
fn glob_matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=t.len()).any(|i| go(rest, &t[i..])),
            [b'*', rest @ ..] => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Which operation catalog the provider's recommendations come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogName {
    /// The Meraki Dashboard API v1 (`crates/api/src/meraki-operations.json`).
    MerakiV1,
}

/// A provider's call budget as data: the org-wide limits every request counts against, the
/// endpoint classes with limits of their own, and the operation catalog recommendations come from
/// (none: no recommendations). Written in TOML or JSON (see docs/import.md, "Budget models").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetModel {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The org-wide limits; a request is over the budget when any of them refuses it.
    pub limits: Vec<Limit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<EndpointClass>,
    #[serde(default)]
    pub catalog: Option<CatalogName>,
}

/// Why a budget model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BudgetModelError {
    #[error("cannot read the budget model {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the budget model {}:{line}: {message}", path.display())]
    Toml {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("the budget model {} is not valid JSON for a model", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{0:?} is neither a built-in budget model (meraki, xdr) nor a .toml or .json model file"
    )]
    Unknown(String),
    #[error("budget model {model}: {reason}")]
    Invalid { model: String, reason: String },
    #[error("the budget model stored with the organization is not a valid model")]
    Stored { source: serde_json::Error },
}

impl BudgetModel {
    /// Meraki: one token bucket per organization, 10 requests/s plus a burst of 10.
    pub fn meraki() -> Self {
        let mut model = BudgetModel::token_bucket(BucketLimits::MERAKI_ORG);
        model.description =
            "Cisco Meraki Dashboard API: 10 requests/s plus a burst of 10 per organization".into();
        model
    }

    /// Cisco XDR: 8000 requests per organization in any 60 minutes; workflow runs 10 per minute;
    /// events sent to event rules 10 per minute and 5000 per day. The class paths follow XDR's
    /// automation API and are overridable in a model file.
    pub fn xdr() -> Self {
        let per = |limit, window_seconds| Limit::RollingWindow {
            limit,
            window_seconds,
        };
        BudgetModel {
            name: "xdr".into(),
            description: "Cisco XDR: 8000 requests per organization in any 60 minutes (rolling)"
                .into(),
            limits: vec![per(8000, 3600)],
            classes: vec![
                EndpointClass {
                    name: "workflow-runs".into(),
                    paths: vec!["**/workflows/*/start".into(), "**/workflows/start".into()],
                    operations: Vec::new(),
                    methods: vec!["POST".into()],
                    limits: vec![per(10, 60)],
                },
                EndpointClass {
                    name: "event-rules".into(),
                    paths: vec![
                        "**/event_rules/*/events".into(),
                        "**/events/rules/**".into(),
                    ],
                    operations: Vec::new(),
                    methods: vec!["POST".into()],
                    limits: vec![per(10, 60), per(5000, 86_400)],
                },
            ],
            catalog: None,
        }
    }

    /// A model of one org-wide token bucket (what `--rate`/`--burst` describe). Meraki's
    /// recommendations apply: a token bucket of other limits is still Meraki's budget, reshaped.
    pub fn token_bucket(limits: BucketLimits) -> Self {
        BudgetModel {
            name: "meraki".into(),
            description: String::new(),
            limits: vec![Limit::TokenBucket {
                rate_per_second: limits.rate_per_second,
                burst: limits.burst,
            }],
            classes: Vec::new(),
            catalog: Some(CatalogName::MerakiV1),
        }
    }

    /// The model an organization's log is replayed through: the one stored with it at import
    /// (JSON, table `org_providers`), else Meraki's — collected organizations are Meraki ones.
    pub fn for_organization(stored_json: Option<&str>) -> Result<Self, BudgetModelError> {
        let Some(json) = stored_json else {
            return Ok(BudgetModel::meraki());
        };
        let model: BudgetModel =
            serde_json::from_str(json).map_err(|source| BudgetModelError::Stored { source })?;
        model.validate()?;
        Ok(model)
    }

    /// A built-in model by name (`meraki`, `xdr`), or a model file (`.toml` or `.json`).
    pub fn resolve(spec: &str) -> Result<Self, BudgetModelError> {
        match spec {
            "meraki" => return Ok(BudgetModel::meraki()),
            "xdr" => return Ok(BudgetModel::xdr()),
            _ => {}
        }
        let path = Path::new(spec);
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") | Some("json") => BudgetModel::from_file(path),
            _ => Err(BudgetModelError::Unknown(spec.to_owned())),
        }
    }

    /// Reads and validates a model file, TOML or JSON by its extension.
    pub fn from_file(path: &Path) -> Result<Self, BudgetModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| BudgetModelError::Read {
            path: path.to_owned(),
            source,
        })?;
        let model: BudgetModel = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|source| BudgetModelError::Json {
                path: path.to_owned(),
                source,
            })?
        } else {
            toml::from_str(&text).map_err(|e| {
                let line = e.span().map_or(1, |span| {
                    text[..span.start.min(text.len())].matches('\n').count() + 1
                });
                BudgetModelError::Toml {
                    path: path.to_owned(),
                    line,
                    message: e.message().trim().to_owned(),
                }
            })?
        };
        model.validate()?;
        Ok(model)
    }

    /// Refuses a model the replay could not run: no org-wide limit, a limit of zero, a class that
    /// matches nothing.
    pub fn validate(&self) -> Result<(), BudgetModelError> {
        let invalid = |reason: String| BudgetModelError::Invalid {
            model: self.name.clone(),
            reason,
        };
        if self.limits.is_empty() {
            return Err(invalid(
                "it has no org-wide limit (add a [[limits]] table)".into(),
            ));
        }
        for limit in &self.limits {
            limit.validate().map_err(invalid)?;
        }
        for class in &self.classes {
            if class.paths.is_empty() && class.operations.is_empty() {
                return Err(invalid(format!(
                    "class {:?} has neither paths nor operations to match requests by",
                    class.name
                )));
            }
            if class.limits.is_empty() {
                return Err(invalid(format!("class {:?} has no limit", class.name)));
            }
            for limit in &class.limits {
                limit
                    .validate()
                    .map_err(|r| invalid(format!("class {:?}: {r}", class.name)))?;
            }
        }
        Ok(())
    }

    /// The org-wide requests per second the budget allows over a long run (the tightest limit):
    /// what "share of the budget" and headroom are measured against.
    pub fn sustained_rate_per_second(&self) -> f64 {
        self.limits
            .iter()
            .map(Limit::sustained_rate_per_second)
            .reduce(f64::min)
            .unwrap_or(0.0)
    }

    /// The rate a single second is held to, when the budget has one (a token bucket's rate): a
    /// second with that many requests is at the limit even if nothing was refused. Window budgets
    /// have none: a second of 100 requests is fine under 8000 per hour.
    pub fn per_second_limit(&self) -> Option<f64> {
        self.limits
            .iter()
            .filter_map(|l| match *l {
                Limit::TokenBucket {
                    rate_per_second, ..
                } => Some(rate_per_second),
                _ => None,
            })
            .reduce(f64::min)
    }

    /// The org-wide limits in words, e.g. `10/s + 10` or `8000 per 60 min rolling`.
    pub fn summary(&self) -> String {
        let limits: Vec<String> = self.limits.iter().map(Limit::to_string).collect();
        limits.join(", ")
    }
}

/// A request offered to a [`BudgetReplay`]: when, and what it asked for (to find its classes).
#[derive(Debug, Clone, Copy, Default)]
pub struct OfferedRequest<'a> {
    pub ts_us: i64,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub operation_id: Option<&'a str>,
}

/// Which limit refused a request: an org-wide one (`class: None`) or one of a class's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Index into [`BudgetModel::classes`]; `None` for the org-wide limits.
    pub class: Option<usize>,
    /// Index into that scope's `limits`.
    pub limit: usize,
}

/// A whole model replayed request by request, in time order: each limit starts unspent at the
/// first request it applies to. Every limit that applies sees the request and counts it if it
/// admits it; the request is refused when any refuses it, and the verdict names the first
/// (org-wide limits first, then the classes in the model's order).
pub struct BudgetReplay<'m> {
    model: &'m BudgetModel,
    org: Option<Vec<LimitState>>,
    classes: Vec<Option<Vec<LimitState>>>,
}

impl<'m> BudgetReplay<'m> {
    pub fn new(model: &'m BudgetModel) -> Self {
        BudgetReplay {
            model,
            org: None,
            classes: vec![None; model.classes.len()],
        }
    }

    /// Offers the request; refused names the first limit that refused it.
    pub fn offer(&mut self, request: &OfferedRequest<'_>) -> Result<(), Refusal> {
        match self.refusals(request).first() {
            Some(refusal) => Err(*refusal),
            None => Ok(()),
        }
    }

    /// Offers the request; every scope that refused it (the org-wide limits, each class), with
    /// the first of its limits that did. Empty: admitted.
    pub fn refusals(&mut self, request: &OfferedRequest<'_>) -> Vec<Refusal> {
        let ts = request.ts_us;
        let org = self
            .org
            .get_or_insert_with(|| start_states(&self.model.limits, ts));
        let mut refusals = Vec::new();
        if let Some(limit) = offer_all(org, ts) {
            refusals.push(Refusal { class: None, limit });
        }
        for (i, class) in self.model.classes.iter().enumerate() {
            if !class.matches(request) {
                continue;
            }
            let states = self.classes[i].get_or_insert_with(|| start_states(&class.limits, ts));
            if let Some(limit) = offer_all(states, ts) {
                refusals.push(Refusal {
                    class: Some(i),
                    limit,
                });
            }
        }
        refusals
    }
}

fn start_states(limits: &[Limit], ts: i64) -> Vec<LimitState> {
    limits.iter().map(|l| LimitState::new(l, ts)).collect()
}

/// Offers `ts` to every limit (each counts it if it admits it); the first that refused, if any.
fn offer_all(states: &mut [LimitState], ts: i64) -> Option<usize> {
    let mut refused = None;
    for (i, state) in states.iter_mut().enumerate() {
        if !state.offer(ts) && refused.is_none() {
            refused = Some(i);
        }
    }
    refused
}

/// A limit's running count.
#[derive(Debug, Clone)]
enum LimitState {
    Bucket(TokenBucket),
    /// The admitted requests of the last `window_us`, oldest first (at most `limit` of them).
    Rolling {
        limit: usize,
        window_us: i64,
        admitted: VecDeque<i64>,
    },
    Fixed {
        limit: u64,
        window_us: i64,
        window: i64,
        admitted: u64,
    },
}

impl LimitState {
    fn new(limit: &Limit, start_us: i64) -> Self {
        let window_us = |s: u64| {
            i64::try_from(s)
                .unwrap_or(i64::MAX / MICROS_PER_SECOND)
                .saturating_mul(MICROS_PER_SECOND)
                .max(1)
        };
        match *limit {
            Limit::TokenBucket {
                rate_per_second,
                burst,
            } => LimitState::Bucket(TokenBucket::new(
                BucketLimits {
                    rate_per_second,
                    burst,
                },
                start_us,
            )),
            Limit::RollingWindow {
                limit,
                window_seconds,
            } => LimitState::Rolling {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
                window_us: window_us(window_seconds),
                admitted: VecDeque::new(),
            },
            Limit::FixedWindow {
                limit,
                window_seconds,
            } => LimitState::Fixed {
                limit,
                window_us: window_us(window_seconds),
                window: i64::MIN,
                admitted: 0,
            },
        }
    }

    /// Whether the limit admits a request at `ts` (µs, not before the previous one); counts it if
    /// so.
    fn offer(&mut self, ts: i64) -> bool {
        match self {
            LimitState::Bucket(bucket) => bucket.try_take(ts).is_ok(),
            LimitState::Rolling {
                limit,
                window_us,
                admitted,
            } => {
                // A request admitted exactly `window` ago has left the window.
                while admitted
                    .front()
                    .is_some_and(|&first| first <= ts.saturating_sub(*window_us))
                {
                    admitted.pop_front();
                }
                let ok = admitted.len() < *limit;
                if ok {
                    admitted.push_back(ts);
                }
                ok
            }
            LimitState::Fixed {
                limit,
                window_us,
                window,
                admitted,
            } => {
                let current = ts.div_euclid(*window_us);
                if current != *window {
                    *window = current;
                    *admitted = 0;
                }
                let ok = *admitted < *limit;
                *admitted += u64::from(ok);
                ok
            }
        }
    }
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
        let admitted: Vec<bool> = replay(&BudgetModel::meraki(), (0..22).map(|i| 5_000_000 + i))
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
