//! What to fetch and where it goes: for each organization, its name and admins, then for each
//! planned window the overview, the per-request log (every page, bounded by the overview's count)
//! and the response codes by interval — optionally per admin, source IP and user agent — each
//! window stored in one transaction once complete. An interrupted run loses only the window in
//! flight; the next run resumes from the last complete window, re-pulling it to catch late records.
//!
//! A window whose answers are wrong (a malformed record or page, pages that loop or lead to
//! another endpoint) fails alone: it is recorded `failed` with the reason and the calls it cost,
//! and the next window is tried. What would fail every window alike (the key, access, an untrusted
//! host, a server that stays down, the run's wait budget) ends the organization.
//!
//! Organizations are collected concurrently; the client's pacers keep the whole run within its
//! share of each org's budget and of the source IP's. Time is the API's (its `Date` header), but
//! never later than this machine's clock plus [`CLOCK_TOLERANCE`]: a server clock in the future
//! is warned about and not believed.

pub mod bounds;
pub mod dashboard;
pub mod plan;
pub mod progress;

use crate::dashboard::client::{
    CallTally, ClientError, DashboardClient, INITIAL_WAIT_BUDGET, PageLimit,
};
use callbudget_api::{Admin, Organization, RequestPage, RequestsOverview, ResponseCodeInterval};
use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, StoreError, WindowMeta};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;
use std::collections::BTreeSet;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which organizations to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSelection {
    Ids(Vec<OrgId>),
    All,
}

/// This machine's clock, as the collector reads it: a parameter, so that tests can set it.
#[derive(Clone)]
pub struct LocalClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl LocalClock {
    /// The system clock.
    pub fn system() -> LocalClock {
        LocalClock(Arc::new(Utc::now))
    }

    /// A clock that always says `now`.
    pub fn fixed(now: DateTime<Utc>) -> LocalClock {
        LocalClock(Arc::new(move || now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl fmt::Debug for LocalClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LocalClock({})",
            callbudget_api::timestamp::format(&self.now())
        )
    }
}

/// What a run collects.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub orgs: OrgSelection,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Length of one request-log window: what an interruption can lose at most.
    pub window: TimeDelta,
    /// Also pull byInterval series per admin, source IP and user agent seen in each window.
    pub by_consumer: bool,
    /// How many organizations are collected at once.
    pub concurrent_orgs: usize,
    /// What the run may wait in all for 429s, 503s and retries; `None`: [`default_wait_budget`]
    /// of the windows planned.
    pub max_wait: Option<Duration>,
    /// Remove stored windows that end after this machine's clock even when the API's clock
    /// disagrees with it (when both agree, they are removed anyway).
    pub repair: bool,
    /// This machine's clock.
    pub clock: LocalClock,
    /// The organization's budget, requests per second (Meraki: 10): a window's log cannot hold
    /// more answered requests than it admits ([`bounds::WindowBounds`]).
    pub org_budget_rate: f64,
    /// The most a window's pages may hold in memory before it is stored
    /// ([`bounds::WINDOW_MEMORY_BYTES`]).
    pub window_memory: usize,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            orgs: OrgSelection::All,
            since: None,
            until: None,
            window: TimeDelta::hours(1),
            by_consumer: false,
            concurrent_orgs: 4,
            max_wait: None,
            repair: false,
            clock: LocalClock::system(),
            org_budget_rate: 10.0,
            window_memory: bounds::WINDOW_MEMORY_BYTES,
        }
    }
}

/// How far the API's clock and this machine's may differ before the difference is warned about,
/// and how far past this machine's clock a window may end.
pub const CLOCK_TOLERANCE: TimeDelta = TimeDelta::minutes(10);

/// What each planned window adds to the default wait budget.
pub const WAIT_PER_WINDOW: Duration = Duration::from_secs(2 * 60);

/// The wait budget of a run that plans `windows` windows: 5 minutes, plus 2 per window.
pub fn default_wait_budget(windows: usize) -> Duration {
    INITIAL_WAIT_BUDGET + WAIT_PER_WINDOW * u32::try_from(windows).unwrap_or(u32::MAX)
}

/// Why an organization (or the whole run) failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("organization {0} is not among the organizations this API key can see")]
    UnknownOrganization(String),
    #[error(
        "/organizations/{org}/apiRequests/overview: its counts add up to {count} requests, more than the {limit} a window of {seconds} s could hold at {MAX_PLAUSIBLE_REQUESTS_PER_SECOND} a second; not believed"
    )]
    ImplausibleOverview {
        org: String,
        count: String,
        limit: u64,
        seconds: i64,
    },
    #[error("{endpoint}: {fault}")]
    Disagrees {
        endpoint: String,
        fault: bounds::WindowFault,
    },
    #[error("{0}; refused before any call, nothing stored")]
    InvalidOrgId(callbudget_api::ids::IdError),
    #[error(
        "the API's clock ({now}, from its Date header) is before the data already stored for this organization (up to {latest}): a clock that went back is not believed, nothing collected; check the API's address (--base-url)"
    )]
    ClockBeforeStoredData { now: String, latest: String },
    #[error("the database writer stopped")]
    Writer(#[source] tokio::task::JoinError),
    #[error("cannot list organizations at {base_url}")]
    ListOrganizations {
        base_url: String,
        source: ClientError,
    },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("--until {until} is in the future (it is {now} by the API's clock)")]
    FutureUntil { until: String, now: String },
    #[error(
        "the database holds {count} window(s) ending after this machine's clock, the latest at {latest}: an earlier run believed a server clock in the future, and nothing newer would ever be collected; the API's clock and this machine's disagree, so check this machine's clock, then run collect with --repair to remove them"
    )]
    FutureWindows { count: usize, latest: String },
}

impl CollectError {
    /// Whether only the window being collected is lost: see [`ClientError::fails_only_its_window`];
    /// in the store, a window whose content it refuses.
    fn fails_only_its_window(&self) -> bool {
        match self {
            CollectError::Api(e) => e.fails_only_its_window(),
            CollectError::ImplausibleOverview { .. } | CollectError::Disagrees { .. } => true,
            CollectError::Store(e) => matches!(
                e,
                StoreError::InvalidWindow { .. }
                    | StoreError::RecordOutsideWindow { .. }
                    | StoreError::InvalidResponseCode { .. }
            ),
            _ => false,
        }
    }
}

/// What the person running the collector is told, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectEvent {
    OrgStarted {
        org: String,
        name: String,
        windows: usize,
    },
    /// A page of the request log arrived.
    Page {
        org: String,
        records: usize,
    },
    WindowStored {
        org: String,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
        records: u64,
        tally: CallTally,
    },
    /// A window failed; it is recorded as such, with the calls it cost.
    WindowFailed {
        org: String,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
        error: String,
        tally: CallTally,
    },
    Warning {
        org: Option<String>,
        message: String,
    },
    OrgFinished {
        org: String,
        summary: OrgSummary,
    },
    OrgFailed {
        org: String,
        error: String,
    },
}

/// A window that failed alone.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedWindow {
    pub t0: DateTime<Utc>,
    pub t1: DateTime<Utc>,
    pub error: String,
}

/// One organization's run: what was stored, what it cost (failed windows' calls included), and
/// the windows that failed alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgSummary {
    pub windows: u64,
    pub records: u64,
    pub tally: CallTally,
    pub failed_windows: Vec<FailedWindow>,
}

/// How one organization's collection ended: its summary counts what was stored even when it
/// failed later.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgOutcome {
    pub org: OrgId,
    pub summary: OrgSummary,
    /// Why the organization's collection stopped, if it did.
    pub error: Option<String>,
    /// The one line that says what failed: the error, the windows that failed alone, or both.
    failure: Option<String>,
}

/// The different reasons for failed windows named in a message.
const FAILED_WINDOWS_NAMED: usize = 3;

impl OrgOutcome {
    pub fn new(org: OrgId, summary: OrgSummary, error: Option<String>) -> OrgOutcome {
        let failure = match (&error, failed_windows_text(&summary.failed_windows)) {
            (Some(e), Some(w)) => Some(format!("{e} (before that, {w})")),
            (Some(e), None) => Some(e.clone()),
            (None, w) => w,
        };
        OrgOutcome {
            org,
            summary,
            error,
            failure,
        }
    }

    /// What failed, in one line, or `None` when everything was collected.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}

/// The most requests an overview may count per second of its window: a thousand times an
/// organization's 10 a second, 429s included. A larger count is a broken or hostile server's, and
/// believing it would let it page on almost without end.
pub const MAX_PLAUSIBLE_REQUESTS_PER_SECOND: u64 = 10_000;

/// The requests the overview of `org`'s window `(t0, t1)` counts, or why it cannot be believed:
/// counts whose sum overflows, or more than [`MAX_PLAUSIBLE_REQUESTS_PER_SECOND`].
fn plausible_count(
    org: &str,
    overview: &RequestsOverview,
    (t0, t1): (DateTime<Utc>, DateTime<Utc>),
) -> Result<u64, CollectError> {
    let seconds = (t1 - t0).num_seconds().max(1);
    let limit = u64::try_from(seconds)
        .unwrap_or(u64::MAX)
        .saturating_mul(MAX_PLAUSIBLE_REQUESTS_PER_SECOND);
    match overview.total() {
        Some(count) if count <= limit => Ok(count),
        count => Err(CollectError::ImplausibleOverview {
            org: org.to_owned(),
            count: count.map_or_else(|| format!("more than {}", u64::MAX), |c| c.to_string()),
            limit,
            seconds,
        }),
    }
}

/// The failure of an organization whose collection met a bug (a panic) instead of an error.
fn internal_error(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("collecting it stopped on an internal error (a bug in callbudget): {message}")
}

/// "3 window(s) failed: …" naming each different reason once, with how many windows it failed
/// and the span they cover; `None` when none failed.
fn failed_windows_text(windows: &[FailedWindow]) -> Option<String> {
    if windows.is_empty() {
        return None;
    }
    // (reason, windows, first t0, last t1), in the order the reasons first came.
    let mut reasons: Vec<(&str, usize, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for w in windows {
        match reasons.iter_mut().find(|r| r.0 == w.error) {
            Some(r) => {
                r.1 += 1;
                r.2 = r.2.min(w.t0);
                r.3 = r.3.max(w.t1);
            }
            None => reasons.push((&w.error, 1, w.t0, w.t1)),
        }
    }
    let named: Vec<String> = reasons
        .iter()
        .take(FAILED_WINDOWS_NAMED)
        .map(|(reason, n, t0, t1)| {
            format!(
                "{n} from {} to {}: {reason}",
                callbudget_api::timestamp::format(t0),
                callbudget_api::timestamp::format(t1)
            )
        })
        .collect();
    let mut text = format!("{} window(s) failed: {}", windows.len(), named.join("; "));
    let more = reasons.len().saturating_sub(FAILED_WINDOWS_NAMED);
    if more > 0 {
        text.push_str(&format!(
            "; and {more} other reason(s) (see collection_windows)"
        ));
    }
    Some(text)
}

/// The whole run.
#[derive(Debug, Default)]
pub struct CollectSummary {
    pub orgs: Vec<OrgOutcome>,
    pub elapsed: Duration,
}

impl CollectSummary {
    /// Everything stored and spent, failed organizations included.
    pub fn total(&self) -> OrgSummary {
        let mut total = OrgSummary::default();
        for s in self.orgs.iter().map(|o| &o.summary) {
            total.windows += s.windows;
            total.records += s.records;
            total.tally.add(&s.tally);
            total
                .failed_windows
                .extend(s.failed_windows.iter().cloned());
        }
        total
    }

    /// Each organization that failed or had windows fail, and what failed.
    pub fn failed(&self) -> impl Iterator<Item = (&OrgId, &str)> {
        self.orgs
            .iter()
            .filter_map(|o| o.failure().map(|f| (&o.org, f)))
    }

    /// Each failed organization's failure in one line that names it: most failures do already
    /// ("organization 7 is not among …"), the others get "organization 7: " in front.
    pub fn failure_lines(&self) -> Vec<String> {
        self.failed()
            .map(|(org, failure)| {
                if failure.starts_with(&format!("organization {org} "))
                    || failure.starts_with("organization id ")
                {
                    failure.to_owned()
                } else {
                    format!("organization {org}: {failure}")
                }
            })
            .collect()
    }

    /// The organizations whose collection ran to its end (some windows may have failed alone).
    pub fn collected(&self) -> Vec<OrgId> {
        self.orgs
            .iter()
            .filter(|o| o.error.is_none())
            .map(|o| o.org.clone())
            .collect()
    }
}

type Events = Arc<dyn Fn(CollectEvent) + Send + Sync>;

/// The store behind a mutex, used from blocking tasks so that SQLite never stalls the HTTP side.
#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    pub fn new(store: Store) -> Self {
        SharedStore(Arc::new(Mutex::new(store)))
    }

    /// The store back, once no task holds it any more.
    pub fn into_inner(self) -> Option<Store> {
        Arc::into_inner(self.0).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CollectError> {
        finish(self.spawn(work)).await
    }

    /// Starts `work` on a blocking thread; await it with [`finish`].
    fn spawn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        let store = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut store)
        })
    }
}

async fn finish<T>(
    task: tokio::task::JoinHandle<Result<T, StoreError>>,
) -> Result<T, CollectError> {
    task.await
        .map_err(CollectError::Writer)?
        .map_err(CollectError::from)
}

/// How late a record may be logged after its time: windows ending this close to the newest stored
/// one are pulled again.
pub const LATE_RECORDS: TimeDelta = TimeDelta::minutes(5);

/// The request log's page size: the most the API allows.
const PER_PAGE: u64 = callbudget_api::pages::MAX_RECORDS_PER_PAGE as u64;

/// The finest byInterval interval for a window (the API accepts 120, 3600, 14400 and 21600 s).
pub fn finest_interval(span: TimeDelta) -> u32 {
    if span <= TimeDelta::days(1) {
        120
    } else if span <= TimeDelta::days(7) {
        3600
    } else {
        14400
    }
}

/// "Now" for a run: the API's clock, unless it is ahead of this machine's by more than
/// [`CLOCK_TOLERANCE`] — a server cannot have logged the future, so a `Date` in 2100 is not
/// believed. A server behind is believed: it cannot have records newer than its own clock.
pub fn run_now(server: Option<DateTime<Utc>>, local: DateTime<Utc>) -> DateTime<Utc> {
    match server {
        Some(server) if server <= local + CLOCK_TOLERANCE => server,
        _ => local,
    }
}

/// The warning for clocks further apart than [`CLOCK_TOLERANCE`], if they are.
fn clock_warning(server: DateTime<Utc>, local: DateTime<Utc>) -> Option<String> {
    let skew = server - local;
    if skew.abs() <= CLOCK_TOLERANCE {
        return None;
    }
    let minutes = skew.num_minutes().unsigned_abs();
    let (amount, unit) = if minutes >= 2 * 24 * 60 {
        (minutes / (24 * 60), "day(s)")
    } else if minutes >= 120 {
        (minutes / 60, "hour(s)")
    } else {
        (minutes, "minute(s)")
    };
    let (direction, consequence) = if skew > TimeDelta::zero() {
        (
            "ahead of",
            "windows end at this machine's clock instead, and none is stored past it",
        )
    } else {
        (
            "behind",
            "collecting up to the API's clock; check this machine's clock (NTP)",
        )
    };
    Some(format!(
        "the API's clock ({}, from its Date header) is {amount} {unit} {direction} this machine's ({}): {consequence}",
        callbudget_api::timestamp::format(&server),
        callbudget_api::timestamp::format(&local),
    ))
}

struct Run {
    client: Arc<DashboardClient>,
    store: SharedStore,
    options: CollectOptions,
    until: DateTime<Utc>,
    events: Events,
}

/// A whole collection run, blocking: lists the organizations the key can see (so a wrong key is
/// refused before the database is even opened, and leaves no file behind), opens `db`, and
/// collects what `options` asks for. Returns the store, for a caller that goes on to analyse it.
pub fn run(
    client: DashboardClient,
    db: &Path,
    options: CollectOptions,
    events: impl Fn(CollectEvent) + Send + Sync + 'static,
) -> Result<(Store, CollectSummary), CollectError> {
    let runtime = tokio::runtime::Runtime::new().map_err(CollectError::Runtime)?;
    runtime.block_on(async {
        client.set_wait_budget(options.max_wait.unwrap_or(INITIAL_WAIT_BUDGET));
        let (orgs, _) = list_organizations(&client).await.map_err(|e| match e {
            CollectError::Api(source) => CollectError::ListOrganizations {
                base_url: client.base_url().to_owned(),
                source,
            },
            other => other,
        })?;
        // Not one organization asked for is visible: nothing to collect, so no database either.
        if let OrgSelection::Ids(ids) = &options.orgs {
            let unknown: Vec<&str> = ids
                .iter()
                .map(OrgId::as_str)
                .filter(|id| !orgs.iter().any(|o| o.id == *id))
                .collect();
            if !ids.is_empty() && unknown.len() == ids.len() {
                return Err(CollectError::UnknownOrganization(unknown.join(", ")));
            }
        }
        let store = SharedStore::new(Store::open(db)?);
        let summary = collect(Arc::new(client), store.clone(), orgs, options, events).await?;
        // Every task that held the store has ended; should one linger, open the file again.
        let store = match store.into_inner() {
            Some(store) => store,
            None => Store::open(db)?,
        };
        Ok((store, summary))
    })
}

/// Lists the organizations the key can see: the run's first call, made before anything is opened
/// or written, so a wrong key costs one request and leaves the database alone.
pub async fn list_organizations(
    client: &DashboardClient,
) -> Result<(Vec<Organization>, CallTally), CollectError> {
    let mut tally = CallTally::default();
    let url = client.url(&Endpoint::Organizations.path(""), &[]);
    let orgs = client.get_all_pages(None, &url, &mut tally, |_| {}).await?;
    Ok((orgs, tally))
}

/// Collects what `options` asks for from the listed `orgs` into `store`. Per-organization failures
/// are reported in the summary (and as events); an error is returned only when nothing could be
/// started.
pub async fn collect(
    client: Arc<DashboardClient>,
    store: SharedStore,
    orgs: Vec<Organization>,
    options: CollectOptions,
    events: impl Fn(CollectEvent) + Send + Sync + 'static,
) -> Result<CollectSummary, CollectError> {
    let started = Instant::now();
    let events: Events = Arc::new(events);
    // "Now" is the API's clock (its Date header), so a lookback or a default range is the
    // server's, not this machine's — unless the server says it is later than it can be.
    let local = options.clock.now();
    let server = client.server_now();
    if let Some(message) = server.and_then(|s| clock_warning(s, local)) {
        events(CollectEvent::Warning { org: None, message });
    }
    let now = run_now(server, local);
    let until = options.until.unwrap_or(now);
    if until > now + TimeDelta::minutes(2) {
        return Err(CollectError::FutureUntil {
            until: callbudget_api::timestamp::format(&until),
            now: callbudget_api::timestamp::format(&now),
        });
    }
    let run = Arc::new(Run {
        client,
        store,
        options,
        until,
        events,
    });

    // An id that is not the API's shape (digits) is refused before any call with it: it is not
    // stored, and an organization listed with it is reported as refused, one line each.
    let (orgs, misshapen): (Vec<Organization>, Vec<Organization>) = orgs
        .into_iter()
        .partition(|o| callbudget_api::ids::check_org_id(&o.id).is_ok());
    let collected_at = Utc::now();
    let listed = orgs.clone();
    run.store
        .with(move |s| s.upsert_organizations(&listed, collected_at))
        .await?;

    let refused = |id: &str| -> Result<String, CollectError> {
        Err(callbudget_api::ids::check_org_id(id).err().map_or_else(
            || CollectError::UnknownOrganization(id.to_owned()),
            CollectError::InvalidOrgId,
        ))
    };
    let targets: Vec<(OrgId, Result<String, CollectError>)> = match &run.options.orgs {
        OrgSelection::All => orgs
            .iter()
            .map(|o| (OrgId::new(&o.id), Ok(o.name.clone())))
            .chain(
                misshapen
                    .iter()
                    .map(|o| (OrgId::new(&o.id), refused(&o.id))),
            )
            .collect(),
        OrgSelection::Ids(ids) => ids
            .iter()
            .map(|id| match orgs.iter().find(|o| id == o.id.as_str()) {
                Some(o) => (id.clone(), Ok(o.name.clone())),
                None => (id.clone(), refused(id.as_str())),
            })
            .collect(),
    };

    // The wait budget is sized to the work: the windows planned, over every organization.
    if run.options.max_wait.is_none() {
        let mut windows = 0;
        for (org, _) in targets.iter().filter(|(_, name)| name.is_ok()) {
            windows += run.plan_org(org.as_str()).await?.0.windows.len();
        }
        run.client.set_wait_budget(default_wait_budget(windows));
    }

    let semaphore = Arc::new(tokio::sync::Semaphore::new(
        run.options.concurrent_orgs.max(1),
    ));
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|(org, name)| {
            let run = Arc::clone(&run);
            let semaphore = Arc::clone(&semaphore);
            let task_org = org.clone();
            let task = tokio::spawn(async move {
                let mut summary = OrgSummary::default();
                let result = match name {
                    Err(e) => Err(callbudget_api::text::error_chain(&e)),
                    Ok(name) => {
                        let _permit = semaphore.acquire().await;
                        // A bug met while collecting one organization is that organization's
                        // failure: the others go on, and what it stored stays counted.
                        let collecting = run.collect_org(org.as_str(), &name, &mut summary);
                        match AssertUnwindSafe(collecting).catch_unwind().await {
                            Ok(result) => result.map_err(|e| callbudget_api::text::error_chain(&e)),
                            Err(panic) => Err(internal_error(panic.as_ref())),
                        }
                    }
                };
                let error = result.err();
                match &error {
                    None => (run.events)(CollectEvent::OrgFinished {
                        org: org.to_string(),
                        summary: summary.clone(),
                    }),
                    Some(error) => (run.events)(CollectEvent::OrgFailed {
                        org: org.to_string(),
                        error: error.clone(),
                    }),
                }
                OrgOutcome::new(org, summary, error)
            });
            (task_org, task)
        })
        .collect();
    let mut summary = CollectSummary::default();
    for (org, task) in tasks {
        // A panic is caught in the task; a task that still did not finish is that org's failure.
        let outcome = task.await.unwrap_or_else(|e| {
            let error = format!("collecting it stopped unexpectedly: {e}");
            OrgOutcome::new(org, OrgSummary::default(), Some(error))
        });
        summary.orgs.push(outcome);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A window being stored, and what it cost to fetch.
type Storing = tokio::task::JoinHandle<StoreOutcome>;

impl Run {
    /// "Now" as this organization starts (it may have waited for a slot): the API's clock, within
    /// this machine's.
    fn now(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let local = self.options.clock.now();
        (run_now(self.client.server_now(), local), local)
    }

    /// The windows to collect for `org`, and the stored windows that end after this machine's
    /// clock plus [`CLOCK_TOLERANCE`] (left out of the plan: they cannot be right).
    async fn plan_org(
        &self,
        org: &str,
    ) -> Result<(plan::Plan, Vec<callbudget_store::WindowRow>), CollectError> {
        let (now, local) = self.now();
        let latest_possible = local + CLOCK_TOLERANCE;
        let id = OrgId::new(org);
        let (future, stored): (Vec<_>, Vec<_>) = self
            .store
            .with(move |s| s.windows(&id))
            .await?
            .into_iter()
            .partition(|w| w.t1 > latest_possible);
        let stored: Vec<(DateTime<Utc>, DateTime<Utc>)> = stored
            .into_iter()
            .filter(|w| {
                w.endpoint == Endpoint::ApiRequests
                    && w.filter == CollectionFilter::None
                    && w.status == callbudget_store::WindowStatus::Complete
            })
            .map(|w| (w.t0, w.t1))
            .collect();
        // Resume by re-pulling every window that ended within LATE_RECORDS of the newest one:
        // records logged a little after their time land there.
        let newest_end = stored.iter().map(|w| w.1).max();
        let resume = newest_end.and_then(|end| {
            stored
                .iter()
                .filter(|w| w.1 > end - LATE_RECORDS)
                .map(|w| w.0)
                .min()
                .map(|t0| (t0, end))
        });
        let mut plan = plan::plan(&plan::PlanInput {
            since: self.options.since,
            until: self.until.min(latest_possible),
            now,
            last_complete: resume,
            window: self.options.window,
            first_run_span: TimeDelta::hours(24),
        });
        plan.windows = plan::respect_stored(plan.windows, &stored, plan::earliest_available(now));
        Ok((plan, future))
    }

    /// Removes the windows of `org` that end after this machine's clock — at once when the API's
    /// clock agrees with this machine's (so both say they are wrong), with `--repair` otherwise —
    /// or refuses to go on, since nothing newer than them would ever be collected.
    async fn repair_future_windows(
        &self,
        org: &str,
        future: &[callbudget_store::WindowRow],
    ) -> Result<(), CollectError> {
        let Some(latest) = future.iter().map(|w| w.t1).max() else {
            return Ok(());
        };
        let local = self.options.clock.now();
        let clocks_agree = self
            .client
            .server_now()
            .is_some_and(|s| (s - local).abs() <= CLOCK_TOLERANCE);
        if !(clocks_agree || self.options.repair) {
            return Err(CollectError::FutureWindows {
                count: future.len(),
                latest: callbudget_api::timestamp::format(&latest),
            });
        }
        let id = OrgId::new(org);
        let after = local + CLOCK_TOLERANCE;
        let removed = self
            .store
            .with(move |s| s.remove_windows_ending_after(&id, after))
            .await?;
        (self.events)(CollectEvent::Warning {
            org: Some(org.to_owned()),
            message: format!(
                "removed {removed} window(s) ending after this machine's clock (the latest at {}), left by an earlier run that believed a server clock in the future",
                callbudget_api::timestamp::format(&latest)
            ),
        });
        Ok(())
    }

    /// Refuses an API clock earlier than the end of the organization's stored windows (less
    /// [`CLOCK_TOLERANCE`]): a server whose `Date` went back to 1970 would otherwise plan nothing
    /// and report success.
    async fn refuse_clock_before_stored(&self, org: &str) -> Result<(), CollectError> {
        let Some(now) = self.client.server_now() else {
            return Ok(());
        };
        // Windows ending after this machine's clock are not believed either: they are repaired
        // (or refused) as windows in the future.
        let latest_possible = self.options.clock.now() + CLOCK_TOLERANCE;
        let id = OrgId::new(org);
        let latest = self
            .store
            .with(move |s| s.windows(&id))
            .await?
            .into_iter()
            .filter(|w| w.status == callbudget_store::WindowStatus::Complete)
            .map(|w| w.t1)
            .filter(|t1| *t1 <= latest_possible)
            .max();
        match latest {
            Some(latest) if now + CLOCK_TOLERANCE < latest => {
                Err(CollectError::ClockBeforeStoredData {
                    now: callbudget_api::timestamp::format(&now),
                    latest: callbudget_api::timestamp::format(&latest),
                })
            }
            _ => Ok(()),
        }
    }

    async fn collect_org(
        &self,
        org: &str,
        name: &str,
        summary: &mut OrgSummary,
    ) -> Result<(), CollectError> {
        let org_id = OrgId::new(org);
        self.refuse_clock_before_stored(org).await?;

        let admins_url = self.client.org_url(org, &Endpoint::Admins.path(org), &[]);
        let admins: Vec<Admin> = self
            .client
            .get(Some(org), &admins_url, &mut summary.tally)
            .await?
            .value;
        let collected_at = Utc::now();
        let id = org_id.clone();
        self.store
            .with(move |s| s.upsert_admins(&id, &admins, collected_at))
            .await?;

        let (_, future) = self.plan_org(org).await?;
        self.repair_future_windows(org, &future).await?;
        let (plan, _) = self.plan_org(org).await?;
        if let Some((from, to)) = plan.lost {
            (self.events)(CollectEvent::Warning {
                org: Some(org.to_owned()),
                message: format!(
                    "requests from {} to {} are older than the API's 31-day lookback: that gap is lost for good",
                    callbudget_api::timestamp::format(&from),
                    callbudget_api::timestamp::format(&to)
                ),
            });
        }
        (self.events)(CollectEvent::OrgStarted {
            org: org.to_owned(),
            name: name.to_owned(),
            windows: plan.windows.len(),
        });
        // Storing window N overlaps fetching window N+1; at most these two are in memory, and an
        // interruption loses at most them.
        let mut storing: Option<Storing> = None;
        for (t0, t1) in plan.windows {
            let started_at = Utc::now();
            let mut tally = CallTally::default();
            let fetched = self.fetch_window(org, (t0, t1), &mut tally).await;
            if let Some(task) = storing.take() {
                self.finish_storing(org, task, summary).await?;
            }
            match fetched {
                Ok(window) => storing = Some(self.store.spawn(move |s| window.store(s))),
                Err(e) => {
                    let meta = self.meta(
                        org,
                        Endpoint::ApiRequests,
                        CollectionFilter::None,
                        (t0, t1),
                        started_at,
                        &tally,
                    );
                    self.window_failed(org, meta, tally, &e, summary).await;
                    if !e.fails_only_its_window() {
                        return Err(e);
                    }
                }
            }
        }
        if let Some(task) = storing.take() {
            self.finish_storing(org, task, summary).await?;
        }
        Ok(())
    }

    /// Counts a stored window, or records one the store refused.
    async fn finish_storing(
        &self,
        org: &str,
        task: Storing,
        summary: &mut OrgSummary,
    ) -> Result<(), CollectError> {
        let outcome = task.await.map_err(CollectError::Writer)?;
        match outcome.result {
            Ok(records) => {
                summary.windows += 1;
                summary.records += records;
                summary.tally.add(&outcome.tally);
                (self.events)(CollectEvent::WindowStored {
                    org: org.to_owned(),
                    t0: outcome.failing.t0,
                    t1: outcome.failing.t1,
                    records,
                    tally: outcome.tally,
                });
                Ok(())
            }
            Err(e) => {
                let e = CollectError::Store(e);
                let mut meta = outcome.failing;
                meta.calls = outcome.tally.calls;
                meta.http_429s = outcome.tally.http_429s;
                self.window_failed(org, meta, outcome.tally, &e, summary)
                    .await;
                if e.fails_only_its_window() {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Records a failed window with the calls it cost (`tally`, also in `meta`; for coverage
    /// reports; its error names no secret), counts them, and says so. A window that fails alone is listed in the summary;
    /// one that ends the organization is the organization's error.
    async fn window_failed(
        &self,
        org: &str,
        meta: WindowMeta,
        tally: CallTally,
        error: &CollectError,
        summary: &mut OrgSummary,
    ) {
        let message = callbudget_api::text::error_chain(error);
        summary.tally.add(&tally);
        let (t0, t1) = (meta.t0, meta.t1);
        let recorded = message.clone();
        // Best effort: the store may be what failed.
        let _ = self
            .store
            .with(move |s| s.record_failed_window(&meta, &recorded))
            .await;
        if error.fails_only_its_window() {
            summary.failed_windows.push(FailedWindow {
                t0,
                t1,
                error: message.clone(),
            });
            (self.events)(CollectEvent::WindowFailed {
                org: org.to_owned(),
                t0,
                t1,
                error: message,
                tally,
            });
        }
    }

    fn meta(
        &self,
        org: &str,
        endpoint: Endpoint,
        filter: CollectionFilter,
        window: (DateTime<Utc>, DateTime<Utc>),
        started_at: DateTime<Utc>,
        tally: &CallTally,
    ) -> WindowMeta {
        WindowMeta {
            org_id: OrgId::new(org),
            endpoint,
            filter,
            t0: window.0,
            t1: window.1,
            started_at,
            finished_at: Utc::now(),
            calls: tally.calls,
            http_429s: tally.http_429s,
        }
    }

    /// Fetches one window: the overview (whose count bounds the pages), the request log (every
    /// page) and the byInterval series. `total` counts every call made, also when it fails.
    async fn fetch_window(
        &self,
        org: &str,
        (t0, t1): (DateTime<Utc>, DateTime<Utc>),
        total: &mut CallTally,
    ) -> Result<FetchedWindow, CollectError> {
        let span = [
            ("t0", callbudget_api::timestamp::format(&t0)),
            ("t1", callbudget_api::timestamp::format(&t1)),
        ];

        let started_at = Utc::now();
        let mut tally = CallTally::default();
        let url = self
            .client
            .org_url(org, &Endpoint::Overview.path(org), &span);
        let overview = self.client.get(Some(org), &url, &mut tally).await;
        total.add(&tally);
        let overview: RequestsOverview = overview?.value;
        let overview_meta = self.meta(
            org,
            Endpoint::Overview,
            CollectionFilter::None,
            (t0, t1),
            started_at,
            &tally,
        );
        let expected = plausible_count(org, &overview, (t0, t1))?;
        let bounds = bounds::WindowBounds {
            rate: self.options.org_budget_rate,
            per_page: PER_PAGE,
            window: (t0, t1),
        };
        let disagrees = |fault| CollectError::Disagrees {
            endpoint: Endpoint::ApiRequests.path(org),
            fault,
        };
        bounds.check_overview(&overview).map_err(disagrees)?;

        let started_at = Utc::now();
        let mut tally = CallTally::default();
        let mut query = span.to_vec();
        query.push(("perPage", PER_PAGE.to_string()));
        let url = self
            .client
            .org_url(org, &Endpoint::ApiRequests.path(org), &query);
        let events = Arc::clone(&self.events);
        let org_name = org.to_owned();
        let mut guard = bounds::PageGuard::new(self.options.window_memory);
        // Each page decoded compactly (its strings in one buffer), as the store reads it.
        let pages = self
            .client
            .get_pages(
                Some(org),
                &url,
                &mut tally,
                PageLimit::for_items(expected, PER_PAGE),
                move |page: &RequestPage| {
                    guard.check(page)?;
                    events(CollectEvent::Page {
                        org: org_name.clone(),
                        records: page.len(),
                    });
                    Ok(())
                },
            )
            .await;
        total.add(&tally);
        let mut pages: Vec<RequestPage> = pages?;
        bounds.check_pages(expected, &pages).map_err(disagrees)?;
        let before: usize = pages.iter().map(RequestPage::len).sum();
        for page in &mut pages {
            page.retain_ts(|ts| ts >= t0 && ts < t1);
        }
        let kept: usize = pages.iter().map(RequestPage::len).sum();
        if kept != before {
            (self.events)(CollectEvent::Warning {
                org: Some(org.to_owned()),
                message: format!(
                    "the API returned {} records outside the window asked for; they were left out",
                    before - kept
                ),
            });
        }
        // Who was seen is only bookkeeping for --by-consumer: a window of 1000 pages need not pay it.
        let consumers = self.options.by_consumer.then(|| Consumers::of(&pages));
        let requests = self.meta(
            org,
            Endpoint::ApiRequests,
            CollectionFilter::None,
            (t0, t1),
            started_at,
            &tally,
        );

        let mut filters = vec![CollectionFilter::None];
        filters.extend(consumers.into_iter().flat_map(Consumers::filters));
        let mut intervals = Vec::with_capacity(filters.len());
        for filter in filters {
            let mut tally = CallTally::default();
            let fetched = self
                .fetch_intervals(org, (t0, t1), filter, &mut tally)
                .await;
            total.add(&tally);
            intervals.push(fetched?);
        }
        Ok(FetchedWindow {
            requests: (requests, pages),
            overview: (overview_meta, overview),
            intervals,
            tally: *total,
        })
    }

    async fn fetch_intervals(
        &self,
        org: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        filter: CollectionFilter,
        tally: &mut CallTally,
    ) -> Result<(WindowMeta, Vec<ResponseCodeInterval>), CollectError> {
        let started_at = Utc::now();
        let mut query = vec![
            ("t0", callbudget_api::timestamp::format(&window.0)),
            ("t1", callbudget_api::timestamp::format(&window.1)),
            ("interval", finest_interval(window.1 - window.0).to_string()),
        ];
        match &filter {
            CollectionFilter::None => {}
            CollectionFilter::Admin(v) => query.push(("adminIds[]", v.clone())),
            CollectionFilter::SourceIp(v) => query.push(("sourceIps[]", v.clone())),
            CollectionFilter::UserAgent(v) => query.push(("userAgent", v.clone())),
            CollectionFilter::Operation(v) => query.push(("operationIds[]", v.clone())),
        }
        let url = self
            .client
            .org_url(org, &Endpoint::ResponseCodesByInterval.path(org), &query);
        let intervals: Vec<ResponseCodeInterval> =
            self.client.get(Some(org), &url, tally).await?.value;
        let meta = self.meta(
            org,
            Endpoint::ResponseCodesByInterval,
            filter,
            window,
            started_at,
            tally,
        );
        Ok((meta, intervals))
    }
}

/// Everything fetched for one window, ready to store.
struct FetchedWindow {
    requests: (WindowMeta, Vec<RequestPage>),
    overview: (WindowMeta, RequestsOverview),
    intervals: Vec<(WindowMeta, Vec<ResponseCodeInterval>)>,
    /// Every call the window took, and the time spent waiting.
    tally: CallTally,
}

/// What storing a window came to: the records stored, or why the store refused it — with the
/// window of the endpoint it refused (the request log's when all went well) and the calls the
/// window cost either way.
struct StoreOutcome {
    failing: WindowMeta,
    tally: CallTally,
    result: Result<u64, StoreError>,
}

impl FetchedWindow {
    /// Stores the request log first: each endpoint's window in its own transaction, so the
    /// request-log checkpoint that resumption reads is never ahead of what it promises.
    fn store(self, store: &mut Store) -> StoreOutcome {
        let (meta, pages) = &self.requests;
        let outcome = |failing: &WindowMeta, result| StoreOutcome {
            failing: failing.clone(),
            tally: self.tally,
            result,
        };
        if let Err(e) = store.store_request_pages(meta, pages) {
            return outcome(meta, Err(e));
        }
        if let Err(e) = store.store_overview_window(&self.overview.0, &self.overview.1) {
            return outcome(&self.overview.0, Err(e));
        }
        for (interval_meta, intervals) in &self.intervals {
            if let Err(e) = store.store_interval_window(interval_meta, intervals) {
                return outcome(interval_meta, Err(e));
            }
        }
        let records = pages.iter().map(RequestPage::len).sum::<usize>() as u64;
        outcome(meta, Ok(records))
    }
}

/// The admins, source IPs and user agents seen in a window, for `--by-consumer`.
struct Consumers {
    admins: BTreeSet<String>,
    source_ips: BTreeSet<String>,
    user_agents: BTreeSet<String>,
}

impl Consumers {
    fn of(pages: &[RequestPage]) -> Consumers {
        let mut consumers = Consumers {
            admins: BTreeSet::new(),
            source_ips: BTreeSet::new(),
            user_agents: BTreeSet::new(),
        };
        let add = |set: &mut BTreeSet<String>, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty())
                && !set.contains(v)
            {
                set.insert(v.to_owned());
            }
        };
        for record in pages.iter().flat_map(RequestPage::records) {
            add(&mut consumers.admins, record.admin_id);
            add(&mut consumers.source_ips, record.source_ip);
            add(&mut consumers.user_agents, record.user_agent);
        }
        consumers
    }

    fn filters(self) -> impl Iterator<Item = CollectionFilter> {
        self.admins
            .into_iter()
            .map(CollectionFilter::Admin)
            .chain(self.source_ips.into_iter().map(CollectionFilter::SourceIp))
            .chain(
                self.user_agents
                    .into_iter()
                    .map(CollectionFilter::UserAgent),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview(counts: &[(&str, u64)]) -> RequestsOverview {
        RequestsOverview {
            response_code_counts: counts.iter().map(|&(c, n)| (c.to_owned(), n)).collect(),
        }
    }

    #[test]
    fn each_failed_organization_is_named_once_in_its_line() {
        let outcome = |org: &str, error: Option<&str>| {
            OrgOutcome::new(
                OrgId::new(org),
                OrgSummary::default(),
                error.map(str::to_owned),
            )
        };
        let summary = CollectSummary {
            orgs: vec![
                outcome(
                    "7",
                    Some("organization 7 is not among the key's organizations"),
                ),
                outcome("8", None),
                outcome("9", Some("the API key was refused (401)")),
                outcome("1", Some("organization 10 is another one")),
            ],
            elapsed: Duration::ZERO,
        };
        assert_eq!(
            summary.failure_lines(),
            [
                "organization 7 is not among the key's organizations",
                "organization 9: the API key was refused (401)",
                "organization 1: organization 10 is another one",
            ]
        );
    }

    #[test]
    fn an_overview_counting_more_than_a_window_could_hold_is_not_believed() {
        let hour = (
            callbudget_api::timestamp::parse("2026-11-19T09:00:00Z").unwrap(),
            callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap(),
        );
        let at_most = overview(&[("200", 35_000_000), ("429", 1_000_000)]);
        assert_eq!(
            plausible_count("549236", &at_most, hour).ok(),
            Some(36_000_000)
        );
        let e = plausible_count("549236", &overview(&[("200", 36_000_001)]), hour).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/organizations/549236/apiRequests/overview: its counts add up to 36000001 requests, more than the 36000000 a window of 3600 s could hold at 10000 a second; not believed"
        );
        assert!(e.fails_only_its_window());
        let e = plausible_count(
            "549236",
            &overview(&[("200", u64::MAX), ("429", u64::MAX)]),
            hour,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/organizations/549236/apiRequests/overview: its counts add up to more than 18446744073709551615 requests, more than the 36000000 a window of 3600 s could hold at 10000 a second; not believed"
        );
    }
}
