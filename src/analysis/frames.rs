//! The request log as a polars frame: only the columns the detectors need, timestamps as
//! `Datetime(µs, UTC)`, repeating strings as categoricals. Built column by column from a streaming
//! store scan, so loading allocates per row only for the strings' bytes.

use super::{AnalysisError, AnalysisWindow};
use crate::store::{OrgId, RequestLogRow, Store};
use polars::prelude::*;

/// When the request was made: `Datetime(Microseconds, UTC)`.
pub const TS: &str = "ts";
/// The HTTP status, `Int32` (null when the record had none).
pub const RESPONSE_CODE: &str = "response_code";
pub const USER_AGENT: &str = "user_agent";
pub const ADMIN_ID: &str = "admin_id";
pub const SOURCE_IP: &str = "source_ip";
pub const CLIENT_ID: &str = "client_id";
pub const OPERATION_ID: &str = "operation_id";
pub const PATH: &str = "path";
pub const METHOD: &str = "method";

/// The categorical (string) columns, in frame order after [`TS`] and [`RESPONSE_CODE`].
const CATEGORICAL_COLUMNS: [&str; 6] = [
    USER_AGENT,
    ADMIN_ID,
    SOURCE_IP,
    CLIENT_ID,
    OPERATION_ID,
    METHOD,
];

/// The HTTP status of a request refused by the budget.
pub const TOO_MANY_REQUESTS: i32 = 429;

/// Builds a request-log frame one request at a time (the store scan, or tests' literal records).
pub struct RequestLogBuilder {
    ts_us: Vec<i64>,
    response_code: Vec<Option<i32>>,
    categorical: [StringChunkedBuilder; CATEGORICAL_COLUMNS.len()],
    // Paths carry serials and network ids, so they rarely repeat: kept as plain strings.
    path: StringChunkedBuilder,
}

impl Default for RequestLogBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl RequestLogBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        RequestLogBuilder {
            ts_us: Vec::with_capacity(capacity),
            response_code: Vec::with_capacity(capacity),
            categorical: CATEGORICAL_COLUMNS
                .map(|name| StringChunkedBuilder::new(PlSmallStr::from_static(name), capacity)),
            path: StringChunkedBuilder::new(PlSmallStr::from_static(PATH), capacity),
        }
    }

    pub fn push(&mut self, row: &RequestLogRow<'_>) {
        self.ts_us.push(row.ts_us);
        self.response_code.push(row.response_code.map(i32::from));
        let strings = [
            row.user_agent,
            row.admin_id,
            row.source_ip,
            row.client_id,
            row.operation_id,
            row.method,
        ];
        for (builder, value) in self.categorical.iter_mut().zip(strings) {
            builder.append_option(value);
        }
        self.path.append_option(row.path);
    }

    /// The frame: [`TS`], [`RESPONSE_CODE`], the categorical columns and [`PATH`].
    pub fn finish(self) -> Result<DataFrame, AnalysisError> {
        let height = self.ts_us.len();
        let ts = Int64Chunked::from_vec(PlSmallStr::from_static(TS), self.ts_us)
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let codes = Int32Chunked::from_iter_options(
            PlSmallStr::from_static(RESPONSE_CODE),
            self.response_code.into_iter(),
        );
        let categorical_dtype = DataType::from_categories(Categories::global());
        let mut columns = vec![ts.into_column(), codes.into_column()];
        for builder in self.categorical {
            let strings = builder.finish().into_series();
            columns.push(
                strings
                    .cast(&categorical_dtype)
                    .map_err(AnalysisError::frame("making categorical columns"))?
                    .into_column(),
            );
        }
        columns.push(self.path.finish().into_column());
        DataFrame::new(height, columns).map_err(AnalysisError::frame("building the request frame"))
    }
}

/// Loads `org_id`'s unfiltered request log for `window` from the store.
pub fn load_request_log(
    store: &Store,
    org_id: &OrgId,
    window: &AnalysisWindow,
) -> Result<DataFrame, AnalysisError> {
    let mut builder = RequestLogBuilder::default();
    store
        .scan_request_log(org_id, window.start, window.end, |row| builder.push(row))
        .map_err(|source| AnalysisError::Store {
            org_id: org_id.clone(),
            source: Box::new(source),
        })?;
    builder.finish()
}

/// The frame's timestamps in microseconds, sorted (the log may come in any order, and clocks
/// across records may be skewed).
pub(crate) fn sorted_timestamps_us(log: &DataFrame) -> Result<Vec<i64>, AnalysisError> {
    let ts = log
        .column(TS)
        .and_then(|c| c.datetime())
        .map_err(AnalysisError::frame("reading timestamps"))?;
    let mut out: Vec<i64> = ts.physical().iter().flatten().collect();
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts_us: i64, code: Option<u16>, user_agent: Option<&str>) -> RequestLogRow<'_> {
        RequestLogRow {
            ts_us,
            response_code: code,
            method: Some("GET"),
            path: Some("/api/v1/organizations/1/devices"),
            user_agent,
            admin_id: Some("900001"),
            source_ip: None,
            operation_id: Some("getOrganizationDevices"),
            client_id: None,
        }
    }

    #[test]
    fn an_empty_log_has_the_full_schema_and_no_rows() {
        let frame = RequestLogBuilder::default().finish().unwrap();
        assert_eq!(frame.height(), 0);
        let names: Vec<&str> = frame
            .get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        assert_eq!(
            names,
            [
                TS,
                RESPONSE_CODE,
                USER_AGENT,
                ADMIN_ID,
                SOURCE_IP,
                CLIENT_ID,
                OPERATION_ID,
                METHOD,
                PATH
            ]
        );
        assert_eq!(
            frame.column(TS).unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        );
        assert_eq!(
            frame.column(RESPONSE_CODE).unwrap().dtype(),
            &DataType::Int32
        );
        assert!(frame.column(USER_AGENT).unwrap().dtype().is_categorical());
        assert_eq!(frame.column(PATH).unwrap().dtype(), &DataType::String);
    }

    #[test]
    fn missing_fields_become_nulls() {
        let mut builder = RequestLogBuilder::default();
        builder.push(&row(5, None, None));
        builder.push(&row(3, Some(429), Some("a")));
        let frame = builder.finish().unwrap();
        assert_eq!(frame.height(), 2);
        assert_eq!(frame.column(USER_AGENT).unwrap().null_count(), 1);
        assert_eq!(frame.column(RESPONSE_CODE).unwrap().null_count(), 1);
        assert_eq!(frame.column(SOURCE_IP).unwrap().null_count(), 2);
        assert_eq!(sorted_timestamps_us(&frame).unwrap(), vec![3, 5]);
    }
}
