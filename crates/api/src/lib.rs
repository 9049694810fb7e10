//! The Dashboard API's vocabulary: the shapes of its answers ([`records`], [`pages`], [`models`])
//! and the [`catalog`] of its operations. Everything that stores, simulates, imports or analyses
//! API activity speaks this vocabulary; only the collector also needs the HTTP client
//! ([`callbudget_collect::dashboard`]) that fetches it.

pub mod budget;
pub mod catalog;
pub mod endpoint;
pub mod ids;
pub mod models;
pub mod output_files;
pub mod pages;
pub mod records;
pub mod redact;
pub mod text;
pub mod timestamp;

pub use catalog::{API_PATH_PREFIX, Operation, OperationCatalog};
pub use endpoint::Endpoint;
pub use models::{
    Admin, ApiAccess, ErrorBody, Organization, RESPONSE_CODE_INTERVALS, RequestsOverview,
    ResponseCodeCount, ResponseCodeInterval,
};
pub use pages::RequestPage;
pub use records::{ApiClient, RequestRecord, Text};

/// The environment variable the official SDKs (and callbudget, and its simulator) read the API
/// key from.
pub const API_KEY_ENV: &str = "MERAKI_DASHBOARD_API_KEY";

/// The API's lookback and longest time span for the request log: 31 days.
pub const MAX_TIMESPAN: chrono::TimeDelta = chrono::TimeDelta::days(31);

/// The version stamped into databases, reports and the collector's User-Agent.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
