//! The views a database must have before anything reads through them: the ones this build's
//! migrations define, word for word. A view is a query stored in the file, run by whoever reads
//! it: a crafted database could redefine `unfiltered_api_requests` as an endless recursive query
//! or one of gigabyte strings, and `query` or `export` would run it. A writing open recreates
//! every view that differs (or is missing); a read-only open of a database whose views differ is
//! refused, with the view named.

use super::{Store, StoreError, migrations};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Each view this build's migrations create, by name: its `CREATE VIEW` statement as
/// `sqlite_schema` keeps it. Read once, from a database migrated in memory.
pub(crate) fn shipped_views() -> &'static BTreeMap<String, String> {
    static VIEWS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    VIEWS.get_or_init(|| {
        let mut conn = match Connection::open_in_memory() {
            Ok(conn) => conn,
            Err(_) => return BTreeMap::new(),
        };
        if migrations().to_latest(&mut conn).is_err() {
            return BTreeMap::new();
        }
        views_of(&conn)
            .map(|views| {
                views
                    .into_iter()
                    .filter_map(|(name, kind, sql)| (kind == "view").then_some((name, sql?)))
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Every schema object named as a shipped view: (name, type, sql).
fn views_of(conn: &Connection) -> rusqlite::Result<Vec<(String, String, Option<String>)>> {
    conn.prepare("SELECT name, type, sql FROM sqlite_schema WHERE type IN ('view', 'table')")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect()
}

/// What is wrong with a database's views: the first shipped view that is missing, defined
/// otherwise, or a table in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ViewProblem {
    /// Missing or defined otherwise: recreating it repairs it.
    Changed(String),
    /// A table (or something else) under the view's name: not ours to drop.
    NotAView(String),
}

/// The first problem with `conn`'s views, if any.
pub(crate) fn view_problem(conn: &Connection) -> rusqlite::Result<Option<ViewProblem>> {
    let found: BTreeMap<String, (String, Option<String>)> = views_of(conn)?
        .into_iter()
        .map(|(name, kind, sql)| (name, (kind, sql)))
        .collect();
    for (name, sql) in shipped_views() {
        match found.get(name) {
            Some((kind, _)) if kind != "view" => {
                return Ok(Some(ViewProblem::NotAView(name.clone())));
            }
            Some((_, Some(found_sql))) if found_sql == sql => {}
            _ => return Ok(Some(ViewProblem::Changed(name.clone()))),
        }
    }
    Ok(None)
}

/// The error for a view problem found in `path`.
pub(crate) fn view_error(path: &Path, problem: ViewProblem) -> StoreError {
    match problem {
        ViewProblem::Changed(view) => StoreError::ViewChanged {
            path: path.to_owned(),
            view,
        },
        ViewProblem::NotAView(view) => StoreError::NotAView {
            path: path.to_owned(),
            view,
        },
    }
}

impl Store {
    /// Recreates every shipped view that is missing or defined otherwise, in one transaction; a
    /// table under a view's name is refused. Returns the views recreated.
    pub(crate) fn repair_views(&mut self) -> Result<Vec<String>, StoreError> {
        let err = self.sql_error("checking the views");
        let found: BTreeMap<String, (String, Option<String>)> = views_of(&self.conn)
            .map_err(err)?
            .into_iter()
            .map(|(name, kind, sql)| (name, (kind, sql)))
            .collect();
        let mut stale = Vec::new();
        for (name, sql) in shipped_views() {
            match found.get(name) {
                Some((kind, _)) if kind != "view" => {
                    return Err(view_error(&self.path, ViewProblem::NotAView(name.clone())));
                }
                Some((_, Some(found_sql))) if found_sql == sql => {}
                _ => stale.push((name.clone(), sql.clone())),
            }
        }
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let err = move |source| StoreError::Sqlite {
            path: path.clone(),
            context: "recreating the views",
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        for (name, sql) in &stale {
            // The name is one of this build's own views, never outside text; quoted anyway.
            tx.execute_batch(&format!(
                "DROP VIEW IF EXISTS \"{}\"; {sql};",
                name.replace('"', "\"\"")
            ))
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(stale.into_iter().map(|(name, _)| name).collect())
    }

    /// Refuses this store when a shipped view is missing or defined otherwise (see the module).
    pub(crate) fn check_views(&self) -> Result<(), StoreError> {
        match view_problem(&self.conn).map_err(self.sql_error("checking the views"))? {
            None => Ok(()),
            Some(problem) => Err(view_error(&self.path, problem)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_views_are_those_the_migrations_create() {
        let views = shipped_views();
        for name in [
            "api_requests",
            "unfiltered_api_requests",
            "consumer_summary",
            "latest_findings",
        ] {
            let sql = views.get(name).unwrap_or_else(|| panic!("{name}"));
            assert!(sql.starts_with("CREATE VIEW"), "{sql}");
        }
    }

    #[test]
    fn a_redefined_view_is_found_and_recreated_and_a_table_in_its_place_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let mut store = Store::open(&path).unwrap();
        assert_eq!(view_problem(&store.conn).unwrap(), None);
        store
            .conn
            .execute_batch(
                "DROP VIEW consumer_summary;
                 CREATE VIEW consumer_summary AS
                 WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r;
                 DROP VIEW latest_findings;",
            )
            .unwrap();
        assert_eq!(
            view_problem(&store.conn).unwrap(),
            Some(ViewProblem::Changed("consumer_summary".to_owned()))
        );
        let e = store.check_views().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: its view consumer_summary is not the one callbudget defines (changed by hand, or a crafted file): not read; open it once with a command that writes it (collect, import or analyze) to have its views recreated",
                path.display()
            )
        );
        assert_eq!(
            store.repair_views().unwrap(),
            ["consumer_summary", "latest_findings"]
        );
        assert_eq!(view_problem(&store.conn).unwrap(), None);
        assert!(store.repair_views().unwrap().is_empty());

        store
            .conn
            .execute_batch("DROP VIEW latest_findings; CREATE TABLE latest_findings (x);")
            .unwrap();
        let e = store.repair_views().unwrap_err();
        assert!(matches!(e, StoreError::NotAView { .. }), "{e}");
    }
}
