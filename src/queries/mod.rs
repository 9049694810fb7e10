//! The `queries/` library: named SQL files, embedded in the binary, that answer the common
//! questions about an organization's API spend. Each runs unchanged in the sqlite3 shell (its
//! parameters default when unbound) and through `callbudget query NAME`.

mod output;

pub use output::{QueryFormat, write_rows};

use crate::store::{QueryRows, Store, StoreError};

/// One `.sql` file of `queries/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedQuery {
    /// The file's name without `.sql`.
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! named_queries {
    ($($name:literal),* $(,)?) => {
        [$(NamedQuery {
            name: $name,
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
        }),*]
    };
}

/// Every query of the library, by name.
pub const LIBRARY: [NamedQuery; 11] = named_queries![
    "admins_with_api_activity",
    "busiest_minutes",
    "calls_saved_per_recommendation",
    "daily_budget_use",
    "fan_out_candidates",
    "http_429_episodes",
    "ignores_retry_after",
    "new_consumers_since_previous_audit",
    "operations_by_volume",
    "top_consumers",
    "who_was_sending_when_429s_began",
];

impl NamedQuery {
    /// The first line of the header comment: what the query answers.
    pub fn summary(&self) -> &'static str {
        self.sql
            .lines()
            .next()
            .map_or("", |line| line.trim_start_matches('-').trim())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no query named {name:?}; the queries are: {}", LIBRARY.map(|q| q.name).join(", "))]
    UnknownQuery { name: String },
    #[error(
        "query {query} has no parameter {name:?}; its parameters are: {}",
        list_or_none(known)
    )]
    UnknownParameter {
        query: &'static str,
        name: String,
        known: Vec<String>,
    },
    #[error("a parameter is NAME=VALUE, e.g. org=549236; got {0:?}")]
    MalformedParameter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The library's query called `name`.
pub fn find(name: &str) -> Result<&'static NamedQuery, QueryError> {
    LIBRARY
        .iter()
        .find(|q| q.name == name)
        .ok_or_else(|| QueryError::UnknownQuery {
            name: name.to_owned(),
        })
}

/// Splits `NAME=VALUE` (the value may hold `=`); a leading `:` on the name is accepted.
pub fn parse_parameter(text: &str) -> Result<(String, String), QueryError> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim_start_matches(':').is_empty() => {
            Ok((name.trim_start_matches(':').to_owned(), value.to_owned()))
        }
        _ => Err(QueryError::MalformedParameter(text.to_owned())),
    }
}

/// Runs `query` on `store` with `params` bound as values; a name the query does not use is an
/// error naming the ones it does.
pub fn run(
    store: &Store,
    query: &NamedQuery,
    params: &[(String, String)],
) -> Result<QueryRows, QueryError> {
    let known = store.query_parameters(query.sql)?;
    if let Some((name, _)) = params.iter().find(|(name, _)| !known.contains(name)) {
        return Err(QueryError::UnknownParameter {
            query: query.name,
            name: name.clone(),
            known,
        });
    }
    Ok(store.run_query(query.sql, params)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_has_a_header_with_parameters_and_an_example() {
        for q in &LIBRARY {
            assert!(q.sql.starts_with("-- "), "{}", q.name);
            assert!(!q.summary().is_empty(), "{}", q.name);
            assert!(q.sql.contains("-- Parameters"), "{}", q.name);
            assert!(
                q.sql.contains(&format!("callbudget query {}", q.name)),
                "{}",
                q.name
            );
            assert!(
                q.sql
                    .contains(&format!("sqlite3 callbudget.db < queries/{}.sql", q.name)),
                "{}",
                q.name
            );
        }
    }

    #[test]
    fn every_query_prepares_on_a_new_database_and_documents_its_parameters() {
        let store = Store::open_in_memory().unwrap();
        for q in &LIBRARY {
            let params = store.query_parameters(q.sql).unwrap();
            for p in &params {
                assert!(q.sql.contains(&format!("--   :{p} ")), "{}: :{p}", q.name);
            }
            store.run_query(q.sql, &[]).unwrap();
        }
    }

    #[test]
    fn parameters_are_name_equals_value() {
        assert_eq!(
            parse_parameter("org=5=4").unwrap(),
            ("org".to_owned(), "5=4".to_owned())
        );
        assert_eq!(
            parse_parameter(":hours=6").unwrap(),
            ("hours".to_owned(), "6".to_owned())
        );
        assert!(parse_parameter("hours").is_err());
        assert!(parse_parameter("=6").is_err());
    }

    #[test]
    fn an_unknown_name_lists_the_queries() {
        let e = find("top").unwrap_err().to_string();
        assert!(
            e.starts_with("no query named \"top\"; the queries are: admins_with_api_activity, ")
        );
        assert!(e.contains("top_consumers"));
    }
}
