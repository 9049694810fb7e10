//! Bursts of single writes → action batches. The writes of one operation by one consumer that it
//! meant to make (retries of refused writes left out; a refused write never retried counts) are
//! clustered at gaps longer than [`WRITE_BURST_SPAN_SECONDS`]; a cluster with
//! [`MIN_WRITES_IN_BURST`] writes within one such span is a burst, and becomes
//! ⌈writes / [`ACTIONS_PER_BATCH`]⌉ synchronous action batches. A burst happens at a time of day,
//! so it counts once for each date the window holds that time of day on (a daily job is once a
//! day, whichever dates the window spans), and the text names the dates of the bursts.

use super::{
    ACTION_BATCH, ACTIONS_PER_BATCH, MIN_WRITES_IN_BURST, Period, Recommendation,
    RecommendationKind, ResolvedLog, ResolvedRequest, WRITE_BURST_SPAN_SECONDS, median,
    parse_user_agent, retries_text, thousands,
};
use crate::RetryOptions;
use callbudget_api::OperationCatalog;
use callbudget_api::timestamp::MICROS_PER_SECOND;
use std::collections::BTreeSet;

/// The recommendation for the writes of `operation` by `consumer` (all of them, retries
/// included, in time order), if they came in bursts.
pub(super) fn recommendation(
    log: &ResolvedLog<'_>,
    period: &Period,
    consumer: usize,
    operation: &str,
    writes: &[ResolvedRequest<'_>],
) -> Option<Recommendation> {
    let span_us = WRITE_BURST_SPAN_SECONDS * MICROS_PER_SECOND;
    let intended: Vec<&ResolvedRequest<'_>> = writes.iter().filter(|r| !r.retry).collect();
    let mut bursts: Vec<&[&ResolvedRequest<'_>]> = Vec::new();
    let mut first = 0;
    for i in 1..=intended.len() {
        if i == intended.len() || intended[i].ts_us - intended[i - 1].ts_us > span_us {
            let cluster = &intended[first..i];
            if densest(cluster, span_us) >= MIN_WRITES_IN_BURST {
                bursts.push(cluster);
            }
            first = i;
        }
    }
    if bursts.is_empty() {
        return None;
    }
    // The retries a burst's refusals caused: retried writes from its start until the retry
    // horizon after its last write.
    let horizon_us = RetryOptions::default().horizon.as_micros() as i64;
    let retries = writes
        .iter()
        .filter(|r| {
            r.retry
                && bursts
                    .iter()
                    .any(|b| r.ts_us >= b[0].ts_us && r.ts_us < b[b.len() - 1].ts_us + horizon_us)
        })
        .count() as u64;
    let calls: u64 = bursts.iter().map(|b| b.len() as u64).sum();
    let batches_of = |b: &[&ResolvedRequest<'_>]| (b.len() as u64).div_ceil(ACTIONS_PER_BATCH);
    let batches: u64 = bursts.iter().map(|b| batches_of(b)).sum();
    let targets: BTreeSet<usize> = bursts
        .iter()
        .flat_map(|b| b.iter().filter_map(|r| r.target_index()))
        .collect();
    let resources: BTreeSet<usize> = bursts
        .iter()
        .flat_map(|b| b.iter().filter_map(|r| log.resource_index(r)))
        .collect();
    let mut gaps: Vec<i64> = bursts
        .windows(2)
        .map(|w| w[1][0].ts_us - w[0][0].ts_us)
        .collect();
    let interval_seconds = median(&mut gaps).map(|us| us / MICROS_PER_SECOND as f64);
    // A burst happens at a time of day: it counts once for each date the window holds that time
    // on, so a daily job is once a day however the window falls across the date lines.
    let dates: Vec<u64> = bursts
        .iter()
        .map(|b| period.dates_holding_time_of_day(b[0].ts_us))
        .collect();
    let share = |count: &dyn Fn(&[&ResolvedRequest<'_>]) -> u64| -> f64 {
        bursts
            .iter()
            .zip(&dates)
            .map(|(b, &n)| count(b) as f64 / n as f64)
            .sum()
    };
    let current = share(&|b| b.len() as u64).round();
    let after = share(&batches_of).round();
    let cycles_per_day = share(&|_| 1);
    let n = bursts.len();
    let batched = if n == 1 {
        format!(
            "⌈{} / {ACTIONS_PER_BATCH}⌉ = {batches} action batch(es) of up to {ACTIONS_PER_BATCH} \
             actions",
            thousands(calls as f64)
        )
    } else {
        format!(
            "{batches} action batch(es) of up to {ACTIONS_PER_BATCH} actions (⌈writes / \
             {ACTIONS_PER_BATCH}⌉ per burst)"
        )
    };
    let on_dates: BTreeSet<String> = bursts
        .iter()
        .map(|b| day_of(b[0].ts_us).format("%Y-%m-%d").to_string())
        .collect();
    let on_dates = on_dates.into_iter().collect::<Vec<_>>().join(", ");
    let per_day = match dates[..] {
        [first, ..] if dates.iter().all(|&d| d == first) && first == 1 => format!(
            "{n} burst(s) on {on_dates}, whose time of day the window holds on 1 date: {} \
             writes/day → {batches} batch(es)/day",
            thousands(calls as f64)
        ),
        [first, ..] if dates.iter().all(|&d| d == first) => format!(
            "{n} burst(s) on {on_dates}, whose time of day the window holds on {first} dates: {} \
             / {first} = {} writes/day → {batches} / {first} = {} batch(es)/day",
            thousands(calls as f64),
            thousands(current),
            thousands(after),
        ),
        _ => format!(
            "{n} burst(s) on {on_dates}, each counted once for every date the window holds its \
             time of day on: {} writes/day → {} batch(es)/day",
            thousands(current),
            thousands(after),
        ),
    };
    let at = bursts[0][0].ts_us;
    let arithmetic = format!(
        "{writes} writes in {n} burst(s), the first at {time} UTC{retries} → {batched}; \
         {per_day}; saves {saved}/day",
        writes = thousands(calls as f64),
        time = day_of(at).format("%Y-%m-%d %H:%M:%S"),
        retries = retries_text(retries, "writes"),
        saved = thousands(current - after),
    );
    let user_agent = &log.consumers[consumer];
    Some(Recommendation {
        kind: RecommendationKind::WriteBurst,
        consumer: user_agent.clone(),
        application: parse_user_agent(user_agent).caller.to_owned(),
        current_operation: operation.to_owned(),
        calls_in_window: calls,
        retries_excluded: retries,
        current_calls_per_day: current,
        distinct_targets: targets.len() as u64,
        distinct_resources: resources.len() as u64,
        polling_interval_seconds: interval_seconds,
        cycles_per_day: Some(cycles_per_day),
        suggested_operation: ACTION_BATCH.to_owned(),
        calls_per_cycle_after: Some(batches.div_ceil(n as u64)),
        per_page: None,
        filter: None,
        calls_per_day_after: after,
        calls_saved_per_day: current - after,
        estimated: false,
        arithmetic,
        reason: Some(format!(
            "a synchronous action batch carries up to {ACTIONS_PER_BATCH} writes in one call"
        )),
        documentation_url: OperationCatalog::meraki_v1()
            .get(ACTION_BATCH)
            .map(|op| op.documentation_url()),
    })
}

fn day_of(ts_us: i64) -> chrono::DateTime<chrono::Utc> {
    callbudget_api::timestamp::from_micros(ts_us)
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
