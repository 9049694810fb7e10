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
//! minutes), and no sooner than the consumer's most common retry delay. So a poller that reads a
//! refused path again at its next cycle is not retrying it, a burst's writes, each to its own
//! path, pair as the retry detector pairs them, and a burst that comes back to a few paths again
//! and again is not taken to retry a write it gave up on. Counts of
//! intent (calls a day, writes in a burst) leave retries out: a refused call retried five times
//! is one call its consumer meant to make, and one that was never retried still is one.

use super::super::RetryOptions;
use super::super::columns::{PairIndex, RequestColumns};
use callbudget_api::{Operation, OperationCatalog, catalog::path_below_base};
use std::collections::HashMap;

/// One request with its operation, target and resource resolved. Made on demand from the log's
/// columns and its endpoint's resolution ([`ResolvedLog::request`]), never stored: a month of a
/// saturated organization is 26.8 M of them.
#[derive(Debug, Clone, Copy)]
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
    /// The query parameters that tell the calls of its operation apart, as they were named
    /// (`None`: not known, or none matter for the operation).
    pub selector: Option<String>,
    /// Index into [`ResolvedLog::resources`]; [`NONE`] without a path.
    resource: u32,
    /// The method and the operation as small numbers, for keying calls and usages cheaply.
    method_code: u32,
    usage_code: u32,
}

/// The log resolved: its columns (in time order), what each of its endpoints and senders
/// resolves to, and which requests retry a refused one. Every request is made from these on
/// demand ([`ResolvedLog::requests`]).
pub(crate) struct ResolvedLog<'c> {
    pub consumers: Vec<String>,
    /// The serials, network and organization ids requests addressed.
    pub targets: Vec<String>,
    /// The distinct paths requests read or wrote, below the API's base and without a query.
    pub resources: Vec<String>,
    pub shapes: Vec<RequestShape>,
    log: &'c RequestColumns,
    /// By sender: its consumer (index into `consumers`), [`NONE`] without a user agent.
    consumer_of_sender: Vec<u32>,
    /// By endpoint: what it resolves to; `None` for an endpoint no request of the log names.
    resolution_of_endpoint: Vec<Option<Resolution<'c>>>,
    /// One bit per request: whether it retries a refused one.
    retries: Vec<u64>,
}

impl<'c> ResolvedLog<'c> {
    /// How many requests the log holds.
    pub fn len(&self) -> usize {
        self.log.len()
    }

    /// The log's columns.
    pub fn columns(&self) -> &RequestColumns {
        self.log
    }

    /// Request `row`, resolved.
    #[inline]
    pub fn request(&self, row: usize) -> ResolvedRequest<'c> {
        let log = self.log;
        let resolution = self.resolution_of_endpoint[log.endpoint[row] as usize]
            .expect("every endpoint a request names is resolved");
        ResolvedRequest {
            ts_us: log.ts_us[row],
            operation: resolution.operation,
            consumer: self.consumer_of_sender[log.sender[row] as usize],
            target: resolution.target,
            shape: resolution.shape,
            is_write: resolution.is_write,
            retry: self.retries[row / 64] & (1 << (row % 64)) != 0,
        }
    }

    /// Every request, in time order.
    pub fn requests(&self) -> impl Iterator<Item = ResolvedRequest<'c>> + '_ {
        (0..self.len()).map(|row| self.request(row))
    }

    /// The consumer of request `row` (index into `consumers`); `None` without a user agent.
    #[inline]
    pub fn consumer_of(&self, row: usize) -> Option<usize> {
        let consumer = self.consumer_of_sender[self.log.sender[row] as usize];
        (consumer != NONE).then_some(consumer as usize)
    }

    /// Requests per consumer (index into `consumers`).
    pub fn requests_by_consumer(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.consumers.len()];
        let by_sender = self.log.requests_by_sender(0..self.len());
        for (&consumer, n) in self.consumer_of_sender.iter().zip(by_sender) {
            if consumer != NONE {
                counts[consumer as usize] += n;
            }
        }
        counts
    }

    /// What the requests called, each distinct (operation, target) once.
    pub fn distinct_calls(
        &self,
    ) -> impl Iterator<Item = (Option<&'c Operation>, Option<usize>)> + '_ {
        self.resolution_of_endpoint
            .iter()
            .flatten()
            .map(|r| (r.operation, (r.target != NONE).then_some(r.target as usize)))
    }

    /// Each shape's operation (by index into [`Self::shapes`]), in the order of
    /// [`Self::distinct_calls`]: a request's shape decides its operation.
    pub fn operations_of_shapes(
        &self,
    ) -> impl Iterator<Item = (usize, Option<&'c Operation>)> + '_ {
        self.resolution_of_endpoint
            .iter()
            .flatten()
            .map(|r| (r.shape as usize, r.operation))
    }

    /// Whether some request called an operation the catalog does not know.
    pub fn calls_unknown_operations(&self) -> bool {
        self.resolution_of_endpoint.iter().flatten().any(|r| {
            r.operation.is_none() || self.shapes[r.shape as usize].unknown_operation_id.is_some()
        })
    }

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

/// What a request called, resolved once per endpoint (distinct operationId, method and path).
#[derive(Debug, Clone, Copy)]
struct Resolution<'c> {
    operation: Option<&'c Operation>,
    target: u32,
    shape: u32,
    is_write: bool,
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
pub(crate) fn resolve_columns<'c>(
    log: &'c RequestColumns,
    catalog: &'c OperationCatalog,
) -> ResolvedLog<'c> {
    // Consumers (user agents), targets, resources and shapes are numbered by first appearance
    // in time order; senders and endpoints no request names resolve to nothing.
    let mut consumers: Vec<String> = Vec::new();
    let mut consumer_ids: HashMap<&str, u32> = HashMap::new();
    let mut consumer_of_sender = vec![NONE; log.senders.len()];
    let mut sender_seen = vec![false; log.senders.len()];
    let mut endpoints_in_order: Vec<u32> = Vec::new();
    let mut endpoint_seen = vec![false; log.endpoints.len()];
    for (&sender, &endpoint) in log.sender.iter().zip(&log.endpoint) {
        if !sender_seen[sender as usize] {
            sender_seen[sender as usize] = true;
            if let Some(agent) = log.senders[sender as usize].user_agent.as_deref() {
                consumer_of_sender[sender as usize] =
                    *consumer_ids.entry(agent).or_insert_with(|| {
                        consumers.push(agent.to_owned());
                        (consumers.len() - 1) as u32
                    });
            }
        }
        if !endpoint_seen[endpoint as usize] {
            endpoint_seen[endpoint as usize] = true;
            endpoints_in_order.push(endpoint);
        }
    }
    drop(consumer_ids);

    let mut targets = Interner::default();
    let mut resources = Interner::default();
    let mut shapes: Vec<RequestShape> = Vec::new();
    let (mut method_codes, mut usage_codes) = (Interner::default(), Interner::default());
    let mut resolution_of_endpoint: Vec<Option<Resolution<'c>>> = vec![None; log.endpoints.len()];
    for endpoint in endpoints_in_order {
        let called = &log.endpoints[endpoint as usize];
        let (op_id, method, path) = (
            called.operation_id.as_deref(),
            called.method.as_deref(),
            called.path.as_deref(),
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
        // Calls its query tells apart (one AP's history on a network's path) are resources of
        // their own.
        let resource = path.map(|p| match called.selector.as_deref() {
            Some(selector) if !selector.is_empty() => {
                resources.intern(&format!("{}?{selector}", path_below_base(p)))
            }
            _ => resources.intern(path_below_base(p)),
        });
        shapes.push(RequestShape {
            unknown_operation_id: op_id.filter(|_| known.is_none()).map(str::to_owned),
            selector: called.selector.clone(),
            resource: resource.unwrap_or(NONE),
            method_code: method_codes.intern(method_text),
            usage_code: usage_codes.intern(&format!(
                "{method_text} {}",
                operation.map_or("", |op| op.operation_id.as_str())
            )),
            method,
        });
        resolution_of_endpoint[endpoint as usize] = Some(Resolution {
            operation,
            target: target.map_or(NONE, |t| targets.intern(t)),
            shape: (shapes.len() - 1) as u32,
            is_write,
        });
    }
    let mut resolved = ResolvedLog {
        consumers,
        targets: targets.values,
        resources: resources.values,
        shapes,
        log,
        consumer_of_sender,
        resolution_of_endpoint,
        retries: Vec::new(),
    };
    resolved.retries = mark_retries(&resolved, usage_codes.values.len());
    resolved
}

/// Gaps between two calls of one operation on one path, in quarter-octave buckets of
/// microseconds: enough to tell a polling cycle from a retry delay, in 1 KiB per
/// (consumer, operation) whatever the log's size.
struct GapHistogram([u32; 256]);

impl GapHistogram {
    /// `⌊4 · log₂ gap⌋`, as floating point computes it: see [`GapBuckets`].
    fn bucket(gap_us: i64) -> usize {
        static BUCKETS: std::sync::LazyLock<GapBuckets> = std::sync::LazyLock::new(GapBuckets::new);
        BUCKETS.of(gap_us.max(1))
    }

    fn add(&mut self, gap_us: i64) {
        self.0[Self::bucket(gap_us).min(255)] += 1;
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

/// The gap bucket, `⌊4 · log₂ gap⌋` as floating point computes it (`(gap as f64).log2() * 4.0`,
/// truncated), from a table of the first gap of each bucket instead of a logarithm per gap: the
/// table is found with that very expression, so a gap lands where the expression would put it.
/// (A gap of `2^k` to `2^(k+1)` lies in bucket `4k` to `4k + 4`: the `+ 4` for a gap that rounds
/// up to `2^(k+1)` as a float.)
struct GapBuckets {
    /// `first[n]`: the least gap of bucket `n` or more, for `n` up to 256 (`None`: no gap's).
    first: Vec<Option<i64>>,
}

impl GapBuckets {
    fn by_logarithm(gap_us: i64) -> usize {
        ((gap_us as f64).log2() * 4.0) as usize
    }

    fn new() -> GapBuckets {
        let first = (0..=256)
            .map(|n| {
                // The least gap whose bucket is at least `n` (the expression grows with the gap),
                // or past every gap.
                let (mut low, mut high) = (1i64, i64::MAX);
                if Self::by_logarithm(high) < n {
                    return None;
                }
                while low < high {
                    let mid = low + (high - low) / 2;
                    if Self::by_logarithm(mid) >= n {
                        high = mid;
                    } else {
                        low = mid + 1;
                    }
                }
                Some(low)
            })
            .collect();
        GapBuckets { first }
    }

    /// The bucket of a gap of at least 1 µs.
    fn of(&self, gap_us: i64) -> usize {
        let octave = (63 - gap_us.leading_zeros()) as usize;
        let mut bucket = 4 * octave;
        while let Some(Some(first)) = self.first.get(bucket + 1)
            && gap_us >= *first
        {
            bucket += 1;
        }
        bucket
    }
}

/// Which requests retry a refused one (one bit each); the log is in time order.
///
/// Per (consumer, method, operation), two distributions of the gap between a call and the next on
/// the same path: after an answered call (which can only be followed by a new call: the polling
/// cycle) and after a refused one (mostly the retry delay). A request is the retry of a refused
/// request on its path still waiting for one when the gap lies within the consumer's usual retry
/// delays (from the shortest gap of its most common delay after a refusal,
/// [`usual_shortest_delay_us`], up to the 95th percentile of those gaps), sooner than half its
/// cycle and than the retry detector's horizon. Any other request is a call of its own — so a
/// poller that reads a refused path again at its next cycle, or whose overlapping cycles read one
/// path twice, is not taken for retrying it.
///
/// Calls (consumer, method, path) and usages (consumer, method and operation) are numbered
/// densely ([`PairIndex`]) from each endpoint's (method, path) and (method, operation): no hash
/// per request.
fn mark_retries(resolved: &ResolvedLog<'_>, usage_codes: usize) -> Vec<u64> {
    let log = resolved.columns();
    let horizon_us = RetryOptions::default().horizon.as_micros() as i64;
    // Each endpoint's (method, path) as one number, and its (method, operation); none without a
    // path.
    let mut method_paths: HashMap<(u32, u32), u32> = HashMap::new();
    let keys_of_endpoint: Vec<Option<(u32, u32)>> = resolved
        .resolution_of_endpoint
        .iter()
        .map(|resolution| {
            let shape = &resolved.shapes[resolution.as_ref()?.shape as usize];
            if shape.resource == NONE {
                return None;
            }
            let next = method_paths.len() as u32;
            let method_path = *method_paths
                .entry((shape.method_code, shape.resource))
                .or_insert(next);
            Some((method_path, shape.usage_code))
        })
        .collect();
    let consumer_slots = resolved.consumers.len() + 1;
    let slot = |row: usize| {
        resolved
            .consumer_of(row)
            .unwrap_or(resolved.consumers.len()) as u32
    };
    let mut calls = PairIndex::new(consumer_slots, method_paths.len());
    let mut usages = PairIndex::new(consumer_slots, usage_codes);
    let keys = |calls: &mut PairIndex, usages: &mut PairIndex, row: usize| {
        let (method_path, usage_code) = keys_of_endpoint[log.endpoint[row] as usize]?;
        let consumer = slot(row);
        Some((
            calls.id(consumer, method_path) as usize,
            usages.id(consumer, usage_code) as usize,
        ))
    };
    // First pass: each (consumer, method, operation)'s gaps after answered calls (its polling
    // cycle) and after refused ones (mostly its retry delay), those also exactly (as many as the
    // refusals).
    let mut gaps: Vec<[GapHistogram; 2]> = Vec::new();
    let mut after_refusal: Vec<Vec<i64>> = Vec::new();
    let mut latest: Vec<Option<(i64, bool)>> = Vec::new();
    for row in 0..log.len() {
        let Some((call, usage)) = keys(&mut calls, &mut usages, row) else {
            continue;
        };
        if call == latest.len() {
            latest.push(None);
        }
        if usage == gaps.len() {
            gaps.push([GapHistogram([0; 256]), GapHistogram([0; 256])]);
            after_refusal.push(Vec::new());
        }
        let ts_us = log.ts_us[row];
        if let Some((ts, refused)) = latest[call].replace((ts_us, log.refused(row))) {
            gaps[usage][usize::from(refused)].add(ts_us - ts);
            if refused {
                after_refusal[usage].push(ts_us - ts);
            }
        }
    }
    drop(latest);
    // A retry comes after a refused request on its path, within the consumer's usual retry
    // delays — from the shortest delay of its most common one, up to the 95th percentile of the
    // gaps after a refusal — and sooner than half its cycle.
    let windows: Vec<(i64, i64)> = gaps
        .iter()
        .zip(&after_refusal)
        .map(|([after_answered, after_refused], exact)| {
            let until = after_answered
                .median_us(i64::MAX)
                .map_or(horizon_us, |m| ((m / 2.0) as i64).min(horizon_us));
            let from = usual_shortest_delay_us(exact, until).unwrap_or(0);
            let until = after_refused
                .usual_longest_us(0.95, until)
                .map_or(until, |longest| longest.min(until));
            (from, until)
        })
        .collect();
    drop((gaps, after_refusal));
    // Second pass: each path's refused requests still waiting for a retry ("open chains"); a
    // request in the window of the oldest is its retry, any other is a call of its own — so the
    // chains of two overlapping cycles on one path are told apart.
    let mut retries = vec![0u64; log.len().div_ceil(64)];
    let mut open: Vec<Vec<i64>> = vec![Vec::new(); calls.len()];
    for row in 0..log.len() {
        let Some((call, usage)) = keys(&mut calls, &mut usages, row) else {
            continue;
        };
        let ts_us = log.ts_us[row];
        let (from, until) = windows[usage];
        let waiting = &mut open[call];
        waiting.retain(|&t| ts_us - t < until);
        if let Some(i) = waiting.iter().position(|&t| ts_us - t >= from) {
            waiting.remove(i);
            retries[row / 64] |= 1 << (row % 64);
        }
        if log.refused(row) {
            waiting.push(ts_us);
        }
    }
    retries
}

/// The resolution at which a consumer's usual retry delay is told from other gaps: a sixteenth of
/// an octave (4.4 %), finer than the 19 % between a 0.4 s and a 0.5 s gap.
const FINE_PER_OCTAVE: f64 = 16.0;
/// The resolution its most common delay is found at: a quarter of an octave, wide enough for a
/// delay's jitter (a latency of 60–140 ms on a 1 s Retry-After) to fall in one or two.
const COARSE_PER_OCTAVE: f64 = 4.0;

/// The shortest delay a consumer's retries keep, from the `gaps` after its refused requests (µs;
/// those shorter than `below_us` count).
///
/// Its most common delay is the busiest quarter-octave of those gaps (the shortest among equals:
/// exponential back-off waits 1 s once for each 2 s); within it, the busiest sixteenth of an octave
/// is where the run starts, and it reaches down through every sixteenth holding at least an eighth
/// of that one's count, across as many sparser sixteenths in a row as chance leaves empty among
/// the run's gaps (a handful of jittered retries spread thin; hundreds at one delay do not). The
/// run's lower edge, less an eighth of an octave ([`EARLY_MARGIN`]), is the floor.
///
/// A retry delay is a client's constant (0.5 s, Retry-After plus jitter); what else follows a
/// refusal on its path is another call of the same kind, which comes when its schedule says. A
/// job that writes a port every 2.4 s and retries every 0.5 s, four times, writes it again 0.4 s
/// after its last retry: sixteenths of their own, four empty ones below the retries', and not
/// taken for them.
fn usual_shortest_delay_us(gaps: &[i64], below_us: i64) -> Option<i64> {
    let bucket = |gap: i64, per_octave: f64| ((gap.max(1) as f64).log2() * per_octave) as usize;
    let (mut fine, mut coarse) = (vec![0u32; 64 * 16 + 1], vec![0u32; 64 * 4 + 1]);
    for &gap in gaps.iter().filter(|&&gap| gap < below_us) {
        fine[bucket(gap, FINE_PER_OCTAVE)] += 1;
        coarse[bucket(gap, COARSE_PER_OCTAVE)] += 1;
    }
    let busiest = |counts: &[u32], within: std::ops::Range<usize>| {
        counts[within.clone()]
            .iter()
            .enumerate()
            .max_by_key(|(i, n)| (**n, usize::MAX - i))
            .filter(|(_, n)| **n > 0)
            .map(|(i, &n)| (within.start + i, n))
    };
    let (most_common, _) = busiest(&coarse, 0..coarse.len())?;
    let per_coarse = (FINE_PER_OCTAVE / COARSE_PER_OCTAVE) as usize;
    let start = most_common * per_coarse;
    let (peak, most) = busiest(&fine, start..(start + per_coarse).min(fine.len()))?;
    let busy = |i: usize| fine[i] * 8 >= most;
    let (mut low, mut gaps_in_run) = (peak, u64::from(most));
    while let Some(next) = (0..low).rev().find(|&i| busy(i)) {
        // Empty sixteenths a run this dense leaves by chance: fewer than ln(100) ≈ 4.6 times the
        // sixteenths it spans per gap (a 1 % chance for a run of as many more).
        let spanned = (peak - low + 1) as f64;
        let by_chance = (4.6 * spanned / gaps_in_run as f64).ceil().max(1.0) as usize;
        if low - next - 1 > by_chance {
            break;
        }
        gaps_in_run += fine[next..low].iter().map(|&n| u64::from(n)).sum::<u64>();
        low = next;
    }
    Some(2f64.powf(low.saturating_sub(EARLY_MARGIN) as f64 / FINE_PER_OCTAVE) as i64)
}

/// Sixteenths of an octave below the run's lower edge a retry may still come (9 %): a delay a
/// little shorter than any seen (a faster answer), and still well above a 0.4 s gap below 0.5 s
/// retries.
const EARLY_MARGIN: usize = 2;

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

    #[test]
    fn a_gap_lands_in_the_bucket_its_logarithm_says() {
        let buckets = GapBuckets::new();
        let check = |gap: i64| {
            assert_eq!(buckets.of(gap), GapBuckets::by_logarithm(gap), "gap {gap}");
        };
        (1..200_000).for_each(check);
        for first in buckets.first.iter().flatten() {
            for gap in [*first - 1, *first, *first + 1] {
                if gap >= 1 {
                    check(gap);
                }
            }
        }
        for k in 0..63 {
            let power = 1i64 << k;
            for gap in [power - 1, power, power + 1, power.saturating_mul(2) - 1] {
                if gap >= 1 {
                    check(gap);
                }
            }
        }
        check(i64::MAX);
        assert_eq!(GapHistogram::bucket(0), 0);
        assert_eq!(GapHistogram::bucket(-5), 0);
    }

    proptest::proptest! {
        #[test]
        fn any_gap_lands_in_the_bucket_its_logarithm_says(gap in 1i64..i64::MAX) {
            proptest::prop_assert_eq!(GapHistogram::bucket(gap), GapBuckets::by_logarithm(gap));
        }
    }
    use crate::fixtures::{self, request};

    /// (µs, response code, user agent, method, path)
    fn request_log(rows: &[(i64, u16, &str, &str, &str)]) -> RequestColumns {
        fixtures::log(rows.iter().map(|&(ts_us, code, agent, method, path)| {
            request(ts_us)
                .status(code)
                .method(method)
                .path(path)
                .user_agent(agent)
        }))
    }

    const S: i64 = 1_000_000;

    #[test]
    fn a_request_after_a_refusal_of_the_same_call_is_its_retry() {
        let port = "/api/v1/devices/Q2XX-1/switch/ports/1";
        let other = "/api/v1/devices/Q2XX-2/switch/ports/1";
        let log = request_log(&[
            (100 * S, 429, "A", "PUT", port),
            (100 * S + S / 2, 429, "A", "PUT", port), // retry
            (101 * S, 200, "A", "PUT", port),         // retry
            (102 * S, 429, "B", "PUT", port),         // another consumer
            (103 * S, 200, "A", "GET", port),         // another method: a call of its own
            // Refused, then the same path only after the 5-minute horizon: a new call.
            (110 * S, 429, "A", "PUT", other),
            (411 * S, 200, "A", "PUT", other),
        ]);
        let resolved = resolve_columns(&log, OperationCatalog::meraki_v1());
        let retries: Vec<bool> = resolved.requests().map(|r| r.retry).collect();
        assert_eq!(retries, [false, true, true, false, false, false, false]);
        assert_eq!(
            resolved.resource(&resolved.request(0)),
            Some("/devices/Q2XX-1/switch/ports/1")
        );
    }

    #[test]
    fn a_poller_reading_a_refused_path_again_next_cycle_is_not_retrying_it() {
        let lldp = "/api/v1/devices/Q2XX-1/lldpCdp";
        let log = request_log(&[
            (0, 200, "P", "GET", lldp),
            (10 * S, 429, "P", "GET", lldp),
            (11 * S, 200, "P", "GET", lldp), // its retry, 1 s later
            (20 * S, 429, "P", "GET", lldp), // given up
            (30 * S, 200, "P", "GET", lldp), // the next cycle: a call of its own
            (40 * S, 200, "P", "GET", lldp),
        ]);
        let resolved = resolve_columns(&log, OperationCatalog::meraki_v1());
        let retries: Vec<bool> = resolved.requests().map(|r| r.retry).collect();
        assert_eq!(retries, [false, false, true, false, false, false]);
    }

    #[test]
    fn a_write_to_a_path_soon_after_its_last_retry_gave_up_is_a_write_of_its_own() {
        // A port written every 2.4 s, each refused write retried every 0.5 s, four times: the
        // next write comes 0.4 s after the last retry. Three writes, 15 requests.
        let port = "/api/v1/devices/Q2XX-1/switch/ports/1";
        let rows: Vec<(i64, u16, &str, &str, &str)> = (0..3i64)
            .flat_map(|write| (0..5i64).map(move |attempt| write * 2_400 + attempt * 500))
            .map(|ms| (ms * 1_000, 429, "B", "PUT", port))
            .collect();
        let log = request_log(&rows);
        let resolved = resolve_columns(&log, OperationCatalog::meraki_v1());
        let retries: Vec<bool> = resolved.requests().map(|r| r.retry).collect();
        let first_attempts: Vec<usize> = (0..retries.len()).filter(|&i| !retries[i]).collect();
        assert_eq!(first_attempts, [0, 5, 10]);
    }

    #[test]
    fn the_usual_shortest_delay_is_the_floor_of_the_most_common_one() {
        const MS: i64 = 1_000;
        let floor = |gaps: &[i64]| usual_shortest_delay_us(gaps, 5_000 * MS);
        // Retries at 0.5 s (and a little later), new calls 0.34–0.4 s after the last retry: the
        // floor lies between them.
        let mut gaps = vec![500 * MS, 505 * MS, 512 * MS, 500 * MS, 501 * MS, 503 * MS];
        gaps.extend([400 * MS, 340 * MS, 380 * MS]);
        let shortest = floor(&gaps).unwrap();
        assert!((400 * MS..470 * MS).contains(&shortest), "{shortest}");
        // Exponential back-off, 1 s first: the floor is just below the first delay.
        let shortest =
            floor(&[1_000 * MS, 1_000 * MS, 2_000 * MS, 4_000 * MS, 1_010 * MS]).unwrap();
        assert!((850 * MS..1_000 * MS).contains(&shortest), "{shortest}");
        // Retry-After plus up to a second of jitter, a few retries: the run spans them all.
        let jittered = [
            1_050, 1_130, 1_210, 1_300, 1_420, 1_560, 1_700, 1_880, 2_010,
        ];
        let shortest = floor(&jittered.map(|ms| ms * MS)).unwrap();
        assert!(shortest < 1_050 * MS, "{shortest}");
        // Nothing below the cycle's half: no floor.
        assert_eq!(floor(&[9_000 * MS]), None);
    }

    #[test]
    fn an_org_scoped_device_lookup_addresses_the_device() {
        let log = request_log(&[(
            0,
            200,
            "A",
            "GET",
            "/api/v1/organizations/9/inventory/devices/Q2XX-7",
        )]);
        let resolved = resolve_columns(&log, OperationCatalog::meraki_v1());
        let r = &resolved.request(0);
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
