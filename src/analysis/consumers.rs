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

use super::findings::{Finding, FindingKind, Severity};
use super::frames::{
    ADMIN_ID, CLIENT_ID, OPERATION_ID, RESPONSE_CODE, SOURCE_IP, TOO_MANY_REQUESTS, TS, USER_AGENT,
};
use super::{AnalysisError, AnalysisWindow};
use crate::budget::{BudgetModel, replay as replay_bucket};
use crate::text::thousands;
use crate::timestamp::{MICROS_PER_HOUR, MICROS_PER_SECOND};
use polars::prelude::*;
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

    fn column(self) -> &'static str {
        match self {
            ConsumerKey::Application | ConsumerKey::UserAgent => USER_AGENT,
            ConsumerKey::Admin => ADMIN_ID,
            ConsumerKey::SourceIp => SOURCE_IP,
            ConsumerKey::ClientId => CLIENT_ID,
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
    log: &DataFrame,
    window: &AnalysisWindow,
    key: ConsumerKey,
    budget: &BudgetModel,
    previous: Option<&DataFrame>,
) -> Result<Vec<ConsumerUsage>, AnalysisError> {
    let rate = budget.sustained_rate_per_second();
    if !(rate.is_finite() && rate > 0.0) {
        return Err(AnalysisError::InvalidRate(rate));
    }
    let consumers = consumer_labels(log, key)?;
    let operations = labels(log, OPERATION_ID, |s| s)?;
    let codes = response_codes(log)?;
    let order = time_order(log)?;
    let saturated = saturated_seconds(&order, budget);
    let per_second_limit = budget.per_second_limit();

    // One accumulator per consumer, the last one for records without the field.
    let mut accs: Vec<Acc> = (0..=consumers.names.len())
        .map(|_| Acc::default())
        .collect();
    let none_slot = consumers.names.len();
    let mut driving_total = 0u64;
    // The requests of the second being read, per consumer slot.
    let mut second = SecondSenders::default();
    for &(ts, row) in &order {
        let slot = consumers.ids[row].map_or(none_slot, |id| id as usize);
        let this_second = ts.div_euclid(MICROS_PER_SECOND);
        if second.second != Some(this_second) {
            driving_total += second.credit_drivers(&saturated, per_second_limit, &mut accs);
            second.start(this_second);
        }
        second.add(slot);
        let acc = &mut accs[slot];
        acc.requests += 1;
        acc.http_429s += u64::from(codes[row] == Some(TOO_MANY_REQUESTS));
        if acc.last_second == Some(this_second) {
            acc.in_second += 1;
        } else {
            acc.last_second = Some(this_second);
            acc.in_second = 1;
        }
        acc.peak = acc.peak.max(acc.in_second);
        let hour = ts.div_euclid(MICROS_PER_HOUR);
        if acc.last_hour != Some(hour) {
            acc.last_hour = Some(hour);
            acc.hours += 1;
        }
        *acc.operations.entry(operations.ids[row]).or_default() += 1;
        if saturated.binary_search(&this_second).is_ok() {
            acc.saturated += 1;
        }
    }
    driving_total += second.credit_drivers(&saturated, per_second_limit, &mut accs);

    let mut user_agents = main_user_agents(log, &consumers.ids, none_slot)?;
    let previous_counts = previous.map(|p| requests_by_consumer(p, key)).transpose()?;
    let total = order.len() as u64;
    let capacity = rate * ((window.end_us() - window.start_us()) as f64 / MICROS_PER_SECOND as f64);
    let mut usage: Vec<ConsumerUsage> = accs
        .into_iter()
        .enumerate()
        .filter(|(_, acc)| acc.requests > 0)
        .map(|(slot, acc)| {
            let consumer = consumers.names.get(slot).cloned();
            let change = previous_counts.as_ref().map(|counts| {
                let previous_requests = counts.get(&consumer).copied().unwrap_or(0);
                let delta_requests = acc.requests as i64 - previous_requests as i64;
                PeriodChange {
                    previous_requests,
                    delta_requests,
                    delta_percent: (previous_requests > 0)
                        .then(|| delta_requests as f64 / previous_requests as f64 * 100.0),
                }
            });
            let mut ops: Vec<(Option<u32>, u64)> = acc.operations.into_iter().collect();
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
    second: Option<i64>,
    /// (consumer slot, requests)
    senders: Vec<(usize, u64)>,
}

impl SecondSenders {
    fn start(&mut self, second: i64) {
        self.second = Some(second);
        self.senders.clear();
    }

    fn add(&mut self, slot: usize) {
        match self.senders.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, n)) => *n += 1,
            None => self.senders.push((slot, 1)),
        }
    }

    /// If the second is saturated, adds each driver's requests to its accumulator and returns
    /// how many requests drove it (0 otherwise).
    fn credit_drivers(
        &mut self,
        saturated: &[i64],
        per_second_limit: Option<f64>,
        accs: &mut [Acc],
    ) -> u64 {
        let Some(second) = self.second else {
            return 0;
        };
        if saturated.binary_search(&second).is_err() {
            return 0;
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
/// its requests had one; `none_slot` is the slot of records without the consumer's field. Counted
/// by categorical code, with no per-row copy of the column.
fn main_user_agents(
    log: &DataFrame,
    consumer_ids: &[Option<u32>],
    none_slot: usize,
) -> Result<Vec<Option<String>>, AnalysisError> {
    let column = super::frames::categorical_column(log, USER_AGENT)?;
    let agents = column
        .cat32()
        .map_err(AnalysisError::frame("reading user agents"))?;
    let mut counts: HashMap<(usize, u32), u64> = HashMap::new();
    for (consumer, agent) in consumer_ids.iter().zip(agents.physical().iter()) {
        if let Some(agent) = agent {
            let slot = consumer.map_or(none_slot, |id| id as usize);
            *counts.entry((slot, agent)).or_default() += 1;
        }
    }
    let mapping = agents.get_mapping();
    let mut best: Vec<Option<(&str, u64)>> = vec![None; none_slot + 1];
    for ((slot, agent), n) in counts {
        let Some(name) = mapping.cat_to_str(agent) else {
            continue;
        };
        let better = best[slot].is_none_or(|(top, most)| n > most || (n == most && name < top));
        if better {
            best[slot] = Some((name, n));
        }
    }
    Ok(best
        .into_iter()
        .map(|b| b.map(|(name, _)| name.to_owned()))
        .collect())
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
    last_second: Option<i64>,
    in_second: u64,
    peak: u64,
    last_hour: Option<i64>,
    hours: u64,
    operations: HashMap<Option<u32>, u64>,
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

/// A string column interned: each row's name id (`None` for nulls) and the names.
pub(crate) struct Labels {
    pub ids: Vec<Option<u32>>,
    pub names: Vec<String>,
}

/// Reads the string (or categorical) `column`, mapping each value through `name` before interning.
/// Names are numbered in order of first appearance by row.
pub(crate) fn labels(
    log: &DataFrame,
    column: &str,
    name: impl Fn(&str) -> &str,
) -> Result<Labels, AnalysisError> {
    let column = log
        .column(column)
        .map_err(AnalysisError::frame("reading a string column"))?;
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut names = Vec::new();
    let mut intern = |v: &str| {
        let v = name(v);
        if let Some(&id) = index.get(v) {
            id
        } else {
            let id = names.len() as u32;
            names.push(v.to_owned());
            index.insert(v.to_owned(), id);
            id
        }
    };
    // A categorical column: each distinct code is named once, then rows only look codes up.
    if let Ok(categorical) = column.cat32() {
        let mapping = categorical.get_mapping();
        let mut by_code: Vec<Option<Option<u32>>> = Vec::new();
        let ids = categorical
            .physical()
            .iter()
            .map(|code| {
                let code = code?;
                let slot = code as usize;
                if slot >= by_code.len() {
                    by_code.resize(slot + 1, None);
                }
                *by_code[slot].get_or_insert_with(|| mapping.cat_to_str(code).map(&mut intern))
            })
            .collect();
        return Ok(Labels { ids, names });
    }
    let strings = column
        .cast(&DataType::String)
        .map_err(AnalysisError::frame("reading a string column"))?;
    let values = strings
        .str()
        .map_err(AnalysisError::frame("reading a string column"))?;
    let ids = values.iter().map(|value| value.map(&mut intern)).collect();
    Ok(Labels { ids, names })
}

/// Each row's consumer under `key`.
pub(crate) fn consumer_labels(log: &DataFrame, key: ConsumerKey) -> Result<Labels, AnalysisError> {
    match key {
        ConsumerKey::Application => labels(log, key.column(), |ua| parse_user_agent(ua).caller),
        _ => labels(log, key.column(), |s| s),
    }
}

pub(crate) fn response_codes(log: &DataFrame) -> Result<Vec<Option<i32>>, AnalysisError> {
    Ok(log
        .column(RESPONSE_CODE)
        .and_then(|c| c.i32())
        .map_err(AnalysisError::frame("reading response codes"))?
        .iter()
        .collect())
}

/// (timestamp µs, row) of every row with a timestamp, in time order (ties in row order): the log
/// may come in any order, and clocks across records may be skewed.
pub(crate) fn time_order(log: &DataFrame) -> Result<Vec<(i64, usize)>, AnalysisError> {
    let ts = log
        .column(TS)
        .and_then(|c| c.datetime())
        .map_err(AnalysisError::frame("reading timestamps"))?;
    let mut order: Vec<(i64, usize)> = ts
        .physical()
        .iter()
        .enumerate()
        .filter_map(|(row, ts)| Some((ts?, row)))
        .collect();
    order.sort_unstable();
    Ok(order)
}

/// Seconds (since the epoch) at or over the limit: the bucket, replayed over `order`, refuses a
/// request in them, or they hold at least the budget's per-second limit. Sorted.
fn saturated_seconds(order: &[(i64, usize)], budget: &BudgetModel) -> Vec<i64> {
    let per_second_limit = budget.per_second_limit();
    let mut seconds: Vec<i64> = Vec::new();
    let mut current = (i64::MIN, 0u64);
    for (ts, admitted) in replay_bucket(budget, order.iter().map(|&(ts, _)| ts)) {
        let second = ts.div_euclid(MICROS_PER_SECOND);
        if current.0 != second {
            current = (second, 0);
        }
        current.1 += 1;
        let refused = !admitted;
        let at_rate = per_second_limit.is_some_and(|limit| current.1 as f64 >= limit);
        if (refused || at_rate) && seconds.last() != Some(&second) {
            seconds.push(second);
        }
    }
    seconds
}

fn requests_by_consumer(
    log: &DataFrame,
    key: ConsumerKey,
) -> Result<HashMap<Option<String>, u64>, AnalysisError> {
    let consumers = consumer_labels(log, key)?;
    let mut counts = HashMap::new();
    for id in consumers.ids {
        *counts
            .entry(id.map(|i| consumers.names[i as usize].clone()))
            .or_default() += 1;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::frames::RequestLogBuilder;
    use crate::store::RequestLogRow;
    use chrono::{DateTime, TimeDelta, Utc};

    const SECOND: i64 = MICROS_PER_SECOND;
    const NOC: &str = "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)";
    const NOC_OLD: &str = "python-meraki/4.6.0 Caller/(NocPoller/2.1 Acme)";
    const SCRIPT: &str = "PortPusher/0.9 AcmeNetEng";

    fn t0() -> DateTime<Utc> {
        crate::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(2)).unwrap()
    }

    /// (offset µs from 10:00, response code, user agent, operation id)
    type Req<'a> = (i64, u16, Option<&'a str>, Option<&'a str>);

    fn frame(requests: &[Req<'_>]) -> DataFrame {
        let mut builder = RequestLogBuilder::default();
        for &(offset, code, user_agent, operation_id) in requests {
            builder.push(&RequestLogRow {
                ts_us: t0().timestamp_micros() + offset,
                response_code: Some(code),
                method: Some("GET"),
                path: Some("/x"),
                user_agent,
                admin_id: user_agent.map(|ua| if ua == SCRIPT { "2" } else { "1" }),
                source_ip: None,
                operation_id,
                client_id: None,
            });
        }
        builder.finish().unwrap()
    }

    fn usage(requests: &[Req<'_>], key: ConsumerKey) -> Vec<ConsumerUsage> {
        consumer_usage(
            &frame(requests),
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
        let current = frame(&saturating());
        let previous = frame(&[
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
        let budget = BudgetModel::token_bucket(crate::budget::BucketLimits {
            rate_per_second: 0.0,
            burst: 1.0,
        });
        let err =
            consumer_usage(&frame(&[]), &window(), ConsumerKey::Admin, &budget, None).unwrap_err();
        assert!(matches!(err, AnalysisError::InvalidRate(_)));
    }
}
