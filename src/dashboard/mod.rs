//! The Meraki Dashboard API as callbudget sees it: the shapes of its answers ([`models`]) and the
//! catalog of its operations ([`operations`]), and the HTTP [`client`] built on them: the [`key`],
//! [`pacing`] at a share of the budget, [`retry`] rules and pagination. The simulator shares only
//! the models and the catalog.

pub mod client;
pub mod key;
pub mod models;
pub mod operations;
pub mod pacing;
pub mod retry;

/// The default base URL of the Meraki Dashboard API v1.
pub const DEFAULT_BASE_URL: &str = "https://api.meraki.com/api/v1";

/// The environment variable the official SDKs (and callbudget) read the API key from.
pub const API_KEY_ENV: &str = "MERAKI_DASHBOARD_API_KEY";

/// The API's lookback and longest time span for the request log: 31 days.
pub const MAX_TIMESPAN: chrono::TimeDelta = chrono::TimeDelta::days(31);
