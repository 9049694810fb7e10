//! Findings as JSON for pipelines: `{"schema_version", "tool_version", "audits": [...]}`.

use crate::analysis::OrgAudit;
use serde::Serialize;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool_version: &'static str,
    audits: &'a [OrgAudit],
}

pub fn render(audits: &[OrgAudit]) -> String {
    let doc = Document {
        schema_version: super::FINDINGS_SCHEMA_VERSION,
        tool_version: crate::TOOL_VERSION,
        audits,
    };
    let mut text = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    text.push('\n');
    text
}
