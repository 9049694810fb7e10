//! The first hour of a new user (issue 19): the README's commands and the docs' offline recipes run
//! as written (issue 25: every documented command is run here or said why not), usage errors exit
//! 2 everywhere, an unknown organization leaves nothing behind, and the shell completions and
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

/// A file of the documentation (`README.md`, `docs/import.md`, …), as committed.
fn doc(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path} is readable: {e}"))
}

/// The docs' sections whose commands run on the demo's database, at the default path, in order.
const ON_THE_DEMO: [(&str, &str); 3] = [
    ("docs/analysis.md", "# Analysing"),
    ("docs/reports.md", "# Reports"),
    ("docs/database.md", "## Querying the database"),
];

/// The docs' sections whose commands run on the XDR sample's log, in order.
const ON_THE_XDR_SAMPLE: [(&str, &str); 2] = [
    ("docs/import.md", "## Importing a request log"),
    ("docs/import.md", "## The XDR sample"),
];

/// The sections with commands this file does not run, and why. Every other `callbudget` line of
/// an `sh` block in README.md or docs/ is run.
const NOT_RUN: [(&str, &str, &str); 7] = [
    (
        "README.md",
        "# callbudget",
        "after the quick start: the nightly job, which needs an API key and a real organization",
    ),
    (
        "docs/collecting.md",
        "# Collecting",
        "needs an API key and a real organization",
    ),
    (
        "docs/collecting.md",
        "## Try it offline",
        "a simulator left running on a fixed port, then a minute of paced collection: \
         tests/collect_cli.rs collects from the simulator on port 0",
    ),
    (
        "docs/reports.md",
        "## Metrics: Prometheus and Grafana",
        "an audit: needs an API key and a real organization",
    ),
    (
        "docs/nightly.md",
        "## Alerts when something new appears",
        "an audit: needs an API key, a real organization and a webhook",
    ),
    (
        "docs/simulator.md",
        "# The simulator",
        "a server that runs until stopped: tests/sim_cli.rs starts it on port 0",
    ),
    (
        "docs/architecture.md",
        "### Shell completions and the manual page",
        "writes into ~ and /usr/local: the completion and manual page tests below run them",
    ),
];

/// A Markdown file's sections: each heading (`## Reports`, as written) and the text up to the next
/// heading of any level, headings inside fenced code (a `# comment` in a shell block) not counted.
/// The text before the first heading comes under the heading "".
fn sections(text: &str) -> Vec<(&str, &str)> {
    let mut sections = Vec::new();
    let (mut heading, mut start, mut offset, mut in_fence) = ("", 0, 0, false);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && trimmed.starts_with('#') && trimmed.contains("# ") {
            sections.push((heading, &text[start..offset]));
            heading = trimmed;
            start = offset + line.len();
        }
        offset += line.len();
    }
    sections.push((heading, &text[start..]));
    sections
}

/// The text of the section `heading` of `file`.
fn section<'a>(text: &'a str, file: &str, heading: &str) -> &'a str {
    sections(text)
        .into_iter()
        .find(|(h, _)| *h == heading)
        .unwrap_or_else(|| panic!("{file} has no {heading:?}"))
        .1
}

/// The `callbudget` command lines of the `sh` blocks of `text`, comments cut off;
/// `cargo run -- ARGS` counts as `callbudget ARGS`.
fn commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
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

/// The README's quick start: its text before the first `##` heading, up to the
/// real-organization example, which needs an API key.
fn quick_start(readme: &str) -> &str {
    let top = section(readme, "README.md", "# callbudget");
    &top[..top.find("On a real organization").unwrap_or(top.len())]
}

/// The commands of the sections `which`, in order.
fn commands_of(which: &[(&str, &str)]) -> Vec<String> {
    which
        .iter()
        .flat_map(|(file, heading)| commands(section(&doc(file), file, heading)))
        .collect()
}

/// Runs one documented line in `cwd` as a shell would (words split at spaces, `> FILE`
/// redirected), with `extra` arguments appended; returns the output.
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
    let readme = doc("README.md");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cwd = dir.path();

    // The README's first commands are the two that need nothing installed.
    let first_block: Vec<&str> = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|block| block.split("```").next())
        .expect("the README has an sh block")
        .lines()
        .map(|l| l.split(" #").next().unwrap_or(l).trim())
        .collect();
    assert_eq!(first_block, ["cargo run -- demo", "cargo test"]);

    // The quick start: the demo, then the query its last line suggests.
    let quick_start = commands(quick_start(&readme));
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

    // The docs' recipes that read a database, on the demo's, at the default path.
    std::fs::copy(
        cwd.join("callbudget-demo/callbudget.db"),
        cwd.join("callbudget.db"),
    )
    .expect("the demo's database is copied");
    let recipes = commands_of(&ON_THE_DEMO);
    for line in &recipes {
        let output = run_line(cwd, line, &[]);
        assert_ran(line, &output);
    }
    assert_eq!(recipes.len(), 8, "the recipes counted above: {recipes:#?}");
    assert!(cwd.join("report/report.html").is_file());
    assert!(cwd.join("export/api_requests").is_dir());
    let episodes = std::fs::read_to_string(cwd.join("episodes.csv")).expect("the redirected CSV");
    assert!(episodes.starts_with("org_id,"), "{episodes}");
}

#[test]
fn the_docs_import_recipes_run_as_written_on_the_xdr_sample() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cwd = dir.path();
    // The files the recipes take as given: a proxy's log (the XDR sample's), a budget model (the
    // sample's), and what `cargo run --example xdr-sample > xdr-day.log` writes (the same code).
    let mut log = Vec::new();
    crate::import_cli::xdr_sample::write_xdr_sample(&mut log).expect("the sample");
    std::fs::write(cwd.join("proxy-access.log"), &log).expect("written");
    std::fs::write(cwd.join("xdr-day.log"), &log).expect("written");
    std::fs::copy(
        crate::support::sample_path("xdr-model.toml"),
        cwd.join("my.toml"),
    )
    .expect("the sample model is copied");
    let import_md = doc("docs/import.md");
    assert!(
        section(&import_md, "docs/import.md", "## The XDR sample")
            .contains("cargo run --example xdr-sample > xdr-day.log"),
        "the recipe still writes the log this test writes"
    );

    let recipes = commands_of(&ON_THE_XDR_SAMPLE);
    let mut last = None;
    for line in &recipes {
        let output = run_line(cwd, line, &[]);
        assert_ran(line, &output);
        last = Some(output);
    }
    assert_eq!(recipes.len(), 5, "the recipes counted above: {recipes:#?}");

    // What the docs show the last `analyze` saying, the times elided (`…`), is what it says.
    let said = String::from_utf8(last.expect("a recipe ran").stdout).expect("UTF-8");
    let shown = section(&import_md, "docs/import.md", "## The XDR sample")
        .split("```")
        .nth(3)
        .expect("the output block after the commands");
    for line in shown.lines() {
        for part in line.split('…').map(str::trim).filter(|p| !p.is_empty()) {
            let part = part.trim_end_matches(';');
            assert!(
                said.contains(part),
                "analyze does not say {part:?}:\n{said}"
            );
        }
    }
}

#[test]
fn every_documented_command_is_run_or_said_why_not() {
    let mut files = vec!["README.md".to_owned()];
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in std::fs::read_dir(docs).expect("docs/ is readable") {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            files.push(format!("docs/{name}"));
        }
    }
    let quick_start = commands(quick_start(&doc("README.md")));
    let run_sections: Vec<(&str, &str)> =
        ON_THE_DEMO.into_iter().chain(ON_THE_XDR_SAMPLE).collect();

    let mut unaccounted = Vec::new();
    let mut excused = vec![0; NOT_RUN.len()];
    for file in &files {
        let text = doc(file);
        for (heading, body) in sections(&text) {
            let section_runs = run_sections.contains(&(file.as_str(), heading));
            let not_run = NOT_RUN
                .iter()
                .position(|(f, h, _)| f == file && *h == heading);
            for command in commands(body) {
                let runs = section_runs || (file == "README.md" && quick_start.contains(&command));
                match not_run {
                    _ if runs => {}
                    Some(i) => excused[i] += 1,
                    None => unaccounted.push(format!("{file} {heading:?}: {command}")),
                }
            }
        }
    }
    assert!(
        unaccounted.is_empty(),
        "documented commands neither run here nor listed in NOT_RUN: {unaccounted:#?}"
    );
    for ((file, heading, _), count) in NOT_RUN.iter().zip(excused) {
        assert!(
            count > 0,
            "NOT_RUN lists {file} {heading:?}, which has no command left to excuse"
        );
    }
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
