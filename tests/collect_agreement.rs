//! The collector against a server whose answers disagree with themselves (issue 30): a page that
//! repeats its records, a page past the 1000 records a page holds, pages that flood a window past
//! its byte budget, an organization id that climbs the path, a clock that went back to 1970. Each
//! fails what it concerns — the window, or the organization — with its reason, and stores nothing
//! of it.

use crate::support::{
    API_KEY, TINY_ORG, collect_into, fast_client_config, records_in, request_log_windows, serve,
    stored_request_count, time, tiny_config, tiny_scenario_with_id,
};
use assert_cmd::Command;
use callbudget_collect::dashboard::client::DashboardClient;
use callbudget_collect::{CollectOptions, CollectSummary, LocalClock, OrgSelection};
use callbudget_sim::faults::FaultPlan;
use callbudget_sim::{LinkStyle, SimConfig, SimulatorHandle};
use callbudget_store::{OrgId, WindowStatus};
use std::path::Path;

const SINCE: &str = "2026-11-19T09:00:00Z";
const UNTIL: &str = "2026-11-19T12:00:00Z";
const HOURS: [&str; 4] = ["09", "10", "11", "12"];

fn hostile(setting: &str) -> SimConfig {
    SimConfig {
        faults: FaultPlan {
            seed: 3,
            ..FaultPlan::default().with_hostile(setting.parse().expect("a valid hostile mode"))
        },
        link_style: LinkStyle::Relative,
        ..tiny_config()
    }
}

fn options() -> CollectOptions {
    CollectOptions {
        orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
        since: Some(time(SINCE)),
        until: Some(time(UNTIL)),
        ..CollectOptions::default()
    }
}

fn hour(h: &str) -> chrono::DateTime<chrono::Utc> {
    time(&format!("2026-11-19T{h}:00:00Z"))
}

/// Every window of the three hours failed with the reason `reason(t0, t1)` gives, and nothing of
/// them was stored.
fn assert_each_window_failed(
    summary: &CollectSummary,
    db: &Path,
    reason: impl Fn(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) -> String,
) {
    assert_eq!(summary.collected(), [OrgId::new(TINY_ORG)]);
    let windows = request_log_windows(db, TINY_ORG);
    assert_eq!(windows.len(), 3, "{windows:?}");
    for (w, h) in windows.iter().zip(HOURS.windows(2)) {
        assert_eq!((w.0, w.1), (hour(h[0]), hour(h[1])));
        assert_eq!(w.2, WindowStatus::Failed);
        assert_eq!(w.4.as_deref(), Some(reason(w.0, w.1).as_str()));
    }
    assert_eq!(summary.total().records, 0);
    assert_eq!(
        stored_request_count(db, TINY_ORG, time(SINCE), time(UNTIL)),
        0
    );
}

#[test]
fn a_page_repeating_its_records_fails_its_window_and_nothing_of_it_is_stored() {
    let handle = serve(hostile("repeated-records"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_into(&db, fast_client_config(&handle), options());
    assert_each_window_failed(&summary, &db, |t0, t1| {
        // The window's records, each repeated as often as a page of 1000 allows.
        let distinct = records_in(&handle, TINY_ORG, t0, t1).len();
        assert!((20..500).contains(&distinct), "{distinct}");
        let served = distinct * (1000 / distinct);
        format!(
            "/organizations/{TINY_ORG}/apiRequests: page 1 refused: {} of its {served} records repeat earlier ones of the same page: a page repeating itself is not the API's log",
            served - distinct
        )
    });
}

#[test]
fn a_page_of_more_records_than_a_page_holds_is_refused_as_it_decodes() {
    let handle = serve(hostile("oversized-page"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_into(&db, fast_client_config(&handle), options());
    let windows = request_log_windows(&db, TINY_ORG);
    assert_eq!(windows.len(), 3);
    for w in &windows {
        assert_eq!(w.2, WindowStatus::Failed);
        // The overview and the one page, not retried.
        assert_eq!(w.3, 2);
        let reason = w.4.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with(&format!(
                "{}/organizations/{TINY_ORG}/apiRequests: the answer is JSON but not in the API's shape (more than 1000 records in one page, the most the API pages at line 1 column ",
                handle.base_url()
            )),
            "{reason}"
        );
    }
    assert_eq!(summary.total().records, 0);
}

#[test]
fn pages_flooding_a_window_fail_it_at_its_byte_budget() {
    let handle = serve(hostile("flood"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let budget = 4 << 20;
    let summary = collect_into(
        &db,
        fast_client_config(&handle),
        CollectOptions {
            window_memory: budget,
            ..options()
        },
    );
    let windows = request_log_windows(&db, TINY_ORG);
    assert_eq!(windows.len(), 3);
    for w in &windows {
        assert_eq!(w.2, WindowStatus::Failed);
        let reason = w.4.as_deref().unwrap_or_default();
        let page = reason
            .strip_prefix(&format!("/organizations/{TINY_ORG}/apiRequests: page "))
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(n, _)| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{reason}"));
        assert!(
            reason.ends_with(" refused: the window's records passed 4 MiB in memory, the most a window is held in before it is stored; collect shorter windows (--window-minutes)"),
            "{reason}"
        );
        // A page of 1000 records is about a fifth of a MiB decoded: the window stopped after a
        // few dozen pages (the overview's 36 million 429s would have allowed 39,602).
        assert!((5..100).contains(&page), "{reason}");
        assert_eq!(
            w.3,
            1 + page,
            "the overview and the pages up to the one refused"
        );
    }
    assert_eq!(summary.total().records, 0);
}

#[test]
fn an_organization_id_that_is_not_digits_is_refused_before_any_call() {
    let mut config = hostile("org-id-traversal");
    config.scenarios = vec![
        crate::support::tiny_scenario(),
        tiny_scenario_with_id("666666"),
    ];
    let handle = serve(config);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_into(
        &db,
        fast_client_config(&handle),
        CollectOptions {
            orgs: OrgSelection::All,
            since: Some(time("2026-11-19T09:00:00Z")),
            until: Some(time("2026-11-19T10:00:00Z")),
            ..CollectOptions::default()
        },
    );
    let mut collected = summary.collected();
    collected.sort();
    assert_eq!(collected, [OrgId::new(TINY_ORG), OrgId::new("666666")]);
    assert_eq!(
        summary.failure_lines(),
        [
            "organization id \"100001/../666666\" is not the API's shape (1 to 24 digits); refused before any call, nothing stored"
        ]
    );
    // Nothing asked of it: the server never saw a path with its id, and nothing is stored
    // under it.
    for org in [TINY_ORG, "666666"] {
        for record in handle.simulator().records(org) {
            let path = record.path.unwrap_or_default();
            assert!(!path.contains("%2F") && !path.contains("/../"), "{path}");
        }
    }
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let stored: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM organizations WHERE id LIKE '%/%')
                  + (SELECT count(*) FROM collection_windows WHERE org_id LIKE '%/%')",
            [],
            |row| row.get(0),
        )
        .expect("the count reads");
    assert_eq!(stored, 0);
}

#[test]
fn an_org_flag_that_is_not_digits_is_a_usage_error_before_any_call() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let output = Command::cargo_bin("callbudget")
        .expect("the callbudget binary is built")
        .args(["collect", "--org", "1/../666666\u{1b}[2J", "--db"])
        .arg(&db)
        .args(["--base-url", "http://127.0.0.1:9/api/v1"])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.starts_with(
            "error: invalid value '1/../666666\\u{1b}[2J' for '--org <ID>': an organization id is 1 to 24 digits, as the API writes it"
        ),
        "{said}"
    );
    assert!(!said.contains('\u{1b}'), "{said}");
    assert!(!db.exists());
}

/// Collects from `handle` with this machine's clock at `local`.
fn collect_with_local_clock(
    handle: &SimulatorHandle,
    db: &Path,
    local: chrono::DateTime<chrono::Utc>,
    options: CollectOptions,
) -> CollectSummary {
    let client = DashboardClient::new(fast_client_config(handle)).expect("the client builds");
    callbudget_collect::run(
        client,
        db,
        CollectOptions {
            clock: LocalClock::fixed(local),
            ..options
        },
        |_| {},
    )
    .expect("the run starts")
    .1
}

#[test]
fn an_api_clock_before_the_stored_data_fails_the_organization() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let local = time(crate::support::TINY_END);
    let good = serve(tiny_config());
    let first = collect_with_local_clock(&good, &db, local, options());
    assert_eq!(first.failed().count(), 0);
    drop(good);

    // The same server, its Date now in 1970: resuming would plan nothing and say all went well.
    let past = serve(hostile("past-date"));
    let resume = CollectOptions {
        orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
        ..CollectOptions::default()
    };
    let second = collect_with_local_clock(&past, &db, local, resume);
    let failures = second.failure_lines();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with("organization 100001: the API's clock (1970-11-20T00:00:")
            && failures[0].ends_with(
                "from its Date header) is before the data already stored for this organization (up to 2026-11-19T12:00:00.000000Z): a clock that went back is not believed, nothing collected; check the API's address (--base-url)"
            ),
        "{}",
        failures[0]
    );
    assert!(second.collected().is_empty());
    assert_eq!(request_log_windows(&db, TINY_ORG).len(), 3);
}
