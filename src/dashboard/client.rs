//! The Dashboard API client: authentication, pacing at a share of the budget, retries that honour
//! `Retry-After` in every form, and `Link`-header pagination followed exactly.
//!
//! What is retried, and how:
//! - 429: wait `Retry-After` (seconds, HTTP date or `Ns`), else `X-RateLimit-Reset`, else backoff;
//!   the organization's pacer slows down and holds *every* call until then.
//! - 5xx, timeouts, connection errors, bodies cut short, invalid JSON: exponential backoff with full
//!   jitter, at most `max_retries` times; 5xx are reported with their `X-Request-Id`.
//! - Other 4xx are answers, not accidents: 401/403/404/400 become typed errors at once.
//! - An answer that says the organization's budget is spent (`x-ratelimit-org-remaining: 0`,
//!   Cisco XDR; or `X-RateLimit-Remaining: 0`) holds the organization's calls as a 429 without
//!   `Retry-After` would, before the call that would be refused; the last quota seen is kept
//!   ([`DashboardClient::org_quota`]).
//!
//! The key travels only in the `Authorization` header and appears in no error or event.

use super::key::ApiKey;
use super::pacing::Pacer;
use super::retry::{
    Backoff, RateLimitQuota, parse_quota, parse_rate_limit_reset, parse_retry_after,
};
use rand::SeedableRng;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The User-Agent callbudget sends, in the form Meraki asks applications to use
/// (`ApplicationName/Version VendorName`), so audits can tell — and subtract — its own calls.
pub fn user_agent() -> String {
    format!("Callbudget/{} Callbudget", crate::TOOL_VERSION)
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
    #[error(
        "refusing to follow a pagination link to {link}: it is not on {base} (the API key would go with it)"
    )]
    ForeignLink { link: String, base: String },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error("cannot read the CA certificate {path}: {reason}")]
    CaCertificate { path: PathBuf, reason: String },
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// E.g. `https://api.meraki.com/api/v1`, or the simulator's `http://127.0.0.1:PORT/api/v1`.
    pub base_url: String,
    pub api_key: ApiKey,
    /// Extra trusted root certificate (PEM), for corporate TLS interception.
    pub ca_cert: Option<PathBuf>,
    /// Requests per second per organization the client may spend.
    pub org_rate: f64,
    /// Requests per second from this host, across organizations.
    pub source_ip_rate: f64,
    /// Retries for 5xx, timeouts, connection errors and bad bodies.
    pub max_retries: u32,
    /// 429s tolerated for one call before giving up.
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

type EventSink = Arc<dyn Fn(ClientEvent) + Send + Sync>;

/// A Dashboard API client shared by every organization's collection.
pub struct DashboardClient {
    http: reqwest::Client,
    /// The API's clock, from the `Date` header of the last answer, and when that was read.
    server_clock: Mutex<Option<(chrono::DateTime<chrono::Utc>, Instant)>>,
    config: ClientConfig,
    source_ip_pacer: Pacer,
    org_pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    /// The last quota each organization's answers reported.
    org_quotas: Mutex<HashMap<String, RateLimitQuota>>,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
    events: EventSink,
}

/// A decoded answer and the URL of its next page, if any.
#[derive(Debug)]
pub struct Page<T> {
    pub value: T,
    pub next: Option<String>,
}

impl DashboardClient {
    pub fn new(config: ClientConfig) -> Result<DashboardClient, ClientError> {
        // reqwest is built without a default crypto provider; ring needs no C toolchain.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose()))
            .map_err(|_| {
                ClientError::Setup("the API key is not a valid header value".to_owned())
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent())
            .default_headers(headers)
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
            server_clock: Mutex::new(None),
            source_ip_pacer: Pacer::new(config.source_ip_rate),
            org_pacers: Mutex::new(HashMap::new()),
            org_quotas: Mutex::new(HashMap::new()),
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

    /// The URL of a path below the base URL, with query parameters (arrays as `name[]`).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}{}", self.config.base_url, path);
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

    fn org_pacer(&self, org: &str) -> Arc<Pacer> {
        let mut pacers = self.org_pacers.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            pacers
                .entry(org.to_owned())
                .or_insert_with(|| Arc::new(Pacer::new(self.config.org_rate))),
        )
    }

    fn jitter(&self) -> f64 {
        use rand::Rng;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.random_range(0.0..1.0)
    }

    fn backoff_delay(&self, attempt: u32) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        self.config.backoff.delay(attempt, &mut *rng)
    }

    /// GETs `url` (a full URL, e.g. a `rel=next` link) for `org` (None for org-less endpoints) and
    /// decodes the JSON answer, retrying what is worth retrying.
    pub async fn get<T: DeserializeOwned>(
        &self,
        org: Option<&str>,
        url: &str,
        tally: &mut CallTally,
    ) -> Result<Page<T>, ClientError> {
        let org_pacer = org.map(|o| self.org_pacer(o));
        let mut failures = 0u32;
        let mut throttled = 0u32;
        loop {
            if let Some(p) = &org_pacer {
                tally.waited += p.acquire().await;
            }
            tally.waited += self.source_ip_pacer.acquire().await;
            tally.calls += 1;
            let outcome = self.attempt::<T>(url).await;
            let (reason, request_id) = match outcome {
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
                    let asked = retry_after.unwrap_or_else(|| self.backoff_delay(throttled.min(6)));
                    let jitter = self.jitter();
                    let wait = match &org_pacer {
                        Some(p) => p.on_throttled(asked, jitter),
                        None => self.source_ip_pacer.on_throttled(asked, jitter),
                    };
                    (self.events)(ClientEvent::Throttled {
                        url: url.to_owned(),
                        wait,
                    });
                    if throttled > self.config.max_throttled {
                        return Err(ClientError::RetriesExhausted {
                            url: url.to_owned(),
                            attempts: failures + throttled,
                            last: "429 Too Many Requests".to_owned(),
                        });
                    }
                    continue;
                }
                Attempt::Retry { reason, request_id } => (reason, request_id),
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
            let wait = self.backoff_delay(failures - 1);
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

    async fn attempt<T: DeserializeOwned>(&self, url: &str) -> Attempt<T> {
        let response = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: transport_reason(&e),
                    request_id: None,
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        self.note_server_date(&headers);
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
            };
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("the answer was cut short ({})", transport_reason(&e)),
                    request_id,
                };
            }
        };
        if !status.is_success() {
            return Attempt::Fatal(client_error(status, url, &body));
        }
        // The body checked as UTF-8 at once, not string by string while decoding.
        let decoded = std::str::from_utf8(&body)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<T>(text).map_err(|e| e.to_string()));
        match decoded {
            Ok(value) => Attempt::Done(
                Page {
                    value,
                    next: next_link(&headers),
                },
                parse_quota(|name| headers.get(name).and_then(|v| v.to_str().ok())),
            ),
            Err(e) => Attempt::Retry {
                reason: format!("invalid JSON in the answer: {e}"),
                request_id,
            },
        }
    }

    /// Every page of a list endpoint, following `Link: rel=next` exactly as given; `on_page` sees
    /// each page's items as they arrive.
    pub async fn get_all_pages<T: DeserializeOwned>(
        &self,
        org: Option<&str>,
        first_url: &str,
        tally: &mut CallTally,
        mut on_page: impl FnMut(usize),
    ) -> Result<Vec<T>, ClientError> {
        let pages = self
            .get_pages::<Vec<T>>(org, first_url, tally, |page| on_page(page.len()))
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Every page of a list endpoint, each decoded as a `P` (e.g. a `Vec` of items, or a
    /// [`crate::api::RequestPage`]), following `Link: rel=next` exactly as given; `on_page`
    /// sees each page as it arrives.
    pub async fn get_pages<P: DeserializeOwned>(
        &self,
        org: Option<&str>,
        first_url: &str,
        tally: &mut CallTally,
        mut on_page: impl FnMut(&P),
    ) -> Result<Vec<P>, ClientError> {
        let mut pages = Vec::new();
        let mut next = Some(first_url.to_owned());
        while let Some(url) = next.take() {
            let page: Page<P> = self.get(org, &url, tally).await?;
            on_page(&page.value);
            pages.push(page.value);
            if let Some(link) = page.next {
                // The key travels with every call: never to another scheme, host or port.
                if origin(&link) != origin(&self.config.base_url) {
                    return Err(ClientError::ForeignLink {
                        link: strip_query(&link).to_owned(),
                        base: self.config.base_url.clone(),
                    });
                }
                next = Some(link);
            }
        }
        Ok(pages)
    }

    /// The API's current time, from the `Date` header of its last answer (the lookback and "now"
    /// are the server's), or `None` before the first answer.
    pub fn server_now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let clock = self.server_clock.lock().unwrap_or_else(|p| p.into_inner());
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
            let mut clock = self.server_clock.lock().unwrap_or_else(|p| p.into_inner());
            *clock = Some((chrono::DateTime::<chrono::Utc>::from(date), Instant::now()));
        }
    }

    /// The last quota an organization's answers reported (`x-ratelimit-org-limit` /
    /// `-remaining`, or the generic `X-RateLimit-*`); `None` before one did.
    pub fn org_quota(&self, org: &str) -> Option<RateLimitQuota> {
        let quotas = self.org_quotas.lock().unwrap_or_else(|p| p.into_inner());
        quotas.get(org).copied()
    }

    /// Keeps `quota`; when it says nothing is left, the next call would only be refused: hold
    /// the organization's calls as a 429 without `Retry-After` would.
    fn note_org_quota(&self, org: &str, quota: RateLimitQuota, pacer: Option<&Pacer>) {
        {
            let mut quotas = self.org_quotas.lock().unwrap_or_else(|p| p.into_inner());
            quotas.insert(org.to_owned(), quota);
        }
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
    },
    Fatal(ClientError),
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

/// The wait a 429 asks for: `Retry-After` in any form, else `X-RateLimit-Reset`.
fn retry_wait(headers: &HeaderMap) -> Option<Duration> {
    let now = SystemTime::now();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("retry-after")
        .and_then(|v| parse_retry_after(v, now))
        .or_else(|| text("x-ratelimit-reset").and_then(|v| parse_rate_limit_reset(v, now)))
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
    serde_json::from_slice::<crate::api::ErrorBody>(body)
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

/// Scheme, host and port of a URL, or `None` when it does not parse.
fn origin(url: &str) -> Option<(String, Option<String>, Option<u16>)> {
    let url = reqwest::Url::parse(url).ok()?;
    Some((
        url.scheme().to_owned(),
        url.host_str().map(str::to_owned),
        url.port_or_known_default(),
    ))
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

/// The `rel=next` URL of a `Link` header: `<url>; rel=next, <url>; rel=prev`.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_links)
        .find(|(_, rel)| rel == "next")
        .map(|(url, _)| url)
}

/// `(url, rel)` pairs of a Link header value. URLs are taken between `<` and `>`, so commas inside
/// them do not split entries.
fn parse_links(value: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let url = &rest[open + 1..open + close];
        let after = &rest[open + close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let rel = after[..params_end]
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("rel="))
            .map(|r| {
                r.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .to_owned()
            })
            .next()
            .unwrap_or_default();
        links.push((url.to_owned(), rel));
        rest = &after[params_end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_are_parsed_with_commas_in_urls_and_quoted_rels() {
        let v = "<https://x/api?a=1,2&t0=2026>; rel=first, <https://x/api?startingAfter=p1>; rel=\"next\"";
        assert_eq!(
            parse_links(v),
            vec![
                ("https://x/api?a=1,2&t0=2026".to_owned(), "first".to_owned()),
                (
                    "https://x/api?startingAfter=p1".to_owned(),
                    "next".to_owned()
                ),
            ]
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static("<https://x/p2>; rel=prev"),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("https://api.meraki.com/api/v1/x?a=1"),
            origin("https://api.meraki.com:443/y")
        );
        assert_ne!(
            origin("https://api.meraki.com/x"),
            origin("http://api.meraki.com/x")
        );
        assert_ne!(
            origin("http://127.0.0.1:8787/x"),
            origin("http://127.0.0.1:8788/x")
        );
        assert_ne!(
            origin("https://api.meraki.com/x"),
            origin("https://evil.example/x")
        );
    }

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
}
