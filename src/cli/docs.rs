//! The shell completion scripts and the manual pages, generated from the command line's own
//! definition ([`Cli`]) so they never fall behind it.

use super::Cli;
use callbudget_api::output_files::{OutputError, create_dirs_below, write_atomically};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// The completion script of `shell`.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "callbudget", &mut script);
    script
}

/// `callbudget.1`: the manual page of the whole command.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut command = Cli::command();
    command.build();
    page(&command)
}

/// Writes `callbudget.1` and one `callbudget-SUBCOMMAND.1` per subcommand into `dir` (created
/// if missing); returns the pages written.
pub fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    let mut command = Cli::command();
    command.build();
    let dir = create_dirs_below(dir, Path::new(""))?;
    let mut written = vec![write_page(&dir, &command)?];
    // clap's own `help` subcommand is `--help`: no page of its own.
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        written.push(write_page(&dir, sub)?);
    }
    Ok(written)
}

/// The roff of one command's page.
fn page(command: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut roff)?;
    Ok(roff)
}

/// Writes `command`'s page as `dir/NAME.1` (a subcommand's name is `callbudget-SUB`).
fn write_page(dir: &Path, command: &clap::Command) -> Result<PathBuf, OutputError> {
    let path = dir.join(clap_mangen::Man::new(command.clone()).get_filename());
    let roff = page(command).map_err(|source| OutputError::Io {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, &roff)?;
    Ok(path)
}
