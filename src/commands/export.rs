//! `callbudget export`: the database's tables as CSV or Parquet files.

use anyhow::Result;
use callbudget::cli::ExportArgs;
use callbudget_store::Store;
use callbudget_store::export::{ExportError, export, tables_named};
use std::process::ExitCode;

pub fn run(args: ExportArgs, quiet: bool) -> Result<ExitCode> {
    let tables = tables_named(&args.tables).map_err(super::usage_when(ExportError::is_usage))?;
    let store = Store::open_read_only(&args.db)?;
    let written = export(&store, &tables, args.format, &args.out)
        .map_err(super::usage_when(ExportError::is_usage))?;
    say!(
        quiet,
        "wrote {} file(s) of {} table(s) under {}{}",
        written.files.len(),
        tables.len(),
        args.out.display(),
        if written.replaced {
            ", in the place of the previous export of this database"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
