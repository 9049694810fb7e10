//! Fan-outs: one per-device or per-network operation called for many targets (or for many items
//! of each target) every polling cycle, for any pair of the replacement table. The replacement
//! makes ⌈targets / page⌉ org-wide calls a cycle, one call per network, or one per device; a
//! cycle is the calls per path per day the log shows, so the calls a day after are
//! `calls a day × calls a cycle after / paths read a cycle`.

use super::table::{Coverage, FanOutPair, reads_items, target_parameter};
use super::{
    MIN_FAN_OUT_TARGETS, Period, Reads, RecommendOptions, Recommendation, RecommendationKind,
    ResolvedLog, ResolvedRequest, each_every, thousands,
};
use callbudget_api::{Operation, OperationCatalog};
use std::collections::BTreeSet;

/// The networks the requests name in their paths: those of each consumer's own calls (index into
/// [`ResolvedLog::consumers`]), and of everyone's.
pub(super) struct NetworksNamed {
    pub by_consumer: Vec<BTreeSet<usize>>,
    pub in_log: usize,
}

impl NetworksNamed {
    /// Each consumer's networks from its reads (`reads`, whose targets are what their paths
    /// address) and its writes.
    pub fn of<'c>(
        log: &ResolvedLog<'_>,
        reads: impl Iterator<Item = &'c Reads<'c>>,
        writes: impl Iterator<Item = (usize, &'c ResolvedRequest<'c>)>,
    ) -> Self {
        let is_network = |op: &Operation| target_parameter(op) == Some("networkId");
        let mut by_consumer = vec![BTreeSet::new(); log.consumers.len()];
        for read in reads.filter(|read| is_network(read.operation)) {
            by_consumer[read.consumer].extend(read.targets.iter().copied());
        }
        for (consumer, write) in writes {
            if let (Some(op), Some(target)) = (write.operation, write.target_index())
                && is_network(op)
            {
                by_consumer[consumer].insert(target);
            }
        }
        let mut in_log = BTreeSet::new();
        for (operation, target) in log.distinct_calls() {
            if let (Some(op), Some(target)) = (operation, target)
                && is_network(op)
            {
                in_log.insert(target);
            }
        }
        NetworksNamed {
            by_consumer,
            in_log: in_log.len(),
        }
    }
}

/// The recommendation for a fan-out of `usage` over `pair`, if the loop covers enough paths and
/// the replacement needs fewer calls a cycle.
pub(super) fn recommendation(
    log: &ResolvedLog<'_>,
    period: &Period,
    usage: &Reads<'_>,
    pair: &FanOutPair,
    options: &RecommendOptions,
    networks: &NetworksNamed,
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
            let (count, basis) = if per_device {
                networks_of(log, usage, options, networks)
            } else {
                (targets, NetworkBasis::Paths)
            };
            let guess = match basis {
                NetworkBasis::Paths | NetworkBasis::Inventory => "",
                NetworkBasis::OwnCalls => " (estimated: the networks its own calls name)",
                NetworkBasis::WholeLog => {
                    " (estimated from the networks in the log: its own calls name none)"
                }
            };
            (
                count,
                format!("once for each of the {count} networks{guess}"),
                matches!(basis, NetworkBasis::OwnCalls | NetworkBasis::WholeLog),
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
    let paths = if !pair.with_query.is_empty() {
        format!(
            "{resources} {} values across {targets} {noun}",
            pair.with_query.join(" and ")
        )
    } else if reads_items(usage.operation) {
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

/// Where a per-device loop's count of networks comes from.
enum NetworkBasis {
    /// The loop's own paths name the networks.
    Paths,
    /// The inventory maps its serials to networks.
    Inventory,
    /// The networks the consumer's own calls name (an estimate: its devices are likely in them).
    OwnCalls,
    /// The networks anyone's calls name, when its own name none (an estimate).
    WholeLog,
}

/// The networks of the serials `usage` read: from the inventory, a serial it lacks counting as a
/// network of its own; without any inventory, the networks its consumer's own calls name (at most
/// one per serial), else those anyone's calls name — an estimate either way.
fn networks_of(
    log: &ResolvedLog<'_>,
    usage: &Reads<'_>,
    options: &RecommendOptions,
    named: &NetworksNamed,
) -> (u64, NetworkBasis) {
    let targets = usage.targets.len();
    if options.device_networks.is_empty() {
        let own = named.by_consumer[usage.consumer].len();
        let (networks, basis) = if own > 0 {
            (own, NetworkBasis::OwnCalls)
        } else {
            (named.in_log, NetworkBasis::WholeLog)
        };
        return (networks.clamp(1, targets.max(1)) as u64, basis);
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
    (networks.len() as u64 + unknown, NetworkBasis::Inventory)
}
