//! `callbudget report`: analyse like `analyze`, then write the report files.

use super::Shown;
use anyhow::Result;
use callbudget::cli::ReportArgs;
use callbudget_audit::{AuditJob, Output, Source};
use callbudget_collect::progress::Verbosity;
use std::process::ExitCode;

pub fn run(args: ReportArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let job = AuditJob {
        source: Source::Stored { db: args.db },
        request: args.analysis.audit_request()?,
        output: Output::Files {
            out: args.out,
            formats: args.format,
        },
        targets: &[],
        fail_on: args.analysis.fail_on,
    };
    let outcome = callbudget_audit::run(job, &mut Shown(verbosity))?;
    Ok(ExitCode::from(outcome.exit_code))
}
