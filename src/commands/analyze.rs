//! `callbudget analyze`: audit each organization's stored window, print the findings, save them.

use super::{audit_request, findings_exit_code, print_stdout, save_or_say, warn_left_out};
use anyhow::Result;
use callbudget::analysis::run_audits;
use callbudget::cli::AnalyzeArgs;
use callbudget::report::{self, ReportContext, ReportInput};
use callbudget::store::Store;
use chrono::Utc;
use std::process::ExitCode;

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    // Analysing never creates a database.
    let mut store = Store::open_existing(&args.db)?;
    let run = run_audits(&store, &audit_request(&args.analysis)?)?;
    warn_left_out(&run);
    let context = ReportContext::new(store.path(), Utc::now());
    let input = ReportInput {
        audits: &run.audits,
        context: &context,
    };
    print_stdout(&report::render(args.format, &input)?)?;
    save_or_say(&mut store, &run, context.generated_at)?;
    Ok(findings_exit_code(&run, args.analysis.fail_on))
}
