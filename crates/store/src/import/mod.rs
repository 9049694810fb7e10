//! `callbudget import`: request logs from other sources — a proxy's access log, an application's
//! own JSONL or CSV, another provider's export — stored in the same tables as collected ones, so
//! that `analyze` reads them alike, through the organization's provider's budget model.
//!
//! The file streams through: one thread reads it in blocks of bounded size, another decodes its
//! lines into batches of the store's rows ([`crate::RequestRow`], never Meraki's record
//! type) and the calling thread stores each batch, so memory stays flat whatever the file's size
//! and the copying, the decoding and the storing overlap. Everything
//! is written in one transaction ([`crate::RequestLogImport`]), which is what makes the
//! refusals cheap and total: a file that spans more than `max_span`, or (with `strict`) holds a
//! malformed line, is refused with nothing stored, as soon as the line that decides it is read.
//!
//! Like collection, an import is idempotent: the file covers the span from its first request's
//! second to the end of its last request's second, stored as `apiRequests` windows on whole UTC
//! hours (the first and last clipped to that span). What was stored for that span is replaced,
//! and only that: a stored window that reaches past it keeps its requests outside it. Importing a
//! file again changes nothing. Lines that are not requests are reported with their line numbers
//! and skipped.

mod batch;
mod combined;
mod csv;
mod jsonl;
mod lines;
mod new_database;
mod read;
mod request;

pub use lines::MAX_LINE_BYTES;
pub use new_database::ImportDatabase;

use crate::{OrgId, RequestLogImport, Store, StoreError, StoredProvider};
use batch::RequestBatch;
use callbudget_api::Organization;
use callbudget_api::budget::{BudgetModel, BudgetModelError};
use callbudget_api::text::printable;
use callbudget_api::timestamp::{self, MICROS_PER_HOUR, MICROS_PER_SECOND};
use chrono::{DateTime, TimeDelta, Utc};
use read::{ReadError, ReadSettings, SpanEnd};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};

/// Whose API the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Cisco Meraki: 10 requests/s + 10 per organization; recommendations from its catalog.
    Meraki,
    /// Cisco XDR: 8000 requests per organization in any 60 minutes.
    Xdr,
    /// Any other API: its budget model must be given (`--budget-model FILE.toml`).
    Generic,
}

impl Provider {
    /// The names the command line accepts.
    pub const NAMES: [&'static str; 3] = ["meraki", "xdr", "generic"];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Meraki => "meraki",
            Provider::Xdr => "xdr",
            Provider::Generic => "generic",
        }
    }

    /// The provider's own budget; a generic API has none.
    fn default_budget(self) -> Option<BudgetModel> {
        match self {
            Provider::Meraki => Some(BudgetModel::meraki()),
            Provider::Xdr => Some(BudgetModel::xdr()),
            Provider::Generic => None,
        }
    }

    /// The budget an import of this provider's log is analysed with: the model `asked` for (a
    /// built-in name or a model file), else the provider's own; a generic API has none, so one
    /// must be asked for.
    pub fn budget(self, asked: Option<&str>) -> Result<BudgetModel, ImportBudgetError> {
        match (asked, self.default_budget()) {
            (Some(spec), _) => Ok(BudgetModel::resolve(spec)?),
            (None, Some(model)) => Ok(model),
            (None, None) => Err(ImportBudgetError::NoneForProvider(self)),
        }
    }
}

/// Why an import's budget model cannot be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ImportBudgetError {
    #[error(
        "--provider {} has no budget of its own: pass --budget-model FILE.toml (or meraki, xdr)",
        .0.as_str()
    )]
    NoneForProvider(Provider),
    #[error(transparent)]
    Model(#[from] BudgetModelError),
}

impl ImportBudgetError {
    /// Whether the error is in how the import was asked for (a usage error): no model for a
    /// provider without one. A model file that cannot be used is not.
    pub fn is_usage(&self) -> bool {
        matches!(self, ImportBudgetError::NoneForProvider(_))
    }
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Provider::Meraki, Provider::Xdr, Provider::Generic]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("{s:?}: expected meraki, xdr or generic"))
    }
}

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated, with a header row.
    Csv,
    /// The Apache/nginx combined (or common) access-log format.
    Combined,
}

impl LogFormat {
    /// The names the command line accepts.
    pub const NAMES: [&'static str; 3] = ["jsonl", "csv", "combined"];
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(LogFormat::Jsonl),
            "csv" => Ok(LogFormat::Csv),
            "combined" => Ok(LogFormat::Combined),
            other => Err(format!("{other:?}: expected jsonl, csv or combined")),
        }
    }
}

/// The longest span of time a file may cover unless `--max-span` says otherwise: a year, the
/// longest window `analyze` analyses at once. (A Meraki log fetched from the API covers at most its
/// 31-day lookback, but a proxy's or an archive's may cover months.)
pub const DEFAULT_MAX_SPAN: TimeDelta = TimeDelta::days(366);

/// Malformed lines an import names (with their line numbers); the rest are counted.
pub const MALFORMED_NAMED: usize = 20;

/// Batches of rows read ahead of the store: enough to keep both threads busy, few enough that
/// memory does not depend on the file.
const BATCHES_IN_FLIGHT: usize = 2;

/// The UTC span of each stored window (before the first and last are clipped).
const WINDOW_GRID: TimeDelta = TimeDelta::hours(1);

/// A line that could not be read as a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLine {
    /// 1-based line number in the file.
    pub line: u64,
    /// Why, printable on a terminal: text quoted from the file has its control characters
    /// escaped (see [`callbudget_api::text::printable`]).
    pub reason: String,
}

impl MalformedLine {
    pub(crate) fn new(line: u64, reason: &str) -> Self {
        MalformedLine {
            line,
            reason: callbudget_api::text::printable(reason).into_owned(),
        }
    }
}

/// Everything that can go wrong importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: the CSV header row {reason}; nothing was stored", path.display())]
    Header {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "{} is {format}-compressed, not a request log: decompress it first (`{command} > LOG`, then import LOG); nothing was stored",
        path.display()
    )]
    Compressed {
        path: PathBuf,
        format: &'static str,
        command: &'static str,
    },
    #[error("{} holds no request (of {malformed} malformed line(s)); nothing was stored", path.display())]
    Empty { path: PathBuf, malformed: u64 },
    #[error("{} has {malformed_total} malformed line(s), the first at line {} ({}); nothing was stored (without --strict they are skipped)", path.display(), first.line, first.reason)]
    Strict {
        path: PathBuf,
        malformed_total: u64,
        first: MalformedLine,
    },
    #[error(
        "{} spans {} from {} (line {}) to {} (line {}), more than the {} an import may span \
         (--max-span); nothing was stored",
        path.display(),
        span_text(*last - *first),
        timestamp::format(first),
        first_line,
        timestamp::format(last),
        last_line,
        span_text(*max_span)
    )]
    Span {
        path: PathBuf,
        first: DateTime<Utc>,
        first_line: u64,
        last: DateTime<Utc>,
        last_line: u64,
        max_span: TimeDelta,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the budget model stored for organization {org_id} is unreadable")]
    StoredModel {
        org_id: OrgId,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Model(#[from] BudgetModelError),
}

/// A span for people: `366 days`, `26 hours`, `3,652,058 days 23:59:59`.
fn span_text(span: TimeDelta) -> String {
    let seconds = span.num_seconds().max(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let clock = format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
    match (days, rest) {
        (_, 0) => format!("{} day(s)", callbudget_api::text::thousands(days as u64)),
        (0, r) if r % 3600 == 0 => format!("{} hour(s)", r / 3600),
        (0, _) => clock,
        _ => format!(
            "{} day(s) {clock}",
            callbudget_api::text::thousands(days as u64)
        ),
    }
}

/// What to import, and as what.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub org_id: OrgId,
    /// The organization's name; the id when none is given.
    pub org_name: Option<String>,
    pub provider: Provider,
    pub format: LogFormat,
    /// The budget the organization's log is analysed with.
    pub budget: BudgetModel,
    /// Refuse the whole file when any line is malformed, instead of skipping those lines.
    pub strict: bool,
    /// Refuse a file whose requests span more than this ([`DEFAULT_MAX_SPAN`]).
    pub max_span: TimeDelta,
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: u64,
    pub http_429s: u64,
    /// Windows stored: whole UTC hours, the first and the last clipped to the span covered.
    pub windows: u64,
    /// The first and the last request's time.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The span the windows cover: from the first request's second to the end of the last one's.
    pub covered: (DateTime<Utc>, DateTime<Utc>),
    /// The first [`MALFORMED_NAMED`] lines skipped, in file order.
    pub malformed: Vec<MalformedLine>,
    /// Every line skipped.
    pub malformed_total: u64,
}

impl ImportSummary {
    /// The skipped lines as `FILE:LINE: skipped: reason`, the way compilers name lines, then how
    /// many more were skipped beyond those named.
    pub fn skipped_lines(&self, file: &Path) -> Vec<String> {
        let mut lines: Vec<String> = self
            .malformed
            .iter()
            .map(|bad| format!("{}:{}: skipped: {}", file.display(), bad.line, bad.reason))
            .collect();
        let named = self.malformed.len() as u64;
        if self.malformed_total > named {
            lines.push(format!(
                "{}: … and {} more malformed line(s) skipped",
                file.display(),
                self.malformed_total - named
            ));
        }
        lines
    }

    /// One line on what was imported, from where, into what, under which budget.
    pub fn describe(&self, options: &ImportOptions, file: &Path, db: &Path) -> String {
        format!(
            "imported {} request(s) ({} x 429) of organization {} from {} into {}: {} window(s) \
             covering {} to {}, {} malformed line(s) skipped; budget: {} ({})",
            self.records,
            self.http_429s,
            printable(options.org_id.as_str()),
            printable(&file.display().to_string()),
            printable(&db.display().to_string()),
            self.windows,
            timestamp::format(&self.covered.0),
            timestamp::format(&self.covered.1),
            self.malformed_total,
            printable(&options.budget.name),
            printable(&options.budget.summary()),
        )
    }
}

/// Opens `path` and imports it: see [`import_log`].
pub fn import_file(
    store: &mut Store,
    path: &Path,
    options: &ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let file = open_log(path)?;
    import_log(store, file, path, options, now)
}

/// A log file as [`open_log`] opened it: its first bytes (read to recognise compression), then
/// the rest.
pub type LogFile = std::io::Chain<std::io::Cursor<Vec<u8>>, std::fs::File>;

/// The compressed formats recognised by their first bytes: their name, the command that
/// decompresses one to stdout, and their magic bytes.
const COMPRESSED: [(&str, &str, &[u8]); 5] = [
    ("gzip", "gzip -dc FILE", &[0x1f, 0x8b]),
    ("zstd", "zstd -dc FILE", &[0x28, 0xb5, 0x2f, 0xfd]),
    ("bzip2", "bzip2 -dc FILE", b"BZh"),
    ("xz", "xz -dc FILE", &[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
    ("zip", "unzip -p FILE", b"PK\x03\x04"),
];

/// The compressed format whose magic bytes `head` starts with, if any.
fn compression_of(head: &[u8]) -> Option<(&'static str, &'static str)> {
    COMPRESSED
        .iter()
        .find(|(format, _, magic)| {
            // bzip2's "BZh" is followed by its block size, a digit from 1 to 9: text may start
            // with "BZh" too.
            head.starts_with(magic)
                && (*format != "bzip2" || head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)))
        })
        .map(|&(format, command, _)| (format, command))
}

/// Opens a log file for [`import_log`], naming it when it cannot be opened, and refuses a
/// compressed one by its first bytes (gzip, zstd, bzip2, xz, zip): read as text it would only be
/// "malformed lines". (Open the file before the store, and a file that cannot be read leaves no
/// database behind.)
pub fn open_log(path: &Path) -> Result<LogFile, ImportError> {
    use std::io::Read;
    let read_error = |source| ImportError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    // Read through `take` so that a pipe gives what it has, however it arrives.
    let mut head = Vec::with_capacity(8);
    (&file).take(8).read_to_end(&mut head).map_err(read_error)?;
    if let Some((format, command)) = compression_of(&head) {
        return Err(ImportError::Compressed {
            path: path.to_owned(),
            format,
            command,
        });
    }
    Ok(std::io::Cursor::new(head).chain(file))
}

/// Stores the log `input` holds (read from `path`, which errors name) as `options.org_id`'s log,
/// the organization and its provider's budget model with it, in one transaction (see the module
/// docs). `now` stamps the windows.
pub fn import_log(
    store: &mut Store,
    input: impl Read + Send,
    path: &Path,
    options: &ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    options.budget.validate()?;
    let budget_model_json =
        serde_json::to_string(&options.budget).map_err(|source| ImportError::StoredModel {
            org_id: options.org_id.clone(),
            source,
        })?;
    let settings = ReadSettings {
        format: options.format,
        strict: options.strict,
        max_span_us: options.max_span.num_microseconds().unwrap_or(i64::MAX),
    };
    let mut import = store.begin_request_import(&options.org_id, WINDOW_GRID, now)?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
    // Stored batches go back to the reader, emptied, to be filled again.
    let (spare_sender, spare_receiver) = std::sync::mpsc::channel();
    let (read, stored) = std::thread::scope(|scope| {
        let reader = lines::read_ahead(scope, input).and_then(|blocks| {
            std::thread::Builder::new()
                .name("import-read".to_owned())
                .spawn_scoped(scope, move || {
                    read::read_log(
                        blocks,
                        settings,
                        |batch| sender.send(batch).is_ok(),
                        || spare_receiver.try_recv().ok(),
                    )
                })
        });
        let reader = match reader {
            Ok(reader) => reader,
            Err(source) => {
                let read: Result<read::ReadLog, ReadError> = Err(ReadError::Io(source));
                return (read, Ok(()));
            }
        };
        let stored = store_batches(&mut import, &receiver, &spare_sender);
        // A reader waiting to hand over a batch stops when nobody takes it.
        drop(receiver);
        let read = match reader.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (read, stored)
    });
    stored?;
    let read = read.map_err(|e| refusal(path, options, e))?;
    if options.strict
        && let Some(first) = read.malformed.first()
    {
        return Err(ImportError::Strict {
            path: path.to_owned(),
            malformed_total: read.malformed_total,
            first: first.clone(),
        });
    }
    let Some((first, last)) = read.span else {
        return Err(ImportError::Empty {
            path: path.to_owned(),
            malformed: read.malformed_total,
        });
    };
    // Whole seconds: a log that writes whole seconds (combined) covers its last second to its end.
    let covered = (
        timestamp::from_micros(first.ts_us.div_euclid(MICROS_PER_SECOND) * MICROS_PER_SECOND),
        timestamp::from_micros((last.ts_us.div_euclid(MICROS_PER_SECOND) + 1) * MICROS_PER_SECOND),
    );
    let organization = Organization {
        id: options.org_id.as_str().to_owned(),
        name: options
            .org_name
            .clone()
            .unwrap_or_else(|| options.org_id.as_str().to_owned()),
        url: None,
        api: None,
        licensing: None,
        cloud: None,
        management: None,
    };
    let provider = StoredProvider {
        provider: options.provider.as_str().to_owned(),
        budget_model_json,
    };
    let windows = import.commit(covered.0, covered.1, &organization, &provider)?;
    Ok(ImportSummary {
        records: read.records,
        http_429s: read.http_429s,
        windows: windows.len() as u64,
        first: timestamp::from_micros(first.ts_us),
        last: timestamp::from_micros(last.ts_us),
        covered,
        malformed: read.malformed,
        malformed_total: read.malformed_total,
    })
}

/// The storing side: each batch the reader sends, inserted and handed back empty. As the span of
/// the rows grows, the whole hours between the first and the last request so far are covered
/// whatever else the file holds, so what is stored there is replaced at once: its pages are
/// reused for the rows still to come, and the database does not grow by a re-import's size.
fn store_batches(
    import: &mut RequestLogImport<'_>,
    batches: &Receiver<RequestBatch>,
    spare: &Sender<RequestBatch>,
) -> Result<(), StoreError> {
    let mut replaced: Option<(i64, i64)> = None;
    for mut batch in batches {
        import.insert_rows(batch.len(), batch.rows())?;
        batch.clear();
        // The reader may be gone (the file ended); the batch is then simply dropped.
        let _ = spare.send(batch);
        let Some((first, last)) = import.rows_span() else {
            continue;
        };
        let hours = (
            ceil_to(first, MICROS_PER_HOUR),
            last.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR,
        );
        if hours.0 < hours.1 && replaced != Some(hours) {
            import.replace_stored(
                timestamp::from_micros(hours.0),
                timestamp::from_micros(hours.1),
            )?;
            replaced = Some(hours);
        }
    }
    Ok(())
}

/// The error that reading stopped with, for people.
fn refusal(path: &Path, options: &ImportOptions, e: ReadError) -> ImportError {
    match e {
        ReadError::Io(source) => ImportError::Read {
            path: path.to_owned(),
            source,
        },
        ReadError::Header { line, reason } => ImportError::Header {
            path: path.to_owned(),
            line,
            reason: callbudget_api::text::printable(&reason).into_owned(),
        },
        ReadError::Span { first, last } => {
            let at = |end: SpanEnd| timestamp::from_micros(end.ts_us);
            ImportError::Span {
                path: path.to_owned(),
                first: at(first),
                first_line: first.line,
                last: at(last),
                last_line: last.line,
                max_span: options.max_span,
            }
        }
    }
}

/// `us` rounded up to a multiple of `step`.
fn ceil_to(us: i64, step: i64) -> i64 {
    -((-us).div_euclid(step) * step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_takes_the_model_asked_for_else_the_providers_own() {
        assert_eq!(
            Provider::Meraki.budget(Some("xdr")).unwrap(),
            BudgetModel::xdr()
        );
        assert_eq!(Provider::Xdr.budget(None).unwrap(), BudgetModel::xdr());
        assert_eq!(
            Provider::Generic.budget(Some("meraki")).unwrap(),
            BudgetModel::meraki()
        );
    }

    #[test]
    fn a_generic_import_without_a_model_is_a_usage_error_naming_the_flag() {
        let e = Provider::Generic.budget(None).unwrap_err();
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "--provider generic has no budget of its own: pass --budget-model FILE.toml (or meraki, xdr)"
        );
    }

    #[test]
    fn a_model_that_cannot_be_read_is_not_a_usage_error() {
        let e = Provider::Generic.budget(Some("missing.toml")).unwrap_err();
        assert!(!e.is_usage());
        assert_eq!(e.to_string(), "cannot read the budget model missing.toml");
    }
}
