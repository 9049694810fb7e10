//! Renderers: one per output format, all fed the same audits; the analysis never knows which
//! format will be written.

pub mod charts;
pub mod files;
pub mod format;
pub mod html;
pub mod json;
pub mod markdown;
pub mod table;

use crate::analysis::OrgAudit;

/// The version of the JSON findings schema; bumped on any incompatible change.
pub const FINDINGS_SCHEMA_VERSION: u32 = 2;

/// An output format of `callbudget analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Table,
    Json,
    Markdown,
}

impl std::str::FromStr for TextFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(TextFormat::Table),
            "json" => Ok(TextFormat::Json),
            "markdown" | "md" => Ok(TextFormat::Markdown),
            other => Err(format!("{other:?}: expected table, json or markdown")),
        }
    }
}

/// Renders audits in a format.
pub fn render(format: TextFormat, audits: &[OrgAudit]) -> String {
    match format {
        TextFormat::Table => table::render(audits),
        TextFormat::Json => json::render(audits),
        TextFormat::Markdown => markdown::render(audits),
    }
}
