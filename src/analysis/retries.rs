//! Detector 5, retry behaviour: after a 429, does a consumer (by user agent) wait for
//! Retry-After, back off, and spread its retries?
//!
//! **Pairs.** For each 429 a consumer received at `t` on a method and path, its next request with
//! the same method and path, if sooner than [`RetryOptions::horizon`] (5 minutes), is the retry;
//! its delay is the gap between the two requests. Records without a path cannot be paired.
//!
//! **Early.** The log does not keep Retry-After, so [`RetryOptions::retry_after`] stands for it
//! (Meraki's usual 1 s; the simulator sends the wait rounded up, at least 1 s, which is 1 s at
//! Meraki's rates). The log has no response times either, and a client honouring Retry-After
//! counts it from the response, so its retry comes `response time + Retry-After` after the refused
//! request. A retry is early when its delay is under `retry_after +`
//! [`RetryOptions::assumed_response_time`] (0.25 s): a client that waits a fixed second from the
//! response regardless of Retry-After looks like one that honours a 1 s Retry-After, and only this
//! allowance tells them apart. Set it to zero to count only retries certainly too early.
//!
//! **Back-off growth.** In chains of at least [`MIN_CHAIN_429S`] consecutive 429s on one call
//! (each request the retry of the one before), the ratio of each delay to the one before it; the
//! median over all chains. Exponential back-off gives about 2, none about 1.
//!
//! **Jitter.** The coefficient of variation (population standard deviation / mean) of the delays
//! of first retries (after a 429 that was not itself a retry of a 429): near 0, every call waits
//! the same gap, and a crowd of such clients retries in lockstep.

use super::consumers::time_order;
use super::findings::{Finding, FindingKind, Severity};
use super::frames::{
    METHOD, PATH, RESPONSE_CODE, TOO_MANY_REQUESTS, USER_AGENT, categorical_column,
};
use super::{AnalysisError, AnalysisWindow};
use crate::timestamp::MICROS_PER_MINUTE;
use chrono::{DateTime, Utc};
use polars::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// [`FindingKind::IgnoresRetryAfter`] is a warning from this share of early retries…
pub const IGNORES_WARNING_SHARE: f64 = 0.20;
/// …and critical from this share.
pub const IGNORES_CRITICAL_SHARE: f64 = 0.50;
/// Fewer retried 429s than this are too few to judge a consumer's waiting.
pub const MIN_RETRIES_TO_JUDGE: u64 = 5;
/// Early retries within one minute that make a [`FindingKind::RetryStorm`].
pub const STORM_EARLY_RETRIES_PER_MINUTE: u64 = 20;
/// The fewest consecutive 429s on one call that make a chain for back-off growth.
pub const MIN_CHAIN_429S: usize = 3;
/// A median growth ratio below this is no back-off.
pub const NO_BACKOFF_GROWTH_RATIO: f64 = 1.2;
/// A coefficient of variation of first-retry delays below this is synchronized…
pub const SYNCHRONIZED_MAX_CV: f64 = 0.05;
/// …given at least this many first retries.
pub const SYNCHRONIZED_MIN_RETRIES: u64 = 10;

/// One call: (user agent, method, path) categorical codes.
type Call = (Option<u32>, Option<u32>, u32);

/// A row without a path, which belongs to no call.
const NO_CALL: u32 = u32::MAX >> 1;
/// Set in a row's call id when the request got a 429.
const REFUSED_BIT: u32 = 1 << 31;

/// What the log cannot say and the detector assumes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RetryOptions {
    /// The Retry-After the consumers were given.
    pub retry_after: Duration,
    /// The least time a response takes, which a client honouring Retry-After waits on top of it.
    pub assumed_response_time: Duration,
    /// The longest gap after a 429 for the next request to the same call to count as its retry.
    pub horizon: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            retry_after: Duration::from_secs(1),
            assumed_response_time: Duration::from_millis(250),
            horizon: Duration::from_secs(300),
        }
    }
}

/// How one consumer retried after 429s.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryBehaviour {
    /// The user agent; `None` for records without one.
    pub user_agent: Option<String>,
    pub http_429s: u64,
    /// 429s followed by a retry.
    pub retried_429s: u64,
    /// Retries sooner than Retry-After (plus the assumed response time).
    pub early_retries: u64,
    /// early_retries / retried_429s (0 without retries).
    pub early_share: f64,
    pub median_delay_seconds: Option<f64>,
    /// Chains of at least [`MIN_CHAIN_429S`] consecutive 429s on one call.
    pub chains: u64,
    /// The median ratio of a chain's delay to the delay before it; `None` without chains.
    pub median_growth_ratio: Option<f64>,
    pub first_retries: u64,
    /// Coefficient of variation of first-retry delays; `None` with fewer than two or a zero mean.
    pub first_retry_delay_cv: Option<f64>,
    /// The most early retries in one calendar minute, and that minute.
    pub peak_early_retries_per_minute: u64,
    #[serde(serialize_with = "canonical_option")]
    pub peak_minute: Option<DateTime<Utc>>,
}

/// The retry behaviour of every consumer that received a 429, most early retries first (then by
/// user agent, records without one last).
pub fn retry_behaviour(
    log: &DataFrame,
    options: &RetryOptions,
) -> Result<Vec<RetryBehaviour>, AnalysisError> {
    let err = || AnalysisError::frame("reading requests for their retries");
    // Read by categorical code: a month is 26.8 M rows, and three columns of per-row labels would
    // be the analysis's peak memory.
    let columns = [USER_AGENT, METHOD, PATH].map(|name| categorical_column(log, name));
    let [agents, methods, paths] = columns;
    let (agents, methods, paths) = (agents?, methods?, paths?);
    let [agents, methods, paths] = [&agents, &methods, &paths].map(|c| c.cat32().map_err(err()));
    let (agents, methods, paths) = (agents?, methods?, paths?);
    let codes = log
        .column(RESPONSE_CODE)
        .and_then(|c| c.i32())
        .map_err(err())?;

    // Each row's call (user agent, method, path), with whether it got a 429 in the top bit.
    let mut call_ids: HashMap<Call, u32> = HashMap::new();
    let mut call_agents: Vec<Option<u32>> = Vec::new();
    let mut row_calls: Vec<u32> = Vec::with_capacity(log.height());
    let mut refused: HashMap<Option<u32>, u64> = HashMap::new();
    let rows = agents
        .physical()
        .iter()
        .zip(methods.physical().iter())
        .zip(paths.physical().iter().zip(codes.iter()));
    for ((agent, method), (path, code)) in rows {
        let is_429 = code == Some(TOO_MANY_REQUESTS);
        if is_429 {
            *refused.entry(agent).or_default() += 1;
        }
        let call = match path {
            None => NO_CALL,
            Some(path) => *call_ids.entry((agent, method, path)).or_insert_with(|| {
                call_agents.push(agent);
                (call_agents.len() - 1) as u32
            }),
        };
        row_calls.push(call | if is_429 { REFUSED_BIT } else { 0 });
    }
    drop(call_ids);

    // Each call's requests, in time order: (ts, got a 429).
    let mut calls: Vec<Vec<(i64, bool)>> = vec![Vec::new(); call_agents.len()];
    for (ts, row) in time_order(log)? {
        let call = row_calls[row] & !REFUSED_BIT;
        if call != NO_CALL {
            calls[call as usize].push((ts, row_calls[row] & REFUSED_BIT != 0));
        }
    }
    drop(row_calls);

    let horizon = options.horizon.as_micros() as i64;
    let early_under = (options.retry_after + options.assumed_response_time).as_micros() as i64;
    let mut stats: HashMap<Option<u32>, Stats> = HashMap::new();
    for (requests, agent) in calls.iter().zip(&call_agents) {
        let s = stats.entry(*agent).or_default();
        // delay after request i, if request i got a 429 and was retried in time
        let delay = |i: usize| -> Option<i64> {
            let (ts, is_429) = requests[i];
            let (next, _) = *requests.get(i + 1)?;
            (is_429 && next - ts < horizon).then_some(next - ts)
        };
        let mut chain: Vec<i64> = Vec::new();
        let mut chain_429s = 0usize;
        for i in 0..requests.len() {
            let continues_chain = i > 0 && delay(i - 1).is_some();
            if !continues_chain {
                s.close_chain(&chain, chain_429s);
                chain.clear();
                chain_429s = 0;
            }
            if requests[i].1 {
                chain_429s += 1;
            }
            let Some(d) = delay(i) else {
                continue;
            };
            chain.push(d);
            s.delays.push(d);
            if !continues_chain {
                s.first_delays.push(d);
            }
            if d < early_under {
                let minute = requests[i + 1].0.div_euclid(MICROS_PER_MINUTE);
                *s.early_per_minute.entry(minute).or_default() += 1;
                s.early += 1;
            }
        }
        s.close_chain(&chain, chain_429s);
    }

    let mut out: Vec<RetryBehaviour> = refused
        .into_iter()
        .map(|(agent, http_429s)| {
            let mut s = stats.remove(&agent).unwrap_or_default();
            let retried = s.delays.len() as u64;
            let peak = s
                .early_per_minute
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(&minute, &n)| (minute, n));
            RetryBehaviour {
                user_agent: agent
                    .and_then(|a| agents.get_mapping().cat_to_str(a))
                    .map(str::to_owned),
                http_429s,
                retried_429s: retried,
                early_retries: s.early,
                early_share: if retried == 0 {
                    0.0
                } else {
                    s.early as f64 / retried as f64
                },
                median_delay_seconds: median(
                    &mut s.delays.iter().map(|&d| d as f64).collect::<Vec<_>>(),
                )
                .map(|m| m / 1e6),
                chains: s.chains,
                median_growth_ratio: median(&mut s.ratios),
                first_retries: s.first_delays.len() as u64,
                first_retry_delay_cv: coefficient_of_variation(&s.first_delays),
                peak_early_retries_per_minute: peak.map_or(0, |(_, n)| n),
                peak_minute: peak
                    .map(|(m, _)| crate::timestamp::from_micros(m * MICROS_PER_MINUTE)),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.early_retries
            .cmp(&a.early_retries)
            .then_with(|| match (&a.user_agent, &b.user_agent) {
                (Some(a), Some(b)) => a.cmp(b),
                (a, b) => b.is_none().cmp(&a.is_none()).reverse(),
            })
    });
    Ok(out)
}

/// One user agent's retries after 429s: the delay of each, paired as [`retry_behaviour`] pairs
/// them (for the report's delay histograms).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryDelays {
    /// `None` for records without a user agent.
    pub user_agent: Option<String>,
    pub delays: Vec<Duration>,
}

/// The delay of every retry after a 429, by user agent (in no particular order). Only the
/// requests of calls that received a 429 are gathered and sorted, and calls are told apart by
/// the categorical ids of their user agent and method, so one hash per request is the cost.
pub fn retry_delays(
    log: &DataFrame,
    options: &RetryOptions,
) -> Result<Vec<RetryDelays>, AnalysisError> {
    let err = AnalysisError::frame("reading the log for retry delays");
    let codes = log
        .column(super::frames::RESPONSE_CODE)
        .and_then(|c| c.i32())
        .map_err(err)?;
    let columns = [USER_AGENT, METHOD, PATH].map(|name| categorical_column(log, name));
    let [agents, methods, paths] = columns;
    let (agents, methods, paths) = (agents?, methods?, paths?);
    let [agents, methods, paths] = [&agents, &methods, &paths].map(|c| {
        c.cat32()
            .map_err(AnalysisError::frame("reading the log for retry delays"))
    });
    let (agents, methods, paths) = (agents?, methods?, paths?);
    let ts = log
        .column(super::frames::TS)
        .and_then(|c| c.datetime())
        .map_err(AnalysisError::frame("reading the log for retry delays"))?
        .physical();
    let rows = || {
        ts.iter()
            .zip(codes.iter())
            .zip(agents.physical().iter())
            .zip(methods.physical().iter())
            .zip(paths.physical().iter())
            .enumerate()
            .filter_map(|(row, ((((ts, code), agent), method), path))| {
                let is_429 = code == Some(TOO_MANY_REQUESTS);
                Some((row, ts?, is_429, (agent, method, path?)))
            })
    };
    // The calls (user agent, method, path) that received a 429, each with a slot…
    let mut slots: PlHashMap<(Option<u32>, Option<u32>, u32), usize> = PlHashMap::new();
    for (_, _, is_429, call) in rows() {
        if is_429 {
            let next = slots.len();
            slots.entry(call).or_insert(next);
        }
    }
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    // …and their requests: (ts, row, got a 429), then in time order (ties in row order, as
    // `time_order` breaks them).
    let mut requests: Vec<Vec<(i64, usize, bool)>> = vec![Vec::new(); slots.len()];
    for (row, ts, is_429, call) in rows() {
        if let Some(&slot) = slots.get(&call) {
            requests[slot].push((ts, row, is_429));
        }
    }
    let mut agent_of_slot = vec![None; slots.len()];
    for ((agent, _, _), slot) in slots {
        agent_of_slot[slot] = agent;
    }
    let horizon = options.horizon.as_micros() as i64;
    let mut by_agent: HashMap<Option<u32>, Vec<Duration>> = HashMap::new();
    for (mut call, agent) in requests.into_iter().zip(agent_of_slot) {
        call.sort_unstable();
        let delays = by_agent.entry(agent).or_default();
        for pair in call.windows(2) {
            let ((ts, _, is_429), (next, _, _)) = (pair[0], pair[1]);
            if is_429 && next - ts < horizon {
                delays.push(Duration::from_micros((next - ts) as u64));
            }
        }
    }
    let mapping = agents.get_mapping();
    Ok(by_agent
        .into_iter()
        .map(|(agent, delays)| RetryDelays {
            user_agent: agent.and_then(|a| mapping.cat_to_str(a)).map(str::to_owned),
            delays,
        })
        .collect())
}

/// The findings of each consumer's retry behaviour over `window` (see the thresholds above).
pub fn retry_findings(
    behaviours: &[RetryBehaviour],
    window: &AnalysisWindow,
    options: &RetryOptions,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let retry_after = options.retry_after.as_secs_f64();
    for b in behaviours {
        let name = b.user_agent.as_deref().unwrap_or("(no user agent)");
        let finding = |kind, severity, start, end, summary, metrics| Finding {
            kind,
            severity,
            consumer: b.user_agent.clone(),
            start,
            end,
            summary,
            metrics,
        };
        if b.retried_429s >= MIN_RETRIES_TO_JUDGE && b.early_share >= IGNORES_WARNING_SHARE {
            let severity = if b.early_share >= IGNORES_CRITICAL_SHARE {
                Severity::Critical
            } else {
                Severity::Warning
            };
            findings.push(finding(
                FindingKind::IgnoresRetryAfter,
                severity,
                window.start,
                window.end,
                format!(
                    "{name} retried {} of {} refused calls ({:.0} %) sooner than a Retry-After of \
                     {retry_after} s allows",
                    b.early_retries,
                    b.retried_429s,
                    b.early_share * 100.0
                ),
                serde_json::json!({
                    "retried_429s": b.retried_429s,
                    "early_retries": b.early_retries,
                    "early_share": b.early_share,
                    "median_delay_seconds": b.median_delay_seconds,
                    "assumed_retry_after_seconds": retry_after,
                    "assumed_response_time_seconds": options.assumed_response_time.as_secs_f64(),
                }),
            ));
        }
        if let Some(minute) = b.peak_minute
            && b.peak_early_retries_per_minute >= STORM_EARLY_RETRIES_PER_MINUTE
        {
            findings.push(finding(
                FindingKind::RetryStorm,
                Severity::Warning,
                minute,
                minute + chrono::TimeDelta::minutes(1),
                format!(
                    "{name} sent {} retries inside the Retry-After window in one minute",
                    b.peak_early_retries_per_minute
                ),
                serde_json::json!({
                    "early_retries_in_minute": b.peak_early_retries_per_minute,
                    "early_retries": b.early_retries,
                }),
            ));
        }
        if let Some(ratio) = b.median_growth_ratio
            && ratio < NO_BACKOFF_GROWTH_RATIO
        {
            findings.push(finding(
                FindingKind::NoBackoffGrowth,
                Severity::Warning,
                window.start,
                window.end,
                format!(
                    "{name} does not back off: over {} chains of repeated 429s its delays grew by \
                     a median factor of {ratio:.2}",
                    b.chains
                ),
                serde_json::json!({ "chains": b.chains, "median_growth_ratio": ratio }),
            ));
        }
        if let Some(cv) = b.first_retry_delay_cv
            && b.first_retries >= SYNCHRONIZED_MIN_RETRIES
            && cv < SYNCHRONIZED_MAX_CV
        {
            findings.push(finding(
                FindingKind::SynchronizedRetries,
                Severity::Warning,
                window.start,
                window.end,
                format!(
                    "{name} retries at identical gaps (no jitter): {} first retries with a \
                     coefficient of variation of {cv:.3}",
                    b.first_retries
                ),
                serde_json::json!({ "first_retries": b.first_retries, "delay_cv": cv }),
            ));
        }
    }
    findings
}

#[derive(Default)]
struct Stats {
    /// µs
    delays: Vec<i64>,
    first_delays: Vec<i64>,
    early: u64,
    early_per_minute: HashMap<i64, u64>,
    chains: u64,
    ratios: Vec<f64>,
}

impl Stats {
    /// Records a chain of retries (their delays) that followed `refused` consecutive 429s.
    fn close_chain(&mut self, delays: &[i64], refused: usize) {
        if refused < MIN_CHAIN_429S {
            return;
        }
        self.chains += 1;
        self.ratios.extend(
            delays
                .windows(2)
                .filter(|w| w[0] > 0)
                .map(|w| w[1] as f64 / w[0] as f64),
        );
    }
}

fn canonical_option<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&crate::timestamp::format(t)),
        None => s.serialize_none(),
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn coefficient_of_variation(delays: &[i64]) -> Option<f64> {
    if delays.len() < 2 {
        return None;
    }
    // Summed in a fixed order: the same log always gives the same digits (calls come from a map).
    let mut sorted = delays.to_vec();
    sorted.sort_unstable();
    let delays = sorted.as_slice();
    let n = delays.len() as f64;
    let mean = delays.iter().map(|&d| d as f64).sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let variance = delays
        .iter()
        .map(|&d| (d as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    Some(variance.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::frames::RequestLogBuilder;
    use crate::store::RequestLogRow;
    use chrono::TimeDelta;

    const MS: i64 = 1_000;
    const SCRIPT: &str = "PortPusher/0.9";
    const SDK: &str = "python-meraki/4.7.0 Caller/(Sync/1)";

    fn t0() -> DateTime<Utc> {
        crate::timestamp::parse("2026-11-19T09:00:00Z").unwrap()
    }

    /// (offset µs from 09:00, response code, user agent, path)
    fn frame(requests: &[(i64, u16, Option<&str>, &str)]) -> DataFrame {
        let mut builder = RequestLogBuilder::default();
        for &(offset, code, user_agent, path) in requests {
            builder.push(&RequestLogRow {
                ts_us: t0().timestamp_micros() + offset,
                response_code: Some(code),
                method: Some("PUT"),
                path: Some(path),
                user_agent,
                admin_id: None,
                source_ip: None,
                operation_id: None,
                client_id: None,
            });
        }
        builder.finish().unwrap()
    }

    fn behaviour(requests: &[(i64, u16, Option<&str>, &str)]) -> Vec<RetryBehaviour> {
        retry_behaviour(&frame(requests), &RetryOptions::default()).unwrap()
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(1)).unwrap()
    }

    #[test]
    fn an_empty_window_has_no_behaviour_or_findings() {
        assert_eq!(behaviour(&[]), vec![]);
        assert_eq!(
            retry_findings(&[], &window(), &RetryOptions::default()),
            vec![]
        );
    }

    #[test]
    fn one_refused_request_without_a_retry() {
        let b = behaviour(&[(0, 429, Some(SCRIPT), "/a")]);
        assert_eq!(
            b,
            vec![RetryBehaviour {
                user_agent: Some(SCRIPT.into()),
                http_429s: 1,
                retried_429s: 0,
                early_retries: 0,
                early_share: 0.0,
                median_delay_seconds: None,
                chains: 0,
                median_growth_ratio: None,
                first_retries: 0,
                first_retry_delay_cv: None,
                peak_early_retries_per_minute: 0,
                peak_minute: None,
            }]
        );
    }

    #[test]
    fn only_429s_make_one_chain_without_growth_listed_out_of_order() {
        // Four 429s 200 ms apart on one call, listed backwards, and one on another path.
        let b = behaviour(&[
            (600 * MS, 429, Some(SCRIPT), "/a"),
            (400 * MS, 429, Some(SCRIPT), "/a"),
            (200 * MS, 429, Some(SCRIPT), "/a"),
            (0, 429, Some(SCRIPT), "/a"),
            (100 * MS, 429, Some(SCRIPT), "/b"),
        ]);
        assert_eq!(b.len(), 1);
        let b = &b[0];
        assert_eq!(
            (b.http_429s, b.retried_429s, b.early_retries, b.chains),
            (5, 3, 3, 1)
        );
        assert_eq!(b.median_delay_seconds, Some(0.2));
        assert_eq!(b.median_growth_ratio, Some(1.0));
        assert_eq!((b.first_retries, b.first_retry_delay_cv), (1, None));
        assert_eq!(b.peak_early_retries_per_minute, 3);
        assert_eq!(b.peak_minute, Some(t0()));
        let kinds: Vec<_> =
            retry_findings(std::slice::from_ref(b), &window(), &RetryOptions::default())
                .iter()
                .map(|f| f.kind)
                .collect();
        // Three retries are too few to judge waiting, but the chain shows no back-off.
        assert_eq!(kinds, vec![FindingKind::NoBackoffGrowth]);
    }

    #[test]
    fn records_without_a_user_agent_are_a_consumer_of_their_own() {
        let b = behaviour(&[
            (0, 429, None, "/a"),
            (2_000 * MS, 200, None, "/a"),
            (0, 429, Some(SCRIPT), "/a"),
        ]);
        let summary: Vec<_> = b
            .iter()
            .map(|b| (b.user_agent.as_deref(), b.retried_429s, b.early_retries))
            .collect();
        assert_eq!(summary, vec![(Some(SCRIPT), 0, 0), (None, 1, 0)]);
        assert_eq!(b[1].median_delay_seconds, Some(2.0));
    }

    #[test]
    fn identical_early_gaps_are_flagged_and_exponential_backoff_is_not() {
        let mut requests = Vec::new();
        let paths: Vec<String> = (0..25).map(|i| format!("/port/{i}")).collect();
        // 25 calls refused at once, each retried 200 ms later and admitted.
        for path in &paths {
            requests.push((0, 429, Some(SCRIPT), path.as_str()));
            requests.push((200 * MS, 200, Some(SCRIPT), path.as_str()));
        }
        // An SDK call refused three times, waiting 1.5 s, 3 s and 6 s.
        for (offset, code) in [(0, 429), (1_500, 429), (4_500, 429), (10_500, 200)] {
            requests.push((offset * MS, code, Some(SDK), "/sdk"));
        }
        let b = behaviour(&requests);
        let script = &b[0];
        assert_eq!(script.user_agent.as_deref(), Some(SCRIPT));
        assert_eq!((script.retried_429s, script.early_retries), (25, 25));
        assert_eq!(script.first_retry_delay_cv, Some(0.0));
        let sdk = &b[1];
        assert_eq!((sdk.retried_429s, sdk.early_retries, sdk.chains), (3, 0, 1));
        assert_eq!(sdk.median_growth_ratio, Some(2.0));
        assert_eq!(sdk.first_retry_delay_cv, None);

        let findings = retry_findings(&b, &window(), &RetryOptions::default());
        let judged: Vec<_> = findings
            .iter()
            .map(|f| (f.kind, f.severity, f.consumer.as_deref()))
            .collect();
        assert_eq!(
            judged,
            vec![
                (
                    FindingKind::IgnoresRetryAfter,
                    Severity::Critical,
                    Some(SCRIPT)
                ),
                (FindingKind::RetryStorm, Severity::Warning, Some(SCRIPT)),
                (
                    FindingKind::SynchronizedRetries,
                    Severity::Warning,
                    Some(SCRIPT)
                ),
            ]
        );
    }

    #[test]
    fn retry_delays_pair_as_retry_behaviour_does() {
        let mut requests = vec![
            (0, 429, Some(SCRIPT), "/a"),
            (200 * MS, 429, Some(SCRIPT), "/a"),
            (400 * MS, 200, Some(SCRIPT), "/a"),
            (100 * MS, 200, Some(SCRIPT), "/never-refused"),
            (0, 429, None, "/a"),
            (2_000 * MS, 200, None, "/a"),
            (0, 429, Some(SDK), "/b"),
            (301_000 * MS, 200, Some(SDK), "/b"),
        ];
        requests.reverse();
        let log = frame(&requests);
        let options = RetryOptions::default();
        let mut delays = retry_delays(&log, &options).unwrap();
        delays.sort_by(|a, b| a.user_agent.cmp(&b.user_agent));
        let found: Vec<(Option<&str>, Vec<Duration>)> = delays
            .iter()
            .map(|d| {
                let mut v = d.delays.clone();
                v.sort();
                (d.user_agent.as_deref(), v)
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (None, vec![Duration::from_secs(2)]),
                (
                    Some(SCRIPT),
                    vec![Duration::from_millis(200), Duration::from_millis(200)]
                ),
                // Past the 5-minute horizon: not a retry.
                (Some(SDK), vec![]),
            ]
        );
        for b in retry_behaviour(&log, &options).unwrap() {
            let d = delays
                .iter()
                .find(|d| d.user_agent == b.user_agent)
                .unwrap();
            assert_eq!(d.delays.len() as u64, b.retried_429s);
        }
        assert!(
            retry_delays(&frame(&[(0, 200, Some(SDK), "/b")]), &options)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_longer_assumed_retry_after_makes_slow_retries_early() {
        let requests = [
            (0, 429, Some(SDK), "/a"),
            (2_000 * MS, 200, Some(SDK), "/a"),
        ];
        let options = RetryOptions {
            retry_after: Duration::from_secs(5),
            ..RetryOptions::default()
        };
        let b = retry_behaviour(&frame(&requests), &options).unwrap();
        assert_eq!(b[0].early_retries, 1);
        assert_eq!(behaviour(&requests)[0].early_retries, 0);
    }
}
