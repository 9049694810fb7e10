//! A request log imported from a file, written as one organization's `apiRequests` windows in one
//! transaction: rows as they stream in, each into the window of its UTC hour; the stored windows
//! of the span the file covers replaced (those it partly covers trimmed to what lies outside it);
//! then the organization and its provider. An import is stored whole or not at all, and readers
//! never see half of one.

use super::dictionary::Dictionaries;
use super::providers::upsert_org_provider;
use super::request_rows::{StoredRequest, insert_rows};
use super::write::{WINDOW_CACHE_KIB, upsert_organizations};
use super::{Endpoint, OrgId, RequestRow, Store, StoreError, StoredProvider, WindowId};
use callbudget_api::Organization;
use callbudget_api::timestamp;
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Transaction, TransactionBehavior, params};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One window of the import: its cell of the grid, its id, the rows it holds so far.
#[derive(Debug, Clone, Copy)]
struct ImportWindow {
    cell: i64,
    id: WindowId,
    rows: u64,
}

/// The import's windows, created as rows come for them, and the span of those rows.
#[derive(Debug, Default)]
struct ImportWindows {
    windows: Vec<ImportWindow>,
    /// Index into `windows` by cell.
    cells: HashMap<i64, usize>,
    /// The ids of `windows`, to tell them from stored ones.
    mine: HashSet<WindowId>,
    /// The window of the last row: logs come in time order, so most rows need no lookup.
    current: Option<usize>,
    /// The earliest and latest row inserted, in microseconds.
    rows_span: Option<(i64, i64)>,
}

/// An import in progress: see the module docs. Dropped without [`RequestLogImport::commit`], it
/// rolls back and the database is as it was.
#[derive(Debug)]
pub struct RequestLogImport<'s> {
    tx: Option<Transaction<'s>>,
    dictionaries: &'s mut Dictionaries,
    path: &'s Path,
    org_id: OrgId,
    now: DateTime<Utc>,
    grid_us: i64,
    windows: ImportWindows,
    /// The span whose stored windows are replaced already, in microseconds.
    replaced: Option<(i64, i64)>,
}

impl Store {
    /// Starts importing a request log as `org_id`'s unfiltered `apiRequests` windows, one per
    /// `grid` of UTC time (an hour). Takes the database's write lock until the import is committed
    /// or dropped; `now` stamps the windows.
    pub fn begin_request_import(
        &mut self,
        org_id: &OrgId,
        grid: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<RequestLogImport<'_>, StoreError> {
        let grid_us = grid
            .num_microseconds()
            .filter(|us| *us > 0)
            .ok_or_else(|| StoreError::InvalidWindow {
                path: self.path.clone(),
                window: format!("the import grid of {grid}"),
                reason: "the grid is not a positive span",
            })?;
        let path = self.path.as_path();
        let sqlite = |context| move |source| sqlite_error(path, context, source);
        // As for collected windows: new pages stay in the cache rather than spill early.
        self.conn
            .pragma_update(None, "cache_size", WINDOW_CACHE_KIB)
            .map_err(sqlite("setting the cache size"))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite("starting the import's transaction"))?;
        Ok(RequestLogImport {
            tx: Some(tx),
            dictionaries: &mut self.dictionaries,
            path,
            org_id: org_id.clone(),
            now,
            grid_us,
            windows: ImportWindows::default(),
            replaced: None,
        })
    }
}

impl RequestLogImport<'_> {
    /// Inserts the `count` rows `rows` yields, each into the window of its grid cell (created at
    /// its first row).
    pub fn insert_rows<'r>(
        &mut self,
        count: usize,
        rows: impl IntoIterator<Item = RequestRow<&'r str>>,
    ) -> Result<(), StoreError> {
        let Some(tx) = self.tx.as_ref() else {
            return Ok(());
        };
        let mut rows = rows.into_iter();
        let (grid_us, path, org_id, now) = (self.grid_us, self.path, &self.org_id, self.now);
        let (windows, dictionaries) = (&mut self.windows, &mut *self.dictionaries);
        insert_rows(tx, path, count, || {
            let Some(row) = rows.next() else {
                return Ok(None);
            };
            let window_id = windows.window_of(tx, path, org_id, now, grid_us, row.ts_us)?;
            StoredRequest::resolve(tx, dictionaries, window_id, &row)
                .map(Some)
                .map_err(|source| sqlite_error(path, "storing request records", source))
        })
    }

    /// The earliest and the latest time of the rows inserted so far, in microseconds.
    pub fn rows_span(&self) -> Option<(i64, i64)> {
        self.windows.rows_span
    }

    /// Replaces what the stored windows hold in `[t0, t1)`, which the file is known to cover: a
    /// stored window inside it is deleted with its rows; one that reaches past it keeps only its
    /// rows outside it, its range trimmed to them (split in two when it reaches past both ends);
    /// a failed window (it holds no rows) that reaches past it stays as the record of an attempt.
    /// The import's own windows are left alone.
    ///
    /// Call it as the covered span grows, so that the rows it replaces free their pages for the
    /// rows coming in: each call with a span that contains the previous one works only on what
    /// the previous one did not reach.
    pub fn replace_stored(
        &mut self,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (a, b) = (timestamp::to_micros(&t0), timestamp::to_micros(&t1));
        if a >= b {
            return Ok(());
        }
        match self.replaced {
            Some((done_a, done_b)) if a <= done_a && done_b <= b => {
                self.replace_part(a, done_a)?;
                self.replace_part(done_b, b)?;
                self.replaced = Some((a, b));
            }
            _ => {
                self.replace_part(a, b)?;
                self.replaced = Some((a, b));
            }
        }
        Ok(())
    }

    /// [`RequestLogImport::replace_stored`] of `[a_us, b_us)`, all of it.
    fn replace_part(&mut self, a_us: i64, b_us: i64) -> Result<(), StoreError> {
        let Some(tx) = self.tx.as_ref() else {
            return Ok(());
        };
        if a_us >= b_us {
            return Ok(());
        }
        let path = self.path;
        let err = |source| sqlite_error(path, "replacing stored windows", source);
        let a = timestamp::format(&timestamp::from_micros(a_us));
        let b = timestamp::format(&timestamp::from_micros(b_us));
        let overlapping: Vec<(WindowId, String, String, String)> = tx
            .prepare_cached(
                "SELECT id, t0, t1, status FROM collection_windows
                 WHERE org_id = ?1 AND endpoint = ?2 AND filter_kind = 'none' AND filter_value = ''
                   AND t0 < ?4 AND t1 > ?3
                 ORDER BY t0",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![self.org_id, Endpoint::ApiRequests.as_str(), a, b],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?
                .collect()
            })
            .map_err(err)?;
        for (id, stored_t0, stored_t1, status) in overlapping {
            if self.windows.mine.contains(&id) {
                continue;
            }
            let (starts_before, ends_after) = (stored_t0 < a, stored_t1 > b);
            if !starts_before && !ends_after {
                // Its rows deleted here, not left to the foreign key's cascade: a new database's
                // bulk load enforces no foreign keys (`Store::begin_bulk_load`).
                tx.prepare_cached("DELETE FROM request_log WHERE window_id = ?1")
                    .and_then(|mut stmt| stmt.execute([id]))
                    .and_then(|_| {
                        tx.prepare_cached("DELETE FROM collection_windows WHERE id = ?1")?
                            .execute([id])
                    })
                    .map_err(err)?;
                continue;
            }
            if status == "failed" {
                continue;
            }
            (|| {
                tx.prepare_cached(
                    "DELETE FROM request_log WHERE window_id = ?1 AND ts_us >= ?2 AND ts_us < ?3",
                )?
                .execute(params![id, a_us, b_us])?;
                if starts_before && ends_after {
                    // The part after the file: a window of its own, with the rows that lie there.
                    // Its collection's calls stay counted once, with the first part.
                    let after: WindowId = tx
                        .prepare_cached(
                            "INSERT INTO collection_windows
                                 (org_id, endpoint, filter_kind, filter_value, t0, t1, status,
                                  started_at, finished_at, rows, calls, http_429s, error)
                             SELECT org_id, endpoint, filter_kind, filter_value, ?2, t1, status,
                                    started_at, finished_at, 0, 0, 0, error
                             FROM collection_windows WHERE id = ?1
                             RETURNING id",
                        )?
                        .query_row(params![id, b], |row| row.get(0))?;
                    tx.prepare_cached(
                        "UPDATE request_log SET window_id = ?2 WHERE window_id = ?1 AND ts_us >= ?3",
                    )?
                    .execute(params![id, after, b_us])?;
                    recount_rows(tx, after)?;
                }
                let trim = if starts_before {
                    "UPDATE collection_windows SET t1 = ?2 WHERE id = ?1"
                } else {
                    "UPDATE collection_windows SET t0 = ?2 WHERE id = ?1"
                };
                let bound = if starts_before { &a } else { &b };
                tx.prepare_cached(trim)?.execute(params![id, bound])?;
                recount_rows(tx, id)
            })()
            .map_err(err)?;
        }
        Ok(())
    }

    /// Ends the import: the file covered `[t0, t1)` (every inserted row lies in it). Replaces the
    /// stored windows there, gives every grid cell of it a window (empty where the file had no
    /// row), clips the first and last windows to `t0` and `t1`, records the organization and its
    /// provider, and commits. Returns the import's windows.
    pub fn commit(
        mut self,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
        organization: &Organization,
        provider: &StoredProvider,
    ) -> Result<Vec<WindowId>, StoreError> {
        let path = self.path;
        let window = format!(
            "apiRequests of org {} [{}, {})",
            self.org_id,
            timestamp::format(&t0),
            timestamp::format(&t1)
        );
        if t0 >= t1 {
            return Err(StoreError::InvalidWindow {
                path: path.to_owned(),
                window,
                reason: "t0 is not before t1",
            });
        }
        let (t0_us, t1_us) = (timestamp::to_micros(&t0), timestamp::to_micros(&t1));
        if let Some((first, last)) = self.windows.rows_span {
            let outside = if first < t0_us { first } else { last };
            if first < t0_us || last >= t1_us {
                return Err(StoreError::RecordOutsideWindow {
                    path: path.to_owned(),
                    window,
                    ts: timestamp::format(&timestamp::from_micros(outside)),
                });
            }
        }
        self.replace_stored(t0, t1)?;
        let Some(tx) = self.tx.as_ref() else {
            return Ok(Vec::new());
        };
        let err = |context| move |source| sqlite_error(path, context, source);
        let grid_us = self.grid_us;
        let (first_cell, last_cell) = (t0_us.div_euclid(grid_us), (t1_us - 1).div_euclid(grid_us));
        let windows = &mut self.windows;
        for cell in first_cell..=last_cell {
            if !windows.cells.contains_key(&cell) {
                let id = insert_window(tx, path, &self.org_id, self.now, cell, grid_us)?;
                windows.add(cell, id);
            }
        }
        let mut windows = std::mem::take(&mut windows.windows);
        windows.sort_by_key(|w| w.cell);
        {
            let mut clip = tx
                .prepare_cached(
                    "UPDATE collection_windows SET t0 = ?2, t1 = ?3, rows = ?4 WHERE id = ?1",
                )
                .map_err(err("storing the import's windows"))?;
            for w in &windows {
                let start = (w.cell * grid_us).max(t0_us);
                let end = ((w.cell + 1) * grid_us).min(t1_us);
                let rows = i64::try_from(w.rows).unwrap_or(i64::MAX);
                clip.execute(params![
                    w.id,
                    timestamp::format(&timestamp::from_micros(start)),
                    timestamp::format(&timestamp::from_micros(end)),
                    rows
                ])
                .map_err(err("storing the import's windows"))?;
            }
        }
        upsert_organizations(tx, std::slice::from_ref(organization), self.now)
            .map_err(err("storing the organization"))?;
        upsert_org_provider(tx, &self.org_id, provider, self.now)
            .map_err(err("storing the organization's provider"))?;
        let committed = match self.tx.take() {
            Some(tx) => tx.commit(),
            None => Ok(()),
        };
        match committed {
            Ok(()) => self.dictionaries.committed(),
            Err(source) => {
                self.dictionaries.rolled_back();
                return Err(sqlite_error(path, "committing the import", source));
            }
        }
        Ok(windows.iter().map(|w| w.id).collect())
    }
}

impl Drop for RequestLogImport<'_> {
    fn drop(&mut self) {
        // Not committed: the transaction rolls back as it drops, and the ids it stored go with it.
        if self.tx.take().is_some() {
            self.dictionaries.rolled_back();
        }
    }
}

impl ImportWindows {
    /// The window of the row at `ts_us`, created when it is the first of its cell.
    fn window_of(
        &mut self,
        tx: &Transaction<'_>,
        path: &Path,
        org_id: &OrgId,
        now: DateTime<Utc>,
        grid_us: i64,
        ts_us: i64,
    ) -> Result<WindowId, StoreError> {
        let cell = ts_us.div_euclid(grid_us);
        let index = match self.current {
            Some(i) if self.windows[i].cell == cell => i,
            _ => match self.cells.get(&cell) {
                Some(&i) => i,
                None => {
                    let id = insert_window(tx, path, org_id, now, cell, grid_us)?;
                    self.add(cell, id)
                }
            },
        };
        self.current = Some(index);
        let window = &mut self.windows[index];
        window.rows += 1;
        self.rows_span = Some(match self.rows_span {
            None => (ts_us, ts_us),
            Some((first, last)) => (first.min(ts_us), last.max(ts_us)),
        });
        Ok(window.id)
    }

    /// Adds the (empty) window `id` of grid cell `cell`; returns its index.
    fn add(&mut self, cell: i64, id: WindowId) -> usize {
        self.windows.push(ImportWindow { cell, id, rows: 0 });
        self.cells.insert(cell, self.windows.len() - 1);
        self.mine.insert(id);
        self.windows.len() - 1
    }
}

/// Inserts the (complete, empty) window of grid cell `cell`.
fn insert_window(
    tx: &Transaction<'_>,
    path: &Path,
    org_id: &OrgId,
    now: DateTime<Utc>,
    cell: i64,
    grid_us: i64,
) -> Result<WindowId, StoreError> {
    let t0 = timestamp::from_micros(cell * grid_us);
    let t1 = timestamp::from_micros((cell + 1) * grid_us);
    let now = timestamp::format(&now);
    tx.prepare_cached(
        "INSERT INTO collection_windows
             (org_id, endpoint, filter_kind, filter_value, t0, t1, status,
              started_at, finished_at, rows, calls, http_429s, error)
         VALUES (?1, ?2, 'none', '', ?3, ?4, 'complete', ?5, ?5, 0, 0, 0, NULL)
         RETURNING id",
    )
    .and_then(|mut stmt| {
        stmt.query_row(
            params![
                org_id,
                Endpoint::ApiRequests.as_str(),
                timestamp::format(&t0),
                timestamp::format(&t1),
                now
            ],
            |row| row.get(0),
        )
    })
    .map_err(|source| sqlite_error(path, "storing the import's windows", source))
}

fn recount_rows(tx: &Transaction<'_>, id: WindowId) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE collection_windows
         SET rows = (SELECT count(*) FROM request_log WHERE window_id = ?1) WHERE id = ?1",
    )?
    .execute([id])
}

fn sqlite_error(path: &Path, context: &'static str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: PathBuf::from(path),
        context,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CollectionFilter, WindowMeta, WindowStatus};

    fn t(text: &str) -> DateTime<Utc> {
        timestamp::parse(text).unwrap()
    }

    fn org() -> OrgId {
        OrgId::new("xdr-1")
    }

    fn organization() -> Organization {
        Organization {
            id: "xdr-1".into(),
            name: "XDR".into(),
            url: None,
            api: None,
            licensing: None,
            cloud: None,
            management: None,
        }
    }

    fn provider() -> StoredProvider {
        StoredProvider {
            provider: "xdr".into(),
            budget_model_json: "{}".into(),
        }
    }

    fn row(ts: &str, path: &'static str) -> RequestRow<&'static str> {
        RequestRow {
            ts_us: timestamp::to_micros(&t(ts)),
            path: Some(path),
            user_agent: Some("ua"),
            ..RequestRow::default()
        }
    }

    /// Imports `rows` covering `[t0, t1)` in one batch.
    fn import(store: &mut Store, rows: &[RequestRow<&str>], t0: &str, t1: &str) -> usize {
        let mut import = store
            .begin_request_import(&org(), TimeDelta::hours(1), t("2026-11-21T00:00:00Z"))
            .unwrap();
        import
            .insert_rows(rows.len(), rows.iter().copied())
            .unwrap();
        import
            .commit(t(t0), t(t1), &organization(), &provider())
            .unwrap()
            .len()
    }

    /// Every window as `t0 t1 status rows`, by start.
    fn windows(store: &Store) -> Vec<String> {
        let short = |t: &DateTime<Utc>| timestamp::format(t)[11..19].to_owned();
        store
            .windows(&org())
            .unwrap()
            .iter()
            .map(|w| {
                let status = match w.status {
                    WindowStatus::Complete => "complete",
                    WindowStatus::Failed => "failed",
                    WindowStatus::InProgress => "in_progress",
                };
                format!("{} {} {status} {}", short(&w.t0), short(&w.t1), w.rows)
            })
            .collect()
    }

    /// Every stored request of the organization, by time.
    fn stored_records(store: &Store) -> Vec<callbudget_api::RequestRecord> {
        store
            .request_records(
                &org(),
                &CollectionFilter::None,
                t("2026-01-01T00:00:00Z"),
                t("2027-01-01T00:00:00Z"),
            )
            .unwrap()
    }

    /// Every stored request as `hh:mm:ss path`, by time.
    fn requests(store: &Store) -> Vec<String> {
        stored_records(store)
            .iter()
            .map(|r| {
                let time = timestamp::format(&r.ts)[11..19].to_owned();
                format!("{time} {}", r.path.as_deref().unwrap_or("-"))
            })
            .collect()
    }

    #[test]
    fn an_import_covers_its_span_on_whole_hours_clipped_at_both_ends_with_empty_hours_too() {
        let mut store = Store::open_in_memory().unwrap();
        let rows = [
            row("2026-11-19T10:20:00Z", "/a"),
            row("2026-11-19T13:05:59Z", "/b"),
            row("2026-11-19T10:20:30Z", "/late"),
        ];
        let count = import(
            &mut store,
            &rows,
            "2026-11-19T10:20:00Z",
            "2026-11-19T13:06:00Z",
        );
        assert_eq!(count, 4);
        assert_eq!(
            windows(&store),
            [
                "10:20:00 11:00:00 complete 2",
                "11:00:00 12:00:00 complete 0",
                "12:00:00 13:00:00 complete 0",
                "13:00:00 13:06:00 complete 1",
            ]
        );
        assert_eq!(
            store.organization_name(&org()).unwrap().as_deref(),
            Some("XDR")
        );
        assert_eq!(store.org_provider(&org()).unwrap(), Some(provider()));
    }

    #[test]
    fn an_import_replaces_only_the_span_it_covers_and_keeps_the_rest() {
        let mut store = Store::open_in_memory().unwrap();
        let first = [
            row("2026-11-19T10:00:00Z", "/a1"),
            row("2026-11-19T11:10:00Z", "/a2"),
            row("2026-11-19T12:10:00Z", "/a3"),
            row("2026-11-19T12:29:59Z", "/a4"),
        ];
        import(
            &mut store,
            &first,
            "2026-11-19T10:00:00Z",
            "2026-11-19T12:30:00Z",
        );
        // A later file from 11:30: the earlier file's requests before then stay.
        let second = [
            row("2026-11-19T11:30:00Z", "/b1"),
            row("2026-11-19T13:00:00Z", "/b2"),
        ];
        import(
            &mut store,
            &second,
            "2026-11-19T11:30:00Z",
            "2026-11-19T13:00:01Z",
        );
        assert_eq!(
            requests(&store),
            [
                "10:00:00 /a1",
                "11:10:00 /a2",
                "11:30:00 /b1",
                "13:00:00 /b2"
            ]
        );
        assert_eq!(
            windows(&store),
            [
                "10:00:00 11:00:00 complete 1",
                "11:00:00 11:30:00 complete 1",
                "11:30:00 12:00:00 complete 1",
                "12:00:00 13:00:00 complete 0",
                "13:00:00 13:00:01 complete 1",
            ]
        );
        // The first file again: its span back as it was, the second file's requests after it kept.
        import(
            &mut store,
            &first,
            "2026-11-19T10:00:00Z",
            "2026-11-19T12:30:00Z",
        );
        assert_eq!(
            requests(&store),
            [
                "10:00:00 /a1",
                "11:10:00 /a2",
                "12:10:00 /a3",
                "12:29:59 /a4",
                "13:00:00 /b2"
            ]
        );
        assert_eq!(
            windows(&store),
            [
                "10:00:00 11:00:00 complete 1",
                "11:00:00 12:00:00 complete 1",
                "12:00:00 12:30:00 complete 2",
                "12:30:00 13:00:00 complete 0",
                "13:00:00 13:00:01 complete 1",
            ]
        );
    }

    #[test]
    fn a_file_inside_a_stored_window_splits_it_and_a_failed_window_past_it_stays() {
        let mut store = Store::open_in_memory().unwrap();
        let meta = |t0: &str, t1: &str| WindowMeta {
            org_id: org(),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0: t(t0),
            t1: t(t1),
            started_at: t("2026-11-20T00:00:00Z"),
            finished_at: t("2026-11-20T00:00:00Z"),
            calls: 4,
            http_429s: 0,
        };
        // A collected day window, and a failed attempt reaching into the file's span.
        let collected: Vec<callbudget_api::RequestRecord> = [
            "2026-11-19T10:00:00Z",
            "2026-11-19T10:30:00Z",
            "2026-11-19T11:00:00Z",
        ]
        .iter()
        .map(|ts| serde_json::from_str(&format!(r#"{{"ts":"{ts}","path":"/collected"}}"#)).unwrap())
        .collect();
        store
            .store_request_window(
                &meta("2026-11-19T09:00:00Z", "2026-11-19T12:00:00Z"),
                &collected,
            )
            .unwrap();
        store
            .record_failed_window(
                &meta("2026-11-19T12:00:00Z", "2026-11-19T13:00:00Z"),
                "timed out",
            )
            .unwrap();
        let rows = [
            row("2026-11-19T10:20:00Z", "/file"),
            row("2026-11-19T12:10:00Z", "/file"),
        ];
        import(
            &mut store,
            &rows,
            "2026-11-19T10:20:00Z",
            "2026-11-19T12:10:01Z",
        );
        assert_eq!(
            requests(&store),
            ["10:00:00 /collected", "10:20:00 /file", "12:10:00 /file"]
        );
        assert_eq!(
            windows(&store),
            [
                "09:00:00 10:20:00 complete 1",
                "10:20:00 11:00:00 complete 1",
                "11:00:00 12:00:00 complete 0",
                "12:00:00 13:00:00 failed 0",
                "12:00:00 12:10:01 complete 1",
            ]
        );
        // The collected window's calls stay counted once.
        let calls: u64 = store.windows(&org()).unwrap().iter().map(|w| w.calls).sum();
        assert_eq!(calls, 4 + 4);

        let rows = [
            row("2026-11-19T09:10:00Z", "/inner"),
            row("2026-11-19T09:20:00Z", "/inner"),
        ];
        import(
            &mut store,
            &rows,
            "2026-11-19T09:10:00Z",
            "2026-11-19T09:20:01Z",
        );
        assert_eq!(
            windows(&store)[..3],
            [
                "09:00:00 09:10:00 complete 0",
                "09:10:00 09:20:01 complete 2",
                "09:20:01 10:20:00 complete 1",
            ]
        );
    }

    #[test]
    fn an_import_dropped_before_its_commit_leaves_the_database_as_it_was() {
        let mut store = Store::open_in_memory().unwrap();
        let first = [row("2026-11-19T10:00:00Z", "/kept")];
        import(
            &mut store,
            &first,
            "2026-11-19T10:00:00Z",
            "2026-11-19T10:00:01Z",
        );
        let before = (windows(&store), requests(&store));
        {
            let mut import = store
                .begin_request_import(&org(), TimeDelta::hours(1), t("2026-11-21T00:00:00Z"))
                .unwrap();
            let rows = [RequestRow {
                user_agent: Some("new-agent"),
                ..row("2026-11-19T09:00:00Z", "/new")
            }];
            import.insert_rows(1, rows).unwrap();
            import
                .replace_stored(t("2026-11-19T09:00:00Z"), t("2026-11-19T11:00:00Z"))
                .unwrap();
        }
        assert_eq!((windows(&store), requests(&store)), before);
        // The new agent's dictionary row went with the rollback, and is stored again when needed.
        let rows = [RequestRow {
            user_agent: Some("new-agent"),
            ..row("2026-11-19T12:00:00Z", "/new")
        }];
        import(
            &mut store,
            &rows,
            "2026-11-19T12:00:00Z",
            "2026-11-19T12:00:01Z",
        );
        let agents: Vec<Option<String>> = store
            .request_records(
                &org(),
                &CollectionFilter::None,
                t("2026-11-19T12:00:00Z"),
                t("2026-11-19T13:00:00Z"),
            )
            .unwrap()
            .into_iter()
            .map(|r| r.user_agent)
            .collect();
        assert_eq!(agents, [Some("new-agent".to_owned())]);
    }

    #[test]
    fn an_import_rolled_back_leaves_the_next_import_and_a_collection_correct() {
        let mut store = Store::open_in_memory().unwrap();
        let dictionary_rows = |store: &Store| -> (i64, i64) {
            let count = |table: &str| {
                store
                    .conn
                    .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                    .unwrap()
            };
            (count("request_sources"), count("request_endpoints"))
        };
        let a = row("2026-11-19T10:00:00Z", "/a");
        let b = RequestRow {
            user_agent: Some(""),
            ..row("2026-11-19T10:30:00Z", "/b")
        };
        // An import that stores a request (its sender and endpoint with it), then fails.
        {
            let mut import = store
                .begin_request_import(&org(), TimeDelta::hours(1), t("2026-11-21T00:00:00Z"))
                .unwrap();
            import.insert_rows(1, [a]).unwrap();
        }
        assert_eq!(dictionary_rows(&store), (0, 0));
        // The next import starts with the same sender and endpoint (the ids learnt by the
        // rolled-back one must not be used), then a sender whose agent is "" (not missing).
        let mut import = store
            .begin_request_import(&org(), TimeDelta::hours(1), t("2026-11-21T00:00:00Z"))
            .unwrap();
        import.insert_rows(2, [a, b]).unwrap();
        import
            .commit(
                t("2026-11-19T10:00:00Z"),
                t("2026-11-19T10:31:00Z"),
                &organization(),
                &provider(),
            )
            .unwrap();
        // A collector then stores the next hour, from the first sender to the first endpoint,
        // and from a sender whose agent is missing.
        let record = |ts: &str, user_agent: Option<&str>| callbudget_api::RequestRecord {
            admin_id: None,
            method: None,
            host: None,
            path: Some("/a".to_owned()),
            query_string: None,
            user_agent: user_agent.map(str::to_owned),
            ts: t(ts),
            response_code: Some(200),
            source_ip: None,
            version: None,
            operation_id: None,
            client: None,
        };
        let meta = WindowMeta {
            org_id: org(),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0: t("2026-11-19T11:00:00Z"),
            t1: t("2026-11-19T12:00:00Z"),
            started_at: t("2026-11-21T01:00:00Z"),
            finished_at: t("2026-11-21T01:00:01Z"),
            calls: 1,
            http_429s: 0,
        };
        let records = [
            record("2026-11-19T11:00:00Z", Some("ua")),
            record("2026-11-19T11:30:00Z", None),
        ];
        store.store_request_window(&meta, &records).unwrap();
        let stored: Vec<String> = stored_records(&store)
            .iter()
            .map(|r| {
                let time = timestamp::format(&r.ts)[11..19].to_owned();
                format!("{time} {:?} {:?}", r.path, r.user_agent)
            })
            .collect();
        assert_eq!(
            stored,
            [
                r#"10:00:00 Some("/a") Some("ua")"#,
                r#"10:30:00 Some("/b") Some("")"#,
                r#"11:00:00 Some("/a") Some("ua")"#,
                r#"11:30:00 Some("/a") None"#,
            ]
        );
        // "ua", "" and a missing agent: three senders; "/a" and "/b": two endpoints.
        assert_eq!(dictionary_rows(&store), (3, 2));
    }

    #[test]
    fn a_window_replaced_during_a_bulk_load_takes_its_rows_with_it() {
        // Without foreign keys, as a new database is loaded: no cascade deletes the rows of a
        // window the second import replaces; the import does.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("bulk.db")).unwrap();
        store.begin_bulk_load().unwrap();
        let first = [
            row("2026-11-19T10:00:00Z", "/old"),
            row("2026-11-19T10:30:00Z", "/old"),
        ];
        import(
            &mut store,
            &first,
            "2026-11-19T10:00:00Z",
            "2026-11-19T11:00:00Z",
        );
        let second = [row("2026-11-19T10:15:00Z", "/new")];
        import(
            &mut store,
            &second,
            "2026-11-19T10:00:00Z",
            "2026-11-19T11:00:00Z",
        );
        store.end_bulk_load().unwrap();
        assert_eq!(requests(&store), ["10:15:00 /new"]);
        let rows: i64 = store
            .conn
            .query_row("SELECT count(*) FROM request_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        let orphans: i64 = store
            .conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(orphans, 0);
    }

    #[test]
    fn rows_outside_the_span_committed_are_refused() {
        let mut store = Store::open_in_memory().unwrap();
        let mut import = store
            .begin_request_import(&org(), TimeDelta::hours(1), t("2026-11-21T00:00:00Z"))
            .unwrap();
        import
            .insert_rows(1, [row("2026-11-19T10:00:00Z", "/a")])
            .unwrap();
        let err = import
            .commit(
                t("2026-11-19T10:00:01Z"),
                t("2026-11-19T11:00:00Z"),
                &organization(),
                &provider(),
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::RecordOutsideWindow { ref ts, .. } if ts == "2026-11-19T10:00:00.000000Z"),
            "{err}"
        );
        assert!(store.windows(&org()).unwrap().is_empty());
    }
}
