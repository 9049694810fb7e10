//! The simulator's HTTP face: the Dashboard API endpoints callbudget collects from, under `/api/v1`.
//! A call is authorised, routed, checked against the live budgets ([`limiter`]) and the injected
//! faults, answered ([`handlers`], with the API's parameter rules from [`query`]) and, when it
//! concerns an organization, appended to that organization's log — as the real service logs the
//! auditor's own calls. All time comes from the simulator's [`clock`].

pub mod clock;
mod handlers;
mod limiter;
mod query;
mod responses;

pub use clock::{ClockHand, ClockMode, SimClock};
pub use query::default_interval_seconds;

use super::faults::FaultInjector;
use super::log::{Endpoint, RequestLog, Source};
use super::scenario::Scenario;
use crate::api::OperationCatalog;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts as RequestHead;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use handlers::Route;
use limiter::Limiter;
use query::Query;
use responses::{ApiError, apply_body_fault, error_response, retry_after_value, too_many_requests};
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
            limiter: Limiter::new(&scenarios, enforce_rate_limits, faults.plan().storm_length),
            scenarios,
            log: RwLock::new(log),
            clock,
            api_key,
            faults,
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
    if !authorized(state, &request.headers) {
        return error_response(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let route = match route(state, &request.method, request.uri.path()) {
        Ok(r) => r,
        Err(e) => return error_response(e.status, &e.message),
    };
    let org = route.org();
    let faults = state.faults.draw();
    let now_us = state.clock.elapsed_us();

    let response = if let Some(wait) =
        state
            .limiter
            .refusal(org, peer.ip(), now_us, faults.start_storm)
    {
        let style = state.faults.plan().retry_after;
        too_many_requests(&retry_after_value(style, wait, state.clock.caller_now()))
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
        match handlers::answer(state, route, &query, &host) {
            Ok(r) => apply_body_fault(r, faults.body).await,
            Err(e) => error_response(e.status, &e.message),
        }
    };

    if let Some(o) = org {
        log_served_call(state, o, peer, request, response.status().as_u16());
    }
    response
}

fn route(state: &SimState, method: &Method, path: &str) -> Result<Route, ApiError> {
    let not_found = || ApiError::not_found("Not found");
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
            .ok_or_else(|| ApiError::not_found("Organization not found"))
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
