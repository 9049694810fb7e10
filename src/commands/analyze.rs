//! `callbudget analyze`: audit each organization's stored window, save the findings, print them.
//! The window selection here is shared by `report`, `audit` and `demo`.

use anyhow::{Context, Result, bail};
use callbudget::analysis::{
    AnalysisWindow, AuditOptions, OrgAudit, Severity, audit_org, save_audit,
};
use callbudget::budget::{BucketLimits, BudgetModel};
use callbudget::cli::{AnalysisArgs, AnalyzeArgs, parse_span};
use callbudget::store::{CollectionFilter, Endpoint, OrgId, Store};
use chrono::{TimeDelta, Utc};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The longest window one analysis covers (the spike detector keeps one counter per minute).
const MAX_WINDOW: TimeDelta = TimeDelta::days(366);

/// The exit code when `--fail-on` finds something: distinct from errors (1) and usage (2).
pub const FINDINGS_EXIT_CODE: u8 = 3;

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let mut store = open_collected(&args.db)?;
    let audits = audit_orgs(&mut store, &args.analysis)?;
    let text = callbudget::report::render(args.format, &audits);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("cannot write the findings");
    }
    save_audits(&mut store, &audits)?;
    Ok(exit_code(&audits, args.analysis.fail_on))
}

/// Opens a database that must already exist (analysing never creates one).
pub fn open_collected(db: &Path) -> Result<Store> {
    if !db.exists() {
        bail!(
            "{} does not exist: run `callbudget collect` first",
            db.display()
        );
    }
    Ok(Store::open(db)?)
}

/// Success, or [`FINDINGS_EXIT_CODE`] when a finding is at least as severe as `fail_on`.
pub fn exit_code(audits: &[OrgAudit], fail_on: Option<Severity>) -> ExitCode {
    let failing = fail_on.is_some_and(|threshold| {
        audits
            .iter()
            .flat_map(|a| &a.findings)
            .any(|f| f.severity >= threshold)
    });
    if failing {
        ExitCode::from(FINDINGS_EXIT_CODE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Saves audits, for the next run's trends: once their output is written, so that a run that
/// failed halfway leaves no audit nobody saw.
pub fn save_audits(store: &mut Store, audits: &[OrgAudit]) -> Result<()> {
    let now = Utc::now();
    for audit in audits {
        save_audit(store, audit, now)?;
    }
    Ok(())
}

/// Audits each selected organization over its window (see [`save_audits`]). An organization
/// named with `--org` must have something collected in the window; of every collected
/// organization (no `--org`), those with nothing in it are left out with a warning.
pub fn audit_orgs(store: &mut Store, args: &AnalysisArgs) -> Result<Vec<OrgAudit>> {
    let orgs: Vec<OrgId> = if args.orgs.is_empty() {
        store.collected_organizations()?
    } else {
        args.orgs.iter().map(OrgId::new).collect()
    };
    if orgs.is_empty() {
        bail!(
            "{} holds no collected request log yet: run `callbudget collect` first",
            store.path().display()
        );
    }
    // A budget on the command line applies to every organization; else each its own.
    let chosen_budget = match (&args.budget_model, args.rate, args.burst) {
        (Some(spec), _, _) => Some(BudgetModel::resolve(spec)?),
        (None, None, None) => None,
        (None, rate, burst) => Some(BudgetModel::token_bucket(BucketLimits {
            rate_per_second: rate.unwrap_or(BucketLimits::MERAKI_ORG.rate_per_second),
            burst: burst.unwrap_or(BucketLimits::MERAKI_ORG.burst).max(0.0),
        })),
    };
    let mut audits = Vec::new();
    for org in &orgs {
        let window = match analysis_window(store, org, args)? {
            Ok(window) => window,
            Err(nothing) if args.orgs.is_empty() => {
                eprintln!("callbudget: warning: {nothing}; left out");
                continue;
            }
            Err(nothing) => bail!(nothing),
        };
        let budget = match &chosen_budget {
            Some(model) => model.clone(),
            None => callbudget::import::org_budget_model(store, org)?,
        };
        let options = AuditOptions {
            budget,
            consumer_key: args.group_by,
            ..AuditOptions::default()
        };
        let audit = audit_org(store, org, window, options)
            .with_context(|| format!("analysing organization {org}"))?;
        audits.push(audit);
    }
    if audits.is_empty() {
        bail!("no organization has anything collected in the window asked for");
    }
    Ok(audits)
}

/// The window to analyse: `--since`/`--until` clipped to what was collected; the inner error
/// says that nothing of the organization was collected there.
fn analysis_window(
    store: &Store,
    org: &OrgId,
    args: &AnalysisArgs,
) -> Result<std::result::Result<AnalysisWindow, String>> {
    let until = match args.until {
        Some(t) => t,
        // The end of the request log, else of the response codes by interval.
        None => {
            let none = CollectionFilter::None;
            let last = match store.last_complete_window(org, Endpoint::ApiRequests, &none)? {
                Some(w) => Some(w),
                None => {
                    store.last_complete_window(org, Endpoint::ResponseCodesByInterval, &none)?
                }
            };
            match last {
                Some(w) => w.t1,
                None => {
                    return Ok(Err(format!(
                        "organization {org} has nothing collected in {}",
                        store.path().display()
                    )));
                }
            }
        }
    };
    let since = match &args.since {
        None => until - TimeDelta::hours(24),
        Some(text) => match callbudget::timestamp::parse(text) {
            Ok(t) => t,
            Err(_) => parse_span(text)
                .and_then(|span| until.checked_sub_signed(span))
                .with_context(|| {
                    format!(
                        "--since {text:?} is neither an RFC 3339 time nor a span such as 24h or 7d"
                    )
                })?,
        },
    };
    if until - since > MAX_WINDOW {
        bail!(
            "the window from {since} to {until} is longer than a year: analyse at most a year at a time"
        );
    }
    // Rates and per-day figures are over the time actually collected, not the time asked for.
    let extent = match store.collected_extent(org, Endpoint::ApiRequests, since, until)? {
        Some(e) => Some(e),
        None => store.collected_extent(org, Endpoint::ResponseCodesByInterval, since, until)?,
    };
    if since >= until {
        bail!("--since ({since}) is not before the end of the window ({until})");
    }
    let Some(extent) = extent else {
        return Ok(Err(format!(
            "organization {org} has nothing collected between {since} and {until}"
        )));
    };
    Ok(Ok(AnalysisWindow::new(
        since.max(extent.first),
        until.min(extent.last),
    )?))
}
