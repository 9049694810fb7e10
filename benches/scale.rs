//! Scale benchmarks (`cargo bench --bench scale`, release build): the saturated-month workload at
//! 1 M, 10 M and 26.8 M records (the API's 31-day lookback of an org at its budget around the clock).
//!
//! For each size it generates the log with the simulator's generator, writes it as the API's JSON
//! pages (1000 records each, one-hour windows) to a temporary directory — never committed — and
//! measures, each in a fresh child process so that its peak RSS (`VmHWM`) is its own:
//! - ingest: JSON pages → SQLite through the collector's path (pages decoded as the client decodes
//!   them, one `store_request_pages` per window; decoding the next window while storing one, as
//!   `collect` does), records/s and peak RSS, with the rates of the two stages on their own;
//! - the database's bytes per stored record (file size after the last connection closes);
//! - analysis: `audit_org` + `save_audit` over the whole log (what `callbudget analyze` runs),
//!   time and peak RSS;
//! - report: the audit written as `callbudget report` writes it (report.html, the six charts as
//!   PNG and SVG, findings.json, report.md), time — in the analysis child, from its audit;
//! - a full audit: `callbudget demo` (the release binary) — the simulator in-process with rate
//!   limits off, acme-week's 7 days (679,000 requests) collected over HTTP on loopback, analysed
//!   and reported — wall time, its report's time and peak RSS (`/usr/bin/time`).
//!
//! Each figure is the median of `CALLBUDGET_BENCH_RUNS` runs (default 3; the 26.8 M size defaults
//! to 1 run, `CALLBUDGET_BENCH_RUNS_LARGE` changes that). `CALLBUDGET_BENCH_SIZES` picks sizes,
//! e.g. `CALLBUDGET_BENCH_SIZES=1M cargo bench --bench scale` for a quick run (about a minute).
//! `CALLBUDGET_BENCH_KEEP=DIR` keeps each size's pages and database in DIR (`pages-<records>.jsonl`,
//! `scale-<records>.db`), for profiling.
//!
//! `CALLBUDGET_BENCH_AUDIT=0` skips the full audit.
//!
//! Then, with the same requests (see `scale_import.rs`): the import of the log as JSONL, CSV and a
//! combined access log by the release binary (`CALLBUDGET_BENCH_IMPORT=0` skips it), and up to
//! `CALLBUDGET_BENCH_COMPARE_MAX` records (default 10M) issue 18's comparison: `callbudget import`
//! and `analyze` against the DuckDB and pandas scripts of `benches/baselines/` on the same JSONL, when
//! `CALLBUDGET_BENCH_PYTHON` (default `python3`) has `duckdb` and `pandas` (pandas only up to
//! `CALLBUDGET_BENCH_PANDAS_MAX`, default 1M: it needs ~4 GB per million records).

use callbudget_analysis::{AnalysisWindow, AuditOptions, audit_org, save_audit};
use callbudget_api::timestamp;
use callbudget_api::{RequestPage, RequestRecord};
use callbudget_report::{Format, ReportContext, ReportInput, write_report};
use callbudget_sim::log::{LogEntry, RequestLog};
use callbudget_sim::scenario::Scenario;
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "scale_import.rs"]
mod scale_import;

/// The child mode and its arguments, passed from the parent through the environment.
const CHILD_ENV: &str = "CALLBUDGET_SCALE_CHILD";
const RECORDS_PER_PAGE: usize = 1000;
const WINDOW_US: i64 = 3_600_000_000;
/// A saturated org's requests per day (10/s, around the clock).
const RECORDS_PER_DAY: u64 = 864_000;

fn end() -> chrono::DateTime<chrono::Utc> {
    timestamp::parse("2026-11-20T00:00:00Z").unwrap_or_default()
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("scale bench: {e}");
    std::process::exit(1)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `1M`, `10M`, `26.8M`, `500k` or a plain number of records.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, 'M' | 'm') => (&text[..i], 1e6),
        (i, 'k' | 'K') => (&text[..i], 1e3),
        _ => (text, 1.0),
    };
    let value: f64 = number.parse().ok()?;
    (value > 0.0).then(|| (value * unit).round() as u64)
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A generated saturated log of at least `records` requests (as many days as they need), and
/// its org id.
fn generate(records: u64) -> (RequestLog, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/saturated-month.toml");
    let mut scenario = Scenario::load(&path).unwrap_or_else(|e| fail(e));
    scenario.days = records.div_ceil(RECORDS_PER_DAY).max(1) as u32;
    let org_id = scenario.org_id.clone();
    (
        RequestLog::generate(std::slice::from_ref(&scenario), end()),
        org_id,
    )
}

/// The last `records` requests of the log.
fn last_entries(log: &RequestLog, records: u64) -> &[LogEntry] {
    let entries = &log.orgs[0].entries;
    &entries[entries.len().saturating_sub(records as usize)..]
}

/// Writes `kept` as the API's JSON pages: a line `W <t0_us> <t1_us>` opens each one-hour window,
/// then one line per page (a JSON array).
fn write_pages(log: &RequestLog, kept: &[LogEntry], out: &Path) {
    let file = std::fs::File::create(out).unwrap_or_else(|e| fail(e));
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut page: Vec<RequestRecord<&str>> = Vec::with_capacity(RECORDS_PER_PAGE);
    let mut rest = kept;
    while let Some(first) = rest.first() {
        let t0 = first.ts_us.div_euclid(WINDOW_US) * WINDOW_US;
        let t1 = t0 + WINDOW_US;
        let n = rest.partition_point(|e| e.ts_us < t1);
        let (window, tail) = rest.split_at(n);
        rest = tail;
        writeln!(out, "W {t0} {t1}").unwrap_or_else(|e| fail(e));
        for chunk in window.chunks(RECORDS_PER_PAGE) {
            page.clear();
            page.extend(chunk.iter().map(|e| log.record(e)));
            serde_json::to_writer(&mut out, &page).unwrap_or_else(|e| fail(e));
            out.write_all(b"\n").unwrap_or_else(|e| fail(e));
        }
    }
    out.flush().unwrap_or_else(|e| fail(e));
}

/// One window's records, decoded, on their way to the store.
struct DecodedWindow {
    t0_us: i64,
    t1_us: i64,
    pages: Vec<RequestPage>,
}

impl DecodedWindow {
    fn records(&self) -> usize {
        self.pages.iter().map(RequestPage::len).sum()
    }
}

/// Reads the pages file and decodes each window's pages as the Dashboard client decodes a page of
/// `getOrganizationApiRequests`; sends each window when complete. Returns the seconds spent
/// decoding (not waiting for the store to take a window).
fn decode_pages(pages: &Path, windows: std::sync::mpsc::SyncSender<DecodedWindow>) -> f64 {
    let mut decoding = 0.0;
    let file = std::fs::File::open(pages).unwrap_or_else(|e| fail(e));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut current: Option<DecodedWindow> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| fail(e));
        if n == 0 {
            break;
        }
        if let Some(header) = line.strip_prefix(b"W ") {
            if let Some(done) = current.take()
                && windows.send(done).is_err()
            {
                break;
            }
            let text = std::str::from_utf8(header).unwrap_or_else(|e| fail(e));
            let mut bounds = text.split_whitespace().map(|v| v.parse::<i64>());
            match (bounds.next(), bounds.next()) {
                (Some(Ok(t0_us)), Some(Ok(t1_us))) => {
                    current = Some(DecodedWindow {
                        t0_us,
                        t1_us,
                        pages: Vec::new(),
                    })
                }
                _ => fail(format!("bad window line {text:?}")),
            }
        } else {
            let started = Instant::now();
            let text = std::str::from_utf8(&line).unwrap_or_else(|e| fail(e));
            let page: RequestPage = serde_json::from_str(text).unwrap_or_else(|e| fail(e));
            match current.as_mut() {
                Some(window) => window.pages.push(page),
                None => fail("a page before any window line"),
            }
            decoding += started.elapsed().as_secs_f64();
        }
    }
    if let Some(done) = current.take() {
        let _ = windows.send(done);
    }
    decoding
}

/// Child: stores the pages file into a new database through the collector's path — pages decoded
/// on one thread while the previous window is stored on another, as `collect` fetches window N+1
/// while storing N; prints `records seconds peak_rss_mib decode_seconds store_seconds`.
fn child_ingest(pages: &Path, db: &Path, org_id: &str) {
    let started = Instant::now();
    let mut store = Store::open(db).unwrap_or_else(|e| fail(e));
    let (sender, receiver) = std::sync::mpsc::sync_channel::<DecodedWindow>(1);
    let pages = pages.to_owned();
    let decoder = std::thread::Builder::new()
        .name("decode".to_owned())
        .spawn(move || decode_pages(&pages, sender))
        .unwrap_or_else(|e| fail(e));
    let mut stored = 0u64;
    let mut store_secs = 0.0;
    for window in receiver {
        let storing = Instant::now();
        let now = chrono::Utc::now();
        let meta = WindowMeta {
            org_id: OrgId::new(org_id),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0: timestamp::from_micros(window.t0_us),
            t1: timestamp::from_micros(window.t1_us),
            started_at: now,
            finished_at: now,
            calls: window.pages.len() as u64,
            http_429s: 0,
        };
        store
            .store_request_pages(&meta, &window.pages)
            .unwrap_or_else(|e| fail(e));
        stored += window.records() as u64;
        drop(window);
        store_secs += storing.elapsed().as_secs_f64();
    }
    let decode_secs = decoder
        .join()
        .unwrap_or_else(|_| fail("the decoder panicked"));
    drop(store);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{stored} {secs} {} {decode_secs} {store_secs}",
        peak_rss_mib()
    );
}

/// Child: audits the whole stored log as `callbudget analyze` does, then writes its report as
/// `callbudget report` does; prints `records analysis_seconds peak_rss_mib report_seconds`.
fn child_analyze(db: &Path, org_id: &str) {
    let started = Instant::now();
    let mut store = Store::open(db).unwrap_or_else(|e| fail(e));
    let org = OrgId::new(org_id);
    let windows = store.windows(&org).unwrap_or_else(|e| fail(e));
    let (Some(first), Some(last)) = (
        windows.iter().map(|w| w.t0).min(),
        windows.iter().map(|w| w.t1).max(),
    ) else {
        fail("the database holds no window")
    };
    let window = AnalysisWindow::new(first, last).unwrap_or_else(|e| fail(e));
    let audit =
        audit_org(&store, &org, window, AuditOptions::default()).unwrap_or_else(|e| fail(e));
    save_audit(&mut store, &audit, chrono::Utc::now()).unwrap_or_else(|e| fail(e));
    let secs = started.elapsed().as_secs_f64();

    let reporting = Instant::now();
    let requests = audit.requests;
    let out = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let context = ReportContext::new(db, chrono::Utc::now());
    let input = ReportInput {
        audits: std::slice::from_ref(&audit),
        context: &context,
    };
    write_report(out.path(), &Format::REPORT_FILES, &input).unwrap_or_else(|e| fail(e));
    let report_secs = reporting.elapsed().as_secs_f64();
    println!("{requests} {secs} {} {report_secs}", peak_rss_mib());
}

/// `callbudget demo` with the release binary: a full audit against the simulator, rate limits off.
/// Returns (wall seconds, the report's seconds as it printed them, peak RSS in MiB if measured).
fn full_audit(dir: &Path) -> (f64, f64, f64) {
    let exe = env!("CARGO_BIN_EXE_callbudget");
    let out = dir.join("demo");
    let timed = Path::new("/usr/bin/time").is_file();
    let mut command = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "peak-rss-kib %M", exe]);
        c
    } else {
        Command::new(exe)
    };
    let started = Instant::now();
    let output = command
        .arg("demo")
        .arg("--out")
        .arg(&out)
        .args(["--now", "2026-11-20T00:00:00Z"])
        .output()
        .unwrap_or_else(|e| fail(e));
    let secs = started.elapsed().as_secs_f64();
    if !output.status.success() {
        fail(format!(
            "callbudget demo failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // "wrote 15 file(s) into DIR in 0.70 s"
    let report_secs = stderr
        .lines()
        .find(|l| l.starts_with("wrote "))
        .and_then(|l| l.rsplit(" in ").next())
        .and_then(|t| t.trim_end_matches(" s").parse().ok())
        .unwrap_or(f64::NAN);
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|kib| kib.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0);
    (secs, report_secs, rss)
}

/// Runs this bench binary as a child in `mode`; returns its `records seconds peak_rss_mib` and
/// any further figures it printed.
fn run_child(mode: &str, args: &[&Path], org_id: &str) -> (u64, f64, f64, Vec<f64>) {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let mut spec = vec![mode.to_owned(), org_id.to_owned()];
    spec.extend(args.iter().map(|p| p.display().to_string()));
    let output = Command::new(exe)
        .env(CHILD_ENV, spec.join("\n"))
        .output()
        .unwrap_or_else(|e| fail(e));
    if !output.status.success() {
        fail(format!(
            "{mode} child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [records, secs, rss, more @ ..] => (
            records.parse().unwrap_or_else(|e| fail(e)),
            secs.parse().unwrap_or_else(|e| fail(e)),
            rss.parse().unwrap_or_else(|e| fail(e)),
            more.iter()
                .map(|v| v.parse().unwrap_or_else(|e| fail(e)))
                .collect(),
        ),
        _ => fail(format!("{mode} child printed {text:?}")),
    }
}

fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('\n').collect();
    match parts.as_slice() {
        ["ingest", org, pages, db] => child_ingest(Path::new(pages), Path::new(db), org),
        ["analyze", org, db] => child_analyze(Path::new(db), org),
        _ => fail(format!("unknown child spec {spec:?}")),
    }
}

fn db_bytes(db: &Path) -> u64 {
    // The last connection's close checkpoints and removes the WAL; count it anyway if one is left.
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    std::fs::metadata(db).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let sizes: Vec<u64> = std::env::var("CALLBUDGET_BENCH_SIZES")
        .unwrap_or_else(|_| "1M,10M,26.8M".to_owned())
        .split(',')
        .map(|s| parse_size(s).unwrap_or_else(|| fail(format!("bad size {s:?}"))))
        .collect();
    let runs = env_usize("CALLBUDGET_BENCH_RUNS").unwrap_or(3).max(1);
    let runs_large = env_usize("CALLBUDGET_BENCH_RUNS_LARGE").unwrap_or(1).max(1);
    let temporary = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    // For profiling: keep the last database of each size in a directory of one's choice.
    let kept = std::env::var_os("CALLBUDGET_BENCH_KEEP").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temporary.path());
    let size_env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map_or(Some(default), |v| parse_size(&v))
            .unwrap_or_else(|| fail(format!("bad size in {name}")))
    };
    let compare_max = size_env("CALLBUDGET_BENCH_COMPARE_MAX", 10_000_000);
    let pandas_max = size_env("CALLBUDGET_BENCH_PANDAS_MAX", 1_000_000);
    let baselines = if std::env::var("CALLBUDGET_BENCH_IMPORT").as_deref() != Ok("0") {
        scale_import::Baselines::find()
    } else {
        None
    };
    println!(
        "machine: {} cores; workload: sample-data/saturated-month.toml, one-hour windows, {RECORDS_PER_PAGE} records per page",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for size in sizes {
        let runs = if size > 10_000_000 { runs_large } else { runs };
        let pages = dir.join(format!("pages-{size}.jsonl"));
        let started = Instant::now();
        let (log, org_id) = generate(size);
        let kept_entries = last_entries(&log, size);
        write_pages(&log, kept_entries, &pages);
        let records = kept_entries.len() as u64;
        let pages_bytes = std::fs::metadata(&pages).map_or(0, |m| m.len());
        println!(
            "{records} records: pages written in {:.1} s ({:.0} bytes of JSON per record); {runs} run(s) each",
            started.elapsed().as_secs_f64(),
            pages_bytes as f64 / records.max(1) as f64
        );

        let db = dir.join(format!("scale-{size}.db"));
        let mut rates = Vec::new();
        let mut rss = Vec::new();
        let mut bytes_per_record = 0.0;
        for run in 0..runs {
            let _ = std::fs::remove_file(&db);
            let (stored, secs, peak, parts) = run_child("ingest", &[&pages, &db], &org_id);
            bytes_per_record = db_bytes(&db) as f64 / stored.max(1) as f64;
            let (decode, store) = (parts[0], parts[1]);
            println!(
                "  ingest run {run}: {stored} records in {secs:.2} s = {:.0} records/s \
                 (on two threads; alone, decoding runs at {:.0}/s and storing at {:.0}/s), peak RSS {peak:.0} MiB, \
                 {bytes_per_record:.1} bytes/record",
                stored as f64 / secs,
                stored as f64 / decode,
                stored as f64 / store
            );
            rates.push(stored as f64 / secs);
            rss.push(peak);
        }
        if kept.is_none() {
            let _ = std::fs::remove_file(&pages);
        }
        println!(
            "  ingest: median {:.0} records/s, peak RSS {:.0} MiB; database {bytes_per_record:.1} bytes/record",
            median(rates),
            median(rss)
        );

        let mut times = Vec::new();
        let mut rss = Vec::new();
        let mut report_times = Vec::new();
        for run in 0..runs {
            let (analysed, secs, peak, more) = run_child("analyze", &[&db], &org_id);
            let report_secs = more.first().copied().unwrap_or(f64::NAN);
            println!(
                "  analysis run {run}: {analysed} records in {secs:.2} s, peak RSS {peak:.0} MiB; report written in {report_secs:.2} s"
            );
            times.push(secs);
            rss.push(peak);
            report_times.push(report_secs);
        }
        println!(
            "  analysis: median {:.2} s, peak RSS {:.0} MiB; report: median {:.2} s",
            median(times),
            median(rss),
            median(report_times)
        );
        if kept.is_none() {
            let _ = std::fs::remove_file(&db);
        }

        if std::env::var("CALLBUDGET_BENCH_IMPORT").as_deref() != Ok("0") {
            let started = Instant::now();
            let logs = scale_import::write_import_logs(&log, kept_entries, dir);
            println!(
                "  import: JSONL, CSV and combined logs written in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let db = dir.join(format!("import-{size}.db"));
            scale_import::import_stage(&logs, &db, &org_id, records, runs);
            if records <= compare_max {
                scale_import::compare_stage(
                    &logs.jsonl,
                    &db,
                    &org_id,
                    records,
                    runs,
                    baselines.as_ref(),
                    pandas_max,
                );
            }
            if kept.is_none() {
                logs.remove();
            }
        }
    }
    if std::env::var("CALLBUDGET_BENCH_AUDIT").as_deref() != Ok("0") {
        let mut walls = Vec::new();
        let mut reports = Vec::new();
        let mut rss = Vec::new();
        for run in 0..runs {
            let (wall, report, peak) = full_audit(dir);
            println!(
                "  full audit run {run} (callbudget demo: acme-week, 7 days, 679,000 requests over HTTP): {wall:.2} s, report {report:.2} s, peak RSS {peak:.0} MiB"
            );
            walls.push(wall);
            reports.push(report);
            rss.push(peak);
        }
        println!(
            "full audit: median {:.2} s (report {:.2} s), peak RSS {:.0} MiB",
            median(walls),
            median(reports),
            median(rss)
        );
    }
}
