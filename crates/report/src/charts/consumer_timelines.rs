//! Chart (c): the top consumers' requests per second as small multiples on one time axis and one
//! scale, with the 429s each received, to see who was sending when.

use super::shares::NAME_CHARS;
use super::style::{
    INK, MUTED, REFUSED, REQUESTS, bold, consumer_label, text, thousands, ticked, time_label,
    time_ticks, titled,
};
use super::timeline::bucket_name;
use super::{ChartKind, Drawn};
use callbudget_analysis::OrgAudit;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Panels drawn: more would be too thin to read.
pub(super) const PANELS: usize = 6;

pub(super) fn draw<DB>(root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let series = &audit.series;
    let (start, end) = (audit.window.start, audit.window.end);
    let offset = |t: chrono::DateTime<chrono::Utc>| (t - start).as_seconds_f64();
    let span = offset(end);
    let consumers: Vec<_> = series.consumers.iter().take(PANELS).collect();
    // One scale for every panel, so a panel's height compares with the others'.
    let rate_max = consumers
        .iter()
        .flat_map(|c| {
            c.requests
                .iter()
                .zip(&series.buckets)
                .map(|(&n, b)| n as f64 / b.seconds().max(f64::MIN_POSITIVE))
        })
        .fold(0.0, f64::max);
    let y_max = if rate_max > 0.0 { rate_max * 1.15 } else { 1.0 };

    let area = titled(root, ChartKind::ConsumerTimelines.title(), audit)?;
    let (panels_area, axis_area) = area.split_vertically(area.dim_in_pixel().1 as i32 - 50);
    let panels = panels_area.split_evenly((consumers.len().max(1), 1));
    let ticks = time_ticks(start, end, 10);
    for (i, (consumer, panel)) in consumers.iter().zip(&panels).enumerate() {
        let last = i + 1 == consumers.len();
        let (caption, plot) = panel.split_vertically(22);
        let requests: u64 = consumer.requests.iter().sum();
        let http_429s: u64 = consumer.http_429s.iter().sum();
        caption.draw(&Text::new(
            consumer_label(consumer.consumer.as_deref(), NAME_CHARS * 2),
            (80, 4),
            bold(14),
        ))?;
        caption.draw(&Text::new(
            format!(
                "{} requests · {} × 429",
                thousands(requests),
                thousands(http_429s)
            ),
            (1180, 4),
            text(13).color(&MUTED).pos(Pos::new(HPos::Right, VPos::Top)),
        ))?;
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(10)
            .margin_right(24)
            .x_label_area_size(if last { 28 } else { 0 })
            .y_label_area_size(70)
            .build_cartesian_2d(ticked(0f64..span, ticks.clone()), 0f64..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .y_labels(3)
            .x_label_formatter(&|x| time_label(start, end, *x))
            .label_style(text(12))
            .draw()?;
        let steps = |counts: &[u64]| -> Vec<(f64, f64)> {
            counts
                .iter()
                .zip(&series.buckets)
                .flat_map(|(&n, b)| {
                    let rate = n as f64 / b.seconds().max(f64::MIN_POSITIVE);
                    [(offset(b.start), rate), (offset(b.end), rate)]
                })
                .collect()
        };
        chart.draw_series(
            AreaSeries::new(steps(&consumer.requests), 0.0, REQUESTS.filled())
                .border_style(REQUESTS.stroke_width(1)),
        )?;
        if http_429s > 0 {
            chart.draw_series(AreaSeries::new(
                steps(&consumer.http_429s),
                0.0,
                REFUSED.filled(),
            ))?;
        }
    }
    axis_area.draw(&Text::new(
        format!(
            "time (UTC) · requests per second, averaged per {} bucket (same scale in every panel); dark red: 429s received",
            bucket_name(series.bucket_width)
        ),
        (600, 26),
        text(14).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}
