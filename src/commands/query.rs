//! `callbudget query`: run a named query of the embedded `queries/` library, or list them.

use anyhow::{Context, Result};
use callbudget::cli::QueryArgs;
use callbudget::queries::{self, LIBRARY, QueryError};
use callbudget::store::Store;
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.name {
        None => list(&mut out),
        Some(name) => {
            // A query or parameter that does not exist, or a value of the wrong kind, is a usage
            // error (exit 2); a database that cannot be read is not.
            let usage_or_not = |e: QueryError| {
                if e.is_usage() {
                    super::usage(e)
                } else {
                    e.into()
                }
            };
            let query = queries::find(&name).map_err(usage_or_not)?;
            let params = args
                .params
                .iter()
                .map(|p| queries::parse_parameter(p))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|params| queries::checked_parameters(query, &params))
                .map_err(usage_or_not)?;
            let store = Store::open_read_only(&args.db)?;
            let rows = queries::run(&store, query, &params).map_err(usage_or_not)?;
            queries::write_rows(&mut out, args.format, &rows)
        }
    };
    // A closed pipe (`callbudget query ... | head`) means the reader has what it wanted.
    if let Err(e) = written.and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("cannot write the query's rows");
    }
    Ok(ExitCode::SUCCESS)
}

fn list(out: &mut impl Write) -> std::io::Result<()> {
    let width = LIBRARY.iter().map(|q| q.name.len()).max().unwrap_or(0);
    for q in &LIBRARY {
        writeln!(out, "{:width$}  {}", q.name, q.summary())?;
    }
    Ok(())
}
