//! Simulator benchmarks (`cargo bench --bench sim`, release build). Prints, each as the median of
//! several runs: the time to build acme-week's log, pages of 1000 records served per second on
//! loopback, and the time and peak memory to stream the 31-day saturated-month log.
//!
//! `cargo bench --bench sim -- quick` skips the month-long log (about a minute of work).

use callbudget_sim::scenario::Scenario;
use callbudget_sim::{SimConfig, Simulator, SimulatorHandle, truth};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "bench-key";

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn end() -> chrono::DateTime<chrono::Utc> {
    callbudget_api::timestamp::parse("2026-11-20T00:00:00Z").unwrap_or_default()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Counts bytes and lines without keeping them.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bench_month() {
    let month = scenario("saturated-month.toml");
    let mut times = Vec::new();
    let mut records = 0;
    let mut bytes = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let mut sink = CountingSink::default();
        records = truth::stream_log_jsonl(std::slice::from_ref(&month), end(), &mut sink)
            .unwrap_or_else(|e| panic!("{e}"));
        bytes = sink.bytes;
        times.push(started.elapsed().as_secs_f64());
    }
    let t = median(times);
    println!(
        "saturated-month log (streamed JSONL): {records} records, {:.2} GB, median {t:.1} s ({:.2} M records/s), peak RSS {:.0} MiB",
        bytes as f64 / 1e9,
        records as f64 / t / 1e6,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

fn bench_acme_build() -> Simulator {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let mut config = SimConfig::new(vec![scenario("acme-week.toml")], end(), KEY);
        config.enforce_rate_limits = false;
        let started = Instant::now();
        let sim = Simulator::build(config).unwrap_or_else(|e| panic!("{e}"));
        times.push(started.elapsed().as_secs_f64());
        last = Some(sim);
    }
    let sim = last.unwrap_or_else(|| unreachable!());
    println!(
        "acme-week log: {} records, built in median {:.3} s",
        sim.records("549236").len(),
        median(times)
    );
    sim
}

fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        (rel.trim() == "rel=next").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// Pages through the whole log with `clients` clients at once; returns pages per second.
fn pages_per_second(handle: &SimulatorHandle, clients: usize) -> (f64, u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let base = handle.base_url();
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let started = Instant::now();
        // Each client pages through its own slice of the week.
        let week_start = end() - chrono::TimeDelta::days(7);
        let slice = chrono::TimeDelta::days(7) / clients as i32;
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let client = client.clone();
                let t0 = week_start + slice * c as i32;
                let url = format!(
                    "{base}/organizations/549236/apiRequests?perPage=1000&t0={}&t1={}",
                    callbudget_api::timestamp::format(&t0),
                    callbudget_api::timestamp::format(&(t0 + slice))
                );
                tokio::spawn(async move {
                    let mut next = Some(url);
                    let mut pages = 0u64;
                    while let Some(url) = next.take() {
                        let response = client
                            .get(&url)
                            .bearer_auth(KEY)
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert!(response.status().is_success(), "{}", response.status());
                        next = next_link(response.headers());
                        let body = response.bytes().await.unwrap_or_else(|e| panic!("{e}"));
                        assert!(body.len() > 2);
                        pages += 1;
                    }
                    pages
                })
            })
            .collect();
        let mut pages = 0;
        for t in tasks {
            pages += t.await.unwrap_or_else(|e| panic!("{e}"));
        }
        (pages as f64 / started.elapsed().as_secs_f64(), pages)
    })
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "quick");
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !quick {
        bench_month();
    }
    let sim = bench_acme_build();
    let handle =
        SimulatorHandle::start(sim, "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    for clients in [1, 2] {
        let runs: Vec<(f64, u64)> = (0..3).map(|_| pages_per_second(&handle, clients)).collect();
        let pages = runs[0].1;
        let rate = median(runs.into_iter().map(|r| r.0).collect());
        println!(
            "serving acme-week: {pages} pages of up to 1000 records, {clients} client(s): median {rate:.0} pages/s"
        );
    }
    std::thread::sleep(Duration::from_millis(10));
}
