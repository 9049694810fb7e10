//! Findings as plain text for a terminal.

use super::ReportInput;
use callbudget_api::text::printable;
use callbudget_api::timestamp;
use std::fmt::Write;

pub fn render(input: &ReportInput<'_>) -> String {
    let mut out = String::new();
    for a in input.audits {
        let t = &a.timeline;
        let _ = writeln!(
            out,
            "organization {}  {} to {}{}",
            printable(a.org_id.as_str()),
            timestamp::format(&a.window.start),
            timestamp::format(&a.window.end),
            // The first line of an audit over missing data never reads as an all-clear.
            a.data_coverage
                .missing_text()
                .map(|missing| format!("  INCOMPLETE: {missing}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  requests {}   429s {}   seconds at/over the limit {}   peak 1 s / 10 s / 60 s: {} / {} / {} requests",
            a.requests,
            a.http_429s,
            t.seconds_at_or_over_limit,
            t.peak_1s.as_ref().map_or(0, |p| p.requests),
            t.peak_10s.as_ref().map_or(0, |p| p.requests),
            t.peak_60s.as_ref().map_or(0, |p| p.requests),
        );
        if a.coverage == callbudget_analysis::audit::Coverage::IntervalsOnly {
            let _ = writeln!(
                out,
                "  (from response codes by interval only: no per-request log, so no attribution)"
            );
        }
        if let Some(h) = &t.headroom {
            let _ = writeln!(
                out,
                "  headroom (active seconds): p50 {:.0} %  p90 {:.0} %  p99 {:.0} %",
                h.p50 * 100.0,
                h.p90 * 100.0,
                h.p99 * 100.0
            );
        }
        if !a.actions.actions.is_empty() {
            let _ = writeln!(out, "  what to do:");
            if let Some(note) = &a.actions.note {
                let _ = writeln!(out, "    {}", printable(note));
            }
        }
        for (i, action) in a.actions.actions.iter().enumerate() {
            let _ = writeln!(
                out,
                "    {}. {}: saves {} calls/day{}",
                i + 1,
                printable(&action.consumer),
                callbudget_api::text::thousands_rounded(action.calls_saved_per_day),
                action
                    .spared_text()
                    .map(|text| format!("; {text}"))
                    .unwrap_or_default()
            );
            for change in &action.changes {
                let _ = writeln!(out, "       - {}", printable(change));
            }
        }
        if !a.consumers.is_empty() {
            let _ = writeln!(
                out,
                "  consumers (ranked by the requests that put the budget at or over its limit):"
            );
        }
        for c in a.consumers.iter().take(5) {
            let change = super::format::period_change(c.change.as_ref());
            let _ = writeln!(
                out,
                "    {:<40} {:>8} requests ({:>5.1} % of budget) {:>6} x 429  saturating {:>5.1} %  vs previous: {}",
                printable(c.consumer.as_deref().unwrap_or("(none)")),
                c.requests,
                c.budget_share * 100.0,
                c.http_429s,
                c.saturation_share * 100.0,
                change
            );
        }
        if !a.recommendations.is_empty() {
            let _ = writeln!(out, "  recommendations (calls saved per day):");
        }
        for r in a.recommendations.iter().take(5) {
            let _ = writeln!(
                out,
                "    {:>8.0}  {} {} -> {}: {}",
                r.calls_saved_per_day,
                printable(&r.consumer),
                printable(&r.current_operation),
                r.suggested_operation,
                printable(&r.arithmetic)
            );
        }
        for w in a.what_ifs.iter().filter(|w| w.spared > 0) {
            let _ = writeln!(
                out,
                "  what-if {} ({}): {} of the others' {} refusals spared",
                printable(&w.consumer),
                match &w.scenario {
                    callbudget_analysis::WhatIfScenario::WithoutConsumer => "without it".to_owned(),
                    callbudget_analysis::WhatIfScenario::WithRecommendations { .. } =>
                        "with its recommendations".to_owned(),
                },
                w.spared,
                w.refused_others_before
            );
        }
        if a.findings.is_empty() {
            let _ = writeln!(out, "  no findings");
        }
        for f in &a.findings {
            let _ = writeln!(
                out,
                "  {:<8} {:<20} {}  {}",
                f.severity.as_str(),
                f.kind.as_str(),
                timestamp::format(&f.start),
                printable(&f.summary)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_the_api_never_reach_the_terminal() {
        assert_eq!(
            printable("evil\u{1b}[2Jagent\r"),
            "evil\\u{1b}[2Jagent\\u{d}"
        );
    }
}
