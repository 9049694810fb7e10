//! Decoded requests on their way from the reading thread to the storing one: a batch keeps every
//! string of its rows in one buffer, as the collector keeps a page of the API, so a batch of
//! thousands of requests is a few allocations, and the store reads its rows borrowed. The storing
//! side looks their senders and endpoints up in its dictionaries: the reading side, which decodes
//! every line, is the busier of the two, so the hashing is left to the other.

use crate::RequestRow;

/// Where a string of a [`RequestBatch`] lies in the batch's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// Rows, their strings in one buffer. Its text stays well under 4 GiB: the reader sends a batch
/// on when it holds [`RequestBatch::FULL_TEXT_BYTES`], and a line is at most 1 MiB.
#[derive(Debug)]
pub(super) struct RequestBatch {
    text: String,
    rows: Vec<RequestRow<Span>>,
}

impl Default for RequestBatch {
    /// An empty batch with room for a full one of ordinary lines.
    fn default() -> Self {
        RequestBatch {
            text: String::with_capacity(Self::FULL_ROWS * 256),
            rows: Vec::with_capacity(Self::FULL_ROWS),
        }
    }
}

impl RequestBatch {
    /// Rows a batch holds before it is sent on.
    pub(super) const FULL_ROWS: usize = 8192;
    /// Text a batch holds before it is sent on (a batch of long lines).
    pub(super) const FULL_TEXT_BYTES: usize = 8 << 20;

    /// Appends a row, copying its strings.
    pub(super) fn push<S: AsRef<str>>(&mut self, row: &RequestRow<S>) {
        let text = &mut self.text;
        let row = row.map_text(|value| {
            let start = text.len();
            text.push_str(value.as_ref());
            let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            Span {
                start: at(start),
                end: at(text.len()),
            }
        });
        self.rows.push(row);
    }

    /// Empties the batch, keeping its memory for the next rows: batches go back and forth
    /// between the two threads instead of being allocated (and their pages faulted in) anew.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
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

    /// The rows, in order, their strings borrowed from the batch.
    pub(super) fn rows(&self) -> impl Iterator<Item = RequestRow<&str>> + '_ {
        self.rows
            .iter()
            .map(|row| row.map_text(|s| self.text_of(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_pushed_and_a_cleared_batch_is_empty() {
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
            method: Some("GET".to_owned()),
            version: Some(1),
            query_string: Some("x=1".to_owned()),
            admin_id: Some("admin".to_owned()),
            ..RequestRow::default()
        };
        let mut batch = RequestBatch::default();
        batch.push(&a);
        batch.push(&b);
        batch.push(&a);
        assert_eq!(batch.len(), 3);
        assert!(!batch.is_full());
        assert_eq!(batch.rows().collect::<Vec<_>>(), [a, b.as_str_row(), a]);
        batch.clear();
        assert_eq!((batch.len(), batch.rows().count()), (0, 0));
        batch.push(&b);
        assert_eq!(batch.rows().collect::<Vec<_>>(), [b.as_str_row()]);
    }

    #[test]
    fn a_batch_is_full_at_its_rows_or_its_text() {
        let row = RequestRow {
            ts_us: 1,
            ..RequestRow::default()
        };
        let mut batch = RequestBatch::default();
        for _ in 0..RequestBatch::FULL_ROWS - 1 {
            batch.push(&row);
        }
        assert!(!batch.is_full());
        batch.push(&row);
        assert!(batch.is_full());
        batch.clear();
        let long = "x".repeat(RequestBatch::FULL_TEXT_BYTES);
        batch.push(&RequestRow {
            user_agent: Some(long.as_str()),
            ..row
        });
        assert_eq!(batch.len(), 1);
        assert!(batch.is_full());
    }
}
