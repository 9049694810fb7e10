//! Chart (d): requests per hour, one row per UTC day and one column per hour of the day, darker
//! for busier, so recurring jobs show as columns and busy days as rows. The colours run from a
//! typical quiet hour (the tenth percentile of the active hours) to the busiest, not from zero
//! and not from the quietest: a poller that runs all day would otherwise paint every hour the same
//! dark, and one hour cut short by the window's edge would stretch the scale, hiding the daily
//! burst on top of the poller either way.

use super::style::{INK, MUTED, Mark, draw_legend, sequential, text, thousands, ticked, titled};
use super::{ChartKind, Drawn};
use callbudget_analysis::OrgAudit;
use chrono::TimeDelta;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Steps of the colour scale: few enough to tell apart in greyscale.
const SCALE_STEPS: usize = 6;
/// At most this many day labels, so they never overlap.
const MAX_DAY_LABELS: usize = 16;

pub(super) fn draw<DB>(root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let hourly = &audit.series.hourly;
    let days = hourly.requests.len().max(1);
    let mut active: Vec<u64> = hourly
        .requests
        .iter()
        .flatten()
        .copied()
        .filter(|&n| n > 0)
        .collect();
    active.sort_unstable();
    let quietest = active.first().copied().unwrap_or(1);
    let busiest = active.last().copied().unwrap_or(1);
    let scale = Scale {
        quietest,
        floor: active
            .get(active.len().saturating_sub(1) / 10)
            .copied()
            .unwrap_or(1),
        busiest,
    };
    let step_of = |n: u64| scale.step(n);
    let colour_of_step = |step: usize| sequential(step as f64 / (SCALE_STEPS - 1) as f64);
    let day_name = |row: usize| -> String {
        hourly
            .first_day
            .map(|d| {
                (d + TimeDelta::days(row as i64))
                    .format("%a %b %d")
                    .to_string()
            })
            .unwrap_or_default()
    };

    let area = titled(root, ChartKind::LoadHeatmap.title(), audit)?;
    let (plot_area, legend_area) = area.split_horizontally(900);
    let every = days.div_ceil(MAX_DAY_LABELS);
    let day_ticks: Vec<f64> = (0..days)
        .filter(|row| row % every == 0)
        .map(|row| (days - 1 - row) as f64 + 0.5)
        .collect();
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(110)
        .build_cartesian_2d(
            ticked(0f64..24.0, (0..=24).step_by(2).map(f64::from).collect()),
            ticked(0f64..days as f64, day_ticks),
        )?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("hour of the day (UTC)")
        .y_desc("day (UTC)")
        .x_label_formatter(&|h| format!("{:02}:00", *h as u32))
        .y_label_formatter(&|y| day_name(days - 1 - y.floor().max(0.0) as usize))
        .label_style(text(13))
        .axis_desc_style(text(14))
        .draw()?;
    // The first day at the top; hours outside the window are left blank, not drawn as idle.
    let in_window = |row: usize, hour: usize| -> bool {
        hourly.first_day.is_some_and(|day| {
            let start = (day + TimeDelta::days(row as i64))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                + TimeDelta::hours(hour as i64);
            start < audit.window.end && start + TimeDelta::hours(1) > audit.window.start
        })
    };
    chart.draw_series(hourly.requests.iter().enumerate().flat_map(|(row, hours)| {
        let y = (days - 1 - row) as f64;
        hours
            .iter()
            .enumerate()
            .filter(move |&(hour, _)| in_window(row, hour))
            .map(move |(hour, &n)| {
                let x = hour as f64;
                Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    colour_of_step(step_of(n)).filled(),
                )
            })
    }))?;
    // Thin white gaps between cells keep equal neighbours apart.
    chart.draw_series((0..=24).map(|h| {
        PathElement::new(
            vec![(f64::from(h), 0.0), (f64::from(h), days as f64)],
            WHITE.stroke_width(1),
        )
    }))?;

    let mut legend: Vec<(Mark, String)> = vec![
        (Mark::Swatch(WHITE), "outside the window".to_owned()),
        (Mark::Swatch(colour_of_step(0)), "no requests".to_owned()),
    ];
    for step in 1..SCALE_STEPS {
        if let Some((low, high)) = scale.range(step) {
            let label = if low == high {
                thousands(low)
            } else {
                format!("{} – {}", thousands(low), thousands(high))
            };
            legend.push((Mark::Swatch(colour_of_step(step)), label));
        }
    }
    let (heading, legend_area) = legend_area.margin(10, 0, 10, 0).split_vertically(30);
    heading.draw(&Text::new(
        "requests per hour".to_owned(),
        (4, 4),
        text(14).color(&INK),
    ))?;
    draw_legend(&legend_area, &legend)?;
    legend_area.draw(&Text::new(
        format!("busiest hour: {}", thousands(busiest)),
        (4, 12 + 26 * legend.len() as i32),
        text(13).color(&MUTED),
    ))?;
    legend_area.draw(&Text::new(
        format!("quietest active: {}", thousands(quietest)),
        (4, 32 + 26 * legend.len() as i32),
        text(13).color(&MUTED),
    ))?;
    Ok(())
}

/// The colour scale: step 0 for an idle hour, then `SCALE_STEPS - 1` steps of equal width from
/// `floor` to the busiest hour (always the darkest); the active hours below `floor` share the
/// lightest step with it.
struct Scale {
    /// The quietest active hour: where the lightest step's legend starts.
    quietest: u64,
    /// Where the steps start: a typical quiet hour.
    floor: u64,
    busiest: u64,
}

impl Scale {
    const STEPS: u64 = (SCALE_STEPS - 1) as u64;

    /// The counts the steps span: busiest − floor + 1.
    fn counts(&self) -> u64 {
        self.busiest.saturating_sub(self.floor) + 1
    }

    /// Step k ≥ 1 holds the offsets o = n − floor with ⌊o · steps / counts⌋ = k − 1 (counts
    /// below the floor count as the floor).
    fn step(&self, n: u64) -> usize {
        if n == 0 {
            return 0;
        }
        let offset = n.clamp(self.floor, self.busiest) - self.floor;
        (offset * Self::STEPS / self.counts() + 1) as usize
    }

    /// The counts drawn in `step` (≥ 1), if any.
    fn range(&self, step: usize) -> Option<(u64, u64)> {
        let step = step as u64;
        let low = if step == 1 {
            self.quietest.min(self.floor)
        } else {
            self.floor + ((step - 1) * self.counts()).div_ceil(Self::STEPS)
        };
        let high = (self.floor + (step * self.counts()).div_ceil(Self::STEPS))
            .saturating_sub(1)
            .min(self.busiest);
        (low <= high).then_some((low, high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_falls_in_the_legend_range_of_its_step() {
        for (quietest, floor) in (1..20).flat_map(|q| [(q, q), (q, q + 7)]) {
            for busiest in floor..60 {
                let scale = Scale {
                    quietest,
                    floor,
                    busiest,
                };
                for n in quietest..=busiest {
                    let step = scale.step(n);
                    let (low, high) = scale.range(step).expect("a step in use has a range");
                    assert!(
                        (low..=high).contains(&n),
                        "quietest {quietest}, busiest {busiest}, n {n}, step {step}"
                    );
                }
                assert_eq!(scale.step(quietest), 1);
                assert_eq!(scale.step(0), 0);
                if busiest - floor >= Scale::STEPS - 1 {
                    assert_eq!(scale.step(busiest), SCALE_STEPS - 1);
                }
            }
        }
    }

    #[test]
    fn a_daily_burst_on_top_of_an_all_day_poller_stands_out() {
        // acme-week's shape: ~3,600 requests every hour, 4,300 in the burst's hour, and 34 in
        // the hour the window's start cuts to five minutes.
        let scale = Scale {
            quietest: 34,
            floor: 3_560,
            busiest: 4_300,
        };
        assert_eq!(scale.step(34), 1);
        assert_eq!(scale.step(3_600), 1);
        assert_eq!(scale.step(3_640), 1);
        assert_eq!(scale.step(4_300), SCALE_STEPS - 1);
        assert_eq!(scale.range(1), Some((34, 3_708)));
    }
}
