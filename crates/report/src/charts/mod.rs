//! The report's charts, drawn with plotters as PNG or SVG from an audit's aggregated
//! [`AuditSeries`](callbudget_analysis::AuditSeries) and its ranked consumers — never record by record,
//! so a chart of 10 M requests costs what a chart of a thousand does.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (`assets/fonts/`), so PNGs render the
//! same on a server with no fonts installed; SVGs name it with a generic fallback. Every chart has
//! a fixed size ([`ChartKind::size`]) so a page can lay them out before they load, and colours that
//! differ in lightness, so they still read printed in greyscale.

mod bars;
mod consumer_timelines;
mod glyphs;
mod heatmap;
mod refusals;
mod retry_delays;
mod shares;
mod style;
mod timeline;

use callbudget_analysis::OrgAudit;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::error::Error;

/// The charts of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    BudgetTimeline,
    ConsumerShares,
    ConsumerTimelines,
    LoadHeatmap,
    ConsumerRefusals,
    RetryDelays,
}

impl ChartKind {
    pub const ALL: [ChartKind; 6] = [
        ChartKind::BudgetTimeline,
        ChartKind::ConsumerShares,
        ChartKind::ConsumerTimelines,
        ChartKind::LoadHeatmap,
        ChartKind::ConsumerRefusals,
        ChartKind::RetryDelays,
    ];

    /// The file name without extension, e.g. `budget-timeline`.
    pub fn file_stem(self) -> &'static str {
        match self {
            ChartKind::BudgetTimeline => "budget-timeline",
            ChartKind::ConsumerShares => "consumer-shares",
            ChartKind::ConsumerTimelines => "consumer-timelines",
            ChartKind::LoadHeatmap => "load-heatmap",
            ChartKind::ConsumerRefusals => "consumer-refusals",
            ChartKind::RetryDelays => "retry-delays",
        }
    }

    /// The chart's title, as drawn on it.
    pub fn title(self) -> &'static str {
        match self {
            ChartKind::BudgetTimeline => "Requests per second against the budget",
            ChartKind::ConsumerShares => "Each consumer's share of the budget",
            ChartKind::ConsumerTimelines => "Top consumers over time",
            ChartKind::LoadHeatmap => "Load by hour of the day (UTC)",
            ChartKind::ConsumerRefusals => "429s received per consumer",
            ChartKind::RetryDelays => "Delay before retrying after a 429, against Retry-After",
        }
    }

    /// How to read the chart, in one sentence (a figure caption or alt text).
    pub fn description(self) -> &'static str {
        match self {
            ChartKind::BudgetTimeline => {
                "Requests per second averaged over each time bucket and stacked by response class, \
                 with each bucket's busiest second as a line and the organization's budget as \
                 horizontal lines; shaded spans are 429 episodes, and a busiest second above the \
                 budget line is a second the budget refused in."
            }
            ChartKind::ConsumerShares => {
                "The share of the budget's capacity over the window (rate × seconds) each top \
                 consumer used, with its share of all requests; the rest are summed as others."
            }
            ChartKind::ConsumerTimelines => {
                "Requests per second of each top consumer over the same time axis and scale, \
                 with the 429s it received in dark red, to see who was sending when."
            }
            ChartKind::LoadHeatmap => {
                "Requests per hour by UTC day (rows) and hour of the day (columns); colours run \
                 from a typical quiet hour (lightest, with any quieter one) to the busiest \
                 (darkest), so a daily burst stands out as a dark column even on top of an \
                 all-day poller."
            }
            ChartKind::ConsumerRefusals => {
                "How many 429 Too Many Requests responses each consumer received, with the share \
                 of its requests that were refused."
            }
            ChartKind::RetryDelays => {
                "For each user agent refused by the budget, how long it waited before retrying \
                 the same call (log scale); bars left of the Retry-After line retried too early."
            }
        }
    }

    /// The chart's size in pixels (width, height), whatever the audit.
    pub fn size(self) -> (u32, u32) {
        match self {
            ChartKind::BudgetTimeline => (1200, 500),
            ChartKind::ConsumerShares => (1200, 500),
            ChartKind::ConsumerTimelines => (1200, 900),
            ChartKind::LoadHeatmap => (1200, 500),
            ChartKind::ConsumerRefusals => (1200, 500),
            ChartKind::RetryDelays => (1200, 800),
        }
    }
}

/// An image format of the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ChartFormat::Png => "png",
            ChartFormat::Svg => "svg",
        }
    }
}

/// What can go wrong drawing a chart.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the embedded font {0} could not be loaded")]
    Font(&'static str),
    #[error("drawing the {chart} chart")]
    Draw {
        chart: &'static str,
        source: Box<dyn Error + Send + Sync>,
    },
    #[error("encoding the {chart} chart as PNG")]
    Png {
        chart: &'static str,
        source: png::EncodingError,
    },
}

/// A drawing step's failure, from whichever backend.
pub(crate) type Drawn = Result<(), Box<dyn Error + Send + Sync>>;

/// Draws one chart of `audit`; `None` when the audit has nothing to draw for it (no requests, no
/// consumers told apart, no 429s, no retries).
pub fn render_chart(
    audit: &OrgAudit,
    kind: ChartKind,
    format: ChartFormat,
) -> Result<Option<Vec<u8>>, ChartError> {
    if !has_data(audit, kind) {
        return Ok(None);
    }
    style::register_fonts()?;
    let size = kind.size();
    let failed = |source| ChartError::Draw {
        chart: kind.file_stem(),
        source,
    };
    match format {
        ChartFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                draw(kind, &root, audit).map_err(failed)?;
                root.present().map_err(|e| failed(e.into()))?;
            }
            Ok(Some(svg.into_bytes()))
        }
        ChartFormat::Png => {
            let (width, height) = size;
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            {
                let bitmap =
                    glyphs::EmbeddedTextBitmap::new(BitMapBackend::with_buffer(&mut rgb, size))
                        .map_err(|_| ChartError::Font("DejaVuSans.ttf"))?;
                let root = bitmap.into_drawing_area();
                draw(kind, &root, audit).map_err(failed)?;
                root.present().map_err(|e| failed(e.into()))?;
            }
            encode_png(&rgb, size)
                .map(Some)
                .map_err(|source| ChartError::Png {
                    chart: kind.file_stem(),
                    source,
                })
        }
    }
}

/// Whether `audit` has anything to draw for `kind`.
fn has_data(audit: &OrgAudit, kind: ChartKind) -> bool {
    let series = &audit.series;
    match kind {
        ChartKind::BudgetTimeline => series.total_requests() > 0,
        ChartKind::ConsumerShares => audit.consumers.iter().any(|c| c.requests > 0),
        ChartKind::ConsumerTimelines => series
            .consumers
            .iter()
            .any(|c| c.requests.iter().any(|&n| n > 0)),
        ChartKind::LoadHeatmap => series.hourly.requests.iter().flatten().any(|&n| n > 0),
        ChartKind::ConsumerRefusals => audit.consumers.iter().any(|c| c.http_429s > 0),
        ChartKind::RetryDelays => series.retry_delays.iter().any(|h| h.total() > 0),
    }
}

fn draw<DB>(kind: ChartKind, root: &DrawingArea<DB, Shift>, audit: &OrgAudit) -> Drawn
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    match kind {
        ChartKind::BudgetTimeline => timeline::draw(root, audit),
        ChartKind::ConsumerShares => shares::draw(root, audit),
        ChartKind::ConsumerTimelines => consumer_timelines::draw(root, audit),
        ChartKind::LoadHeatmap => heatmap::draw(root, audit),
        ChartKind::ConsumerRefusals => refusals::draw(root, audit),
        ChartKind::RetryDelays => retry_delays::draw(root, audit),
    }
}

fn encode_png(rgb: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Charts are flat colours: filtering each row against the one above shrinks them.
        encoder.set_filter(png::FilterType::Paeth);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}
