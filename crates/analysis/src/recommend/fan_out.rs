//! Fan-outs: one per-device or per-network operation called for many targets (or for many items
//! of each target) every polling cycle, for any pair of the replacement table. The replacement
//! makes ⌈targets / page⌉ org-wide calls a cycle, one call per network, or one per device; a
//! cycle is the calls per path per day the log shows, so the calls a day after are
//! `calls a day × calls a cycle after / paths read a cycle`.

use super::table::{Coverage, FanOutPair, reads_items, target_parameter};
use super::{
    MIN_FAN_OUT_TARGETS, Period, Reads, RecommendOptions, Recommendation, RecommendationKind,
    ResolvedLog, each_every, thousands,
};
use callbudget_api::OperationCatalog;
use std::collections::BTreeSet;

/// Distinct network ids in any path of the log.
pub(super) fn networks_in_paths(log: &ResolvedLog<'_>) -> usize {
    let mut networks = BTreeSet::new();
    for (operation, target) in log.distinct_calls() {
        if let (Some(op), Some(target)) = (operation, target)
            && target_parameter(op) == Some("networkId")
        {
            networks.insert(target);
        }
    }
    networks.len()
}

/// The recommendation for a fan-out of `usage` over `pair`, if the loop covers enough paths and
/// the replacement needs fewer calls a cycle.
pub(super) fn recommendation(
    log: &ResolvedLog<'_>,
    period: &Period,
    usage: &Reads<'_>,
    pair: &FanOutPair,
    options: &RecommendOptions,
    networks_in_log: usize,
) -> Option<Recommendation> {
    let resources = usage.resources();
    if (resources as usize) < MIN_FAN_OUT_TARGETS {
        return None;
    }
    let targets = usage.targets.len() as u64;
    let per_device = target_parameter(usage.operation) == Some("serial");
    let (noun, what) = if per_device {
        ("devices", "device")
    } else {
        ("networks", "network")
    };
    let (per_cycle, how, estimated) = match pair.coverage {
        Coverage::Organization { targets_per_call } => {
            let scope = match pair.filter {
                Some(filter) => format!("with {}[] naming the {targets} {noun}", filter.as_str()),
                None => format!("(no filter: it returns every {what} of the organization)"),
            };
            match targets_per_call {
                Some(per_call) => {
                    let calls = targets.div_ceil(u64::from(per_call)).max(1);
                    (calls, format!("{scope}, ⌈{targets} / {per_call}⌉"), false)
                }
                None => (1, format!("{scope} in one unpaged call"), false),
            }
        }
        Coverage::Network => {
            let (networks, estimated) = if per_device {
                networks_of(log, usage, options, networks_in_log)
            } else {
                (targets, false)
            };
            let guess = if estimated {
                " (estimated from the networks in the log)"
            } else {
                ""
            };
            (
                networks,
                format!("once for each of the {networks} networks{guess}"),
                estimated,
            )
        }
        Coverage::Device => (
            targets,
            format!("once for each of the {targets} devices"),
            false,
        ),
    };
    if per_cycle >= resources {
        return None;
    }
    let current = usage.per_day(period);
    let after = (current * per_cycle as f64 / resources as f64).round();
    let paths = if reads_items(usage.operation) {
        format!("{resources} paths across {targets} {noun}")
    } else {
        format!("{resources} {noun}")
    };
    let arithmetic = format!(
        "{read}{retries}: {paths}{every} → {replacement} {how} = {per_cycle} call(s) a cycle instead of \
         {resources}: {current}/day × {per_cycle}/{resources} = {after}/day; saves {saved}/day",
        read = period.calls_text(usage.calls, current),
        retries = usage.retries_text(),
        every = each_every(usage.interval_seconds()),
        replacement = pair.replacement,
        current = thousands(current),
        after = thousands(after),
        saved = thousands(current - after),
    );
    let catalog = OperationCatalog::meraki_v1();
    let mut rec = usage.recommendation(
        log,
        period,
        RecommendationKind::FanOut,
        &pair.replacement,
        after,
    );
    rec.calls_per_cycle_after = Some(per_cycle);
    rec.per_page = pair.per_page;
    rec.filter = pair.filter.map(|f| f.as_str().to_owned());
    rec.estimated = estimated;
    rec.arithmetic = arithmetic;
    rec.reason = Some(pair.reason.clone());
    rec.documentation_url = catalog
        .get(&pair.replacement)
        .map(|op| op.documentation_url());
    Some(rec)
}

/// The networks of the serials `usage` read: from the inventory, a serial it lacks counting as a
/// network of its own; without any inventory, the networks seen in the log (at most one per
/// serial), flagged as an estimate.
fn networks_of(
    log: &ResolvedLog<'_>,
    usage: &Reads<'_>,
    options: &RecommendOptions,
    networks_in_log: usize,
) -> (u64, bool) {
    let targets = usage.targets.len();
    if options.device_networks.is_empty() {
        let networks = networks_in_log.clamp(1, targets.max(1));
        return (networks as u64, true);
    }
    let mut networks = BTreeSet::new();
    let mut unknown = 0u64;
    for &target in &usage.targets {
        match options.device_networks.get(&log.targets[target]) {
            Some(network) => {
                networks.insert(network.as_str());
            }
            None => unknown += 1,
        }
    }
    (networks.len() as u64 + unknown, false)
}
