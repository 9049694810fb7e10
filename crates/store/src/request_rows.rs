//! The request log's rows as the store writes them: [`RequestRow`], the store's own shape of one
//! request, which the collector's pages and the importer's lines both produce, and the insert loop
//! that writes rows into `request_log` and its dictionaries, whatever window they belong to.

use super::dictionary::Dictionaries;
use super::{StoreError, WindowId};
use callbudget_api::RequestRecord;
use callbudget_api::redact::redact_query;
use callbudget_api::timestamp;
use rusqlite::Transaction;
use std::path::{Path, PathBuf};

/// One request as the store writes it: its time in microseconds, its status and query string (the
/// columns of `request_log`), who sent it (a row of `request_sources`) and what it called (a row of
/// `request_endpoints`), every string optional.
///
/// It is not Meraki's record: a proxy's combined log or an application's CSV becomes rows without
/// passing through [`RequestRecord`]; a Meraki record converts with `From`. Generic over its string
/// type like the record: `&str` to store, anything that holds text to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestRow<S> {
    /// When the request was made, in microseconds since the Unix epoch.
    pub ts_us: i64,
    pub response_code: Option<u16>,
    pub query_string: Option<S>,
    pub admin_id: Option<S>,
    pub user_agent: Option<S>,
    pub source_ip: Option<S>,
    pub client_id: Option<S>,
    pub client_type: Option<S>,
    pub method: Option<S>,
    pub host: Option<S>,
    pub path: Option<S>,
    pub version: Option<u8>,
    pub operation_id: Option<S>,
}

impl<S> RequestRow<S> {
    /// The same row with each of its strings passed through `f`, in field order (what `f` makes
    /// may borrow from this row).
    pub fn map_text<'a, T>(&'a self, mut f: impl FnMut(&'a S) -> T) -> RequestRow<T> {
        let mut text = |value: &'a Option<S>| value.as_ref().map(&mut f);
        RequestRow {
            ts_us: self.ts_us,
            response_code: self.response_code,
            query_string: text(&self.query_string),
            admin_id: text(&self.admin_id),
            user_agent: text(&self.user_agent),
            source_ip: text(&self.source_ip),
            client_id: text(&self.client_id),
            client_type: text(&self.client_type),
            method: text(&self.method),
            host: text(&self.host),
            path: text(&self.path),
            version: self.version,
            operation_id: text(&self.operation_id),
        }
    }
}

impl<S: AsRef<str>> RequestRow<S> {
    /// The same row, its strings borrowed from this one.
    pub fn as_str_row(&self) -> RequestRow<&str> {
        self.map_text(AsRef::as_ref)
    }
}

impl<'a, S: AsRef<str>> From<&'a RequestRecord<S>> for RequestRow<&'a str> {
    fn from(record: &'a RequestRecord<S>) -> Self {
        let text = |value: &'a Option<S>| value.as_ref().map(AsRef::as_ref);
        let client = record.client.as_ref();
        RequestRow {
            ts_us: timestamp::to_micros(&record.ts),
            response_code: record.response_code,
            query_string: text(&record.query_string),
            admin_id: text(&record.admin_id),
            user_agent: text(&record.user_agent),
            source_ip: text(&record.source_ip),
            client_id: client.and_then(|c| text(&c.id)),
            client_type: client.and_then(|c| text(&c.kind)),
            method: text(&record.method),
            host: text(&record.host),
            path: text(&record.path),
            version: record.version,
            operation_id: text(&record.operation_id),
        }
    }
}

/// A record whose strings borrow from a page converts without tying the row to the record.
impl<'a> From<RequestRecord<&'a str>> for RequestRow<&'a str> {
    fn from(record: RequestRecord<&'a str>) -> Self {
        let client = record.client;
        RequestRow {
            ts_us: timestamp::to_micros(&record.ts),
            response_code: record.response_code,
            query_string: record.query_string,
            admin_id: record.admin_id,
            user_agent: record.user_agent,
            source_ip: record.source_ip,
            client_id: client.as_ref().and_then(|c| c.id),
            client_type: client.as_ref().and_then(|c| c.kind),
            method: record.method,
            host: record.host,
            path: record.path,
            version: record.version,
            operation_id: record.operation_id,
        }
    }
}

/// The columns of one `request_log` row as [`insert_rows`] writes them.
const REQUEST_COLUMNS: usize = 7;
const INSERT_REQUEST: &str = "INSERT INTO request_log
     (id, window_id, ts_us, response_code, source_id, endpoint_id, query_string)
     VALUES (?, ?, ?, ?, ?, ?, ?)";
/// Rows per multi-row INSERT: one statement execution per 64 requests instead of per request.
const REQUESTS_PER_INSERT: usize = 64;
/// [`INSERT_REQUEST`] with [`REQUESTS_PER_INSERT`] rows of placeholders (built from constants only).
static INSERT_REQUESTS_BATCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let row = "(?, ?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT INTO request_log
             (id, window_id, ts_us, response_code, source_id, endpoint_id, query_string)
         VALUES {}",
        vec![row; REQUESTS_PER_INSERT].join(", ")
    )
});

/// A request as `request_log` stores it: its window, its sender's and endpoint's dictionary ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoredRequest<'r> {
    pub window_id: WindowId,
    pub ts_us: i64,
    pub response_code: Option<u16>,
    pub source_id: i64,
    pub endpoint_id: i64,
    /// As received: credentials are redacted as it is stored.
    pub query_string: Option<&'r str>,
}

impl<'r> StoredRequest<'r> {
    /// `row` in `window_id`, its sender and endpoint looked up in `dictionaries` (stored if new).
    pub(super) fn resolve(
        tx: &Transaction<'_>,
        dictionaries: &mut Dictionaries,
        window_id: WindowId,
        row: &RequestRow<&'r str>,
    ) -> rusqlite::Result<Self> {
        Ok(StoredRequest {
            window_id,
            ts_us: row.ts_us,
            response_code: row.response_code,
            source_id: dictionaries.source_id(tx, row)?,
            endpoint_id: dictionaries.endpoint_id(tx, row)?,
            query_string: row.query_string,
        })
    }
}

/// Inserts the `count` requests `rows` yields (exactly that many) in `tx`. The cost per row is a
/// share of a multi-row INSERT.
pub(super) fn insert_rows<'r>(
    tx: &Transaction<'_>,
    path: &Path,
    count: usize,
    mut rows: impl FnMut() -> Result<Option<StoredRequest<'r>>, StoreError>,
) -> Result<(), StoreError> {
    // Called only on an error: `sqlite` copies the path.
    let err = |source| StoreError::Sqlite {
        path: PathBuf::from(path),
        context: "storing request records",
        source,
    };
    // `request_log` has no rowid to number its rows (migration 0006): they take the next ids in
    // the order they are stored, read and moved on in this transaction.
    let mut next_id: i64 = tx
        .prepare_cached("SELECT next_id FROM request_log_ids")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(err)?;
    // Whole batches in one statement each; the rest row by row.
    let batched = count - count % REQUESTS_PER_INSERT;
    let mut insert_one = tx.prepare_cached(INSERT_REQUEST).map_err(err)?;
    let mut insert_many = tx.prepare_cached(&INSERT_REQUESTS_BATCH).map_err(err)?;
    for n in 0..count {
        let Some(row) = rows()? else {
            // A batch half bound cannot be stored: fewer rows than announced are refused (and
            // the caller's transaction with them) rather than some of them dropped.
            return Err(StoreError::InvalidWindow {
                path: PathBuf::from(path),
                window: format!("of {count} request(s)"),
                reason: "fewer requests came than were announced",
            });
        };
        let row_by_row = n >= batched;
        let (insert, first) = if row_by_row {
            (&mut insert_one, 1)
        } else {
            (
                &mut insert_many,
                (n % REQUESTS_PER_INSERT) * REQUEST_COLUMNS + 1,
            )
        };
        // Bound one by one: the hot loop of ingest, without a slice of trait objects.
        (|| {
            insert.raw_bind_parameter(first, next_id)?;
            insert.raw_bind_parameter(first + 1, row.window_id)?;
            insert.raw_bind_parameter(first + 2, row.ts_us)?;
            insert.raw_bind_parameter(first + 3, row.response_code)?;
            insert.raw_bind_parameter(first + 4, row.source_id)?;
            insert.raw_bind_parameter(first + 5, row.endpoint_id)?;
            // Credentials in query strings never reach the database, whoever wrote it.
            let query_string = row.query_string.map(redact_query);
            insert.raw_bind_parameter(first + 6, query_string.as_deref())?;
            next_id += 1;
            if row_by_row || n % REQUESTS_PER_INSERT == REQUESTS_PER_INSERT - 1 {
                insert.raw_execute()?;
            }
            Ok(())
        })()
        .map_err(err)?;
    }
    tx.prepare_cached("UPDATE request_log_ids SET next_id = ?1")
        .and_then(|mut stmt| stmt.execute([next_id]))
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn fewer_rows_than_announced_are_refused_not_half_stored() {
        let mut store = Store::open_in_memory().unwrap();
        let tx = store.conn.transaction().unwrap();
        tx.execute_batch(
            "INSERT INTO collection_windows
                 (id, org_id, endpoint, filter_kind, filter_value, t0, t1, status, started_at,
                  finished_at, rows, calls, http_429s)
             VALUES (1, '1', 'apiRequests', 'none', '', '2026-11-20T10:00:00.000000Z',
                     '2026-11-20T11:00:00.000000Z', 'complete', '2026-11-21T00:00:00.000000Z',
                     '2026-11-21T00:00:05.000000Z', 0, 1, 0)",
        )
        .unwrap();
        let request = |n: i64| StoredRequest {
            window_id: WindowId(1),
            ts_us: 1_795_168_800_000_000 + n,
            response_code: Some(200),
            source_id: 1,
            endpoint_id: 1,
            query_string: None,
        };
        // 70 announced, 66 come: a whole batch of 64 and two of the next.
        let mut rows = (0..66).map(request);
        let err = insert_rows(&tx, Path::new("x.db"), 70, || Ok(rows.next())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.db: invalid window of 70 request(s): fewer requests came than were announced"
        );
        // Exactly as many as announced: all stored.
        let mut rows = (100..170).map(request);
        insert_rows(&tx, Path::new("x.db"), 70, || Ok(rows.next())).unwrap();
        let stored: i64 = tx
            .query_row(
                "SELECT count(*) FROM request_log WHERE ts_us % 1000 >= 100",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stored, 70);
    }

    #[test]
    fn a_meraki_record_becomes_the_row_with_the_same_values() {
        let json = r#"{"adminId": "212406", "method": "GET", "host": "api.meraki.com",
                "path": "/api/v1/devices/Q2XX-AAAA-0001/lldpCdp", "queryString": "a=1",
                "userAgent": "ua", "ts": "2026-11-20T10:15:02.120000Z", "responseCode": 429,
                "sourceIp": "203.0.113.7", "version": 1, "operationId": "getDeviceLldpCdp",
                "client": {"id": "k_3f9", "type": "api_key"}}"#;
        let record: RequestRecord = serde_json::from_str(json).unwrap();
        let expected = RequestRow {
            ts_us: 1_795_169_702_120_000,
            response_code: Some(429),
            query_string: Some("a=1"),
            admin_id: Some("212406"),
            user_agent: Some("ua"),
            source_ip: Some("203.0.113.7"),
            client_id: Some("k_3f9"),
            client_type: Some("api_key"),
            method: Some("GET"),
            host: Some("api.meraki.com"),
            path: Some("/api/v1/devices/Q2XX-AAAA-0001/lldpCdp"),
            version: Some(1),
            operation_id: Some("getDeviceLldpCdp"),
        };
        assert_eq!(RequestRow::from(&record), expected);
        let borrowed: RequestRecord<&str> = serde_json::from_str(json).unwrap();
        assert_eq!(RequestRow::from(borrowed), expected);
        let owned = expected.map_text(|s| s.to_string());
        assert_eq!(owned.map_text(|s| s.len()).path, Some(38));
    }
}
