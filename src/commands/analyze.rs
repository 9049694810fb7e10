//! `callbudget analyze`: audit each organization's stored window, print the findings, save them.

use super::{audit_stored, findings_exit_code, output_and_save, print_stdout};
use anyhow::Result;
use callbudget::cli::AnalyzeArgs;
use callbudget::report;
use std::process::ExitCode;

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let (mut store, run) = audit_stored(&args.db, &args.analysis)?;
    output_and_save(&mut store, &run, |input| {
        print_stdout(&report::render(args.format, input)?)
    })?;
    Ok(findings_exit_code(&run, args.analysis.fail_on))
}
