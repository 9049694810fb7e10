//! Chart (f): for each consumer the budget refused, how long it waited before retrying the same
//! call, against the Retry-After it was given: bars left of the dashed line (Retry-After less the
//! log's tolerance) were certainly too early.

use super::shares::NAME_CHARS;
use super::style::{
    INK, MUTED, REFUSED, REQUESTS, bold, consumer_label, log_ticked, percent, text, thousands,
    titled,
};
use super::{ChartKind, Drawn};
use callbudget_analysis::OrgAudit;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) fn draw<DB>(root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let series = &audit.series;
    let edges = &series.retry_delay_edges_seconds;
    let (Some(&first), Some(&last)) = (edges.first(), edges.last()) else {
        return Ok(());
    };
    let retry_after = series.retry_after.as_secs_f64();
    let early_under = series.early_at_most.as_secs_f64();
    let histograms: Vec<_> = series
        .retry_delays
        .iter()
        .filter(|h| h.total() > 0)
        .collect();

    let area = titled(root, ChartKind::RetryDelays.title(), audit)?;
    let (panels_area, key_area) = area.split_vertically(area.dim_in_pixel().1 as i32 - 60);
    let panels = panels_area.split_evenly((histograms.len().max(1), 1));
    let decades: Vec<f64> = (-2..=2).map(|k| 10f64.powi(k)).collect();
    for (i, (histogram, panel)) in histograms.iter().zip(&panels).enumerate() {
        let is_last = i + 1 == histograms.len();
        let (caption, plot) = panel.split_vertically(22);
        let total = histogram.total();
        caption.draw(&Text::new(
            consumer_label(histogram.consumer.as_deref(), NAME_CHARS * 2),
            (80, 4),
            bold(14),
        ))?;
        caption.draw(&Text::new(
            format!(
                "{} retries · {} early ({})",
                thousands(total),
                thousands(histogram.early_retries()),
                percent(histogram.early_retries() as f64 / total as f64)
            ),
            (1180, 4),
            text(13).color(&MUTED).pos(Pos::new(HPos::Right, VPos::Top)),
        ))?;
        let most = histogram.retries.iter().copied().max().unwrap_or(0).max(1) as f64;
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(10)
            .margin_right(24)
            .x_label_area_size(if is_last { 28 } else { 0 })
            .y_label_area_size(70)
            .build_cartesian_2d(log_ticked(first..last, decades.clone()), 0f64..most * 1.15)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(INK.mix(0.12))
            .y_labels(3)
            .y_label_formatter(&|y| thousands(y.max(0.0).round() as u64))
            .x_label_formatter(&|x| format!("{x} s"))
            .label_style(text(12))
            .draw()?;
        // Each bin stacked: its early retries at the bottom, the later ones above.
        chart.draw_series(
            histogram
                .retries
                .iter()
                .zip(&histogram.early)
                .enumerate()
                .filter(|(_, (n, _))| **n > 0)
                .flat_map(|(bin, (&n, &early))| {
                    let (low, high) = (edges[bin], edges[bin + 1]);
                    [
                        Rectangle::new([(low, 0.0), (high, early as f64)], REFUSED.filled()),
                        Rectangle::new([(low, early as f64), (high, n as f64)], REQUESTS.filled()),
                    ]
                }),
        )?;
        chart.draw_series(LineSeries::new(
            [(retry_after, 0.0), (retry_after, most * 1.15)],
            INK.stroke_width(2),
        ))?;
        chart.draw_series(DashedLineSeries::new(
            [(early_under, 0.0), (early_under, most * 1.15)],
            5,
            4,
            INK.stroke_width(1),
        ))?;
    }
    key_area.draw(&Text::new(
        format!(
            "delay before the retry of the same call (s, log scale) · retries per bin · solid line: Retry-After ({retry_after} s); dashed: less a {:.0} ms tolerance",
            series.retry_tolerance.as_secs_f64() * 1_000.0
        ),
        (600, 22),
        text(14).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    key_area.draw(&Rectangle::new([(300, 38), (322, 52)], REFUSED.filled()))?;
    key_area.draw(&Text::new(
        "before Retry-After could have passed".to_owned(),
        (330, 45),
        text(13).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    key_area.draw(&Rectangle::new([(620, 38), (642, 52)], REQUESTS.filled()))?;
    key_area.draw(&Text::new(
        "later".to_owned(),
        (650, 45),
        text(13).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}
