//! One audit of one organization's window: load the log, run the detectors, turn their results
//! into findings, and save them so periodic audits can be compared.

use super::columns::{CalledEndpoint, RequestColumns, RequestLogBuilder, Sender};
use super::consumers::requests_by_consumer_of_senders;
use super::coverage::coverage_findings;
use super::detectors::{Detected, detect};
use super::retries::EarlyRetryRule;
use super::{
    AnalysisError, AnalysisWindow, AuditSeries, BudgetTimeline, ConsumerKey, ConsumerUsage,
    DataCoverage, Finding, FindingKind, Recommendation, RetryBehaviour, RetryOptions, SeriesInputs,
    Severity, SpikeEpisode, SpikeOptions, WhatIf, budget_timeline, consumer_findings,
    data_coverage, detect_spikes, recommendation_findings, retry_findings, whatif_findings,
};
use callbudget_api::budget::BudgetModel;
use callbudget_store::{AuditRecord, Endpoint, OrgId, Store, StoredFinding};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Settings of an audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditOptions {
    /// The organization's budget the log is replayed through (Meraki: 10/s + 10; see
    /// [`BudgetModel`] for other providers'). Recommendations come from its catalog, if it has one.
    pub budget: BudgetModel,
    pub spikes: SpikeOptions,
    /// How consumers are told apart.
    pub consumer_key: ConsumerKey,
    pub retries: RetryOptions,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            budget: BudgetModel::meraki(),
            spikes: SpikeOptions::default(),
            consumer_key: ConsumerKey::default(),
            retries: RetryOptions::default(),
        }
    }
}

/// Which data an audit rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// The per-request log: everything, attribution included.
    RequestLog,
    /// Only response codes by interval: the timeline and the spikes, spread evenly over each
    /// interval, and no attribution to consumers.
    IntervalsOnly,
    /// Nothing was collected for the window.
    Nothing,
}

/// What an audit of one organization found: everything every renderer needs.
#[derive(Debug, Clone, Serialize)]
pub struct OrgAudit {
    pub org_id: OrgId,
    /// The organization's name as last collected (imported organizations: as given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    pub window: AnalysisWindow,
    pub options: AuditOptions,
    pub coverage: Coverage,
    pub requests: u64,
    pub http_429s: u64,
    pub timeline: BudgetTimeline,
    pub spikes: Vec<SpikeEpisode>,
    /// Ranked by how much each drives saturation, with the change against the previous period.
    pub consumers: Vec<ConsumerUsage>,
    /// How each consumer reacts to 429s, most early retries first.
    pub retries: Vec<RetryBehaviour>,
    /// When a retry counted as early in this audit's log; `None` without a per-request log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_rule: Option<EarlyRetryRule>,
    /// Cheaper ways to get the same data, biggest saving first.
    pub recommendations: Vec<Recommendation>,
    /// The others' refusals spared without (or with a changed) top consumer.
    pub what_ifs: Vec<WhatIf>,
    /// The budget model's endpoint classes against their own limits (none for Meraki).
    pub classes: Vec<super::ClassUsage>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// What to do, ranked: the consumers worth fixing, what each should change, the calls a day
    /// it saves and the others' refusals it spares. A report's first section.
    pub actions: super::ActionList,
    /// What changed since the previous audit of the organization, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trends: Option<super::Trends>,
    /// What was collected over the window (and the failed or unfinished collections next to
    /// it), per endpoint: the ground every finding stands on.
    pub data_coverage: DataCoverage,
    /// Aggregated for the report's charts; not part of the JSON findings schema.
    #[serde(skip)]
    pub series: AuditSeries,
}

/// A share of the window's seconds at or over the limit that makes saturation critical.
const CRITICAL_SATURATED_SHARE: f64 = 0.01;

/// Audits `org_id` over `window` from the stored per-request log, its data checked over the
/// window itself.
pub fn audit_org(
    store: &Store,
    org_id: &OrgId,
    window: AnalysisWindow,
    options: AuditOptions,
) -> Result<OrgAudit, AnalysisError> {
    let checked = CheckedSpan {
        span: window,
        asked_for: false,
    };
    audit_org_within(store, org_id, window, checked, options)
}

/// The span an audit's data is checked over: what the user asked for, or the window and the
/// failed or unfinished collection windows next to it (see [`super::coverage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedSpan {
    pub span: AnalysisWindow,
    /// Whether `span` is what the user asked for.
    pub asked_for: bool,
}

/// Audits `org_id` over `window`, its data checked against what was collected over `checked`: any
/// of it missing is an `incomplete_data` finding.
pub fn audit_org_within(
    store: &Store,
    org_id: &OrgId,
    window: AnalysisWindow,
    checked: CheckedSpan,
    options: AuditOptions,
) -> Result<OrgAudit, AnalysisError> {
    let mut audit = audit_log(store, org_id, window, options)?;
    audit.organization_name = store
        .organization_name(org_id)
        .map_err(AnalysisError::store(org_id))?;
    let mut coverage = data_coverage(store, org_id, &checked.span)?;
    coverage.asked_for = checked.asked_for;
    coverage.rest_on(match audit.coverage {
        Coverage::IntervalsOnly => Endpoint::ResponseCodesByInterval,
        Coverage::RequestLog | Coverage::Nothing => Endpoint::ApiRequests,
    });
    audit.findings.extend(coverage_findings(&coverage));
    sort_findings(&mut audit.findings);
    audit.data_coverage = coverage;
    audit.trends = trends_since_previous(store, &audit)?;
    Ok(audit)
}

/// Most severe first; the missing data first among equals (it qualifies every other finding),
/// then by time.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(
                (b.kind == FindingKind::IncompleteData)
                    .cmp(&(a.kind == FindingKind::IncompleteData)),
            )
            .then(a.start.cmp(&b.start))
    });
}

/// The audit of what the store holds for the window: the request log, else the response codes
/// by interval.
fn audit_log(
    store: &Store,
    org_id: &OrgId,
    window: AnalysisWindow,
    options: AuditOptions,
) -> Result<OrgAudit, AnalysisError> {
    let log = super::load_request_log(store, org_id, &window)?;
    if log.is_empty() {
        let counts = store
            .interval_counts(org_id, window.start, window.end)
            .map_err(AnalysisError::store(org_id))?;
        if !counts.is_empty() {
            return intervals_only_audit(org_id, window, options, &intervals_as_log(&counts));
        }
    }
    let coverage = if log.is_empty() {
        Coverage::Nothing
    } else {
        Coverage::RequestLog
    };
    // The period of the same length just before, for each consumer's change — only when it was
    // collected whole: a partly collected period would make everyone look like they grew.
    let previous_window =
        AnalysisWindow::new(window.start - (window.end - window.start), window.start)?;
    let covered = store
        .collected_extent(
            org_id,
            callbudget_store::Endpoint::ApiRequests,
            previous_window.start,
            previous_window.end,
        )
        .map_err(AnalysisError::store(org_id))?
        .map_or(0.0, |e| e.covered_seconds);
    let length = (previous_window.end - previous_window.start).num_seconds() as f64;
    // A previous period collected whole but empty is still a comparison: everyone is new.
    let previous = if covered >= 0.99 * length {
        let senders = RequestColumns::load_sender_counts(store, org_id, &previous_window)?;
        Some(requests_by_consumer_of_senders(
            &senders,
            options.consumer_key,
        ))
    } else {
        None
    };
    let Detected {
        http_429s,
        timeline,
        spikes,
        consumers,
        retries,
        series,
        mut recommendations,
        mut what_ifs,
        classes,
    } = detect(&log, &window, &options, previous.as_ref())?;
    drop(log);
    name_clients(&mut recommendations, &mut what_ifs, options.consumer_key);
    let mut findings = saturation_findings(&timeline);
    findings.extend(spike_findings(&spikes));
    findings.extend(consumer_findings(&consumers, &window, options.consumer_key));
    findings.extend(retry_findings(&retries, &window));
    findings.extend(recommendation_findings(
        &recommendations,
        &window,
        options.budget.sustained_rate_per_second(),
    ));
    findings.extend(whatif_findings(&what_ifs, &window));
    findings.extend(super::class_findings(
        &classes,
        &window,
        options.consumer_key,
    ));
    sort_findings(&mut findings);
    let actions = super::rank_actions(&recommendations, &what_ifs, &retries.behaviours, &findings);
    Ok(OrgAudit {
        org_id: org_id.clone(),
        organization_name: None,
        window,
        options,
        coverage,
        requests: timeline.total_requests,
        http_429s,
        timeline,
        spikes,
        consumers,
        retries: retries.behaviours,
        retry_rule: Some(retries.rule),
        recommendations,
        what_ifs,
        classes,
        findings,
        actions,
        trends: None,
        data_coverage: DataCoverage::default(),
        series,
    })
}

/// Names the clients recommendations and what-ifs are about (found by user agent) as the rest of
/// the audit names them ([`ConsumerKey::client_name`]): one name per consumer in every table.
fn name_clients(recommendations: &mut [Recommendation], what_ifs: &mut [WhatIf], key: ConsumerKey) {
    for r in recommendations {
        r.consumer = key.client_name(&r.consumer).to_owned();
    }
    for w in what_ifs {
        w.consumer = key.client_name(&w.consumer).to_owned();
    }
}

/// How many earlier audits trends look through for one made the same way.
const TREND_CANDIDATES: usize = 50;

/// Compares an audit with the latest earlier audit of the same organization that ended by the
/// time this one begins and was made the same way (consumers grouped alike, the same budget):
/// an overlapping window, or one read differently, would report findings "resolved" that merely
/// fell outside the window or changed name.
fn trends_since_previous(
    store: &Store,
    audit: &OrgAudit,
) -> Result<Option<super::Trends>, AnalysisError> {
    let org_id = &audit.org_id;
    let candidates = store
        .earlier_audits(org_id, audit.window.start, TREND_CANDIDATES)
        .map_err(AnalysisError::store(org_id))?;
    let Some(previous) = candidates
        .into_iter()
        .find(|record| made_alike(record, &audit.options))
    else {
        return Ok(None);
    };
    let findings = store
        .audit_findings(org_id, previous.t0, previous.t1)
        .map_err(AnalysisError::store(org_id))?;
    Ok(Some(super::trends::compare(audit, &previous, &findings)))
}

/// Whether a saved audit was made the way `options` say (consumers grouped alike, the same
/// budget), so that its findings and consumers name the same things as an audit made with them.
pub fn made_alike(record: &AuditRecord, options: &AuditOptions) -> bool {
    let saved = record.summary.get("options");
    let then = |key: &str| saved.and_then(|o| o.get(key)).cloned();
    let now = serde_json::to_value(options).unwrap_or_default();
    then("consumer_key") == now.get("consumer_key").cloned()
        && then("budget") == now.get("budget").cloned()
}

/// Response codes by interval as a request log without attribution: each interval's requests
/// spread evenly over it, all of one sender and one endpoint whose strings are all missing. Only
/// the timeline, the spike detector and the series read it, and nothing is attributed to a
/// consumer.
fn intervals_as_log(counts: &[callbudget_store::IntervalCount]) -> RequestColumns {
    let mut builder = RequestLogBuilder::default();
    let nobody = builder.sender_index(Sender::default());
    let nothing = builder.endpoint_index(CalledEndpoint::default());
    for c in counts {
        let start = c.start.timestamp_micros();
        let span = (c.end.timestamp_micros() - start).max(1);
        for i in 0..c.count {
            let ts_us = start + (i as i64).saturating_mul(span) / c.count.max(1) as i64;
            builder.push_indexed(ts_us, c.code, nobody, nothing);
        }
    }
    builder.finish()
}

fn intervals_only_audit(
    org_id: &OrgId,
    window: AnalysisWindow,
    options: AuditOptions,
    log: &RequestColumns,
) -> Result<OrgAudit, AnalysisError> {
    let http_429s = log.http_429s();
    let timeline = budget_timeline(log, &window, &options.budget)?;
    let mut spikes = detect_spikes(log, &window, &options.spikes, options.consumer_key)?;
    // The timeline, the heatmap and the episodes; no consumers or retries to draw.
    let series = AuditSeries::compute(
        log,
        &window,
        &SeriesInputs {
            consumer_key: options.consumer_key,
            consumers: &[],
            spikes: &spikes,
            retries: None,
            retry_options: &options.retries,
        },
    )?;
    for s in &mut spikes {
        // Who was refused or sending is not in interval counts: say nothing rather than guess.
        s.most_refused.clear();
        s.top_senders_at_start.clear();
    }
    let mut findings = vec![Finding {
        kind: FindingKind::AttributionUnavailable,
        severity: Severity::Info,
        consumer: None,
        start: window.start,
        end: window.end,
        summary: "only response codes by interval were collected for this window: the timeline and the spikes come from them (spread evenly over each interval); telling consumers apart needs the per-request log (callbudget collect)".to_owned(),
        metrics: serde_json::json!({"requests": timeline.total_requests}),
    }];
    findings.extend(saturation_findings(&timeline));
    findings.extend(spike_findings(&spikes));
    sort_findings(&mut findings);
    Ok(OrgAudit {
        org_id: org_id.clone(),
        organization_name: None,
        window,
        options,
        coverage: Coverage::IntervalsOnly,
        requests: timeline.total_requests,
        http_429s,
        timeline,
        spikes,
        consumers: Vec::new(),
        retries: Vec::new(),
        retry_rule: None,
        recommendations: Vec::new(),
        what_ifs: Vec::new(),
        classes: Vec::new(),
        findings,
        actions: super::ActionList::default(),
        trends: None,
        data_coverage: DataCoverage::default(),
        series,
    })
}

fn saturation_findings(t: &BudgetTimeline) -> Vec<Finding> {
    if t.seconds_at_or_over_limit == 0 {
        return Vec::new();
    }
    let window_seconds = (t.window.end - t.window.start).num_seconds().max(1) as f64;
    let share = t.seconds_at_or_over_limit as f64 / window_seconds;
    let severity = if share >= CRITICAL_SATURATED_SHARE {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let peak = t.peak_1s.as_ref().map_or(0, |p| p.requests);
    vec![Finding {
        kind: FindingKind::BudgetSaturation,
        severity,
        consumer: None,
        start: t.window.start,
        end: t.window.end,
        summary: format!(
            "the budget ({}) was at or over its limit in {} second(s) ({:.2} % of the window); the busiest second had {} requests",
            t.budget.summary(),
            t.seconds_at_or_over_limit,
            share * 100.0,
            peak
        ),
        metrics: serde_json::json!({
            "seconds_at_or_over_limit": t.seconds_at_or_over_limit,
            "seconds_with_refusals": t.seconds_with_refusals,
            "refused_by_replay": t.refused_by_replay,
            "peak_1s": peak,
            "share_of_window": share,
        }),
    }]
}

fn spike_findings(spikes: &[SpikeEpisode]) -> Vec<Finding> {
    spikes
        .iter()
        .map(|e| {
            let refused = e.most_refused.first().and_then(|c| c.consumer.clone());
            let sender = e.top_senders_at_start.first().and_then(|c| c.consumer.clone());
            Finding {
                kind: FindingKind::Spike429,
                severity: if e.peak_429_per_minute >= 100 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                consumer: refused.clone(),
                start: e.start,
                end: e.end,
                summary: match (&refused, &sender) {
                    (None, None) if e.most_refused.is_empty() => format!(
                        "{} × 429 ({} at peak per minute, baseline {:.1})",
                        e.http_429s, e.peak_429_per_minute, e.baseline_429_per_minute
                    ),
                    _ => format!(
                        "{} × 429 ({} at peak per minute, baseline {:.1}); most refused: {}; sending most as it began: {}",
                        e.http_429s,
                        e.peak_429_per_minute,
                        e.baseline_429_per_minute,
                        refused.as_deref().unwrap_or("(no user agent)"),
                        sender.as_deref().unwrap_or("(no user agent)")
                    ),
                },
                metrics: serde_json::to_value(e).unwrap_or_default(),
            }
        })
        .collect()
}

/// Saves an audit and its findings, replacing an earlier audit of the same window.
pub fn save_audit(
    store: &mut Store,
    audit: &OrgAudit,
    created_at: DateTime<Utc>,
) -> Result<i64, AnalysisError> {
    let record = AuditRecord {
        org_id: audit.org_id.clone(),
        t0: audit.window.start,
        t1: audit.window.end,
        created_at,
        requests: audit.requests,
        http_429s: audit.http_429s,
        summary: serde_json::json!({
            "options": audit.options,
            "seconds_at_or_over_limit": audit.timeline.seconds_at_or_over_limit,
            "spike_episodes": audit.spikes.len(),
            // Read back by the next audit's trends.
            "consumer_key": audit.options.consumer_key,
            "consumers": super::trends::saved_consumers(audit),
        }),
    };
    let findings: Vec<StoredFinding> = audit
        .findings
        .iter()
        .map(|f| StoredFinding {
            kind: f.kind.as_str().to_owned(),
            severity: f.severity.as_str().to_owned(),
            consumer: f.consumer.clone(),
            start: f.start,
            end: f.end,
            summary: f.summary.clone(),
            metrics: f.metrics.clone(),
        })
        .collect();
    store
        .save_audit(&record, &findings)
        .map_err(AnalysisError::store(&record.org_id))
}
