//! Damaged and read-only databases (issue 15 item 6): a file with a damaged page of the request log
//! is refused before anything writes to it and stays byte-for-byte the same; a database that may
//! not be written — the file or its directory read-only — is still read by `query` and `analyze`,
//! which say the audit was not saved; reading never turns a file into a database.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A log of 3,000 requests of one hour from two user agents, the second refused now and then.
fn write_log(path: &Path) {
    let lines: String = (0..3_000)
        .map(|i| {
            let (agent, code) = if i % 3 == 0 {
                ("Bursty/1.0", if i % 9 == 0 { 429 } else { 200 })
            } else {
                ("Calm/2.0", 200)
            };
            format!(
                "{{\"ts\":\"2026-11-19T10:{:02}:{:02}.{:03}Z\",\"method\":\"GET\",\"path\":\"/api/v1/organizations/7/networks\",\"userAgent\":\"{agent}\",\"responseCode\":{code},\"sourceIp\":\"10.0.0.{}\"}}\n",
                i / 50,
                (i % 50) + 5,
                i % 1000,
                i % 7
            )
        })
        .collect();
    std::fs::write(path, lines).expect("the log is written");
}

/// A database in `dir` holding that log as organization "7".
fn database_in(dir: &Path) -> PathBuf {
    let log = dir.join("log.jsonl");
    write_log(&log);
    let db = dir.join("cb.db");
    import_as_org_7(&log, &db);
    db
}

/// `callbudget import` of the JSONL `log` into `db` as organization "7", which must succeed.
fn import_as_org_7(log: &Path, db: &Path) {
    let output = callbudget()
        .arg("import")
        .arg(log)
        .args(["--provider", "meraki", "--format", "jsonl", "--org", "7"])
        .arg("--db")
        .arg(db)
        .output()
        .expect("callbudget runs");
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Zeroes the right-most leaf below the request log's root page, as a lost sector would.
fn zero_a_request_log_page(db: &Path) {
    let (page_size, root): (i64, i64) = {
        let conn = rusqlite::Connection::open(db).expect("the database opens");
        (
            conn.pragma_query_value(None, "page_size", |row| row.get(0))
                .expect("a page size"),
            conn.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'request_log'",
                [],
                |row| row.get(0),
            )
            .expect("the request log's root page"),
        )
    };
    let page_size = page_size as usize;
    let mut bytes = std::fs::read(db).expect("the database is readable");
    let root_at = (root as usize - 1) * page_size;
    // An index's b-tree since schema 6 (a table without rowid).
    assert_eq!(
        bytes[root_at], 0x02,
        "the request log's root is an interior page"
    );
    let child = u32::from_be_bytes(
        bytes[root_at + 8..root_at + 12]
            .try_into()
            .expect("four bytes"),
    ) as usize;
    bytes[(child - 1) * page_size..child * page_size].fill(0);
    std::fs::write(db, &bytes).expect("the database is written");
}

fn set_read_only(path: &Path, read_only: bool) {
    let mut permissions = std::fs::metadata(path)
        .expect("the path exists")
        .permissions();
    permissions.set_readonly(read_only);
    std::fs::set_permissions(path, permissions).expect("permissions are set");
}

fn query_top_consumers(db: &Path) -> std::process::Output {
    callbudget()
        .args(["query", "top_consumers", "--format", "csv", "--db"])
        .arg(db)
        .output()
        .expect("callbudget runs")
}

fn analyze(db: &Path) -> std::process::Output {
    callbudget()
        .args(["analyze", "--format", "json", "--db"])
        .arg(db)
        .output()
        .expect("callbudget runs")
}

const NOT_SAVED: &str = "may not be written here (it or its directory is read-only): the audit was not saved, so the next one cannot compare with it\n";

/// `query` and `analyze` read `db` as they would a writable one, `analyze` saying it did not save.
fn reads_without_writing(db: &Path) {
    let before = std::fs::read(db).expect("the database is readable");
    let query = query_top_consumers(db);
    assert!(query.status.success(), "{}", stderr(&query));
    assert_eq!(
        String::from_utf8_lossy(&query.stdout)
            .lines()
            .take(3)
            .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>(),
        [
            "org_id,user_agent,requests,http_429s",
            "7,Calm/2.0,2000,0",
            "7,Bursty/1.0,1000,334"
        ]
    );
    let analysis = analyze(db);
    assert!(analysis.status.success(), "{}", stderr(&analysis));
    assert_eq!(
        stderr(&analysis),
        format!("callbudget: warning: {} {NOT_SAVED}", db.display())
    );
    let doc: serde_json::Value = serde_json::from_slice(&analysis.stdout).expect("JSON");
    assert_eq!(doc["audits"][0]["requests"], 3_000);
    assert_eq!(doc["audits"][0]["http_429s"], 334);
    assert_eq!(std::fs::read(db).expect("still readable"), before);
}

#[test]
fn a_damaged_page_in_the_request_log_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database_in(dir.path());
    zero_a_request_log_page(&db);
    let before = std::fs::read(&db).expect("the database is readable");
    let log = dir.path().join("log.jsonl");
    let again = callbudget()
        .arg("import")
        .arg(&log)
        .args(["--provider", "meraki", "--format", "jsonl", "--org", "8"])
        .arg("--db")
        .arg(&db)
        .output()
        .expect("callbudget runs");
    assert_eq!(again.status.code(), Some(1));
    let said = stderr(&again);
    assert!(
        said.starts_with(&format!(
            "callbudget: error: {} is damaged (the whole file: ",
            db.display()
        )),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
    assert_eq!(std::fs::read(&db).expect("still readable"), before);
}

#[test]
fn a_read_only_database_file_is_still_queried_and_analysed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database_in(dir.path());
    set_read_only(&db, true);
    reads_without_writing(&db);
    set_read_only(&db, false);
    // Writable again, the audit is saved and nothing is said about it.
    let analysis = analyze(&db);
    assert!(analysis.status.success(), "{}", stderr(&analysis));
    assert_eq!(stderr(&analysis), "");
}

#[test]
fn a_database_in_a_read_only_directory_is_still_queried_and_analysed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sub = dir.path().join("archive");
    std::fs::create_dir(&sub).expect("a directory");
    let db = database_in(&sub);
    std::fs::remove_file(sub.join("log.jsonl")).expect("the log is removed");
    set_read_only(&sub, true);
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&sub)
            .expect("a readable directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    reads_without_writing(&db);
    let after = listing();
    set_read_only(&sub, false);
    assert_eq!(after, ["cb.db"], "nothing was created beside the database");
}

#[test]
fn analysing_an_empty_file_leaves_it_empty() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("empty.db");
    std::fs::write(&db, b"").expect("an empty file");
    for output in [analyze(&db), query_top_consumers(&db)] {
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(
            stderr(&output),
            format!(
                "callbudget: error: {} is empty, not a callbudget database: run `callbudget collect` first\n",
                db.display()
            )
        );
    }
    assert_eq!(std::fs::metadata(&db).expect("still there").len(), 0);
}

/// `callbudget analyze --format json` of `db`, which must succeed, its document.
fn analysis_document(db: &Path) -> serde_json::Value {
    let analysis = analyze(db);
    assert!(analysis.status.success(), "{}", stderr(&analysis));
    serde_json::from_slice(&analysis.stdout).expect("JSON")
}

#[test]
fn a_log_large_enough_for_two_connections_is_analysed_alike_read_only_or_not() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sub = dir.path().join("archive");
    std::fs::create_dir(&sub).expect("a directory");
    // 210,000 requests over three and a half hours (four windows): past the 200,000 rows from
    // which the log is read on two connections.
    let lines: String = (0..210_000u64)
        .map(|i| {
            let ms = i * 60;
            let (agent, code) = if i % 3 == 0 {
                ("Bursty/1.0", if i % 9 == 0 { 429 } else { 200 })
            } else {
                ("Calm/2.0", 200)
            };
            format!(
                "{{\"ts\":\"2026-11-19T{:02}:{:02}:{:02}.{:03}Z\",\"method\":\"GET\",\"path\":\"/api/v1/organizations/7/networks/{}\",\"userAgent\":\"{agent}\",\"responseCode\":{code}}}\n",
                10 + ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1_000 % 60,
                ms % 1_000,
                i % 50,
            )
        })
        .collect();
    let log = dir.path().join("log.jsonl");
    std::fs::write(&log, lines).expect("the log is written");
    let db = sub.join("cb.db");
    import_as_org_7(&log, &db);
    set_read_only(&sub, true);
    let in_read_only_directory = analysis_document(&db);
    set_read_only(&sub, false);
    set_read_only(&db, true);
    let read_only_file = analysis_document(&db);
    set_read_only(&db, false);
    let writable = analysis_document(&db);
    assert_eq!(writable["audits"][0]["requests"], 210_000);
    assert_eq!(writable["audits"][0]["http_429s"], 23_334);
    assert_eq!(in_read_only_directory, writable);
    assert_eq!(read_only_file, writable);
}
