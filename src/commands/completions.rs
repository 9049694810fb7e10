//! `callbudget completions SHELL` and `callbudget man`: the shell's completion script and the
//! manual pages, generated from the command line's own definition so they never fall behind it.

use anyhow::{Context, Result};
use callbudget::cli::{Cli, CompletionsArgs, ManArgs};
use callbudget::output_files::{create_dirs_below, write_atomically};
use clap::CommandFactory;
use std::path::Path;
use std::process::ExitCode;

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "callbudget", &mut script);
    super::print_or_closed_pipe(std::io::Write::write_all(&mut std::io::stdout(), &script))?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(args: ManArgs, quiet: bool) -> Result<ExitCode> {
    let mut command = Cli::command();
    command.build();
    let Some(dir) = args.out else {
        super::print_or_closed_pipe(std::io::Write::write_all(
            &mut std::io::stdout(),
            &page(&command)?,
        ))?;
        return Ok(ExitCode::SUCCESS);
    };
    let dir = create_dirs_below(&dir, Path::new(""))?;
    let mut written = vec![write_page(&dir, &command)?];
    // clap's own `help` subcommand is `--help`: no page of its own.
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        written.push(write_page(&dir, sub)?);
    }
    if !quiet {
        eprintln!(
            "wrote {} manual page(s) into {}",
            written.len(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The roff of one command's page.
fn page(command: &clap::Command) -> Result<Vec<u8>> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut roff)
        .context("cannot render the manual page")?;
    Ok(roff)
}

/// Writes `command`'s page as `dir/NAME.1` (a subcommand's name is `callbudget-SUB`).
fn write_page(dir: &Path, command: &clap::Command) -> Result<std::path::PathBuf> {
    let man = clap_mangen::Man::new(command.clone());
    let path = dir.join(man.get_filename());
    write_atomically(&path, &page(command)?)?;
    Ok(path)
}
