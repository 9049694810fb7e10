//! The request log's dictionaries as a writer sees them: who sent a request (`request_sources`)
//! and what it called (`request_endpoints`), each distinct combination stored once and named by
//! its id. The ids are cached in memory, so storing a record looks its strings up in a hash map
//! instead of the database.
//!
//! The cache is sound because dictionary rows are never changed or deleted (migration 0004): an
//! id, once read or written, names the same strings for the life of the database. Rows written
//! by a transaction that is then rolled back are the exception, so ids learnt inside a
//! transaction stay pending until it commits, and are forgotten if it does not.

use super::RequestRow;
use callbudget_api::redact::redact_userinfo;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::fmt;

/// Which dictionary a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Sources,
    Endpoints,
}

/// Ids of the dictionary rows seen so far, by an unambiguous byte encoding of their values.
#[derive(Default)]
pub(super) struct Dictionaries {
    // foldhash: SipHash's DoS resistance buys nothing for keys the API sent us, and hashing two
    // keys per stored record is a visible share of ingest.
    sources: HashMap<Vec<u8>, i64, foldhash::fast::RandomState>,
    endpoints: HashMap<Vec<u8>, i64, foldhash::fast::RandomState>,
    /// The last source looked up, its key and id: consecutive requests mostly come from the same
    /// sender, and comparing a key costs less than hashing it.
    last_source: Option<(Vec<u8>, i64)>,
    /// Keys cached since the last commit, to forget on rollback.
    pending: Vec<(Table, Vec<u8>)>,
    /// Reused for every lookup, so a hit allocates nothing.
    key: Vec<u8>,
}

impl fmt::Debug for Dictionaries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dictionaries")
            .field("sources", &self.sources.len())
            .field("endpoints", &self.endpoints.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Appends a value to a key: a tag byte (missing or present), then the length and the bytes, so
/// that no two different tuples share an encoding (`None` ≠ `""`, `("ab", "c")` ≠ `("a", "bc")`).
fn push_field(key: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => key.push(0),
        Some(text) => {
            key.push(1);
            key.extend_from_slice(&(text.len() as u64).to_le_bytes());
            key.extend_from_slice(text.as_bytes());
        }
    }
}

/// The row's sender (admin, user agent, source IP, client) as one key, written into `key`: equal
/// keys, equal senders.
#[inline]
fn source_key(row: &RequestRow<&str>, key: &mut Vec<u8>) {
    key.clear();
    for value in [
        row.admin_id,
        row.user_agent,
        row.source_ip,
        row.client_id,
        row.client_type,
    ] {
        push_field(key, value);
    }
}

/// The row's endpoint (method, host, path, operation, API version) as one key, written into
/// `key`: equal keys, equal endpoints.
#[inline]
fn endpoint_key(row: &RequestRow<&str>, key: &mut Vec<u8>) {
    key.clear();
    for value in [row.method, row.host, row.path, row.operation_id] {
        push_field(key, value);
    }
    match row.version {
        None => key.push(0),
        Some(version) => key.extend_from_slice(&[1, version]),
    }
}

impl Dictionaries {
    /// The id of the row's source (admin, user agent, source IP, client), stored if new.
    pub(super) fn source_id(
        &mut self,
        tx: &Transaction<'_>,
        row: &RequestRow<&str>,
    ) -> rusqlite::Result<i64> {
        let values = [
            row.admin_id,
            row.user_agent,
            row.source_ip,
            row.client_id,
            row.client_type,
        ];
        source_key(row, &mut self.key);
        if let Some((key, id)) = &self.last_source
            && *key == self.key
        {
            return Ok(*id);
        }
        if let Some(&id) = self.sources.get(self.key.as_slice()) {
            self.remember_source(id);
            return Ok(id);
        }
        let [admin_id, user_agent, source_ip, client_id, client_type] = values;
        let found: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM request_sources
                 WHERE user_agent IS ?2 AND admin_id IS ?1 AND source_ip IS ?3
                   AND client_id IS ?4 AND client_type IS ?5
                 ORDER BY id LIMIT 1",
            )?
            .query_row(
                params![admin_id, user_agent, source_ip, client_id, client_type],
                |row| row.get(0),
            )
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => tx
                .prepare_cached(
                    "INSERT INTO request_sources
                         (admin_id, user_agent, source_ip, client_id, client_type)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )?
                .query_row(
                    params![admin_id, user_agent, source_ip, client_id, client_type],
                    |row| row.get(0),
                )?,
        };
        self.sources.insert(self.key.clone(), id);
        self.pending.push((Table::Sources, self.key.clone()));
        self.remember_source(id);
        Ok(id)
    }

    /// Makes the source of `self.key` the last one looked up.
    fn remember_source(&mut self, id: i64) {
        match &mut self.last_source {
            Some((key, last)) => {
                key.clone_from(&self.key);
                *last = id;
            }
            None => self.last_source = Some((self.key.clone(), id)),
        }
    }

    /// The id of the row's endpoint (method, host, path, API version, operation), stored if new.
    pub(super) fn endpoint_id(
        &mut self,
        tx: &Transaction<'_>,
        row: &RequestRow<&str>,
    ) -> rusqlite::Result<i64> {
        endpoint_key(row, &mut self.key);
        if let Some(&id) = self.endpoints.get(self.key.as_slice()) {
            return Ok(id);
        }
        // A user and password in a URL (a proxy's request line, a JSONL `url`) never reach the
        // database, whoever wrote the row; the query string is redacted as it is stored.
        let host = row.host.map(redact_userinfo);
        let path = row.path.map(redact_userinfo);
        let (host, path) = (host.as_deref(), path.as_deref());
        let [method, operation_id] = [row.method, row.operation_id];
        let version = row.version;
        let found: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM request_endpoints
                 WHERE path IS ?3 AND method IS ?1 AND host IS ?2 AND version IS ?4
                   AND operation_id IS ?5
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![method, host, path, version, operation_id], |row| {
                row.get(0)
            })
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => tx
                .prepare_cached(
                    "INSERT INTO request_endpoints (method, host, path, version, operation_id)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )?
                .query_row(params![method, host, path, version, operation_id], |row| {
                    row.get(0)
                })?,
        };
        self.endpoints.insert(self.key.clone(), id);
        self.pending.push((Table::Endpoints, self.key.clone()));
        Ok(id)
    }

    /// The transaction that wrote the pending ids committed: they are for good.
    pub(super) fn committed(&mut self) {
        self.pending.clear();
    }

    /// The transaction did not commit: the rows behind the pending ids are gone.
    pub(super) fn rolled_back(&mut self) {
        self.last_source = None;
        for (table, key) in self.pending.drain(..) {
            match table {
                Table::Sources => self.sources.remove(&key),
                Table::Endpoints => self.endpoints.remove(&key),
            };
        }
    }
}
