//! `callbudget collect`: prove the key, open the database, pull every selected organization, and
//! say what happened.

use anyhow::Result;
use callbudget::cli::CollectArgs;
use callbudget::collect::CollectSummary;
use callbudget::collect::progress::{Verbosity, run_shown, summary_text};
use callbudget::dashboard::key::ApiKey;
use callbudget::store::Store;
use std::process::ExitCode;

pub fn run(args: CollectArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let (_, summary) = collect_and_say(&args, verbosity)?;
    Ok(if summary.failed().next().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Collects as `args` say with the API key they name, showing progress and the summary, and
/// naming on stderr each organization that failed; returns the store for a command that goes on
/// to analyse it.
pub fn collect_and_say(
    args: &CollectArgs,
    verbosity: Verbosity,
) -> Result<(Store, CollectSummary)> {
    let key = ApiKey::from_file_or_env(args.api_key_file.as_deref())?;
    let config = args.client_config(key);
    let share_rate = config.org_rate;
    let (store, summary) = run_shown(config, &args.db, args.collect_options(), verbosity)?;
    super::print_stdout(summary_text(&summary, share_rate, &args.db))?;
    for line in summary.failure_lines() {
        super::error_line(&line);
    }
    Ok((store, summary))
}
