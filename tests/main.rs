//! The integration tests: one binary (see Cargo.toml), one module per area.

mod analysis;
mod analysis_consumers;
mod analysis_recommend;
mod analyze_cli;
mod browser;
mod budget_models;
mod charts;
mod collect_cli;
mod collect_lib;
mod database_cli;
mod errors_cli;
mod export_cli;
mod first_hour;
mod import_cli;
mod metrics;
mod notify;
mod pipeline;
mod queries;
mod report_cli;
mod scenarios;
mod sdk_conformance;
mod sim_cli;
mod sim_http;
mod snapshots;
mod support;
