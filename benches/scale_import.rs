//! The scale benchmark's import and comparison stages (a module of `benches/scale.rs`):
//! - import: the same requests written as JSONL (the bytes `callbudget simulate --generate-out`
//!   writes), CSV and a combined access log, each imported by the release binary
//!   (`callbudget import`) into a new database — records/s and peak RSS (`/usr/bin/time`);
//! - comparison (issue 18): on the JSONL, `callbudget import` + `callbudget analyze` over the whole
//!   log against the DuckDB and pandas scripts of `benches/baselines/` a user would write instead,
//!   when a Python with `duckdb` and `pandas` is found — times, peak RSS and the ratios.

use callbudget_api::RequestRecord;
use callbudget_sim::log::{LogEntry, RequestLog};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The three files of one size.
pub struct ImportLogs {
    pub jsonl: PathBuf,
    pub csv: PathBuf,
    pub combined: PathBuf,
}

impl ImportLogs {
    pub fn remove(&self) {
        for path in [&self.jsonl, &self.csv, &self.combined] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One command's run: wall seconds, peak RSS in MiB (NaN without `/usr/bin/time`), its stdout.
pub struct Timed {
    pub secs: f64,
    pub rss_mib: f64,
    pub stdout: String,
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("scale bench: {e}");
    std::process::exit(1)
}

/// Runs `program args` (under `/usr/bin/time` when there is one), which must succeed.
pub fn timed(program: &Path, args: &[&std::ffi::OsStr]) -> Timed {
    let time = Path::new("/usr/bin/time");
    let mut command = if time.is_file() {
        let mut c = Command::new(time);
        c.args(["-f", "peak-rss-kib %M"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let started = Instant::now();
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("{}: {e}", program.display())));
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        fail(format!("{} {:?} failed: {stderr}", program.display(), args));
    }
    let rss_mib = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|kib| kib.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0);
    Timed {
        secs,
        rss_mib,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn callbudget() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_callbudget"))
}

/// Writes `entries` as JSONL, CSV and a combined access log into `dir`.
pub fn write_import_logs(log: &RequestLog, entries: &[LogEntry], dir: &Path) -> ImportLogs {
    let n = entries.len();
    let logs = ImportLogs {
        jsonl: dir.join(format!("log-{n}.jsonl")),
        csv: dir.join(format!("log-{n}.csv")),
        combined: dir.join(format!("log-{n}.log")),
    };
    let open = |path: &Path| {
        BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).unwrap_or_else(|e| fail(e)),
        )
    };
    let (mut jsonl, mut csv, mut combined) =
        (open(&logs.jsonl), open(&logs.csv), open(&logs.combined));
    let written = (|| -> std::io::Result<()> {
        csv.write_all(
            b"ts,method,host,path,query_string,user_agent,response_code,source_ip,admin_id,operation_id,version,client_id,client_type\n",
        )?;
        for entry in entries {
            let record = log.record(entry);
            serde_json::to_writer(&mut jsonl, &record)?;
            jsonl.write_all(b"\n")?;
            write_csv_row(&mut csv, &record)?;
            write_combined_line(&mut combined, &record)?;
        }
        jsonl.flush()?;
        csv.flush()?;
        combined.flush()
    })();
    written.unwrap_or_else(|e| fail(e));
    logs
}

/// A CSV field, quoted when it must be.
fn csv_field(out: &mut impl Write, value: Option<&str>) -> std::io::Result<()> {
    match value {
        None => Ok(()),
        Some(v) if v.contains([',', '"']) => write!(out, "\"{}\"", v.replace('"', "\"\"")),
        Some(v) => out.write_all(v.as_bytes()),
    }
}

fn write_csv_row(out: &mut impl Write, r: &RequestRecord<&str>) -> std::io::Result<()> {
    let client = r.client.as_ref();
    let ts = callbudget_api::timestamp::format(&r.ts);
    let code = r.response_code.map(|c| c.to_string());
    let version = r.version.map(|v| v.to_string());
    let fields = [
        Some(ts.as_str()),
        r.method,
        r.host,
        r.path,
        r.query_string,
        r.user_agent,
        code.as_deref(),
        r.source_ip,
        r.admin_id,
        r.operation_id,
        version.as_deref(),
        client.and_then(|c| c.id),
        client.and_then(|c| c.kind),
    ];
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        csv_field(out, field)?;
    }
    out.write_all(b"\n")
}

/// `%h - %u [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "-" "%{User-Agent}i"` (whole seconds).
fn write_combined_line(out: &mut impl Write, r: &RequestRecord<&str>) -> std::io::Result<()> {
    let query = r.query_string.filter(|q| !q.is_empty());
    writeln!(
        out,
        "{} - {} [{}] \"{} {}{}{} HTTP/1.1\" {} 0 \"-\" \"{}\"",
        r.source_ip.unwrap_or("-"),
        r.admin_id.unwrap_or("-"),
        r.ts.format("%d/%b/%Y:%H:%M:%S +0000"),
        r.method.unwrap_or("GET"),
        r.path.unwrap_or("/"),
        if query.is_some() { "?" } else { "" },
        query.unwrap_or(""),
        r.response_code.unwrap_or(200),
        r.user_agent.unwrap_or("-").replace('"', "\\\"")
    )
}

/// `callbudget import` of `file` in `format` into a new database `db`; checks the count.
pub fn import(file: &Path, format: &str, db: &Path, org_id: &str, records: u64) -> Timed {
    let _ = std::fs::remove_file(db);
    let args: Vec<&std::ffi::OsStr> = vec![
        "import".as_ref(),
        file.as_os_str(),
        "--provider".as_ref(),
        "meraki".as_ref(),
        "--format".as_ref(),
        format.as_ref(),
        "--org".as_ref(),
        org_id.as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
    ];
    let run = timed(callbudget(), &args);
    let expected = format!("imported {records} request(s)");
    if !run.stdout.starts_with(&expected) {
        fail(format!(
            "{format}: expected {expected:?}, got {:?}",
            run.stdout
        ));
    }
    run
}

/// `callbudget analyze` of everything the database holds (31 days before its end covers any
/// size benchmarked), as JSON.
pub fn analyze(db: &Path) -> Timed {
    let args: Vec<&std::ffi::OsStr> = vec![
        "analyze".as_ref(),
        "--since".as_ref(),
        "31d".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
    ];
    timed(callbudget(), &args)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The import stage: each format imported `runs` times; prints each run and the medians.
pub fn import_stage(logs: &ImportLogs, db: &Path, org_id: &str, records: u64, runs: usize) {
    for (format, file) in [
        ("jsonl", &logs.jsonl),
        ("csv", &logs.csv),
        ("combined", &logs.combined),
    ] {
        let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
        let mut rates = Vec::new();
        let mut rss = Vec::new();
        for run in 0..runs {
            let t = import(file, format, db, org_id, records);
            println!(
                "  import {format} run {run}: {records} records in {:.2} s = {:.0} records/s, peak RSS {:.0} MiB",
                t.secs,
                records as f64 / t.secs,
                t.rss_mib
            );
            rates.push(records as f64 / t.secs);
            rss.push(t.rss_mib);
        }
        println!(
            "  import {format}: median {:.0} records/s, peak RSS {:.0} MiB ({:.0} bytes per line)",
            median(rates),
            median(rss),
            bytes as f64 / records.max(1) as f64
        );
    }
    let _ = std::fs::remove_file(db);
}

/// A Python that can run the baselines, and which of them.
pub struct Baselines {
    python: PathBuf,
    duckdb: bool,
    pandas: bool,
}

impl Baselines {
    /// `CALLBUDGET_BENCH_PYTHON`, else `python3`; says what is missing.
    pub fn find() -> Option<Baselines> {
        let python = std::env::var_os("CALLBUDGET_BENCH_PYTHON")
            .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
        let has = |module: &str| {
            Command::new(&python)
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let baselines = Baselines {
            duckdb: has("duckdb"),
            pandas: has("pandas"),
            python: python.clone(),
        };
        for (module, found) in [("duckdb", baselines.duckdb), ("pandas", baselines.pandas)] {
            if !found {
                println!(
                    "comparison: {} cannot import {module}: its baseline is skipped \
                     (python3 -m venv .venv-baselines && .venv-baselines/bin/pip install duckdb pandas pyarrow; \
                     then CALLBUDGET_BENCH_PYTHON=.venv-baselines/bin/python)",
                    python.display()
                );
            }
        }
        (baselines.duckdb || baselines.pandas).then_some(baselines)
    }

    fn run(&self, script: &str, jsonl: &Path) -> Timed {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/baselines")
            .join(script);
        let args: Vec<&std::ffi::OsStr> =
            vec![script.as_os_str(), "--jsonl".as_ref(), jsonl.as_os_str()];
        timed(&self.python, &args)
    }
}

/// The comparison at one size: callbudget's import + analyze against the baselines, `runs`
/// times each (pandas only up to `pandas_max` records: it needs ~4 GB per million).
pub fn compare_stage(
    jsonl: &Path,
    db: &Path,
    org_id: &str,
    records: u64,
    runs: usize,
    baselines: Option<&Baselines>,
    pandas_max: u64,
) {
    let (mut total, mut imports, mut analyses) = (Vec::new(), Vec::new(), Vec::new());
    let (mut import_rss, mut analyze_rss) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let i = import(jsonl, "jsonl", db, org_id, records);
        let a = analyze(db);
        println!(
            "  compare run {run}: callbudget import + analyze {:.2} s (import {:.2} s, {:.0} MiB; analyze {:.2} s, {:.0} MiB)",
            i.secs + a.secs,
            i.secs,
            i.rss_mib,
            a.secs,
            a.rss_mib
        );
        total.push(i.secs + a.secs);
        imports.push(i.secs);
        analyses.push(a.secs);
        import_rss.push(i.rss_mib);
        analyze_rss.push(a.rss_mib);
    }
    let _ = std::fs::remove_file(db);
    let ours = median(total);
    println!(
        "  compare: callbudget import + analyze median {ours:.2} s (import {:.2} s, peak {:.0} MiB; analyze {:.2} s, peak {:.0} MiB)",
        median(imports),
        median(import_rss),
        median(analyses),
        median(analyze_rss)
    );
    let Some(baselines) = baselines else {
        return;
    };
    for (name, script, wanted) in [
        ("DuckDB", "duckdb_audit.py", baselines.duckdb),
        (
            "pandas",
            "pandas_audit.py",
            baselines.pandas && records <= pandas_max,
        ),
    ] {
        if !wanted {
            if name == "pandas" && baselines.pandas {
                println!(
                    "  compare: pandas skipped above {pandas_max} records (CALLBUDGET_BENCH_PANDAS_MAX)"
                );
            }
            continue;
        }
        let (mut secs, mut rss) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let t = baselines.run(script, jsonl);
            println!(
                "  compare run {run}: {name} script {:.2} s, peak RSS {:.0} MiB",
                t.secs, t.rss_mib
            );
            secs.push(t.secs);
            rss.push(t.rss_mib);
        }
        let theirs = median(secs);
        println!(
            "  compare: {name} script median {theirs:.2} s, peak RSS {:.0} MiB; callbudget/{name} = {:.2}",
            median(rss),
            ours / theirs
        );
    }
}
