//! The whole tool, offline, in one call: the built-in simulator plays the acme-week scenario
//! (embedded in the binary, so the demo runs from any directory) on 127.0.0.1; the collector pulls
//! its days over real HTTP, and the audit pipeline and the report run as `callbudget audit` would.
//!
//! The one difference from a real audit: the simulator does not rate-limit the collector and the
//! collector does not pace itself, so a week of log arrives in seconds rather than minutes. The
//! analysis still replays it through Meraki's 10/s + 10 budget.

use callbudget_analysis::{AuditRequest, AuditRun, ConsumerKey, WindowStart};
use callbudget_audit::{
    AuditError, AuditEvent, AuditJob, AuditProgress, EXIT_COLLECT_FAILED, LineKind, Output, Source,
};
use callbudget_collect::dashboard::client::ClientConfig;
use callbudget_collect::dashboard::key::{ApiKey, ApiKeyError};
use callbudget_collect::progress::{Verbosity, summary_text};
use callbudget_collect::{CollectOptions, CollectSummary, OrgSelection};
use callbudget_report::Format;
use callbudget_report::files::{CHARTS_DIR, HTML_FILE, JSON_FILE, MARKDOWN_FILE};
use callbudget_sim::scenario::{Scenario, ScenarioError};
use callbudget_sim::{SimConfig, SimError, Simulator, SimulatorHandle};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::{Path, PathBuf};

const SCENARIO_NAME: &str = "sample-data/acme-week.toml";
const SCENARIO: &str = include_str!("../sample-data/acme-week.toml");

/// Marks a directory as the demo's own, so a second run may replace what the first wrote.
const MARKER: &str = ".callbudget-demo";
/// The database's file name inside the demo's directory.
pub const DATABASE: &str = "callbudget.db";
/// The collector's pace in the demo, requests per second: unpaced against an unlimited simulator.
const COLLECTOR_RATE: f64 = 10_000.0;

/// What the demo does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRequest {
    /// Where the database and the report go (a directory made by an earlier demo is replaced; any
    /// other non-empty directory is refused).
    pub out: PathBuf,
    /// When the simulated week ends.
    pub now: DateTime<Utc>,
    /// How many of the week's last days to collect and report (1 to 7).
    pub days: u32,
}

/// What the demo did.
#[derive(Debug)]
pub struct DemoOutcome {
    pub collected: CollectSummary,
    pub run: AuditRun,
    pub database: PathBuf,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{} exists and was not made by `callbudget demo`: choose another --out", .0.display())]
    NotADemoDirectory(PathBuf),
    #[error("cannot prepare {}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the demo's scenario {SCENARIO_NAME}")]
    Scenario(#[source] ScenarioError),
    #[error(transparent)]
    Simulator(#[from] SimError),
    #[error(transparent)]
    Key(#[from] ApiKeyError),
    #[error("the demo could not collect from its own simulator: {0}")]
    CollectFailed(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Runs the demo; `say` hears what it is doing, a line at a time.
pub fn run(request: &DemoRequest, say: impl Fn(&str)) -> Result<DemoOutcome, DemoError> {
    prepare_directory(&request.out)?;
    let span = TimeDelta::days(i64::from(request.days));
    let scenario =
        Scenario::parse(Path::new(SCENARIO_NAME), SCENARIO).map_err(DemoError::Scenario)?;
    // A fresh key each run: the simulator accepts it, nothing else ever sees it.
    let key = {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::from_os_rng();
        format!("demo-{:032x}", rng.random::<u128>())
    };
    let mut config = SimConfig::new(vec![scenario], request.now, key.clone());
    config.enforce_rate_limits = false;
    say(&format!(
        "building the simulated week of {SCENARIO_NAME} ..."
    ));
    let simulator = Simulator::build(config)?;
    let server = SimulatorHandle::start(simulator, ([127, 0, 0, 1], 0).into())?;
    say(&format!("simulator serving on {}", server.base_url()));

    let mut client = ClientConfig::new(server.base_url(), ApiKey::new(key)?, 1.0);
    // Unpaced: the simulator serves the demo without rate limits (see the module docs).
    client.org_rate = COLLECTOR_RATE;
    client.source_ip_rate = COLLECTOR_RATE;
    let options = CollectOptions {
        orgs: OrgSelection::All,
        since: Some(request.now - span),
        // The simulated week ends at `now`; its clock runs on, but the milliseconds since are no day.
        until: Some(request.now),
        concurrent_orgs: 1,
        ..CollectOptions::default()
    };
    say(&format!(
        "collecting {} day(s) of its request log over HTTP ...",
        request.days
    ));
    let database = request.out.join(DATABASE);
    // The audit `callbudget audit` runs, with the simulator as the API.
    let job = AuditJob {
        source: Source::Collect {
            client,
            db: database.clone(),
            options,
        },
        request: AuditRequest {
            since: WindowStart::Before(span),
            consumer_key: ConsumerKey::Application,
            ..AuditRequest::default()
        },
        output: Output::Files {
            out: request.out.clone(),
            formats: Format::REPORT_FILES.to_vec(),
        },
        targets: &[],
        fail_on: None,
    };
    let outcome = callbudget_audit::run(job, &mut DemoProgress { say: &say })?;
    drop(server);
    let collected = outcome.collected.unwrap_or_default();
    if outcome.exit_code == EXIT_COLLECT_FAILED {
        return Err(DemoError::CollectFailed(
            collected.failure_lines().join("; "),
        ));
    }
    Ok(DemoOutcome {
        collected,
        run: outcome.run,
        database,
        files: outcome.files,
    })
}

/// The demo's audit, heard through `say`: its notes, warnings and errors; what it collected and
/// wrote, the demo describes itself when it is done ([`DemoOutcome::describe`]).
struct DemoProgress<'s, S: Fn(&str)> {
    say: &'s S,
}

impl<S: Fn(&str)> AuditProgress for DemoProgress<'_, S> {
    fn collect_verbosity(&self) -> Verbosity {
        // No progress bars: the demo's collection takes a moment.
        Verbosity {
            quiet: true,
            verbose: 0,
        }
    }

    fn event(&mut self, event: AuditEvent<'_>) -> std::io::Result<()> {
        for line in event.lines() {
            match line.kind {
                LineKind::Result => {}
                LineKind::Note => (self.say)(&line.text),
                LineKind::Warning => (self.say)(&format!("warning: {}", line.text)),
                LineKind::Error => (self.say)(&format!("error: {}", line.text)),
            }
        }
        Ok(())
    }
}

impl DemoOutcome {
    /// What the demo collected, where it wrote its report (into `out`) and database, and what to
    /// try next.
    pub fn describe(&self, out: &Path) -> String {
        let collected = summary_text(&self.collected, COLLECTOR_RATE, &self.database);
        format!(
            "{collected}demo report: {}\ncharts:      {}\nfindings:    {}\ndatabase:    {}\nnext:        callbudget query top_consumers --db {}\n",
            out.join(HTML_FILE).display(),
            out.join(CHARTS_DIR).display(),
            out.join(JSON_FILE).display(),
            self.database.display(),
            self.database.display()
        )
    }
}

/// Makes `dir` ready for the demo: created if missing; if an earlier demo made it, its files are
/// removed; any other non-empty directory is refused rather than written into.
fn prepare_directory(dir: &Path) -> Result<(), DemoError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Directory { path, source }
    };
    let marker = dir.join(MARKER);
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(failed(dir))?;
        if entries.next().is_some() && !marker.exists() {
            return Err(DemoError::NotADemoDirectory(dir.to_owned()));
        }
        for name in [
            DATABASE,
            "callbudget.db-wal",
            "callbudget.db-shm",
            HTML_FILE,
            JSON_FILE,
            MARKDOWN_FILE,
        ] {
            let path = dir.join(name);
            // symlink_metadata: a dangling link is still there to remove.
            if path.symlink_metadata().is_ok() {
                std::fs::remove_file(&path).map_err(failed(&path))?;
            }
        }
        let charts = dir.join(CHARTS_DIR);
        if charts.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            // A link (even a dangling one) or a file: remove it, never what it points to.
            std::fs::remove_file(&charts).map_err(failed(&charts))?;
        } else if charts.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(&charts).map_err(failed(&charts))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    std::fs::write(
        &marker,
        "This directory was written by `callbudget demo`; the next demo run replaces it.\n",
    )
    .map_err(failed(&marker))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_says_what_it_collected_and_where_the_report_and_the_database_are() {
        let outcome = DemoOutcome {
            collected: CollectSummary::default(),
            run: AuditRun {
                audits: Vec::new(),
                left_out: Vec::new(),
            },
            database: PathBuf::from("demo/callbudget.db"),
            files: Vec::new(),
        };
        assert_eq!(
            outcome.describe(Path::new("demo")),
            "collected 0 window(s) of 0 organization(s) into demo/callbudget.db: 0 records, 0 \
             calls, 0 x 429, 0.0 s waited (summed over organizations), 0.0 s in all\n\
             effective rate 0.00 calls/s against a share of 10000.00 calls/s per organization (1 \
             organization(s))\n\
             demo report: demo/report.html\n\
             charts:      demo/charts\n\
             findings:    demo/findings.json\n\
             database:    demo/callbudget.db\n\
             next:        callbudget query top_consumers --db demo/callbudget.db\n"
        );
    }
}
