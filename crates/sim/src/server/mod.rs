//! The simulator's HTTP face: the Dashboard API endpoints callbudget collects from, under `/api/v1`
//! and under the bare path (`/organizations/…`), which is where an RFC 3986 client resolves a
//! relative Link. A call on a host other than the shard is redirected ([`links`]); the others are
//! authorised, routed, checked against the live budgets ([`limiter`]) and the injected faults,
//! answered ([`handlers`], with the API's parameter rules from [`query`]) and, when they concern an
//! organization, appended to its log — as the real service logs the auditor's own calls. All time
//! comes from the simulator's [`clock`].

pub mod clock;
mod handlers;
mod limiter;
mod links;
mod query;
mod responses;

pub use clock::{ClockHand, ClockMode, SimClock};
pub use handlers::PageOrder;
pub use links::{HostPort, LinkStyle};
pub use query::default_interval_seconds;

use super::SimConfig;
use super::faults::{FaultDraw, FaultInjector, HOSTILE_TEXT, HostileMode};
use super::log::{Endpoint, RequestLog, Source};
use super::scenario::Scenario;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts as RequestHead;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use callbudget_api::{API_PATH_PREFIX, OperationCatalog};
use chrono::Datelike;
use handlers::{Call, Route};
use limiter::Limiter;
use links::LinkWriter;
use query::Query;
use responses::{ApiError, apply_body_fault, error_response, retry_after_value, set_retry_after};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Everything a running simulator shares between requests.
pub struct SimState {
    pub scenarios: Vec<Scenario>,
    pub log: RwLock<RequestLog>,
    pub clock: SimClock,
    api_key: String,
    limiter: Limiter,
    faults: FaultInjector,
    page_order: PageOrder,
    link_style: LinkStyle,
    link_host: Option<HostPort>,
    redirect_to: Option<HostPort>,
    request_ids: AtomicU64,
    /// Calls that carried an `Authorization` or `X-Cisco-Meraki-API-Key` header, whatever its
    /// value, so a test can assert on the receiving side that a host was never sent a key.
    calls_with_key: AtomicU64,
}

impl SimState {
    /// The state for serving `log`, built from `config`; the clock starts now.
    pub fn new(config: SimConfig, log: RequestLog) -> Self {
        let faults = FaultInjector::new(config.faults);
        SimState {
            limiter: Limiter::new(
                &config.scenarios,
                config.enforce_rate_limits,
                faults.plan().storm_length,
            ),
            clock: SimClock::start(config.now, &config.clock),
            scenarios: config.scenarios,
            log: RwLock::new(log),
            api_key: config.api_key,
            faults,
            page_order: config.page_order,
            link_style: config.link_style,
            link_host: config.link_host,
            redirect_to: config.redirect_to,
            request_ids: AtomicU64::new(1),
            calls_with_key: AtomicU64::new(0),
        }
    }

    /// Every call received so far, redirected ones included.
    pub fn calls_received(&self) -> u64 {
        self.request_ids.load(Ordering::Relaxed) - 1
    }

    /// The calls received so far that carried a key, whatever its value.
    pub fn calls_with_key(&self) -> u64 {
        self.calls_with_key.load(Ordering::Relaxed)
    }

    pub fn read_log(&self) -> std::sync::RwLockReadGuard<'_, RequestLog> {
        self.log.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_log(&self) -> std::sync::RwLockWriteGuard<'_, RequestLog> {
        self.log.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The size of the `huge-headers` mode's header: beyond the 400 KiB hyper and reqwest accept.
const HUGE_HEADER_BYTES: usize = 1 << 20;

/// The axum handler for every call.
pub async fn handle(
    State(state): State<Arc<SimState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = state.request_ids.fetch_add(1, Ordering::Relaxed);
    // Only the head is needed: every endpoint is a GET without a body.
    let (head, _body) = request.into_parts();
    if head.headers.contains_key(header::AUTHORIZATION)
        || head.headers.contains_key(LEGACY_KEY_HEADER)
    {
        state.calls_with_key.fetch_add(1, Ordering::Relaxed);
    }
    let faults = state.faults.draw();
    let mut response = serve(&state, peer, &head, &faults).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("sim-{request_id:08x}")) {
        headers.insert("X-Request-Id", v);
    }
    // The simulated clock, as the real service's Date header tells its own: clients read the
    // API's "now" (and so its 31-day lookback) from it.
    let mut now = state.clock.now();
    if faults.hostile(HostileMode::FutureDate) {
        now = now.with_year(2100).unwrap_or(now);
    }
    if faults.hostile(HostileMode::PastDate) {
        now = now.with_year(1970).unwrap_or(now);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(now.into())) {
        headers.insert(header::DATE, v);
    }
    if faults.hostile(HostileMode::HugeHeaders)
        && let Ok(v) = HeaderValue::from_bytes(&vec![b'a'; HUGE_HEADER_BYTES])
    {
        headers.insert("X-Hostile-Padding", v);
    }
    response
}

async fn serve(
    state: &Arc<SimState>,
    peer: SocketAddr,
    request: &RequestHead,
    faults: &FaultDraw,
) -> Response {
    let host = links::call_host(&request.headers);
    if let Some(shard) = &state.redirect_to {
        let path_and_query = request.uri.path_and_query().map_or("/", |p| p.as_str());
        if let Some(location) = links::shard_location(shard, host.as_ref(), path_and_query) {
            return permanent_redirect(&location);
        }
    }
    // The `escapes` mode puts terminal escapes before every error message.
    let fail = |status: StatusCode, message: &str| {
        if faults.hostile(HostileMode::Escapes) {
            error_response(status, &format!("{HOSTILE_TEXT}{message}"))
        } else {
            error_response(status, message)
        }
    };
    if !authorized(state, &request.headers) {
        return fail(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let below_base = below_base(request.uri.path());
    let route = match route(state, &request.method, below_base) {
        Ok(r) => r,
        Err(e) => return fail(e.status, &e.message),
    };
    let org = route.org();
    let plan = state.faults.plan();
    let now_us = state.clock.elapsed_us();

    let response = if let Some(wait) =
        state
            .limiter
            .refusal(org, peer.ip(), now_us, faults.start_storm)
    {
        let retry_after = retry_after_value(plan.retry_after, wait, state.clock.caller_now());
        let mut refused = fail(
            StatusCode::TOO_MANY_REQUESTS,
            "API rate limit exceeded for organization",
        );
        set_retry_after(&mut refused, &retry_after);
        refused
    } else if let Some(code) = faults.server_error {
        fail(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Simulated server error",
        )
    } else if faults.unavailable {
        let retry_after = retry_after_value(
            plan.retry_after,
            plan.unavailable_for,
            state.clock.caller_now(),
        );
        let mut unavailable = fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable",
        );
        set_retry_after(&mut unavailable, &retry_after);
        unavailable
    } else {
        if faults.slow {
            tokio::time::sleep(plan.slow_delay).await;
        }
        let call = Call {
            route,
            query: Query::parse(request.uri.query()),
            raw_query: request.uri.query(),
            links: LinkWriter::new(state.link_style, state.link_host.as_ref(), host.as_ref()),
            faults,
        };
        match handlers::answer(state, &call) {
            Ok(r) => apply_body_fault(r, faults.body).await,
            Err(e) => fail(e.status, &e.message),
        }
    };

    if let Some(o) = org {
        log_served_call(
            state,
            o,
            peer,
            request,
            below_base,
            response.status().as_u16(),
        );
    }
    response
}

fn permanent_redirect(location: &str) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The path below the base URL: `/api/v1/organizations` and `/organizations` are one endpoint.
fn below_base(path: &str) -> &str {
    match path.strip_prefix(API_PATH_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    }
}

fn route(state: &SimState, method: &Method, below_base: &str) -> Result<Route, ApiError> {
    let not_found = || ApiError::not_found("Not found");
    if method != Method::GET {
        return Err(not_found());
    }
    let (endpoint, org_id) = callbudget_api::Endpoint::parse(below_base).ok_or_else(not_found)?;
    let org = || {
        state
            .scenarios
            .iter()
            .position(|s| Some(&s.org_id) == org_id.as_ref())
            .ok_or_else(|| ApiError::not_found("Organization not found"))
    };
    Ok(match endpoint {
        callbudget_api::Endpoint::Organizations => Route::Organizations,
        callbudget_api::Endpoint::Admins => Route::Admins(org()?),
        callbudget_api::Endpoint::ApiRequests => Route::ApiRequests(org()?),
        callbudget_api::Endpoint::Overview => Route::Overview(org()?),
        callbudget_api::Endpoint::ResponseCodesByInterval => Route::ByInterval(org()?),
    })
}

const LEGACY_KEY_HEADER: &str = "X-Cisco-Meraki-API-Key";

/// The key a call presents: `Authorization: Bearer KEY`, or the legacy `X-Cisco-Meraki-API-Key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let legacy = headers.get(LEGACY_KEY_HEADER).and_then(|v| v.to_str().ok());
    bearer.or(legacy)
}

fn authorized(state: &SimState, headers: &HeaderMap) -> bool {
    presented_key(headers).is_some_and(|key| key == state.api_key)
}

/// Appends a served call to the organization's log, under `/api/v1` whichever path it came by, as
/// the real service names its own.
fn log_served_call(
    state: &SimState,
    org: usize,
    peer: SocketAddr,
    request: &RequestHead,
    below_base: &str,
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
    let path = format!("{API_PATH_PREFIX}{below_base}");
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
