//! The traffic engine: plays every consumer's traffic through its organization's token bucket and
//! its source IP's bucket, in time order, so that 429s come from the traffic itself and from how
//! each consumer reacts to them (waiting or not for Retry-After, backing off or not, with jitter or
//! not).
//!
//! Consumers behave like synchronous scripts: each of a job's `concurrency` workers sends its next
//! call only after the previous response arrived. Events are processed in (time, sequence) order
//! with one seeded RNG per consumer, so the same scenarios, seed and end time give the same log.
//! Records come out in time order, so a month of traffic can be streamed without holding it.

use super::scenario::{Backoff, ConsumerSpec, OperationRef, Scenario, TargetKind, TrafficPattern};
use callbudget_api::OperationCatalog;
use callbudget_api::budget::{TokenBucket, retry_after_seconds};
use callbudget_api::timestamp::MICROS_PER_SECOND;
use chrono::{DateTime, Datelike, Duration as TimeDelta, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

/// One request as the engine produced it; [`super::log`] turns it into an API record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedRequest {
    /// Index of the scenario (organization).
    pub org: usize,
    /// Index of the consumer within its scenario.
    pub consumer: usize,
    pub ts_us: i64,
    pub call: PlannedCall,
    pub response_code: u16,
}

/// A call a consumer intends to make: an operation and what fills its path parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlannedCall {
    /// Index into the operation catalog.
    pub operation: usize,
    pub target_kind: TargetKind,
    /// Index of the device or network (0 for the organization).
    pub target: u32,
    /// Fills any further path parameter (`{portId}`, `{vlanId}`, ...).
    pub sub_id: u16,
}

/// The successful response code a method gets.
pub fn success_code(method: &str) -> u16 {
    match method {
        "POST" => 201,
        "DELETE" => 204,
        _ => 200,
    }
}

#[derive(Debug)]
enum Action {
    /// A traffic pattern fires: start a job and schedule its next occurrence.
    Occur { consumer: usize, pattern: usize },
    /// A worker of `job` sends call `call` (attempt 0 is the first try).
    Send {
        job: usize,
        call: usize,
        attempt: u32,
    },
}

#[derive(Debug)]
struct Event {
    t_us: i64,
    seq: u64,
    action: Action,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.t_us, self.seq) == (other.t_us, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.t_us, other.seq).cmp(&(self.t_us, self.seq))
    }
}

struct Job {
    consumer: usize,
    calls: Vec<PlannedCall>,
    next: usize,
    workers: u32,
}

struct ConsumerState<'a> {
    org: usize,
    index: usize,
    spec: &'a ConsumerSpec,
    rng: ChaCha8Rng,
    ip_bucket: usize,
}

/// Runs the scenarios' traffic over each scenario's `days` ending at `end`, calling `sink` with
/// every request in time order.
pub fn run(scenarios: &[Scenario], end: DateTime<Utc>, mut sink: impl FnMut(&GeneratedRequest)) {
    let end_us = end.timestamp_micros();
    let mut org_buckets = Vec::new();
    let mut ip_index: HashMap<&str, usize> = HashMap::new();
    let mut ip_buckets: Vec<TokenBucket> = Vec::new();
    let mut consumers = Vec::new();
    for (org, s) in scenarios.iter().enumerate() {
        let start_us = end_us - i64::from(s.days) * 86_400 * MICROS_PER_SECOND;
        org_buckets.push(TokenBucket::new(s.org_budget, start_us));
        for (index, spec) in s.consumers.iter().enumerate() {
            let ip_bucket = *ip_index.entry(spec.source_ip.as_str()).or_insert_with(|| {
                ip_buckets.push(TokenBucket::new(s.source_ip_budget, start_us));
                ip_buckets.len() - 1
            });
            // Seeds are spread per org and consumer so adding a consumer leaves the others' traffic alone.
            let seed = s
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((org as u64) << 32 | index as u64);
            consumers.push(ConsumerState {
                org,
                index,
                spec,
                rng: ChaCha8Rng::seed_from_u64(seed),
                ip_bucket,
            });
        }
    }

    let mut engine = Engine {
        end_us,
        heap: BinaryHeap::new(),
        seq: 0,
        jobs: Vec::new(),
        free_jobs: Vec::new(),
    };

    for (c, state) in consumers.iter_mut().enumerate() {
        let start_us = end_us - i64::from(scenarios[state.org].days) * 86_400 * MICROS_PER_SECOND;
        for (p, pattern) in state.spec.traffic.iter().enumerate() {
            if let Some(t) = first_occurrence(pattern, start_us, &mut state.rng) {
                engine.schedule(
                    t,
                    Action::Occur {
                        consumer: c,
                        pattern: p,
                    },
                );
            }
        }
    }

    while let Some(event) = engine.heap.pop() {
        if event.t_us >= end_us {
            // Events come out in time order: nothing later belongs to the timeline.
            break;
        }
        match event.action {
            Action::Occur { consumer, pattern } => {
                let state = &mut consumers[consumer];
                let scenario = &scenarios[state.org];
                let spec = &state.spec.traffic[pattern];
                let (calls, concurrency) = plan_job(spec, scenario, &mut state.rng);
                let next = next_occurrence(spec, event.t_us, &mut state.rng);
                engine.schedule(next, Action::Occur { consumer, pattern });
                engine.start_job(event.t_us, consumer, calls, concurrency, &mut state.rng);
            }
            Action::Send { job, call, attempt } => {
                let consumer = engine.jobs[job].as_ref().map(|j| j.consumer).unwrap_or(0);
                let state = &mut consumers[consumer];
                let planned = match engine.jobs[job].as_ref() {
                    Some(j) => j.calls[call],
                    None => continue,
                };
                let t = event.t_us;
                let admission = TokenBucket::take_all(
                    &mut [
                        &mut org_buckets[state.org],
                        &mut ip_buckets[state.ip_bucket],
                    ],
                    t,
                );
                let (response_code, wait) = match admission {
                    Ok(()) => {
                        let method = &OperationCatalog::meraki_v1().all()[planned.operation].method;
                        (success_code(method), Duration::ZERO)
                    }
                    Err(wait) => (429, wait),
                };
                sink(&GeneratedRequest {
                    org: state.org,
                    consumer: state.index,
                    ts_us: t,
                    call: planned,
                    response_code,
                });
                let (lo, hi) = state.spec.latency;
                let latency_us = state
                    .rng
                    .random_range(lo.as_micros() as i64..=hi.as_micros() as i64);
                let responded = t + latency_us;
                let policy = state.spec.on_429;
                if response_code == 429 && attempt < policy.max_retries {
                    let delay = retry_delay(
                        state.spec,
                        attempt,
                        retry_after_seconds(wait),
                        &mut state.rng,
                    );
                    engine.schedule(
                        responded + delay.as_micros() as i64,
                        Action::Send {
                            job,
                            call,
                            attempt: attempt + 1,
                        },
                    );
                } else {
                    engine.next_call(job, responded);
                }
            }
        }
    }
}

struct Engine {
    end_us: i64,
    heap: BinaryHeap<Event>,
    seq: u64,
    jobs: Vec<Option<Job>>,
    free_jobs: Vec<usize>,
}

impl Engine {
    fn schedule(&mut self, t_us: i64, action: Action) {
        if t_us < self.end_us {
            self.seq += 1;
            self.heap.push(Event {
                t_us,
                seq: self.seq,
                action,
            });
        }
    }

    fn start_job(
        &mut self,
        t_us: i64,
        consumer: usize,
        calls: Vec<PlannedCall>,
        concurrency: u32,
        rng: &mut ChaCha8Rng,
    ) {
        if calls.is_empty() {
            return;
        }
        let workers = concurrency.min(calls.len() as u32);
        let job = Job {
            consumer,
            calls,
            next: workers as usize,
            workers,
        };
        let id = match self.free_jobs.pop() {
            Some(id) => {
                self.jobs[id] = Some(job);
                id
            }
            None => {
                self.jobs.push(Some(job));
                self.jobs.len() - 1
            }
        };
        for w in 0..workers as usize {
            // Threads of one script start within a few milliseconds of each other.
            let stagger = if w == 0 {
                0
            } else {
                rng.random_range(0..20_000)
            };
            self.schedule(
                t_us + stagger,
                Action::Send {
                    job: id,
                    call: w,
                    attempt: 0,
                },
            );
        }
    }

    /// A worker got its response at `t_us`: it sends the job's next call, or stops.
    fn next_call(&mut self, job_id: usize, t_us: i64) {
        let Some(job) = self.jobs[job_id].as_mut() else {
            return;
        };
        if job.next < job.calls.len() {
            let call = job.next;
            job.next += 1;
            self.schedule(
                t_us,
                Action::Send {
                    job: job_id,
                    call,
                    attempt: 0,
                },
            );
        } else {
            job.workers -= 1;
            if job.workers == 0 {
                self.jobs[job_id] = None;
                self.free_jobs.push(job_id);
            }
        }
    }
}

/// How long a consumer waits after a 429 before its next try.
fn retry_delay(
    spec: &ConsumerSpec,
    attempt: u32,
    retry_after_secs: u64,
    rng: &mut ChaCha8Rng,
) -> Duration {
    let policy = spec.on_429;
    let growth = match policy.backoff {
        Backoff::None => 1.0,
        Backoff::Exponential => 2f64.powi(attempt.min(16) as i32),
    };
    let own = policy.retry_delay.as_secs_f64() * growth;
    let seconds = if policy.honours_retry_after {
        let wait = own.max(retry_after_secs as f64);
        // Jitter on top of Retry-After keeps the wait at least what the server asked for.
        if policy.jitter {
            wait + rng.random_range(0.0..policy.retry_delay.as_secs_f64())
        } else {
            wait
        }
    } else if policy.jitter {
        own * rng.random_range(0.5..1.5)
    } else {
        own
    };
    Duration::from_secs_f64(seconds)
}

fn first_occurrence(pattern: &TrafficPattern, start_us: i64, rng: &mut ChaCha8Rng) -> Option<i64> {
    match pattern {
        TrafficPattern::Poll { every, offset, .. } => {
            let every_us = (every.as_micros() as i64).max(1);
            let offset_us = match offset {
                Some(o) => o.as_micros() as i64,
                None => rng.random_range(0..every_us),
            };
            // Like cron, cycles sit on the clock (every_minutes = 5, offset 0: at :00, :05, …),
            // not on whenever the timeline happens to start.
            let first = start_us - start_us.rem_euclid(every_us) + offset_us;
            Some(if first < start_us {
                first + every_us
            } else {
                first
            })
        }
        TrafficPattern::Burst { .. } => Some(next_burst(pattern, start_us - 1, rng)),
        TrafficPattern::Trickle { per_hour, .. } => Some(start_us + poisson_gap(*per_hour, rng)),
    }
}

fn next_occurrence(pattern: &TrafficPattern, now_us: i64, rng: &mut ChaCha8Rng) -> i64 {
    match pattern {
        TrafficPattern::Poll { every, .. } => now_us + every.as_micros() as i64,
        // From the next day on: the start-up delay is drawn anew each time, so searching from
        // `now` could find today's slot again and fire twice.
        TrafficPattern::Burst { .. } => next_burst(pattern, end_of_day_us(now_us), rng),
        TrafficPattern::Trickle { per_hour, .. } => now_us + poisson_gap(*per_hour, rng),
    }
}

/// The last microsecond of the UTC day of `t_us`.
fn end_of_day_us(t_us: i64) -> i64 {
    const DAY_US: i64 = 86_400 * MICROS_PER_SECOND;
    t_us - t_us.rem_euclid(DAY_US) + DAY_US - 1
}

/// The first scheduled burst strictly after `after_us` (a cron-like daily time, UTC).
fn next_burst(pattern: &TrafficPattern, after_us: i64, rng: &mut ChaCha8Rng) -> i64 {
    let TrafficPattern::Burst {
        at, weekdays_only, ..
    } = pattern
    else {
        return i64::MAX;
    };
    let after = callbudget_api::timestamp::from_micros(after_us);
    // A cron job starts a second or two after its minute.
    let startup_us = rng.random_range(0..2 * MICROS_PER_SECOND);
    let mut day = after.date_naive();
    loop {
        let candidate = day.and_time(*at).and_utc();
        let weekend = matches!(candidate.weekday(), Weekday::Sat | Weekday::Sun);
        if candidate.timestamp_micros() + startup_us > after_us && !(*weekdays_only && weekend) {
            return candidate.timestamp_micros() + startup_us;
        }
        day += TimeDelta::days(1);
    }
}

/// An exponentially distributed gap for a Poisson process of `per_hour` events.
fn poisson_gap(per_hour: f64, rng: &mut ChaCha8Rng) -> i64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let hours = -u.ln() / per_hour;
    ((hours * 3600.0 * MICROS_PER_SECOND as f64) as i64).max(1)
}

fn planned(op: &OperationRef, target: u32, sub_id: u16) -> PlannedCall {
    PlannedCall {
        operation: op.catalog_index,
        target_kind: op.target,
        target,
        sub_id,
    }
}

/// The calls one occurrence of a pattern makes, and with how many parallel workers.
fn plan_job(
    pattern: &TrafficPattern,
    scenario: &Scenario,
    rng: &mut ChaCha8Rng,
) -> (Vec<PlannedCall>, u32) {
    match pattern {
        TrafficPattern::Poll {
            operation,
            targets,
            concurrency,
            ..
        } => {
            let calls = (0..*targets).map(|t| planned(operation, t, 1)).collect();
            (calls, *concurrency)
        }
        TrafficPattern::Burst {
            operations,
            requests,
            concurrency,
            ..
        } => {
            let calls = (0..*requests)
                .map(|i| {
                    let op = &operations[i as usize % operations.len()];
                    let count = scenario.target_count(op.target) as u32;
                    planned(op, i % count.max(1), 1 + (i % 48) as u16)
                })
                .collect();
            (calls, *concurrency)
        }
        TrafficPattern::Trickle { operations, .. } => {
            let op = &operations[rng.random_range(0..operations.len())];
            let count = scenario.target_count(op.target) as u32;
            let target = rng.random_range(0..count.max(1));
            (vec![planned(op, target, rng.random_range(1..=48))], 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("t.toml"), text).unwrap()
    }

    const HEAD: &str = r#"
[organization]
id = "1"
name = "T"
days = 1
seed = 7
[inventory]
networks = 1
devices = 40
[[admins]]
id = "100"
name = "Ada"
email = "ada@example.com"
"#;

    /// HEAD and one consumer, `name`, answering 429 as `on_429` (the inside of its inline table)
    /// and sending what `rest` says (its `[[consumers.traffic]]`, and any other key before them).
    fn one_consumer(name: &str, on_429: &str, rest: &str) -> Scenario {
        scenario(&format!(
            r#"{HEAD}
[[consumers]]
name = "{name}"
user_agent = "{name}/1 T"
admin = "100"
source_ip = "192.0.2.1"
client_id = "k"
on_429 = {{ {on_429} }}
{rest}"#
        ))
    }

    fn run_all(s: &Scenario, end: DateTime<Utc>) -> Vec<GeneratedRequest> {
        let mut out = Vec::new();
        run(std::slice::from_ref(s), end, |r| out.push(*r));
        out
    }

    fn end() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-20T00:00:00Z").unwrap()
    }

    #[test]
    fn a_gentle_poller_is_never_refused() {
        let s = one_consumer(
            "gentle",
            r#"honours_retry_after = true, backoff = "none", jitter = false, max_retries = 2"#,
            r#"
[[consumers.traffic]]
kind = "poll"
operation = "getDeviceLldpCdp"
every_minutes = 60
offset_minutes = 0
targets = 10
"#,
        );
        let log = run_all(&s, end());
        assert_eq!(log.len(), 24 * 10);
        assert!(log.iter().all(|r| r.response_code == 200));
        assert!(log.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
    }

    #[test]
    fn a_burst_without_backoff_is_refused_and_retries_at_fixed_gaps() {
        let s = one_consumer(
            "burst",
            r#"honours_retry_after = false, backoff = "none", jitter = false, retry_delay_seconds = 0.2, max_retries = 3"#,
            r#"
latency_ms = [10, 10]
[[consumers.traffic]]
kind = "burst"
operations = ["updateDeviceSwitchPort"]
at = "09:00"
requests = 200
concurrency = 20
"#,
        );
        let log = run_all(&s, end());
        let refused = log.iter().filter(|r| r.response_code == 429).count();
        let ok = log.iter().filter(|r| r.response_code == 200).count();
        assert!(refused > 100, "refused {refused}");
        // Every call is tried at most 1 + 3 times, and every admitted call is one of the 200.
        assert!(
            ok <= 200 && ok + refused <= 800,
            "ok {ok} refused {refused}"
        );
        // In any one second the bucket admits at most 20 (burst) + 10 (refill).
        let first = log[0].ts_us;
        let in_first_second = log
            .iter()
            .filter(|r| r.response_code == 200 && r.ts_us < first + 1_000_000)
            .count();
        assert!(in_first_second <= 30, "{in_first_second}");
    }

    #[test]
    fn poll_cycles_sit_on_the_clock_whenever_the_timeline_starts() {
        let s = one_consumer(
            "gentle",
            r#"honours_retry_after = true, backoff = "none", jitter = false, max_retries = 0"#,
            r#"
[[consumers.traffic]]
kind = "poll"
operation = "getDeviceLldpCdp"
every_minutes = 5
offset_minutes = 1
targets = 1
"#,
        );
        // A timeline ending at 17:16:57, not on any boundary.
        let end = callbudget_api::timestamp::parse("2026-11-25T17:16:57Z").unwrap();
        let log = run_all(&s, end);
        assert_eq!(log.len(), 288);
        let five_minutes = 300_000_000;
        assert!(
            log.iter()
                .all(|r| r.ts_us.rem_euclid(five_minutes) == 60_000_000)
        );
    }

    #[test]
    fn a_daily_burst_fires_once_a_day() {
        let s = one_consumer(
            "burst",
            r#"honours_retry_after = true, backoff = "none", jitter = false, max_retries = 0"#,
            r#"
[[consumers.traffic]]
kind = "burst"
operations = ["updateDeviceSwitchPort"]
at = "09:00"
requests = 5
"#,
        );
        // Seven days: five calls a day, whatever start-up delays the days draw.
        let mut week = s.clone();
        week.days = 7;
        let log = run_all(&week, end());
        assert_eq!(log.len(), 35);
    }

    #[test]
    fn same_scenario_and_end_give_the_same_log() {
        let s = one_consumer(
            "mixed",
            r#"honours_retry_after = true, backoff = "exponential", jitter = true, max_retries = 5"#,
            r#"
[[consumers.traffic]]
kind = "trickle"
operations = ["getOrganizationNetworks", "getDeviceLldpCdp"]
per_hour = 500
[[consumers.traffic]]
kind = "poll"
operation = "getDeviceLldpCdp"
every_minutes = 10
concurrency = 8
"#,
        );
        let a = run_all(&s, end());
        let b = run_all(&s, end());
        assert!(a.len() > 5000);
        assert_eq!(a, b);
    }
}
