//! Chart (a): requests per second against the budget over the window, stacked by response class,
//! with each bucket's busiest second (averages hide the saturated seconds) and 429 episodes shaded.

use super::style::{
    BUSIEST, EPISODE, INK, Mark, class_colour, draw_legend, text, ticked, time_label, time_ticks,
    titled,
};
use super::{ChartKind, Drawn};
use callbudget_analysis::OrgAudit;
use callbudget_analysis::series::ResponseClass;
use callbudget_api::budget::Limit;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(super) fn draw<DB>(root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let series = &audit.series;
    let (start, end) = (audit.window.start, audit.window.end);
    let offset = |t: chrono::DateTime<chrono::Utc>| (t - start).as_seconds_f64();
    let span = offset(end);
    let budget = &audit.timeline.budget;
    let rate = budget.sustained_rate_per_second();
    // A token bucket also admits rate + burst in one second from full; window budgets have no
    // per-second ceiling to draw.
    let ceiling = budget
        .limits
        .iter()
        .filter_map(|l| match *l {
            Limit::TokenBucket {
                rate_per_second,
                burst,
            } => Some(rate_per_second + burst),
            _ => None,
        })
        .reduce(f64::min);

    let classes: Vec<ResponseClass> = ResponseClass::ALL
        .into_iter()
        .filter(|&c| series.buckets.iter().any(|b| b.requests.get(c) > 0))
        .collect();
    let busiest = series
        .buckets
        .iter()
        .map(|b| b.busiest_second)
        .max()
        .unwrap_or(0) as f64;
    let y_max = busiest.max(ceiling.unwrap_or(rate)).max(rate) * 1.1;

    let area = titled(root, ChartKind::BudgetTimeline.title(), audit)?;
    let (plot_area, legend_area) = area.split_horizontally(900);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(ticked(0f64..span, time_ticks(start, end, 10)), 0f64..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(INK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .x_desc(format!(
            "time (UTC) · averages per {} bucket",
            bucket_name(series.bucket_width)
        ))
        .y_desc("requests per second")
        .x_label_formatter(&|x| time_label(start, end, *x))
        .label_style(text(13))
        .axis_desc_style(text(14))
        .draw()?;

    // An episode of a minute in a month would be a hairline: at least 0.4 % of the width.
    let least_width = span * 0.004;
    for episode in &series.episodes {
        let (mut x0, mut x1) = (
            offset(episode.start).max(0.0),
            offset(episode.end).min(span),
        );
        if x1 - x0 < least_width {
            let middle = (x0 + x1) / 2.0;
            (x0, x1) = (middle - least_width / 2.0, middle + least_width / 2.0);
        }
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x1, y_max)],
            EPISODE.filled(),
        )))?;
    }
    // Stacked: each class is drawn as the sum of itself and the classes below it, top class
    // first, so every lower sum paints over the part of the one above that is not its own.
    for top in (0..classes.len()).rev() {
        let below = &classes[..=top];
        let steps = series.buckets.iter().flat_map(|b| {
            let rate: f64 = below.iter().map(|&c| b.rate(c)).sum();
            [(offset(b.start), rate), (offset(b.end), rate)]
        });
        chart.draw_series(AreaSeries::new(
            steps,
            0.0,
            class_colour(classes[top]).filled(),
        ))?;
    }
    chart.draw_series(LineSeries::new(
        series.buckets.iter().map(|b| {
            let middle = (offset(b.start) + offset(b.end)) / 2.0;
            (middle, b.busiest_second as f64)
        }),
        BUSIEST.stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        [(0.0, rate), (span, rate)],
        INK.stroke_width(2),
    ))?;
    if let Some(ceiling) = ceiling {
        chart.draw_series(DashedLineSeries::new(
            [(0.0, ceiling), (span, ceiling)],
            8,
            6,
            INK.stroke_width(1),
        ))?;
    }

    let mut legend = vec![
        (
            Mark::Line {
                colour: BUSIEST,
                width: 2,
            },
            "busiest second in the bucket".to_owned(),
        ),
        (
            Mark::Line {
                colour: INK,
                width: 2,
            },
            format!("budget: {} requests/s sustained", round_rate(rate)),
        ),
    ];
    if let Some(ceiling) = ceiling {
        legend.push((
            Mark::Dashed {
                colour: INK,
                width: 1,
            },
            format!("rate + burst: {} in one second", round_rate(ceiling)),
        ));
    }
    legend.extend(classes.iter().rev().map(|&c| {
        (
            Mark::Swatch(class_colour(c)),
            format!("{} (average)", c.label()),
        )
    }));
    if !series.episodes.is_empty() {
        legend.push((Mark::Swatch(EPISODE), "429 episode".to_owned()));
    }
    draw_legend(&legend_area.margin(70, 0, 10, 0), &legend)
}

/// "1-minute", "30-minute", "6-hour", "1-day".
pub(super) fn bucket_name(width: std::time::Duration) -> String {
    let seconds = width.as_secs();
    match seconds {
        s if s % 86_400 == 0 => format!("{}-day", s / 86_400),
        s if s % 3_600 == 0 => format!("{}-hour", s / 3_600),
        s if s % 60 == 0 => format!("{}-minute", s / 60),
        s => format!("{s}-second"),
    }
}

/// 10 → "10", 2.2222… → "2.22" (a window budget's sustained rate).
pub(super) fn round_rate(rate: f64) -> String {
    let rounded = (rate * 100.0).round() / 100.0;
    format!("{rounded}")
}
