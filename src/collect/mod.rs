//! What to fetch and where it goes: for each organization, its name and admins, then for each
//! planned window the per-request log (every page), the overview and the response codes by
//! interval — optionally per admin, source IP and user agent — each window stored in one
//! transaction once complete. An interrupted run loses only the window in flight; the next run
//! resumes from the last complete window, re-pulling it to catch late records.
//!
//! Organizations are collected concurrently; the client's pacers keep the whole run within its
//! share of each org's budget and of the source IP's.

pub mod plan;
pub mod progress;

use crate::api::{Admin, Organization, RequestPage, RequestsOverview, ResponseCodeInterval};
use crate::dashboard::client::{CallTally, ClientError, DashboardClient};
use crate::store::{CollectionFilter, Endpoint, OrgId, Store, StoreError, WindowMeta};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which organizations to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSelection {
    Ids(Vec<OrgId>),
    All,
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
        }
    }
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
    #[error("the database writer stopped")]
    Writer(#[source] tokio::task::JoinError),
    #[error("cannot list organizations at {base_url}")]
    ListOrganizations {
        base_url: String,
        source: ClientError,
    },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("--until {until} is in the future (the API's clock says {now})")]
    FutureUntil { until: String, now: String },
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

/// One organization's run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgSummary {
    pub windows: u64,
    pub records: u64,
    pub tally: CallTally,
}

/// The whole run.
#[derive(Debug, Default)]
pub struct CollectSummary {
    pub orgs: Vec<(OrgId, Result<OrgSummary, String>)>,
    pub elapsed: Duration,
}

impl CollectSummary {
    pub fn total(&self) -> OrgSummary {
        let mut total = OrgSummary::default();
        for s in self.orgs.iter().filter_map(|(_, r)| r.as_ref().ok()) {
            total.windows += s.windows;
            total.records += s.records;
            total.tally.add(&s.tally);
        }
        total
    }

    pub fn failed(&self) -> impl Iterator<Item = (&OrgId, &str)> {
        self.orgs
            .iter()
            .filter_map(|(o, r)| r.as_ref().err().map(|e| (o, e.as_str())))
    }

    /// The organizations collected without failing.
    pub fn collected(&self) -> Vec<OrgId> {
        self.orgs
            .iter()
            .filter(|(_, result)| result.is_ok())
            .map(|(org, _)| org.clone())
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
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<T, StoreError>> {
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
    let url = client.url("/organizations", &[]);
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
    // "Now" is the API's clock (its Date header), so a lookback or a default range is the
    // server's, not this machine's.
    let now = client.server_now().unwrap_or_else(Utc::now);
    let until = options.until.unwrap_or(now);
    if until > now + TimeDelta::minutes(2) {
        return Err(CollectError::FutureUntil {
            until: crate::timestamp::format(&until),
            now: crate::timestamp::format(&now),
        });
    }
    let run = Arc::new(Run {
        client,
        store,
        options,
        until,
        events: Arc::new(events),
    });

    let collected_at = Utc::now();
    let listed = orgs.clone();
    run.store
        .with(move |s| s.upsert_organizations(&listed, collected_at))
        .await?;

    let targets: Vec<(OrgId, Result<String, CollectError>)> = match &run.options.orgs {
        OrgSelection::All => orgs
            .iter()
            .map(|o| (OrgId::new(&o.id), Ok(o.name.clone())))
            .collect(),
        OrgSelection::Ids(ids) => ids
            .iter()
            .map(|id| match orgs.iter().find(|o| id == o.id.as_str()) {
                Some(o) => (id.clone(), Ok(o.name.clone())),
                None => (
                    id.clone(),
                    Err(CollectError::UnknownOrganization(id.to_string())),
                ),
            })
            .collect(),
    };

    let semaphore = Arc::new(tokio::sync::Semaphore::new(
        run.options.concurrent_orgs.max(1),
    ));
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|(org, name)| {
            let run = Arc::clone(&run);
            let semaphore = Arc::clone(&semaphore);
            tokio::spawn(async move {
                let result = match name {
                    Err(e) => Err(e),
                    Ok(name) => {
                        let _permit = semaphore.acquire().await;
                        run.collect_org(org.as_str(), &name).await
                    }
                };
                let result = result.map_err(|e| crate::text::error_chain(&e));
                match &result {
                    Ok(summary) => (run.events)(CollectEvent::OrgFinished {
                        org: org.to_string(),
                        summary: summary.clone(),
                    }),
                    Err(error) => (run.events)(CollectEvent::OrgFailed {
                        org: org.to_string(),
                        error: error.clone(),
                    }),
                }
                (org, result)
            })
        })
        .collect();
    let mut summary = CollectSummary::default();
    for task in tasks {
        summary.orgs.push(task.await.map_err(CollectError::Writer)?);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

impl Run {
    async fn collect_org(&self, org: &str, name: &str) -> Result<OrgSummary, CollectError> {
        let mut summary = OrgSummary::default();
        let org_id = OrgId::new(org);

        let admins_url = self
            .client
            .url(&format!("/organizations/{org}/admins"), &[]);
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

        let id = org_id.clone();
        let stored: Vec<(DateTime<Utc>, DateTime<Utc>)> = self
            .store
            .with(move |s| s.windows(&id))
            .await?
            .into_iter()
            .filter(|w| {
                w.endpoint == Endpoint::ApiRequests
                    && w.filter == CollectionFilter::None
                    && w.status == crate::store::WindowStatus::Complete
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
        // Measured when this org starts: it may have waited for a slot.
        let now = self.client.server_now().unwrap_or_else(Utc::now);
        let mut plan = plan::plan(&plan::PlanInput {
            since: self.options.since,
            until: self.until,
            now,
            last_complete: resume,
            window: self.options.window,
            first_run_span: TimeDelta::hours(24),
        });
        plan.windows = plan::respect_stored(plan.windows, &stored, plan::earliest_available(now));
        if let Some((from, to)) = plan.lost {
            (self.events)(CollectEvent::Warning {
                org: Some(org.to_owned()),
                message: format!(
                    "requests from {} to {} are older than the API's 31-day lookback: that gap is lost for good",
                    crate::timestamp::format(&from),
                    crate::timestamp::format(&to)
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
        let mut storing: Option<tokio::task::JoinHandle<Result<StoredWindow, StoreError>>> = None;
        for (t0, t1) in plan.windows {
            let started_at = Utc::now();
            let fetched = self.fetch_window(org, t0, t1).await;
            if let Some(task) = storing.take() {
                self.stored(org, finish(task).await?, &mut summary);
            }
            let fetched = match fetched {
                Ok(f) => f,
                Err(e) => {
                    // The attempt is recorded (for coverage reports); its error names no secret.
                    let meta = self.meta(
                        org,
                        Endpoint::ApiRequests,
                        CollectionFilter::None,
                        (t0, t1),
                        started_at,
                        &CallTally::default(),
                    );
                    let message = crate::text::error_chain(&e);
                    let _ = self
                        .store
                        .with(move |s| s.record_failed_window(&meta, &message))
                        .await;
                    return Err(e);
                }
            };
            storing = Some(self.store.spawn(move |s| fetched.store(s)));
        }
        if let Some(task) = storing.take() {
            self.stored(org, finish(task).await?, &mut summary);
        }
        Ok(summary)
    }

    fn stored(&self, org: &str, window: StoredWindow, summary: &mut OrgSummary) {
        summary.windows += 1;
        summary.records += window.records;
        summary.tally.add(&window.tally);
        (self.events)(CollectEvent::WindowStored {
            org: org.to_owned(),
            t0: window.t0,
            t1: window.t1,
            records: window.records,
            tally: window.tally,
        });
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

    /// Fetches one window: the request log (every page), the overview and the byInterval series.
    async fn fetch_window(
        &self,
        org: &str,
        t0: DateTime<Utc>,
        t1: DateTime<Utc>,
    ) -> Result<FetchedWindow, CollectError> {
        let span = [
            ("t0", crate::timestamp::format(&t0)),
            ("t1", crate::timestamp::format(&t1)),
        ];

        let started_at = Utc::now();
        let mut tally = CallTally::default();
        let mut query = span.to_vec();
        query.push(("perPage", "1000".to_owned()));
        let url = self
            .client
            .url(&format!("/organizations/{org}/apiRequests"), &query);
        let events = Arc::clone(&self.events);
        let org_name = org.to_owned();
        // Each page decoded compactly (its strings in one buffer), as the store reads it.
        let mut pages: Vec<RequestPage> = self
            .client
            .get_pages(Some(org), &url, &mut tally, move |page: &RequestPage| {
                events(CollectEvent::Page {
                    org: org_name.clone(),
                    records: page.len(),
                })
            })
            .await?;
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
        let mut total = tally;

        let started_at = Utc::now();
        let mut tally = CallTally::default();
        let url = self
            .client
            .url(&format!("/organizations/{org}/apiRequests/overview"), &span);
        let overview: RequestsOverview = self.client.get(Some(org), &url, &mut tally).await?.value;
        let overview_meta = self.meta(
            org,
            Endpoint::Overview,
            CollectionFilter::None,
            (t0, t1),
            started_at,
            &tally,
        );
        total.add(&tally);

        let mut filters = vec![CollectionFilter::None];
        filters.extend(consumers.into_iter().flat_map(Consumers::filters));
        let mut intervals = Vec::with_capacity(filters.len());
        for filter in filters {
            let (meta, series, tally) = self.fetch_intervals(org, (t0, t1), filter).await?;
            total.add(&tally);
            intervals.push((meta, series));
        }
        Ok(FetchedWindow {
            requests: (requests, pages),
            overview: (overview_meta, overview),
            intervals,
            tally: total,
        })
    }

    async fn fetch_intervals(
        &self,
        org: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        filter: CollectionFilter,
    ) -> Result<(WindowMeta, Vec<ResponseCodeInterval>, CallTally), CollectError> {
        let started_at = Utc::now();
        let mut tally = CallTally::default();
        let mut query = vec![
            ("t0", crate::timestamp::format(&window.0)),
            ("t1", crate::timestamp::format(&window.1)),
            ("interval", finest_interval(window.1 - window.0).to_string()),
        ];
        match &filter {
            CollectionFilter::None => {}
            CollectionFilter::Admin(v) => query.push(("adminIds[]", v.clone())),
            CollectionFilter::SourceIp(v) => query.push(("sourceIps[]", v.clone())),
            CollectionFilter::UserAgent(v) => query.push(("userAgent", v.clone())),
            CollectionFilter::Operation(v) => query.push(("operationIds[]", v.clone())),
        }
        let url = self.client.url(
            &format!("/organizations/{org}/apiRequests/overview/responseCodes/byInterval"),
            &query,
        );
        let intervals: Vec<ResponseCodeInterval> =
            self.client.get(Some(org), &url, &mut tally).await?.value;
        let meta = self.meta(
            org,
            Endpoint::ResponseCodesByInterval,
            filter,
            window,
            started_at,
            &tally,
        );
        Ok((meta, intervals, tally))
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

/// What storing a window amounted to.
struct StoredWindow {
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    records: u64,
    tally: CallTally,
}

impl FetchedWindow {
    /// Stores the request log first: each endpoint's window in its own transaction, so the
    /// request-log checkpoint that resumption reads is never ahead of what it promises.
    fn store(self, store: &mut Store) -> Result<StoredWindow, StoreError> {
        let (meta, pages) = &self.requests;
        store.store_request_pages(meta, pages)?;
        store.store_overview_window(&self.overview.0, &self.overview.1)?;
        for (meta, intervals) in &self.intervals {
            store.store_interval_window(meta, intervals)?;
        }
        Ok(StoredWindow {
            t0: meta.t0,
            t1: meta.t1,
            records: pages.iter().map(RequestPage::len).sum::<usize>() as u64,
            tally: self.tally,
        })
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
