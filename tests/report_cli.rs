//! `callbudget report`, `audit` and `demo`: the files they write, the HTML opened in a real
//! browser, hostile API text, trends between audits, and the JSON schema.

use crate::browser::{chromium_or_skip, load};
use crate::support::{
    ACME_ORG, API_KEY, TINY_END, TINY_ORG, acme_week_config, collect_acme_range, serve, time,
    tiny_config,
};
use assert_cmd::Command;
use std::path::Path;

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

fn report(db: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    callbudget()
        .arg("report")
        .arg("--db")
        .arg(db)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("callbudget runs")
}

fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Text as the template's HTML escaping writes it (`/` included, as minijinja does).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A page self-contained enough to open offline: no script, no external resource of any kind.
fn assert_self_contained(html: &str) {
    for forbidden in [
        "<script",
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(forbidden),
            "the report contains {forbidden:?}"
        );
    }
}

/// A temporary directory holding `cb.db` with acme-week (ending at `now`) collected over
/// `[since, until)`; returns it with the database's path and a report directory's path in it.
fn collected_acme(
    now: &str,
    since: &str,
    until: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let out = dir.path().join("report");
    let handle = serve(acme_week_config(now));
    collect_acme_range(&handle, &db, time(since), time(until));
    (dir, db, out)
}

#[test]
fn the_browser_harness_sees_console_messages() {
    // Without this, "no console message" below could mean the harness is blind.
    let Some(chromium) = chromium_or_skip("the_browser_harness_sees_console_messages") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("probe.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>probe</p><script>console.error('probe-error'); document.body.dataset.ran = 'yes';</script></body></html>",
    )
    .expect("the probe page is written");
    let loaded = load(&chromium, &page, None);
    assert!(
        loaded.console.iter().any(|l| l.contains("probe-error")),
        "{:?}",
        loaded.console
    );
    assert!(loaded.dom.contains("data-ran=\"yes\""), "{}", loaded.dom);
}

#[test]
fn report_of_acme_week_writes_every_file_and_renders_cleanly_in_chromium() {
    let (dir, db, out) = collected_acme(
        "2026-11-20T00:00:00Z",
        "2026-11-19T06:00:00Z",
        "2026-11-19T12:00:00Z",
    );

    let output = report(&db, &out, &["--since", "6h"]);
    assert_success(&output);
    let listed = String::from_utf8_lossy(&output.stdout);
    for name in ["report.html", "findings.json", "report.md"] {
        assert!(out.join(name).is_file(), "{name} is written");
        assert!(listed.contains(name), "{name} is listed: {listed}");
    }
    let html = read(&out.join("report.html"));
    assert_self_contained(&html);
    assert!(html.contains("Acme Corp"), "the organization's name");
    assert!(html.contains("2026-11-19 06:00:00 UTC to 2026-11-19 12:00:00 UTC"));
    // The 09:00 spike episode, and the poller ranked first among consumers.
    assert!(html.contains("<td>2026-11-19 09:00:00 UTC</td>"));
    let consumers = html
        .split("<table class=\"consumers\">")
        .nth(1)
        .expect("a consumers table");
    let first_row = consumers
        .split("<tr>")
        .nth(2)
        .expect("a first consumer row");
    assert!(
        first_row.contains(&escaped("NocPoller/2.1 Acme")),
        "{first_row}"
    );
    // 00:00–06:00 was not collected: there is no previous period to compare with, and the table
    // says so rather than leaving a dash.
    assert!(
        first_row.contains("<td class=\"num\">not collected</td>"),
        "{first_row}"
    );
    // Recommendations with their saving, and the database section.
    assert!(html.contains("getNetworkTopologyLinkLayer"));
    assert!(html.contains("callbudget query top_consumers --db"));
    // No partial files left behind.
    assert!(
        std::fs::read_dir(&out)
            .expect("the report directory")
            .all(|e| !e
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".partial"))
    );

    let Some(chromium) =
        chromium_or_skip("report_of_acme_week_writes_every_file_and_renders_cleanly_in_chromium")
    else {
        return;
    };
    let screenshot = dir.path().join("report.png");
    let loaded = load(&chromium, &out.join("report.html"), Some(&screenshot));
    assert!(
        loaded.console.is_empty(),
        "console messages: {:?}",
        loaded.console
    );
    assert!(loaded.dom.contains("Acme Corp"));
    assert!(!loaded.dom.contains("<script"));
    let png = std::fs::read(&screenshot).expect("a screenshot is taken");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000, "the screenshot shows a page");
}

/// tiny.toml with a user agent and an admin name built to break out of HTML.
fn hostile_tiny_config() -> callbudget_sim::SimConfig {
    let text = std::fs::read_to_string(crate::support::sample_path("tiny.toml"))
        .expect("tiny.toml is readable");
    let hostile = text
        .replace(
            "user_agent = \"TinyPusher/0.1 Tiny\"",
            r#"user_agent = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)> Evil/1.0""#,
        )
        .replace(
            "name = \"Tiny Test Org\"",
            r#"name = "Tiny <script>alert(3)</script> \"Org\"""#,
        );
    assert_ne!(hostile, text, "the scenario was changed");
    let scenario = callbudget_sim::scenario::Scenario::parse(Path::new("hostile.toml"), &hostile)
        .expect("the hostile scenario parses");
    let mut config = tiny_config();
    config.scenarios = vec![scenario];
    config
}

#[test]
fn text_from_the_api_is_shown_escaped_and_never_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let out = dir.path().join("report");
    let handle = serve(hostile_tiny_config());
    let collect = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(&db)
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .args(["--since", "2026-11-19T00:00:00Z", "--until", TINY_END])
        .args(["--org-rate", "1000", "--budget-share", "1"])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
        .output()
        .expect("callbudget runs");
    assert_success(&collect);
    drop(handle);
    // Paths and query strings are not in the simulator's vocabulary: store hostile ones directly.
    {
        use callbudget_api::RequestRecord;
        use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};
        let mut store = Store::open(&db).expect("the database opens");
        let record: RequestRecord = serde_json::from_value(serde_json::json!({
            "ts": "2026-11-18T12:00:00.000000Z",
            "method": "GET",
            "path": "/api/v1/devices/<script>alert(4)</script>\"'/lldpCdp",
            "queryString": "x=<script>alert(5)</script>&y=\"'",
            "userAgent": "<script>alert(6)</script>",
            "responseCode": 200,
            "adminId": "<b>admin</b>"
        }))
        .expect("a record");
        let t0 = time("2026-11-18T12:00:00Z");
        let meta = WindowMeta {
            org_id: OrgId::new(TINY_ORG),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0,
            t1: time("2026-11-18T13:00:00Z"),
            started_at: t0,
            finished_at: t0,
            calls: 1,
            http_429s: 0,
        };
        store
            .store_request_window(&meta, &[record])
            .expect("the hostile window is stored");
    }

    for group_by in ["user-agent", "admin"] {
        let output = report(
            &db,
            &out,
            &[
                "--since",
                "2026-11-18T12:00:00Z",
                "--until",
                TINY_END,
                "--group-by",
                group_by,
                "--format",
                "html,md",
            ],
        );
        assert_success(&output);
        let html = read(&out.join("report.html"));
        assert_self_contained(&html);
        for raw in ["<script>alert(", "<img src=x", "<b>admin"] {
            assert!(!html.contains(raw), "{raw:?} reached the page unescaped");
        }
        assert!(html.contains(&escaped(
            "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
        )));
        let markdown = read(&out.join("report.md"));
        assert!(!markdown.contains("<script>"), "{markdown}");

        let Some(chromium) = chromium_or_skip("text_from_the_api_is_shown_escaped_and_never_runs")
        else {
            continue;
        };
        let loaded = load(&chromium, &out.join("report.html"), None);
        assert!(
            loaded.console.is_empty(),
            "a script or load was attempted: {:?}",
            loaded.console
        );
        assert!(!loaded.dom.contains("<script"), "a script element exists");
        assert!(
            !loaded.dom.contains("<img src=\"x\""),
            "an injected image exists"
        );
        // The text is there, as text.
        assert!(loaded.dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}

#[test]
fn the_second_audit_shows_what_changed_since_the_first() {
    // Sunday 2026-11-22 has no PortPusher bursts (weekdays only); Monday 2026-11-23 has one.
    let (_dir, db, out) = collected_acme(
        "2026-11-24T00:00:00Z",
        "2026-11-22T00:00:00Z",
        "2026-11-24T00:00:00Z",
    );
    let sunday = [
        "--since",
        "2026-11-22T00:00:00Z",
        "--until",
        "2026-11-23T00:00:00Z",
        "--format",
        "json",
    ];
    assert_success(&report(&db, &out, &sunday));
    let first: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    assert!(
        first["audits"][0].get("trends").is_none(),
        "no earlier audit"
    );

    let monday = [
        "--since",
        "2026-11-23T00:00:00Z",
        "--until",
        "2026-11-24T00:00:00Z",
        "--format",
        "json,html",
    ];
    assert_success(&report(&db, &out, &monday));
    let second: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    let trends = &second["audits"][0]["trends"];
    assert_eq!(trends["previous"]["start"], "2026-11-22T00:00:00.000000Z");
    assert_eq!(trends["consumers_compared"], true);
    let consumers = trends["consumers"].as_array().expect("consumers");
    let pusher = consumers
        .iter()
        .find(|c| c["consumer"] == "PortPusher/0.9 AcmeNetEng")
        .expect("the burst script is in the trends");
    assert_eq!(pusher["move"], "new");
    let poller = consumers
        .iter()
        .find(|c| c["consumer"] == "NocPoller/2.1 Acme")
        .expect("the poller is in the trends");
    assert_eq!(poller["move"], "steady");
    let new_kinds: Vec<&str> = trends["new_findings"]
        .as_array()
        .expect("new findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(new_kinds.contains(&"spike_429"), "{new_kinds:?}");
    let html = read(&out.join("report.html"));
    assert!(html.contains("Since the previous audit"));

    // Monday's last 6 hours: Monday's audit overlaps them, so Sunday's is the previous one.
    let evening = |group_by: &str| {
        report(
            &db,
            &out,
            &[
                "--since",
                "2026-11-23T18:00:00Z",
                "--until",
                "2026-11-24T00:00:00Z",
                "--group-by",
                group_by,
                "--format",
                "json",
            ],
        )
    };
    assert_success(&evening("application"));
    let doc: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    assert_eq!(
        doc["audits"][0]["trends"]["previous"]["start"],
        "2026-11-22T00:00:00.000000Z"
    );
    // Grouped by user agent, no earlier audit was made the same way: no trends at all, rather
    // than findings "resolved" that only changed name.
    assert_success(&evening("user-agent"));
    let doc: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    assert!(
        doc["audits"][0].get("trends").is_none(),
        "{}",
        doc["audits"][0]["trends"]
    );
    assert!(html.contains(&format!(
        "{}</td><td>new</td>",
        escaped("PortPusher/0.9 AcmeNetEng")
    )));
}

#[test]
fn findings_json_validates_against_its_published_schema() {
    let (_dir, db, out) = collected_acme(
        "2026-11-20T00:00:00Z",
        "2026-11-19T08:00:00Z",
        "2026-11-19T10:00:00Z",
    );
    // Twice, so that the second document carries trends too.
    assert_success(&report(
        &db,
        &out,
        &[
            "--since",
            "2026-11-19T08:00:00Z",
            "--until",
            "2026-11-19T09:00:00Z",
            "--format",
            "json",
        ],
    ));
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/findings.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&read(&schema_path)).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let first: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    assert!(
        validator.is_valid(&first),
        "{:?}",
        validator
            .iter_errors(&first)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    assert_success(&report(
        &db,
        &out,
        &[
            "--since",
            "2026-11-19T09:00:00Z",
            "--until",
            "2026-11-19T10:00:00Z",
            "--format",
            "json",
        ],
    ));
    let second: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    assert!(second["audits"][0]["trends"].is_object());
    assert!(
        validator.is_valid(&second),
        "{:?}",
        validator
            .iter_errors(&second)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    // The schema can fail: a finding of an unknown kind is refused.
    let mut broken = second.clone();
    broken["audits"][0]["findings"][0]["kind"] = serde_json::json!("made_up");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn audit_collects_analyses_and_reports_in_one_command() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let out = dir.path().join("nightly");
    let handle = serve(tiny_config());
    let audit = |key: &str, extra: &[&str]| {
        callbudget()
            .arg("audit")
            .arg("--db")
            .arg(&db)
            .arg("--out")
            .arg(&out)
            .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
            .args(["--since", "2026-11-19T00:00:00Z", "--until", TINY_END])
            .args(["--budget-share", "1", "--source-ip-rate", "1000"])
            .args(extra)
            .env("MERAKI_DASHBOARD_API_KEY", key)
            .output()
            .expect("callbudget runs")
    };
    let wrong = audit("not-the-key", &[]);
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("not-the-key"));
    assert!(!db.exists() && !out.exists(), "a wrong key writes nothing");

    let output = audit(API_KEY, &["--report-span", "24h", "--fail-on", "critical"]);
    // tiny's 06:00 burst is a critical finding: exit 3, with every file written.
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    let audit_doc = &doc["audits"][0];
    assert_eq!(audit_doc["org_id"], TINY_ORG);
    assert_eq!(audit_doc["window"]["start"], "2026-11-19T00:00:00.000000Z");
    assert_eq!(audit_doc["window"]["end"], "2026-11-20T00:00:00.000000Z");
    assert_eq!(audit_doc["spikes"].as_array().map(Vec::len), Some(1));
    let html = read(&out.join("report.html"));
    assert!(html.contains("Tiny Test Org"));
    assert!(out.join("report.md").is_file());
    let charts = out.join("charts").join(TINY_ORG);
    assert!(
        charts.join("retry-delays.png").is_file(),
        "the 06:00 burst's retries"
    );

    // An afternoon without 429s, into the same directory: no retry chart is left from before.
    let afternoon = report(
        &db,
        &out,
        &["--since", "2026-11-19T12:00:00Z", "--until", TINY_END],
    );
    assert_success(&afternoon);
    let doc: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    assert_eq!(doc["audits"][0]["http_429s"], 0);
    assert!(!charts.join("retry-delays.png").exists());
    assert!(!charts.join("retry-delays.svg").exists());
    assert!(charts.join("budget-timeline.png").is_file());

    // An organization imported into the same database is not audited by --all-orgs: only what
    // this run collected is.
    let log = dir.path().join("other.jsonl");
    std::fs::write(
        &log,
        r#"{"ts":"2026-11-19T10:00:00Z","method":"GET","path":"/iroh/a","userAgent":"app/1","responseCode":200,"sourceIp":"10.0.0.1"}"#,
    )
    .expect("a log is written");
    let import = callbudget()
        .arg("import")
        .arg(&log)
        .args(["--provider", "xdr", "--format", "jsonl", "--org", "xdr-1"])
        .arg("--db")
        .arg(&db)
        .output()
        .expect("callbudget runs");
    assert_success(&import);
    let all = callbudget()
        .arg("audit")
        .arg("--db")
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .args(["--all-orgs", "--base-url", &handle.base_url()])
        .args(["--until", TINY_END])
        .args(["--budget-share", "1", "--source-ip-rate", "1000"])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
        .output()
        .expect("callbudget runs");
    assert_success(&all);
    let doc: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    let orgs: Vec<&str> = doc["audits"]
        .as_array()
        .expect("audits")
        .iter()
        .filter_map(|a| a["org_id"].as_str())
        .collect();
    assert_eq!(orgs, vec![TINY_ORG]);
}

#[test]
fn demo_writes_the_database_report_and_charts_into_a_clean_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("callbudget-demo");
    let demo = || {
        callbudget()
            .arg("demo")
            .arg("--out")
            .arg(&out)
            .args(["--now", "2026-11-20T00:00:00Z", "--days", "1"])
            .env_remove("MERAKI_DASHBOARD_API_KEY")
            .output()
            .expect("callbudget runs")
    };
    let output = demo();
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!(
        "demo report: {}",
        out.join("report.html").display()
    )));
    for name in ["callbudget.db", "report.html", "findings.json", "report.md"] {
        assert!(out.join(name).is_file(), "{name} is written");
    }
    let charts = out.join("charts").join(ACME_ORG);
    let mut chart_files: Vec<String> = std::fs::read_dir(&charts)
        .expect("the charts directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    chart_files.sort();
    assert!(
        chart_files.contains(&"budget-timeline.png".to_owned()),
        "{chart_files:?}"
    );
    assert!(
        chart_files.contains(&"budget-timeline.svg".to_owned()),
        "{chart_files:?}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    // The day before 2026-11-20 00:00 holds Thursday's 09:00 episode.
    assert_eq!(doc["audits"][0]["spikes"].as_array().map(Vec::len), Some(1));
    let requests = || {
        let conn = rusqlite::Connection::open(out.join("callbudget.db")).expect("the db opens");
        conn.query_row("SELECT count(*) FROM api_requests", [], |row| {
            row.get::<_, i64>(0)
        })
        .expect("a count")
    };
    let first = requests();
    assert!(first > 90_000, "a day of acme-week: {first}");
    // A second run replaces the first one's database rather than adding to it.
    assert_success(&demo());
    assert_eq!(requests(), first);
    // A directory the demo did not make is refused.
    let foreign = dir.path().join("mine");
    std::fs::create_dir(&foreign).expect("a directory");
    std::fs::write(foreign.join("notes.txt"), "keep me").expect("a file");
    let refused = callbudget()
        .arg("demo")
        .arg("--out")
        .arg(&foreign)
        .output()
        .expect("callbudget runs");
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(read(&foreign.join("notes.txt")), "keep me");
}

/// Issue 15: every report file was written 0600 whatever the umask, so the nightly
/// recipe's `--out /var/www/callbudget` (docs/nightly.md) served files the web server could not read.
#[cfg(unix)]
#[test]
fn report_files_get_the_umasks_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, db, out) = collected_acme(
        "2026-11-20T00:00:00Z",
        "2026-11-19T08:00:00Z",
        "2026-11-19T09:00:00Z",
    );
    let binary = assert_cmd::cargo::cargo_bin("callbudget");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(&binary)
        .args([
            "report",
            "--since",
            "1h",
            "--format",
            "html,png,json,md",
            "--db",
        ])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("the shell runs callbudget");
    assert_success(&output);
    let written: Vec<&str> = std::str::from_utf8(&output.stdout)
        .expect("UTF-8")
        .lines()
        .collect();
    assert!(written.len() >= 4, "{written:?}");
    for file in written {
        let mode = std::fs::metadata(file)
            .expect("the file exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{file}");
    }
}

/// Issue 16: the report buried the answer — the first recommendation started ~4,400 px down.
/// What to do is now the first section, within the first screen of a 1400×900 window.
#[test]
fn the_report_leads_with_what_to_do_within_the_first_screen() {
    let (_dir, db, out) = collected_acme(
        "2026-11-20T00:00:00Z",
        "2026-11-19T00:00:00Z",
        "2026-11-20T00:00:00Z",
    );
    assert_success(&report(
        &db,
        &out,
        &["--since", "24h", "--format", "html,json"],
    ));
    let json: serde_json::Value =
        serde_json::from_str(&read(&out.join("findings.json"))).expect("valid JSON");
    let actions = json["audits"][0]["actions"]["actions"]
        .as_array()
        .expect("actions");
    assert!(actions.len() >= 2, "{actions:?}");
    // Ranked by the others' refusals spared, then by calls saved.
    assert_eq!(actions[0]["consumer"], "NocPoller/2.1 Acme");
    let html = read(&out.join("report.html"));
    let what_to_do = html.find("What to do").expect("the action list");
    for later in [
        "Budget over time",
        "429 spike episodes",
        "Recommendations",
        "All findings",
    ] {
        assert!(
            html.find(later).expect(later) > what_to_do,
            "{later} comes after the action list"
        );
    }
    let Some(chromium) =
        chromium_or_skip("the_report_leads_with_what_to_do_within_the_first_screen")
    else {
        return;
    };
    let (first_h3, top, bottom) =
        crate::browser::first_screen_layout(&chromium, &out.join("report.html"));
    assert_eq!(first_h3, "What to do");
    assert!(
        top > 0.0 && bottom <= 900.0,
        "the list spans {top}–{bottom} px"
    );
}
