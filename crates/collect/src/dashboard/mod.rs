//! The HTTP client of the Meraki Dashboard API: the [`key`] and where it may go ([`hosts`]),
//! [`pacing`] at a share of the budget, [`retry`] rules, pagination [`links`], and the [`client`]
//! that puts them together. It fetches the API's [`callbudget_api`] vocabulary; only the collector
//! uses it.

pub mod client;
pub mod hosts;
pub mod key;
pub mod links;
pub mod pacing;
pub mod retry;

/// The default base URL of the Meraki Dashboard API v1.
pub const DEFAULT_BASE_URL: &str = "https://api.meraki.com/api/v1";

pub use callbudget_api::API_KEY_ENV;
