//! Issue 30, the second hardening pass: what a crafted log, file or database still broke. Each
//! test failed before its fix: metrics.prom with a series twice (item 5), credentials stored
//! verbatim (7), the import's summary printing `--org` raw, a gzip file read as malformed lines, a
//! read-only database written by root (10). (The collector's cases are in `collect_agreement`, the
//! killed audit in `notify`, the fuzz targets in `fuzz`.)

use crate::support::{TINY_END, TINY_ORG, collect_into, fast_client_config, serve, time};
use assert_cmd::Command;
use callbudget_analysis::{AnalysisWindow, AuditOptions, OrgAudit, audit_org};
use callbudget_api::RequestRecord;
use callbudget_collect::{CollectOptions, OrgSelection};
use callbudget_report::{Format, ReportContext, ReportInput};
use callbudget_sim::SimConfig;
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};
use chrono::TimeDelta;
use std::collections::HashSet;
use std::path::Path;

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// ---- Item 5: one series per label set ----------------------------------------------------------

/// An hour of organization 7: fifteen consumers each loop `getDevice` over ten devices every five
/// minutes (120 calls each, each with a recommendation), and two busier ones whose user agents
/// differ only in an escape character: one holds ESC, the other the six characters `\u{1b}`.
fn looping_consumers_audit() -> OrgAudit {
    let mut store = Store::open_in_memory().expect("an in-memory store");
    let (t0, t1) = (time("2026-11-19T10:00:00Z"), time("2026-11-19T11:00:00Z"));
    let record = |ts: chrono::DateTime<chrono::Utc>, agent: &str, device: usize| -> RequestRecord {
        serde_json::from_value(serde_json::json!({
            "ts": callbudget_api::timestamp::format(&ts),
            "method": "GET",
            "path": format!("/api/v1/devices/Q2XX-0000-{device:04}"),
            "userAgent": agent,
            "responseCode": 200,
            "operationId": "getDevice",
        }))
        .expect("a valid record")
    };
    let mut records = Vec::new();
    for consumer in 0..15i64 {
        let agent = format!("Looper{consumer:02}/1.0 Acme");
        for cycle in 0..12i64 {
            for device in 0..10 {
                let at = t0
                    + TimeDelta::seconds(cycle * 300 + device as i64 * 2)
                    + TimeDelta::milliseconds(consumer * 37);
                records.push(record(at, &agent, device));
            }
        }
    }
    for (n, agent) in ["Twin\u{1b}/1.0", "Twin\\u{1b}/1.0"].iter().enumerate() {
        for i in 0..400i64 {
            let at = t0 + TimeDelta::milliseconds(i * 8_000 + n as i64 * 3 + 1);
            records.push(record(at, agent, 0));
        }
    }
    records.sort_by_key(|r| r.ts);
    let meta = WindowMeta {
        org_id: OrgId::new("7"),
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
        .store_request_window(&meta, &records)
        .expect("the window is stored");
    let window = AnalysisWindow::new(t0, t1).expect("a window");
    audit_org(&store, &OrgId::new("7"), window, AuditOptions::default()).expect("the audit runs")
}

#[test]
fn the_metrics_file_holds_each_series_once_and_tells_escaped_names_apart() {
    let audit = looping_consumers_audit();
    let looping = audit
        .recommendations
        .iter()
        .filter(|r| r.current_operation == "getDevice")
        .count();
    assert!(looping >= 15, "{looping} recommendations");
    let context = ReportContext::new("cb.db", time(TINY_END));
    let audits = [audit];
    let text = callbudget_report::render(
        Format::OpenMetrics,
        &ReportInput {
            audits: &audits,
            context: &context,
        },
    )
    .expect("the metrics render");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("the Prometheus text parser reads the file");
    let mut series = HashSet::new();
    for sample in &scrape.samples {
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        assert!(
            series.insert((sample.metric.clone(), labels.clone())),
            "{} {labels:?} twice",
            sample.metric
        );
    }
    // The recommendations of the consumers summed as "other": one sample, their sum.
    let other: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "callbudget_recommendation_calls_saved_per_day"
                && s.labels.get("consumer") == Some("other")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .collect();
    assert_eq!(other.len(), 1, "{text}");
    let expected: f64 = audits[0]
        .recommendations
        .iter()
        .filter(|r| r.application.starts_with("Looper"))
        .map(|r| r.calls_saved_per_day)
        .sum::<f64>();
    assert!(
        other[0] > 0.0 && other[0] < expected,
        "{} of {expected}",
        other[0]
    );
    // The two twins: two consumers, two labels. (prometheus-parse reads no label value holding
    // `{` or `}`, which the sanitiser's `\u{1b}` does: read from the lines.)
    let twins: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("callbudget_consumer_requests{org=\"7\",consumer=\"Twin"))
        .collect();
    assert_eq!(
        twins,
        [
            "callbudget_consumer_requests{org=\"7\",consumer=\"Twin\\\\u{1b}/1.0\"} 400",
            "callbudget_consumer_requests{org=\"7\",consumer=\"Twin\\\\u{1b}/1.0 (2)\"} 400",
        ]
    );
    // Every series once, as written (what any parser keys a series on).
    let mut written = HashSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
        assert!(written.insert(series), "{series} twice");
    }
}

// ---- Item 7: credentials in any URL and under any name -----------------------------------------

const SECRETS: [&str; 10] = [
    "USERPASS1",
    "S-BRACKET",
    "S-XAPIKEY",
    "S-AMZTOKEN",
    "S-AMZSIG",
    "S-PRIVATE",
    "S-APITOKEN",
    "S-ACCESSTOKEN",
    "S-AUTH",
    "PROXYPASS",
];

/// Asserts that no file of the database `db` (its write-ahead log included) holds any of
/// [`SECRETS`].
fn no_secret_in(db: &Path) {
    let dir = db.parent().expect("a directory");
    let name = db
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    for file in std::fs::read_dir(dir).expect("the directory reads") {
        let path = file.expect("an entry").path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&name))
        {
            continue;
        }
        let bytes = std::fs::read(&path).expect("the file reads");
        for secret in SECRETS {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}",
                path.display()
            );
        }
    }
}

#[test]
fn credentials_in_imported_urls_and_parameters_never_reach_the_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let jsonl = dir.path().join("log.jsonl");
    let query = "api_key[0]=S-BRACKET&x-api-key=S-XAPIKEY&X-Amz-Security-Token=S-AMZTOKEN\
                 &X-Amz-Signature=S-AMZSIG&private_token=S-PRIVATE&api_token=S-APITOKEN\
                 &accessToken=S-ACCESSTOKEN&auth=S-AUTH&perPage=10";
    std::fs::write(
        &jsonl,
        format!(
            "{{\"ts\": \"2026-11-19T10:00:00Z\", \"url\": \"https://user:USERPASS1@api.example.net/api/v1/organizations?{query}\", \"status\": 200}}\n\
             {{\"ts\": \"2026-11-19T10:00:01Z\", \"path\": \"/api/v1/x\", \"host\": \"ops:USERPASS1@api.example.net\", \"status\": 200}}\n"
        ),
    )
    .expect("the log is written");
    let import = |file: &Path, format: &str, org: &str| {
        let output = callbudget()
            .arg("import")
            .arg(file)
            .args(["--provider", "meraki", "--format", format, "--org", org])
            .arg("--db")
            .arg(&db)
            .output()
            .expect("callbudget runs");
        assert!(output.status.success(), "{}", stderr(&output));
    };
    import(&jsonl, "jsonl", "json-1");
    let combined = dir.path().join("access.log");
    std::fs::write(
        &combined,
        "203.0.113.9 - - [19/Nov/2026:10:00:02 +0000] \"GET http://proxy:PROXYPASS@api.example.net/api/v1/x?auth=S-AUTH HTTP/1.1\" 200 12 \"-\" \"curl/8.0\"\n",
    )
    .expect("the log is written");
    import(&combined, "combined", "combined-1");
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let stored: Vec<(String, String, String)> = conn
        .prepare("SELECT coalesce(host, ''), coalesce(path, ''), coalesce(query_string, '') FROM api_requests ORDER BY ts")
        .expect("the view answers")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("the rows read")
        .collect::<Result<_, _>>()
        .expect("the rows read");
    assert_eq!(
        stored,
        [
            (
                String::new(),
                "https://***@api.example.net/api/v1/organizations".to_owned(),
                "api_key[0]=***&x-api-key=***&X-Amz-Security-Token=***&X-Amz-Signature=***\
                 &private_token=***&api_token=***&accessToken=***&auth=***&perPage=10"
                    .to_owned()
            ),
            (
                "***@api.example.net".to_owned(),
                "/api/v1/x".to_owned(),
                String::new()
            ),
            (
                String::new(),
                "http://***@api.example.net/api/v1/x".to_owned(),
                "auth=***".to_owned()
            ),
        ]
    );
    drop(conn);
    no_secret_in(&db);
}

#[test]
fn credentials_under_any_name_in_collected_query_strings_are_redacted() {
    let tiny = std::fs::read_to_string(crate::support::sample_path("tiny.toml"))
        .expect("tiny.toml is readable");
    let text = format!(
        "{tiny}
[[consumers]]
name = \"leaky\"
user_agent = \"Leaky/1.0 Acme\"
admin = \"900002\"
source_ip = \"192.0.2.41\"
client_id = \"k_tiny05\"
query_string = \"api_key[0]=S-BRACKET&x-api-key=S-XAPIKEY&X-Amz-Security-Token=S-AMZTOKEN&X-Amz-Signature=S-AMZSIG&private_token=S-PRIVATE&api_token=S-APITOKEN&accessToken=S-ACCESSTOKEN&auth=S-AUTH\"
on_429 = {{ honours_retry_after = true, backoff = \"exponential\", jitter = true, max_retries = 2 }}

[[consumers.traffic]]
kind = \"trickle\"
operations = [\"getOrganizationNetworks\"]
per_hour = 30
"
    );
    let scenario = callbudget_sim::scenario::Scenario::parse(Path::new("leaky.toml"), &text)
        .expect("the leaky scenario is valid");
    let handle = serve(SimConfig {
        scenarios: vec![scenario],
        ..crate::support::tiny_config()
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect_into(
        &db,
        fast_client_config(&handle),
        CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
            since: Some(time("2026-11-19T00:00:00Z")),
            until: Some(time(TINY_END)),
            ..CollectOptions::default()
        },
    );
    assert_eq!(summary.failed().count(), 0);
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let leaky: i64 = conn
        .query_row(
            "SELECT count(*) FROM api_requests WHERE user_agent = 'Leaky/1.0 Acme'
               AND query_string = 'api_key[0]=***&x-api-key=***&X-Amz-Security-Token=***&X-Amz-Signature=***&private_token=***&api_token=***&accessToken=***&auth=***'",
            [],
            |row| row.get(0),
        )
        .expect("the count reads");
    assert!(leaky > 100, "{leaky}");
    drop(conn);
    no_secret_in(&db);
}

// ---- Item 10: the import's small ones ----------------------------------------------------------

fn import(file: &Path, db: &Path, org: &str) -> std::process::Output {
    callbudget()
        .arg("import")
        .arg(file)
        .args(["--provider", "meraki", "--format", "jsonl", "--org", org])
        .arg("--db")
        .arg(db)
        .output()
        .expect("callbudget runs")
}

const ONE_LINE: &str =
    "{\"ts\": \"2026-11-19T10:00:00Z\", \"path\": \"/api/v1/x\", \"status\": 200}\n";

#[test]
fn the_import_summary_shows_the_org_made_printable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, log) = (dir.path().join("cb.db"), dir.path().join("log.jsonl"));
    std::fs::write(&log, ONE_LINE).expect("the log is written");
    let output = import(&log, &db, "evil\n\u{1b}[2Jorg");
    assert!(output.status.success(), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with(
            "imported 1 request(s) (0 x 429) of organization evil\\u{a}\\u{1b}[2Jorg from "
        ),
        "{said}"
    );
    assert!(!said.contains('\u{1b}'), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
}

#[test]
fn a_compressed_log_is_refused_by_its_magic_bytes_with_the_reason() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    for (name, head, format, command) in [
        (
            "log.jsonl.gz",
            vec![0x1f, 0x8b, 0x08, 0x00],
            "gzip",
            "gzip -dc FILE",
        ),
        (
            "log.jsonl.zst",
            vec![0x28, 0xb5, 0x2f, 0xfd],
            "zstd",
            "zstd -dc FILE",
        ),
        (
            "log.jsonl.bz2",
            b"BZh91AY&SY".to_vec(),
            "bzip2",
            "bzip2 -dc FILE",
        ),
        (
            "log.jsonl.xz",
            vec![0xfd, b'7', b'z', b'X', b'Z', 0x00],
            "xz",
            "xz -dc FILE",
        ),
        (
            "log.zip",
            b"PK\x03\x04\x14\x00".to_vec(),
            "zip",
            "unzip -p FILE",
        ),
    ] {
        let log = dir.path().join(name);
        let mut bytes = head;
        bytes.extend_from_slice(&[0u8; 200]);
        std::fs::write(&log, bytes).expect("the file is written");
        let output = import(&log, &db, "1");
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert_eq!(
            stderr(&output),
            format!(
                "callbudget: error: {} is {format}-compressed, not a request log: decompress it first (`{command} > LOG`, then import LOG); nothing was stored\n",
                log.display()
            )
        );
        assert!(!db.exists(), "{name}: no database left behind");
    }
    // Text that starts like one is still read as text.
    let log = dir.path().join("bzh.jsonl");
    std::fs::write(&log, format!("BZh\n{ONE_LINE}")).expect("the log is written");
    let output = import(&log, &db, "1");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn import_does_not_write_into_a_read_only_database_even_as_root() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, log) = (dir.path().join("cb.db"), dir.path().join("log.jsonl"));
    std::fs::write(&log, ONE_LINE).expect("the log is written");
    let first = import(&log, &db, "1");
    assert!(first.status.success(), "{}", stderr(&first));
    let mut permissions = std::fs::metadata(&db)
        .expect("the database exists")
        .permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&db, permissions).expect("permissions are set");
    let before = std::fs::read(&db).expect("the database reads");
    let second = import(&log, &db, "2");
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(
        stderr(&second),
        format!(
            "callbudget: error: {} is read-only (its mode, or this user's rights): it is not written, whoever runs this (root too); `chmod u+w` it to write into it\n",
            db.display()
        )
    );
    assert_eq!(std::fs::read(&db).expect("the database reads"), before);
}

// ---- Item 8: query on a crafted database ------------------------------------------------------

/// A database of one imported request whose view `unfiltered_api_requests` was redefined as a
/// query that never ends.
fn database_with_an_endless_view(dir: &Path) -> std::path::PathBuf {
    let (db, log) = (dir.join("cb.db"), dir.join("log.jsonl"));
    std::fs::write(&log, ONE_LINE).expect("the log is written");
    let imported = import(&log, &db, "7");
    assert!(imported.status.success(), "{}", stderr(&imported));
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    conn.execute_batch(
        "DROP VIEW unfiltered_api_requests;
         CREATE VIEW unfiltered_api_requests AS
         WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)
         SELECT '7' AS org_id, 'Endless/1.0' AS user_agent, 200 AS response_code,
                '2026-11-19T10:00:00.000000Z' AS ts
         FROM r;",
    )
    .expect("the view is redefined");
    db
}

fn query_top_consumers(db: &Path) -> std::process::Output {
    callbudget()
        .args([
            "query",
            "top_consumers",
            "--format",
            "csv",
            "--param",
            "until=2026-11-19T11:00:00Z",
            "--db",
        ])
        .arg(db)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("callbudget runs")
}

#[test]
fn a_redefined_view_is_refused_read_only_and_recreated_where_writable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database_with_an_endless_view(dir.path());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444))
        .expect("permissions are set");
    let started = std::time::Instant::now();
    let refused = query_top_consumers(&db);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused),
        format!(
            "callbudget: error: {}: its view unfiltered_api_requests is not the one callbudget defines (changed by hand, or a crafted file): not read; open it once with a command that writes it (collect, import or analyze) to have its views recreated\n",
            db.display()
        )
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));

    // Writable, the views are put back as callbudget defines them, and the query answers.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644))
        .expect("permissions are set");
    let answered = query_top_consumers(&db);
    assert!(answered.status.success(), "{}", stderr(&answered));
    let text = String::from_utf8_lossy(&answered.stdout);
    assert!(text.starts_with("org_id,user_agent,requests,"), "{text}");
    assert!(!text.contains("Endless/1.0"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn a_query_time_limit_must_be_more_than_nothing() {
    let output = callbudget()
        .args(["query", "top_consumers", "--timeout", "0s"])
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("a time limit must be more than 0"),
        "{}",
        stderr(&output)
    );
}

// ---- Item 6: export into a used directory -----------------------------------------------------

fn export(db: &Path, out: &Path) -> std::process::Output {
    callbudget()
        .args(["export", "--format", "parquet", "--db"])
        .arg(db)
        .arg("--out")
        .arg(out)
        .output()
        .expect("callbudget runs")
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("the directory reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(
                    path.strip_prefix(dir)
                        .expect("below dir")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    files.sort();
    files
}

#[test]
fn an_export_replaces_only_its_own_database_s_previous_export() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (first, second, out) = (
        dir.path().join("first.db"),
        dir.path().join("second.db"),
        dir.path().join("export"),
    );
    let log = dir.path().join("log.jsonl");
    std::fs::write(&log, ONE_LINE).expect("the log is written");
    for (db, org) in [(&first, "7"), (&second, "8")] {
        let imported = import(&log, db, org);
        assert!(imported.status.success(), "{}", stderr(&imported));
    }
    let exported = export(&first, &out);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let before = files_under(&out);
    assert!(
        before.contains(&"callbudget-export.json".to_owned()),
        "{before:?}"
    );
    assert!(
        before.contains(&"api_requests/org=7/day=2026-11-19/data.parquet".to_owned()),
        "{before:?}"
    );

    // Another database into the same directory: refused, nothing written, nothing mixed.
    let mixed = export(&second, &out);
    assert_eq!(mixed.status.code(), Some(2));
    assert_eq!(
        stderr(&mixed),
        format!(
            "callbudget: error: {} holds the export of another database ({}): nothing written; export each database into a directory of its own (one glob reads them all)\n",
            out.display(),
            std::fs::canonicalize(&first)
                .expect("the path resolves")
                .display()
        )
    );
    assert_eq!(files_under(&out), before);

    // The same database again: the directory replaced whole, a file left in it gone, and said so.
    let stale = out.join("api_requests/org=99/day=2020-01-01");
    std::fs::create_dir_all(&stale).expect("a stale partition");
    std::fs::write(stale.join("data.parquet"), b"stale").expect("a stale file");
    let again = export(&first, &out);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).ends_with(&format!(
            "under {}, in the place of the previous export of this database\n",
            out.display()
        )),
        "{}",
        stderr(&again)
    );
    assert_eq!(files_under(&out), before);
    // Nothing of the work left beside it.
    let beside: Vec<String> = std::fs::read_dir(dir.path())
        .expect("the directory reads")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(".callbudget-export-"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");

    // A directory that is no export: refused.
    let other = dir.path().join("photos");
    std::fs::create_dir(&other).expect("a directory");
    std::fs::write(other.join("cat.jpg"), b"meow").expect("a file");
    let refused = export(&first, &other);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_eq!(files_under(&other), ["cat.jpg"]);
}
