//! `callbudget import`: request logs from other sources — a proxy's access log, an application's
//! own JSONL or CSV, another provider's export — stored in the same tables as collected ones, so
//! that `analyze` reads them alike, through the organization's provider's budget model.
//!
//! Like collection, an import is idempotent: the file's time extent, cut at whole UTC hours,
//! becomes `apiRequests` collection windows, and storing a window replaces the stored windows it
//! covers, so importing a file again replaces its hours instead of doubling them. Lines that are
//! not requests are reported with their line numbers and skipped; `strict` refuses the whole file
//! instead, before anything is stored.

mod formats;

pub use formats::{MalformedLine, ParsedLog, read_combined, read_csv, read_jsonl};

use crate::api::{Organization, RequestRecord};
use crate::budget::{BudgetModel, BudgetModelError};
use crate::store::{
    CollectionFilter, Endpoint, OrgId, Store, StoreError, StoredProvider, WindowMeta,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::path::{Path, PathBuf};

/// Whose API the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// Cisco Meraki: 10 requests/s + 10 per organization; recommendations from its catalog.
    Meraki,
    /// Cisco XDR: 8000 requests per organization in any 60 minutes.
    Xdr,
    /// Any other API: its budget model must be given (`--budget-model FILE.toml`).
    Generic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Meraki => "meraki",
            Provider::Xdr => "xdr",
            Provider::Generic => "generic",
        }
    }

    /// The provider's own budget; a generic API has none.
    pub fn default_budget(self) -> Option<BudgetModel> {
        match self {
            Provider::Meraki => Some(BudgetModel::meraki()),
            Provider::Xdr => Some(BudgetModel::xdr()),
            Provider::Generic => None,
        }
    }
}

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated, with a header row.
    Csv,
    /// The Apache/nginx combined (or common) access-log format.
    Combined,
}

/// Everything that can go wrong importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not readable CSV", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{} holds no request (of {} malformed line(s)); nothing was stored", path.display(), malformed)]
    Empty { path: PathBuf, malformed: usize },
    #[error("{} has {} malformed line(s), the first at line {} ({}); nothing was stored (without --strict they are skipped)", path.display(), malformed.len(), malformed[0].line, malformed[0].reason)]
    Strict {
        path: PathBuf,
        malformed: Vec<MalformedLine>,
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
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: u64,
    pub http_429s: u64,
    /// Hour windows stored (each replaced what was stored for that hour).
    pub windows: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The lines skipped, in file order.
    pub malformed: Vec<MalformedLine>,
}

/// Reads `path` in `format`.
pub fn read_log(path: &Path, format: LogFormat) -> Result<ParsedLog, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let reader = std::io::BufReader::new(file);
    let read_err = |source| ImportError::Read {
        path: path.to_owned(),
        source,
    };
    match format {
        LogFormat::Jsonl => read_jsonl(reader).map_err(read_err),
        LogFormat::Combined => read_combined(reader).map_err(read_err),
        LogFormat::Csv => read_csv(reader).map_err(|source| ImportError::Csv {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads `path` and stores its requests as `options.org_id`'s log (see the module docs), the
/// organization and its provider's budget model with them. `now` stamps the windows.
pub fn import_file(
    store: &mut Store,
    path: &Path,
    options: &ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let parsed = read_log(path, options.format)?;
    store_log(store, path, parsed, options, now)
}

/// Stores a log read from `path` (named in errors): see [`import_file`]. Read the file first and
/// open the store after, and a file that cannot be read leaves no database behind.
pub fn store_log(
    store: &mut Store,
    path: &Path,
    parsed: ParsedLog,
    options: &ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let ParsedLog {
        mut records,
        malformed,
    } = parsed;
    if options.strict && !malformed.is_empty() {
        return Err(ImportError::Strict {
            path: path.to_owned(),
            malformed,
        });
    }
    options.budget.validate()?;
    records.sort_by_key(|r| r.ts);
    let (Some(first), Some(last)) = (records.first().map(|r| r.ts), records.last().map(|r| r.ts))
    else {
        return Err(ImportError::Empty {
            path: path.to_owned(),
            malformed: malformed.len(),
        });
    };
    let org = Organization {
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
    store.upsert_organizations(&[org], now)?;
    let budget_model_json =
        serde_json::to_string(&options.budget).map_err(|source| ImportError::StoredModel {
            org_id: options.org_id.clone(),
            source,
        })?;
    store.set_org_provider(
        &options.org_id,
        &StoredProvider {
            provider: options.provider.as_str().to_owned(),
            budget_model_json,
        },
        now,
    )?;

    let hour = TimeDelta::hours(1);
    // Whole UTC hours, so windows of two imports either cover each other or do not meet.
    let mut t0 = first.duration_trunc(hour).unwrap_or(first);
    let mut rest = &records[..];
    let mut windows = 0;
    while t0 <= last {
        let t1 = t0 + hour;
        let in_window = rest.partition_point(|r| r.ts < t1);
        let (window, later) = rest.split_at(in_window);
        let meta = WindowMeta {
            org_id: options.org_id.clone(),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0,
            t1,
            started_at: now,
            finished_at: now,
            calls: 0,
            http_429s: 0,
        };
        store.store_request_window(&meta, window)?;
        windows += 1;
        rest = later;
        t0 = t1;
    }
    Ok(ImportSummary {
        records: records.len() as u64,
        http_429s: count_429s(&records),
        windows,
        first,
        last,
        malformed,
    })
}

fn count_429s(records: &[RequestRecord]) -> u64 {
    records
        .iter()
        .filter(|r| r.response_code == Some(429))
        .count() as u64
}
