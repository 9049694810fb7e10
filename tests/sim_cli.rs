//! `callbudget simulate`, the real binary: reproducible ground truth, one-line errors naming the
//! file, line and field, and the planted anomalies of tiny.toml.

use crate::support::{
    API_KEY, Api, TINY_END, TINY_ORG, block_on, sample_path, time, tiny_config, window_query,
};
use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    // Nothing here may wait on a terminal or run forever if serving starts by mistake.
    cmd.env_remove(callbudget_collect::dashboard::API_KEY_ENV)
        .timeout(Duration::from_secs(60));
    cmd
}

fn tiny() -> PathBuf {
    sample_path("tiny.toml")
}

/// Runs `simulate --no-serve --truth-out OUT` on tiny.toml and returns the JSONL written.
fn truth_of_tiny(out: &Path, extra: &[&str]) -> Vec<u8> {
    callbudget()
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--now", TINY_END, "--no-serve", "--truth-out"])
        .arg(out)
        .args(extra)
        .assert()
        .success();
    std::fs::read(out).expect("--truth-out writes the log")
}

#[test]
fn simulate_prints_what_the_traffic_did() {
    let output = callbudget()
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--now", TINY_END, "--no-serve"])
        .output()
        .expect("callbudget runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("organization 100001: 3952 requests from 2026-11-19T00:00:00.000000Z"),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with("231 answered 429, 1 spike episode(s)"),
        "{stdout}"
    );
    let consumers: Vec<&str> = lines[1..4]
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(consumers, ["lldp-poller", "burst-script", "sdk-app"]);
    assert!(lines[4].contains("most refused: burst-script"), "{stdout}");
}

#[test]
fn same_scenario_and_seed_give_a_byte_identical_log() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let a = truth_of_tiny(&dir.path().join("a.jsonl"), &[]);
    let b = truth_of_tiny(&dir.path().join("b.jsonl"), &[]);
    assert!(!a.is_empty());
    assert!(a == b, "two runs wrote different logs");

    let reseeded = truth_of_tiny(&dir.path().join("c.jsonl"), &["--seed", "8"]);
    assert!(a != reseeded, "--seed 8 changed nothing");
}

#[test]
fn generate_out_streams_the_same_log_as_truth_out() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let truth = truth_of_tiny(&dir.path().join("truth.jsonl"), &[]);
    let streamed = dir.path().join("streamed.jsonl");
    callbudget()
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--now", TINY_END, "--generate-out"])
        .arg(&streamed)
        .assert()
        .success()
        .stdout("");
    let streamed = std::fs::read(&streamed).expect("--generate-out writes the log");
    assert!(!streamed.is_empty());
    assert!(
        streamed == truth,
        "--generate-out and --truth-out differ for one organization"
    );
}

/// tiny.toml with one text replaced, written to DIR/NAME.
fn broken_tiny(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(tiny()).expect("tiny.toml is readable");
    assert!(text.contains(from), "tiny.toml no longer contains {from:?}");
    let path = dir.join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).expect("writing the broken scenario");
    path
}

/// Runs `simulate --no-serve` on a scenario that must be refused; returns stderr.
fn refusal_of(scenario: &Path) -> String {
    let output = callbudget()
        .arg("simulate")
        .arg("--scenario")
        .arg(scenario)
        .args(["--now", TINY_END, "--no-serve"])
        .assert()
        .failure()
        .stdout("")
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.ends_with('\n'));
    stderr
}

#[test]
fn misspelt_operation_is_refused_in_one_line_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = broken_tiny(
        dir.path(),
        "op.toml",
        "\"getDeviceLldpCdp\"",
        "\"getDeviceLldp\"",
    );
    assert_eq!(
        refusal_of(&path),
        format!(
            "callbudget: error: {}:35: consumers[0].traffic[0].operation: unknown operation \"getDeviceLldp\" (not in the Meraki v1 catalog)\n",
            path.display()
        )
    );
}

#[test]
fn misspelt_key_is_refused_in_one_line_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = broken_tiny(
        dir.path(),
        "key.toml",
        "every_minutes = 10\n",
        "evry_minutes = 10\n",
    );
    let stderr = refusal_of(&path);
    let head = format!(
        "callbudget: error: {}:36: evry_minutes: unknown field `evry_minutes`",
        path.display()
    );
    assert!(stderr.starts_with(&head), "{stderr}");
}

#[test]
fn a_burst_that_is_not_a_finite_number_is_refused_in_one_line_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for burst in ["nan", "inf", "-1.0"] {
        let path = broken_tiny(
            dir.path(),
            "burst.toml",
            "[inventory]\n",
            &format!("[budget]\nburst = {burst}\n\n[inventory]\n"),
        );
        assert_eq!(
            refusal_of(&path),
            format!(
                "callbudget: error: {}:12: budget.burst: must be a number of at least 0\n",
                path.display()
            ),
            "burst = {burst}"
        );
    }
}

#[test]
fn a_scenario_that_cannot_be_read_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("missing.toml");
    assert_eq!(
        refusal_of(&path),
        format!(
            "callbudget: error: cannot read scenario {}: No such file or directory (os error 2)\n",
            path.display()
        )
    );
}

#[test]
fn toml_syntax_error_is_refused_in_one_line_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = broken_tiny(
        dir.path(),
        "syntax.toml",
        "every_minutes = 10\n",
        "every_minutes = 10 10\n",
    );
    let stderr = refusal_of(&path);
    let head = format!("callbudget: error: {}:36: ", path.display());
    assert!(stderr.starts_with(&head), "{stderr}");
}

#[test]
fn toml_syntax_error_names_the_key_on_its_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = broken_tiny(
        dir.path(),
        "syntax.toml",
        "every_minutes = 10\n",
        "every_minutes = 10 10\n",
    );
    let stderr = refusal_of(&path);
    let head = format!("callbudget: error: {}:36: every_minutes: ", path.display());
    assert!(stderr.starts_with(&head), "{stderr}");
}

#[test]
fn value_of_the_wrong_type_names_its_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = broken_tiny(
        dir.path(),
        "type.toml",
        "every_minutes = 10\n",
        "every_minutes = \"ten\"\n",
    );
    let stderr = refusal_of(&path);
    let head = format!("callbudget: error: {}:36: every_minutes: ", path.display());
    assert!(stderr.starts_with(&head), "{stderr}");
}

#[test]
fn unclosed_table_header_is_not_reported_as_a_field_named_bracket() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = broken_tiny(dir.path(), "table.toml", "[inventory]\n", "[inventory\n");
    let stderr = refusal_of(&path);
    let bogus = format!("callbudget: error: {}:11: ]: ", path.display());
    assert!(!stderr.starts_with(&bogus), "{stderr}");
    let head = format!("callbudget: error: {}:11: ", path.display());
    assert!(stderr.starts_with(&head), "{stderr}");
}

#[test]
fn serving_without_an_api_key_is_refused_naming_the_variable() {
    let output = callbudget()
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--now", TINY_END, "--listen", "127.0.0.1:0"])
        .assert()
        .failure()
        .stdout("")
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    assert_eq!(
        stderr,
        "callbudget: error: set MERAKI_DASHBOARD_API_KEY to the API key the simulator should accept\n"
    );
}

#[test]
fn tiny_truth_has_one_episode_at_six_caused_by_the_burst_script() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("truth.jsonl");
    let jsonl = truth_of_tiny(&out, &[]);
    let lines: Vec<serde_json::Value> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("every line is a JSON record"))
        .collect();
    let refused = lines.iter().filter(|r| r["responseCode"] == 429).count() as u64;

    let anomalies = dir.path().join("truth.anomalies.json");
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&anomalies).expect("the anomalies file sits next to the log"),
    )
    .expect("the anomalies file is JSON");
    let orgs = truth["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 1);
    let org = &orgs[0];
    assert_eq!(org["org_id"], "100001");
    assert_eq!(org["start"], "2026-11-19T00:00:00.000000Z");
    assert_eq!(org["end"], "2026-11-20T00:00:00.000000Z");
    assert_eq!(org["requests"], lines.len() as u64);
    assert_eq!(org["http_429s"], refused);

    let consumers = org["consumers"].as_array().expect("consumers");
    let names: Vec<&str> = consumers
        .iter()
        .map(|c| c["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["lldp-poller", "burst-script", "sdk-app"]);
    let requests: u64 = consumers
        .iter()
        .map(|c| c["requests"].as_u64().expect("a count"))
        .sum();
    assert_eq!(requests, lines.len() as u64);

    let episodes = org["episodes"].as_array().expect("episodes");
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    let episode = &episodes[0];
    assert_eq!(episode["start"], "2026-11-19T06:00:00.000000Z");
    assert_eq!(episode["end"], "2026-11-19T06:01:00.000000Z");
    assert_eq!(episode["most_refused"], "burst-script");
    // The burst is the day's only source of 429s.
    assert_eq!(episode["http_429s"], refused);
    assert!(refused > 0);
}

/// `simulate` serving tiny.toml on a free port with `extra` flags; returns the child and the base
/// URL it announced (`http://127.0.0.1:PORT/api/v1`). The caller kills the child.
fn serve_tiny(extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("callbudget"))
        .env(callbudget_collect::dashboard::API_KEY_ENV, API_KEY)
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--now", TINY_END, "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("callbudget starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    // The announcement comes once the listener is bound: no waiting on a clock.
    let announced = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let rest = line.strip_prefix("simulator serving at ")?;
            rest.split_whitespace().next().map(str::to_owned)
        });
    match announced {
        Some(base) => (child, base),
        None => {
            let _ = child.kill();
            panic!("simulate never announced its address");
        }
    }
}

#[test]
fn simulate_serves_relative_links_and_the_newest_page_first_by_default() {
    let (mut child, base) = serve_tiny(&[]);
    let api = Api::at(&base);
    let (t0, t1) = (time("2026-11-19T05:00:00Z"), time("2026-11-19T07:00:00Z"));
    let first = format!(
        "/organizations/{TINY_ORG}/apiRequests?perPage=100&{}",
        window_query(t0, t1)
    );
    let (answer, pages) = block_on(async { (api.get(&first).await, api.pages(&first).await) });
    let _ = child.kill();
    let _ = child.wait();
    let next = answer.link("next").expect("a next page");
    assert!(
        next.starts_with("/organizations/100001/apiRequests?"),
        "{next}"
    );
    // The same scenario, seed and end built here: the log the binary serves, newest first.
    let built = callbudget_sim::Simulator::build(tiny_config()).expect("tiny builds");
    let mut truth: Vec<_> = built
        .records(TINY_ORG)
        .into_iter()
        .filter(|r| r.ts >= t0 && r.ts < t1)
        .collect();
    truth.reverse();
    assert_eq!(truth.len(), 643, "tiny's 05:00 to 07:00");
    assert_eq!(pages.concat(), truth);
}

#[test]
fn a_link_host_with_relative_links_is_refused_in_one_line() {
    let output = callbudget()
        .env(callbudget_collect::dashboard::API_KEY_ENV, API_KEY)
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--now", TINY_END, "--listen", "127.0.0.1:0"])
        .args(["--link-style", "relative", "--link-host", "localhost"])
        .assert()
        .failure()
        .get_output()
        .clone();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "callbudget: error: --link-host writes absolute Links: drop --link-style or make it absolute\n"
    );
}

#[test]
fn an_unknown_hostile_mode_is_refused_naming_the_modes() {
    let output = callbudget()
        .arg("simulate")
        .arg("--scenario")
        .arg(tiny())
        .args(["--hostile", "loop-forever", "--no-serve"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown hostile mode \"loop-forever\": expected one of self-link, empty-next, foreign-org-link, other-endpoint-link, bad-record, future-date, huge-headers, escapes"),
        "{stderr}"
    );
}
