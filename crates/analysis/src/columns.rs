//! The request log as every detector reads it: [`RequestColumns`], loaded from the store's integer
//! columns without a string per row ([`load_request_log`]) or built from literal requests
//! ([`RequestLogBuilder`]).

use super::recommend::ReplacementTable;
use super::{AnalysisError, AnalysisWindow};
use callbudget_api::OperationCatalog;
use callbudget_store::{OrgId, RequestLogDictionaries, RequestLogIds, RequestLogRow, Store};
use std::collections::HashMap;

/// The HTTP status of a request refused by the budget.
pub(crate) const TOO_MANY_REQUESTS: i32 = 429;

/// Who sent a request: the strings consumers are told apart by. Ordered by its strings: the
/// columns number senders in that order (see [`RequestColumns`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// What a request called. Ordered by its strings, like [`Sender`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CalledEndpoint {
    pub operation_id: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    /// For an operation whose query parameters change what a call returns (the replacement
    /// table's conditions: [`ReplacementTable::query_parameters`]), those its query named
    /// (`deviceSerial=Q2…`, `""` for none); `None` for any other operation, or a query not known.
    pub selector: Option<String>,
}

/// The query parameters that tell apart the calls of the operation `endpoint` calls (by its
/// operationId, else its method and path), if it has any.
fn query_parameters(endpoint: &CalledEndpoint) -> Option<Vec<&'static str>> {
    let catalog = OperationCatalog::meraki_v1();
    let operation = endpoint
        .operation_id
        .as_deref()
        .and_then(|id| catalog.get(id))
        .or_else(|| catalog.match_path(endpoint.method.as_deref()?, endpoint.path.as_deref()?))?;
    let parameters = ReplacementTable::meraki_v1().query_parameters(&operation.operation_id);
    (!parameters.is_empty()).then_some(parameters)
}

/// The request log of one organization over a window, as every detector of this crate takes it:
/// one row per request, **in time order**, four integer columns — when, the HTTP status, who sent
/// it, what it called: 18 bytes a request — and the distinct senders and endpoints the rows name by
/// index.
///
/// **One log per multiset of requests.** Senders and endpoints are numbered in the order of their
/// strings, and requests made at the same microsecond are put in the order of their status, sender
/// and endpoint — never in the order they were stored, pushed or paged. So the same requests, read
/// from pages in any order or imported in any order, are the same columns, and every detector's
/// output (which reads nothing else) is the same to the byte.
///
/// Each distinct sender and endpoint appears once in its table, so two rows name the same strings
/// exactly when they name the same index: a detector works out what it needs (a consumer's name,
/// an operation, a call) once per sender or endpoint and then only indexes arrays per row, with
/// no string and no hash per row. Load a window's log with [`load_request_log`]; build one from
/// literal requests with [`RequestLogBuilder`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestColumns {
    /// When each request was made, µs since the Unix epoch; ascending.
    pub(crate) ts_us: Vec<i64>,
    /// Each request's HTTP status, 0 when it had none.
    pub(crate) status: Vec<u16>,
    /// Each request's index into `senders`.
    pub(crate) sender: Vec<u32>,
    /// Each request's index into `endpoints`.
    pub(crate) endpoint: Vec<u32>,
    pub(crate) senders: Vec<Sender>,
    pub(crate) endpoints: Vec<CalledEndpoint>,
}

impl RequestColumns {
    /// How many requests the log holds.
    pub fn len(&self) -> usize {
        self.ts_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_us.is_empty()
    }

    /// How many requests were answered 429.
    pub fn http_429s(&self) -> u64 {
        self.status
            .iter()
            .filter(|&&code| i32::from(code) == TOO_MANY_REQUESTS)
            .count() as u64
    }

    /// Whether request `row` was answered 429.
    #[inline]
    pub(crate) fn refused(&self, row: usize) -> bool {
        i32::from(self.status[row]) == TOO_MANY_REQUESTS
    }

    /// The HTTP status of request `row`, `None` when it had none.
    pub(crate) fn status_code(&self, row: usize) -> Option<i32> {
        let code = self.status[row];
        (code != 0).then_some(i32::from(code))
    }

    /// The rows with `from_us <= ts < to_us`.
    pub(crate) fn rows_between(&self, from_us: i64, to_us: i64) -> std::ops::Range<usize> {
        let first = self.ts_us.partition_point(|&t| t < from_us);
        let end = self.ts_us.partition_point(|&t| t < to_us);
        first..end.max(first)
    }

    /// What orders request `row` among those made at the same time: its time, status, sender and
    /// endpoint — all it is, so two requests with the same key are the same request.
    #[inline]
    fn key(&self, row: usize) -> (i64, u16, u32, u32) {
        (
            self.ts_us[row],
            self.status[row],
            self.sender[row],
            self.endpoint[row],
        )
    }

    /// Puts each run of requests made at the same time (the log in time order) in key order, in
    /// place: a run's requests share their time, so sorting their other columns sorts the run.
    fn order_ties(&mut self) {
        let mut first = 0;
        while first < self.len() {
            let ts = self.ts_us[first];
            let mut end = first + 1;
            while end < self.len() && self.ts_us[end] == ts {
                end += 1;
            }
            let sorted = (first + 1..end).all(|row| self.key(row - 1) <= self.key(row));
            if !sorted {
                let mut run: Vec<(u16, u32, u32)> = (first..end)
                    .map(|row| (self.status[row], self.sender[row], self.endpoint[row]))
                    .collect();
                run.sort_unstable();
                for (row, (status, sender, endpoint)) in (first..end).zip(run) {
                    self.status[row] = status;
                    self.sender[row] = sender;
                    self.endpoint[row] = endpoint;
                }
            }
            first = end;
        }
    }

    /// Requests per sender.
    pub(crate) fn requests_by_sender(&self, rows: std::ops::Range<usize>) -> Vec<u64> {
        let mut counts = vec![0u64; self.senders.len()];
        for &sender in &self.sender[rows] {
            counts[sender as usize] += 1;
        }
        counts
    }

    /// How many requests each sender made in `org_id`'s unfiltered request log over `window`,
    /// senders without requests left out: what a comparison with a previous period needs, read
    /// without keeping a row.
    pub(crate) fn load_sender_counts(
        store: &Store,
        org_id: &OrgId,
        window: &AnalysisWindow,
    ) -> Result<Vec<(Sender, u64)>, AnalysisError> {
        let read = store
            .read_request_log(org_id, window.start, window.end)
            .map_err(AnalysisError::store(org_id))?;
        let RequestLogDictionaries { sources, .. } =
            read.dictionaries().map_err(AnalysisError::store(org_id))?;
        let mut builder = RequestLogBuilder::default();
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
}

/// Loads `org_id`'s unfiltered request log for `window` from the store, in time order, read on
/// two connections when it is large (see [`callbudget_store::RequestLogRead`]).
pub fn load_request_log(
    store: &Store,
    org_id: &OrgId,
    window: &AnalysisWindow,
) -> Result<RequestColumns, AnalysisError> {
    let read = store
        .read_request_log(org_id, window.start, window.end)
        .map_err(AnalysisError::store(org_id))?;
    let RequestLogDictionaries { sources, endpoints } =
        read.dictionaries().map_err(AnalysisError::store(org_id))?;
    let mut builder = RequestLogBuilder::default();
    // Ids the dictionaries do not hold (a row deleted by hand) read as a request whose
    // strings are all missing.
    let missing_sender = builder.sender_index(Sender::default());
    let missing_endpoint = builder.endpoint_index(CalledEndpoint::default());
    let sender_of = DictionaryIndex::new(
        sources
            .into_iter()
            .map(|(id, s)| (id, builder.sender_index(Sender::from(s)))),
    );
    // The endpoints whose calls their query parameters tell apart (few, if any): their rows are
    // read with their query strings, each kind of call an endpoint of its own.
    let mut selective: HashMap<i64, Vec<&'static str>> = HashMap::new();
    let endpoint_of = DictionaryIndex::new(endpoints.into_iter().map(|(id, e)| {
        let endpoint = CalledEndpoint {
            operation_id: e.operation_id,
            method: e.method,
            path: e.path,
            selector: None,
        };
        if let Some(parameters) = query_parameters(&endpoint) {
            selective.insert(id, parameters);
        }
        (id, builder.endpoint_index(endpoint))
    }));
    let hint = usize::try_from(read.rows_hint()).unwrap_or(usize::MAX);
    // Room for every row in the earlier part, so that appending the later one moves nothing.
    builder.reserve(hint);
    let mut later = RequestLogBuilder::default();
    later.reserve(hint / 2 + hint / 8);
    // A call told apart by its query is pushed as a kind of its part ([`Kinds`]), numbered when
    // both parts are read.
    let (mut kinds, mut later_kinds) = (Kinds::default(), Kinds::default());
    let visit = |part: &mut RequestLogBuilder,
                 kinds: &mut Kinds,
                 ids: &RequestLogIds,
                 query: Option<&str>| {
        let endpoint = endpoint_of.get(ids.endpoint_id).unwrap_or(missing_endpoint);
        let endpoint = match selective.get(&ids.endpoint_id) {
            Some(parameters) => kinds.of(
                endpoint,
                ReplacementTable::query_selector(parameters, query.unwrap_or_default()),
            ),
            None => endpoint,
        };
        part.push_indexed(
            ids.ts_us,
            ids.response_code.unwrap_or(0),
            sender_of.get(ids.source_id).unwrap_or(missing_sender),
            endpoint,
        );
    };
    if selective.is_empty() {
        read.scan(
            |ids| visit(&mut builder, &mut kinds, ids, None),
            |ids| visit(&mut later, &mut later_kinds, ids, None),
        )
    } else {
        let wants = |endpoint_id: i64| selective.contains_key(&endpoint_id);
        read.scan_with_queries(
            &wants,
            |ids, query| visit(&mut builder, &mut kinds, ids, query),
            |ids, query| visit(&mut later, &mut later_kinds, ids, query),
        )
    }
    .map_err(AnalysisError::store(org_id))?;
    let first = builder.ts_us.len();
    builder.append(later);
    kinds.number(&mut builder, 0..first);
    let end = builder.ts_us.len();
    later_kinds.number(&mut builder, first..end);
    Ok(builder.finish())
}

/// The kinds of call a part of the log pushed, an endpoint and its query's selector each: pushed
/// as `KIND | index` until [`Kinds::number`] gives each its endpoint of the whole log.
#[derive(Default)]
struct Kinds {
    seen: HashMap<(u32, String), u32>,
    kinds: Vec<(u32, String)>,
}

impl Kinds {
    const KIND: u32 = 1 << 31;

    /// The stand-in index of `endpoint` called with `selector`.
    fn of(&mut self, endpoint: u32, selector: String) -> u32 {
        let next = self.kinds.len() as u32;
        let index = *self
            .seen
            .entry((endpoint, selector))
            .or_insert_with_key(|kind| {
                self.kinds.push(kind.clone());
                next
            });
        Self::KIND | index
    }

    /// Gives each kind its endpoint in `builder` and puts it in place of the stand-ins of `rows`.
    fn number(self, builder: &mut RequestLogBuilder, rows: std::ops::Range<usize>) {
        if self.kinds.is_empty() {
            return;
        }
        let endpoints: Vec<u32> = self
            .kinds
            .into_iter()
            .map(|(endpoint, selector)| {
                let called = CalledEndpoint {
                    selector: Some(selector),
                    ..builder.endpoints[endpoint as usize].clone()
                };
                builder.endpoint_index(called)
            })
            .collect();
        for index in &mut builder.endpoint[rows] {
            if *index & Self::KIND != 0 {
                *index = endpoints[(*index & !Self::KIND) as usize];
            }
        }
    }
}

/// Builds [`RequestColumns`] one request at a time, in any order (they are put in time order
/// when finished): literal requests, or records built in memory. Each distinct sender and
/// endpoint is kept once; a status of 0 is kept as none.
///
/// Each request's strings are copied to be looked up: for a log in the store, which names its
/// senders and endpoints by id, [`load_request_log`] copies none.
#[derive(Debug, Default)]
pub struct RequestLogBuilder {
    ts_us: Vec<i64>,
    status: Vec<u16>,
    sender: Vec<u32>,
    endpoint: Vec<u32>,
    senders: Vec<Sender>,
    endpoints: Vec<CalledEndpoint>,
    sender_ids: HashMap<Sender, u32>,
    endpoint_ids: HashMap<CalledEndpoint, u32>,
}

impl RequestLogBuilder {
    /// A builder with room for `requests` requests.
    pub fn with_capacity(requests: usize) -> Self {
        let mut builder = RequestLogBuilder::default();
        builder.reserve(requests);
        builder
    }

    /// Adds one request, its query string not known.
    pub fn push(&mut self, row: &RequestLogRow<'_>) {
        self.push_with_query(row, None);
    }

    /// Adds one request and its query string (`None`: not known), of which only what tells the
    /// calls of its operation apart is kept (see [`CalledEndpoint`]'s selector).
    pub fn push_with_query(&mut self, row: &RequestLogRow<'_>, query: Option<&str>) {
        let owned = |value: Option<&str>| value.map(str::to_owned);
        let sender = self.sender_index(Sender {
            user_agent: owned(row.user_agent),
            admin_id: owned(row.admin_id),
            source_ip: owned(row.source_ip),
            client_id: owned(row.client_id),
        });
        let mut endpoint = CalledEndpoint {
            operation_id: owned(row.operation_id),
            method: owned(row.method),
            path: owned(row.path),
            selector: None,
        };
        if let Some(query) = query
            && let Some(parameters) = query_parameters(&endpoint)
        {
            endpoint.selector = Some(ReplacementTable::query_selector(&parameters, query));
        }
        let endpoint = self.endpoint_index(endpoint);
        self.push_indexed(row.ts_us, row.response_code.unwrap_or(0), sender, endpoint);
    }

    /// The columns, in their one order whatever the order pushed (see [`RequestColumns`]).
    pub fn finish(self) -> RequestColumns {
        let mut columns = RequestColumns {
            ts_us: self.ts_us,
            status: self.status,
            sender: self.sender,
            endpoint: self.endpoint,
            senders: self.senders,
            endpoints: self.endpoints,
        };
        // Senders and endpoints by their strings, first: ties are broken by those numbers.
        let sender_rank = renumber_by_value(&mut columns.senders);
        remap(&mut columns.sender, sender_rank.as_deref());
        let endpoint_rank = renumber_by_value(&mut columns.endpoints);
        remap(&mut columns.endpoint, endpoint_rank.as_deref());
        // The store reads in time order already; pushed requests may come in any order.
        if !columns.ts_us.is_sorted() {
            let mut order: Vec<u32> = (0..columns.len() as u32).collect();
            order.sort_unstable_by_key(|&row| columns.key(row as usize));
            permute(&mut columns.ts_us, &order);
            permute(&mut columns.status, &order);
            permute(&mut columns.sender, &order);
            permute(&mut columns.endpoint, &order);
        } else {
            columns.order_ties();
        }
        columns
    }

    pub(crate) fn reserve(&mut self, requests: usize) {
        self.ts_us.reserve(requests);
        self.status.reserve(requests);
        self.sender.reserve(requests);
        self.endpoint.reserve(requests);
    }

    /// The index of `sender`, added if new.
    pub(crate) fn sender_index(&mut self, sender: Sender) -> u32 {
        let next = self.senders.len() as u32;
        *self.sender_ids.entry(sender).or_insert_with_key(|sender| {
            self.senders.push(sender.clone());
            next
        })
    }

    /// The index of `endpoint`, added if new.
    pub(crate) fn endpoint_index(&mut self, endpoint: CalledEndpoint) -> u32 {
        let next = self.endpoints.len() as u32;
        *self
            .endpoint_ids
            .entry(endpoint)
            .or_insert_with_key(|endpoint| {
                self.endpoints.push(endpoint.clone());
                next
            })
    }

    /// Adds one request of a sender and an endpoint already indexed.
    #[inline]
    pub(crate) fn push_indexed(&mut self, ts_us: i64, status: u16, sender: u32, endpoint: u32) {
        self.ts_us.push(ts_us);
        self.status.push(status);
        self.sender.push(sender);
        self.endpoint.push(endpoint);
    }

    /// Appends the requests of `later` (which names no sender or endpoint of its own).
    fn append(&mut self, later: RequestLogBuilder) {
        self.ts_us.extend_from_slice(&later.ts_us);
        self.status.extend_from_slice(&later.status);
        self.sender.extend_from_slice(&later.sender);
        self.endpoint.extend_from_slice(&later.endpoint);
    }
}

/// `values` taken in `order`.
fn permute<T: Copy>(values: &mut Vec<T>, order: &[u32]) {
    *values = order.iter().map(|&row| values[row as usize]).collect();
}

/// Sorts `values` (distinct) and returns each one's new index by its old one; `None` when they were
/// in order already.
fn renumber_by_value<T: Ord>(values: &mut Vec<T>) -> Option<Vec<u32>> {
    if values.is_sorted() {
        return None;
    }
    let mut order: Vec<u32> = (0..values.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| values[a as usize].cmp(&values[b as usize]));
    let mut rank = vec![0u32; values.len()];
    for (new, &old) in order.iter().enumerate() {
        rank[old as usize] = new as u32;
    }
    let mut taken: Vec<Option<T>> = std::mem::take(values).into_iter().map(Some).collect();
    *values = order
        .iter()
        .filter_map(|&old| taken[old as usize].take())
        .collect();
    Some(rank)
}

/// Each index of `column` replaced by its `rank` (unchanged without one).
fn remap(column: &mut [u32], rank: Option<&[u32]>) {
    if let Some(rank) = rank {
        for index in column {
            *index = rank[*index as usize];
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, Request, request};

    /// A read of the organization's devices by admin 900001.
    fn devices_read<'a>(ts_us: i64) -> Request<'a> {
        request(ts_us)
            .path("/api/v1/organizations/1/devices")
            .admin("900001")
            .operation("getOrganizationDevices")
    }

    #[test]
    fn an_empty_log_has_no_rows() {
        let log = RequestLogBuilder::default().finish();
        assert_eq!(log.len(), 0);
        assert!(log.is_empty());
        assert_eq!(log, RequestColumns::default());
    }

    #[test]
    fn missing_fields_stay_missing_and_rows_come_in_time_order() {
        let log = fixtures::log([
            devices_read(5).status(None).user_agent(None),
            devices_read(3).status(429).user_agent("a"),
        ]);
        assert_eq!(log.len(), 2);
        let sender = |row: usize| &log.senders[log.sender[row] as usize];
        assert_eq!(
            (0..2).filter(|&r| sender(r).user_agent.is_none()).count(),
            1
        );
        assert_eq!((0..2).filter(|&r| log.status_code(r).is_none()).count(), 1);
        assert_eq!((0..2).filter(|&r| sender(r).source_ip.is_none()).count(), 2);
        assert_eq!(log.ts_us, vec![3, 5]);
    }

    #[test]
    fn requests_at_the_same_time_are_ordered_by_what_they_are_not_by_when_they_came() {
        let log = fixtures::log([
            request(5).user_agent("c"),
            request(3).user_agent("d"),
            request(5).user_agent("a"),
            request(3).user_agent("b").status(429),
            request(3).user_agent("b"),
        ]);
        assert_eq!(log.ts_us, vec![3, 3, 3, 5, 5]);
        let agents: Vec<Option<&str>> = (0..5)
            .map(|row| log.senders[log.sender[row] as usize].user_agent.as_deref())
            .collect();
        // By status first (200 before 429), then by sender.
        assert_eq!(
            agents,
            [Some("b"), Some("d"), Some("b"), Some("a"), Some("c")]
        );
        assert_eq!(log.status[..3], [200, 200, 429]);
        // Senders are numbered by their strings, whatever came first.
        assert!(log.senders.is_sorted());
    }

    /// The records of one hour at 2026-11-19 10:00, of which 0, 1, 2 share a microsecond and 3–5
    /// read one network's channel utilization as its average, one AP's and one client's.
    fn stored_records() -> Vec<callbudget_api::RequestRecord> {
        let at = |ms: i64| {
            callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
                + chrono::TimeDelta::milliseconds(ms)
        };
        let record = |ms: i64, agent: &str, path: &str, query: &str, code: u16| {
            callbudget_api::RequestRecord {
                admin_id: None,
                method: Some("GET".to_owned()),
                host: None,
                path: Some(path.to_owned()),
                query_string: Some(query.to_owned()),
                user_agent: Some(agent.to_owned()),
                ts: at(ms),
                response_code: Some(code),
                source_ip: None,
                version: Some(1),
                operation_id: None,
                client: None,
            }
        };
        let history = "/api/v1/networks/N_1/wireless/channelUtilizationHistory";
        vec![
            record(5, "b", "/api/v1/organizations/1/networks", "", 200),
            record(5, "a", "/api/v1/organizations/1/networks", "", 429),
            record(5, "a", "/api/v1/organizations/1/devices", "perPage=5", 200),
            record(9, "c", history, "timespan=600", 200),
            record(9, "c", history, "deviceSerial=Q2MR-1&timespan=600", 200),
            record(9, "c", history, "clientId=k1&timespan=600", 200),
        ]
    }

    /// `records`, stored as one window, loaded.
    fn stored_and_loaded(records: &[callbudget_api::RequestRecord]) -> RequestColumns {
        use callbudget_store::{CollectionFilter, Endpoint, WindowMeta};
        let t = |s: &str| callbudget_api::timestamp::parse(s).unwrap();
        let (t0, t1) = (t("2026-11-19T10:00:00Z"), t("2026-11-19T11:00:00Z"));
        let mut store = Store::open_in_memory().unwrap();
        let meta = WindowMeta {
            org_id: OrgId::new("1"),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0,
            t1,
            started_at: t1,
            finished_at: t1,
            calls: 1,
            http_429s: 0,
        };
        store.store_request_window(&meta, records).unwrap();
        let window = AnalysisWindow::new(t0, t1).unwrap();
        load_request_log(&store, &OrgId::new("1"), &window).unwrap()
    }

    #[test]
    fn a_stored_log_keeps_the_query_parameters_that_tell_an_operations_calls_apart() {
        let log = stored_and_loaded(&stored_records());
        let selectors: Vec<Option<&str>> = (0..log.len())
            .map(|row| {
                log.endpoints[log.endpoint[row] as usize]
                    .selector
                    .as_deref()
            })
            .collect();
        // Only the channel-utilization history's calls keep what tells them apart.
        let mut history: Vec<&str> = selectors[3..].iter().map(|s| s.unwrap()).collect();
        history.sort_unstable();
        assert_eq!(history, ["", "clientId=k1", "deviceSerial=Q2MR-1"]);
        assert_eq!(selectors[..3], [None, None, None]);
        // The same in memory.
        let mut builder = RequestLogBuilder::default();
        for r in stored_records() {
            let row = RequestLogRow {
                ts_us: r.ts.timestamp_micros(),
                response_code: r.response_code,
                method: r.method.as_deref(),
                path: r.path.as_deref(),
                user_agent: r.user_agent.as_deref(),
                admin_id: None,
                source_ip: None,
                operation_id: None,
                client_id: None,
            };
            builder.push_with_query(&row, r.query_string.as_deref());
        }
        let in_memory = builder.finish();
        // The same rows (the stored log's endpoints include some no row of the window names).
        let rows = |log: &RequestColumns| -> Vec<(i64, u16, CalledEndpoint)> {
            (0..log.len())
                .map(|row| {
                    let endpoint = log.endpoints[log.endpoint[row] as usize].clone();
                    (log.ts_us[row], log.status[row], endpoint)
                })
                .collect()
        };
        assert_eq!(rows(&in_memory), rows(&log));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Records stored in any order — pages read newest first, an import shuffled — load as
        /// the same columns.
        #[test]
        fn records_stored_in_any_order_load_as_the_same_columns(
            order in proptest::strategy::Strategy::prop_shuffle(
                proptest::strategy::Just((0..6usize).collect::<Vec<_>>())
            )
        ) {
            let records = stored_records();
            let shuffled: Vec<_> = order.iter().map(|&i| records[i].clone()).collect();
            proptest::prop_assert_eq!(stored_and_loaded(&shuffled), stored_and_loaded(&records));
        }
    }

    proptest::proptest! {
        /// Any order of the same requests is the same log: the columns are a function of the
        /// multiset.
        #[test]
        fn the_same_requests_in_any_order_are_the_same_columns(
            requests in proptest::collection::vec((0i64..6, 0usize..3, 0usize..3, proptest::bool::ANY), 0..40),
            seed in 0u64..1_000,
        ) {
            const AGENTS: [&str; 3] = ["a", "b", "c"];
            const PATHS: [&str; 3] = ["/x", "/y", "/z"];
            let literal = |&(ts, agent, path, refused): &(i64, usize, usize, bool)| {
                request(ts)
                    .user_agent(AGENTS[agent])
                    .path(PATHS[path])
                    .status(if refused { 429 } else { 200 })
            };
            let mut shuffled = requests.clone();
            // A cheap deterministic shuffle: enough to put ties in another order.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            proptest::prop_assert_eq!(
                fixtures::log(requests.iter().map(literal)),
                fixtures::log(shuffled.iter().rev().map(literal))
            );
        }
    }

    #[test]
    fn requests_name_the_same_sender_or_endpoint_exactly_when_their_strings_are_the_same() {
        let from = |ts_us: i64, client_id: &'static str, path: &'static str| {
            request(ts_us)
                .user_agent("a")
                .source_ip("10.0.0.1")
                .client_id(client_id)
                .path(path)
        };
        let log = fixtures::log([
            from(1, "c1", "/x"),
            from(2, "c2", "/x"),
            from(3, "c1", "/x"),
            from(4, "c1", "/y"),
        ]);
        assert_eq!(log.sender, [0, 1, 0, 0]);
        assert_eq!(log.endpoint, [0, 0, 0, 1]);
        assert_eq!((log.senders.len(), log.endpoints.len()), (2, 2));
        assert_eq!(log.senders[1].client_id.as_deref(), Some("c2"));
    }
}
