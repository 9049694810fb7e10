//! Wiring from parsed command lines to the library: one module per subcommand, each building a
//! request for the library, calling it and printing what it returns.

/// A line on stderr about what a command did, unless `--quiet`: `say!(quiet, "wrote {n} files")`.
macro_rules! say {
    ($quiet:expr, $($line:tt)+) => {
        if !$quiet {
            eprintln!($($line)+);
        }
    };
}

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
use callbudget::analysis::{AuditRun, run_audits, save_audits_if_writable};
use callbudget::cli::{AnalysisArgs, Cli, Command};
use callbudget::report::{ReportContext, ReportInput};
use callbudget::store::Store;
use callbudget::text::printable;
use chrono::Utc;
use std::path::Path;
use std::process::ExitCode;

/// The exit code when `--fail-on` finds something: distinct from errors (1) and usage (2).
const FINDINGS_EXIT_CODE: u8 = 3;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let verbosity = cli.verbosity();
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

/// Hands the run's audits, with one report context, to `output` (printed or written), then saves
/// them for the next run's trends — after the output, so that a failed one leaves no audit nobody
/// saw — or says why they cannot be.
fn output_and_save<T>(
    store: &mut Store,
    run: &AuditRun,
    output: impl FnOnce(&ReportInput) -> Result<T>,
) -> Result<T> {
    let context = ReportContext::new(store.path(), Utc::now());
    let output = output(&ReportInput {
        audits: &run.audits,
        context: &context,
    })?;
    if let Some(not_saved) = save_audits_if_writable(store, &run.audits, context.generated_at)? {
        eprintln!("callbudget: warning: {not_saved}");
    }
    Ok(output)
}

/// A mistake in how the command was called rather than in the work: exit code 2, like clap's own
/// usage errors.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct UsageError(Box<dyn std::error::Error + Send + Sync + 'static>);

/// `error` as a usage error when the library's `is_usage` says it is one, else as it is.
fn usage_when<E>(is_usage: fn(&E) -> bool) -> impl Fn(E) -> anyhow::Error + Copy
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |error| {
        if is_usage(&error) {
            anyhow::Error::new(UsageError(Box::new(error)))
        } else {
            error.into()
        }
    }
}

/// The exit code for an error: 2 for a usage error, else 1.
pub fn error_exit_code(error: &anyhow::Error) -> ExitCode {
    if error.chain().any(|e| e.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Audits what `analysis` asks of the database at `db` (`analyze`, `report`), saying which
/// organizations the run left out and why.
fn audit_stored(db: &Path, analysis: &AnalysisArgs) -> Result<(Store, AuditRun)> {
    // Analysing never creates a database.
    let store = Store::open_existing(db)?;
    let run = run_audits(&store, &analysis.audit_request()?)?;
    for left in &run.left_out {
        eprintln!("callbudget: warning: {}; left out", printable(&left.reason));
    }
    Ok((store, run))
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
fn print_stdout(text: impl AsRef<[u8]>) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    print_or_closed_pipe(out.write_all(text.as_ref()).and_then(|()| out.flush()))
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
