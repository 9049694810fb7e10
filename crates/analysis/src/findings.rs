//! Findings: what an analysis concludes, one row each, in a shape every detector shares so that
//! reports, the JSON output, `--fail-on` and the database treat them alike.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What kind of thing was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The org's budget was at or over its limit for a noticeable time.
    BudgetSaturation,
    /// A 429 spike episode.
    #[serde(rename = "spike_429")]
    Spike429,
    /// A consumer that drives saturation.
    NoisyConsumer,
    /// A consumer retrying before Retry-After has passed.
    IgnoresRetryAfter,
    /// Requests inside the Retry-After window, many at once.
    RetryStorm,
    /// Retries whose gaps do not grow.
    NoBackoffGrowth,
    /// Retries at identical gaps (no jitter).
    SynchronizedRetries,
    /// A cheaper way to get the same data.
    Recommendation,
    /// What removing or changing a consumer would have spared the others.
    WhatIf,
    /// Only response codes by interval were collected: no attribution to consumers.
    AttributionUnavailable,
    /// An endpoint class of the budget model (XDR's workflow runs) was over its own limit.
    ClassLimit,
    /// Part of the data the audit rests on was not collected (a failed window, a gap): the
    /// findings do not cover it, and their absence there is no all-clear.
    IncompleteData,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::BudgetSaturation => "budget_saturation",
            FindingKind::Spike429 => "spike_429",
            FindingKind::NoisyConsumer => "noisy_consumer",
            FindingKind::IgnoresRetryAfter => "ignores_retry_after",
            FindingKind::RetryStorm => "retry_storm",
            FindingKind::NoBackoffGrowth => "no_backoff_growth",
            FindingKind::SynchronizedRetries => "synchronized_retries",
            FindingKind::Recommendation => "recommendation",
            FindingKind::WhatIf => "what_if",
            FindingKind::AttributionUnavailable => "attribution_unavailable",
            FindingKind::ClassLimit => "class_limit",
            FindingKind::IncompleteData => "incomplete_data",
        }
    }
}

/// One conclusion of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The consumer it is about (a user agent, admin, IP or client id), if any.
    pub consumer: Option<String>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    /// One sentence a person reads first.
    pub summary: String,
    /// The numbers behind it, detector-specific.
    pub metrics: serde_json::Value,
}
