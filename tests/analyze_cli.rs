//! `callbudget analyze` on a collected database: findings printed in every format, saved and
//! replaced in the database, and an exit code cron and CI can use.

use crate::support::{ACME_ORG, acme_week_config, collect_acme_range, serve, time};
use assert_cmd::Command;
use callbudget_store::{OrgId, Store};
use std::path::Path;

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

/// acme-week 2026-11-19 06:00–12:00 (the 09:00 episode) collected into `db`; returns the number of
/// planted episodes in that range.
fn collect_acme(db: &Path) -> usize {
    let handle = serve(acme_week_config("2026-11-20T00:00:00Z"));
    let (since, until) = (time("2026-11-19T06:00:00Z"), time("2026-11-19T12:00:00Z"));
    collect_acme_range(&handle, db, since, until);
    handle.simulator().ground_truth().organizations[0]
        .episodes
        .iter()
        .filter(|e| e.start >= since && e.end <= until)
        .count()
}

fn analyze(db: &Path, extra: &[&str]) -> std::process::Output {
    callbudget()
        .arg("analyze")
        .arg("--db")
        .arg(db)
        .args(["--since", "6h"])
        .args(extra)
        .output()
        .expect("callbudget runs")
}

#[test]
fn analyze_finds_the_planted_spike_saves_it_and_replaces_it_when_run_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let planted = collect_acme(&db);
    assert_eq!(planted, 1);

    let output = analyze(&db, &["--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(doc["schema_version"], 2);
    let audit = &doc["audits"][0];
    assert_eq!(audit["org_id"], ACME_ORG);
    assert_eq!(audit["window"]["start"], "2026-11-19T06:00:00.000000Z");
    assert_eq!(audit["window"]["end"], "2026-11-19T12:00:00.000000Z");
    let spikes = audit["spikes"].as_array().expect("spikes");
    assert_eq!(spikes.len(), planted);
    assert_eq!(spikes[0]["start"], "2026-11-19T09:00:00.000000Z");
    assert_eq!(
        spikes[0]["most_refused"][0]["user_agent"],
        "PortPusher/0.9 AcmeNetEng"
    );
    let kinds: Vec<&str> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"spike_429"), "{kinds:?}");
    assert!(kinds.contains(&"budget_saturation"), "{kinds:?}");
    assert!(kinds.contains(&"noisy_consumer"), "{kinds:?}");
    assert!(kinds.contains(&"ignores_retry_after"), "{kinds:?}");
    let consumers = audit["consumers"].as_array().expect("consumers");
    // By application: the poller's caller name ranks first.
    assert_eq!(consumers[0]["consumer"], "NocPoller/2.1 Acme");
    let retries = audit["retries"].as_array().expect("retry behaviour");
    assert!(
        retries
            .iter()
            .any(|r| r["user_agent"] == "PortPusher/0.9 AcmeNetEng")
    );

    let saved = |db: &Path| {
        Store::open(db)
            .expect("the database opens")
            .audit_findings(
                &OrgId::new(ACME_ORG),
                time("2026-11-19T06:00:00Z"),
                time("2026-11-19T12:00:00Z"),
            )
            .expect("findings are read")
    };
    let first = saved(&db);
    assert_eq!(first.len(), kinds.len());
    assert!(analyze(&db, &[]).status.success());
    assert_eq!(
        saved(&db),
        first,
        "re-analysing the window replaces its findings"
    );
}

#[test]
fn fail_on_gives_exit_code_3_and_markdown_lists_the_findings() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_acme(&db);
    let output = analyze(&db, &["--fail-on", "critical", "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(3));
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        text.starts_with(
            "## Organization 549236 — 2026-11-19T06:00:00.000000Z to 2026-11-19T12:00:00.000000Z"
        ),
        "{text}"
    );
    assert!(text.contains("| critical | spike_429 |"), "{text}");
    // 06:00–07:00 has no 429 episode, and at 1000/s nothing saturates: nothing critical (the
    // recommendations are warnings at most).
    let calm = callbudget()
        .arg("analyze")
        .arg("--db")
        .arg(&db)
        .args([
            "--since",
            "1h",
            "--until",
            "2026-11-19T07:00:00Z",
            "--rate",
            "1000",
        ])
        .args(["--fail-on", "critical"])
        .output()
        .expect("callbudget runs");
    assert_eq!(
        calm.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&calm.stdout)
    );
    let calm = String::from_utf8_lossy(&calm.stdout);
    assert!(
        !calm.contains("spike_429") && !calm.contains("critical"),
        "{calm}"
    );
}

#[test]
fn analyze_without_a_database_is_a_one_line_error_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("missing.db");
    let output = callbudget()
        .arg("analyze")
        .arg("--db")
        .arg(&db)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "callbudget: error: {} does not exist: run `callbudget collect` first\n",
            db.display()
        )
    );
    assert!(!db.exists());
}

#[test]
fn with_only_interval_counts_analyze_gives_the_spike_without_inventing_attribution() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_acme(&db);
    // As if only byInterval had been collected: drop the request log.
    rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "PRAGMA foreign_keys = ON; DELETE FROM collection_windows WHERE endpoint = 'apiRequests';",
            )
        })
        .expect("the request log is dropped");
    let output = analyze(&db, &["--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let audit = &doc["audits"][0];
    assert_eq!(audit["coverage"], "intervals_only");
    assert_eq!(audit["window"]["end"], "2026-11-19T12:00:00.000000Z");
    let spikes = audit["spikes"].as_array().expect("spikes");
    assert_eq!(spikes.len(), 1);
    assert_eq!(spikes[0]["start"], "2026-11-19T09:00:00.000000Z");
    assert_eq!(spikes[0]["most_refused"], serde_json::json!([]));
    assert_eq!(audit["consumers"], serde_json::json!([]));
    let kinds: Vec<&str> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"attribution_unavailable"), "{kinds:?}");
    assert!(kinds.contains(&"spike_429"), "{kinds:?}");
    assert!(!kinds.contains(&"noisy_consumer"), "{kinds:?}");
}

#[test]
fn the_window_shrinks_to_what_was_collected_and_a_year_is_the_most() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_acme(&db);
    // A week asked for, six hours collected: rates and per-day figures are over the six hours.
    let output = callbudget()
        .arg("analyze")
        .arg("--db")
        .arg(&db)
        .args(["--since", "7d", "--format", "json"])
        .output()
        .expect("callbudget runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let audit = &doc["audits"][0];
    assert_eq!(audit["window"]["start"], "2026-11-19T06:00:00.000000Z");
    assert_eq!(audit["window"]["end"], "2026-11-19T12:00:00.000000Z");
    // Nothing before 06:00 was collected: no change against a previous period is claimed.
    assert!(
        audit["consumers"]
            .as_array()
            .expect("consumers")
            .iter()
            .all(|c| c["change"].is_null())
    );

    let output = callbudget()
        .arg("analyze")
        .arg("--db")
        .arg(&db)
        .args(["--since", "2000-01-01T00:00:00Z"])
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is longer than a year"), "{stderr}");
}

#[test]
fn a_collection_that_failed_partway_is_incomplete_in_every_format_and_fails_on_warning() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    // Three hours collected, the fourth failed: the collection stopped there.
    crate::support::quiet_log(
        &db,
        "700700",
        &crate::support::borrowed(&crate::support::hours(0, 3)),
        &[("2026-11-19T03:00:00Z", "2026-11-19T04:00:00Z", "HTTP 502")],
    );
    let run = |args: &[&str]| {
        callbudget()
            .arg("analyze")
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("callbudget runs")
    };
    let table = run(&[]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).expect("UTF-8");
    assert_eq!(
        table.lines().next(),
        Some(
            "organization 700700  2026-11-19T00:00:00.000000Z to 2026-11-19T03:00:00.000000Z  \
             INCOMPLETE: 25 % of the per-request log missing"
        ),
        "{table}"
    );
    assert!(!table.contains("no findings"), "{table}");
    assert!(table.contains("warning  incomplete_data"), "{table}");

    let markdown = run(&["--format", "markdown"]);
    let markdown = String::from_utf8(markdown.stdout).expect("UTF-8");
    assert_eq!(
        markdown.lines().next(),
        Some(
            "## Organization 700700 — 2026-11-19T00:00:00.000000Z to 2026-11-19T03:00:00.000000Z \
             — **incomplete**: 25 % of the per-request log missing"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| warning | incomplete_data |"),
        "{markdown}"
    );

    let json = run(&["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    let audit = &doc["audits"][0];
    assert_eq!(audit["data_coverage"]["missing_share"], 0.25);
    assert_eq!(audit["data_coverage"]["basis"], "apiRequests");
    assert_eq!(
        audit["data_coverage"]["checked"]["end"],
        "2026-11-19T04:00:00.000000Z"
    );
    assert_eq!(audit["findings"][0]["kind"], "incomplete_data");
    // The published schema knows the finding and the coverage it rests on.
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/findings.schema.json");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(schema_path).expect("the schema is readable"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new());

    // Nothing else is wrong with this log: the missing hour alone fails the job.
    assert_eq!(run(&["--fail-on", "warning"]).status.code(), Some(3));
    assert_eq!(run(&["--fail-on", "critical"]).status.code(), Some(0));
}

#[test]
fn an_organization_with_an_empty_log_is_an_error_not_an_all_clear() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    // Two hours collected, and nothing logged in them.
    let mut store = Store::open(&db).expect("the database opens");
    let empty: [callbudget_api::RequestRecord; 0] = [];
    for (t0, t1) in crate::support::hours(0, 2) {
        let meta = callbudget_store::WindowMeta {
            org_id: OrgId::new("700701"),
            endpoint: callbudget_store::Endpoint::ApiRequests,
            filter: callbudget_store::CollectionFilter::None,
            t0: time(&t0),
            t1: time(&t1),
            started_at: time(&t1),
            finished_at: time(&t1),
            calls: 1,
            http_429s: 0,
        };
        store
            .store_request_window(&meta, &empty)
            .expect("the window is stored");
    }
    drop(store);
    let output = callbudget()
        .arg("analyze")
        .arg("--db")
        .arg(&db)
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "callbudget: error: organization 700701 has no request logged between 2026-11-19 \
         00:00:00 UTC and 2026-11-19 02:00:00 UTC: the 2 window(s) collected there are empty, so \
         there is nothing to audit\n"
    );
}
