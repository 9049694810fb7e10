//! `callbudget report`: analyse like `analyze`, then write the report files.

use super::{audit_request, findings_exit_code, warn_left_out};
use anyhow::Result;
use callbudget::analysis::{AuditRun, run_audits};
use callbudget::cli::ReportArgs;
use callbudget::report::{Format, ReportContext, ReportInput, write_report};
use callbudget::store::Store;
use chrono::Utc;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(args: ReportArgs, quiet: bool) -> Result<ExitCode> {
    // Analysing never creates a database.
    let mut store = Store::open_existing(&args.db)?;
    let run = run_audits(&store, &audit_request(&args.analysis)?)?;
    warn_left_out(&run);
    write_and_save(&mut store, &run, &args.out, &args.format, quiet)?;
    Ok(findings_exit_code(&run, args.analysis.fail_on))
}

/// Writes the report of `run` into `out`, lists the files on stdout (the main one first), then
/// saves the audits for the next report's trends.
pub fn write_and_save(
    store: &mut Store,
    run: &AuditRun,
    out: &Path,
    formats: &[Format],
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let context = ReportContext::new(store.path(), Utc::now());
    let input = ReportInput {
        audits: &run.audits,
        context: &context,
    };
    let files = write_report(out, formats, &input)?;
    super::save_or_say(store, run, context.generated_at)?;
    if !quiet {
        eprintln!(
            "wrote {} file(s) into {} in {:.2} s",
            files.len(),
            out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let listing: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    super::print_stdout(&listing)
}
