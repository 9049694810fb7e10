//! The Dashboard API client: authentication within the key policy ([`super::hosts`]), redirects
//! followed by hand, pacing at a share of the budget, retries that honour `Retry-After` in every
//! form within a wait budget, and `Link`-header pagination ([`super::links`]) that is bounded.
//!
//! What is retried, and how:
//! - 429: wait `Retry-After` (seconds, HTTP date or `Ns`), else `X-RateLimit-Reset`, else backoff;
//!   the organization's pacer slows down and holds *every* call until then.
//! - 5xx, timeouts, connection errors, bodies cut short, bodies that are not JSON: exponential
//!   backoff with full jitter (a 503's `Retry-After` when it gives one), at most `max_retries`
//!   times; 5xx are reported with their `X-Request-Id`.
//! - What a retry cannot change is not retried: other 4xx (401/403/404/400 become typed errors at
//!   once), JSON that does not have the API's shape, headers too large to read.
//! - Every wait for a 429, a 503 or a retry is charged to the run's wait budget; a wait it cannot
//!   pay fails the call at once instead of sleeping first.
//! - An answer that says the organization's budget is spent (`x-ratelimit-org-remaining: 0`,
//!   Cisco XDR; or `X-RateLimit-Remaining: 0`) holds the organization's calls as a 429 without
//!   `Retry-After` would, before the call that would be refused; the last quota seen is kept
//!   ([`DashboardClient::org_quota`]).
//!
//! The key travels only in the `Authorization` header, only to hosts the key policy allows (a
//! request anywhere else is never sent), never in a `Referer`, and appears in no error or event.
//! Redirects (301/302/303/307/308) are followed here, not by reqwest, so each hop is checked; after
//! a redirect to another host (a shard), the organization's later calls go there directly.

use super::hosts::{KeyPolicy, TrustedHost, host_of, parse_base_url};
use super::key::ApiKey;
use super::links::{LinkError, cursors, endpoint_of, next_link, resolve};
use super::pacing::Pacer;
use super::retry::{
    Backoff, RateLimitQuota, parse_quota, parse_rate_limit_reset, parse_retry_after,
};
use rand::SeedableRng;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The User-Agent callbudget sends, in the form Meraki asks applications to use
/// (`ApplicationName/Version VendorName`), so audits can tell — and subtract — its own calls.
pub fn user_agent() -> String {
    format!("Callbudget/{} Callbudget", callbudget_api::TOOL_VERSION)
}

/// Why a call failed for good.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the API key was refused (401 Unauthorized) by {url}: check {}",
        super::API_KEY_ENV
    )]
    Unauthorized { url: String },
    #[error(
        "{host} refused the API key (401 Unauthorized); it is not the --base-url's host but was reached by {how}, so the key may well be right for the base URL"
    )]
    KeyRefusedElsewhere { host: String, how: String },
    #[error(
        "access denied (403 Forbidden) to {what}: the API key's admin needs at least read-only access to the organization and the API enabled for it"
    )]
    Forbidden { what: String },
    #[error("{what} not found (404): {message}")]
    NotFound { what: String, message: String },
    #[error("the API refused the request to {url} (HTTP {status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("{url}: gave up after {http_429s} x 429 Too Many Requests for this one call")]
    ThrottledTooOften { url: String, http_429s: u32 },
    #[error(
        "refused to send the API key to {host}, reached by {how}: it is neither the --base-url's host nor one of Meraki's over https (if it is yours, add --trust-host {host}); nothing from it is stored"
    )]
    UntrustedHost { host: String, how: String },
    #[error("{url}: more than {hops} redirects in a row")]
    TooManyRedirects { url: String, hops: u32 },
    #[error("{url}: a redirect (HTTP {status}) without a usable Location")]
    BadRedirect { url: String, status: u16 },
    #[error(
        "refused a pagination link to {link}: it leads away from {endpoint}, the endpoint being paged, and what it holds is not this window's"
    )]
    LinkElsewhere { link: String, endpoint: String },
    #[error("{endpoint}: cannot follow a pagination link")]
    BadLink {
        endpoint: String,
        #[source]
        source: LinkError,
    },
    #[error("{endpoint}: page {page} links to a page already fetched, so the pages would loop")]
    PageLoop { endpoint: String, page: usize },
    #[error("{endpoint}: page {page} is empty yet links to a next page")]
    EmptyPageWithNext { endpoint: String, page: usize },
    #[error(
        "{endpoint}: still linking on after {pages} pages, more than {expected} record(s) need"
    )]
    TooManyPages {
        endpoint: String,
        pages: usize,
        expected: u64,
    },
    #[error("{endpoint}: page {page} refused: {fault}")]
    PageRefused {
        endpoint: String,
        page: usize,
        fault: crate::bounds::PageFault,
    },
    #[error("{url}: the answer is JSON but not in the API's shape ({message}); not retried")]
    Schema { url: String, message: String },
    #[error("{url}: the answer's headers are larger than an HTTP client accepts; not retried")]
    OversizedHeaders { url: String },
    #[error(
        "{url}: the answer's body is larger than {} MiB, more than any page of the API; not read further, not retried",
        MAX_BODY_BYTES >> 20
    )]
    OversizedBody { url: String },
    #[error(
        "{what}: waiting {asked} s more ({why}) would exceed this run's wait budget: {spent} s of {limit} s spent (--max-wait)"
    )]
    WaitBudgetSpent {
        what: String,
        why: &'static str,
        asked: u64,
        spent: u64,
        limit: u64,
    },
    #[error(transparent)]
    BaseUrl(#[from] super::hosts::BaseUrlError),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error("cannot read the CA certificate {path}: {reason}")]
    CaCertificate { path: PathBuf, reason: String },
}

impl ClientError {
    /// Whether the error concerns only what one piece of work (a collection window) was answered
    /// — a malformed record or page, a link that leads astray, a request the API refused — so the
    /// next piece is still worth trying. Everything else (the key, access, an untrusted host, a
    /// server that stays down, the wait budget) would fail every later call alike.
    pub fn fails_only_its_window(&self) -> bool {
        matches!(
            self,
            ClientError::Refused { .. }
                | ClientError::LinkElsewhere { .. }
                | ClientError::BadLink { .. }
                | ClientError::PageLoop { .. }
                | ClientError::EmptyPageWithNext { .. }
                | ClientError::TooManyPages { .. }
                | ClientError::PageRefused { .. }
                | ClientError::Schema { .. }
                | ClientError::OversizedHeaders { .. }
                | ClientError::OversizedBody { .. }
        )
    }
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// E.g. `https://api.meraki.com/api/v1`, or the simulator's `http://127.0.0.1:PORT/api/v1`.
    pub base_url: String,
    pub api_key: ApiKey,
    /// Hosts besides the base URL's and Meraki's that may receive the key (`--trust-host`).
    pub trusted_hosts: Vec<TrustedHost>,
    /// Extra trusted root certificate (PEM), for corporate TLS interception.
    pub ca_cert: Option<PathBuf>,
    /// Requests per second per organization the client may spend.
    pub org_rate: f64,
    /// Requests per second from this host, across organizations.
    pub source_ip_rate: f64,
    /// Retries for 5xx, timeouts, connection errors and bad bodies.
    pub max_retries: u32,
    /// The 429s for one call at which it is given up (the last one included).
    pub max_throttled: u32,
    pub backoff: Backoff,
    pub timeout: Duration,
}

impl ClientConfig {
    /// Meraki's budget at `share`: `share × 10` requests/s per org, `share × 100` per source IP.
    pub fn new(base_url: impl Into<String>, api_key: ApiKey, share: f64) -> Self {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            trusted_hosts: Vec::new(),
            ca_cert: None,
            org_rate: 10.0 * share,
            source_ip_rate: 100.0 * share,
            max_retries: 6,
            max_throttled: 30,
            backoff: Backoff::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Something worth telling the person running the collector.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A 429: waiting this long before the next call to the org.
    Throttled { url: String, wait: Duration },
    /// A failure that will be retried.
    Retrying {
        url: String,
        attempt: u32,
        reason: String,
        request_id: Option<String>,
        wait: Duration,
    },
    /// A redirect followed, from one host to another (or the same).
    Redirected {
        status: u16,
        from: String,
        to: String,
    },
}

/// Calls, 429s and waiting for one piece of work (a collection window).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallTally {
    pub calls: u64,
    pub http_429s: u64,
    /// Time spent waiting for the pacer or for Retry-After.
    pub waited: Duration,
}

impl CallTally {
    pub fn add(&mut self, other: &CallTally) {
        self.calls += other.calls;
        self.http_429s += other.http_429s;
        self.waited += other.waited;
    }
}

/// How many pages a paged call may take before the server is deemed to link on forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    pub max_pages: usize,
    /// The items the pages are expected to hold, for the message when they run over.
    pub expected_items: u64,
}

impl PageLimit {
    /// For lists without a count to go by (organizations: up to 9000 a page; admins).
    pub const LIST: PageLimit = PageLimit {
        max_pages: 10_000,
        expected_items: u64::MAX,
    };

    /// The pages `items` records need at `per_page` a page, plus 10 % and 2 pages for records
    /// logged while paging (the collector's own calls among them).
    pub fn for_items(items: u64, per_page: u64) -> PageLimit {
        let pages = items.div_ceil(per_page.max(1));
        PageLimit {
            max_pages: usize::try_from(pages.saturating_add(pages / 10).saturating_add(2))
                .unwrap_or(usize::MAX),
            expected_items: items,
        }
    }
}

/// A page's number of items, so that an empty page with a next link is caught.
pub trait PageItems {
    fn item_count(&self) -> usize;
}

impl<T> PageItems for Vec<T> {
    fn item_count(&self) -> usize {
        self.len()
    }
}

impl PageItems for callbudget_api::RequestPage {
    fn item_count(&self) -> usize {
        self.len()
    }
}

type EventSink = Arc<dyn Fn(ClientEvent) + Send + Sync>;

/// What the run may still wait for 429s, 503s and retries.
#[derive(Debug, Clone, Copy)]
struct WaitBudget {
    limit: Duration,
    spent: Duration,
}

/// The wait budget before a run sizes it: enough to list the organizations through a few 429s.
pub const INITIAL_WAIT_BUDGET: Duration = Duration::from_secs(5 * 60);

/// A Dashboard API client shared by every organization's collection.
pub struct DashboardClient {
    http: reqwest::Client,
    base: Url,
    policy: KeyPolicy,
    authorization: HeaderValue,
    /// The API's clock, from the `Date` header of the last answer, and when that was read.
    server_clock: Mutex<Option<(chrono::DateTime<chrono::Utc>, Instant)>>,
    config: ClientConfig,
    source_ip_pacer: Pacer,
    org_pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    /// The last quota each organization's answers reported.
    org_quotas: Mutex<HashMap<String, RateLimitQuota>>,
    /// Each organization's base URL once a redirect moved it to a shard.
    org_bases: Mutex<HashMap<String, Url>>,
    wait_budget: Mutex<WaitBudget>,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
    events: EventSink,
}

/// A decoded answer, the URL it finally came from (after redirects) and the target of its
/// `rel=next` link, if any, as written.
#[derive(Debug)]
pub struct Page<T> {
    pub value: T,
    pub next: Option<String>,
    pub url: Url,
}

/// Redirects followed for one call before giving up (the SDK's requests session allows 30; a
/// shard redirect is one).
const MAX_REDIRECTS: u32 = 5;

/// The largest answer body read: a page of 1000 records is about 0.5 MiB, so a body beyond this
/// is a broken or hostile server's, and reading on would only fill memory.
pub const MAX_BODY_BYTES: usize = 64 << 20;

impl DashboardClient {
    pub fn new(config: ClientConfig) -> Result<DashboardClient, ClientError> {
        // reqwest is built without a default crypto provider; ring needs no C toolchain.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = parse_base_url(&config.base_url)?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose())).map_err(
                |_| ClientError::Setup("the API key is not a valid header value".to_owned()),
            )?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent())
            .default_headers(headers)
            // Each hop is checked against the key policy here, not followed blindly.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10));
        if let Some(path) = &config.ca_cert {
            builder = builder.add_root_certificate(read_certificate(path)?);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(DashboardClient {
            http,
            policy: KeyPolicy::new(base.clone(), config.trusted_hosts.clone()),
            base,
            authorization,
            server_clock: Mutex::new(None),
            source_ip_pacer: Pacer::new(config.source_ip_rate),
            org_pacers: Mutex::new(HashMap::new()),
            org_quotas: Mutex::new(HashMap::new()),
            org_bases: Mutex::new(HashMap::new()),
            wait_budget: Mutex::new(WaitBudget {
                limit: INITIAL_WAIT_BUDGET,
                spent: Duration::ZERO,
            }),
            rng: Mutex::new(rand_chacha::ChaCha8Rng::from_os_rng()),
            config,
            events: Arc::new(|_| {}),
        })
    }

    /// Where retries and throttling are reported.
    pub fn with_events(mut self, events: impl Fn(ClientEvent) + Send + Sync + 'static) -> Self {
        self.events = Arc::new(events);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    /// Sets what the run may wait in all for 429s, 503s and retries (what was spent stays spent).
    pub fn set_wait_budget(&self, limit: Duration) {
        lock(&self.wait_budget).limit = limit;
    }

    /// What the run has waited so far for 429s, 503s and retries.
    pub fn waited_for_server(&self) -> Duration {
        lock(&self.wait_budget).spent
    }

    /// The URL of a path below the base URL, with query parameters (arrays as `name[]`).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        with_query(self.config.base_url.clone() + path, query)
    }

    /// [`DashboardClient::url`] for an organization's call: below its shard's base URL once a
    /// redirect has moved it there.
    pub fn org_url(&self, org: &str, path: &str, query: &[(&str, String)]) -> String {
        let base = self.base_for(Some(org));
        with_query(base.as_str().trim_end_matches('/').to_owned() + path, query)
    }

    fn base_for(&self, org: Option<&str>) -> Url {
        org.and_then(|o| lock(&self.org_bases).get(o).cloned())
            .unwrap_or_else(|| self.base.clone())
    }

    fn org_pacer(&self, org: &str) -> Arc<Pacer> {
        let mut pacers = lock(&self.org_pacers);
        Arc::clone(
            pacers
                .entry(org.to_owned())
                .or_insert_with(|| Arc::new(Pacer::new(self.config.org_rate))),
        )
    }

    fn jitter(&self) -> f64 {
        use rand::Rng;
        lock(&self.rng).random_range(0.0..1.0)
    }

    fn backoff_delay(&self, attempt: u32) -> Duration {
        let mut rng = lock(&self.rng);
        self.config.backoff.delay(attempt, &mut *rng)
    }

    /// Charges `wait` to the run's wait budget, or says why it cannot be paid.
    fn charge_wait(&self, wait: Duration, url: &str, why: &'static str) -> Result<(), ClientError> {
        let mut budget = lock(&self.wait_budget);
        if budget.spent + wait > budget.limit {
            return Err(ClientError::WaitBudgetSpent {
                what: Url::parse(url)
                    .map_or_else(|_| strip_query(url).to_owned(), |u| u.path().to_owned()),
                why,
                asked: wait.as_secs_f64().ceil() as u64,
                spent: budget.spent.as_secs(),
                limit: budget.limit.as_secs(),
            });
        }
        budget.spent += wait;
        Ok(())
    }

    /// GETs `url` (a full URL, e.g. a resolved `rel=next` link) for `org` (None for org-less
    /// endpoints) and decodes the JSON answer, retrying what is worth retrying.
    pub async fn get<T: DeserializeOwned>(
        &self,
        org: Option<&str>,
        url: &str,
        tally: &mut CallTally,
    ) -> Result<Page<T>, ClientError> {
        let target = Url::parse(url).map_err(|_| ClientError::BadLink {
            endpoint: strip_query(url).to_owned(),
            source: LinkError::NotAUrl {
                target: strip_query(url).to_owned(),
            },
        })?;
        let org_pacer = org.map(|o| self.org_pacer(o));
        let mut failures = 0u32;
        let mut throttled = 0u32;
        loop {
            if let Some(p) = &org_pacer {
                tally.waited += p.acquire().await;
            }
            tally.waited += self.source_ip_pacer.acquire().await;
            tally.calls += 1;
            let outcome = self.attempt::<T>(org, &target).await;
            let (reason, request_id, asked) = match outcome {
                Attempt::Done(page, quota) => {
                    if let Some(p) = &org_pacer {
                        p.on_success();
                    }
                    if let (Some(org), Some(quota)) = (org, quota) {
                        self.note_org_quota(org, quota, org_pacer.as_deref());
                    }
                    self.source_ip_pacer.on_success();
                    return Ok(page);
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Throttled(retry_after) => {
                    tally.http_429s += 1;
                    throttled += 1;
                    if throttled >= self.config.max_throttled {
                        return Err(ClientError::ThrottledTooOften {
                            url: url.to_owned(),
                            http_429s: throttled,
                        });
                    }
                    let asked = retry_after.unwrap_or_else(|| self.backoff_delay(throttled.min(6)));
                    let jitter = self.jitter();
                    let wait = match &org_pacer {
                        Some(p) => p.on_throttled(asked, jitter),
                        None => self.source_ip_pacer.on_throttled(asked, jitter),
                    };
                    self.charge_wait(wait, url, "429 Too Many Requests")?;
                    (self.events)(ClientEvent::Throttled {
                        url: url.to_owned(),
                        wait,
                    });
                    continue;
                }
                Attempt::Retry {
                    reason,
                    request_id,
                    retry_after,
                } => (reason, request_id, retry_after),
            };
            failures += 1;
            // A host that refuses connections is told quickly: a few tries, not the full budget.
            let limit = if reason == CANNOT_CONNECT {
                self.config.max_retries.min(MAX_CONNECT_RETRIES)
            } else {
                self.config.max_retries
            };
            if failures > limit {
                return Err(ClientError::RetriesExhausted {
                    url: url.to_owned(),
                    attempts: failures + throttled,
                    last: reason,
                });
            }
            // A 503 that says when to come back is taken at its word.
            let wait = asked.unwrap_or_else(|| self.backoff_delay(failures - 1));
            self.charge_wait(
                wait,
                url,
                if asked.is_some() {
                    "503 with Retry-After"
                } else {
                    "retry backoff"
                },
            )?;
            (self.events)(ClientEvent::Retrying {
                url: url.to_owned(),
                attempt: failures,
                reason,
                request_id,
                wait,
            });
            let started = Instant::now();
            tokio::time::sleep(wait).await;
            tally.waited += started.elapsed();
        }
    }

    /// One call, following redirects within the key policy.
    async fn attempt<T: DeserializeOwned>(&self, org: Option<&str>, url: &Url) -> Attempt<T> {
        let mut current = url.clone();
        let mut redirected_from: Option<String> = None;
        for _ in 0..=MAX_REDIRECTS {
            if !self.policy.allows(&current) {
                return Attempt::Fatal(ClientError::UntrustedHost {
                    host: host_of(&current),
                    how: self.how_reached(org, &current, redirected_from.as_deref()),
                });
            }
            let sent = self
                .http
                .get(current.clone())
                .header(header::AUTHORIZATION, self.authorization.clone())
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) if is_oversized_head(&e) => {
                    return Attempt::Fatal(ClientError::OversizedHeaders {
                        url: strip_query(current.as_str()).to_owned(),
                    });
                }
                Err(e) => {
                    return Attempt::Retry {
                        reason: transport_reason(&e),
                        request_id: None,
                        retry_after: None,
                    };
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.note_server_date(&headers);
            if is_followed_redirect(status) {
                let location = headers
                    .get(header::LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .and_then(|l| current.join(l.trim()).ok());
                let Some(location) = location else {
                    return Attempt::Fatal(ClientError::BadRedirect {
                        url: strip_query(current.as_str()).to_owned(),
                        status: status.as_u16(),
                    });
                };
                (self.events)(ClientEvent::Redirected {
                    status: status.as_u16(),
                    from: host_of(&current),
                    to: host_of(&location),
                });
                if let Some(org) = org {
                    self.follow_shard(org, &current, &location);
                }
                redirected_from = Some(host_of(&current));
                current = location;
                continue;
            }
            return self
                .read_answer(org, response, current, redirected_from)
                .await;
        }
        Attempt::Fatal(ClientError::TooManyRedirects {
            url: strip_query(url.as_str()).to_owned(),
            hops: MAX_REDIRECTS,
        })
    }

    async fn read_answer<T: DeserializeOwned>(
        &self,
        org: Option<&str>,
        response: reqwest::Response,
        url: Url,
        redirected_from: Option<String>,
    ) -> Attempt<T> {
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Attempt::Throttled(retry_wait(&headers));
        }
        if status.is_server_error() {
            return Attempt::Retry {
                reason: format!("HTTP {}", status.as_u16()),
                request_id,
                retry_after: (status == StatusCode::SERVICE_UNAVAILABLE)
                    .then(|| retry_wait(&headers))
                    .flatten(),
            };
        }
        let body = match read_body(response, MAX_BODY_BYTES).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Attempt::Fatal(ClientError::OversizedBody {
                    url: strip_query(url.as_str()).to_owned(),
                });
            }
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("the answer was cut short ({})", transport_reason(&e)),
                    request_id,
                    retry_after: None,
                };
            }
        };
        if !status.is_success() {
            if status == StatusCode::UNAUTHORIZED
                && (redirected_from.is_some() || !self.policy.is_base_origin(&url))
            {
                return Attempt::Fatal(ClientError::KeyRefusedElsewhere {
                    host: host_of(&url),
                    how: self.how_reached(org, &url, redirected_from.as_deref()),
                });
            }
            return Attempt::Fatal(client_error(status, url.as_str(), &body));
        }
        // The body checked as UTF-8 at once, not string by string while decoding.
        let text = match std::str::from_utf8(&body) {
            Ok(text) => text,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("the answer is not UTF-8 text: {e}"),
                    request_id,
                    retry_after: None,
                };
            }
        };
        match serde_json::from_str::<T>(text) {
            Ok(value) => Attempt::Done(
                Page {
                    value,
                    next: next_link(&headers),
                    url,
                },
                parse_quota(|name| headers.get(name).and_then(|v| v.to_str().ok())),
            ),
            // Valid JSON of the wrong shape: the server says the same again.
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                Attempt::Fatal(ClientError::Schema {
                    url: strip_query(url.as_str()).to_owned(),
                    message: e.to_string(),
                })
            }
            // Not JSON, or cut short: an accident worth another try.
            Err(e) => Attempt::Retry {
                reason: format!("invalid JSON in the answer: {e}"),
                request_id,
                retry_after: None,
            },
        }
    }

    /// How a call came to `url`, for a message: the base URL, the organization's shard, a
    /// redirect, or a pagination link.
    fn how_reached(&self, org: Option<&str>, url: &Url, redirected_from: Option<&str>) -> String {
        if let Some(from) = redirected_from {
            return format!("a redirect from {from}");
        }
        if self.policy.is_base_origin(url) {
            return "the --base-url".to_owned();
        }
        let shard = org.and_then(|o| lock(&self.org_bases).get(o).cloned());
        match shard {
            Some(shard) if host_of(&shard) == host_of(url) => format!(
                "an earlier redirect of the organization's calls from {}",
                host_of(&self.base)
            ),
            _ => "a pagination link".to_owned(),
        }
    }

    /// After a redirect of the same path and query to another host, as a shard answers
    /// `api.meraki.com`, the organization's later calls go to that host directly (the SDK moves
    /// its base URL the same way). Only to a host the key policy allows.
    fn follow_shard(&self, org: &str, from: &Url, to: &Url) {
        if from.path() != to.path()
            || from.query() != to.query()
            || host_of(from) == host_of(to) && from.scheme() == to.scheme()
            || !self.policy.allows(to)
        {
            return;
        }
        let mut shard = to.clone();
        shard.set_query(None);
        shard.set_fragment(None);
        shard.set_path(self.base.path());
        lock(&self.org_bases).insert(org.to_owned(), shard);
    }

    /// Every page of a list endpoint, following `Link: rel=next`; `on_page` sees each page's
    /// number of items as they arrive.
    pub async fn get_all_pages<T: DeserializeOwned>(
        &self,
        org: Option<&str>,
        first_url: &str,
        tally: &mut CallTally,
        mut on_page: impl FnMut(usize),
    ) -> Result<Vec<T>, ClientError> {
        let pages = self
            .get_pages::<Vec<T>>(org, first_url, tally, PageLimit::LIST, |page| {
                on_page(page.len());
                Ok(())
            })
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Every page of a list endpoint, each decoded as a `P` (e.g. a `Vec` of items, or a
    /// [`callbudget_api::RequestPage`]), following `Link: rel=next` within the key policy and only to
    /// the same endpoint; `on_page` checks each page as it arrives, and a page it refuses ends the
    /// paging with [`ClientError::PageRefused`]. Bounded: a link back to a page already fetched
    /// (by URL or by cursor), an empty page with a next link, or more pages than `limit` allows
    /// ends it with an error, so a server cannot keep it paging.
    pub async fn get_pages<P: DeserializeOwned + PageItems>(
        &self,
        org: Option<&str>,
        first_url: &str,
        tally: &mut CallTally,
        limit: PageLimit,
        mut on_page: impl FnMut(&P) -> Result<(), crate::bounds::PageFault>,
    ) -> Result<Vec<P>, ClientError> {
        let first = Url::parse(first_url).map_err(|_| ClientError::BadLink {
            endpoint: strip_query(first_url).to_owned(),
            source: LinkError::NotAUrl {
                target: strip_query(first_url).to_owned(),
            },
        })?;
        let endpoint = endpoint_of(&first, &self.base_for(org)).to_owned();
        let mut seen_urls: HashSet<String> = HashSet::from([first.as_str().to_owned()]);
        let mut seen_cursors: HashSet<(String, String)> = cursors(&first).collect();
        let mut pages = Vec::new();
        let mut url = first;
        loop {
            let page: Page<P> = self.get(org, url.as_str(), tally).await?;
            let items = page.value.item_count();
            if let Err(fault) = on_page(&page.value) {
                return Err(ClientError::PageRefused {
                    endpoint,
                    page: pages.len() + 1,
                    fault,
                });
            }
            pages.push(page.value);
            let Some(target) = page.next else {
                return Ok(pages);
            };
            if items == 0 {
                return Err(ClientError::EmptyPageWithNext {
                    endpoint,
                    page: pages.len(),
                });
            }
            if pages.len() >= limit.max_pages {
                return Err(ClientError::TooManyPages {
                    endpoint,
                    pages: pages.len(),
                    expected: limit.expected_items,
                });
            }
            // Against the organization's base as it is now: a redirect may have moved it.
            let base = self.base_for(org);
            let next =
                resolve(&target, &base, &page.url).map_err(|source| ClientError::BadLink {
                    endpoint: endpoint.clone(),
                    source,
                })?;
            if !self.policy.allows(&next) {
                return Err(ClientError::UntrustedHost {
                    host: host_of(&next),
                    how: "a pagination link".to_owned(),
                });
            }
            if endpoint_of(&next, &base) != endpoint {
                return Err(ClientError::LinkElsewhere {
                    link: strip_query(next.as_str()).to_owned(),
                    endpoint,
                });
            }
            let new_cursors: Vec<(String, String)> = cursors(&next).collect();
            let loops = !seen_urls.insert(next.as_str().to_owned())
                || new_cursors.iter().any(|c| seen_cursors.contains(c));
            if loops {
                return Err(ClientError::PageLoop {
                    endpoint,
                    page: pages.len(),
                });
            }
            seen_cursors.extend(new_cursors);
            url = next;
        }
    }

    /// The API's current time, from the `Date` header of its last answer (the lookback and "now"
    /// are the server's), or `None` before the first answer.
    pub fn server_now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let clock = lock(&self.server_clock);
        clock.map(|(date, read)| {
            date + chrono::TimeDelta::from_std(read.elapsed()).unwrap_or_default()
        })
    }

    fn note_server_date(&self, headers: &HeaderMap) {
        let date = headers
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        if let Some(date) = date {
            let mut clock = lock(&self.server_clock);
            *clock = Some((chrono::DateTime::<chrono::Utc>::from(date), Instant::now()));
        }
    }

    /// The last quota an organization's answers reported (`x-ratelimit-org-limit` /
    /// `-remaining`, or the generic `X-RateLimit-*`); `None` before one did.
    pub fn org_quota(&self, org: &str) -> Option<RateLimitQuota> {
        lock(&self.org_quotas).get(org).copied()
    }

    /// Keeps `quota`; when it says nothing is left, the next call would only be refused: hold
    /// the organization's calls as a 429 without `Retry-After` would.
    fn note_org_quota(&self, org: &str, quota: RateLimitQuota, pacer: Option<&Pacer>) {
        lock(&self.org_quotas).insert(org.to_owned(), quota);
        if quota.remaining == 0
            && let Some(p) = pacer
        {
            // A rolling window frees up as old calls age out: wait the backoff's first step
            // (1 s by default), then let the server's Retry-After take over. The hold shows in
            // the tally's waiting time at the next call; it is not a 429.
            p.on_throttled(self.config.backoff.ceiling(0), self.jitter());
        }
    }

    /// The current AIMD rate of an organization's pacer.
    pub fn org_rate(&self, org: &str) -> f64 {
        self.org_pacer(org).current_rate()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn with_query(mut url: String, query: &[(&str, String)]) -> String {
    if !query.is_empty() {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            q.append_pair(k, v);
        }
        url.push('?');
        url.push_str(&q.finish());
    }
    url
}

/// The redirects followed (the others, 300 and 304, are answers).
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

const CANNOT_CONNECT: &str = "cannot connect";
/// Retries for a host that refuses connections (backoff ceilings 1 + 2 + 4 s).
const MAX_CONNECT_RETRIES: u32 = 3;

enum Attempt<T> {
    /// The page, and the budget's quota if the answer reported one.
    Done(Page<T>, Option<RateLimitQuota>),
    Throttled(Option<Duration>),
    Retry {
        reason: String,
        request_id: Option<String>,
        /// How long the server asked to wait (a 503's `Retry-After`).
        retry_after: Option<Duration>,
    },
    Fatal(ClientError),
}

/// The body of `response`, or `None` as soon as it is known to be longer than `limit` bytes
/// (by its `Content-Length`, or by what arrived): never more than `limit` bytes are held.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let announced = response.content_length().unwrap_or(0);
    if usize::try_from(announced).map_or(true, |n| n > limit) {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

fn read_certificate(path: &Path) -> Result<reqwest::Certificate, ClientError> {
    let pem = std::fs::read(path).map_err(|e| ClientError::CaCertificate {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    reqwest::Certificate::from_pem(&pem).map_err(|e| ClientError::CaCertificate {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The wait a 429 or 503 asks for: `Retry-After` in any form, else `X-RateLimit-Reset`.
fn retry_wait(headers: &HeaderMap) -> Option<Duration> {
    let now = SystemTime::now();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("retry-after")
        .and_then(|v| parse_retry_after(v, now))
        .or_else(|| text("x-ratelimit-reset").and_then(|v| parse_rate_limit_reset(v, now)))
}

/// Whether a transport error is an answer whose head was too large to read: the same again on
/// every try.
fn is_oversized_head(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse_too_large)
        {
            return true;
        }
        source = s.source();
    }
    false
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        CANNOT_CONNECT.to_owned()
    } else {
        // reqwest's text names the URL (which carries no secret) but never the headers.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        reason
    }
}

fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<callbudget_api::ErrorBody>(body)
        .map(|b| b.errors.join("; "))
        .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect())
}

fn client_error(status: StatusCode, url: &str, body: &[u8]) -> ClientError {
    let what = describe(url);
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized {
            url: strip_query(url).to_owned(),
        },
        StatusCode::FORBIDDEN => ClientError::Forbidden { what },
        StatusCode::NOT_FOUND => ClientError::NotFound {
            what,
            message: error_message(body),
        },
        _ => ClientError::Refused {
            url: strip_query(url).to_owned(),
            status: status.as_u16(),
            message: error_message(body),
        },
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// "organization 549236" for org-scoped URLs, else the path.
fn describe(url: &str) -> String {
    let path = strip_query(url);
    let mut segments = path.split('/');
    while let Some(s) = segments.next() {
        if s == "organizations"
            && let Some(id) = segments.next()
        {
            return format!("organization {id}");
        }
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_follows_merakis_application_format() {
        // ApplicationName/Version VendorName
        let ua = user_agent();
        let (app, vendor) = ua.split_once(' ').unwrap();
        assert!(app.starts_with("Callbudget/"));
        assert_eq!(vendor, "Callbudget");
    }

    #[test]
    fn errors_name_the_organization() {
        let e = client_error(
            StatusCode::NOT_FOUND,
            "http://h/api/v1/organizations/42/admins?x=1",
            br#"{"errors":["Organization not found"]}"#,
        );
        assert_eq!(
            e.to_string(),
            "organization 42 not found (404): Organization not found"
        );
        let e = client_error(
            StatusCode::FORBIDDEN,
            "http://h/api/v1/organizations/42/apiRequests",
            b"",
        );
        assert!(
            e.to_string()
                .starts_with("access denied (403 Forbidden) to organization 42")
        );
    }

    #[test]
    fn page_limits_follow_the_expected_count_with_a_margin() {
        assert_eq!(PageLimit::for_items(0, 1000).max_pages, 2);
        assert_eq!(PageLimit::for_items(1000, 1000).max_pages, 3);
        assert_eq!(PageLimit::for_items(1001, 1000).max_pages, 4);
        assert_eq!(PageLimit::for_items(50_000, 1000).max_pages, 57);
        assert_eq!(PageLimit::for_items(u64::MAX, 1).max_pages, usize::MAX);
    }
}
