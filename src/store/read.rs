//! Reads: the windows collected so far, and the per-request log back in the API's shape.
//!
//! Reads of the request log take the [`CollectionFilter`] whose windows to read: the rows of an
//! admin-filtered window repeat rows of an unfiltered window over the same time, so mixing scopes
//! would count requests twice.

use super::{
    CollectionFilter, Endpoint, OrgId, Store, StoreError, WindowRow, count_column,
    optional_timestamp_column, timestamp_column,
};
use crate::dashboard::models::{ApiClient, RequestRecord};
use crate::timestamp;
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};
use std::collections::BTreeMap;

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
            .prepare_cached(
                "SELECT r.admin_id, r.method, r.host, r.path, r.query_string, r.user_agent, r.ts,
                        r.response_code, r.source_ip, r.version, r.operation_id,
                        r.client_id, r.client_type
                 FROM api_requests AS r
                 JOIN collection_windows AS w ON w.id = r.window_id
                 WHERE r.org_id = ?1 AND r.ts >= ?2 AND r.ts < ?3
                   AND w.filter_kind = ?4 AND w.filter_value = ?5
                 ORDER BY r.ts, r.rowid",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![
                        org_id,
                        timestamp::format(&t0),
                        timestamp::format(&t1),
                        filter.kind(),
                        filter.value()
                    ],
                    request_record,
                )?
                .collect()
            })
            .map_err(err)
    }

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
            .prepare_cached(
                "SELECT count(*)
                 FROM api_requests AS r
                 JOIN collection_windows AS w ON w.id = r.window_id
                 WHERE r.org_id = ?1 AND r.ts >= ?2 AND r.ts < ?3
                   AND w.filter_kind = ?4 AND w.filter_value = ?5",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        org_id,
                        timestamp::format(&t0),
                        timestamp::format(&t1),
                        filter.kind(),
                        filter.value()
                    ],
                    |row| count_column(row, 0),
                )
            })
            .map_err(err)
    }

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
            .prepare_cached(
                "SELECT r.response_code, count(*)
                 FROM api_requests AS r
                 JOIN collection_windows AS w ON w.id = r.window_id
                 WHERE r.org_id = ?1 AND r.ts >= ?2 AND r.ts < ?3
                   AND w.filter_kind = ?4 AND w.filter_value = ?5
                 GROUP BY r.response_code",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![
                        org_id,
                        timestamp::format(&t0),
                        timestamp::format(&t1),
                        filter.kind(),
                        filter.value()
                    ],
                    |row| Ok((row.get(0)?, count_column(row, 1)?)),
                )?
                .collect()
            })
            .map_err(err)
    }
}

/// One request of the unfiltered log as [`Store::scan_request_log`] hands it out: strings borrow
/// from SQLite's row buffer and live only for the callback, so scanning allocates nothing per row.
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

impl Store {
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
        let err = self.sql_error("scanning the request log");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT ts, response_code, method, path, user_agent, admin_id, source_ip,
                        operation_id, client_id
                 FROM unfiltered_api_requests
                 WHERE org_id = ?1 AND ts >= ?2 AND ts < ?3",
            )
            .map_err(self.sql_error("scanning the request log"))?;
        let mut rows = stmt
            .query(params![
                org_id,
                timestamp::format(&t0),
                timestamp::format(&t1)
            ])
            .map_err(self.sql_error("scanning the request log"))?;
        let mut visited = 0u64;
        let result = (|| {
            while let Some(row) = rows.next()? {
                visit(&request_log_row(row)?);
                visited += 1;
            }
            Ok(())
        })();
        result.map_err(err)?;
        Ok(visited)
    }
}

fn request_log_row<'a>(row: &'a Row<'_>) -> rusqlite::Result<RequestLogRow<'a>> {
    let text = |idx: usize| -> rusqlite::Result<Option<&'a str>> {
        row.get_ref(idx)?
            .as_str_or_null()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
    };
    let ts = text(0)?.unwrap_or_default();
    // Every timestamp callbudget writes is canonical; anything else goes through the full parser.
    let ts_us = match timestamp::canonical_to_micros(ts) {
        Some(us) => us,
        None => timestamp::parse(ts)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))?
            .timestamp_micros(),
    };
    Ok(RequestLogRow {
        ts_us,
        response_code: row.get(1)?,
        method: text(2)?,
        path: text(3)?,
        user_agent: text(4)?,
        admin_id: text(5)?,
        source_ip: text(6)?,
        operation_id: text(7)?,
        client_id: text(8)?,
    })
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
        ts: timestamp_column(row, 6)?,
        response_code: row.get(7)?,
        source_ip: row.get(8)?,
        version: row.get(9)?,
        operation_id: row.get(10)?,
        client,
    })
}
