//! A second, small Meraki-like request log of our own, independent of `crates/sim`: written from
//! the API's documented shapes alone (`shared/spec/meraki-api.md`: the per-request record, the
//! organization's token bucket of 10 requests/s plus a burst of 10, `429` with `Retry-After` of a
//! second), with client behaviours the simulator does not have — open-loop schedules that keep
//! sending while their earlier calls are refused, writes that come back to a few paths again and
//! again, daily jobs on both sides of a date line, cron jobs firing at the same millisecond,
//! per-network calls with and without query parameters, consumers sharing networks.
//!
//! It writes the log as JSONL in the record shape `callbudget import --format jsonl` reads, and
//! keeps its own ground truth: every call each consumer meant to make (not its retries), by
//! operation and by date, and the networks each one's calls name. Seeded: the same seed, the same
//! bytes.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// How the organization's budget answers: 10 requests/s, and a burst of 10 more — refilled a whole
/// token at each tenth of a second, as a timer-driven server may do it (callbudget's replay refills
/// continuously: the two disagree about a few requests, as a real server and any model will).
const TOKEN_EVERY_MS: i64 = 100;
/// …its timer's phase within a tenth of a second.
const TIMER_PHASE_MS: i64 = 37;
const CAPACITY: i64 = 20;
/// The least `Retry-After` the API sends, in ms.
const RETRY_AFTER_MS: i64 = 1_000;

/// What a client does with a `429`.
#[derive(Debug, Clone, Copy)]
pub enum OnRefusal {
    /// Sends the call again `delay_ms` (plus up to `spread_ms`) after the refused one was sent,
    /// never reading Retry-After, at most `retries` times.
    Every {
        delay_ms: i64,
        spread_ms: i64,
        retries: u32,
    },
    /// Waits Retry-After from the answer, plus up to `jitter_ms`, at most `retries` times.
    HonoursRetryAfter { jitter_ms: i64, retries: u32 },
}

/// One API consumer: who it says it is and how it reacts to refusals.
#[derive(Debug, Clone)]
pub struct Client {
    /// The `Caller/(…)` application, which the analysis names consumers by.
    pub application: &'static str,
    pub user_agent: String,
    pub admin_id: &'static str,
    pub source_ip: &'static str,
    pub key_id: &'static str,
    /// Whether its records carry an `operationId` (records of some clients do not).
    pub sends_operation_id: bool,
    pub on_429: OnRefusal,
    /// The answer's delay, ms: what a client honouring Retry-After counts from.
    pub latency_ms: (i64, i64),
}

impl Client {
    /// An SDK application (`python-meraki/4.7.0 Caller/(…)`) that honours Retry-After.
    pub fn sdk(application: &'static str, admin_id: &'static str, ip: &'static str) -> Client {
        Client {
            application,
            user_agent: format!("python-meraki/4.7.0 Caller/({application})"),
            admin_id,
            source_ip: ip,
            key_id: admin_id,
            sends_operation_id: true,
            on_429: OnRefusal::HonoursRetryAfter {
                jitter_ms: 500,
                retries: 5,
            },
            latency_ms: (40, 120),
        }
    }

    /// A home-made script: its user agent is the application, no operationId in its records.
    pub fn script(application: &'static str, admin_id: &'static str, ip: &'static str) -> Client {
        Client {
            user_agent: application.to_owned(),
            sends_operation_id: false,
            ..Client::sdk(application, admin_id, ip)
        }
    }
}

/// One call a client means to make.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation_id: &'static str,
    pub method: &'static str,
    /// Below `/api/v1`.
    pub path: String,
    pub query: String,
}

impl Call {
    pub fn get(operation_id: &'static str, path: String) -> Call {
        Call {
            operation_id,
            method: "GET",
            path,
            query: String::new(),
        }
    }

    pub fn with_query(mut self, query: String) -> Call {
        self.query = query;
        self
    }

    /// The network the call names in its path, if any.
    fn network(&self) -> Option<&str> {
        let mut segments = self.path.split('/').skip_while(|s| *s != "networks");
        segments.next()?;
        segments.next()
    }
}

/// What the generator knows of what each client meant to do.
#[derive(Debug, Clone, Default)]
pub struct ConsumerTruth {
    /// Calls meant, by operation (retries are not calls of their own).
    pub intended: BTreeMap<&'static str, u64>,
    /// Calls meant, by operation and UTC date.
    pub intended_by_date: BTreeMap<(&'static str, NaiveDate), u64>,
    /// The networks its own calls name in their paths.
    pub networks: BTreeSet<String>,
    pub requests: u64,
    pub refused: u64,
    pub ignores_retry_after: bool,
}

/// The generated log's truth, by application.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub consumers: BTreeMap<&'static str, ConsumerTruth>,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub ts_ms: i64,
    pub client: usize,
    pub call: usize,
    pub response_code: u16,
}

/// An organization's clients and their planned calls, played through the budget.
pub struct Generator {
    pub org_id: &'static str,
    rng: ChaCha8Rng,
    clients: Vec<Client>,
    calls: Vec<(usize, Call)>,
    /// (when, sequence) → (call, attempt): every request still to be sent, first first.
    pending: BinaryHeap<Reverse<(i64, u64, usize, u32)>>,
    sequence: u64,
}

impl Generator {
    pub fn new(org_id: &'static str, seed: u64) -> Generator {
        Generator {
            org_id,
            rng: ChaCha8Rng::seed_from_u64(seed),
            clients: Vec::new(),
            calls: Vec::new(),
            pending: BinaryHeap::new(),
            sequence: 0,
        }
    }

    pub fn client(&mut self, client: Client) -> usize {
        self.clients.push(client);
        self.clients.len() - 1
    }

    /// `client` means to make `call` at `at` (ms precision: clock ticks collide).
    pub fn plan(&mut self, client: usize, at: DateTime<Utc>, call: Call) {
        self.calls.push((client, call));
        self.push(at.timestamp_millis(), self.calls.len() - 1, 0);
    }

    /// Open-loop: the calls of each cycle, one every `spacing`, from `first` every `every` until
    /// `end`, whether or not the earlier ones were answered.
    pub fn every(
        &mut self,
        client: usize,
        first: DateTime<Utc>,
        end: DateTime<Utc>,
        every: TimeDelta,
        spacing: TimeDelta,
        cycle: impl Fn() -> Vec<Call>,
    ) {
        let mut start = first;
        while start < end {
            for (i, call) in cycle().into_iter().enumerate() {
                self.plan(client, start + spacing * i as i32, call);
            }
            start += every;
        }
    }

    fn push(&mut self, at_ms: i64, call: usize, attempt: u32) {
        self.sequence += 1;
        self.pending
            .push(Reverse((at_ms, self.sequence, call, attempt)));
    }

    /// Plays every planned call through the budget, in time order, retries included.
    pub fn run(mut self) -> Log {
        let mut tokens = CAPACITY;
        let mut last_tick: Option<i64> = None;
        let mut records = Vec::new();
        let mut truth = Truth::default();
        for c in &self.clients {
            truth
                .consumers
                .entry(c.application)
                .or_default()
                .ignores_retry_after = matches!(c.on_429, OnRefusal::Every { .. });
        }
        while let Some(Reverse((at_ms, _, call, attempt))) = self.pending.pop() {
            let tick = (at_ms - TIMER_PHASE_MS).div_euclid(TOKEN_EVERY_MS);
            if let Some(last) = last_tick {
                tokens = (tokens + (tick - last)).min(CAPACITY);
            }
            last_tick = Some(tick);
            let admitted = tokens >= 1;
            if admitted {
                tokens -= 1;
            }
            let (client_index, planned) = &self.calls[call];
            let client = &self.clients[*client_index];
            let consumer = truth.consumers.entry(client.application).or_default();
            consumer.requests += 1;
            if attempt == 0 {
                *consumer.intended.entry(planned.operation_id).or_default() += 1;
                let date = chrono::DateTime::from_timestamp_millis(at_ms)
                    .expect("a time the calendar holds")
                    .date_naive();
                *consumer
                    .intended_by_date
                    .entry((planned.operation_id, date))
                    .or_default() += 1;
                consumer
                    .networks
                    .extend(planned.network().map(str::to_owned));
            }
            let response_code = match (admitted, planned.method) {
                (false, _) => 429,
                (true, "POST") => 201,
                (true, _) => 200,
            };
            records.push(Record {
                ts_ms: at_ms,
                client: *client_index,
                call,
                response_code,
            });
            if admitted {
                continue;
            }
            consumer.refused += 1;
            let latency = self
                .rng
                .random_range(client.latency_ms.0..=client.latency_ms.1);
            let (retry_at, retries) = match client.on_429 {
                OnRefusal::Every {
                    delay_ms,
                    spread_ms,
                    retries,
                } => (
                    at_ms + delay_ms + self.rng.random_range(0..=spread_ms),
                    retries,
                ),
                OnRefusal::HonoursRetryAfter { jitter_ms, retries } => (
                    at_ms + latency + RETRY_AFTER_MS + self.rng.random_range(0..=jitter_ms),
                    retries,
                ),
            };
            if attempt < retries {
                self.push(retry_at, call, attempt + 1);
            }
        }
        Log {
            org_id: self.org_id,
            clients: self.clients,
            calls: self.calls.into_iter().map(|(_, call)| call).collect(),
            records,
            truth,
        }
    }
}

/// A generated log and its truth.
pub struct Log {
    pub org_id: &'static str,
    pub clients: Vec<Client>,
    pub calls: Vec<Call>,
    /// In the order the budget answered them (time order).
    pub records: Vec<Record>,
    pub truth: Truth,
}

impl Log {
    /// One record as the API lists it (getOrganizationApiRequests), one JSON object.
    pub fn record_json(&self, record: &Record) -> String {
        let client = &self.clients[record.client];
        let call = &self.calls[record.call];
        let ts = chrono::DateTime::from_timestamp_millis(record.ts_ms)
            .expect("a time the calendar holds")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let mut json = serde_json::json!({
            "adminId": client.admin_id,
            "method": call.method,
            "host": "api.meraki.com",
            "path": format!("/api/v1{}", call.path),
            "queryString": call.query,
            "userAgent": client.user_agent,
            "ts": ts,
            "responseCode": record.response_code,
            "sourceIp": client.source_ip,
            "version": 1,
            "client": {"id": format!("k_{}", client.key_id), "type": "api_key"},
        });
        if client.sends_operation_id {
            json["operationId"] = serde_json::json!(call.operation_id);
        }
        json.to_string()
    }

    /// The log as JSONL, its records in `order` (indices into [`Log::records`]).
    pub fn jsonl(&self, order: impl IntoIterator<Item = usize>) -> String {
        let mut out = String::new();
        for i in order {
            out.push_str(&self.record_json(&self.records[i]));
            out.push('\n');
        }
        out
    }

    /// Every record's index, shuffled by `seed`.
    pub fn shuffled(&self, seed: u64) -> Vec<usize> {
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..self.records.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        order
    }

    /// Requests sent at a millisecond another request was sent at too.
    pub fn shared_timestamps(&self) -> usize {
        let mut by_ms: BTreeMap<i64, usize> = BTreeMap::new();
        for r in &self.records {
            *by_ms.entry(r.ts_ms).or_default() += 1;
        }
        by_ms.values().filter(|&&n| n > 1).sum()
    }
}
