//! `callbudget audit`: collect, analyse, report, notify — the one command a cron job or systemd
//! timer runs. The order and the exit code are the library's (`callbudget_audit`).

use super::Shown;
use anyhow::Result;
use callbudget::cli::AuditArgs;
use callbudget_audit::{AuditJob, Output, Source};
use callbudget_collect::dashboard::key::ApiKey;
use callbudget_collect::progress::Verbosity;
use std::process::ExitCode;

pub fn run(args: AuditArgs, verbosity: Verbosity) -> Result<ExitCode> {
    // A webhook URL that cannot be used is a usage error, found before any work is done.
    let targets = super::notify::targets(&args.notify)?;
    let key = ApiKey::from_file_or_env(args.collect.api_key_file.as_deref())?;
    let job = AuditJob {
        source: Source::Collect {
            client: args.collect.client_config(key),
            db: args.collect.db.clone(),
            options: args.collect.collect_options(),
        },
        request: args.audit_request()?,
        output: Output::Files {
            out: args.out,
            formats: args.format,
        },
        targets: &targets,
        fail_on: args.fail_on,
    };
    let outcome = callbudget_audit::run(job, &mut Shown(verbosity))?;
    Ok(ExitCode::from(outcome.exit_code))
}
