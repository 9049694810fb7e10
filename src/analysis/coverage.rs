//! Data coverage: which endpoints were collected over an audit's window, in how many windows, with
//! which gaps and failures. A report that does not say what it rests on cannot be trusted.

use super::{AnalysisError, AnalysisWindow};
use crate::store::{Endpoint, OrgId, Store, WindowStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stretch of the window that no complete unfiltered window of an endpoint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
}

/// A window whose collection failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedWindow {
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    pub error: Option<String>,
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
    pub endpoints: Vec<EndpointCoverage>,
}

const TIME_ENDPOINTS: [Endpoint; 3] = [
    Endpoint::ApiRequests,
    Endpoint::Overview,
    Endpoint::ResponseCodesByInterval,
];

/// What the store holds for `org_id` over `window`.
pub fn data_coverage(
    store: &Store,
    org_id: &OrgId,
    window: &AnalysisWindow,
) -> Result<DataCoverage, AnalysisError> {
    let rows = store
        .windows(org_id)
        .map_err(|source| AnalysisError::Store {
            org_id: org_id.clone(),
            source: Box::new(source),
        })?;
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
        for w in mine {
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
                }),
                (WindowStatus::InProgress, _) => {}
            }
        }
        spans.sort();
        let mut reached = window.start;
        let mut covered = 0i64;
        for (a, b) in spans {
            if a > reached {
                coverage.gaps.push(Gap {
                    start: reached,
                    end: a,
                });
            }
            if b > reached {
                covered += (b - a.max(reached)).num_milliseconds();
                reached = b;
            }
        }
        if reached < window.end {
            coverage.gaps.push(Gap {
                start: reached,
                end: window.end,
            });
        }
        let length = (window.end - window.start).num_milliseconds().max(1);
        coverage.covered_share = covered as f64 / length as f64;
        endpoints.push(coverage);
    }
    Ok(DataCoverage { endpoints })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CollectionFilter, WindowMeta};
    use crate::timestamp;

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
        let requests: [crate::api::RequestRecord<&str>; 0] = [];
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
        // Nothing collected of the overview: one gap over the whole window.
        assert_eq!(coverage.endpoints[1].windows, 0);
        assert_eq!(coverage.endpoints[1].gaps.len(), 1);
        assert_eq!(coverage.endpoints[1].covered_share, 0.0);
    }
}
