//! What a person running the collector sees: a progress bar per organization on a terminal, one
//! line per stored window otherwise (cron, CI), nothing but errors when quiet — and the run's
//! summary. Every organization name, URL and error text from the API passes the sanitiser first.

use super::{CollectError, CollectEvent, CollectOptions, CollectSummary};
use crate::dashboard::client::{ClientConfig, ClientEvent, DashboardClient};
use callbudget_api::text::printable;
use callbudget_api::timestamp;
use callbudget_store::Store;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verbosity {
    pub quiet: bool,
    pub verbose: u8,
}

/// A collection run ([`super::run`]) shown as `verbosity` says: the client's retries and 429s and
/// the collector's windows on one progress, whose bars stay on screen for the summary.
pub fn run_shown(
    config: ClientConfig,
    db: &Path,
    options: CollectOptions,
    verbosity: Verbosity,
) -> Result<(Store, CollectSummary), CollectError> {
    let progress = Arc::new(Progress::new(verbosity));
    let client_progress = Arc::clone(&progress);
    let client =
        DashboardClient::new(config)?.with_events(move |e| client_progress.client_event(e));
    let events = Arc::clone(&progress);
    let collected = super::run(client, db, options, move |e| events.event(e))?;
    progress.finish();
    Ok(collected)
}

/// The run's summary, for stdout: records, calls, 429s, time waited, and the rate it kept.
pub fn summary_text(summary: &CollectSummary, share_rate: f64, db: &Path) -> String {
    let total = summary.total();
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    let failed = match total.failed_windows.len() {
        0 => String::new(),
        n => format!(" ({n} more failed)"),
    };
    let orgs = summary
        .orgs
        .iter()
        .filter(|o| o.error.is_none())
        .count()
        .max(1);
    format!(
        "collected {} window(s){failed} of {} organization(s) into {}: {} records, {} calls, {} x 429, {:.1} s waited (summed over organizations), {:.1} s in all\n\
         effective rate {:.2} calls/s against a share of {:.2} calls/s per organization ({} organization(s))\n",
        total.windows,
        summary.orgs.len(),
        db.display(),
        total.records,
        total.tally.calls,
        total.tally.http_429s,
        total.tally.waited.as_secs_f64(),
        secs,
        total.tally.calls as f64 / secs,
        share_rate,
        orgs
    )
}

/// How the run is shown: bars on a terminal, lines otherwise, nothing but errors with --quiet.
pub struct Progress {
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
    pub fn new(verbosity: Verbosity) -> Progress {
        let bars = (!verbosity.quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            verbosity,
            bars,
            org_bars: Mutex::new(HashMap::new()),
        }
    }

    /// One line on stderr, with anything from the API in it made printable.
    fn say(&self, line: String) {
        let line = printable(&line).into_owned();
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Retries and 429s, shown with `-v`.
    pub fn client_event(&self, event: ClientEvent) {
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
            ClientEvent::Redirected { status, from, to } => {
                self.say(format!("{from} redirected ({status}) to {to}"))
            }
        }
    }

    pub fn event(&self, event: CollectEvent) {
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
                    bar.set_prefix(printable(&org).into_owned());
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
                None => self.say(format!("organization {org} ({name}): {windows} window(s) to collect")),
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
                None => self.say(format!(
                    "organization {org}: stored {} to {}: {records} records, {} calls, {} x 429, {:.1} s waited",
                    timestamp::format(&t0),
                    timestamp::format(&t1),
                    tally.calls,
                    tally.http_429s,
                    tally.waited.as_secs_f64()
                )),
            },
            CollectEvent::WindowFailed {
                org,
                t0,
                t1,
                error,
                tally,
            } => {
                if let Some(b) = org_bars.get_mut(&org) {
                    b.bar.inc(1);
                }
                self.say(format!(
                    "organization {org}: window {} to {} failed ({} calls): {error}",
                    timestamp::format(&t0),
                    timestamp::format(&t1),
                    tally.calls
                ));
            }
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
                    self.say(format!(
                        "organization {org}: done: {} window(s), {} records, {} calls, {} x 429",
                        summary.windows,
                        summary.records,
                        summary.tally.calls,
                        summary.tally.http_429s
                    ));
                }
            }
            CollectEvent::OrgFailed { org, error } => {
                if let Some(b) = org_bars.get(&org) {
                    b.bar.abandon_with_message(format!("failed: {}", printable(&error)));
                }
            }
        }
    }

    /// Leaves the finished bars on screen, so the summary follows them.
    pub fn finish(&self) {
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
