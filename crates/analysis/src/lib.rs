//! The analysis engine: turns the stored request log into findings. It reads the store and uses
//! the [`callbudget_api::budget`] model; it never talks to the Dashboard API.
//!
//! [`columns`] loads an organization's log into [`RequestColumns`], the one input of every
//! detector ([`timeline`], [`spikes`], [`consumers`], [`retries`], [`recommend`](mod@recommend),
//! [`whatif`], [`classes`]): each takes those columns and the window they cover and returns a
//! serializable result and its [`findings`]; [`audit`] runs them all for one organization and
//! saves what they found, with the [`series`] the report's charts are drawn from, and checks what
//! they rest on against what was collected ([`coverage`]): missing data is a finding, never an
//! all-clear.

pub mod actions;
pub mod audit;
pub mod classes;
pub mod columns;
pub mod consumers;
pub mod coverage;
mod detectors;
pub mod findings;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod pipeline;
pub mod recommend;
pub mod retries;
pub mod series;
pub mod spikes;
pub mod timeline;
pub mod trends;
pub mod whatif;

use callbudget_store::{OrgId, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use actions::{Action, ActionList, RANKING_RULE, SparedIf, rank_actions};
pub use audit::{
    AuditOptions, CheckedSpan, OrgAudit, audit_org, audit_org_within, made_alike, save_audit,
};
pub use classes::{ClassUsage, class_findings, class_usage};
pub use columns::{RequestColumns, RequestLogBuilder, load_request_log};
pub use consumers::{
    ConsumerKey, ConsumerUsage, OperationCount, ParsedUserAgent, PeriodChange, consumer_findings,
    consumer_usage, parse_user_agent,
};
pub use coverage::{DataCoverage, EndpointCoverage, coverage_findings, data_coverage};
pub use findings::{Finding, FindingKind, Severity};
pub use pipeline::{
    AuditRequest, AuditRun, BudgetChoice, LeftOut, NotSaved, OrgChoice, PipelineError, WindowStart,
    run_audits, save_audits, save_audits_if_writable,
};
pub use recommend::{
    RecommendOptions, Recommendation, RecommendationKind, recommend, recommendation_findings,
};
pub use retries::{
    EarlyRetryRule, RetryAnalysis, RetryBehaviour, RetryDelays, RetryOptions, retry_behaviour,
    retry_delays, retry_findings,
};
pub use series::{AuditSeries, ResponseClass, SeriesInputs};
pub use spikes::{ConsumerCount, EpisodeConsumer, SpikeEpisode, SpikeOptions, detect_spikes};
pub use timeline::{BudgetTimeline, HeadroomPercentiles, PeakRate, budget_timeline};
pub use trends::{
    ConsumerMove, ConsumerTrend, FindingChange, PreviousAudit, Trends, finding_identity,
};
pub use whatif::{
    WhatIf, WhatIfScenario, senders_in_refused_seconds, what_if, what_if_top, whatif_findings,
};

/// Everything that can go wrong analysing a window.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("reading the request log of organization {org_id}")]
    Store {
        org_id: OrgId,
        source: Box<StoreError>,
    },
    #[error("invalid analysis window [{start}, {end}): its end must come after its start")]
    EmptyWindow {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error(
        "invalid bucket limits: the rate must be a positive number of requests per second, got {0}"
    )]
    InvalidRate(f64),
}

impl AnalysisError {
    /// Wraps a store error with the organization being analysed.
    pub(crate) fn store(
        org_id: &callbudget_store::OrgId,
    ) -> impl FnOnce(callbudget_store::StoreError) -> Self + '_ {
        move |source| AnalysisError::Store {
            org_id: org_id.clone(),
            source: Box::new(source),
        }
    }
}

/// The half-open time range `[start, end)` an analysis covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AnalysisWindow {
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
}

impl AnalysisWindow {
    /// A window; refused unless `start < end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, AnalysisError> {
        if start < end {
            Ok(AnalysisWindow { start, end })
        } else {
            Err(AnalysisError::EmptyWindow { start, end })
        }
    }

    pub(crate) fn start_us(&self) -> i64 {
        self.start.timestamp_micros()
    }

    pub(crate) fn end_us(&self) -> i64 {
        self.end.timestamp_micros()
    }
}
