//! Reads: the windows collected so far, and the per-request log back in the API's shape.
//!
//! Reads of the request log take the [`CollectionFilter`] whose windows to read: the rows of an
//! admin-filtered window repeat rows of an unfiltered window over the same time, so mixing scopes
//! would count requests twice.

use super::window_scan::{RequestLogIds, WindowScan};
use super::{
    CollectionFilter, Endpoint, OrgId, Store, StoreError, WindowRow, count_column, endpoint_column,
    optional_timestamp_column, timestamp_column,
};
use callbudget_api::timestamp;
#[cfg(test)]
use callbudget_api::{ApiClient, RequestRecord};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;

const WINDOW_COLUMNS: &str = "id, org_id, endpoint, filter_kind, filter_value, t0, t1, status, \
                              started_at, finished_at, rows, calls, http_429s, error";

impl Store {
    /// Every window of an organization, by endpoint, filter and start.
    pub fn windows(&self, org_id: &OrgId) -> Result<Vec<WindowRow>, StoreError> {
        let err = self.sql_error("reading collection windows");
        self.conn
            .prepare_cached(&format!(
                "SELECT {WINDOW_COLUMNS} FROM collection_windows WHERE org_id = ?1
                 ORDER BY endpoint, filter_kind, filter_value, t0, id"
            ))
            .and_then(|mut stmt| stmt.query_map([org_id], window_row)?.collect())
            .map_err(err)
    }

    /// The complete window of this scope that ends last: where an incremental collection resumes.
    pub fn last_complete_window(
        &self,
        org_id: &OrgId,
        endpoint: Endpoint,
        filter: &CollectionFilter,
    ) -> Result<Option<WindowRow>, StoreError> {
        let err = self.sql_error("reading the last complete window");
        self.conn
            .prepare_cached(&format!(
                "SELECT {WINDOW_COLUMNS} FROM collection_windows
                 WHERE org_id = ?1 AND endpoint = ?2 AND filter_kind = ?3 AND filter_value = ?4
                   AND status = 'complete'
                 ORDER BY t1 DESC, id DESC LIMIT 1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![org_id, endpoint.as_str(), filter.kind(), filter.value()],
                    window_row,
                )
                .optional()
            })
            .map_err(err)
    }

    #[cfg(test)]
    /// The stored request records of `filter`'s windows with `t0 <= ts < t1`, by time (records
    /// with equal `ts` in the order they were stored).
    pub fn request_records(
        &self,
        org_id: &OrgId,
        filter: &CollectionFilter,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let err = self.sql_error("reading request records");
        self.conn
            .prepare_cached(&format!(
                "SELECT s.admin_id, e.method, e.host, e.path, r.query_string, s.user_agent, r.ts_us,
                        r.response_code, s.source_ip, e.version, e.operation_id,
                        s.client_id, s.client_type
                 {WINDOW_ROWS}
                 JOIN request_sources AS s ON s.id = r.source_id
                 JOIN request_endpoints AS e ON e.id = r.endpoint_id
                 WHERE {WINDOW_ROWS_IN_RANGE}
                 ORDER BY r.ts_us, r.id"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(window_rows_params(org_id, filter, t0, t1), request_record)?
                    .collect()
            })
            .map_err(err)
    }

    #[cfg(test)]
    /// How many request records of `filter`'s windows have `t0 <= ts < t1`.
    pub fn count_requests(
        &self,
        org_id: &OrgId,
        filter: &CollectionFilter,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let err = self.sql_error("counting request records");
        self.conn
            .prepare_cached(&format!(
                "SELECT count(*) {WINDOW_ROWS} WHERE {WINDOW_ROWS_IN_RANGE}"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(window_rows_params(org_id, filter, t0, t1), |row| {
                    count_column(row, 0)
                })
            })
            .map_err(err)
    }

    #[cfg(test)]
    /// Request records of `filter`'s windows with `t0 <= ts < t1`, counted by response code
    /// (`None`: the record had no code).
    pub fn response_code_totals(
        &self,
        org_id: &OrgId,
        filter: &CollectionFilter,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<BTreeMap<Option<u16>, u64>, StoreError> {
        let err = self.sql_error("counting response codes");
        self.conn
            .prepare_cached(&format!(
                "SELECT r.response_code, count(*) {WINDOW_ROWS} WHERE {WINDOW_ROWS_IN_RANGE}
                 GROUP BY r.response_code"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(window_rows_params(org_id, filter, t0, t1), |row| {
                    Ok((row.get(0)?, count_column(row, 1)?))
                })?
                .collect()
            })
            .map_err(err)
    }
}

/// The request rows of a scope's windows (`w`, `r`); with [`WINDOW_ROWS_IN_RANGE`] and
/// [`window_rows_params`]. Windows first: the windows overlapping the range come from
/// `collection_windows_by_scope`, then each window's rows in the range from `request_log`'s own
/// order (its primary key: window, time, id).
const WINDOW_ROWS: &str = "FROM collection_windows AS w
                 JOIN request_log AS r ON r.window_id = w.id";
/// Constants only; the values are bound.
const WINDOW_ROWS_IN_RANGE: &str = "w.org_id = ?1 AND w.endpoint = 'apiRequests'
                   AND w.filter_kind = ?2 AND w.filter_value = ?3
                   AND w.t0 < ?5 AND w.t1 > ?4
                   AND r.ts_us >= ?6 AND r.ts_us < ?7";

/// The parameters of [`WINDOW_ROWS_IN_RANGE`]: the window bounds as canonical text (how windows
/// store them), the record bounds as microseconds (how records store them).
fn window_rows_params<'a>(
    org_id: &'a OrgId,
    filter: &'a CollectionFilter,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
) -> impl rusqlite::Params + 'a {
    (
        org_id,
        filter.kind(),
        filter.value(),
        timestamp::format(&t0),
        timestamp::format(&t1),
        timestamp::to_micros(&t0),
        timestamp::to_micros(&t1),
    )
}

/// One request of the unfiltered log as [`Store::scan_request_log`] hands it out: strings borrow
/// from the dictionaries read for the scan and live only for the callback, so scanning allocates
/// nothing per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLogRow<'a> {
    /// When the request was made, in microseconds since the Unix epoch.
    pub ts_us: i64,
    pub response_code: Option<u16>,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub admin_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub operation_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
}

/// Who sent requests: one row of `request_sources`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestSource {
    pub admin_id: Option<String>,
    pub user_agent: Option<String>,
    pub source_ip: Option<String>,
    pub client_id: Option<String>,
    pub client_type: Option<String>,
}

/// What requests called: one row of `request_endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestEndpoint {
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub version: Option<u8>,
    pub operation_id: Option<String>,
}

/// The request log's dictionaries, by id: what [`RequestLogIds::source_id`] and
/// [`RequestLogIds::endpoint_id`] name. Small next to the log (distinct senders and endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestLogDictionaries {
    pub sources: HashMap<i64, RequestSource>,
    pub endpoints: HashMap<i64, RequestEndpoint>,
}

impl RequestLogIds {
    /// A row of `SELECT ts_us, response_code, source_id, endpoint_id FROM request_log …`.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RequestLogIds> {
        Ok(RequestLogIds {
            ts_us: row.get(0)?,
            response_code: row.get(1)?,
            source_id: row.get(2)?,
            endpoint_id: row.get(3)?,
        })
    }
}

impl Store {
    /// Every row of the request log's dictionaries.
    pub fn request_log_dictionaries(&self) -> Result<RequestLogDictionaries, StoreError> {
        let err = self.sql_error("reading the request log's dictionaries");
        let sources = self
            .conn
            .prepare_cached(
                "SELECT id, admin_id, user_agent, source_ip, client_id, client_type
                 FROM request_sources",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        RequestSource {
                            admin_id: row.get(1)?,
                            user_agent: row.get(2)?,
                            source_ip: row.get(3)?,
                            client_id: row.get(4)?,
                            client_type: row.get(5)?,
                        },
                    ))
                })?
                .collect()
            })
            .map_err(self.sql_error("reading the request log's dictionaries"))?;
        let endpoints = self
            .conn
            .prepare_cached(
                "SELECT id, method, host, path, version, operation_id FROM request_endpoints",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        RequestEndpoint {
                            method: row.get(1)?,
                            host: row.get(2)?,
                            path: row.get(3)?,
                            version: row.get(4)?,
                            operation_id: row.get(5)?,
                        },
                    ))
                })?
                .collect()
            })
            .map_err(err)?;
        Ok(RequestLogDictionaries { sources, endpoints })
    }

    /// Calls `visit` with every request of the unfiltered log (`unfiltered_api_requests`) of
    /// `org_id` with `t0 <= ts < t1`, its strings as ids into
    /// [`Store::request_log_dictionaries`], in no particular order; returns how many it visited.
    ///
    /// Read-only and streaming, and reads only integers: for analyses over millions of rows.
    pub fn scan_request_ids(
        &self,
        org_id: &OrgId,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
        mut visit: impl FnMut(&RequestLogIds),
    ) -> Result<u64, StoreError> {
        let err = self.sql_error("scanning the request log");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT r.ts_us, r.response_code, r.source_id, r.endpoint_id
                 {WINDOW_ROWS} WHERE {WINDOW_ROWS_IN_RANGE}"
            ))
            .map_err(self.sql_error("scanning the request log"))?;
        let mut rows = stmt
            .query(window_rows_params(org_id, &CollectionFilter::None, t0, t1))
            .map_err(self.sql_error("scanning the request log"))?;
        let mut visited = 0u64;
        let result = (|| {
            while let Some(row) = rows.next()? {
                visit(&RequestLogIds::from_row(row)?);
                visited += 1;
            }
            Ok(())
        })();
        result.map_err(err)?;
        Ok(visited)
    }

    /// Calls `visit` with every request of the unfiltered log (`unfiltered_api_requests`) of
    /// `org_id` with `t0 <= ts < t1`, in no particular order; returns how many it visited.
    ///
    /// Read-only and streaming: for analyses over millions of rows that keep only a few columns.
    pub fn scan_request_log(
        &self,
        org_id: &OrgId,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
        mut visit: impl FnMut(&RequestLogRow<'_>),
    ) -> Result<u64, StoreError> {
        let dictionaries = self.request_log_dictionaries()?;
        let missing = RequestSource::default();
        let missing_endpoint = RequestEndpoint::default();
        self.scan_request_ids(org_id, t0, t1, |ids| {
            // Every id the store writes names a dictionary row; a row deleted by hand reads as a
            // request whose strings are all missing.
            let s = dictionaries.sources.get(&ids.source_id).unwrap_or(&missing);
            let e = dictionaries
                .endpoints
                .get(&ids.endpoint_id)
                .unwrap_or(&missing_endpoint);
            visit(&RequestLogRow {
                ts_us: ids.ts_us,
                response_code: ids.response_code,
                method: e.method.as_deref(),
                path: e.path.as_deref(),
                user_agent: s.user_agent.as_deref(),
                admin_id: s.admin_id.as_deref(),
                source_ip: s.source_ip.as_deref(),
                operation_id: e.operation_id.as_deref(),
                client_id: s.client_id.as_deref(),
            });
        })
    }
}

/// A log this small is read on one connection: a second one would cost more than it saves.
const ROWS_TO_SPLIT: u64 = 200_000;

/// One window of the unfiltered request log that a [`RequestLogRead`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogWindow {
    id: i64,
    rows: u64,
    /// When the run that stored it started and finished, as stored: a window replaced by another
    /// run may take its freed id (and hold as many rows), but not these as well.
    started_at: String,
    finished_at: Option<String>,
}

/// A read of one organization's unfiltered request log (`unfiltered_api_requests`) over
/// `[t0, t1)`, in one view of the database: the windows it covers are listed when the read begins,
/// and the dictionaries and rows read through it are those of that moment, whatever a collector
/// commits meanwhile.
///
/// [`RequestLogRead::scan`] reads the rows window by window, windows in time order and each
/// window's rows by time (ties in the order stored): the windows of one scope never overlap, so
/// that is the log in time order. A large log is read on two connections at once, the later
/// windows on a second, read-only one whose view is checked to hold the very same windows.
pub struct RequestLogRead<'s> {
    store: &'s Store,
    /// Holds the view; `None` when the caller's own transaction already does.
    _view: Option<rusqlite::Transaction<'s>>,
    org_id: OrgId,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    windows: Vec<LogWindow>,
}

impl Store {
    /// Begins a read of `org_id`'s unfiltered request log with `t0 <= ts < t1`.
    pub fn read_request_log(
        &self,
        org_id: &OrgId,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<RequestLogRead<'_>, StoreError> {
        let view = if self.conn.is_autocommit() {
            Some(
                self.conn
                    .unchecked_transaction()
                    .map_err(self.sql_error("beginning a read of the request log"))?,
            )
        } else {
            None
        };
        let windows = log_windows(&self.conn, org_id, t0, t1)
            .map_err(self.sql_error("listing the request log's windows"))?;
        Ok(RequestLogRead {
            store: self,
            _view: view,
            org_id: org_id.clone(),
            t0,
            t1,
            windows,
        })
    }
}

impl RequestLogRead<'_> {
    /// How many rows the windows read hold (those outside `[t0, t1)` included): a capacity hint.
    pub fn rows_hint(&self) -> u64 {
        self.windows.iter().map(|w| w.rows).sum()
    }

    /// The dictionaries the rows' ids name, as of this read's view.
    pub fn dictionaries(&self) -> Result<RequestLogDictionaries, StoreError> {
        self.store.request_log_dictionaries()
    }

    /// Calls `earlier` with the rows of the first windows and `later` with the rest, each in
    /// time order (every row `earlier` sees comes before those `later` sees); returns how many
    /// rows it visited. `later` may run on another thread, on a second connection.
    pub fn scan(
        self,
        mut earlier: impl FnMut(&RequestLogIds),
        mut later: impl FnMut(&RequestLogIds) + Send,
    ) -> Result<u64, StoreError> {
        self.scan_split_with_queries(
            ROWS_TO_SPLIT,
            None,
            |ids, _| earlier(ids),
            |ids, _| later(ids),
        )
    }

    /// [`RequestLogRead::scan`], each row handed out with its query string when `wants_query`
    /// says its endpoint (a key of [`RequestLogDictionaries::endpoints`]) needs it — `None` for
    /// the others, and for a query string that is missing or not text. Reading a row's query
    /// string costs a string per row: ask for the few endpoints whose calls it tells apart.
    pub fn scan_with_queries(
        self,
        wants_query: &(dyn Fn(i64) -> bool + Sync),
        earlier: impl FnMut(&RequestLogIds, Option<&str>),
        later: impl FnMut(&RequestLogIds, Option<&str>) + Send,
    ) -> Result<u64, StoreError> {
        self.scan_split_with_queries(ROWS_TO_SPLIT, Some(wants_query), earlier, later)
    }

    /// [`RequestLogRead::scan`], reading on two connections from `rows_to_split` rows.
    #[cfg(test)]
    pub(crate) fn scan_split_from(
        self,
        rows_to_split: u64,
        mut earlier: impl FnMut(&RequestLogIds),
        mut later: impl FnMut(&RequestLogIds) + Send,
    ) -> Result<u64, StoreError> {
        self.scan_split_with_queries(
            rows_to_split,
            None,
            |ids, _| earlier(ids),
            |ids, _| later(ids),
        )
    }

    /// [`RequestLogRead::scan_with_queries`], reading on two connections from `rows_to_split`
    /// rows; without `wants_query`, no query string is read.
    fn scan_split_with_queries(
        self,
        rows_to_split: u64,
        wants_query: Option<&(dyn Fn(i64) -> bool + Sync)>,
        mut earlier: impl FnMut(&RequestLogIds, Option<&str>),
        mut later: impl FnMut(&RequestLogIds, Option<&str>) + Send,
    ) -> Result<u64, StoreError> {
        let store = self.store;
        let (t0_us, t1_us) = (
            timestamp::to_micros(&self.t0),
            timestamp::to_micros(&self.t1),
        );
        let read_error = || store.sql_error("scanning the request log");
        let total = self.rows_hint();
        // The earlier part: the windows before the one that reaches half the rows.
        let mut seen = 0;
        let split = self
            .windows
            .iter()
            .position(|w| {
                seen += w.rows;
                2 * seen >= total
            })
            .map_or(self.windows.len(), |i| i + 1);
        let (first, rest) = self.windows.split_at(split);
        let second = (total >= rows_to_split && store.path != Path::new(super::IN_MEMORY))
            .then(|| second_connection(&store.path))
            .flatten();
        let scan = |conn: &Connection,
                    windows: &[LogWindow],
                    visit: &mut dyn FnMut(&RequestLogIds, Option<&str>)| {
            scan_windows(conn, windows, t0_us, t1_us, wants_query, visit)
        };
        let Some(second) = second else {
            let visited = scan(&store.conn, &self.windows, &mut earlier).map_err(read_error())?;
            return Ok(visited);
        };
        let (earlier_rows, helper_rows) = std::thread::scope(|scope| {
            let (windows, later) = (&self.windows, &mut later);
            let (org_id, t0, t1) = (&self.org_id, self.t0, self.t1);
            let helper = scope.spawn(move || -> rusqlite::Result<Option<u64>> {
                // Until a row is visited, any failure leaves the later windows to this connection.
                let Ok(view) = second.unchecked_transaction() else {
                    return Ok(None);
                };
                // The same windows, or another writer changed them between the two views.
                match log_windows(&second, org_id, t0, t1) {
                    Ok(listed) if listed == *windows => {}
                    _ => return Ok(None),
                }
                let visited = scan(&second, rest, later)?;
                view.finish()?;
                Ok(Some(visited))
            });
            let earlier_rows = scan(&store.conn, first, &mut earlier);
            match helper.join() {
                Ok(helper_rows) => (earlier_rows, helper_rows),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        let earlier_rows = earlier_rows.map_err(read_error())?;
        let later_rows = match helper_rows.map_err(read_error())? {
            Some(rows) => rows,
            None => scan(&store.conn, rest, &mut later).map_err(read_error())?,
        };
        Ok(earlier_rows + later_rows)
    }
}

/// A second, read-only connection to the database at `path`, opened as
/// [`Store::open_read_only`] opens one; `None` if it cannot be.
fn second_connection(path: &Path) -> Option<Connection> {
    let immutable = !super::may_write(&super::directory_of(path));
    let uri = super::read_only_uri(path, immutable).ok()?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags).ok()?;
    conn.busy_timeout(super::BUSY_TIMEOUT).ok()?;
    Some(conn)
}

/// The windows of `org_id`'s unfiltered request log overlapping `[t0, t1)`, by start.
fn log_windows(
    conn: &Connection,
    org_id: &OrgId,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
) -> rusqlite::Result<Vec<LogWindow>> {
    let filter = CollectionFilter::None;
    conn.prepare_cached(
        "SELECT id, rows, started_at, finished_at FROM collection_windows
         WHERE org_id = ?1 AND endpoint = 'apiRequests' AND filter_kind = ?2
           AND filter_value = ?3 AND t0 < ?5 AND t1 > ?4
         ORDER BY t0, id",
    )?
    .query_map(
        (
            org_id,
            filter.kind(),
            filter.value(),
            timestamp::format(&t0),
            timestamp::format(&t1),
        ),
        |row| {
            Ok(LogWindow {
                id: row.get(0)?,
                rows: count_column(row, 1)?,
                started_at: row.get(2)?,
                finished_at: row.get(3)?,
            })
        },
    )?
    .collect()
}

/// Visits the rows of `windows` with `t0_us <= ts < t1_us`, window after window, each by time,
/// with the query string of those whose endpoint `wants_query` names.
fn scan_windows(
    conn: &Connection,
    windows: &[LogWindow],
    t0_us: i64,
    t1_us: i64,
    wants_query: Option<&(dyn Fn(i64) -> bool + Sync)>,
    visit: &mut dyn FnMut(&RequestLogIds, Option<&str>),
) -> rusqlite::Result<u64> {
    let mut scan = WindowScan::prepare(conn, wants_query.is_some())?;
    let mut visited = 0;
    for window in windows {
        visited += scan.scan(window.id, t0_us, t1_us, wants_query, visit)?;
    }
    Ok(visited)
}

fn window_row(row: &Row<'_>) -> rusqlite::Result<WindowRow> {
    let kind: String = row.get(3)?;
    let value: String = row.get(4)?;
    let filter = CollectionFilter::from_parts(&kind, &value).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown filter {kind:?} = {value:?}").into(),
        )
    })?;
    Ok(WindowRow {
        id: row.get(0)?,
        org_id: row.get(1)?,
        endpoint: endpoint_column(row, 2)?,
        filter,
        t0: timestamp_column(row, 5)?,
        t1: timestamp_column(row, 6)?,
        status: row.get(7)?,
        started_at: timestamp_column(row, 8)?,
        finished_at: optional_timestamp_column(row, 9)?,
        rows: count_column(row, 10)?,
        calls: count_column(row, 11)?,
        http_429s: count_column(row, 12)?,
        error: row.get(13)?,
    })
}

#[cfg(test)]
fn request_record(row: &Row<'_>) -> rusqlite::Result<RequestRecord> {
    let client_id: Option<String> = row.get(11)?;
    let client_type: Option<String> = row.get(12)?;
    // A record without a client and one with an empty client object are stored alike.
    let client = (client_id.is_some() || client_type.is_some()).then_some(ApiClient {
        id: client_id,
        kind: client_type,
    });
    Ok(RequestRecord {
        admin_id: row.get(0)?,
        method: row.get(1)?,
        host: row.get(2)?,
        path: row.get(3)?,
        query_string: row.get(4)?,
        user_agent: row.get(5)?,
        ts: timestamp::from_micros(row.get(6)?),
        response_code: row.get(7)?,
        source_ip: row.get(8)?,
        version: row.get(9)?,
        operation_id: row.get(10)?,
        client,
    })
}
