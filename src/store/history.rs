//! What reports read besides the log: earlier audits (for trends — a nightly audit compares
//! itself with the one before) and organizations' names.

use super::{AuditRecord, OrgId, Store, StoreError, StoredFinding};
use crate::timestamp;
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

    /// The latest audit of `org_id` that began before `before` (so neither the audit being made
    /// nor one of the same window), with its findings; `None` when there is none.
    pub fn previous_audit(
        &self,
        org_id: &OrgId,
        before: DateTime<Utc>,
    ) -> Result<Option<(AuditRecord, Vec<StoredFinding>)>, StoreError> {
        let err = self.sql_error("reading the previous audit");
        let row = self
            .conn
            .prepare_cached(
                "SELECT t0, t1, created_at, requests, http_429s, summary FROM audits
                 WHERE org_id = ?1 AND t0 < ?2
                 ORDER BY t1 DESC, created_at DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![org_id, timestamp::format(&before)], |row| {
                    let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
                        let text: String = row.get(i)?;
                        timestamp::parse(&text).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                i,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })
                    };
                    let count = |i: usize| -> rusqlite::Result<u64> {
                        Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
                    };
                    let summary: String = row.get(5)?;
                    Ok(AuditRecord {
                        org_id: org_id.clone(),
                        t0: time(0)?,
                        t1: time(1)?,
                        created_at: time(2)?,
                        requests: count(3)?,
                        http_429s: count(4)?,
                        summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
                    })
                })
                .optional()
            })
            .map_err(err)?;
        let Some(record) = row else {
            return Ok(None);
        };
        let findings = self.audit_findings(org_id, record.t0, record.t1)?;
        Ok(Some((record, findings)))
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
    fn the_latest_audit_that_began_earlier_is_the_previous_one() {
        let mut store = Store::open_in_memory().unwrap();
        let org = OrgId::new("7");
        assert!(
            store
                .previous_audit(&org, t("2026-11-20T00:00:00Z"))
                .unwrap()
                .is_none()
        );
        store
            .save_audit(
                &audit("2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", 10),
                &[],
            )
            .unwrap();
        let finding = StoredFinding {
            kind: "spike_429".into(),
            severity: "warning".into(),
            consumer: Some("A/1".into()),
            start: t("2026-11-19T09:00:00Z"),
            end: t("2026-11-19T09:05:00Z"),
            summary: "s".into(),
            metrics: serde_json::json!({}),
        };
        store
            .save_audit(
                &audit("2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z", 20),
                std::slice::from_ref(&finding),
            )
            .unwrap();
        // The audit being made (same start) is not its own predecessor.
        store
            .save_audit(
                &audit("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", 30),
                &[],
            )
            .unwrap();
        let (previous, findings) = store
            .previous_audit(&org, t("2026-11-20T00:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(previous.requests, 20);
        assert_eq!(findings, vec![finding]);
        let (older, _) = store
            .previous_audit(&org, t("2026-11-19T00:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(older.requests, 10);
        assert!(
            store
                .previous_audit(&OrgId::new("8"), t("2026-11-21T00:00:00Z"))
                .unwrap()
                .is_none()
        );
    }
}
