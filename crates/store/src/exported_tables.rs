//! Whole tables for export, one organization-day at a time, with each column's declared type.
//!
//! Every statement is a constant: the table list below is fixed, nothing from the command line
//! reaches the SQL but bound values.

use super::{Store, StoreError};
use rusqlite::types::Value;
use std::collections::HashMap;

/// A table callbudget exports, and how its rows fall into (organization, day) partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportedTable {
    pub name: &'static str,
    select_all: &'static str,
    partitions: &'static str,
    select_partition: &'static str,
}

macro_rules! exported_table {
    ($table:literal, org = $org:literal, day = $day:literal, order = $order:literal) => {
        ExportedTable {
            name: $table,
            select_all: concat!("SELECT * FROM ", $table, " ORDER BY ", $order),
            partitions: concat!(
                "SELECT DISTINCT ",
                $org,
                ", substr(",
                $day,
                ", 1, 10) FROM ",
                $table,
                " ORDER BY 1, 2"
            ),
            select_partition: concat!(
                "SELECT * FROM ",
                $table,
                " WHERE ",
                $org,
                " = ?1 AND ",
                $day,
                " >= ?2 AND ",
                $day,
                " < ?3 ORDER BY ",
                $order
            ),
        }
    };
}

/// The columns of the `api_requests` view, in its order.
macro_rules! api_requests_columns {
    () => {
        "window_id, org_id, ts, admin_id, method, host, path, query_string, user_agent, \
         response_code, source_ip, version, operation_id, client_id, client_type"
    };
}

/// The exported tables; the day of a row is the one of its main timestamp. Rows keep their
/// insertion order (tables without a rowid: their primary key's).
pub const EXPORTED_TABLES: [ExportedTable; 8] = [
    // A view since schema 4: read through `api_request_rows`, which has the integer time. Its
    // rows come in the order `request_log` keeps them (since schema 6): window by window, each by
    // time (its primary key), which needs no sort.
    ExportedTable {
        name: "api_requests",
        select_all: concat!(
            "SELECT ",
            api_requests_columns!(),
            " FROM api_request_rows ORDER BY window_id, ts_us, id"
        ),
        partitions: "SELECT DISTINCT w.org_id, date(r.ts_us / 1000000, 'unixepoch')
                     FROM request_log AS r JOIN collection_windows AS w ON w.id = r.window_id
                     ORDER BY 1, 2",
        select_partition: concat!(
            "SELECT ",
            api_requests_columns!(),
            " FROM api_request_rows WHERE org_id = ?1",
            " AND ts_us >= unixepoch(?2) * 1000000 AND ts_us < unixepoch(?3) * 1000000",
            " ORDER BY window_id, ts_us, id"
        ),
    },
    exported_table!(
        "response_code_counts",
        org = "org_id",
        day = "interval_start",
        order = "rowid"
    ),
    exported_table!(
        "overview_counts",
        org = "org_id",
        day = "t0",
        order = "rowid"
    ),
    exported_table!(
        "collection_windows",
        org = "org_id",
        day = "t0",
        order = "rowid"
    ),
    exported_table!("audits", org = "org_id", day = "t0", order = "rowid"),
    exported_table!("findings", org = "org_id", day = "start", order = "rowid"),
    exported_table!(
        "admins",
        org = "org_id",
        day = "collected_at",
        order = "org_id, id"
    ),
    exported_table!("organizations", org = "id", day = "last_seen", order = "id"),
];

/// A column's SQLite type as declared in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Text,
}

/// Rows of one table with the declared type of each column.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedRows {
    pub columns: Vec<(String, ColumnType)>,
    pub rows: Vec<Vec<Value>>,
}

impl Store {
    /// Every row of `table`.
    pub fn export_all(&self, table: &ExportedTable) -> Result<TypedRows, StoreError> {
        self.typed_rows(table, table.select_all, &[])
    }

    /// The (organization, day) pairs `table` has rows for, in order; day is `YYYY-MM-DD`.
    pub fn export_partitions(
        &self,
        table: &ExportedTable,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: self.path.clone(),
            context: "listing a table's partitions",
            source,
        };
        let mut statement = self.conn.prepare(table.partitions).map_err(err)?;
        let pairs = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(pairs)
    }

    /// The rows of `table` for one organization and day (`YYYY-MM-DD`). Selected as a range of
    /// the canonical timestamp text (`day <= ts < next day`), so the (org, time) indexes serve it.
    pub fn export_partition(
        &self,
        table: &ExportedTable,
        org: &str,
        day: &str,
    ) -> Result<TypedRows, StoreError> {
        let next_day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.succ_opt())
            .map(|d| d.format("%Y-%m-%d").to_string())
            // A day that is not a date (a hand-edited row): every value starting with it.
            .unwrap_or_else(|| format!("{day}\u{10ffff}"));
        self.typed_rows(table, table.select_partition, &[org, day, &next_day])
    }

    fn typed_rows(
        &self,
        table: &ExportedTable,
        sql: &str,
        params: &[&str],
    ) -> Result<TypedRows, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: self.path.clone(),
            context: "reading a table for export",
            source,
        };
        let mut declared = self
            .conn
            .prepare("SELECT name, upper(type) FROM pragma_table_info(?1) ORDER BY cid")
            .map_err(err)?;
        let declared: HashMap<String, ColumnType> = declared
            .query_map([table.name], |row| {
                let (name, declared): (String, String) = (row.get(0)?, row.get(1)?);
                let kind = if declared.contains("INT") {
                    ColumnType::Integer
                } else if declared.contains("REAL") {
                    ColumnType::Real
                } else {
                    ColumnType::Text
                };
                Ok((name, kind))
            })
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut statement = self.conn.prepare(sql).map_err(err)?;
        // The statement's columns, which for `api_requests` leave out the view's `rowid`.
        let columns = statement
            .column_names()
            .into_iter()
            .map(|name| {
                let kind = declared.get(name).copied().unwrap_or(ColumnType::Text);
                (name.to_owned(), kind)
            })
            .collect();
        let width = statement.column_count();
        let rows = statement
            .query_map(rusqlite::params_from_iter(params), |row| {
                (0..width).map(|i| row.get::<_, Value>(i)).collect()
            })
            .map_err(err)?
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .map_err(err)?;
        Ok(TypedRows { columns, rows })
    }
}
