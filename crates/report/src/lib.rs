//! Renderers: one per output format, all fed the same [`ReportInput`] — the audits plus one
//! [`ReportContext`]; the analysis never knows which format will be written. [`Format`] names
//! every output, [`render`] is the one dispatcher for text printed to a terminal and
//! [`files::write_report`] writes a report directory.

pub mod charts;
pub mod files;
pub mod format;
pub mod html;
pub mod json;
pub mod markdown;
pub mod notify;
pub mod openmetrics;
pub mod table;

use callbudget_analysis::OrgAudit;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

pub use files::{ReportError, write_report};

/// The version of the JSON findings schema; bumped on any incompatible change.
pub const FINDINGS_SCHEMA_VERSION: u32 = 2;

/// What a report says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportContext {
    pub generated_at: DateTime<Utc>,
    pub tool_version: &'static str,
    /// The database the report was made from, as the user named it.
    pub database: PathBuf,
}

impl ReportContext {
    /// A report of `database` generated at `generated_at` by this build.
    pub fn new(database: impl Into<PathBuf>, generated_at: DateTime<Utc>) -> Self {
        ReportContext {
            generated_at,
            tool_version: callbudget_api::TOOL_VERSION,
            database: database.into(),
        }
    }
}

/// The one input of every renderer: the audits, borrowed, and the report's context.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub audits: &'a [OrgAudit],
    pub context: &'a ReportContext,
}

/// An output of `analyze` (printed) or `report` (written as files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Aligned text for a terminal (`analyze` only).
    Table,
    Json,
    Markdown,
    Html,
    Png,
    Svg,
    /// The audit as metrics for Prometheus (node_exporter's textfile collector).
    OpenMetrics,
}

impl Format {
    /// Every format, in the order `report` writes them.
    pub const ALL: [Format; 7] = [
        Format::Html,
        Format::Png,
        Format::Svg,
        Format::Json,
        Format::Markdown,
        Format::OpenMetrics,
        Format::Table,
    ];
    /// What `report` writes when nobody says.
    pub const REPORT_FILES: [Format; 5] = [
        Format::Html,
        Format::Png,
        Format::Svg,
        Format::Json,
        Format::Markdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Png => "png",
            Format::Svg => "svg",
            Format::OpenMetrics => "openmetrics",
        }
    }

    /// Whether `analyze` can print it: one text document, not a set of images.
    pub fn prints(self) -> bool {
        matches!(
            self,
            Format::Table | Format::Json | Format::Markdown | Format::OpenMetrics
        )
    }

    /// Whether `report` can write it as a file.
    pub fn is_file(self) -> bool {
        self != Format::Table
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "md" => Ok(Format::Markdown),
            name => Format::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    format!(
                        "{name:?}: expected table, json, markdown (md), html, png, svg or openmetrics"
                    )
                }),
        }
    }
}

/// Renders a printable format (see [`Format::prints`]) as one text document.
pub fn render(format: Format, input: &ReportInput<'_>) -> Result<String, ReportError> {
    match format {
        Format::Table => Ok(table::render(input)),
        Format::Json => json::render(input),
        Format::Markdown => Ok(markdown::render(input)),
        Format::OpenMetrics => Ok(openmetrics::render(input)),
        Format::Html | Format::Png | Format::Svg => Err(ReportError::NotPrintable(format)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_name_and_say_where_they_go() {
        assert_eq!("md".parse::<Format>(), Ok(Format::Markdown));
        assert_eq!("markdown".parse::<Format>(), Ok(Format::Markdown));
        assert_eq!(" svg".parse::<Format>(), Ok(Format::Svg));
        assert!("pdf".parse::<Format>().is_err());
        assert!(Format::Table.prints() && !Format::Table.is_file());
        assert!(Format::Json.prints() && Format::Json.is_file());
        assert!(!Format::Png.prints() && Format::Png.is_file());
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
    }
}
