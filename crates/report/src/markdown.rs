//! Findings as Markdown, for tickets and chat. Text from the API (user agents) is escaped so it
//! cannot break the table or inject markup.

use super::ReportInput;
use callbudget_api::text::thousands_rounded;
use callbudget_api::timestamp;
use std::fmt::Write;

/// Escapes Markdown table and inline syntax; control characters (terminal escapes, NUL, BEL,
/// backspaces) become visible escapes first, so a ticket shows what the API sent.
fn escape(text: &str) -> String {
    let text = callbudget_api::text::printable(text);
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

/// "What to do", ranked: the list a ticket or a chat message leads with.
fn write_actions(out: &mut String, list: &callbudget_analysis::ActionList) {
    if list.actions.is_empty() {
        return;
    }
    let _ = writeln!(out, "**What to do**\n");
    let _ = writeln!(out, "{}\n", escape(callbudget_analysis::RANKING_RULE));
    if let Some(note) = &list.note {
        let _ = writeln!(out, "{}\n", escape(note));
    }
    for (i, action) in list.actions.iter().enumerate() {
        let spared = action
            .spared_text()
            .map(|text| format!("; {text}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}. {}: saves {} calls/day{spared}",
            i + 1,
            escape(&action.consumer),
            thousands_rounded(action.calls_saved_per_day),
        );
        for change in &action.changes {
            let _ = writeln!(out, "   - {}", escape(change));
        }
    }
    let _ = writeln!(
        out,
        "\nRecommendations come from the operation catalog of the {}.",
        escape(
            &callbudget_api::OperationCatalog::meraki_v1()
                .source()
                .to_string()
        )
    );
    out.push('\n');
}

pub fn render(input: &ReportInput<'_>) -> String {
    let mut out = String::new();
    for a in input.audits {
        let t = &a.timeline;
        let _ = writeln!(
            out,
            "## Organization {} — {} to {}{}\n",
            escape(a.org_id.as_str()),
            timestamp::format(&a.window.start),
            timestamp::format(&a.window.end),
            // The heading of an audit over missing data never reads as an all-clear.
            a.data_coverage
                .missing_text()
                .map(|missing| format!(" — **incomplete**: {missing}"))
                .unwrap_or_default()
        );
        write_actions(&mut out, &a.actions);
        let _ = writeln!(
            out,
            "- Requests: {}; 429s: {}; seconds at or over the limit: {}\n",
            a.requests, a.http_429s, t.seconds_at_or_over_limit
        );
        if let Some(tr) = &a.trends {
            let _ = writeln!(
                out,
                "- Since the previous audit ({} to {}): {:.0} requests/day (was {:.0}), {:.0} × 429/day (was {:.0}); {} new finding(s), {} resolved, {} still open\n",
                timestamp::format(&tr.previous.start),
                timestamp::format(&tr.previous.end),
                tr.requests_per_day,
                tr.previous_requests_per_day,
                tr.http_429s_per_day,
                tr.previous_429s_per_day,
                tr.new_findings.len(),
                tr.resolved_findings.len(),
                tr.persisting_findings
            );
            for c in tr
                .consumers
                .iter()
                .filter(|c| c.movement != callbudget_analysis::ConsumerMove::Steady)
            {
                let _ = writeln!(
                    out,
                    "  - {} {}: {:.0} → {:.0} requests/day",
                    escape(c.consumer.as_deref().unwrap_or("(none)")),
                    c.movement.as_str(),
                    c.previous_requests_per_day,
                    c.requests_per_day
                );
            }
            if tr
                .consumers
                .iter()
                .any(|c| c.movement != callbudget_analysis::ConsumerMove::Steady)
            {
                out.push('\n');
            }
        }
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
        assert_eq!(
            escape("ok\u{1b}c\u{8}\u{0}\u{7}"),
            "ok\\\\u{1b}c\\\\u{8}\\\\u{0}\\\\u{7}"
        );
    }
}
