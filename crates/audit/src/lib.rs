//! The audit use case, in one place: take the organizations' logs (collected now, or as stored) →
//! audit them → read what is new since the saved audits → write the output → mark the news to
//! announce → save the audits → announce the news (and clear the mark). `callbudget audit`, `report`, `analyze` and `demo` each build one
//! [`AuditJob`] and call [`run`]; the binary only prints what it hears and exits with
//! its [`AuditOutcome`]'s `exit_code`.
//!
//! The order is the rule, and it lives here:
//! - What is new is read **before** this run's audits are saved: they become the next baseline.
//! - The output is written **before** the audits are saved, so that a failed output leaves no
//!   saved audit that nobody saw.
//! - The news is marked "to announce" **before** the audits are saved and cleared only **after**
//!   a webhook took it: a run killed while posting leaves the mark, and the next run says the news
//!   again (at least once).
//! - A database this process may not write gets no saved audit, and the run says so (no failure).
//! - The exit code: an organization that failed to collect (1) beats a notification that was not
//!   delivered (4), which beats a finding at or over `--fail-on` (3).

use callbudget_analysis::{
    AnalysisError, AuditRequest, AuditRun, LeftOut, OrgChoice, PipelineError, Severity, run_audits,
    save_audits_if_writable,
};
use callbudget_api::text::printable;
use callbudget_collect::dashboard::client::ClientConfig;
use callbudget_collect::progress::{Verbosity, summary_text};
use callbudget_collect::{CollectError, CollectOptions, CollectSummary};
use callbudget_report::notify::{
    self, Announcement, DeliveryPolicy, NotifyError, Posted, WebhookTarget,
};
use callbudget_report::{Format, ReportContext, ReportError, ReportInput};
use callbudget_store::{Store, StoreError};
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The exit code of a run whose organizations were all collected and audited, with no finding at
/// or over `--fail-on` and every notification delivered.
pub const EXIT_CLEAN: u8 = 0;
/// An organization failed to collect (the others were still reported).
pub const EXIT_COLLECT_FAILED: u8 = 1;
/// A finding at least as severe as `--fail-on`: distinct from errors (1) and usage (2).
pub const EXIT_FINDINGS: u8 = 3;
/// The audit is complete but a notification was not delivered.
pub const EXIT_NOTIFY_FAILED: u8 = 4;

/// One audit to run.
pub struct AuditJob<'a> {
    /// Where the logs come from.
    pub source: Source,
    /// What to audit. When the job collects, its organizations are the ones this run collected
    /// (the database may hold others, e.g. imported ones).
    pub request: AuditRequest,
    /// What to write.
    pub output: Output<'a>,
    /// The webhooks to tell what is new; none: nothing is compared or posted.
    pub targets: &'a [WebhookTarget],
    /// Findings at least this severe make the exit code [`EXIT_FINDINGS`].
    pub fail_on: Option<Severity>,
}

/// Where an audit's logs come from.
// One value per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// The database as it is (`analyze`, `report`); it is never created.
    Stored { db: PathBuf },
    /// Collected first, into `db` (`audit`, `demo`), through a client of `client`.
    Collect {
        client: ClientConfig,
        db: PathBuf,
        options: CollectOptions,
    },
}

/// What an audit writes.
pub enum Output<'a> {
    /// One text format, written to `to` (`analyze`: stdout).
    Print {
        format: Format,
        to: &'a mut dyn std::io::Write,
    },
    /// Report files into a directory (`report`, `audit`, `demo`).
    Files { out: PathBuf, formats: Vec<Format> },
}

/// What a person running the audit hears while it runs, in order. The binary turns each into a
/// line (stderr, or stdout for the results) as its verbosity says; tests keep them.
#[derive(Debug)]
pub enum AuditEvent<'a> {
    /// Collection finished: what it stored, at which share of each budget (calls/s).
    Collected {
        summary: &'a CollectSummary,
        share_rate: f64,
        db: &'a Path,
    },
    /// An organization the run left out, and why.
    LeftOut(&'a LeftOut),
    /// The report files were written into `out`.
    Wrote {
        files: &'a [PathBuf],
        out: &'a Path,
        elapsed: Duration,
    },
    /// The audits were not saved: why (a read-only database; no failure).
    NotSaved(String),
    /// Why nothing was posted for an organization (e.g. nothing new).
    NothingPosted(String),
    /// How one webhook took the news: `Ok(line)` delivered, `Err(line)` not.
    Delivery(Result<String, String>),
}

/// Where a line about the run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// What the run produced for the caller to keep (stdout): the collection's summary, the files.
    Result,
    /// What the run is doing (stderr, unless quiet).
    Note,
    /// Something the person should know that is no failure (stderr, always).
    Warning,
    /// A part that failed while the rest went on (stderr, always).
    Error,
}

/// One line for a person, with anything from outside already made printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub text: String,
}

impl AuditEvent<'_> {
    /// What a person reads of this event.
    pub fn lines(&self) -> Vec<Line> {
        let line = |kind, text: String| Line { kind, text };
        match self {
            AuditEvent::Collected {
                summary,
                share_rate,
                db,
            } => std::iter::once(line(
                LineKind::Result,
                summary_text(summary, *share_rate, db),
            ))
            .chain(
                summary
                    .failure_lines()
                    .into_iter()
                    .map(|failure| line(LineKind::Error, printable(&failure).into_owned())),
            )
            .collect(),
            AuditEvent::LeftOut(left) => vec![line(
                LineKind::Warning,
                format!("{}; left out", printable(&left.reason)),
            )],
            AuditEvent::Wrote {
                files,
                out,
                elapsed,
            } => vec![
                line(
                    LineKind::Note,
                    format!(
                        "wrote {} file(s) into {} in {:.2} s",
                        files.len(),
                        out.display(),
                        elapsed.as_secs_f64()
                    ),
                ),
                line(
                    LineKind::Result,
                    files.iter().map(|f| format!("{}\n", f.display())).collect(),
                ),
            ],
            AuditEvent::NotSaved(why) => vec![line(LineKind::Warning, why.clone())],
            AuditEvent::NothingPosted(why) => {
                vec![line(LineKind::Note, format!("notify: {why}"))]
            }
            AuditEvent::Delivery(Ok(delivered)) => {
                vec![line(LineKind::Note, format!("notify: {delivered}"))]
            }
            AuditEvent::Delivery(Err(failed)) => {
                vec![line(LineKind::Error, printable(failed).into_owned())]
            }
        }
    }
}

/// How an audit is shown while it runs.
pub trait AuditProgress {
    /// How much the collector shows (bars, lines, nothing) while it collects.
    fn collect_verbosity(&self) -> Verbosity;
    /// Something happened.
    fn event(&mut self, event: AuditEvent<'_>) -> std::io::Result<()>;
}

/// What an audit did.
#[derive(Debug)]
pub struct AuditOutcome {
    /// What was collected, when the job collected.
    pub collected: Option<CollectSummary>,
    pub run: AuditRun,
    /// The database the audits were read from (and saved into).
    pub database: PathBuf,
    /// The report files written, the main one first (none when printed).
    pub files: Vec<PathBuf>,
    /// How the news went out (always [`Posted::Everywhere`] without webhooks).
    pub posted: Posted,
    /// The exit code the run's rule gives (see the module's docs).
    pub exit_code: u8,
}

/// Why an audit could not run (an organization that failed to collect is not one: the run goes on
/// without it and its exit code says so).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error("no organization was collected, so there is nothing to report")]
    NothingCollected,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Save(#[from] AnalysisError),
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

/// Runs `job`, telling `progress` what happens.
pub fn run(
    job: AuditJob<'_>,
    progress: &mut dyn AuditProgress,
) -> Result<AuditOutcome, AuditError> {
    let AuditJob {
        source,
        mut request,
        output,
        targets,
        fail_on,
    } = job;
    let (mut store, collected) = match source {
        // Analysing never creates a database.
        Source::Stored { db } => (Store::open_existing(&db)?, None),
        Source::Collect {
            client,
            db,
            options,
        } => {
            let share_rate = client.org_rate;
            let (store, summary) = callbudget_collect::progress::run_shown(
                client,
                &db,
                options,
                progress.collect_verbosity(),
            )?;
            progress
                .event(AuditEvent::Collected {
                    summary: &summary,
                    share_rate,
                    db: &db,
                })
                .map_err(AuditError::Output)?;
            let orgs = summary.collected();
            if orgs.is_empty() {
                return Err(AuditError::NothingCollected);
            }
            request.orgs = OrgChoice::Ids(orgs);
            (store, Some(summary))
        }
    };
    let run = run_audits(&store, &request)?;
    for left in &run.left_out {
        progress
            .event(AuditEvent::LeftOut(left))
            .map_err(AuditError::Output)?;
    }
    // What is new is read before this run's audits are saved: they become the next baseline.
    let news = (!targets.is_empty())
        .then(|| notify::news_since_saved_audits(&store, &run.audits))
        .transpose()?;

    // The output, then the audits saved: a failed output leaves no saved audit nobody saw.
    let context = ReportContext::new(store.path(), Utc::now());
    let input = ReportInput {
        audits: &run.audits,
        context: &context,
    };
    let files = match output {
        Output::Print { format, to } => {
            let text = callbudget_report::render(format, &input)?;
            write_or_closed_pipe(to, text.as_bytes()).map_err(AuditError::Output)?;
            Vec::new()
        }
        Output::Files { out, formats } => {
            let started = Instant::now();
            let files = callbudget_report::write_report(&out, &formats, &input)?;
            progress
                .event(AuditEvent::Wrote {
                    files: &files,
                    out: &out,
                    elapsed: started.elapsed(),
                })
                .map_err(AuditError::Output)?;
            files
        }
    };
    if let Some(news) = &news {
        notify::mark_pending(&mut store, news, Utc::now())?;
    }
    if let Some(not_saved) = save_audits_if_writable(&mut store, &run.audits, context.generated_at)?
    {
        progress
            .event(AuditEvent::NotSaved(not_saved.to_string()))
            .map_err(AuditError::Output)?;
    }

    let posted = match &news {
        None => Posted::Everywhere,
        Some(news) => {
            for line in news.nothing_posted() {
                progress
                    .event(AuditEvent::NothingPosted(line))
                    .map_err(AuditError::Output)?;
            }
            let Announcement { deliveries, posted } = notify::announce(
                &mut store,
                targets,
                news,
                Utc::now(),
                &DeliveryPolicy::default(),
            )?;
            for delivery in &deliveries {
                let line = delivery.describe(news);
                let line = if delivery.outcome.is_ok() {
                    Ok(line)
                } else {
                    Err(line)
                };
                progress
                    .event(AuditEvent::Delivery(line))
                    .map_err(AuditError::Output)?;
            }
            posted
        }
    };

    let collect_failed = collected
        .as_ref()
        .is_some_and(|summary| summary.failed().next().is_some());
    let exit_code = exit_code(collect_failed, posted, run.fails_on(fail_on));
    Ok(AuditOutcome {
        collected,
        run,
        database: store.path().to_owned(),
        files,
        posted,
        exit_code,
    })
}

/// The run's exit code: a failed collection (1) beats an undelivered notification (4), which
/// beats a finding at or over `--fail-on` (3).
fn exit_code(collect_failed: bool, posted: Posted, fails_on: bool) -> u8 {
    if collect_failed {
        EXIT_COLLECT_FAILED
    } else if posted != Posted::Everywhere {
        EXIT_NOTIFY_FAILED
    } else if fails_on {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

/// Writes `bytes` to `to`; a reader that went away (`callbudget analyze | head`) is no failure.
fn write_or_closed_pipe(to: &mut dyn std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    match to.write_all(bytes).and_then(|()| to.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_collection_beats_an_undelivered_notification_which_beats_a_finding() {
        for posted in [Posted::Everywhere, Posted::Partly, Posted::Nowhere] {
            for fails_on in [false, true] {
                assert_eq!(exit_code(true, posted, fails_on), EXIT_COLLECT_FAILED);
            }
        }
        for posted in [Posted::Partly, Posted::Nowhere] {
            for fails_on in [false, true] {
                assert_eq!(exit_code(false, posted, fails_on), EXIT_NOTIFY_FAILED);
            }
        }
        assert_eq!(exit_code(false, Posted::Everywhere, true), EXIT_FINDINGS);
        assert_eq!(exit_code(false, Posted::Everywhere, false), EXIT_CLEAN);
    }

    #[test]
    fn a_closed_pipe_is_no_failure_of_the_output_but_a_full_disk_is() {
        struct Failing(std::io::ErrorKind);
        impl std::io::Write for Failing {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(self.0.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let closed = write_or_closed_pipe(&mut Failing(std::io::ErrorKind::BrokenPipe), b"x");
        assert!(closed.is_ok());
        let full = write_or_closed_pipe(&mut Failing(std::io::ErrorKind::StorageFull), b"x");
        assert_eq!(full.unwrap_err().kind(), std::io::ErrorKind::StorageFull);
    }
}
