//! `callbudget report`: analyse like `analyze`, then write the report files.

use super::analyze::{audit_orgs, exit_code, open_collected, save_audits};
use anyhow::{Context, Result};
use callbudget::analysis::{OrgAudit, data_coverage};
use callbudget::cli::ReportArgs;
use callbudget::report::files::{OrgReportInput, ReportFormat, write_report};
use callbudget::report::html::ReportContext;
use callbudget::store::{OrgId, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(args: ReportArgs, quiet: bool) -> Result<ExitCode> {
    let mut store = open_collected(&args.db)?;
    let audits = audit_orgs(&mut store, &args.analysis)?;
    let files = write_reports(&mut store, &audits, &args.out, &args.format, quiet)?;
    print_written(&files);
    Ok(exit_code(&audits, args.analysis.fail_on))
}

/// Writes the report of `audits` into `out`, then saves the audits (for the next report's
/// trends); returns the files written.
pub fn write_reports(
    store: &mut Store,
    audits: &[OrgAudit],
    out: &Path,
    formats: &[ReportFormat],
    quiet: bool,
) -> Result<Vec<PathBuf>> {
    let started = Instant::now();
    let mut orgs = Vec::with_capacity(audits.len());
    for audit in audits {
        let audit = audit.clone();
        let org = OrgId::new(&audit.org_id);
        let coverage = data_coverage(store, &org, &audit.window)
            .with_context(|| format!("reading what was collected of organization {org}"))?;
        orgs.push(OrgReportInput {
            organization_name: store.organization_name(&org)?,
            coverage,
            audit,
        });
    }
    let context = ReportContext {
        generated_at: chrono::Utc::now(),
        database: store.path().display().to_string(),
    };
    let files = write_report(out, &orgs, formats, &context)?;
    save_audits(store, audits)?;
    if !quiet {
        eprintln!(
            "wrote {} file(s) into {} in {:.2} s",
            files.len(),
            out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(files)
}

/// The report's main file first, then every file written, one per line on stdout.
pub fn print_written(files: &[PathBuf]) {
    for file in files {
        println!("{}", file.display());
    }
}
