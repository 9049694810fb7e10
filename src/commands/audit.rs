//! `callbudget audit`: collect, analyse, report, notify — the one command a cron job or systemd
//! timer runs.

use super::collect::collect_and_say;
use super::report::write_and_save;
use anyhow::{Result, bail};
use callbudget::analysis::{AuditRequest, BudgetChoice, OrgChoice, WindowStart, run_audits};
use callbudget::cli::AuditArgs;
use callbudget::collect::progress::Verbosity;
use callbudget::dashboard::key::ApiKey;
use callbudget::notify::{Posted, news_since_saved_audits};
use std::process::ExitCode;

/// The exit code when the audit is complete but a notification was not delivered.
const NOTIFY_FAILED_EXIT_CODE: u8 = 4;

/// Collects, then reports on the organizations this run collected, then posts what is new. An
/// organization that failed is left out of the report and makes the exit code 1; the others are
/// still reported.
pub fn run(args: AuditArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let targets = super::notify::targets(&args.notify)?;
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
        budget: BudgetChoice::from_flags(None, Some(args.collect.org_rate), Some(args.burst))?,
        consumer_key: args.group_by,
    };
    let run = run_audits(&store, &request)?;
    // What is new is read before this run's audits are saved: they become the next baseline.
    let news = if targets.is_empty() {
        None
    } else {
        Some(news_since_saved_audits(&store, &run.audits)?)
    };
    write_and_save(&mut store, &run, &args.out, &args.format, verbosity.quiet)?;
    let posted = match &news {
        Some(news) => super::notify::announce(&mut store, &targets, news, verbosity.quiet)?,
        None => Posted::Everywhere,
    };
    Ok(if collected.failed().next().is_some() {
        ExitCode::FAILURE
    } else if posted != Posted::Everywhere {
        ExitCode::from(NOTIFY_FAILED_EXIT_CODE)
    } else {
        super::findings_exit_code(&run, args.fail_on)
    })
}
