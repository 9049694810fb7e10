//! Ad-hoc reads: one SQL statement from the `queries/` library, its named parameters bound as
//! text values (never pasted into the SQL), its rows returned as SQLite values — within bounds
//! ([`QueryLimits`]): a time limit (a watchdog interrupts the statement), SQLite's hard heap
//! limit, and a limit on the answer's size, so that a crafted database cannot keep `query`
//! running or take the machine's memory.

use super::{Store, StoreError};
use rusqlite::types::Value;
use std::time::Duration;

/// What one query may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Wall time, from the first step to the last row (`--timeout`).
    pub timeout: Duration,
    /// SQLite's hard heap limit for the process (`PRAGMA hard_heap_limit`), in bytes: an
    /// allocation past it fails the statement. Process-wide, and it can only be lowered.
    pub heap_bytes: u64,
    /// The answer's values, in bytes (text and blobs by length, others 16).
    pub result_bytes: usize,
}

impl Default for QueryLimits {
    /// 60 s, 512 MiB of SQLite heap, 256 MiB of answer: far above what any library query needs
    /// on a year of a saturated organization.
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(60),
            heap_bytes: 512 << 20,
            result_bytes: 256 << 20,
        }
    }
}

/// Interrupts a connection's statement when dropped too late: a thread that waits for the
/// query to end, and interrupts it at the deadline.
struct Watchdog {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<bool>>,
}

impl Watchdog {
    fn start(handle: rusqlite::InterruptHandle, timeout: Duration) -> Watchdog {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("query-watchdog".to_owned())
            .spawn(move || match wait.recv_timeout(timeout) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    handle.interrupt();
                    true
                }
                _ => false,
            })
            .ok();
        Watchdog {
            done: Some(done),
            thread,
        }
    }

    /// Stops the watchdog; whether it interrupted the query.
    fn stop(mut self) -> bool {
        drop(self.done.take());
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or(false)
    }
}

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
        self.run_query_within(sql, params, &QueryLimits::default())
    }

    /// [`Store::run_query`] within `limits`: past its time the statement is interrupted, past
    /// its memory or answer size it fails, each with its own error.
    pub fn run_query_within(
        &self,
        sql: &str,
        params: &[(String, String)],
        limits: &QueryLimits,
    ) -> Result<QueryRows, StoreError> {
        let heap = i64::try_from(limits.heap_bytes).unwrap_or(i64::MAX);
        self.conn
            .pragma_update(None, "hard_heap_limit", heap)
            .map_err(self.sql_error("setting the query's memory limit"))?;
        let watchdog = Watchdog::start(self.conn.get_interrupt_handle(), limits.timeout);
        let answer = self.run_bounded(sql, params, limits.result_bytes);
        let interrupted = watchdog.stop();
        answer.map_err(|e| match &e {
            StoreError::Sqlite { source, .. } => match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::OperationInterrupted) if interrupted => {
                    StoreError::QueryTimeout {
                        path: self.path.clone(),
                        seconds: limits.timeout.as_secs(),
                    }
                }
                Some(rusqlite::ErrorCode::OutOfMemory) => StoreError::QueryOutOfMemory {
                    path: self.path.clone(),
                    limit: limits.heap_bytes,
                },
                _ => e,
            },
            _ => e,
        })
    }

    fn run_bounded(
        &self,
        sql: &str,
        params: &[(String, String)],
        result_bytes: usize,
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
        let mut held = 0usize;
        let mut cursor = statement.raw_query();
        while let Some(row) = cursor.next().map_err(err("running a query"))? {
            let values = (0..columns.len())
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("reading a query's row"))?;
            held = values.iter().fold(held, |sum, value| {
                sum.saturating_add(match value {
                    Value::Text(text) => text.len(),
                    Value::Blob(blob) => blob.len(),
                    _ => 16,
                })
            });
            if held > result_bytes {
                return Err(StoreError::QueryTooLarge {
                    path: self.path.clone(),
                    limit: result_bytes,
                });
            }
            rows.push(values);
        }
        Ok(QueryRows { columns, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_past_its_time_is_stopped() {
        let store = Store::open_in_memory().unwrap();
        let endless = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)
                       SELECT count(*) FROM r";
        let limits = QueryLimits {
            timeout: Duration::from_millis(300),
            ..QueryLimits::default()
        };
        let started = std::time::Instant::now();
        let e = store.run_query_within(endless, &[], &limits).unwrap_err();
        assert!(
            matches!(e, StoreError::QueryTimeout { seconds: 0, .. }),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // The connection answers the next query.
        let rows = store.run_query_within("SELECT 1", &[], &limits).unwrap();
        assert_eq!(rows.rows, [[Value::Integer(1)]]);
    }

    #[test]
    fn an_answer_past_its_size_is_stopped() {
        let store = Store::open_in_memory().unwrap();
        let limits = QueryLimits {
            result_bytes: 1 << 20,
            ..QueryLimits::default()
        };
        let big = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 100)
                   SELECT x, zeroblob(100000) FROM r";
        let e = store.run_query_within(big, &[], &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            ":memory:: the query's answer passed 1 MiB and was stopped: narrow it with its parameters"
        );
        let rows = store
            .run_query_within("SELECT zeroblob(1000)", &[], &limits)
            .unwrap();
        assert_eq!(rows.rows.len(), 1);
    }
}
