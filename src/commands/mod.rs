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
mod shown;
mod simulate;

use anyhow::{Context, Result};
use callbudget::cli::{Cli, Command};
use callbudget_api::text::printable;
use shown::Shown;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let verbosity = cli.verbosity();
    match cli.command {
        Command::Analyze(args) => analyze::run(args, verbosity),
        Command::Report(args) => report::run(args, verbosity),
        Command::Audit(args) => audit::run(args, verbosity),
        Command::Demo(args) => demo::run(args, verbosity),
        Command::Collect(args) => collect::run(args, verbosity),
        Command::Query(args) => query::run(args),
        Command::Export(args) => export::run(args, verbosity.quiet),
        Command::Simulate(args) => simulate::run(args, verbosity.quiet),
        Command::Import(args) => import::run(args, verbosity.quiet),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args, verbosity.quiet),
    }
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

/// Writes `text` to stdout; a closed pipe (`callbudget ... | head`) is not a failure.
fn print_stdout(text: impl AsRef<[u8]>) -> Result<()> {
    print_or_closed_pipe(print_stdout_io(text))
}

pub(crate) fn print_stdout_io(text: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_ref()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
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
pub(crate) fn error_line(message: &str) {
    eprintln!("callbudget: error: {}", printable(message));
}
