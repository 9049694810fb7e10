//! `callbudget import`: store a request log from another source as an organization's log.

use anyhow::{Context, Result};
use callbudget::budget::BudgetModel;
use callbudget::cli::ImportArgs;
use callbudget::import::{ImportOptions, import_log, open_log};
use callbudget::store::{OrgId, Store};
use chrono::Utc;
use std::process::ExitCode;

pub fn run(args: ImportArgs, quiet: bool) -> Result<ExitCode> {
    let budget = match (&args.budget_model, args.provider.default_budget()) {
        (Some(spec), _) => BudgetModel::resolve(spec)?,
        (None, Some(model)) => model,
        (None, None) => {
            return Err(super::usage_message(format!(
                "--provider {} has no budget of its own: pass --budget-model FILE.toml (or meraki, xdr)",
                args.provider.as_str()
            )));
        }
    };
    let options = ImportOptions {
        org_id: OrgId::new(&args.org),
        org_name: args.org_name.clone(),
        provider: args.provider,
        format: args.format,
        budget,
        strict: args.strict,
        max_span: args.max_span,
    };
    // The file first: one that cannot be read leaves no database behind.
    let file = open_log(&args.file)?;
    let mut store = Store::open(&args.db)?;
    let summary =
        import_log(&mut store, file, &args.file, &options, Utc::now()).with_context(|| {
            format!(
                "importing {} into {}",
                args.file.display(),
                args.db.display()
            )
        })?;
    for line in summary.skipped_lines(&args.file) {
        eprintln!("{line}");
    }
    if !quiet {
        println!("{}", summary.describe(&options, &args.file, &args.db));
    }
    Ok(ExitCode::SUCCESS)
}
