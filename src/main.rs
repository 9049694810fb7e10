//! The `callbudget` binary: parse the command line, run one command, turn an error into a one-line
//! message and an exit code.

mod commands;

use callbudget::cli::Cli;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the context chain on one line: "cannot read x: No such file".
            eprintln!(
                "callbudget: error: {}",
                callbudget_api::text::printable(&format!("{e:#}"))
            );
            commands::error_exit_code(&e)
        }
    }
}
