//! The endpoints' answers, from the organization's log and scenario: getOrganizations,
//! getOrganizationAdmins, getOrganizationApiRequests (one page, with its Link header),
//! getOrganizationApiRequestsOverview and its responseCodes/byInterval.

use super::SimState;
use super::query::{Query, default_interval_seconds, encode_token, record_filter, resolve_window};
use super::responses::{ApiError, json_response, to_json};
use crate::api::{
    Admin, ApiAccess, Organization, RESPONSE_CODE_INTERVALS, RequestsOverview, ResponseCodeCount,
    ResponseCodeInterval,
};
use crate::timestamp::MICROS_PER_SECOND;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;

/// What routing decided a call asks for; organizations by their index in the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Organizations,
    Admins(usize),
    ApiRequests(usize),
    Overview(usize),
    ByInterval(usize),
}

impl Route {
    /// The organization whose budget and log the call concerns.
    pub fn org(self) -> Option<usize> {
        match self {
            Route::Organizations => None,
            Route::Admins(o)
            | Route::ApiRequests(o)
            | Route::Overview(o)
            | Route::ByInterval(o) => Some(o),
        }
    }
}

/// The answer to a routed call; `host` is the Host the call came to, which Link URLs name.
pub fn answer(state: &SimState, route: Route, q: &Query, host: &str) -> Result<Response, ApiError> {
    let now = state.clock.now();
    match route {
        Route::Organizations => organizations(state, q, host),
        Route::Admins(o) => Ok(json_response(
            StatusCode::OK,
            to_json(&admins(state, o, now)),
        )),
        Route::ApiRequests(o) => api_requests(state, o, q, host, now),
        Route::Overview(o) => overview(state, o, q, now),
        Route::ByInterval(o) => by_interval(state, o, q, now),
    }
}

fn organizations(state: &SimState, q: &Query, host: &str) -> Result<Response, ApiError> {
    let per_page: usize = q.int("perPage")?.unwrap_or(9000);
    if !(3..=9000).contains(&per_page) {
        return Err(ApiError::bad_request(
            "'perPage' must be between 3 and 9000",
        ));
    }
    let first = q.token("startingAfter")?.map_or(0, |i| i + 1);
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

/// The parameters a Link of the request log does not copy from the call: the window is pinned and
/// the page size and position are the Link's own.
const PAGE_PARAMETERS: [&str; 6] = [
    "t0",
    "t1",
    "timespan",
    "perPage",
    "startingAfter",
    "endingBefore",
];

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
    let after = q.token("startingAfter")?;
    let before = q.token("endingBefore")?;
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
        serde_json::to_writer(&mut body, &log.record(&entries[i])).map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?;
    }
    body.push(b']');
    drop(log);

    // Links pin the window so that later pages do not move with the clock.
    let mut params = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.pairs {
        if !PAGE_PARAMETERS.contains(&k.as_str()) {
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

fn overview(
    state: &SimState,
    org: usize,
    q: &Query,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let (t0, t1) = resolve_window(q, now)?;
    let log = state.read_log();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for e in &log.orgs[org].entries[log.range(org, t0.timestamp_micros(), t1.timestamp_micros())] {
        *counts.entry(e.response_code.to_string()).or_default() += 1;
    }
    Ok(json_response(
        StatusCode::OK,
        to_json(&RequestsOverview {
            response_code_counts: counts,
        }),
    ))
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
    let step = i64::from(interval) * MICROS_PER_SECOND;
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
