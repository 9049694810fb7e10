//! The collector against a server that is wrong on purpose (issue 15, the simulator's hostile
//! modes and faults): pages that loop, lead elsewhere or fail the schema fail their window alone,
//! recorded with the calls they cost; waiting is bounded; a server clock in the future is not
//! believed, and what an earlier run stored in the future is repaired; credentials in collected
//! query strings never reach the database; and what the API says reaches the terminal only
//! sanitised.

use crate::support::{
    API_KEY, TINY_END, TINY_ORG, assert_same_records, collect_into, fast_client_config, records_in,
    request_log_windows, serve, stored_records, time, tiny_config, tiny_scenario_with_id,
};
use assert_cmd::Command;
use callbudget_collect::dashboard::API_KEY_ENV;
use callbudget_collect::dashboard::client::{CallTally, ClientEvent, DashboardClient};
use callbudget_collect::{CollectEvent, CollectOptions, CollectSummary, LocalClock, OrgSelection};
use callbudget_sim::faults::FaultPlan;
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{ClockMode, LinkStyle, SimConfig, SimulatorHandle};
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta, WindowStatus};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SINCE: &str = "2026-11-19T09:00:00Z";
const UNTIL: &str = "2026-11-19T12:00:00Z";

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

fn options(since: &str, until: &str) -> CollectOptions {
    CollectOptions {
        orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
        since: Some(time(since)),
        until: Some(time(until)),
        ..CollectOptions::default()
    }
}

/// Collects tiny's 09:00 to 12:00 from `handle` (three windows).
fn collect_three_hours(handle: &SimulatorHandle, db: &Path) -> CollectSummary {
    collect_into(db, fast_client_config(handle), options(SINCE, UNTIL))
}

/// The run went through all three windows, each failed alone with `reason` and the 2 calls it
/// cost (the overview and the one page that went wrong), and said so.
fn assert_each_window_failed_alone(summary: &CollectSummary, db: &Path, reason: &str) {
    assert_each_window_failed_alone_after(summary, db, reason, 2);
}

/// As [`assert_each_window_failed_alone`], each window having cost `calls` calls.
fn assert_each_window_failed_alone_after(
    summary: &CollectSummary,
    db: &Path,
    reason: &str,
    calls: u64,
) {
    assert_eq!(
        summary.collected(),
        [OrgId::new(TINY_ORG)],
        "the organization ran to its end"
    );
    let windows = request_log_windows(db, TINY_ORG);
    let hours = ["09", "10", "11", "12"];
    let expected: Vec<_> = hours
        .windows(2)
        .map(|h| {
            (
                time(&format!("2026-11-19T{}:00:00Z", h[0])),
                time(&format!("2026-11-19T{}:00:00Z", h[1])),
                WindowStatus::Failed,
                calls,
                Some(reason.to_owned()),
            )
        })
        .collect();
    assert_eq!(windows, expected);
    let failed: Vec<(&OrgId, &str)> = summary.failed().collect();
    assert_eq!(
        failed,
        [(
            &OrgId::new(TINY_ORG),
            format!(
                "3 window(s) failed: 3 from 2026-11-19T09:00:00.000000Z to 2026-11-19T12:00:00.000000Z: {reason}"
            )
            .as_str()
        )]
    );
    let total = summary.total();
    assert_eq!((total.windows, total.records), (0, 0));
    // The admins, then the calls of each window.
    assert_eq!(total.tally.calls, 1 + 3 * calls);
}

#[test]
fn a_next_link_to_the_page_just_fetched_fails_each_window_alone() {
    let handle = serve(hostile("self-link"));
    assert!(!records_in(&handle, TINY_ORG, time(SINCE), time("2026-11-19T10:00:00Z")).is_empty());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    assert_each_window_failed_alone(
        &summary,
        &db,
        "/organizations/100001/apiRequests: page 1 links to a page already fetched, so the pages would loop",
    );
}

#[test]
fn an_empty_page_with_a_next_link_fails_each_window_alone() {
    let handle = serve(hostile("empty-next"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    assert_each_window_failed_alone(
        &summary,
        &db,
        "/organizations/100001/apiRequests: page 1 is empty yet links to a next page",
    );
}

#[test]
fn overview_counts_past_a_u64_fail_each_window_alone_without_overflowing() {
    let handle = serve(hostile("huge-counts"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    assert_each_window_failed_alone_after(
        &summary,
        &db,
        "/organizations/100001/apiRequests/overview: its counts add up to more than 18446744073709551615 requests, more than the 36000000 a window of 3600 s could hold at 10000 a second; not believed",
        1,
    );
}

#[test]
fn a_body_that_never_ends_fails_its_window_at_64_mib_and_nothing_of_it_is_stored() {
    let handle = serve(hostile("endless-body"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    assert_each_window_failed_alone(
        &summary,
        &db,
        &format!(
            "{}/organizations/100001/apiRequests: the answer's body is larger than 64 MiB, more than any page of the API; not read further, not retried",
            handle.base_url()
        ),
    );
}

#[test]
fn a_body_announced_larger_than_64_mib_is_refused_before_it_is_read() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds 127.0.0.1:0");
    let base = format!(
        "http://{}/api/v1",
        listener.local_addr().expect("an address")
    );
    let announced = (64 << 20) + 1;
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("one call");
        let mut head = [0u8; 4096];
        let _ = stream.read(&mut head);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {announced}\r\n\r\n["
        );
        stream
            .write_all(answer.as_bytes())
            .expect("the head is sent");
        // Nothing more is sent: a client that waited for the body would wait until its timeout.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let key = callbudget_collect::dashboard::key::ApiKey::new(API_KEY).expect("a valid key");
    let mut config = callbudget_collect::dashboard::client::ClientConfig::new(&base, key, 1.0);
    // Should the body be awaited, the call fails at once instead of after retries.
    (config.timeout, config.max_retries) = (Duration::from_secs(5), 0);
    let client = DashboardClient::new(config).expect("the client builds");
    let url = format!("{base}/organizations");
    let mut tally = CallTally::default();
    let result =
        crate::support::block_on(client.get::<Vec<serde_json::Value>>(None, &url, &mut tally));
    let error = result.expect_err("the answer is refused");
    assert_eq!(
        error.to_string(),
        format!(
            "{url}: the answer's body is larger than 64 MiB, more than any page of the API; not read further, not retried"
        )
    );
    assert_eq!(tally.calls, 1);
    drop(client);
    server
        .join()
        .expect("the server ends when the client hangs up");
}

#[test]
fn a_call_is_given_up_at_its_max_throttled_429_and_says_how_many_it_got() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let received = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&received);
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                r#"{"errors": ["API rate limit exceeded for organization"]}"#,
            )
        }
    });
    let (url, error, tally) = crate::support::block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds 127.0.0.1:0");
        let base = format!(
            "http://{}/api/v1",
            listener.local_addr().expect("an address")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let key = callbudget_collect::dashboard::key::ApiKey::new(API_KEY).expect("a valid key");
        let mut config = callbudget_collect::dashboard::client::ClientConfig::new(&base, key, 1.0);
        // Two 429s: the first asks for no wait, and the second is the last.
        config.max_throttled = 2;
        let client = DashboardClient::new(config).expect("the client builds");
        let url = client.url("/organizations/100001/admins", &[]);
        let mut tally = CallTally::default();
        let result = client
            .get::<Vec<serde_json::Value>>(Some(TINY_ORG), &url, &mut tally)
            .await;
        (url, result.expect_err("the call is given up"), tally)
    });
    assert_eq!(
        error.to_string(),
        format!("{url}: gave up after 2 x 429 Too Many Requests for this one call")
    );
    assert_eq!(received.load(Ordering::SeqCst), 2);
    assert_eq!((tally.calls, tally.http_429s), (2, 2));
}

#[test]
fn a_panic_while_collecting_one_organization_fails_it_alone() {
    let other = "100002";
    let handle = serve(SimConfig {
        scenarios: vec![
            crate::support::tiny_scenario(),
            tiny_scenario_with_id(other),
        ],
        ..tiny_config()
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let client = DashboardClient::new(fast_client_config(&handle)).expect("the client builds");
    let options = CollectOptions {
        orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG), OrgId::new(other)]),
        ..options(SINCE, UNTIL)
    };
    // A bug met in one organization's task: the events are called from inside it.
    let (_, summary) = callbudget_collect::run(client, &db, options, move |event| {
        if matches!(&event, CollectEvent::OrgStarted { org, .. } if org == other) {
            panic!("a bug met while collecting {other}");
        }
    })
    .expect("the run ends with a summary, not a crash");
    assert_eq!(summary.collected(), [OrgId::new(TINY_ORG)]);
    let failed: Vec<(&OrgId, &str)> = summary.failed().collect();
    assert_eq!(
        failed,
        [(
            &OrgId::new(other),
            "collecting it stopped on an internal error (a bug in callbudget): a bug met while collecting 100002"
        )]
    );
    let (t0, t1) = (time(SINCE), time(UNTIL));
    assert_same_records(
        stored_records(&db, TINY_ORG, t0, t1),
        records_in(&handle, TINY_ORG, t0, t1),
    );
    assert_eq!(summary.total().windows, 3);
}

#[test]
fn a_link_to_another_organizations_log_is_refused_and_nothing_of_it_is_stored() {
    let other = "100002";
    let handle = serve(SimConfig {
        scenarios: vec![
            crate::support::tiny_scenario(),
            tiny_scenario_with_id(other),
        ],
        ..hostile("foreign-org-link")
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    assert_each_window_failed_alone(
        &summary,
        &db,
        &format!(
            "refused a pagination link to {}/organizations/{other}/apiRequests: it leads away from /organizations/100001/apiRequests, the endpoint being paged, and what it holds is not this window's",
            handle.base_url()
        ),
    );
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM unfiltered_api_requests", [], |r| {
            r.get(0)
        })
        .expect("the view answers");
    assert_eq!(stored, 0);
}

#[test]
fn a_link_to_another_endpoint_is_refused() {
    let handle = serve(hostile("other-endpoint-link"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    assert_each_window_failed_alone(
        &summary,
        &db,
        &format!(
            "refused a pagination link to {}/organizations/100001/admins: it leads away from /organizations/100001/apiRequests, the endpoint being paged, and what it holds is not this window's",
            handle.base_url()
        ),
    );
}

#[test]
fn a_record_that_fails_the_schema_fails_its_window_at_once_without_retries() {
    let handle = serve(hostile("bad-record"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_three_hours(&handle, &db);
    let windows = request_log_windows(&db, TINY_ORG);
    assert_eq!(windows.len(), 3);
    for (_, _, status, calls, error) in &windows {
        assert_eq!((*status, *calls), (WindowStatus::Failed, 2));
        let error = error.as_deref().expect("the reason is recorded");
        assert!(
            error.starts_with(&format!(
                "{}/organizations/100001/apiRequests: the answer is JSON but not in the API's shape (invalid timestamp \"not-a-time\"",
                handle.base_url()
            )),
            "{error}"
        );
        assert!(error.ends_with("; not retried"), "{error}");
    }
    assert_eq!(summary.total().tally.calls, 1 + 3 * 2);
    assert_eq!(summary.total().failed_windows.len(), 3);
}

#[test]
fn after_a_window_fails_the_next_ones_are_still_collected() {
    // Half the request-log pages carry a bad record: those windows fail, the others are whole.
    let handle = serve(hostile("bad-record=0.5"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let (since, until) = ("2026-11-19T06:00:00Z", "2026-11-19T12:00:00Z");
    let summary = collect_into(&db, fast_client_config(&handle), options(since, until));
    let windows = request_log_windows(&db, TINY_ORG);
    assert_eq!(windows.len(), 6);
    let failed: Vec<_> = windows
        .iter()
        .filter(|w| w.2 == WindowStatus::Failed)
        .collect();
    let first_failed = windows
        .iter()
        .position(|w| w.2 == WindowStatus::Failed)
        .expect("a window failed");
    assert!(
        windows[first_failed..]
            .iter()
            .any(|w| w.2 == WindowStatus::Complete),
        "a window after a failed one was collected: {windows:?}"
    );
    for (t0, t1, status, _, error) in &windows {
        match status {
            WindowStatus::Complete => assert_same_records(
                stored_records(&db, TINY_ORG, *t0, *t1),
                records_in(&handle, TINY_ORG, *t0, *t1),
            ),
            _ => assert!(error.as_deref().is_some_and(|e| e.contains("not-a-time"))),
        }
    }
    assert_eq!(summary.total().failed_windows.len(), failed.len());
    assert_eq!(
        summary.total().windows as usize,
        windows.len() - failed.len()
    );
    assert_eq!(
        summary.failed().count(),
        1,
        "the run says the windows failed"
    );
}

#[test]
fn headers_too_large_to_read_are_not_retried() {
    let handle = serve(hostile("huge-headers"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let client = DashboardClient::new(fast_client_config(&handle)).expect("the client builds");
    let error = callbudget_collect::run(client, &db, options(SINCE, UNTIL), |_| {})
        .expect_err("the run fails");
    assert_eq!(
        callbudget_api::text::error_chain(&error),
        format!(
            "cannot list organizations at {0}: {0}/organizations: the answer's headers are larger than an HTTP client accepts; not retried",
            handle.base_url()
        )
    );
    assert_eq!(handle.simulator().calls_received(), 1);
}

/// A simulator that answers every call to the organization with 429 and `Retry-After: 7200`, as if
/// another consumer had drained the budget for two hours.
fn two_hour_storm(rate: f64, seed: u64) -> SimConfig {
    SimConfig {
        faults: FaultPlan {
            storm_rate: rate,
            storm_length: Duration::from_secs(7200),
            seed,
            ..FaultPlan::default()
        },
        ..tiny_config()
    }
}

#[test]
fn a_retry_after_beyond_the_wait_budget_fails_the_organization_at_once() {
    let handle = serve(two_hour_storm(1.0, 0));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    // The default budget for three windows: 5 minutes, plus 2 a window.
    let summary = collect_three_hours(&handle, &db);
    assert_eq!(
        summary.failed().collect::<Vec<_>>(),
        [(
            &OrgId::new(TINY_ORG),
            "/api/v1/organizations/100001/admins: waiting 3600 s more (429 Too Many Requests) would exceed this run's wait budget: 0 s of 660 s spent (--max-wait)"
        )]
    );
    assert!(
        summary.elapsed < Duration::from_secs(10),
        "{:?}",
        summary.elapsed
    );

    let limited = collect_into(
        &dir.path().join("limited.db"),
        fast_client_config(&handle),
        CollectOptions {
            max_wait: Some(Duration::from_secs(30)),
            ..options(SINCE, UNTIL)
        },
    );
    let failure = limited.failed().next().expect("the organization failed").1;
    assert!(
        failure.ends_with("0 s of 30 s spent (--max-wait)"),
        "{failure}"
    );
}

#[test]
fn what_was_stored_before_the_organization_failed_is_counted() {
    // A storm begins after some windows are stored; its two hours are beyond the budget.
    let handle = serve(two_hour_storm(0.08, 5));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let (since, until) = ("2026-11-19T04:00:00Z", "2026-11-19T12:00:00Z");
    let summary = collect_into(&db, fast_client_config(&handle), options(since, until));
    let failure = summary.failed().next().expect("the organization failed").1;
    assert!(
        failure.contains("would exceed this run's wait budget"),
        "{failure}"
    );
    let complete = request_log_windows(&db, TINY_ORG)
        .into_iter()
        .filter(|w| w.2 == WindowStatus::Complete)
        .count();
    assert!(
        (1..8).contains(&complete),
        "some windows were stored first: {complete}"
    );
    assert_eq!(summary.total().windows, complete as u64);
    assert_eq!(
        summary.total().records,
        crate::support::stored_request_count(&db, TINY_ORG, time(since), time(until))
    );
    assert!(summary.collected().is_empty());
}

#[test]
fn a_503_is_retried_after_the_retry_after_it_gives() {
    let handle = serve(SimConfig {
        faults: FaultPlan {
            unavailable_rate: 1.0,
            unavailable_for: Duration::from_secs(1),
            ..FaultPlan::default()
        },
        ..tiny_config()
    });
    let mut config = fast_client_config(&handle);
    config.max_retries = 2;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let client = DashboardClient::new(config)
        .expect("the client builds")
        .with_events(move |e| seen.lock().expect("not poisoned").push(e));
    let url = client.url("/organizations", &[]);
    let error = crate::support::block_on(async {
        client
            .get::<Vec<serde_json::Value>>(None, &url, &mut CallTally::default())
            .await
            .expect_err("every call is refused")
    });
    assert_eq!(
        error.to_string(),
        format!("{url}: gave up after 3 attempts: HTTP 503")
    );
    let waits: Vec<Duration> = events
        .lock()
        .expect("not poisoned")
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Retrying { wait, .. } => Some(*wait),
            _ => None,
        })
        .collect();
    // Not the fast config's backoff (at most 200 ms): the server's Retry-After.
    assert_eq!(waits, [Duration::from_secs(1); 2]);
    assert_eq!(client.waited_for_server(), Duration::from_secs(2));
}

/// Runs a collection of tiny from `handle` with this machine's clock at `local`, gathering events.
fn collect_at(
    handle: &SimulatorHandle,
    db: &Path,
    local: DateTime<Utc>,
    options: CollectOptions,
) -> (CollectSummary, Vec<CollectEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let client = DashboardClient::new(fast_client_config(handle)).expect("the client builds");
    let (_, summary) = callbudget_collect::run(
        client,
        db,
        CollectOptions {
            clock: LocalClock::fixed(local),
            ..options
        },
        move |e| seen.lock().expect("not poisoned").push(e),
    )
    .expect("the run starts");
    let events = events.lock().expect("not poisoned").clone();
    (summary, events)
}

fn warnings(events: &[CollectEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            CollectEvent::Warning { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_server_clock_in_2100_is_warned_about_and_no_window_ends_after_this_machines_clock() {
    let handle = serve(hostile("future-date"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let local = time(TINY_END);
    let (summary, events) = collect_at(
        &handle,
        &db,
        local,
        CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
            ..CollectOptions::default()
        },
    );
    assert_eq!(summary.failed().count(), 0);
    let warned = warnings(&events);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("the API's clock (2100-11-20T00:00:")
            && warned[0].ends_with(
                "from its Date header) is 27028 day(s) ahead of this machine's (2026-11-20T00:00:00.000000Z): windows end at this machine's clock instead, and none is stored past it"
            ),
        "{}",
        warned[0]
    );
    // A first run: the 24 hours before this machine's clock, not before the server's.
    let windows = request_log_windows(&db, TINY_ORG);
    assert_eq!(windows.len(), 24);
    assert!(windows.iter().all(|w| w.2 == WindowStatus::Complete));
    assert_eq!(windows[23].1, local);
    let day = time("2026-11-19T00:00:00Z");
    assert_same_records(
        stored_records(&db, TINY_ORG, day, local),
        records_in(&handle, TINY_ORG, day, local),
    );
}

/// Stores an empty request-log window of tiny's organization in the year 2100, as a run that
/// believed a server clock in 2100 would have.
fn store_window_in_2100(db: &Path) -> DateTime<Utc> {
    let mut store = Store::open(db).expect("the database opens");
    let t0 = time("2100-11-20T00:00:00Z");
    let meta = WindowMeta {
        org_id: OrgId::new(TINY_ORG),
        endpoint: Endpoint::ApiRequests,
        filter: CollectionFilter::None,
        t0,
        t1: t0 + TimeDelta::hours(1),
        started_at: t0,
        finished_at: t0,
        calls: 1,
        http_429s: 0,
    };
    store
        .store_request_pages(&meta, &[])
        .expect("the window is stored");
    meta.t1
}

fn frozen_tiny() -> SimConfig {
    SimConfig {
        clock: ClockMode::Frozen,
        ..tiny_config()
    }
}

#[test]
fn windows_in_the_future_are_removed_at_once_when_both_clocks_agree() {
    let handle = serve(frozen_tiny());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let local = time(TINY_END);
    let first = options("2026-11-19T21:00:00Z", "2026-11-19T22:00:00Z");
    collect_at(&handle, &db, local, first);
    store_window_in_2100(&db);

    // Without --since, a run resumes from the newest window: one in 2100 would leave nothing to
    // collect, forever.
    let resume = CollectOptions {
        orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
        until: Some(local),
        ..CollectOptions::default()
    };
    let (summary, events) = collect_at(&handle, &db, local, resume);
    assert_eq!(summary.failed().count(), 0);
    assert_eq!(
        warnings(&events),
        [
            "removed 1 window(s) ending after this machine's clock (the latest at 2100-11-20T01:00:00.000000Z), left by an earlier run that believed a server clock in the future"
        ]
    );
    let ends: Vec<DateTime<Utc>> = request_log_windows(&db, TINY_ORG)
        .into_iter()
        .map(|w| w.1)
        .collect();
    // The newest window re-pulled, then the two hours after it.
    assert_eq!(
        ends,
        [
            time("2026-11-19T22:00:00Z"),
            time("2026-11-19T23:00:00Z"),
            local
        ]
    );
    assert_eq!(summary.total().windows, 3);
}

#[test]
fn windows_in_the_future_stop_the_organization_until_repair_when_the_clocks_disagree() {
    let handle = serve(frozen_tiny());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    // This machine's clock is a day ahead of the API's: which one is wrong, callbudget cannot
    // tell, so it removes nothing by itself.
    let local = time(TINY_END) + TimeDelta::days(1);
    let range = || options("2026-11-19T22:00:00Z", TINY_END);
    collect_at(&handle, &db, local, range());
    store_window_in_2100(&db);

    let (summary, _) = collect_at(&handle, &db, local, range());
    assert_eq!(
        summary.failed().collect::<Vec<_>>(),
        [(
            &OrgId::new(TINY_ORG),
            "the database holds 1 window(s) ending after this machine's clock, the latest at 2100-11-20T01:00:00.000000Z: an earlier run believed a server clock in the future, and nothing newer would ever be collected; the API's clock and this machine's disagree, so check this machine's clock, then run collect with --repair to remove them"
        )]
    );
    assert_eq!(request_log_windows(&db, TINY_ORG).len(), 3);

    let (summary, events) = collect_at(
        &handle,
        &db,
        local,
        CollectOptions {
            repair: true,
            ..range()
        },
    );
    assert_eq!(summary.failed().count(), 0);
    assert!(
        warnings(&events)
            .iter()
            .any(|w| w.starts_with("removed 1 window(s)"))
    );
    let windows = request_log_windows(&db, TINY_ORG);
    assert_eq!(windows.len(), 2);
    assert!(windows.iter().all(|w| w.1 <= time(TINY_END)));
}

#[test]
fn credentials_in_collected_query_strings_are_redacted_in_every_spelling() {
    let scenario = Scenario::load(&crate::support::sample_path("hostile.toml"))
        .expect("hostile.toml is valid");
    let handle = serve(SimConfig {
        scenarios: vec![scenario],
        ..tiny_config()
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_into(
        &db,
        fast_client_config(&handle),
        CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new("666001")]),
            ..options("2026-11-19T00:00:00Z", TINY_END)
        },
    );
    assert_eq!(summary.failed().count(), 0);
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT query_string FROM unfiltered_api_requests
             WHERE query_string <> '' ORDER BY 1",
        )
        .expect("the view answers");
    let query_strings: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("the view answers")
        .collect::<Result<_, _>>()
        .expect("the rows read");
    assert_eq!(
        query_strings,
        [
            "%61pi_key=***&x=1",
            "API_KEY =***",
            "api%5Fkey=***",
            "api_key=***&perPage=10"
        ]
    );
    drop(stmt);
    drop(conn);
    for file in std::fs::read_dir(dir.path()).expect("the directory reads") {
        let bytes = std::fs::read(file.expect("an entry").path()).expect("the file reads");
        assert!(
            !bytes.windows(18).any(|w| w == b"THIRD-PARTY-SECRET"),
            "a secret in the database files"
        );
    }
}

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    cmd.env(API_KEY_ENV, API_KEY)
        .timeout(Duration::from_secs(60));
    cmd
}

/// No byte that drives a terminal: ESC, BEL, BS, NUL, and the other C0 controls but newline.
fn assert_printable(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !bytes.iter().any(|&b| b < b' ' && b != b'\n' || b == 0x7f),
        "control characters reached the terminal: {text}"
    );
}

#[test]
fn organization_names_and_error_bodies_reach_the_terminal_sanitised() {
    let scenario = Scenario::load(&crate::support::sample_path("hostile.toml"))
        .expect("hostile.toml is valid");
    let handle = serve(SimConfig {
        scenarios: vec![scenario],
        ..hostile("escapes")
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let collected = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(dir.path().join("cb.db"))
        .args(["--all-orgs", "--base-url", &handle.base_url()])
        .args(["--since", "2026-11-19T22:00:00Z", "--until", TINY_END])
        .args(["--budget-share", "1", "--org-rate", "1000", "-v"])
        .output()
        .expect("callbudget runs");
    assert!(collected.status.success(), "{collected:?}");
    assert_printable(&collected.stdout);
    assert_printable(&collected.stderr);
    let stderr = String::from_utf8_lossy(&collected.stderr);
    assert!(
        stderr.contains(
            "organization 666001 (Hostile \\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{1b}c Org): 2 window(s) to collect"
        ),
        "{stderr}"
    );

    // A base URL the simulator does not serve: its 404 body starts with the escapes.
    let wrong_path = handle.base_url().replace("/api/v1", "/api/v0");
    let refused = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(dir.path().join("cb.db"))
        .args(["--all-orgs", "--base-url", &wrong_path])
        .output()
        .expect("callbudget runs");
    assert_eq!(refused.status.code(), Some(1));
    assert_printable(&refused.stderr);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with(&format!("callbudget: error: cannot list organizations at {wrong_path}: {wrong_path}/organizations not found (404): \\u{{1b}}]0;")),
        "{stderr}"
    );
}

#[test]
fn collect_exits_1_naming_the_windows_that_failed_and_counts_what_it_stored() {
    let handle = serve(hostile("bad-record=0.5"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(dir.path().join("cb.db"))
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .args([
            "--since",
            "2026-11-19T06:00:00Z",
            "--until",
            "2026-11-19T12:00:00Z",
        ])
        .args(["--budget-share", "1", "--org-rate", "1000", "-q"])
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(1));
    let windows = request_log_windows(&dir.path().join("cb.db"), TINY_ORG);
    let complete = windows
        .iter()
        .filter(|w| w.2 == WindowStatus::Complete)
        .count();
    let failed = windows.len() - complete;
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        stdout.starts_with(&format!(
            "collected {complete} window(s) ({failed} more failed) of 1 organization(s)"
        )),
        "{stdout}"
    );
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "callbudget: error: organization 100001: {failed} window(s) failed: "
        )),
        "{stderr}"
    );
}

#[test]
fn collect_repair_removes_windows_an_earlier_run_stored_in_the_future() {
    let handle = serve(frozen_tiny());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let run = |repair: bool| {
        let mut cmd = callbudget();
        cmd.arg("collect")
            .arg("--db")
            .arg(&db)
            .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
            .args(["--since", "2026-11-19T22:00:00Z", "--until", TINY_END])
            .args(["--budget-share", "1", "--org-rate", "1000"]);
        if repair {
            cmd.arg("--repair");
        }
        cmd.output().expect("callbudget runs")
    };
    assert!(run(false).status.success());
    store_window_in_2100(&db);

    // The simulator's clock is in 2026-11-20 and this machine's is not: they disagree.
    let refused = run(false);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("callbudget: error: organization 100001: the database holds 1 window(s) ending after this machine's clock"),
        "{stderr}"
    );
    assert!(stderr.contains("run collect with --repair"), "{stderr}");

    let repaired = run(true);
    assert!(repaired.status.success(), "{repaired:?}");
    let stderr = String::from_utf8_lossy(&repaired.stderr);
    assert!(
        stderr.contains("callbudget: warning: organization 100001: removed 1 window(s) ending after this machine's clock"),
        "{stderr}"
    );
    assert!(
        request_log_windows(&db, TINY_ORG)
            .iter()
            .all(|w| w.1 <= time(TINY_END))
    );
}

#[test]
fn a_max_wait_that_is_not_a_duration_is_a_usage_error() {
    let output = callbudget()
        .args(["collect", "--org", TINY_ORG, "--max-wait", "10"])
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"10\": a wait is a whole number ending in s, m or h (e.g. 30m)"),
        "{stderr}"
    );
}
