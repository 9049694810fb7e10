//! The request log as a polars frame: only the columns the detectors need, timestamps as
//! `Datetime(µs, UTC)`, strings as categoricals. Loaded from the store's integer columns: each
//! distinct sender and endpoint is made categorical once, and each row only takes its codes, so
//! loading copies no string per row (a month of a saturated org is 26.8 M rows).

use super::{AnalysisError, AnalysisWindow};
use callbudget_store::{OrgId, RequestLogDictionaries, RequestLogIds, RequestLogRow, Store};
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

/// Who sent a request: the strings consumers are told apart by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Sender {
    pub user_agent: Option<String>,
    pub admin_id: Option<String>,
    pub source_ip: Option<String>,
    pub client_id: Option<String>,
}

impl From<callbudget_store::RequestSource> for Sender {
    /// The strings of a stored sender that tell consumers apart (its client type does not).
    fn from(s: callbudget_store::RequestSource) -> Sender {
        Sender {
            user_agent: s.user_agent,
            admin_id: s.admin_id,
            source_ip: s.source_ip,
            client_id: s.client_id,
        }
    }
}

/// What a request called.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct CalledEndpoint {
    pub operation_id: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
}

/// The request log as every detector of an audit reads it: one row per request, **in time order**
/// (ties in the order stored), four integer columns — 18 bytes a request — and the distinct
/// senders and endpoints the rows name by index. Each distinct sender and endpoint appears once
/// in its table, so two rows name the same strings exactly when they name the same index: a
/// detector works out what it needs (a consumer's name, an operation, a call) once per sender or
/// endpoint and then only indexes arrays per row, with no string and no hash per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestColumns {
    /// When each request was made, µs since the Unix epoch; ascending.
    pub ts_us: Vec<i64>,
    /// Each request's HTTP status, 0 when it had none.
    pub status: Vec<u16>,
    /// Each request's index into [`RequestColumns::senders`].
    pub sender: Vec<u32>,
    /// Each request's index into [`RequestColumns::endpoints`].
    pub endpoint: Vec<u32>,
    pub senders: Vec<Sender>,
    pub endpoints: Vec<CalledEndpoint>,
}

impl RequestColumns {
    pub fn len(&self) -> usize {
        self.ts_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_us.is_empty()
    }

    /// Whether request `row` was answered 429.
    #[inline]
    pub fn refused(&self, row: usize) -> bool {
        i32::from(self.status[row]) == TOO_MANY_REQUESTS
    }

    /// The HTTP status of request `row`, as the frame's [`RESPONSE_CODE`] holds it.
    pub fn status_code(&self, row: usize) -> Option<i32> {
        let code = self.status[row];
        (code != 0).then_some(i32::from(code))
    }

    /// How many requests were answered 429.
    pub fn http_429s(&self) -> u64 {
        self.status
            .iter()
            .filter(|&&code| i32::from(code) == TOO_MANY_REQUESTS)
            .count() as u64
    }

    /// The rows with `from_us <= ts < to_us`.
    pub fn rows_between(&self, from_us: i64, to_us: i64) -> std::ops::Range<usize> {
        let first = self.ts_us.partition_point(|&t| t < from_us);
        let end = self.ts_us.partition_point(|&t| t < to_us);
        first..end.max(first)
    }

    /// Requests per sender.
    pub fn requests_by_sender(&self, rows: std::ops::Range<usize>) -> Vec<u64> {
        let mut counts = vec![0u64; self.senders.len()];
        for &sender in &self.sender[rows] {
            counts[sender as usize] += 1;
        }
        counts
    }

    /// The columns of a request-log frame (any row order; rows without a timestamp are no
    /// request of any window and are left out). A status outside 1–65535 is kept as none: every
    /// detector only asks whether a status is 429 and which class it is in, and no class holds it.
    pub fn from_frame(log: &DataFrame) -> Result<Self, AnalysisError> {
        let err = || AnalysisError::frame("reading the request log");
        let ts = log
            .column(TS)
            .and_then(|c| c.datetime())
            .map_err(err())?
            .physical();
        let codes = log
            .column(RESPONSE_CODE)
            .and_then(|c| c.i32())
            .map_err(err())?;
        let columns = CATEGORICAL_COLUMNS.map(|name| categorical_column(log, name));
        let [agents, admins, ips, clients, operations, methods, paths] = columns;
        let columns = [
            agents?,
            admins?,
            ips?,
            clients?,
            operations?,
            methods?,
            paths?,
        ];
        let categorical: Vec<&Categorical32Chunked> = columns
            .iter()
            .map(|c| c.cat32().map_err(err()))
            .collect::<Result<_, _>>()?;
        let name = |column: usize, code: Option<u32>| -> Option<String> {
            code.and_then(|c| categorical[column].get_mapping().cat_to_str(c))
                .map(str::to_owned)
        };
        let mut builder = ColumnsBuilder::with_capacity(log.height());
        let mut senders: HashMap<[Option<u32>; 4], u32> = HashMap::new();
        let mut endpoints: HashMap<[Option<u32>; 3], u32> = HashMap::new();
        let mut codes_of: Vec<_> = categorical.iter().map(|c| c.physical().iter()).collect();
        let mut row = [None; CATEGORICAL_COLUMNS.len()];
        for (ts, code) in ts.iter().zip(codes.iter()) {
            for (value, codes) in row.iter_mut().zip(codes_of.iter_mut()) {
                *value = codes.next().flatten();
            }
            let Some(ts) = ts else { continue };
            let sender_key = [row[0], row[1], row[2], row[3]];
            let sender = *senders.entry(sender_key).or_insert_with(|| {
                builder.senders.push(Sender {
                    user_agent: name(0, row[0]),
                    admin_id: name(1, row[1]),
                    source_ip: name(2, row[2]),
                    client_id: name(3, row[3]),
                });
                (builder.senders.len() - 1) as u32
            });
            let endpoint_key = [row[4], row[5], row[6]];
            let endpoint = *endpoints.entry(endpoint_key).or_insert_with(|| {
                builder.endpoints.push(CalledEndpoint {
                    operation_id: name(4, row[4]),
                    method: name(5, row[5]),
                    path: name(6, row[6]),
                });
                (builder.endpoints.len() - 1) as u32
            });
            let status = code.and_then(|c| u16::try_from(c).ok()).unwrap_or(0);
            builder.push(ts, status, sender, endpoint);
        }
        Ok(builder.finish())
    }

    /// `org_id`'s unfiltered request log for `window` from the store, read on two connections
    /// when it is large (see [`callbudget_store::RequestLogRead`]).
    pub fn load(
        store: &Store,
        org_id: &OrgId,
        window: &AnalysisWindow,
    ) -> Result<Self, AnalysisError> {
        let read = store
            .read_request_log(org_id, window.start, window.end)
            .map_err(AnalysisError::store(org_id))?;
        let RequestLogDictionaries { sources, endpoints } =
            read.dictionaries().map_err(AnalysisError::store(org_id))?;
        let mut builder = ColumnsBuilder::default();
        // Ids the dictionaries do not hold (a row deleted by hand) read as a request whose
        // strings are all missing.
        let missing_sender = builder.sender_index(Sender::default());
        let missing_endpoint = builder.endpoint_index(CalledEndpoint::default());
        let sender_of = DictionaryIndex::new(
            sources
                .into_iter()
                .map(|(id, s)| (id, builder.sender_index(Sender::from(s)))),
        );
        let endpoint_of = DictionaryIndex::new(endpoints.into_iter().map(|(id, e)| {
            let endpoint = CalledEndpoint {
                operation_id: e.operation_id,
                method: e.method,
                path: e.path,
            };
            (id, builder.endpoint_index(endpoint))
        }));
        let hint = usize::try_from(read.rows_hint()).unwrap_or(usize::MAX);
        // Room for every row in the earlier part, so that appending the later one moves nothing.
        builder.reserve(hint);
        let mut later = ColumnsBuilder::default();
        later.reserve(hint / 2 + hint / 8);
        let visit = |part: &mut ColumnsBuilder, ids: &RequestLogIds| {
            part.push(
                ids.ts_us,
                ids.response_code.unwrap_or(0),
                sender_of.get(ids.source_id).unwrap_or(missing_sender),
                endpoint_of.get(ids.endpoint_id).unwrap_or(missing_endpoint),
            );
        };
        read.scan(|ids| visit(&mut builder, ids), |ids| visit(&mut later, ids))
            .map_err(AnalysisError::store(org_id))?;
        builder.append(later);
        Ok(builder.finish())
    }

    /// How many requests each sender made in `org_id`'s unfiltered request log over `window`,
    /// senders without requests left out: what a comparison with a previous period needs, read
    /// without keeping a row.
    pub fn load_sender_counts(
        store: &Store,
        org_id: &OrgId,
        window: &AnalysisWindow,
    ) -> Result<Vec<(Sender, u64)>, AnalysisError> {
        let read = store
            .read_request_log(org_id, window.start, window.end)
            .map_err(AnalysisError::store(org_id))?;
        let RequestLogDictionaries { sources, .. } =
            read.dictionaries().map_err(AnalysisError::store(org_id))?;
        let mut builder = ColumnsBuilder::default();
        let missing = builder.sender_index(Sender::default());
        let sender_of = DictionaryIndex::new(
            sources
                .into_iter()
                .map(|(id, s)| (id, builder.sender_index(Sender::from(s)))),
        );
        let mut counts = vec![0u64; builder.senders.len()];
        let mut later = vec![0u64; builder.senders.len()];
        let sender = |ids: &RequestLogIds| sender_of.get(ids.source_id).unwrap_or(missing) as usize;
        read.scan(
            |ids| counts[sender(ids)] += 1,
            |ids| later[sender(ids)] += 1,
        )
        .map_err(AnalysisError::store(org_id))?;
        Ok(builder
            .senders
            .into_iter()
            .zip(counts.iter().zip(later).map(|(a, b)| a + b))
            .filter(|&(_, n)| n > 0)
            .collect())
    }

    /// The frame of these columns: [`TS`], [`RESPONSE_CODE`], then the categorical columns.
    pub fn to_frame(&self) -> Result<DataFrame, AnalysisError> {
        let senders = IdxCa::from_vec(
            PlSmallStr::EMPTY,
            self.sender.iter().map(|&s| s as IdxSize).collect(),
        );
        let endpoints = IdxCa::from_vec(
            PlSmallStr::EMPTY,
            self.endpoint.iter().map(|&e| e as IdxSize).collect(),
        );
        let by_sender = |name, field: fn(&Sender) -> Option<&str>| {
            dictionary_column(name, self.senders.iter().map(field)).and_then(|c| {
                c.take(&senders)
                    .map_err(AnalysisError::frame("taking codes"))
            })
        };
        let by_endpoint = |name, field: fn(&CalledEndpoint) -> Option<&str>| {
            dictionary_column(name, self.endpoints.iter().map(field)).and_then(|c| {
                c.take(&endpoints)
                    .map_err(AnalysisError::frame("taking codes"))
            })
        };
        let categorical = vec![
            by_sender(USER_AGENT, |s| s.user_agent.as_deref())?,
            by_sender(ADMIN_ID, |s| s.admin_id.as_deref())?,
            by_sender(SOURCE_IP, |s| s.source_ip.as_deref())?,
            by_sender(CLIENT_ID, |s| s.client_id.as_deref())?,
            by_endpoint(OPERATION_ID, |e| e.operation_id.as_deref())?,
            by_endpoint(METHOD, |e| e.method.as_deref())?,
            by_endpoint(PATH, |e| e.path.as_deref())?,
        ];
        let codes = (0..self.len()).map(|row| self.status_code(row)).collect();
        request_frame(self.ts_us.clone(), codes, categorical)
    }
}

/// Numbers pairs `(a, b)` of small indices densely, in the order first seen: through a table when
/// every pair that could occur fits in a few megabytes (the usual case: a handful of consumers
/// times a few thousand paths), else through a hash map. Detectors key their per-row counts by it.
pub(crate) struct PairIndex {
    b_len: usize,
    table: Option<Vec<u32>>,
    map: HashMap<(u32, u32), u32, foldhash::fast::RandomState>,
    len: u32,
}

impl PairIndex {
    /// Pairs the table holds at most (16 MiB of ids).
    const MAX_TABLE: usize = 1 << 22;
    const UNSEEN: u32 = u32::MAX;

    /// An index of pairs with `a < a_len` and `b < b_len`.
    pub fn new(a_len: usize, b_len: usize) -> Self {
        let table = a_len
            .checked_mul(b_len)
            .filter(|&size| size <= Self::MAX_TABLE)
            .map(|size| vec![Self::UNSEEN; size]);
        PairIndex {
            b_len,
            table,
            map: HashMap::default(),
            len: 0,
        }
    }

    /// The id of `(a, b)`, numbered now if first seen. Inlined, like the columns' other
    /// per-request accessors: detectors in other modules call it once or twice a request.
    #[inline]
    pub fn id(&mut self, a: u32, b: u32) -> u32 {
        let next = self.len;
        let id = match &mut self.table {
            Some(table) => {
                let slot = &mut table[a as usize * self.b_len + b as usize];
                if *slot == Self::UNSEEN {
                    *slot = next;
                }
                *slot
            }
            None => *self.map.entry((a, b)).or_insert(next),
        };
        if id == next {
            self.len += 1;
        }
        id
    }

    /// How many pairs were numbered.
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

/// Builds [`RequestColumns`]: rows in any order, senders and endpoints each once.
#[derive(Default)]
struct ColumnsBuilder {
    ts_us: Vec<i64>,
    status: Vec<u16>,
    sender: Vec<u32>,
    endpoint: Vec<u32>,
    senders: Vec<Sender>,
    endpoints: Vec<CalledEndpoint>,
    sender_ids: HashMap<Sender, u32>,
    endpoint_ids: HashMap<CalledEndpoint, u32>,
}

impl ColumnsBuilder {
    fn with_capacity(rows: usize) -> Self {
        let mut builder = ColumnsBuilder::default();
        builder.reserve(rows);
        builder
    }

    fn reserve(&mut self, rows: usize) {
        self.ts_us.reserve(rows);
        self.status.reserve(rows);
        self.sender.reserve(rows);
        self.endpoint.reserve(rows);
    }

    fn sender_index(&mut self, sender: Sender) -> u32 {
        let next = self.senders.len() as u32;
        *self.sender_ids.entry(sender).or_insert_with_key(|sender| {
            self.senders.push(sender.clone());
            next
        })
    }

    fn endpoint_index(&mut self, endpoint: CalledEndpoint) -> u32 {
        let next = self.endpoints.len() as u32;
        *self
            .endpoint_ids
            .entry(endpoint)
            .or_insert_with_key(|endpoint| {
                self.endpoints.push(endpoint.clone());
                next
            })
    }

    #[inline]
    fn push(&mut self, ts_us: i64, status: u16, sender: u32, endpoint: u32) {
        self.ts_us.push(ts_us);
        self.status.push(status);
        self.sender.push(sender);
        self.endpoint.push(endpoint);
    }

    /// Appends the rows of `later` (which names no sender or endpoint of its own).
    fn append(&mut self, later: ColumnsBuilder) {
        self.ts_us.extend_from_slice(&later.ts_us);
        self.status.extend_from_slice(&later.status);
        self.sender.extend_from_slice(&later.sender);
        self.endpoint.extend_from_slice(&later.endpoint);
    }

    /// The columns in time order, ties in the order pushed.
    fn finish(self) -> RequestColumns {
        let mut columns = RequestColumns {
            ts_us: self.ts_us,
            status: self.status,
            sender: self.sender,
            endpoint: self.endpoint,
            senders: self.senders,
            endpoints: self.endpoints,
        };
        // The store reads in time order already; a frame may come in any order.
        if !columns.ts_us.is_sorted() {
            let mut order: Vec<u32> = (0..columns.len() as u32).collect();
            order.sort_by_key(|&row| columns.ts_us[row as usize]);
            permute(&mut columns.ts_us, &order);
            permute(&mut columns.status, &order);
            permute(&mut columns.sender, &order);
            permute(&mut columns.endpoint, &order);
        }
        columns
    }
}

/// `values` taken in `order`.
fn permute<T: Copy>(values: &mut Vec<T>, order: &[u32]) {
    *values = order.iter().map(|&row| values[row as usize]).collect();
}

/// Dense indices of dictionary ids: a vector when the ids are dense (as the store writes them),
/// a map otherwise.
enum DictionaryIndex {
    Dense(Vec<u32>),
    Sparse(HashMap<i64, u32>),
}

impl DictionaryIndex {
    const MISSING: u32 = u32::MAX;

    fn new(entries: impl Iterator<Item = (i64, u32)>) -> Self {
        let entries: Vec<(i64, u32)> = entries.collect();
        let max = entries.iter().map(|&(id, _)| id).max().unwrap_or(0);
        let min = entries.iter().map(|&(id, _)| id).min().unwrap_or(0);
        if min >= 0 && (max as usize) <= 4 * entries.len() + 4096 {
            let mut dense = vec![Self::MISSING; max as usize + 1];
            for (id, index) in entries {
                dense[id as usize] = index;
            }
            DictionaryIndex::Dense(dense)
        } else {
            DictionaryIndex::Sparse(entries.into_iter().collect())
        }
    }

    /// The index of dictionary id `id`, if the dictionary holds it.
    #[inline]
    fn get(&self, id: i64) -> Option<u32> {
        let found = match self {
            DictionaryIndex::Dense(dense) => {
                usize::try_from(id).ok().and_then(|i| dense.get(i).copied())
            }
            DictionaryIndex::Sparse(map) => map.get(&id).copied(),
        };
        found.filter(|&index| index != Self::MISSING)
    }
}

/// One categorical column per dictionary field, one row per dictionary entry.
fn dictionary_column<'a>(
    name: &'static str,
    values: impl Iterator<Item = Option<&'a str>>,
) -> Result<Series, AnalysisError> {
    let strings: StringChunked = values.collect();
    strings
        .with_name(PlSmallStr::from_static(name))
        .into_series()
        .cast(&categorical_dtype())
        .map_err(AnalysisError::frame("making categorical columns"))
}

/// Loads `org_id`'s unfiltered request log for `window` from the store, in time order.
pub fn load_request_log(
    store: &Store,
    org_id: &OrgId,
    window: &AnalysisWindow,
) -> Result<DataFrame, AnalysisError> {
    RequestColumns::load(store, org_id, window)?.to_frame()
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
pub fn sorted_timestamps_us(log: &DataFrame) -> Result<Vec<i64>, AnalysisError> {
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
