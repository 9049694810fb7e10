//! Wiring from parsed command lines to the library: one module per subcommand, each short.

mod simulate;

use anyhow::Result;
use callbudget::cli::{Cli, Command};
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Simulate(args) => simulate::run(args, quiet),
    }
}
