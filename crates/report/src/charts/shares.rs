//! Chart (b): each top consumer's share of the budget's capacity over the window, and of all
//! requests; the consumers past the top summed as "others".

use super::bars::{Bar, draw_bars};
use super::style::{REQUESTS, consumer_label, percent, titled};
use super::timeline::round_rate;
use super::{ChartKind, Drawn};
use callbudget_analysis::OrgAudit;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Consumers drawn one by one; the rest are one "others" bar.
pub(super) const TOP_CONSUMERS: usize = 8;
/// The longest consumer name drawn whole.
pub(super) const NAME_CHARS: usize = 44;

pub(super) fn draw<DB>(root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut bars: Vec<Bar> = audit
        .consumers
        .iter()
        .take(TOP_CONSUMERS)
        .map(|c| Bar {
            name: consumer_label(c.consumer.as_deref(), NAME_CHARS),
            value: c.budget_share * 100.0,
            note: format!(
                "{} of the budget · {} of requests",
                percent(c.budget_share),
                percent(c.request_share)
            ),
            colour: REQUESTS,
        })
        .collect();
    let others = &audit.consumers[audit.consumers.len().min(TOP_CONSUMERS)..];
    if !others.is_empty() {
        let budget: f64 = others.iter().map(|c| c.budget_share).sum();
        let requests: f64 = others.iter().map(|c| c.request_share).sum();
        bars.push(Bar {
            name: format!("{} others", others.len()),
            value: budget * 100.0,
            note: format!(
                "{} of the budget · {} of requests",
                percent(budget),
                percent(requests)
            ),
            colour: RGBColor(189, 189, 189),
        });
    }
    let used: f64 = audit.consumers.iter().map(|c| c.budget_share).sum();
    let area = titled(root, ChartKind::ConsumerShares.title(), audit)?;
    let x_desc = format!(
        "% of the budget's capacity over the window ({} requests/s × its seconds) · all consumers together: {}",
        round_rate(audit.timeline.budget.sustained_rate_per_second()),
        percent(used)
    );
    draw_bars(&area, &bars, &x_desc, &|x| format!("{x:.0} %"))
}
