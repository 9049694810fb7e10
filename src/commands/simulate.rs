//! `callbudget simulate`: build the scenarios' log, optionally write the ground truth, serve.

use anyhow::{Context, Result, bail};
use callbudget::cli::SimulateArgs;
use callbudget_api::API_KEY_ENV;
use callbudget_sim::{Scenario, SimError, Simulator, truth};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(args: SimulateArgs, quiet: bool) -> Result<ExitCode> {
    let scenarios = Scenario::load_all(&args.scenarios, args.seed)?;
    let now = args.now.unwrap_or_else(chrono::Utc::now);

    if let Some(out) = &args.generate_out {
        let started = Instant::now();
        let n = truth::stream_log_jsonl_to_file(&scenarios, now, out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        say!(
            quiet,
            "wrote {n} records to {} in {:.1} s",
            out.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let Some(api_key) = args.api_key(std::env::var(API_KEY_ENV).ok()) else {
        bail!("set {API_KEY_ENV} to the API key the simulator should accept");
    };
    let config = args
        .sim_config(scenarios, now, api_key)
        .map_err(super::usage_when(SimError::is_usage))?;

    let started = Instant::now();
    let simulator = Simulator::build(config)?;
    let truth = simulator.ground_truth();
    say!(
        quiet,
        "built the request log in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    super::print_stdout(truth.summary())?;
    if let Some(out) = &args.truth_out {
        let anomalies = truth::write_truth_files(&simulator, &truth, out)
            .with_context(|| format!("cannot write the ground truth to {}", out.display()))?;
        say!(
            quiet,
            "ground truth: {} and {}",
            out.display(),
            anomalies.display()
        );
    }
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }

    simulator.serve_until_interrupted(args.listen, |addr| {
        say!(
            quiet,
            "simulator serving at http://{addr}/api/v1 and without /api/v1 (Ctrl-C to stop)"
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
