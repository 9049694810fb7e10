//! Collector benchmarks (`cargo bench --bench collect`, release build), against the simulator on
//! loopback:
//! - the collector's own ceiling: records/s fetched and stored in SQLite when the simulator does
//!   not rate-limit and the client is unpaced (two days of saturated-month, ~1.7 M records);
//! - pacing: calls/s against a share of 0.3 when the simulator enforces Meraki's budget.

use callbudget_collect::dashboard::client::{ClientConfig, DashboardClient};
use callbudget_collect::dashboard::key::ApiKey;
use callbudget_collect::{CollectOptions, OrgSelection, SharedStore};
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{ClockMode, SimConfig, Simulator, SimulatorHandle};
use callbudget_store::{OrgId, Store};
use chrono::TimeDelta;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const KEY: &str = "bench-key";

fn end() -> chrono::DateTime<chrono::Utc> {
    callbudget_api::timestamp::parse("2026-11-20T00:00:00Z").unwrap_or_default()
}

fn scenario(name: &str, days: u32) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name);
    let mut s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    s.days = days;
    s
}

fn serve(scenario: Scenario, rate_limits: bool) -> SimulatorHandle {
    // The clock stands still so the collected range stays inside the 31-day lookback however long
    // the bench runs; without rate limits that changes nothing else.
    let mut config = SimConfig::new(vec![scenario], end(), KEY);
    config.enforce_rate_limits = rate_limits;
    config.clock = if rate_limits {
        ClockMode::Running
    } else {
        ClockMode::Frozen
    };
    let sim = Simulator::build(config).unwrap_or_else(|e| panic!("{e}"));
    SimulatorHandle::start(sim, "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run_collect(
    handle: &SimulatorHandle,
    org: &str,
    share: f64,
    org_rate: f64,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    db: &Path,
) -> callbudget_collect::CollectSummary {
    let key = ApiKey::new(KEY).unwrap_or_else(|e| panic!("{e}"));
    let mut config = ClientConfig::new(handle.base_url(), key, share);
    config.org_rate = org_rate * share;
    config.source_ip_rate = org_rate * 10.0 * share;
    let client = Arc::new(DashboardClient::new(config).unwrap_or_else(|e| panic!("{e}")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(db).unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async move {
        let (orgs, _) = callbudget_collect::list_organizations(&client)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let options = CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new(org)]),
            since: Some(since),
            until: Some(until),
            ..CollectOptions::default()
        };
        callbudget_collect::collect(client, SharedStore::new(store), orgs, options, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let handle = serve(scenario("saturated-month.toml", 2), false);
    let mut rates = Vec::new();
    let mut records = 0;
    for run in 0..3 {
        let db = dir.path().join(format!("ceiling-{run}.db"));
        let started = Instant::now();
        let summary = run_collect(
            &handle,
            "770001",
            1.0,
            1e6,
            end() - TimeDelta::days(2),
            end(),
            &db,
        );
        let secs = started.elapsed().as_secs_f64();
        records = summary.total().records;
        rates.push(records as f64 / secs);
        let bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
        println!(
            "  run {run}: {records} records in {secs:.1} s, {} calls, db {:.0} bytes/record",
            summary.total().tally.calls,
            bytes as f64 / records.max(1) as f64
        );
    }
    println!(
        "collector ceiling (unpaced, no rate limits): {records} records, median {:.0} records/s stored",
        median(rates)
    );
    drop(handle);

    // Pacing: as the only consumer at share 0.3 of a rate-limited org.
    let handle = serve(scenario("acme-week.toml", 1), true);
    let db = dir.path().join("paced.db");
    let started = Instant::now();
    let summary = run_collect(
        &handle,
        "549236",
        0.3,
        10.0,
        end() - TimeDelta::hours(6),
        end(),
        &db,
    );
    let secs = started.elapsed().as_secs_f64();
    let total = summary.total();
    println!(
        "pacing at share 0.3 (3.0 calls/s): {} calls in {secs:.1} s = {:.2} calls/s ({:.0} % of the share), {} x 429",
        total.tally.calls,
        total.tally.calls as f64 / secs,
        total.tally.calls as f64 / secs / 3.0 * 100.0,
        total.tally.http_429s
    );
}
