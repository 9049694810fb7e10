//! `callbudget query` and the `queries/` library on acme-week 2026-11-19 06:00–12:00, analysed
//! twice (06:00–09:00, then 06:00–12:00) so that findings and a previous audit exist.

use crate::support::{ACME_ORG, acme_week_config, collect_acme_range, serve, time};
use assert_cmd::Command;
use callbudget_store::queries::LIBRARY;
use polars::prelude::SerReader;
use rusqlite::Connection;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const NOC_POLLER: &str = "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)";
const PORT_PUSHER: &str = "PortPusher/0.9 AcmeNetEng";

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

/// acme-week 06:00–12:00 collected and analysed; returns the directory (kept alive) and the db.
fn acme_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let handle = serve(acme_week_config("2026-11-20T00:00:00Z"));
    collect_acme_range(
        &handle,
        &db,
        time("2026-11-19T06:00:00Z"),
        time("2026-11-19T12:00:00Z"),
    );
    for window in [
        ["--until", "2026-11-19T09:00:00Z", "--since", "3h"],
        ["--until", "2026-11-19T12:00:00Z", "--since", "6h"],
    ] {
        let output = callbudget()
            .arg("analyze")
            .arg("--db")
            .arg(&db)
            .args(window)
            .output()
            .expect("callbudget runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (dir, db)
}

fn query(db: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    callbudget()
        .args(["query", name, "--db"])
        .arg(db)
        .args(extra)
        .output()
        .expect("callbudget runs")
}

/// The rows of `name` as JSON objects, with `params` (`k=v`).
fn rows(db: &Path, name: &str, params: &[&str]) -> Vec<Value> {
    let mut extra = vec!["--format", "json"];
    for p in params {
        extra.extend(["--param", p]);
    }
    let output = query(db, name, &extra);
    assert!(
        output.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout)
        .unwrap_or_else(|e| panic!("{name}: not a JSON array of objects ({e})"))
}

fn count(db: &Path, sql: &str, params: impl rusqlite::Params) -> i64 {
    Connection::open(db)
        .expect("the database opens")
        .query_row(sql, params, |row| row.get(0))
        .expect("the count runs")
}

fn requests_of(db: &Path, user_agent: &str) -> i64 {
    count(
        db,
        "SELECT count(*) FROM unfiltered_api_requests WHERE user_agent = ?1",
        [user_agent],
    )
}

fn find<'a>(rows: &'a [Value], column: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[column] == value)
        .unwrap_or_else(|| panic!("no row with {column} = {value}: {rows:?}"))
}

#[test]
fn every_query_returns_the_rows_the_acme_week_scenario_implies() {
    let (_dir, db) = acme_db();
    let total = count(&db, "SELECT count(*) FROM unfiltered_api_requests", []);
    let mut checked = BTreeSet::new();
    let mut check = |name: &'static str| {
        checked.insert(name);
        name
    };

    let top = rows(&db, check("top_consumers"), &[]);
    assert_eq!(top[0]["user_agent"], NOC_POLLER);
    assert_eq!(top[0]["org_id"], ACME_ORG);
    assert_eq!(top[0]["requests"], requests_of(&db, NOC_POLLER));
    assert_eq!(top.len(), 5);
    let sum: i64 = top.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(sum, total);
    // The last hour only.
    let last_hour = rows(&db, "top_consumers", &["hours=1", "limit=1"]);
    assert_eq!(last_hour.len(), 1);
    assert_eq!(
        last_hour[0]["requests"],
        count(
            &db,
            "SELECT count(*) FROM unfiltered_api_requests WHERE user_agent = ?1 \
             AND ts >= '2026-11-19T11:00:00.000000Z'",
            [NOC_POLLER]
        )
    );

    let episodes = rows(&db, check("http_429_episodes"), &[]);
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    assert_eq!(episodes[0]["start"], "2026-11-19T09:00:00.000000Z");
    assert_eq!(episodes[0]["end"], "2026-11-19T09:01:00.000000Z");
    let in_0900 = count(
        &db,
        "SELECT count(*) FROM unfiltered_api_requests WHERE response_code = 429 \
         AND ts >= '2026-11-19T09:00' AND ts < '2026-11-19T09:01'",
        [],
    );
    assert_eq!(episodes[0]["http_429s"], in_0900);
    assert!(
        rows(
            &db,
            "http_429_episodes",
            &[&format!("min_429s={}", in_0900 + 1)]
        )
        .is_empty()
    );

    let senders = rows(&db, check("who_was_sending_when_429s_began"), &[]);
    assert!(
        senders
            .iter()
            .all(|r| r["episode_start"] == "2026-11-19T09:00:00.000000Z")
    );
    assert_eq!(senders[0]["user_agent"], PORT_PUSHER);
    assert_eq!(
        senders[0]["requests"],
        count(
            &db,
            "SELECT count(*) FROM unfiltered_api_requests WHERE user_agent = ?1 \
             AND ts >= '2026-11-19T08:59' AND ts < '2026-11-19T09:01'",
            [PORT_PUSHER]
        )
    );
    find(&senders, "user_agent", NOC_POLLER);

    let fan_out = rows(&db, check("fan_out_candidates"), &[]);
    let lldp = find(&fan_out, "operation_id", "getDeviceLldpCdp");
    assert_eq!(lldp["serials"], 240);
    assert_eq!(lldp["user_agent"], NOC_POLLER);
    assert!(rows(&db, "fan_out_candidates", &["min_serials=241"]).is_empty());

    let ignoring = rows(&db, check("ignores_retry_after"), &[]);
    let pusher = find(&ignoring, "consumer", PORT_PUSHER);
    assert_eq!(pusher["early_retries"], pusher["retried_429s"]);
    assert_eq!(pusher["start"], "2026-11-19T06:00:00.000000Z");

    let operations = rows(&db, check("operations_by_volume"), &[]);
    assert_eq!(operations[0]["operation_id"], "getDeviceLldpCdp");
    assert_eq!(
        operations[0]["requests"],
        count(
            &db,
            "SELECT count(*) FROM unfiltered_api_requests WHERE operation_id = 'getDeviceLldpCdp'",
            []
        )
    );
    assert_eq!(rows(&db, "operations_by_volume", &["limit=3"]).len(), 3);

    let admins = rows(&db, check("admins_with_api_activity"), &[]);
    assert_eq!(admins.len(), 5);
    assert!(admins.iter().all(|a| a["name"].is_string()), "{admins:?}");
    let sum: i64 = admins.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(sum, total);
    assert_eq!(admins[0]["requests"], requests_of(&db, NOC_POLLER));

    let days = rows(&db, check("daily_budget_use"), &[]);
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["day"], "2026-11-19");
    assert_eq!(days[0]["requests"], total);
    assert_eq!(days[0]["daily_budget"], 864_000);
    assert_eq!(days[0]["hours_with_requests"], 6);

    // PortPusher first sends at 09:00: after the first audit's window.
    let new = rows(&db, check("new_consumers_since_previous_audit"), &[]);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["user_agent"], PORT_PUSHER);
    assert_eq!(new[0]["requests"], requests_of(&db, PORT_PUSHER));
    assert!(new[0]["previous_audit_id"].is_i64());

    let saved = rows(&db, check("calls_saved_per_recommendation"), &[]);
    // Findings name a consumer by its application, as every table of the audit does.
    assert_eq!(saved[0]["consumer"], "NocPoller/2.1 Acme");
    assert_eq!(saved[0]["current_operation"], "getDeviceLldpCdp");
    assert_eq!(
        saved[0]["calls_saved_per_day"],
        count(
            &db,
            "SELECT CAST(round(max(json_extract(metrics, '$.calls_saved_per_day'))) AS INTEGER) \
             FROM findings JOIN audits ON audits.id = findings.audit_id \
             WHERE kind = 'recommendation' AND audits.t0 = '2026-11-19T06:00:00.000000Z' \
             AND audits.t1 = '2026-11-19T12:00:00.000000Z'",
            []
        )
    );
    find(&saved, "consumer", PORT_PUSHER);

    let busiest = rows(&db, check("busiest_minutes"), &[]);
    assert_eq!(busiest.len(), 10);
    assert_eq!(busiest[0]["minute"], "2026-11-19T09:00");
    assert_eq!(
        busiest[0]["requests"],
        count(
            &db,
            "SELECT count(*) FROM unfiltered_api_requests \
             WHERE ts >= '2026-11-19T09:00' AND ts < '2026-11-19T09:01'",
            []
        )
    );
    assert_eq!(busiest[0]["http_429s"], in_0900);

    let library: BTreeSet<&str> = LIBRARY.iter().map(|q| q.name).collect();
    assert_eq!(checked, library, "every query of the library is checked");
}

#[test]
fn a_parameter_holding_sql_is_bound_as_a_value() {
    let (_dir, db) = acme_db();
    let before = count(&db, "SELECT count(*) FROM api_requests", []);
    assert!(before > 0);
    let found = rows(
        &db,
        "top_consumers",
        &["org='; DROP TABLE api_requests; --"],
    );
    assert!(found.is_empty(), "{found:?}");
    let found = rows(&db, "ignores_retry_after", &["org=549236' OR '1'='1"]);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM api_requests", []), before);
}

#[test]
fn list_names_every_query_with_what_it_answers() {
    let output = callbudget()
        .args(["query", "--list"])
        .output()
        .expect("callbudget runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), LIBRARY.len());
    for (line, q) in lines.iter().zip(&LIBRARY) {
        assert!(line.starts_with(q.name), "{line}");
        assert!(line.ends_with(q.summary()), "{line}");
    }
    assert!(text.contains("top_consumers "));
}

#[test]
fn csv_and_json_outputs_parse_and_agree_and_bad_names_are_one_line_errors() {
    let (_dir, db) = acme_db();
    let csv = query(&db, "top_consumers", &["--format", "csv"]);
    assert!(csv.status.success());
    let frame = polars::prelude::CsvReadOptions::default()
        .with_has_header(true)
        .into_reader_with_file_handle(std::io::Cursor::new(csv.stdout))
        .finish()
        .expect("the CSV parses");
    let json = rows(&db, "top_consumers", &[]);
    assert_eq!(frame.height(), json.len());
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "org_id",
            "user_agent",
            "requests",
            "http_429s",
            "throttled_pct",
            "first_ts",
            "last_ts"
        ]
    );
    let agents = frame.column("user_agent").expect("user_agent");
    let agents = agents.str().expect("text");
    for (i, row) in json.iter().enumerate() {
        assert_eq!(agents.get(i), row["user_agent"].as_str());
    }

    let table = query(&db, "top_consumers", &[]);
    let text = String::from_utf8(table.stdout).expect("UTF-8");
    assert!(text.starts_with("org_id  user_agent "), "{text}");
    assert!(text.lines().nth(2).expect("a row").contains(NOC_POLLER));

    let unknown = query(&db, "top_consumers", &["--param", "day=1"]);
    assert!(!unknown.status.success());
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "callbudget: error: query top_consumers has no parameter \"day\"; its parameters are: \
         org, until, hours, limit\n"
    );
    let unknown = query(&db, "top_talkers", &[]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.starts_with("callbudget: error: no query named \"top_talkers\"; the queries are: "),
        "{stderr}"
    );
    for q in &LIBRARY {
        assert!(stderr.contains(q.name), "{stderr}");
    }
}

#[test]
fn a_closed_stdout_pipe_is_success() {
    let (_dir, db) = acme_db();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("callbudget"))
        .args([
            "query",
            "busiest_minutes",
            "--param",
            "limit=100000",
            "--db",
        ])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("callbudget starts");
    // Close the reading end before the query has written anything, like `| head` that is done.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("callbudget ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty());
}
