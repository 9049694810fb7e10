//! Findings as Markdown, for tickets and chat. Text from the API (user agents) is escaped so it
//! cannot break the table or inject markup.

use crate::analysis::OrgAudit;
use crate::timestamp;
use std::fmt::Write;

/// Escapes Markdown table and inline syntax.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#'
        ) {
            out.push('\\');
        }
        if c == '\n' || c == '\r' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

pub fn render(audits: &[OrgAudit]) -> String {
    let mut out = String::new();
    for a in audits {
        let t = &a.timeline;
        let _ = writeln!(
            out,
            "## Organization {} — {} to {}\n",
            escape(&a.org_id),
            timestamp::format(&a.window.start),
            timestamp::format(&a.window.end)
        );
        let _ = writeln!(
            out,
            "- Requests: {}; 429s: {}; seconds at or over the limit: {}\n",
            a.requests, a.http_429s, t.seconds_at_or_over_limit
        );
        if a.findings.is_empty() {
            let _ = writeln!(out, "No findings.\n");
            continue;
        }
        let _ = writeln!(out, "| severity | finding | from | to | summary |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for f in &a.findings {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.severity.as_str(),
                f.kind.as_str(),
                timestamp::format(&f.start),
                timestamp::format(&f.end),
                escape(&f.summary)
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_text_cannot_break_the_table() {
        assert_eq!(escape("a|b <script>`x`"), "a\\|b \\<script\\>\\`x\\`");
    }
}
