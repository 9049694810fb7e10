//! `callbudget collect`: prove the key, open the database, pull every selected organization, and
//! say what happened.

use anyhow::Result;
use callbudget::cli::CollectArgs;
use callbudget_collect::dashboard::key::ApiKey;
use callbudget_collect::progress::{Verbosity, run_shown, summary_text};
use std::process::ExitCode;

pub fn run(args: CollectArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let key = ApiKey::from_file_or_env(args.api_key_file.as_deref())?;
    let config = args.client_config(key);
    let share_rate = config.org_rate;
    let (_, summary) = run_shown(config, &args.db, args.collect_options(), verbosity)?;
    super::print_stdout(summary_text(&summary, share_rate, &args.db))?;
    for line in summary.failure_lines() {
        super::error_line(&line);
    }
    Ok(if summary.failed().next().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
