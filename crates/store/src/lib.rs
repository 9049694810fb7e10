//! The SQLite store: one database file holding everything callbudget has collected, organized in
//! collection windows (one window = one endpoint, one org, one filter, one `[t0, t1)` time range).
//!
//! Rules the code relies on (docs/schema.md explains them to people writing SQL):
//! - The schema is the numbered `.sql` files in `migrations/`, embedded in the binary and applied in
//!   order by `rusqlite_migration`, which tracks them with `PRAGMA user_version`. Released migrations
//!   are never edited; a change is a new file.
//! - A file is inspected read-only before anything writes to it: one that is not a callbudget
//!   database, is damaged, or comes from a newer callbudget is refused and left byte-identical.
//!   (Switching to WAL alone would rewrite its header.) "Damaged" is what `PRAGMA quick_check`
//!   finds: before storing windows it reads every page of the file (about 0.2 s per million
//!   requests stored), the price of never writing into a broken file; before saving an audit,
//!   every table but the request log, which the audit has just read for its window.
//! - Commands that only read open the file read-only ([`Store::open_read_only`]), and so do
//!   commands that would save an audit when this process may not write the file or its directory
//!   ([`Store::open_existing`]); in a directory it may not write, SQLite is told the file is
//!   immutable, since it could not create the WAL's shared-memory file there.
//! - Every timestamp is TEXT in [`callbudget_api::timestamp`]'s canonical form, so text order is time order;
//!   except in `request_log`, the one big table, which keeps integer microseconds (`ts_us`) and
//!   whose views show the canonical text.
//! - The request log names senders and endpoints by dictionary id (`request_sources`,
//!   `request_endpoints`); dictionary rows are never changed or deleted, so ids may be cached.
//! - A window is written in one transaction together with its rows. Storing a window whose range
//!   covers stored windows of the same (org, endpoint, filter) replaces them; a partial overlap with
//!   a stored complete window is refused, so no request is ever counted twice. An imported log
//!   (`imports`) replaces exactly the span its file covers instead: stored windows that reach past
//!   it are trimmed to the rows outside it, all in one transaction with the import.

mod adhoc;
mod announcements;
mod audits;
mod dictionary;
pub mod export;
mod exported_tables;
mod history;
pub mod import;
mod imports;
mod providers;
pub mod queries;
mod read;
mod request_rows;
mod views;
// The crate's one unsafe module: the loop that reads a window's requests through SQLite's C
// interface, a third of an analysis's reading time (BENCHMARKS.md); each block says why it is sound.
#[allow(unsafe_code)]
mod window_scan;
mod write;

pub use adhoc::{QueryLimits, QueryRows};
pub use audits::{AuditRecord, CollectedExtent, IntervalCount, StoredFinding};
pub use exported_tables::{ColumnType, EXPORTED_TABLES, ExportedTable, TypedRows};

pub use imports::RequestLogImport;
pub use providers::StoredProvider;
pub use read::{
    RequestEndpoint, RequestLogDictionaries, RequestLogRead, RequestLogRow, RequestSource,
};
pub use request_rows::RequestRow;
pub use window_scan::RequestLogIds;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use rusqlite_migration::{M, Migrations};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `PRAGMA application_id` of every callbudget database: "CBDG" in ASCII.
pub const APPLICATION_ID: i32 = 0x4342_4447;

/// The migrations, in order. Their count is the schema version this build writes.
const MIGRATION_SQL: [&str; 7] = [
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_audits.sql"),
    include_str!("migrations/0003_views.sql"),
    include_str!("migrations/0004_compact_request_log.sql"),
    include_str!("migrations/0005_providers.sql"),
    include_str!("migrations/0006_clustered_request_log.sql"),
    include_str!("migrations/0009_announcements.sql"),
];

/// The schema version (`PRAGMA user_version`) of a fully migrated database.
pub const SCHEMA_VERSION: usize = MIGRATION_SQL.len();

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the in-memory store calls itself in error messages.
const IN_MEMORY: &str = ":memory:";

/// Everything that can go wrong opening, reading or writing the store. Every variant names the
/// database file, since a user may keep several.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} appeared while the import built the new database beside it: it is left as it is and nothing was imported (import again to import into it)",
        path.display()
    )]
    TakenMeanwhile { path: PathBuf },
    #[error("cannot give the new database its name {}", path.display())]
    Publish {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a callbudget database (it is not an SQLite database)", path.display())]
    NotSqlite { path: PathBuf },
    #[error("{} is not a callbudget database ({reason})", path.display())]
    NotCallbudget { path: PathBuf, reason: String },
    #[error("{} is damaged or not a database", path.display())]
    Corrupt {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "{} is damaged ({checked}: {problem}); it was left untouched: restore it from a backup, or \
         rescue what is readable with sqlite3's .recover",
        path.display()
    )]
    Damaged {
        path: PathBuf,
        /// What the check read: the whole file, or one table.
        checked: String,
        problem: String,
    },
    #[error("{} does not exist: run `callbudget collect` first", path.display())]
    Missing { path: PathBuf },
    #[error(
        "{}: its view {view} is not the one callbudget defines (changed by hand, or a crafted file): not read; open it once with a command that writes it (collect, import or analyze) to have its views recreated",
        path.display()
    )]
    ViewChanged { path: PathBuf, view: String },
    #[error(
        "{}: {view} should be a view callbudget defines but is something else (changed by hand, or a crafted file): not read, not changed",
        path.display()
    )]
    NotAView { path: PathBuf, view: String },
    #[error("{}: the query ran past its time limit of {seconds} s (--timeout) and was stopped", path.display())]
    QueryTimeout { path: PathBuf, seconds: u64 },
    #[error(
        "{}: the query needed more than {} MiB of memory and was stopped",
        path.display(),
        limit >> 20
    )]
    QueryOutOfMemory { path: PathBuf, limit: u64 },
    #[error(
        "{}: the query's answer passed {} MiB and was stopped: narrow it with its parameters",
        path.display(),
        limit >> 20
    )]
    QueryTooLarge { path: PathBuf, limit: usize },
    #[error(
        "{} is read-only (its mode, or this user's rights): it is not written, whoever runs this (root too); `chmod u+w` it to write into it",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    #[error("{} is empty, not a callbudget database: run `callbudget collect` first", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{} has schema version {found}, older than this callbudget's {SCHEMA_VERSION}, and cannot be \
         upgraded read-only: run any callbudget command once as a user that may write it",
        path.display()
    )]
    OldSchemaReadOnly { path: PathBuf, found: i64 },
    #[error(
        "{} has schema version {found} but this callbudget knows up to {known}: upgrade callbudget",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("cannot migrate {} to schema version {SCHEMA_VERSION}", path.display())]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
    #[error("{}: {context}", path.display())]
    Sqlite {
        path: PathBuf,
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("{}: invalid window {window}: {reason}", path.display())]
    InvalidWindow {
        path: PathBuf,
        window: String,
        reason: &'static str,
    },
    #[error(
        "{}: window {window} partly overlaps stored window {stored_id} [{stored_t0}, {stored_t1}) \
         without covering it; store a window that covers it, or one that does not touch it",
        path.display()
    )]
    PartialOverlap {
        path: PathBuf,
        window: String,
        stored_id: WindowId,
        stored_t0: String,
        stored_t1: String,
    },
    #[error("{}: window {window} holds a record at {ts}, outside its range", path.display())]
    RecordOutsideWindow {
        path: PathBuf,
        window: String,
        ts: String,
    },
    #[error("{}: window {window}: response code {code:?} is not a number from 0 to 65535", path.display())]
    InvalidResponseCode {
        path: PathBuf,
        window: String,
        code: String,
    },
}

/// A Meraki organization id (`"549236"`): opaque text, never a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    pub fn new(id: impl Into<String>) -> Self {
        OrgId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for OrgId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for OrgId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<&str> for OrgId {
    fn from(id: &str) -> Self {
        OrgId(id.to_owned())
    }
}

impl ToSql for OrgId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0.as_str()))
    }
}

impl FromSql for OrgId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        String::column_result(value).map(OrgId)
    }
}

/// The row id of a collection window (`collection_windows.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowId(i64);

impl WindowId {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for WindowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for WindowId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for WindowId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(WindowId)
    }
}

/// Implements the text round trip of an enum stored in a CHECK-constrained TEXT column.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// The inverse of [`Self::as_str`].
            pub fn from_db(text: &str) -> Option<Self> {
                match text { $($text => Some($ty::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $ty::from_db(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {text:?}", stringify!($ty)).into())
                })
            }
        }
    };
}

/// The API endpoint a window was collected from, stored by its name.
pub use callbudget_api::Endpoint;

/// Whether a window's collection finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowStatus {
    Complete,
    Failed,
    /// Reserved for a collector that records a window before its rows; the store's own writes
    /// never leave one behind.
    InProgress,
}

text_enum!(WindowStatus {
    Complete => "complete",
    Failed => "failed",
    InProgress => "in_progress",
});

/// The API filter a window was collected with. Windows with different filters describe
/// overlapping sets of requests, so they never replace one another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CollectionFilter {
    None,
    Admin(String),
    SourceIp(String),
    UserAgent(String),
    Operation(String),
}

impl CollectionFilter {
    /// The `filter_kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            CollectionFilter::None => "none",
            CollectionFilter::Admin(_) => "admin",
            CollectionFilter::SourceIp(_) => "source_ip",
            CollectionFilter::UserAgent(_) => "user_agent",
            CollectionFilter::Operation(_) => "operation",
        }
    }

    /// The `filter_value` column: `''` for [`CollectionFilter::None`].
    pub fn value(&self) -> &str {
        match self {
            CollectionFilter::None => "",
            CollectionFilter::Admin(v)
            | CollectionFilter::SourceIp(v)
            | CollectionFilter::UserAgent(v)
            | CollectionFilter::Operation(v) => v,
        }
    }

    /// The inverse of [`Self::kind`] and [`Self::value`].
    pub fn from_parts(kind: &str, value: &str) -> Option<Self> {
        let value = value.to_owned();
        match kind {
            "none" if value.is_empty() => Some(CollectionFilter::None),
            "admin" => Some(CollectionFilter::Admin(value)),
            "source_ip" => Some(CollectionFilter::SourceIp(value)),
            "user_agent" => Some(CollectionFilter::UserAgent(value)),
            "operation" => Some(CollectionFilter::Operation(value)),
            _ => None,
        }
    }
}

/// What the collector knows about a window it has collected; the row count comes from the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMeta {
    pub org_id: OrgId,
    pub endpoint: Endpoint,
    pub filter: CollectionFilter,
    /// Start of the collected range, inclusive.
    pub t0: DateTime<Utc>,
    /// End of the collected range, exclusive.
    pub t1: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// HTTP calls the collection took, retries and pages included.
    pub calls: u64,
    /// 429 answers seen while collecting it.
    pub http_429s: u64,
}

impl fmt::Display for WindowMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of org {}", self.endpoint, self.org_id)?;
        if self.filter != CollectionFilter::None {
            write!(f, " ({}={})", self.filter.kind(), self.filter.value())?;
        }
        write!(
            f,
            " [{}, {})",
            callbudget_api::timestamp::format(&self.t0),
            callbudget_api::timestamp::format(&self.t1)
        )
    }
}

/// One row of `collection_windows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRow {
    pub id: WindowId,
    pub org_id: OrgId,
    pub endpoint: Endpoint,
    pub filter: CollectionFilter,
    pub t0: DateTime<Utc>,
    pub t1: DateTime<Utc>,
    pub status: WindowStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows: u64,
    pub calls: u64,
    pub http_429s: u64,
    pub error: Option<String>,
}

/// How a store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Reads only: every write fails, and nothing was checked or migrated on opening.
    ReadOnly,
}

/// An open callbudget database. Not `Sync`: one per thread.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    access: Access,
    /// Ids of the request log's dictionary rows, so storing a record rarely asks the database.
    dictionaries: dictionary::Dictionaries,
}

impl Store {
    /// Opens the callbudget database at `path` to read and write, creating it if the file is
    /// missing or empty, and migrates it to [`SCHEMA_VERSION`]. Any other file, and a damaged one,
    /// is refused and left untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        // The rule `analyze` reads by: a file made read-only is not written, even by root, who
        // could write it anyway.
        if path.exists() && path != Path::new(IN_MEMORY) && !may_write(path) {
            return Err(StoreError::ReadOnly {
                path: path.to_owned(),
            });
        }
        inspect(path, DamageCheck::Everything)?;
        Store::open_read_write(path)
    }

    /// Opens an existing database for a command that reads it and would like to save to it (an
    /// audit): read-write when this process may write the file and its directory (after the
    /// damage check), else read-only — see [`Store::access`]. A missing or empty file is refused
    /// and left as it was: reading never creates a database.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let version = existing_version(path)?;
        if may_write(path) && may_write(&directory_of(path)) {
            inspect(path, DamageCheck::AllButRequestLog)?;
            Store::open_read_write(path)
        } else {
            Store::open_read_only_at(path, version)
        }
    }

    /// Opens an existing database only to read it (`query`, `export`); a database from an older
    /// callbudget is upgraded first if this process may write it. A missing or empty file is
    /// refused.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let version = existing_version(path)?;
        let writable = may_write(path) && may_write(&directory_of(path));
        if version < SCHEMA_VERSION as i64 && writable {
            inspect(path, DamageCheck::Everything)?;
            drop(Store::open_read_write(path)?);
            return Store::open_read_only_at(path, SCHEMA_VERSION as i64);
        }
        match Store::open_read_only_at(path, version) {
            // Views changed by hand or crafted: recreated where this process may write them.
            Err(StoreError::ViewChanged { .. }) if writable => {
                inspect(path, DamageCheck::Everything)?;
                drop(Store::open_read_write(path)?);
                Store::open_read_only_at(path, version)
            }
            other => other,
        }
    }

    /// Whether writes are possible through this store.
    pub fn access(&self) -> Access {
        self.access
    }

    fn open_read_write(path: &Path) -> Result<Store, StoreError> {
        // No URI flag: a file named "file:..." is a file, not a URI.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|source| StoreError::Sqlite {
                path: path.to_owned(),
                context: "opening the database",
                source,
            })?;
        Store::initialize(conn, path.to_owned())
    }

    /// Opens a database [`inspect`] found to be callbudget's, at schema `version`, read-only.
    fn open_read_only_at(path: &Path, version: i64) -> Result<Store, StoreError> {
        if version < SCHEMA_VERSION as i64 {
            return Err(StoreError::OldSchemaReadOnly {
                path: path.to_owned(),
                found: version,
            });
        }
        let sql_error = |context: &'static str| {
            move |source| StoreError::Sqlite {
                path: path.to_owned(),
                context,
                source,
            }
        };
        // A URI, since only a URI says "immutable"; the path is escaped so that it stays a path.
        let immutable = !may_write(&directory_of(path));
        let uri = read_only_uri(path, immutable).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&uri, flags)
            .map_err(sql_error("opening the database read-only"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql_error("setting the busy timeout"))?;
        let store = Store {
            conn,
            path: path.to_owned(),
            access: Access::ReadOnly,
            dictionaries: dictionary::Dictionaries::default(),
        };
        // Nothing is read through a view this build did not define.
        store.check_views()?;
        Ok(store)
    }

    /// A fresh database in memory, for tests and dry runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: PathBuf::from(IN_MEMORY),
            context: "opening an in-memory database",
            source,
        })?;
        Store::initialize(conn, PathBuf::from(IN_MEMORY))
    }

    /// The file this store writes to (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A value of the `metadata` table.
    pub fn metadata(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM metadata WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(self.sql_error("reading metadata"))
    }

    /// Per-connection settings, then migrations, then the metadata every writing open refreshes.
    fn initialize(mut conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let sql_error = |context: &'static str| {
            let path = path.clone();
            move |source| StoreError::Sqlite {
                path,
                context,
                source,
            }
        };
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql_error("setting the busy timeout"))?;
        // WAL: readers (a report, the sqlite3 shell) never block the collector and vice versa.
        // An in-memory database answers "memory", which is as good.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(sql_error("switching to WAL mode"))?;
        // NORMAL is durable across crashes of the process in WAL mode; a power cut may lose the last
        // windows, which the next collection fetches again.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_error("setting synchronous"))?;
        // Off by default in SQLite and per connection: without it ON DELETE CASCADE does nothing.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql_error("enabling foreign keys"))?;

        migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;

        let now = callbudget_api::timestamp::format(&Utc::now());
        let tx = conn.transaction().map_err(sql_error("writing metadata"))?;
        {
            let mut upsert = tx
                .prepare(
                    "INSERT INTO metadata (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .map_err(sql_error("writing metadata"))?;
            for (key, value) in [
                ("application", "callbudget"),
                ("schema_version", &SCHEMA_VERSION.to_string()),
                ("tool_version", callbudget_api::TOOL_VERSION),
            ] {
                upsert
                    .execute([key, value])
                    .map_err(sql_error("writing metadata"))?;
            }
            tx.execute(
                "INSERT INTO metadata (key, value) VALUES ('created_at', ?1)
                 ON CONFLICT (key) DO NOTHING",
                [&now],
            )
            .map_err(sql_error("writing metadata"))?;
        }
        tx.commit().map_err(sql_error("writing metadata"))?;
        let mut store = Store {
            conn,
            path,
            access: Access::ReadWrite,
            dictionaries: dictionary::Dictionaries::default(),
        };
        // Views changed by hand or crafted are put back as this build defines them.
        store.repair_views()?;
        Ok(store)
    }

    /// Writes without a journal and without syncing, for a database nobody else can see yet (a
    /// new one being built under a name of its own, published once complete): a crash leaves a
    /// file nobody will use. [`Store::end_bulk_load`] makes it an ordinary database again.
    ///
    /// Foreign keys are not enforced meanwhile (a check of each request's window was a fifth of
    /// the time an import spent storing): the loader writes each row's window itself, and an
    /// import deletes the rows of a window it replaces before the window, not through the
    /// cascade. Call it outside any transaction (SQLite ignores the setting inside one).
    pub(crate) fn begin_bulk_load(&mut self) -> Result<(), StoreError> {
        self.conn
            .pragma_update_and_check(None, "journal_mode", "OFF", |row| row.get::<_, String>(0))
            .map_err(self.sql_error("switching the journal off"))?;
        self.conn
            .pragma_update(None, "synchronous", "OFF")
            .map_err(self.sql_error("setting synchronous"))?;
        self.conn
            .pragma_update(None, "foreign_keys", false)
            .map_err(self.sql_error("setting foreign_keys"))
    }

    /// Back to the WAL and its syncing, as every open sets them (see [`Store::begin_bulk_load`]).
    pub(crate) fn end_bulk_load(&mut self) -> Result<(), StoreError> {
        // First: whatever fails after it, the connection enforces foreign keys again.
        self.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(self.sql_error("setting foreign_keys"))?;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(self.sql_error("switching to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") && self.path != Path::new(IN_MEMORY) {
            return Err(StoreError::Sqlite {
                path: self.path.clone(),
                context: "switching to WAL mode",
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(format!("the journal mode stayed {mode}")),
                ),
            });
        }
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.sql_error("setting synchronous"))
    }

    /// Wraps a rusqlite error with this store's path and what was being done.
    fn sql_error(
        &self,
        context: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> StoreError + use<> {
        let path = self.path.clone();
        move |source| StoreError::Sqlite {
            path,
            context,
            source,
        }
    }
}

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATION_SQL.iter().map(|sql| M::up(sql)).collect())
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The request log's tables, the bulk of a database's pages (schemas 1 to 3 kept it flat in
/// `api_requests`).
const REQUEST_LOG_TABLES: [&str; 2] = ["request_log", "api_requests"];

/// How much of a file [`inspect`] reads for damage before a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DamageCheck {
    /// Everything (`PRAGMA quick_check`: every b-tree page, the free list): before storing
    /// windows, which write into the request log.
    Everything,
    /// Every table but the request log's: before saving an audit, which writes only beside it
    /// (the audit has just read its window of the log, and a damaged page there fails the read).
    AllButRequestLog,
    /// Only the header and the schema: reading commands, where damage shows as an error when read.
    SchemaOnly,
}

/// What an existing file holds, for a command that must not create a database: its schema
/// version. A missing or empty file is refused.
fn existing_version(path: &Path) -> Result<i64, StoreError> {
    match inspect(path, DamageCheck::SchemaOnly)? {
        Inspection::Missing => Err(StoreError::Missing {
            path: path.to_owned(),
        }),
        Inspection::Empty => Err(StoreError::Empty {
            path: path.to_owned(),
        }),
        Inspection::Callbudget { user_version } => Ok(user_version),
    }
}

/// The directory a database file's WAL and shared-memory files go into.
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Whether this process may write `path` (a file or a directory): its mode lets someone write it
/// — so a file made read-only with `chmod a-w` is treated as read-only even by root, who could
/// write it anyway — and the system lets this process write it (owner, ACLs, a read-only mount).
fn may_write(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    if metadata.permissions().readonly() {
        return false;
    }
    #[cfg(unix)]
    {
        rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// `file:/abs/path?mode=ro[&immutable=1]`, every byte of the path but unreserved ones and `/`
/// percent-encoded (a `?` or `#` in a file name would otherwise end the path).
fn read_only_uri(path: &Path, immutable: bool) -> std::io::Result<String> {
    let absolute = std::path::absolute(path)?;
    let mut uri = String::from("file:");
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(absolute.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = absolute.to_string_lossy().replace('\\', "/").into_bytes();
    for byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'.' | b'_' | b'~') {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    Ok(uri)
}

/// What [`inspect`] found at a path it may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inspection {
    Missing,
    Empty,
    /// A callbudget database (or an empty SQLite one, version 0) at this schema version or older.
    Callbudget {
        user_version: i64,
    },
}

/// Decides, without writing a byte, whether `path` may be opened as a callbudget database: a
/// callbudget database at this schema version or older, undamaged, or nothing yet (no file, an
/// empty file, an empty SQLite database), which becomes one.
fn inspect(path: &Path, check: DamageCheck) -> Result<Inspection, StoreError> {
    let io_error = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Inspection::Missing),
        Err(e) => return Err(io_error(e)),
    };
    let mut header = Vec::with_capacity(100);
    file.by_ref()
        .take(100)
        .read_to_end(&mut header)
        .map_err(io_error)?;
    drop(file);
    if header.is_empty() {
        return Ok(Inspection::Empty);
    }
    if header.len() < 100 || !header.starts_with(SQLITE_MAGIC) {
        return Err(StoreError::NotSqlite {
            path: path.to_owned(),
        });
    }

    let corrupt = |source| StoreError::Corrupt {
        path: path.to_owned(),
        source,
    };
    // Immutable where SQLite could not create its shared-memory file: it only reads.
    let immutable = !may_write(&directory_of(path));
    let uri = read_only_uri(path, immutable).map_err(io_error)?;
    let conn = Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(corrupt)?;
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(corrupt)?;
    let user_version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(corrupt)?;
    // Reading the schema is what fails on a damaged file whose header survived.
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(corrupt)?;

    if application_id == APPLICATION_ID {
        return match usize::try_from(user_version) {
            Ok(v) if v <= SCHEMA_VERSION => {
                check_damage(&conn, path, check, &tables)?;
                Ok(Inspection::Callbudget { user_version })
            }
            _ => Err(StoreError::TooNew {
                path: path.to_owned(),
                found: user_version,
                known: SCHEMA_VERSION,
            }),
        };
    }
    drop(conn);
    if application_id == 0 && user_version == 0 && tables.is_empty() {
        return Ok(Inspection::Callbudget { user_version });
    }
    let reason = if application_id != 0 {
        format!(
            "its application_id is {application_id:#010x}, callbudget's is {APPLICATION_ID:#010x}"
        )
    } else if tables.is_empty() {
        format!("it is an SQLite database with user_version {user_version} and no tables")
    } else {
        format!("it has tables {}", tables.join(", "))
    };
    Err(StoreError::NotCallbudget {
        path: path.to_owned(),
        reason,
    })
}

/// Runs `PRAGMA quick_check` as `check` asks: on the whole file, or table by table (`tables`, the
/// schema's) but the request log's. A page too broken to walk fails the check itself.
fn check_damage(
    conn: &Connection,
    path: &Path,
    check: DamageCheck,
    tables: &[String],
) -> Result<(), StoreError> {
    let quick_check = |target: &str, sql: &str| -> Result<(), StoreError> {
        let damaged = |problem: String| StoreError::Damaged {
            path: path.to_owned(),
            checked: target.to_owned(),
            problem,
        };
        let problems: Vec<String> = conn
            .prepare(sql)
            .and_then(|mut stmt| {
                stmt.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(|e| damaged(e.to_string()))?;
        match problems.into_iter().find(|p| p != "ok") {
            // SQLite's report is on several lines ("*** in database main ***\nTree 31 page 61: …").
            Some(problem) => Err(damaged(
                problem.split_whitespace().collect::<Vec<_>>().join(" "),
            )),
            None => Ok(()),
        }
    };
    match check {
        DamageCheck::SchemaOnly => Ok(()),
        DamageCheck::Everything => quick_check("the whole file", "PRAGMA quick_check(1)"),
        DamageCheck::AllButRequestLog => {
            for table in tables {
                if REQUEST_LOG_TABLES.contains(&table.as_str()) {
                    continue;
                }
                // A pragma's argument cannot be bound; quoted as an identifier, the name (from
                // this file's own schema) cannot become SQL.
                let quoted = table.replace('"', "\"\"");
                quick_check(
                    &format!("table {table}"),
                    &format!("PRAGMA quick_check(\"{quoted}\")"),
                )?;
            }
            Ok(())
        }
    }
}

/// Reads a canonical timestamp column.
fn timestamp_column(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(idx)?;
    callbudget_api::timestamp::parse(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads an endpoint column (stored by [`Endpoint::as_str`]).
fn endpoint_column(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Endpoint> {
    let name = row.get_ref(idx)?.as_str()?;
    Endpoint::from_name(name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown Endpoint {name:?}").into(),
        )
    })
}

/// Reads an optional canonical timestamp column.
fn optional_timestamp_column(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(idx)? {
        ValueRef::Null => Ok(None),
        _ => timestamp_column(row, idx).map(Some),
    }
}

/// A count as SQLite's INTEGER, which is signed: counts past `i64::MAX` are refused, not wrapped.
fn count_to_sql(count: u64) -> rusqlite::Result<i64> {
    i64::try_from(count).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Reads a count column (CHECK-constrained to be non-negative).
fn count_column(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let count: i64 = row.get(idx)?;
    u64::try_from(count).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

#[cfg(test)]
mod tests;
