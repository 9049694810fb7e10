//! callbudget: audits how a Cisco Meraki organization spends its shared API call budget.
//!
//! Data flows one way: [`dashboard`] (the API's HTTP client) → [`collect`] → [`store`] →
//! [`analysis`] → [`report`]. [`api`] is the API's vocabulary (records, pages, the operation
//! catalog) that every stage speaks; the [`sim`]ulator and the [`import`]er use it, never the
//! client. [`queries`] and [`export`] read the store for people and other tools; [`notify`] tells
//! people what an audit found that is new. [`budget`] and [`timestamp`] are leaf modules every
//! stage may use, and [`redact`] the one redaction of credentials in query strings that every
//! stored record passes; [`cli`] is the command line (clap only).

pub mod analysis;
pub mod api;
pub mod budget;
pub mod cli;
pub mod collect;
pub mod dashboard;
pub mod demo;
pub mod export;
pub mod import;
pub mod notify;
pub mod output_files;
pub mod queries;
pub mod redact;
pub mod report;
pub mod sim;
pub mod store;
pub mod text;
pub mod timestamp;

/// The version stamped into databases and reports.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
