//! What to do, ranked: for each consumer worth fixing, what to change, the calls a day it saves
//! and the refusals it would spare the others — the first thing a report says.
//!
//! **Harm first** ([`RANKING_RULE`]): by the other consumers' refusals the change would spare (from
//! the what-if replays), because refusals are what the other integrations feel; then by the
//! severity of what was found about the consumer (a client that ignores Retry-After and caused a
//! spike before one that re-reads a list too often); then by the calls a day it saves. When two
//! or more fixes would each spare every refusal the others received, the refusals cannot tell them
//! apart: the list says so and ranks those by severity and calls saved.

use super::{
    Finding, FindingKind, Recommendation, RecommendationKind, RetryBehaviour, Severity, WhatIf,
    WhatIfScenario,
};
use callbudget_api::text::thousands_rounded;
use serde::Serialize;
use std::collections::BTreeMap;

/// How the actions are ranked, in one sentence: what a report says where the list begins.
pub const RANKING_RULE: &str = "Ranked by the harm each change removes: first the other \
     consumers' refusals it would spare (replayed without it, or with its calls replaced), then \
     the severity of what was found about it, then the calls a day it saves.";

/// What one consumer should change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The consumer's name (as the audit's consumers are named).
    pub consumer: String,
    /// The most severe finding about its own behaviour: its retries, the saturation or the spike
    /// it drove, its recommendations.
    pub severity: Severity,
    /// What to change, one sentence each, biggest saving first.
    pub changes: Vec<String>,
    /// Calls a day its recommendations would save.
    pub calls_saved_per_day: f64,
    /// The other consumers' refusals the change would spare, from the what-if replay; `None` when
    /// no replay was made for this consumer.
    pub refusals_spared: Option<u64>,
    /// The other consumers' refusals in the window, as the replay counts them.
    pub refusals_of_others: u64,
    /// Which replay the spared refusals come from: its recommendations applied, or without it.
    pub spared_if: Option<SparedIf>,
}

/// The replay behind an action's spared refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SparedIf {
    /// Its calls thinned as its recommendations say.
    RecommendationsApplied,
    /// All of its requests removed: an upper bound for any fix of it.
    Removed,
}

/// The ranked actions of an audit, and a note when the ranking needs one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionList {
    pub actions: Vec<Action>,
    /// Said above the list: e.g. that two fixes each spare every refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Action {
    /// The share of the others' refusals spared (0 without a replay or refusals).
    pub fn spared_share(&self) -> f64 {
        match self.refusals_spared {
            Some(spared) if self.refusals_of_others > 0 => {
                spared as f64 / self.refusals_of_others as f64
            }
            _ => 0.0,
        }
    }

    /// What the fix buys the others, in words: "spares 308 of the others' 308 refusals (at most:
    /// replayed without it)", "no other consumer was refused", or `None` without a replay.
    pub fn spared_text(&self) -> Option<String> {
        let spared = self.refusals_spared?;
        if self.refusals_of_others == 0 {
            return Some("no other consumer was refused".to_owned());
        }
        let basis = match self.spared_if {
            Some(SparedIf::Removed) => " (at most: replayed without it)",
            _ => "",
        };
        Some(format!(
            "spares {} of the others' {} refusals{basis}",
            thousands_rounded(spared as f64),
            thousands_rounded(self.refusals_of_others as f64)
        ))
    }

    fn spares_everything(&self) -> bool {
        self.refusals_of_others > 0 && self.refusals_spared == Some(self.refusals_of_others)
    }
}

/// The findings that make a consumer worth fixing on their own (besides its recommendations),
/// and what its action's severity is taken from: what it did, not what was done to it — a spike
/// counts for the consumer that was refused most in it only when it was also sending most as it
/// began.
fn worth_fixing(f: &Finding) -> bool {
    match f.kind {
        FindingKind::NoisyConsumer
        | FindingKind::IgnoresRetryAfter
        | FindingKind::RetryStorm
        | FindingKind::NoBackoffGrowth => f.severity >= Severity::Warning,
        FindingKind::Spike429 => f.severity >= Severity::Warning && drove_spike(f),
        _ => false,
    }
}

/// Whether a spike's consumer (the one refused most in it) was also the one sending most as it
/// began: the spike's cause, not a bystander.
fn drove_spike(f: &Finding) -> bool {
    let sender = f.metrics["top_senders_at_start"][0]["consumer"].as_str();
    sender.is_some() && sender == f.consumer.as_deref()
}

/// Ranks what each consumer should change, from an audit's parts.
pub fn rank_actions(
    recommendations: &[Recommendation],
    what_ifs: &[WhatIf],
    retries: &[RetryBehaviour],
    findings: &[Finding],
) -> ActionList {
    let mut recs: Vec<&Recommendation> = recommendations.iter().collect();
    recs.sort_by(|a, b| b.calls_saved_per_day.total_cmp(&a.calls_saved_per_day));
    let mut actions: BTreeMap<String, Action> = BTreeMap::new();
    let new_action = |consumer: &str| Action {
        consumer: consumer.to_owned(),
        severity: Severity::Info,
        changes: Vec::new(),
        calls_saved_per_day: 0.0,
        refusals_spared: None,
        refusals_of_others: 0,
        spared_if: None,
    };
    for r in recs {
        let action = actions
            .entry(r.consumer.clone())
            .or_insert_with(|| new_action(&r.consumer));
        action.calls_saved_per_day += r.calls_saved_per_day.max(0.0);
        action.changes.push(change_for(r));
    }
    // Each consumer's recommendations count for its severity as their findings rate them.
    for f in findings
        .iter()
        .filter(|f| f.kind == FindingKind::Recommendation)
    {
        if let Some(action) = f.consumer.as_deref().and_then(|c| actions.get_mut(c)) {
            action.severity = action.severity.max(f.severity);
        }
    }
    for f in findings.iter().filter(|f| worth_fixing(f)) {
        let Some(consumer) = f.consumer.as_deref() else {
            continue;
        };
        let action = actions
            .entry(consumer.to_owned())
            .or_insert_with(|| new_action(consumer));
        action.severity = action.severity.max(f.severity);
        let change = match f.kind {
            FindingKind::IgnoresRetryAfter | FindingKind::RetryStorm | FindingKind::NoBackoffGrowth => {
                let early = retries
                    .iter()
                    .find(|r| r.consumer.as_deref() == Some(consumer))
                    .map_or(0, |r| r.early_beyond_rhythm);
                format!(
                    "wait out Retry-After after a 429, with growing, jittered back-off ({} retries came too early)",
                    thousands_rounded(early as f64)
                )
            }
            // Its recommendations already say how to send fewer requests.
            _ if !action.changes.is_empty() => continue,
            _ => "send fewer requests at once: spread its polling out or follow changes instead of re-reading".to_owned(),
        };
        if !action.changes.contains(&change) {
            action.changes.push(change);
        }
    }
    for action in actions.values_mut() {
        let replay = |scenario: fn(&WhatIfScenario) -> bool| {
            what_ifs
                .iter()
                .find(|w| w.consumer == action.consumer && scenario(&w.scenario))
        };
        let applied = replay(|s| matches!(s, WhatIfScenario::WithRecommendations { .. }));
        let removed = replay(|s| matches!(s, WhatIfScenario::WithoutConsumer));
        // Thinned calls say what the recommendations buy; a consumer that must also stop retrying
        // early is judged by the replay without it, the most any fix of it can spare.
        let retrying = action.changes.iter().any(|c| c.starts_with("wait out"));
        let (replayed, basis) = match (applied, removed) {
            (Some(w), _) if !retrying => (Some(w), SparedIf::RecommendationsApplied),
            (_, Some(w)) => (Some(w), SparedIf::Removed),
            (Some(w), None) => (Some(w), SparedIf::RecommendationsApplied),
            (None, None) => (None, SparedIf::Removed),
        };
        if let Some(w) = replayed {
            action.refusals_spared = Some(w.spared);
            action.refusals_of_others = w.refused_others_before;
            action.spared_if = Some(basis);
        }
    }
    let mut actions: Vec<Action> = actions
        .into_values()
        .filter(|a| {
            a.calls_saved_per_day >= 1.0
                || a.refusals_spared.unwrap_or(0) > 0
                || !a.changes.is_empty()
        })
        .collect();
    actions.sort_by(|a, b| {
        let by_spared = if a.spares_everything() && b.spares_everything() {
            std::cmp::Ordering::Equal
        } else {
            b.refusals_spared
                .unwrap_or(0)
                .cmp(&a.refusals_spared.unwrap_or(0))
        };
        by_spared
            .then(b.severity.cmp(&a.severity))
            .then(b.calls_saved_per_day.total_cmp(&a.calls_saved_per_day))
            .then(a.consumer.cmp(&b.consumer))
    });
    let everything: Vec<&str> = actions
        .iter()
        .filter(|a| a.spares_everything())
        .map(|a| a.consumer.as_str())
        .collect();
    let note = (everything.len() >= 2).then(|| {
        format!(
            "Fixing any one of {} alone would spare every refusal the others received, so they are ranked by the severity of what was found about each, then by the calls each saves.",
            everything.join(", ")
        )
    });
    ActionList { actions, note }
}

/// What a recommendation asks of its consumer, in a sentence.
fn change_for(r: &Recommendation) -> String {
    let saves = format!("saves {}/day", thousands_rounded(r.calls_saved_per_day));
    match r.kind {
        RecommendationKind::WriteBurst => format!(
            "send its {} writes as action batches ({}) — {saves}",
            r.current_operation, r.suggested_operation
        ),
        RecommendationKind::EventPolling if r.suggested_operation == "webhooks" => format!(
            "receive webhooks instead of polling {} — {saves}",
            r.current_operation
        ),
        RecommendationKind::UnknownOperation => format!(
            "move off {}, which the API's catalog no longer lists (closest: {})",
            r.current_operation, r.suggested_operation
        ),
        _ => format!(
            "call {} instead of {} — {saves}",
            r.suggested_operation, r.current_operation
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryBehaviour;
    use chrono::{DateTime, Utc};

    fn at() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-12-05T00:00:00Z").unwrap()
    }

    fn finding(kind: FindingKind, severity: Severity, consumer: &str) -> Finding {
        Finding {
            kind,
            severity,
            consumer: Some(consumer.to_owned()),
            start: at(),
            end: at(),
            summary: String::new(),
            metrics: serde_json::Value::Null,
        }
    }

    fn recommendation(consumer: &str, saved: f64) -> Recommendation {
        Recommendation {
            kind: RecommendationKind::SlowChangingList,
            consumer: consumer.to_owned(),
            application: consumer.to_owned(),
            current_operation: "getOrganizationNetworks".to_owned(),
            calls_in_window: 0,
            retries_excluded: 0,
            current_calls_per_day: saved + 25.0,
            distinct_targets: 1,
            distinct_resources: 1,
            polling_interval_seconds: None,
            cycles_per_day: None,
            suggested_operation: "getOrganizationConfigurationChanges".to_owned(),
            calls_per_cycle_after: None,
            per_page: None,
            filter: None,
            calls_per_day_after: 25.0,
            calls_saved_per_day: saved,
            estimated: false,
            arithmetic: String::new(),
            reason: None,
            documentation_url: None,
        }
    }

    fn without(consumer: &str, spared: u64, of: u64) -> WhatIf {
        WhatIf {
            consumer: consumer.to_owned(),
            scenario: WhatIfScenario::WithoutConsumer,
            requests_removed: 1,
            refused_others_before: of,
            refused_others_after: of - spared,
            spared,
            spared_share: spared as f64 / of as f64,
            replayed_others_before: of,
            replayed_others_after: of - spared,
        }
    }

    fn ranked(list: &ActionList) -> Vec<(&str, Severity)> {
        list.actions
            .iter()
            .map(|a| (a.consumer.as_str(), a.severity))
            .collect()
    }

    #[test]
    fn the_offender_that_harms_the_others_comes_before_advice_that_only_saves_calls() {
        // The list re-reader would save the most calls; the offender ignores Retry-After and
        // drove the spike, and only a replay without it spares the others' refusals.
        let recommendations = [
            recommendation("Lists/1.0", 50_000.0),
            recommendation("Offender/1.0", 400.0),
        ];
        let spike = Finding {
            metrics: serde_json::json!({"top_senders_at_start": [{"consumer": "Offender/1.0"}]}),
            ..finding(FindingKind::Spike429, Severity::Critical, "Offender/1.0")
        };
        let findings = [
            spike,
            finding(
                FindingKind::IgnoresRetryAfter,
                Severity::Warning,
                "Offender/1.0",
            ),
            finding(FindingKind::Recommendation, Severity::Warning, "Lists/1.0"),
            finding(FindingKind::Recommendation, Severity::Info, "Offender/1.0"),
        ];
        let retries = [RetryBehaviour {
            consumer: Some("Offender/1.0".to_owned()),
            ..behaviour()
        }];
        let list = rank_actions(
            &recommendations,
            &[without("Offender/1.0", 3, 5), without("Lists/1.0", 0, 5)],
            &retries,
            &findings,
        );
        assert_eq!(
            ranked(&list),
            [
                ("Offender/1.0", Severity::Critical),
                ("Lists/1.0", Severity::Warning)
            ]
        );
        assert_eq!(list.actions[0].spared_if, Some(SparedIf::Removed));
    }

    #[test]
    fn equal_refusals_spared_are_ranked_by_severity_before_calls_saved() {
        let recommendations = [
            recommendation("Big/1.0", 50_000.0),
            recommendation("Small/1.0", 10.0),
        ];
        let findings = [
            finding(FindingKind::Recommendation, Severity::Info, "Big/1.0"),
            finding(FindingKind::Recommendation, Severity::Info, "Small/1.0"),
            finding(FindingKind::NoisyConsumer, Severity::Critical, "Small/1.0"),
        ];
        let list = rank_actions(&recommendations, &[], &[], &findings);
        assert_eq!(
            ranked(&list),
            [
                ("Small/1.0", Severity::Critical),
                ("Big/1.0", Severity::Info)
            ]
        );
        // A consumer refused most in a spike it did not start is no more severe for it.
        let bystander = Finding {
            metrics: serde_json::json!({"top_senders_at_start": [{"consumer": "Small/1.0"}]}),
            ..finding(FindingKind::Spike429, Severity::Critical, "Big/1.0")
        };
        let list = rank_actions(&recommendations, &[], &[], &[bystander]);
        assert_eq!(
            ranked(&list),
            [("Big/1.0", Severity::Info), ("Small/1.0", Severity::Info)]
        );
    }

    fn behaviour() -> RetryBehaviour {
        RetryBehaviour {
            consumer: None,
            user_agent: None,
            http_429s: 0,
            retried_429s: 0,
            early_retries: 0,
            early_share: 0.0,
            quick_repeat_share: 0.0,
            early_beyond_rhythm: 7,
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
        }
    }
}
