//! `callbudget audit`: collect, analyse, report — the one command a cron job or systemd timer runs.

use super::collect::collect_and_say;
use super::report::write_and_save;
use anyhow::{Result, bail};
use callbudget::analysis::{AuditRequest, BudgetChoice, OrgChoice, WindowStart, run_audits};
use callbudget::budget::{BucketLimits, BudgetModel};
use callbudget::cli::AuditArgs;
use callbudget::collect::progress::Verbosity;
use callbudget::dashboard::key::ApiKey;
use std::process::ExitCode;

/// Collects, then reports on the organizations this run collected. An organization that failed is
/// left out of the report and makes the exit code 1; the others are still reported.
pub fn run(args: AuditArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let key = ApiKey::from_file_or_env(args.collect.api_key_file.as_deref())?;
    let (mut store, collected) = collect_and_say(&args.collect, key, verbosity)?;
    let orgs = collected.collected();
    if orgs.is_empty() {
        bail!("no organization was collected, so there is nothing to report");
    }
    let request = AuditRequest {
        // Only what this run collected: the database may hold other (e.g. imported) organizations.
        orgs: OrgChoice::Ids(orgs),
        since: WindowStart::Before(args.report_span),
        until: None,
        budget: BudgetChoice::Model(BudgetModel::token_bucket(BucketLimits {
            rate_per_second: args.collect.org_rate,
            burst: args.burst,
        })),
        consumer_key: args.group_by,
    };
    let run = run_audits(&store, &request)?;
    write_and_save(&mut store, &run, &args.out, &args.format, verbosity.quiet)?;
    Ok(if collected.failed().next().is_some() {
        ExitCode::FAILURE
    } else {
        super::findings_exit_code(&run, args.fail_on)
    })
}
