//! Every control character, terminal escape, bidi override and character XML forbids, fed in
//! through an imported log (user agent, path, query string, organization name), and the bytes of
//! every output people read checked: terminal lines, tables, Markdown, CSV, HTML, SVG, metrics.

use assert_cmd::Command;
use std::path::Path;

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

/// Every C0 control but NUL, DEL, the C1 controls that 8-bit terminals obey (CSI, OSC, NEL), the
/// bidi overrides and isolates, and U+FFFE/U+FFFF, with a terminal escape sequence among them.
fn hostile_text(prefix: &str) -> String {
    let mut text = format!("{prefix}<b>|*_`[x](y)");
    text.extend((1u32..0x20).filter_map(char::from_u32));
    text.push_str("\u{7f}\u{85}\u{9b}31m\u{9d}0;pwned\u{9c}");
    text.push_str("\u{1b}[2J\u{1b}]0;title\u{7}");
    text.push_str("\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}");
    text.push_str("\u{2066}\u{2067}\u{2068}\u{2069}\u{fffe}\u{ffff}end");
    text
}

/// What no terminal line, Markdown, CSV or metrics file may carry: a control character (C0 but
/// newline, DEL, C1) or a bidi control, raw.
fn unsafe_for_terminal(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what} is not UTF-8: {e}"));
    let chars: Vec<char> = text.chars().collect();
    if let Some(at) = chars.iter().position(|c| unsafe_for_terminal(*c)) {
        let around: String = chars[at.saturating_sub(60)..(at + 8).min(chars.len())]
            .iter()
            .collect();
        panic!(
            "{what} carries U+{:04X} raw at character {at}: {around:?}",
            u32::from(chars[at])
        );
    }
}

/// XML 1.0's characters: tab, LF, CR and U+0020.. but the surrogates, U+FFFE and U+FFFF.
fn assert_xml_chars(what: &str, text: &str) {
    let forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    assert!(
        !text.chars().any(forbidden),
        "{what} holds a character XML forbids"
    );
}

/// An hour of a log in which the hostile agent floods the budget (and retries its 429s at once)
/// while a quiet one polls: enough for the agent to be named in findings, charts and tables.
fn hostile_log(path: &Path) -> (String, String) {
    let agent = hostile_text("Evil/1.0 ");
    let request_path = format!("/api/v1/organizations/999001/devices{}", hostile_text("/p"));
    let mut lines = Vec::new();
    for second in 0..120u32 {
        for i in 0..25u32 {
            let status = if i < 10 { 200 } else { 429 };
            let line = serde_json::json!({
                "ts": format!("2026-11-19T09:{:02}:{:02}.{:03}Z", second / 60, second % 60, i * 30),
                "method": "GET",
                "path": request_path,
                "queryString": format!("perPage=10&note={}", hostile_text("q")),
                "userAgent": agent,
                "responseCode": status,
                "sourceIp": "10.0.0.66",
                "operationId": "getOrganizationDevices",
            });
            lines.push(line.to_string());
        }
    }
    for minute in 0..60u32 {
        let line = serde_json::json!({
            "ts": format!("2026-11-19T09:{minute:02}:30Z"),
            "method": "GET",
            "path": "/api/v1/organizations/999001/networks",
            "userAgent": "QuietApp/1.0",
            "responseCode": 200,
            "sourceIp": "10.0.0.7",
            "operationId": "getOrganizationNetworks",
        });
        lines.push(line.to_string());
    }
    std::fs::write(path, lines.join("\n") + "\n").expect("the log is written");
    (agent, request_path)
}

#[test]
fn hostile_text_reaches_no_output_raw() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("hostile.jsonl");
    let db = dir.path().join("cb.db");
    let (agent, _) = hostile_log(&log);
    let org_name = hostile_text("Org ");

    let imported = callbudget()
        .args(["import", "--provider", "meraki", "--format", "jsonl"])
        .args(["--org", "999001", "--org-name", &org_name])
        .arg("--db")
        .arg(&db)
        .arg(&log)
        .output()
        .expect("callbudget runs");
    assert!(imported.status.success(), "{imported:?}");
    assert_terminal_safe("import's stdout", &imported.stdout);
    assert_terminal_safe("import's stderr", &imported.stderr);

    let window = [
        "--since",
        "2026-11-19T09:00:00Z",
        "--until",
        "2026-11-19T10:00:00Z",
    ];
    for format in ["table", "md", "json"] {
        let analyzed = callbudget()
            .args(["analyze", "--format", format])
            .args(window)
            .arg("--db")
            .arg(&db)
            .output()
            .expect("callbudget runs");
        assert!(analyzed.status.success(), "{analyzed:?}");
        assert_terminal_safe(
            &format!("analyze --format {format}'s stderr"),
            &analyzed.stderr,
        );
        if format == "json" {
            // JSON is data: the text comes back exactly as it was logged, escaped by JSON's rules.
            let json: serde_json::Value =
                serde_json::from_slice(&analyzed.stdout).expect("analyze writes valid JSON");
            let text = json.to_string();
            assert!(text.contains(&serde_json::Value::from(agent.as_str()).to_string()));
            assert!(!analyzed.stdout.iter().any(|&b| b < b' ' && b != b'\n'));
        } else {
            assert_terminal_safe(&format!("analyze --format {format}"), &analyzed.stdout);
            // The agent is named (escaped), not dropped.
            let stdout = String::from_utf8_lossy(&analyzed.stdout);
            assert!(stdout.contains("Evil/1.0"), "{stdout}");
            assert!(stdout.contains("\\u{1b}"), "{stdout}");
        }
    }

    let out = dir.path().join("report");
    let reported = callbudget()
        .args(["report", "--format", "html,svg,md,json,openmetrics"])
        .args(window)
        .arg("--db")
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("callbudget runs");
    assert!(reported.status.success(), "{reported:?}");
    assert_terminal_safe("report's stdout", &reported.stdout);
    assert_terminal_safe("report's stderr", &reported.stderr);
    let read = |path: &Path| std::fs::read_to_string(path).expect("a report file reads");
    assert_terminal_safe("report.md", read(&out.join("report.md")).as_bytes());
    let metrics = std::fs::read_dir(&out)
        .expect("the report directory lists")
        .map(|e| e.expect("an entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "prom"))
        .expect("a metrics file");
    assert_terminal_safe("the metrics file", read(&metrics).as_bytes());

    // HTML: nothing raw but layout whitespace, no bidi control, and the agent shown escaped.
    let html = read(&out.join("report.html"));
    assert_xml_chars("report.html", &html);
    assert!(
        !html
            .chars()
            .any(|c| unsafe_for_terminal(c) && !matches!(c, '\t' | '\r')),
        "report.html carries a raw control or bidi character"
    );
    assert!(!html.contains("<b>|"), "markup from the log is escaped");
    assert!(
        html.contains("&lt;b&gt;|*_`[x](y)\\u{1}\\u{2}"),
        "the agent is shown, escaped"
    );

    // Every SVG chart: characters XML allows, and no raw control or bidi character in its text.
    let mut svgs = 0;
    for org_dir in std::fs::read_dir(out.join("charts")).expect("charts/ lists") {
        for chart in std::fs::read_dir(org_dir.expect("an entry").path()).expect("an org's charts")
        {
            let path = chart.expect("an entry").path();
            let svg = read(&path);
            assert_xml_chars(&path.display().to_string(), &svg);
            assert!(
                !svg.chars()
                    .any(|c| unsafe_for_terminal(c) && !matches!(c, '\t' | '\r')),
                "{} carries a raw control or bidi character",
                path.display()
            );
            assert!(
                !svg.contains("<b>|"),
                "{}: markup from the log",
                path.display()
            );
            svgs += 1;
        }
    }
    assert!(svgs >= 5, "{svgs} charts");

    for format in ["table", "csv"] {
        let queried = callbudget()
            .args(["query", "top_consumers", "--format", format])
            .args(["--param", "until=2026-11-19T10:00:00Z"])
            .arg("--db")
            .arg(&db)
            .output()
            .expect("callbudget runs");
        assert!(queried.status.success(), "{queried:?}");
        // CSV's records end with CRLF (RFC 4180): that CR is the format's, not the log's.
        let stdout = String::from_utf8_lossy(&queried.stdout).replace("\r\n", "\n");
        assert_terminal_safe(&format!("query --format {format}"), stdout.as_bytes());
        assert!(stdout.contains("Evil/1.0"), "{stdout}");
    }
}
