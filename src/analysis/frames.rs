//! The request log as a polars frame: only the columns the detectors need, timestamps as
//! `Datetime(µs, UTC)`, strings as categoricals. Loaded from the store's integer columns: each
//! distinct sender and endpoint is made categorical once, and each row only takes its codes, so
//! loading copies no string per row (a month of a saturated org is 26.8 M rows).

use super::{AnalysisError, AnalysisWindow};
use crate::store::{OrgId, RequestLogDictionaries, RequestLogRow, Store};
use polars::prelude::*;
use std::collections::HashMap;

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
const CATEGORICAL_COLUMNS: [&str; 7] = [
    USER_AGENT,
    ADMIN_ID,
    SOURCE_IP,
    CLIENT_ID,
    OPERATION_ID,
    METHOD,
    PATH,
];

/// The categorical dtype of every string column: polars' global categories, so that columns of
/// two frames (this period's and the previous one's) compare by code.
fn categorical_dtype() -> DataType {
    DataType::from_categories(Categories::global())
}

/// The HTTP status of a request refused by the budget.
pub const TOO_MANY_REQUESTS: i32 = 429;

/// Builds a request-log frame one request at a time (tests' literal records).
pub struct RequestLogBuilder {
    ts_us: Vec<i64>,
    response_code: Vec<Option<i32>>,
    categorical: [StringChunkedBuilder; CATEGORICAL_COLUMNS.len()],
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
            row.path,
        ];
        for (builder, value) in self.categorical.iter_mut().zip(strings) {
            builder.append_option(value);
        }
    }

    /// The frame: [`TS`], [`RESPONSE_CODE`], then the categorical columns.
    pub fn finish(self) -> Result<DataFrame, AnalysisError> {
        let mut categorical = Vec::with_capacity(CATEGORICAL_COLUMNS.len());
        for builder in self.categorical {
            categorical.push(
                builder
                    .finish()
                    .into_series()
                    .cast(&categorical_dtype())
                    .map_err(AnalysisError::frame("making categorical columns"))?,
            );
        }
        request_frame(self.ts_us, self.response_code, categorical)
    }
}

fn request_frame(
    ts_us: Vec<i64>,
    response_code: Vec<Option<i32>>,
    categorical: Vec<Series>,
) -> Result<DataFrame, AnalysisError> {
    let height = ts_us.len();
    let ts = Int64Chunked::from_vec(PlSmallStr::from_static(TS), ts_us)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let codes = Int32Chunked::from_iter_options(
        PlSmallStr::from_static(RESPONSE_CODE),
        response_code.into_iter(),
    );
    let mut columns = vec![ts.into_column(), codes.into_column()];
    columns.extend(categorical.into_iter().map(Series::into_column));
    DataFrame::new(height, columns).map_err(AnalysisError::frame("building the request frame"))
}

/// Row positions of dictionary ids: a vector when the ids are dense (as the store writes them),
/// a map otherwise.
enum IdPositions {
    Dense(Vec<IdxSize>),
    Sparse(HashMap<i64, IdxSize>),
}

impl IdPositions {
    const MISSING: IdxSize = IdxSize::MAX;

    fn new(ids: impl Iterator<Item = i64> + Clone) -> Self {
        let count = ids.clone().count();
        let max = ids.clone().max().unwrap_or(0);
        if max >= 0 && (max as usize) <= 4 * count + 4096 {
            let mut dense = vec![Self::MISSING; max as usize + 1];
            for (position, id) in ids.enumerate() {
                dense[id as usize] = position as IdxSize;
            }
            IdPositions::Dense(dense)
        } else {
            IdPositions::Sparse(
                ids.enumerate()
                    .map(|(position, id)| (id, position as IdxSize))
                    .collect(),
            )
        }
    }

    /// The position of `id`, or `missing` for an id the dictionary does not hold.
    fn get(&self, id: i64, missing: IdxSize) -> IdxSize {
        let found = match self {
            IdPositions::Dense(dense) => usize::try_from(id)
                .ok()
                .and_then(|i| dense.get(i).copied())
                .unwrap_or(Self::MISSING),
            IdPositions::Sparse(map) => map.get(&id).copied().unwrap_or(Self::MISSING),
        };
        if found == Self::MISSING {
            missing
        } else {
            found
        }
    }
}

/// One categorical column per dictionary field, one row per dictionary entry, plus a last row of
/// nulls for ids the dictionary does not hold.
fn dictionary_column<'a>(
    name: &'static str,
    values: impl Iterator<Item = Option<&'a str>>,
) -> Result<Series, AnalysisError> {
    let strings: StringChunked = values.chain(std::iter::once(None)).collect();
    strings
        .with_name(PlSmallStr::from_static(name))
        .into_series()
        .cast(&categorical_dtype())
        .map_err(AnalysisError::frame("making categorical columns"))
}

/// Loads `org_id`'s unfiltered request log for `window` from the store.
pub fn load_request_log(
    store: &Store,
    org_id: &OrgId,
    window: &AnalysisWindow,
) -> Result<DataFrame, AnalysisError> {
    let store_error = |source| AnalysisError::Store {
        org_id: org_id.clone(),
        source: Box::new(source),
    };
    let RequestLogDictionaries { sources, endpoints } =
        store.request_log_dictionaries().map_err(store_error)?;
    let sources: Vec<_> = sources.into_iter().collect();
    let endpoints: Vec<_> = endpoints.into_iter().collect();
    let source_positions = IdPositions::new(sources.iter().map(|(id, _)| *id));
    let endpoint_positions = IdPositions::new(endpoints.iter().map(|(id, _)| *id));
    let (no_source, no_endpoint) = (sources.len() as IdxSize, endpoints.len() as IdxSize);

    let mut ts_us = Vec::new();
    let mut response_code = Vec::new();
    let mut source_rows: Vec<IdxSize> = Vec::new();
    let mut endpoint_rows: Vec<IdxSize> = Vec::new();
    store
        .scan_request_ids(org_id, window.start, window.end, |row| {
            ts_us.push(row.ts_us);
            response_code.push(row.response_code.map(i32::from));
            source_rows.push(source_positions.get(row.source_id, no_source));
            endpoint_rows.push(endpoint_positions.get(row.endpoint_id, no_endpoint));
        })
        .map_err(store_error)?;

    let source_rows = IdxCa::from_vec(PlSmallStr::EMPTY, source_rows);
    let endpoint_rows = IdxCa::from_vec(PlSmallStr::EMPTY, endpoint_rows);
    let by_source = |name, field: fn(&crate::store::RequestSource) -> Option<&str>| {
        dictionary_column(name, sources.iter().map(|(_, s)| field(s))).and_then(|c| {
            c.take(&source_rows)
                .map_err(AnalysisError::frame("taking codes"))
        })
    };
    let by_endpoint = |name, field: fn(&crate::store::RequestEndpoint) -> Option<&str>| {
        dictionary_column(name, endpoints.iter().map(|(_, e)| field(e))).and_then(|c| {
            c.take(&endpoint_rows)
                .map_err(AnalysisError::frame("taking codes"))
        })
    };
    let categorical = vec![
        by_source(USER_AGENT, |s| s.user_agent.as_deref())?,
        by_source(ADMIN_ID, |s| s.admin_id.as_deref())?,
        by_source(SOURCE_IP, |s| s.source_ip.as_deref())?,
        by_source(CLIENT_ID, |s| s.client_id.as_deref())?,
        by_endpoint(OPERATION_ID, |e| e.operation_id.as_deref())?,
        by_endpoint(METHOD, |e| e.method.as_deref())?,
        by_endpoint(PATH, |e| e.path.as_deref())?,
    ];
    request_frame(ts_us, response_code, categorical)
}

/// `name` of `log` as a categorical column (the frames built here already are), for reading by
/// code: each distinct string is then looked at once, however many rows repeat it.
pub(crate) fn categorical_column(log: &DataFrame, name: &str) -> Result<Column, AnalysisError> {
    let column = log
        .column(name)
        .map_err(AnalysisError::frame("reading a string column"))?;
    if column.dtype().is_categorical() {
        Ok(column.clone())
    } else {
        column
            .cast(&categorical_dtype())
            .map_err(AnalysisError::frame("reading a string column"))
    }
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
        for name in CATEGORICAL_COLUMNS {
            assert!(
                frame.column(name).unwrap().dtype().is_categorical(),
                "{name}"
            );
        }
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
