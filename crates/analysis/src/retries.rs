//! Detector 5, retry behaviour: after a 429, does a client wait for Retry-After, back off, and
//! spread its retries? Judged only on what the log proves, and only with enough of it.
//!
//! **Pairs.** For each 429 a client (a user agent) received on a method and path, its next request
//! with the same user agent, method and path, if sooner than [`RetryOptions::horizon`] (5
//! minutes), is the retry; its delay is the gap between the two send times. Records without a path
//! cannot be paired. Clients are reported under their consumer's name
//! ([`ConsumerKey::client_name`]: the application of `Caller/(…)`), the full user agent as a detail.
//!
//! **Early, from evidence.** The log keeps send times only, and no Retry-After. A client honouring
//! Retry-After counts it from the response, which comes after the refused request was logged, so
//! the response time can only make a compliant client look *later*, never earlier.
//! [`RetryOptions::retry_after`] is the least Retry-After the API sends (Meraki: whole seconds, at
//! least 1). A retry is early only when it was sent before Retry-After could have elapsed by any
//! reading of the log: its delay is at most Retry-After less a tolerance ([`EarlyRetryRule`]) — the
//! log's timestamp resolution (read from the log: a second, a millisecond, a microsecond) plus
//! [`RetryOptions::clock_granularity`] (16 ms, a Windows timer tick: a client's sleep may end that
//! much early). A client that waits exactly Retry-After, or longer with jitter, is never early.
//!
//! **Its own rhythm.** Pairing by call cannot tell a retry from the same call sent again by an
//! overlapping job (a poller whose cycles outlast their interval): those quick repeats follow
//! answered requests as often as refused ones. So the share of a consumer's answered requests
//! followed that soon by the same call ([`RetryBehaviour::quick_repeat_share`]) is its rhythm, and
//! only early retries beyond it count ([`RetryBehaviour::early_beyond_rhythm`]).
//!
//! **Evidence.** Nothing is said about a consumer with fewer than [`MIN_RETRIES_TO_JUDGE`] retried
//! refusals. `ignores_retry_after` needs [`MIN_EARLY_RETRIES`] early retries beyond its rhythm that
//! are at least [`IGNORES_SHARE`] of its retries; `retry_storm` ([`STORM_EARLY_RETRIES_PER_MINUTE`]
//! in one minute) and `no_backoff_growth` ([`MIN_CHAINS`] chains of repeated 429s with early
//! retries in them) are said only of a consumer that ignores Retry-After; `synchronized_retries`
//! needs [`SYNCHRONIZED_MIN_RETRIES`] first retries.
//!
//! **Harm.** Severity follows the harm done: the requests of other consumers refused in the seconds
//! in which the consumer retried early. None: `info` (it only held itself up); some: `warning`;
//! at least [`CRITICAL_HARM_REFUSALS`], or [`CRITICAL_HARM_SHARE`] of all the other consumers'
//! refusals in the window: `ignores_retry_after` is `critical`.
//!
//! **Back-off growth.** In chains of at least [`MIN_CHAIN_429S`] consecutive 429s on one call (each
//! request the retry of the one before), the ratio of each delay to the one before it; the median
//! over all chains. Exponential back-off gives about 2, none about 1. Waiting Retry-After every
//! time is no back-off but compliant: only chains with early retries are judged.
//!
//! **Jitter.** The coefficient of variation (population standard deviation / mean) of the delays
//! of first retries (after a 429 that was not itself a retry of a 429): near 0, every call waits
//! the same gap, and a crowd of such clients retries in lockstep.

use super::columns::{PairIndex, RequestColumns};
use super::consumers::{ConsumerKey, SenderLabels};
use super::findings::{Finding, FindingKind, Severity};
use super::{AnalysisError, AnalysisWindow};
use callbudget_api::text::thousands;
use callbudget_api::timestamp::{MICROS_PER_MINUTE, MICROS_PER_SECOND};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// Fewer retried refusals than this are too few to say anything about a consumer's retries.
pub const MIN_RETRIES_TO_JUDGE: u64 = 10;
/// `ignores_retry_after` needs at least this many early retries…
pub const MIN_EARLY_RETRIES: u64 = 5;
/// …that are at least this share of the consumer's retries.
pub const IGNORES_SHARE: f64 = 0.20;
/// Other consumers' refusals during its early retries that make `ignores_retry_after` critical…
pub const CRITICAL_HARM_REFUSALS: u64 = 100;
/// …as does this share of all the other consumers' refusals in the window.
pub const CRITICAL_HARM_SHARE: f64 = 0.5;
/// Early retries within one minute that make a [`FindingKind::RetryStorm`].
pub const STORM_EARLY_RETRIES_PER_MINUTE: u64 = 20;
/// The fewest consecutive 429s on one call that make a chain for back-off growth.
pub const MIN_CHAIN_429S: usize = 3;
/// The fewest chains with early retries that show whether a consumer backs off.
pub const MIN_CHAINS: u64 = 5;
/// A median growth ratio below this is no back-off.
pub const NO_BACKOFF_GROWTH_RATIO: f64 = 1.2;
/// A coefficient of variation of first-retry delays below this is synchronized…
pub const SYNCHRONIZED_MAX_CV: f64 = 0.05;
/// …given at least this many first retries.
pub const SYNCHRONIZED_MIN_RETRIES: u64 = 20;

/// What the log cannot say and the detector assumes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RetryOptions {
    /// The least Retry-After the API sends (Meraki: 1 s).
    pub retry_after: Duration,
    /// How much earlier than asked a client's sleep may end (a timer tick).
    pub clock_granularity: Duration,
    /// The longest gap after a 429 for the next request to the same call to count as its retry.
    pub horizon: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            retry_after: Duration::from_secs(1),
            clock_granularity: Duration::from_millis(16),
            horizon: Duration::from_secs(300),
        }
    }
}

/// When a retry counts as early: what an audit's log can prove (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EarlyRetryRule {
    /// The least Retry-After the API sends.
    pub retry_after_seconds: f64,
    /// The coarsest of a second, a millisecond and a microsecond that every timestamp of the log
    /// is a whole multiple of.
    pub timestamp_resolution_seconds: f64,
    /// How early a client's sleep may end.
    pub clock_granularity_seconds: f64,
    /// timestamp resolution + clock granularity.
    pub tolerance_seconds: f64,
    /// retry_after − tolerance: a retry sent at most this long after its refusal is early.
    pub early_at_most_seconds: f64,
    #[serde(skip)]
    early_at_most_us: i64,
}

impl EarlyRetryRule {
    /// The rule for a log whose timestamps are whole multiples of `resolution_us`.
    pub fn new(options: &RetryOptions, resolution_us: i64) -> Self {
        let retry_after_us = options.retry_after.as_micros() as i64;
        let tolerance_us = resolution_us + options.clock_granularity.as_micros() as i64;
        let seconds = |us: i64| us as f64 / MICROS_PER_SECOND as f64;
        EarlyRetryRule {
            retry_after_seconds: seconds(retry_after_us),
            timestamp_resolution_seconds: seconds(resolution_us),
            clock_granularity_seconds: options.clock_granularity.as_secs_f64(),
            tolerance_seconds: seconds(tolerance_us),
            early_at_most_seconds: seconds(retry_after_us - tolerance_us),
            early_at_most_us: retry_after_us - tolerance_us,
        }
    }

    /// Whether a retry `delay_us` after its refusal was sent before Retry-After could have passed.
    pub fn is_early(&self, delay_us: i64) -> bool {
        delay_us <= self.early_at_most_us
    }

    /// [`EarlyRetryRule::is_early`] for a delay.
    pub fn is_early_delay(&self, delay: Duration) -> bool {
        self.is_early(delay.as_micros() as i64)
    }

    /// "a 17 ms tolerance: timestamps to the millisecond, a 16 ms timer tick".
    pub fn tolerance_text(&self) -> String {
        let resolution = match (self.timestamp_resolution_seconds * 1e6).round() as i64 {
            1 => "the microsecond",
            1_000 => "the millisecond",
            _ => "the second",
        };
        format!(
            "a {} tolerance: timestamps to {resolution}, a {} timer tick",
            milliseconds(self.tolerance_seconds),
            milliseconds(self.clock_granularity_seconds)
        )
    }
}

/// "17 ms", "16.001 ms", "1,016 ms".
fn milliseconds(seconds: f64) -> String {
    let ms = seconds * 1_000.0;
    if (ms - ms.round()).abs() < 1e-9 {
        format!("{} ms", thousands(ms.round() as u64))
    } else {
        format!("{ms:.3} ms")
    }
}

/// How one consumer retried after 429s.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryBehaviour {
    /// The consumer's name ([`ConsumerKey::client_name`]); `None` for records without a user agent.
    pub consumer: Option<String>,
    /// The full user agent behind most of its 429s (a detail: one application may send several).
    pub user_agent: Option<String>,
    pub http_429s: u64,
    /// 429s followed by a retry.
    pub retried_429s: u64,
    /// Retries sent before Retry-After could have passed ([`EarlyRetryRule`]), as paired.
    pub early_retries: u64,
    /// early_retries / retried_429s (0 without retries).
    pub early_share: f64,
    /// Of its answered (not refused) requests followed by another of the same call, the share
    /// followed that soon: its own rhythm (overlapping jobs, duplicates), not a reaction to 429s.
    pub quick_repeat_share: f64,
    /// early_retries beyond that rhythm: `early_retries − quick_repeat_share × retried_429s`,
    /// rounded, at least 0. What `ignores_retry_after` judges.
    pub early_beyond_rhythm: u64,
    pub median_delay_seconds: Option<f64>,
    /// Chains of at least [`MIN_CHAIN_429S`] consecutive 429s on one call.
    pub chains: u64,
    /// The median ratio of a chain's delay to the delay before it; `None` without chains.
    pub median_growth_ratio: Option<f64>,
    /// Of `chains`, those with at least one early retry: the ones back-off growth is judged on.
    pub early_chains: u64,
    /// The median growth ratio over `early_chains`; `None` without them.
    pub early_chain_growth_ratio: Option<f64>,
    pub first_retries: u64,
    /// Coefficient of variation of first-retry delays; `None` with fewer than two or a zero mean.
    pub first_retry_delay_cv: Option<f64>,
    /// The most early retries beyond its rhythm in one calendar minute, and that minute.
    pub peak_early_retries_per_minute: u64,
    #[serde(serialize_with = "canonical_option")]
    pub peak_minute: Option<DateTime<Utc>>,
    /// Requests of other consumers refused in the seconds of its early retries: the harm done.
    pub others_refused_during_early_retries: u64,
    /// The same, in the seconds of its early retries within `peak_minute`.
    pub others_refused_in_peak_minute: u64,
    /// Every refusal of the other consumers in the window, for scale.
    pub others_refused_in_window: u64,
}

impl RetryBehaviour {
    fn name(&self) -> &str {
        self.consumer.as_deref().unwrap_or("(no user agent)")
    }

    /// Whether there are enough retried refusals to say anything.
    pub fn judged(&self) -> bool {
        self.retried_429s >= MIN_RETRIES_TO_JUDGE
    }

    /// Whether the evidence says it does not wait for Retry-After: enough early retries beyond
    /// its own rhythm of repeating calls.
    pub fn ignores_retry_after(&self) -> bool {
        self.judged()
            && self.early_beyond_rhythm >= MIN_EARLY_RETRIES
            && self.early_beyond_rhythm as f64 >= IGNORES_SHARE * self.retried_429s as f64
    }
}

/// What the retry detector found over an audit's log: the rule it judged by, and each consumer
/// that received a 429.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryAnalysis {
    pub rule: EarlyRetryRule,
    /// Most early retries first (then by name, records without a user agent last).
    pub behaviours: Vec<RetryBehaviour>,
}

/// The retry behaviour of every consumer that received a 429 (consumers named as `key` names
/// clients), judged by the [`EarlyRetryRule`] the log allows.
pub fn retry_behaviour(
    log: &RequestColumns,
    key: ConsumerKey,
    options: &RetryOptions,
) -> Result<RetryAnalysis, AnalysisError> {
    Ok(retries_of(log, key, options).analysis)
}

/// What the retry detector reads off a log: its analysis, and the delays it paired, by consumer
/// (the report's histograms).
pub(crate) struct Retries {
    pub analysis: RetryAnalysis,
    pub delays: Vec<RetryDelays>,
}

/// [`retry_behaviour`] and [`retry_delays`] of the log's columns, in one pass over its calls.
///
/// Each request's call (user agent, method, path) is a pair id of its sender's user agent and its
/// endpoint's method and path; the rows are then grouped by call with a counting sort (4 bytes a
/// row), each call's rows staying in time order.
pub(crate) fn retries_of(
    log: &RequestColumns,
    key: ConsumerKey,
    options: &RetryOptions,
) -> Retries {
    let names = SenderLabels::new(log, |s| {
        s.user_agent.as_deref().map(|ua| key.client_name(ua))
    });
    let agents = SenderLabels::new(log, |s| s.user_agent.as_deref());
    // Each endpoint's (method, path); none without a path, which belongs to no call.
    let mut method_paths: HashMap<(Option<&str>, &str), u32> = HashMap::new();
    let method_path: Vec<Option<u32>> = log
        .endpoints
        .iter()
        .map(|e| {
            let path = e.path.as_deref()?;
            let next = method_paths.len() as u32;
            Some(
                *method_paths
                    .entry((e.method.as_deref(), path))
                    .or_insert(next),
            )
        })
        .collect();
    let none_slot = names.names.len();
    let no_agent = agents.names.len() as u32;
    let call_of = |calls: &mut PairIndex, row: usize| -> Option<u32> {
        let sender = log.sender[row];
        let method_path = method_path[log.endpoint[row] as usize]?;
        let agent = agents.id(sender).unwrap_or(no_agent);
        Some(calls.id(agent, method_path))
    };

    // Every refusal as (second, consumer), for the harm done; 429s per sender; each call's
    // consumer and requests; and the coarsest unit all timestamps are whole multiples of.
    let mut refusals: Vec<(i64, Option<u32>)> = Vec::new();
    let mut refused_by_sender = vec![0u64; log.senders.len()];
    let mut calls = PairIndex::new(agents.names.len() + 1, method_paths.len());
    let mut call_consumers: Vec<Option<u32>> = Vec::new();
    let mut call_rows: Vec<u32> = Vec::new();
    let mut call_refused: Vec<bool> = Vec::new();
    let mut resolution_us = MICROS_PER_SECOND;
    for (row, &ts) in log.ts_us.iter().enumerate() {
        // Logs keep whole seconds, milliseconds or microseconds; a run of round values in a
        // microsecond log is chance, not a unit.
        while resolution_us > 1 && ts.rem_euclid(resolution_us) != 0 {
            resolution_us /= 1_000;
        }
        let sender = log.sender[row];
        let is_429 = log.refused(row);
        if is_429 {
            refusals.push((ts.div_euclid(MICROS_PER_SECOND), names.id(sender)));
            refused_by_sender[sender as usize] += 1;
        }
        if let Some(call) = call_of(&mut calls, row) {
            let call = call as usize;
            if call == call_consumers.len() {
                call_consumers.push(names.id(sender));
                call_rows.push(0);
                call_refused.push(false);
            }
            call_rows[call] += 1;
            call_refused[call] |= is_429;
        }
    }
    refusals.sort_unstable_by_key(|r| r.0);
    let rule = EarlyRetryRule::new(options, resolution_us);

    // Per consumer slot (the last: records without a user agent): its 429s, and by user agent.
    let mut refused: Vec<u64> = vec![0; none_slot + 1];
    let mut refused_agents: Vec<HashMap<&str, u64>> = vec![HashMap::new(); none_slot + 1];
    for (sender, &n) in refused_by_sender.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let slot = names.slot(sender as u32);
        refused[slot] += n;
        if let Some(agent) = log.senders[sender].user_agent.as_deref() {
            *refused_agents[slot].entry(agent).or_default() += n;
        }
    }
    let slot_of = |consumer: Option<u32>| consumer.map_or(none_slot, |id| id as usize);

    // The requests (time, refused) of each call of a consumer that was refused (the others are
    // not reported), in time order, one call after the other: copied out of the log in one
    // sequential pass, so that following a call reads memory in order, not row by scattered row.
    let mut starts: Vec<usize> = Vec::with_capacity(call_rows.len() + 1);
    let mut next = 0usize;
    for (call, &rows) in call_rows.iter().enumerate() {
        starts.push(next);
        if refused[slot_of(call_consumers[call])] > 0 {
            next += rows as usize;
        }
    }
    starts.push(next);
    let mut sent_by_call = vec![0i64; next];
    let mut refused_by_call = vec![false; next];
    let mut filled = starts.clone();
    for row in 0..log.len() {
        if let Some(call) = call_of(&mut calls, row) {
            let call = call as usize;
            let at = filled[call];
            if at < starts[call + 1] {
                sent_by_call[at] = log.ts_us[row];
                refused_by_call[at] = log.refused(row);
                filled[call] += 1;
            }
        }
    }
    drop(filled);

    let horizon = options.horizon.as_micros() as i64;
    let mut stats: Vec<Stats> = (0..=none_slot).map(|_| Stats::default()).collect();
    for (call, consumer) in call_consumers.iter().enumerate() {
        let (sent, was_refused) = (
            &sent_by_call[starts[call]..starts[call + 1]],
            &refused_by_call[starts[call]..starts[call + 1]],
        );
        let s = &mut stats[slot_of(*consumer)];
        let request = |i: usize| (sent[i], was_refused[i]);
        // delay after request i, if request i got a 429 and was retried in time
        let delay = |i: usize| -> Option<i64> {
            let (ts, is_429) = request(i);
            let (next, _) = (i + 1 < sent.len()).then(|| request(i + 1))?;
            (is_429 && next - ts < horizon).then_some(next - ts)
        };
        let mut chain = Chain::default();
        for i in 0..sent.len() {
            let (ts, is_429) = request(i);
            // How soon an answered request's call is sent again: the client's own rhythm.
            if !is_429 && i + 1 < sent.len() {
                let (next, _) = request(i + 1);
                if next - ts < horizon {
                    s.repeats += 1;
                    s.quick_repeats += u64::from(rule.is_early(next - ts));
                }
            }
            let continues_chain = i > 0 && delay(i - 1).is_some();
            if !continues_chain {
                s.close_chain(&chain);
                chain = Chain::default();
            }
            if is_429 {
                chain.refused += 1;
            }
            let Some(d) = delay(i) else {
                continue;
            };
            chain.delays.push(d);
            s.delays.push(d);
            if !continues_chain {
                s.first_delays.push(d);
            }
            let (retried_at, _) = request(i + 1);
            let minute = s
                .per_minute
                .entry(retried_at.div_euclid(MICROS_PER_MINUTE))
                .or_default();
            minute.retried += 1;
            if rule.is_early(d) {
                chain.early = true;
                minute.early += 1;
                s.early_seconds
                    .push(retried_at.div_euclid(MICROS_PER_SECOND));
                s.early += 1;
            }
        }
        s.close_chain(&chain);
    }
    drop((sent_by_call, refused_by_call));

    // The delays of every consumer with a refused call, for the histograms.
    let mut with_refused_call = vec![false; none_slot + 1];
    for (call, consumer) in call_consumers.iter().enumerate() {
        with_refused_call[slot_of(*consumer)] |= call_refused[call];
    }
    let consumer_name = |slot: usize| names.names.get(slot).cloned();
    let delays = with_refused_call
        .iter()
        .enumerate()
        .filter(|&(_, &with)| with)
        .map(|(slot, _)| RetryDelays {
            consumer: consumer_name(slot),
            delays: stats[slot]
                .delays
                .iter()
                .map(|&d| Duration::from_micros(d as u64))
                .collect(),
        })
        .collect();

    let mut behaviours: Vec<RetryBehaviour> = refused
        .iter()
        .enumerate()
        .filter(|&(_, &http_429s)| http_429s > 0)
        .map(|(slot, &http_429s)| {
            let consumer = (slot < none_slot).then_some(slot as u32);
            let s = &mut stats[slot];
            let retried = s.delays.len() as u64;
            let rhythm = if s.repeats == 0 {
                0.0
            } else {
                s.quick_repeats as f64 / s.repeats as f64
            };
            let beyond = |early: u64, retried: u64| {
                (early as f64 - rhythm * retried as f64).max(0.0).round() as u64
            };
            let peak = s
                .per_minute
                .iter()
                .map(|(&minute, m)| (minute, beyond(m.early, m.retried)))
                .filter(|&(_, n)| n > 0)
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            s.early_seconds.sort_unstable();
            s.early_seconds.dedup();
            let harm = others_refused(&refusals, &s.early_seconds, consumer);
            let harm_in_peak = peak.map_or(0, |(minute, _)| {
                let seconds_per_minute = MICROS_PER_MINUTE / MICROS_PER_SECOND;
                let first = minute * seconds_per_minute;
                let from = s.early_seconds.partition_point(|&t| t < first);
                let to = s
                    .early_seconds
                    .partition_point(|&t| t < first + seconds_per_minute);
                others_refused(&refusals, &s.early_seconds[from..to], consumer)
            });
            let user_agent = refused_agents[slot]
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(ua, _)| (*ua).to_owned());
            RetryBehaviour {
                consumer: consumer_name(slot),
                user_agent,
                http_429s,
                retried_429s: retried,
                early_retries: s.early,
                early_share: if retried == 0 {
                    0.0
                } else {
                    s.early as f64 / retried as f64
                },
                quick_repeat_share: rhythm,
                early_beyond_rhythm: beyond(s.early, retried),
                median_delay_seconds: median(
                    &mut s.delays.iter().map(|&d| d as f64).collect::<Vec<_>>(),
                )
                .map(|m| m / 1e6),
                chains: s.chains,
                median_growth_ratio: median(&mut s.ratios),
                early_chains: s.early_chains,
                early_chain_growth_ratio: median(&mut s.early_ratios),
                first_retries: s.first_delays.len() as u64,
                first_retry_delay_cv: coefficient_of_variation(&s.first_delays),
                peak_early_retries_per_minute: peak.map_or(0, |(_, n)| n),
                peak_minute: peak
                    .map(|(m, _)| callbudget_api::timestamp::from_micros(m * MICROS_PER_MINUTE)),
                others_refused_during_early_retries: harm,
                others_refused_in_peak_minute: harm_in_peak,
                others_refused_in_window: (refusals.len() as u64).saturating_sub(http_429s),
            }
        })
        .collect();
    behaviours.sort_by(|a, b| {
        b.early_beyond_rhythm
            .cmp(&a.early_beyond_rhythm)
            .then(b.early_retries.cmp(&a.early_retries))
            .then_with(|| match (&a.consumer, &b.consumer) {
                (Some(a), Some(b)) => a.cmp(b),
                (a, b) => b.is_none().cmp(&a.is_none()).reverse(),
            })
    });
    Retries {
        analysis: RetryAnalysis { rule, behaviours },
        delays,
    }
}

/// Refusals of consumers other than `own` in `seconds` (sorted, distinct); `refusals` is every
/// refusal as (second, consumer), sorted by second.
fn others_refused(refusals: &[(i64, Option<u32>)], seconds: &[i64], own: Option<u32>) -> u64 {
    let mut harm = 0;
    for &second in seconds {
        let from = refusals.partition_point(|r| r.0 < second);
        harm += refusals[from..]
            .iter()
            .take_while(|r| r.0 == second)
            .filter(|r| r.1 != own)
            .count() as u64;
    }
    harm
}

/// One consumer's retries after 429s: the delay of each, paired as [`retry_behaviour`] pairs
/// them (for the report's delay histograms).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryDelays {
    /// As [`RetryBehaviour::consumer`]; `None` for records without a user agent.
    pub consumer: Option<String>,
    pub delays: Vec<Duration>,
}

/// The delay of every retry after a 429, by consumer (in no particular order), paired as
/// [`retry_behaviour`] pairs them: one entry per consumer with a call that received a 429.
pub fn retry_delays(
    log: &RequestColumns,
    key: ConsumerKey,
    options: &RetryOptions,
) -> Result<Vec<RetryDelays>, AnalysisError> {
    Ok(retries_of(log, key, options).delays)
}

/// The severity of a finding about early retries that refused others `harm` times: none is only
/// information, some a warning.
fn harm_severity(harm: u64) -> Severity {
    if harm == 0 {
        Severity::Info
    } else {
        Severity::Warning
    }
}

/// "Other consumers were refused 58 times in the seconds of those early retries (of their 62
/// refusals in the window)." — or that they were not.
fn harm_sentence(harm: u64, retries: &str, others_in_window: u64) -> String {
    let of_all = format!(
        "of their {} refusal{} in the window",
        thousands(others_in_window),
        if others_in_window == 1 { "" } else { "s" }
    );
    match harm {
        0 => format!("No other consumer was refused in the seconds of {retries}."),
        1 => format!("Other consumers were refused once in the seconds of {retries} ({of_all})."),
        n => format!(
            "Other consumers were refused {} times in the seconds of {retries} ({of_all}).",
            thousands(n)
        ),
    }
}

/// The findings of each consumer's retry behaviour over `window` (see the module docs for the
/// evidence each needs and how severe each is).
pub fn retry_findings(analysis: &RetryAnalysis, window: &AnalysisWindow) -> Vec<Finding> {
    let rule = &analysis.rule;
    let mut findings = Vec::new();
    for b in analysis.behaviours.iter().filter(|b| b.judged()) {
        let name = b.name();
        let finding = |kind, severity, start, end, summary, mut metrics: serde_json::Value| {
            metrics["user_agent"] = serde_json::json!(b.user_agent);
            Finding {
                kind,
                severity,
                consumer: b.consumer.clone(),
                start,
                end,
                summary,
                metrics,
            }
        };
        let harm = b.others_refused_during_early_retries;
        let ignores = b.ignores_retry_after();
        if ignores {
            let most_of_the_others =
                harm as f64 >= CRITICAL_HARM_SHARE * b.others_refused_in_window as f64;
            let severity = if harm > 0 && (harm >= CRITICAL_HARM_REFUSALS || most_of_the_others) {
                Severity::Critical
            } else {
                harm_severity(harm)
            };
            let rhythm = if b.early_beyond_rhythm < b.early_retries {
                format!(
                    " It sends {:.0} % of its calls again that soon after an answer too; that \
                     many of the quick retries are left out as its own rhythm.",
                    b.quick_repeat_share * 100.0
                )
            } else {
                String::new()
            };
            findings.push(finding(
                FindingKind::IgnoresRetryAfter,
                severity,
                window.start,
                window.end,
                format!(
                    "{name} retried {} of its {} refused calls before Retry-After could have passed \
                     ({:.0} %). Each of those retries came at most {:.3} s after its refusal, \
                     where Retry-After is at least {} s ({}).{rhythm} {}",
                    thousands(b.early_beyond_rhythm),
                    thousands(b.retried_429s),
                    b.early_beyond_rhythm as f64 / b.retried_429s as f64 * 100.0,
                    rule.early_at_most_seconds,
                    rule.retry_after_seconds,
                    rule.tolerance_text(),
                    harm_sentence(harm, "those early retries", b.others_refused_in_window)
                ),
                serde_json::json!({
                    "retried_429s": b.retried_429s,
                    "early_retries": b.early_retries,
                    "early_beyond_rhythm": b.early_beyond_rhythm,
                    "quick_repeat_share": b.quick_repeat_share,
                    "early_share": b.early_share,
                    "median_delay_seconds": b.median_delay_seconds,
                    "others_refused_during_early_retries": harm,
                    "others_refused_in_window": b.others_refused_in_window,
                    "retry_after_seconds": rule.retry_after_seconds,
                    "tolerance_seconds": rule.tolerance_seconds,
                    "timestamp_resolution_seconds": rule.timestamp_resolution_seconds,
                    "clock_granularity_seconds": rule.clock_granularity_seconds,
                    "early_at_most_seconds": rule.early_at_most_seconds,
                }),
            ));
        }
        if let Some(minute) = b.peak_minute
            && ignores
            && b.peak_early_retries_per_minute >= STORM_EARLY_RETRIES_PER_MINUTE
        {
            let harm = b.others_refused_in_peak_minute;
            findings.push(finding(
                FindingKind::RetryStorm,
                harm_severity(harm),
                minute,
                minute + chrono::TimeDelta::minutes(1),
                format!(
                    "{name} sent {} retries before Retry-After could have passed in the minute from \
                     {} UTC. {}",
                    thousands(b.peak_early_retries_per_minute),
                    minute.format("%Y-%m-%d %H:%M"),
                    harm_sentence(harm, "those retries", b.others_refused_in_window)
                ),
                serde_json::json!({
                    "early_retries_in_minute": b.peak_early_retries_per_minute,
                    "early_retries": b.early_retries,
                    "others_refused_in_minute": harm,
                }),
            ));
        }
        if let Some(ratio) = b.early_chain_growth_ratio
            && ignores
            && b.early_chains >= MIN_CHAINS
            && ratio < NO_BACKOFF_GROWTH_RATIO
        {
            findings.push(finding(
                FindingKind::NoBackoffGrowth,
                harm_severity(harm),
                window.start,
                window.end,
                format!(
                    "{name} does not back off: in {} chains of {MIN_CHAIN_429S} or more refusals of \
                     one call with early retries, each delay was a median {ratio:.2} times the one \
                     before. {}",
                    thousands(b.early_chains),
                    harm_sentence(harm, "its early retries", b.others_refused_in_window)
                ),
                serde_json::json!({
                    "early_chains": b.early_chains,
                    "median_growth_ratio": ratio,
                    "others_refused_during_early_retries": harm,
                }),
            ));
        }
        if let Some(cv) = b.first_retry_delay_cv
            && b.first_retries >= SYNCHRONIZED_MIN_RETRIES
            && cv < SYNCHRONIZED_MAX_CV
        {
            // Waiting Retry-After to the millisecond is compliant; only in a crowd does the lack
            // of jitter matter, so alone it is information.
            let severity = if ignores {
                harm_severity(harm)
            } else {
                Severity::Info
            };
            findings.push(finding(
                FindingKind::SynchronizedRetries,
                severity,
                window.start,
                window.end,
                format!(
                    "{name} waits the same time after every refusal (no jitter): its {} first \
                     retries have a coefficient of variation of {cv:.3}. Clients that wait alike \
                     retry together; a random part in the wait spreads them.",
                    thousands(b.first_retries)
                ),
                serde_json::json!({ "first_retries": b.first_retries, "delay_cv": cv }),
            ));
        }
    }
    findings
}

/// A run of requests on one call, each the retry of a refused one before it.
#[derive(Default)]
struct Chain {
    /// µs
    delays: Vec<i64>,
    refused: usize,
    /// Whether one of its retries was early.
    early: bool,
}

#[derive(Default)]
struct MinuteRetries {
    retried: u64,
    early: u64,
}

#[derive(Default)]
struct Stats {
    /// µs
    delays: Vec<i64>,
    first_delays: Vec<i64>,
    early: u64,
    /// Retries and early retries, by the minute (since the epoch) the retry was sent in (looked
    /// up once per retry: foldhash, not SipHash, for keys we computed ourselves).
    per_minute: HashMap<i64, MinuteRetries, foldhash::fast::RandomState>,
    /// Answered requests followed by another of the same call within the horizon, and of those
    /// the ones followed before Retry-After could have passed.
    repeats: u64,
    quick_repeats: u64,
    /// The second (since the epoch) each early retry was sent in.
    early_seconds: Vec<i64>,
    chains: u64,
    ratios: Vec<f64>,
    early_chains: u64,
    early_ratios: Vec<f64>,
}

impl Stats {
    /// Records a chain of retries if it followed at least [`MIN_CHAIN_429S`] consecutive 429s.
    fn close_chain(&mut self, chain: &Chain) {
        if chain.refused < MIN_CHAIN_429S {
            return;
        }
        let ratios = chain
            .delays
            .windows(2)
            .filter(|w| w[0] > 0)
            .map(|w| w[1] as f64 / w[0] as f64);
        self.chains += 1;
        if chain.early {
            self.early_chains += 1;
            self.early_ratios.extend(ratios.clone());
        }
        self.ratios.extend(ratios);
    }
}

fn canonical_option<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&callbudget_api::timestamp::format(t)),
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
    use crate::fixtures::{self, request};
    use chrono::TimeDelta;

    const MS: i64 = 1_000;
    const SECOND: i64 = 1_000_000;
    const SCRIPT: &str = "PortPusher/0.9";
    const SDK: &str = "python-meraki/4.7.0 Caller/(Sync/1)";
    const SDK_OLD: &str = "python-meraki/4.6.0 Caller/(Sync/1)";
    const POLLER: &str = "python-meraki/4.7.0 Caller/(Poller/2)";

    fn t0() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-19T09:00:00Z").unwrap()
    }

    /// (offset µs from 09:00, response code, user agent, path)
    type Req<'a> = (i64, u16, Option<&'a str>, &'a str);

    fn request_log(requests: &[Req<'_>]) -> RequestColumns {
        fixtures::log(requests.iter().map(|&(offset, code, user_agent, path)| {
            request(t0().timestamp_micros() + offset)
                .status(code)
                .method("PUT")
                .path(path)
                .user_agent(user_agent)
        }))
    }

    fn analysis(requests: &[Req<'_>]) -> RetryAnalysis {
        retry_behaviour(
            &request_log(requests),
            ConsumerKey::Application,
            &RetryOptions::default(),
        )
        .unwrap()
    }

    fn behaviour(requests: &[Req<'_>]) -> Vec<RetryBehaviour> {
        analysis(requests).behaviours
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(1)).unwrap()
    }

    fn judged(requests: &[Req<'_>]) -> Vec<(FindingKind, Severity, Option<String>)> {
        retry_findings(&analysis(requests), &window())
            .into_iter()
            .map(|f| (f.kind, f.severity, f.consumer))
            .collect()
    }

    /// `calls` calls of `agent` on their own paths, each refused at `start + i × spacing` and
    /// retried `delays[i % len]` later (admitted).
    fn refused_and_retried(
        agent: &'static str,
        calls: usize,
        start: i64,
        spacing: i64,
        delays: &[i64],
    ) -> Vec<(i64, u16, Option<&'static str>, String)> {
        (0..calls)
            .flat_map(|i| {
                let at = start + i as i64 * spacing;
                let path = format!("/{agent}/{i}");
                [
                    (at, 429, Some(agent), path.clone()),
                    (at + delays[i % delays.len()], 200, Some(agent), path),
                ]
            })
            .collect()
    }

    fn borrowed<'a>(owned: &'a [(i64, u16, Option<&'static str>, String)]) -> Vec<Req<'a>> {
        owned
            .iter()
            .map(|(t, c, a, p)| (*t, *c, *a, p.as_str()))
            .collect()
    }

    #[test]
    fn an_empty_window_has_no_behaviour_or_findings() {
        assert_eq!(behaviour(&[]), vec![]);
        assert_eq!(judged(&[]), vec![]);
    }

    #[test]
    fn one_refused_request_without_a_retry() {
        let b = behaviour(&[(0, 429, Some(SCRIPT), "/a")]);
        assert_eq!(
            b,
            vec![RetryBehaviour {
                consumer: Some(SCRIPT.into()),
                user_agent: Some(SCRIPT.into()),
                http_429s: 1,
                retried_429s: 0,
                early_retries: 0,
                early_share: 0.0,
                quick_repeat_share: 0.0,
                early_beyond_rhythm: 0,
                median_delay_seconds: None,
                chains: 0,
                median_growth_ratio: None,
                early_chains: 0,
                early_chain_growth_ratio: None,
                first_retries: 0,
                first_retry_delay_cv: None,
                peak_early_retries_per_minute: 0,
                peak_minute: None,
                others_refused_during_early_retries: 0,
                others_refused_in_peak_minute: 0,
                others_refused_in_window: 0,
            }]
        );
    }

    #[test]
    fn one_chain_of_early_429s_listed_out_of_order_is_too_little_to_judge() {
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
        assert_eq!((b.early_chains, b.early_chain_growth_ratio), (1, Some(1.0)));
        assert_eq!((b.first_retries, b.first_retry_delay_cv), (1, None));
        assert_eq!(b.peak_early_retries_per_minute, 3);
        assert_eq!(b.peak_minute, Some(t0()));
        // Three retries and one chain: no finding says anything from so little.
        assert!(!b.judged());
        assert_eq!(
            retry_findings(
                &RetryAnalysis {
                    rule: EarlyRetryRule::new(&RetryOptions::default(), 1),
                    behaviours: vec![b.clone()],
                },
                &window()
            ),
            vec![]
        );
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
            .map(|b| (b.consumer.as_deref(), b.retried_429s, b.early_retries))
            .collect();
        assert_eq!(summary, vec![(Some(SCRIPT), 0, 0), (None, 1, 0)]);
        assert_eq!(b[1].median_delay_seconds, Some(2.0));
        assert_eq!(b[1].user_agent, None);
    }

    #[test]
    fn a_client_that_waits_exactly_retry_after_is_compliant_and_only_told_about_jitter() {
        // 30 refusals, each retried exactly 1 s later (an answer in no time at all): never early,
        // whatever the response time was. Identical gaps: information about jitter, nothing more.
        let owned = refused_and_retried(POLLER, 30, 0, 2 * SECOND, &[SECOND]);
        let requests = borrowed(&owned);
        let b = &behaviour(&requests)[0];
        assert_eq!((b.retried_429s, b.early_retries), (30, 0));
        assert_eq!(
            judged(&requests),
            vec![(
                FindingKind::SynchronizedRetries,
                Severity::Info,
                Some("Poller/2".to_owned())
            )]
        );
    }

    #[test]
    fn a_jittered_client_waiting_one_to_two_seconds_is_never_flagged() {
        let delays: Vec<i64> = (0..40).map(|i| SECOND + i * 25 * MS).collect();
        let owned = refused_and_retried(SDK, 40, 0, 3 * SECOND, &delays);
        let requests = borrowed(&owned);
        assert_eq!(behaviour(&requests)[0].early_retries, 0);
        assert_eq!(judged(&requests), vec![]);
    }

    #[test]
    fn early_is_what_the_timestamps_prove_within_their_resolution_and_a_timer_tick() {
        // Microsecond timestamps: a 16.001 ms tolerance, so 983.999 ms is early and 984 ms is not.
        let micro = analysis(&[
            (1, 429, Some(SCRIPT), "/a"),
            (1 + 983_999, 200, Some(SCRIPT), "/a"),
            (1, 429, Some(SCRIPT), "/b"),
            (1 + 984_000, 200, Some(SCRIPT), "/b"),
        ]);
        assert_eq!(micro.rule.timestamp_resolution_seconds, 0.000_001);
        assert_eq!(micro.rule.tolerance_seconds, 0.016_001);
        assert_eq!(micro.behaviours[0].early_retries, 1);
        assert_eq!(
            micro.rule.tolerance_text(),
            "a 16.001 ms tolerance: timestamps to the microsecond, a 16 ms timer tick"
        );
        // Millisecond timestamps: 17 ms, so 983 ms is early and 984 ms is not.
        let milli = analysis(&[
            (0, 429, Some(SCRIPT), "/a"),
            (983 * MS, 200, Some(SCRIPT), "/a"),
            (0, 429, Some(SCRIPT), "/b"),
            (984 * MS, 200, Some(SCRIPT), "/b"),
        ]);
        assert_eq!(milli.rule.early_at_most_seconds, 0.983);
        assert_eq!(milli.behaviours[0].early_retries, 1);
        assert_eq!(
            milli.rule.tolerance_text(),
            "a 17 ms tolerance: timestamps to the millisecond, a 16 ms timer tick"
        );
        // Whole seconds: a retry 0 s after its refusal may have come 999 ms later, and a 16 ms
        // tick earlier still could be compliant with 1 s: nothing can be proven early.
        let seconds = analysis(&[(0, 429, Some(SCRIPT), "/a"), (0, 200, Some(SCRIPT), "/a")]);
        assert_eq!(seconds.rule.timestamp_resolution_seconds, 1.0);
        assert_eq!(seconds.behaviours[0].early_retries, 0);
    }

    #[test]
    fn severity_follows_the_refusals_of_others_during_the_early_retries() {
        // A script retries 30 refused calls 200 ms later, one call every 10 s.
        let script = refused_and_retried(SCRIPT, 30, 0, 10 * SECOND, &[200 * MS]);
        // Alone, it held up only itself.
        let alone = borrowed(&script);
        assert_eq!(
            judged(&alone)
                .into_iter()
                .map(|(k, s, _)| (k, s))
                .collect::<Vec<_>>(),
            vec![
                (FindingKind::IgnoresRetryAfter, Severity::Info),
                (FindingKind::SynchronizedRetries, Severity::Info),
            ]
        );
        let b = &behaviour(&alone)[0];
        assert_eq!(b.others_refused_during_early_retries, 0);

        // An SDK app refused 4 times in the second of each early retry: 120 refusals of others.
        let mut busy = script.clone();
        for i in 0..30 {
            for k in 0..4 {
                busy.push((
                    i * 10 * SECOND + 500 * MS + k,
                    429,
                    Some(SDK),
                    format!("/sdk/{i}/{k}"),
                ));
            }
        }
        let busy = borrowed(&busy);
        let b = behaviour(&busy);
        let script_b = b
            .iter()
            .find(|b| b.consumer.as_deref() == Some(SCRIPT))
            .unwrap();
        assert_eq!(script_b.others_refused_during_early_retries, 120);
        let findings = retry_findings(&analysis(&busy), &window());
        let ignores = findings
            .iter()
            .find(|f| f.kind == FindingKind::IgnoresRetryAfter)
            .unwrap();
        assert_eq!(ignores.severity, Severity::Critical);
        assert_eq!(
            ignores.summary,
            "PortPusher/0.9 retried 30 of its 30 refused calls before Retry-After could have \
             passed (100 %). Each of those retries came at most 0.984 s after its refusal, where \
             Retry-After is at least 1 s (a 16.001 ms tolerance: timestamps to the microsecond, a \
             16 ms timer tick). Other consumers were refused 120 times in the seconds of those \
             early retries (of their 120 refusals in the window)."
        );
        // The SDK's refusals were never retried: nothing is said about it.
        assert!(
            findings
                .iter()
                .all(|f| f.consumer.as_deref() == Some(SCRIPT))
        );

        // Three refusals of others during its early retries: critical when they are most of the
        // others' refusals in the window, a warning when they are a few of many.
        let severity_with = |elsewhere: i64| {
            let mut requests = script.clone();
            for i in 0..3 {
                requests.push((
                    i * 10 * SECOND + 500 * MS,
                    429,
                    Some(SDK),
                    format!("/x/{i}"),
                ));
            }
            for i in 0..elsewhere {
                requests.push((
                    5 * SECOND + i * 10 * SECOND,
                    429,
                    Some(SDK),
                    format!("/y/{i}"),
                ));
            }
            retry_findings(&analysis(&borrowed(&requests)), &window())
                .into_iter()
                .find(|f| f.kind == FindingKind::IgnoresRetryAfter)
                .map(|f| (f.severity, f.metrics["others_refused_in_window"].clone()))
                .unwrap()
        };
        assert_eq!(severity_with(1), (Severity::Critical, serde_json::json!(4)));
        assert_eq!(severity_with(7), (Severity::Warning, serde_json::json!(10)));
    }

    #[test]
    fn too_few_retries_or_chains_say_nothing() {
        // Nine early retries: one short of judging.
        let owned = refused_and_retried(SCRIPT, 9, 0, 10 * SECOND, &[100 * MS]);
        assert_eq!(judged(&borrowed(&owned)), vec![]);
        // Ten calls, each refused three times 100 ms apart: ten early chains without growth.
        let chains = |calls: usize| -> Vec<(i64, u16, Option<&'static str>, String)> {
            (0..calls)
                .flat_map(|i| {
                    let at = i as i64 * 10 * SECOND;
                    let path = format!("/c/{i}");
                    [0, 1, 2]
                        .map(|k| (at + k * 100 * MS, 429, Some(SCRIPT), path.clone()))
                        .into_iter()
                        .chain([(at + 300 * MS, 200, Some(SCRIPT), path.clone())])
                })
                .collect()
        };
        let kinds = |owned: &[(i64, u16, Option<&'static str>, String)]| -> Vec<FindingKind> {
            judged(&borrowed(owned))
                .into_iter()
                .map(|(k, _, _)| k)
                .collect()
        };
        // Four chains (12 retries): enough to judge the waiting, not the back-off.
        assert!(!kinds(&chains(4)).contains(&FindingKind::NoBackoffGrowth));
        assert!(kinds(&chains(4)).contains(&FindingKind::IgnoresRetryAfter));
        assert!(kinds(&chains(5)).contains(&FindingKind::NoBackoffGrowth));
    }

    #[test]
    fn waiting_retry_after_each_time_is_no_backoff_but_compliant() {
        // Ten calls refused three times, each retry exactly Retry-After later: chains without
        // growth, but none with an early retry.
        let owned: Vec<_> = (0..10)
            .flat_map(|i| {
                let at = i as i64 * 10 * SECOND;
                let path = format!("/c/{i}");
                [0, 1, 2]
                    .map(|k| (at + k * SECOND, 429, Some(POLLER), path.clone()))
                    .into_iter()
                    .chain([(at + 3 * SECOND, 200, Some(POLLER), path.clone())])
            })
            .collect();
        let b = &behaviour(&borrowed(&owned))[0];
        assert_eq!((b.retried_429s, b.early_retries), (30, 0));
        assert_eq!((b.chains, b.median_growth_ratio), (10, Some(1.0)));
        assert_eq!((b.early_chains, b.early_chain_growth_ratio), (0, None));
        // Ten first retries are too few to speak of jitter either.
        assert_eq!(judged(&borrowed(&owned)), vec![]);
    }

    #[test]
    fn quick_repeats_that_are_the_clients_own_rhythm_are_not_early_retries() {
        // On each of 40 calls: refused, then the same call 0.3 s later (another of its jobs),
        // then again 0.3 s after that; the retry of the refusal cannot be told from the repeat.
        let requests = |last_repeat: bool| -> Vec<(i64, u16, Option<&'static str>, String)> {
            (0..40)
                .flat_map(|i| {
                    let at = i as i64 * 10 * SECOND;
                    let path = format!("/c/{i}");
                    let third = if last_repeat { 900 * MS } else { 5 * SECOND };
                    [(0, 429), (300 * MS, 200), (600 * MS, 200), (third, 200)]
                        .map(|(offset, code)| (at + offset, code, Some(POLLER), path.clone()))
                })
                .collect()
        };
        // Half of its answered requests are followed that soon: half of the quick retries are
        // its rhythm, and the other half (20 of 40) still ignore Retry-After.
        let half = requests(false);
        let b = &behaviour(&borrowed(&half))[0];
        assert_eq!((b.retried_429s, b.early_retries), (40, 40));
        assert_eq!((b.quick_repeat_share, b.early_beyond_rhythm), (0.5, 20));
        assert!(b.ignores_retry_after());
        // Every answered request followed that soon: the quick "retries" are all its rhythm.
        let always = requests(true);
        let b = &behaviour(&borrowed(&always))[0];
        assert_eq!(b.early_retries, 40);
        assert_eq!((b.quick_repeat_share, b.early_beyond_rhythm), (1.0, 0));
        // Nothing but the note that its gaps are identical.
        assert_eq!(
            judged(&borrowed(&always)),
            vec![(
                FindingKind::SynchronizedRetries,
                Severity::Info,
                Some("Poller/2".to_owned())
            )]
        );
    }

    #[test]
    fn one_application_on_two_sdk_versions_is_one_consumer_named_by_application() {
        let mut owned = refused_and_retried(SDK, 6, 0, 10 * SECOND, &[100 * MS]);
        owned.extend(refused_and_retried(
            SDK_OLD,
            5,
            5 * SECOND,
            10 * SECOND,
            &[100 * MS],
        ));
        let b = behaviour(&borrowed(&owned));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].consumer.as_deref(), Some("Sync/1"));
        assert_eq!(b[0].user_agent.as_deref(), Some(SDK));
        assert_eq!((b[0].http_429s, b[0].early_retries), (11, 11));
        let findings = retry_findings(&analysis(&borrowed(&owned)), &window());
        assert_eq!(findings[0].kind, FindingKind::IgnoresRetryAfter);
        assert_eq!(findings[0].consumer.as_deref(), Some("Sync/1"));
        assert_eq!(findings[0].metrics["user_agent"], SDK);
        // Grouped by user agent, the versions are two consumers under their full names.
        let by_agent = retry_behaviour(
            &request_log(&borrowed(&owned)),
            ConsumerKey::UserAgent,
            &RetryOptions::default(),
        )
        .unwrap();
        let names: Vec<_> = by_agent
            .behaviours
            .iter()
            .map(|b| b.consumer.as_deref())
            .collect();
        assert_eq!(names, vec![Some(SDK), Some(SDK_OLD)]);
    }

    #[test]
    fn identical_early_gaps_are_a_storm_and_exponential_backoff_is_not() {
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
        assert_eq!(script.consumer.as_deref(), Some(SCRIPT));
        assert_eq!((script.retried_429s, script.early_retries), (25, 25));
        assert_eq!(script.first_retry_delay_cv, Some(0.0));
        // The SDK's first refusal came in the second of the script's early retries.
        assert_eq!(script.others_refused_during_early_retries, 1);
        assert_eq!(script.others_refused_in_peak_minute, 1);
        let sdk = &b[1];
        assert_eq!(sdk.consumer.as_deref(), Some("Sync/1"));
        assert_eq!((sdk.retried_429s, sdk.early_retries, sdk.chains), (3, 0, 1));
        assert_eq!(sdk.median_growth_ratio, Some(2.0));
        assert_eq!(sdk.first_retry_delay_cv, None);

        assert_eq!(
            judged(&requests),
            vec![
                (
                    FindingKind::IgnoresRetryAfter,
                    Severity::Warning,
                    Some(SCRIPT.to_owned())
                ),
                (
                    FindingKind::RetryStorm,
                    Severity::Warning,
                    Some(SCRIPT.to_owned())
                ),
                (
                    FindingKind::SynchronizedRetries,
                    Severity::Warning,
                    Some(SCRIPT.to_owned())
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
        let log = request_log(&requests);
        let options = RetryOptions::default();
        let key = ConsumerKey::Application;
        let mut delays = retry_delays(&log, key, &options).unwrap();
        delays.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        let found: Vec<(Option<&str>, Vec<Duration>)> = delays
            .iter()
            .map(|d| {
                let mut v = d.delays.clone();
                v.sort();
                (d.consumer.as_deref(), v)
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
                (Some("Sync/1"), vec![]),
            ]
        );
        for b in retry_behaviour(&log, key, &options).unwrap().behaviours {
            let d = delays.iter().find(|d| d.consumer == b.consumer).unwrap();
            assert_eq!(d.delays.len() as u64, b.retried_429s);
        }
        assert!(
            retry_delays(&request_log(&[(0, 200, Some(SDK), "/b")]), key, &options)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_longer_retry_after_makes_slow_retries_early() {
        let requests = [
            (0, 429, Some(SDK), "/a"),
            (2_000 * MS, 200, Some(SDK), "/a"),
        ];
        let options = RetryOptions {
            retry_after: Duration::from_secs(5),
            ..RetryOptions::default()
        };
        let b =
            retry_behaviour(&request_log(&requests), ConsumerKey::Application, &options).unwrap();
        assert_eq!(b.behaviours[0].early_retries, 1);
        assert_eq!(behaviour(&requests)[0].early_retries, 0);
    }
}
