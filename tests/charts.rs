//! The report's charts drawn from real audits: acme-week collected from the simulator, the same
//! window with only interval counts, an empty window, and API text that must stay text in SVG.
//! Asserted on the files' structure and the data behind them, not on pixels.

use crate::support::{ACME_ORG, acme_week_config, collect_acme_range, serve, time};
use callbudget_analysis::{AnalysisWindow, AuditOptions, OrgAudit, audit_org};
use callbudget_api::RequestRecord;
use callbudget_report::charts::{ChartFormat, ChartKind, render_chart};
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const NOC_POLLER: &str = "NocPoller/2.1 Acme";
const PORT_SCRIPT: &str = "PortPusher/0.9 AcmeNetEng";

/// acme-week collected once for every test here: 2026-11-19 06:00–12:00, with the 09:00 burst.
fn acme_db() -> &'static PathBuf {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let handle = serve(acme_week_config("2026-11-20T00:00:00Z"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("cb.db");
        let (since, until) = acme_window();
        collect_acme_range(&handle, &db, since, until);
        (dir, db)
    })
    .1
}

fn acme_window() -> (DateTime<Utc>, DateTime<Utc>) {
    (time("2026-11-19T06:00:00Z"), time("2026-11-19T12:00:00Z"))
}

fn audit(db: &std::path::Path) -> OrgAudit {
    let store = Store::open(db).expect("the database opens");
    let (since, until) = acme_window();
    let window = AnalysisWindow::new(since, until).expect("a valid window");
    audit_org(
        &store,
        &OrgId::new(ACME_ORG),
        window,
        AuditOptions::default(),
    )
    .expect("an audit")
}

fn acme_audit() -> &'static OrgAudit {
    static AUDIT: OnceLock<OrgAudit> = OnceLock::new();
    AUDIT.get_or_init(|| audit(acme_db()))
}

/// Text as plotters' SVG backend writes it.
fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn assert_png(bytes: &[u8], kind: ChartKind) {
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{kind:?}: the PNG signature"
    );
    assert_eq!(&bytes[12..16], b"IHDR", "{kind:?}: IHDR comes first");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), kind.size(), "{kind:?}: the PNG's size");
    assert_eq!(
        &bytes[bytes.len() - 8..bytes.len() - 4],
        b"IEND",
        "{kind:?}: ends with IEND"
    );
}

fn assert_svg(svg: &str, kind: ChartKind) {
    let (width, height) = kind.size();
    assert!(svg.starts_with("<svg"), "{kind:?}: starts with <svg");
    assert!(
        svg.contains(&format!("width=\"{width}\""))
            && svg.contains(&format!("height=\"{height}\"")),
        "{kind:?}: the SVG's size"
    );
    assert!(
        svg.trim_end().ends_with("</svg>"),
        "{kind:?}: ends with </svg>"
    );
    // Every tag opened is closed (plotters writes no CDATA or comments).
    let opened = svg.matches('<').count();
    let closed = svg.matches('>').count();
    assert_eq!(opened, closed, "{kind:?}: balanced angle brackets");
    assert!(
        svg.contains(&xml_escaped(kind.title())),
        "{kind:?}: the title is drawn"
    );
    assert!(
        svg.contains("font-family=\"DejaVu Sans, sans-serif\""),
        "{kind:?}: the embedded font is named, with a fallback"
    );
}

#[test]
fn every_chart_of_acme_week_renders_as_png_and_svg_of_its_size() {
    let audit = acme_audit();
    assert!(audit.http_429s > 0, "acme-week's 09:00 burst is refused");
    let started = Instant::now();
    let mut files = 0;
    let keep = std::env::var_os("CALLBUDGET_KEEP_CHARTS").map(PathBuf::from);
    for kind in ChartKind::ALL {
        for format in [ChartFormat::Png, ChartFormat::Svg] {
            let bytes = render_chart(audit, kind, format)
                .expect("the chart renders")
                .unwrap_or_else(|| panic!("acme-week has data for {kind:?}"));
            files += 1;
            if let Some(dir) = &keep {
                let path = dir.join(format!("{}.{}", kind.file_stem(), format.extension()));
                std::fs::write(&path, &bytes).expect("the chart is written");
            }
            match format {
                ChartFormat::Png => assert_png(&bytes, kind),
                ChartFormat::Svg => {
                    let svg = String::from_utf8(bytes).expect("SVG is UTF-8");
                    assert_svg(&svg, kind);
                    let names: &[&str] = match kind {
                        ChartKind::BudgetTimeline => {
                            &["429 Too Many Requests (average)", "budget: 10 requests/s"]
                        }
                        ChartKind::ConsumerShares
                        | ChartKind::ConsumerTimelines
                        | ChartKind::ConsumerRefusals => &[NOC_POLLER, PORT_SCRIPT],
                        ChartKind::LoadHeatmap => &["Thu Nov 19", "requests per hour"],
                        ChartKind::RetryDelays => &[PORT_SCRIPT, "Retry-After (1 s)"],
                    };
                    for name in names {
                        assert!(svg.contains(&xml_escaped(name)), "{kind:?} names {name:?}");
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "rendered {files} chart files of acme-week (6 h, {} requests) in {elapsed:.2?}",
        audit.requests
    );
    assert_eq!(files, 12);
    assert!(
        elapsed < Duration::from_secs(60),
        "drawing from aggregated series stays fast even unoptimized: {elapsed:?}"
    );
}

#[test]
fn the_series_follow_the_audit_and_add_up_to_its_log() {
    let audit = acme_audit();
    let series = &audit.series;
    assert_eq!(series.total_requests(), audit.requests);
    assert_eq!(series.bucket_width, Duration::from_secs(60));
    assert_eq!(series.buckets.len(), 360);
    let ranked: Vec<Option<&str>> = audit
        .consumers
        .iter()
        .take(series.consumers.len())
        .map(|c| c.consumer.as_deref())
        .collect();
    let drawn: Vec<Option<&str>> = series
        .consumers
        .iter()
        .map(|c| c.consumer.as_deref())
        .collect();
    assert_eq!(
        drawn, ranked,
        "the consumers are drawn in the audit's order"
    );
    assert!(drawn.contains(&Some(NOC_POLLER)) && drawn.contains(&Some(PORT_SCRIPT)));
    for (drawn, usage) in series.consumers.iter().zip(&audit.consumers) {
        assert_eq!(drawn.requests.iter().sum::<u64>(), usage.requests);
        assert_eq!(drawn.http_429s.iter().sum::<u64>(), usage.http_429s);
    }
    let hourly: u64 = series.hourly.requests.iter().flatten().sum();
    assert_eq!(hourly, audit.requests);
    assert_eq!(series.episodes.len(), audit.spikes.len());
    assert!(!series.episodes.is_empty(), "acme-week has a 09:00 episode");
    // Each consumer's histogram holds exactly the retries the detector judged.
    assert!(!series.retry_delays.is_empty());
    for histogram in &series.retry_delays {
        let judged = audit
            .retries
            .iter()
            .find(|r| r.consumer == histogram.consumer)
            .expect("a histogram belongs to a judged consumer");
        assert_eq!(histogram.total(), judged.retried_429s);
        assert_eq!(histogram.early_retries(), judged.early_retries);
    }
}

#[test]
fn an_empty_window_draws_nothing_and_an_intervals_only_one_draws_the_timeline_and_heatmap() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("intervals.db");
    std::fs::copy(acme_db(), &db).expect("the database is copied");
    // As if only byInterval had been collected: drop the request log.
    rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "PRAGMA foreign_keys = ON; DELETE FROM collection_windows WHERE endpoint = 'apiRequests';",
            )
        })
        .expect("the request log is dropped");
    let intervals = audit(&db);
    assert_eq!(
        serde_json::to_value(intervals.coverage).expect("coverage serializes"),
        "intervals_only"
    );
    for kind in ChartKind::ALL {
        for format in [ChartFormat::Png, ChartFormat::Svg] {
            let drawn = render_chart(&intervals, kind, format).expect("no error");
            let expected = matches!(kind, ChartKind::BudgetTimeline | ChartKind::LoadHeatmap);
            assert_eq!(drawn.is_some(), expected, "{kind:?} {format:?}");
            if let (Some(bytes), ChartFormat::Png) = (&drawn, format) {
                assert_png(bytes, kind);
            }
        }
    }

    let empty_db = dir.path().join("empty.db");
    let empty = audit(&empty_db);
    assert_eq!(empty.requests, 0);
    for kind in ChartKind::ALL {
        for format in [ChartFormat::Png, ChartFormat::Svg] {
            assert!(
                render_chart(&empty, kind, format)
                    .expect("no error")
                    .is_none(),
                "{kind:?} {format:?} has nothing to draw"
            );
        }
    }
}

/// Stores `records` as one collected window `[t0, t1)` of acme's organization.
fn store_window(
    store: &mut Store,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    records: &[RequestRecord],
) {
    store
        .store_request_window(
            &WindowMeta {
                org_id: OrgId::new(ACME_ORG),
                endpoint: Endpoint::ApiRequests,
                filter: CollectionFilter::None,
                t0,
                t1,
                started_at: t1,
                finished_at: t1,
                calls: 1,
                http_429s: 0,
            },
            records,
        )
        .expect("the window is stored");
}

fn record(ts: DateTime<Utc>, code: u16, agent: &str, path: &str) -> RequestRecord {
    RequestRecord {
        admin_id: None,
        method: Some("PUT".to_owned()),
        host: None,
        path: Some(path.to_owned()),
        query_string: None,
        user_agent: Some(agent.to_owned()),
        ts,
        response_code: Some(code),
        source_ip: None,
        version: None,
        operation_id: None,
        client: None,
    }
}

#[test]
fn a_31_day_window_is_drawn_from_30_minute_buckets() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = Store::open(dir.path().join("month.db")).expect("the database opens");
    let (t0, t1) = (time("2026-11-01T00:00:00Z"), time("2026-12-02T00:00:00Z"));
    // A poller every 10 minutes all month; a script refused at 09:00 each day, retrying at once.
    let poll = "/api/v1/devices";
    let port = "/api/v1/ports/1";
    let mut records: Vec<RequestRecord> = (0..31 * 144)
        .map(|i| record(t0 + TimeDelta::minutes(10 * i), 200, "Poller/1.0", poll))
        .collect();
    for day in 0..31 {
        let nine = t0 + TimeDelta::days(day) + TimeDelta::hours(9);
        records.push(record(nine, 429, PORT_SCRIPT, port));
        records.push(record(
            nine + TimeDelta::milliseconds(200),
            200,
            PORT_SCRIPT,
            port,
        ));
    }
    store_window(&mut store, t0, t1, &records);
    let window = AnalysisWindow::new(t0, t1).expect("a valid window");
    let audit = audit_org(
        &store,
        &OrgId::new(ACME_ORG),
        window,
        AuditOptions::default(),
    )
    .expect("an audit");

    let series = &audit.series;
    assert_eq!(series.bucket_width, Duration::from_secs(1_800));
    assert_eq!(series.buckets.len(), 31 * 48);
    assert_eq!(series.total_requests(), records.len() as u64);
    assert_eq!(series.hourly.requests.len(), 31);
    assert!(series.hourly.requests.iter().all(|day| day[9] == 8));
    let keep = std::env::var_os("CALLBUDGET_KEEP_CHARTS").map(PathBuf::from);
    for kind in ChartKind::ALL {
        for format in [ChartFormat::Png, ChartFormat::Svg] {
            let bytes = render_chart(&audit, kind, format)
                .expect("renders")
                .unwrap_or_else(|| panic!("a month has data for {kind:?}"));
            if let Some(dir) = &keep {
                let path = dir.join(format!("month-{}.{}", kind.file_stem(), format.extension()));
                std::fs::write(&path, &bytes).expect("the chart is written");
            }
            match format {
                ChartFormat::Png => assert_png(&bytes, kind),
                ChartFormat::Svg => assert_svg(&String::from_utf8(bytes).expect("UTF-8"), kind),
            }
        }
    }
}

#[test]
fn api_text_in_charts_is_escaped_in_svg() {
    const EVIL: &str = "<script>alert(1)</script>\"'";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = Store::open(dir.path().join("evil.db")).expect("the database opens");
    let (t0, t1) = (time("2026-11-19T09:00:00Z"), time("2026-11-19T10:00:00Z"));
    // The evil agent is refused and retries at once, ten times; a quiet app is admitted.
    let path = "/api/v1/devices/Q2XX/switch/ports/1";
    let mut records: Vec<RequestRecord> = (0..10)
        .flat_map(|i| {
            let at = t0 + TimeDelta::seconds(i);
            [
                record(at, 429, EVIL, path),
                record(at + TimeDelta::milliseconds(100), 200, EVIL, path),
            ]
        })
        .collect();
    records.push(record(
        t0 + TimeDelta::seconds(30),
        200,
        "QuietApp/1.0",
        path,
    ));
    store_window(&mut store, t0, t1, &records);
    let window = AnalysisWindow::new(t0, t1).expect("a valid window");
    let audit = audit_org(
        &store,
        &OrgId::new(ACME_ORG),
        window,
        AuditOptions::default(),
    )
    .expect("an audit");
    let mut named = 0;
    for kind in ChartKind::ALL {
        let Some(bytes) = render_chart(&audit, kind, ChartFormat::Svg).expect("renders") else {
            continue;
        };
        let svg = String::from_utf8(bytes).expect("SVG is UTF-8");
        assert!(!svg.contains("<script"), "{kind:?} writes no script tag");
        assert!(!svg.contains(EVIL), "{kind:?} writes no raw API text");
        if svg.contains(&xml_escaped(EVIL)) {
            named += 1;
        }
    }
    // Shares, timelines, refusals and retry delays all name the agent.
    assert_eq!(named, 4);
}
