//! Errors as people read them: one line, the thing named, each cause printed once.

use assert_cmd::Command;

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

/// Runs callbudget with `args`; returns its exit code and its stderr.
fn fails(args: &[&str]) -> (i32, String) {
    let output = callbudget()
        .args(args)
        .env_remove("MERAKI_DASHBOARD_API_KEY")
        .output()
        .expect("callbudget runs");
    let stderr = String::from_utf8(output.stderr).expect("UTF-8 stderr");
    (output.status.code().expect("an exit code"), stderr)
}

#[test]
fn a_missing_key_file_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = dir.path().join("no-such-key");
    let key = key.to_str().expect("a UTF-8 path");
    let db = dir.path().join("cb.db");
    let (code, stderr) = fails(&[
        "collect",
        "--org",
        "1",
        "--api-key-file",
        key,
        "--db",
        db.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "callbudget: error: cannot read the API key file {key}: No such file or directory (os error 2)\n"
        )
    );
    assert!(!db.exists(), "no database is created");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_in_one_line_and_left_untouched() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    std::fs::write(&db, vec![0x42; 8192]).expect("a file that is not a database");
    let before = std::fs::read(&db).expect("the file reads");
    let (code, stderr) = fails(&["analyze", "--db", db.to_str().expect("a UTF-8 path")]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "callbudget: error: {} is not a callbudget database (it is not an SQLite database)\n",
            db.display()
        )
    );
    assert_eq!(std::fs::read(&db).expect("the file reads"), before);
}

#[test]
fn a_missing_budget_model_file_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    drop(callbudget_store::Store::open(&db).expect("an empty database"));
    let model = dir.path().join("model.toml");
    let (code, stderr) = fails(&[
        "analyze",
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--budget-model",
        model.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "callbudget: error: cannot read the budget model {}: No such file or directory (os error 2)\n",
            model.display()
        )
    );
}

#[test]
fn a_bad_since_is_a_usage_error_in_analyze_as_in_collect() {
    for command in ["analyze", "collect"] {
        let (code, stderr) = fails(&[command, "--org", "1", "--since", "yesterday"]);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(
            stderr.contains("\"yesterday\" is neither an RFC 3339 time nor a span"),
            "{command}: {stderr}"
        );
    }
}

/// A span that is not one — non-ASCII (which once panicked slicing a character in two), signed,
/// zero, past the calendar — is a usage error naming the flag, in every flag that takes a span.
#[test]
fn hostile_spans_are_usage_errors_naming_the_flag_never_a_panic() {
    for (args, says) in [
        (
            &["analyze", "--since", "7é"][..],
            "error: invalid value '7é' for '--since <TIME>': \"7é\" is neither an RFC 3339 time nor a span such as 36h or 7d",
        ),
        (
            &["collect", "--org", "1", "--since", "7é"],
            "error: invalid value '7é' for '--since <TIME>': \"7é\" is neither an RFC 3339 time nor a span such as 36h or 7d",
        ),
        (
            &["collect", "--org", "1", "--until=-5d"],
            "error: invalid value '-5d' for '--until <TIME>': \"-5d\": a span cannot be negative",
        ),
        (
            &["collect", "--org", "1", "--since", "0h"],
            "error: invalid value '0h' for '--since <TIME>': \"0h\": a span must be longer than zero",
        ),
        (
            &["collect", "--org", "1", "--since", "99999999999999999999d"],
            "error: invalid value '99999999999999999999d' for '--since <TIME>': \"99999999999999999999d\": a span is at most 36500d (100 years)",
        ),
        (
            &["collect", "--org", "1", "--max-wait", "5é"],
            "error: invalid value '5é' for '--max-wait <DURATION>': \"5é\": a wait is a whole number ending in s, m or h (e.g. 30m)",
        ),
        (
            &["audit", "--org", "1", "--report-span", "日"],
            "error: invalid value '日' for '--report-span <SPAN>': \"日\": a span is a whole number ending in m, h or d (e.g. 36h)",
        ),
        (
            &[
                "import",
                "x.log",
                "--provider",
                "xdr",
                "--format",
                "jsonl",
                "--org",
                "1",
                "--max-span",
                "0d",
            ],
            "error: invalid value '0d' for '--max-span <SPAN>': \"0d\": a span must be longer than zero",
        ),
    ] {
        let (code, stderr) = fails(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().next(), Some(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
