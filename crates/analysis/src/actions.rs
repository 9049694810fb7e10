//! What to do, ranked: for each consumer worth fixing, what to change, the calls a day it saves
//! and the refusals it would spare the others — the first thing a report says.
//!
//! The ranking is by refusals spared (from the what-if replays), because refusals are what the
//! other integrations feel; calls saved break ties. When two or more fixes would each spare every
//! refusal the others received, the refusals cannot tell them apart: the list says so and ranks
//! those by calls saved.

use super::{
    Finding, FindingKind, Recommendation, RecommendationKind, RetryBehaviour, Severity, WhatIf,
    WhatIfScenario,
};
use callbudget_api::text::thousands_rounded;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one consumer should change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The consumer's name (as the audit's consumers are named).
    pub consumer: String,
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

/// The findings that make a consumer worth fixing on their own (besides its recommendations).
fn worth_fixing(f: &Finding) -> bool {
    f.severity >= Severity::Warning
        && matches!(
            f.kind,
            FindingKind::NoisyConsumer
                | FindingKind::IgnoresRetryAfter
                | FindingKind::RetryStorm
                | FindingKind::NoBackoffGrowth
        )
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
    for f in findings.iter().filter(|f| worth_fixing(f)) {
        let Some(consumer) = f.consumer.as_deref() else {
            continue;
        };
        let action = actions
            .entry(consumer.to_owned())
            .or_insert_with(|| new_action(consumer));
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
            "Fixing any one of {} alone would spare every refusal the others received, so they are ranked by the calls each saves.",
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
