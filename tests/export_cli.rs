//! `callbudget export` round trips: files read back with polars hold the same rows and types.

use crate::support::{acme_week_config, collect_acme_range, serve, time};
use assert_cmd::Command;
use polars::prelude::*;
use rusqlite::Connection;
use std::path::Path;

fn collect_acme(db: &Path) {
    let handle = serve(acme_week_config("2026-11-20T00:00:00Z"));
    collect_acme_range(
        &handle,
        db,
        time("2026-11-19T10:00:00Z"),
        time("2026-11-19T12:00:00Z"),
    );
}

fn export(db: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::cargo_bin("callbudget")
        .expect("the callbudget binary is built")
        .args(["export", "--db"])
        .arg(db)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("callbudget runs")
}

/// [`export`], which must succeed.
fn export_ok(db: &Path, out: &Path, extra: &[&str]) {
    let output = export(db, out, extra);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stored(db: &Path, sql: &str) -> Vec<Option<String>> {
    let conn = Connection::open(db).expect("the database opens");
    let mut statement = conn.prepare(sql).expect("the query prepares");
    statement
        .query_map([], |row| row.get(0))
        .expect("the query runs")
        .collect::<Result<_, _>>()
        .expect("the rows read")
}

fn texts(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    let values = df
        .column(column)
        .expect("the column exists")
        .str()
        .expect("a text column");
    (0..values.len())
        .map(|i| values.get(i).map(str::to_owned))
        .collect()
}

#[test]
fn parquet_is_partitioned_by_org_and_day_and_reads_back_with_the_same_rows_and_types() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_acme(&db);
    let out = dir.path().join("out");
    export_ok(&db, &out, &["--format", "parquet"]);
    let file = out.join("api_requests/org=549236/day=2026-11-19/data.parquet");
    let df = ParquetReader::new(std::fs::File::open(&file).expect("the partition exists"))
        .finish()
        .expect("the Parquet file reads");
    let paths = stored(&db, "SELECT path FROM api_requests ORDER BY rowid");
    assert_eq!(df.height(), paths.len());
    assert_eq!(texts(&df, "path"), paths);
    assert_eq!(
        texts(&df, "ts"),
        stored(&db, "SELECT ts FROM api_requests ORDER BY rowid")
    );
    let schema = df.schema();
    assert_eq!(schema.get("window_id"), Some(&DataType::Int64));
    assert_eq!(schema.get("org_id"), Some(&DataType::String));
    assert_eq!(schema.get("ts"), Some(&DataType::String));
    assert_eq!(schema.get("response_code"), Some(&DataType::Int64));
    assert_eq!(schema.get("query_string"), Some(&DataType::String));
    let codes = df
        .column("response_code")
        .expect("response_code")
        .i64()
        .expect("integers");
    let codes: Vec<Option<i64>> = (0..codes.len()).map(|i| codes.get(i)).collect();
    let conn = Connection::open(&db).expect("the database opens");
    let stored_codes: Vec<Option<i64>> = conn
        .prepare("SELECT response_code FROM api_requests ORDER BY rowid")
        .expect("prepares")
        .query_map([], |row| row.get(0))
        .expect("runs")
        .collect::<Result<_, _>>()
        .expect("reads");
    assert_eq!(codes, stored_codes);
    for table in [
        "collection_windows",
        "response_code_counts",
        "overview_counts",
    ] {
        assert!(
            out.join(table)
                .join("org=549236/day=2026-11-19/data.parquet")
                .exists(),
            "{table}"
        );
    }
}

#[test]
fn csv_writes_one_file_per_table_that_reads_back_and_unknown_tables_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_acme(&db);
    let out = dir.path().join("csv");
    export_ok(&db, &out, &["--format", "csv", "--table", "api_requests"]);
    let mut entries: Vec<String> = std::fs::read_dir(&out)
        .expect("the directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    entries.sort();
    // The table, and the manifest that says which database it is an export of.
    assert_eq!(entries, ["api_requests.csv", "callbudget-export.json"]);
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(out.join("api_requests.csv")))
        .expect("the CSV opens")
        .finish()
        .expect("the CSV reads");
    assert_eq!(
        texts(&df, "user_agent"),
        stored(&db, "SELECT user_agent FROM api_requests ORDER BY rowid")
    );

    let refused = export(&db, &out, &["--format", "csv", "--table", "requests"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("callbudget: error: no table named \"requests\" is exported; the tables are: api_requests, "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

/// Issue 15: `export` followed a symlink inside `--out` and overwrote its target. Since issue 30 a
/// directory that holds no export is refused whole, and one that holds this database's export is
/// replaced whole: nothing is ever written inside a directory someone else filled.
#[cfg(unix)]
#[test]
fn export_never_writes_through_a_link_planted_in_the_output_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_acme(&db);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("the output directory");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").expect("a file to protect");
    std::os::unix::fs::symlink(&victim, out.join("organizations.csv")).expect("a planted link");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("a directory to protect");
    std::os::unix::fs::symlink(&elsewhere, out.join("api_requests")).expect("a planted link");

    let csv = export(&db, &out, &["--format", "csv", "--table", "organizations"]);
    assert_eq!(csv.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&csv.stderr),
        format!(
            "callbudget: error: {} is not empty and holds no callbudget export (callbudget-export.json): nothing written; export into an empty or new directory\n",
            out.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("it reads"),
        "keep me"
    );
    assert!(out.join("organizations.csv").is_symlink());

    // A previous export of this database, with links planted in it since: replaced whole, the
    // links removed as links.
    let fresh = dir.path().join("fresh");
    export_ok(
        &db,
        &fresh,
        &["--format", "parquet", "--table", "api_requests"],
    );
    std::os::unix::fs::symlink(&victim, fresh.join("organizations.csv")).expect("a planted link");
    std::os::unix::fs::symlink(&elsewhere, fresh.join("api_requests/org=549236/x"))
        .expect("a planted link");
    export_ok(
        &db,
        &fresh,
        &["--format", "csv", "--table", "organizations"],
    );
    let written = fresh.join("organizations.csv");
    assert!(!written.symlink_metadata().expect("it exists").is_symlink());
    assert!(
        std::fs::read_to_string(&written)
            .expect("it reads")
            .starts_with("id,")
    );
    assert!(!fresh.join("api_requests").exists());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("it reads"),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).expect("it reads").count(), 0);
}

/// Schema 6: `api_requests` comes in the order the database keeps it — window by window (in the
/// order they were made), each in time order — whatever order the requests were stored in: a log
/// imported newest first makes its 11:00 window before its 10:00 one, and its requests reversed.
#[test]
fn api_requests_are_exported_window_by_window_each_in_time_order() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("newest-first.jsonl");
    std::fs::write(
        &log,
        "{\"ts\":\"2026-11-20T11:00:05Z\",\"path\":\"/d\"}\n\
         {\"ts\":\"2026-11-20T10:30:00Z\",\"path\":\"/c\"}\n\
         {\"ts\":\"2026-11-20T10:00:09Z\",\"path\":\"/b\"}\n\
         {\"ts\":\"2026-11-20T10:00:01Z\",\"path\":\"/a\"}\n",
    )
    .expect("the log is written");
    let db = dir.path().join("cb.db");
    let import = Command::cargo_bin("callbudget")
        .expect("the callbudget binary is built")
        .arg("import")
        .arg(&log)
        .args([
            "--provider",
            "meraki",
            "--format",
            "jsonl",
            "--org",
            "7",
            "--db",
        ])
        .arg(&db)
        .output()
        .expect("callbudget runs");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    // Stored in the file's order.
    assert_eq!(
        stored(&db, "SELECT path FROM api_requests ORDER BY rowid"),
        [Some("/d"), Some("/c"), Some("/b"), Some("/a")].map(|p| p.map(str::to_owned))
    );
    let out = dir.path().join("csv");
    export_ok(&db, &out, &["--format", "csv", "--table", "api_requests"]);
    let csv = std::fs::read_to_string(out.join("api_requests.csv")).expect("the CSV reads");
    let paths: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').find(|field| field.starts_with('/')))
        .collect();
    assert_eq!(paths, ["/d", "/a", "/b", "/c"]);
}
