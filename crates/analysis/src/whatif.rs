//! Detector 4, what-if: replays the organization's token bucket over the log as logged, without
//! one consumer, and with that consumer's calls thinned as its recommendations say, and counts the
//! refusals everyone else would have been spared.
//!
//! Like the budget timeline, the replay offers the bucket every logged request in time order,
//! retries included (a retry is a request the budget had to answer), and starts with a full
//! bucket. It does not model the retries that fewer refusals would have made unnecessary, so the
//! figures are what the same demand minus X does to the bucket.
//!
//! **The log's refusals are the baseline.** A server's bucket and the replay's never agree to the
//! request (its timer, its clock, other limits), so the others' refusals a what-if starts from are
//! those the log shows — the figure every other part of the audit quotes — and what it spares is
//! what the replay removes: the replay's refusals of the others as logged less those in the
//! scenario, at most the log's.

use super::columns::RequestColumns;
use super::recommend::{Recommendation, ResolvedLog, resolve_columns};
use super::spikes::ConsumerCount;
use super::timeline::{BucketReplay, Seconds};
use super::{AnalysisError, AnalysisWindow, Finding, FindingKind, Severity};
use callbudget_api::OperationCatalog;
use callbudget_api::budget::{BudgetModel, replay as replay_bucket};
use serde::Serialize;
use std::collections::HashMap;

/// What was changed about the consumer in a what-if.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "scenario")]
pub enum WhatIfScenario {
    /// All of the consumer's requests removed.
    WithoutConsumer,
    /// The consumer's requests of these operations thinned to their recommended rate.
    WithRecommendations { operations: Vec<String> },
}

/// The refusals the other consumers would have been spared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// The consumer's user agent.
    pub consumer: String,
    #[serde(flatten)]
    pub scenario: WhatIfScenario,
    /// The consumer's requests the scenario takes out of the replay.
    pub requests_removed: u64,
    /// Requests of the other consumers the log shows refused (answered 429).
    pub refused_others_before: u64,
    /// … less those the scenario spares: `refused_others_before − spared`.
    pub refused_others_after: u64,
    /// The others' refusals the scenario spares: those the replay refuses as logged less those it
    /// refuses in the scenario, at most `refused_others_before`.
    pub spared: u64,
    /// `spared / refused_others_before` (0 when nobody else was refused).
    pub spared_share: f64,
    /// The other consumers' requests the replay refuses as logged, and in the scenario: the model
    /// `spared` comes from.
    pub replayed_others_before: u64,
    pub replayed_others_after: u64,
}

/// The what-ifs for the `top` consumers by requests (most first): without each, and, when it
/// has recommendations, with them applied.
pub fn what_if_top(
    log: &RequestColumns,
    budget: &BudgetModel,
    recommendations: &[Recommendation],
    catalog: &OperationCatalog,
    top: usize,
) -> Result<Vec<WhatIf>, AnalysisError> {
    let resolved = resolve_columns(log, catalog);
    let replay = BucketReplay::of(log, budget);
    Ok(what_if_top_resolved(
        &resolved,
        budget,
        &replay,
        recommendations,
        top,
    ))
}

/// [`what_if_top`] over a log already resolved and replayed as logged.
pub(crate) fn what_if_top_resolved(
    resolved: &ResolvedLog<'_>,
    budget: &BudgetModel,
    replay: &BucketReplay,
    recommendations: &[Recommendation],
    top: usize,
) -> Vec<WhatIf> {
    let counts = resolved.requests_by_consumer();
    let mut ranked: Vec<usize> = (0..counts.len()).collect();
    ranked.sort_by(|&a, &b| {
        counts[b]
            .cmp(&counts[a])
            .then_with(|| resolved.consumers[a].cmp(&resolved.consumers[b]))
    });
    ranked.truncate(top);
    what_if_resolved(resolved, budget, replay, &ranked, recommendations)
}

/// The what-ifs for these consumers (user agents); one not in the log is skipped.
pub fn what_if(
    log: &RequestColumns,
    budget: &BudgetModel,
    consumers: &[&str],
    recommendations: &[Recommendation],
    catalog: &OperationCatalog,
) -> Result<Vec<WhatIf>, AnalysisError> {
    let resolved = resolve_columns(log, catalog);
    let replay = BucketReplay::of(log, budget);
    Ok(what_if_consumers_resolved(
        &resolved,
        budget,
        &replay,
        consumers,
        recommendations,
    ))
}

/// [`what_if`] over a log already resolved and replayed as logged.
pub(crate) fn what_if_consumers_resolved(
    resolved: &ResolvedLog<'_>,
    budget: &BudgetModel,
    replay: &BucketReplay,
    consumers: &[&str],
    recommendations: &[Recommendation],
) -> Vec<WhatIf> {
    let indices: Vec<usize> = consumers
        .iter()
        .filter_map(|c| resolved.consumers.iter().position(|x| x == c))
        .collect();
    what_if_resolved(resolved, budget, replay, &indices, recommendations)
}

/// One what-if scenario: a consumer, and which of the log's requests it takes away (one bit
/// each).
struct Scenario<'a> {
    consumer: usize,
    kind: WhatIfScenario,
    removed: Vec<u64>,
    requests_removed: u64,
    /// The others' refusals in the log, and as the replay refuses them.
    others_logged: u64,
    others_replayed: u64,
    name: &'a str,
}

fn what_if_resolved(
    log: &ResolvedLog<'_>,
    budget: &BudgetModel,
    replay: &BucketReplay,
    consumers: &[usize],
    recommendations: &[Recommendation],
) -> Vec<WhatIf> {
    let anonymous = log.consumers.len();
    let words = log.len().div_ceil(64);
    // What each distinct consumer asked about takes away: all its requests, and the requests its
    // recommendations save (each with its thinning ratio and how many of its requests it met).
    struct Removal<'r> {
        all: Vec<u64>,
        all_count: u64,
        own: Vec<Thinning<'r>>,
        thinned: Vec<u64>,
    }
    let mut removal_of_slot: Vec<Option<usize>> = vec![None; anonymous + 1];
    let mut removals: Vec<Removal<'_>> = Vec::new();
    for &x in consumers {
        if removal_of_slot[x].is_some() {
            continue;
        }
        let name = log.consumers[x].as_str();
        let own: Vec<Thinning<'_>> = recommendations
            .iter()
            // Only what saves calls thins them (an unknown operation is named, not replaced).
            .filter(|r| r.consumer == name && r.calls_saved_per_day > 0.0)
            .map(|r| Thinning {
                recommendation: r,
                ratio: (r.calls_per_day_after / r.current_calls_per_day).clamp(0.0, 1.0),
                met: 0,
                kept_so_far: 0.0,
            })
            .collect();
        removal_of_slot[x] = Some(removals.len());
        removals.push(Removal {
            all: vec![0u64; words],
            all_count: 0,
            thinned: if own.is_empty() {
                Vec::new()
            } else {
                vec![0u64; words]
            },
            own,
        });
    }
    // One pass over the log: refusals per consumer in the log and in the replay as logged (the one
    // replay every detector shares), and what each scenario takes away.
    let mut logged = vec![0u64; anonymous + 1];
    let mut before = vec![0u64; anonymous + 1];
    let columns = log.columns();
    for row in 0..log.len() {
        let slot = log.consumer_of(row).unwrap_or(anonymous);
        if columns.refused(row) {
            logged[slot] += 1;
        }
        if replay.refused(row) {
            before[slot] += 1;
        }
        let Some(removal) = removal_of_slot[slot].map(|i| &mut removals[i]) else {
            continue;
        };
        let bit = 1 << (row % 64);
        removal.all[row / 64] |= bit;
        removal.all_count += 1;
        if removal.own.is_empty() {
            continue;
        }
        let r = log.request(row);
        for thinning in &mut removal.own {
            if r.operation
                .is_some_and(|op| op.operation_id == thinning.recommendation.current_operation)
            {
                // Keep one in 1/ratio, evenly: request k survives when (k + 1)·ratio crosses a
                // whole number. Two recommendations for one operation both thin.
                let kept = ((thinning.met + 1) as f64 * thinning.ratio).floor();
                if kept <= thinning.kept_so_far {
                    removal.thinned[row / 64] |= bit;
                }
                thinning.kept_so_far = kept;
                thinning.met += 1;
            }
        }
    }
    let refused_except = |refused: &[u64], x: usize| -> u64 {
        refused
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != x)
            .map(|(_, n)| n)
            .sum()
    };
    let mut scenarios = Vec::new();
    for &x in consumers {
        let name = log.consumers[x].as_str();
        let (others_logged, others_replayed) =
            (refused_except(&logged, x), refused_except(&before, x));
        let Some(removal) = removal_of_slot[x].map(|i| &removals[i]) else {
            continue;
        };
        scenarios.push(Scenario {
            consumer: x,
            kind: WhatIfScenario::WithoutConsumer,
            removed: removal.all.clone(),
            requests_removed: removal.all_count,
            others_logged,
            others_replayed,
            name,
        });
        if removal.own.is_empty() {
            continue;
        }
        let requests_removed = removal
            .thinned
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        let operations = removal
            .own
            .iter()
            .map(|t| t.recommendation.current_operation.clone())
            .collect();
        scenarios.push(Scenario {
            consumer: x,
            kind: WhatIfScenario::WithRecommendations { operations },
            removed: removal.thinned.clone(),
            requests_removed,
            others_logged,
            others_replayed,
            name,
        });
    }
    drop(removals);
    // Each scenario replays the whole log: they run on two threads.
    let after = on_two_threads(&scenarios, |scenario| {
        let refused = replay_without(log, budget, &scenario.removed);
        refused_except(&refused, scenario.consumer)
    });
    scenarios
        .into_iter()
        .zip(after)
        .map(|(scenario, replayed_after)| {
            outcome(
                scenario.name,
                scenario.kind,
                scenario.requests_removed,
                scenario.others_logged,
                (scenario.others_replayed, replayed_after),
            )
        })
        .collect()
}

/// `work` of every item, in order, the items split between this thread and one more.
fn on_two_threads<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 {
        return items.iter().map(&work).collect();
    }
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| second.iter().map(&work).collect::<Vec<R>>());
        let mut out: Vec<R> = first.iter().map(&work).collect();
        match helper.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// A what-if's figures: the others' refusals in the log, and in the replay (as logged, in the
/// scenario).
fn outcome(
    consumer: &str,
    scenario: WhatIfScenario,
    requests_removed: u64,
    refused_others_before: u64,
    (replayed_others_before, replayed_others_after): (u64, u64),
) -> WhatIf {
    let spared = replayed_others_before
        .saturating_sub(replayed_others_after)
        .min(refused_others_before);
    WhatIf {
        consumer: consumer.to_owned(),
        scenario,
        requests_removed,
        refused_others_before,
        refused_others_after: refused_others_before - spared,
        spared,
        spared_share: if refused_others_before == 0 {
            0.0
        } else {
            spared as f64 / refused_others_before as f64
        },
        replayed_others_before,
        replayed_others_after,
    }
}

/// Refusals per consumer index (the last slot: requests without a user agent) when the bucket
/// is offered every request but the `removed` ones.
fn replay_without(log: &ResolvedLog<'_>, budget: &BudgetModel, removed: &[u64]) -> Vec<u64> {
    let anonymous = log.consumers.len();
    let mut refused = vec![0u64; anonymous + 1];
    let ts_us = &log.columns().ts_us;
    let offered = rows_kept(removed, log.len());
    let replayed = replay_bucket(budget, offered.clone().map(|row| ts_us[row]));
    for (row, (_, admitted)) in offered.zip(replayed) {
        if !admitted {
            refused[log.consumer_of(row).unwrap_or(anonymous)] += 1;
        }
    }
    refused
}

/// A recommendation's thinning of its consumer's calls of its operation: it keeps `ratio` of them.
struct Thinning<'r> {
    recommendation: &'r Recommendation,
    ratio: f64,
    /// The calls of the operation met so far.
    met: u64,
    /// `⌊met · ratio⌋`: how many of them were kept.
    kept_so_far: f64,
}

/// The rows below `len` whose bit in `removed` is clear, in order: a word of the bitmap at a time,
/// not a test per row (each scenario walks the whole log twice).
fn rows_kept(removed: &[u64], len: usize) -> impl Iterator<Item = usize> + Clone + '_ {
    removed.iter().enumerate().flat_map(move |(word, &bits)| {
        let base = word * 64;
        let mut kept = !bits;
        let rows_here = len.saturating_sub(base);
        if rows_here < 64 {
            kept &= (1u64 << rows_here) - 1;
        }
        std::iter::from_fn(move || {
            (kept != 0).then(|| {
                let row = base + kept.trailing_zeros() as usize;
                kept &= kept - 1;
                row
            })
        })
    })
}

/// Who sent the requests of the seconds in which the replay (as logged) refuses something, most
/// first: the consumers that drive saturation.
pub fn senders_in_refused_seconds(
    log: &RequestColumns,
    budget: &BudgetModel,
) -> Result<Vec<ConsumerCount>, AnalysisError> {
    let replay = BucketReplay::of(log, budget);
    Ok(senders_in_refused_seconds_of(log, &replay))
}

/// [`senders_in_refused_seconds`] of the log's columns, replayed.
pub(crate) fn senders_in_refused_seconds_of(
    log: &RequestColumns,
    replay: &BucketReplay,
) -> Vec<ConsumerCount> {
    let mut by_sender = vec![0u64; log.senders.len()];
    for second in Seconds::of(log) {
        if replay.any_refused(second.rows.clone()) {
            for &sender in &log.sender[second.rows] {
                by_sender[sender as usize] += 1;
            }
        }
    }
    let mut counts: HashMap<Option<&str>, u64> = HashMap::new();
    for (sender, &n) in log.senders.iter().zip(&by_sender) {
        if n > 0 {
            *counts.entry(sender.user_agent.as_deref()).or_default() += n;
        }
    }
    let mut out: Vec<ConsumerCount> = counts
        .into_iter()
        .map(|(agent, requests)| ConsumerCount {
            user_agent: agent.map(str::to_owned),
            requests,
        })
        .collect();
    out.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.user_agent.is_none().cmp(&b.user_agent.is_none()))
            .then_with(|| a.user_agent.cmp(&b.user_agent))
    });
    out
}

/// One finding per what-if that spares the others something: a warning when it spares at least
/// half of their refusals.
pub fn whatif_findings(what_ifs: &[WhatIf], window: &AnalysisWindow) -> Vec<Finding> {
    what_ifs
        .iter()
        .filter(|w| w.spared > 0)
        .map(|w| {
            let change = match &w.scenario {
                WhatIfScenario::WithoutConsumer => "without this consumer".to_owned(),
                WhatIfScenario::WithRecommendations { operations } => {
                    format!(
                        "with its {} calls replaced as recommended",
                        operations.join(", ")
                    )
                }
            };
            Finding {
                kind: FindingKind::WhatIf,
                severity: if w.spared_share >= 0.5 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                consumer: Some(w.consumer.clone()),
                start: window.start,
                end: window.end,
                summary: format!(
                    "{change}, the other consumers would have been refused {} times instead of {}: \
                     {} refusals ({:.0} %) spared",
                    w.refused_others_after,
                    w.refused_others_before,
                    w.spared,
                    w.spared_share * 100.0
                ),
                metrics: serde_json::to_value(w).unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_kept_are_those_whose_bit_is_clear_below_the_length() {
        let mut removed = vec![0u64; 3];
        for row in [0, 5, 63, 64, 100, 129] {
            removed[row / 64] |= 1 << (row % 64);
        }
        let expected: Vec<usize> = (0..130)
            .filter(|row| ![0, 5, 63, 64, 100, 129].contains(row))
            .collect();
        assert_eq!(rows_kept(&removed, 130).collect::<Vec<_>>(), expected);
        assert_eq!(rows_kept(&[u64::MAX], 64).count(), 0);
        assert_eq!(rows_kept(&[0], 3).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(rows_kept(&[0, 0], 64).count(), 64);
        assert_eq!(rows_kept(&[], 0).count(), 0);
    }
    use crate::RecommendationKind;
    use crate::fixtures::{self, request};
    use chrono::{DateTime, TimeDelta, Utc};

    const BURSTER: &str = "Pusher/1";
    const STEADY: &str = "Steady/1";

    fn t0() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(1)).unwrap()
    }

    /// (ms after 10:00, user agent) → PUTs for the burster (no operationId), GETs for the others,
    /// in time order; each answered as Meraki's bucket answers it (429 when it refuses).
    fn request_log(calls: &[(i64, &str)]) -> RequestColumns {
        let refused: Vec<bool> = replay_bucket(
            &BudgetModel::meraki(),
            calls.iter().map(|&(at_ms, _)| at_ms * 1000),
        )
        .map(|(_, admitted)| !admitted)
        .collect();
        answered(calls, &refused)
    }

    /// The log of `calls`, the `refused` ones answered 429.
    fn answered(calls: &[(i64, &str)], refused: &[bool]) -> RequestColumns {
        fixtures::log(
            calls
                .iter()
                .zip(refused)
                .map(|(&(at_ms, agent), &refused)| {
                    let (method, path) = if agent == BURSTER {
                        ("PUT", "/api/v1/devices/Q2XX-0001-0001/switch/ports/1")
                    } else {
                        ("GET", "/api/v1/organizations/1/networks")
                    };
                    request(t0().timestamp_micros() + at_ms * 1000)
                        .method(method)
                        .path(path)
                        .user_agent(agent)
                        .status(if refused { 429 } else { 200 })
                }),
        )
    }

    /// 30 writes at 10:00:00 from the burster, then 5 reads at 10:00:00.1 from the steady one:
    /// the full bucket admits 20 writes, and 100 ms later holds one token, so 4 reads are refused.
    fn burst_then_reads() -> RequestColumns {
        let mut calls = vec![(0, BURSTER); 30];
        calls.extend([(100, STEADY); 5]);
        request_log(&calls)
    }

    fn batch_recommendation(ratio: f64) -> Recommendation {
        Recommendation {
            kind: RecommendationKind::WriteBurst,
            consumer: BURSTER.to_owned(),
            application: BURSTER.to_owned(),
            current_operation: "updateDeviceSwitchPort".to_owned(),
            calls_in_window: 30,
            retries_excluded: 0,
            current_calls_per_day: 720.0,
            distinct_targets: 1,
            distinct_resources: 1,
            polling_interval_seconds: None,
            cycles_per_day: None,
            suggested_operation: "createOrganizationActionBatch".to_owned(),
            calls_per_cycle_after: None,
            per_page: None,
            filter: None,
            calls_per_day_after: 720.0 * ratio,
            calls_saved_per_day: 720.0 * (1.0 - ratio),
            estimated: false,
            arithmetic: String::new(),
            reason: None,
            documentation_url: None,
        }
    }

    fn top(log: &RequestColumns, recs: &[Recommendation]) -> Vec<WhatIf> {
        what_if_top(
            log,
            &BudgetModel::meraki(),
            recs,
            OperationCatalog::meraki_v1(),
            3,
        )
        .unwrap()
    }

    #[test]
    fn removing_the_burster_spares_exactly_the_others_refusals() {
        let what_ifs = top(&burst_then_reads(), &[]);
        assert_eq!(
            what_ifs,
            [
                WhatIf {
                    consumer: BURSTER.to_owned(),
                    scenario: WhatIfScenario::WithoutConsumer,
                    requests_removed: 30,
                    refused_others_before: 4,
                    refused_others_after: 0,
                    spared: 4,
                    spared_share: 1.0,
                    replayed_others_before: 4,
                    replayed_others_after: 0,
                },
                // The reads came after the burst: without them the burster is refused as often.
                WhatIf {
                    consumer: STEADY.to_owned(),
                    scenario: WhatIfScenario::WithoutConsumer,
                    requests_removed: 5,
                    refused_others_before: 10,
                    refused_others_after: 10,
                    spared: 0,
                    spared_share: 0.0,
                    replayed_others_before: 10,
                    replayed_others_after: 10,
                },
            ]
        );
    }

    #[test]
    fn the_others_refusals_a_what_if_starts_from_are_those_the_log_shows() {
        // The server refused all 5 reads, where the replay refuses 4: the what-if starts from the
        // log's 5 and spares the replay's 4, so 1 is left.
        let mut calls = vec![(0, BURSTER); 30];
        calls.extend([(100, STEADY); 5]);
        let refused: Vec<bool> = (0..35).map(|i| (20..30).contains(&i) || i >= 30).collect();
        let without = &top(&answered(&calls, &refused), &[])[0];
        assert_eq!(
            (
                without.refused_others_before,
                without.spared,
                without.refused_others_after,
                without.replayed_others_before
            ),
            (5, 4, 1, 4)
        );
        // The server refused only 2: the replay's 4 spared are at most those 2.
        let refused: Vec<bool> = (0..35).map(|i| (20..30).contains(&i) || i >= 33).collect();
        let without = &top(&answered(&calls, &refused), &[])[0];
        assert_eq!(
            (
                without.refused_others_before,
                without.spared,
                without.refused_others_after
            ),
            (2, 2, 0)
        );
    }

    #[test]
    fn thinning_the_burst_as_recommended_spares_the_others_too() {
        // One write in three kept: 10 writes, so 11 tokens remain for the 5 reads.
        let what_ifs = top(&burst_then_reads(), &[batch_recommendation(1.0 / 3.0)]);
        let with = &what_ifs[1];
        assert_eq!(
            with.scenario,
            WhatIfScenario::WithRecommendations {
                operations: vec!["updateDeviceSwitchPort".to_owned()]
            }
        );
        assert_eq!(with.consumer, BURSTER);
        assert_eq!(
            (
                with.requests_removed,
                with.refused_others_after,
                with.spared
            ),
            (20, 0, 4)
        );
        // Keeping 29 of 30 writes leaves the bucket 1 token short at 10:00:00 and 0 at +100 ms.
        let barely = top(&burst_then_reads(), &[batch_recommendation(29.0 / 30.0)]);
        assert_eq!((barely[1].requests_removed, barely[1].spared), (1, 0));
    }

    #[test]
    fn requests_with_an_unmatched_path_or_no_user_agent_still_take_tokens() {
        // 20 requests at 10:00 on a path the catalog does not know, without a user agent, then
        // the steady consumer's 5 reads at +100 ms: 4 are refused, by the anonymous traffic.
        let log = fixtures::log(
            std::iter::repeat_n(0, 20)
                .chain(std::iter::repeat_n(100, 5))
                .map(|at_ms| {
                    let anonymous = at_ms == 0;
                    request(t0().timestamp_micros() + at_ms * 1000)
                        .path(if anonymous {
                            "/api/v1/nothing/here"
                        } else {
                            "/api/v1/organizations/1/networks"
                        })
                        .user_agent((!anonymous).then_some(STEADY))
                }),
        );
        let what_ifs = top(&log, &[]);
        assert_eq!(what_ifs.len(), 1);
        assert_eq!(what_ifs[0].consumer, STEADY);
        // The steady consumer's own refusals are not "others'": nobody else was refused.
        assert_eq!(
            (what_ifs[0].refused_others_before, what_ifs[0].spared),
            (0, 0)
        );
    }

    #[test]
    fn an_empty_window_has_no_what_ifs_or_findings() {
        let what_ifs = top(&request_log(&[]), &[]);
        assert!(what_ifs.is_empty());
        assert!(whatif_findings(&what_ifs, &window()).is_empty());
        assert!(
            senders_in_refused_seconds(&request_log(&[]), &BudgetModel::meraki())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_consumer_not_in_the_log_is_skipped() {
        let what_ifs = what_if(
            &burst_then_reads(),
            &BudgetModel::meraki(),
            &["Nobody/0", STEADY],
            &[],
            OperationCatalog::meraki_v1(),
        )
        .unwrap();
        assert_eq!(what_ifs.len(), 1);
        assert_eq!(what_ifs[0].consumer, STEADY);
    }

    #[test]
    fn the_senders_of_saturated_seconds_are_ranked_by_requests() {
        let senders =
            senders_in_refused_seconds(&burst_then_reads(), &BudgetModel::meraki()).unwrap();
        assert_eq!(
            senders,
            [
                ConsumerCount {
                    user_agent: Some(BURSTER.to_owned()),
                    requests: 30
                },
                ConsumerCount {
                    user_agent: Some(STEADY.to_owned()),
                    requests: 5
                },
            ]
        );
    }

    #[test]
    fn only_what_ifs_that_spare_something_become_findings() {
        let what_ifs = top(&burst_then_reads(), &[]);
        let findings = whatif_findings(&what_ifs, &window());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, FindingKind::WhatIf);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[0].consumer.as_deref(), Some(BURSTER));
        assert_eq!(
            findings[0].summary,
            "without this consumer, the other consumers would have been refused 0 times instead \
             of 4: 4 refusals (100 %) spared"
        );
    }
}
