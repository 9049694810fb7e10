//! Real clients against the simulator as `callbudget simulate` serves by default (relative Links,
//! the newest page first): the official Meraki Python SDK (`tests/sdk/conformance.py`) pages
//! through a closed window with its default settings and waits out the simulator's `Retry-After`
//! with its own 429 handling; curl fetches every page, its Link resolved against the page's URL.
//!
//! Python with `meraki` 4.x is `$CALLBUDGET_PYTHON`, else the venv `.ci/run` creates at
//! `$HOME/.cache/callbudget-venv`. Without it the SDK test skips with a message; under CI (`CI`
//! set) it fails instead. The curl test skips when curl is not on the PATH.

use crate::support::{
    API_KEY, TINY_ORG, link, records_in, serve, time, tiny_config, tiny_scenario, window_query,
};
use callbudget_api::RequestRecord;
use callbudget_api::budget::BucketLimits;
use callbudget_sim::{ClockMode, LinkStyle, PageOrder, SimConfig, SimulatorHandle};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SDK's version the CI installs; any 4.x is accepted locally.
const SDK_MAJOR: &str = "4.";

/// The script, relative to the crate.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/conformance.py")
}

/// A Python that imports `meraki` 4.x: `$CALLBUDGET_PYTHON`, else the CI's venv.
fn find_sdk_python() -> Option<PathBuf> {
    let candidates = std::env::var_os("CALLBUDGET_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/callbudget-venv/bin/python")),
        );
    let has_sdk = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                &format!(
                    "import meraki, sys; sys.exit(0 if meraki.__version__.startswith({SDK_MAJOR:?}) else 1)"
                ),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    candidates.into_iter().find(|python| has_sdk(python))
}

/// The SDK's Python, or `None` (after saying why) on a developer's machine without it. Panics in CI.
fn sdk_python_or_skip(test: &str) -> Option<PathBuf> {
    match find_sdk_python() {
        Some(python) => Some(python),
        None if std::env::var_os("CI").is_some() => panic!(
            "{test}: the meraki SDK 4.x is required in CI (.ci/run installs it in $HOME/.cache/callbudget-venv)"
        ),
        None => {
            eprintln!(
                "SKIPPED {test}: no Python with the meraki SDK 4.x (python3 -m venv ~/.cache/callbudget-venv && ~/.cache/callbudget-venv/bin/pip install meraki==4.7.0, or set CALLBUDGET_PYTHON)"
            );
            None
        }
    }
}

/// tiny's 05:00 to 07:00: the 06:00 burst and its 429s included.
fn window() -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    (time("2026-11-19T05:00:00Z"), time("2026-11-19T07:00:00Z"))
}

/// What `callbudget simulate` serves by default, on a frozen clock.
fn as_simulate_serves() -> SimConfig {
    SimConfig {
        link_style: LinkStyle::Relative,
        page_order: PageOrder::NewestFirst,
        clock: ClockMode::Frozen,
        ..tiny_config()
    }
}

/// The records of the window, newest first, as the simulator pages them.
fn newest_first(handle: &SimulatorHandle) -> Vec<RequestRecord> {
    let (t0, t1) = window();
    let mut truth = records_in(handle, TINY_ORG, t0, t1);
    truth.reverse();
    truth
}

#[test]
fn the_official_sdk_pages_a_closed_window_and_waits_out_the_simulators_retry_after() {
    let Some(python) = sdk_python_or_skip("the_official_sdk_pages_a_closed_window") else {
        return;
    };
    let paging = serve(as_simulate_serves());
    // One call every two seconds: of two calls at once, the second is refused with Retry-After 2.
    // The clock runs, since the SDK waits in real time.
    let mut tight = tiny_scenario();
    tight.org_budget = BucketLimits {
        rate_per_second: 0.5,
        burst: 0.5,
    };
    let limited = serve(SimConfig {
        scenarios: vec![tight],
        enforce_rate_limits: true,
        clock: ClockMode::Running,
        ..as_simulate_serves()
    });
    let (t0, t1) = window();
    let home = tempfile::tempdir().expect("a home for the SDK's cache");
    let output = Command::new(&python)
        .arg(script())
        .arg(paging.base_url())
        .arg(limited.base_url())
        .arg(TINY_ORG)
        .arg(callbudget_api::timestamp::format(&t0))
        .arg(callbudget_api::timestamp::format(&t1))
        .env(callbudget_api::API_KEY_ENV, API_KEY)
        // The SDK keeps a rate-limit cache under the home directory.
        .env("HOME", home.path())
        .current_dir(home.path())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the script prints one JSON object");

    let truth = newest_first(&paging);
    assert_eq!(truth.len(), 643);
    let sdk_version = result["sdk_version"].as_str().expect("a version");
    assert!(sdk_version.starts_with(SDK_MAJOR), "{sdk_version}");
    let records: Vec<RequestRecord> =
        serde_json::from_value(result["records"].clone()).expect("the SDK's records");
    assert_eq!(records, truth, "the SDK paged exactly the window's records");
    assert_eq!(result["pages"], 7, "643 records in pages of 100");
    assert_eq!(result["overview_total"], 643);
    assert_eq!(result["by_interval_total"], 643);

    assert_eq!(result["admins"], serde_json::json!([2, 2]));
    assert_eq!(
        result["rate_limit_warnings"],
        serde_json::json!([
            "organizations, getOrganizationAdmins - 429 Too Many Requests, retrying in 2 seconds"
        ])
    );
    let seconds = result["seconds_for_two_calls"]
        .as_f64()
        .expect("a duration");
    assert!(seconds >= 2.0, "the SDK waited only {seconds} s");
    // The simulator saw the same: admitted, refused, and admitted again two seconds later.
    let admins_calls: Vec<RequestRecord> = limited
        .simulator()
        .records(TINY_ORG)
        .into_iter()
        .filter(|r| {
            r.operation_id.as_deref() == Some("getOrganizationAdmins")
                && r.user_agent
                    .as_deref()
                    .is_some_and(|ua| ua.starts_with("python-meraki/4."))
        })
        .collect();
    let codes: Vec<Option<u16>> = admins_calls.iter().map(|r| r.response_code).collect();
    assert_eq!(codes, [Some(200), Some(429), Some(200)]);
    assert!(admins_calls[2].ts - admins_calls[1].ts >= chrono::TimeDelta::seconds(2));
}

/// curl on the PATH, if any.
fn curl() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("curl"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn curl_follows_the_relative_links_resolved_against_each_pages_url() {
    let Some(curl) = curl() else {
        eprintln!("SKIPPED curl_follows_the_relative_links: no curl on the PATH");
        return;
    };
    let handle = serve(as_simulate_serves());
    let (t0, t1) = window();
    let origin = format!("http://{}", handle.addr());
    let mut url = format!(
        "{}/organizations/{TINY_ORG}/apiRequests?perPage=100&{}",
        handle.base_url(),
        window_query(t0, t1)
    );
    let mut served: Vec<RequestRecord> = Vec::new();
    let mut pages = 0;
    loop {
        let output = Command::new(&curl)
            .args(["--silent", "--show-error", "--include", "--header"])
            .arg(format!("Authorization: Bearer {API_KEY}"))
            .arg(&url)
            .output()
            .expect("curl runs");
        assert!(output.status.success(), "curl {url} failed");
        let text = String::from_utf8(output.stdout).expect("the answer is UTF-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        served.extend(serde_json::from_str::<Vec<RequestRecord>>(body).expect("a page"));
        pages += 1;
        let next = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("link"))
            .find_map(|(_, value)| link(value.trim(), "next"));
        match next {
            // A path-only reference replaces the page URL's path (RFC 3986, 5.2.2): the bare path.
            Some(next) => {
                assert!(next.starts_with("/organizations/"), "{next}");
                url = format!("{origin}{next}");
            }
            None => break,
        }
        assert!(pages < 100, "pagination does not end");
    }
    assert_eq!(pages, 7);
    assert_eq!(served, newest_first(&handle));
}
