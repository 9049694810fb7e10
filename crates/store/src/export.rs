//! `callbudget export`: the database's tables as files for DuckDB, Spark or Trino. CSV writes one
//! file per table; Parquet one file per organization and day, hive style
//! (`TABLE/org=ORG/day=YYYY-MM-DD/data.parquet`), so a fleet's exports can be read as one dataset.
//! Columns keep their SQLite types: INTEGER as Int64, REAL as Float64, TEXT (timestamps too, in the
//! schema's fixed-width form) as String.
//!
//! One directory, one database: an export is written beside `--out` and put in its place whole
//! (an atomic exchange of the two directories where the system has one), with a manifest
//! ([`MANIFEST`]) naming the database it came from. A directory that is not empty is refused
//! unless its manifest names the same database — then it is replaced, never added to, so that
//! a second database's partitions never mix with the first one's (DuckDB would read both).

use crate::{ColumnType, EXPORTED_TABLES, ExportedTable, Store, StoreError, TypedRows};
use callbudget_api::output_files::{OutputError, create_dirs_below, write_with};
use polars::prelude::*;
use rusqlite::types::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

impl ExportFormat {
    /// The names the command line accepts.
    pub const NAMES: [&'static str; 2] = ["csv", "parquet"];
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            other => Err(format!("{other:?}: expected csv or parquet")),
        }
    }
}

/// The file an export's directory holds to say what it is an export of.
pub const MANIFEST: &str = "callbudget-export.json";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{} is not empty and holds no callbudget export ({MANIFEST}): nothing written; export into an empty or new directory",
        out.display()
    )]
    NotAnExport { out: PathBuf },
    #[error(
        "{} holds the export of another database ({theirs}): nothing written; export each database into a directory of its own (one glob reads them all)",
        out.display()
    )]
    OtherDatabase { out: PathBuf, theirs: String },
    #[error("{} is not a directory: nothing written", out.display())]
    NotADirectory { out: PathBuf },
    #[error("cannot put the new export in the place of {}", out.display())]
    Publish {
        out: PathBuf,
        source: std::io::Error,
    },
    #[error("no table named {name:?} is exported; the tables are: {}", EXPORTED_TABLES.map(|t| t.name).join(", "))]
    UnknownTable { name: String },
    #[error(
        "table {table}: the partition value {value:?} cannot be a directory name; export it as csv"
    )]
    UnsafePartition { table: &'static str, value: String },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("cannot write {}", path.display())]
    Frame { path: PathBuf, source: PolarsError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ExportError {
    /// Whether the error is in how the export was asked for (a usage error): a table that is not
    /// exported.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ExportError::UnknownTable { .. }
                | ExportError::NotAnExport { .. }
                | ExportError::OtherDatabase { .. }
                | ExportError::NotADirectory { .. }
        )
    }
}

/// The exported tables called `names`, or every one when none is named.
pub fn tables_named(names: &[String]) -> Result<Vec<&'static ExportedTable>, ExportError> {
    if names.is_empty() {
        return Ok(EXPORTED_TABLES.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            EXPORTED_TABLES
                .iter()
                .find(|t| t.name == *name)
                .ok_or_else(|| ExportError::UnknownTable { name: name.clone() })
        })
        .collect()
}

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The files written, under `out`.
    pub files: Vec<PathBuf>,
    /// Whether it replaced a previous export of the same database.
    pub replaced: bool,
}

/// What an export's manifest says of the database it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Manifest {
    application: String,
    /// The database's path, made absolute, when it was exported.
    database: String,
    /// The database's creation time (its `metadata`): the same database wherever it is moved.
    database_created_at: Option<String>,
    format: String,
    tables: Vec<String>,
    tool_version: String,
}

impl Manifest {
    fn of(
        store: &Store,
        tables: &[&ExportedTable],
        format: ExportFormat,
    ) -> Result<Self, ExportError> {
        let path = store.path();
        let database = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_owned());
        Ok(Manifest {
            application: "callbudget".to_owned(),
            database: database.display().to_string(),
            database_created_at: store.metadata("created_at")?,
            format: match format {
                ExportFormat::Csv => "csv",
                ExportFormat::Parquet => "parquet",
            }
            .to_owned(),
            tables: tables.iter().map(|t| t.name.to_owned()).collect(),
            tool_version: callbudget_api::TOOL_VERSION.to_owned(),
        })
    }

    /// Whether `other` names the same database: by its creation time when both know it, else by
    /// its path.
    fn same_database(&self, other: &Manifest) -> bool {
        match (&self.database_created_at, &other.database_created_at) {
            (Some(a), Some(b)) => a == b,
            _ => self.database == other.database,
        }
    }
}

/// Where an export goes: a new directory, or the place of a previous export of the same database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    New,
    Replace,
}

/// Whether `out` may receive an export described by `ours` (see the module's docs).
fn target(out: &Path, ours: &Manifest) -> Result<Target, ExportError> {
    let io = |source| OutputError::Io {
        path: out.to_owned(),
        source,
    };
    match std::fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::New),
        Err(e) => return Err(io(e).into()),
        Ok(meta) if !meta.is_dir() => {
            return Err(ExportError::NotADirectory {
                out: out.to_owned(),
            });
        }
        Ok(_) => {}
    }
    if std::fs::read_dir(out).map_err(io)?.next().is_none() {
        return Ok(Target::Replace);
    }
    // A manifest that is a link, unreadable or not ours is no manifest.
    let manifest_path = out.join(MANIFEST);
    let theirs = manifest_path
        .symlink_metadata()
        .ok()
        .filter(|m| m.is_file())
        .and_then(|_| std::fs::read(&manifest_path).ok())
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
        .filter(|m| m.application == "callbudget");
    match theirs {
        None => Err(ExportError::NotAnExport {
            out: out.to_owned(),
        }),
        Some(theirs) if !theirs.same_database(ours) => Err(ExportError::OtherDatabase {
            out: out.to_owned(),
            theirs: callbudget_api::text::printable(&theirs.database).into_owned(),
        }),
        Some(_) => Ok(Target::Replace),
    }
}

/// Writes `tables` of `store` into `out` in `format`, whole: into a new directory beside it, put
/// in its place at the end (see the module's docs). A non-empty `out` that holds no export of this
/// database is refused before anything is written.
pub fn export(
    store: &Store,
    tables: &[&ExportedTable],
    format: ExportFormat,
    out: &Path,
) -> Result<Exported, ExportError> {
    // A link at --out is the user's choice: the export goes where it points.
    let out = match out.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(out).map_err(|source| OutputError::Io {
                path: out.to_owned(),
                source,
            })?
        }
        _ => out.to_owned(),
    };
    let manifest = Manifest::of(store, tables, format)?;
    let target = target(&out, &manifest)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| OutputError::Io {
        path: parent.clone(),
        source,
    })?;
    let staging = tempfile::Builder::new()
        .prefix(".callbudget-export-")
        .tempdir_in(&parent)
        .map_err(|source| OutputError::Io {
            path: parent.clone(),
            source,
        })?;
    let written = write_tables(store, tables, format, staging.path())?;
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| OutputError::Io {
        path: staging.path().join(MANIFEST),
        source: std::io::Error::other(e),
    })?;
    callbudget_api::output_files::write_atomically(&staging.path().join(MANIFEST), &manifest_json)?;
    publish(staging, &out, target)?;
    let files = written
        .into_iter()
        .map(|relative| out.join(relative))
        .collect();
    Ok(Exported {
        files,
        replaced: target == Target::Replace,
    })
}

/// Puts the finished export at `staging` in the place of `out`: renamed there when `out` does not
/// exist; else exchanged with it in one step where the system can (Linux), or moved aside and
/// replaced, the old one then removed.
fn publish(staging: tempfile::TempDir, out: &Path, target: Target) -> Result<(), ExportError> {
    let publish_error = |source| ExportError::Publish {
        out: out.to_owned(),
        source,
    };
    let staged = staging.keep();
    let result = match target {
        Target::New => std::fs::rename(&staged, out).map(|()| None),
        Target::Replace => exchange(&staged, out).map(Some),
    };
    match result {
        // The previous export, now under the staging name (or aside): removed; links inside it
        // are removed as links, never followed.
        Ok(Some(old)) => {
            let _ = std::fs::remove_dir_all(old);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(publish_error(e))
        }
    }
}

/// Swaps the directories `staged` and `out`; returns where the old `out` now is.
fn exchange(staged: &Path, out: &Path) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, staged, CWD, out, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(staged.to_owned()),
            // A file system without the exchange: the two renames below.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut aside = staged.as_os_str().to_owned();
    aside.push(".previous");
    let aside = PathBuf::from(aside);
    std::fs::rename(out, &aside)?;
    if let Err(e) = std::fs::rename(staged, out) {
        // Put the previous export back.
        let _ = std::fs::rename(&aside, out);
        return Err(e);
    }
    Ok(aside)
}

/// Writes `tables` under `dir`; returns the files written, relative to it.
fn write_tables(
    store: &Store,
    tables: &[&ExportedTable],
    format: ExportFormat,
    out: &Path,
) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    for table in tables {
        match format {
            ExportFormat::Csv => {
                let relative = PathBuf::from(format!("{}.csv", table.name));
                write_file(out, &relative, &store.export_all(table)?, format)?;
                written.push(relative);
            }
            ExportFormat::Parquet => {
                for (org, day) in store.export_partitions(table)? {
                    for value in [&org, &day] {
                        if !is_safe_directory_name(value) {
                            return Err(ExportError::UnsafePartition {
                                table: table.name,
                                value: value.clone(),
                            });
                        }
                    }
                    let relative = Path::new(table.name)
                        .join(format!("org={org}"))
                        .join(format!("day={day}"))
                        .join("data.parquet");
                    let rows = store.export_partition(table, &org, &day)?;
                    write_file(out, &relative, &rows, format)?;
                    written.push(relative);
                }
            }
        }
    }
    Ok(written)
}

/// Organization ids and days are API text: only plain names may become directories.
fn is_safe_directory_name(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Writes `rows` to `out/relative`, creating the directories between them (see
/// [`callbudget_api::output_files`]: never through a link planted inside `out`).
fn write_file(
    out: &Path,
    relative: &Path,
    rows: &TypedRows,
    format: ExportFormat,
) -> Result<PathBuf, ExportError> {
    let path = out.join(relative);
    let mut df = frame(rows).map_err(|source| ExportError::Frame {
        path: path.clone(),
        source,
    })?;
    create_dirs_below(out, relative.parent().unwrap_or(Path::new("")))?;
    let mut frame_error = None;
    write_with(&path, |file| {
        let written = match format {
            ExportFormat::Csv => CsvWriter::new(&mut *file)
                .include_header(true)
                .finish(&mut df),
            ExportFormat::Parquet => ParquetWriter::new(&mut *file).finish(&mut df).map(|_| ()),
        };
        written.map_err(|e| {
            let io = std::io::Error::other(e.to_string());
            frame_error = Some(e);
            io
        })
    })
    .map_err(|e| match frame_error.take() {
        Some(source) => ExportError::Frame {
            path: path.clone(),
            source,
        },
        None => ExportError::Output(e),
    })?;
    Ok(path)
}

/// The rows as a frame, one column per table column, typed by its declaration.
fn frame(rows: &TypedRows) -> PolarsResult<DataFrame> {
    let columns = rows
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            let name = PlSmallStr::from(name.as_str());
            let values = rows.rows.iter().map(|row| &row[i]);
            match kind {
                ColumnType::Integer => Column::new(
                    name,
                    values
                        .map(|v| match v {
                            Value::Integer(x) => Some(*x),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                ColumnType::Real => Column::new(
                    name,
                    values
                        .map(|v| match v {
                            Value::Real(x) => Some(*x),
                            Value::Integer(x) => Some(*x as f64),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                ColumnType::Text => Column::new(
                    name,
                    values
                        .map(|v| match v {
                            Value::Text(s) => Some(s.clone()),
                            Value::Integer(x) => Some(x.to_string()),
                            Value::Real(x) => Some(x.to_string()),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        })
        .collect();
    DataFrame::new(rows.rows.len(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_table_named_is_every_table_and_an_unknown_one_is_a_usage_error() {
        assert_eq!(tables_named(&[]).unwrap().len(), EXPORTED_TABLES.len());
        let named = tables_named(&["api_requests".to_owned()]).unwrap();
        assert_eq!(
            named.iter().map(|t| t.name).collect::<Vec<_>>(),
            ["api_requests"]
        );
        let e = tables_named(&["api_requests".to_owned(), "secrets".to_owned()]).unwrap_err();
        assert!(e.is_usage());
        assert!(
            e.to_string()
                .starts_with("no table named \"secrets\" is exported; the tables are: ")
        );
    }

    #[test]
    fn only_plain_names_become_partition_directories() {
        assert!(is_safe_directory_name("549236"));
        assert!(is_safe_directory_name("2026-11-19"));
        for bad in ["", ".", "..", "a/b", "..\\x", "a b"] {
            assert!(!is_safe_directory_name(bad), "{bad:?}");
        }
    }
}
