//! Decoded requests on their way from the reading thread to the storing one: a batch keeps every
//! string of its rows in one buffer, as the collector keeps a page of the API, so a batch of
//! thousands of requests is a few allocations, and the store reads its rows borrowed. Senders and
//! endpoints are numbered on the reading thread ([`RequestNumbers`]): a batch carries each one's
//! strings only the first time the file names it, and its rows carry numbers.

use crate::store::{NumberedRequest, RequestRow, endpoint_key, source_key};
use std::collections::HashMap;

/// Where a string of a [`RequestBatch`] lies in the batch's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// A request of a batch: its sender and endpoint by number.
#[derive(Debug, Clone, Copy)]
struct BatchRow {
    ts_us: i64,
    response_code: Option<u16>,
    query_string: Option<Span>,
    source: u32,
    endpoint: u32,
}

/// The senders and endpoints of a file, numbered in the order the file first names them, as the
/// store numbers them when they are added in that order ([`crate::store::NumberedRequest`]).
/// Lives as long as the reading, across batches; holds each distinct one's key once.
#[derive(Default)]
pub(super) struct RequestNumbers {
    // foldhash: as in the store's dictionaries, keys from a file need no DoS-resistant hash.
    sources: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    endpoints: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    /// The last sender's key and number: consecutive requests mostly come from the same sender.
    last_source: Option<(Vec<u8>, u32)>,
    /// Reused for every lookup, so a hit allocates nothing.
    key: Vec<u8>,
}

impl RequestNumbers {
    /// `row`'s sender's number, and whether the file names it for the first time.
    fn source(&mut self, row: &RequestRow<&str>) -> (u32, bool) {
        source_key(row, &mut self.key);
        if let Some((key, number)) = &self.last_source
            && *key == self.key
        {
            return (*number, false);
        }
        let (number, new) = number_of(&mut self.sources, &self.key);
        match &mut self.last_source {
            Some((key, last)) => {
                key.clone_from(&self.key);
                *last = number;
            }
            None => self.last_source = Some((self.key.clone(), number)),
        }
        (number, new)
    }

    /// `row`'s endpoint's number, and whether the file names it for the first time.
    fn endpoint(&mut self, row: &RequestRow<&str>) -> (u32, bool) {
        endpoint_key(row, &mut self.key);
        number_of(&mut self.endpoints, &self.key)
    }
}

/// The number of `key` in `numbers`, the next one if it is new (and then `true`).
fn number_of(
    numbers: &mut HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    key: &[u8],
) -> (u32, bool) {
    if let Some(&number) = numbers.get(key) {
        return (number, false);
    }
    // Far fewer than 2³² distinct keys fit in memory.
    let number = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
    numbers.insert(key.into(), number);
    (number, true)
}

/// Rows, their strings in one buffer. Its text stays well under 4 GiB: the reader sends a batch
/// on when it holds [`RequestBatch::FULL_TEXT_BYTES`], and a line is at most 1 MiB.
#[derive(Debug)]
pub(super) struct RequestBatch {
    text: String,
    rows: Vec<BatchRow>,
    /// The senders and endpoints its rows name for the first time in the file, in number order
    /// (rows with only those fields).
    new_sources: Vec<RequestRow<Span>>,
    new_endpoints: Vec<RequestRow<Span>>,
}

impl Default for RequestBatch {
    /// An empty batch with room for a full one of ordinary lines.
    fn default() -> Self {
        RequestBatch {
            text: String::with_capacity(Self::FULL_ROWS * 64),
            rows: Vec::with_capacity(Self::FULL_ROWS),
            new_sources: Vec::new(),
            new_endpoints: Vec::new(),
        }
    }
}

impl RequestBatch {
    /// Rows a batch holds before it is sent on.
    pub(super) const FULL_ROWS: usize = 8192;
    /// Text a batch holds before it is sent on (a batch of long lines).
    pub(super) const FULL_TEXT_BYTES: usize = 8 << 20;

    /// Appends a row, its sender and endpoint numbered in `numbers`; copies the strings of what
    /// is new to the file.
    pub(super) fn push<S: AsRef<str>>(
        &mut self,
        row: &RequestRow<S>,
        numbers: &mut RequestNumbers,
    ) {
        let row = row.as_str_row();
        let (source, new_source) = numbers.source(&row);
        let (endpoint, new_endpoint) = numbers.endpoint(&row);
        let text = &mut self.text;
        let mut copy = |value: &&str| {
            let start = text.len();
            text.push_str(value);
            let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            Span {
                start: at(start),
                end: at(text.len()),
            }
        };
        if new_source {
            let copy = &mut copy;
            let mut only = |value: Option<&str>| value.as_ref().map(&mut *copy);
            let source = RequestRow {
                admin_id: only(row.admin_id),
                user_agent: only(row.user_agent),
                source_ip: only(row.source_ip),
                client_id: only(row.client_id),
                client_type: only(row.client_type),
                ..RequestRow::default()
            };
            self.new_sources.push(source);
        }
        if new_endpoint {
            let copy = &mut copy;
            let mut only = |value: Option<&str>| value.as_ref().map(&mut *copy);
            let endpoint = RequestRow {
                method: only(row.method),
                host: only(row.host),
                path: only(row.path),
                operation_id: only(row.operation_id),
                version: row.version,
                ..RequestRow::default()
            };
            self.new_endpoints.push(endpoint);
        }
        self.rows.push(BatchRow {
            ts_us: row.ts_us,
            response_code: row.response_code,
            query_string: row.query_string.as_ref().map(copy),
            source,
            endpoint,
        });
    }

    /// Empties the batch, keeping its memory for the next rows: batches go back and forth
    /// between the two threads instead of being allocated (and their pages faulted in) anew.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
        self.new_sources.clear();
        self.new_endpoints.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch should be sent on.
    pub(super) fn is_full(&self) -> bool {
        self.rows.len() >= Self::FULL_ROWS || self.text.len() >= Self::FULL_TEXT_BYTES
    }

    fn text_of(&self, span: &Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    /// The senders its rows name for the first time, in number order.
    pub(super) fn new_sources(&self) -> impl Iterator<Item = RequestRow<&str>> + '_ {
        self.new_sources
            .iter()
            .map(|row| row.map_text(|s| self.text_of(s)))
    }

    /// The endpoints its rows name for the first time, in number order.
    pub(super) fn new_endpoints(&self) -> impl Iterator<Item = RequestRow<&str>> + '_ {
        self.new_endpoints
            .iter()
            .map(|row| row.map_text(|s| self.text_of(s)))
    }

    /// The rows, in order, their strings borrowed from the batch.
    pub(super) fn rows(&self) -> impl Iterator<Item = NumberedRequest<'_>> + '_ {
        self.rows.iter().map(|row| NumberedRequest {
            ts_us: row.ts_us,
            response_code: row.response_code,
            query_string: row.query_string.as_ref().map(|s| self.text_of(s)),
            source: row.source,
            endpoint: row.endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(
        ts_us: i64,
        response_code: Option<u16>,
        query_string: &str,
        source: u32,
        endpoint: u32,
    ) -> NumberedRequest<'_> {
        NumberedRequest {
            ts_us,
            response_code,
            query_string: Some(query_string),
            source,
            endpoint,
        }
    }

    fn rows(batch: &RequestBatch) -> Vec<NumberedRequest<'_>> {
        batch.rows().collect()
    }

    #[test]
    fn senders_and_endpoints_travel_once_and_rows_name_them_by_number() {
        let a = RequestRow {
            ts_us: 1,
            response_code: Some(429),
            path: Some("/a"),
            user_agent: Some("ua é"),
            query_string: Some(""),
            ..RequestRow::default()
        };
        let b = RequestRow {
            ts_us: 2,
            method: Some("GET"),
            version: Some(1),
            query_string: Some("x=1"),
            ..RequestRow::default()
        };
        let mut numbers = RequestNumbers::default();
        let mut batch = RequestBatch::default();
        for row in [&a, &b, &a] {
            batch.push(row, &mut numbers);
        }
        assert_eq!(batch.len(), 3);
        assert!(!batch.is_full());
        assert_eq!(
            rows(&batch),
            [
                numbered(1, Some(429), "", 0, 0),
                numbered(2, None, "x=1", 1, 1),
                numbered(1, Some(429), "", 0, 0)
            ]
        );
        assert_eq!(
            batch.new_sources().collect::<Vec<_>>(),
            [
                RequestRow {
                    user_agent: Some("ua é"),
                    ..RequestRow::default()
                },
                RequestRow::default()
            ]
        );
        assert_eq!(
            batch.new_endpoints().collect::<Vec<_>>(),
            [
                RequestRow {
                    path: Some("/a"),
                    ..RequestRow::default()
                },
                RequestRow {
                    method: Some("GET"),
                    version: Some(1),
                    ..RequestRow::default()
                }
            ]
        );
        // The next batch names the known ones by number only.
        batch.clear();
        assert_eq!((batch.len(), batch.rows().count()), (0, 0));
        let c = RequestRow {
            ts_us: 3,
            path: Some("/c"),
            ..b
        };
        for row in [&b, &c] {
            batch.push(row, &mut numbers);
        }
        assert_eq!(
            rows(&batch),
            [
                numbered(2, None, "x=1", 1, 1),
                numbered(3, None, "x=1", 1, 2)
            ]
        );
        assert_eq!(batch.new_sources().count(), 0);
        assert_eq!(
            batch.new_endpoints().collect::<Vec<_>>(),
            [RequestRow {
                method: Some("GET"),
                path: Some("/c"),
                version: Some(1),
                ..RequestRow::default()
            }]
        );
    }
}
