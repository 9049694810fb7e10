//! The HTTP client of the Meraki Dashboard API: the [`key`], [`pacing`] at a share of the budget,
//! [`retry`] rules and pagination ([`client`]). It fetches the API's [`crate::api`] vocabulary;
//! only the collector uses it.

pub mod client;
pub mod key;
pub mod pacing;
pub mod retry;

/// The default base URL of the Meraki Dashboard API v1.
pub const DEFAULT_BASE_URL: &str = "https://api.meraki.com/api/v1";

/// The environment variable the official SDKs (and callbudget) read the API key from.
pub const API_KEY_ENV: &str = "MERAKI_DASHBOARD_API_KEY";
