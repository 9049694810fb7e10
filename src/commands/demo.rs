//! `callbudget demo`: the whole tool, offline, in one command (see `callbudget::demo`).

use anyhow::Result;
use callbudget::cli::DemoArgs;
use callbudget::demo;
use callbudget_collect::progress::Verbosity;
use chrono::Utc;
use std::process::ExitCode;

pub fn run(args: DemoArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let request = args.demo_request(Utc::now());
    let outcome = demo::run(&request, |line| say!(verbosity.quiet, "{line}"))?;
    super::print_stdout(outcome.describe(&request.out))?;
    Ok(ExitCode::SUCCESS)
}
