//! Wiring from parsed command lines to the library: one module per subcommand, each short.

mod analyze;
mod audit;
mod collect;
mod demo;
mod export;
mod import;
mod query;
mod report;
mod simulate;

use anyhow::Result;
use callbudget::cli::{Cli, Command};
use std::process::ExitCode;

/// How much to say on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Verbosity {
    pub quiet: bool,
    pub verbose: u8,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let verbosity = Verbosity {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Report(args) => report::run(args, verbosity.quiet),
        Command::Audit(args) => audit::run(args, verbosity),
        Command::Demo(args) => demo::run(args, verbosity),
        Command::Collect(args) => collect::run(args, verbosity),
        Command::Query(args) => query::run(args),
        Command::Export(args) => export::run(args, verbosity.quiet),
        Command::Simulate(args) => simulate::run(args, verbosity.quiet),
        Command::Import(args) => import::run(args, verbosity.quiet),
    }
}
