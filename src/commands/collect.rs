//! `callbudget collect`: prove the key, open the database, pull every selected organization, and
//! say what happened — a progress bar per organization on a terminal, plain lines otherwise.

use super::Verbosity;
use anyhow::{Context, Result};
use callbudget::cli::CollectArgs;
use callbudget::collect::{
    self, CollectEvent, CollectOptions, CollectSummary, OrgSelection, SharedStore,
};
use callbudget::dashboard::client::{ClientConfig, ClientEvent, DashboardClient};
use callbudget::dashboard::key::ApiKey;
use callbudget::store::Store;
use callbudget::timestamp;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

pub fn run(args: CollectArgs, verbosity: Verbosity) -> Result<ExitCode> {
    let key = ApiKey::from_file_or_env(args.api_key_file.as_deref())?;
    let outcome = collect_with_key(&args, key, verbosity)?;
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Which organizations a run collected, and which failed.
pub struct CollectOutcome {
    pub collected: Vec<String>,
    pub failed: Vec<String>,
}

/// Collects as `args` say with `key`; says on stderr which organizations failed.
pub fn collect_with_key(
    args: &CollectArgs,
    key: ApiKey,
    verbosity: Verbosity,
) -> Result<CollectOutcome> {
    let mut config = ClientConfig::new(&args.base_url, key, args.budget_share);
    config.org_rate = args.org_rate * args.budget_share;
    config.source_ip_rate = args.source_ip_rate * args.budget_share;
    config.ca_cert = args.ca_cert.clone();
    let share_rate = config.org_rate;

    let progress = Arc::new(Progress::new(verbosity));
    let client_progress = Arc::clone(&progress);
    let client =
        DashboardClient::new(config)?.with_events(move |e| client_progress.client_event(e));
    let options = CollectOptions {
        orgs: if args.all_orgs {
            OrgSelection::All
        } else {
            OrgSelection::Ids(args.orgs.clone())
        },
        since: args.since,
        until: args.until,
        window: chrono::TimeDelta::minutes(i64::from(args.window_minutes)),
        by_consumer: args.by_consumer,
        concurrent_orgs: args.concurrent_orgs as usize,
    };

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        // The key is proven before the database is opened: a wrong key leaves no file behind.
        let (orgs, _) = collect::list_organizations(&client)
            .await
            .with_context(|| format!("cannot list organizations at {}", args.base_url))?;
        let store = Store::open(&args.db)?;
        let events = Arc::clone(&progress);
        collect::collect(
            Arc::new(client),
            SharedStore::new(store),
            orgs,
            options,
            move |e| events.event(e),
        )
        .await
        .map_err(anyhow::Error::from)
    })?;
    progress.finish();
    // A closed pipe (`callbudget collect ... | head`) is not a failure.
    if let Err(e) = print_summary(&summary, share_rate, &args.db)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("cannot write the summary");
    }
    let mut failed = Vec::new();
    for (org, error) in summary.failed() {
        eprintln!("callbudget: error: organization {org}: {error}");
        failed.push(org.to_string());
    }
    let collected = summary
        .orgs
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(org, _)| org.to_string())
        .collect();
    Ok(CollectOutcome { collected, failed })
}

fn print_summary(
    summary: &CollectSummary,
    share_rate: f64,
    db: &std::path::Path,
) -> std::io::Result<()> {
    let total = summary.total();
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "collected {} window(s) of {} organization(s) into {}: {} records, {} calls, {} x 429, {:.1} s waited (summed over organizations), {:.1} s in all",
        total.windows,
        summary.orgs.len(),
        db.display(),
        total.records,
        total.tally.calls,
        total.tally.http_429s,
        total.tally.waited.as_secs_f64(),
        secs
    )?;
    let orgs = summary
        .orgs
        .iter()
        .filter(|(_, r)| r.is_ok())
        .count()
        .max(1);
    writeln!(
        out,
        "effective rate {:.2} calls/s against a share of {:.2} calls/s per organization ({} organization(s))",
        total.tally.calls as f64 / secs,
        share_rate,
        orgs
    )?;
    out.flush()
}

/// How the run is shown: bars on a terminal, lines otherwise, nothing but errors with --quiet.
struct Progress {
    verbosity: Verbosity,
    bars: Option<MultiProgress>,
    org_bars: Mutex<HashMap<String, OrgBar>>,
}

struct OrgBar {
    bar: ProgressBar,
    records: u64,
    http_429s: u64,
    waited: f64,
}

impl Progress {
    fn new(verbosity: Verbosity) -> Progress {
        let bars = (!verbosity.quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            verbosity,
            bars,
            org_bars: Mutex::new(HashMap::new()),
        }
    }

    fn say(&self, line: String) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    fn client_event(&self, event: ClientEvent) {
        if self.verbosity.quiet || self.verbosity.verbose == 0 {
            return;
        }
        match event {
            ClientEvent::Throttled { url, wait } => self.say(format!(
                "429 from {}: waiting {:.1} s",
                path_of(&url),
                wait.as_secs_f64()
            )),
            ClientEvent::Retrying {
                url,
                attempt,
                reason,
                request_id,
                wait,
            } => self.say(format!(
                "{} failed ({reason}{}), retry {attempt} in {:.1} s",
                path_of(&url),
                request_id
                    .map(|id| format!(", X-Request-Id {id}"))
                    .unwrap_or_default(),
                wait.as_secs_f64()
            )),
        }
    }

    fn event(&self, event: CollectEvent) {
        if self.verbosity.quiet {
            return;
        }
        let mut org_bars = self.org_bars.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            CollectEvent::OrgStarted { org, name, windows } => match &self.bars {
                Some(bars) => {
                    let bar = bars.add(ProgressBar::new(windows as u64));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>14} [{bar:24}] {pos}/{len} windows {msg} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(org.clone());
                    org_bars.insert(
                        org,
                        OrgBar {
                            bar,
                            records: 0,
                            http_429s: 0,
                            waited: 0.0,
                        },
                    );
                }
                None => eprintln!("organization {org} ({name}): {windows} window(s) to collect"),
            },
            CollectEvent::Page { org, records } => {
                if let Some(b) = org_bars.get_mut(&org) {
                    b.records += records as u64;
                    b.bar.set_message(b.message());
                }
            }
            CollectEvent::WindowStored {
                org,
                t0,
                t1,
                records,
                tally,
            } => match org_bars.get_mut(&org) {
                Some(b) => {
                    b.http_429s += tally.http_429s;
                    b.waited += tally.waited.as_secs_f64();
                    b.bar.set_message(b.message());
                    b.bar.inc(1);
                }
                None => eprintln!(
                    "organization {org}: stored {} to {}: {records} records, {} calls, {} x 429, {:.1} s waited",
                    timestamp::format(&t0),
                    timestamp::format(&t1),
                    tally.calls,
                    tally.http_429s,
                    tally.waited.as_secs_f64()
                ),
            },
            CollectEvent::Warning { org, message } => {
                let who = org
                    .map(|o| format!("organization {o}: "))
                    .unwrap_or_default();
                self.say(format!("callbudget: warning: {who}{message}"));
            }
            CollectEvent::OrgFinished { org, summary } => {
                if let Some(b) = org_bars.get(&org) {
                    b.bar.finish_with_message(b.message());
                } else {
                    eprintln!(
                        "organization {org}: done: {} window(s), {} records, {} calls, {} x 429",
                        summary.windows,
                        summary.records,
                        summary.tally.calls,
                        summary.tally.http_429s
                    );
                }
            }
            CollectEvent::OrgFailed { org, error } => {
                if let Some(b) = org_bars.get(&org) {
                    b.bar.abandon_with_message(format!("failed: {error}"));
                }
            }
        }
    }

    /// Leaves the finished bars on screen, so the summary follows them.
    fn finish(&self) {
        if let Some(bars) = &self.bars {
            let _ = bars.println("");
        }
    }
}

impl OrgBar {
    fn message(&self) -> String {
        let rate = self.records as f64 / self.bar.elapsed().as_secs_f64().max(1e-3);
        format!(
            "{} records ({rate:.0}/s), {} x 429, {:.0} s waited",
            self.records, self.http_429s, self.waited
        )
    }
}

/// The path of a URL, for log lines (query strings carry nothing a reader needs).
fn path_of(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.find("/api/v1").map_or(path, |i| &path[i..])
}
