//! The request log resolved against the operation catalog, once per audit, for the
//! recommendations and every what-if: each request's operation (its `operationId`, else its method
//! and path through the catalog, so records without an operationId count), its target (the
//! serial, network or organization it addressed), the resource it read (its path), and whether it
//! was the retry of a refused request.
//!
//! **Retries.** A request is the retry of a refused call when the same consumer's previous request
//! with the same method and path was answered 429, sooner before it than half the consumer's
//! polling cycle for that operation (the median gap after an answered call on one path, which can
//! only be a new call) and than the retry detector's horizon ([`RetryOptions::horizon`], 5
//! minutes). So a poller that reads a refused path again at its next cycle is not retrying it,
//! and a burst's writes, each to its own path, pair as the retry detector pairs them. Counts of
//! intent (calls a day, writes in a burst) leave retries out: a refused call retried five times
//! is one call its consumer meant to make, and one that was never retried still is one.

use super::super::frames::{
    METHOD, OPERATION_ID, PATH, RESPONSE_CODE, TOO_MANY_REQUESTS, TS, USER_AGENT,
    categorical_column,
};
use super::super::{AnalysisError, RetryOptions};
use crate::api::{Operation, OperationCatalog, catalog::path_below_base};
use polars::prelude::*;
use std::collections::HashMap;

/// One request with its operation, target and resource resolved. Compact (32 bytes): a month of a
/// saturated organization is 26.8 M of them.
pub(crate) struct ResolvedRequest<'c> {
    pub ts_us: i64,
    pub operation: Option<&'c Operation>,
    /// Index into [`ResolvedLog::consumers`], [`NONE`] without a user agent.
    consumer: u32,
    /// Index into [`ResolvedLog::targets`], [`NONE`] without a target.
    target: u32,
    /// Index into [`ResolvedLog::shapes`]: what was logged for it.
    shape: u32,
    pub is_write: bool,
    /// Answered 429.
    pub refused: bool,
    /// The retry of a refused request (see the module's doc): not a call of its own.
    pub retry: bool,
}

/// No consumer or no target.
const NONE: u32 = u32::MAX;

impl ResolvedRequest<'_> {
    /// Index into [`ResolvedLog::consumers`]; `None` without a user agent.
    pub fn consumer(&self) -> Option<usize> {
        (self.consumer != NONE).then_some(self.consumer as usize)
    }

    /// Index into [`ResolvedLog::targets`]; `None` without a target.
    pub fn target_index(&self) -> Option<usize> {
        (self.target != NONE).then_some(self.target as usize)
    }
}

/// What a request logged, once per distinct (operationId, method, path).
pub(crate) struct RequestShape {
    /// The logged operationId when the catalog does not know it (a deprecated, renamed or removed
    /// operation); `None` when it is known or missing.
    pub unknown_operation_id: Option<String>,
    pub method: Option<String>,
    /// Index into [`ResolvedLog::resources`]; [`NONE`] without a path.
    resource: u32,
    /// The method and the operation as small numbers, for keying calls and usages cheaply.
    method_code: u32,
    usage_code: u32,
}

/// The log as resolved requests, in time order.
pub(crate) struct ResolvedLog<'c> {
    pub consumers: Vec<String>,
    /// The serials, network and organization ids requests addressed.
    pub targets: Vec<String>,
    /// The distinct paths requests read or wrote, below the API's base and without a query.
    pub resources: Vec<String>,
    pub shapes: Vec<RequestShape>,
    pub requests: Vec<ResolvedRequest<'c>>,
}

impl ResolvedLog<'_> {
    /// The index of what `request` logged in [`Self::shapes`].
    pub fn shape_index(&self, request: &ResolvedRequest<'_>) -> usize {
        request.shape as usize
    }

    /// What `request` logged.
    pub fn shape(&self, request: &ResolvedRequest<'_>) -> &RequestShape {
        &self.shapes[request.shape as usize]
    }

    /// The index of the path `request` addressed in [`Self::resources`]; `None` without a path.
    pub fn resource_index(&self, request: &ResolvedRequest<'_>) -> Option<usize> {
        let resource = self.shape(request).resource;
        (resource != NONE).then_some(resource as usize)
    }

    /// The path `request` addressed, below the API's base.
    pub fn resource(&self, request: &ResolvedRequest<'_>) -> Option<&str> {
        self.resource_index(request)
            .map(|i| self.resources[i].as_str())
    }
}

/// The categorical codes of a request's operation id, method and path.
type ShapeKey = (Option<u32>, Option<u32>, Option<u32>);

/// What a request called, resolved once per distinct [`ShapeKey`].
#[derive(Clone, Copy)]
struct Resolution<'c> {
    operation: Option<&'c Operation>,
    target: u32,
    shape: u32,
    is_write: bool,
}

/// The string of a categorical code.
fn name(column: &Categorical32Chunked, code: Option<u32>) -> Option<&str> {
    code.and_then(|c| column.get_mapping().cat_to_str(c))
}

/// Numbers strings by first appearance.
#[derive(Default)]
struct Interner {
    values: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(&i) = self.index.get(value) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(value.to_owned());
        self.index.insert(value.to_owned(), i);
        i
    }
}

/// Resolves every request of `log` against `catalog`.
pub(crate) fn resolve_log<'c>(
    log: &DataFrame,
    catalog: &'c OperationCatalog,
) -> Result<ResolvedLog<'c>, AnalysisError> {
    let err = || AnalysisError::frame("reading requests for their operations");
    let ts = log
        .column(TS)
        .and_then(|c| c.datetime())
        .map_err(err())?
        .physical();
    let codes = log
        .column(RESPONSE_CODE)
        .and_then(|c| c.i32())
        .map_err(err())?;
    // Read by categorical code, so that each distinct string is looked at once.
    let columns =
        [USER_AGENT, OPERATION_ID, METHOD, PATH].map(|name| categorical_column(log, name));
    let [agents, op_ids, methods, paths] = columns;
    let (agents, op_ids, methods, paths) = (agents?, op_ids?, methods?, paths?);
    let [agents, op_ids, methods, paths] =
        [&agents, &op_ids, &methods, &paths].map(|c| c.cat32().map_err(err()));
    let (agents, op_ids, methods, paths) = (agents?, op_ids?, methods?, paths?);

    let mut consumers: Vec<String> = Vec::new();
    // Consumer index of each user-agent code, numbered by first appearance.
    let mut consumer_of_agent: HashMap<u32, u32> = HashMap::new();
    let mut targets = Interner::default();
    let mut resources = Interner::default();
    let mut shapes: Vec<RequestShape> = Vec::new();
    let (mut method_codes, mut usage_codes) = (Interner::default(), Interner::default());
    // The log repeats few (operation, method, path) combinations: resolve each once.
    let mut resolutions: HashMap<ShapeKey, Resolution<'c>> = HashMap::new();
    let mut requests = Vec::with_capacity(log.height());
    let rows = ts
        .iter()
        .zip(codes.iter())
        .zip(agents.physical().iter())
        .zip(op_ids.physical().iter())
        .zip(methods.physical().iter().zip(paths.physical().iter()));
    for ((((ts, code), agent), op_id), (method, path)) in rows {
        let Some(ts_us) = ts else { continue };
        let consumer = match agent {
            None => NONE,
            Some(a) => *consumer_of_agent.entry(a).or_insert_with(|| {
                consumers.push(name(agents, Some(a)).unwrap_or_default().to_owned());
                (consumers.len() - 1) as u32
            }),
        };
        let key = (op_id, method, path);
        let resolution = *resolutions.entry(key).or_insert_with(|| {
            let (op_id, method, path) = (
                name(op_ids, key.0),
                name(methods, key.1),
                name(paths, key.2),
            );
            let known = op_id.and_then(|id| catalog.get(id));
            let operation = known.or_else(|| match (method, path) {
                (Some(m), Some(p)) => catalog.match_path(m, p),
                _ => None,
            });
            let target = match (operation, path) {
                (Some(op), Some(p)) => target_parameter(op, p),
                _ => None,
            };
            let method = method.or(operation.map(|op| op.method.as_str()));
            let is_write = method.is_some_and(|m| {
                ["PUT", "POST", "DELETE", "PATCH"]
                    .iter()
                    .any(|w| m.eq_ignore_ascii_case(w))
            });
            let method = method.map(str::to_ascii_uppercase);
            let method_text = method.as_deref().unwrap_or_default();
            shapes.push(RequestShape {
                unknown_operation_id: op_id.filter(|_| known.is_none()).map(str::to_owned),
                resource: path.map_or(NONE, |p| resources.intern(path_below_base(p))),
                method_code: method_codes.intern(method_text),
                usage_code: usage_codes.intern(&format!(
                    "{method_text} {}",
                    operation.map_or("", |op| op.operation_id.as_str())
                )),
                method,
            });
            Resolution {
                operation,
                target: target.map_or(NONE, |t| targets.intern(t)),
                shape: (shapes.len() - 1) as u32,
                is_write,
            }
        });
        requests.push(ResolvedRequest {
            ts_us,
            operation: resolution.operation,
            consumer,
            target: resolution.target,
            shape: resolution.shape,
            is_write: resolution.is_write,
            refused: code == Some(TOO_MANY_REQUESTS),
            retry: false,
        });
    }
    requests.sort_by_key(|r| r.ts_us);
    mark_retries(&mut requests, &shapes);
    Ok(ResolvedLog {
        consumers,
        targets: targets.values,
        resources: resources.values,
        shapes,
        requests,
    })
}

/// Gaps between two calls of one operation on one path, in quarter-octave buckets of
/// microseconds: enough to tell a polling cycle from a retry delay, in 1 KiB per
/// (consumer, operation) whatever the log's size.
struct GapHistogram([u32; 256]);

impl GapHistogram {
    fn bucket(gap_us: i64) -> usize {
        ((gap_us.max(1) as f64).log2() * 4.0) as usize
    }

    fn add(&mut self, gap_us: i64) {
        self.0[Self::bucket(gap_us).min(255)] += 1;
    }

    /// The lower edge of the busiest run of buckets below `below_us` (the buckets around the
    /// busiest one that hold at least an eighth of its count), one bucket lower for margin: the
    /// shortest delay a consumer's retries usually keep.
    fn usual_shortest_us(&self, below_us: i64) -> Option<i64> {
        let counts = &self.0[..Self::bucket(below_us).min(255)];
        let (peak, &most) = counts
            .iter()
            .enumerate()
            .max_by_key(|(i, n)| (**n, usize::MAX - i))?;
        if most == 0 {
            return None;
        }
        let mut low = peak;
        while low > 0 && counts[low - 1] * 8 >= most {
            low -= 1;
        }
        Some(2f64.powf((low.saturating_sub(1)) as f64 / 4.0) as i64)
    }

    /// The upper edge of the bucket holding the `share` quantile of the gaps shorter than
    /// `below_us`, one bucket higher for margin: the longest delay a consumer's retries usually
    /// take.
    fn usual_longest_us(&self, share: f64, below_us: i64) -> Option<i64> {
        let counts = &self.0[..Self::bucket(below_us).min(255)];
        let total: u64 = counts.iter().map(|&n| u64::from(n)).sum();
        let mut seen = 0u64;
        for (bucket, &n) in counts.iter().enumerate() {
            seen += u64::from(n);
            if n > 0 && seen as f64 >= share * total as f64 {
                return Some(2f64.powf((bucket + 2) as f64 / 4.0) as i64);
            }
        }
        None
    }

    /// The median gap shorter than `below_us` (the middle of its bucket), if any was seen.
    fn median_us(&self, below_us: i64) -> Option<f64> {
        let counts = &self.0[..Self::bucket(below_us).min(255)];
        let total: u64 = counts.iter().map(|&n| u64::from(n)).sum();
        let mut seen = 0u64;
        for (bucket, &n) in counts.iter().enumerate() {
            seen += u64::from(n);
            if n > 0 && 2 * seen >= total {
                return Some(2f64.powf((bucket as f64 + 0.5) / 4.0));
            }
        }
        None
    }
}

/// Marks each request that retries a refused one; `requests` are in time order.
///
/// Per (consumer, method, operation), two distributions of the gap between a call and the next on
/// the same path: after an answered call (which can only be followed by a new call: the polling
/// cycle) and after a refused one (mostly the retry delay). A request is the retry of a refused
/// request on its path still waiting for one when the gap lies within the consumer's usual retry
/// delays (the busiest run of gaps after a refusal, up to their 95th percentile), sooner than half
/// its cycle and than the retry detector's horizon. Any other request is a call of its own — so a
/// poller that reads a refused path again at its next cycle, or whose overlapping cycles read one
/// path twice, is not taken for retrying it.
fn mark_retries(requests: &mut [ResolvedRequest<'_>], shapes: &[RequestShape]) {
    let horizon_us = RetryOptions::default().horizon.as_micros() as i64;
    // (consumer, method, path) and (consumer, method and operation).
    type Call = (u32, u32, u32);
    type Usage = (u32, u32);
    let keys = |r: &ResolvedRequest<'_>| {
        let shape = &shapes[r.shape as usize];
        (shape.resource != NONE).then_some((
            (r.consumer, shape.method_code, shape.resource),
            (r.consumer, shape.usage_code),
        ))
    };
    // First pass: each (consumer, method, operation)'s gaps after answered calls (its polling
    // cycle) and after refused ones (mostly its retry delay).
    let mut gaps: HashMap<Usage, [GapHistogram; 2]> = HashMap::new();
    let mut latest: HashMap<Call, (i64, bool)> = HashMap::new();
    for r in requests.iter() {
        let Some((call, usage)) = keys(r) else {
            continue;
        };
        if let Some((ts, refused)) = latest.insert(call, (r.ts_us, r.refused)) {
            gaps.entry(usage)
                .or_insert_with(|| [GapHistogram([0; 256]), GapHistogram([0; 256])])
                [usize::from(refused)]
            .add(r.ts_us - ts);
        }
    }
    // A retry comes after a refused request on its path, within the consumer's usual retry
    // delays (the busiest run of gaps after a refusal, up to their 95th percentile) and sooner
    // than half its cycle.
    let windows: HashMap<Usage, (i64, i64)> = gaps
        .iter()
        .map(|(usage, [after_answered, after_refused])| {
            let until = after_answered
                .median_us(i64::MAX)
                .map_or(horizon_us, |m| ((m / 2.0) as i64).min(horizon_us));
            let from = after_refused.usual_shortest_us(until).unwrap_or(0);
            let until = after_refused
                .usual_longest_us(0.95, until)
                .map_or(until, |longest| longest.min(until));
            (*usage, (from, until))
        })
        .collect();
    // Second pass: each path's refused requests still waiting for a retry ("open chains"); a
    // request in the window of the oldest is its retry, any other is a call of its own — so the
    // chains of two overlapping cycles on one path are told apart.
    let mut open: HashMap<Call, Vec<i64>> = HashMap::new();
    for r in requests.iter_mut() {
        let Some((call, usage)) = keys(r) else {
            continue;
        };
        let (from, until) = windows.get(&usage).copied().unwrap_or((0, horizon_us));
        let waiting = open.entry(call).or_default();
        waiting.retain(|&t| r.ts_us - t < until);
        if let Some(i) = waiting.iter().position(|&t| r.ts_us - t >= from) {
            waiting.remove(i);
            r.retry = true;
        }
        if r.refused {
            waiting.push(r.ts_us);
        }
    }
}

/// The value in the concrete `path` of the parameter of `op`'s template that names what was
/// addressed: its `{serial}` or `{networkId}`, else its first parameter (an organization id), so
/// that `/organizations/{organizationId}/inventory/devices/{serial}` addresses a device.
fn target_parameter<'p>(op: &Operation, path: &'p str) -> Option<&'p str> {
    let pairs = || {
        op.path
            .split('/')
            .filter(|s| !s.is_empty())
            .zip(path_below_base(path).split('/').filter(|s| !s.is_empty()))
            .filter(|(t, _)| t.starts_with('{'))
    };
    pairs()
        .find(|(t, _)| *t == "{serial}" || *t == "{networkId}")
        .or_else(|| pairs().next())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::frames::RequestLogBuilder;
    use crate::store::RequestLogRow;

    fn frame(rows: &[(i64, u16, &str, &str, &str)]) -> DataFrame {
        let mut builder = RequestLogBuilder::default();
        for &(ts_us, code, agent, method, path) in rows {
            builder.push(&RequestLogRow {
                ts_us,
                response_code: Some(code),
                method: Some(method),
                path: Some(path),
                user_agent: Some(agent),
                admin_id: None,
                source_ip: None,
                operation_id: None,
                client_id: None,
            });
        }
        builder.finish().unwrap()
    }

    const S: i64 = 1_000_000;

    #[test]
    fn a_request_after_a_refusal_of_the_same_call_is_its_retry() {
        let port = "/api/v1/devices/Q2XX-1/switch/ports/1";
        let other = "/api/v1/devices/Q2XX-2/switch/ports/1";
        let log = frame(&[
            (100 * S, 429, "A", "PUT", port),
            (100 * S + S / 2, 429, "A", "PUT", port), // retry
            (101 * S, 200, "A", "PUT", port),         // retry
            (102 * S, 429, "B", "PUT", port),         // another consumer
            (103 * S, 200, "A", "GET", port),         // another method: a call of its own
            // Refused, then the same path only after the 5-minute horizon: a new call.
            (110 * S, 429, "A", "PUT", other),
            (411 * S, 200, "A", "PUT", other),
        ]);
        let resolved = resolve_log(&log, OperationCatalog::meraki_v1()).unwrap();
        let retries: Vec<bool> = resolved.requests.iter().map(|r| r.retry).collect();
        assert_eq!(retries, [false, true, true, false, false, false, false]);
        assert_eq!(
            resolved.resource(&resolved.requests[0]),
            Some("/devices/Q2XX-1/switch/ports/1")
        );
    }

    #[test]
    fn a_poller_reading_a_refused_path_again_next_cycle_is_not_retrying_it() {
        let lldp = "/api/v1/devices/Q2XX-1/lldpCdp";
        let log = frame(&[
            (0, 200, "P", "GET", lldp),
            (10 * S, 429, "P", "GET", lldp),
            (11 * S, 200, "P", "GET", lldp), // its retry, 1 s later
            (20 * S, 429, "P", "GET", lldp), // given up
            (30 * S, 200, "P", "GET", lldp), // the next cycle: a call of its own
            (40 * S, 200, "P", "GET", lldp),
        ]);
        let resolved = resolve_log(&log, OperationCatalog::meraki_v1()).unwrap();
        let retries: Vec<bool> = resolved.requests.iter().map(|r| r.retry).collect();
        assert_eq!(retries, [false, false, true, false, false, false]);
    }

    #[test]
    fn an_org_scoped_device_lookup_addresses_the_device() {
        let log = frame(&[(
            0,
            200,
            "A",
            "GET",
            "/api/v1/organizations/9/inventory/devices/Q2XX-7",
        )]);
        let resolved = resolve_log(&log, OperationCatalog::meraki_v1()).unwrap();
        let r = &resolved.requests[0];
        assert_eq!(
            r.operation.map(|o| o.operation_id.as_str()),
            Some("getOrganizationInventoryDevice")
        );
        assert_eq!(
            r.target_index().map(|t| resolved.targets[t].as_str()),
            Some("Q2XX-7")
        );
    }
}
