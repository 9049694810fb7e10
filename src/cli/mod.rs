//! The command line, clap only: what each subcommand accepts, and (`requests`) what its flags
//! ask of the library. The work is done by library functions; the binary's `commands` module
//! wires the two together.

pub mod docs;
mod requests;
pub mod span;

use callbudget_analysis::WindowStart;
use callbudget_report::Format;
// The simulator's settings as its public interface names them (callbudget_sim), never its modules.
use callbudget_sim::{
    FaultSetting, HostPort, HostileSetting, LinkStyle, PageOrder, RetryAfterStyle,
};
use chrono::{DateTime, TimeDelta, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Audits how a Cisco Meraki organization spends its shared API call budget.
///
/// The API key is read from MERAKI_DASHBOARD_API_KEY (never from a flag, which would land in shell
/// history and `ps`).
#[derive(Debug, Parser)]
#[command(name = "callbudget", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// More detail on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull organizations' API activity into the database, politely and incrementally.
    ///
    /// Per organization: its admins, then for each window since the last run (or the last 24 hours)
    /// the per-request log, the overview and the response codes by interval. Each window is stored
    /// in one transaction when complete: an interrupted run resumes where it stopped. The API key is
    /// read from MERAKI_DASHBOARD_API_KEY or --api-key-file.
    Collect(CollectArgs),
    /// Turn the stored activity into findings: saturation, 429 spikes, consumers, retries, savings.
    ///
    /// Replays each organization's per-request log through its budget model (Meraki's token bucket,
    /// or the model stored at import, or --budget-model), finds the 429 spikes
    /// against a rolling baseline, saves the audit and its findings in the database (re-analysing a
    /// window replaces them) and prints them. Exit code 3 when --fail-on finds something.
    Analyze(AnalyzeArgs),
    /// Write the audit as files: an HTML report, PNG/SVG charts, JSON findings and Markdown.
    ///
    /// Analyses each organization's window like `analyze` (and saves the audit, so the next report
    /// shows what changed), then writes DIR/report.html (one self-contained file: charts inline, no
    /// external resources), DIR/charts/ORG/*.png and *.svg, DIR/findings.json and DIR/report.md.
    Report(ReportArgs),
    /// Collect, analyse and report in one command: what cron or a systemd timer runs.
    ///
    /// Collects like `collect` (same options: incremental, polite, resumable), then reports on the
    /// newest --report-span of each organization's log like `report`, then with --notify posts
    /// what is new since the previous audit to webhooks. Exit code 1 if an organization could not
    /// be collected (the others are still reported), 4 if a notification was not delivered, 3 with
    /// --fail-on.
    Audit(AuditArgs),
    /// Try everything offline: simulate an organization, audit it over HTTP, write the report.
    ///
    /// Starts the built-in simulator on 127.0.0.1 with the sample-data/acme-week scenario (built
    /// into the binary), runs the audit against it over real HTTP and writes the database,
    /// report.html and the charts into DIR. No API key or network needed.
    Demo(DemoArgs),
    /// Run a named query of the built-in `queries/` library on the database.
    ///
    /// The same SQL files run unchanged in the sqlite3 shell (`sqlite3 callbudget.db <
    /// queries/NAME.sql`). Parameters are bound as values, never pasted into the SQL; an unset
    /// parameter takes the default its file's header names. `--list` shows every query.
    Query(QueryArgs),
    /// Write the database's tables as CSV or Parquet files for DuckDB, Spark or Trino.
    ///
    /// CSV: one TABLE.csv per table. Parquet: one file per organization and day, hive style
    /// (TABLE/org=ORG/day=YYYY-MM-DD/data.parquet), so several databases' exports read as one
    /// dataset. Columns keep their types; timestamps stay in the schema's text form.
    Export(ExportArgs),
    /// Serve a Meraki-compatible API simulator built from scenario files.
    ///
    /// The simulator plays each scenario's consumers through the organization's call budget to build
    /// its request log, then serves getOrganizations, getOrganizationAdmins,
    /// getOrganizationApiRequests, its overview and responseCodes/byInterval under
    /// http://ADDR/api/v1 (and the bare path), accepting the key in MERAKI_DASHBOARD_API_KEY. Its
    /// Links are relative by default, so the official Python SDK, curl and callbudget all page
    /// through it.
    Simulate(SimulateArgs),
    /// Store a request log from another source (a proxy's access log, an application's JSONL or
    /// CSV, another provider's export) as an organization's log, for `analyze`.
    ///
    /// The file's hours replace what was stored for those hours, so importing it again changes
    /// nothing. Malformed lines are reported with their line numbers and skipped (--strict: the
    /// file is refused). The organization's provider and budget model are stored with it.
    Import(ImportArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    ///
    /// bash: `callbudget completions bash > ~/.local/share/bash-completion/completions/callbudget`;
    /// zsh: `callbudget completions zsh > ~/.zfunc/_callbudget` with ~/.zfunc in $fpath; fish:
    /// `callbudget completions fish > ~/.config/fish/completions/callbudget.fish`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per subcommand into a directory.
    ///
    /// `callbudget man > callbudget.1 && man ./callbudget.1`, or `callbudget man --out
    /// /usr/local/share/man/man1` for callbudget.1 and callbudget-SUBCOMMAND.1.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write callbudget.1 and one callbudget-SUBCOMMAND.1 per subcommand into this directory
    /// (created if missing) instead of printing callbudget.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which_orgs").required(true).args(["orgs", "all_orgs"])))]
pub struct CollectArgs {
    /// The database to fill.
    #[arg(long, value_name = "PATH", default_value = "callbudget.db")]
    pub db: PathBuf,
    /// An organization id to collect (repeatable): digits, as the API writes them.
    #[arg(long = "org", value_name = "ID", value_parser = Redacted(parse_org_id))]
    pub orgs: Vec<String>,
    /// Collect every organization the API key can see.
    #[arg(long)]
    pub all_orgs: bool,
    /// The API's base URL: regional clouds (https://api.meraki.ca/api/v1, .cn, .in,
    /// https://api.gov-meraki.com/api/v1) and the simulator use their own.
    #[arg(long, value_name = "URL", default_value = callbudget_collect::dashboard::DEFAULT_BASE_URL, value_parser = Redacted(parse_base_url))]
    pub base_url: String,
    /// Also send the API key to this host, when a redirect or a pagination link leads there
    /// (repeatable). The base URL's host and Meraki's own (over https) need no flag.
    #[arg(long, value_name = "HOST[:PORT]", value_parser = Redacted(<callbudget_collect::dashboard::hosts::TrustedHost as std::str::FromStr>::from_str))]
    pub trust_host: Vec<callbudget_collect::dashboard::hosts::TrustedHost>,
    /// Read the API key from this file instead of MERAKI_DASHBOARD_API_KEY.
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// Trust this extra CA certificate (PEM), e.g. a corporate TLS-inspection proxy's.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Start of the range: RFC 3339 or a span ago (`36h`, `7d`); default: the end of the last
    /// complete window, else 24 hours ago.
    #[arg(long, value_name = "TIME", value_parser = parse_time_or_ago)]
    pub since: Option<DateTime<Utc>>,
    /// End of the range: RFC 3339 or a span ago; default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_time_or_ago)]
    pub until: Option<DateTime<Utc>>,
    /// The fraction of each organization's budget (and of the source IP's) the collector may use.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.3, value_parser = parse_share)]
    pub budget_share: f64,
    /// Each organization's budget, requests per second (Meraki: 10).
    #[arg(long, value_name = "RATE", default_value_t = 10.0, value_parser = parse_rate)]
    pub org_rate: f64,
    /// The per-source-IP budget, requests per second (Meraki: 100).
    #[arg(long, value_name = "RATE", default_value_t = 100.0, value_parser = parse_rate)]
    pub source_ip_rate: f64,
    /// Minutes of request log per window: the most an interruption can lose.
    #[arg(long, value_name = "MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub window_minutes: u32,
    /// Also pull response codes by interval per admin, source IP and user agent seen.
    #[arg(long)]
    pub by_consumer: bool,
    /// Organizations collected at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrent_orgs: u32,
    /// The most the run waits in all for 429s, 503s and retries (`90s`, `30m`, `2h`), after
    /// which the organization waiting fails [default: 5 minutes plus 2 per window to collect].
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub max_wait: Option<std::time::Duration>,
    /// Remove stored windows that end after this machine's clock (left by a run that believed a
    /// server clock in the future), also when the API's clock disagrees with this machine's.
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The database to read (and to save the audit in).
    #[arg(long, value_name = "PATH", default_value = "callbudget.db")]
    pub db: PathBuf,
    /// table, json, markdown or openmetrics.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = parse_printed_format)]
    pub format: Format,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// What to analyse and how: shared by `analyze` and `report`.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// An organization to analyse (repeatable); default: every collected organization.
    #[arg(long = "org", value_name = "ID")]
    pub orgs: Vec<String>,
    /// Start of the window: RFC 3339 or a span before --until (`24h`, `7d`); default 24 h before it.
    #[arg(long, value_name = "TIME", value_parser = parse_window_start)]
    pub since: Option<WindowStart>,
    /// End of the window: RFC 3339; default: the end of the organization's collected log.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Exit with code 3 when a finding is at least this severe: warning or critical.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<callbudget_analysis::Severity>,
    /// A token-bucket budget, requests per second [default: 10, or the organization's model].
    #[arg(long, value_name = "RATE", value_parser = parse_rate, conflicts_with = "budget_model")]
    pub rate: Option<f64>,
    /// The token bucket's burst on top of one second's worth [default: 10].
    #[arg(long, value_name = "N", conflicts_with = "budget_model")]
    pub burst: Option<f64>,
    /// The budget to replay the log through: meraki, xdr or a model file (.toml, .json); default:
    /// the model stored with the organization at import, else meraki.
    #[arg(long, value_name = "MODEL")]
    pub budget_model: Option<String>,
    /// What a consumer is: application (the user agent's Caller), user-agent, admin, source-ip or
    /// client-id.
    #[arg(long, value_name = "KEY", default_value = "application")]
    pub group_by: callbudget_analysis::ConsumerKey,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The database to read (the audit is saved in it too, for the next report's trends).
    #[arg(long, value_name = "PATH", default_value = "callbudget.db")]
    pub db: PathBuf,
    /// The directory to write the report into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Which files, comma-separated: html (report.html), png and svg (charts/), json
    /// (findings.json), md (report.md), openmetrics (metrics.prom, for Prometheus).
    #[arg(
        long,
        value_name = "FORMATS",
        value_delimiter = ',',
        default_value = "html,png,svg,json,md",
        value_parser = parse_file_format
    )]
    pub format: Vec<Format>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub collect: CollectArgs,
    /// The directory to write the report into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "callbudget-report")]
    pub out: PathBuf,
    /// Which report files, comma-separated: html, png, svg, json, md, openmetrics.
    #[arg(
        long,
        value_name = "FORMATS",
        value_delimiter = ',',
        default_value = "html,png,svg,json,md",
        value_parser = parse_file_format
    )]
    pub format: Vec<Format>,
    /// How much of the newest collected log the report covers (`24h`, `7d`).
    #[arg(long, value_name = "SPAN", default_value = "24h", value_parser = parse_span_arg)]
    pub report_span: TimeDelta,
    /// The burst on top of one second's worth of --org-rate (Meraki: 10).
    #[arg(long, value_name = "N", default_value_t = 10.0)]
    pub burst: f64,
    /// What a consumer is: application, user-agent, admin, source-ip or client-id.
    #[arg(long, value_name = "KEY", default_value = "application")]
    pub group_by: callbudget_analysis::ConsumerKey,
    /// Exit with code 3 when a finding is at least this severe: warning or critical.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<callbudget_analysis::Severity>,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Where `audit` posts what it finds new (a webhook URL is a secret: prefer the file or the
/// environment to the flag, which `ps` and shell history show).
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Post a message to this webhook when the audit finds something new since the previous one
    /// (repeatable). Also read from CALLBUDGET_NOTIFY_URL.
    #[arg(long = "notify", value_name = "URL")]
    pub notify_urls: Vec<String>,
    /// Read webhook URLs from this file, one a line (`#` comments).
    #[arg(long, value_name = "PATH")]
    pub notify_file: Option<PathBuf>,
    /// The message format: generic (JSON), webex, slack or teams [default: from each URL's host].
    #[arg(long, value_name = "FORMAT",
          value_parser = choice::<callbudget_report::notify::NotifyFormat>(&callbudget_report::notify::NotifyFormat::NAMES))]
    pub notify_format: Option<callbudget_report::notify::NotifyFormat>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo writes its database and report (a directory made by an earlier demo is
    /// replaced; any other non-empty directory is refused).
    #[arg(long, value_name = "DIR", default_value = "callbudget-demo")]
    pub out: PathBuf,
    /// When the simulated week ends (RFC 3339); default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,
    /// How many of the week's last days to collect and report (1 to 7).
    #[arg(long, value_name = "N", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=7))]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The log file to import.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Whose API the log records: meraki (10 requests/s + 10 per organization; recommendations
    /// from its catalog), xdr (8000 requests per organization in any 60 minutes) or generic (any
    /// other API: needs --budget-model).
    #[arg(long, value_name = "PROVIDER",
          value_parser = choice::<callbudget_store::import::Provider>(&callbudget_store::import::Provider::NAMES))]
    pub provider: callbudget_store::import::Provider,
    /// How the file is written: jsonl (one JSON object per line), csv (with a header row) or
    /// combined (the Apache/nginx combined or common access-log format).
    #[arg(long, value_name = "FORMAT",
          value_parser = choice::<callbudget_store::import::LogFormat>(&callbudget_store::import::LogFormat::NAMES))]
    pub format: callbudget_store::import::LogFormat,
    /// The organization the log belongs to (any id: imported organizations are not looked up).
    #[arg(long, value_name = "ID")]
    pub org: String,
    /// The organization's name [default: its id].
    #[arg(long, value_name = "NAME")]
    pub org_name: Option<String>,
    /// The database to fill.
    #[arg(long, value_name = "PATH", default_value = "callbudget.db")]
    pub db: PathBuf,
    /// The organization's budget: meraki, xdr or a model file (.toml, .json) [default: the
    /// provider's].
    #[arg(long, value_name = "MODEL")]
    pub budget_model: Option<String>,
    /// Refuse the whole file when a line is malformed (default: skip such lines, naming them).
    #[arg(long)]
    pub strict: bool,
    /// Refuse a file whose requests span more than this (e.g. 31d, 8760h).
    #[arg(long, value_name = "SPAN", default_value = "366d", value_parser = parse_span_arg)]
    pub max_span: TimeDelta,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["name", "list"])))]
pub struct QueryArgs {
    /// The query to run (see --list).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// List the queries with what each answers.
    #[arg(long, conflicts_with_all = ["params", "format"])]
    pub list: bool,
    /// The database to read.
    #[arg(long, value_name = "PATH", default_value = "callbudget.db")]
    pub db: PathBuf,
    /// A parameter of the query, NAME=VALUE, bound to `:NAME` (repeatable), e.g. org=549236.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// table, csv or json.
    #[arg(long, value_name = "FORMAT", default_value = "table",
          value_parser = choice::<callbudget_store::queries::QueryFormat>(&callbudget_store::queries::QueryFormat::NAMES))]
    pub format: callbudget_store::queries::QueryFormat,
    /// The longest the query may run (`30s`, `5m`), after which it is stopped.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The database to read.
    #[arg(long, value_name = "PATH", default_value = "callbudget.db")]
    pub db: PathBuf,
    /// csv or parquet.
    #[arg(long, value_name = "FORMAT",
          value_parser = choice::<callbudget_store::export::ExportFormat>(&callbudget_store::export::ExportFormat::NAMES))]
    pub format: callbudget_store::export::ExportFormat,
    /// A table to export (repeatable); default: every table.
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A scenario file (repeat for several organizations). See sample-data/README.md.
    #[arg(long = "scenario", value_name = "FILE", required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Address to serve on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// When the scenarios' timelines end (RFC 3339); default: when the simulator starts.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,
    /// Replace every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the ground truth: the request log as JSONL to FILE and the planted anomalies to
    /// FILE with the extension `.anomalies.json`.
    #[arg(long, value_name = "FILE")]
    pub truth_out: Option<PathBuf>,
    /// Build the log (and --truth-out), print a summary and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Stream the log as JSONL to FILE without holding it in memory, then exit (for month-long
    /// benchmark logs).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["truth_out", "no_serve"])]
    pub generate_out: Option<PathBuf>,
    /// Inject a fault: storm, 5xx, unavailable (503 with Retry-After), slow, reset, truncate or
    /// malformed, with a rate from 0 to 1 (e.g. --fault 5xx=0.1). Repeatable.
    #[arg(long = "fault", value_name = "KIND=RATE")]
    pub faults: Vec<FaultSetting>,
    /// Behave wrongly on purpose: self-link, empty-next, foreign-org-link, other-endpoint-link,
    /// bad-record, future-date, huge-headers, escapes, huge-counts, endless-body,
    /// repeated-records, oversized-page, flood, org-id-traversal or past-date; every call, or a
    /// share with =RATE. Repeatable.
    #[arg(long = "hostile", value_name = "NAME[=RATE]")]
    pub hostile: Vec<HostileSetting>,
    /// How Retry-After is written on 429s: seconds (Meraki), date (HTTP date) or unit (`2s`).
    #[arg(long, value_name = "STYLE", default_value = "seconds",
          value_parser = choice::<RetryAfterStyle>(&RetryAfterStyle::NAMES))]
    pub retry_after: RetryAfterStyle,
    /// Seed for fault injection.
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// How long an injected 429 storm lasts, in seconds (its Retry-After).
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0, value_parser = parse_fault_seconds)]
    pub storm_seconds: f64,
    /// The Retry-After of an injected 503, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_fault_seconds)]
    pub unavailable_seconds: f64,
    /// How long a slow response is delayed, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub slow_ms: u64,
    /// Serve without live rate limits (for benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// How Link URLs are written: relative (`/organizations/…`, below the base URL: what the
    /// official SDK, curl and callbudget all follow), full-path (`/api/v1/organizations/…`) or
    /// absolute (`http://HOST/api/v1/…`, the real API's form). Default: relative, or absolute
    /// with --link-host.
    #[arg(long, value_name = "STYLE", value_parser = choice::<LinkStyle>(&LinkStyle::NAMES))]
    pub link_style: Option<LinkStyle>,
    /// Write this host into absolute Link URLs instead of the one called (without a port: the
    /// called port).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub link_host: Option<HostPort>,
    /// Play a shard: answer calls on any other host with 308 to this one, same path and query
    /// (without a port: the called port).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub redirect_to: Option<HostPort>,
    /// The order of the request log's pages: newest-first or oldest-first (the API documents none,
    /// so clients must cope with both).
    #[arg(long, value_name = "ORDER", default_value = "newest-first",
          value_parser = choice::<PageOrder>(&PageOrder::NAMES))]
    pub page_order: PageOrder,
}

/// The one adapter from a library enum (its names and `FromStr`) to clap: the library stays
/// free of clap, and `--help` and errors still list the possible values.
fn choice<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

fn parse_severity(s: &str) -> Result<callbudget_analysis::Severity, String> {
    match s {
        "warning" => Ok(callbudget_analysis::Severity::Warning),
        "critical" => Ok(callbudget_analysis::Severity::Critical),
        other => Err(format!("{other:?}: expected warning or critical")),
    }
}

/// A format `analyze` prints: table, json or markdown.
fn parse_printed_format(s: &str) -> Result<Format, String> {
    let format: Format = s.parse()?;
    if format.prints() {
        Ok(format)
    } else {
        Err(format!(
            "{s:?} is written as files: use `callbudget report --format {format}` (analyze prints table, json, markdown or openmetrics)"
        ))
    }
}

/// A value parser whose error shows the value as [`callbudget_api::redact::redact_url`] leaves it,
/// made printable: clap's own error would echo a `user:secret@`, an `?api_key=` or a terminal
/// escape as given.
#[derive(Clone)]
struct Redacted<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Redacted<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        (self.0)(&text).map_err(|reason| {
            let arg = arg.map_or_else(|| "...".to_owned(), ToString::to_string);
            let shown = callbudget_api::text::printable(&callbudget_api::redact::redact_url(&text))
                .into_owned();
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value '{shown}' for '{arg}': {reason}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// An organization id of the API's shape (digits), refused before any call otherwise.
fn parse_org_id(s: &str) -> Result<String, String> {
    match callbudget_api::ids::check_org_id(s) {
        Ok(()) => Ok(s.to_owned()),
        Err(_) => Err(format!(
            "an organization id is 1 to {} digits, as the API writes it",
            callbudget_api::ids::MAX_ORG_ID_DIGITS
        )),
    }
}

/// A `--base-url` the client accepts (see [`callbudget_collect::dashboard::hosts::parse_base_url`]).
fn parse_base_url(s: &str) -> Result<String, String> {
    callbudget_collect::dashboard::hosts::parse_base_url(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.reason.to_owned())
}

/// A format `report` writes: html, png, svg, json, md or openmetrics.
fn parse_file_format(s: &str) -> Result<Format, String> {
    let format: Format = s.parse()?;
    if format.is_file() {
        Ok(format)
    } else {
        Err(format!(
            "{s:?}: expected html, png, svg, json, md or openmetrics (the table is `callbudget analyze`'s)"
        ))
    }
}

/// An RFC 3339 time, or a span before the window's end (`24h`, `7d`).
fn parse_window_start(s: &str) -> Result<WindowStart, String> {
    time_or_span(s).map(|t| match t {
        Ok(t) => WindowStart::At(t),
        Err(span) => WindowStart::Before(span),
    })
}

/// A span of history such as `90m`, `24h` or `7d`.
fn parse_span_arg(s: &str) -> Result<TimeDelta, String> {
    span::HISTORY.parse(s).map_err(|e| e.to_string())
}

/// An RFC 3339 time (`Ok`), or a span (`Err`): the one reading of `--since`-like flags.
fn time_or_span(s: &str) -> Result<Result<DateTime<Utc>, TimeDelta>, String> {
    if let Ok(t) = callbudget_api::timestamp::parse(s) {
        return Ok(Ok(t));
    }
    match span::HISTORY.parse(s) {
        Ok(span) => Ok(Err(span)),
        Err(span::SpanError::NotASpan { .. }) => Err(format!(
            "{s:?} is neither an RFC 3339 time nor a span such as 36h or 7d"
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1e9 => Ok(x),
        _ => Err(format!(
            "{s:?}: a rate is a number of requests per second, greater than 0"
        )),
    }
}

/// How long an injected storm or outage lasts: up to a day, so a Retry-After of hours can be tried.
fn parse_fault_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=86_400.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?}: expected 0 to 86400 seconds")),
    }
}

/// A wait: seconds, minutes or hours (`90s`, `30m`, `2h`), at most a week.
fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    let wait = span::WAIT.parse(s).map_err(|e| e.to_string())?;
    wait.to_std().map_err(|e| format!("{s:?}: {e}"))
}

/// A time limit: a wait that is not zero.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match parse_wait(s)? {
        limit if limit.is_zero() => Err(format!("{s:?}: a time limit must be more than 0")),
        limit => Ok(limit),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!(
            "{s:?}: the share must be a fraction greater than 0 and at most 1"
        )),
    }
}

/// RFC 3339, or a span before now: `90m`, `36h`, `7d`.
fn parse_time_or_ago(s: &str) -> Result<DateTime<Utc>, String> {
    match time_or_span(s)? {
        Ok(t) => Ok(t),
        Err(span) => Utc::now()
            .checked_sub_signed(span)
            .ok_or_else(|| format!("{s:?} reaches beyond the calendar")),
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    callbudget_api::timestamp::parse(s)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e}), e.g. 2026-11-20T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn simulate_reads_repeated_scenarios_and_faults() {
        let cli = Cli::try_parse_from([
            "callbudget",
            "simulate",
            "--scenario",
            "a.toml",
            "--scenario",
            "b.toml",
            "--fault",
            "5xx=0.1",
            "--retry-after",
            "date",
            "--now",
            "2026-11-20T00:00:00Z",
        ])
        .unwrap();
        let Command::Simulate(args) = cli.command else {
            panic!("expected simulate");
        };
        assert_eq!(args.scenarios.len(), 2);
        assert_eq!(args.faults[0].rate, 0.1);
        assert_eq!(args.retry_after, RetryAfterStyle::Date);
        assert_eq!(args.now.unwrap().to_rfc3339(), "2026-11-20T00:00:00+00:00");
        assert!(
            Cli::try_parse_from([
                "callbudget",
                "simulate",
                "--scenario",
                "a",
                "--fault",
                "5xx=7"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["callbudget", "simulate", "--scenario", "a", "--now", "noon"])
                .is_err()
        );
    }
}
