//! The store's specification: migrations, refusal of foreign files, idempotent windows, round trips.

use super::*;
use callbudget_api::timestamp;
use callbudget_api::{
    Admin, ApiAccess, ApiClient, Organization, RequestRecord, RequestsOverview, ResponseCodeCount,
    ResponseCodeInterval,
};
use std::collections::BTreeMap;

fn t(text: &str) -> DateTime<Utc> {
    timestamp::parse(text).unwrap()
}

fn org() -> OrgId {
    OrgId::new("549236")
}

fn meta(endpoint: Endpoint, filter: CollectionFilter, t0: &str, t1: &str) -> WindowMeta {
    WindowMeta {
        org_id: org(),
        endpoint,
        filter,
        t0: t(t0),
        t1: t(t1),
        started_at: t("2026-11-21T00:00:00Z"),
        finished_at: t("2026-11-21T00:00:05Z"),
        calls: 3,
        http_429s: 1,
    }
}

fn requests(t0: &str, t1: &str) -> WindowMeta {
    meta(Endpoint::ApiRequests, CollectionFilter::None, t0, t1)
}

/// A record with only `ts` and `path` set.
fn record(ts: &str, path: &str) -> RequestRecord {
    RequestRecord {
        admin_id: None,
        method: None,
        host: None,
        path: Some(path.to_owned()),
        query_string: None,
        user_agent: None,
        ts: t(ts),
        response_code: None,
        source_ip: None,
        version: None,
        operation_id: None,
        client: None,
    }
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
}

fn paths(store: &Store) -> Vec<String> {
    store
        .request_records(
            &org(),
            &CollectionFilter::None,
            t("2000-01-01T00:00:00Z"),
            t("2100-01-01T00:00:00Z"),
        )
        .unwrap()
        .into_iter()
        .map(|r| r.path.unwrap())
        .collect()
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

// ---- migrations and opening ----

#[test]
fn a_new_database_is_migrated_to_the_current_schema_and_stamped() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(SCHEMA_VERSION, MIGRATION_SQL.len());
    assert_eq!(user_version(&store.conn), SCHEMA_VERSION as i64);
    let application_id: i32 = store
        .conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    assert_eq!(application_id, 0x4342_4447);
    assert_eq!(APPLICATION_ID, 1_128_416_327);
    let tables: Vec<String> = store
        .conn
        .prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "admins",
            "api_request_rows",
            "api_requests",
            "audits",
            "collection_windows",
            "consumer_summary",
            "findings",
            "http_429s_by_consumer_hour",
            "latest_findings",
            "metadata",
            "operation_volume",
            "org_providers",
            "organizations",
            "overview_counts",
            "pending_announcements",
            "request_endpoints",
            "request_log",
            "request_log_ids",
            "request_sources",
            "requests_per_minute",
            "response_code_counts",
            "unfiltered_api_requests",
        ]
    );
    assert_eq!(
        store.metadata("application").unwrap().as_deref(),
        Some("callbudget")
    );
    assert_eq!(
        store.metadata("schema_version").unwrap(),
        Some(SCHEMA_VERSION.to_string())
    );
    assert_eq!(
        store.metadata("tool_version").unwrap().as_deref(),
        Some(callbudget_api::TOOL_VERSION)
    );
    let created_at = store.metadata("created_at").unwrap().unwrap();
    assert_eq!(created_at.len(), "2026-11-20T10:15:02.120000Z".len());
    assert_eq!(timestamp::format(&t(&created_at)), created_at);
}

#[test]
fn migrating_twice_is_a_no_op() {
    migrations().validate().unwrap();
    let mut conn = Connection::open_in_memory().unwrap();
    migrations().to_latest(&mut conn).unwrap();
    conn.execute("INSERT INTO metadata (key, value) VALUES ('k', 'v')", [])
        .unwrap();
    migrations().to_latest(&mut conn).unwrap();
    assert_eq!(user_version(&conn), SCHEMA_VERSION as i64);
    let value: String = conn
        .query_row("SELECT value FROM metadata WHERE key = 'k'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(value, "v");
}

#[test]
fn reopening_a_database_keeps_its_version_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let created_at = {
        let mut store = Store::open(&path).unwrap();
        store
            .store_request_window(
                &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
                &[record("2026-11-20T10:15:02.12Z", "/a")],
            )
            .unwrap();
        store.metadata("created_at").unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(user_version(&store.conn), SCHEMA_VERSION as i64);
    assert_eq!(store.metadata("created_at").unwrap(), created_at);
    assert_eq!(paths(&store), ["/a"]);
    assert_eq!(store.windows(&org()).unwrap().len(), 1);
}

#[test]
fn wal_mode_and_foreign_keys_are_on_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("audit.db")).unwrap();
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = store
        .conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .unwrap();
    assert_eq!(foreign_keys, 1);
}

#[test]
fn a_bulk_load_writes_without_journal_or_foreign_keys_and_ends_as_an_ordinary_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("cb.db")).unwrap();
    let pragma = |store: &Store, name: &str| -> String {
        store
            .conn
            .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|v| match v {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(s) => s,
                other => format!("{other:?}"),
            })
            .unwrap()
    };
    store.begin_bulk_load().unwrap();
    assert_eq!(
        ["journal_mode", "synchronous", "foreign_keys"].map(|p| pragma(&store, p)),
        ["off", "0", "0"]
    );
    store.end_bulk_load().unwrap();
    assert_eq!(
        ["journal_mode", "synchronous", "foreign_keys"].map(|p| pragma(&store, p)),
        ["wal", "1", "1"]
    );
}

#[test]
fn a_missing_or_empty_file_becomes_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for path in [missing, empty] {
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn), SCHEMA_VERSION as i64);
        assert_eq!(store.path(), path);
    }
}

/// Opens `path`, expects a refusal, and checks that the file did not change by a byte.
fn refused_untouched(path: &Path) -> StoreError {
    let before = std::fs::read(path).unwrap();
    let err = Store::open(path).unwrap_err();
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "{} was modified",
        path.display()
    );
    err
}

#[test]
fn a_database_from_a_newer_callbudget_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION as i64 + 1)
            .unwrap();
    }
    let err = refused_untouched(&path);
    let newer = SCHEMA_VERSION as i64 + 1;
    assert!(matches!(
        err,
        StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
            ..
        } if found == newer
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "{} has schema version {newer} but this callbudget knows up to {SCHEMA_VERSION}: upgrade callbudget",
            path.display()
        )
    );
}

#[test]
fn another_programs_sqlite_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE foo (a); CREATE TABLE bar (b); INSERT INTO foo VALUES (1);",
        )
        .unwrap();
    }
    let err = refused_untouched(&path);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a callbudget database (it has tables bar, foo)",
            path.display()
        )
    );
}

#[test]
fn a_database_with_another_application_id_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", 0x0F05_5112)
            .unwrap();
    }
    let err = refused_untouched(&path);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a callbudget database (its application_id is 0x0f055112, callbudget's is \
             0x43424447)",
            path.display()
        )
    );
}

#[test]
fn a_text_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "shopping list\nmilk\n").unwrap();
    let err = refused_untouched(&path);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a callbudget database (it is not an SQLite database)",
            path.display()
        )
    );
}

#[test]
fn a_damaged_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    drop(Store::open(&path).unwrap());
    // Keep the 100-byte header, garble the schema's b-tree page that follows it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100..1024].fill(0xFF);
    std::fs::write(&path, &bytes).unwrap();
    let err = refused_untouched(&path);
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        callbudget_api::text::error_chain(&err).starts_with(&format!(
            "{} is damaged or not a database: ",
            path.display()
        )),
        "{err}"
    );
}

/// A database at `path` holding 3,000 requests of one hour: a request log of many pages.
fn database_with_a_request_log(path: &Path) {
    let mut store = Store::open(path).unwrap();
    let base = t("2026-11-20T10:00:00Z");
    let records: Vec<RequestRecord> = (0..3_000)
        .map(|i| {
            let mut r = record(
                &timestamp::format(&(base + chrono::TimeDelta::milliseconds(i * 1_000))),
                "/api/v1/organizations/549236/networks",
            );
            r.query_string = Some(format!("perPage=1000&startingAfter={i:08}"));
            r
        })
        .collect();
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &records,
        )
        .unwrap();
}

/// Zeroes one page of the request log's b-tree in the file, as a lost disk sector would: a leaf
/// below the table's root. Returns the page number.
fn zero_a_request_log_page(path: &Path) -> u64 {
    let (page_size, root): (i64, i64) = {
        let conn = Connection::open(path).unwrap();
        let page_size = conn
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .unwrap();
        let root = conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'request_log'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        (page_size, root)
    };
    let mut bytes = std::fs::read(path).unwrap();
    let (page_size, root) = (page_size as u64, root as u64);
    let root_at = ((root - 1) * page_size) as usize;
    // The table has no rowid (schema 6): its b-tree is an index's, keyed by its primary key.
    assert_eq!(
        bytes[root_at], 0x02,
        "the request log's root is an interior page"
    );
    // An interior page's header ends with its right-most child's page number.
    let child = u32::from_be_bytes(bytes[root_at + 8..root_at + 12].try_into().unwrap()) as u64;
    let child_at = ((child - 1) * page_size) as usize;
    bytes[child_at..child_at + page_size as usize].fill(0);
    std::fs::write(path, &bytes).unwrap();
    child
}

#[test]
fn a_zeroed_page_of_the_request_log_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    database_with_a_request_log(&path);
    // A clean database passes the check.
    drop(Store::open(&path).unwrap());
    zero_a_request_log_page(&path);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("{} is damaged (the whole file: ", path.display())),
        "{err}"
    );
    assert!(
        err.to_string().ends_with(
            "); it was left untouched: restore it from a backup, or rescue what is readable \
             with sqlite3's .recover"
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );
}

#[test]
fn a_damaged_audit_table_is_refused_before_an_audit_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    database_with_a_request_log(&path);
    let root: i64 = {
        let conn = Connection::open(&path).unwrap();
        conn.query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'findings'",
            [],
            |row| row.get(0),
        )
        .unwrap()
    };
    let page_size = 4096;
    assert_eq!(
        Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "page_size", |row| row.get::<_, i64>(0))
            .unwrap(),
        page_size as i64
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let at = (root as usize - 1) * page_size;
    bytes[at..at + page_size].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open_existing(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{} is damaged (table findings: ", path.display())),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// Makes `path` read-only for everyone (`chmod a-w`), or writable again.
fn set_read_only(path: &Path, read_only: bool) {
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    permissions.set_readonly(read_only);
    std::fs::set_permissions(path, permissions).unwrap();
}

#[test]
fn a_read_only_file_is_opened_read_only_and_stays_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    database_with_a_request_log(&path);
    set_read_only(&path, true);
    let before = std::fs::read(&path).unwrap();
    for open in [Store::open_existing, Store::open_read_only] {
        let mut store = open(&path).unwrap();
        assert_eq!(store.access(), Access::ReadOnly);
        assert_eq!(store.collected_organizations().unwrap(), [org()]);
        assert_eq!(paths(&store).len(), 3_000);
        assert!(
            store
                .store_request_window(
                    &requests("2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z"),
                    &[record("2026-11-20T11:00:00Z", "/x")]
                )
                .is_err()
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    set_read_only(&path, false);
}

#[test]
fn a_database_in_a_read_only_directory_is_read_as_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("ro");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("x.db");
    database_with_a_request_log(&path);
    set_read_only(&sub, true);
    let before = std::fs::read(&path).unwrap();
    let store = Store::open_existing(&path);
    let listed: Vec<_> = std::fs::read_dir(&sub)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    set_read_only(&sub, false);
    let store = store.unwrap();
    assert_eq!(store.access(), Access::ReadOnly);
    assert_eq!(paths(&store).len(), 3_000);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Nothing was created beside it (no -wal, no -shm).
    assert_eq!(listed, [std::ffi::OsString::from("x.db")]);
}

#[test]
fn reading_opens_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for open in [Store::open_existing, Store::open_read_only] {
        let err = open(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} does not exist: run `callbudget collect` first",
                missing.display()
            )
        );
        let err = open(&empty).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is empty, not a callbudget database: run `callbudget collect` first",
                empty.display()
            )
        );
    }
    assert!(!missing.exists());
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
}

#[test]
fn a_file_name_that_looks_like_a_uri_is_read_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a?b#c%20 d.db");
    database_with_a_request_log(&path);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(paths(&store).len(), 3_000);
}

// ---- idempotent windows ----

#[test]
fn storing_the_same_window_twice_keeps_one_copy() {
    let mut store = Store::open_in_memory().unwrap();
    let window = requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z");
    let records = [
        record("2026-11-20T10:00:00Z", "/a"),
        record("2026-11-20T10:59:59.999999Z", "/b"),
    ];
    store.store_request_window(&window, &records).unwrap();
    let second = store.store_request_window(&window, &records).unwrap();
    assert_eq!(count(&store, "collection_windows"), 1);
    assert_eq!(count(&store, "api_requests"), 2);
    let windows = store.windows(&org()).unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].id, second);
    assert_eq!(windows[0].rows, 2);
    assert_eq!(windows[0].calls, 3);
    assert_eq!(windows[0].http_429s, 1);
    assert_eq!(windows[0].status, WindowStatus::Complete);
    assert_eq!(windows[0].finished_at, Some(t("2026-11-21T00:00:05Z")));
    assert_eq!(paths(&store), ["/a", "/b"]);
}

#[test]
fn a_longer_window_with_the_same_start_replaces_the_shorter() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[record("2026-11-20T10:30:00Z", "/old")],
        )
        .unwrap();
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T12:00:00Z"),
            &[
                record("2026-11-20T10:30:00Z", "/new"),
                record("2026-11-20T11:30:00Z", "/later"),
            ],
        )
        .unwrap();
    let windows = store.windows(&org()).unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].t1, t("2026-11-20T12:00:00Z"));
    assert_eq!(windows[0].rows, 2);
    assert_eq!(paths(&store), ["/new", "/later"]);
}

#[test]
fn a_window_covering_several_stored_windows_replaces_them_all() {
    let mut store = Store::open_in_memory().unwrap();
    for (t0, t1, path) in [
        ("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", "/1"),
        ("2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z", "/2"),
    ] {
        store
            .store_request_window(&requests(t0, t1), &[record(t0, path)])
            .unwrap();
    }
    assert_eq!(paths(&store), ["/1", "/2"]);
    store
        .store_request_window(
            &requests("2026-11-20T09:00:00Z", "2026-11-20T13:00:00Z"),
            &[record("2026-11-20T12:30:00Z", "/all")],
        )
        .unwrap();
    assert_eq!(count(&store, "collection_windows"), 1);
    assert_eq!(paths(&store), ["/all"]);
}

#[test]
fn a_partial_overlap_is_refused_and_changes_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let stored = store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T12:00:00Z"),
            &[record("2026-11-20T11:00:00Z", "/kept")],
        )
        .unwrap();
    for (t0, t1) in [
        ("2026-11-20T11:00:00Z", "2026-11-20T13:00:00Z"), // overlaps the end
        ("2026-11-20T09:00:00Z", "2026-11-20T10:00:00.000001Z"), // overlaps the start
        ("2026-11-20T10:30:00Z", "2026-11-20T11:30:00Z"), // inside it
    ] {
        let err = store
            .store_request_window(&requests(t0, t1), &[record(t0, "/refused")])
            .unwrap_err();
        match err {
            StoreError::PartialOverlap {
                stored_id,
                stored_t0,
                stored_t1,
                ..
            } => {
                assert_eq!(stored_id, stored);
                assert_eq!(stored_t0, "2026-11-20T10:00:00.000000Z");
                assert_eq!(stored_t1, "2026-11-20T12:00:00.000000Z");
            }
            other => panic!("expected PartialOverlap, got {other:?}"),
        }
    }
    assert_eq!(count(&store, "collection_windows"), 1);
    assert_eq!(paths(&store), ["/kept"]);

    // Half-open ranges: a window starting where the stored one ends does not overlap it.
    store
        .store_request_window(
            &requests("2026-11-20T12:00:00Z", "2026-11-20T13:00:00Z"),
            &[record("2026-11-20T12:00:00Z", "/next")],
        )
        .unwrap();
    assert_eq!(paths(&store), ["/kept", "/next"]);
}

#[test]
fn a_replacement_that_fails_midway_keeps_the_old_window() {
    let mut store = Store::open_in_memory().unwrap();
    let old = store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[
                record("2026-11-20T10:10:00Z", "/old1"),
                record("2026-11-20T10:20:00Z", "/old2"),
            ],
        )
        .unwrap();
    // The covering window's third record lies outside it: found after the old window was deleted
    // and two new records were inserted, inside the transaction.
    let err = store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T12:00:00Z"),
            &[
                record("2026-11-20T10:10:00Z", "/new1"),
                record("2026-11-20T11:10:00Z", "/new2"),
                record("2026-11-20T12:00:00Z", "/outside"),
            ],
        )
        .unwrap_err();
    match &err {
        StoreError::RecordOutsideWindow { ts, .. } => assert_eq!(ts, "2026-11-20T12:00:00.000000Z"),
        other => panic!("expected RecordOutsideWindow, got {other:?}"),
    }
    let windows = store.windows(&org()).unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].id, old);
    assert_eq!(windows[0].rows, 2);
    assert_eq!(windows[0].t1, t("2026-11-20T11:00:00Z"));
    assert_eq!(count(&store, "api_requests"), 2);
    assert_eq!(paths(&store), ["/old1", "/old2"]);
}

#[test]
fn an_interval_replacement_that_fails_midway_keeps_the_old_intervals() {
    let mut store = Store::open_in_memory().unwrap();
    let window = meta(
        Endpoint::ResponseCodesByInterval,
        CollectionFilter::None,
        "2026-11-20T00:00:00Z",
        "2026-11-20T02:00:00Z",
    );
    let interval = |start: &str, end: &str, code: u16, count: u64| ResponseCodeInterval {
        start_ts: t(start),
        end_ts: t(end),
        counts: vec![ResponseCodeCount { code, count }],
    };
    store
        .store_interval_window(
            &window,
            &[interval(
                "2026-11-20T00:00:00Z",
                "2026-11-20T01:00:00Z",
                200,
                812,
            )],
        )
        .unwrap();
    // SQLite integers are signed: the second interval's count cannot be stored.
    let err = store
        .store_interval_window(
            &window,
            &[
                interval("2026-11-20T00:00:00Z", "2026-11-20T01:00:00Z", 200, 5),
                interval(
                    "2026-11-20T01:00:00Z",
                    "2026-11-20T02:00:00Z",
                    429,
                    u64::MAX,
                ),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    let stored: Vec<(String, i64, i64)> = store
        .conn
        .prepare("SELECT interval_start, response_code, count FROM response_code_counts")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        stored,
        [("2026-11-20T00:00:00.000000Z".to_owned(), 200, 812)]
    );
    assert_eq!(store.windows(&org()).unwrap()[0].rows, 1);
}

#[test]
fn windows_with_different_filters_do_not_replace_each_other() {
    let mut store = Store::open_in_memory().unwrap();
    let (t0, t1) = ("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z");
    let admin = CollectionFilter::Admin("212406".into());
    store
        .store_request_window(&requests(t0, t1), &[record(t0, "/all")])
        .unwrap();
    store
        .store_request_window(
            &meta(Endpoint::ApiRequests, admin.clone(), t0, t1),
            &[record(t0, "/admin")],
        )
        .unwrap();
    assert_eq!(count(&store, "collection_windows"), 2);
    assert_eq!(paths(&store), ["/all"]);
    let only_admin = store.request_records(&org(), &admin, t(t0), t(t1)).unwrap();
    assert_eq!(only_admin[0].path.as_deref(), Some("/admin"));
    assert_eq!(
        store
            .count_requests(&org(), &CollectionFilter::None, t(t0), t(t1))
            .unwrap(),
        1
    );
    assert_eq!(count(&store, "unfiltered_api_requests"), 1);
}

#[test]
fn a_complete_window_replaces_a_failed_attempt_it_covers() {
    let mut store = Store::open_in_memory().unwrap();
    let window = requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z");
    let failed = store
        .record_failed_window(&window, "HTTP 500 on page 3")
        .unwrap();
    let windows = store.windows(&org()).unwrap();
    assert_eq!(windows[0].id, failed);
    assert_eq!(windows[0].status, WindowStatus::Failed);
    assert_eq!(windows[0].error.as_deref(), Some("HTTP 500 on page 3"));
    assert_eq!(
        store
            .last_complete_window(&org(), Endpoint::ApiRequests, &CollectionFilter::None)
            .unwrap(),
        None
    );

    let complete = store
        .store_request_window(&window, &[record("2026-11-20T10:00:00Z", "/a")])
        .unwrap();
    let windows = store.windows(&org()).unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].id, complete);
    let last = store
        .last_complete_window(&org(), Endpoint::ApiRequests, &CollectionFilter::None)
        .unwrap()
        .unwrap();
    assert_eq!(last.id, complete);
    assert_eq!(last.error, None);
}

#[test]
fn a_window_must_match_its_endpoint_and_run_forward() {
    let mut store = Store::open_in_memory().unwrap();
    let backwards = requests("2026-11-20T11:00:00Z", "2026-11-20T10:00:00Z");
    assert!(matches!(
        store.store_request_window::<String>(&backwards, &[]),
        Err(StoreError::InvalidWindow {
            reason: "t0 is not before t1",
            ..
        })
    ));
    let overview = meta(
        Endpoint::Overview,
        CollectionFilter::None,
        "2026-11-20T10:00:00Z",
        "2026-11-20T11:00:00Z",
    );
    assert!(matches!(
        store.store_request_window::<String>(&overview, &[]),
        Err(StoreError::InvalidWindow { .. })
    ));
    assert_eq!(count(&store, "collection_windows"), 0);
}

// ---- round trips ----

#[test]
fn request_records_round_trip_with_every_field_and_every_null() {
    let mut store = Store::open_in_memory().unwrap();
    let full = RequestRecord {
        admin_id: Some("212406".to_owned()),
        method: Some("GET".to_owned()),
        host: Some("api.meraki.com".to_owned()),
        path: Some("/api/v1/devices/Q2XX-AAAA-0001/lldpCdp".to_owned()),
        query_string: Some(String::new()),
        user_agent: Some("python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)".to_owned()),
        ts: t("2026-11-20T10:15:02.120000Z"),
        response_code: Some(429),
        source_ip: Some("203.0.113.7".to_owned()),
        version: Some(1),
        operation_id: Some("getDeviceLldpCdp".to_owned()),
        client: Some(ApiClient {
            id: Some("k_3f9".to_owned()),
            kind: Some("api_key".to_owned()),
        }),
    };
    let bare = RequestRecord {
        admin_id: None,
        method: None,
        host: None,
        path: None,
        query_string: None,
        user_agent: None,
        ts: t("2026-11-20T10:15:02.120001Z"),
        response_code: None,
        source_ip: None,
        version: None,
        operation_id: None,
        client: None,
    };
    let oauth_without_id = RequestRecord {
        client: Some(ApiClient {
            id: None,
            kind: Some("oauth".to_owned()),
        }),
        ts: t("2026-11-20T10:15:03Z"),
        ..bare.clone()
    };
    let records = vec![full, bare, oauth_without_id];
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &records,
        )
        .unwrap();
    let read = store
        .request_records(
            &org(),
            &CollectionFilter::None,
            t("2026-11-20T10:00:00Z"),
            t("2026-11-20T11:00:00Z"),
        )
        .unwrap();
    assert_eq!(read, records);

    let stored_ts: String = store
        .conn
        .query_row(
            "SELECT ts FROM api_requests ORDER BY ts LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored_ts, "2026-11-20T10:15:02.120000Z");
    let mut totals = BTreeMap::new();
    totals.insert(None, 2);
    totals.insert(Some(429), 1);
    assert_eq!(
        store
            .response_code_totals(
                &org(),
                &CollectionFilter::None,
                t("2026-11-20T10:00:00Z"),
                t("2026-11-20T11:00:00Z"),
            )
            .unwrap(),
        totals
    );
}

#[test]
fn borrowed_records_are_stored_like_owned_ones() {
    let mut store = Store::open_in_memory().unwrap();
    let borrowed = RequestRecord::<&str> {
        admin_id: Some("1"),
        method: None,
        host: None,
        path: Some("/x"),
        query_string: None,
        user_agent: Some("ua"),
        ts: t("2026-11-20T10:00:00Z"),
        response_code: Some(200),
        source_ip: None,
        version: Some(1),
        operation_id: None,
        client: None,
    };
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            std::slice::from_ref(&borrowed),
        )
        .unwrap();
    let read = store
        .request_records(
            &org(),
            &CollectionFilter::None,
            t("2026-11-20T10:00:00Z"),
            t("2026-11-20T11:00:00Z"),
        )
        .unwrap();
    assert_eq!(read, [borrowed.to_owned_record()]);
}

#[test]
fn interval_counts_are_stored_one_row_per_code_with_their_filter() {
    let mut store = Store::open_in_memory().unwrap();
    let window = meta(
        Endpoint::ResponseCodesByInterval,
        CollectionFilter::UserAgent("NocPoller".into()),
        "2026-11-20T00:00:00Z",
        "2026-11-20T00:04:00Z",
    );
    let intervals = [
        ResponseCodeInterval {
            start_ts: t("2026-11-20T00:00:00Z"),
            end_ts: t("2026-11-20T00:02:00Z"),
            counts: vec![
                ResponseCodeCount {
                    code: 200,
                    count: 812,
                },
                ResponseCodeCount {
                    code: 429,
                    count: 3,
                },
            ],
        },
        ResponseCodeInterval {
            start_ts: t("2026-11-20T00:02:00Z"),
            end_ts: t("2026-11-20T00:04:00Z"),
            counts: vec![],
        },
    ];
    store.store_interval_window(&window, &intervals).unwrap();
    type Row = (String, String, String, i64, i64, i64, String, String);
    let rows: Vec<Row> = store
        .conn
        .prepare(
            "SELECT org_id, interval_start, interval_end, interval_seconds, response_code, count,
                    filter_kind, filter_value
             FROM response_code_counts ORDER BY response_code",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let row = |code, count| {
        (
            "549236".to_owned(),
            "2026-11-20T00:00:00.000000Z".to_owned(),
            "2026-11-20T00:02:00.000000Z".to_owned(),
            120,
            code,
            count,
            "user_agent".to_owned(),
            "NocPoller".to_owned(),
        )
    };
    assert_eq!(rows, [row(200, 812), row(429, 3)]);
    assert_eq!(store.windows(&org()).unwrap()[0].rows, 2);
}

#[test]
fn overview_counts_are_stored_one_row_per_code() {
    let mut store = Store::open_in_memory().unwrap();
    let window = meta(
        Endpoint::Overview,
        CollectionFilter::None,
        "2026-11-20T00:00:00Z",
        "2026-11-21T00:00:00Z",
    );
    let mut counts = BTreeMap::new();
    counts.insert("200".to_owned(), 50_120);
    counts.insert("429".to_owned(), 313);
    let overview = RequestsOverview {
        response_code_counts: counts,
    };
    store.store_overview_window(&window, &overview).unwrap();
    store.store_overview_window(&window, &overview).unwrap();
    let rows: Vec<(String, String, i64, i64)> = store
        .conn
        .prepare("SELECT t0, t1, response_code, count FROM overview_counts ORDER BY response_code")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let day = |code, count| {
        (
            "2026-11-20T00:00:00.000000Z".to_owned(),
            "2026-11-21T00:00:00.000000Z".to_owned(),
            code,
            count,
        )
    };
    assert_eq!(rows, [day(200, 50_120), day(429, 313)]);

    let mut bad = BTreeMap::new();
    bad.insert("2xx".to_owned(), 1);
    let err = store
        .store_overview_window(
            &window,
            &RequestsOverview {
                response_code_counts: bad,
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidResponseCode { ref code, .. } if code == "2xx"));
    assert_eq!(count(&store, "overview_counts"), 2);
}

#[test]
fn organizations_keep_first_seen_and_take_the_latest_snapshot() {
    let mut store = Store::open_in_memory().unwrap();
    let org_named = |name: &str| Organization {
        id: "549236".to_owned(),
        name: name.to_owned(),
        url: Some("https://n1.meraki.com/o/x/manage/organization/overview".to_owned()),
        api: Some(ApiAccess { enabled: true }),
        licensing: None,
        cloud: Some(serde_json::json!({"region": {"name": "North America"}})),
        management: None,
    };
    store
        .upsert_organizations(&[org_named("Acme")], t("2026-11-20T00:00:00Z"))
        .unwrap();
    store
        .upsert_organizations(&[org_named("Acme Corp")], t("2026-11-22T00:00:00Z"))
        .unwrap();
    // A backfill of an older snapshot widens first_seen but does not undo the rename.
    store
        .upsert_organizations(&[org_named("Acme Old")], t("2026-11-01T00:00:00Z"))
        .unwrap();
    let row: (String, String, i64, String, String, String) = store
        .conn
        .query_row(
            "SELECT id, name, api_enabled, cloud_region, first_seen, last_seen FROM organizations",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "549236".to_owned(),
            "Acme Corp".to_owned(),
            1,
            "North America".to_owned(),
            "2026-11-01T00:00:00.000000Z".to_owned(),
            "2026-11-22T00:00:00.000000Z".to_owned(),
        )
    );
}

#[test]
fn admins_are_upserted_with_json_lists_and_canonical_last_active() {
    let mut store = Store::open_in_memory().unwrap();
    let admin = |name: &str, last_active: &str| Admin {
        id: "212406".to_owned(),
        name: Some(name.to_owned()),
        email: Some("noc@example.com".to_owned()),
        org_access: Some("full".to_owned()),
        account_status: Some("ok".to_owned()),
        two_factor_auth_enabled: Some(true),
        has_api_key: Some(false),
        last_active: Some(last_active.to_owned()),
        tags: vec![serde_json::json!({"tag": "noc", "access": "read-only"})],
        networks: vec![],
        authentication_method: Some("Email".to_owned()),
    };
    store
        .upsert_admins(
            &org(),
            &[admin("Noc", "2026-11-20 10:15:02 UTC")],
            t("2026-11-21T00:00:00Z"),
        )
        .unwrap();
    // An older snapshot arriving late changes nothing.
    store
        .upsert_admins(&org(), &[admin("Old", "")], t("2026-11-01T00:00:00Z"))
        .unwrap();
    let row: (String, i64, i64, String, String, String, String) = store
        .conn
        .query_row(
            "SELECT name, two_factor_auth_enabled, has_api_key, last_active, tags, networks,
                    collected_at
             FROM admins WHERE org_id = '549236' AND id = '212406'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "Noc".to_owned(),
            1,
            0,
            "2026-11-20T10:15:02.000000Z".to_owned(),
            r#"[{"access":"read-only","tag":"noc"}]"#.to_owned(),
            "[]".to_owned(),
            "2026-11-21T00:00:00.000000Z".to_owned(),
        )
    );
    store
        .upsert_admins(&org(), &[admin("Noc", "")], t("2026-11-22T00:00:00Z"))
        .unwrap();
    let last_active: Option<String> = store
        .conn
        .query_row("SELECT last_active FROM admins", [], |r| r.get(0))
        .unwrap();
    assert_eq!(last_active, None);
}

// ---- the compact request log (schema 4) ----

#[test]
fn each_distinct_source_and_endpoint_is_stored_once() {
    let mut store = Store::open_in_memory().unwrap();
    let with = |ts: &str, path: &str, user_agent: Option<&str>| RequestRecord {
        user_agent: user_agent.map(str::to_owned),
        ..record(ts, path)
    };
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[
                with("2026-11-20T10:00:01Z", "/a", Some("poller")),
                with("2026-11-20T10:00:02Z", "/a", Some("poller")),
                with("2026-11-20T10:00:03Z", "/b", Some("")),
            ],
        )
        .unwrap();
    // A new store knows no ids: it finds the stored rows instead of adding copies.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dictionaries.db");
    for _ in 0..2 {
        let mut store = Store::open(&path).unwrap();
        store
            .store_request_window(
                &requests("2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z"),
                &[
                    with("2026-11-20T11:00:01Z", "/a", Some("poller")),
                    with("2026-11-20T11:00:02Z", "/a", None),
                ],
            )
            .unwrap();
    }
    let store_on_disk = Store::open(&path).unwrap();
    assert_eq!(count(&store_on_disk, "request_sources"), 2);
    assert_eq!(count(&store_on_disk, "request_endpoints"), 1);
    assert_eq!(count(&store_on_disk, "request_log"), 2);
    // '' and NULL stay apart.
    assert_eq!(count(&store, "request_sources"), 2);
    assert_eq!(count(&store, "request_endpoints"), 2);
    let user_agents: Vec<Option<String>> = store
        .conn
        .prepare("SELECT user_agent FROM api_requests ORDER BY ts")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        user_agents,
        [
            Some("poller".to_owned()),
            Some("poller".to_owned()),
            Some(String::new())
        ]
    );
}

#[test]
fn ids_learnt_in_a_rolled_back_window_are_not_reused() {
    let mut store = Store::open_in_memory().unwrap();
    // "/new" enters the endpoint dictionary, then the window fails and rolls back.
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[
                record("2026-11-20T10:10:00Z", "/new"),
                record("2026-11-20T11:10:00Z", "/outside"),
            ],
        )
        .unwrap_err();
    assert_eq!(count(&store, "request_endpoints"), 0);
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[
                record("2026-11-20T10:00:00Z", "/other"),
                record("2026-11-20T10:10:00Z", "/new"),
            ],
        )
        .unwrap();
    assert_eq!(paths(&store), ["/other", "/new"]);
    assert_eq!(count(&store, "request_endpoints"), 2);
}

/// The rows of a query, every column as an SQLite value.
fn rows_of(conn: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |row| (0..width).map(|i| row.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A connection to a database at `path` migrated to schema `version` only, as an older callbudget
/// left it.
fn connection_at_schema(path: &Path, version: usize) -> Connection {
    let mut conn = Connection::open(path).unwrap();
    Migrations::new(
        MIGRATION_SQL[..version]
            .iter()
            .map(|sql| M::up(sql))
            .collect(),
    )
    .to_latest(&mut conn)
    .unwrap();
    assert_eq!(user_version(&conn), version as i64);
    conn
}

#[test]
fn a_schema_5_log_keeps_its_ids_in_window_and_time_order_and_new_requests_are_numbered_after_them()
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema5.db");
    {
        let conn = connection_at_schema(&path, 5);
        // Ids as a rowid table gave them: in the order stored, with a gap where rows were
        // deleted, and not in time order (the API's pages come newest first); and a row whose
        // window was deleted by hand with foreign keys off.
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO request_log (id, window_id, ts_us, response_code, source_id, endpoint_id)
             VALUES (12, 99, 1795168800000009, 200, 1, 1);
             INSERT INTO collection_windows
                 (id, org_id, endpoint, filter_kind, filter_value, t0, t1, status, started_at,
                  finished_at, rows, calls, http_429s)
             VALUES
                 (1, '549236', 'apiRequests', 'none', '', '2026-11-20T10:00:00.000000Z',
                  '2026-11-20T11:00:00.000000Z', 'complete', '2026-11-21T00:00:00.000000Z',
                  '2026-11-21T00:00:05.000000Z', 3, 1, 0);
             INSERT INTO request_sources (id, user_agent) VALUES (1, 'ua');
             INSERT INTO request_endpoints (id, path) VALUES (1, '/a');
             INSERT INTO request_log (id, window_id, ts_us, response_code, source_id, endpoint_id)
             VALUES (3, 1, 1795168800000003, 200, 1, 1),
                    (7, 1, 1795168800000001, 429, 1, 1),
                    (8, 1, 1795168800000002, 200, 1, 1);",
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(user_version(&store.conn), SCHEMA_VERSION as i64);
    let ids = |store: &Store| -> Vec<(i64, i64)> {
        let mut stmt = store
            .conn
            .prepare("SELECT id, ts_us % 1000 FROM request_log")
            .unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // Stored by window and time, each with its id; the orphan, which no view showed, left out.
    assert_eq!(ids(&store), [(7, 1), (8, 2), (3, 3)]);
    let next_id = |store: &Store| -> i64 {
        store
            .conn
            .query_row("SELECT next_id FROM request_log_ids", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(next_id(&store), 13);
    let rowids: Vec<i64> = store
        .conn
        .prepare("SELECT rowid FROM api_requests ORDER BY rowid")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rowids, [3, 7, 8]);
    // The next window's requests take the ids after, in the order they are stored.
    store
        .store_request_window(
            &requests("2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z"),
            &[
                record("2026-11-20T11:30:00Z", "/b"),
                record("2026-11-20T11:10:00Z", "/c"),
            ],
        )
        .unwrap();
    let stored = ids(&store);
    assert_eq!(stored[3..], [(14, 0), (13, 0)]);
    assert_eq!(next_id(&store), 15);
}

#[test]
fn a_schema_3_database_is_migrated_with_every_request_and_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema3.db");
    // A database as callbudget 0.1 with schema 3 wrote it: rows inserted into the flat table,
    // including every NULL, '' next to NULL, and a filtered window repeating a request.
    let sql_rows = "INSERT INTO api_requests
             (window_id, org_id, ts, admin_id, method, host, path, query_string, user_agent,
              response_code, source_ip, version, operation_id, client_id, client_type)
         VALUES
             (1, '549236', '2026-11-20T10:15:02.120000Z', '212406', 'GET', 'api.meraki.com',
              '/api/v1/devices/Q2XX-AAAA-0001/lldpCdp', '', 'python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)',
              429, '203.0.113.7', 1, 'getDeviceLldpCdp', 'k_3f9', 'api_key'),
             (1, '549236', '2026-11-20T10:00:00.000000Z', NULL, NULL, NULL, NULL, NULL, NULL,
              NULL, NULL, NULL, NULL, NULL, NULL),
             (1, '549236', '2026-11-20T10:59:59.999999Z', '212406', 'GET', 'api.meraki.com',
              '/api/v1/devices/Q2XX-AAAA-0001/lldpCdp', 'perPage=10', 'python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)',
              200, '203.0.113.7', 1, 'getDeviceLldpCdp', 'k_3f9', 'api_key'),
             (1, '549236', '2026-11-20T10:30:00.000001Z', '', 'PUT', 'api.meraki.com',
              '/api/v1/networks/N_1/settings', NULL, '', 200, NULL, 0, NULL, NULL, 'oauth'),
             (2, '549236', '2026-11-20T10:15:02.120000Z', '212406', 'GET', 'api.meraki.com',
              '/api/v1/devices/Q2XX-AAAA-0001/lldpCdp', '', 'python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)',
              429, '203.0.113.7', 1, 'getDeviceLldpCdp', 'k_3f9', 'api_key')";
    let before = {
        let conn = connection_at_schema(&path, 3);
        conn.execute_batch(
            "INSERT INTO collection_windows
                 (id, org_id, endpoint, filter_kind, filter_value, t0, t1, status, started_at,
                  finished_at, rows, calls, http_429s)
             VALUES
                 (1, '549236', 'apiRequests', 'none', '', '2026-11-20T10:00:00.000000Z',
                  '2026-11-20T11:00:00.000000Z', 'complete', '2026-11-21T00:00:00.000000Z',
                  '2026-11-21T00:00:05.000000Z', 4, 3, 0),
                 (2, '549236', 'apiRequests', 'admin', '212406', '2026-11-20T10:00:00.000000Z',
                  '2026-11-20T11:00:00.000000Z', 'complete', '2026-11-21T00:00:00.000000Z',
                  '2026-11-21T00:00:05.000000Z', 1, 1, 0);",
        )
        .unwrap();
        conn.execute(sql_rows, []).unwrap();
        let views: [&str; 7] = [
            "SELECT window_id, org_id, ts, admin_id, method, host, path, query_string, user_agent,
                    response_code, source_ip, version, operation_id, client_id, client_type
             FROM api_requests ORDER BY rowid",
            "SELECT rowid, path FROM api_requests ORDER BY ts, rowid",
            "SELECT * FROM unfiltered_api_requests ORDER BY ts",
            "SELECT * FROM requests_per_minute ORDER BY 1, 2, 3",
            "SELECT * FROM consumer_summary ORDER BY 1, 2",
            "SELECT * FROM http_429s_by_consumer_hour ORDER BY 1, 2, 3",
            "SELECT * FROM operation_volume ORDER BY 1, 2",
        ];
        views.map(|sql| (sql, rows_of(&conn, sql)))
    };
    assert_eq!(before[0].1.len(), 5);

    let store = Store::open(&path).unwrap();
    assert_eq!(user_version(&store.conn), SCHEMA_VERSION as i64);
    for (sql, rows) in &before {
        assert_eq!(&rows_of(&store.conn, sql), rows, "{sql}");
    }
    assert_eq!(count(&store, "request_log"), 5);
    assert_eq!(count(&store, "request_sources"), 3);
    assert_eq!(count(&store, "request_endpoints"), 3);
    let read = store
        .request_records(
            &org(),
            &CollectionFilter::None,
            t("2026-11-20T10:00:00Z"),
            t("2026-11-20T11:00:00Z"),
        )
        .unwrap();
    let paths_and_ts: Vec<(Option<String>, String)> = read
        .iter()
        .map(|r| (r.path.clone(), timestamp::format(&r.ts)))
        .collect();
    let device = Some("/api/v1/devices/Q2XX-AAAA-0001/lldpCdp".to_owned());
    assert_eq!(
        paths_and_ts,
        [
            (None, "2026-11-20T10:00:00.000000Z".to_owned()),
            (device.clone(), "2026-11-20T10:15:02.120000Z".to_owned()),
            (
                Some("/api/v1/networks/N_1/settings".to_owned()),
                "2026-11-20T10:30:00.000001Z".to_owned()
            ),
            (device, "2026-11-20T10:59:59.999999Z".to_owned()),
        ]
    );
    assert_eq!(
        read[1],
        RequestRecord {
            admin_id: Some("212406".to_owned()),
            method: Some("GET".to_owned()),
            host: Some("api.meraki.com".to_owned()),
            path: Some("/api/v1/devices/Q2XX-AAAA-0001/lldpCdp".to_owned()),
            query_string: Some(String::new()),
            user_agent: Some("python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)".to_owned()),
            ts: t("2026-11-20T10:15:02.120000Z"),
            response_code: Some(429),
            source_ip: Some("203.0.113.7".to_owned()),
            version: Some(1),
            operation_id: Some("getDeviceLldpCdp".to_owned()),
            client: Some(ApiClient {
                id: Some("k_3f9".to_owned()),
                kind: Some("api_key".to_owned()),
            }),
        }
    );
    assert_eq!(
        store
            .request_records(
                &org(),
                &CollectionFilter::Admin("212406".to_owned()),
                t("2026-11-20T10:00:00Z"),
                t("2026-11-20T11:00:00Z"),
            )
            .unwrap()
            .len(),
        1
    );
    let mut scanned = Vec::new();
    store
        .scan_request_log(
            &org(),
            t("2026-11-20T10:00:00Z"),
            t("2026-11-20T11:00:00Z"),
            |row| scanned.push((row.ts_us, row.user_agent.map(str::to_owned))),
        )
        .unwrap();
    scanned.sort();
    assert_eq!(scanned.len(), 4);
    assert_eq!(scanned[0], (to_us("2026-11-20T10:00:00Z"), None));
    assert_eq!(
        scanned[2],
        (to_us("2026-11-20T10:30:00.000001Z"), Some(String::new()))
    );
    // Replacing a migrated window still deletes its rows by cascade.
    drop(store);
    let mut store = Store::open(&path).unwrap();
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[record("2026-11-20T10:10:00Z", "/replaced")],
        )
        .unwrap();
    assert_eq!(paths(&store), ["/replaced"]);
    assert_eq!(count(&store, "request_log"), 2);
}

fn to_us(text: &str) -> i64 {
    timestamp::to_micros(&t(text))
}

#[test]
fn a_window_of_several_insert_batches_reads_back_in_order_with_every_field() {
    let mut store = Store::open_in_memory().unwrap();
    // 131 records: two full multi-row INSERTs of 64, then three rows one by one.
    let records: Vec<RequestRecord> = (0..131)
        .map(|i| RequestRecord {
            admin_id: (i % 4 != 0).then(|| format!("admin{}", i % 3)),
            method: Some(if i % 5 == 0 { "PUT" } else { "GET" }.to_owned()),
            host: Some("api.meraki.com".to_owned()),
            path: Some(format!("/api/v1/devices/Q2XX-{:04}/lldpCdp", i % 7)),
            query_string: (i % 2 == 0).then(|| format!("page={i}")),
            user_agent: Some(format!("agent{}", i % 2)),
            ts: t("2026-11-20T10:00:00Z") + chrono::TimeDelta::microseconds(i * 1_000_003),
            response_code: Some(if i % 9 == 0 { 429 } else { 200 }),
            source_ip: None,
            version: Some(1),
            operation_id: (i % 3 == 0).then(|| "getDeviceLldpCdp".to_owned()),
            client: None,
        })
        .collect();
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &records,
        )
        .unwrap();
    let read = store
        .request_records(
            &org(),
            &CollectionFilter::None,
            t("2026-11-20T10:00:00Z"),
            t("2026-11-20T11:00:00Z"),
        )
        .unwrap();
    assert_eq!(read, records);
    assert_eq!(count(&store, "request_log"), 131);
    let ids: Vec<i64> = store
        .conn
        .prepare("SELECT rowid FROM api_requests ORDER BY ts")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, (1..=131).collect::<Vec<i64>>());

    // A record outside the window in the second batch: nothing of the window is stored.
    let mut late = records.clone();
    late[100].ts = t("2026-11-20T11:00:00Z");
    let err = store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &late,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::RecordOutsideWindow { .. }));
    assert_eq!(count(&store, "request_log"), 131);
}

#[test]
fn a_log_read_on_two_connections_is_the_log_read_on_one_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("cb.db")).unwrap();
    // Four hours stored out of order; in each, records out of time order and a tie at :20 (the
    // one stored first comes first).
    for hour in ["12", "10", "13", "11"] {
        let at = |minute: &str| format!("2026-11-20T{hour}:{minute}:00Z");
        let records = [
            record(&at("50"), &format!("/h{hour}/c")),
            record(&at("20"), &format!("/h{hour}/a")),
            record(&at("20"), &format!("/h{hour}/b")),
        ];
        store
            .store_request_window(&requests(&at("00"), &at("59")), &records)
            .unwrap();
    }
    let read = |rows_to_split: u64| {
        let read = store
            .read_request_log(&org(), t("2026-11-20T10:30:00Z"), t("2026-11-20T14:00:00Z"))
            .unwrap();
        let paths = read.dictionaries().unwrap().endpoints;
        let (mut earlier, mut later) = (Vec::new(), Vec::new());
        let row = |ids: &RequestLogIds| {
            let path = paths[&ids.endpoint_id].path.clone().unwrap();
            (timestamp::format(&timestamp::from_micros(ids.ts_us)), path)
        };
        let visited = read
            .scan_split_from(
                rows_to_split,
                |ids| earlier.push(row(ids)),
                |ids| later.push(row(ids)),
            )
            .unwrap();
        assert_eq!(visited as usize, earlier.len() + later.len());
        (earlier, later)
    };

    let (on_one, none) = read(u64::MAX);
    assert!(none.is_empty());
    let expected: Vec<(String, String)> = [
        ("10:50", "/h10/c"),
        ("11:20", "/h11/a"),
        ("11:20", "/h11/b"),
        ("11:50", "/h11/c"),
        ("12:20", "/h12/a"),
        ("12:20", "/h12/b"),
        ("12:50", "/h12/c"),
        ("13:20", "/h13/a"),
        ("13:20", "/h13/b"),
        ("13:50", "/h13/c"),
    ]
    .iter()
    .map(|(at, path)| (format!("2026-11-20T{at}:00.000000Z"), (*path).to_owned()))
    .collect();
    assert_eq!(on_one, expected);
    // From 0 rows on, the later windows go to a second connection: the same rows, the earlier
    // part all before the later one.
    let (earlier, later) = read(0);
    assert_eq!(earlier.len(), 4);
    assert_eq!([earlier, later].concat(), expected);
}

#[test]
fn a_scan_hands_out_the_query_strings_of_the_endpoints_asked_for_and_only_those() {
    let mut store = Store::open_in_memory().unwrap();
    let with_query = |ts: &str, path: &str, query: Option<&str>| RequestRecord {
        query_string: query.map(str::to_owned),
        ..record(ts, path)
    };
    let records = [
        with_query("2026-11-20T10:10:00Z", "/a", Some("deviceSerial=Q2&t0=1")),
        with_query("2026-11-20T10:20:00Z", "/a", None),
        with_query("2026-11-20T10:30:00Z", "/b", Some("perPage=5")),
        with_query("2026-11-20T10:40:00Z", "/a", Some("")),
    ];
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &records,
        )
        .unwrap();
    let read = store
        .read_request_log(&org(), t("2026-11-20T10:00:00Z"), t("2026-11-20T11:00:00Z"))
        .unwrap();
    let endpoints = read.dictionaries().unwrap().endpoints;
    let path_of = |id: i64| endpoints[&id].path.clone().unwrap_or_default();
    let wants = |id: i64| path_of(id) == "/a";
    let (mut earlier, mut later) = (Vec::new(), Vec::new());
    read.scan_with_queries(
        &wants,
        |ids, query| earlier.push((path_of(ids.endpoint_id), query.map(str::to_owned))),
        |ids, query| later.push((path_of(ids.endpoint_id), query.map(str::to_owned))),
    )
    .unwrap();
    let some = |q: &str| Some(q.to_owned());
    assert_eq!(
        [earlier, later].concat(),
        [
            ("/a".to_owned(), some("deviceSerial=Q2&t0=1")),
            ("/a".to_owned(), None),
            ("/b".to_owned(), None),
            ("/a".to_owned(), some("")),
        ]
    );
}

#[test]
fn hand_edited_request_rows_are_read_as_before_or_refused_naming_the_column() {
    let mut store = Store::open_in_memory().unwrap();
    let records = [
        record("2026-11-20T10:10:00Z", "/a"),
        record("2026-11-20T10:20:00Z", "/a"),
        record("2026-11-20T10:30:00Z", "/a"),
    ];
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &records,
        )
        .unwrap();
    let edit = |sql: &str| store.conn.execute_batch(sql).unwrap();
    let scan = |store: &Store| {
        let (mut earlier, mut later) = (Vec::new(), Vec::new());
        let read = store
            .read_request_log(&org(), t("2026-11-20T10:00:00Z"), t("2026-11-20T11:00:00Z"))
            .unwrap();
        read.scan(|ids| earlier.push(*ids), |ids| later.push(*ids))
            .map(|_| [earlier, later].concat())
    };
    let cause = |err: StoreError| std::error::Error::source(&err).unwrap().to_string();
    let stored = scan(&store).unwrap();
    assert_eq!(stored.len(), 3);
    // A missing code is no code.
    edit("UPDATE request_log SET response_code = NULL WHERE ts_us % 3600000000 = 600000000");
    let edited = scan(&store).unwrap();
    assert_eq!(
        edited
            .iter()
            .map(|ids| ids.response_code)
            .collect::<Vec<_>>(),
        [None, stored[1].response_code, stored[2].response_code]
    );
    // A value of another type, or a code no HTTP status has: the read fails, naming it (an id
    // such as '12abc' is not read as 12).
    for (sql, says) in [
        (
            "UPDATE request_log SET source_id = '1abc' WHERE ts_us % 3600000000 = 1200000000",
            "Invalid column type Text at index: 2, name: source_id",
        ),
        (
            "UPDATE request_log SET ts_us = ts_us + 0.5 WHERE ts_us % 3600000000 = 1200000000",
            "Invalid column type Real at index: 0, name: ts_us",
        ),
        (
            "UPDATE request_log SET response_code = 70000 WHERE ts_us % 3600000000 = 1800000000",
            "Integer 70000 out of range at index 1",
        ),
        (
            "UPDATE request_log SET response_code = 'teapot' WHERE ts_us % 3600000000 = 1800000000",
            "Invalid column type Text at index: 1, name: response_code",
        ),
    ] {
        edit("SAVEPOINT edit");
        edit(sql);
        let err = cause(scan(&store).unwrap_err());
        assert!(err.contains(says), "{sql}: {err}");
        edit("ROLLBACK TO edit; RELEASE edit");
    }
    assert_eq!(scan(&store).unwrap(), edited);
}

#[test]
fn a_window_recollected_under_its_old_id_between_the_two_views_is_read_as_the_first_view_holds_it()
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cb.db");
    let mut store = Store::open(&path).unwrap();
    store
        .store_request_window(
            &requests("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            &[record("2026-11-20T10:20:00Z", "/a")],
        )
        .unwrap();
    let last = requests("2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z");
    let old_id = store
        .store_request_window(&last, &[record("2026-11-20T11:20:00Z", "/old")])
        .unwrap();
    let read = store
        .read_request_log(&org(), t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z"))
        .unwrap();
    // A collector re-collects the last hour meanwhile, as many rows as before: the old window is
    // deleted first, so the new one takes its id (the largest, freed).
    let mut collector = Store::open(&path).unwrap();
    let recollected = WindowMeta {
        started_at: t("2026-11-21T01:00:00Z"),
        finished_at: t("2026-11-21T01:00:05Z"),
        ..last
    };
    let new_id = collector
        .store_request_window(&recollected, &[record("2026-11-20T11:20:00Z", "/new")])
        .unwrap();
    assert_eq!(new_id, old_id);
    let endpoints = read.dictionaries().unwrap().endpoints;
    let path_of = |ids: &RequestLogIds| {
        endpoints
            .get(&ids.endpoint_id)
            .and_then(|e| e.path.clone())
            .unwrap_or_else(|| format!("unknown endpoint {}", ids.endpoint_id))
    };
    let (mut earlier, mut later) = (Vec::new(), Vec::new());
    read.scan_split_from(
        0,
        |ids| earlier.push(path_of(ids)),
        |ids| later.push(path_of(ids)),
    )
    .unwrap();
    assert_eq!([earlier, later].concat(), ["/a", "/old"]);
}

/// A database at `path` holding three hours of 1,000 requests each, one window an hour, and
/// their times (µs).
fn database_with_three_windows(path: &Path) -> Vec<i64> {
    let mut store = Store::open(path).unwrap();
    let mut times = Vec::new();
    for hour in ["10", "11", "12"] {
        let start = t(&format!("2026-11-20T{hour}:00:00Z"));
        let records: Vec<RequestRecord> = (0..1_000)
            .map(|i| {
                let ts = start + chrono::TimeDelta::milliseconds(i * 3_600);
                times.push(timestamp::to_micros(&ts));
                record(&timestamp::format(&ts), "/api/v1/organizations")
            })
            .collect();
        let end = start + chrono::TimeDelta::hours(1);
        store
            .store_request_window(
                &requests(&timestamp::format(&start), &timestamp::format(&end)),
                &records,
            )
            .unwrap();
    }
    times
}

/// The request log's times (µs) read through `store` on one connection, then on two (how many
/// rows the second part holds with them).
fn log_read_on_one_and_on_two_connections(store: &Store) -> (Vec<i64>, Vec<i64>, usize) {
    let read = |rows_to_split: u64| {
        let read = store
            .read_request_log(&org(), t("2026-11-20T10:00:00Z"), t("2026-11-20T13:00:00Z"))
            .unwrap();
        let (mut earlier, mut later) = (Vec::new(), Vec::new());
        let visited = read
            .scan_split_from(
                rows_to_split,
                |ids| earlier.push(ids.ts_us),
                |ids| later.push(ids.ts_us),
            )
            .unwrap();
        assert_eq!(visited as usize, earlier.len() + later.len());
        let later_rows = later.len();
        ([earlier, later].concat(), later_rows)
    };
    let ((one, _), (two, later_rows)) = (read(u64::MAX), read(0));
    (one, two, later_rows)
}

#[test]
fn a_read_only_database_is_read_on_two_connections_as_on_one() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("ro");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("x.db");
    let expected = database_with_three_windows(&path);
    // A read-only file in a writable directory, then a read-only directory (immutable).
    set_read_only(&path, true);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(
        log_read_on_one_and_on_two_connections(&store),
        (expected.clone(), expected.clone(), 1_000)
    );
    drop(store);
    set_read_only(&sub, true);
    let store = Store::open_read_only(&path).unwrap();
    let read = log_read_on_one_and_on_two_connections(&store);
    set_read_only(&sub, false);
    set_read_only(&path, false);
    assert_eq!(read, (expected.clone(), expected, 1_000));
}

#[test]
fn requests_at_the_bounds_of_windows_and_of_the_read_are_read_once_on_two_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cb.db");
    let times = database_with_three_windows(&path);
    let store = Store::open(&path).unwrap();
    // From half past ten to noon, then to a microsecond past noon (the noon request, first of the
    // third window); each split between two connections, the second reading the last window.
    for (t1, first_later) in [
        ("2026-11-20T12:00:00Z", 11),
        ("2026-11-20T12:00:00.000001Z", 12),
    ] {
        let (t0, t1) = (t("2026-11-20T10:30:00Z"), t(t1));
        let read = store.read_request_log(&org(), t0, t1).unwrap();
        let (mut earlier, mut later) = (Vec::new(), Vec::new());
        read.scan_split_from(
            0,
            |ids| earlier.push(ids.ts_us),
            |ids| later.push(ids.ts_us),
        )
        .unwrap();
        let (t0_us, t1_us) = (timestamp::to_micros(&t0), timestamp::to_micros(&t1));
        let expected: Vec<i64> = times
            .iter()
            .copied()
            .filter(|&ts| t0_us <= ts && ts < t1_us)
            .collect();
        assert_eq!([earlier, later.clone()].concat(), expected);
        let later_from = t(&format!("2026-11-20T{first_later}:00:00Z"));
        assert_eq!(later.first(), Some(&timestamp::to_micros(&later_from)));
    }
}

/// Migration 0009 (issue 30): schema 2's mark of news that reached no webhook, kept in the audit's
/// summary, becomes a pending announcement; the other audits have none.
#[test]
fn the_upgrade_from_schema_6_turns_not_delivered_marks_into_pending_announcements() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("six.db");
    {
        let conn = connection_at_schema(&path, 6);
        conn.execute_batch(
            r#"INSERT INTO audits (org_id, t0, t1, created_at, tool_version, requests, http_429s, summary)
               VALUES ('7', '2026-11-19T00:00:00.000000Z', '2026-11-20T00:00:00.000000Z',
                       '2026-11-20T00:05:00.000000Z', '0.1.0', 10, 0, '{"notification": "not_delivered"}'),
                      ('7', '2026-11-18T00:00:00.000000Z', '2026-11-19T00:00:00.000000Z',
                       '2026-11-19T00:05:00.000000Z', '0.1.0', 10, 0, '{}'),
                      ('8', '2026-11-19T00:00:00.000000Z', '2026-11-20T00:00:00.000000Z',
                       '2026-11-20T00:05:00.000000Z', '0.1.0', 10, 0, '{"notification": "delivered"}');"#,
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(user_version(&store.conn), SCHEMA_VERSION as i64);
    assert_eq!(
        store.pending_announcements(&OrgId::new("7")).unwrap(),
        std::collections::HashSet::from([(t("2026-11-19T00:00:00Z"), t("2026-11-20T00:00:00Z"))])
    );
    assert!(
        store
            .pending_announcements(&OrgId::new("8"))
            .unwrap()
            .is_empty()
    );
}
