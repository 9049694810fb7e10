//! Detector 6, recommendations: cheaper ways to get the same data, from the efficient-operations
//! table of the API spec (kept here as data, [`RULES`]) and the operations catalog.
//!
//! Each request is resolved to its operation (its `operationId`, else its method and path through
//! the catalog, so records without an operationId count) and to its target (the value of the
//! path's first parameter: a serial, network id or organization id). Calls per day are the calls
//! seen in the window scaled to 24 h; the polling interval is the median gap between two calls of
//! the same operation on the same target.

use super::frames::{
    METHOD, OPERATION_ID, PATH, RESPONSE_CODE, TOO_MANY_REQUESTS, TS, USER_AGENT,
    categorical_column,
};
use super::{AnalysisError, AnalysisWindow, Finding, FindingKind, Severity};
use crate::api::{API_PATH_PREFIX, Operation, OperationCatalog};
use crate::text::thousands_rounded as thousands;
use polars::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const SECONDS_PER_DAY: f64 = 86_400.0;
const MICROS_PER_SECOND: f64 = crate::timestamp::MICROS_PER_SECOND as f64;

/// A per-device (or per-network) operation over fewer distinct targets is not called a fan-out.
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
}

/// What replaces a fan-out, per polling cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// One call per network of the targets.
    PerNetwork,
    /// One org-wide call, paginated: ⌈targets / per_page⌉ calls.
    PerOrganization { per_page: u32 },
}

/// What a rule looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    FanOut(Replacement),
    SlowChangingList,
    StatusRepoll,
}

/// One row of the efficient-operations table: a wasteful operation and what replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub current: &'static str,
    pub suggested: &'static str,
    pub kind: RuleKind,
}

const fn fan_out(current: &'static str, suggested: &'static str, r: Replacement) -> Rule {
    Rule {
        current,
        suggested,
        kind: RuleKind::FanOut(r),
    }
}

const fn org_wide(per_page: u32) -> Replacement {
    Replacement::PerOrganization { per_page }
}

const CONFIGURATION_CHANGES: &str = "getOrganizationConfigurationChanges";
const AVAILABILITY_CHANGES: &str = "getOrganizationDevicesAvailabilitiesChangeHistory";
const ACTION_BATCH: &str = "createOrganizationActionBatch";

/// The spec's efficient-operations table. Page sizes are each org-wide operation's largest
/// `perPage` in the v1 documentation (switch port statuses by switch: 20 switches a page).
pub const RULES: &[Rule] = &[
    fan_out(
        "getDeviceLldpCdp",
        "getNetworkTopologyLinkLayer",
        Replacement::PerNetwork,
    ),
    fan_out(
        "getDeviceClients",
        "getNetworkClients",
        Replacement::PerNetwork,
    ),
    fan_out(
        "getDeviceSwitchPortsStatuses",
        "getOrganizationSwitchPortsStatusesBySwitch",
        org_wide(20),
    ),
    fan_out(
        "getDeviceSwitchPorts",
        "getOrganizationSwitchPortsBySwitch",
        org_wide(50),
    ),
    fan_out("getDevice", "getOrganizationDevices", org_wide(1000)),
    fan_out(
        "getNetworkDevices",
        "getOrganizationDevices",
        org_wide(1000),
    ),
    fan_out(
        "getDeviceManagementInterface",
        "getOrganizationDevicesUplinksAddressesByDevice",
        org_wide(1000),
    ),
    fan_out(
        "getDeviceLossAndLatencyHistory",
        "getOrganizationDevicesUplinksLossAndLatency",
        org_wide(1000),
    ),
    fan_out(
        "getDeviceApplianceUplinksSettings",
        "getOrganizationApplianceUplinkStatuses",
        org_wide(1000),
    ),
    fan_out(
        "getDeviceWirelessStatus",
        "getOrganizationWirelessSsidsStatusesByDevice",
        org_wide(500),
    ),
    Rule {
        current: "getOrganizationNetworks",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getOrganizationPolicyObjects",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getOrganizationPolicyObjectsGroups",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getOrganizationAdmins",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getNetworkSettings",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getNetworkGroupPolicies",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getNetworkApplianceVlans",
        suggested: CONFIGURATION_CHANGES,
        kind: RuleKind::SlowChangingList,
    },
    Rule {
        current: "getOrganizationDevicesStatuses",
        suggested: AVAILABILITY_CHANGES,
        kind: RuleKind::StatusRepoll,
    },
    Rule {
        current: "getOrganizationDevicesAvailabilities",
        suggested: AVAILABILITY_CHANGES,
        kind: RuleKind::StatusRepoll,
    },
];

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
    pub current_operation: String,
    /// Calls of the current operation in the window (for a write burst: the writes in bursts).
    pub calls_in_window: u64,
    pub current_calls_per_day: f64,
    /// Distinct serials, networks or organizations the calls addressed.
    pub distinct_targets: u64,
    /// Median gap between two calls on the same target (for a write burst: between bursts).
    pub polling_interval_seconds: Option<f64>,
    pub cycles_per_day: Option<f64>,
    pub suggested_operation: String,
    pub calls_per_day_after: f64,
    pub calls_saved_per_day: f64,
    /// Whether `calls_per_day_after` rests on an estimate (networks guessed from the log).
    pub estimated: bool,
    /// The computation, for a person to check.
    pub arithmetic: String,
}

/// One request with its operation and target resolved. Compact (32 bytes): a month of a
/// saturated organization is 26.8 M of them.
pub(crate) struct ResolvedRequest<'c> {
    pub ts_us: i64,
    pub operation: Option<&'c Operation>,
    /// Index into [`ResolvedLog::consumers`], [`NONE`] without a user agent.
    consumer: u32,
    /// Index into [`ResolvedLog::targets`], [`NONE`] without a target.
    target: u32,
    pub is_write: bool,
    /// Answered 429: a write refused this way is retried, so it is not an action of its own.
    pub refused: bool,
}

/// No consumer or no target.
const NONE: u32 = u32::MAX;

impl ResolvedRequest<'_> {
    /// Index into [`ResolvedLog::consumers`]; `None` without a user agent.
    pub fn consumer(&self) -> Option<usize> {
        (self.consumer != NONE).then_some(self.consumer as usize)
    }
}

/// The log as resolved requests, in time order.
pub(crate) struct ResolvedLog<'c> {
    pub consumers: Vec<String>,
    /// The serials, network and organization ids requests addressed.
    pub targets: Vec<String>,
    pub requests: Vec<ResolvedRequest<'c>>,
}

impl ResolvedLog<'_> {
    /// The serial, network or organization id `request` addressed.
    pub fn target(&self, request: &ResolvedRequest<'_>) -> Option<&str> {
        self.targets
            .get(request.target as usize)
            .map(String::as_str)
    }
}

/// The categorical codes of a request's operation id, method and path.
type RequestShape = (Option<u32>, Option<u32>, Option<u32>);

/// What a request called, resolved once per distinct (operation id, method, path).
#[derive(Clone, Copy)]
struct Resolution<'c> {
    operation: Option<&'c Operation>,
    target: u32,
    is_write: bool,
}

/// The string of a categorical code.
fn name(column: &Categorical32Chunked, code: Option<u32>) -> Option<&str> {
    code.and_then(|c| column.get_mapping().cat_to_str(c))
}

/// Resolves every request of `log` against `catalog`.
pub(crate) fn resolve_log<'c>(
    log: &DataFrame,
    catalog: &'c OperationCatalog,
) -> Result<ResolvedLog<'c>, AnalysisError> {
    let err = || AnalysisError::frame("reading requests for their operations");
    let ts = log
        .column(TS)
        .and_then(|c| c.datetime())
        .map_err(err())?
        .physical();
    let codes = log
        .column(RESPONSE_CODE)
        .and_then(|c| c.i32())
        .map_err(err())?;
    // Read by categorical code, so that each distinct string is looked at once.
    let columns =
        [USER_AGENT, OPERATION_ID, METHOD, PATH].map(|name| categorical_column(log, name));
    let [agents, op_ids, methods, paths] = columns;
    let (agents, op_ids, methods, paths) = (agents?, op_ids?, methods?, paths?);
    let [agents, op_ids, methods, paths] =
        [&agents, &op_ids, &methods, &paths].map(|c| c.cat32().map_err(err()));
    let (agents, op_ids, methods, paths) = (agents?, op_ids?, methods?, paths?);

    let mut consumers: Vec<String> = Vec::new();
    // Consumer index of each user-agent code, numbered by first appearance.
    let mut consumer_of_agent: HashMap<u32, u32> = HashMap::new();
    let mut targets: Vec<String> = Vec::new();
    let mut target_index: HashMap<String, u32> = HashMap::new();
    // The log repeats few (operation, method, path) combinations: resolve each once.
    let mut resolutions: HashMap<RequestShape, Resolution<'c>> = HashMap::new();
    let mut requests = Vec::with_capacity(log.height());
    let rows = ts
        .iter()
        .zip(codes.iter())
        .zip(agents.physical().iter())
        .zip(op_ids.physical().iter())
        .zip(methods.physical().iter().zip(paths.physical().iter()));
    for ((((ts, code), agent), op_id), (method, path)) in rows {
        let Some(ts_us) = ts else { continue };
        let consumer = match agent {
            None => NONE,
            Some(a) => *consumer_of_agent.entry(a).or_insert_with(|| {
                consumers.push(name(agents, Some(a)).unwrap_or_default().to_owned());
                (consumers.len() - 1) as u32
            }),
        };
        let key = (op_id, method, path);
        let resolution = *resolutions.entry(key).or_insert_with(|| {
            let (op_id, method, path) = (
                name(op_ids, key.0),
                name(methods, key.1),
                name(paths, key.2),
            );
            let operation = op_id
                .and_then(|id| catalog.get(id))
                .or_else(|| match (method, path) {
                    (Some(m), Some(p)) => catalog.match_path(m, p),
                    _ => None,
                });
            let target = match (operation, path) {
                (Some(op), Some(p)) => first_parameter(op, p),
                _ => None,
            };
            let target = target.map_or(NONE, |t| {
                *target_index.entry(t.clone()).or_insert_with(|| {
                    targets.push(t);
                    (targets.len() - 1) as u32
                })
            });
            let method = method.or(operation.map(|op| op.method.as_str()));
            let is_write = method.is_some_and(|m| {
                ["PUT", "POST", "DELETE", "PATCH"]
                    .iter()
                    .any(|w| m.eq_ignore_ascii_case(w))
            });
            Resolution {
                operation,
                target,
                is_write,
            }
        });
        requests.push(ResolvedRequest {
            ts_us,
            operation: resolution.operation,
            consumer,
            target: resolution.target,
            is_write: resolution.is_write,
            refused: code == Some(TOO_MANY_REQUESTS),
        });
    }
    requests.sort_by_key(|r| r.ts_us);
    Ok(ResolvedLog {
        consumers,
        targets,
        requests,
    })
}

/// The value of the first `{parameter}` of `op`'s template in the concrete `path`.
fn first_parameter(op: &Operation, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default();
    let path = path.strip_prefix(API_PATH_PREFIX).unwrap_or(path);
    op.path
        .split('/')
        .filter(|s| !s.is_empty())
        .zip(path.split('/').filter(|s| !s.is_empty()))
        .find(|(t, _)| t.starts_with('{'))
        .map(|(_, value)| value.to_owned())
}

/// The recommendations for `log` over `window`, most calls saved first.
pub fn recommend(
    log: &DataFrame,
    window: &AnalysisWindow,
    catalog: &OperationCatalog,
    options: &RecommendOptions,
) -> Result<Vec<Recommendation>, AnalysisError> {
    Ok(recommend_resolved(
        &resolve_log(log, catalog)?,
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
    let window_seconds = (window.end_us() - window.start_us()) as f64 / MICROS_PER_SECOND;
    let per_day = SECONDS_PER_DAY / window_seconds;
    let networks_in_log = networks_in_paths(resolved);

    // (consumer, operation) → target → call times, in time order.
    let mut calls: BTreeMap<(usize, &str), BTreeMap<&str, Vec<i64>>> = BTreeMap::new();
    // consumer, operation → writes (time, path, target), in time order.
    let mut writes: BTreeMap<(usize, &str), Vec<&ResolvedRequest<'_>>> = BTreeMap::new();
    for r in &resolved.requests {
        let (Some(consumer), Some(op)) = (r.consumer(), r.operation) else {
            continue;
        };
        let key = (consumer, op.operation_id.as_str());
        if r.is_write {
            writes.entry(key).or_default().push(r);
        } else {
            calls
                .entry(key)
                .or_default()
                .entry(resolved.target(r).unwrap_or_default())
                .or_default()
                .push(r.ts_us);
        }
    }

    let mut out = Vec::new();
    for ((consumer, op), by_target) in &calls {
        let Some(rule) = RULES.iter().find(|r| r.current == *op) else {
            continue;
        };
        let usage = Usage::of(by_target, per_day);
        let consumer = &resolved.consumers[*consumer];
        let rec = match rule.kind {
            RuleKind::FanOut(replacement) => fan_out_recommendation(
                rule,
                replacement,
                consumer,
                &usage,
                by_target,
                options,
                networks_in_log,
            ),
            RuleKind::SlowChangingList => slow_list_recommendation(rule, consumer, &usage),
            RuleKind::StatusRepoll => status_recommendation(rule, consumer, &usage),
        };
        out.extend(rec.filter(|r| r.calls_saved_per_day > 0.0));
    }
    for ((consumer, op), requests) in &writes {
        let consumer = &resolved.consumers[*consumer];
        out.extend(write_burst_recommendation(
            resolved, consumer, op, requests, per_day,
        ));
    }
    out.sort_by(|a, b| {
        b.calls_saved_per_day
            .total_cmp(&a.calls_saved_per_day)
            .then_with(|| a.consumer.cmp(&b.consumer))
            .then_with(|| a.current_operation.cmp(&b.current_operation))
    });
    out
}

/// How one consumer used one read operation.
struct Usage {
    calls: u64,
    calls_per_day: f64,
    targets: u64,
    interval_seconds: Option<f64>,
    cycles_per_day: Option<f64>,
    /// Days per window, inverted: what scales the window's counts to a day.
    per_day: f64,
}

impl Usage {
    /// The recommendation replacing `current` with `suggested` for this usage.
    #[allow(clippy::too_many_arguments)]
    fn recommend(
        &self,
        kind: RecommendationKind,
        consumer: &str,
        current: &str,
        suggested: &str,
        after: f64,
        saved: f64,
        estimated: bool,
        arithmetic: String,
    ) -> Recommendation {
        Recommendation {
            kind,
            consumer: consumer.to_owned(),
            current_operation: current.to_owned(),
            calls_in_window: self.calls,
            current_calls_per_day: self.calls_per_day,
            distinct_targets: self.targets,
            polling_interval_seconds: self.interval_seconds,
            cycles_per_day: self.cycles_per_day,
            suggested_operation: suggested.to_owned(),
            calls_per_day_after: after,
            calls_saved_per_day: saved,
            estimated,
            arithmetic,
        }
    }

    fn of(by_target: &BTreeMap<&str, Vec<i64>>, per_day: f64) -> Self {
        let calls: u64 = by_target.values().map(|t| t.len() as u64).sum();
        let mut gaps: Vec<i64> = by_target
            .values()
            .flat_map(|times| times.windows(2).map(|w| w[1] - w[0]))
            .collect();
        let interval_seconds = median(&mut gaps)
            .filter(|&us| us > 0.0)
            .map(|us| us / MICROS_PER_SECOND);
        Usage {
            calls,
            calls_per_day: calls as f64 * per_day,
            targets: by_target.len() as u64,
            interval_seconds,
            cycles_per_day: interval_seconds.map(|s| SECONDS_PER_DAY / s),
            per_day,
        }
    }

    /// Cycles per day: from the interval, else one cycle per window.
    fn cycles(&self) -> f64 {
        self.cycles_per_day.unwrap_or(self.per_day)
    }
}

fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid] as f64
    } else {
        (values[mid - 1] as f64 + values[mid] as f64) / 2.0
    })
}

/// Distinct network ids in any path of the log.
fn networks_in_paths(log: &ResolvedLog<'_>) -> usize {
    let mut networks = BTreeSet::new();
    for r in &log.requests {
        if let (Some(op), Some(target)) = (r.operation, log.target(r))
            && op.path.starts_with("/networks/{")
        {
            networks.insert(target);
        }
    }
    networks.len()
}

fn fan_out_recommendation(
    rule: &Rule,
    replacement: Replacement,
    consumer: &str,
    usage: &Usage,
    by_target: &BTreeMap<&str, Vec<i64>>,
    options: &RecommendOptions,
    networks_in_log: usize,
) -> Option<Recommendation> {
    if (usage.targets as usize) < MIN_FAN_OUT_TARGETS {
        return None;
    }
    let cycles = usage.cycles();
    let noun = if rule.current.starts_with("getNetwork") {
        "networks"
    } else {
        "devices"
    };
    let (per_cycle, unit, estimated) = match replacement {
        Replacement::PerNetwork => {
            let (networks, estimated) = networks_of(by_target, options, networks_in_log);
            (networks, "networks".to_owned(), estimated)
        }
        Replacement::PerOrganization { per_page } => (
            usage.targets.div_ceil(u64::from(per_page)).max(1),
            format!("pages of {per_page}"),
            false,
        ),
    };
    let after = per_cycle as f64 * cycles;
    let saved = usage.calls_per_day - after;
    let arithmetic = format!(
        "{calls} calls in the window = {current}/day ({targets} {noun} × {cycles} cycles/day{interval}) \
         → {per_cycle} {unit} × {cycles} cycles/day = {after}/day; saves {saved}/day",
        calls = thousands(usage.calls as f64),
        current = thousands(usage.calls_per_day),
        targets = usage.targets,
        cycles = thousands(cycles),
        interval = interval_text(usage.interval_seconds),
        after = thousands(after),
        saved = thousands(saved),
    );
    Some(usage.recommend(
        RecommendationKind::FanOut,
        consumer,
        rule.current,
        rule.suggested,
        after,
        saved,
        estimated,
        arithmetic,
    ))
}

/// The networks of these serials: from the inventory, a serial it lacks counting as a network of
/// its own; without any inventory, the networks seen in the log (at most one per serial).
fn networks_of(
    by_target: &BTreeMap<&str, Vec<i64>>,
    options: &RecommendOptions,
    networks_in_log: usize,
) -> (u64, bool) {
    if options.device_networks.is_empty() {
        let networks = networks_in_log.clamp(1, by_target.len().max(1));
        return (networks as u64, true);
    }
    let mut networks = BTreeSet::new();
    let mut unknown = 0u64;
    for serial in by_target.keys() {
        match options.device_networks.get(*serial) {
            Some(network) => {
                networks.insert(network.as_str());
            }
            None => unknown += 1,
        }
    }
    (networks.len() as u64 + unknown, false)
}

fn slow_list_recommendation(rule: &Rule, consumer: &str, usage: &Usage) -> Option<Recommendation> {
    let reads_per_target = usage.calls_per_day / usage.targets.max(1) as f64;
    if reads_per_target <= SLOW_LIST_READS_PER_DAY {
        return None;
    }
    let after = usage.targets as f64 + CONFIGURATION_CHANGES_POLLS_PER_DAY;
    let saved = usage.calls_per_day - after;
    let arithmetic = format!(
        "{calls} calls in the window = {current}/day ({targets} × every {interval}) → read once a day \
         ({targets}) + {CONFIGURATION_CHANGES} hourly (24) = {after}/day; saves {saved}/day \
         (the hourly changes poll can serve every list of the organization)",
        calls = thousands(usage.calls as f64),
        current = thousands(usage.calls_per_day),
        targets = usage.targets,
        interval = usage
            .interval_seconds
            .map_or_else(|| "?".to_owned(), seconds_text),
        after = thousands(after),
        saved = thousands(saved),
    );
    Some(usage.recommend(
        RecommendationKind::SlowChangingList,
        consumer,
        rule.current,
        rule.suggested,
        after,
        saved,
        false,
        arithmetic,
    ))
}

fn status_recommendation(rule: &Rule, consumer: &str, usage: &Usage) -> Option<Recommendation> {
    if usage.calls_per_day <= STATUS_POLLS_PER_DAY {
        return None;
    }
    let after = STATUS_POLLS_PER_DAY;
    let saved = usage.calls_per_day - after;
    let arithmetic = format!(
        "{calls} calls in the window = {current}/day → {AVAILABILITY_CHANGES} every 5 minutes, \
         changes only (288/day); saves {saved}/day",
        calls = thousands(usage.calls as f64),
        current = thousands(usage.calls_per_day),
        saved = thousands(saved),
    );
    Some(usage.recommend(
        RecommendationKind::StatusRepoll,
        consumer,
        rule.current,
        rule.suggested,
        after,
        saved,
        false,
        arithmetic,
    ))
}

/// Writes of one operation by one consumer: clusters separated by more than a burst span, kept
/// when some span of [`WRITE_BURST_SPAN_SECONDS`] holds [`MIN_WRITES_IN_BURST`] writes. Each
/// burst becomes ⌈actions / 100⌉ action batches, an action being a write not refused with a 429
/// (the refused ones are retried: the retries, not they, carry the change).
fn write_burst_recommendation(
    log: &ResolvedLog<'_>,
    consumer: &str,
    operation: &str,
    writes: &[&ResolvedRequest<'_>],
    per_day: f64,
) -> Option<Recommendation> {
    let span_us = WRITE_BURST_SPAN_SECONDS * 1_000_000;
    let mut bursts: Vec<&[&ResolvedRequest<'_>]> = Vec::new();
    let mut first = 0;
    for i in 1..=writes.len() {
        if i == writes.len() || writes[i].ts_us - writes[i - 1].ts_us > span_us {
            let cluster = &writes[first..i];
            if densest(cluster, span_us) >= MIN_WRITES_IN_BURST {
                bursts.push(cluster);
            }
            first = i;
        }
    }
    if bursts.is_empty() {
        return None;
    }
    let calls: u64 = bursts.iter().map(|b| b.len() as u64).sum();
    let mut targets = BTreeSet::new();
    let mut batches = 0u64;
    for burst in &bursts {
        let actions = burst.iter().filter(|r| !r.refused).count() as u64;
        batches += actions.max(1).div_ceil(ACTIONS_PER_BATCH);
        targets.extend(burst.iter().filter_map(|r| log.target(r)));
    }
    let mut gaps: Vec<i64> = bursts
        .windows(2)
        .map(|w| w[1][0].ts_us - w[0][0].ts_us)
        .collect();
    let interval_seconds = median(&mut gaps).map(|us| us / MICROS_PER_SECOND);
    let current = calls as f64 * per_day;
    let after = batches as f64 * per_day;
    let saved = current - after;
    let arithmetic = format!(
        "{calls} writes in {n} burst(s) = {current}/day → {batches} action batch(es) of up to \
         {ACTIONS_PER_BATCH} actions = {after}/day; saves {saved}/day",
        calls = thousands(calls as f64),
        n = bursts.len(),
        current = thousands(current),
        after = thousands(after),
        saved = thousands(saved),
    );
    Some(Recommendation {
        kind: RecommendationKind::WriteBurst,
        consumer: consumer.to_owned(),
        current_operation: operation.to_owned(),
        calls_in_window: calls,
        current_calls_per_day: current,
        distinct_targets: targets.len() as u64,
        polling_interval_seconds: interval_seconds,
        cycles_per_day: interval_seconds.map(|s| SECONDS_PER_DAY / s),
        suggested_operation: ACTION_BATCH.to_owned(),
        calls_per_day_after: after,
        calls_saved_per_day: saved,
        estimated: false,
        arithmetic,
    })
}

/// The most writes within any `span_us` (inclusive of its start, exclusive of its end).
fn densest(writes: &[&ResolvedRequest<'_>], span_us: i64) -> usize {
    let mut first = 0;
    let mut most = 0;
    for (i, w) in writes.iter().enumerate() {
        while writes[first].ts_us <= w.ts_us - span_us {
            first += 1;
        }
        most = most.max(i + 1 - first);
    }
    most
}

fn interval_text(seconds: Option<f64>) -> String {
    seconds.map_or_else(String::new, |s| format!(", every {}", seconds_text(s)))
}

fn seconds_text(seconds: f64) -> String {
    if seconds >= 60.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{seconds:.1} s")
    }
}

/// One finding per recommendation: a warning when it would save at least 1 % of the org's
/// daily budget at `rate_per_second`, else information.
pub fn recommendation_findings(
    recommendations: &[Recommendation],
    window: &AnalysisWindow,
    rate_per_second: f64,
) -> Vec<Finding> {
    let daily_budget = rate_per_second * SECONDS_PER_DAY;
    recommendations
        .iter()
        .map(|r| Finding {
            kind: FindingKind::Recommendation,
            severity: if r.calls_saved_per_day >= daily_budget / 100.0 {
                Severity::Warning
            } else {
                Severity::Info
            },
            consumer: Some(r.consumer.clone()),
            start: window.start,
            end: window.end,
            summary: format!(
                "replace {} ({}/day) with {} ({}/day): saves {} calls/day",
                r.current_operation,
                thousands(r.current_calls_per_day),
                r.suggested_operation,
                thousands(r.calls_per_day_after),
                thousands(r.calls_saved_per_day),
            ),
            metrics: serde_json::to_value(r).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::frames::RequestLogBuilder;
    use crate::store::RequestLogRow;
    use chrono::{DateTime, TimeDelta, Utc};

    const POLLER: &str = "Poller/1.0";

    fn t0() -> DateTime<Utc> {
        crate::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
    }

    /// One hour from 10:00: everything scales by 24 to a day.
    fn hour() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(1)).unwrap()
    }

    struct Call<'a> {
        at_ms: i64,
        code: u16,
        agent: &'a str,
        operation_id: Option<&'a str>,
        method: &'a str,
        path: String,
    }

    fn call<'a>(
        at_ms: i64,
        agent: &'a str,
        op: Option<&'a str>,
        method: &'a str,
        path: String,
    ) -> Call<'a> {
        Call {
            at_ms,
            code: 200,
            agent,
            operation_id: op,
            method,
            path,
        }
    }

    fn frame(calls: &[Call<'_>]) -> DataFrame {
        let mut builder = RequestLogBuilder::default();
        for c in calls {
            builder.push(&RequestLogRow {
                ts_us: t0().timestamp_micros() + c.at_ms * 1000,
                response_code: Some(c.code),
                method: Some(c.method),
                path: Some(&c.path),
                user_agent: Some(c.agent),
                admin_id: None,
                source_ip: None,
                operation_id: c.operation_id,
                client_id: None,
            });
        }
        builder.finish().unwrap()
    }

    fn serial(i: usize) -> String {
        format!("Q2XX-0000-{i:04}")
    }

    /// `devices` serials polled every `every_s` seconds over the hour, one call a second apart.
    fn per_device_polls(
        op: Option<&'static str>,
        suffix: &str,
        devices: usize,
        every_s: i64,
    ) -> Vec<Call<'static>> {
        let mut calls = Vec::new();
        for cycle in 0..(3600 / every_s) {
            for d in 0..devices {
                calls.push(call(
                    (cycle * every_s + d as i64) * 1000,
                    POLLER,
                    op,
                    "GET",
                    format!("/api/v1/devices/{}{suffix}", serial(d)),
                ));
            }
        }
        calls
    }

    /// Devices 0..n in network `N_{i % networks}`.
    fn inventory(devices: usize, networks: usize) -> RecommendOptions {
        RecommendOptions {
            device_networks: (0..devices)
                .map(|i| (serial(i), format!("N_{}", i % networks)))
                .collect(),
        }
    }

    fn run(calls: &[Call<'_>], options: &RecommendOptions) -> Vec<Recommendation> {
        recommend(
            &frame(calls),
            &hour(),
            OperationCatalog::meraki_v1(),
            options,
        )
        .unwrap()
    }

    #[test]
    fn per_device_lldp_polling_becomes_one_topology_call_per_network() {
        // 10 devices in 2 networks every 5 min: 120 calls an hour = 2,880/day.
        let calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
        let recs = run(&calls, &inventory(10, 2));
        assert_eq!(
            recs,
            [Recommendation {
                kind: RecommendationKind::FanOut,
                consumer: POLLER.to_owned(),
                current_operation: "getDeviceLldpCdp".to_owned(),
                calls_in_window: 120,
                current_calls_per_day: 2880.0,
                distinct_targets: 10,
                polling_interval_seconds: Some(300.0),
                cycles_per_day: Some(288.0),
                suggested_operation: "getNetworkTopologyLinkLayer".to_owned(),
                calls_per_day_after: 576.0,
                calls_saved_per_day: 2304.0,
                estimated: false,
                arithmetic: "120 calls in the window = 2,880/day (10 devices × 288 cycles/day, \
                             every 5.0 min) → 2 networks × 288 cycles/day = 576/day; saves 2,304/day"
                    .to_owned(),
            }]
        );
    }

    #[test]
    fn records_without_an_operation_id_are_resolved_from_their_path() {
        let mut calls = per_device_polls(None, "/lldpCdp", 10, 300);
        // Unmatched paths and records without an operation are left out, not counted.
        calls.push(call(
            5,
            POLLER,
            None,
            "GET",
            "/api/v1/nothing/here".to_owned(),
        ));
        calls.push(call(
            6,
            POLLER,
            Some("noSuchOperation"),
            "GET",
            "/x".to_owned(),
        ));
        let recs = run(&calls, &inventory(10, 2));
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].current_operation, "getDeviceLldpCdp");
        assert_eq!(recs[0].calls_in_window, 120);
        assert_eq!(recs[0].calls_saved_per_day, 2304.0);
    }

    #[test]
    fn without_an_inventory_the_networks_are_estimated_from_the_log() {
        let mut calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
        for (i, net) in ["L_1", "L_2", "L_3"].iter().enumerate() {
            calls.push(call(
                i as i64,
                "Other/1",
                None,
                "GET",
                format!("/api/v1/networks/{net}/clients"),
            ));
        }
        let recs = run(&calls, &RecommendOptions::default());
        assert_eq!(recs.len(), 1);
        assert!(recs[0].estimated);
        assert_eq!(recs[0].calls_per_day_after, 3.0 * 288.0);
    }

    #[test]
    fn per_device_port_statuses_become_paginated_org_wide_calls() {
        // 25 switches every 10 min: 150 calls = 3,600/day → ⌈25/20⌉ = 2 pages × 144 = 288/day.
        let calls = per_device_polls(
            Some("getDeviceSwitchPortsStatuses"),
            "/switch/ports/statuses",
            25,
            600,
        );
        let recs = run(&calls, &RecommendOptions::default());
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(
            r.suggested_operation,
            "getOrganizationSwitchPortsStatusesBySwitch"
        );
        assert_eq!(
            (
                r.current_calls_per_day,
                r.calls_per_day_after,
                r.calls_saved_per_day
            ),
            (3600.0, 288.0, 3312.0)
        );
        assert_eq!(r.cycles_per_day, Some(144.0));
    }

    #[test]
    fn a_few_devices_are_not_a_fan_out() {
        let calls = per_device_polls(
            Some("getDeviceLldpCdp"),
            "/lldpCdp",
            MIN_FAN_OUT_TARGETS - 1,
            300,
        );
        assert!(run(&calls, &inventory(10, 2)).is_empty());
    }

    #[test]
    fn a_slow_changing_list_read_every_minute_is_read_daily_and_changes_followed_hourly() {
        let calls: Vec<Call<'_>> = (0..60)
            .map(|m| {
                call(
                    m * 60_000,
                    "Exporter/1",
                    None,
                    "GET",
                    "/api/v1/organizations/1/networks".to_owned(),
                )
            })
            .collect();
        let recs = run(&calls, &RecommendOptions::default());
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.kind, RecommendationKind::SlowChangingList);
        assert_eq!(r.current_operation, "getOrganizationNetworks");
        assert_eq!(r.suggested_operation, "getOrganizationConfigurationChanges");
        assert_eq!(
            (
                r.current_calls_per_day,
                r.calls_per_day_after,
                r.calls_saved_per_day
            ),
            (1440.0, 25.0, 1415.0)
        );
        assert_eq!(r.polling_interval_seconds, Some(60.0));
    }

    #[test]
    fn a_list_read_once_an_hour_is_left_alone() {
        let calls = [call(
            0,
            "Exporter/1",
            Some("getOrganizationNetworks"),
            "GET",
            "/api/v1/organizations/1/networks".to_owned(),
        )];
        assert!(run(&calls, &RecommendOptions::default()).is_empty());
    }

    #[test]
    fn a_burst_of_single_writes_becomes_action_batches_counting_refused_writes_once() {
        // 130 PUTs within 13 s, 20 of them refused and retried: 110 actions → 2 batches.
        let mut calls: Vec<Call<'_>> = (0..130)
            .map(|i| {
                call(
                    i * 100,
                    "Pusher/1",
                    None,
                    "PUT",
                    format!(
                        "/api/v1/devices/{}/switch/ports/{}",
                        serial(i as usize % 7),
                        i
                    ),
                )
            })
            .collect();
        for c in calls.iter_mut().take(20) {
            c.code = 429;
        }
        let recs = run(&calls, &RecommendOptions::default());
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.kind, RecommendationKind::WriteBurst);
        assert_eq!(r.current_operation, "updateDeviceSwitchPort");
        assert_eq!(r.suggested_operation, "createOrganizationActionBatch");
        assert_eq!(r.distinct_targets, 7);
        assert_eq!(
            (
                r.calls_in_window,
                r.current_calls_per_day,
                r.calls_per_day_after,
                r.calls_saved_per_day
            ),
            (130, 3120.0, 48.0, 3072.0)
        );
        assert_eq!(
            r.arithmetic,
            "130 writes in 1 burst(s) = 3,120/day → 2 action batch(es) of up to 100 actions = 48/day; saves 3,072/day"
        );
    }

    #[test]
    fn writes_spread_wider_than_a_minute_are_not_a_burst() {
        // 30 writes 4 s apart: at most 15 within a minute.
        let calls: Vec<Call<'_>> = (0..30)
            .map(|i| {
                call(
                    i * 4_000,
                    "Pusher/1",
                    None,
                    "PUT",
                    format!("/api/v1/devices/{}/switch/ports/1", serial(0)),
                )
            })
            .collect();
        assert!(run(&calls, &RecommendOptions::default()).is_empty());
    }

    #[test]
    fn org_wide_status_polled_every_30_s_follows_the_availability_changes() {
        let calls: Vec<Call<'_>> = (0..120)
            .map(|i| {
                call(
                    i * 30_000,
                    "Sync/1",
                    Some("getOrganizationDevicesStatuses"),
                    "GET",
                    "/api/v1/organizations/1/devices/statuses".to_owned(),
                )
            })
            .collect();
        let recs = run(&calls, &RecommendOptions::default());
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].kind, RecommendationKind::StatusRepoll);
        assert_eq!(
            recs[0].suggested_operation,
            "getOrganizationDevicesAvailabilitiesChangeHistory"
        );
        assert_eq!(
            (recs[0].current_calls_per_day, recs[0].calls_saved_per_day),
            (2880.0, 2592.0)
        );
    }

    #[test]
    fn an_empty_window_has_no_recommendations_or_findings() {
        let recs = run(&[], &RecommendOptions::default());
        assert!(recs.is_empty());
        assert!(recommendation_findings(&recs, &hour(), 10.0).is_empty());
    }

    #[test]
    fn findings_warn_when_a_recommendation_saves_a_percent_of_the_daily_budget() {
        let calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
        let recs = run(&calls, &inventory(10, 2));
        // 2,304 saved: under 1 % of 864,000, over 1 % of 86,400.
        let at_10 = recommendation_findings(&recs, &hour(), 10.0);
        assert_eq!(at_10[0].severity, Severity::Info);
        assert_eq!(at_10[0].consumer.as_deref(), Some(POLLER));
        assert_eq!(
            at_10[0].summary,
            "replace getDeviceLldpCdp (2,880/day) with getNetworkTopologyLinkLayer (576/day): saves 2,304 calls/day"
        );
        assert_eq!(
            recommendation_findings(&recs, &hour(), 1.0)[0].severity,
            Severity::Warning
        );
    }
}
