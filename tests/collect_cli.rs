//! `callbudget collect`, the real binary against an in-process simulator: a wrong key or an unknown
//! organization fails in one line and leaves the database alone, a run killed at any moment resumes
//! to the exact log, the key never leaks, and the summary says what the run cost.

use crate::support::{
    API_KEY, TINY_END, TINY_ORG, records_in, serve, stored_records, time, tiny_config,
};
use assert_cmd::Command;
use callbudget_api::API_KEY_ENV;
use callbudget_sim::SimulatorHandle;
use callbudget_sim::faults::FaultPlan;
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowStatus};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SINCE: &str = "2026-11-19T10:00:00Z";
const UNTIL: &str = "2026-11-19T12:00:00Z";

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    cmd.env_remove(API_KEY_ENV).timeout(Duration::from_secs(60));
    cmd
}

/// `collect` of tiny.toml's 10:00 to 12:00 into `db` with `key`, fast rather than polite.
fn collect(handle: &SimulatorHandle, db: &Path, key: &str) -> Command {
    let mut cmd = callbudget();
    cmd.env(API_KEY_ENV, key)
        .arg("collect")
        .arg("--db")
        .arg(db)
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .args(["--since", SINCE, "--until", UNTIL])
        .args(["--budget-share", "1", "--org-rate", "1000"])
        .args(["--source-ip-rate", "10000"]);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// The bytes of the database and of its write-ahead log, if any.
fn database_bytes(db: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(db).expect("the database exists"),
        std::fs::read(wal).ok(),
    )
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_wrong_key_fails_in_one_line_and_leaves_the_database_alone() {
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect(&handle, &db, API_KEY).arg("-q").assert().success();
    let before = database_bytes(&db);
    let org_calls = handle.simulator().records(TINY_ORG).len();

    let output = collect(&handle, &db, "not-the-key-0000")
        .output()
        .expect("callbudget runs");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("401") && stderr.contains(API_KEY_ENV),
        "{stderr}"
    );
    assert_eq!(database_bytes(&db), before, "the database was touched");
    assert_eq!(
        handle.simulator().records(TINY_ORG).len(),
        org_calls,
        "the wrong key reached an organization's endpoint"
    );

    let fresh = dir.path().join("fresh.db");
    collect(&handle, &fresh, "not-the-key-0000")
        .assert()
        .failure();
    assert!(!fresh.exists(), "a wrong key created the database");
}

#[test]
fn an_unknown_organization_fails_naming_it() {
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = callbudget()
        .env(API_KEY_ENV, API_KEY)
        .arg("collect")
        .arg("--db")
        .arg(dir.path().join("cb.db"))
        .args(["--org", "999999", "--base-url", &handle.base_url()])
        .args(["--since", SINCE, "--until", UNTIL, "-q"])
        .output()
        .expect("callbudget runs");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("organization 999999"), "{stderr}");
}

#[test]
fn an_unreachable_host_fails_in_one_line_within_a_minute() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let started = Instant::now();
    let output = callbudget()
        .timeout(Duration::from_secs(90))
        .env(API_KEY_ENV, API_KEY)
        .arg("collect")
        .arg("--db")
        .arg(&db)
        .args(["--org", TINY_ORG, "--base-url", "http://127.0.0.1:1/api/v1"])
        .output()
        .expect("callbudget runs");
    let elapsed = started.elapsed();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!db.exists());
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

#[test]
fn a_run_killed_at_random_moments_resumes_to_the_exact_log() {
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    // A whole day in half-hour windows: 48 windows, 145 calls, about 14 s at 10 calls/s (each run
    // starts with a second's worth at once). The first run's default range (the 24 hours before
    // --until) is the same day, so restarts need no --since.
    let since = "2026-11-19T00:00:00Z";
    let run = |first: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_callbudget"));
        cmd.env(API_KEY_ENV, API_KEY)
            .arg("collect")
            .arg("--db")
            .arg(&db)
            .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
            .args([
                "--until",
                TINY_END,
                "--budget-share",
                "1",
                "--org-rate",
                "10",
            ])
            .args(["--source-ip-rate", "1000", "--window-minutes", "30", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if first {
            cmd.args(["--since", since]);
        }
        cmd
    };

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261119);
    let mut kills = 0;
    for attempt in 0..12 {
        if kills == 6 {
            break;
        }
        let mut child = run(attempt == 0).spawn().expect("callbudget starts");
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1000)));
        if child.try_wait().expect("the child can be polled").is_none() {
            kills += 1;
        }
        child.kill().expect("the child can be killed");
        child.wait().expect("the child is reaped");
    }
    assert!(kills >= 5, "only {kills} runs were killed while running");

    let status = run(false).status().expect("callbudget runs");
    assert!(status.success());

    let truth = records_in(&handle, TINY_ORG, time(since), time(TINY_END));
    let stored = stored_records(&db, TINY_ORG, time(since), time(TINY_END));
    assert_eq!(stored.len(), truth.len());
    assert_eq!(
        crate::support::multiset(stored),
        crate::support::multiset(truth)
    );

    let store = Store::open(&db).expect("the database opens");
    let windows: Vec<_> = store
        .windows(&OrgId::new(TINY_ORG))
        .expect("the windows read")
        .into_iter()
        .filter(|w| w.endpoint == Endpoint::ApiRequests && w.filter == CollectionFilter::None)
        .map(|w| (w.t0, w.t1, w.status))
        .collect();
    let mut expected = Vec::new();
    let mut t0 = time(since);
    while t0 < time(TINY_END) {
        let t1 = t0 + chrono::TimeDelta::minutes(30);
        expected.push((t0, t1, WindowStatus::Complete));
        t0 = t1;
    }
    assert_eq!(windows, expected);
    drop(store);

    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("the integrity check runs");
    assert_eq!(check, "ok");
}

#[test]
fn the_key_appears_in_no_output_and_not_in_the_database() {
    let key = "sekret-5f0c2a9e71d34b8c";
    let mut config = tiny_config();
    config.api_key = key.to_owned();
    config.faults = FaultPlan {
        seed: 3,
        ..FaultPlan::default()
            .with("5xx=0.2".parse().expect("a fault"))
            .with("truncate=0.1".parse().expect("a fault"))
    };
    let handle = serve(config);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");

    let output = collect(&handle, &db, key)
        .arg("-v")
        .output()
        .expect("callbudget runs");
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("retry 1"), "no fault was retried: {stderr}");
    assert!(!contains(&output.stdout, key), "the key is on stdout");
    assert!(!contains(&output.stderr, key), "the key is on stderr");
    let (bytes, wal) = database_bytes(&db);
    assert!(!contains(&bytes, key), "the key is in the database");
    assert!(
        !wal.is_some_and(|w| contains(&w, key)),
        "the key is in the write-ahead log"
    );
}

/// `"12 calls"` → 12.0: the number before `unit` in `line`.
fn number_before(line: &str, unit: &str) -> f64 {
    let at = line
        .find(unit)
        .unwrap_or_else(|| panic!("{unit:?} is not in {line:?}"));
    let number = line[..at].trim_end().rsplit(' ').next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|_| panic!("{number:?} before {unit:?} is not a number in {line:?}"))
}

#[test]
fn the_summary_names_records_calls_429s_waiting_and_rate_and_quiet_keeps_stderr_empty() {
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");

    let output = collect(&handle, &db, API_KEY)
        .arg("-q")
        .output()
        .expect("callbudget runs");
    assert!(output.status.success());
    assert_eq!(text(&output.stderr), "");
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");

    let truth = records_in(&handle, TINY_ORG, time(SINCE), time(UNTIL));
    // Every call the run made to the organization is in the simulator's log, after the timeline.
    let served: usize = handle
        .simulator()
        .records(TINY_ORG)
        .iter()
        .filter(|r| r.ts >= time(TINY_END))
        .count();
    assert!(
        lines[0].starts_with("collected 2 window(s) of 1 organization(s) into "),
        "{stdout}"
    );
    assert_eq!(number_before(lines[0], " records,"), truth.len() as f64);
    assert_eq!(number_before(lines[0], " calls,"), served as f64);
    assert_eq!(number_before(lines[0], " x 429,"), 0.0);
    let waited = number_before(lines[0], " s waited");
    let seconds = number_before(lines[0], " s in all");
    // One organization: the time it waited (pacing, 429s) is part of the run's wall time.
    assert!(waited <= seconds + 0.05, "{stdout}");

    assert!(lines[1].starts_with("effective rate "), "{stdout}");
    let rate = number_before(lines[1], " calls/s against");
    // The run's seconds are printed to a tenth: the rate lies between what its bounds give.
    let slowest = served as f64 / (seconds + 0.05);
    let fastest = served as f64 / (seconds - 0.05).max(1e-9);
    assert!(
        rate >= slowest - 0.01 && rate <= fastest + 0.01,
        "rate {rate} for {served} calls in {seconds} s: {stdout}"
    );
    assert!(
        lines[1].contains("a share of 1000.00 calls/s per organization"),
        "{stdout}"
    );

    // And the records are those the summary counted.
    let stored: HashMap<_, _> =
        crate::support::multiset(stored_records(&db, TINY_ORG, time(SINCE), time(UNTIL)));
    assert_eq!(stored, crate::support::multiset(truth));
}

#[test]
fn the_key_can_come_from_a_file_instead_of_the_environment() {
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key_file = dir.path().join("meraki.key");
    std::fs::write(&key_file, format!("{API_KEY}\n")).expect("the key file is written");
    let db = dir.path().join("cb.db");
    let mut cmd = collect(&handle, &db, "wrong-key-in-the-environment");
    cmd.arg("--api-key-file").arg(&key_file).arg("-q");
    cmd.assert().success();
    let stored = crate::support::stored_request_count(&db, TINY_ORG, time(SINCE), time(UNTIL));
    assert!(stored > 0);
}

#[test]
fn missing_key_and_unreadable_ca_certificate_are_one_line_errors() {
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");

    let output = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(&db)
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .output()
        .expect("callbudget runs");
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr),
        "callbudget: error: no API key: set MERAKI_DASHBOARD_API_KEY or pass --api-key-file\n"
    );

    let missing = dir.path().join("no-such-ca.pem");
    let mut cmd = collect(&handle, &db, API_KEY);
    let output = cmd
        .arg("--ca-cert")
        .arg(&missing)
        .output()
        .expect("callbudget runs");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "callbudget: error: cannot read the CA certificate {}",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(
        !db.exists(),
        "nothing is written when the client cannot be set up"
    );
}

#[test]
fn an_until_in_the_future_of_the_apis_clock_is_refused() {
    // The simulator's clock reads TINY_END (2026-11-20): a day later is the future to it.
    let handle = serve(tiny_config());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = callbudget()
        .env(API_KEY_ENV, API_KEY)
        .arg("collect")
        .arg("--db")
        .arg(dir.path().join("cb.db"))
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .args(["--until", "2026-11-21T00:00:00Z"])
        .output()
        .expect("callbudget runs");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    // Beside the error, at most a warning that the API's clock is not this machine's.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("callbudget: warning: the API's clock"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("callbudget: error: --until 2026-11-21T00:00:00.000000Z is in the future (it is 2026-11-20T00:00"),
        "{stderr}"
    );
}
