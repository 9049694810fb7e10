//! The audit pipeline's rules, called as `analyze`, `report`, `audit` and `demo` call it: which
//! organizations, which window, which budget.

use crate::support::{
    API_KEY, TINY_END, TINY_ORG, collect_into, fast_client_config, serve, time, tiny_scenario,
};
use callbudget::analysis::{
    AuditRequest, BudgetChoice, OrgChoice, PipelineError, Severity, WindowStart, run_audits,
};
use callbudget::budget::{BucketLimits, BudgetModel};
use callbudget::collect::{CollectOptions, OrgSelection};
use callbudget::sim::SimConfig;
use callbudget::store::{OrgId, Store};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::Path;

/// A second organization beside tiny's, with the same traffic.
const TWIN_ORG: &str = "100002";

/// tiny (whole day) and its twin (only 00:00–06:00) collected into `db`.
fn collect_tiny_and_twin(db: &Path) {
    let mut twin = tiny_scenario();
    twin.org_id = TWIN_ORG.to_owned();
    twin.org_name = "Tiny Twin".to_owned();
    let mut config = SimConfig::new(vec![tiny_scenario(), twin], time(TINY_END), API_KEY);
    config.enforce_rate_limits = false;
    config.clock = callbudget::sim::ClockMode::Frozen;
    let handle = serve(config);
    let collect = |org: &str, since: &str, until: &str| {
        let summary = collect_into(
            db,
            fast_client_config(&handle),
            CollectOptions {
                orgs: OrgSelection::Ids(vec![OrgId::new(org)]),
                since: Some(time(since)),
                until: Some(time(until)),
                ..CollectOptions::default()
            },
        );
        assert_eq!(summary.failed().count(), 0, "{org} is collected");
    };
    collect(TINY_ORG, "2026-11-19T00:00:00Z", TINY_END);
    collect(TWIN_ORG, "2026-11-19T00:00:00Z", "2026-11-19T06:00:00Z");
}

fn window(audit: &callbudget::analysis::OrgAudit) -> (DateTime<Utc>, DateTime<Utc>) {
    (audit.window.start, audit.window.end)
}

#[test]
fn each_organization_is_audited_over_the_last_day_of_its_own_log_by_default() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny_and_twin(&db);
    let store = Store::open(&db).expect("the database opens");

    let run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    assert!(run.left_out.is_empty(), "{:?}", run.left_out);
    let ids: Vec<&str> = run.audits.iter().map(|a| a.org_id.as_str()).collect();
    assert_eq!(ids, [TINY_ORG, TWIN_ORG]);
    // Each window ends where its log ends and is clipped to what was collected.
    assert_eq!(
        window(&run.audits[0]),
        (time("2026-11-19T00:00:00Z"), time(TINY_END))
    );
    assert_eq!(
        window(&run.audits[1]),
        (time("2026-11-19T00:00:00Z"), time("2026-11-19T06:00:00Z"))
    );
    // What every renderer needs rides along: the name and what was collected.
    assert_eq!(
        run.audits[1].organization_name.as_deref(),
        Some("Tiny Twin")
    );
    let requests = &run.audits[1].data_coverage.endpoints[0];
    assert_eq!(requests.endpoint, "apiRequests");
    assert_eq!(requests.windows, 6);
    assert_eq!(requests.covered_share, 1.0);
    // tiny's 06:00 burst of writes is refused and retried without backoff: critical findings.
    assert_eq!(run.worst_severity(), Some(Severity::Critical));
    assert!(run.fails_on(Some(Severity::Warning)));
    assert!(!run.fails_on(None));
}

#[test]
fn an_organization_with_nothing_in_the_window_is_left_out_unless_it_was_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny_and_twin(&db);
    let store = Store::open(&db).expect("the database opens");
    let afternoon = AuditRequest {
        since: WindowStart::At(time("2026-11-19T12:00:00Z")),
        until: Some(time("2026-11-19T18:00:00Z")),
        ..AuditRequest::default()
    };

    let run = run_audits(&store, &afternoon).expect("the audit runs");
    assert_eq!(run.audits.len(), 1);
    assert_eq!(run.audits[0].org_id, TINY_ORG);
    assert_eq!(run.left_out.len(), 1);
    assert_eq!(run.left_out[0].org_id, TWIN_ORG);
    assert_eq!(
        run.left_out[0].reason,
        "organization 100002 has nothing collected between 2026-11-19 12:00:00 UTC and 2026-11-19 18:00:00 UTC"
    );

    let named = AuditRequest {
        orgs: OrgChoice::Ids(vec![OrgId::new(TWIN_ORG)]),
        ..afternoon.clone()
    };
    let err = run_audits(&store, &named).expect_err("a named organization must have data");
    assert!(
        matches!(err, PipelineError::NothingInWindow { .. }),
        "{err}"
    );

    let unknown = AuditRequest {
        orgs: OrgChoice::Ids(vec![OrgId::new("999")]),
        ..AuditRequest::default()
    };
    let err = run_audits(&store, &unknown).expect_err("an unknown organization is refused");
    assert_eq!(
        err.to_string(),
        format!("organization 999 has nothing collected in {}", db.display())
    );
}

#[test]
fn a_span_is_measured_back_from_the_windows_end_and_a_year_is_the_most() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny_and_twin(&db);
    let store = Store::open(&db).expect("the database opens");
    let tiny = OrgChoice::Ids(vec![OrgId::new(TINY_ORG)]);

    let last_six_hours = AuditRequest {
        orgs: tiny.clone(),
        since: WindowStart::Before(TimeDelta::hours(6)),
        ..AuditRequest::default()
    };
    let run = run_audits(&store, &last_six_hours).expect("the audit runs");
    assert_eq!(
        window(&run.audits[0]),
        (time("2026-11-19T18:00:00Z"), time(TINY_END))
    );

    let too_long = AuditRequest {
        orgs: tiny.clone(),
        since: WindowStart::Before(TimeDelta::days(400)),
        ..AuditRequest::default()
    };
    let err = run_audits(&store, &too_long).expect_err("more than a year is refused");
    assert!(matches!(err, PipelineError::WindowTooLong { .. }), "{err}");

    let backwards = AuditRequest {
        orgs: tiny,
        since: WindowStart::At(time("2026-11-19T12:00:00Z")),
        until: Some(time("2026-11-19T06:00:00Z")),
        ..AuditRequest::default()
    };
    let err = run_audits(&store, &backwards).expect_err("an empty window is refused");
    assert!(
        matches!(err, PipelineError::StartNotBeforeEnd { .. }),
        "{err}"
    );
}

#[test]
fn an_explicit_budget_replaces_each_organizations_own() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny_and_twin(&db);
    let store = Store::open(&db).expect("the database opens");

    let stored = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    assert_eq!(stored.audits[0].options.budget, BudgetModel::meraki());

    let generous = BudgetModel::token_bucket(BucketLimits {
        rate_per_second: 100.0,
        burst: 100.0,
    });
    let request = AuditRequest {
        budget: BudgetChoice::Model(generous.clone()),
        ..AuditRequest::default()
    };
    let run = run_audits(&store, &request).expect("the audit runs");
    for audit in &run.audits {
        assert_eq!(audit.options.budget, generous);
        assert_eq!(audit.timeline.seconds_at_or_over_limit, 0);
    }
    assert!(stored.audits[0].timeline.seconds_at_or_over_limit > 0);
}

#[test]
fn an_empty_database_says_to_collect_first() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let store = Store::open(&db).expect("the database opens");
    let err = run_audits(&store, &AuditRequest::default()).expect_err("nothing to audit");
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds no collected request log yet: run `callbudget collect` first",
            db.display()
        )
    );
}
