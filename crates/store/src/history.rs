//! What reports read besides the log: earlier audits (for trends — a nightly audit compares
//! itself with the one before) and organizations' names.

use super::{AuditRecord, OrgId, Store, StoreError};
use callbudget_api::timestamp;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

impl Store {
    /// The name an organization had when last collected, if it was.
    pub fn organization_name(&self, org_id: &OrgId) -> Result<Option<String>, StoreError> {
        let err = self.sql_error("reading an organization's name");
        self.conn
            .prepare_cached("SELECT name FROM organizations WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([org_id], |row| row.get::<_, Option<String>>(0))
                    .optional()
            })
            .map(Option::flatten)
            .map_err(err)
    }

    /// The audits of `org_id` that ended by `ended_by` (so none overlaps an audit starting
    /// there), latest first, at most `limit`. Trends pick the first one made the same way.
    pub fn earlier_audits(
        &self,
        org_id: &OrgId,
        ended_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let err = self.sql_error("reading earlier audits");
        self.conn
            .prepare_cached(
                "SELECT t0, t1, created_at, requests, http_429s, summary FROM audits
                 WHERE org_id = ?1 AND t1 <= ?2
                 ORDER BY t1 DESC, created_at DESC LIMIT ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![
                        org_id,
                        timestamp::format(&ended_by),
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |row| {
                        let summary: String = row.get(5)?;
                        Ok(AuditRecord {
                            org_id: org_id.clone(),
                            t0: super::timestamp_column(row, 0)?,
                            t1: super::timestamp_column(row, 1)?,
                            created_at: super::timestamp_column(row, 2)?,
                            requests: super::count_column(row, 3)?,
                            http_429s: super::count_column(row, 4)?,
                            summary: serde_json::from_str(&summary)
                                .unwrap_or(serde_json::Value::Null),
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

    fn audit(t0: &str, t1: &str, requests: u64) -> AuditRecord {
        AuditRecord {
            org_id: OrgId::new("7"),
            t0: t(t0),
            t1: t(t1),
            created_at: t(t1),
            requests,
            http_429s: 0,
            summary: serde_json::json!({"consumers": []}),
        }
    }

    #[test]
    fn earlier_audits_are_those_that_ended_by_the_given_time_latest_first() {
        let mut store = Store::open_in_memory().unwrap();
        let org = OrgId::new("7");
        assert!(
            store
                .earlier_audits(&org, t("2026-11-20T00:00:00Z"), 5)
                .unwrap()
                .is_empty()
        );
        for (t0, t1, n) in [
            ("2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", 10),
            ("2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z", 20),
            // Overlaps an audit starting 2026-11-20: never its predecessor.
            ("2026-11-13T00:00:00Z", "2026-11-20T06:00:00Z", 70),
            ("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", 30),
        ] {
            store.save_audit(&audit(t0, t1, n), &[]).unwrap();
        }
        let earlier: Vec<u64> = store
            .earlier_audits(&org, t("2026-11-20T00:00:00Z"), 5)
            .unwrap()
            .iter()
            .map(|a| a.requests)
            .collect();
        assert_eq!(earlier, vec![20, 10]);
        assert_eq!(
            store
                .earlier_audits(&org, t("2026-11-20T00:00:00Z"), 1)
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .earlier_audits(&OrgId::new("8"), t("2026-11-21T00:00:00Z"), 5)
                .unwrap()
                .is_empty()
        );
    }
}
