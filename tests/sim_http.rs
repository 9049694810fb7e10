//! The simulator over real HTTP on 127.0.0.1:0: the Dashboard API's limits, pagination, parameter
//! rules, filters and faults, checked against the log the simulator holds.

use crate::support::{
    API_KEY, Answer, Api, TEST_USER_AGENT, TINY_END, TINY_ORG, block_on, records_in, sample_path,
    serve, time, tiny_config, tiny_scenario, tiny_scenario_with_id, window_query,
};
use callbudget_api::{RequestRecord, RequestsOverview, ResponseCodeInterval};
use callbudget_sim::faults::{FaultPlan, FaultSetting, HOSTILE_TEXT, RetryAfterStyle};
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{
    ClockHand, ClockMode, HostPort, LinkStyle, PageOrder, SimConfig, SimError, Simulator,
    SimulatorHandle,
};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const ADMINS: &str = "/organizations/100001/admins";

fn frozen_tiny() -> SimConfig {
    SimConfig {
        clock: ClockMode::Frozen,
        ..tiny_config()
    }
}

fn with_fault(setting: &str) -> SimConfig {
    let setting: FaultSetting = setting.parse().expect("a valid fault setting");
    SimConfig {
        faults: FaultPlan::default().with(setting),
        ..frozen_tiny()
    }
}

fn error_body(message: &str) -> Vec<String> {
    vec![message.to_owned()]
}

// ---- The live budget --------------------------------------------------------------------------

#[test]
fn forty_simultaneous_requests_admit_exactly_twenty() {
    let handle = serve(SimConfig {
        enforce_rate_limits: true,
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    let logged_before = handle.simulator().records(TINY_ORG).len();

    let answers: Vec<Answer> = block_on(async {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let api = api.clone();
            calls.spawn(async move { api.get(ADMINS).await });
        }
        calls.join_all().await
    });

    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let refused: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!((ok, refused.len()), (20, 20));
    for answer in refused {
        // The frozen bucket is 100 ms from its next token: rounded up, one second.
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert_eq!(
            String::from_utf8_lossy(&answer.body),
            r#"{"errors":["API rate limit exceeded for organization"]}"#
        );
    }
    // The refusals are in the organization's log too, as the real API logs them.
    let served: Vec<u16> = handle.simulator().records(TINY_ORG)[logged_before..]
        .iter()
        .filter_map(|r| r.response_code)
        .collect();
    assert_eq!(served.len(), 40);
    assert_eq!(served.iter().filter(|&&c| c == 429).count(), 20);
}

#[test]
fn calls_refused_for_the_org_budget_do_not_spend_the_source_ip_budget() {
    // Frozen clock: the org bucket admits 20, the source-IP bucket 100, and neither refills.
    let handle = serve(SimConfig {
        enforce_rate_limits: true,
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    let codes: Vec<StatusCode> = block_on(async {
        let mut codes = Vec::new();
        for _ in 0..100 {
            codes.push(api.get(ADMINS).await.status);
        }
        // 20 calls were admitted, so 80 of the source IP's 100 tokens are left for
        // getOrganizations, which only the source-IP budget limits.
        codes.push(api.get("/organizations").await.status);
        codes
    });
    assert_eq!(
        codes.iter().filter(|&&c| c == StatusCode::OK).count(),
        21,
        "{codes:?}"
    );
    assert_eq!(codes[100], StatusCode::OK);
}

#[test]
fn the_org_budget_refills_as_the_simulated_clock_moves() {
    let hand = ClockHand::new();
    let handle = serve(SimConfig {
        enforce_rate_limits: true,
        clock: ClockMode::Manual(hand.clone()),
        ..tiny_config()
    });
    let api = Api::new(&handle);
    let (burst, refilled, date) = block_on(async {
        let mut burst = Vec::new();
        for _ in 0..21 {
            burst.push(api.get(ADMINS).await.status.as_u16());
        }
        hand.advance(Duration::from_secs(1));
        let mut refilled = Vec::new();
        let mut date = None;
        for _ in 0..11 {
            let answer = api.get(ADMINS).await;
            refilled.push(answer.status.as_u16());
            date = answer.header("date").map(str::to_owned);
        }
        (burst, refilled, date)
    });
    // 10 requests/s plus a burst of 10: 20 at once, then 10 for each second the clock moves.
    assert_eq!(burst, [[200; 20].as_slice(), &[429]].concat());
    assert_eq!(refilled, [[200; 10].as_slice(), &[429]].concat());
    assert_eq!(date.as_deref(), Some("Fri, 20 Nov 2026 00:00:01 GMT"));
}

#[tokio::test]
async fn simulator_starts_inside_an_async_test() {
    let handle = serve(frozen_tiny());
    let answer = Api::new(&handle).get(ADMINS).await;
    assert_eq!(answer.status, StatusCode::OK);
}

// ---- Pagination -------------------------------------------------------------------------------

/// One day, one poll of 2,345 devices at its very start, and a budget nothing exceeds.
const DAILY_POLL_OF_2345_DEVICES: &str = r#"
[organization]
id = "200001"
name = "Pagination Org"
days = 1
seed = 3

[budget]
requests_per_second = 1000000
per_source_ip_per_second = 1000000

[inventory]
networks = 3
devices = 2345

[[admins]]
id = "900001"
name = "Ada Admin"
email = "ada@example.com"

[[consumers]]
name = "daily-lldp"
user_agent = "DailyLldp/1.0 Test"
admin = "900001"
source_ip = "192.0.2.10"
client_id = "k_daily"
on_429 = { honours_retry_after = true, backoff = "none", jitter = false, max_retries = 0 }

[[consumers.traffic]]
kind = "poll"
operation = "getDeviceLldpCdp"
every_minutes = 1440
offset_minutes = 0
targets = 2345
concurrency = 200
"#;

/// The daily poll, served with live limits (nothing exceeds them) and its day as a window.
fn daily_poll(page_order: PageOrder) -> (SimulatorHandle, DateTime<Utc>, DateTime<Utc>) {
    let scenario = Scenario::parse(Path::new("daily.toml"), DAILY_POLL_OF_2345_DEVICES)
        .expect("the pagination scenario is valid");
    let end = time(TINY_END);
    let handle = serve(SimConfig {
        page_order,
        ..SimConfig::new(vec![scenario], end, API_KEY)
    });
    (handle, end - TimeDelta::days(1), end)
}

#[test]
fn pagination_serves_each_record_once_in_order() {
    let (handle, t0, t1) = daily_poll(PageOrder::OldestFirst);
    let expected = records_in(&handle, "200001", t0, t1);
    assert_eq!(expected.len(), 2345);
    assert!(expected.iter().all(|r| r.response_code == Some(200)));

    let api = Api::new(&handle);
    let first = format!(
        "/organizations/200001/apiRequests?perPage=1000&{}",
        window_query(t0, t1)
    );
    let (pages, first_answer, last_answer, previous_of_last) = block_on(async {
        let pages = api.pages(&first).await;
        let first_answer = api.get(&first).await;
        let second = first_answer.link("next").expect("page 1 links to page 2");
        let third = api
            .get(&second)
            .await
            .link("next")
            .expect("page 2 links to page 3");
        let last_answer = api.get(&third).await;
        let prev = last_answer.link("prev").expect("page 3 links back");
        let previous_of_last = api.get(&prev).await;
        (pages, first_answer, last_answer, previous_of_last)
    });

    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1000, 1000, 345]);
    let served: Vec<RequestRecord> = pages.concat();
    assert_eq!(served, expected);

    assert_eq!(first_answer.link("prev"), None);
    assert!(first_answer.link("first").is_some());
    assert_eq!(last_answer.link("next"), None);
    assert_eq!(previous_of_last.status, StatusCode::OK);
    assert_eq!(
        previous_of_last.json::<Vec<RequestRecord>>(),
        pages[1],
        "rel=prev of the last page is page 2"
    );
}

// ---- Parameter rules, auth, routing --------------------------------------------------------------

#[test]
fn out_of_range_parameters_get_400_with_errors_body() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    let day = window_query(time("2026-11-19T00:00:00Z"), time(TINY_END));
    let requests = format!("/organizations/{TINY_ORG}/apiRequests");
    let by_interval = format!("{requests}/overview/responseCodes/byInterval");
    let cases = [
        (
            format!("{requests}?perPage=2&{day}"),
            "'perPage' must be between 3 and 1000",
        ),
        (
            format!("{requests}?perPage=1001&{day}"),
            "'perPage' must be between 3 and 1000",
        ),
        (
            format!("{by_interval}?interval=60&{day}"),
            "'interval' must be one of 120, 3600, 14400, 21600",
        ),
        (
            format!("{requests}?t0=2026-10-19T00:00:00Z"),
            "'t0' can be at most 31 days before now",
        ),
        (
            format!("{requests}?startingAfter=garbage&{day}"),
            "invalid 'startingAfter'",
        ),
    ];
    let (answers, bounds) = block_on(async {
        let mut answers = Vec::new();
        for (path, _) in &cases {
            answers.push(api.get(path).await);
        }
        let mut bounds = Vec::new();
        for per_page in [3, 1000] {
            let path = format!("{requests}?perPage={per_page}&{day}");
            bounds.push(api.get(&path).await.status);
        }
        (answers, bounds)
    });
    for ((path, message), answer) in cases.iter().zip(&answers) {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.errors(), error_body(message), "{path}");
    }
    assert_eq!(bounds, [StatusCode::OK, StatusCode::OK]);
}

#[test]
fn unknown_org_is_404_and_wrong_key_is_401() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    let (unknown, wrong_key, no_key, legacy_key) = block_on(async {
        let unknown = api.get("/organizations/999999/admins").await;
        let wrong_key = api.with_key("not-the-key").get(ADMINS).await;
        let no_key = api
            .client
            .get(api.url(ADMINS))
            .send()
            .await
            .expect("the simulator answers");
        let legacy_key = api
            .client
            .get(api.url(ADMINS))
            .header("X-Cisco-Meraki-API-Key", API_KEY)
            .send()
            .await
            .expect("the simulator answers");
        (unknown, wrong_key, no_key.status(), legacy_key.status())
    });
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.errors(), error_body("Organization not found"));
    assert_eq!(wrong_key.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_key.errors(), error_body("Invalid API key"));
    assert_eq!(no_key, StatusCode::UNAUTHORIZED);
    assert_eq!(legacy_key, StatusCode::OK);
}

// ---- Counts agree across endpoints ----------------------------------------------------------------

fn code_counts<'a>(records: impl IntoIterator<Item = &'a RequestRecord>) -> BTreeMap<u16, u64> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts
            .entry(r.response_code.expect("simulated records have a code"))
            .or_default() += 1;
    }
    counts
}

fn interval_counts(intervals: &[ResponseCodeInterval]) -> Vec<BTreeMap<u16, u64>> {
    intervals
        .iter()
        .map(|i| i.counts.iter().map(|c| (c.code, c.count)).collect())
        .collect()
}

#[test]
fn interval_counts_equal_overview_equal_log_counts() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    // Twelve hours around the 06:00 burst, so the window holds 429s as well as 200s.
    let (t0, t1) = (time("2026-11-19T00:00:00Z"), time("2026-11-19T12:00:00Z"));
    let window = window_query(t0, t1);
    let requests = format!("/organizations/{TINY_ORG}/apiRequests");
    let in_log = records_in(&handle, TINY_ORG, t0, t1);

    let (fine, default, overview, pages) = block_on(async {
        let by_interval = format!("{requests}/overview/responseCodes/byInterval?{window}");
        let fine: Vec<ResponseCodeInterval> =
            api.get(&format!("{by_interval}&interval=120")).await.json();
        let default: Vec<ResponseCodeInterval> = api.get(&by_interval).await.json();
        let overview: RequestsOverview = api
            .get(&format!("{requests}/overview?{window}"))
            .await
            .json();
        let pages = api
            .pages(&format!("{requests}?perPage=1000&{window}"))
            .await;
        (fine, default, overview, pages)
    });

    let expected = code_counts(&in_log);
    assert!(expected.contains_key(&200) && expected.contains_key(&429));

    // Per interval: the log's records bucketed from t0, 120 s and (12 h → default) 3600 s wide.
    for (intervals, seconds, n) in [(&fine, 120, 360), (&default, 3600, 12)] {
        assert_eq!(intervals.len(), n, "{seconds}-second intervals");
        assert_eq!(intervals[0].start_ts, t0);
        assert_eq!(intervals[n - 1].end_ts, t1);
        let mut bucketed = vec![BTreeMap::<u16, u64>::new(); n];
        for r in &in_log {
            let i = ((r.ts - t0).num_microseconds().unwrap_or(0) / (seconds * 1_000_000)) as usize;
            *bucketed[i]
                .entry(r.response_code.unwrap_or_default())
                .or_default() += 1;
        }
        assert_eq!(
            interval_counts(intervals),
            bucketed,
            "{seconds}-second intervals"
        );
        let mut summed = BTreeMap::<u16, u64>::new();
        for counts in interval_counts(intervals) {
            for (code, n) in counts {
                *summed.entry(code).or_default() += n;
            }
        }
        assert_eq!(summed, expected, "{seconds}-second intervals summed");
    }

    let overview: BTreeMap<u16, u64> = overview
        .response_code_counts
        .iter()
        .map(|(code, n)| (code.parse().expect("codes are numbers"), *n))
        .collect();
    assert_eq!(overview, expected);

    let paged: Vec<RequestRecord> = pages.concat();
    assert_eq!(code_counts(&paged), expected);
    assert_eq!(paged, in_log);
}

// ---- Filters ------------------------------------------------------------------------------------

#[test]
fn request_log_filters_return_exactly_the_matching_records() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    let (t0, t1) = (time("2026-11-19T00:00:00Z"), time(TINY_END));
    let in_log = records_in(&handle, TINY_ORG, t0, t1);
    let is = |field: &Option<String>, value: &str| field.as_deref() == Some(value);

    type Matcher = Box<dyn Fn(&RequestRecord) -> bool>;
    let cases: Vec<(&str, Matcher)> = vec![
        (
            "adminId=900002",
            Box::new(move |r| is(&r.admin_id, "900002")),
        ),
        (
            "sourceIp=192.0.2.30",
            Box::new(move |r| is(&r.source_ip, "192.0.2.30")),
        ),
        (
            "userAgent=TinyPusher%2F0.1%20Tiny",
            Box::new(move |r| is(&r.user_agent, "TinyPusher/0.1 Tiny")),
        ),
        ("method=PUT", Box::new(move |r| is(&r.method, "PUT"))),
        (
            "responseCode=429",
            Box::new(|r| r.response_code == Some(429)),
        ),
        (
            "operationIds%5B%5D=getOrganizationDevices&operationIds%5B%5D=getNetworkClients",
            Box::new(move |r| {
                is(&r.operation_id, "getOrganizationDevices")
                    || is(&r.operation_id, "getNetworkClients")
            }),
        ),
    ];
    let answers: Vec<Vec<RequestRecord>> = block_on(async {
        let mut answers = Vec::new();
        for (filter, _) in &cases {
            let first = format!(
                "/organizations/{TINY_ORG}/apiRequests?perPage=1000&{}&{filter}",
                window_query(t0, t1)
            );
            answers.push(api.pages(&first).await.concat());
        }
        answers
    });
    for ((filter, matches), served) in cases.iter().zip(answers) {
        let expected: Vec<RequestRecord> = in_log.iter().filter(|r| matches(r)).cloned().collect();
        assert!(
            !expected.is_empty() && expected.len() < in_log.len(),
            "{filter} should select some but not all records"
        );
        assert_eq!(served, expected, "{filter}");
    }
}

// ---- Faults ---------------------------------------------------------------------------------------

#[test]
fn server_error_fault_answers_5xx_with_a_request_id() {
    let handle = serve(with_fault("5xx=1"));
    let api = Api::new(&handle);
    let answers: Vec<Answer> = block_on(async {
        let mut answers = Vec::new();
        for _ in 0..8 {
            answers.push(api.get(ADMINS).await);
        }
        answers
    });
    let mut ids = std::collections::BTreeSet::new();
    for a in &answers {
        assert!(
            [500, 502, 503, 504].contains(&a.status.as_u16()),
            "{}",
            a.status
        );
        assert_eq!(a.errors(), error_body("Simulated server error"));
        let id = a.header("x-request-id").expect("an X-Request-Id header");
        assert!(id.starts_with("sim-"), "{id}");
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), 8, "every request has its own id");
}

#[test]
fn truncate_fault_answers_200_with_json_cut_short() {
    let handle = serve(with_fault("truncate=1"));
    let api = Api::new(&handle);
    let answer = block_on(api.get(ADMINS));
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.starts_with(b"[{"), "{:?}", answer.body);
    assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_err());
}

#[test]
fn malformed_fault_answers_200_with_a_body_that_is_not_json() {
    let handle = serve(with_fault("malformed=1"));
    let api = Api::new(&handle);
    let answer = block_on(api.get(ADMINS));
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        String::from_utf8_lossy(&answer.body),
        "<html><body>502 Bad Gateway</body></html>"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_err());
}

#[test]
fn reset_fault_cuts_the_connection_mid_body() {
    let handle = serve(with_fault("reset=1"));
    let api = Api::new(&handle);
    let (status, body) = block_on(async {
        let response = api
            .request(ADMINS)
            .send()
            .await
            .expect("the head arrives before the cut");
        (response.status(), response.bytes().await)
    });
    assert_eq!(status, StatusCode::OK);
    let error = body.expect_err("reading the body fails");
    assert!(error.is_body() || error.is_decode(), "{error:?}");
}

fn storm(retry_after: RetryAfterStyle) -> Answer {
    let handle = serve(SimConfig {
        faults: FaultPlan {
            retry_after,
            ..FaultPlan::default().with("storm=1".parse().expect("a valid fault"))
        },
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    let answer = block_on(api.get(ADMINS));
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        answer.errors(),
        error_body("API rate limit exceeded for organization")
    );
    answer
}

#[test]
fn storm_fault_refuses_with_retry_after_in_seconds() {
    // The default storm lasts 3 s and the clock is frozen at its start.
    assert_eq!(
        storm(RetryAfterStyle::Seconds).header("retry-after"),
        Some("3")
    );
}

#[test]
fn retry_after_as_a_date_is_the_storms_end_on_the_callers_clock() {
    // With a frozen clock the simulated time is the caller's clock too: the 3 s storm ends 3 s
    // after the Date the answer carries.
    let answer = storm(RetryAfterStyle::Date);
    assert_eq!(answer.header("date"), Some("Fri, 20 Nov 2026 00:00:00 GMT"));
    assert_eq!(
        answer.header("retry-after"),
        Some("Fri, 20 Nov 2026 00:00:03 GMT")
    );
}

#[test]
fn retry_after_with_a_unit_is_seconds_and_s() {
    assert_eq!(
        storm(RetryAfterStyle::Unit).header("retry-after"),
        Some("3s")
    );
}

fn statuses_with_ten_percent_5xx() -> Vec<u16> {
    let handle = serve(SimConfig {
        faults: FaultPlan {
            seed: 11,
            ..FaultPlan::default().with("5xx=0.1".parse().expect("a valid fault"))
        },
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    block_on(async {
        let mut statuses = Vec::new();
        for _ in 0..200 {
            statuses.push(api.get(ADMINS).await.status.as_u16());
        }
        statuses
    })
}

#[test]
fn ten_percent_5xx_is_seeded_and_repeats_call_for_call() {
    let first = statuses_with_ten_percent_5xx();
    let second = statuses_with_ten_percent_5xx();
    assert_eq!(first, second);
    assert!(first.iter().all(|s| [200, 500, 502, 503, 504].contains(s)));
    // Seed 11 draws 21 errors in 200 calls (about the 10 % asked for); a change means the fault
    // sequence for a seed changed.
    assert_eq!(first.iter().filter(|&&s| s != 200).count(), 21);
}

// ---- The simulator logs what it serves --------------------------------------------------------

#[test]
fn served_calls_are_logged_under_the_key_owner_without_the_key() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    let before = handle.simulator().records(TINY_ORG).len();
    let statuses = block_on(async {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(api.get(ADMINS).await.status);
        }
        statuses
    });
    assert_eq!(statuses, [StatusCode::OK; 3]);

    let records = handle.simulator().records(TINY_ORG);
    assert_eq!(records.len(), before + 3);
    let owner = &tiny_scenario().api_key_owner;
    assert_eq!(
        owner.admin_id, "900001",
        "tiny.toml's first admin owns the key"
    );
    for r in &records[before..] {
        assert_eq!(
            r.path.as_deref(),
            Some("/api/v1/organizations/100001/admins")
        );
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(r.operation_id.as_deref(), Some("getOrganizationAdmins"));
        assert_eq!(r.user_agent.as_deref(), Some(TEST_USER_AGENT));
        assert_eq!(r.source_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(r.admin_id.as_deref(), Some(owner.admin_id.as_str()));
        assert_eq!(r.response_code, Some(200));
        assert_eq!(
            r.ts,
            time(TINY_END),
            "the frozen clock reads the timeline's end"
        );
        let client = r.client.as_ref().expect("a client object");
        assert_eq!(client.id.as_deref(), Some(owner.client_id.as_str()));
        assert_eq!(client.kind.as_deref(), Some("api_key"));
        let json = serde_json::to_string(r).expect("records serialize");
        assert!(!json.contains(API_KEY), "the key leaked into {json}");
    }
    let mut jsonl = Vec::new();
    handle
        .simulator()
        .write_log_jsonl(&mut jsonl)
        .expect("writing to memory");
    assert!(!String::from_utf8_lossy(&jsonl).contains(API_KEY));
}

#[test]
fn the_date_header_tells_the_simulated_clock() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    let answer = block_on(api.get(&format!("/organizations/{TINY_ORG}/admins")));
    assert_eq!(answer.header("date"), Some("Fri, 20 Nov 2026 00:00:00 GMT"));
}

// ---- Real clients: both paths, every Link style, page order, shards ---------------------------

/// A client that shows redirects instead of following them.
fn not_following() -> reqwest::Client {
    // As in Api::new: reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(TEST_USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain-HTTP reqwest client")
}

/// `http://127.0.0.1:PORT`: where an RFC 3986 client resolves a path-only Link.
fn origin(handle: &SimulatorHandle) -> String {
    format!("http://{}", handle.addr())
}

/// tiny's 05:00 to 07:00 (the burst included) in pages of 100.
fn tiny_morning() -> (DateTime<Utc>, DateTime<Utc>, String) {
    let (t0, t1) = (time("2026-11-19T05:00:00Z"), time("2026-11-19T07:00:00Z"));
    let first = format!(
        "/organizations/{TINY_ORG}/apiRequests?perPage=100&{}",
        window_query(t0, t1)
    );
    (t0, t1, first)
}

#[test]
fn the_api_answers_under_api_v1_and_the_bare_path_and_logs_both_under_api_v1() {
    let handle = serve(frozen_tiny());
    let api = Api::new(&handle);
    let before = handle.simulator().records(TINY_ORG).len();
    let (versioned, bare) = block_on(async {
        let versioned = api.get(ADMINS).await;
        let bare = api.get(&format!("{}{ADMINS}", origin(&handle))).await;
        (versioned, bare)
    });
    assert_eq!(versioned.status, StatusCode::OK);
    assert_eq!(bare.status, StatusCode::OK);
    assert_eq!(bare.body, versioned.body);
    let served: Vec<Option<String>> = handle.simulator().records(TINY_ORG)[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let logged = Some("/api/v1/organizations/100001/admins".to_owned());
    assert_eq!(served, [logged.clone(), logged]);
}

#[test]
fn relative_links_page_through_when_appended_to_the_base_url_as_the_sdk_does() {
    let handle = serve(SimConfig {
        link_style: LinkStyle::Relative,
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    let (t0, t1, first) = tiny_morning();
    let truth = records_in(&handle, TINY_ORG, t0, t1);
    let (pages, first_answer, resolved) = block_on(async {
        let pages = api.pages(&first).await;
        let first_answer = api.get(&first).await;
        let next = first_answer.link("next").expect("page 1 links to page 2");
        // An RFC 3986 client (curl in a loop, a browser) resolves the path against the host: the
        // bare path, which the simulator serves too.
        let resolved = api.get(&format!("{}{next}", origin(&handle))).await;
        (pages, first_answer, resolved)
    });
    let next = first_answer.link("next").expect("page 1 links to page 2");
    assert!(
        next.starts_with("/organizations/100001/apiRequests?"),
        "{next}"
    );
    assert_eq!(pages.len(), truth.len().div_ceil(100));
    assert_eq!(pages.concat(), truth);
    assert_eq!(resolved.status, StatusCode::OK);
    assert_eq!(resolved.json::<Vec<RequestRecord>>(), pages[1]);
}

#[test]
fn full_path_links_carry_the_base_path_and_resolve_against_the_host() {
    let handle = serve(SimConfig {
        link_style: LinkStyle::FullPath,
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    let (t0, t1, first) = tiny_morning();
    let truth = records_in(&handle, TINY_ORG, t0, t1);
    let served = block_on(async {
        let mut served = Vec::new();
        let mut answer = api.get(&first).await;
        loop {
            served.extend(answer.json::<Vec<RequestRecord>>());
            let Some(next) = answer.link("next") else {
                break;
            };
            assert!(
                next.starts_with("/api/v1/organizations/100001/apiRequests?"),
                "{next}"
            );
            answer = api.get(&format!("{}{next}", origin(&handle))).await;
        }
        served
    });
    assert_eq!(served, truth);
}

#[test]
fn a_link_host_is_written_into_absolute_links_with_the_called_port_unless_it_names_one() {
    let link = |link_host: &str| {
        let handle = serve(SimConfig {
            link_host: Some(link_host.parse().expect("a valid host")),
            ..frozen_tiny()
        });
        let api = Api::new(&handle);
        let (_, _, first) = tiny_morning();
        let next = block_on(api.get(&first)).link("next").expect("a next page");
        (next, handle.addr().port())
    };
    let (named, _) = link("n42.meraki.test:8443");
    assert!(
        named.starts_with("http://n42.meraki.test:8443/api/v1/organizations/100001/apiRequests?"),
        "{named}"
    );
    let (called_port, port) = link("localhost");
    assert!(
        called_port.starts_with(&format!(
            "http://localhost:{port}/api/v1/organizations/100001/apiRequests?"
        )),
        "{called_port}"
    );
}

#[test]
fn a_link_host_without_absolute_links_is_refused() {
    let config = SimConfig {
        link_style: LinkStyle::Relative,
        link_host: Some("localhost".parse().expect("a valid host")),
        ..frozen_tiny()
    };
    assert!(matches!(
        Simulator::build(config),
        Err(SimError::LinkHostNeedsAbsoluteLinks)
    ));
}

#[test]
fn newest_first_pages_run_back_from_the_newest_record() {
    let (handle, t0, t1) = daily_poll(PageOrder::NewestFirst);
    let mut expected = records_in(&handle, "200001", t0, t1);
    expected.reverse();
    let api = Api::new(&handle);
    let first = format!(
        "/organizations/200001/apiRequests?perPage=1000&{}",
        window_query(t0, t1)
    );
    let (pages, previous_of_last) = block_on(async {
        let pages = api.pages(&first).await;
        let second = api.get(&first).await.link("next").expect("page 2");
        let third = api.get(&second).await.link("next").expect("page 3");
        let prev = api
            .get(&third)
            .await
            .link("prev")
            .expect("page 3 links back");
        (pages, api.get(&prev).await)
    });
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1000, 1000, 345]);
    assert_eq!(pages.concat(), expected);
    assert!(pages[0][0].ts > pages[2][344].ts);
    assert_eq!(previous_of_last.json::<Vec<RequestRecord>>(), pages[1]);
}

#[test]
fn a_shard_answers_calls_on_other_hosts_with_308_to_itself_same_path_and_query() {
    let handle = serve(SimConfig {
        redirect_to: Some("localhost".parse().expect("a valid host")),
        ..frozen_tiny()
    });
    let client = not_following();
    let port = handle.addr().port();
    let path = "/api/v1/organizations/100001/admins?perPage=5&x=%C3%A9";
    let logged_before = handle.simulator().records(TINY_ORG).len();
    let (redirected, on_the_shard) = block_on(async {
        let redirected = client
            .get(format!("{}{path}", origin(&handle)))
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("the simulator answers");
        // The shard's own name, on the same listener.
        let on_the_shard = client
            .get(format!("{}{path}", origin(&handle)))
            .header("Host", format!("localhost:{port}"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("the simulator answers");
        (redirected, on_the_shard)
    });
    assert_eq!(redirected.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        redirected
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some(format!("http://localhost:{port}{path}").as_str())
    );
    assert_eq!(on_the_shard.status(), StatusCode::OK);
    // Only the call the shard answered is in the log: a redirect is no API request.
    assert_eq!(
        handle.simulator().records(TINY_ORG).len(),
        logged_before + 1
    );
}

#[test]
fn a_redirect_to_another_host_is_seen_on_the_receiving_side_never_to_carry_a_key() {
    let untrusted = serve(SimConfig {
        api_key: "the-untrusted-hosts-own-key".to_owned(),
        ..frozen_tiny()
    });
    let redirecting = serve(SimConfig {
        redirect_to: Some(
            untrusted
                .addr()
                .to_string()
                .parse::<HostPort>()
                .expect("a socket address is a host and port"),
        ),
        ..frozen_tiny()
    });
    let api = Api::new(&redirecting);
    let client = not_following();
    let (redirected, keyless) = block_on(async {
        let redirected = client
            .get(api.url(ADMINS))
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("the simulator answers");
        let location = redirected
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("a Location")
            .to_owned();
        // What a client that drops the key on another host sends there.
        let keyless = client
            .get(&location)
            .send()
            .await
            .expect("the untrusted host answers");
        (redirected, keyless)
    });
    assert_eq!(redirected.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(keyless.status(), StatusCode::UNAUTHORIZED);
    let receiving = untrusted.simulator();
    assert_eq!(
        (receiving.calls_received(), receiving.calls_with_key()),
        (1, 0)
    );
}

// ---- Hostile modes --------------------------------------------------------------------------------

fn hostile(setting: &str) -> SimConfig {
    SimConfig {
        faults: FaultPlan::default().with_hostile(setting.parse().expect("a valid hostile mode")),
        link_style: LinkStyle::Relative,
        ..frozen_tiny()
    }
}

#[test]
fn self_link_mode_links_next_to_the_page_just_fetched() {
    let handle = serve(hostile("self-link"));
    let api = Api::new(&handle);
    let (_, _, first) = tiny_morning();
    let (answer, again) = block_on(async {
        let answer = api.get(&first).await;
        let next = answer.link("next").expect("a next link");
        (answer, api.get(&next).await)
    });
    assert_eq!(answer.link("next").as_deref(), Some(first.as_str()));
    assert_eq!(again.body, answer.body, "the 'next' page is the same page");
    assert_eq!(answer.json::<Vec<RequestRecord>>().len(), 100);
}

#[test]
fn empty_next_mode_answers_empty_pages_that_each_link_to_another() {
    let handle = serve(hostile("empty-next"));
    let api = Api::new(&handle);
    let (t0, t1, first) = tiny_morning();
    assert!(!records_in(&handle, TINY_ORG, t0, t1).is_empty());
    let answers = block_on(async {
        let mut answers = vec![api.get(&first).await];
        for _ in 0..2 {
            let next = answers[answers.len() - 1]
                .link("next")
                .expect("a next link");
            answers.push(api.get(&next).await);
        }
        answers
    });
    let nexts: std::collections::BTreeSet<String> =
        answers.iter().filter_map(|a| a.link("next")).collect();
    assert_eq!(nexts.len(), 3, "each empty page links to a new one");
    for a in &answers {
        assert_eq!(
            (a.status, a.body.as_slice()),
            (StatusCode::OK, b"[]".as_slice())
        );
    }
}

#[test]
fn foreign_org_link_mode_leads_to_another_organizations_log_for_the_same_window() {
    let other = "100002";
    let handle = serve(SimConfig {
        scenarios: vec![tiny_scenario(), tiny_scenario_with_id(other)],
        ..hostile("foreign-org-link")
    });
    let api = Api::new(&handle);
    let (t0, t1, first) = tiny_morning();
    let (next, followed) = block_on(async {
        let next = api.get(&first).await.link("next").expect("a next link");
        let followed = api.get(&next).await;
        (next, followed)
    });
    assert!(
        next.starts_with(&format!("/organizations/{other}/apiRequests?")),
        "{next}"
    );
    let foreign = records_in(&handle, other, t0, t1);
    assert_eq!(followed.json::<Vec<RequestRecord>>(), foreign[..100]);
}

#[test]
fn foreign_org_link_mode_needs_a_second_organization() {
    assert!(matches!(
        Simulator::build(hostile("foreign-org-link")),
        Err(SimError::ForeignOrgLinkNeedsTwoOrganizations)
    ));
}

#[test]
fn other_endpoint_link_mode_leads_to_the_organizations_admins() {
    let handle = serve(hostile("other-endpoint-link"));
    let api = Api::new(&handle);
    let (_, _, first) = tiny_morning();
    let (next, followed) = block_on(async {
        let next = api.get(&first).await.link("next").expect("a next link");
        let followed = api.get(&next).await;
        (next, followed)
    });
    assert_eq!(next, "/organizations/100001/admins");
    let admins: Vec<serde_json::Value> = followed.json();
    assert_eq!(admins.len(), 2);
    assert_eq!(admins[0]["email"], "ada@tiny.example");
}

#[test]
fn bad_record_mode_puts_one_record_with_an_unreadable_ts_in_an_otherwise_valid_page() {
    let handle = serve(hostile("bad-record"));
    let api = Api::new(&handle);
    let (t0, t1, first) = tiny_morning();
    let truth = records_in(&handle, TINY_ORG, t0, t1);
    let answer = block_on(api.get(&first));
    let page: Vec<serde_json::Value> = answer.json();
    assert_eq!(page.len(), 100);
    let unreadable: Vec<usize> = (0..page.len())
        .filter(|&i| page[i]["ts"] == "not-a-time")
        .collect();
    assert_eq!(unreadable, [50]);
    assert!(serde_json::from_slice::<Vec<RequestRecord>>(&answer.body).is_err());
    for (i, record) in page.iter().enumerate().filter(|(i, _)| *i != 50) {
        let record: RequestRecord =
            serde_json::from_value(record.clone()).expect("the other records are valid");
        assert_eq!(record, truth[i]);
    }
}

#[test]
fn future_date_mode_says_the_year_2100() {
    let handle = serve(hostile("future-date"));
    let answer = block_on(Api::new(&handle).get(ADMINS));
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("date"), Some("Sat, 20 Nov 2100 00:00:00 GMT"));
}

#[test]
fn a_two_hour_storm_answers_retry_after_7200() {
    let handle = serve(SimConfig {
        faults: FaultPlan {
            storm_length: Duration::from_secs(7200),
            ..FaultPlan::default().with("storm=1".parse().expect("a valid fault"))
        },
        ..frozen_tiny()
    });
    let answer = block_on(Api::new(&handle).get(ADMINS));
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.header("retry-after"), Some("7200"));
}

#[test]
fn unavailable_fault_answers_503_with_retry_after() {
    let handle = serve(SimConfig {
        faults: FaultPlan {
            unavailable_for: Duration::from_secs(5),
            ..FaultPlan::default().with("unavailable=1".parse().expect("a valid fault"))
        },
        ..frozen_tiny()
    });
    let answer = block_on(Api::new(&handle).get(ADMINS));
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert_eq!(
        answer.errors(),
        error_body("Service temporarily unavailable")
    );
}

#[test]
fn huge_headers_mode_sends_a_head_beyond_what_http_clients_accept() {
    use std::io::{Read, Write};
    let handle = serve(hostile("huge-headers"));
    let api = Api::new(&handle);
    let refused = block_on(api.request(ADMINS).send());
    assert!(refused.is_err(), "reqwest accepted a 1 MiB header");

    let mut stream = std::net::TcpStream::connect(handle.addr()).expect("the simulator listens");
    write!(
        stream,
        "GET /api/v1{ADMINS} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n",
        handle.addr()
    )
    .expect("the request is written");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the answer is read");
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the head ends");
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(head_end > 1 << 20, "a head of {head_end} bytes");
}

#[test]
fn escapes_mode_puts_terminal_escapes_and_control_characters_in_error_bodies() {
    let handle = serve(hostile("escapes"));
    let api = Api::new(&handle);
    let (unknown, wrong_key) = block_on(async {
        (
            api.get("/organizations/999999/admins").await,
            api.with_key("wrong").get(ADMINS).await,
        )
    });
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.errors(),
        [format!("{HOSTILE_TEXT}Organization not found")]
    );
    assert_eq!(
        wrong_key.errors(),
        [format!("{HOSTILE_TEXT}Invalid API key")]
    );
    for c in ['\u{1b}', '\u{7}', '\u{8}', '\u{0}'] {
        assert!(HOSTILE_TEXT.contains(c), "{c:?}");
    }
    for sequence in ["\u{1b}]0;", "\u{1b}[2J", "\u{1b}c"] {
        assert!(HOSTILE_TEXT.contains(sequence), "{sequence:?}");
    }
}

#[test]
fn the_hostile_scenario_serves_control_characters_and_credentials_as_written() {
    let scenario = Scenario::load(&sample_path("hostile.toml")).expect("hostile.toml is valid");
    let handle = serve(SimConfig {
        scenarios: vec![scenario],
        ..frozen_tiny()
    });
    let api = Api::new(&handle);
    let day = window_query(time("2026-11-19T00:00:00Z"), time(TINY_END));
    let (orgs, admins, records) = block_on(async {
        let orgs: Vec<serde_json::Value> = api.get("/organizations").await.json();
        let admins: Vec<serde_json::Value> = api.get("/organizations/666001/admins").await.json();
        let records = api
            .pages(&format!(
                "/organizations/666001/apiRequests?perPage=1000&{day}"
            ))
            .await
            .concat();
        (orgs, admins, records)
    });
    assert_eq!(
        orgs[0]["name"],
        "Hostile \u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}c Org"
    );
    assert_eq!(
        admins[0]["name"],
        "Eve \u{1b}[32mALL GOOD\u{1b}[0m\u{8}\u{8}\u{0}\u{7} Escaper"
    );
    let user_agents: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.user_agent.as_deref())
        .collect();
    assert!(user_agents.contains("Evil\u{1b}]0;title\u{7}Agent/1.0 \u{1b}[2J\u{8}\u{0}Hostile"));
    let query_strings: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.query_string.as_deref())
        .filter(|q| !q.is_empty())
        .collect();
    assert_eq!(
        query_strings.into_iter().collect::<Vec<_>>(),
        [
            "%61pi_key=THIRD-PARTY-SECRET&x=1",
            "API_KEY =THIRD-PARTY-SECRET",
            "api%5Fkey=THIRD-PARTY-SECRET",
            "api_key=THIRD-PARTY-SECRET&perPage=10",
        ]
    );
}
