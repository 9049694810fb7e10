//! `callbudget report`: analyse like `analyze`, then write the report files.

use super::{audit_stored, findings_exit_code, output_and_save};
use anyhow::Result;
use callbudget::analysis::AuditRun;
use callbudget::cli::ReportArgs;
use callbudget::report::{Format, write_report};
use callbudget::store::Store;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(args: ReportArgs, quiet: bool) -> Result<ExitCode> {
    let (mut store, run) = audit_stored(&args.db, &args.analysis)?;
    write_and_save(&mut store, &run, &args.out, &args.format, quiet)?;
    Ok(findings_exit_code(&run, args.analysis.fail_on))
}

/// Writes the report of `run` into `out`, saves the audits for the next report's trends, then
/// lists the files on stdout (the main one first).
pub fn write_and_save(
    store: &mut Store,
    run: &AuditRun,
    out: &Path,
    formats: &[Format],
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let files = output_and_save(store, run, |input| Ok(write_report(out, formats, input)?))?;
    say!(
        quiet,
        "wrote {} file(s) into {} in {:.2} s",
        files.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    let listing: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    super::print_stdout(&listing)
}
