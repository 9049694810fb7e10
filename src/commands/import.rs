//! `callbudget import`: store a request log from another source as an organization's log.

use anyhow::{Context, Result};
use callbudget::cli::ImportArgs;
use callbudget_store::import::{ImportBudgetError, ImportDatabase, import_log, open_log};
use chrono::Utc;
use std::process::ExitCode;

pub fn run(args: ImportArgs, quiet: bool) -> Result<ExitCode> {
    let options = args
        .import_options()
        .map_err(super::usage_when(ImportBudgetError::is_usage))?;
    // The file first: one that cannot be read leaves no database behind.
    let file = open_log(&args.file)?;
    let mut database = ImportDatabase::open(&args.db)?;
    let importing = || {
        format!(
            "importing {} into {}",
            args.file.display(),
            args.db.display()
        )
    };
    let summary = import_log(database.store(), file, &args.file, &options, Utc::now())
        .with_context(importing)?;
    database.publish().with_context(importing)?;
    for line in summary.skipped_lines(&args.file) {
        eprintln!("{line}");
    }
    if !quiet {
        println!("{}", summary.describe(&options, &args.file, &args.db));
    }
    Ok(ExitCode::SUCCESS)
}
