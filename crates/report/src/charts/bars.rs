//! Horizontal bars with a name on the left and a note after each bar: the consumer charts.

use super::Drawn;
use super::style::{INK, MUTED, text, ticked};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar, top to bottom in the order given.
pub(super) struct Bar {
    pub name: String,
    pub value: f64,
    pub note: String,
    pub colour: RGBColor,
}

/// Draws `bars` against an x axis from 0 described by `x_desc`, its ticks written by `x_label`.
pub(super) fn draw_bars<DB>(
    area: &DrawingArea<DB, Shift>,
    bars: &[Bar],
    x_desc: &str,
    x_label: &dyn Fn(&f64) -> String,
) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let rows = bars.len().max(1);
    let largest = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    // Room on the right for the notes.
    let x_max = if largest > 0.0 { largest * 1.45 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(330)
        .build_cartesian_2d(
            0f64..x_max,
            ticked(
                0f64..rows as f64,
                (0..rows).map(|i| i as f64 + 0.5).collect(),
            ),
        )?;
    // The first bar at the top: row i is drawn at y = rows - 1 - i.
    let name_at = |y: &f64| -> String {
        let row = rows as i64 - 1 - y.floor() as i64;
        usize::try_from(row)
            .ok()
            .and_then(|r| bars.get(r))
            .map(|b| b.name.clone())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(INK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .x_desc(x_desc)
        .x_label_formatter(x_label)
        .y_label_formatter(&name_at)
        .label_style(text(13))
        .axis_desc_style(text(14))
        .draw()?;
    for (i, bar) in bars.iter().enumerate() {
        let y = (rows - 1 - i) as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + 0.18), (bar.value, y + 0.82)],
            bar.colour.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            bar.note.clone(),
            (bar.value + x_max * 0.01, y + 0.5),
            text(13)
                .color(&MUTED)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )))?;
    }
    Ok(())
}
