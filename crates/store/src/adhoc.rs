//! Ad-hoc reads: one SQL statement from the `queries/` library, its named parameters bound as
//! text values (never pasted into the SQL), its rows returned as SQLite values.

use super::{Store, StoreError};
use rusqlite::types::Value;

/// The columns and rows one statement returned.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Store {
    /// The named parameters of `sql` (`:since` gives `since`), in order of first use.
    pub fn query_parameters(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let statement = self
            .conn
            .prepare(sql)
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                context: "preparing a query",
                source,
            })?;
        Ok((1..=statement.parameter_count())
            .filter_map(|i| statement.parameter_name(i))
            .map(|name| name.trim_start_matches([':', '@', '$']).to_owned())
            .collect())
    }

    /// Runs the one statement `sql` with each `(name, value)` bound to `:name` as text; a
    /// parameter left unbound is NULL, as in the sqlite3 shell, so the statement's defaults apply.
    /// A name the statement does not use is bound nowhere: check it against
    /// [`Store::query_parameters`] first.
    pub fn run_query(
        &self,
        sql: &str,
        params: &[(String, String)],
    ) -> Result<QueryRows, StoreError> {
        let err = |context: &'static str| {
            move |source| StoreError::Sqlite {
                path: self.path.clone(),
                context,
                source,
            }
        };
        let mut statement = self.conn.prepare(sql).map_err(err("preparing a query"))?;
        for (name, value) in params {
            if let Some(index) = statement
                .parameter_index(&format!(":{name}"))
                .map_err(err("binding a query parameter"))?
            {
                statement
                    .raw_bind_parameter(index, value.as_str())
                    .map_err(err("binding a query parameter"))?;
            }
        }
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut rows = Vec::new();
        let mut cursor = statement.raw_query();
        while let Some(row) = cursor.next().map_err(err("running a query"))? {
            let values = (0..columns.len())
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("reading a query's row"))?;
            rows.push(values);
        }
        Ok(QueryRows { columns, rows })
    }
}
