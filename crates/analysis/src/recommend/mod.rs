//! Detector 6, recommendations: cheaper ways to get the same data. What replaces what is data —
//! the reviewed replacement table ([`table`], `replacements.toml`) over the operation catalog —
//! and the detectors are generic: fan-outs of any per-target operation in the table ([`fan_out`]),
//! re-reads of slow-changing lists, status and event feeds ([`rereads`]), bursts of single writes
//! ([`writes`]), and calls to operations the catalog does not know ([`unknown`]).
//!
//! **Counts of intent.** Every request is resolved once ([`resolve`]) to its operation, target,
//! resource and whether it retried a refused call. Calls a day count the calls a consumer meant
//! to make: retries of refused calls are left out (and said so), a refused call never retried
//! still counts. Calls a day are the calls seen in the window times `24 h / window length`; a
//! burst, which happens at a time of day, counts once per date on which the window holds that
//! time of day, so a daily 03:00 job is once a day in a 6-hour window, and in a 26-hour window from
//! 02:00 that holds 03:00 on two dates, not twice in "1 day". The text names the dates.
//!
//! **Arithmetic that multiplies out.** Figures are rounded to whole calls before they are used,
//! so every arithmetic text multiplies out from the numbers it shows.

mod fan_out;
mod rereads;
pub(crate) mod resolve;
pub mod table;
mod unknown;
mod writes;

pub(crate) use resolve::{ResolvedLog, ResolvedRequest, resolve_columns};
pub use table::{Coverage, FanOutPair, Filter, ReplacementTable, Reread, Webhooks};

use super::columns::{PairIndex, RequestColumns};
use super::consumers::parse_user_agent;
use super::{AnalysisError, AnalysisWindow, Finding, FindingKind, Severity};
use callbudget_api::text::thousands_rounded as thousands;
use callbudget_api::timestamp::MICROS_PER_SECOND;
use callbudget_api::{Operation, OperationCatalog};
use serde::Serialize;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const SECONDS_PER_DAY: f64 = 86_400.0;

/// A per-target operation over fewer distinct resources than this is not called a fan-out.
pub const MIN_FAN_OUT_TARGETS: usize = 5;
/// Writes from one consumer within [`WRITE_BURST_SPAN_SECONDS`] that make a burst.
pub const MIN_WRITES_IN_BURST: usize = 20;
pub const WRITE_BURST_SPAN_SECONDS: i64 = 60;
/// Actions one synchronous action batch may carry.
pub const ACTIONS_PER_BATCH: u64 = 100;
/// A slow-changing list read more often than this many times a day is re-read too often.
pub const SLOW_LIST_READS_PER_DAY: f64 = 24.0;
/// Polls per day of getOrganizationConfigurationChanges that replace the re-reads (hourly).
pub const CONFIGURATION_CHANGES_POLLS_PER_DAY: f64 = 24.0;
/// Org-wide status polling more often than this (every 5 minutes) is re-polling.
pub const STATUS_POLLS_PER_DAY: f64 = 288.0;
/// An event feed read more often than this (every 15 minutes) is polled for events; read
/// incrementally from the last event seen, this often loses nothing.
pub const EVENT_READS_PER_DAY: f64 = 96.0;
/// Meraki's documentation of webhooks (alerts sent to an HTTP receiver).
pub const WEBHOOK_DOCUMENTATION: &str = "https://developer.cisco.com/meraki/webhooks/";
const ACTION_BATCH: &str = "createOrganizationActionBatch";

/// What kind of waste a recommendation removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// One per-device or per-network operation over many targets each polling cycle.
    FanOut,
    /// A slow-changing list re-read more than once an hour.
    SlowChangingList,
    /// Many single writes within a minute.
    WriteBurst,
    /// Device status polled again and again instead of following its changes.
    StatusRepoll,
    /// An event feed polled on a short cycle: webhooks, or incremental reads.
    EventPolling,
    /// Calls to an operation the catalog does not list (deprecated, renamed or removed).
    UnknownOperation,
}

/// What the detector needs besides the log.
#[derive(Debug, Clone, Default)]
pub struct RecommendOptions {
    /// Serial → network id (from getOrganizationDevices). Without it, a per-network replacement
    /// assumes the networks seen anywhere in the log's paths, and says it estimated.
    pub device_networks: HashMap<String, String>,
}

/// A cheaper way for one consumer to get what one operation gets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub kind: RecommendationKind,
    /// The consumer's user agent.
    pub consumer: String,
    /// The consumer's application: what its user agent names in `Caller/(…)`, else the whole
    /// user agent.
    pub application: String,
    pub current_operation: String,
    /// Calls of the current operation in the window that the consumer meant to make (for a
    /// write burst: the writes in bursts); retries of refused calls are not counted.
    pub calls_in_window: u64,
    /// Retries of refused calls left out of `calls_in_window`.
    pub retries_excluded: u64,
    /// Calls a day, rounded to a whole call.
    pub current_calls_per_day: f64,
    /// Distinct serials, networks or organizations the calls addressed.
    pub distinct_targets: u64,
    /// Distinct paths the calls read (more than the targets when a loop reads items one by one).
    pub distinct_resources: u64,
    /// Median gap between two calls on the same path (for a write burst: between bursts).
    pub polling_interval_seconds: Option<f64>,
    /// Calls per path per day (for a write burst: bursts per day).
    pub cycles_per_day: Option<f64>,
    pub suggested_operation: String,
    /// Calls of the suggested operation per cycle (pages, networks, batches per burst).
    pub calls_per_cycle_after: Option<u64>,
    /// The suggested org-wide operation's largest page, from the catalog.
    pub per_page: Option<u32>,
    /// The query parameter that narrows the suggested call to the targets.
    pub filter: Option<String>,
    pub calls_per_day_after: f64,
    pub calls_saved_per_day: f64,
    /// Whether `calls_per_day_after` rests on an estimate (networks guessed from the log).
    pub estimated: bool,
    /// The computation, for a person to check.
    pub arithmetic: String,
    /// Why the suggestion returns the same data: the replacement table's reviewed reason.
    pub reason: Option<String>,
    /// Where to read about the suggestion (the operation's or the webhooks' documentation).
    pub documentation_url: Option<String>,
}

/// The window's length, and how it scales counts to a day.
#[derive(Debug, Clone, Copy)]
struct Period {
    seconds: f64,
    /// `24 h / window length`: what scales the window's counts of polling to a day.
    per_day: f64,
    /// The window, µs: what a burst's time of day recurs in.
    start_us: i64,
    end_us: i64,
}

impl Period {
    fn of(window: &AnalysisWindow) -> Self {
        let seconds = (window.end_us() - window.start_us()) as f64 / MICROS_PER_SECOND as f64;
        Period {
            seconds,
            per_day: SECONDS_PER_DAY / seconds,
            start_us: window.start_us(),
            end_us: window.end_us(),
        }
    }

    /// On how many dates the window holds the time of day of `at_us` (a moment inside it): the
    /// days a daily job at that time could have run in it — once a date, whatever the window's
    /// length or where it starts.
    fn dates_holding_time_of_day(&self, at_us: i64) -> u64 {
        let day = SECONDS_PER_DAY as i64 * MICROS_PER_SECOND;
        // Whole days k with start ≤ at + k·day < end.
        let first = (self.start_us - at_us).div_euclid(day)
            + i64::from((self.start_us - at_us).rem_euclid(day) != 0);
        let last = (self.end_us - at_us - 1).div_euclid(day);
        (last - first + 1).max(1) as u64
    }

    /// `N calls in 6 h = M/day`, the window's length in hours with at most two decimals.
    fn calls_text(&self, calls: u64, per_day: f64) -> String {
        let hours = format!("{:.2}", self.seconds / 3600.0);
        let hours = hours.trim_end_matches('0').trim_end_matches('.');
        format!(
            "{} calls in {hours} h = {}/day",
            thousands(calls as f64),
            thousands(per_day)
        )
    }
}

/// How one consumer read one operation (one kind of its calls, where their parameters tell
/// apart what replaces them): the calls it meant to make, by path.
struct Reads<'c> {
    consumer: usize,
    operation: &'c Operation,
    /// The fan-out pair that replaces these calls, if one does.
    pair: Option<&'static FanOutPair>,
    /// Distinct paths of its intended calls.
    resources: u64,
    /// The gaps between two intended calls on one path, µs.
    gaps: Vec<i64>,
    /// Their interquartile mean, worked out once.
    interval_us: OnceCell<Option<f64>>,
    /// Target indices.
    targets: BTreeSet<usize>,
    calls: u64,
    retries: u64,
}

impl Reads<'_> {
    fn resources(&self) -> u64 {
        self.resources
    }

    /// Intended calls a day, rounded.
    fn per_day(&self, period: &Period) -> f64 {
        (self.calls as f64 * period.per_day).round()
    }

    /// How often one path is read, in seconds: the interquartile mean of the gaps between two
    /// calls on one path (the mean of their middle half). A pause or a stray call does not move
    /// it, as with a median; unlike a median, a path read by two interleaved jobs (gaps of 1 and 4
    /// minutes, alternating) shows its real average, 2.5 minutes, not one job's offset.
    fn interval_seconds(&self) -> Option<f64> {
        let typical_us = *self
            .interval_us
            .get_or_init(|| interquartile_mean(&mut self.gaps.clone()));
        typical_us
            .filter(|&us| us > 0.0)
            .map(|us| us / MICROS_PER_SECOND as f64)
    }

    /// ` (N retries of refused calls not counted)`, or nothing.
    fn retries_text(&self) -> String {
        retries_text(self.retries, "calls")
    }

    /// The recommendation replacing this usage with `suggested`.
    fn recommendation(
        &self,
        log: &ResolvedLog<'_>,
        period: &Period,
        kind: RecommendationKind,
        suggested: &str,
        after: f64,
    ) -> Recommendation {
        let current = self.per_day(period);
        let resources = self.resources();
        let consumer = &log.consumers[self.consumer];
        Recommendation {
            kind,
            consumer: consumer.clone(),
            application: parse_user_agent(consumer).caller.to_owned(),
            current_operation: self.operation.operation_id.clone(),
            calls_in_window: self.calls,
            retries_excluded: self.retries,
            current_calls_per_day: current,
            distinct_targets: self.targets.len() as u64,
            distinct_resources: resources,
            polling_interval_seconds: self.interval_seconds(),
            cycles_per_day: (resources > 0).then(|| current / resources as f64),
            suggested_operation: suggested.to_owned(),
            calls_per_cycle_after: None,
            per_page: None,
            filter: None,
            calls_per_day_after: after,
            calls_saved_per_day: current - after,
            estimated: false,
            arithmetic: String::new(),
            reason: None,
            documentation_url: None,
        }
    }
}

fn retries_text(retries: u64, what: &str) -> String {
    match retries {
        0 => String::new(),
        n => format!(
            " ({} retries of refused {what} not counted)",
            thousands(n as f64)
        ),
    }
}

/// The median of `values` (reordered), in linear time.
fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let (len, mid) = (values.len(), values.len() / 2);
    let (below, &mut middle, _) = values.select_nth_unstable(mid);
    Some(if len % 2 == 1 {
        middle as f64
    } else {
        // Every value below the middle one is at most it: the largest of them is the one before.
        let before = below.iter().copied().max().unwrap_or(middle);
        (before as f64 + middle as f64) / 2.0
    })
}

/// The mean of the middle half of `values` (all of them when there are fewer than four), which
/// it reorders. Two selections instead of a sort (a busy path has millions of gaps), and the
/// middle summed exactly, whatever order the selections leave it in. (The sum of floats in sorted
/// order it replaces was as exact below 2⁵³ µs of gaps in all, 104 days; past that, this is the
/// more accurate.)
fn interquartile_mean(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let quarter = values.len() / 4;
    let middle_len = values.len() - 2 * quarter;
    // The `quarter` smallest before index `quarter`; the middle half is the one there and the
    // `middle_len - 1` smallest after it.
    let (_, _, above) = values.select_nth_unstable(quarter);
    if middle_len > 1 && above.len() > middle_len - 1 {
        above.select_nth_unstable(middle_len - 2);
    }
    let middle = &values[quarter..quarter + middle_len];
    let sum: i128 = middle.iter().map(|&v| i128::from(v)).sum();
    Some(sum as f64 / middle_len as f64)
}

fn seconds_text(seconds: f64) -> String {
    if seconds >= 60.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{seconds:.1} s")
    }
}

/// `, each every 5.0 min`, or nothing without an interval.
fn each_every(seconds: Option<f64>) -> String {
    seconds.map_or_else(String::new, |s| format!(", each every {}", seconds_text(s)))
}

/// The recommendations for `log` over `window`, most calls saved first.
pub fn recommend(
    log: &RequestColumns,
    window: &AnalysisWindow,
    catalog: &OperationCatalog,
    options: &RecommendOptions,
) -> Result<Vec<Recommendation>, AnalysisError> {
    Ok(recommend_resolved(
        &resolve_columns(log, catalog),
        window,
        options,
    ))
}

/// [`recommend`] over a log already resolved (the audit resolves it once for every detector).
pub(crate) fn recommend_resolved(
    resolved: &ResolvedLog<'_>,
    window: &AnalysisWindow,
    options: &RecommendOptions,
) -> Vec<Recommendation> {
    let table = ReplacementTable::meraki_v1();
    let period = Period::of(window);

    // (consumer, operation, fan-out pair) → how it was read, numbered densely; writes apart, in
    // time order. An operation's pair is decided call by call where its parameters decide it
    // (`fan_out_pair_for`): one AP's history and a network's average are different reads.
    // Operations are numbered by shape, so that a request's costs no string hash.
    let mut operation_ids: HashMap<(&str, Option<usize>), u32> = HashMap::new();
    let mut operation_of_shape = vec![u32::MAX; resolved.shapes.len()];
    let mut pair_of_operation: Vec<Option<&FanOutPair>> = Vec::new();
    for (shape, operation) in resolved.operations_of_shapes() {
        if let Some(op) = operation {
            let selector = resolved.shapes[shape].selector.as_deref();
            let pair = table.fan_out_pair_for(&op.operation_id, selector);
            let row = pair.and_then(|p| table.fan_out.iter().position(|q| std::ptr::eq(p, q)));
            let next = operation_ids.len() as u32;
            operation_of_shape[shape] = *operation_ids
                .entry((op.operation_id.as_str(), row))
                .or_insert_with(|| {
                    pair_of_operation.push(pair);
                    next
                });
        }
    }
    let mut usages = PairIndex::new(resolved.consumers.len(), operation_ids.len());
    let mut reads: Vec<Reads<'_>> = Vec::new();
    // (usage, path) → the last intended call on it.
    let usage_slots = resolved.consumers.len() * operation_ids.len();
    let mut paths = PairIndex::new(usage_slots, resolved.resources.len());
    let mut last_call: Vec<i64> = Vec::new();
    let mut writes: BTreeMap<(usize, &str), Vec<ResolvedRequest<'_>>> = BTreeMap::new();
    for r in resolved.requests() {
        let (Some(consumer), Some(op)) = (r.consumer(), r.operation) else {
            continue;
        };
        if r.is_write {
            writes
                .entry((consumer, op.operation_id.as_str()))
                .or_default()
                .push(r);
            continue;
        }
        let operation = operation_of_shape[resolved.shape_index(&r)];
        let usage = usages.id(consumer as u32, operation) as usize;
        if usage == reads.len() {
            reads.push(Reads {
                consumer,
                operation: op,
                pair: None,
                resources: 0,
                gaps: Vec::new(),
                interval_us: OnceCell::new(),
                targets: BTreeSet::new(),
                calls: 0,
                retries: 0,
            });
        }
        let read = &mut reads[usage];
        read.pair = pair_of_operation[operation as usize];
        if r.retry {
            read.retries += 1;
            continue;
        }
        read.calls += 1;
        if let Some(resource) = resolved.resource_index(&r) {
            let path = paths.id(usage as u32, resource as u32) as usize;
            if path == last_call.len() {
                // A path's target is its operation's parameter in it: the same for every call.
                last_call.push(r.ts_us);
                read.resources += 1;
                read.targets.extend(r.target_index());
            } else {
                read.gaps.push(r.ts_us - last_call[path]);
                last_call[path] = r.ts_us;
            }
        }
    }
    drop(last_call);
    let reads: BTreeMap<(usize, &str, Option<&str>), Reads<'_>> = reads
        .into_iter()
        .map(|read| {
            let key = (
                read.consumer,
                read.operation.operation_id.as_str(),
                read.pair.map(|p| p.replacement.as_str()),
            );
            (key, read)
        })
        .collect();

    let networks = fan_out::NetworksNamed::of(
        resolved,
        reads.values(),
        writes
            .iter()
            .flat_map(|((consumer, _), requests)| requests.iter().map(|r| (*consumer, r))),
    );
    let mut out = Vec::new();
    for usage in reads.values() {
        let rec = if let Some(pair) = usage.pair {
            fan_out::recommendation(resolved, &period, usage, pair, options, &networks)
        } else {
            rereads::recommendation(resolved, &period, usage, table)
        };
        out.extend(rec.filter(|r| r.calls_saved_per_day > 0.0));
    }
    for ((consumer, op), requests) in &writes {
        out.extend(writes::recommendation(
            resolved, &period, *consumer, op, requests,
        ));
    }
    out.extend(unknown::recommendations(resolved, &period));
    out.sort_by(|a, b| {
        b.calls_saved_per_day
            .total_cmp(&a.calls_saved_per_day)
            .then_with(|| b.current_calls_per_day.total_cmp(&a.current_calls_per_day))
            .then_with(|| a.consumer.cmp(&b.consumer))
            .then_with(|| a.current_operation.cmp(&b.current_operation))
    });
    out
}

/// One finding per recommendation: a warning when it would save at least 1 % of the org's
/// daily budget at `rate_per_second`, else information; calls to an operation the catalog does
/// not know are a warning (they are likely to fail one day).
pub fn recommendation_findings(
    recommendations: &[Recommendation],
    window: &AnalysisWindow,
    rate_per_second: f64,
) -> Vec<Finding> {
    let daily_budget = rate_per_second * SECONDS_PER_DAY;
    recommendations
        .iter()
        .map(|r| {
            let (severity, summary) = match r.kind {
                RecommendationKind::UnknownOperation => (
                    Severity::Warning,
                    format!(
                        "{}: {} calls/day to {}, which the operation catalog does not list \
                         (deprecated, renamed or removed?); closest in the catalog: {}",
                        r.application,
                        thousands(r.current_calls_per_day),
                        r.current_operation,
                        r.suggested_operation,
                    ),
                ),
                _ => (
                    if r.calls_saved_per_day >= daily_budget / 100.0 {
                        Severity::Warning
                    } else {
                        Severity::Info
                    },
                    format!(
                        "{}: replace {} ({}/day) with {} ({}/day): saves {} calls/day",
                        r.application,
                        r.current_operation,
                        thousands(r.current_calls_per_day),
                        r.suggested_operation,
                        thousands(r.calls_per_day_after),
                        thousands(r.calls_saved_per_day),
                    ),
                ),
            };
            Finding {
                kind: FindingKind::Recommendation,
                severity,
                consumer: Some(r.consumer.clone()),
                start: window.start,
                end: window.end,
                summary,
                metrics: serde_json::to_value(r).unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
