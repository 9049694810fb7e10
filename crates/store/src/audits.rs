//! Audits and their findings: written by the analysis, read by reports and trends. Re-analysing a
//! window replaces its audit (and, by cascade, its findings) in one transaction.

use super::{OrgId, Store, StoreError};
use callbudget_api::timestamp;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// One analysis run over one organization's window.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub org_id: OrgId,
    pub t0: DateTime<Utc>,
    pub t1: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub requests: u64,
    pub http_429s: u64,
    /// Headline numbers and settings, as JSON.
    pub summary: serde_json::Value,
}

/// One unfiltered byInterval count: `count` requests got `code` in `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalCount {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub code: u16,
    pub count: u64,
}

/// What a range's collected windows cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollectedExtent {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The covered seconds: the union of the windows, clipped to the range.
    pub covered_seconds: f64,
}

/// A finding as stored: the analysis' `Finding` flattened to text columns.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFinding {
    pub kind: String,
    pub severity: String,
    pub consumer: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub metrics: serde_json::Value,
}

impl Store {
    /// Stores an audit and its findings, replacing any earlier audit of the same org and window.
    /// Returns the audit's id.
    pub fn save_audit(
        &mut self,
        audit: &AuditRecord,
        findings: &[StoredFinding],
    ) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let err = move |context: &'static str| {
            let path = path.clone();
            move |source| StoreError::Sqlite {
                path,
                context,
                source,
            }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(err("starting an audit transaction"))?;
        let (t0, t1) = (timestamp::format(&audit.t0), timestamp::format(&audit.t1));
        tx.execute(
            "DELETE FROM audits WHERE org_id = ?1 AND t0 = ?2 AND t1 = ?3",
            params![audit.org_id, t0, t1],
        )
        .map_err(err("replacing an audit"))?;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let id: i64 = tx
            .query_row(
                "INSERT INTO audits (org_id, t0, t1, created_at, tool_version, requests, http_429s, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                params![
                    audit.org_id,
                    t0,
                    t1,
                    timestamp::format(&audit.created_at),
                    callbudget_api::TOOL_VERSION,
                    count(audit.requests),
                    count(audit.http_429s),
                    audit.summary.to_string()
                ],
                |row| row.get(0),
            )
            .map_err(err("storing an audit"))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO findings (audit_id, org_id, kind, severity, consumer, start, end, summary, metrics)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(err("storing findings"))?;
            for f in findings {
                insert
                    .execute(params![
                        id,
                        audit.org_id,
                        f.kind,
                        f.severity,
                        f.consumer,
                        timestamp::format(&f.start),
                        timestamp::format(&f.end),
                        f.summary,
                        f.metrics.to_string()
                    ])
                    .map_err(err("storing a finding"))?;
            }
        }
        tx.commit().map_err(err("committing an audit"))?;
        Ok(id)
    }

    /// The unfiltered response-code counts of the intervals lying within `[t0, t1)`, by time:
    /// what analysis falls back on where no per-request log was collected.
    pub fn interval_counts(
        &self,
        org_id: &OrgId,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<Vec<IntervalCount>, StoreError> {
        let err = self.sql_error("reading response codes by interval");
        self.conn
            .prepare_cached(
                "SELECT interval_start, interval_end, response_code, count FROM response_code_counts
                 WHERE org_id = ?1 AND filter_kind = 'none' AND interval_start >= ?2 AND interval_end <= ?3
                 ORDER BY interval_start, response_code",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![org_id, timestamp::format(&t0), timestamp::format(&t1)], |row| {
                    let code: i64 = row.get(2)?;
                    let count: i64 = row.get(3)?;
                    Ok(IntervalCount {
                        start: super::timestamp_column(row, 0)?,
                        end: super::timestamp_column(row, 1)?,
                        code: u16::try_from(code).unwrap_or(0),
                        count: u64::try_from(count).unwrap_or(0),
                    })
                })?
                .collect()
            })
            .map_err(err)
    }

    /// What of `[t0, t1)` the complete unfiltered windows of `endpoint` cover: the first and last
    /// covered instants and the covered seconds (their union, clipped to the range), or `None`
    /// when nothing of it was collected.
    pub fn collected_extent(
        &self,
        org_id: &OrgId,
        endpoint: super::Endpoint,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<Option<CollectedExtent>, StoreError> {
        let err = self.sql_error("reading collected windows");
        let spans: Vec<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT t0, t1 FROM collection_windows
                 WHERE org_id = ?1 AND endpoint = ?2 AND filter_kind = 'none' AND status = 'complete'
                   AND t1 > ?3 AND t0 < ?4
                 ORDER BY t0",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![org_id, endpoint.as_str(), timestamp::format(&t0), timestamp::format(&t1)],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?
                .collect()
            })
            .map_err(err)?;
        let mut extent: Option<CollectedExtent> = None;
        let mut reached = t0;
        for (a, b) in spans {
            let (Ok(a), Ok(b)) = (timestamp::parse(&a), timestamp::parse(&b)) else {
                continue;
            };
            let (a, b) = (a.max(t0), b.min(t1));
            let new_start = a.max(reached);
            let added = if b > new_start {
                (b - new_start).num_microseconds().unwrap_or(0) as f64 / 1e6
            } else {
                0.0
            };
            reached = reached.max(b);
            extent = Some(match extent {
                None => CollectedExtent {
                    first: a,
                    last: b,
                    covered_seconds: added,
                },
                Some(e) => CollectedExtent {
                    first: e.first.min(a),
                    last: e.last.max(b),
                    covered_seconds: e.covered_seconds + added,
                },
            });
        }
        Ok(extent)
    }

    /// Organizations with a collected request log or response codes by interval, by id.
    pub fn collected_organizations(&self) -> Result<Vec<OrgId>, StoreError> {
        let err = self.sql_error("listing collected organizations");
        self.conn
            .prepare_cached(
                "SELECT DISTINCT org_id FROM collection_windows
                 WHERE endpoint IN ('apiRequests', 'responseCodesByInterval') AND status = 'complete'
                 ORDER BY org_id",
            )
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
            .map_err(err)
    }

    /// The findings of the audit of `org_id` over exactly `[t0, t1)`, most severe first.
    pub fn audit_findings(
        &self,
        org_id: &OrgId,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let err = self.sql_error("reading findings");
        self.conn
            .prepare_cached(
                "SELECT f.kind, f.severity, f.consumer, f.start, f.end, f.summary, f.metrics
                 FROM findings AS f JOIN audits AS a ON a.id = f.audit_id
                 WHERE a.org_id = ?1 AND a.t0 = ?2 AND a.t1 = ?3
                 ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, f.start, f.rowid",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![org_id, timestamp::format(&t0), timestamp::format(&t1)],
                    |row| {
                        let metrics: String = row.get(6)?;
                        Ok(StoredFinding {
                            kind: row.get(0)?,
                            severity: row.get(1)?,
                            consumer: row.get(2)?,
                            start: super::timestamp_column(row, 3)?,
                            end: super::timestamp_column(row, 4)?,
                            summary: row.get(5)?,
                            metrics: serde_json::from_str(&metrics).unwrap_or(serde_json::Value::Null),
                        })
                    },
                )?
                .collect()
            })
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        timestamp::parse(s).unwrap()
    }

    fn audit(requests: u64) -> AuditRecord {
        AuditRecord {
            org_id: OrgId::new("1"),
            t0: t("2026-11-19T00:00:00Z"),
            t1: t("2026-11-20T00:00:00Z"),
            created_at: t("2026-11-20T01:00:00Z"),
            requests,
            http_429s: 3,
            summary: serde_json::json!({"rate": 10}),
        }
    }

    fn finding(kind: &str, severity: &str) -> StoredFinding {
        StoredFinding {
            kind: kind.to_owned(),
            severity: severity.to_owned(),
            consumer: Some("A/1 B".to_owned()),
            start: t("2026-11-19T09:00:00Z"),
            end: t("2026-11-19T09:03:00Z"),
            summary: "s".to_owned(),
            metrics: serde_json::json!({"n": 1}),
        }
    }

    #[test]
    fn collected_extent_is_the_clipped_union_of_complete_windows() {
        use crate::{CollectionFilter, Endpoint, WindowMeta};
        let mut store = Store::open_in_memory().unwrap();
        let meta = |a: &str, b: &str| WindowMeta {
            org_id: OrgId::new("1"),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0: t(a),
            t1: t(b),
            started_at: t(b),
            finished_at: t(b),
            calls: 1,
            http_429s: 0,
        };
        let none: &[callbudget_api::RequestRecord] = &[];
        store
            .store_request_window(&meta("2026-11-19T00:00:00Z", "2026-11-19T01:00:00Z"), none)
            .unwrap();
        store
            .store_request_window(&meta("2026-11-19T02:00:00Z", "2026-11-19T03:00:00Z"), none)
            .unwrap();
        let org = OrgId::new("1");
        let extent = store
            .collected_extent(
                &org,
                Endpoint::ApiRequests,
                t("2026-11-18T00:00:00Z"),
                t("2026-11-19T02:30:00Z"),
            )
            .unwrap();
        assert_eq!(
            extent,
            Some(CollectedExtent {
                first: t("2026-11-19T00:00:00Z"),
                last: t("2026-11-19T02:30:00Z"),
                covered_seconds: 5400.0
            })
        );
        assert_eq!(
            store
                .collected_extent(
                    &org,
                    Endpoint::ApiRequests,
                    t("2026-11-20T00:00:00Z"),
                    t("2026-11-21T00:00:00Z")
                )
                .unwrap(),
            None
        );
    }

    #[test]
    fn re_analysing_a_window_replaces_its_findings() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .save_audit(
                &audit(10),
                &[finding("spike_429", "warning"), finding("x", "info")],
            )
            .unwrap();
        store
            .save_audit(&audit(12), &[finding("spike_429", "critical")])
            .unwrap();
        let found = store
            .audit_findings(
                &OrgId::new("1"),
                t("2026-11-19T00:00:00Z"),
                t("2026-11-20T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(found, vec![finding("spike_429", "critical")]);
        let audits: i64 = store
            .conn
            .query_row("SELECT count(*) FROM audits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(audits, 1);
    }

    #[test]
    fn a_finding_with_an_unknown_severity_leaves_the_previous_audit_intact() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .save_audit(&audit(10), &[finding("a", "warning")])
            .unwrap();
        assert!(
            store
                .save_audit(&audit(11), &[finding("b", "fatal")])
                .is_err()
        );
        let found = store
            .audit_findings(
                &OrgId::new("1"),
                t("2026-11-19T00:00:00Z"),
                t("2026-11-20T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(found, vec![finding("a", "warning")]);
    }
}
