//! `callbudget audit`: collect, analyse, report — the one command a cron job or systemd timer runs.

use super::Verbosity;
use super::analyze::{audit_orgs, exit_code, open_collected};
use super::collect::collect_with_key;
use super::report::{print_written, write_reports};
use anyhow::{Result, bail};
use callbudget::cli::{AnalysisArgs, AuditArgs};
use callbudget::dashboard::key::ApiKey;
use std::process::ExitCode;

pub fn run(args: AuditArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let key = ApiKey::from_file_or_env(args.collect.api_key_file.as_deref())?;
    run_with_key(&args, key, verbosity)
}

/// Collects with `key`, then reports on the organizations this run collected. An organization
/// that failed is left out of the report and makes the exit code 1; the others are still reported.
pub fn run_with_key(args: &AuditArgs, key: ApiKey, verbosity: Verbosity) -> Result<ExitCode> {
    let outcome = collect_with_key(&args.collect, key, verbosity)?;
    if outcome.collected.is_empty() {
        bail!("no organization was collected, so there is nothing to report");
    }
    let mut store = open_collected(&args.collect.db)?;
    let analysis = AnalysisArgs {
        // Only what this run collected: the database may hold other (e.g. imported) organizations.
        orgs: outcome.collected,
        since: Some(format!("{}m", args.report_span.num_minutes().max(1))),
        until: None,
        fail_on: args.fail_on,
        rate: Some(args.collect.org_rate),
        burst: Some(args.burst),
        budget_model: None,
        group_by: args.group_by,
    };
    let audits = audit_orgs(&mut store, &analysis)?;
    let files = write_reports(
        &mut store,
        &audits,
        &args.out,
        &args.format,
        verbosity.quiet,
    )?;
    print_written(&files);
    Ok(if outcome.failed.is_empty() {
        exit_code(&audits, args.fail_on)
    } else {
        ExitCode::FAILURE
    })
}
