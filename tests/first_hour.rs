//! The first hour of a new user (issue 19): the README's commands run as written, usage errors
//! exit 2 everywhere, an unknown organization leaves nothing behind, and the shell completions and
//! manual pages cover every subcommand.

use crate::support::{API_KEY, TINY_ORG, serve, tiny_config};
use assert_cmd::Command;
use clap::CommandFactory;
use std::path::Path;

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    cmd.env_remove("MERAKI_DASHBOARD_API_KEY")
        .timeout(std::time::Duration::from_secs(300));
    cmd
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable")
}

/// The `callbudget` command lines of the `sh` blocks between the heading `from` and the next
/// heading (with `None`, of the README's quick start: its text before the first `##` heading),
/// comments cut off; `cargo run -- ARGS` counts as `callbudget ARGS`.
fn readme_commands(readme: &str, from: Option<&str>) -> Vec<String> {
    let section: &str = match from {
        // Up to the real-organization example, which needs an API key.
        None => {
            &readme[..readme
                .find("On a real organization")
                .unwrap_or(readme.len())]
        }
        Some(heading) => {
            let start = readme
                .find(&format!("\n{heading}\n"))
                .unwrap_or_else(|| panic!("README has no {heading:?}"));
            // Up to the next heading of any level: a subsection has recipes of its own.
            let rest = &readme[start + heading.len() + 2..];
            let end = rest.find("\n#").unwrap_or(rest.len());
            &rest[..end]
        }
    };
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            text if in_sh && text.starts_with("callbudget ") => {
                let command = text.split(" #").next().unwrap_or(text).trim();
                commands.push(command.to_owned());
            }
            text if in_sh && text.starts_with("cargo run -- ") => {
                let command = text.split(" #").next().unwrap_or(text).trim();
                commands.push(command.replacen("cargo run --", "callbudget", 1));
            }
            _ => {}
        }
    }
    commands
}

/// Runs one README line in `cwd` as a shell would (words split at spaces, `> FILE` redirected),
/// with `extra` arguments appended; returns the output.
fn run_line(cwd: &Path, line: &str, extra: &[&str]) -> std::process::Output {
    let (command, redirect) = match line.split_once(" > ") {
        Some((command, file)) => (command, Some(file.trim())),
        None => (line, None),
    };
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("callbudget"), "{line}");
    let output = callbudget()
        .current_dir(cwd)
        .args(words)
        .args(extra)
        .output()
        .expect("callbudget runs");
    if let Some(file) = redirect {
        std::fs::write(cwd.join(file), &output.stdout).expect("the redirected output is written");
    }
    output
}

fn assert_ran(line: &str, output: &std::process::Output) {
    // `--fail-on` turns a finding into exit code 3 on purpose: that is the command working.
    let expected = if line.contains("--fail-on") { 3 } else { 0 };
    assert_eq!(
        output.status.code(),
        Some(expected),
        "`{line}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_readmes_commands_run_as_written_on_the_demo() {
    let readme = readme();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cwd = dir.path();

    // The quick start: the demo, then the query its last line suggests.
    let quick_start = readme_commands(&readme, None);
    assert_eq!(
        quick_start,
        [
            "callbudget demo",
            "callbudget query top_consumers --db callbudget-demo/callbudget.db"
        ]
    );
    // The one liberty taken: one day of the week instead of seven, for the test's time.
    let demo = run_line(cwd, &quick_start[0], &["--days", "1"]);
    assert_ran(&quick_start[0], &demo);
    let next = String::from_utf8_lossy(&demo.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("next:").map(|c| c.trim().to_owned()))
        .expect("the demo ends with what to do next");
    assert_eq!(
        next, quick_start[1],
        "the demo suggests the README's command"
    );
    let query = run_line(cwd, &quick_start[1], &[]);
    assert_ran(&quick_start[1], &query);
    assert!(
        String::from_utf8_lossy(&query.stdout).contains("NocPoller/2.1 Acme"),
        "{}",
        String::from_utf8_lossy(&query.stdout)
    );
    let html = std::fs::read_to_string(cwd.join("callbudget-demo/report.html"))
        .expect("the demo wrote its report");
    assert!(
        html.contains("callbudget query top_consumers --db "),
        "the report's query box uses the README's form"
    );

    // The recipes that read a database, on the demo's, at the default path.
    std::fs::copy(
        cwd.join("callbudget-demo/callbudget.db"),
        cwd.join("callbudget.db"),
    )
    .expect("the demo's database is copied");
    let mut ran = 0;
    for section in ["## Analysing", "## Reports", "## Querying the database"] {
        for line in readme_commands(&readme, Some(section)) {
            let output = run_line(cwd, &line, &[]);
            assert_ran(&line, &output);
            ran += 1;
        }
    }
    assert_eq!(ran, 8, "the recipes counted above");
    assert!(cwd.join("report/report.html").is_file());
    assert!(cwd.join("export/api_requests").is_dir());
    let episodes = std::fs::read_to_string(cwd.join("episodes.csv")).expect("the redirected CSV");
    assert!(episodes.starts_with("org_id,"), "{episodes}");
}

#[test]
fn usage_errors_exit_2_in_every_subcommand() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let db = db.to_str().expect("a UTF-8 path");
    let tiny = crate::support::sample_path("tiny.toml");
    let tiny = tiny.to_str().expect("a UTF-8 path");
    let cases: [(&[&str], &str); 9] = [
        (
            &["analyze", "--since", "bogus"],
            "invalid value 'bogus' for '--since <TIME>'",
        ),
        (
            &["collect", "--org", "1", "--since", "bogus"],
            "invalid value 'bogus' for '--since <TIME>'",
        ),
        (
            &["report", "--out"],
            "a value is required for '--out <DIR>'",
        ),
        (
            &["completions", "tcsh"],
            "invalid value 'tcsh' for '<SHELL>'",
        ),
        (
            &["query", "top_consumers", "--db", db, "--param", "hours=abc"],
            "callbudget: error: query top_consumers: parameter hours is a number; got \"abc\"",
        ),
        (
            &["query", "top_consumer", "--db", db],
            "callbudget: error: no query named \"top_consumer\"",
        ),
        (
            &["query", "top_consumers", "--db", db, "--param", "hours"],
            "callbudget: error: a parameter is NAME=VALUE",
        ),
        (
            &[
                "export", "--db", db, "--format", "csv", "--out", "x", "--table", "nope",
            ],
            "callbudget: error: ",
        ),
        (
            &[
                "simulate",
                "--scenario",
                tiny,
                "--link-host",
                "example.com",
                "--link-style",
                "relative",
            ],
            "callbudget: error: --link-host writes absolute Links",
        ),
    ];
    for (args, says) in cases {
        let output = callbudget()
            .args(args)
            .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
            .output()
            .expect("callbudget runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // None of them made a database.
    assert!(!Path::new(db).exists());
}

#[test]
fn an_unknown_organization_is_named_once_and_leaves_no_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let handle = serve(tiny_config());
    let output = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(&db)
        .args(["--org", "999", "--base-url", &handle.base_url()])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "callbudget: error: organization 999 is not among the organizations this API key can see\n"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "no summary");
    assert!(!db.exists());
    assert_ne!(TINY_ORG, "999");
}

/// Every subcommand's name, as the command line defines them.
fn subcommands() -> Vec<String> {
    callbudget::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

fn stdout(args: &[&str]) -> String {
    let output = callbudget().args(args).output().expect("callbudget runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn completions_cover_every_subcommand() {
    let names = subcommands();
    assert_eq!(names.len(), 11, "{names:?}");
    let bash = stdout(&["completions", "bash"]);
    assert!(bash.starts_with("_callbudget() {"), "{}", &bash[..40]);
    assert!(
        bash.contains("complete -F _callbudget"),
        "the script registers itself"
    );
    // The words offered after `callbudget`: every subcommand (and clap's help).
    let offered = bash
        .lines()
        .find(|l| l.trim_start().starts_with("opts=\"-v -q -h -V"))
        .expect("the top level's words");
    for name in &names {
        assert!(
            offered.contains(&format!(" {name} ")),
            "bash offers {name}: {offered}"
        );
        // And then each one's own options.
        assert!(
            bash.contains(&format!("callbudget__subcmd__{name})")),
            "bash: {name}"
        );
    }
    assert!(bash.contains("--notify-format"));
    let zsh = stdout(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef callbudget"));
    let fish = stdout(&["completions", "fish"]);
    for name in &names {
        assert!(fish.contains(&format!("-a \"{name}\"")), "fish: {name}");
    }
}

#[test]
fn the_manual_pages_are_roff_with_a_name_section() {
    let page = stdout(&["man"]);
    let macros: Vec<&str> = page.lines().filter(|l| l.starts_with('.')).collect();
    assert!(
        macros.contains(&".TH callbudget 1  \"callbudget 0.1.0\" "),
        "{macros:?}"
    );
    assert!(
        page.contains(
            ".SH NAME\ncallbudget \\- Audits how a Cisco Meraki organization spends its shared API call budget\n"
        ),
        "{page}"
    );
    for section in [
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(macros.contains(&section), "{section}");
    }
    for name in subcommands() {
        assert!(
            page.contains(&format!("callbudget\\-{name}(1)")),
            "the page lists {name}"
        );
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("man1");
    let output = callbudget()
        .args(["man", "-q", "--out"])
        .arg(&out)
        .output()
        .expect("callbudget runs");
    assert!(output.status.success());
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .expect("the pages' directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    let mut expected: Vec<String> = subcommands()
        .into_iter()
        .filter(|n| n != "help")
        .map(|n| format!("callbudget-{n}.1"))
        .chain(["callbudget.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    let audit = std::fs::read_to_string(out.join("callbudget-audit.1")).expect("a page");
    assert!(
        audit.contains(
            ".SH NAME\ncallbudget\\-audit \\- Collect, analyse and report in one command"
        ),
        "{audit}"
    );
}
