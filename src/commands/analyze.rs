//! `callbudget analyze`: audit each organization's stored window, print the findings, save them.

use super::Shown;
use anyhow::Result;
use callbudget::cli::AnalyzeArgs;
use callbudget_audit::{AuditJob, Output, Source};
use callbudget_collect::progress::Verbosity;
use std::process::ExitCode;

pub fn run(args: AnalyzeArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let job = AuditJob {
        source: Source::Stored { db: args.db },
        request: args.analysis.audit_request()?,
        output: Output::Print {
            format: args.format,
            to: &mut stdout,
        },
        targets: &[],
        fail_on: args.analysis.fail_on,
    };
    let outcome = callbudget_audit::run(job, &mut Shown(verbosity))?;
    Ok(ExitCode::from(outcome.exit_code))
}
