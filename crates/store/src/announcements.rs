//! Announcements at least once (migration 0009): an audit's news is marked "to announce" before it
//! is posted, and the mark is cleared only once a webhook took it. An audit window still marked
//! is no baseline for the next run's news, so what reached nobody — every webhook down, or the
//! process killed while posting — is said again.

use super::{OrgId, Store, StoreError};
use callbudget_api::timestamp;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::collections::HashSet;

/// An audited window, `(t0, t1)`.
pub type AuditWindow = (DateTime<Utc>, DateTime<Utc>);

impl Store {
    /// Marks the news of each `(org, t0, t1)` audit window as to be announced, in one
    /// transaction: before the audits are saved, and before anything is posted.
    pub fn mark_announcements_pending(
        &mut self,
        windows: &[(OrgId, DateTime<Utc>, DateTime<Utc>)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = move |source| StoreError::Sqlite {
            path: path.clone(),
            context: "marking news as to be announced",
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO pending_announcements (org_id, t0, t1, marked_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (org_id, t0, t1) DO UPDATE SET marked_at = excluded.marked_at",
                )
                .map_err(&err)?;
            for (org, t0, t1) in windows {
                insert
                    .execute(params![
                        org,
                        timestamp::format(t0),
                        timestamp::format(t1),
                        timestamp::format(&at)
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// Clears the marks of `org`'s audit windows that ended by `announced_end`: a webhook took
    /// the news of the audit ending there, which said everything new since the last audit
    /// announced, theirs included.
    pub fn clear_announcements(
        &mut self,
        org: &OrgId,
        announced_end: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM pending_announcements WHERE org_id = ?1 AND t1 <= ?2")
            .and_then(|mut stmt| stmt.execute(params![org, timestamp::format(&announced_end)]))
            .map(drop)
            .map_err(self.sql_error("clearing announced news"))
    }

    /// The audit windows `(t0, t1)` of `org` whose news is still to be announced.
    pub fn pending_announcements(&self, org: &OrgId) -> Result<HashSet<AuditWindow>, StoreError> {
        let err = self.sql_error("reading news still to be announced");
        self.conn
            .prepare_cached("SELECT t0, t1 FROM pending_announcements WHERE org_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_map([org], |row| {
                    Ok((
                        super::timestamp_column(row, 0)?,
                        super::timestamp_column(row, 1)?,
                    ))
                })?
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

    #[test]
    fn a_mark_stays_until_an_announcement_covers_its_window() {
        let mut store = Store::open_in_memory().unwrap();
        let (a, b) = (OrgId::new("7"), OrgId::new("8"));
        let night = |d: u32| {
            (
                t(&format!("2026-11-{d:02}T00:00:00Z")),
                t(&format!("2026-11-{:02}T00:00:00Z", d + 1)),
            )
        };
        let (n1, n2) = (night(19), night(20));
        store
            .mark_announcements_pending(
                &[(a.clone(), n1.0, n1.1), (b.clone(), n1.0, n1.1)],
                t("2026-11-20T00:05:00Z"),
            )
            .unwrap();
        // Marked twice: still one mark.
        store
            .mark_announcements_pending(&[(a.clone(), n1.0, n1.1)], t("2026-11-20T00:06:00Z"))
            .unwrap();
        store
            .mark_announcements_pending(&[(a.clone(), n2.0, n2.1)], t("2026-11-21T00:05:00Z"))
            .unwrap();
        assert_eq!(
            store.pending_announcements(&a).unwrap(),
            HashSet::from([n1, n2])
        );
        store.clear_announcements(&a, n1.1).unwrap();
        assert_eq!(
            store.pending_announcements(&a).unwrap(),
            HashSet::from([n2])
        );
        assert_eq!(
            store.pending_announcements(&b).unwrap(),
            HashSet::from([n1])
        );
        store.clear_announcements(&a, n2.1).unwrap();
        assert!(store.pending_announcements(&a).unwrap().is_empty());
        assert_eq!(store.pending_announcements(&b).unwrap().len(), 1);
    }
}
