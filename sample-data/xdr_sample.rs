//! The XDR sample: six hours of one Cisco XDR organization's API calls as an egress proxy logs
//! them (Apache/nginx combined format), generated deterministically — same program, same bytes:
//!
//! ```sh
//! cargo run --example xdr-sample > xdr-day.log
//! callbudget import --provider xdr --format combined --org xdr-acme xdr-day.log --db xdr.db
//! callbudget analyze --db xdr.db
//! ```
//!
//! 2026-11-19 08:00–14:00 UTC, four consumers; the noisy one, `siem-sync`, runs a backfill from
//! 10:10 to 11:00 at 2 requests/s on top of its usual enrichment, which pushes the organization
//! past XDR's 8000 requests in any 60 minutes (the planted saturation). The log's 429s are what
//! XDR's rolling window refuses (counted over the calls it admitted); siem-sync retries a refused
//! call after 1 s, twice, without reading Retry-After. At 12:30 soar-runner starts 14 workflows in
//! 14 s, over the workflow-run API's own 10 per minute. Every limit counts the calls it admitted,
//! as callbudget's budget models do. The program uses only the standard library: the integration
//! tests include it to import and analyse the same log.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;

/// 2026-11-19T08:00:00Z, seconds since the Unix epoch.
pub const START: i64 = 1_795_075_200;
pub const HOURS: i64 = 6;
/// XDR's org-wide budget: this many requests in any `WINDOW` seconds.
pub const LIMIT: usize = 8000;
pub const WINDOW: i64 = 3600;
/// The planted backfill: siem-sync's extra 2 requests/s over these seconds since START.
pub const BACKFILL: (i64, i64) = (2 * 3600 + 600, 3 * 3600);
pub const NOISY_USER_AGENT: &str = "siem-sync/3.2 (Acme SOC)";
/// The planted workflow burst: this many runs, one a second, from this second since START.
pub const WORKFLOW_BURST: (i64, u32) = (4 * 3600 + 1800, 14);
/// XDR's workflow-run limit: this many in any 60 s.
pub const WORKFLOW_LIMIT: usize = 10;

/// What the sample holds, for tests to compare the analysis with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleTruth {
    pub lines: u64,
    pub http_429s: u64,
    /// Calls the org-wide rolling hour refused.
    pub refused_org_wide: u64,
    /// Calls the workflow-run limit refused.
    pub refused_workflow_runs: u64,
}

impl SampleTruth {
    /// What the example says on stderr (stdout is the log), for a person at a terminal.
    pub fn summary(&self) -> String {
        format!(
            "wrote {} log lines, {HOURS} hours from 2026-11-19 08:00 UTC: {} answered 429 ({} over \
             {LIMIT} requests in any {} minutes, {} over {WORKFLOW_LIMIT} workflow runs a minute)",
            self.lines,
            self.http_429s,
            self.refused_org_wide,
            WINDOW / 60,
            self.refused_workflow_runs,
        )
    }
}

struct Consumer {
    user_agent: &'static str,
    source_ip: &'static str,
    /// Requests per hour, spread at random over it.
    per_hour: u32,
    requests: &'static [(&'static str, &'static str)],
    /// Retries after a 429 (1 s apart).
    retries: u8,
}

const CONSUMERS: [Consumer; 4] = [
    Consumer {
        user_agent: NOISY_USER_AGENT,
        source_ip: "198.51.100.23",
        per_hour: 1500,
        requests: &[
            ("POST", "/iroh/iroh-enrich/observe/observables"),
            ("POST", "/iroh/iroh-enrich/deliberate/observables"),
        ],
        retries: 2,
    },
    Consumer {
        user_agent: "xdr-grafana-exporter/1.4",
        source_ip: "198.51.100.40",
        per_hour: 900,
        requests: &[
            ("GET", "/iroh/private-intel/incident/search"),
            ("GET", "/iroh/private-intel/sighting/search"),
        ],
        retries: 0,
    },
    Consumer {
        user_agent: "ticket-bridge/2.0 python-requests/2.32",
        source_ip: "198.51.100.41",
        per_hour: 240,
        requests: &[
            ("POST", "/iroh/private-intel/incident"),
            ("PATCH", "/iroh/private-intel/incident/inc-4471"),
        ],
        retries: 1,
    },
    Consumer {
        user_agent: "soar-runner/1.1",
        source_ip: "198.51.100.50",
        per_hour: 30,
        requests: &[("POST", "/v1.1/workflows/01HQ7ZK3/start")],
        retries: 0,
    },
];

/// A small deterministic generator (SplitMix64): the sample must not depend on a crate's version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One call: (second since START, order of creation, consumer, request, attempt).
type Call = Reverse<(i64, u64, usize, usize, u8)>;

/// The soar-runner consumer, whose one request is a workflow run.
const SOAR: usize = 3;

/// Whether a rolling window of `span` seconds admits a call at `at`, counting it if so.
fn admits(window: &mut VecDeque<i64>, at: i64, span: i64, limit: usize) -> bool {
    while window.front().is_some_and(|&t| t <= at - span) {
        window.pop_front();
    }
    let ok = window.len() < limit;
    if ok {
        window.push_back(at);
    }
    ok
}

/// Writes the sample log.
pub fn write_xdr_sample(out: &mut impl Write) -> std::io::Result<SampleTruth> {
    let mut rng = SplitMix(20_261_119);
    let mut calls: BinaryHeap<Call> = BinaryHeap::new();
    let mut order = 0u64;
    let mut push =
        |calls: &mut BinaryHeap<Call>, at: i64, consumer: usize, request: usize, attempt| {
            order += 1;
            calls.push(Reverse((at, order, consumer, request, attempt)));
        };
    for hour in 0..HOURS {
        for (c, consumer) in CONSUMERS.iter().enumerate() {
            for _ in 0..consumer.per_hour {
                let at = hour * 3600 + rng.below(3600) as i64;
                let request = rng.below(consumer.requests.len() as u64) as usize;
                push(&mut calls, at, c, request, 0);
            }
        }
    }
    for at in BACKFILL.0..BACKFILL.1 {
        for _ in 0..2 {
            push(&mut calls, at, 0, 0, 0);
        }
    }
    for run in 0..i64::from(WORKFLOW_BURST.1) {
        push(&mut calls, WORKFLOW_BURST.0 + run, SOAR, 0, 0);
    }

    // XDR's rolling windows, each over the calls it admitted.
    let mut org_window: VecDeque<i64> = VecDeque::new();
    let mut workflow_window: VecDeque<i64> = VecDeque::new();
    let mut truth = SampleTruth {
        lines: 0,
        http_429s: 0,
        refused_org_wide: 0,
        refused_workflow_runs: 0,
    };
    while let Some(Reverse((at, _, c, r, attempt))) = calls.pop() {
        let org_ok = admits(&mut org_window, at, WINDOW, LIMIT);
        let class_ok = c != SOAR || admits(&mut workflow_window, at, 60, WORKFLOW_LIMIT);
        truth.refused_org_wide += u64::from(!org_ok);
        truth.refused_workflow_runs += u64::from(!class_ok);
        let ok = org_ok && class_ok;
        let consumer = &CONSUMERS[c];
        let status = if !ok {
            truth.http_429s += 1;
            if attempt < consumer.retries {
                push(&mut calls, at + 1, c, r, attempt + 1);
            }
            429
        } else if consumer.requests[r].0 == "POST" {
            201
        } else {
            200
        };
        let (method, path) = consumer.requests[r];
        writeln!(
            out,
            "{} - - [{}] \"{method} {path} HTTP/1.1\" {status} {} \"-\" \"{}\"",
            consumer.source_ip,
            clf_time(START + at),
            if ok { 180 + rng.below(4000) } else { 64 },
            consumer.user_agent,
        )?;
        truth.lines += 1;
    }
    Ok(truth)
}

/// `19/Nov/2026:08:00:00 +0000` for Unix seconds (proleptic Gregorian, UTC).
fn clf_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let truth = write_xdr_sample(&mut out)?;
    out.flush()?;
    eprintln!("{}", truth.summary());
    Ok(())
}
