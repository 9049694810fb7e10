//! Reads: the windows collected so far, and the per-request log back in the API's shape.
//!
//! Reads of the request log take the [`CollectionFilter`] whose windows to read: the rows of an
//! admin-filtered window repeat rows of an unfiltered window over the same time, so mixing scopes
//! would count requests twice.

use super::{
    CollectionFilter, Endpoint, OrgId, Store, StoreError, WindowRow, count_column,
    optional_timestamp_column, timestamp_column,
};
#[cfg(test)]
use crate::api::{ApiClient, RequestRecord};
use crate::timestamp;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::HashMap;

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
                    params![org_id, endpoint, filter.kind(), filter.value()],
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
/// `collection_windows_by_scope`, then each window's rows in the range from `request_log_by_window`.
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

/// One request of the unfiltered log as [`Store::scan_request_ids`] hands it out: its strings as
/// dictionary ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLogIds {
    /// When the request was made, in microseconds since the Unix epoch.
    pub ts_us: i64,
    pub response_code: Option<u16>,
    /// A key of [`RequestLogDictionaries::sources`].
    pub source_id: i64,
    /// A key of [`RequestLogDictionaries::endpoints`].
    pub endpoint_id: i64,
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
                visit(&RequestLogIds {
                    ts_us: row.get(0)?,
                    response_code: row.get(1)?,
                    source_id: row.get(2)?,
                    endpoint_id: row.get(3)?,
                });
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
        endpoint: row.get(2)?,
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
