//! `callbudget collect`: prove the key, open the database, pull every selected organization, and
//! say what happened.

use anyhow::Result;
use callbudget::cli::CollectArgs;
use callbudget::collect::progress::{Progress, Verbosity, print_summary};
use callbudget::collect::{self, CollectOptions, CollectSummary, OrgSelection};
use callbudget::dashboard::client::{ClientConfig, DashboardClient};
use callbudget::dashboard::key::ApiKey;
use callbudget::store::{OrgId, Store};
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(args: CollectArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let key = ApiKey::from_file_or_env(args.api_key_file.as_deref())?;
    let (_, summary) = collect_and_say(&args, key, verbosity)?;
    Ok(if summary.failed().next().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Collects as `args` say, showing progress and the summary, and naming on stderr each
/// organization that failed; returns the store for a command that goes on to analyse it.
pub fn collect_and_say(
    args: &CollectArgs,
    key: ApiKey,
    verbosity: Verbosity,
) -> Result<(Store, CollectSummary)> {
    let mut config = ClientConfig::new(&args.base_url, key, args.budget_share);
    config.org_rate = args.org_rate * args.budget_share;
    config.source_ip_rate = args.source_ip_rate * args.budget_share;
    config.ca_cert = args.ca_cert.clone();
    config.trusted_hosts = args.trust_host.clone();
    let share_rate = config.org_rate;
    let options = CollectOptions {
        orgs: if args.all_orgs {
            OrgSelection::All
        } else {
            OrgSelection::Ids(args.orgs.iter().map(OrgId::new).collect())
        },
        since: args.since,
        until: args.until,
        window: chrono::TimeDelta::minutes(i64::from(args.window_minutes)),
        by_consumer: args.by_consumer,
        concurrent_orgs: args.concurrent_orgs as usize,
        max_wait: args.max_wait,
        repair: args.repair,
        ..CollectOptions::default()
    };

    let progress = Arc::new(Progress::new(verbosity));
    let client_progress = Arc::clone(&progress);
    let client =
        DashboardClient::new(config)?.with_events(move |e| client_progress.client_event(e));
    let events = Arc::clone(&progress);
    let (store, summary) = collect::run(client, &args.db, options, move |e| events.event(e))?;
    progress.finish();
    super::print_or_closed_pipe(print_summary(&summary, share_rate, &args.db))?;
    for (org, error) in summary.failed() {
        // Most errors name the organization already ("organization 7 is not among …").
        if error.starts_with(&format!("organization {org} ")) {
            super::error_line(error);
        } else {
            super::error_line(&format!("organization {org}: {error}"));
        }
    }
    Ok((store, summary))
}
