//! Writing a report directory: `report.html`, `findings.json`, `report.md` and
//! `charts/ORG/NAME.{png,svg}`, whichever formats were asked for. Each file is written beside its
//! final name and renamed into place, so a reader (a web server, a person refreshing the page)
//! never sees half a report while a nightly audit rewrites it.

use super::charts::{ChartError, ChartFormat, ChartKind, render_chart};
use super::html::{EmbeddedChart, HtmlError};
use super::{Format, ReportInput};
use callbudget_analysis::OrgAudit;
use callbudget_store::OrgId;
use std::path::{Path, PathBuf};

/// The names of the files in a report directory.
pub const HTML_FILE: &str = "report.html";
pub const JSON_FILE: &str = "findings.json";
pub const MARKDOWN_FILE: &str = "report.md";
pub const METRICS_FILE: &str = "metrics.prom";
pub const CHARTS_DIR: &str = "charts";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] callbudget_api::output_files::OutputError),
    #[error("drawing the {chart} chart of organization {org_id}")]
    Chart {
        org_id: OrgId,
        chart: &'static str,
        source: ChartError,
    },
    #[error(transparent)]
    Html(#[from] HtmlError),
    #[error("writing the findings as JSON")]
    Json(#[source] serde_json::Error),
    #[error("{0} is written as files, not printed: use `callbudget report --format {0}`")]
    NotPrintable(Format),
}

/// The directory name of an organization's charts: its id, with anything but letters, digits,
/// `-` and `_` replaced (ids come from the API or an imported file). An id that needed replacing
/// also gets a short hash of the id as given, so two organizations (`1.2` and `1_2`) never share a
/// directory; ids as the API issues them (digits) stay as they are.
pub fn chart_dir_name(org_id: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !org_id.is_empty() && org_id.chars().all(safe) {
        return org_id.to_owned();
    }
    let name: String = org_id
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .collect();
    format!("{name}-{:08x}", fnv1a_32(org_id.as_bytes()))
}

/// FNV-1a: a stable, well-spread 32-bit hash for telling names apart (not for security).
fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), ReportError> {
    callbudget_api::output_files::write_atomically(path, data).map_err(ReportError::Output)
}

/// Removes the chart files of the formats asked for that this report did not write (a chart with
/// nothing to draw this time), so none from an earlier report is taken for this one's.
fn remove_stale_charts(
    dir: &Path,
    formats: &[ChartFormat],
    written: &[PathBuf],
) -> Result<(), ReportError> {
    for kind in ChartKind::ALL {
        for &format in formats {
            let path = dir.join(format!("{}.{}", kind.file_stem(), format.extension()));
            if !written.contains(&path) && path.symlink_metadata().is_ok() {
                std::fs::remove_file(&path).map_err(|source| ReportError::Write {
                    path: path.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// Writes the report of `input` into `out` in each of `formats`; returns the files written.
pub fn write_report(
    out: &Path,
    formats: &[Format],
    input: &ReportInput<'_>,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(out).map_err(|source| ReportError::Write {
        path: out.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    let wants = |f: Format| formats.contains(&f);

    // Each chart is drawn once per format: the SVGs serve both the files and the HTML page.
    let mut embedded = Vec::with_capacity(input.audits.len());
    for audit in input.audits {
        let relative = Path::new(CHARTS_DIR).join(chart_dir_name(audit.org_id.as_str()));
        let dir = out.join(&relative);
        if wants(Format::Png) || wants(Format::Svg) {
            callbudget_api::output_files::create_dirs_below(out, &relative)?;
        }
        let mut charts = Vec::new();
        for kind in ChartKind::ALL {
            if wants(Format::Png)
                && let Some(png) = chart(audit, kind, ChartFormat::Png)?
            {
                let path = dir.join(format!("{}.png", kind.file_stem()));
                write_atomically(&path, &png)?;
                written.push(path);
            }
            if !(wants(Format::Svg) || wants(Format::Html)) {
                continue;
            }
            let Some(svg) = chart(audit, kind, ChartFormat::Svg)? else {
                continue;
            };
            if wants(Format::Svg) {
                let path = dir.join(format!("{}.svg", kind.file_stem()));
                write_atomically(&path, &svg)?;
                written.push(path);
            }
            charts.push(EmbeddedChart {
                stem: kind.file_stem(),
                title: kind.title(),
                description: kind.description(),
                svg,
            });
        }
        let chart_formats: Vec<ChartFormat> = [
            (Format::Png, ChartFormat::Png),
            (Format::Svg, ChartFormat::Svg),
        ]
        .into_iter()
        .filter(|(report, _)| wants(*report))
        .map(|(_, chart)| chart)
        .collect();
        remove_stale_charts(&dir, &chart_formats, &written)?;
        embedded.push(charts);
    }
    if wants(Format::Html) {
        let html = super::html::render(input, &embedded)?;
        let path = out.join(HTML_FILE);
        write_atomically(&path, html.as_bytes())?;
        written.push(path);
    }
    for (format, name) in [
        (Format::Json, JSON_FILE),
        (Format::Markdown, MARKDOWN_FILE),
        (Format::OpenMetrics, METRICS_FILE),
    ] {
        if wants(format) {
            let path = out.join(name);
            write_atomically(&path, super::render(format, input)?.as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

fn chart(
    audit: &OrgAudit,
    kind: ChartKind,
    format: ChartFormat,
) -> Result<Option<Vec<u8>>, ReportError> {
    render_chart(audit, kind, format).map_err(|source| ReportError::Chart {
        org_id: audit.org_id.clone(),
        chart: kind.file_stem(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_become_safe_directory_names() {
        assert_eq!(chart_dir_name("549236"), "549236");
        assert_eq!(chart_dir_name("L_123-x"), "L_123-x");
        assert_eq!(chart_dir_name("../etc/passwd"), "___etc_passwd-62dab22f");
        assert_eq!(chart_dir_name(""), "-811c9dc5");
        // Ids that read alike once replaced still get directories of their own.
        assert_eq!(chart_dir_name("1.2"), "1_2-e94218cc");
        assert_ne!(chart_dir_name("1.2"), chart_dir_name("1_2"));
        assert_ne!(chart_dir_name("1.2"), chart_dir_name("1/2"));
    }
}
