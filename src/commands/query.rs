//! `callbudget query`: run a named query of the embedded `queries/` library, or list them.

use anyhow::Result;
use callbudget::cli::QueryArgs;
use callbudget_store::Store;
use callbudget_store::queries::{self, QueryError};
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.name {
        None => queries::write_list(&mut out),
        Some(name) => {
            // A query or parameter that does not exist, or a value of the wrong kind, is a usage
            // error (exit 2); a database that cannot be read is not.
            let usage_or_not = super::usage_when(QueryError::is_usage);
            let prepared = queries::prepare(&name, &args.params).map_err(usage_or_not)?;
            let store = Store::open_read_only(&args.db)?;
            let limits = callbudget_store::QueryLimits {
                timeout: args.timeout,
                ..callbudget_store::QueryLimits::default()
            };
            let rows = queries::run_within(&store, prepared.query, &prepared.params, &limits)
                .map_err(usage_or_not)?;
            queries::write_rows(&mut out, args.format, &rows)
        }
    };
    super::print_or_closed_pipe(written.and_then(|()| out.flush()))?;
    Ok(ExitCode::SUCCESS)
}
