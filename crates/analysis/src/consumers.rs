//! Detector 3, consumers: who uses the shared budget, how much, and how much each one drives its
//! saturation.
//!
//! A consumer is what [`ConsumerKey`] groups by: an application (the user agent parsed by
//! [`parse_user_agent`]), the raw user agent, an admin, a source IP or an API client id. Records
//! without that field form one consumer of their own, reported as `None`. **One name per
//! consumer:** whatever is said about a client (its retries, the spikes it was refused in) names it
//! as [`ConsumerKey::client_name`] does, so the same application is never "NocPoller/2.1 Acme" in
//! one place and "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)" in the next; the full user agent
//! is kept as a detail ([`ConsumerUsage::user_agent`]).
//!
//! **Ranking.** A second is *saturated* when it is at or over the limit as the timeline counts it:
//! the organization's token bucket, replayed over every request of the log in time order (starting
//! full at the first request, as [`super::timeline`] does), refuses a request in it, or it holds at
//! least `rate` requests (a budget running flat out leaves everyone else no room even before Meraki
//! refuses anyone). In each saturated second, the consumers that *drove* it are those without whose
//! requests it would not have held `rate` requests (when nobody alone makes that difference, the
//! biggest senders that together do; when the bucket refused in a second under `rate`, everyone
//! sending in it). Consumers are ranked by the requests they sent in seconds they drove
//! ([`ConsumerUsage::requests_driving_saturation`]), so a good citizen whose requests merely fell
//! into seconds someone else filled is not ranked above a consumer that sends far more. Its share
//! of all such requests ([`ConsumerUsage::saturation_share`]) is what [`consumer_findings`] judges.
//! Consumers under [`MATERIAL_SATURATION_SHARE`] of it are bystanders (a few borderline seconds are
//! noise) and rank after the others by total requests; ties are broken by total requests, then by
//! consumer name.

use super::columns::{CalledEndpoint, PairIndex, RequestColumns, Sender};
use super::findings::{Finding, FindingKind, Severity};
use super::timeline::{BucketReplay, Seconds};
use super::{AnalysisError, AnalysisWindow};
use callbudget_api::budget::BudgetModel;
use callbudget_api::text::thousands;
use callbudget_api::timestamp::{MICROS_PER_HOUR, MICROS_PER_SECOND};
use serde::Serialize;
use std::collections::HashMap;

/// A consumer that sent at least this share of the requests in saturated seconds is a warning.
pub const NOISY_WARNING_SHARE: f64 = 0.25;
/// A consumer that sent at least this share of the requests in saturated seconds is critical.
pub const NOISY_CRITICAL_SHARE: f64 = 0.50;
/// A consumer that drove less than this share of the saturated seconds' requests is a bystander:
/// ranked by its requests, after the consumers that drove them.
pub const MATERIAL_SATURATION_SHARE: f64 = 0.01;
/// How many of its operations each consumer lists, most used first.
pub const TOP_OPERATIONS: usize = 5;

/// What a consumer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerKey {
    /// The calling application: the `Caller/(...)` part of the user agent (see
    /// [`parse_user_agent`]), so that one application on two SDK versions is one consumer.
    #[default]
    Application,
    UserAgent,
    Admin,
    SourceIp,
    ClientId,
}

impl std::str::FromStr for ConsumerKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.replace('-', "_").as_str() {
            "application" => Ok(ConsumerKey::Application),
            "user_agent" => Ok(ConsumerKey::UserAgent),
            "admin" => Ok(ConsumerKey::Admin),
            "source_ip" => Ok(ConsumerKey::SourceIp),
            "client_id" => Ok(ConsumerKey::ClientId),
            _ => Err(format!(
                "{s:?}: expected application, user-agent, admin, source-ip or client-id"
            )),
        }
    }
}

impl ConsumerKey {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerKey::Application => "application",
            ConsumerKey::UserAgent => "user_agent",
            ConsumerKey::Admin => "admin",
            ConsumerKey::SourceIp => "source_ip",
            ConsumerKey::ClientId => "client_id",
        }
    }

    /// The name a client (its user agent) goes by: the full user agent when consumers are user
    /// agents, else its application (`Caller/(…)`, see [`parse_user_agent`]) — so that under the
    /// default key a client's retries and refusals carry the name its consumer row has.
    pub fn client_name(self, user_agent: &str) -> &str {
        match self {
            ConsumerKey::UserAgent => user_agent,
            _ => parse_user_agent(user_agent).caller,
        }
    }

    /// The consumer a sender is under this key (`None` without the field it reads).
    pub(crate) fn consumer_of(self, sender: &Sender) -> Option<&str> {
        match self {
            ConsumerKey::Application => sender
                .user_agent
                .as_deref()
                .map(|ua| parse_user_agent(ua).caller),
            ConsumerKey::UserAgent => sender.user_agent.as_deref(),
            ConsumerKey::Admin => sender.admin_id.as_deref(),
            ConsumerKey::SourceIp => sender.source_ip.as_deref(),
            ConsumerKey::ClientId => sender.client_id.as_deref(),
        }
    }
}

/// A user agent split into the SDK that sent it and the application that called the SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedUserAgent<'a> {
    /// What comes before `Caller/(...)`, if anything: `python-meraki/4.7.0`.
    pub sdk: Option<&'a str>,
    /// The application: what is inside `Caller/(...)`, or the whole (trimmed) user agent.
    pub caller: &'a str,
}

/// Parses a user agent the way Meraki's SDKs write it: `<sdk> Caller/(<application>)`, e.g.
/// `python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)` → sdk `python-meraki/4.7.0`, caller
/// `NocPoller/2.1 Acme`. Parentheses inside the caller nest. A user agent without a complete,
/// non-empty `Caller/(...)` is an application of its own: no sdk, the whole user agent as caller.
pub fn parse_user_agent(user_agent: &str) -> ParsedUserAgent<'_> {
    const MARK: &str = "Caller/(";
    let ua = user_agent.trim();
    if let Some(at) = ua.find(MARK) {
        let rest = &ua[at + MARK.len()..];
        let mut depth = 1usize;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        let caller = rest[..i].trim();
                        let sdk = ua[..at].trim();
                        if !caller.is_empty() {
                            return ParsedUserAgent {
                                sdk: (!sdk.is_empty()).then_some(sdk),
                                caller,
                            };
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    ParsedUserAgent {
        sdk: None,
        caller: ua,
    }
}

/// How one consumer used the budget over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerUsage {
    /// The consumer's name under the chosen key; `None` for records without that field.
    pub consumer: Option<String>,
    /// The full user agent it sent most of its requests with (a detail; `None` if none had one).
    pub user_agent: Option<String>,
    pub requests: u64,
    /// requests / (rate × window seconds): the share of what the budget could have admitted.
    pub budget_share: f64,
    /// requests / all requests of the window.
    pub request_share: f64,
    /// The most requests in one second (calendar seconds).
    pub peak_requests_per_second: u64,
    pub http_429s: u64,
    /// Distinct operation ids used (records without one do not count).
    pub distinct_operations: u64,
    /// The most used operations, most first (up to [`TOP_OPERATIONS`]; `None` = no operation id).
    pub top_operations: Vec<OperationCount>,
    /// Distinct calendar hours (UTC) with at least one request.
    pub active_hours: u64,
    /// Requests sent in saturated seconds (see the module docs), whoever filled them.
    pub requests_in_saturated_seconds: u64,
    /// Requests sent in saturated seconds this consumer drove: the ranking metric.
    pub requests_driving_saturation: u64,
    /// This consumer's share of all requests that drove saturated seconds (0 without any).
    pub saturation_share: f64,
    /// Against the previous period; `None` when that period was not collected.
    pub change: Option<PeriodChange>,
}

/// An operation and how many requests used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationCount {
    pub operation: Option<String>,
    pub requests: u64,
}

/// A consumer's requests against the previous period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodChange {
    pub previous_requests: u64,
    pub delta_requests: i64,
    /// delta / previous × 100; `None` when the consumer sent nothing in the previous period.
    pub delta_percent: Option<f64>,
}

/// Each consumer's use of the budget over `window`, ranked by the requests with which it drove
/// saturated seconds (see the module docs). `log` is the window's request log; `previous`, if
/// given, the log of the period to compare against (consumers only seen there are not listed).
pub fn consumer_usage(
    log: &RequestColumns,
    window: &AnalysisWindow,
    key: ConsumerKey,
    budget: &BudgetModel,
    previous: Option<&RequestColumns>,
) -> Result<Vec<ConsumerUsage>, AnalysisError> {
    check_rate(budget)?;
    let previous = previous.map(|p| requests_by_consumer(p, key));
    let replay = BucketReplay::of(log, budget);
    usage_of(log, window, key, budget, &replay, previous.as_ref())
}

fn check_rate(budget: &BudgetModel) -> Result<f64, AnalysisError> {
    let rate = budget.sustained_rate_per_second();
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(AnalysisError::InvalidRate(rate))
    }
}

/// Requests per consumer (`None`: records without the consumer's field), as `previous` of
/// [`usage_of`] takes them.
pub(crate) type ConsumerCounts = HashMap<Option<String>, u64>;

/// [`consumer_usage`] of the log's columns, replayed, with the previous period's
/// [`requests_by_consumer`].
pub(crate) fn usage_of(
    log: &RequestColumns,
    window: &AnalysisWindow,
    key: ConsumerKey,
    budget: &BudgetModel,
    replay: &BucketReplay,
    previous: Option<&ConsumerCounts>,
) -> Result<Vec<ConsumerUsage>, AnalysisError> {
    let rate = check_rate(budget)?;
    let consumers = SenderLabels::new(log, |s| key.consumer_of(s));
    let operations = EndpointLabels::new(log, |e| e.operation_id.as_deref());
    let per_second_limit = budget.per_second_limit();

    // One accumulator per consumer, the last one for records without the field.
    let none_slot = consumers.names.len();
    let no_operation = operations.names.len() as u32;
    let mut accs: Vec<Acc> = (0..=none_slot).map(|_| Acc::default()).collect();
    // Requests per (consumer, operation), counted by pair id.
    let mut operation_pairs = PairIndex::new(none_slot + 1, operations.names.len() + 1);
    let mut operation_counts: Vec<(u32, u32, u64)> = Vec::new();
    let mut driving_total = 0u64;
    // The requests of the second being read, per consumer slot.
    let mut senders = SecondSenders::default();
    for second in Seconds::of(log) {
        senders.clear();
        for row in second.rows.clone() {
            let slot = consumers.slot(log.sender[row]);
            senders.add(slot);
            let acc = &mut accs[slot];
            acc.requests += 1;
            acc.http_429s += u64::from(log.refused(row));
            let operation = operations.id(log.endpoint[row]).unwrap_or(no_operation);
            let pair = operation_pairs.id(slot as u32, operation) as usize;
            if pair == operation_counts.len() {
                operation_counts.push((slot as u32, operation, 0));
            }
            operation_counts[pair].2 += 1;
        }
        let hour = second.start_us.div_euclid(MICROS_PER_HOUR);
        for &(slot, requests) in &senders.senders {
            let acc = &mut accs[slot];
            acc.peak = acc.peak.max(requests);
            if acc.last_hour != Some(hour) {
                acc.last_hour = Some(hour);
                acc.hours += 1;
            }
        }
        let at_rate = per_second_limit.is_some_and(|limit| second.rows.len() as f64 >= limit);
        if at_rate || replay.any_refused(second.rows) {
            driving_total += senders.credit_drivers(per_second_limit, &mut accs);
        }
    }
    for (slot, operation, requests) in operation_counts {
        let operation = (operation != no_operation).then_some(operation);
        accs[slot as usize].operations.push((operation, requests));
    }

    let mut user_agents = main_user_agents(log, &consumers, none_slot);
    let total = log.len() as u64;
    let capacity = rate * ((window.end_us() - window.start_us()) as f64 / MICROS_PER_SECOND as f64);
    let mut usage: Vec<ConsumerUsage> = accs
        .into_iter()
        .enumerate()
        .filter(|(_, acc)| acc.requests > 0)
        .map(|(slot, acc)| {
            let consumer = consumers.names.get(slot).cloned();
            let change = previous.map(|counts| {
                let previous_requests = counts.get(&consumer).copied().unwrap_or(0);
                let delta_requests = acc.requests as i64 - previous_requests as i64;
                PeriodChange {
                    previous_requests,
                    delta_requests,
                    delta_percent: (previous_requests > 0)
                        .then(|| delta_requests as f64 / previous_requests as f64 * 100.0),
                }
            });
            let mut ops = acc.operations;
            ops.sort_by(|a, b| {
                b.1.cmp(&a.1).then_with(|| {
                    let name = |id: Option<u32>| id.map(|i| operations.names[i as usize].as_str());
                    option_last(name(a.0), name(b.0))
                })
            });
            let user_agent = user_agents[slot].take();
            ConsumerUsage {
                consumer,
                user_agent,
                requests: acc.requests,
                budget_share: acc.requests as f64 / capacity,
                request_share: acc.requests as f64 / total as f64,
                peak_requests_per_second: acc.peak,
                http_429s: acc.http_429s,
                distinct_operations: ops.iter().filter(|(id, _)| id.is_some()).count() as u64,
                top_operations: ops
                    .iter()
                    .take(TOP_OPERATIONS)
                    .map(|&(id, requests)| OperationCount {
                        operation: id.map(|i| operations.names[i as usize].clone()),
                        requests,
                    })
                    .collect(),
                active_hours: acc.hours,
                requests_in_saturated_seconds: acc.saturated,
                requests_driving_saturation: acc.driving,
                saturation_share: if driving_total == 0 {
                    0.0
                } else {
                    acc.driving as f64 / driving_total as f64
                },
                change,
            }
        })
        .collect();
    // Bystanders (under MATERIAL_SATURATION_SHARE) rank by volume: a handful of borderline
    // seconds is noise, not a reason to rank a small consumer above a far bigger one.
    let rank = |u: &ConsumerUsage| {
        if u.saturation_share >= MATERIAL_SATURATION_SHARE {
            u.requests_driving_saturation
        } else {
            0
        }
    };
    usage.sort_by(|a, b| {
        rank(b)
            .cmp(&rank(a))
            .then(b.requests.cmp(&a.requests))
            .then_with(|| option_last(a.consumer.as_deref(), b.consumer.as_deref()))
    });
    Ok(usage)
}

/// The requests of one calendar second, per consumer slot, in order of first appearance.
#[derive(Default)]
struct SecondSenders {
    /// (consumer slot, requests)
    senders: Vec<(usize, u64)>,
}

impl SecondSenders {
    fn clear(&mut self) {
        self.senders.clear();
    }

    fn add(&mut self, slot: usize) {
        match self.senders.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, n)) => *n += 1,
            None => self.senders.push((slot, 1)),
        }
    }

    /// The second is saturated: adds each sender's requests to its accumulator's requests in
    /// saturated seconds, and each driver's to the requests it drove them with; returns how many
    /// requests drove it.
    fn credit_drivers(&self, per_second_limit: Option<f64>, accs: &mut [Acc]) -> u64 {
        for &(slot, requests) in &self.senders {
            accs[slot].saturated += requests;
        }
        let mut credited = 0;
        for (slot, requests) in drivers(&self.senders, per_second_limit) {
            accs[slot].driving += requests;
            credited += requests;
        }
        credited
    }
}

/// The senders that drove a saturated second, from each sender's requests in it: those without
/// whose requests the second would have held fewer than `limit`; if no single one, the biggest
/// senders that together make that difference (senders with as many requests as the smallest of
/// them included, so ties are never split); without a per-second limit (a rolling or fixed window
/// refused in the second), everyone.
fn drivers(senders: &[(usize, u64)], limit: Option<f64>) -> Vec<(usize, u64)> {
    let Some(limit) = limit else {
        return senders.to_vec();
    };
    let total: u64 = senders.iter().map(|(_, n)| n).sum();
    let pivotal: Vec<(usize, u64)> = senders
        .iter()
        .copied()
        .filter(|&(_, n)| ((total - n) as f64) < limit)
        .collect();
    if !pivotal.is_empty() {
        return pivotal;
    }
    let mut by_size: Vec<u64> = senders.iter().map(|&(_, n)| n).collect();
    by_size.sort_unstable_by(|a, b| b.cmp(a));
    let mut removed = 0;
    let mut smallest_needed = 0;
    for n in by_size {
        removed += n;
        smallest_needed = n;
        if ((total - removed) as f64) < limit {
            break;
        }
    }
    senders
        .iter()
        .copied()
        .filter(|&(_, n)| n >= smallest_needed)
        .collect()
}

/// Each consumer slot's most used full user agent (ties: the first by name), `None` when none of
/// its requests had one; `none_slot` is the slot of records without the consumer's field.
/// Counted per sender, with no per-row string.
fn main_user_agents(
    log: &RequestColumns,
    consumers: &SenderLabels,
    none_slot: usize,
) -> Vec<Option<String>> {
    let by_sender = log.requests_by_sender(0..log.len());
    let mut counts: HashMap<(usize, &str), u64> = HashMap::new();
    for (sender, (s, &n)) in log.senders.iter().zip(&by_sender).enumerate() {
        if let (Some(agent), true) = (s.user_agent.as_deref(), n > 0) {
            *counts
                .entry((consumers.slot(sender as u32), agent))
                .or_default() += n;
        }
    }
    let mut best: Vec<Option<(&str, u64)>> = vec![None; none_slot + 1];
    for ((slot, name), n) in counts {
        let better = best[slot].is_none_or(|(top, most)| n > most || (n == most && name < top));
        if better {
            best[slot] = Some((name, n));
        }
    }
    best.into_iter()
        .map(|b| b.map(|(name, _)| name.to_owned()))
        .collect()
}

/// A [`FindingKind::NoisyConsumer`] for every consumer that sent at least
/// [`NOISY_WARNING_SHARE`] of the requests that drove saturated seconds (critical from
/// [`NOISY_CRITICAL_SHARE`]).
pub fn consumer_findings(
    usage: &[ConsumerUsage],
    window: &AnalysisWindow,
    key: ConsumerKey,
) -> Vec<Finding> {
    let driving_total: u64 = usage.iter().map(|u| u.requests_driving_saturation).sum();
    usage
        .iter()
        .filter(|u| u.requests_driving_saturation > 0)
        .filter_map(|u| {
            let severity = if u.saturation_share >= NOISY_CRITICAL_SHARE {
                Severity::Critical
            } else if u.saturation_share >= NOISY_WARNING_SHARE {
                Severity::Warning
            } else {
                return None;
            };
            let name = u.consumer.as_deref().unwrap_or("(unknown)");
            // The name alone says what an application or a user agent is; an admin id, an IP or
            // a client id needs saying what it is.
            let who = match key {
                ConsumerKey::Application | ConsumerKey::UserAgent => name.to_owned(),
                _ => format!("{} {name}", key.as_str().replace('_', " ")),
            };
            Some(Finding {
                kind: FindingKind::NoisyConsumer,
                severity,
                consumer: u.consumer.clone(),
                start: window.start,
                end: window.end,
                summary: format!(
                    "{who} sent {} of the {} requests that put the budget at or over its limit \
                     ({:.0} %).",
                    thousands(u.requests_driving_saturation),
                    thousands(driving_total),
                    u.saturation_share * 100.0,
                ),
                metrics: serde_json::json!({
                    "key": key.as_str(),
                    "user_agent": u.user_agent,
                    "requests": u.requests,
                    "requests_in_saturated_seconds": u.requests_in_saturated_seconds,
                    "requests_driving_saturation": u.requests_driving_saturation,
                    "saturation_share": u.saturation_share,
                    "budget_share": u.budget_share,
                    "http_429s": u.http_429s,
                }),
            })
        })
        .collect()
}

#[derive(Default)]
struct Acc {
    requests: u64,
    http_429s: u64,
    peak: u64,
    last_hour: Option<i64>,
    hours: u64,
    /// (operation, requests); `None`: requests without an operation id.
    operations: Vec<(Option<u32>, u64)>,
    saturated: u64,
    driving: u64,
}

/// Orders names with `None` last.
fn option_last(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// A name per sender (its consumer, its user agent…), interned: each distinct name once.
pub(crate) struct SenderLabels {
    /// By sender index: the name's id, [`SenderLabels::NONE`] without one.
    by_sender: Vec<u32>,
    pub names: Vec<String>,
}

impl SenderLabels {
    const NONE: u32 = u32::MAX;

    pub fn new<'a>(log: &'a RequestColumns, name: impl Fn(&'a Sender) -> Option<&'a str>) -> Self {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut names = Vec::new();
        let by_sender = log
            .senders
            .iter()
            .map(|sender| match name(sender) {
                None => Self::NONE,
                Some(name) => *ids.entry(name).or_insert_with(|| {
                    names.push(name.to_owned());
                    (names.len() - 1) as u32
                }),
            })
            .collect();
        SenderLabels { by_sender, names }
    }

    /// The name id of sender `sender`.
    #[inline]
    pub fn id(&self, sender: u32) -> Option<u32> {
        let id = self.by_sender[sender as usize];
        (id != Self::NONE).then_some(id)
    }

    /// The name id of sender `sender`, or `names.len()` (the slot after the names) without one.
    #[inline]
    pub fn slot(&self, sender: u32) -> usize {
        self.id(sender).map_or(self.names.len(), |id| id as usize)
    }
}

/// A name per endpoint (its operation…), interned: each distinct name once.
pub(crate) struct EndpointLabels {
    by_endpoint: Vec<u32>,
    pub names: Vec<String>,
}

impl EndpointLabels {
    pub fn new<'a>(
        log: &'a RequestColumns,
        name: impl Fn(&'a CalledEndpoint) -> Option<&'a str>,
    ) -> Self {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut names = Vec::new();
        let by_endpoint = log
            .endpoints
            .iter()
            .map(|endpoint| match name(endpoint) {
                None => SenderLabels::NONE,
                Some(name) => *ids.entry(name).or_insert_with(|| {
                    names.push(name.to_owned());
                    (names.len() - 1) as u32
                }),
            })
            .collect();
        EndpointLabels { by_endpoint, names }
    }

    /// The name id of endpoint `endpoint`.
    #[inline]
    pub fn id(&self, endpoint: u32) -> Option<u32> {
        let id = self.by_endpoint[endpoint as usize];
        (id != SenderLabels::NONE).then_some(id)
    }
}

/// Each consumer's requests in `log` (`None`: records without the consumer's field).
pub(crate) fn requests_by_consumer(log: &RequestColumns, key: ConsumerKey) -> ConsumerCounts {
    let mut counts = HashMap::new();
    for (sender, &n) in log
        .senders
        .iter()
        .zip(&log.requests_by_sender(0..log.len()))
    {
        if n > 0 {
            *counts
                .entry(key.consumer_of(sender).map(str::to_owned))
                .or_default() += n;
        }
    }
    counts
}

/// Each consumer's requests from each sender's (`None`: records without the consumer's field).
pub(crate) fn requests_by_consumer_of_senders(
    senders: &[(Sender, u64)],
    key: ConsumerKey,
) -> ConsumerCounts {
    let mut counts = HashMap::new();
    for (sender, n) in senders {
        *counts
            .entry(key.consumer_of(sender).map(str::to_owned))
            .or_default() += n;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, request};
    use chrono::{DateTime, TimeDelta, Utc};

    const SECOND: i64 = MICROS_PER_SECOND;
    const NOC: &str = "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)";
    const NOC_OLD: &str = "python-meraki/4.6.0 Caller/(NocPoller/2.1 Acme)";
    const SCRIPT: &str = "PortPusher/0.9 AcmeNetEng";

    fn t0() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(2)).unwrap()
    }

    /// (offset µs from 10:00, response code, user agent, operation id)
    type Req<'a> = (i64, u16, Option<&'a str>, Option<&'a str>);

    fn request_log(requests: &[Req<'_>]) -> RequestColumns {
        fixtures::log(
            requests
                .iter()
                .map(|&(offset, code, user_agent, operation_id)| {
                    request(t0().timestamp_micros() + offset)
                        .status(code)
                        .path("/x")
                        .user_agent(user_agent)
                        .admin(user_agent.map(|ua| if ua == SCRIPT { "2" } else { "1" }))
                        .operation(operation_id)
                }),
        )
    }

    fn usage(requests: &[Req<'_>], key: ConsumerKey) -> Vec<ConsumerUsage> {
        consumer_usage(
            &request_log(requests),
            &window(),
            key,
            &BudgetModel::meraki(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn parses_sdk_and_caller() {
        assert_eq!(
            parse_user_agent(NOC),
            ParsedUserAgent {
                sdk: Some("python-meraki/4.7.0"),
                caller: "NocPoller/2.1 Acme"
            }
        );
        assert_eq!(
            parse_user_agent("Caller/(Tool (v2) beta)"),
            ParsedUserAgent {
                sdk: None,
                caller: "Tool (v2) beta"
            }
        );
    }

    #[test]
    fn a_user_agent_without_a_caller_is_its_own_application() {
        for ua in [SCRIPT, "sdk/1 Caller/()", "sdk/1 Caller/(unclosed", "  "] {
            assert_eq!(
                parse_user_agent(ua),
                ParsedUserAgent {
                    sdk: None,
                    caller: ua.trim()
                }
            );
        }
    }

    #[test]
    fn an_empty_window_has_no_consumers_or_findings() {
        let u = usage(&[], ConsumerKey::Application);
        assert_eq!(u, vec![]);
        assert_eq!(
            consumer_findings(&u, &window(), ConsumerKey::Application),
            vec![]
        );
    }

    #[test]
    fn one_request_is_one_consumer_with_everything_counted_once() {
        let u = usage(
            &[(5 * SECOND, 200, Some(NOC), Some("getDevice"))],
            ConsumerKey::Application,
        );
        assert_eq!(
            u,
            vec![ConsumerUsage {
                consumer: Some("NocPoller/2.1 Acme".into()),
                user_agent: Some(NOC.into()),
                requests: 1,
                budget_share: 1.0 / 72_000.0,
                request_share: 1.0,
                peak_requests_per_second: 1,
                http_429s: 0,
                distinct_operations: 1,
                top_operations: vec![OperationCount {
                    operation: Some("getDevice".into()),
                    requests: 1
                }],
                active_hours: 1,
                requests_in_saturated_seconds: 0,
                requests_driving_saturation: 0,
                saturation_share: 0.0,
                change: None,
            }]
        );
    }

    /// 30 requests of the poller at 10:00:00 (the bucket admits 20, refuses 10), 10 of the
    /// script in the same second, 5 more of the script an hour later, listed out of order; one
    /// request without a user agent.
    fn saturating() -> Vec<Req<'static>> {
        let mut requests = vec![(3_600 * SECOND + 7, 200, Some(SCRIPT), None); 5];
        requests.push((10 * SECOND, 200, None, Some("getA")));
        for i in 0..30 {
            let ua = if i % 2 == 0 { NOC } else { NOC_OLD };
            requests.push((
                i * 1000,
                200,
                Some(ua),
                Some(if i < 20 { "getA" } else { "getB" }),
            ));
        }
        for i in 0..10 {
            requests.push((500_000 + i, 429, Some(SCRIPT), Some("put")));
        }
        requests
    }

    #[test]
    fn consumers_are_ranked_by_requests_in_saturated_seconds() {
        let u = usage(&saturating(), ConsumerKey::Application);
        let summary: Vec<_> = u
            .iter()
            .map(|c| {
                (
                    c.consumer.as_deref(),
                    c.requests,
                    c.requests_in_saturated_seconds,
                    c.peak_requests_per_second,
                    c.http_429s,
                    c.active_hours,
                    c.distinct_operations,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some("NocPoller/2.1 Acme"), 30, 30, 30, 0, 1, 2),
                (Some(SCRIPT), 15, 10, 10, 10, 2, 1),
                (None, 1, 0, 1, 0, 1, 1),
            ]
        );
        assert_eq!(u[0].saturation_share, 0.75);
        assert_eq!(u[1].saturation_share, 0.25);
        assert_eq!(u[0].request_share, 30.0 / 46.0);
        assert_eq!(
            u[0].top_operations,
            vec![
                OperationCount {
                    operation: Some("getA".into()),
                    requests: 20
                },
                OperationCount {
                    operation: Some("getB".into()),
                    requests: 10
                },
            ]
        );
        assert_eq!(
            u[1].top_operations,
            vec![
                OperationCount {
                    operation: Some("put".into()),
                    requests: 10
                },
                OperationCount {
                    operation: None,
                    requests: 5
                },
            ]
        );

        // The full user agent is a detail: the one it sent most with (a tie: the first by name).
        assert_eq!(u[0].user_agent.as_deref(), Some(NOC_OLD));
        assert_eq!(u[1].user_agent.as_deref(), Some(SCRIPT));
        assert_eq!(u[2].user_agent, None);

        let findings = consumer_findings(&u, &window(), ConsumerKey::Application);
        assert_eq!(
            findings[0].summary,
            "NocPoller/2.1 Acme sent 30 of the 40 requests that put the budget at or over its \
             limit (75 %)."
        );
        assert_eq!(findings[0].metrics["user_agent"], NOC_OLD);
        let judged: Vec<_> = findings
            .iter()
            .map(|f| (f.kind, f.severity, f.consumer.as_deref()))
            .collect();
        assert_eq!(
            judged,
            vec![
                (
                    FindingKind::NoisyConsumer,
                    Severity::Critical,
                    Some("NocPoller/2.1 Acme")
                ),
                (FindingKind::NoisyConsumer, Severity::Warning, Some(SCRIPT)),
            ]
        );
    }

    #[test]
    fn a_good_citizen_in_seconds_someone_else_filled_ranks_below_a_bigger_sender() {
        // A poller sends 12 requests in each of 20 seconds (at or over the limit every time), an
        // SDK app 1 in each of them, and a script 150 requests at 2 a second elsewhere: 15 × the
        // SDK app's, none of them in a saturated second.
        let mut requests = Vec::new();
        for s in 0..20 {
            for i in 0..12 {
                requests.push((s * SECOND + i * 1000, 200, Some(NOC), None));
            }
            requests.push((s * SECOND + 500_000, 200, Some("SDKApp/1 Good"), None));
        }
        for i in 0..150 {
            requests.push((600 * SECOND + i * SECOND / 2, 200, Some(SCRIPT), None));
        }
        let u = usage(&requests, ConsumerKey::Application);
        let ranking: Vec<_> = u
            .iter()
            .map(|c| {
                (
                    c.consumer.as_deref(),
                    c.requests,
                    c.requests_in_saturated_seconds,
                    c.requests_driving_saturation,
                )
            })
            .collect();
        assert_eq!(
            ranking,
            vec![
                (Some("NocPoller/2.1 Acme"), 240, 240, 240),
                (Some(SCRIPT), 150, 0, 0),
                (Some("SDKApp/1 Good"), 20, 20, 0),
            ]
        );
        assert_eq!(u[0].saturation_share, 1.0);
        assert_eq!(u[2].saturation_share, 0.0);
    }

    #[test]
    fn the_drivers_of_a_second_are_those_it_could_not_have_been_saturated_without() {
        let limit = Some(10.0);
        // One sender fills it: the other only happened to be there.
        assert_eq!(drivers(&[(0, 11), (1, 1)], limit), vec![(0, 11)]);
        // Each of two is needed.
        assert_eq!(drivers(&[(0, 6), (1, 6)], limit), vec![(0, 6), (1, 6)]);
        assert_eq!(
            drivers(&[(0, 8), (1, 3), (2, 1)], limit),
            vec![(0, 8), (1, 3)]
        );
        // Nobody alone makes the difference: the biggest that together do, ties kept whole.
        let crowd: Vec<(usize, u64)> = (0..20).map(|s| (s, 1)).collect();
        assert_eq!(drivers(&crowd, limit), crowd);
        assert_eq!(
            drivers(&[(0, 9), (1, 9), (2, 2)], limit),
            vec![(0, 9), (1, 9)]
        );
        // Refused in a second under the limit (the bucket was drained before): everyone sending.
        assert_eq!(drivers(&[(0, 3), (1, 2)], limit), vec![(0, 3), (1, 2)]);
        // A window budget has no per-second limit: everyone in a refused second.
        assert_eq!(drivers(&[(0, 11), (1, 1)], None), vec![(0, 11), (1, 1)]);
    }

    #[test]
    fn a_client_is_named_by_its_application_unless_consumers_are_user_agents() {
        assert_eq!(
            ConsumerKey::Application.client_name(NOC),
            "NocPoller/2.1 Acme"
        );
        assert_eq!(ConsumerKey::Admin.client_name(NOC), "NocPoller/2.1 Acme");
        assert_eq!(ConsumerKey::UserAgent.client_name(NOC), NOC);
        assert_eq!(ConsumerKey::Application.client_name(SCRIPT), SCRIPT);
    }

    #[test]
    fn the_user_agent_key_keeps_sdk_versions_apart() {
        let u = usage(&saturating(), ConsumerKey::UserAgent);
        let names: Vec<_> = u
            .iter()
            .map(|c| (c.consumer.as_deref(), c.requests))
            .collect();
        assert_eq!(
            names,
            vec![
                (Some(NOC_OLD), 15),
                (Some(NOC), 15),
                (Some(SCRIPT), 15),
                (None, 1)
            ]
        );
        let by_admin: Vec<_> = usage(&saturating(), ConsumerKey::Admin)
            .iter()
            .map(|c| (c.consumer.clone(), c.requests))
            .collect();
        assert_eq!(
            by_admin,
            vec![(Some("1".into()), 30), (Some("2".into()), 15), (None, 1)]
        );
    }

    #[test]
    fn a_window_of_only_429s_counts_them_all() {
        let requests: Vec<Req<'_>> = (0..3)
            .map(|i| (i * SECOND, 429, Some(SCRIPT), None))
            .collect();
        let u = usage(&requests, ConsumerKey::ClientId);
        assert_eq!(u.len(), 1);
        assert_eq!(
            (u[0].consumer.as_deref(), u[0].requests, u[0].http_429s),
            (None, 3, 3)
        );
        assert_eq!(u[0].top_operations[0].operation, None);
        assert_eq!(u[0].distinct_operations, 0);
    }

    #[test]
    fn change_against_the_previous_period() {
        let current = request_log(&saturating());
        let previous = request_log(&[
            (0, 200, Some(NOC), None),
            (1, 200, Some(NOC), None),
            (2, 200, Some("gone/1"), None),
        ]);
        let u = consumer_usage(
            &current,
            &window(),
            ConsumerKey::Application,
            &BudgetModel::meraki(),
            Some(&previous),
        )
        .unwrap();
        assert_eq!(
            u[0].change,
            Some(PeriodChange {
                previous_requests: 2,
                delta_requests: 28,
                delta_percent: Some(1400.0)
            })
        );
        assert_eq!(
            u[1].change,
            Some(PeriodChange {
                previous_requests: 0,
                delta_requests: 15,
                delta_percent: None
            })
        );
    }

    #[test]
    fn an_invalid_rate_is_refused() {
        let budget = BudgetModel::token_bucket(callbudget_api::budget::BucketLimits {
            rate_per_second: 0.0,
            burst: 1.0,
        });
        let err = consumer_usage(
            &request_log(&[]),
            &window(),
            ConsumerKey::Admin,
            &budget,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, AnalysisError::InvalidRate(_)));
    }
}
