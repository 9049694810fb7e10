//! Wiring from parsed command lines to the library: one module per subcommand, each building a
//! request for the library, calling it and printing what it returns.

mod analyze;
mod audit;
mod collect;
mod completions;
mod demo;
mod export;
mod import;
mod notify;
mod query;
mod report;
mod simulate;

use anyhow::{Context, Result};
use callbudget::analysis::{AuditRequest, AuditRun, BudgetChoice, OrgChoice, save_audits};
use callbudget::cli::{AnalysisArgs, Cli, Command};
use callbudget::collect::progress::Verbosity;
use callbudget::store::{Access, Store};
use callbudget::text::printable;
use std::process::ExitCode;

/// The exit code when `--fail-on` finds something: distinct from errors (1) and usage (2).
const FINDINGS_EXIT_CODE: u8 = 3;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let verbosity = Verbosity {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Report(args) => report::run(args, verbosity.quiet),
        Command::Audit(args) => audit::run(args, verbosity),
        Command::Demo(args) => demo::run(args, verbosity.quiet),
        Command::Collect(args) => collect::run(args, verbosity),
        Command::Query(args) => query::run(args),
        Command::Export(args) => export::run(args, verbosity.quiet),
        Command::Simulate(args) => simulate::run(args, verbosity.quiet),
        Command::Import(args) => import::run(args, verbosity.quiet),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args, verbosity.quiet),
    }
}

/// The audit `analyze` and `report` ask for: a budget on the command line applies to every
/// organization, else each is replayed through its own.
fn audit_request(args: &AnalysisArgs) -> Result<AuditRequest> {
    let budget = BudgetChoice::from_flags(args.budget_model.as_deref(), args.rate, args.burst)?;
    Ok(AuditRequest {
        orgs: OrgChoice::named_or_collected(&args.orgs),
        since: args.since.unwrap_or(AuditRequest::default().since),
        until: args.until,
        budget,
        consumer_key: args.group_by,
    })
}

/// Saves the run's audits for the next run's trends, or says why they cannot be.
fn save_or_say(
    store: &mut Store,
    run: &AuditRun,
    saved_at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    if store.access() == Access::ReadOnly {
        eprintln!(
            "callbudget: warning: {} may not be written here (it or its directory is read-only): the audit was not saved, so the next one cannot compare with it",
            store.path().display()
        );
        return Ok(());
    }
    Ok(save_audits(store, &run.audits, saved_at)?)
}

/// A mistake in how the command was called rather than in the work: exit code 2, like clap's own
/// usage errors.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct UsageError(Box<dyn std::error::Error + Send + Sync + 'static>);

/// `error` as a usage error.
fn usage(error: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    anyhow::Error::new(UsageError(Box::new(error)))
}

/// A usage error of our own words.
fn usage_message(message: String) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The exit code for an error: 2 for a usage error, else 1.
pub fn error_exit_code(error: &anyhow::Error) -> ExitCode {
    if error.chain().any(|e| e.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Says which organizations a run left out, and why.
fn warn_left_out(run: &AuditRun) {
    for left in &run.left_out {
        eprintln!("callbudget: warning: {}; left out", printable(&left.reason));
    }
}

/// Success, or [`FINDINGS_EXIT_CODE`] when a finding is at least as severe as `--fail-on`.
fn findings_exit_code(run: &AuditRun, fail_on: Option<callbudget::analysis::Severity>) -> ExitCode {
    if run.fails_on(fail_on) {
        ExitCode::from(FINDINGS_EXIT_CODE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `text` to stdout; a closed pipe (`callbudget ... | head`) is not a failure.
fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    print_or_closed_pipe(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// An output error, unless it is only a reader that went away.
fn print_or_closed_pipe(written: std::io::Result<()>) -> Result<()> {
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

/// One error line on stderr, with anything from outside made printable.
fn error_line(message: &str) {
    eprintln!("callbudget: error: {}", printable(message));
}
