//! callbudget: audits how a Cisco Meraki organization spends its shared API call budget.
//!
//! Data flows one way: [`dashboard`] (the API client and the API's vocabulary) →
//! [`collect`] → [`store`] → [`analysis`] → [`report`]. [`queries`] and [`export`] read the store
//! for people and other tools. The [`sim`] module is a Meraki-compatible simulator; it shares only
//! the API models with [`dashboard`]. [`budget`] and [`timestamp`] are leaf modules every stage may
//! use; [`cli`] is the command line (clap only).

pub mod analysis;
pub mod budget;
pub mod cli;
pub mod collect;
pub mod dashboard;
pub mod export;
pub mod import;
pub mod queries;
pub mod report;
pub mod sim;
pub mod store;
pub mod timestamp;

/// The version stamped into databases and reports.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
