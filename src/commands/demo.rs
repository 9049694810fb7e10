//! `callbudget demo`: the whole tool, offline, in one command (see `callbudget::demo`).

use anyhow::Result;
use callbudget::cli::DemoArgs;
use callbudget::collect::progress::print_summary;
use callbudget::demo::{self, DemoRequest};
use callbudget::report::files::{CHARTS_DIR, HTML_FILE, JSON_FILE};
use chrono::Utc;
use std::process::ExitCode;

/// The collector's pace in the demo: unpaced against an unlimited simulator.
const DEMO_RATE: f64 = 10_000.0;

pub fn run(args: DemoArgs, quiet: bool) -> Result<ExitCode> {
    let request = DemoRequest {
        out: args.out,
        now: args.now.unwrap_or_else(Utc::now),
        days: args.days,
    };
    let outcome = demo::run(&request, |line| {
        if !quiet {
            eprintln!("{line}");
        }
    })?;
    super::print_or_closed_pipe(print_summary(
        &outcome.collected,
        DEMO_RATE,
        &outcome.database,
    ))?;
    let out = &request.out;
    super::print_stdout(&format!(
        "demo report: {}\ncharts:      {}\nfindings:    {}\ndatabase:    {}\nnext:        callbudget query top_consumers --db {}\n",
        out.join(HTML_FILE).display(),
        out.join(CHARTS_DIR).display(),
        out.join(JSON_FILE).display(),
        outcome.database.display(),
        outcome.database.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
