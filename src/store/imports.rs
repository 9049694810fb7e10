//! A request log imported from a file, written as one organization's `apiRequests` windows in one
//! transaction: rows as they stream in, each into the window of its UTC hour; the stored windows
//! of the span the file covers replaced (those it partly covers trimmed to what lies outside it);
//! then the organization and its provider. An import is stored whole or not at all, and readers
//! never see half of one.

use super::dictionary::Dictionaries;
use super::providers::upsert_org_provider;
use super::request_rows::insert_rows;
use super::write::{WINDOW_CACHE_KIB, upsert_organizations};
use super::{Endpoint, OrgId, RequestRow, Store, StoreError, StoredProvider, WindowId};
use crate::api::Organization;
use crate::timestamp;
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
    windows: Vec<ImportWindow>,
    /// Index into `windows` by cell.
    cells: HashMap<i64, usize>,
    /// The ids of `windows`, to tell them from stored ones.
    mine: HashSet<WindowId>,
    /// The earliest and latest row inserted, in microseconds.
    rows_span: Option<(i64, i64)>,
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
            windows: Vec::new(),
            cells: HashMap::new(),
            mine: HashSet::new(),
            rows_span: None,
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
        let (windows, cells, mine) = (&mut self.windows, &mut self.cells, &mut self.mine);
        let span = &mut self.rows_span;
        // The window of the previous row: logs come in time order, so most rows need no lookup.
        let mut current: Option<usize> = None;
        insert_rows(tx, self.dictionaries, path, count, || {
            let Some(row) = rows.next() else {
                return Ok(None);
            };
            let cell = row.ts_us.div_euclid(grid_us);
            let index = match current {
                Some(i) if windows[i].cell == cell => i,
                _ => match cells.get(&cell) {
                    Some(&i) => i,
                    None => {
                        let id = insert_window(tx, path, org_id, now, cell, grid_us)?;
                        windows.push(ImportWindow { cell, id, rows: 0 });
                        cells.insert(cell, windows.len() - 1);
                        mine.insert(id);
                        windows.len() - 1
                    }
                },
            };
            current = Some(index);
            windows[index].rows += 1;
            *span = Some(match *span {
                None => (row.ts_us, row.ts_us),
                Some((first, last)) => (first.min(row.ts_us), last.max(row.ts_us)),
            });
            Ok(Some((windows[index].id, row)))
        })
    }

    /// The earliest and the latest time of the rows inserted so far, in microseconds.
    pub fn rows_span(&self) -> Option<(i64, i64)> {
        self.rows_span
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
                stmt.query_map(params![self.org_id, Endpoint::ApiRequests, a, b], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect()
            })
            .map_err(err)?;
        for (id, stored_t0, stored_t1, status) in overlapping {
            if self.mine.contains(&id) {
                continue;
            }
            let (starts_before, ends_after) = (stored_t0 < a, stored_t1 > b);
            if !starts_before && !ends_after {
                tx.prepare_cached("DELETE FROM collection_windows WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute([id]))
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
        if let Some((first, last)) = self.rows_span {
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
        for cell in first_cell..=last_cell {
            if !self.cells.contains_key(&cell) {
                let id = insert_window(tx, path, &self.org_id, self.now, cell, grid_us)?;
                self.windows.push(ImportWindow { cell, id, rows: 0 });
                self.cells.insert(cell, self.windows.len() - 1);
                self.mine.insert(id);
            }
        }
        self.windows.sort_by_key(|w| w.cell);
        {
            let mut clip = tx
                .prepare_cached(
                    "UPDATE collection_windows SET t0 = ?2, t1 = ?3, rows = ?4 WHERE id = ?1",
                )
                .map_err(err("storing the import's windows"))?;
            for w in &self.windows {
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
        self.windows.sort_by_key(|w| w.cell);
        Ok(self.windows.iter().map(|w| w.id).collect())
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
                Endpoint::ApiRequests,
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
