//! `callbudget completions SHELL` and `callbudget man`: print or write what `cli::docs` generates.

use anyhow::{Context, Result};
use callbudget::cli::docs::{completion_script, man_page, write_man_pages};
use callbudget::cli::{CompletionsArgs, ManArgs};
use std::process::ExitCode;

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    super::print_stdout(completion_script(args.shell))?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(args: ManArgs, quiet: bool) -> Result<ExitCode> {
    let Some(dir) = args.out else {
        super::print_stdout(man_page().context("cannot render the manual page")?)?;
        return Ok(ExitCode::SUCCESS);
    };
    let written = write_man_pages(&dir)?;
    say!(
        quiet,
        "wrote {} manual page(s) into {}",
        written.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
