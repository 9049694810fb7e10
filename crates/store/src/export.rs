//! `callbudget export`: the database's tables as files for DuckDB, Spark or Trino. CSV writes one
//! file per table; Parquet one file per organization and day, hive style
//! (`TABLE/org=ORG/day=YYYY-MM-DD/data.parquet`), so a fleet's exports can be read as one dataset.
//! Columns keep their SQLite types: INTEGER as Int64, REAL as Float64, TEXT (timestamps too, in the
//! schema's fixed-width form) as String.

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

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
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
        matches!(self, ExportError::UnknownTable { .. })
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

/// Writes `tables` of `store` under `out` in `format`; returns the files written.
pub fn export(
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
                written.push(write_file(
                    out,
                    &relative,
                    &store.export_all(table)?,
                    format,
                )?);
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
                    written.push(write_file(out, &relative, &rows, format)?);
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
