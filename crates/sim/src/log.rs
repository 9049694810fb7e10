//! The simulator's request log, held compactly: each entry is a timestamp, a response code and two
//! ids into tables of distinct *sources* (admin, user agent, IP, client) and *endpoints* (method,
//! path, operation). A week of a busy org fits in a few tens of MB, and filters are decided once
//! per source/endpoint rather than per record.

use super::engine::{GeneratedRequest, PlannedCall};
use super::scenario::{Scenario, TargetKind};
use callbudget_api::{API_PATH_PREFIX, Operation, OperationCatalog};
use callbudget_api::{ApiClient, RequestRecord};
use std::collections::HashMap;
use std::hash::Hash;

/// The host every simulated record names, as the real service logs its own.
pub const API_HOST: &str = "api.meraki.com";

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub admin_id: String,
    pub user_agent: String,
    pub source_ip: String,
    pub client_id: String,
    pub client_type: String,
}

/// What a request called.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
    pub query_string: String,
    pub operation_id: Option<String>,
}

/// One logged request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry {
    pub ts_us: i64,
    pub source: u32,
    pub endpoint: u32,
    pub response_code: u16,
}

/// A table of distinct values, each with a stable id in order of first appearance.
#[derive(Debug)]
pub struct Interner<T> {
    values: Vec<T>,
    ids: HashMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            ids: HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + Hash> Interner<T> {
    pub fn intern(&mut self, value: T) -> u32 {
        if let Some(&id) = self.ids.get(&value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.ids.insert(value, id);
        id
    }

    pub fn get(&self, id: u32) -> &T {
        &self.values[id as usize]
    }

    pub fn values(&self) -> &[T] {
        &self.values
    }
}

/// One organization's log, in time order.
#[derive(Debug)]
pub struct OrgLog {
    pub org_id: String,
    pub entries: Vec<LogEntry>,
}

/// Every organization's request log.
#[derive(Debug, Default)]
pub struct RequestLog {
    pub sources: Interner<Source>,
    pub endpoints: Interner<Endpoint>,
    pub orgs: Vec<OrgLog>,
}

/// Builds concrete paths and sources for the engine's planned calls.
pub struct PathBuilder<'a> {
    scenarios: &'a [Scenario],
    catalog: &'static OperationCatalog,
}

impl<'a> PathBuilder<'a> {
    pub fn new(scenarios: &'a [Scenario]) -> Self {
        PathBuilder {
            scenarios,
            catalog: OperationCatalog::meraki_v1(),
        }
    }

    pub fn operation(&self, call: &PlannedCall) -> &'static Operation {
        &self.catalog.all()[call.operation]
    }

    /// The request path, `/api/v1/...` with every parameter filled in.
    pub fn path(&self, org: usize, call: &PlannedCall) -> String {
        let scenario = &self.scenarios[org];
        let op = self.operation(call);
        let mut path = String::with_capacity(API_PATH_PREFIX.len() + op.path.len() + 16);
        path.push_str(API_PATH_PREFIX);
        for segment in op.path.split('/').filter(|s| !s.is_empty()) {
            path.push('/');
            match segment {
                "{serial}" if call.target_kind == TargetKind::Device => {
                    path.push_str(&scenario.devices[call.target as usize].serial)
                }
                "{networkId}" => {
                    let network = match call.target_kind {
                        TargetKind::Device => scenario.devices[call.target as usize].network,
                        TargetKind::Network => call.target as usize,
                        TargetKind::Organization => 0,
                    };
                    path.push_str(&scenario.networks[network]);
                }
                "{organizationId}" => path.push_str(&scenario.org_id),
                s if s.starts_with('{') => path.push_str(&call.sub_id.to_string()),
                s => path.push_str(s),
            }
        }
        path
    }

    pub fn source(&self, org: usize, consumer: usize) -> Source {
        let c = &self.scenarios[org].consumers[consumer];
        Source {
            admin_id: c.admin_id.clone(),
            user_agent: c.user_agent.clone(),
            source_ip: c.source_ip.clone(),
            client_id: c.client_id.clone(),
            client_type: c.client_type.clone(),
        }
    }

    pub fn endpoint(&self, request: &GeneratedRequest) -> Endpoint {
        let op = self.operation(&request.call);
        let consumer = &self.scenarios[request.org].consumers[request.consumer];
        Endpoint {
            method: op.method.clone(),
            path: self.path(request.org, &request.call),
            query_string: consumer.query_string.clone(),
            operation_id: consumer.send_operation_id.then(|| op.operation_id.clone()),
        }
    }
}

impl RequestLog {
    /// Runs the scenarios' traffic and keeps the resulting log.
    pub fn generate(scenarios: &[Scenario], end: chrono::DateTime<chrono::Utc>) -> RequestLog {
        let builder = PathBuilder::new(scenarios);
        let mut log = RequestLog {
            orgs: scenarios
                .iter()
                .map(|s| OrgLog {
                    org_id: s.org_id.clone(),
                    entries: Vec::new(),
                })
                .collect(),
            ..RequestLog::default()
        };
        let mut source_ids: HashMap<(usize, usize), u32> = HashMap::new();
        let mut endpoint_ids: HashMap<(usize, usize, PlannedCall), u32> = HashMap::new();
        super::engine::run(scenarios, end, |r| {
            let source = *source_ids
                .entry((r.org, r.consumer))
                .or_insert_with(|| log.sources.intern(builder.source(r.org, r.consumer)));
            let endpoint = *endpoint_ids
                .entry((r.org, r.consumer, r.call))
                .or_insert_with(|| log.endpoints.intern(builder.endpoint(r)));
            log.orgs[r.org].entries.push(LogEntry {
                ts_us: r.ts_us,
                source,
                endpoint,
                response_code: r.response_code,
            });
        });
        log
    }

    pub fn org_index(&self, org_id: &str) -> Option<usize> {
        self.orgs.iter().position(|o| o.org_id == org_id)
    }

    /// Appends a request that happened now (the simulator's own served calls). Entries stay in time
    /// order because the caller's clock is monotonic and starts at the end of the generated log.
    pub fn append(
        &mut self,
        org: usize,
        ts_us: i64,
        source: Source,
        endpoint: Endpoint,
        response_code: u16,
    ) {
        let source = self.sources.intern(source);
        let endpoint = self.endpoints.intern(endpoint);
        let entries = &mut self.orgs[org].entries;
        let ts_us = entries.last().map_or(ts_us, |last| ts_us.max(last.ts_us));
        entries.push(LogEntry {
            ts_us,
            source,
            endpoint,
            response_code,
        });
    }

    /// The API record of an entry, borrowing its strings from the log.
    pub fn record(&self, entry: &LogEntry) -> RequestRecord<&str> {
        let s = self.sources.get(entry.source);
        let e = self.endpoints.get(entry.endpoint);
        RequestRecord {
            admin_id: Some(&s.admin_id),
            method: Some(&e.method),
            host: Some(API_HOST),
            path: Some(&e.path),
            query_string: Some(&e.query_string),
            user_agent: Some(&s.user_agent),
            ts: callbudget_api::timestamp::from_micros(entry.ts_us),
            response_code: Some(entry.response_code),
            source_ip: Some(&s.source_ip),
            version: Some(1),
            operation_id: e.operation_id.as_deref(),
            client: Some(ApiClient {
                id: Some(&s.client_id),
                kind: Some(&s.client_type),
            }),
        }
    }

    /// Index range of an org's entries with `t0 <= ts < t1`.
    pub fn range(&self, org: usize, t0_us: i64, t1_us: i64) -> std::ops::Range<usize> {
        let entries = &self.orgs[org].entries;
        let start = entries.partition_point(|e| e.ts_us < t0_us);
        let end = entries.partition_point(|e| e.ts_us < t1_us);
        start..end.max(start)
    }

    /// Which sources and endpoints pass a filter, decided once per distinct value.
    pub fn compile(&self, filter: &RecordFilter) -> CompiledFilter {
        CompiledFilter {
            sources: self
                .sources
                .values()
                .iter()
                .map(|s| filter.source_matches(s))
                .collect(),
            endpoints: self
                .endpoints
                .values()
                .iter()
                .map(|e| filter.endpoint_matches(e))
                .collect(),
            response_code: filter.response_code,
        }
    }
}

/// The request-log filters the API offers. `None` / empty means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordFilter {
    pub admin_ids: Vec<String>,
    pub source_ips: Vec<String>,
    pub user_agent: Option<String>,
    /// byInterval matches the user agent partially, apiRequests exactly.
    pub user_agent_partial: bool,
    pub path: Option<String>,
    pub method: Option<String>,
    pub response_code: Option<u16>,
    pub version: Option<u8>,
    pub operation_ids: Vec<String>,
}

impl RecordFilter {
    fn source_matches(&self, s: &Source) -> bool {
        (self.admin_ids.is_empty() || self.admin_ids.contains(&s.admin_id))
            && (self.source_ips.is_empty() || self.source_ips.contains(&s.source_ip))
            && match &self.user_agent {
                None => true,
                Some(ua) if self.user_agent_partial => s.user_agent.contains(ua.as_str()),
                Some(ua) => s.user_agent == *ua,
            }
    }

    fn endpoint_matches(&self, e: &Endpoint) -> bool {
        // Every simulated request is API version 1.
        self.version.is_none_or(|v| v == 1)
            && self.path.as_ref().is_none_or(|p| {
                *p == e.path || e.path.strip_prefix(API_PATH_PREFIX) == Some(p.as_str())
            })
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
            && (self.operation_ids.is_empty()
                || e.operation_id
                    .as_ref()
                    .is_some_and(|op| self.operation_ids.contains(op)))
    }
}

/// A [`RecordFilter`] resolved against a log's source and endpoint tables.
#[derive(Debug)]
pub struct CompiledFilter {
    sources: Vec<bool>,
    endpoints: Vec<bool>,
    response_code: Option<u16>,
}

impl CompiledFilter {
    pub fn matches(&self, e: &LogEntry) -> bool {
        self.sources
            .get(e.source as usize)
            .copied()
            .unwrap_or(false)
            && self
                .endpoints
                .get(e.endpoint as usize)
                .copied()
                .unwrap_or(false)
            && self.response_code.is_none_or(|c| c == e.response_code)
    }
}
