//! `callbudget demo`: the whole tool, offline, in one command. The built-in simulator plays the
//! acme-week scenario (embedded in the binary, so the demo runs from any directory) on 127.0.0.1;
//! the collector pulls its week over real HTTP, the analysis and the report run as `audit` would.
//!
//! The one difference from a real audit: the simulator does not rate-limit the collector and the
//! collector does not pace itself, so a week of log arrives in seconds rather than minutes. The
//! analysis still replays it through Meraki's 10/s + 10 budget.

use super::Verbosity;
use super::analyze::audit_orgs;
use super::collect::collect_with_key;
use super::report::write_reports;
use anyhow::{Context, Result, bail};
use callbudget::cli::{AnalysisArgs, CollectArgs, DemoArgs};
use callbudget::dashboard::key::ApiKey;
use callbudget::report::files::{CHARTS_DIR, HTML_FILE, JSON_FILE, MARKDOWN_FILE, ReportFormat};
use callbudget::sim::scenario::Scenario;
use callbudget::sim::{SimConfig, Simulator, SimulatorHandle};
use callbudget::store::Store;
use chrono::{TimeDelta, Utc};
use std::path::Path;
use std::process::ExitCode;

const SCENARIO_NAME: &str = "sample-data/acme-week.toml";
const SCENARIO: &str = include_str!("../../sample-data/acme-week.toml");

/// Marks a directory as the demo's own, so a second run may replace what the first wrote.
const MARKER: &str = ".callbudget-demo";
const DATABASE: &str = "callbudget.db";

pub fn run(args: DemoArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let say = |msg: String| {
        if !verbosity.quiet {
            eprintln!("{msg}");
        }
    };
    prepare_directory(&args.out)?;
    let now = args.now.unwrap_or_else(Utc::now);
    let span = TimeDelta::days(i64::from(args.days));
    let scenario = Scenario::parse(Path::new(SCENARIO_NAME), SCENARIO)?;
    // A fresh key each run: the simulator accepts it, nothing else ever sees it.
    let key = {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::from_os_rng();
        format!("demo-{:032x}", rng.random::<u128>())
    };
    let mut config = SimConfig::new(vec![scenario], now, key.clone());
    config.enforce_rate_limits = false;
    say(format!(
        "building the simulated week of {SCENARIO_NAME} ..."
    ));
    let simulator = Simulator::build(config)?;
    let server = SimulatorHandle::start(simulator, "127.0.0.1:0".parse()?)?;
    say(format!("simulator serving on {}", server.base_url()));

    let db = args.out.join(DATABASE);
    let collect = CollectArgs {
        db: db.clone(),
        orgs: Vec::new(),
        all_orgs: true,
        base_url: server.base_url(),
        api_key_file: None,
        ca_cert: None,
        since: Some(now - span),
        until: None,
        budget_share: 1.0,
        // Unpaced: the simulator serves the demo without rate limits (see the module docs).
        org_rate: 10_000.0,
        source_ip_rate: 10_000.0,
        window_minutes: 60,
        by_consumer: false,
        concurrent_orgs: 1,
    };
    say(format!(
        "collecting {} day(s) of its request log over HTTP ...",
        args.days
    ));
    // The per-window lines would bury the demo's point; the summary still prints.
    let quiet = Verbosity {
        quiet: true,
        verbose: 0,
    };
    let outcome = collect_with_key(&collect, ApiKey::new(key)?, quiet)?;
    if !outcome.failed.is_empty() {
        bail!("the demo could not collect from its own simulator");
    }
    drop(server);

    let mut store = Store::open(&db)?;
    let analysis = AnalysisArgs {
        orgs: Vec::new(),
        since: Some(format!("{}h", span.num_hours())),
        until: None,
        fail_on: None,
        // Meraki's 10/s + 10.
        rate: None,
        burst: None,
        budget_model: None,
        group_by: callbudget::analysis::ConsumerKey::Application,
    };
    let audits = audit_orgs(&mut store, &analysis)?;
    write_reports(
        &mut store,
        &audits,
        &args.out,
        &ReportFormat::ALL,
        verbosity.quiet,
    )?;
    println!("demo report: {}", args.out.join(HTML_FILE).display());
    println!("charts:      {}", args.out.join(CHARTS_DIR).display());
    println!("findings:    {}", args.out.join(JSON_FILE).display());
    println!("database:    {}", db.display());
    println!(
        "next:        callbudget query top_consumers --db {}",
        db.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes `dir` ready for the demo: created if missing; if an earlier demo made it, its files are
/// removed; any other non-empty directory is refused rather than written into.
fn prepare_directory(dir: &Path) -> Result<()> {
    let marker = dir.join(MARKER);
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() && !marker.exists() {
            bail!(
                "{} exists and was not made by `callbudget demo`: choose another --out",
                dir.display()
            );
        }
        for name in [
            DATABASE,
            "callbudget.db-wal",
            "callbudget.db-shm",
            HTML_FILE,
            JSON_FILE,
            MARKDOWN_FILE,
        ] {
            let path = dir.join(name);
            // symlink_metadata: a dangling link is still there to remove.
            if path.symlink_metadata().is_ok() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        let charts = dir.join(CHARTS_DIR);
        if charts.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            // A link (even a dangling one) or a file: remove it, never what it points to.
            std::fs::remove_file(&charts)
                .with_context(|| format!("cannot remove {}", charts.display()))?;
        } else if charts.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(&charts)
                .with_context(|| format!("cannot remove {}", charts.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        &marker,
        "This directory was written by `callbudget demo`; the next demo run replaces it.\n",
    )
    .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(())
}
