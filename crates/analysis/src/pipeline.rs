//! The audit pipeline: which organizations, which window, which budget — every rule that turns a
//! request ("the last 24 h of every collected organization", "7 days of 549236 through the XDR
//! model") and a store into audits. `analyze`, `report`, `audit` and `demo` each build one
//! [`AuditRequest`] and call [`run_audits`]; tests call it directly.
//!
//! **Coverage.** The analysed window is clipped to what was collected, so rates and per-day figures
//! are over collected time. What was asked for is not clipped away: a window the request names on
//! the calendar (`--since TIME`, `--until TIME`) is checked whole, so hours asked for and never
//! collected — a collection killed partway, never started — are an `incomplete_data` finding
//! against the hours asked for. A window measured back from the log's end (the default day,
//! `--since 7d`) asks for what was collected in it: the collection windows of the log that failed
//! or never finished, inside it — or, when it ends where the log ends, anywhere after it (the
//! newest collection failed) — stretch the span checked, and their time is the finding. An
//! organization with nothing collected in the window, or whose collected windows there hold no
//! request, gets no audit (and no all-clear): the run says so and fails, or, among every collected
//! organization, leaves it out with the reason.

use super::audit::Coverage;
use super::{AnalysisError, AnalysisWindow, AuditOptions, ConsumerKey, OrgAudit, Severity};
use callbudget_api::budget::{BucketLimits, BudgetModel, BudgetModelError};
use callbudget_store::{
    Access, CollectionFilter, Endpoint, OrgId, Store, StoreError, WindowStatus,
};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::PathBuf;

/// The longest window one audit covers (the spike detector keeps one counter per minute).
pub const MAX_WINDOW: TimeDelta = TimeDelta::days(366);

/// How much of the log an audit covers when nobody says: the last day.
pub const DEFAULT_SPAN: TimeDelta = TimeDelta::hours(24);

/// What to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRequest {
    pub orgs: OrgChoice,
    /// Where the window starts; it ends at `until`.
    pub since: WindowStart,
    /// The window's end; default: the end of each organization's collected log.
    pub until: Option<DateTime<Utc>>,
    pub budget: BudgetChoice,
    /// How consumers are told apart.
    pub consumer_key: ConsumerKey,
}

impl Default for AuditRequest {
    /// The last 24 hours of every collected organization, each through its own budget model.
    fn default() -> Self {
        AuditRequest {
            orgs: OrgChoice::Collected,
            since: WindowStart::Before(DEFAULT_SPAN),
            until: None,
            budget: BudgetChoice::Stored,
            consumer_key: ConsumerKey::default(),
        }
    }
}

/// Which organizations an audit covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgChoice {
    /// Every organization with a collected log; those with nothing in the window are left out.
    Collected,
    /// These, each of which must have something collected in the window.
    Ids(Vec<OrgId>),
}

/// Where an audit's window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStart {
    /// This long before the window's end.
    Before(TimeDelta),
    At(DateTime<Utc>),
}

/// The budget an organization's log is replayed through.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetChoice {
    /// The model stored with the organization at import, else Meraki's.
    Stored,
    /// This model for every organization.
    Model(BudgetModel),
}

impl BudgetChoice {
    /// The budget the command-line flags ask for: a model by name or file; else a token bucket of
    /// `rate`/s and `burst` (each defaulting to Meraki's) when either is given; else each
    /// organization's own.
    pub fn from_flags(
        model: Option<&str>,
        rate: Option<f64>,
        burst: Option<f64>,
    ) -> Result<BudgetChoice, BudgetModelError> {
        Ok(match (model, rate, burst) {
            (Some(spec), _, _) => BudgetChoice::Model(BudgetModel::resolve(spec)?),
            (None, None, None) => BudgetChoice::Stored,
            (None, rate, burst) => BudgetChoice::Model(BudgetModel::token_bucket(BucketLimits {
                rate_per_second: rate.unwrap_or(BucketLimits::MERAKI_ORG.rate_per_second),
                burst: burst.unwrap_or(BucketLimits::MERAKI_ORG.burst).max(0.0),
            })),
        })
    }
}

impl OrgChoice {
    /// These organizations, or every collected one when none is named.
    pub fn named_or_collected(ids: &[String]) -> OrgChoice {
        if ids.is_empty() {
            OrgChoice::Collected
        } else {
            OrgChoice::Ids(ids.iter().map(OrgId::new).collect())
        }
    }
}

/// What a run of the pipeline found: one audit per organization with data in its window, and the
/// organizations left out (of [`OrgChoice::Collected`]) with the reason.
#[derive(Debug)]
pub struct AuditRun {
    pub audits: Vec<OrgAudit>,
    pub left_out: Vec<LeftOut>,
}

/// An organization the run left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub org_id: OrgId,
    pub reason: String,
}

impl AuditRun {
    /// The most severe finding of any audit, if there is one.
    pub fn worst_severity(&self) -> Option<Severity> {
        self.audits
            .iter()
            .flat_map(|a| &a.findings)
            .map(|f| f.severity)
            .max()
    }

    /// Whether a finding is at least as severe as `threshold` (`--fail-on`).
    pub fn fails_on(&self, threshold: Option<Severity>) -> bool {
        threshold.is_some_and(|t| self.worst_severity().is_some_and(|worst| worst >= t))
    }
}

/// Why the pipeline could not audit what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{} holds no collected request log yet: run `callbudget collect` first", database.display())]
    NothingCollected { database: PathBuf },
    #[error(
        "organization {org_id} has nothing collected in {}{}",
        database.display(),
        failures_note(*failed_windows)
    )]
    OrgHasNothing {
        org_id: OrgId,
        database: PathBuf,
        /// Collection windows of its log that failed.
        failed_windows: usize,
    },
    #[error("organization {org_id} has nothing collected between {since} and {until}")]
    NothingInWindow {
        org_id: OrgId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error(
        "organization {org_id} has no request logged between {since} and {until}: the {windows} \
         window(s) collected there are empty, so there is nothing to audit"
    )]
    NothingLogged {
        org_id: OrgId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        windows: u64,
    },
    #[error("no organization has anything collected in the window asked for")]
    NoOrgInWindow,
    #[error(
        "the window from {since} to {until} is longer than a year: analyse at most a year at a time"
    )]
    WindowTooLong {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("--since ({since}) is not before the end of the window ({until})")]
    StartNotBeforeEnd {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("a span of {span} before {until} reaches beyond the calendar")]
    SpanOutOfRange {
        span: TimeDelta,
        until: DateTime<Utc>,
    },
    #[error("reading organization {org_id}'s budget model")]
    BudgetModel {
        org_id: OrgId,
        source: Box<BudgetModelError>,
    },
    #[error("reading what was collected of organization {org_id}")]
    Store {
        org_id: OrgId,
        source: Box<StoreError>,
    },
    #[error("listing the collected organizations")]
    ListOrganizations { source: Box<StoreError> },
    #[error("analysing organization {org_id}")]
    Analysis {
        org_id: OrgId,
        source: AnalysisError,
    },
}

/// ": its 2 collection windows failed", or nothing.
fn failures_note(failed_windows: usize) -> String {
    match failed_windows {
        0 => String::new(),
        1 => ": its one collection window failed".to_owned(),
        n => format!(": its {n} collection windows failed"),
    }
}

/// Audits what `request` asks for from `store`.
pub fn run_audits(store: &Store, request: &AuditRequest) -> Result<AuditRun, PipelineError> {
    let explicit = matches!(request.orgs, OrgChoice::Ids(_));
    let orgs =
        match &request.orgs {
            OrgChoice::Ids(ids) => ids.clone(),
            OrgChoice::Collected => store.collected_organizations().map_err(|source| {
                PipelineError::ListOrganizations {
                    source: Box::new(source),
                }
            })?,
        };
    if orgs.is_empty() {
        return Err(PipelineError::NothingCollected {
            database: store.path().to_owned(),
        });
    }
    let mut run = AuditRun {
        audits: Vec::with_capacity(orgs.len()),
        left_out: Vec::new(),
    };
    let mut nothing: Vec<PipelineError> = Vec::new();
    for org_id in orgs {
        match audit_one(store, &org_id, request) {
            Ok(audit) => run.audits.push(audit),
            Err(
                e @ (PipelineError::OrgHasNothing { .. }
                | PipelineError::NothingInWindow { .. }
                | PipelineError::NothingLogged { .. }),
            ) if !explicit => {
                run.left_out.push(LeftOut {
                    reason: e.to_string(),
                    org_id,
                });
                nothing.push(e);
            }
            Err(e) => return Err(e),
        }
    }
    if run.audits.is_empty() {
        // One organization: its own reason says more than "no organization".
        return Err(match (nothing.pop(), nothing.is_empty()) {
            (Some(only), true) => only,
            _ => PipelineError::NoOrgInWindow,
        });
    }
    Ok(run)
}

/// The audit of one organization, or why there is nothing to audit.
fn audit_one(
    store: &Store,
    org_id: &OrgId,
    request: &AuditRequest,
) -> Result<OrgAudit, PipelineError> {
    let span = audit_window(store, org_id, request)?;
    let options = AuditOptions {
        budget: org_budget(store, org_id, &request.budget)?,
        consumer_key: request.consumer_key,
        ..AuditOptions::default()
    };
    let audit = super::audit_org_within(store, org_id, span.window, span.checked, options)
        .map_err(|source| PipelineError::Analysis {
            org_id: org_id.clone(),
            source,
        })?;
    if audit.coverage == Coverage::Nothing {
        let windows = audit
            .data_coverage
            .endpoints
            .iter()
            .find(|e| e.endpoint == Endpoint::ApiRequests.as_str())
            .map_or(0, |e| e.windows);
        return Err(PipelineError::NothingLogged {
            org_id: org_id.clone(),
            since: audit.window.start,
            until: audit.window.end,
            windows,
        });
    }
    Ok(audit)
}

/// Saves each audit (for the next run's trends), after its output is written, so that a run
/// that failed halfway leaves no audit nobody saw.
pub fn save_audits(
    store: &mut Store,
    audits: &[OrgAudit],
    saved_at: DateTime<Utc>,
) -> Result<(), AnalysisError> {
    for audit in audits {
        super::save_audit(store, audit, saved_at)?;
    }
    Ok(())
}

/// Why a run's audits were not saved: the database may not be written here. No failure — the
/// run's output was written — but the next run's trends cannot compare with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSaved {
    pub database: PathBuf,
}

impl std::fmt::Display for NotSaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} may not be written here (it or its directory is read-only): the audit was not saved, so the next one cannot compare with it",
            self.database.display()
        )
    }
}

/// [`save_audits`] where the store may be written; a store opened read-only (a database or
/// directory this process may not write) saves nothing and says why.
pub fn save_audits_if_writable(
    store: &mut Store,
    audits: &[OrgAudit],
    saved_at: DateTime<Utc>,
) -> Result<Option<NotSaved>, AnalysisError> {
    if store.access() == Access::ReadOnly {
        return Ok(Some(NotSaved {
            database: store.path().to_owned(),
        }));
    }
    save_audits(store, audits, saved_at)?;
    Ok(None)
}

/// The budget `org_id`'s log is replayed through.
fn org_budget(
    store: &Store,
    org_id: &OrgId,
    choice: &BudgetChoice,
) -> Result<BudgetModel, PipelineError> {
    match choice {
        BudgetChoice::Model(model) => Ok(model.clone()),
        BudgetChoice::Stored => {
            let stored = store
                .org_provider(org_id)
                .map_err(|source| PipelineError::Store {
                    org_id: org_id.clone(),
                    source: Box::new(source),
                })?;
            BudgetModel::for_organization(stored.as_ref().map(|s| s.budget_model_json.as_str()))
                .map_err(|source| PipelineError::BudgetModel {
                    org_id: org_id.clone(),
                    source: Box::new(source),
                })
        }
    }
}

/// The window an audit analyses, and the span its data is checked over.
struct AuditSpan {
    window: AnalysisWindow,
    checked: super::CheckedSpan,
}

/// The window to audit: the request's, clipped to what was collected of the organization, so
/// rates and per-day figures are over the time actually collected, not the time asked for; and
/// the span checked, stretched over the collections that failed or never finished (see the module
/// docs).
fn audit_window(
    store: &Store,
    org_id: &OrgId,
    request: &AuditRequest,
) -> Result<AuditSpan, PipelineError> {
    let store_error = |source| PipelineError::Store {
        org_id: org_id.clone(),
        source: Box::new(source),
    };
    let until = match request.until {
        Some(t) => t,
        // The end of the request log, else of the response codes by interval.
        None => {
            let none = CollectionFilter::None;
            let last = match store
                .last_complete_window(org_id, Endpoint::ApiRequests, &none)
                .map_err(store_error)?
            {
                Some(w) => Some(w),
                None => store
                    .last_complete_window(org_id, Endpoint::ResponseCodesByInterval, &none)
                    .map_err(store_error)?,
            };
            match last {
                Some(w) => w.t1,
                None => {
                    let failed_windows = store
                        .windows(org_id)
                        .map_err(store_error)?
                        .iter()
                        .filter(|w| w.status == WindowStatus::Failed)
                        .count();
                    return Err(PipelineError::OrgHasNothing {
                        org_id: org_id.clone(),
                        database: store.path().to_owned(),
                        failed_windows,
                    });
                }
            }
        }
    };
    let since = match request.since {
        WindowStart::At(t) => t,
        WindowStart::Before(span) => until
            .checked_sub_signed(span)
            .ok_or(PipelineError::SpanOutOfRange { span, until })?,
    };
    if until - since > MAX_WINDOW {
        return Err(PipelineError::WindowTooLong { since, until });
    }
    if since >= until {
        return Err(PipelineError::StartNotBeforeEnd { since, until });
    }
    let mut endpoint = Endpoint::ApiRequests;
    let mut extent = store
        .collected_extent(org_id, endpoint, since, until)
        .map_err(store_error)?;
    if extent.is_none() {
        endpoint = Endpoint::ResponseCodesByInterval;
        extent = store
            .collected_extent(org_id, endpoint, since, until)
            .map_err(store_error)?;
    }
    let Some(extent) = extent else {
        return Err(PipelineError::NothingInWindow {
            org_id: org_id.clone(),
            since,
            until,
        });
    };
    let window =
        AnalysisWindow::new(since.max(extent.first), until.min(extent.last)).map_err(|source| {
            PipelineError::Analysis {
                org_id: org_id.clone(),
                source,
            }
        })?;
    // The collections of the log that failed or never finished, in the window asked for — or,
    // when the window ends where the log ends, after it too: the newest data is what is missing.
    let open_ended = request.until.is_none();
    let (mut start, mut end) = (window.start, window.end);
    for w in store.windows(org_id).map_err(store_error)? {
        let unfinished = w.status != WindowStatus::Complete;
        if w.endpoint != endpoint || w.filter != CollectionFilter::None || !unfinished {
            continue;
        }
        if w.t1 <= since || (!open_ended && w.t0 >= until) {
            continue;
        }
        start = start.min(w.t0.max(since));
        end = end.max(if open_ended { w.t1 } else { w.t1.min(until) });
    }
    // A window named on the calendar is checked whole: what was asked for and not collected is
    // missing, however little of it the store holds.
    let asked_for = request.until.is_some() || matches!(request.since, WindowStart::At(_));
    if asked_for {
        start = start.min(since);
        if let Some(until) = request.until {
            end = end.max(until);
        }
    }
    let span = AnalysisWindow::new(start, end).map_err(|source| PipelineError::Analysis {
        org_id: org_id.clone(),
        source,
    })?;
    Ok(AuditSpan {
        window,
        checked: super::CheckedSpan { span, asked_for },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved_at() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-20T00:00:00Z").unwrap()
    }

    #[test]
    fn a_read_only_database_saves_no_audit_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audits.db");
        drop(Store::open(&path).unwrap());
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(&path, permissions).unwrap();
        let mut store = Store::open_existing(&path).unwrap();

        let not_saved = save_audits_if_writable(&mut store, &[], saved_at()).unwrap();

        assert_eq!(
            not_saved.map(|n| n.to_string()),
            Some(format!(
                "{} may not be written here (it or its directory is read-only): the audit was not \
                 saved, so the next one cannot compare with it",
                path.display()
            ))
        );
    }

    #[test]
    fn a_writable_database_has_nothing_to_say() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(
            save_audits_if_writable(&mut store, &[], saved_at()).unwrap(),
            None
        );
    }
}
