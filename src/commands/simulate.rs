//! `callbudget simulate`: build the scenarios' log, optionally write the ground truth, serve.

use anyhow::{Context, Result, bail};
use callbudget::api::API_KEY_ENV;
use callbudget::cli::SimulateArgs;
use callbudget::sim::faults::FaultPlan;
use callbudget::sim::scenario::Scenario;
use callbudget::sim::{LinkStyle, SimConfig, Simulator, truth};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn run(args: SimulateArgs, quiet: bool) -> Result<ExitCode> {
    let scenarios = Scenario::load_all(&args.scenarios, args.seed)?;
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let say = |msg: String| {
        if !quiet {
            eprintln!("{msg}");
        }
    };

    if let Some(out) = &args.generate_out {
        let started = Instant::now();
        let n = truth::stream_log_jsonl_to_file(&scenarios, now, out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        say(format!(
            "wrote {n} records to {} in {:.1} s",
            out.display(),
            started.elapsed().as_secs_f64()
        ));
        return Ok(ExitCode::SUCCESS);
    }

    // The key is only needed to serve; building a log offline needs none.
    let api_key = match std::env::var(API_KEY_ENV) {
        Ok(key) if !key.is_empty() => key,
        _ if args.no_serve => "unused-offline".to_owned(),
        _ => bail!("set {API_KEY_ENV} to the API key the simulator should accept"),
    };
    let mut faults = FaultPlan {
        retry_after: args.retry_after,
        seed: args.fault_seed,
        storm_length: Duration::from_secs_f64(args.storm_seconds),
        unavailable_for: Duration::from_secs_f64(args.unavailable_seconds),
        slow_delay: Duration::from_millis(args.slow_ms),
        ..FaultPlan::default()
    };
    for setting in &args.faults {
        faults = faults.with(*setting);
    }
    for setting in &args.hostile {
        faults = faults.with_hostile(*setting);
    }
    // Relative Links are the ones every client follows; a link host asks for absolute ones.
    let link_style = LinkStyle::for_link_host(args.link_style, args.link_host.is_some())
        .map_err(super::usage)?;
    let mut config = SimConfig::new(scenarios, now, api_key);
    config.enforce_rate_limits = !args.no_rate_limits;
    config.faults = faults;
    config.link_style = link_style;
    config.link_host = args.link_host.clone();
    config.redirect_to = args.redirect_to.clone();
    config.page_order = args.page_order;

    let started = Instant::now();
    let simulator = Simulator::build(config)?;
    let truth = simulator.ground_truth();
    say(format!(
        "built the request log in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    super::print_stdout(&truth.summary())?;
    if let Some(out) = &args.truth_out {
        let anomalies = truth::write_truth_files(&simulator, &truth, out)
            .with_context(|| format!("cannot write the ground truth to {}", out.display()))?;
        say(format!(
            "ground truth: {} and {}",
            out.display(),
            anomalies.display()
        ));
    }
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }

    simulator.serve_until_interrupted(args.listen, |addr| {
        say(format!(
            "simulator serving at http://{addr}/api/v1 and without /api/v1 (Ctrl-C to stop)"
        ))
    })?;
    Ok(ExitCode::SUCCESS)
}
