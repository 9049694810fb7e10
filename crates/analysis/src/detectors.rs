//! Every detector over one window's request log, as an audit runs them: the log read once into
//! [`RequestColumns`] (in time order, 18 bytes a request), replayed once through the budget
//! ([`BucketReplay`]), and each detector a pass or two over those columns — the retry detector,
//! the consumers, the timeline, the spikes, the series and the classes on one thread while the
//! operations are resolved for the recommendations and the what-ifs on the other.
//!
//! Each detector's public function takes the same columns and runs the same function as here; an
//! audit only shares the work between them (the budget replayed and the operations resolved once
//! for all), so both give the same results.

use super::classes::classes_of;
use super::columns::RequestColumns;
use super::consumers::{ConsumerCounts, usage_of};
use super::recommend::{ResolvedLog, recommend_resolved, resolve_columns};
use super::retries::{Retries, retries_of};
use super::spikes::spikes_of;
use super::timeline::{BucketReplay, timeline_of};
use super::whatif::{
    senders_in_refused_seconds_of, what_if_consumers_resolved, what_if_top_resolved,
};
use super::{
    AnalysisError, AnalysisWindow, AuditOptions, AuditSeries, BudgetTimeline, ClassUsage,
    ConsumerUsage, RecommendOptions, Recommendation, RetryAnalysis, SeriesInputs, SpikeEpisode,
    WhatIf,
};
use callbudget_api::OperationCatalog;
use callbudget_api::budget::CatalogName;

/// What the detectors found over one window's request log.
pub(crate) struct Detected {
    pub http_429s: u64,
    pub timeline: BudgetTimeline,
    pub spikes: Vec<SpikeEpisode>,
    pub consumers: Vec<ConsumerUsage>,
    pub retries: RetryAnalysis,
    pub series: AuditSeries,
    pub recommendations: Vec<Recommendation>,
    pub what_ifs: Vec<WhatIf>,
    pub classes: Vec<ClassUsage>,
}

/// Runs every detector over `log`, the request log of `window`; `previous`, the requests per
/// consumer of the period before, if it was collected whole.
pub(crate) fn detect(
    log: &RequestColumns,
    window: &AnalysisWindow,
    options: &AuditOptions,
    previous: Option<&ConsumerCounts>,
) -> Result<Detected, AnalysisError> {
    let replay = BucketReplay::of(log, &options.budget);
    // The detectors by consumer and over time on one thread, those by operation (the longer
    // part) on the other.
    let (by_consumer, (resolved, recommendations, mut what_ifs)) = std::thread::scope(|scope| {
        let by_consumer =
            scope.spawn(|| by_consumer_and_time(log, window, options, &replay, previous));
        let by_operation = recommendations_and_what_ifs(log, window, options, &replay);
        let by_consumer = match by_consumer.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (by_consumer, by_operation)
    });
    let by_consumer = by_consumer?;
    // Whoever did harm gets its what-if too, however few requests it sent: the action list ranks
    // by the refusals a fix spares, and a fix nobody replayed would spare none. Without it only
    // (one replay each, on two threads): the most any fix of it can spare, which is what the
    // action of a client that must stop retrying early is judged by.
    let harmful: Vec<&str> = harmful_user_agents(&by_consumer)
        .into_iter()
        .filter(|agent| !what_ifs.iter().any(|w| w.consumer == *agent))
        .collect();
    if !harmful.is_empty() {
        what_ifs.extend(what_if_consumers_resolved(
            &resolved,
            &options.budget,
            &replay,
            &harmful,
            &[],
        ));
    }
    Ok(Detected {
        recommendations,
        what_ifs,
        ..by_consumer
    })
}

/// The user agents whose behaviour harmed the others (at most [`MAX_HARMFUL_REPLAYED`], each a
/// replay of the whole log): those that ignore Retry-After, and those that sent most as a 429
/// spike began and were refused most in it.
fn harmful_user_agents(detected: &Detected) -> Vec<&str> {
    let mut agents: Vec<&str> = detected
        .retries
        .behaviours
        .iter()
        .filter(|b| b.ignores_retry_after())
        .filter_map(|b| b.user_agent.as_deref())
        .collect();
    for spike in &detected.spikes {
        let sender = spike.top_senders_at_start.first();
        let refused = spike.most_refused.first();
        if let (Some(sender), Some(refused)) = (sender, refused)
            && sender.user_agent == refused.user_agent
            && let Some(agent) = sender.user_agent.as_deref()
            && !agents.contains(&agent)
        {
            agents.push(agent);
        }
    }
    agents.truncate(MAX_HARMFUL_REPLAYED);
    agents
}

/// The most consumers replayed for the harm they did, besides the biggest senders.
const MAX_HARMFUL_REPLAYED: usize = 3;

/// Every detector but the recommendations and the what-ifs (left empty).
fn by_consumer_and_time(
    log: &RequestColumns,
    window: &AnalysisWindow,
    options: &AuditOptions,
    replay: &BucketReplay,
    previous: Option<&ConsumerCounts>,
) -> Result<Detected, AnalysisError> {
    let budget = &options.budget;
    let key = options.consumer_key;
    let Retries {
        analysis: retries,
        delays,
    } = retries_of(log, key, &options.retries);
    let consumers = usage_of(log, window, key, budget, replay, previous)?;
    let timeline = timeline_of(log, window, budget, replay)?;
    let spikes = spikes_of(log, window, &options.spikes, key);
    let series = AuditSeries::of_columns(
        log,
        window,
        &SeriesInputs {
            consumer_key: key,
            consumers: &consumers,
            spikes: &spikes,
            retries: Some(&retries),
            retry_options: &options.retries,
        },
        delays,
    );
    Ok(Detected {
        http_429s: log.http_429s(),
        timeline,
        spikes,
        consumers,
        retries,
        series,
        recommendations: Vec::new(),
        what_ifs: Vec::new(),
        classes: classes_of(log, budget),
    })
}

/// The log resolved, the recommendations (for a provider with an operation catalog) and the
/// what-ifs: the three biggest senders, and whoever sent most while the bucket was refusing. The
/// log is resolved once for both.
fn recommendations_and_what_ifs<'c>(
    log: &'c RequestColumns,
    window: &AnalysisWindow,
    options: &AuditOptions,
    replay: &BucketReplay,
) -> (ResolvedLog<'c>, Vec<Recommendation>, Vec<WhatIf>) {
    let budget = &options.budget;
    let resolved = resolve_columns(log, OperationCatalog::meraki_v1());
    let recommendations = match budget.catalog {
        Some(CatalogName::MerakiV1) => {
            recommend_resolved(&resolved, window, &RecommendOptions::default())
        }
        None => Vec::new(),
    };
    let mut what_ifs = what_if_top_resolved(&resolved, budget, replay, &recommendations, 3);
    if let Some(top) = senders_in_refused_seconds_of(log, replay)
        .first()
        .and_then(|c| c.user_agent.clone())
        && !what_ifs.iter().any(|w| w.consumer == top)
    {
        what_ifs.extend(what_if_consumers_resolved(
            &resolved,
            budget,
            replay,
            &[top.as_str()],
            &recommendations,
        ));
    }
    (resolved, recommendations, what_ifs)
}
