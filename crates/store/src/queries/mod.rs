//! The `queries/` library: named SQL files, embedded in the binary, that answer the common
//! questions about an organization's API spend. Each runs unchanged in the sqlite3 shell (its
//! parameters default when unbound) and through `callbudget query NAME`.

mod output;

pub use output::{QueryFormat, write_rows};

use crate::{QueryRows, Store, StoreError};

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
            sql: include_str!(concat!("../../../../queries/", $name, ".sql")),
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
    /// The kind of each parameter the header lists (`--   :name  description, a number (default: …)`).
    pub fn parameter_kinds(&self) -> Vec<(&'static str, ParameterKind)> {
        self.sql
            .lines()
            .take_while(|line| line.starts_with("--"))
            .filter_map(|line| {
                let rest = line.strip_prefix("--")?.trim_start().strip_prefix(':')?;
                let (name, description) = rest.split_once(char::is_whitespace)?;
                let described = description.split(" (default").next().unwrap_or(description);
                let kind = if described.ends_with(", a whole number") {
                    ParameterKind::WholeNumber
                } else if described.ends_with(", a number") {
                    ParameterKind::Number
                } else if described.ends_with(", a timestamp") {
                    ParameterKind::Timestamp
                } else {
                    ParameterKind::Text
                };
                Some((name, kind))
            })
            .collect()
    }

    /// The first line of the header comment: what the query answers.
    pub fn summary(&self) -> &'static str {
        self.sql
            .lines()
            .next()
            .map_or("", |line| line.trim_start_matches('-').trim())
    }
}

/// What a parameter holds, as its line in the query's header says: "…, a whole number", "…, a
/// number" or "…, a timestamp" before its default; anything else is text. The SQL reads it the
/// same way (`CAST(:limit AS INTEGER)`), which a test checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    Text,
    WholeNumber,
    Number,
    Timestamp,
}

impl ParameterKind {
    fn describe(self) -> &'static str {
        match self {
            ParameterKind::Text => "text",
            ParameterKind::WholeNumber => "a whole number",
            ParameterKind::Number => "a number",
            ParameterKind::Timestamp => "an RFC 3339 timestamp (2026-11-20T00:00:00Z)",
        }
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
    #[error("query {query}: parameter {name} is {}; got {value:?}", kind.describe())]
    WrongKind {
        query: &'static str,
        name: String,
        kind: ParameterKind,
        value: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// Whether the error is in how the query was asked for (a usage error), not in running it.
    pub fn is_usage(&self) -> bool {
        !matches!(self, QueryError::Store(_))
    }
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

/// A query of the library and its parameters, checked: what `callbudget query` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedQuery {
    pub query: &'static NamedQuery,
    /// Names and values, checked against the query's header and in canonical form.
    pub params: Vec<(String, String)>,
}

/// The query called `name` and its `NAME=VALUE` parameters, checked against its header (see
/// [`checked_parameters`]) before any database is opened.
pub fn prepare(name: &str, params: &[String]) -> Result<PreparedQuery, QueryError> {
    let query = find(name)?;
    let params = params
        .iter()
        .map(|p| parse_parameter(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PreparedQuery {
        query,
        params: checked_parameters(query, &params)?,
    })
}

/// The library, one query a line: its name, aligned, then what it answers.
pub fn write_list(out: &mut impl std::io::Write) -> std::io::Result<()> {
    let width = LIBRARY.iter().map(|q| q.name.len()).max().unwrap_or(0);
    for q in &LIBRARY {
        writeln!(out, "{:width$}  {}", q.name, q.summary())?;
    }
    Ok(())
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
    run_within(store, query, params, &crate::QueryLimits::default())
}

/// [`run`] within `limits` (time, memory, the answer's size): see [`crate::QueryLimits`].
pub fn run_within(
    store: &Store,
    query: &NamedQuery,
    params: &[(String, String)],
    limits: &crate::QueryLimits,
) -> Result<QueryRows, QueryError> {
    let known = store.query_parameters(query.sql)?;
    if let Some((name, _)) = params.iter().find(|(name, _)| !known.contains(name)) {
        return Err(QueryError::UnknownParameter {
            query: query.name,
            name: name.clone(),
            known,
        });
    }
    let params = checked_parameters(query, params)?;
    Ok(store.run_query_within(query.sql, &params, limits)?)
}

/// `params` checked against the parameters the header declares, names and kinds (SQLite would
/// read "abc" as a number as NULL, i.e. the default, and answer a question nobody asked), before
/// any database is opened; timestamps in canonical form.
pub fn checked_parameters(
    query: &NamedQuery,
    params: &[(String, String)],
) -> Result<Vec<(String, String)>, QueryError> {
    let kinds = query.parameter_kinds();
    params
        .iter()
        .map(|(name, value)| {
            let Some(kind) = kinds
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, kind)| *kind)
            else {
                return Err(QueryError::UnknownParameter {
                    query: query.name,
                    name: name.clone(),
                    known: kinds.iter().map(|(known, _)| (*known).to_owned()).collect(),
                });
            };
            let trimmed = value.trim();
            let checked = match kind {
                ParameterKind::Text => Some(value.clone()),
                ParameterKind::WholeNumber => trimmed.parse::<i64>().ok().map(|n| n.to_string()),
                ParameterKind::Number => trimmed
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(|_| trimmed.to_owned()),
                ParameterKind::Timestamp => callbudget_api::timestamp::parse(trimmed)
                    .ok()
                    .map(|t| callbudget_api::timestamp::format(&t)),
            };
            checked
                .map(|value| (name.clone(), value))
                .ok_or(QueryError::WrongKind {
                    query: query.name,
                    name: name.clone(),
                    kind,
                    value: value.clone(),
                })
        })
        .collect()
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
    fn every_parameter_read_as_a_number_is_declared_one() {
        let mut declared = 0;
        for q in &LIBRARY {
            let kinds = q.parameter_kinds();
            for (name, kind) in &kinds {
                let cast = |to: &str| q.sql.contains(&format!("CAST(:{name} AS {to})"));
                let expected = if cast("INTEGER") {
                    ParameterKind::WholeNumber
                } else if cast("REAL") {
                    ParameterKind::Number
                } else if *name == "until" {
                    ParameterKind::Timestamp
                } else {
                    ParameterKind::Text
                };
                assert_eq!(*kind, expected, "{}: :{name}", q.name);
                declared += usize::from(*kind != ParameterKind::Text);
            }
            let store = Store::open_in_memory().unwrap();
            assert_eq!(
                kinds.len(),
                store.query_parameters(q.sql).unwrap().len(),
                "{}: every parameter has a header line",
                q.name
            );
        }
        assert_eq!(declared, 10);
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_refused() {
        let store = Store::open_in_memory().unwrap();
        let top = find("top_consumers").unwrap();
        let run_with = |name: &str, value: &str| {
            run(&store, top, &[(name.to_owned(), value.to_owned())]).map(|_| ())
        };
        let e = run_with("hours", "abc").unwrap_err();
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "query top_consumers: parameter hours is a number; got \"abc\""
        );
        assert_eq!(
            run_with("limit", "2.5").unwrap_err().to_string(),
            "query top_consumers: parameter limit is a whole number; got \"2.5\""
        );
        assert_eq!(
            run_with("until", "yesterday").unwrap_err().to_string(),
            "query top_consumers: parameter until is an RFC 3339 timestamp (2026-11-20T00:00:00Z); got \"yesterday\""
        );
        run_with("hours", "1.5").unwrap();
        run_with("limit", "3").unwrap();
        run_with("until", "2026-11-20T02:00:00+02:00").unwrap();
        run_with("org", "abc").unwrap();
    }

    #[test]
    fn a_query_is_prepared_with_its_parameters_checked_and_canonical() {
        let prepared = prepare(
            "top_consumers",
            &[
                "limit=3".to_owned(),
                ":until=2026-11-20T02:00:00+02:00".to_owned(),
            ],
        )
        .unwrap();
        assert_eq!(prepared.query.name, "top_consumers");
        assert_eq!(
            prepared.params,
            [
                ("limit".to_owned(), "3".to_owned()),
                ("until".to_owned(), "2026-11-20T00:00:00.000000Z".to_owned()),
            ]
        );
        let unknown = prepare("top_consumers", &["colour=red".to_owned()]).unwrap_err();
        assert!(unknown.is_usage());
        assert!(matches!(
            prepare("no_such_query", &[]),
            Err(QueryError::UnknownQuery { .. })
        ));
        assert!(matches!(
            prepare("top_consumers", &["limit".to_owned()]),
            Err(QueryError::MalformedParameter(_))
        ));
    }

    #[test]
    fn the_list_names_each_query_aligned_with_what_it_answers() {
        let mut out = Vec::new();
        write_list(&mut out).unwrap();
        let list = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), LIBRARY.len());
        // Aligned on the longest name, new_consumers_since_previous_audit (34 characters).
        assert_eq!(
            lines[0],
            "admins_with_api_activity            Admins with API activity: whose API keys made \
             requests, how many, from where."
        );
        assert_eq!(
            lines[10],
            "who_was_sending_when_429s_began     Who was sending when the 429s began, per 429 \
             episode, busiest consumer first."
        );
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
