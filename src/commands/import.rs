//! `callbudget import`: store a request log from another source as an organization's log.

use anyhow::{Context, Result};
use callbudget::budget::BudgetModel;
use callbudget::cli::ImportArgs;
use callbudget::import::{ImportOptions, read_log, store_log};
use callbudget::store::{OrgId, Store};
use chrono::Utc;
use std::process::ExitCode;

/// Malformed lines named one by one on stderr; the rest are counted.
const MALFORMED_SHOWN: usize = 20;

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
    };
    // The file first: one that cannot be read leaves no database behind.
    let parsed = read_log(&args.file, args.format)?;
    let mut store = Store::open(&args.db)?;
    let summary =
        store_log(&mut store, &args.file, parsed, &options, Utc::now()).with_context(|| {
            format!(
                "importing {} into {}",
                args.file.display(),
                args.db.display()
            )
        })?;
    for bad in summary.malformed.iter().take(MALFORMED_SHOWN) {
        eprintln!(
            "{}:{}: skipped: {}",
            args.file.display(),
            bad.line,
            bad.reason
        );
    }
    if summary.malformed.len() > MALFORMED_SHOWN {
        eprintln!(
            "{}: … and {} more malformed line(s) skipped",
            args.file.display(),
            summary.malformed.len() - MALFORMED_SHOWN
        );
    }
    if !quiet {
        println!(
            "imported {} request(s) ({} x 429) of organization {} from {} into {}: {} hour window(s) from {} to {}, {} malformed line(s) skipped; budget: {} ({})",
            summary.records,
            summary.http_429s,
            args.org,
            args.file.display(),
            args.db.display(),
            summary.windows,
            callbudget::timestamp::format(&summary.first),
            callbudget::timestamp::format(&summary.last),
            summary.malformed.len(),
            options.budget.name,
            options.budget.summary(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
