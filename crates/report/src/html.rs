//! The HTML audit: one self-contained file (no script, no external font, image or stylesheet; the
//! charts inline as base64 SVG images) rendered from `templates/report.html` by minijinja.
//!
//! Everything that came from the API — user agents, paths, admin names, query strings, error
//! texts — reaches the page only through the template's automatic HTML escaping. The charts are
//! embedded as `<img src="data:image/svg+xml;base64,...">`: an SVG shown as an image never runs
//! script, whatever text it holds. A Content-Security-Policy without any script source is the
//! second lock on the door.

use super::ReportInput;
use super::format::{duration, percent, thousands, when};
use base64::Engine;
use callbudget_analysis::{
    ConsumerMove, DataCoverage, Finding, FindingKind, OrgAudit, Severity, Trends, WhatIfScenario,
};
use minijinja::Environment;
use serde::Serialize;

const TEMPLATE_NAME: &str = "report.html";
const TEMPLATE: &str = include_str!("templates/report.html");

/// The ready queries listed under "Querying the database".
const SUGGESTED_QUERIES: [&str; 5] = [
    "top_consumers",
    "http_429_episodes",
    "who_was_sending_when_429s_began",
    "ignores_retry_after",
    "calls_saved_per_recommendation",
];

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("rendering the HTML report")]
    Template(#[from] minijinja::Error),
}

/// A chart, as SVG, with what the page says about it.
#[derive(Debug, Clone)]
pub struct EmbeddedChart {
    /// Its file name without extension, e.g. `budget-timeline`: the template places it by this.
    pub stem: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub svg: Vec<u8>,
}

/// Renders the report of one or more organizations as one HTML document; `charts[i]` are the
/// charts of `input.audits[i]`, drawn once by the caller for the files and the page alike.
pub fn render(input: &ReportInput<'_>, charts: &[Vec<EmbeddedChart>]) -> Result<String, HtmlError> {
    let mut env = Environment::new();
    // The default callback escapes templates whose names end in .html; say so explicitly anyway.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    // Every value the page prints passes the sanitiser before the HTML escaping: control
    // characters from the API show as escapes, as they do on a terminal and in Markdown, and
    // the noncharacters XML forbids are replaced.
    env.set_formatter(|out, state, value| {
        if !value.is_safe()
            && let Some(text) = value.as_str()
            && let std::borrow::Cow::Owned(clean) = callbudget_api::text::markup_safe(text)
        {
            return minijinja::escape_formatter(out, state, &minijinja::Value::from(clean));
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    let context = input.context;
    let database = context.database.display().to_string();
    let page = PageView {
        generated_at: when(&context.generated_at),
        tool_version: context.tool_version,
        database_shell: shell_word(&database),
        database,
        orgs: input
            .audits
            .iter()
            .enumerate()
            .map(|(i, audit)| org_view(audit, charts.get(i).map_or(&[][..], Vec::as_slice)))
            .collect(),
        queries: SUGGESTED_QUERIES
            .iter()
            .filter_map(|name| callbudget_store::queries::find(name).ok())
            .map(|q| QueryView {
                name: q.name,
                summary: q.summary(),
            })
            .collect(),
    };
    let html = env
        .get_template(TEMPLATE_NAME)?
        .render(minijinja::value::Serde(&page))?;
    Ok(html)
}

#[derive(Serialize)]
struct PageView {
    generated_at: String,
    tool_version: &'static str,
    database: String,
    /// The database's path as a shell word, for the example commands.
    database_shell: String,
    orgs: Vec<OrgView>,
    queries: Vec<QueryView>,
}

#[derive(Serialize)]
struct QueryView {
    name: &'static str,
    summary: &'static str,
}

#[derive(Serialize)]
struct OrgView {
    id: String,
    name: Option<String>,
    window_start: String,
    window_end: String,
    window_length: String,
    coverage_kind: &'static str,
    /// "42 % of the per-request log missing": said first, when part of the data is.
    incomplete: Option<String>,
    /// What to do, ranked: the page's first section.
    actions: Vec<ActionView>,
    /// How they are ranked ([`callbudget_analysis::RANKING_RULE`]).
    ranking_rule: &'static str,
    action_note: Option<String>,
    headline: Vec<Stat>,
    /// One sentence that reconciles the budget used on average with the seconds at the limit.
    reconcile: Option<String>,
    top_finding: Option<FindingView>,
    trends: Option<TrendsView>,
    charts: std::collections::BTreeMap<&'static str, ChartView>,
    spikes: Vec<SpikeView>,
    consumers: Vec<ConsumerView>,
    consumer_key: &'static str,
    recommendations: Vec<RecommendationView>,
    calls_saved_per_day: String,
    what_ifs: Vec<WhatIfView>,
    retries: Vec<RetryView>,
    /// The findings grouped by the consumer they are about (the organization's own first).
    finding_groups: Vec<FindingGroupView>,
    findings_count: usize,
    /// Which operation catalog the recommendations come from.
    catalog: String,
    coverage: Vec<CoverageView>,
}

#[derive(Serialize)]
struct ActionView {
    rank: usize,
    consumer: String,
    changes: Vec<String>,
    saved_per_day: String,
    /// "spares 344 of the others' 344 refusals", with the replay it comes from.
    spared: String,
}

#[derive(Serialize)]
struct FindingGroupView {
    consumer: Option<String>,
    findings: Vec<FindingView>,
}

#[derive(Serialize)]
struct Stat {
    label: &'static str,
    value: String,
    note: String,
}

#[derive(Serialize)]
struct ChartView {
    title: &'static str,
    description: &'static str,
    data_uri: String,
}

#[derive(Serialize)]
struct FindingView {
    /// When it happened: "the whole window", or its start and end when they differ from it.
    when: String,
    severity: &'static str,
    kind: &'static str,
    consumer: Option<String>,
    start: String,
    end: String,
    summary: String,
}

#[derive(Serialize)]
struct SpikeView {
    start: String,
    duration: String,
    http_429s: String,
    peak_per_minute: String,
    baseline: String,
    most_refused: Option<String>,
    top_sender: Option<String>,
}

#[derive(Serialize)]
struct ConsumerView {
    rank: usize,
    name: String,
    requests: String,
    budget_share: String,
    peak_per_second: String,
    http_429s: String,
    saturation_share: String,
    top_operation: Option<String>,
    change: String,
}

#[derive(Serialize)]
struct RecommendationView {
    consumer: String,
    current: String,
    suggested: String,
    calls_per_day: String,
    calls_per_day_after: String,
    saved_per_day: String,
    arithmetic: String,
    estimated: bool,
}

#[derive(Serialize)]
struct WhatIfView {
    consumer: String,
    scenario: String,
    requests_removed: String,
    refused_before: String,
    refused_after: String,
    spared: String,
}

#[derive(Serialize)]
struct RetryView {
    user_agent: String,
    http_429s: String,
    retried: String,
    early: String,
    early_share: String,
    median_delay: String,
    growth: String,
    jitter: String,
}

#[derive(Serialize)]
struct TrendsView {
    previous_start: String,
    previous_end: String,
    requests_per_day: String,
    previous_requests_per_day: String,
    http_429s_per_day: String,
    previous_429s_per_day: String,
    consumers_compared: bool,
    consumers: Vec<ConsumerTrendView>,
    new_findings: Vec<FindingChangeView>,
    resolved_findings: Vec<FindingChangeView>,
    persisting_findings: usize,
}

#[derive(Serialize)]
struct ConsumerTrendView {
    name: String,
    movement: &'static str,
    before: String,
    now: String,
    change: String,
}

#[derive(Serialize)]
struct FindingChangeView {
    severity: String,
    kind: String,
    consumer: Option<String>,
    summary: String,
}

#[derive(Serialize)]
struct CoverageView {
    endpoint: &'static str,
    windows: String,
    filtered_windows: String,
    rows: String,
    calls: String,
    covered: String,
    gaps: Vec<String>,
    more_gaps: usize,
    failed: Vec<String>,
}

/// How many gaps of an endpoint the page lists before saying "and N more".
const LISTED_GAPS: usize = 8;
/// How many consumers the consumers table lists.
const LISTED_CONSUMERS: usize = 25;

/// `text` as one POSIX shell word: unchanged when it is plain, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-+:@%=,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn name_or_none(name: Option<&str>) -> String {
    name.map_or_else(|| "(none)".to_owned(), str::to_owned)
}

fn finding_view(f: &Finding, window: &callbudget_analysis::AnalysisWindow) -> FindingView {
    FindingView {
        when: if f.start <= window.start && f.end >= window.end {
            "the whole window".to_owned()
        } else if f.start.date_naive() == f.end.date_naive() {
            format!(
                "{} – {} UTC",
                f.start.format("%Y-%m-%d %H:%M:%S"),
                f.end.format("%H:%M:%S")
            )
        } else {
            format!("{} – {}", when(&f.start), when(&f.end))
        },
        severity: f.severity.as_str(),
        kind: f.kind.as_str(),
        consumer: f.consumer.clone(),
        start: when(&f.start),
        end: when(&f.end),
        summary: f.summary.clone(),
    }
}

/// The one finding to read first: the most severe, and among equally severe ones the kind a team
/// can act on soonest (who is draining the budget before how it shows).
fn top_finding(findings: &[Finding]) -> Option<&Finding> {
    let priority = |k: FindingKind| match k {
        // Missing data qualifies every other finding.
        FindingKind::IncompleteData => -1,
        FindingKind::NoisyConsumer => 0,
        FindingKind::BudgetSaturation => 1,
        FindingKind::Spike429 => 2,
        FindingKind::IgnoresRetryAfter => 3,
        FindingKind::RetryStorm => 4,
        FindingKind::WhatIf => 5,
        FindingKind::Recommendation => 6,
        FindingKind::NoBackoffGrowth => 7,
        FindingKind::SynchronizedRetries => 8,
        FindingKind::ClassLimit => 4,
        FindingKind::AttributionUnavailable => 9,
    };
    findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .min_by_key(|f| (std::cmp::Reverse(f.severity), priority(f.kind)))
        .or_else(|| findings.first())
}

fn org_view(a: &OrgAudit, charts: &[EmbeddedChart]) -> OrgView {
    OrgView {
        id: a.org_id.as_str().to_owned(),
        name: a.organization_name.clone(),
        window_start: when(&a.window.start),
        window_end: when(&a.window.end),
        window_length: duration(a.window.end - a.window.start),
        coverage_kind: match a.coverage {
            callbudget_analysis::audit::Coverage::RequestLog => "the per-request log",
            callbudget_analysis::audit::Coverage::IntervalsOnly => {
                "response codes by interval only (no per-request log): nothing is attributed to consumers"
            }
            callbudget_analysis::audit::Coverage::Nothing => "nothing collected",
        },
        incomplete: a.data_coverage.missing_text(),
        actions: action_views(a),
        ranking_rule: callbudget_analysis::RANKING_RULE,
        action_note: a.actions.note.clone(),
        headline: headline(a),
        reconcile: reconcile(a),
        top_finding: top_finding(&a.findings).map(|f| finding_view(f, &a.window)),
        trends: a.trends.as_ref().map(trends_view),
        charts: chart_views(charts),
        spikes: spike_views(a),
        consumers: consumer_views(a),
        consumer_key: a.options.consumer_key.as_str(),
        recommendations: recommendation_views(a),
        calls_saved_per_day: thousands(
            a.recommendations
                .iter()
                .map(|r| r.calls_saved_per_day)
                .sum::<f64>()
                .round() as u64,
        ),
        what_ifs: what_if_views(a),
        retries: retry_views(a),
        finding_groups: finding_groups(a),
        findings_count: a.findings.len(),
        catalog: callbudget_api::OperationCatalog::meraki_v1()
            .source()
            .to_string(),
        coverage: coverage_views(&a.data_coverage),
    }
}

/// The ranked actions as the page lists them.
fn action_views(a: &OrgAudit) -> Vec<ActionView> {
    a.actions
        .actions
        .iter()
        .enumerate()
        .map(|(i, action)| ActionView {
            rank: i + 1,
            consumer: action.consumer.clone(),
            changes: action.changes.clone(),
            saved_per_day: thousands(action.calls_saved_per_day.round() as u64),
            spared: action
                .spared_text()
                .unwrap_or_else(|| "no replay was made without it".to_owned()),
        })
        .collect()
}

/// The findings grouped by consumer: the organization-wide ones first, then each consumer's,
/// most severe first within each group, so a consumer's findings read together.
fn finding_groups(a: &OrgAudit) -> Vec<FindingGroupView> {
    let mut groups: Vec<FindingGroupView> = Vec::new();
    let mut order: Vec<&Finding> = a.findings.iter().collect();
    order.sort_by(|x, y| {
        x.consumer
            .is_some()
            .cmp(&y.consumer.is_some())
            .then_with(|| {
                let worst = |c: &Option<String>| {
                    a.findings
                        .iter()
                        .filter(|f| &f.consumer == c)
                        .map(|f| f.severity)
                        .max()
                };
                worst(&y.consumer).cmp(&worst(&x.consumer))
            })
            .then(x.consumer.cmp(&y.consumer))
            .then(y.severity.cmp(&x.severity))
    });
    for f in order {
        match groups.last_mut() {
            Some(group) if group.consumer == f.consumer => {
                group.findings.push(finding_view(f, &a.window))
            }
            _ => groups.push(FindingGroupView {
                consumer: f.consumer.clone(),
                findings: vec![finding_view(f, &a.window)],
            }),
        }
    }
    groups
}

/// The summary's four numbers: requests, budget used, 429s, seconds at or over the limit.
fn headline(a: &OrgAudit) -> Vec<Stat> {
    let t = &a.timeline;
    let window_seconds = (a.window.end - a.window.start).num_seconds().max(1) as f64;
    let capacity = t.budget.sustained_rate_per_second() * window_seconds;
    vec![
        Stat {
            label: "Requests",
            value: thousands(a.requests),
            note: format!(
                "{:.1} per second on average",
                a.requests as f64 / window_seconds
            ),
        },
        Stat {
            label: "Budget used",
            value: percent(if capacity > 0.0 {
                a.requests as f64 / capacity
            } else {
                0.0
            }),
            note: format!("of {} over the window", t.budget.summary()),
        },
        Stat {
            label: "429 answers",
            value: thousands(a.http_429s),
            note: format!(
                "{} of all requests",
                percent(a.http_429s as f64 / a.requests.max(1) as f64)
            ),
        },
        Stat {
            label: "Seconds at or over the limit",
            value: thousands(t.seconds_at_or_over_limit),
            note: t.peak_1s.as_ref().map_or_else(String::new, |p| {
                format!(
                    "busiest second: {} requests at {}",
                    p.requests,
                    when(&p.start)
                )
            }),
        },
    ]
}

/// "Averages hide bursts": the budget used over the whole window beside the seconds at the limit,
/// which the two headline numbers would otherwise seem to contradict.
fn reconcile(a: &OrgAudit) -> Option<String> {
    let t = &a.timeline;
    if t.seconds_at_or_over_limit == 0 {
        return None;
    }
    let window_seconds = (a.window.end - a.window.start).num_seconds().max(1) as f64;
    let capacity = t.budget.sustained_rate_per_second() * window_seconds;
    let used = if capacity > 0.0 {
        a.requests as f64 / capacity
    } else {
        0.0
    };
    Some(format!(
        "Averages hide bursts: over the whole window the organization used {} of its budget, \
         yet for {} s ({} of the window) it was at or over its limit, and that is when \
         integrations are refused.",
        percent(used),
        thousands(t.seconds_at_or_over_limit),
        percent(t.seconds_at_or_over_limit as f64 / window_seconds),
    ))
}

fn chart_views(charts: &[EmbeddedChart]) -> std::collections::BTreeMap<&'static str, ChartView> {
    charts
        .iter()
        .map(|c| {
            (
                c.stem,
                ChartView {
                    title: c.title,
                    description: c.description,
                    data_uri: format!(
                        "data:image/svg+xml;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(&c.svg)
                    ),
                },
            )
        })
        .collect()
}

fn spike_views(a: &OrgAudit) -> Vec<SpikeView> {
    a.spikes
        .iter()
        .map(|s| SpikeView {
            start: when(&s.start),
            duration: duration(s.end - s.start),
            http_429s: thousands(s.http_429s),
            peak_per_minute: thousands(s.peak_429_per_minute),
            baseline: format!("{:.1}", s.baseline_429_per_minute),
            most_refused: s
                .most_refused
                .first()
                .map(|c| name_or_none(c.consumer.as_deref())),
            top_sender: s
                .top_senders_at_start
                .first()
                .map(|c| name_or_none(c.consumer.as_deref())),
        })
        .collect()
}

fn consumer_views(a: &OrgAudit) -> Vec<ConsumerView> {
    a.consumers
        .iter()
        .take(LISTED_CONSUMERS)
        .enumerate()
        .map(|(i, c)| ConsumerView {
            rank: i + 1,
            name: name_or_none(c.consumer.as_deref()),
            requests: thousands(c.requests),
            budget_share: percent(c.budget_share),
            peak_per_second: thousands(c.peak_requests_per_second),
            http_429s: thousands(c.http_429s),
            saturation_share: percent(c.saturation_share),
            top_operation: c
                .top_operations
                .first()
                .map(|o| name_or_none(o.operation.as_deref())),
            change: super::format::period_change(c.change.as_ref()),
        })
        .collect()
}

fn recommendation_views(a: &OrgAudit) -> Vec<RecommendationView> {
    a.recommendations
        .iter()
        .map(|r| RecommendationView {
            consumer: r.consumer.clone(),
            current: r.current_operation.clone(),
            suggested: r.suggested_operation.clone(),
            calls_per_day: thousands(r.current_calls_per_day.round() as u64),
            calls_per_day_after: thousands(r.calls_per_day_after.round() as u64),
            saved_per_day: thousands(r.calls_saved_per_day.round() as u64),
            arithmetic: r.arithmetic.clone(),
            estimated: r.estimated,
        })
        .collect()
}

fn what_if_views(a: &OrgAudit) -> Vec<WhatIfView> {
    a.what_ifs
        .iter()
        .map(|w| WhatIfView {
            consumer: w.consumer.clone(),
            scenario: match &w.scenario {
                WhatIfScenario::WithoutConsumer => "without it".to_owned(),
                WhatIfScenario::WithRecommendations { operations } => {
                    format!("with its recommendations ({})", operations.join(", "))
                }
            },
            requests_removed: thousands(w.requests_removed),
            refused_before: thousands(w.refused_others_before),
            refused_after: thousands(w.refused_others_after),
            spared: format!("{} ({})", thousands(w.spared), percent(w.spared_share)),
        })
        .collect()
}

fn retry_views(a: &OrgAudit) -> Vec<RetryView> {
    a.retries
        .iter()
        .map(|r| RetryView {
            user_agent: name_or_none(r.consumer.as_deref()),
            http_429s: thousands(r.http_429s),
            retried: thousands(r.retried_429s),
            early: thousands(r.early_beyond_rhythm),
            early_share: percent(r.early_share),
            median_delay: r
                .median_delay_seconds
                .map_or_else(|| "—".to_owned(), |s| format!("{s:.2} s")),
            growth: r
                .median_growth_ratio
                .map_or_else(|| "—".to_owned(), |g| format!("×{g:.2}")),
            jitter: r
                .first_retry_delay_cv
                .map_or_else(|| "—".to_owned(), |cv| format!("{cv:.2}")),
        })
        .collect()
}

fn coverage_views(coverage: &DataCoverage) -> Vec<CoverageView> {
    coverage
        .endpoints
        .iter()
        .map(|e| CoverageView {
            endpoint: e.endpoint,
            windows: thousands(e.windows),
            filtered_windows: thousands(e.filtered_windows),
            rows: thousands(e.rows),
            calls: thousands(e.calls),
            covered: percent(e.covered_share),
            gaps: e
                .gaps
                .iter()
                .take(LISTED_GAPS)
                .map(|g| format!("{} – {}", when(&g.start), when(&g.end)))
                .collect(),
            more_gaps: e.gaps.len().saturating_sub(LISTED_GAPS),
            failed: e
                .failed
                .iter()
                .map(|f| {
                    format!(
                        "{} – {}: {}",
                        when(&f.start),
                        when(&f.end),
                        f.error.as_deref().unwrap_or("unknown error")
                    )
                })
                .collect(),
        })
        .collect()
}

fn trends_view(tr: &Trends) -> TrendsView {
    TrendsView {
        previous_start: when(&tr.previous.start),
        previous_end: when(&tr.previous.end),
        requests_per_day: thousands(tr.requests_per_day.round() as u64),
        previous_requests_per_day: thousands(tr.previous_requests_per_day.round() as u64),
        http_429s_per_day: thousands(tr.http_429s_per_day.round() as u64),
        previous_429s_per_day: thousands(tr.previous_429s_per_day.round() as u64),
        consumers_compared: tr.consumers_compared,
        consumers: tr
            .consumers
            .iter()
            .filter(|c| c.movement != ConsumerMove::Steady)
            .map(|c| ConsumerTrendView {
                name: name_or_none(c.consumer.as_deref()),
                movement: c.movement.as_str(),
                before: thousands(c.previous_requests_per_day.round() as u64),
                now: thousands(c.requests_per_day.round() as u64),
                change: c
                    .change_percent
                    .map_or_else(|| "new".to_owned(), |p| format!("{p:+.0} %")),
            })
            .collect(),
        new_findings: tr.new_findings.iter().map(change_view).collect(),
        resolved_findings: tr.resolved_findings.iter().map(change_view).collect(),
        persisting_findings: tr.persisting_findings,
    }
}

fn change_view(c: &callbudget_analysis::FindingChange) -> FindingChangeView {
    FindingChangeView {
        severity: c.severity.clone(),
        kind: c.kind.clone(),
        consumer: c.consumer.clone(),
        summary: c.summary.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_prints_control_characters_as_escapes_and_markup_as_text() {
        let context = super::super::ReportContext::new("evil\u{1b}[2J<b>.db", chrono::Utc::now());
        let html = render(
            &ReportInput {
                audits: &[],
                context: &context,
            },
            &[],
        )
        .unwrap();
        assert!(html.contains("evil\\u{1b}[2J&lt;b&gt;.db"), "{html}");
        assert!(!html.contains('\u{1b}'));
    }

    #[test]
    fn database_paths_become_one_shell_word() {
        assert_eq!(
            shell_word("/var/lib/callbudget/cb.db"),
            "/var/lib/callbudget/cb.db"
        );
        assert_eq!(shell_word("my db.db"), "'my db.db'");
        assert_eq!(shell_word("it's.db"), r"'it'\''s.db'");
        assert_eq!(shell_word(""), "''");
    }
}
