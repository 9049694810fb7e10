//! `callbudget completions SHELL` and `callbudget man`: print or write what `cli::docs` generates.

use anyhow::{Context, Result};
use callbudget::cli::docs::{completion_script, man_page, write_man_pages};
use callbudget::cli::{CompletionsArgs, ManArgs};
use std::io::Write;
use std::process::ExitCode;

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let script = completion_script(args.shell);
    super::print_or_closed_pipe(std::io::stdout().write_all(&script))?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(args: ManArgs, quiet: bool) -> Result<ExitCode> {
    let Some(dir) = args.out else {
        let page = man_page().context("cannot render the manual page")?;
        super::print_or_closed_pipe(std::io::stdout().write_all(&page))?;
        return Ok(ExitCode::SUCCESS);
    };
    let written = write_man_pages(&dir)?;
    if !quiet {
        eprintln!(
            "wrote {} manual page(s) into {}",
            written.len(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
