//! Fixtures the integration tests share: the sample scenarios, a simulator on 127.0.0.1:0, an HTTP
//! client that speaks to it as a Dashboard API client would, and Link-header pagination.

use callbudget_api::RequestRecord;
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{SimConfig, Simulator, SimulatorHandle};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::path::{Path, PathBuf};

/// The key every test simulator accepts. Long and odd enough to be found if it ever leaks.
pub const API_KEY: &str = "test-key-5f0c2a9e71d34b8c";

/// Where tiny.toml's timeline ends: its one day is 2026-11-19.
pub const TINY_END: &str = "2026-11-20T00:00:00Z";
/// tiny.toml's organization.
pub const TINY_ORG: &str = "100001";

/// The User-Agent the test client sends.
pub const TEST_USER_AGENT: &str = "callbudget-tests/1.0 (integration)";

pub fn time(text: &str) -> DateTime<Utc> {
    callbudget_api::timestamp::parse(text).expect("test timestamps are valid RFC 3339")
}

pub fn sample_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name)
}

pub fn tiny_scenario() -> Scenario {
    Scenario::load(&sample_path("tiny.toml")).expect("sample-data/tiny.toml is a valid scenario")
}

/// A config for tiny.toml ending at [`TINY_END`], with live rate limits off so that tests which
/// are not about the budget can make as many calls as they like.
pub fn tiny_config() -> SimConfig {
    let mut config = SimConfig::new(vec![tiny_scenario()], time(TINY_END), API_KEY);
    config.enforce_rate_limits = false;
    config
}

/// Builds the simulator and serves it on a free port of 127.0.0.1; dropping the handle stops it.
///
/// Call it outside any tokio runtime: the handle starts its own.
pub fn serve(config: SimConfig) -> SimulatorHandle {
    let simulator = Simulator::build(config).expect("the test scenario builds");
    SimulatorHandle::start(
        simulator,
        "127.0.0.1:0".parse().expect("a valid socket address"),
    )
    .expect("the simulator binds 127.0.0.1:0")
}

/// Runs a test's client side on a runtime of its own (the simulator has another).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the test client")
        .block_on(future)
}

/// A fully read answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not the expected JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `{"errors": [...]}` of an error answer.
    pub fn errors(&self) -> Vec<String> {
        self.json::<callbudget_api::ErrorBody>().errors
    }

    /// The URL of the Link header's `rel=REL` entry.
    pub fn link(&self, rel: &str) -> Option<String> {
        link(self.header("link")?, rel)
    }
}

/// Parses `<url>; rel=first, <url>; rel=next` and returns the URL of `rel`.
pub fn link(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let url = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let names_rel = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p == format!("rel={rel}") || p == format!("rel=\"{rel}\"")
        });
        if names_rel {
            return Some(url.to_owned());
        }
        rest = &rest[params_end..];
    }
    None
}

/// A Dashboard API client for the simulator: bearer key, test User-Agent.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(handle: &SimulatorHandle) -> Self {
        // reqwest is built with `rustls-no-provider` and panics without one, even for plain HTTP.
        // Installing twice (tests run in parallel) is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::builder()
                .user_agent(TEST_USER_AGENT)
                .build()
                .expect("a plain-HTTP reqwest client"),
            base: handle.base_url(),
            key: API_KEY.to_owned(),
        }
    }

    pub fn with_key(&self, key: &str) -> Self {
        Api {
            key: key.to_owned(),
            ..self.clone()
        }
    }

    /// `path` is below the base URL (`/organizations/1/admins?x=y`) or a full URL from a Link.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn request(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(self.url(path))
            .header("Authorization", format!("Bearer {}", self.key))
    }

    pub async fn get(&self, path: &str) -> Answer {
        let response = self
            .request(path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("reading the body of GET {path} failed: {e}"))
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Fetches `first` and every page after it by following `rel=next`, returning the pages.
    pub async fn pages(&self, first: &str) -> Vec<Vec<RequestRecord>> {
        let mut pages = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next {
            let answer = self.get(&url).await;
            assert_eq!(answer.status, StatusCode::OK, "GET {url}");
            pages.push(answer.json::<Vec<RequestRecord>>());
            next = answer.link("next");
            assert!(pages.len() < 1000, "pagination does not end");
        }
        pages
    }
}

/// `t0=...&t1=...` for a window, in the canonical timestamp form.
pub fn window_query(t0: DateTime<Utc>, t1: DateTime<Utc>) -> String {
    format!(
        "t0={}&t1={}",
        callbudget_api::timestamp::format(&t0),
        callbudget_api::timestamp::format(&t1)
    )
}

/// The records of `org` with `t0 <= ts < t1`, as the simulator holds them.
pub fn records_in(
    handle: &SimulatorHandle,
    org: &str,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
) -> Vec<RequestRecord> {
    handle
        .simulator()
        .records(org)
        .into_iter()
        .filter(|r| r.ts >= t0 && r.ts < t1)
        .collect()
}

/// acme-week.toml's organization.
pub const ACME_ORG: &str = "549236";

/// A config for acme-week.toml ending at `now`, with live rate limits off.
pub fn acme_week_config(now: &str) -> SimConfig {
    let scenario = Scenario::load(&sample_path("acme-week.toml"))
        .expect("sample-data/acme-week.toml is a valid scenario");
    let mut config = SimConfig::new(vec![scenario], time(now), API_KEY);
    config.enforce_rate_limits = false;
    config
}

/// A collector client for `handle` that is fast rather than polite: rates far above any budget,
/// short backoff, and enough retries that a 10 % fault rate never exhausts them.
pub fn fast_client_config(
    handle: &SimulatorHandle,
) -> callbudget_collect::dashboard::client::ClientConfig {
    use callbudget_collect::dashboard::client::ClientConfig;
    use callbudget_collect::dashboard::key::ApiKey;
    use callbudget_collect::dashboard::retry::Backoff;
    let key = ApiKey::new(API_KEY).expect("the test key is a valid key");
    let mut config = ClientConfig::new(handle.base_url(), key, 1.0);
    config.org_rate = 1000.0;
    config.source_ip_rate = 10_000.0;
    config.max_retries = 10;
    config.backoff = Backoff {
        base: std::time::Duration::from_millis(10),
        cap: std::time::Duration::from_millis(200),
    };
    config
}

/// Collects acme-week's organization over `[since, until)` from `handle` into `db`, fast rather
/// than polite, and asserts that it succeeded.
pub fn collect_acme_range(
    handle: &SimulatorHandle,
    db: &Path,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let summary = collect_into(
        db,
        fast_client_config(handle),
        callbudget_collect::CollectOptions {
            orgs: callbudget_collect::OrgSelection::Ids(vec![callbudget_store::OrgId::new(
                ACME_ORG,
            )]),
            since: Some(since),
            until: Some(until),
            ..callbudget_collect::CollectOptions::default()
        },
    );
    let failures: Vec<String> = summary
        .failed()
        .map(|(org, error)| format!("{org}: {error}"))
        .collect();
    assert!(failures.is_empty(), "the collection succeeds: {failures:?}");
}

/// Lists the organizations and collects them into the database at `db`, as `callbudget collect`
/// does (the library's whole run). Panics if the run cannot start.
pub fn collect_into(
    db: &Path,
    config: callbudget_collect::dashboard::client::ClientConfig,
    options: callbudget_collect::CollectOptions,
) -> callbudget_collect::CollectSummary {
    let client = callbudget_collect::dashboard::client::DashboardClient::new(config)
        .expect("the client builds");
    callbudget_collect::run(client, db, options, |_| {})
        .expect("the collection starts")
        .1
}

/// Records as a multiset: each distinct record and how often it occurs.
pub fn multiset(
    records: impl IntoIterator<Item = RequestRecord>,
) -> std::collections::HashMap<RequestRecord, usize> {
    let mut counts = std::collections::HashMap::new();
    for r in records {
        *counts.entry(r).or_insert(0) += 1;
    }
    counts
}

/// Records counted by response code.
pub fn counts_by_code<'a>(
    records: impl IntoIterator<Item = &'a RequestRecord>,
) -> std::collections::BTreeMap<Option<u16>, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for r in records {
        *counts.entry(r.response_code).or_insert(0) += 1;
    }
    counts
}

/// The unfiltered log's rows of `org` with `t0 <= ts < t1`, read as people read them: through
/// the documented `unfiltered_api_requests` view (docs/schema.md), selecting `columns`.
fn query_log<T>(
    db: &Path,
    org: &str,
    (t0, t1): (DateTime<Utc>, DateTime<Utc>),
    columns: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let conn = rusqlite::Connection::open(db).expect("the database opens");
    let sql = format!(
        "SELECT {columns} FROM unfiltered_api_requests WHERE org_id = ?1 AND ts >= ?2 AND ts < ?3"
    );
    let mut stmt = conn.prepare(&sql).expect("the view answers");
    stmt.query_map(
        (
            org,
            callbudget_api::timestamp::format(&t0),
            callbudget_api::timestamp::format(&t1),
        ),
        row,
    )
    .expect("the view answers")
    .collect::<Result<_, _>>()
    .expect("the rows read")
}

/// The request records stored in the database at `db` for `org` with `t0 <= ts < t1`, from
/// unfiltered windows.
pub fn stored_records(
    db: &Path,
    org: &str,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
) -> Vec<RequestRecord> {
    query_log(
        db,
        org,
        (t0, t1),
        "admin_id, method, host, path, query_string, user_agent, ts, response_code, source_ip,
         version, operation_id, client_id, client_type",
        |row| {
            let ts: String = row.get(6)?;
            let client_id: Option<String> = row.get(11)?;
            let client_type: Option<String> = row.get(12)?;
            Ok(RequestRecord {
                admin_id: row.get(0)?,
                method: row.get(1)?,
                host: row.get(2)?,
                path: row.get(3)?,
                query_string: row.get(4)?,
                user_agent: row.get(5)?,
                ts: time(&ts),
                response_code: row.get(7)?,
                source_ip: row.get(8)?,
                version: row.get(9)?,
                operation_id: row.get(10)?,
                client: (client_id.is_some() || client_type.is_some()).then_some(
                    callbudget_api::ApiClient {
                        id: client_id,
                        kind: client_type,
                    },
                ),
            })
        },
    )
}

/// How many requests of `org` with `t0 <= ts < t1` the unfiltered log holds.
pub fn stored_request_count(db: &Path, org: &str, t0: DateTime<Utc>, t1: DateTime<Utc>) -> u64 {
    let count = query_log(db, org, (t0, t1), "count(*)", |row| row.get::<_, i64>(0))[0];
    u64::try_from(count).expect("a count is not negative")
}

/// The unfiltered log's requests of `org` with `t0 <= ts < t1`, counted by response code.
pub fn stored_response_codes(
    db: &Path,
    org: &str,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
) -> std::collections::BTreeMap<Option<u16>, u64> {
    let mut codes = std::collections::BTreeMap::new();
    for code in query_log(db, org, (t0, t1), "response_code", |row| {
        row.get::<_, Option<u16>>(0)
    }) {
        *codes.entry(code).or_insert(0) += 1;
    }
    codes
}

/// tiny.toml as another organization: the same traffic under `org_id` (for a simulator with two).
pub fn tiny_scenario_with_id(org_id: &str) -> Scenario {
    let text = std::fs::read_to_string(sample_path("tiny.toml")).expect("tiny.toml is readable");
    let renamed = text.replacen(
        &format!("id = \"{TINY_ORG}\""),
        &format!("id = \"{org_id}\""),
        1,
    );
    assert_ne!(
        renamed, text,
        "tiny.toml no longer names its organization {TINY_ORG}"
    );
    Scenario::parse(Path::new("tiny-renamed.toml"), &renamed).expect("the renamed tiny is valid")
}

impl Api {
    /// A client for a simulator running elsewhere (another process), at `base` (`…/api/v1`).
    pub fn at(base: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::builder()
                .user_agent(TEST_USER_AGENT)
                .build()
                .expect("a plain-HTTP reqwest client"),
            base: base.to_owned(),
            key: API_KEY.to_owned(),
        }
    }
}

/// Stores the simulator's log of `org` over `[from, to)` into `store` as a collection would: one
/// complete unfiltered window of the request log per hour. Faster than collecting over HTTP when
/// a test is about the analysis, not the collector.
pub fn store_hourly_log(
    store: &mut callbudget_store::Store,
    simulator: &callbudget_sim::Simulator,
    org: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    use callbudget_store::{CollectionFilter, Endpoint, OrgId, WindowMeta};
    let mut records = simulator.records(org);
    records.sort_by_key(|r| r.ts);
    let mut t0 = from;
    while t0 < to {
        let t1 = (t0 + chrono::TimeDelta::hours(1)).min(to);
        let first = records.partition_point(|r| r.ts < t0);
        let end = records.partition_point(|r| r.ts < t1);
        let meta = WindowMeta {
            org_id: OrgId::new(org),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0,
            t1,
            started_at: t1,
            finished_at: t1,
            calls: 1,
            http_429s: 0,
        };
        store
            .store_request_window(&meta, &records[first..end])
            .expect("the window is stored");
        t0 = t1;
    }
}

/// A quiet organization `org` in the database at `db`: one getOrganizationDevices at half past
/// each hour of each complete window (nothing any detector finds fault with), and failed
/// collection windows with their errors. Times are RFC 3339.
pub fn quiet_log(
    db: &Path,
    org: &str,
    complete: &[(&str, &str)],
    failed: &[(&str, &str, &str)],
) -> callbudget_store::Store {
    use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};
    let mut store = Store::open(db).expect("the database opens");
    let meta = |t0: &str, t1: &str| WindowMeta {
        org_id: OrgId::new(org),
        endpoint: Endpoint::ApiRequests,
        filter: CollectionFilter::None,
        t0: time(t0),
        t1: time(t1),
        started_at: time(t1),
        finished_at: time(t1),
        calls: 1,
        http_429s: 0,
    };
    for &(t0, t1) in complete {
        let mut records = Vec::new();
        let mut at = time(t0) + chrono::TimeDelta::minutes(30);
        while at < time(t1) {
            records.push(RequestRecord {
                admin_id: Some("7".to_owned()),
                method: Some("GET".to_owned()),
                host: Some("api.meraki.com".to_owned()),
                path: Some(format!("/api/v1/organizations/{org}/devices")),
                query_string: None,
                user_agent: Some("python-meraki/4.7.0 Caller/(Inventory/1.0 Quiet)".to_owned()),
                ts: at,
                response_code: Some(200),
                source_ip: Some("192.0.2.7".to_owned()),
                version: Some(1),
                operation_id: Some("getOrganizationDevices".to_owned()),
                client: None,
            });
            at += chrono::TimeDelta::hours(1);
        }
        store
            .store_request_window(&meta(t0, t1), &records)
            .expect("the window is stored");
    }
    for &(t0, t1, error) in failed {
        store
            .record_failed_window(&meta(t0, t1), error)
            .expect("the failure is recorded");
    }
    store
}

/// The hours `from`..`to` of 2026-11-19 as (start, end) in RFC 3339.
pub fn hours(from: u32, to: u32) -> Vec<(String, String)> {
    (from..to)
        .map(|h| {
            (
                format!("2026-11-19T{h:02}:00:00Z"),
                format!("2026-11-19T{:02}:00:00Z", h + 1),
            )
        })
        .collect()
}

/// `windows` as borrowed pairs, as [`quiet_log`] takes them.
pub fn borrowed(windows: &[(String, String)]) -> Vec<(&str, &str)> {
    windows
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

/// Asserts two record collections are equal as multisets, reporting the difference briefly.
pub fn assert_same_records(stored: Vec<RequestRecord>, truth: Vec<RequestRecord>) {
    let (stored_len, truth_len) = (stored.len(), truth.len());
    let stored = multiset(stored);
    let truth = multiset(truth);
    if stored != truth {
        let missing: usize = truth
            .iter()
            .map(|(r, n)| n.saturating_sub(*stored.get(r).unwrap_or(&0)))
            .sum();
        let extra: usize = stored
            .iter()
            .map(|(r, n)| n.saturating_sub(*truth.get(r).unwrap_or(&0)))
            .sum();
        panic!(
            "stored {stored_len} records, the simulator holds {truth_len}: {missing} missing, {extra} extra"
        );
    }
}

/// A stored window as `(t0, t1, status, calls, error)`.
pub type StoredWindow = (
    DateTime<Utc>,
    DateTime<Utc>,
    callbudget_store::WindowStatus,
    u64,
    Option<String>,
);

/// The request-log windows (unfiltered) stored for `org`, in time order.
pub fn request_log_windows(db: &Path, org: &str) -> Vec<StoredWindow> {
    let store = callbudget_store::Store::open(db).expect("the database opens");
    let mut windows: Vec<_> = store
        .windows(&callbudget_store::OrgId::new(org))
        .expect("the windows read")
        .into_iter()
        .filter(|w| {
            w.endpoint == callbudget_store::Endpoint::ApiRequests
                && w.filter == callbudget_store::CollectionFilter::None
        })
        .map(|w| (w.t0, w.t1, w.status, w.calls, w.error))
        .collect();
    windows.sort_by_key(|w| (w.0, w.1));
    windows
}
