//! A Meraki-compatible simulator: builds organizations' request logs from scenario files by running
//! every consumer's traffic through the call budget ([`engine`]), keeps them compactly ([`log`]),
//! and serves them over HTTP with the Dashboard API's shapes, rules and limits ([`server`]), with
//! optional [`faults`]. Its ground truth ([`truth`]) lets tests check what callbudget collected.
//!
//! Embedding: [`SimulatorHandle::start`] runs it on its own thread and runtime, bound to an address
//! such as `127.0.0.1:0`, and hands back the address; dropping the handle stops it.

pub mod engine;
pub mod faults;
pub mod log;
pub mod scenario;
pub mod server;
pub mod truth;

use callbudget_api::RequestRecord;
use chrono::{DateTime, Utc};
use faults::HostileMode;
pub use faults::{FaultPlan, FaultSetting, HostileSetting, RetryAfterStyle};
use log::RequestLog;
pub use scenario::Scenario;
use server::SimState;
pub use server::{ClockHand, ClockMode, HostPort, LinkStyle, PageOrder};
use std::net::SocketAddr;
use std::sync::Arc;
use truth::GroundTruth;

/// Why the simulator could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error("no scenario given: the simulator needs at least one organization")]
    NoScenario,
    #[error("two scenarios describe organization {0}: organization ids must be unique")]
    DuplicateOrganization(String),
    #[error(
        "the simulator needs an API key to accept: set {}",
        callbudget_api::API_KEY_ENV
    )]
    MissingApiKey,
    #[error(
        "the hostile mode foreign-org-link links to another organization: give a second scenario"
    )]
    ForeignOrgLinkNeedsTwoOrganizations,
    #[error("--link-host writes absolute Links: drop --link-style or make it absolute")]
    LinkHostNeedsAbsoluteLinks,
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the simulator's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("the simulator stopped")]
    Serve(#[source] std::io::Error),
}

impl SimError {
    /// Whether the error is in how the command line combines the simulator's flags (a usage
    /// error, found before anything is built): --link-host with a --link-style that writes no host.
    pub fn is_usage(&self) -> bool {
        matches!(self, SimError::LinkHostNeedsAbsoluteLinks)
    }
}

/// What to simulate and how to serve it.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub scenarios: Vec<Scenario>,
    /// Where the scenarios' timelines end; the clock runs on from here.
    pub now: DateTime<Utc>,
    /// The API key the simulator accepts.
    pub api_key: String,
    /// Live 429s when callers exceed the org or source-IP budget (off for benchmarks).
    pub enforce_rate_limits: bool,
    /// How the simulated time moves on from `now`: running (the default), frozen (every call lands
    /// at the same instant, buckets never refill) or moved by hand.
    pub clock: ClockMode,
    pub faults: FaultPlan,
    /// How Link URLs are written (absolute on the called host by default, as the real API does).
    pub link_style: LinkStyle,
    /// The host absolute Links name instead of the one called (`--link-host`).
    pub link_host: Option<HostPort>,
    /// Play a shard: a call on any other host is answered `308` to this one (`--redirect-to`).
    pub redirect_to: Option<HostPort>,
    /// The order of the request log's pages (oldest first by default).
    pub page_order: PageOrder,
}

impl SimConfig {
    pub fn new(scenarios: Vec<Scenario>, now: DateTime<Utc>, api_key: impl Into<String>) -> Self {
        SimConfig {
            scenarios,
            now,
            api_key: api_key.into(),
            enforce_rate_limits: true,
            clock: ClockMode::Running,
            faults: FaultPlan::default(),
            link_style: LinkStyle::Absolute,
            link_host: None,
            redirect_to: None,
            page_order: PageOrder::OldestFirst,
        }
    }
}

/// A built simulator: the generated log and everything needed to serve it.
pub struct Simulator {
    state: Arc<SimState>,
    now: DateTime<Utc>,
}

impl Simulator {
    /// Generates the scenarios' request log (the slow part: seconds for a busy week).
    pub fn build(config: SimConfig) -> Result<Simulator, SimError> {
        if config.scenarios.is_empty() {
            return Err(SimError::NoScenario);
        }
        for (i, s) in config.scenarios.iter().enumerate() {
            if config.scenarios[..i].iter().any(|o| o.org_id == s.org_id) {
                return Err(SimError::DuplicateOrganization(s.org_id.clone()));
            }
        }
        if config.api_key.is_empty() {
            return Err(SimError::MissingApiKey);
        }
        if config
            .faults
            .hostile
            .contains_key(&HostileMode::ForeignOrgLink)
            && config.scenarios.len() < 2
        {
            return Err(SimError::ForeignOrgLinkNeedsTwoOrganizations);
        }
        if config.link_host.is_some() && config.link_style != LinkStyle::Absolute {
            return Err(SimError::LinkHostNeedsAbsoluteLinks);
        }
        let log = RequestLog::generate(&config.scenarios, config.now);
        let now = config.now;
        Ok(Simulator {
            state: Arc::new(SimState::new(config, log)),
            now,
        })
    }

    /// Where the scenarios' timelines end.
    pub fn timeline_end(&self) -> DateTime<Utc> {
        self.now
    }

    /// An organization's log as API records, including the calls served so far.
    pub fn records(&self, org_id: &str) -> Vec<RequestRecord> {
        let log = self.state.read_log();
        let Some(org) = log.org_index(org_id) else {
            return Vec::new();
        };
        log.orgs[org]
            .entries
            .iter()
            .map(|e| log.record(e).to_owned_record())
            .collect()
    }

    /// Every call received so far, redirected and refused ones included.
    pub fn calls_received(&self) -> u64 {
        self.state.calls_received()
    }

    /// The calls received so far that carried a key (any key): zero means no key ever reached
    /// this simulator's host.
    pub fn calls_with_key(&self) -> u64 {
        self.state.calls_with_key()
    }

    /// Writes the whole log as JSONL; returns the number of records.
    pub fn write_log_jsonl(&self, out: &mut impl std::io::Write) -> std::io::Result<u64> {
        truth::write_log_jsonl(&self.state.read_log(), out)
    }

    /// The planted anomalies and what the traffic produced.
    pub fn ground_truth(&self) -> GroundTruth {
        GroundTruth::compute(&self.state.read_log(), &self.state.scenarios, self.now)
    }

    /// Serves on an already bound listener until `shutdown` resolves.
    /// Serves on `addr` until Ctrl-C, on a runtime of its own; `on_listening` hears the address
    /// bound (port 0 picks a free one).
    pub fn serve_until_interrupted(
        &self,
        addr: SocketAddr,
        on_listening: impl FnOnce(SocketAddr),
    ) -> Result<(), SimError> {
        let runtime = tokio::runtime::Runtime::new().map_err(SimError::Runtime)?;
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| SimError::Bind { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| SimError::Bind { addr, source })?;
            on_listening(bound);
            self.serve(listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(SimError::Serve)
        })
    }

    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&self.state));
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// A simulator running on its own thread; stops when dropped.
pub struct SimulatorHandle {
    addr: SocketAddr,
    simulator: Arc<Simulator>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimulatorHandle {
    /// Binds `addr` (use port 0 for any free port) and serves until the handle is dropped.
    pub fn start(simulator: Simulator, addr: SocketAddr) -> Result<SimulatorHandle, SimError> {
        // Bound with std so that starting works from inside another async runtime (tests).
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| SimError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .and_then(|a| listener.set_nonblocking(true).map(|()| a))
            .map_err(|source| SimError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        let simulator = Arc::new(simulator);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = Arc::clone(&simulator);
        let thread = std::thread::Builder::new()
            .name("callbudget-sim".to_owned())
            .spawn(move || {
                let result = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serving
                        .serve(listener, async {
                            let _ = stopped.await;
                        })
                        .await
                });
                if let Err(e) = result {
                    eprintln!("simulator stopped: {e}");
                }
            })
            .map_err(SimError::Runtime)?;
        Ok(SimulatorHandle {
            addr: bound,
            simulator,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client uses: `http://127.0.0.1:PORT/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
