//! What an audit of the shipped scenarios says, pinned as snapshots (insta): every finding, the
//! ranked "What to do" and the what-ifs of acme-week (its last day), retry-mix and fleet-loops. A
//! detector change shows as a diff of the claims it makes about someone's code; accept it
//! deliberately (`INSTA_UPDATE=always cargo test --test integration findings`) and say in the
//! commit why each line changed.

use crate::support::{sample_path, store_hourly_log, time};
use callbudget_analysis::{AuditRequest, OrgAudit, WhatIfScenario, run_audits};
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{SimConfig, Simulator};
use callbudget_store::Store;
use std::fmt::Write as _;

/// Where every scenario's timeline ends.
const END: &str = "2026-11-20T00:00:00Z";

/// The default audit (the last 24 h of the log) of `scenario`'s log from `since` to its end,
/// stored as a collection would store it.
fn audit_of(scenario: &str, since: &str) -> OrgAudit {
    let (simulator, org) = simulated(scenario);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = Store::open(dir.path().join("cb.db")).expect("the database opens");
    store_hourly_log(&mut store, &simulator, &org, time(since), time(END));
    audit_in(&store)
}

fn simulated(scenario: &str) -> (Simulator, String) {
    let scenario = Scenario::load(&sample_path(scenario)).expect("a shipped scenario");
    let org = scenario.org_id.clone();
    let simulator = Simulator::build(SimConfig::new(vec![scenario], time(END), "k"))
        .expect("the scenario builds");
    (simulator, org)
}

fn audit_in(store: &Store) -> OrgAudit {
    let mut run = run_audits(store, &AuditRequest::default()).expect("the audit runs");
    assert_eq!(run.audits.len(), 1);
    run.audits.remove(0)
}

/// The claims an audit makes, one per line: the actions in order, the what-ifs, the findings.
fn claims(audit: &OrgAudit) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} to {}: {} requests, {} × 429",
        audit.window.start, audit.window.end, audit.requests, audit.http_429s
    );
    let _ = writeln!(out, "\n## What to do");
    if let Some(note) = &audit.actions.note {
        let _ = writeln!(out, "{note}");
    }
    for (rank, action) in audit.actions.actions.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {}: saves {}/day; {}",
            rank + 1,
            action.consumer,
            action.calls_saved_per_day,
            action.spared_text().as_deref().unwrap_or("no replay")
        );
        for change in &action.changes {
            let _ = writeln!(out, "   - {change}");
        }
    }
    let _ = writeln!(out, "\n## What-ifs");
    for w in &audit.what_ifs {
        let scenario = match &w.scenario {
            WhatIfScenario::WithoutConsumer => "without it".to_owned(),
            WhatIfScenario::WithRecommendations { operations } => {
                format!("with {} replaced", operations.join(", "))
            }
        };
        let _ = writeln!(
            out,
            "{} {scenario}: {} removed; others refused {} → {} ({} spared)",
            w.consumer,
            w.requests_removed,
            w.refused_others_before,
            w.refused_others_after,
            w.spared
        );
    }
    let _ = writeln!(out, "\n## Findings");
    for f in &audit.findings {
        let _ = writeln!(
            out,
            "{} {} [{}] {} – {}: {}",
            f.severity.as_str(),
            f.kind.as_str(),
            f.consumer.as_deref().unwrap_or("-"),
            f.start,
            f.end,
            f.summary
        );
    }
    out
}

#[test]
fn acme_weeks_last_day() {
    let audit = audit_of("acme-week.toml", "2026-11-18T00:00:00Z");
    insta::assert_snapshot!("acme_week", claims(&audit));
}

#[test]
fn retry_mix() {
    let audit = audit_of("retry-mix.toml", "2026-11-19T00:00:00Z");
    insta::assert_snapshot!("retry_mix", claims(&audit));
}

#[test]
fn fleet_loops() {
    let audit = audit_of("fleet-loops.toml", "2026-11-19T00:00:00Z");
    insta::assert_snapshot!("fleet_loops", claims(&audit));
}

/// Issue 29, item 5, on the shipped scenarios: the same records stored newest first, as a
/// collection that pages newest first stores them, are the same audit to the byte.
#[test]
fn the_shipped_scenarios_stored_newest_first_are_the_same_audit() {
    use callbudget_store::{CollectionFilter, Endpoint, OrgId, WindowMeta};
    for scenario in ["retry-mix.toml", "fleet-loops.toml"] {
        let (simulator, org) = simulated(scenario);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut forward = Store::open(dir.path().join("forward.db")).expect("opens");
        store_hourly_log(
            &mut forward,
            &simulator,
            &org,
            time("2026-11-19T00:00:00Z"),
            time(END),
        );
        let mut backward = Store::open(dir.path().join("backward.db")).expect("opens");
        let mut records = simulator.records(&org);
        records.sort_by_key(|r| std::cmp::Reverse(r.ts));
        for hour in 0..24 {
            let t0 = time("2026-11-19T00:00:00Z") + chrono::TimeDelta::hours(hour);
            let t1 = t0 + chrono::TimeDelta::hours(1);
            let meta = WindowMeta {
                org_id: OrgId::new(&org),
                endpoint: Endpoint::ApiRequests,
                filter: CollectionFilter::None,
                t0,
                t1,
                started_at: t1,
                finished_at: t1,
                calls: 1,
                http_429s: 0,
            };
            let newest_first: Vec<_> = records
                .iter()
                .filter(|r| r.ts >= t0 && r.ts < t1)
                .cloned()
                .collect();
            backward
                .store_request_window(&meta, &newest_first)
                .expect("stored");
        }
        let json = |audit: &OrgAudit| serde_json::to_string(audit).expect("serializes");
        assert_eq!(
            json(&audit_in(&backward)),
            json(&audit_in(&forward)),
            "{scenario}"
        );
    }
}
