//! Writes: snapshots (organizations, admins) are upserted; time windows are stored whole, one
//! transaction per window, replacing the stored windows they cover.

use super::request_rows::{StoredRequest, insert_rows};
use super::{Endpoint, OrgId, RequestRow, Store, StoreError, WindowId, WindowMeta, count_to_sql};
use callbudget_api::timestamp;
use callbudget_api::{
    Admin, Organization, RequestPage, RequestRecord, RequestsOverview, ResponseCodeInterval,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Transaction, TransactionBehavior, params};
use std::path::{Path, PathBuf};

/// SQLite's page cache while storing request windows, in KiB (negative: `PRAGMA cache_size` takes
/// KiB so).
pub(super) const WINDOW_CACHE_KIB: i64 = -32 * 1024;

impl Store {
    /// Records a `getOrganizations` answer seen at `collected_at`. An organization keeps the
    /// earliest `first_seen` and the latest `last_seen`; its other columns come from the latest
    /// snapshot, so a late backfill of an old snapshot does not undo a rename.
    pub fn upsert_organizations(
        &mut self,
        organizations: &[Organization],
        collected_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let err = self.sql_error("storing organizations");
        let result = (|| {
            let tx = self.conn.transaction()?;
            upsert_organizations(&tx, organizations, collected_at)?;
            tx.commit()
        })();
        result.map_err(err)
    }

    /// Records a `getOrganizationAdmins` answer for `org_id` seen at `collected_at`. Admins missing
    /// from the snapshot stay (their requests still need a name); `collected_at` tells when an
    /// admin was last listed. An older snapshot never overwrites a newer one.
    pub fn upsert_admins(
        &mut self,
        org_id: &OrgId,
        admins: &[Admin],
        collected_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let err = self.sql_error("storing admins");
        let seen = timestamp::format(&collected_at);
        let result = (|| {
            let tx = self.conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO admins
                         (org_id, id, name, email, org_access, account_status,
                          two_factor_auth_enabled, has_api_key, last_active,
                          authentication_method, tags, networks, collected_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (org_id, id) DO UPDATE SET
                         name = excluded.name,
                         email = excluded.email,
                         org_access = excluded.org_access,
                         account_status = excluded.account_status,
                         two_factor_auth_enabled = excluded.two_factor_auth_enabled,
                         has_api_key = excluded.has_api_key,
                         last_active = excluded.last_active,
                         authentication_method = excluded.authentication_method,
                         tags = excluded.tags,
                         networks = excluded.networks,
                         collected_at = excluded.collected_at
                     WHERE excluded.collected_at >= admins.collected_at",
                )?;
                for admin in admins {
                    // A Vec<serde_json::Value> always serializes; the fallback is never written.
                    let tags = serde_json::to_string(&admin.tags).unwrap_or_else(|_| "[]".into());
                    let networks =
                        serde_json::to_string(&admin.networks).unwrap_or_else(|_| "[]".into());
                    upsert.execute(params![
                        org_id,
                        admin.id,
                        admin.name,
                        admin.email,
                        admin.org_access,
                        admin.account_status,
                        admin.two_factor_auth_enabled,
                        admin.has_api_key,
                        admin.last_active.as_deref().and_then(canonical_last_active),
                        admin.authentication_method,
                        tags,
                        networks,
                        seen,
                    ])?;
                }
            }
            tx.commit()
        })();
        result.map_err(err)
    }

    /// Stores a complete `apiRequests` window and its records in one transaction, replacing the
    /// stored windows it covers. Every record's `ts` must lie in `[t0, t1)`.
    ///
    /// Each record becomes one row of `request_log` naming its source and endpoint by dictionary
    /// id (migration 0004); the ids come from memory after the first sighting, so the cost per
    /// record is one hash lookup per dictionary and one insert.
    pub fn store_request_window<S: AsRef<str>>(
        &mut self,
        meta: &WindowMeta,
        records: &[RequestRecord<S>],
    ) -> Result<WindowId, StoreError> {
        self.store_requests(meta, records.len(), records.iter().map(RequestRow::from))
    }

    /// [`Store::store_request_window`] for a window's records as the collector decodes them: its
    /// pages, in order.
    pub fn store_request_pages(
        &mut self,
        meta: &WindowMeta,
        pages: &[RequestPage],
    ) -> Result<WindowId, StoreError> {
        let count = pages.iter().map(RequestPage::len).sum();
        let rows = pages
            .iter()
            .flat_map(RequestPage::records)
            .map(RequestRow::from);
        self.store_requests(meta, count, rows)
    }

    /// Stores the `count` rows `rows` yields (exactly that many) as one window.
    fn store_requests<'r>(
        &mut self,
        meta: &WindowMeta,
        count: usize,
        mut rows: impl Iterator<Item = RequestRow<&'r str>>,
    ) -> Result<WindowId, StoreError> {
        // Taken out of `self` for the transaction, which borrows the connection.
        let mut dictionaries = std::mem::take(&mut self.dictionaries);
        let t0_us = timestamp::to_micros(&meta.t0);
        let t1_us = timestamp::to_micros(&meta.t1);
        // A window's new pages (~2 MB of rows and index a saturated hour) stay in the page cache
        // until the commit writes them to the WAL, instead of spilling midway (default 2 MB).
        self.conn
            .pragma_update(None, "cache_size", WINDOW_CACHE_KIB)
            .map_err(sqlite(&self.path, "setting the cache size"))?;
        let stored = self.store_window(
            meta,
            Endpoint::ApiRequests,
            count as u64,
            |tx, window_id, path| {
                insert_rows(tx, path, count, || {
                    let Some(row) = rows.next() else {
                        return Ok(None);
                    };
                    if row.ts_us < t0_us || row.ts_us >= t1_us {
                        return Err(StoreError::RecordOutsideWindow {
                            path: path.to_owned(),
                            window: meta.to_string(),
                            ts: timestamp::format(&timestamp::from_micros(row.ts_us)),
                        });
                    }
                    StoredRequest::resolve(tx, &mut dictionaries, window_id, &row)
                        .map(Some)
                        .map_err(|source| sqlite(path, "storing request records")(source))
                })
            },
        );
        match stored {
            Ok(_) => dictionaries.committed(),
            Err(_) => dictionaries.rolled_back(),
        }
        self.dictionaries = dictionaries;
        stored
    }

    /// Stores a complete `responseCodesByInterval` window in one transaction, one row per
    /// (interval, response code), replacing the stored windows it covers.
    pub fn store_interval_window(
        &mut self,
        meta: &WindowMeta,
        intervals: &[ResponseCodeInterval],
    ) -> Result<WindowId, StoreError> {
        let rows = intervals.iter().map(|i| i.counts.len() as u64).sum();
        self.store_window(
            meta,
            Endpoint::ResponseCodesByInterval,
            rows,
            |tx, window_id, path| {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO response_code_counts
                             (window_id, org_id, interval_start, interval_end, interval_seconds,
                              response_code, count, filter_kind, filter_value)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .map_err(sqlite(path, "storing response code intervals"))?;
                for interval in intervals {
                    if interval.end_ts <= interval.start_ts {
                        return Err(StoreError::InvalidWindow {
                            path: path.to_owned(),
                            window: meta.to_string(),
                            reason: "an interval ends before it starts",
                        });
                    }
                    let start = timestamp::format(&interval.start_ts);
                    let end = timestamp::format(&interval.end_ts);
                    let seconds = (interval.end_ts - interval.start_ts).num_seconds();
                    for count in &interval.counts {
                        insert
                            .execute(params![
                                window_id,
                                meta.org_id,
                                start,
                                end,
                                seconds,
                                count.code,
                                count_to_sql(count.count)
                                    .map_err(sqlite(path, "storing response code intervals",))?,
                                meta.filter.kind(),
                                meta.filter.value(),
                            ])
                            .map_err(sqlite(path, "storing response code intervals"))?;
                    }
                }
                Ok(())
            },
        )
    }

    /// Stores a complete `overview` window in one transaction, one row per response code,
    /// replacing the stored windows it covers.
    pub fn store_overview_window(
        &mut self,
        meta: &WindowMeta,
        overview: &RequestsOverview,
    ) -> Result<WindowId, StoreError> {
        let rows = overview.response_code_counts.len() as u64;
        self.store_window(meta, Endpoint::Overview, rows, |tx, window_id, path| {
            let t0 = timestamp::format(&meta.t0);
            let t1 = timestamp::format(&meta.t1);
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO overview_counts (window_id, org_id, t0, t1, response_code, count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sqlite(path, "storing overview counts"))?;
            for (code, count) in &overview.response_code_counts {
                let code: u16 =
                    code.trim()
                        .parse()
                        .map_err(|_| StoreError::InvalidResponseCode {
                            path: path.to_owned(),
                            window: meta.to_string(),
                            code: code.clone(),
                        })?;
                count_to_sql(*count)
                    .and_then(|count| {
                        insert.execute(params![window_id, meta.org_id, t0, t1, code, count])
                    })
                    .map_err(sqlite(path, "storing overview counts"))?;
            }
            Ok(())
        })
    }

    /// Records a window whose collection failed, with the error the user should see. It holds no
    /// rows and replaces nothing; a later complete window covering it replaces it.
    pub fn record_failed_window(
        &mut self,
        meta: &WindowMeta,
        error: &str,
    ) -> Result<WindowId, StoreError> {
        let err = self.sql_error("recording a failed window");
        let calls =
            count_to_sql(meta.calls).map_err(self.sql_error("recording a failed window"))?;
        let http_429s =
            count_to_sql(meta.http_429s).map_err(self.sql_error("recording a failed window"))?;
        self.conn
            .query_row(
                "INSERT INTO collection_windows
                     (org_id, endpoint, filter_kind, filter_value, t0, t1, status,
                      started_at, finished_at, rows, calls, http_429s, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'failed', ?7, ?8, 0, ?9, ?10, ?11)
                 RETURNING id",
                params![
                    meta.org_id,
                    meta.endpoint.as_str(),
                    meta.filter.kind(),
                    meta.filter.value(),
                    timestamp::format(&meta.t0),
                    timestamp::format(&meta.t1),
                    timestamp::format(&meta.started_at),
                    timestamp::format(&meta.finished_at),
                    calls,
                    http_429s,
                    error,
                ],
                |row| row.get(0),
            )
            .map_err(err)
    }

    /// Removes every window of `org_id` (any endpoint, filter or status) that ends after `after`,
    /// with its rows, in one transaction: what a run that believed a server clock in the future
    /// left behind. Returns how many windows went.
    pub fn remove_windows_ending_after(
        &mut self,
        org_id: &OrgId,
        after: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let err = self.sql_error("removing windows that end in the future");
        self.conn
            .execute(
                "DELETE FROM collection_windows WHERE org_id = ?1 AND t1 > ?2",
                params![org_id, timestamp::format(&after)],
            )
            .map_err(err)
    }

    /// The one way a time window is written: in one transaction, delete the stored windows of the
    /// same scope that `meta` covers (their rows go by cascade), refuse a partial overlap with a
    /// stored window that holds rows, insert the window row, then its rows. Any error rolls all of
    /// it back, so the old window survives a failed replacement.
    fn store_window(
        &mut self,
        meta: &WindowMeta,
        endpoint: Endpoint,
        rows: u64,
        insert_rows: impl FnOnce(&Transaction<'_>, WindowId, &Path) -> Result<(), StoreError>,
    ) -> Result<WindowId, StoreError> {
        let path = self.path.clone();
        let invalid = |reason| StoreError::InvalidWindow {
            path: path.clone(),
            window: meta.to_string(),
            reason,
        };
        if meta.endpoint != endpoint {
            return Err(invalid(
                "its endpoint does not match the kind of data stored",
            ));
        }
        if meta.t0 >= meta.t1 {
            return Err(invalid("t0 is not before t1"));
        }
        let t0 = timestamp::format(&meta.t0);
        let t1 = timestamp::format(&meta.t1);

        // IMMEDIATE takes the write lock now, so the overlap check and the writes see one state.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite(&path, "starting a window transaction"))?;
        clear_covered_windows(&tx, meta, &t0, &t1, &path)?;
        let window_id: WindowId = tx
            .prepare_cached(
                "INSERT INTO collection_windows
                     (org_id, endpoint, filter_kind, filter_value, t0, t1, status,
                      started_at, finished_at, rows, calls, http_429s, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'complete', ?7, ?8, ?9, ?10, ?11, NULL)
                 RETURNING id",
            )
            .and_then(|mut stmt| {
                let counts = [rows, meta.calls, meta.http_429s].map(count_to_sql);
                let [rows, calls, http_429s] = counts;
                stmt.query_row(
                    params![
                        meta.org_id,
                        meta.endpoint.as_str(),
                        meta.filter.kind(),
                        meta.filter.value(),
                        t0,
                        t1,
                        timestamp::format(&meta.started_at),
                        timestamp::format(&meta.finished_at),
                        rows?,
                        calls?,
                        http_429s?,
                    ],
                    |row| row.get(0),
                )
            })
            .map_err(sqlite(&path, "storing the window row"))?;
        insert_rows(&tx, window_id, &path)?;
        tx.commit()
            .map_err(sqlite(&path, "committing the window"))?;
        Ok(window_id)
    }
}

/// [`Store::upsert_organizations`]'s statement, in a transaction of the caller's.
pub(super) fn upsert_organizations(
    conn: &rusqlite::Connection,
    organizations: &[Organization],
    collected_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let seen = timestamp::format(&collected_at);
    let mut upsert = conn.prepare_cached(
        "INSERT INTO organizations
             (id, name, url, api_enabled, cloud_region, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (id) DO UPDATE SET
             name = iif(excluded.last_seen >= last_seen, excluded.name, name),
             url = iif(excluded.last_seen >= last_seen, excluded.url, url),
             api_enabled =
                 iif(excluded.last_seen >= last_seen, excluded.api_enabled, api_enabled),
             cloud_region =
                 iif(excluded.last_seen >= last_seen, excluded.cloud_region, cloud_region),
             first_seen = min(first_seen, excluded.first_seen),
             last_seen = max(last_seen, excluded.last_seen)",
    )?;
    for org in organizations {
        upsert.execute(params![
            org.id,
            org.name,
            org.url,
            org.api.as_ref().map(|api| api.enabled),
            cloud_region(org),
            seen,
        ])?;
    }
    Ok(())
}

/// Deletes the windows of `meta`'s scope inside `[t0, t1)`; errs on a stored window that holds
/// rows and overlaps without being covered. Failed windows hold no rows: partial overlaps with
/// them stay as the record of a failed attempt.
fn clear_covered_windows(
    tx: &Transaction<'_>,
    meta: &WindowMeta,
    t0: &str,
    t1: &str,
    path: &Path,
) -> Result<(), StoreError> {
    let err = || sqlite(path, "replacing stored windows");
    let overlapping: Vec<(WindowId, String, String, String)> = tx
        .prepare_cached(
            "SELECT id, t0, t1, status FROM collection_windows
             WHERE org_id = ?1 AND endpoint = ?2 AND filter_kind = ?3 AND filter_value = ?4
               AND t0 < ?6 AND t1 > ?5
             ORDER BY t0",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![
                    meta.org_id,
                    meta.endpoint.as_str(),
                    meta.filter.kind(),
                    meta.filter.value(),
                    t0,
                    t1
                ],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )?
            .collect()
        })
        .map_err(err())?;
    let mut delete = tx
        .prepare_cached("DELETE FROM collection_windows WHERE id = ?1")
        .map_err(err())?;
    for (id, stored_t0, stored_t1, status) in overlapping {
        let covered = t0 <= stored_t0.as_str() && stored_t1.as_str() <= t1;
        if covered {
            delete.execute([id]).map_err(err())?;
        } else if status != "failed" {
            return Err(StoreError::PartialOverlap {
                path: path.to_owned(),
                window: meta.to_string(),
                stored_id: id,
                stored_t0,
                stored_t1,
            });
        }
    }
    Ok(())
}

fn sqlite(
    path: &Path,
    context: &'static str,
) -> impl FnOnce(rusqlite::Error) -> StoreError + use<> {
    let path: PathBuf = path.to_owned();
    move |source| StoreError::Sqlite {
        path,
        context,
        source,
    }
}

/// `cloud.region.name` of a `getOrganizations` entry (`"North America"`), if present.
fn cloud_region(org: &Organization) -> Option<&str> {
    org.cloud.as_ref()?.get("region")?.get("name")?.as_str()
}

/// An admin's `lastActive` in the canonical form, or NULL when it is empty or unreadable: the API
/// sends ISO 8601, and some answers `2026-11-20 10:15:02 UTC`.
fn canonical_last_active(text: &str) -> Option<String> {
    let text = text.trim();
    let parsed = timestamp::parse(text).ok().or_else(|| {
        let naive = text.strip_suffix(" UTC").unwrap_or(text);
        NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc())
    })?;
    Some(timestamp::format(&parsed))
}
