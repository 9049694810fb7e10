//! `callbudget audit`: collect, analyse, report, notify — the one command a cron job or systemd
//! timer runs.

use super::collect::collect_and_say;
use super::report::write_and_save;
use anyhow::{Result, bail};
use callbudget::analysis::run_audits;
use callbudget::cli::AuditArgs;
use callbudget::collect::progress::Verbosity;
use callbudget::notify::{Posted, news_since_saved_audits};
use std::process::ExitCode;

/// The exit code when the audit is complete but a notification was not delivered.
const NOTIFY_FAILED_EXIT_CODE: u8 = 4;

/// Collects, then reports on the organizations this run collected, then posts what is new. An
/// organization that failed is left out of the report and makes the exit code 1; the others are
/// still reported.
pub fn run(args: AuditArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let targets = super::notify::targets(&args.notify)?;
    let (mut store, collected) = collect_and_say(&args.collect, verbosity)?;
    let orgs = collected.collected();
    if orgs.is_empty() {
        bail!("no organization was collected, so there is nothing to report");
    }
    let run = run_audits(&store, &args.audit_request(orgs)?)?;
    // What is new is read before this run's audits are saved: they become the next baseline.
    let news = (!targets.is_empty())
        .then(|| news_since_saved_audits(&store, &run.audits))
        .transpose()?;
    write_and_save(&mut store, &run, &args.out, &args.format, verbosity.quiet)?;
    let posted = super::notify::announce(&mut store, &targets, news.as_ref(), verbosity.quiet)?;
    Ok(if collected.failed().next().is_some() {
        ExitCode::FAILURE
    } else if posted != Posted::Everywhere {
        ExitCode::from(NOTIFY_FAILED_EXIT_CODE)
    } else {
        super::findings_exit_code(&run, args.fail_on)
    })
}
