//! The endpoints' answers, from the organization's log and scenario: getOrganizations,
//! getOrganizationAdmins, getOrganizationApiRequests (one page, with its Link header),
//! getOrganizationApiRequestsOverview and its responseCodes/byInterval.

use super::SimState;
use super::links::{LinkWriter, link_header};
use super::query::{Query, default_interval_seconds, encode_token, record_filter, resolve_window};
use super::responses::{ApiError, json_response, to_json};
use crate::faults::{FaultDraw, HostileMode};
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use callbudget_api::timestamp::MICROS_PER_SECOND;
use callbudget_api::{
    Admin, ApiAccess, Endpoint, Organization, RESPONSE_CODE_INTERVALS, RequestsOverview,
    ResponseCodeCount, ResponseCodeInterval,
};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;

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

/// The order of the request log's pages. The API documents none, so clients must cope with both:
/// `callbudget simulate` serves newest first, `SimConfig::new` the simulator's original oldest
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageOrder {
    #[default]
    OldestFirst,
    NewestFirst,
}

impl PageOrder {
    /// The names `FromStr` reads, for the command line.
    pub const NAMES: [&'static str; 2] = ["newest-first", "oldest-first"];
}

impl FromStr for PageOrder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "oldest-first" => Ok(PageOrder::OldestFirst),
            "newest-first" => Ok(PageOrder::NewestFirst),
            other => Err(format!("{other:?}: expected newest-first or oldest-first")),
        }
    }
}

/// One routed call, as the handlers answer it.
pub struct Call<'a> {
    pub route: Route,
    pub query: Query,
    /// The query string as the call sent it: a self-link repeats it.
    pub raw_query: Option<&'a str>,
    pub links: LinkWriter,
    pub faults: &'a FaultDraw,
}

/// The answer to a routed call.
pub fn answer(state: &SimState, call: &Call<'_>) -> Result<Response, ApiError> {
    let now = state.clock.now();
    match call.route {
        Route::Organizations => organizations(state, call),
        Route::Admins(o) => Ok(json_response(
            StatusCode::OK,
            to_json(&admins(state, o, now)),
        )),
        Route::ApiRequests(o) => api_requests(state, o, call, now),
        Route::Overview(o) => overview(state, o, call, now),
        Route::ByInterval(o) => by_interval(state, o, &call.query, now),
    }
}

fn organizations(state: &SimState, call: &Call<'_>) -> Result<Response, ApiError> {
    let q = &call.query;
    let per_page: usize = q.int("perPage")?.unwrap_or(9000);
    if !(3..=9000).contains(&per_page) {
        return Err(ApiError::bad_request(
            "'perPage' must be between 3 and 9000",
        ));
    }
    let first = q.token("startingAfter")?.map_or(0, |i| i + 1);
    let organization = |id: &str, name: &str| Organization {
        id: id.to_owned(),
        name: name.to_owned(),
        url: Some(format!(
            "https://n1.meraki.com/o/{id}/manage/organization/overview"
        )),
        api: Some(ApiAccess { enabled: true }),
        licensing: Some(serde_json::json!({"model": "co-term"})),
        cloud: Some(
            serde_json::json!({"region": {"name": "North America", "host": {"name": "United States"}}}),
        ),
        management: Some(serde_json::json!({"details": []})),
    };
    let mut orgs: Vec<Organization> = state
        .scenarios
        .iter()
        .skip(first)
        .take(per_page)
        .map(|s| organization(&s.org_id, &s.org_name))
        .collect();
    if call.faults.hostile(HostileMode::OrgIdTraversal) && first == 0 {
        let first_id = &state.scenarios[0].org_id;
        let second_id = &state.scenarios[1 % state.scenarios.len()].org_id;
        orgs.push(organization(
            &format!("{first_id}/../{second_id}"),
            "Traversal Org",
        ));
    }
    let base = format!("{}?perPage={per_page}", Endpoint::Organizations.path(""));
    let mut links = vec![(call.links.url(&base), "first")];
    let last = first + orgs.len();
    if last < state.scenarios.len() && !orgs.is_empty() {
        let next = format!("{base}&startingAfter={}", encode_token(last - 1));
        links.push((call.links.url(&next), "next"));
    }
    Ok(page_response(to_json(&orgs), &links))
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
            last_active: Some(callbudget_api::timestamp::format(
                &(now - TimeDelta::hours(1)),
            )),
            tags: Vec::new(),
            networks: Vec::new(),
            authentication_method: Some("Email".to_owned()),
        })
        .collect()
}

/// A `200` with a JSON body and its Link header.
fn page_response(body: Vec<u8>, links: &[(String, &str)]) -> Response {
    let mut response = json_response(StatusCode::OK, body);
    if let Some(v) = link_header(links) {
        response.headers_mut().insert(header::LINK, v);
    }
    response
}

/// The `endless-body` mode's page: `[`, then spaces 64 KiB at a time for as long as it is read.
fn endless_page() -> Response {
    use futures_util::StreamExt;
    let blank = Bytes::from(vec![b' '; 64 << 10]);
    let chunks = futures_util::stream::once(async { Bytes::from_static(b"[") })
        .chain(futures_util::stream::repeat(blank))
        .map(Ok::<_, std::convert::Infallible>);
    let mut response = json_response(StatusCode::OK, Vec::new());
    *response.body_mut() = Body::from_stream(chunks);
    response
}

/// The `flood` mode's page number `step`: 1000 distinct 429 records inside the window, a
/// microsecond apart (wrapping within it).
fn flood_page(
    org_id: &str,
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    step: usize,
) -> Result<Vec<u8>, ApiError> {
    let (t0_us, span_us) = (
        t0.timestamp_micros(),
        (t1 - t0).num_microseconds().unwrap_or(1).max(1),
    );
    let path = format!("/api/v1/organizations/{org_id}/networks");
    let records: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            let offset = ((step * 1000 + i) as i64).rem_euclid(span_us);
            serde_json::json!({
                "ts": callbudget_api::timestamp::format(&callbudget_api::timestamp::from_micros(t0_us + offset)),
                "method": "GET",
                "path": path,
                "responseCode": 429,
                "userAgent": "Flood/1.0",
                "sourceIp": "198.51.100.9",
            })
        })
        .collect();
    serde_json::to_vec(&records).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: e.to_string(),
    })
}

/// A JSON array `[a,b]` as `[a,b,a,b,…]`, its items `copies` times.
fn repeated_array(array: &[u8], copies: usize) -> Vec<u8> {
    let items = &array[1..array.len() - 1];
    let mut out = Vec::with_capacity(items.len().saturating_add(1).saturating_mul(copies) + 2);
    out.push(b'[');
    for n in 0..copies {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(items);
    }
    out.push(b']');
    out
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
    call: &Call<'_>,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let q = &call.query;
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
    let org_id = &state.scenarios[org].org_id;
    // Links pin the window so that later pages do not move with the clock.
    let pinned = pinned_query(q, t0, t1, per_page);
    let page_url = |org_id: &str, position: &str| {
        call.links.url(&format!(
            "{}?{pinned}{position}",
            Endpoint::ApiRequests.path(org_id)
        ))
    };
    let first_url = page_url(org_id, "");

    if call.faults.hostile(HostileMode::EndlessBody) {
        return Ok(endless_page());
    }
    if call.faults.hostile(HostileMode::Flood) {
        let step = after.map_or(0, |a| a + 1);
        let next = page_url(org_id, &format!("&startingAfter={}", encode_token(step)));
        return Ok(page_response(
            flood_page(org_id, t0, t1, step)?,
            &[(first_url, "first"), (next, "next")],
        ));
    }
    if call.faults.hostile(HostileMode::EmptyNext) {
        // Nothing on the page, yet a next one, a step further each time.
        let step = after.map_or(0, |a| a + 1);
        let next = page_url(org_id, &format!("&startingAfter={}", encode_token(step)));
        return Ok(page_response(
            b"[]".to_vec(),
            &[(first_url, "first"), (next, "next")],
        ));
    }

    let log = state.read_log();
    let range = log.range(org, t0.timestamp_micros(), t1.timestamp_micros());
    let compiled = log.compile(&filter);
    let entries = &log.orgs[org].entries;
    let matches = |i: &usize| compiled.matches(&entries[*i]);
    let order = Ordered {
        range,
        order: state.page_order,
    };

    // Positions of the page's entries, in page order.
    let page: Vec<usize> = match (after, before) {
        (_, Some(b)) => {
            let mut back: Vec<usize> = order.before(b).filter(matches).take(per_page).collect();
            back.reverse();
            back
        }
        (a, None) => order.after(a).filter(matches).take(per_page).collect(),
    };
    let has_next = page
        .last()
        .is_some_and(|&last| order.after(Some(last)).any(|i| matches(&i)));
    let has_prev = page
        .first()
        .is_some_and(|&first| order.before(first).any(|i| matches(&i)));

    let bad_record = call
        .faults
        .hostile(HostileMode::BadRecord)
        .then_some(page.len() / 2);
    let mut body = Vec::with_capacity(page.len() * 400 + 2);
    body.push(b'[');
    for (n, &i) in page.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let record = log.record(&entries[i]);
        let written = if bad_record == Some(n) {
            serde_json::to_value(&record).and_then(|mut v| {
                v["ts"] = serde_json::Value::from("not-a-time");
                serde_json::to_writer(&mut body, &v)
            })
        } else {
            serde_json::to_writer(&mut body, &record)
        };
        written.map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?;
    }
    body.push(b']');
    drop(log);
    if !page.is_empty() {
        let copies = if call.faults.hostile(HostileMode::OversizedPage) {
            200
        } else if call.faults.hostile(HostileMode::RepeatedRecords) {
            (callbudget_api::pages::MAX_RECORDS_PER_PAGE / page.len()).max(1)
        } else {
            1
        };
        body = repeated_array(&body, copies);
    }

    let mut links = vec![(first_url, "first")];
    if let (true, Some(&first)) = (has_prev, page.first()) {
        let prev = page_url(org_id, &format!("&endingBefore={}", encode_token(first)));
        links.push((prev, "prev"));
    }
    if let (true, Some(&last)) = (has_next, page.last()) {
        let next = page_url(org_id, &format!("&startingAfter={}", encode_token(last)));
        links.push((next, "next"));
    }
    if let Some(next) = hostile_next(state, org, call, &page_url) {
        links.retain(|(_, rel)| *rel != "next");
        links.push((next, "next"));
    }
    Ok(page_response(body, &links))
}

/// The call's parameters for a Link: every filter as sent, then the resolved window and page size.
fn pinned_query(q: &Query, t0: DateTime<Utc>, t1: DateTime<Utc>, per_page: usize) -> String {
    let mut params = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.pairs {
        if !PAGE_PARAMETERS.contains(&k.as_str()) {
            params.append_pair(k, v);
        }
    }
    params.append_pair("t0", &callbudget_api::timestamp::format(&t0));
    params.append_pair("t1", &callbudget_api::timestamp::format(&t1));
    params.append_pair("perPage", &per_page.to_string());
    params.finish()
}

/// A hostile `rel=next`, if the call meets one: this very page, another organization's log for
/// the same window, or another endpoint of this organization.
fn hostile_next(
    state: &SimState,
    org: usize,
    call: &Call<'_>,
    page_url: &dyn Fn(&str, &str) -> String,
) -> Option<String> {
    let org_id = &state.scenarios[org].org_id;
    if call.faults.hostile(HostileMode::SelfLink) {
        let query = call.raw_query.map(|q| format!("?{q}")).unwrap_or_default();
        return Some(
            call.links
                .url(&format!("{}{query}", Endpoint::ApiRequests.path(org_id))),
        );
    }
    if call.faults.hostile(HostileMode::ForeignOrgLink) {
        // Simulator::build refuses this mode without a second organization.
        let other = &state.scenarios[(org + 1) % state.scenarios.len()].org_id;
        return Some(page_url(other, ""));
    }
    if call.faults.hostile(HostileMode::OtherEndpointLink) {
        return Some(call.links.url(&Endpoint::Admins.path(org_id)));
    }
    None
}

/// The positions of a window's entries in page order (the log itself is oldest first).
struct Ordered {
    range: Range<usize>,
    order: PageOrder,
}

impl Ordered {
    /// The positions after `position` in page order, or from the first when `None`.
    fn after(&self, position: Option<usize>) -> Box<dyn Iterator<Item = usize>> {
        let Range { start, end } = self.range;
        match self.order {
            PageOrder::OldestFirst => {
                let from = position.map_or(start, |p| (p + 1).max(start));
                Box::new(from..end)
            }
            PageOrder::NewestFirst => {
                let to = position.map_or(end, |p| p.min(end));
                Box::new((start..to).rev())
            }
        }
    }

    /// The positions before `position` in page order, nearest first.
    fn before(&self, position: usize) -> Box<dyn Iterator<Item = usize>> {
        let Range { start, end } = self.range;
        match self.order {
            PageOrder::OldestFirst => Box::new((start..position.min(end)).rev()),
            PageOrder::NewestFirst => Box::new((position + 1).max(start)..end),
        }
    }
}

fn overview(
    state: &SimState,
    org: usize,
    call: &Call<'_>,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let (t0, t1) = resolve_window(&call.query, now)?;
    let log = state.read_log();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for e in &log.orgs[org].entries[log.range(org, t0.timestamp_micros(), t1.timestamp_micros())] {
        *counts.entry(e.response_code.to_string()).or_default() += 1;
    }
    if call.faults.hostile(HostileMode::HugeCounts) {
        counts = BTreeMap::from([("200".to_owned(), u64::MAX), ("429".to_owned(), u64::MAX)]);
    }
    if call.faults.hostile(HostileMode::Flood) {
        // As many as a window could plausibly hold: ten thousand a second.
        let seconds = u64::try_from((t1 - t0).num_seconds()).unwrap_or(0);
        counts = BTreeMap::from([("429".to_owned(), seconds * 10_000)]);
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
                start_ts: callbudget_api::timestamp::from_micros(start),
                end_ts: callbudget_api::timestamp::from_micros((start + step).min(t1_us)),
                counts: counts
                    .into_iter()
                    .map(|(code, count)| ResponseCodeCount { code, count })
                    .collect(),
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, to_json(&intervals)))
}
