//! Chart (e): how many 429s each consumer received, most first, with the share of its requests
//! that were refused.

use super::bars::{Bar, draw_bars};
use super::shares::{NAME_CHARS, TOP_CONSUMERS};
use super::style::{REFUSED, consumer_label, percent, thousands, titled};
use super::{ChartKind, Drawn};
use callbudget_analysis::OrgAudit;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(super) fn draw<DB>(root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut refused: Vec<_> = audit.consumers.iter().filter(|c| c.http_429s > 0).collect();
    // Most refused first; the audit's ranking breaks ties.
    refused.sort_by_key(|c| std::cmp::Reverse(c.http_429s));
    let mut bars: Vec<Bar> = refused
        .iter()
        .take(TOP_CONSUMERS)
        .map(|c| Bar {
            name: consumer_label(c.consumer.as_deref(), NAME_CHARS),
            value: c.http_429s as f64,
            note: format!(
                "{} × 429 · {} of its requests",
                thousands(c.http_429s),
                percent(c.http_429s as f64 / c.requests.max(1) as f64)
            ),
            colour: REFUSED,
        })
        .collect();
    let others = &refused[refused.len().min(TOP_CONSUMERS)..];
    if !others.is_empty() {
        let http_429s: u64 = others.iter().map(|c| c.http_429s).sum();
        let requests: u64 = others.iter().map(|c| c.requests).sum();
        bars.push(Bar {
            name: format!("{} others", others.len()),
            value: http_429s as f64,
            note: format!(
                "{} × 429 · {} of their requests",
                thousands(http_429s),
                percent(http_429s as f64 / requests.max(1) as f64)
            ),
            colour: RGBColor(115, 115, 115),
        });
    }
    let area = titled(root, ChartKind::ConsumerRefusals.title(), audit)?;
    let x_desc = format!(
        "429 Too Many Requests received over the window ({} in all)",
        thousands(audit.http_429s)
    );
    draw_bars(&area, &bars, &x_desc, &|x| {
        thousands(x.max(0.0).round() as u64)
    })
}
