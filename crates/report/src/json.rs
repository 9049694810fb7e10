//! Findings as JSON for pipelines: `{"schema_version", "tool_version", "audits": [...]}`.

use super::{ReportError, ReportInput};
use callbudget_analysis::OrgAudit;
use serde::Serialize;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool_version: &'a str,
    /// Which operation catalog the recommendations come from.
    catalog: &'a callbudget_api::catalog::CatalogSource,
    audits: &'a [OrgAudit],
}

pub fn render(input: &ReportInput<'_>) -> Result<String, ReportError> {
    let doc = Document {
        schema_version: super::FINDINGS_SCHEMA_VERSION,
        tool_version: input.context.tool_version,
        catalog: callbudget_api::OperationCatalog::meraki_v1().source(),
        audits: input.audits,
    };
    let mut text = serde_json::to_string_pretty(&doc).map_err(ReportError::Json)?;
    text.push('\n');
    Ok(text)
}
