//! The reading side of an import: the file's lines decoded in its format into batches of rows for
//! the storing side; the lines that are not requests counted, the first of them named; and the
//! refusals decided as soon as the file shows them — a span longer than allowed, a malformed line
//! under `--strict` — before the storing side has committed anything.

use super::batch::RequestBatch;
use super::csv::CsvColumns;
use super::lines::{Blocks, Line, Lines, MAX_LINE_BYTES};
use super::{LogFormat, MALFORMED_NAMED, MalformedLine};
use crate::RequestRow;
use std::borrow::Cow;

/// Requests must come before this instant (9999-12-31T23:59:59Z), so that the end of the last
/// one's second is still a time with four digits of year: times are stored as text, in order.
const LATEST_STORABLE_US: i64 = 253_402_300_799_000_000;

/// How to read the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadSettings {
    pub format: LogFormat,
    /// Stop sending rows at the first malformed line (and read on only to count them).
    pub strict: bool,
    /// The longest span of time the file may cover, in microseconds.
    pub max_span_us: i64,
}

/// A request of the file at an end of its time span, and its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SpanEnd {
    pub ts_us: i64,
    pub line: u64,
}

/// What reading the file found.
#[derive(Debug, Default)]
pub(super) struct ReadLog {
    /// Requests read (and sent on, unless a malformed line stopped a strict import).
    pub records: u64,
    pub http_429s: u64,
    /// The earliest and the latest request.
    pub span: Option<(SpanEnd, SpanEnd)>,
    /// The first [`MALFORMED_NAMED`] lines that were not requests.
    pub malformed: Vec<MalformedLine>,
    pub malformed_total: u64,
}

/// Why reading stopped before the end of the file.
#[derive(Debug)]
pub(super) enum ReadError {
    Io(std::io::Error),
    /// The CSV header row at `line` cannot be read.
    Header {
        line: u64,
        reason: String,
    },
    /// The requests so far span more than allowed.
    Span {
        first: SpanEnd,
        last: SpanEnd,
    },
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// How a line of the file becomes a request.
enum Decoder {
    Jsonl,
    /// Its columns, once the header row was read.
    Csv(Option<CsvColumns>),
    Combined,
}

/// Reads `input` to its end, handing each full batch of rows to `send`; stops early when `send`
/// returns false (the storing side gave up) or the file must be refused. `spare` hands back an
/// empty batch the storing side is done with, if there is one.
pub(super) fn read_log(
    input: impl Blocks,
    settings: ReadSettings,
    mut send: impl FnMut(RequestBatch) -> bool,
    mut spare: impl FnMut() -> Option<RequestBatch>,
) -> Result<ReadLog, ReadError> {
    let mut lines = Lines::of_blocks(input);
    let mut decoder = match settings.format {
        LogFormat::Jsonl => Decoder::Jsonl,
        LogFormat::Csv => Decoder::Csv(None),
        LogFormat::Combined => Decoder::Combined,
    };
    let mut log = ReadLog::default();
    let mut batch = RequestBatch::default();
    let mut sending = true;
    while let Some((number, line)) = lines.next_line()? {
        let decoded = match line {
            Line::TooLong => Err(format!(
                "longer than {} MiB: skipped unread",
                MAX_LINE_BYTES >> 20
            )),
            Line::Text(text) if text.iter().all(u8::is_ascii_whitespace) => continue,
            Line::Text(text) => match &mut decoder {
                Decoder::Jsonl => super::jsonl::decode_line(text),
                Decoder::Combined => super::combined::decode_line(text),
                Decoder::Csv(Some(columns)) => columns.decode_row(text),
                Decoder::Csv(header) => {
                    let columns =
                        CsvColumns::from_header(text).map_err(|reason| ReadError::Header {
                            line: number,
                            reason,
                        })?;
                    *header = Some(columns);
                    continue;
                }
            },
        };
        let row = decoded.and_then(|row| {
            if row.ts_us < callbudget_api::timestamp::EARLIEST_US {
                Err(format!(
                    "the time {} is before the first second a database stores (0001-01-01T00:00:00Z)",
                    callbudget_api::timestamp::format(&callbudget_api::timestamp::from_micros(row.ts_us))
                ))
            } else if row.ts_us < LATEST_STORABLE_US {
                Ok(row)
            } else {
                Err(format!(
                    "the time {} is past the last second a database stores (9999-12-31T23:59:58Z)",
                    callbudget_api::timestamp::format(&callbudget_api::timestamp::from_micros(row.ts_us))
                ))
            }
        });
        let row = match row {
            Ok(row) => row,
            Err(reason) => {
                log.malformed_total += 1;
                if log.malformed.len() < MALFORMED_NAMED {
                    log.malformed.push(MalformedLine::new(number, &reason));
                }
                if settings.strict && sending {
                    sending = false;
                    batch.clear();
                }
                continue;
            }
        };
        note_span(&mut log, &row, number, settings.max_span_us)?;
        log.records += 1;
        log.http_429s += u64::from(row.response_code == Some(429));
        if sending {
            batch.push(&row);
            if batch.is_full() {
                let next = spare().unwrap_or_default();
                if !send(std::mem::replace(&mut batch, next)) {
                    return Ok(log);
                }
            }
        }
    }
    if sending && batch.len() > 0 {
        send(batch);
    }
    Ok(log)
}

/// Widens the span of the requests read by `row`'s time; refuses a span longer than allowed.
fn note_span(
    log: &mut ReadLog,
    row: &RequestRow<Cow<'_, str>>,
    line: u64,
    max_span_us: i64,
) -> Result<(), ReadError> {
    let here = SpanEnd {
        ts_us: row.ts_us,
        line,
    };
    let (first, last) = match log.span {
        None => (here, here),
        Some((first, last)) => (
            if here.ts_us < first.ts_us {
                here
            } else {
                first
            },
            if here.ts_us > last.ts_us { here } else { last },
        ),
    };
    log.span = Some((first, last));
    if last.ts_us.saturating_sub(first.ts_us) > max_span_us {
        return Err(ReadError::Span { first, last });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(strict: bool, max_span_us: i64) -> ReadSettings {
        ReadSettings {
            format: LogFormat::Jsonl,
            strict,
            max_span_us,
        }
    }

    fn line(ts: &str) -> String {
        format!("{{\"ts\":\"{ts}\",\"path\":\"/a\",\"status\":429}}\n")
    }

    /// Reads `text`, returning what was found and the sizes of the batches sent.
    fn read_text(text: &str, settings: ReadSettings) -> (Result<ReadLog, ReadError>, Vec<usize>) {
        let mut sent = Vec::new();
        let read = read_log(
            super::super::lines::ReadBlocks::new(text.as_bytes()),
            settings,
            |batch| {
                sent.push(batch.len());
                true
            },
            || None,
        );
        (read, sent)
    }

    #[test]
    fn batches_go_on_full_and_the_rest_at_the_end() {
        let text: String = (0..2 * RequestBatch::FULL_ROWS + 5)
            .map(|i| {
                line(&format!(
                    "2026-11-19T10:{:02}:{:02}Z",
                    i / 3600 % 60,
                    i % 60
                ))
            })
            .collect();
        let (read, sent) = read_text(&text, settings(false, i64::MAX));
        let read = read.unwrap();
        assert_eq!(sent, [RequestBatch::FULL_ROWS, RequestBatch::FULL_ROWS, 5]);
        assert_eq!((read.records, read.http_429s), (16389, 16389));
    }

    #[test]
    fn strict_stops_sending_at_the_first_malformed_line_and_counts_them_all() {
        let text = [
            line("2026-11-19T10:00:00Z"),
            "oops\n".into(),
            line("2026-11-19T10:00:01Z"),
            "{}\n".into(),
        ]
        .concat();
        let (read, sent) = read_text(&text, settings(true, i64::MAX));
        let read = read.unwrap();
        assert!(sent.is_empty());
        assert_eq!(read.malformed_total, 2);
        assert_eq!(
            read.malformed.iter().map(|m| m.line).collect::<Vec<_>>(),
            [2, 4]
        );
        // Without --strict the same lines are skipped and the rest sent.
        let (read, sent) = read_text(&text, settings(false, i64::MAX));
        assert_eq!((read.unwrap().records, sent), (2, vec![2]));
    }

    #[test]
    fn a_span_past_the_limit_stops_reading_at_the_line_that_takes_it_past() {
        let hour = 3_600_000_000;
        let text = [
            line("2026-11-19T10:30:00Z"),
            line("2026-11-19T10:00:00Z"),
            line("2026-11-19T11:00:00Z"),
            line("2026-11-19T11:00:01Z"),
            "never read\n".into(),
        ]
        .concat();
        let (read, _) = read_text(&text, settings(false, hour));
        let Err(ReadError::Span { first, last }) = read else {
            panic!("{read:?}")
        };
        assert_eq!((first.line, last.line), (2, 4));
        assert_eq!(last.ts_us - first.ts_us, hour + 1_000_000);
    }

    #[test]
    fn a_time_before_year_0001_is_a_malformed_line() {
        let text = [
            line("0001-01-01T00:00:00Z"),
            r#"{"ts": "0001-01-01T00:30:00+01:00"}"#.to_owned() + "\n",
            line("0000-12-31T23:59:59.999999Z"),
        ]
        .concat();
        let (read, sent) = read_text(&text, settings(false, i64::MAX));
        let read = read.unwrap();
        assert_eq!((read.records, sent), (1, vec![1]));
        let reason =
            |time: &str| format!("the time \"{time}\" lies outside the years 0001 to 9999 (UTC)");
        assert_eq!(
            read.malformed,
            [
                MalformedLine::new(2, &reason("0001-01-01T00:30:00+01:00")),
                MalformedLine::new(3, &reason("0000-12-31T23:59:59.999999Z")),
            ]
        );
    }

    #[test]
    fn a_combined_time_whose_offset_takes_it_before_year_0001_is_a_malformed_line() {
        let line = |time: &str| format!("10.0.0.1 - - [{time}] \"GET /a HTTP/1.1\" 200 1\n");
        let text = [
            line("01/Jan/0001:00:00:00 +0000"),
            line("01/Jan/0001:00:00:00 +0100"),
            line("01/Jan/0001:00:30:00 +2359"),
        ]
        .concat();
        let settings = ReadSettings {
            format: LogFormat::Combined,
            ..settings(false, i64::MAX)
        };
        let (read, sent) = read_text(&text, settings);
        let read = read.unwrap();
        assert_eq!((read.records, sent), (1, vec![1]));
        let reason = |time: &str| {
            format!(
                "the time {time} is before the first second a database stores (0001-01-01T00:00:00Z)"
            )
        };
        assert_eq!(
            read.malformed,
            [
                MalformedLine::new(2, &reason("0000-12-31T23:00:00.000000Z")),
                MalformedLine::new(3, &reason("0000-12-31T00:31:00.000000Z")),
            ]
        );
    }

    #[test]
    fn a_time_in_the_last_second_of_year_9999_is_a_malformed_line() {
        let text = [
            line("9999-12-31T23:59:58.999999Z"),
            line("9999-12-31T23:59:59Z"),
        ]
        .concat();
        let (read, sent) = read_text(&text, settings(false, i64::MAX));
        let read = read.unwrap();
        assert_eq!((read.records, sent), (1, vec![1]));
        assert_eq!(
            read.malformed,
            [MalformedLine::new(
                2,
                "the time 9999-12-31T23:59:59.000000Z is past the last second a database stores (9999-12-31T23:59:58Z)"
            )]
        );
    }
}
