//! What every chart shares: the embedded font, the palette, the UTC time axis, the legend and how
//! names and numbers are written.

use super::{ChartError, Drawn};
use callbudget_analysis::OrgAudit;
use callbudget_analysis::series::ResponseClass;
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::sync::OnceLock;

/// The family the embedded font is registered under. SVG writes it as is, so a viewer without
/// DejaVu Sans falls back to its sans-serif.
pub(crate) const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

pub(crate) static DEJAVU_SANS: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");
pub(crate) static DEJAVU_SANS_BOLD: &[u8] =
    include_bytes!("../../../../assets/fonts/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts with plotters, once per process.
pub(crate) fn register_fonts() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), &'static str>> = OnceLock::new();
    let registered = REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS)
            .map_err(|_| "DejaVuSans.ttf")?;
        plotters::style::register_font(FONT_FAMILY, FontStyle::Bold, DEJAVU_SANS_BOLD)
            .map_err(|_| "DejaVuSans-Bold.ttf")
    });
    registered.map_err(ChartError::Font)
}

pub(crate) fn text(size: u32) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&INK)
}

pub(crate) fn bold(size: u32) -> TextStyle<'static> {
    // The style goes in with the family: plotters' `FontDesc::style` keeps the regular face's
    // glyphs and changes only the name SVG writes.
    (FONT_FAMILY, size, FontStyle::Bold).into_font().color(&INK)
}

/// Text, axes and the budget line.
pub(crate) const INK: RGBColor = RGBColor(33, 33, 33);
/// Secondary text.
pub(crate) const MUTED: RGBColor = RGBColor(97, 97, 97);
/// Refusals everywhere: the darkest colour, so 429s stand out in greyscale too.
pub(crate) const REFUSED: RGBColor = RGBColor(103, 0, 13);
/// A consumer's requests, and bars that are not refusals.
pub(crate) const REQUESTS: RGBColor = RGBColor(107, 174, 214);
/// The busiest-second line: dark, against the light stacked areas.
pub(crate) const BUSIEST: RGBColor = RGBColor(8, 48, 107);
/// Shading of 429 episodes behind the data.
pub(crate) const EPISODE: RGBColor = RGBColor(224, 224, 224);

/// Each response class's fill, in [`ResponseClass::ALL`]'s stacking order, chosen so neighbours
/// differ in lightness (greyscale 158, 238, 226, 98, 150, 32).
pub(crate) fn class_colour(class: ResponseClass) -> RGBColor {
    match class {
        ResponseClass::Success => REQUESTS,
        ResponseClass::Redirect => RGBColor(229, 245, 224),
        ResponseClass::ClientError => RGBColor(254, 227, 145),
        ResponseClass::ServerError => RGBColor(106, 81, 163),
        ResponseClass::Unknown => RGBColor(150, 150, 150),
        ResponseClass::TooManyRequests => REFUSED,
    }
}

/// Light to dark blue, in even steps of lightness: the heatmap's scale. Its light end is still
/// tinted, so an idle hour is not mistaken for the page.
pub(crate) fn sequential(t: f64) -> RGBColor {
    let (light, dark) = ((222.0, 235.0, 247.0), (8.0, 48.0, 107.0));
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(
        mix(light.0, dark.0),
        mix(light.1, dark.1),
        mix(light.2, dark.2),
    )
}

/// How a legend entry is marked.
pub(crate) enum Mark {
    Swatch(RGBColor),
    Line { colour: RGBColor, width: u32 },
    Dashed { colour: RGBColor, width: u32 },
}

/// A legend in its own area (beside the plot, so it never hides data): one entry per line.
pub(crate) fn draw_legend<DB>(area: &DrawingArea<DB, Shift>, entries: &[(Mark, String)]) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let line_height = 26;
    for (i, (mark, label)) in entries.iter().enumerate() {
        let y = 12 + i as i32 * line_height;
        let (x0, x1) = (4, 30);
        match *mark {
            Mark::Swatch(colour) => {
                area.draw(&Rectangle::new([(x0, y - 7), (x1, y + 7)], colour.filled()))?;
                area.draw(&Rectangle::new([(x0, y - 7), (x1, y + 7)], MUTED))?;
            }
            Mark::Line { colour, width } => {
                area.draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    colour.stroke_width(width),
                ))?;
            }
            Mark::Dashed { colour, width } => {
                for x in (x0..x1).step_by(8) {
                    area.draw(&PathElement::new(
                        vec![(x, y), ((x + 4).min(x1), y)],
                        colour.stroke_width(width),
                    ))?;
                }
            }
        }
        area.draw(&Text::new(
            label.clone(),
            (x1 + 8, y),
            text(14).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// Draws the title and a subtitle (the organization and window) and returns the area below.
pub(crate) fn titled<DB>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    audit: &OrgAudit,
) -> Result<DrawingArea<DB, Shift>, Box<dyn std::error::Error + Send + Sync>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    root.draw(&Text::new(title.to_owned(), (16, 10), bold(20)))?;
    root.draw(&Text::new(
        format!(
            "organization {} · {} – {} UTC",
            drawn_text(audit.org_id.as_str()),
            audit.window.start.format("%Y-%m-%d %H:%M"),
            audit.window.end.format("%Y-%m-%d %H:%M")
        ),
        (16, 36),
        text(14).color(&MUTED),
    ))?;
    Ok(root.split_vertically(60).1)
}

/// An axis of numbers (linear or log) ticked where the chart says — round UTC times, whole
/// hours, one per bar — rather than where plotters' own choice of round numbers falls.
#[derive(Clone)]
pub(crate) struct Ticked<R> {
    axis: R,
    ticks: Vec<f64>,
}

pub(crate) fn ticked(range: Range<f64>, ticks: Vec<f64>) -> Ticked<RangedCoordf64> {
    Ticked {
        axis: range.into(),
        ticks,
    }
}

pub(crate) fn log_ticked(range: Range<f64>, ticks: Vec<f64>) -> Ticked<LogCoord<f64>> {
    Ticked {
        axis: range.log_scale().into(),
        ticks,
    }
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    // Every chart writes its own labels; the default is only a fallback.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.axis.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks are the bold lines; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.axis.range()
    }
}

/// Round UTC times across `[start, end)` for tick marks, as seconds from `start`: about
/// `target` of them, on whole minutes, hours or days.
pub(crate) fn time_ticks(start: DateTime<Utc>, end: DateTime<Utc>, target: i64) -> Vec<f64> {
    const STEPS_MINUTES: [i64; 14] = [
        1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1_440, 2_880, 4_320, 10_080,
    ];
    let span_minutes = (end - start).num_minutes().max(1);
    let step = STEPS_MINUTES
        .into_iter()
        .find(|s| span_minutes / s <= target)
        .unwrap_or_else(|| (span_minutes / target / 1_440 + 1) * 1_440);
    let step_seconds = step * 60;
    let first = start.timestamp().div_euclid(step_seconds) * step_seconds;
    (0..)
        .map(|i| first + i * step_seconds)
        .take_while(|&t| t <= end.timestamp())
        .filter(|&t| t >= start.timestamp())
        .map(|t| (t - start.timestamp()) as f64)
        .collect()
}

/// A tick label: the time, with the date at midnight or when the window spans days.
pub(crate) fn time_label(start: DateTime<Utc>, end: DateTime<Utc>, offset_seconds: f64) -> String {
    let t = start + TimeDelta::milliseconds((offset_seconds * 1_000.0) as i64);
    if end - start > TimeDelta::days(2) {
        if t.hour() == 0 && t.minute() == 0 {
            t.format("%b %d").to_string()
        } else {
            t.format("%b %d %H:%M").to_string()
        }
    } else if t.hour() == 0 && t.minute() == 0 {
        t.format("%b %d %H:%M").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// Text from the API as a chart draws it: control characters and bidi overrides shown as
/// escapes (never drawn as boxes in the PNG), and the characters XML forbids (U+FFFE, U+FFFF)
/// replaced, so one user agent can never make the SVG invalid.
pub(crate) fn drawn_text(api_text: &str) -> String {
    callbudget_api::text::markup_safe(api_text).into_owned()
}

/// A consumer as drawn: its name, at most `max_chars` characters (the end cut with "…"), and
/// records without the field named as such.
pub(crate) fn consumer_label(consumer: Option<&str>, max_chars: usize) -> String {
    let Some(name) = consumer else {
        return "(not recorded)".to_owned();
    };
    let name = drawn_text(name);
    if name.chars().count() <= max_chars {
        name
    } else {
        let mut cut: String = name.chars().take(max_chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

pub(crate) use callbudget_api::text::thousands;

/// Shares as percentages with the digits their size needs.
pub(crate) fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p == 0.0 {
        "0 %".to_owned()
    } else if p < 0.1 {
        "< 0.1 %".to_owned()
    } else if p < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        callbudget_api::timestamp::parse(text).unwrap()
    }

    #[test]
    fn ticks_fall_on_round_utc_times() {
        let (start, end) = (at("2026-11-19T06:00:00Z"), at("2026-11-19T12:00:00Z"));
        assert_eq!(
            time_ticks(start, end, 12),
            (0..=12).map(|i| f64::from(i) * 1_800.0).collect::<Vec<_>>()
        );
        let (start, end) = (at("2026-11-19T06:17:23Z"), at("2026-11-19T07:17:23Z"));
        let ticks = time_ticks(start, end, 12);
        assert_eq!(ticks[0], (2 * 60 + 37) as f64, "06:20");
        assert_eq!(time_label(start, end, ticks[0]), "06:20");
        let (start, end) = (at("2026-11-01T00:00:00Z"), at("2026-12-02T00:00:00Z"));
        let ticks = time_ticks(start, end, 12);
        assert!(ticks.len() <= 12 && ticks.len() >= 4, "{ticks:?}");
        assert!(ticks.iter().all(|t| t % 86_400.0 == 0.0));
        let label = time_label(start, end, ticks[0]);
        assert!(label.starts_with("Nov ") && label.len() == 6, "{label}");
    }

    #[test]
    fn names_are_cut_with_an_ellipsis_and_numbers_grouped() {
        assert_eq!(consumer_label(Some("abcdef"), 6), "abcdef");
        assert_eq!(consumer_label(Some("abcdefg"), 6), "abcde…");
        assert_eq!(consumer_label(None, 6), "(not recorded)");
        // Escapes for what a terminal would obey, U+FFFD for what XML forbids, and the cut
        // counts what is drawn.
        assert_eq!(
            consumer_label(Some("a\u{1b}[2Jb\u{fffe}c\u{202e}"), 40),
            "a\\u{1b}[2Jb\u{fffd}c\\u{202e}"
        );
        assert_eq!(consumer_label(Some("\u{ffff}bcdefgh"), 6), "\u{fffd}bcde…");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(percent(0.1234), "12 %");
        assert_eq!(percent(0.01234), "1.2 %");
        assert_eq!(percent(0.0000001), "< 0.1 %");
    }
}
