//! The text people read, pinned as snapshots (insta): the `analyze` table and Markdown, `query`
//! tables, and each subcommand's `--help`. A change shows as a diff of what a reader sees;
//! accept it deliberately (`INSTA_UPDATE=always cargo test snapshots`, then review the `.snap`
//! files). Under CI a snapshot that differs fails.

use crate::support::{
    TINY_END, TINY_ORG, collect_into, fast_client_config, serve, time, tiny_config,
};
use assert_cmd::Command;
use callbudget_collect::{CollectOptions, OrgSelection};
use callbudget_store::OrgId;
use std::path::Path;

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

/// tiny's whole day, collected over HTTP from a simulator whose clock stands still at its end,
/// so the same bytes land in the database every run.
fn collect_tiny(db: &Path) {
    let mut config = tiny_config();
    config.clock = callbudget_sim::ClockMode::Frozen;
    let handle = serve(config);
    let summary = collect_into(
        db,
        fast_client_config(&handle),
        CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
            since: Some(time("2026-11-19T00:00:00Z")),
            until: Some(time(TINY_END)),
            ..CollectOptions::default()
        },
    );
    assert_eq!(summary.failed().count(), 0, "tiny is collected");
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("callbudget runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn the_texts_people_read_of_an_audit_of_tiny() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("tiny.db");
    collect_tiny(&db);
    let analyze = |format: &str| {
        stdout_of(
            callbudget()
                .args(["analyze", "--since", "24h", "--format", format, "--db"])
                .arg(&db),
        )
    };
    insta::assert_snapshot!("analyze_table_tiny", analyze("table"));
    insta::assert_snapshot!("analyze_markdown_tiny", analyze("markdown"));
    let query = |name: &str, params: &[&str]| {
        stdout_of(
            callbudget()
                .args(["query", name])
                .args(params)
                .arg("--db")
                .arg(&db),
        )
    };
    insta::assert_snapshot!(
        "query_top_consumers_tiny",
        query("top_consumers", &["--param", "hours=24"])
    );
    insta::assert_snapshot!(
        "query_http_429_episodes_tiny",
        query("http_429_episodes", &[])
    );
    insta::assert_snapshot!(
        "query_list",
        stdout_of(callbudget().args(["query", "--list"]))
    );
}

#[test]
fn every_subcommand_explains_itself() {
    insta::assert_snapshot!("help", stdout_of(callbudget().arg("--help")));
    for command in [
        "collect",
        "analyze",
        "report",
        "audit",
        "demo",
        "query",
        "export",
        "simulate",
        "import",
        "completions",
        "man",
    ] {
        insta::assert_snapshot!(
            format!("help_{command}"),
            stdout_of(callbudget().args([command, "--help"]))
        );
    }
}
