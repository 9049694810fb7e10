//! `callbudget export`: the database's tables as CSV or Parquet files.

use anyhow::Result;
use callbudget::cli::ExportArgs;
use callbudget::export::{export, find_table};
use callbudget::store::{EXPORTED_TABLES, Store};
use std::process::ExitCode;

pub fn run(args: ExportArgs, quiet: bool) -> Result<ExitCode> {
    let tables = if args.tables.is_empty() {
        EXPORTED_TABLES.iter().collect()
    } else {
        args.tables
            .iter()
            .map(|name| find_table(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(super::usage)?
    };
    let store = Store::open_read_only(&args.db)?;
    let written = export(&store, &tables, args.format, &args.out)?;
    if !quiet {
        eprintln!(
            "wrote {} file(s) of {} table(s) under {}",
            written.len(),
            tables.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
