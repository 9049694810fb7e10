//! The simulator's HTTP face: the Dashboard API endpoints callbudget collects from, under `/api/v1`,
//! with the API's parameter rules (400 with `{"errors": [...]}`), Link-header pagination with opaque
//! tokens, 401 for a wrong key, 404 for an unknown organization, live rate limits (429 with
//! Retry-After) and injected faults. Every call it serves for an organization is appended to that
//! organization's log, as the real service logs the auditor's own calls.

use super::faults::{BodyFault, FaultDraw, FaultInjector, RetryAfterStyle};
use super::log::{Endpoint, LogEntry, RecordFilter, RequestLog, Source};
use super::scenario::Scenario;
use crate::api::MAX_TIMESPAN;
use crate::api::OperationCatalog;
use crate::api::{
    Admin, ApiAccess, ErrorBody, Organization, RESPONSE_CODE_INTERVALS, RequestsOverview,
    ResponseCodeCount, ResponseCodeInterval,
};
use crate::budget::{BucketLimits, TokenBucket, retry_after_seconds};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts as RequestHead;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The simulator's clock: the scenario timeline ends at `end`, and time moves on from there —
/// or, for tests that need every call to land at the same instant, stands still.
#[derive(Debug, Clone)]
pub struct SimClock {
    end: DateTime<Utc>,
    started: Instant,
    frozen: bool,
}

impl SimClock {
    pub fn new(end: DateTime<Utc>) -> Self {
        SimClock {
            end,
            started: Instant::now(),
            frozen: false,
        }
    }

    /// A clock that always reads `end`: buckets never refill, storms never end.
    pub fn frozen(end: DateTime<Utc>) -> Self {
        SimClock {
            frozen: true,
            ..SimClock::new(end)
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.end + TimeDelta::microseconds(self.elapsed_us())
    }

    fn elapsed_us(&self) -> i64 {
        if self.frozen {
            0
        } else {
            self.started.elapsed().as_micros() as i64
        }
    }
}

/// Everything a running simulator shares between requests.
pub struct SimState {
    pub scenarios: Vec<Scenario>,
    pub log: RwLock<RequestLog>,
    pub clock: SimClock,
    api_key: String,
    enforce_rate_limits: bool,
    limiter: Mutex<LiveLimiter>,
    faults: FaultInjector,
    /// Until when (µs on the clock) each org is in an injected 429 storm.
    storms: Mutex<HashMap<usize, i64>>,
    request_ids: AtomicU64,
}

impl SimState {
    pub fn new(
        scenarios: Vec<Scenario>,
        log: RequestLog,
        clock: SimClock,
        api_key: String,
        enforce_rate_limits: bool,
        faults: FaultInjector,
    ) -> Self {
        SimState {
            limiter: Mutex::new(LiveLimiter::new(&scenarios)),
            scenarios,
            log: RwLock::new(log),
            clock,
            api_key,
            enforce_rate_limits,
            faults,
            storms: Mutex::new(HashMap::new()),
            request_ids: AtomicU64::new(1),
        }
    }

    pub fn read_log(&self) -> std::sync::RwLockReadGuard<'_, RequestLog> {
        self.log.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_log(&self) -> std::sync::RwLockWriteGuard<'_, RequestLog> {
        self.log.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The live budgets: a bucket per organization and per source IP, on the simulator's clock.
struct LiveLimiter {
    org_limits: Vec<BucketLimits>,
    ip_limits: BucketLimits,
    orgs: HashMap<usize, TokenBucket>,
    ips: HashMap<std::net::IpAddr, TokenBucket>,
}

impl LiveLimiter {
    fn new(scenarios: &[Scenario]) -> Self {
        LiveLimiter {
            org_limits: scenarios.iter().map(|s| s.org_budget).collect(),
            ip_limits: scenarios
                .first()
                .map_or(BucketLimits::MERAKI_SOURCE_IP, |s| s.source_ip_budget),
            orgs: HashMap::new(),
            ips: HashMap::new(),
        }
    }

    /// Admits a call (taking a token from each bucket, or from none) or says how long to wait.
    fn admit(
        &mut self,
        org: Option<usize>,
        ip: std::net::IpAddr,
        now_us: i64,
    ) -> Result<(), Duration> {
        let ip_limits = self.ip_limits;
        let ip_bucket = self
            .ips
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(ip_limits, now_us));
        match org {
            Some(o) => {
                let limits = self.org_limits[o];
                let org_bucket = self
                    .orgs
                    .entry(o)
                    .or_insert_with(|| TokenBucket::new(limits, now_us));
                TokenBucket::take_all(&mut [org_bucket, ip_bucket], now_us)
            }
            None => ip_bucket.try_take(now_us),
        }
    }
}

/// An error answer in the API's shape.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        errors: vec![message.to_owned()],
    })
    .unwrap_or_default();
    json_response(status, body)
}

/// Parsed query parameters, arrays (`name[]=a&name[]=b`) collected under `name`.
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        let array = format!("{name}[]");
        self.pairs
            .iter()
            .filter(|(k, _)| *k == array || k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn int<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("'{name}' must be an integer"))),
        }
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => crate::timestamp::parse(v).map(Some).map_err(|_| {
                ApiError::bad_request(format!("'{name}' must be an ISO 8601 timestamp"))
            }),
        }
    }
}

/// Resolves t0 / t1 / timespan the way the API does: at most 31 days long and no further back than
/// 31 days; `timespan` (seconds) excludes t0. Defaults to the last 31 days.
fn resolve_window(
    q: &Query,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let t0 = q.time("t0")?;
    let t1 = q.time("t1")?;
    let timespan: Option<f64> = match q.get("timespan") {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::bad_request("'timespan' must be a number of seconds"))?,
        ),
    };
    let max_seconds = MAX_TIMESPAN.num_seconds() as f64;
    if let Some(span) = timespan {
        if t0.is_some() {
            return Err(ApiError::bad_request(
                "'timespan' cannot be combined with 't0'",
            ));
        }
        if !(span > 0.0 && span <= max_seconds) {
            return Err(ApiError::bad_request(format!(
                "'timespan' must be greater than 0 and at most {max_seconds} seconds (31 days)"
            )));
        }
    }
    let t1 = match (t1, t0) {
        (Some(t1), _) => t1,
        (None, Some(t0)) => (t0 + MAX_TIMESPAN).min(now),
        (None, None) => now,
    };
    let t0 = match t0 {
        Some(t0) => t0,
        None => {
            let span = timespan.unwrap_or(max_seconds);
            t1 - TimeDelta::microseconds((span * 1e6) as i64)
        }
    };
    if t0 > t1 {
        return Err(ApiError::bad_request("'t0' must be before 't1'"));
    }
    if t1 - t0 > MAX_TIMESPAN {
        return Err(ApiError::bad_request(
            "'t1' can be at most 31 days after 't0'",
        ));
    }
    if t0 < now - MAX_TIMESPAN {
        return Err(ApiError::bad_request(
            "'t0' can be at most 31 days before now",
        ));
    }
    Ok((t0, t1))
}

/// The byInterval interval the API derives from a time span when none is given. The real rule is
/// not documented (*unverified*); this keeps the number of intervals small, finest first.
pub fn default_interval_seconds(span: TimeDelta) -> u32 {
    let hours = span.num_seconds() as f64 / 3600.0;
    if hours <= 8.0 {
        120
    } else if hours <= 7.0 * 24.0 {
        3600
    } else if hours <= 21.0 * 24.0 {
        14400
    } else {
        21600
    }
}

/// Opaque page tokens: the position in the org's log, disguised so clients do not parse them.
const TOKEN_MASK: u64 = 0x5eed_c0de_b00c_7a11;

fn encode_token(index: usize) -> String {
    format!("p{:016x}", index as u64 ^ TOKEN_MASK)
}

fn decode_token(token: &str) -> Option<usize> {
    let hex = token.strip_prefix('p')?;
    if hex.len() != 16 {
        return None;
    }
    // Positions are far below u32::MAX; anything larger is a forged token.
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|v| v ^ TOKEN_MASK)
        .filter(|&v| v < u64::from(u32::MAX))
        .map(|v| v as usize)
}

fn record_filter(q: &Query, partial_user_agent: bool) -> Result<RecordFilter, ApiError> {
    let method = q.get("method").map(str::to_ascii_uppercase);
    if let Some(m) = &method
        && !["GET", "PUT", "POST", "DELETE"].contains(&m.as_str())
    {
        return Err(ApiError::bad_request(
            "'method' must be one of GET, PUT, POST, DELETE",
        ));
    }
    let version: Option<u8> = q.int("version")?;
    if version.is_some_and(|v| v > 1) {
        return Err(ApiError::bad_request("'version' must be 0 or 1"));
    }
    let mut admin_ids = q.all("adminIds");
    admin_ids.extend(q.get("adminId").map(str::to_owned));
    let mut source_ips = q.all("sourceIps");
    source_ips.extend(q.get("sourceIp").map(str::to_owned));
    Ok(RecordFilter {
        admin_ids,
        source_ips,
        user_agent: q.get("userAgent").map(str::to_owned),
        user_agent_partial: partial_user_agent,
        path: q.get("path").map(str::to_owned),
        method,
        response_code: q.int("responseCode")?,
        version,
        operation_ids: q.all("operationIds"),
    })
}

/// What routing decided about a call.
enum Route {
    Organizations,
    Admins(usize),
    ApiRequests(usize),
    Overview(usize),
    ByInterval(usize),
}

fn route(state: &SimState, method: &Method, path: &str) -> Result<Route, ApiError> {
    let not_found = || ApiError {
        status: StatusCode::NOT_FOUND,
        message: "Not found".to_owned(),
    };
    let Some(rest) = path.strip_prefix(crate::api::API_PATH_PREFIX) else {
        return Err(not_found());
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if method != Method::GET {
        return Err(not_found());
    }
    let org = |id: &str| {
        state
            .scenarios
            .iter()
            .position(|s| s.org_id == id)
            .ok_or_else(|| ApiError {
                status: StatusCode::NOT_FOUND,
                message: "Organization not found".to_owned(),
            })
    };
    match segments.as_slice() {
        ["organizations"] => Ok(Route::Organizations),
        ["organizations", id, "admins"] => Ok(Route::Admins(org(id)?)),
        ["organizations", id, "apiRequests"] => Ok(Route::ApiRequests(org(id)?)),
        ["organizations", id, "apiRequests", "overview"] => Ok(Route::Overview(org(id)?)),
        [
            "organizations",
            id,
            "apiRequests",
            "overview",
            "responseCodes",
            "byInterval",
        ] => Ok(Route::ByInterval(org(id)?)),
        _ => Err(not_found()),
    }
}

fn authorized(state: &SimState, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let legacy = headers
        .get("X-Cisco-Meraki-API-Key")
        .and_then(|v| v.to_str().ok());
    bearer.or(legacy).is_some_and(|key| key == state.api_key)
}

fn retry_after_value(style: RetryAfterStyle, seconds: u64) -> String {
    match style {
        RetryAfterStyle::Seconds => seconds.to_string(),
        RetryAfterStyle::Unit => format!("{seconds}s"),
        // A date is read against the client's wall clock, not the simulated one.
        RetryAfterStyle::Date => {
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(seconds))
        }
    }
}

fn too_many_requests(style: RetryAfterStyle, wait: Duration) -> Response {
    let mut r = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "API rate limit exceeded for organization",
    );
    let value = retry_after_value(style, retry_after_seconds(wait));
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The axum handler for every call.
pub async fn handle(
    State(state): State<Arc<SimState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = state.request_ids.fetch_add(1, Ordering::Relaxed);
    // Only the head is needed: every endpoint is a GET without a body.
    let (head, _body) = request.into_parts();
    let mut response = serve(&state, peer, &head).await;
    if let Ok(v) = HeaderValue::from_str(&format!("sim-{request_id:08x}")) {
        response.headers_mut().insert("X-Request-Id", v);
    }
    // The simulated clock, as the real service's Date header tells its own: clients read the
    // API's "now" (and so its 31-day lookback) from it.
    let now = std::time::SystemTime::from(state.clock.now());
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response.headers_mut().insert(header::DATE, v);
    }
    response
}

async fn serve(state: &Arc<SimState>, peer: SocketAddr, request: &RequestHead) -> Response {
    let path = request.uri.path().to_owned();
    if !authorized(state, &request.headers) {
        return error_response(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let route = match route(state, &request.method, &path) {
        Ok(r) => r,
        Err(e) => return error_response(e.status, &e.message),
    };
    let org = match route {
        Route::Organizations => None,
        Route::Admins(o) | Route::ApiRequests(o) | Route::Overview(o) | Route::ByInterval(o) => {
            Some(o)
        }
    };
    let faults = state.faults.draw();
    let style = state.faults.plan().retry_after;
    let now_us = state.clock.elapsed_us();

    let response = if let Some(wait) = refusal(state, org, peer, now_us, &faults) {
        too_many_requests(style, wait)
    } else if let Some(code) = faults.server_error {
        error_response(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Simulated server error",
        )
    } else {
        if faults.slow {
            tokio::time::sleep(state.faults.plan().slow_delay).await;
        }
        let host = request
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let query = Query::parse(request.uri.query());
        match answer(state, &route, &query, &host) {
            Ok(r) => apply_body_fault(r, faults.body).await,
            Err(e) => error_response(e.status, &e.message),
        }
    };

    if let Some(o) = org {
        log_served_call(state, o, peer, request, response.status().as_u16());
    }
    response
}

/// Why a call is refused with 429, if it is: an injected storm or a spent budget.
fn refusal(
    state: &SimState,
    org: Option<usize>,
    peer: SocketAddr,
    now_us: i64,
    faults: &FaultDraw,
) -> Option<Duration> {
    if let Some(o) = org {
        let mut storms = state.storms.lock().unwrap_or_else(|p| p.into_inner());
        if faults.start_storm {
            let until = now_us + state.faults.plan().storm_length.as_micros() as i64;
            storms.insert(o, until);
        }
        if let Some(&until) = storms.get(&o)
            && until > now_us
        {
            return Some(Duration::from_micros((until - now_us) as u64));
        }
    }
    if !state.enforce_rate_limits {
        return None;
    }
    let mut limiter = state.limiter.lock().unwrap_or_else(|p| p.into_inner());
    limiter.admit(org, peer.ip(), now_us).err()
}

fn log_served_call(
    state: &SimState,
    org: usize,
    peer: SocketAddr,
    request: &RequestHead,
    code: u16,
) {
    let owner = &state.scenarios[org].api_key_owner;
    let user_agent = request
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = request.method.as_str().to_owned();
    let path = request.uri.path().to_owned();
    let operation_id = OperationCatalog::meraki_v1()
        .match_path(&method, &path)
        .map(|op| op.operation_id.clone());
    let source = Source {
        admin_id: owner.admin_id.clone(),
        user_agent,
        source_ip: peer.ip().to_string(),
        client_id: owner.client_id.clone(),
        client_type: "api_key".to_owned(),
    };
    let endpoint = Endpoint {
        method,
        path,
        query_string: request.uri.query().unwrap_or_default().to_owned(),
        operation_id,
    };
    let ts_us = state.clock.now().timestamp_micros();
    state.write_log().append(org, ts_us, source, endpoint, code);
}

async fn apply_body_fault(response: Response, fault: BodyFault) -> Response {
    if fault == BodyFault::None || response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "Simulated server error");
    };
    match fault {
        BodyFault::None => Response::from_parts(parts, Body::from(bytes)),
        BodyFault::Truncate => {
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(cut))
        }
        BodyFault::Malformed => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(
                parts,
                Body::from("<html><body>502 Bad Gateway</body></html>"),
            )
        }
        BodyFault::Reset => {
            // Promise the whole body, send half, then fail the stream: the connection is cut mid-body.
            let half = bytes.slice(..bytes.len() / 2);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            // The error comes a moment later so that hyper has written the head and first half.
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            Response::from_parts(parts, Body::from_stream(first.chain(cut)))
        }
    }
}

fn answer(state: &SimState, route: &Route, q: &Query, host: &str) -> Result<Response, ApiError> {
    let now = state.clock.now();
    match *route {
        Route::Organizations => organizations(state, q, host),
        Route::Admins(o) => Ok(json_response(
            StatusCode::OK,
            to_json(&admins(state, o, now)),
        )),
        Route::ApiRequests(o) => api_requests(state, o, q, host, now),
        Route::Overview(o) => {
            let (t0, t1) = resolve_window(q, now)?;
            let log = state.read_log();
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for e in
                &log.orgs[o].entries[log.range(o, t0.timestamp_micros(), t1.timestamp_micros())]
            {
                *counts.entry(e.response_code.to_string()).or_default() += 1;
            }
            Ok(json_response(
                StatusCode::OK,
                to_json(&RequestsOverview {
                    response_code_counts: counts,
                }),
            ))
        }
        Route::ByInterval(o) => by_interval(state, o, q, now),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn organizations(state: &SimState, q: &Query, host: &str) -> Result<Response, ApiError> {
    let per_page: usize = q.int("perPage")?.unwrap_or(9000);
    if !(3..=9000).contains(&per_page) {
        return Err(ApiError::bad_request(
            "'perPage' must be between 3 and 9000",
        ));
    }
    let after = match q.get("startingAfter") {
        Some(t) => {
            Some(decode_token(t).ok_or_else(|| ApiError::bad_request("invalid 'startingAfter'"))?)
        }
        None => None,
    };
    let first = after.map_or(0, |i| i + 1);
    let orgs: Vec<Organization> = state
        .scenarios
        .iter()
        .skip(first)
        .take(per_page)
        .map(|s| Organization {
            id: s.org_id.clone(),
            name: s.org_name.clone(),
            url: Some(format!("https://n1.meraki.com/o/{}/manage/organization/overview", s.org_id)),
            api: Some(ApiAccess { enabled: true }),
            licensing: Some(serde_json::json!({"model": "co-term"})),
            cloud: Some(serde_json::json!({"region": {"name": "North America", "host": {"name": "United States"}}})),
            management: Some(serde_json::json!({"details": []})),
        })
        .collect();
    let mut response = json_response(StatusCode::OK, to_json(&orgs));
    let base = format!("http://{host}/api/v1/organizations?perPage={per_page}");
    let mut links = vec![format!("<{base}>; rel=first")];
    let last = first + orgs.len();
    if last < state.scenarios.len() && !orgs.is_empty() {
        links.push(format!(
            "<{base}&startingAfter={}>; rel=next",
            encode_token(last - 1)
        ));
    }
    set_link(&mut response, &links);
    Ok(response)
}

fn admins(state: &SimState, org: usize, now: DateTime<Utc>) -> Vec<Admin> {
    let s = &state.scenarios[org];
    s.admins
        .iter()
        .map(|a| Admin {
            id: a.id.clone(),
            name: Some(a.name.clone()),
            email: Some(a.email.clone()),
            org_access: Some(a.org_access.clone()),
            account_status: Some("ok".to_owned()),
            two_factor_auth_enabled: Some(true),
            has_api_key: Some(
                s.consumers.iter().any(|c| c.admin_id == a.id) || s.api_key_owner.admin_id == a.id,
            ),
            last_active: Some(crate::timestamp::format(&(now - TimeDelta::hours(1)))),
            tags: Vec::new(),
            networks: Vec::new(),
            authentication_method: Some("Email".to_owned()),
        })
        .collect()
}

fn set_link(response: &mut Response, links: &[String]) {
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        response.headers_mut().insert(header::LINK, v);
    }
}

fn api_requests(
    state: &SimState,
    org: usize,
    q: &Query,
    host: &str,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let (t0, t1) = resolve_window(q, now)?;
    let per_page: usize = q.int("perPage")?.unwrap_or(50);
    if !(3..=1000).contains(&per_page) {
        return Err(ApiError::bad_request(
            "'perPage' must be between 3 and 1000",
        ));
    }
    let token = |name: &str| -> Result<Option<usize>, ApiError> {
        match q.get(name) {
            None => Ok(None),
            Some(t) => decode_token(t)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid '{name}'"))),
        }
    };
    let after = token("startingAfter")?;
    let before = token("endingBefore")?;
    let filter = record_filter(q, false)?;

    let log = state.read_log();
    let range = log.range(org, t0.timestamp_micros(), t1.timestamp_micros());
    let compiled = log.compile(&filter);
    let entries = &log.orgs[org].entries;
    let matches = |i: &usize| compiled.matches(&entries[*i]);

    // Indexes of the page's entries, ascending.
    let page: Vec<usize> = match (after, before) {
        (_, Some(b)) => {
            let mut back: Vec<usize> = (range.start..b.min(range.end))
                .rev()
                .filter(matches)
                .take(per_page)
                .collect();
            back.reverse();
            back
        }
        (Some(a), None) => ((a + 1).max(range.start)..range.end)
            .filter(matches)
            .take(per_page)
            .collect(),
        (None, None) => range.clone().filter(matches).take(per_page).collect(),
    };
    let has_next = page
        .last()
        .is_some_and(|&last| (last + 1..range.end).any(|i| matches(&i)));
    let has_prev = page
        .first()
        .is_some_and(|&first| (range.start..first).rev().any(|i| matches(&i)));

    let mut body = Vec::with_capacity(page.len() * 400 + 2);
    body.push(b'[');
    for (n, &i) in page.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let entry: &LogEntry = &entries[i];
        serde_json::to_writer(&mut body, &log.record(entry)).map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?;
    }
    body.push(b']');
    drop(log);

    // Links pin the window so that later pages do not move with the clock.
    let mut params = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.pairs {
        if ![
            "t0",
            "t1",
            "timespan",
            "perPage",
            "startingAfter",
            "endingBefore",
        ]
        .contains(&k.as_str())
        {
            params.append_pair(k, v);
        }
    }
    params.append_pair("t0", &crate::timestamp::format(&t0));
    params.append_pair("t1", &crate::timestamp::format(&t1));
    params.append_pair("perPage", &per_page.to_string());
    let base = format!(
        "http://{host}/api/v1/organizations/{}/apiRequests?{}",
        state.scenarios[org].org_id,
        params.finish()
    );
    let mut links = vec![format!("<{base}>; rel=first")];
    if let (true, Some(&first)) = (has_prev, page.first()) {
        links.push(format!(
            "<{base}&endingBefore={}>; rel=prev",
            encode_token(first)
        ));
    }
    if let (true, Some(&last)) = (has_next, page.last()) {
        links.push(format!(
            "<{base}&startingAfter={}>; rel=next",
            encode_token(last)
        ));
    }
    let mut response = json_response(StatusCode::OK, body);
    set_link(&mut response, &links);
    Ok(response)
}

fn by_interval(
    state: &SimState,
    org: usize,
    q: &Query,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let (t0, t1) = resolve_window(q, now)?;
    let interval: u32 = match q.int("interval")? {
        Some(i) if RESPONSE_CODE_INTERVALS.contains(&i) => i,
        Some(_) => {
            return Err(ApiError::bad_request(
                "'interval' must be one of 120, 3600, 14400, 21600",
            ));
        }
        None => default_interval_seconds(t1 - t0),
    };
    let filter = record_filter(q, true)?;
    let log = state.read_log();
    let compiled = log.compile(&filter);
    let (t0_us, t1_us) = (t0.timestamp_micros(), t1.timestamp_micros());
    let step = i64::from(interval) * 1_000_000;
    // Intervals run from t0, the last one cut at t1, so their counts add up to the window's.
    let n = ((t1_us - t0_us) + step - 1) / step;
    let mut buckets: Vec<BTreeMap<u16, u64>> = vec![BTreeMap::new(); n.max(0) as usize];
    for e in &log.orgs[org].entries[log.range(org, t0_us, t1_us)] {
        if compiled.matches(e) {
            let i = ((e.ts_us - t0_us) / step) as usize;
            *buckets[i].entry(e.response_code).or_default() += 1;
        }
    }
    drop(log);
    let intervals: Vec<ResponseCodeInterval> = buckets
        .into_iter()
        .enumerate()
        .map(|(i, counts)| {
            let start = t0_us + i as i64 * step;
            ResponseCodeInterval {
                start_ts: crate::timestamp::from_micros(start),
                end_ts: crate::timestamp::from_micros((start + step).min(t1_us)),
                counts: counts
                    .into_iter()
                    .map(|(code, count)| ResponseCodeCount { code, count })
                    .collect(),
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, to_json(&intervals)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token(2344)), Some(2344));
        assert_eq!(decode_token("2344"), None);
        assert_eq!(decode_token("pzz"), None);
        assert_eq!(
            decode_token(&format!("p{:016x}", u64::MAX ^ TOKEN_MASK)),
            None
        );
    }

    #[test]
    fn default_interval_grows_with_the_span() {
        assert_eq!(default_interval_seconds(TimeDelta::hours(2)), 120);
        assert_eq!(default_interval_seconds(TimeDelta::days(1)), 3600);
        assert_eq!(default_interval_seconds(TimeDelta::days(14)), 14400);
        assert_eq!(default_interval_seconds(TimeDelta::days(31)), 21600);
    }

    #[test]
    fn windows_follow_the_api_rules() {
        let now = crate::timestamp::parse("2026-11-20T00:00:00Z").unwrap();
        let q = |s: &str| Query::parse(Some(s));
        let (t0, t1) = resolve_window(&q("timespan=3600"), now).ok().unwrap();
        assert_eq!((t1 - t0).num_seconds(), 3600);
        assert_eq!(t1, now);
        let (t0, _) = resolve_window(&q(""), now).ok().unwrap();
        assert_eq!(now - t0, MAX_TIMESPAN);
        assert!(resolve_window(&q("timespan=2678401"), now).is_err());
        assert!(resolve_window(&q("t0=2026-10-19T23:59:59Z"), now).is_err());
        assert!(
            resolve_window(&q("t0=2026-11-19T00:00:00Z&t1=2026-11-18T00:00:00Z"), now).is_err()
        );
        assert!(resolve_window(&q("t0=yesterday"), now).is_err());
        assert!(resolve_window(&q("t0=2026-11-19T00:00:00Z&timespan=60"), now).is_err());
    }
}
