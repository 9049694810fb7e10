//! Data coverage: which endpoints were collected over an audit's window, in how many windows, with
//! which gaps and failures — and the verdict no finding may skip: when part of what the audit rests
//! on is missing, an `incomplete_data` finding says so. A report that does not say what it rests
//! on cannot be trusted, and "no findings" over missing data is not an all-clear.
//!
//! The span checked is what the user asked for when the request names it on the calendar
//! (`--since TIME`, `--until TIME`): a collection killed after 10 of the 26 hours asked for is 16
//! hours missing, not an analysed window quietly shrunk to the 10 stored. Otherwise (the last day
//! of the log, `--since 7d`) it is the analysed window stretched over the collection windows next
//! to it that failed or never finished (the pipeline decides which: [`super::pipeline`]), so that
//! a collection that failed just after the last complete window still counts against the verdict.

use super::findings::{Finding, FindingKind, Severity};
use super::{AnalysisError, AnalysisWindow};
use callbudget_api::text::{duration, printable};
use callbudget_store::{Endpoint, OrgId, Store, WindowStatus};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// A missing share of the checked span from which `incomplete_data` is critical: most is missing.
pub const CRITICAL_MISSING_SHARE: f64 = 0.5;

/// A stretch of the window that no complete unfiltered window of an endpoint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
}

/// A window whose collection failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedWindow {
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    pub error: Option<String>,
    /// Whether complete windows collected since cover it whole (nothing of it is missing).
    pub recovered: bool,
}

/// What was collected of one endpoint over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointCoverage {
    /// The name stored in `collection_windows.endpoint`.
    pub endpoint: &'static str,
    /// Complete unfiltered windows overlapping the window.
    pub windows: u64,
    /// Complete windows collected with a filter (per admin, source IP or user agent).
    pub filtered_windows: u64,
    /// Rows the complete unfiltered windows hold.
    pub rows: u64,
    /// Calls their collection took, and the 429s it met.
    pub calls: u64,
    pub http_429s: u64,
    /// Share of the window the complete unfiltered windows cover (0..=1).
    pub covered_share: f64,
    pub gaps: Vec<Gap>,
    pub failed: Vec<FailedWindow>,
}

/// Coverage of the endpoints that hold API activity (organizations and admins are snapshots).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataCoverage {
    /// The span checked against what was collected (see the module docs); `None` only for a
    /// default value.
    pub checked: Option<AnalysisWindow>,
    /// Whether `checked` is the span the user asked for (else what the log's windows and the
    /// failed collections next to them cover).
    pub asked_for: bool,
    /// The endpoint the audit's findings rest on: `apiRequests`, or `responseCodesByInterval`
    /// for an audit from interval counts only; `None` until [`DataCoverage::rest_on`] says.
    pub basis: Option<&'static str>,
    /// The share of `checked` that complete windows of `basis` do not cover (0 = complete).
    pub missing_share: f64,
    pub endpoints: Vec<EndpointCoverage>,
}

impl DataCoverage {
    /// Records that the audit's findings rest on `endpoint`, and how much of it is missing.
    pub fn rest_on(&mut self, endpoint: Endpoint) {
        self.basis = Some(endpoint.as_str());
        self.missing_share = self
            .endpoint(endpoint)
            .map_or(1.0, |e| (1.0 - e.covered_share).clamp(0.0, 1.0));
    }

    /// Whether part of what the findings rest on was not collected.
    pub fn is_incomplete(&self) -> bool {
        self.missing_share > 0.0
    }

    /// "25 % of the per-request log missing", when part of it is.
    pub fn missing_text(&self) -> Option<String> {
        if !self.is_incomplete() {
            return None;
        }
        let what = if self.basis == Some(Endpoint::ResponseCodesByInterval.as_str()) {
            "the response codes by interval"
        } else {
            "the per-request log"
        };
        Some(format!("{} % of {what} missing", self.missing_percent()))
    }

    /// The missing share in whole percent, never 0 for something missing nor 100 for something
    /// collected.
    fn missing_percent(&self) -> u32 {
        if self.missing_share >= 1.0 {
            100
        } else {
            (self.missing_share * 100.0).round().clamp(1.0, 99.0) as u32
        }
    }

    fn endpoint(&self, endpoint: Endpoint) -> Option<&EndpointCoverage> {
        self.endpoints
            .iter()
            .find(|e| e.endpoint == endpoint.as_str())
    }
}

const TIME_ENDPOINTS: [Endpoint; 3] = [
    Endpoint::ApiRequests,
    Endpoint::Overview,
    Endpoint::ResponseCodesByInterval,
];

/// What the store holds for `org_id` over `checked`.
pub fn data_coverage(
    store: &Store,
    org_id: &OrgId,
    checked: &AnalysisWindow,
) -> Result<DataCoverage, AnalysisError> {
    let rows = store
        .windows(org_id)
        .map_err(AnalysisError::store(org_id))?;
    let window = checked;
    let overlaps = |t0: DateTime<Utc>, t1: DateTime<Utc>| t1 > window.start && t0 < window.end;
    let mut endpoints = Vec::new();
    for endpoint in TIME_ENDPOINTS {
        let mine: Vec<_> = rows
            .iter()
            .filter(|w| w.endpoint == endpoint && overlaps(w.t0, w.t1))
            .collect();
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        let mut coverage = EndpointCoverage {
            endpoint: endpoint.as_str(),
            windows: 0,
            filtered_windows: 0,
            rows: 0,
            calls: 0,
            http_429s: 0,
            covered_share: 0.0,
            gaps: Vec::new(),
            failed: Vec::new(),
        };
        for w in &mine {
            match (w.status, w.filter.kind()) {
                (WindowStatus::Complete, "none") => {
                    coverage.windows += 1;
                    coverage.rows += w.rows;
                    coverage.calls += w.calls;
                    coverage.http_429s += w.http_429s;
                    spans.push((w.t0.max(window.start), w.t1.min(window.end)));
                }
                (WindowStatus::Complete, _) => coverage.filtered_windows += 1,
                (WindowStatus::Failed, _) => coverage.failed.push(FailedWindow {
                    start: w.t0,
                    end: w.t1,
                    error: w.error.clone(),
                    recovered: false,
                }),
                (WindowStatus::InProgress, _) => {}
            }
        }
        spans.sort();
        let mut reached = window.start;
        let mut covered = 0i64;
        for &(a, b) in &spans {
            if a > reached {
                coverage.gaps.push(Gap {
                    start: reached,
                    end: a,
                });
            }
            if b > reached {
                // Microseconds, as windows and records are stored: milliseconds would leave a
                // window that starts mid-millisecond "0 s missing".
                covered += (b - a.max(reached)).num_microseconds().unwrap_or(i64::MAX);
                reached = b;
            }
        }
        if reached < window.end {
            coverage.gaps.push(Gap {
                start: reached,
                end: window.end,
            });
        }
        for failed in &mut coverage.failed {
            // Within the span checked, a failure is recovered if no gap reaches into it.
            let (start, end) = (failed.start.max(window.start), failed.end.min(window.end));
            failed.recovered = !coverage.gaps.iter().any(|g| g.end > start && g.start < end);
        }
        let length = (window.end - window.start)
            .num_microseconds()
            .unwrap_or(i64::MAX)
            .max(1);
        coverage.covered_share = covered as f64 / length as f64;
        endpoints.push(coverage);
    }
    Ok(DataCoverage {
        checked: Some(*checked),
        asked_for: false,
        basis: None,
        missing_share: 0.0,
        endpoints,
    })
}

/// The `incomplete_data` finding when part of what the audit rests on was not collected: a
/// warning, critical when [`CRITICAL_MISSING_SHARE`] or more is missing.
pub fn coverage_findings(coverage: &DataCoverage) -> Vec<Finding> {
    let (Some(checked), Some(basis)) = (coverage.checked, coverage.basis) else {
        return Vec::new();
    };
    if !coverage.is_incomplete() {
        return Vec::new();
    }
    let Some(endpoint) = coverage.endpoints.iter().find(|e| e.endpoint == basis) else {
        return Vec::new();
    };
    let length = checked.end - checked.start;
    let missing: TimeDelta = endpoint.gaps.iter().map(|g| g.end - g.start).sum();
    let failed: Vec<&FailedWindow> = endpoint.failed.iter().filter(|f| !f.recovered).collect();
    let what = if basis == Endpoint::ApiRequests.as_str() {
        "The per-request log"
    } else {
        "The response codes by interval"
    };
    let because = match failed.as_slice() {
        [] => "no collection window covers it".to_owned(),
        [one] => format!(
            "the collection of {} to {} failed ({})",
            callbudget_api::timestamp::format(&one.start),
            callbudget_api::timestamp::format(&one.end),
            printable(one.error.as_deref().unwrap_or("no error recorded"))
        ),
        many => format!(
            "the collection of {} windows failed (the first: {})",
            many.len(),
            printable(many[0].error.as_deref().unwrap_or("no error recorded"))
        ),
    };
    vec![Finding {
        kind: FindingKind::IncompleteData,
        severity: if coverage.missing_share >= CRITICAL_MISSING_SHARE {
            Severity::Critical
        } else {
            Severity::Warning
        },
        consumer: None,
        start: checked.start,
        end: checked.end,
        summary: format!(
            "{what} is missing for {} of the {} {} ({} %): {because}. The findings \
             cover only what was collected; the missing time is not known to be clear.",
            duration(missing),
            duration(length),
            if coverage.asked_for {
                "asked for"
            } else {
                "checked"
            },
            coverage.missing_percent(),
        ),
        metrics: serde_json::json!({
            "endpoint": basis,
            "asked_for": coverage.asked_for,
            "checked_seconds": length.num_seconds(),
            "missing_seconds": missing.num_seconds(),
            "missing_share": coverage.missing_share,
            "gaps": endpoint.gaps.len(),
            "failed_windows": failed.len(),
        }),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use callbudget_api::timestamp;
    use callbudget_store::{CollectionFilter, WindowMeta};

    fn t(s: &str) -> DateTime<Utc> {
        timestamp::parse(s).unwrap()
    }

    fn meta(endpoint: Endpoint, t0: &str, t1: &str) -> WindowMeta {
        WindowMeta {
            org_id: OrgId::new("1"),
            endpoint,
            filter: CollectionFilter::None,
            t0: t(t0),
            t1: t(t1),
            started_at: t(t1),
            finished_at: t(t1),
            calls: 2,
            http_429s: 1,
        }
    }

    #[test]
    fn gaps_failures_and_shares_are_reported_per_endpoint() {
        let mut store = Store::open_in_memory().unwrap();
        let requests: [callbudget_api::RequestRecord<&str>; 0] = [];
        for (t0, t1) in [
            ("2026-11-19T00:00:00Z", "2026-11-19T01:00:00Z"),
            ("2026-11-19T02:00:00Z", "2026-11-19T03:00:00Z"),
        ] {
            store
                .store_request_window(&meta(Endpoint::ApiRequests, t0, t1), &requests)
                .unwrap();
        }
        store
            .record_failed_window(
                &meta(
                    Endpoint::ApiRequests,
                    "2026-11-19T01:00:00Z",
                    "2026-11-19T02:00:00Z",
                ),
                "HTTP 500",
            )
            .unwrap();
        let window =
            AnalysisWindow::new(t("2026-11-19T00:00:00Z"), t("2026-11-19T04:00:00Z")).unwrap();
        let coverage = data_coverage(&store, &OrgId::new("1"), &window).unwrap();
        let log = &coverage.endpoints[0];
        assert_eq!(log.endpoint, "apiRequests");
        assert_eq!(log.windows, 2);
        assert_eq!(log.calls, 4);
        assert!((log.covered_share - 0.5).abs() < 1e-9);
        assert_eq!(
            log.gaps,
            vec![
                Gap {
                    start: t("2026-11-19T01:00:00Z"),
                    end: t("2026-11-19T02:00:00Z")
                },
                Gap {
                    start: t("2026-11-19T03:00:00Z"),
                    end: t("2026-11-19T04:00:00Z")
                },
            ]
        );
        assert_eq!(log.failed.len(), 1);
        assert_eq!(log.failed[0].error.as_deref(), Some("HTTP 500"));
        assert!(!log.failed[0].recovered);
        // Nothing collected of the overview: one gap over the whole window.
        assert_eq!(coverage.endpoints[1].windows, 0);
        assert_eq!(coverage.endpoints[1].gaps.len(), 1);
        assert_eq!(coverage.endpoints[1].covered_share, 0.0);
    }

    fn store_with_log(windows: &[(&str, &str)], failed: &[(&str, &str, &str)]) -> Store {
        let mut store = Store::open_in_memory().unwrap();
        let requests: [callbudget_api::RequestRecord<&str>; 0] = [];
        for &(t0, t1) in windows {
            store
                .store_request_window(&meta(Endpoint::ApiRequests, t0, t1), &requests)
                .unwrap();
        }
        for &(t0, t1, error) in failed {
            store
                .record_failed_window(&meta(Endpoint::ApiRequests, t0, t1), error)
                .unwrap();
        }
        store
    }

    fn verdict(store: &Store, start: &str, end: &str) -> (DataCoverage, Vec<Finding>) {
        let window = AnalysisWindow::new(t(start), t(end)).unwrap();
        let mut coverage = data_coverage(store, &OrgId::new("1"), &window).unwrap();
        coverage.rest_on(Endpoint::ApiRequests);
        let findings = coverage_findings(&coverage);
        (coverage, findings)
    }

    #[test]
    fn a_failed_window_makes_the_data_incomplete_and_most_missing_is_critical() {
        let store = store_with_log(
            &[
                ("2026-11-19T00:00:00Z", "2026-11-19T01:00:00Z"),
                ("2026-11-19T01:00:00Z", "2026-11-19T02:00:00Z"),
                ("2026-11-19T02:00:00Z", "2026-11-19T03:00:00Z"),
            ],
            &[(
                "2026-11-19T03:00:00Z",
                "2026-11-19T04:00:00Z",
                "reading page 2: connection reset",
            )],
        );
        let (coverage, findings) = verdict(&store, "2026-11-19T00:00:00Z", "2026-11-19T04:00:00Z");
        assert!(coverage.is_incomplete());
        assert_eq!(coverage.missing_share, 0.25);
        assert_eq!(coverage.basis, Some("apiRequests"));
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::IncompleteData, Severity::Warning)
        );
        assert_eq!(
            f.summary,
            "The per-request log is missing for 1 h of the 4 h checked (25 %): the collection of \
             2026-11-19T03:00:00.000000Z to 2026-11-19T04:00:00.000000Z failed (reading page 2: \
             connection reset). The findings cover only what was collected; the missing time is \
             not known to be clear."
        );
        assert_eq!(f.metrics["missing_seconds"], 3600);
        assert_eq!(f.metrics["failed_windows"], 1);

        let (_, findings) = verdict(&store, "2026-11-19T02:00:00Z", "2026-11-19T04:00:00Z");
        assert_eq!(
            (
                findings[0].severity,
                findings[0].metrics["missing_share"].as_f64()
            ),
            (Severity::Critical, Some(0.5))
        );
    }

    #[test]
    fn a_failure_collected_again_since_is_recovered_and_nothing_is_missing() {
        let store = store_with_log(
            &[
                ("2026-11-19T00:00:00Z", "2026-11-19T01:00:00Z"),
                ("2026-11-19T01:00:00Z", "2026-11-19T02:00:00Z"),
            ],
            &[("2026-11-19T01:00:00Z", "2026-11-19T02:00:00Z", "HTTP 502")],
        );
        let (coverage, findings) = verdict(&store, "2026-11-19T00:00:00Z", "2026-11-19T02:00:00Z");
        let log = &coverage.endpoints[0];
        assert_eq!(log.failed.len(), 1);
        assert!(log.failed[0].recovered);
        assert!(!coverage.is_incomplete());
        assert_eq!(findings, vec![]);
    }
}
