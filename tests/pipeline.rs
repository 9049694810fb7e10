//! The audit pipeline's rules, called as `analyze`, `report`, `audit` and `demo` call it: which
//! organizations, which window, which budget.

use crate::support::{
    API_KEY, TINY_END, TINY_ORG, collect_into, fast_client_config, serve, time, tiny_scenario,
};
use callbudget_analysis::{
    AuditRequest, BudgetChoice, FindingKind, OrgChoice, PipelineError, Severity, WindowStart,
    run_audits,
};
use callbudget_api::RequestRecord;
use callbudget_api::budget::{BucketLimits, BudgetModel};
use callbudget_collect::{CollectOptions, OrgSelection};
use callbudget_sim::SimConfig;
use callbudget_sim::faults::FaultPlan;
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};
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
    config.clock = callbudget_sim::ClockMode::Frozen;
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

fn window(audit: &callbudget_analysis::OrgAudit) -> (DateTime<Utc>, DateTime<Utc>) {
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

fn quiet_store(db: &Path, complete: &[(&str, &str)], failed: &[(&str, &str, &str)]) -> Store {
    crate::support::quiet_log(db, QUIET_ORG, complete, failed)
}

const QUIET_ORG: &str = "700700";

use crate::support::{borrowed, hours};

/// The one audit of the quiet organization, and its findings as (kind, severity).
fn quiet_audit(
    store: &Store,
    request: AuditRequest,
) -> (callbudget_analysis::OrgAudit, Vec<(FindingKind, Severity)>) {
    let mut run = run_audits(store, &request).expect("the audit runs");
    let audit = run.audits.remove(0);
    let findings = audit
        .findings
        .iter()
        .map(|f| (f.kind, f.severity))
        .collect();
    (audit, findings)
}

#[test]
fn a_whole_quiet_log_is_an_all_clear() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = quiet_store(&dir.path().join("cb.db"), &borrowed(&hours(0, 4)), &[]);
    let (audit, findings) = quiet_audit(&store, AuditRequest::default());
    assert_eq!(findings, vec![]);
    assert_eq!(audit.requests, 4);
    assert!(!audit.data_coverage.is_incomplete());
    assert_eq!(audit.data_coverage.missing_text(), None);
}

#[test]
fn a_failure_inside_the_window_is_never_an_all_clear() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut complete = hours(0, 2);
    complete.extend(hours(3, 4));
    let store = quiet_store(
        &dir.path().join("cb.db"),
        &borrowed(&complete),
        &[(
            "2026-11-19T02:00:00Z",
            "2026-11-19T03:00:00Z",
            "HTTP 500 on page 2",
        )],
    );
    let (audit, findings) = quiet_audit(&store, AuditRequest::default());
    assert_eq!(
        (audit.window.start, audit.window.end),
        (time("2026-11-19T00:00:00Z"), time("2026-11-19T04:00:00Z"))
    );
    assert_eq!(
        findings,
        vec![(FindingKind::IncompleteData, Severity::Warning)]
    );
    assert_eq!(audit.data_coverage.missing_share, 0.25);
    assert_eq!(
        audit.data_coverage.missing_text().as_deref(),
        Some("25 % of the per-request log missing")
    );
    let log = &audit.data_coverage.endpoints[0];
    assert_eq!(log.failed.len(), 1);
    assert_eq!(log.failed[0].error.as_deref(), Some("HTTP 500 on page 2"));
}

#[test]
fn a_failure_before_the_first_complete_window_is_never_an_all_clear() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = quiet_store(
        &dir.path().join("cb.db"),
        &borrowed(&hours(1, 4)),
        &[(
            "2026-11-19T00:00:00Z",
            "2026-11-19T01:00:00Z",
            "connection reset",
        )],
    );
    let (audit, findings) = quiet_audit(&store, AuditRequest::default());
    // The figures are over what was collected; the verdict over what was asked for.
    assert_eq!(audit.window.start, time("2026-11-19T01:00:00Z"));
    assert_eq!(
        audit.data_coverage.checked.map(|c| c.start),
        Some(time("2026-11-19T00:00:00Z"))
    );
    assert_eq!(
        findings,
        vec![(FindingKind::IncompleteData, Severity::Warning)]
    );
    assert_eq!(audit.data_coverage.missing_share, 0.25);
}

#[test]
fn a_failure_just_after_the_analysed_hour_is_never_an_all_clear() {
    // The collection stopped at its failed 02:00 window: the log ends at 02:00, so the last hour
    // of the log is 01:00–02:00, and the failed hour after it is half of what the verdict covers.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = quiet_store(
        &dir.path().join("cb.db"),
        &borrowed(&hours(0, 2)),
        &[("2026-11-19T02:00:00Z", "2026-11-19T03:00:00Z", "HTTP 503")],
    );
    let last_hour = AuditRequest {
        since: WindowStart::Before(TimeDelta::hours(1)),
        ..AuditRequest::default()
    };
    let (audit, findings) = quiet_audit(&store, last_hour);
    assert_eq!(
        (audit.window.start, audit.window.end),
        (time("2026-11-19T01:00:00Z"), time("2026-11-19T02:00:00Z"))
    );
    assert_eq!(
        findings,
        vec![(FindingKind::IncompleteData, Severity::Critical)]
    );
    assert_eq!(audit.data_coverage.missing_share, 0.5);
    assert!(
        audit.findings[0].summary.contains("HTTP 503"),
        "{:?}",
        audit.findings
    );
    // Over the day before the log's end a third is missing: a warning, and --fail-on sees it.
    let mut run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    assert_eq!(run.worst_severity(), Some(Severity::Warning));
    assert!(run.fails_on(Some(Severity::Warning)));
    let audit = run.audits.remove(0);
    assert_eq!(
        audit.data_coverage.missing_text().as_deref(),
        Some("33 % of the per-request log missing")
    );
    // A window asked for up to 02:00 was collected whole: the failure after it is not its concern.
    let asked = AuditRequest {
        since: WindowStart::At(time("2026-11-19T00:00:00Z")),
        until: Some(time("2026-11-19T02:00:00Z")),
        ..AuditRequest::default()
    };
    let (_, findings) = quiet_audit(&store, asked);
    assert_eq!(findings, vec![]);
}

#[test]
fn a_collection_that_fails_partway_over_http_is_never_an_all_clear() {
    // 5xx on half the calls and one retry: with this fault seed tiny's 00:00 and 01:00 windows are
    // collected and the 02:00 one fails, ending the run.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let mut config = SimConfig::new(vec![tiny_scenario()], time(TINY_END), API_KEY);
    config.enforce_rate_limits = false;
    config.clock = callbudget_sim::ClockMode::Frozen;
    config.faults = FaultPlan {
        seed: 5,
        ..FaultPlan::default().with("5xx=0.5".parse().expect("a fault"))
    };
    let handle = serve(config);
    let mut client = fast_client_config(&handle);
    client.max_retries = 1;
    let summary = collect_into(
        &db,
        client,
        CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
            since: Some(time("2026-11-19T00:00:00Z")),
            until: Some(time("2026-11-19T06:00:00Z")),
            ..CollectOptions::default()
        },
    );
    assert_eq!(summary.failed().count(), 1, "the collection fails partway");
    let store = Store::open(&db).expect("the database opens");

    let run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    let audit = &run.audits[0];
    assert_eq!(audit.window.end, time("2026-11-19T02:00:00Z"));
    let incomplete: Vec<_> = audit
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::IncompleteData)
        .collect();
    assert_eq!(incomplete.len(), 1, "{:?}", audit.findings);
    assert_eq!(incomplete[0].severity, Severity::Warning);
    assert_eq!(
        (incomplete[0].start, incomplete[0].end),
        (time("2026-11-19T00:00:00Z"), time("2026-11-19T03:00:00Z"))
    );
    assert_eq!(
        audit.data_coverage.missing_text().as_deref(),
        Some("33 % of the per-request log missing")
    );
    let failed = &audit.data_coverage.endpoints[0].failed;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 5")),
        "{failed:?}"
    );
}

#[test]
fn an_organization_whose_collected_windows_hold_no_request_gets_no_audit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let mut store = quiet_store(&db, &borrowed(&hours(0, 4)), &[]);
    // A second organization, collected over the same hours, where nothing was logged.
    let empty: [RequestRecord; 0] = [];
    for (t0, t1) in hours(0, 4) {
        let meta = WindowMeta {
            org_id: OrgId::new("700701"),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0: time(&t0),
            t1: time(&t1),
            started_at: time(&t1),
            finished_at: time(&t1),
            calls: 1,
            http_429s: 0,
        };
        store.store_request_window(&meta, &empty).expect("stored");
    }
    let named = AuditRequest {
        orgs: OrgChoice::Ids(vec![OrgId::new("700701")]),
        ..AuditRequest::default()
    };
    let err = run_audits(&store, &named).expect_err("nothing to audit");
    assert_eq!(
        err.to_string(),
        "organization 700701 has no request logged between 2026-11-19 00:00:00 UTC and \
         2026-11-19 04:00:00 UTC: the 4 window(s) collected there are empty, so there is nothing \
         to audit"
    );
    // Among every collected organization it is left out, with that reason; the other is audited.
    let run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    assert_eq!(run.audits.len(), 1);
    assert_eq!(run.audits[0].org_id, QUIET_ORG);
    assert_eq!(run.left_out.len(), 1);
    assert_eq!(run.left_out[0].reason, err.to_string());
}

#[test]
fn an_organization_whose_every_collection_failed_says_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let store = quiet_store(
        &db,
        &[],
        &[("2026-11-19T00:00:00Z", "2026-11-19T01:00:00Z", "HTTP 500")],
    );
    let named = AuditRequest {
        orgs: OrgChoice::Ids(vec![OrgId::new(QUIET_ORG)]),
        ..AuditRequest::default()
    };
    let err = run_audits(&store, &named).expect_err("nothing to audit");
    assert_eq!(
        err.to_string(),
        format!(
            "organization {QUIET_ORG} has nothing collected in {}: its one collection window failed",
            db.display()
        )
    );
}

#[test]
fn the_budget_flags_choose_a_model_a_bucket_or_each_organizations_own() {
    let bucket = |rate, burst| {
        BudgetChoice::Model(BudgetModel::token_bucket(BucketLimits {
            rate_per_second: rate,
            burst,
        }))
    };
    let choose = |model, rate, burst| BudgetChoice::from_flags(model, rate, burst).expect("valid");
    assert_eq!(choose(None, None, None), BudgetChoice::Stored);
    // Either number alone keeps Meraki's other one.
    assert_eq!(choose(None, Some(5.0), None), bucket(5.0, 10.0));
    assert_eq!(choose(None, None, Some(0.0)), bucket(10.0, 0.0));
    assert_eq!(choose(None, None, Some(-3.0)), bucket(10.0, 0.0));
    assert_eq!(
        choose(Some("xdr"), None, None),
        BudgetChoice::Model(BudgetModel::resolve("xdr").expect("built in"))
    );
    assert!(BudgetChoice::from_flags(Some("no-such-model.toml"), None, None).is_err());
    assert_eq!(OrgChoice::named_or_collected(&[]), OrgChoice::Collected);
    assert_eq!(
        OrgChoice::named_or_collected(&["7".to_owned()]),
        OrgChoice::Ids(vec![OrgId::new("7")])
    );
}

#[test]
fn hours_asked_for_and_never_collected_are_missing_from_the_verdict() {
    // Issue 29, item 6: a collection killed after 10 of the 26 hours asked for.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = quiet_store(&dir.path().join("cb.db"), &borrowed(&hours(0, 10)), &[]);
    let asked = AuditRequest {
        since: WindowStart::At(time("2026-11-19T00:00:00Z")),
        until: Some(time("2026-11-20T02:00:00Z")),
        ..AuditRequest::default()
    };
    let (audit, findings) = quiet_audit(&store, asked);
    // The figures are over the 10 hours collected; the verdict over the 26 asked for.
    assert_eq!(
        (audit.window.start, audit.window.end),
        (time("2026-11-19T00:00:00Z"), time("2026-11-19T10:00:00Z"))
    );
    assert_eq!(
        findings,
        vec![(FindingKind::IncompleteData, Severity::Critical)]
    );
    assert!(audit.data_coverage.asked_for);
    assert!((audit.data_coverage.missing_share - 16.0 / 26.0).abs() < 1e-9);
    assert_eq!(
        audit.findings[0].summary,
        "The per-request log is missing for 16 h of the 1 d 2 h asked for (62 %): no collection \
         window covers it. The findings cover only what was collected; the missing time is not \
         known to be clear."
    );
    // The last day of the log asks for what was collected in it: nothing is missing.
    let (audit, findings) = quiet_audit(&store, AuditRequest::default());
    assert!(!audit.data_coverage.asked_for);
    assert_eq!(findings, vec![]);
}
