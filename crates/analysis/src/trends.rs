//! Trends: what changed since the previous audit of the same organization — consumers up or
//! down, new or gone, findings new or resolved. Periodic audits (cron) are read for exactly this.
//!
//! Windows of different lengths are compared per day. Consumers are compared only when both
//! audits told them apart the same way (`--group-by`) and the previous one saved its consumers.

use super::{ConsumerKey, Finding, OrgAudit};
use callbudget_store::{AuditRecord, StoredFinding};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// How many consumers an audit keeps for the next one to compare with.
pub const SAVED_CONSUMERS: usize = 500;

/// A change of at least this share (either way) makes a consumer "up" or "down"...
const CHANGE_SHARE: f64 = 0.2;
/// ...provided it is at least this many requests per day: a consumer going from 2 to 4 calls a day
/// doubled, but nobody needs to hear about it.
const CHANGE_MIN_PER_DAY: f64 = 100.0;

/// A consumer's volume as an audit saves it (in the audit's `summary` JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedConsumer {
    pub consumer: Option<String>,
    pub requests: u64,
    pub http_429s: u64,
}

/// The part of an audit's summary trends read back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SavedSummary {
    #[serde(default)]
    pub consumer_key: Option<ConsumerKey>,
    #[serde(default)]
    pub consumers: Option<Vec<SavedConsumer>>,
}

/// The audit compared with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviousAudit {
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub created_at: DateTime<Utc>,
    pub requests: u64,
    pub http_429s: u64,
}

/// Which way a consumer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerMove {
    New,
    Gone,
    Up,
    Down,
    Steady,
}

impl ConsumerMove {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerMove::New => "new",
            ConsumerMove::Gone => "gone",
            ConsumerMove::Up => "up",
            ConsumerMove::Down => "down",
            ConsumerMove::Steady => "steady",
        }
    }
}

/// One consumer then and now, per day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerTrend {
    pub consumer: Option<String>,
    pub previous_requests_per_day: f64,
    pub requests_per_day: f64,
    /// `None` for a new consumer.
    pub change_percent: Option<f64>,
    pub previous_429s_per_day: f64,
    pub http_429s_per_day: f64,
    #[serde(rename = "move")]
    pub movement: ConsumerMove,
}

/// A finding as trends name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingChange {
    pub kind: String,
    pub severity: String,
    pub consumer: Option<String>,
    pub summary: String,
}

/// What changed since the previous audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trends {
    pub previous: PreviousAudit,
    pub requests_per_day: f64,
    pub previous_requests_per_day: f64,
    pub http_429s_per_day: f64,
    pub previous_429s_per_day: f64,
    /// Whether consumers could be compared (same grouping, saved by the previous audit).
    pub consumers_compared: bool,
    /// New, gone, up and down consumers first (by size of change), then the steady ones.
    pub consumers: Vec<ConsumerTrend>,
    /// Findings this audit has that the previous one had not.
    pub new_findings: Vec<FindingChange>,
    /// Findings the previous audit had that this one has not.
    pub resolved_findings: Vec<FindingChange>,
    /// How many findings both have.
    pub persisting_findings: usize,
}

/// The consumers of an audit as saved for the next one: the biggest [`SAVED_CONSUMERS`].
pub fn saved_consumers(audit: &OrgAudit) -> Vec<SavedConsumer> {
    let mut consumers: Vec<SavedConsumer> = audit
        .consumers
        .iter()
        .map(|c| SavedConsumer {
            consumer: c.consumer.clone(),
            requests: c.requests,
            http_429s: c.http_429s,
        })
        .collect();
    consumers.sort_by_key(|c| std::cmp::Reverse(c.requests));
    consumers.truncate(SAVED_CONSUMERS);
    consumers
}

fn days(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    ((end - start).num_milliseconds() as f64 / 86_400_000.0).max(1e-9)
}

/// What identifies "the same finding" in two audits: its kind, whom it is about, and for a
/// recommendation the operation it replaces. Notifications use it too, so that a finding is
/// "new" in the same sense in a message as in the report.
pub fn finding_identity(kind: &str, consumer: Option<&str>, metrics: &serde_json::Value) -> String {
    let operation = metrics
        .get("current_operation")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    format!("{kind}\u{1f}{}\u{1f}{operation}", consumer.unwrap_or(""))
}

fn current_change(f: &Finding) -> FindingChange {
    FindingChange {
        kind: f.kind.as_str().to_owned(),
        severity: f.severity.as_str().to_owned(),
        consumer: f.consumer.clone(),
        summary: f.summary.clone(),
    }
}

/// Compares an audit with the previous one (its stored record and findings).
pub fn compare(
    current: &OrgAudit,
    previous: &AuditRecord,
    previous_findings: &[StoredFinding],
) -> Trends {
    let now_days = days(current.window.start, current.window.end);
    let then_days = days(previous.t0, previous.t1);
    let saved: SavedSummary = serde_json::from_value(previous.summary.clone()).unwrap_or_default();

    let consumers_compared = saved.consumer_key == Some(current.options.consumer_key)
        && saved.consumers.is_some()
        && !current.consumers.is_empty();
    let mut consumers = Vec::new();
    if consumers_compared {
        let then: HashMap<Option<&str>, &SavedConsumer> = saved
            .consumers
            .iter()
            .flatten()
            .map(|c| (c.consumer.as_deref(), c))
            .collect();
        let mut seen = HashSet::new();
        for c in &current.consumers {
            seen.insert(c.consumer.as_deref());
            let now_rate = c.requests as f64 / now_days;
            let now_429 = c.http_429s as f64 / now_days;
            let trend = match then.get(&c.consumer.as_deref()) {
                None => ConsumerTrend {
                    consumer: c.consumer.clone(),
                    previous_requests_per_day: 0.0,
                    requests_per_day: now_rate,
                    change_percent: None,
                    previous_429s_per_day: 0.0,
                    http_429s_per_day: now_429,
                    movement: ConsumerMove::New,
                },
                Some(p) => {
                    let then_rate = p.requests as f64 / then_days;
                    let delta = now_rate - then_rate;
                    let movement = if delta.abs() >= CHANGE_MIN_PER_DAY
                        && delta.abs() >= CHANGE_SHARE * then_rate
                    {
                        if delta > 0.0 {
                            ConsumerMove::Up
                        } else {
                            ConsumerMove::Down
                        }
                    } else {
                        ConsumerMove::Steady
                    };
                    ConsumerTrend {
                        consumer: c.consumer.clone(),
                        previous_requests_per_day: then_rate,
                        requests_per_day: now_rate,
                        change_percent: (then_rate > 0.0).then(|| delta / then_rate * 100.0),
                        previous_429s_per_day: p.http_429s as f64 / then_days,
                        http_429s_per_day: now_429,
                        movement,
                    }
                }
            };
            consumers.push(trend);
        }
        for p in saved.consumers.iter().flatten() {
            if !seen.contains(&p.consumer.as_deref()) {
                consumers.push(ConsumerTrend {
                    consumer: p.consumer.clone(),
                    previous_requests_per_day: p.requests as f64 / then_days,
                    requests_per_day: 0.0,
                    change_percent: Some(-100.0),
                    previous_429s_per_day: p.http_429s as f64 / then_days,
                    http_429s_per_day: 0.0,
                    movement: ConsumerMove::Gone,
                });
            }
        }
        let rank = |m: ConsumerMove| u8::from(m == ConsumerMove::Steady);
        consumers.sort_by(|a, b| {
            rank(a.movement).cmp(&rank(b.movement)).then(
                (b.requests_per_day - b.previous_requests_per_day)
                    .abs()
                    .total_cmp(&(a.requests_per_day - a.previous_requests_per_day).abs()),
            )
        });
    }

    let then_ids: HashSet<String> = previous_findings
        .iter()
        .map(|f| finding_identity(&f.kind, f.consumer.as_deref(), &f.metrics))
        .collect();
    let now_ids: HashSet<String> = current
        .findings
        .iter()
        .map(|f| finding_identity(f.kind.as_str(), f.consumer.as_deref(), &f.metrics))
        .collect();
    // A finding repeated within a window (a spike every morning) counts once.
    let mut new_findings = Vec::new();
    let mut new_ids = HashSet::new();
    let mut persisting = HashSet::new();
    for f in &current.findings {
        let id = finding_identity(f.kind.as_str(), f.consumer.as_deref(), &f.metrics);
        if then_ids.contains(&id) {
            persisting.insert(id);
        } else if new_ids.insert(id) {
            new_findings.push(current_change(f));
        }
    }
    let mut resolved_findings: Vec<FindingChange> = Vec::new();
    let mut resolved_ids = HashSet::new();
    for f in previous_findings {
        let id = finding_identity(&f.kind, f.consumer.as_deref(), &f.metrics);
        if !now_ids.contains(&id) && resolved_ids.insert(id) {
            resolved_findings.push(FindingChange {
                kind: f.kind.clone(),
                severity: f.severity.clone(),
                consumer: f.consumer.clone(),
                summary: f.summary.clone(),
            });
        }
    }

    Trends {
        previous: PreviousAudit {
            start: previous.t0,
            end: previous.t1,
            created_at: previous.created_at,
            requests: previous.requests,
            http_429s: previous.http_429s,
        },
        requests_per_day: current.requests as f64 / now_days,
        previous_requests_per_day: previous.requests as f64 / then_days,
        http_429s_per_day: current.http_429s as f64 / now_days,
        previous_429s_per_day: previous.http_429s as f64 / then_days,
        consumers_compared,
        consumers,
        new_findings,
        resolved_findings,
        persisting_findings: persisting.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AnalysisWindow, AuditOptions, audit_org};
    use callbudget_api::RequestRecord;
    use callbudget_api::timestamp;
    use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};

    fn t(s: &str) -> DateTime<Utc> {
        timestamp::parse(s).unwrap()
    }

    /// An audit of one day in which "Up/1" sends 2,000 requests and "Same/1" 1,000.
    fn audit_of_one_day() -> OrgAudit {
        let mut store = Store::open_in_memory().unwrap();
        let mut records = Vec::new();
        for (agent, n) in [("Up/1", 2_000), ("Same/1", 1_000)] {
            for i in 0..n {
                let record: RequestRecord = serde_json::from_value(serde_json::json!({
                    "ts": timestamp::format(&(t("2026-11-19T00:00:00Z") + chrono::TimeDelta::seconds(i * 40))),
                    "method": "GET",
                    "path": "/api/v1/organizations/1/networks",
                    "userAgent": agent,
                    "responseCode": 200,
                    "operationId": "getOrganizationNetworks"
                }))
                .unwrap();
                records.push(record);
            }
        }
        records.sort_by_key(|r| r.ts);
        let (t0, t1) = (t("2026-11-19T00:00:00Z"), t("2026-11-20T00:00:00Z"));
        let meta = WindowMeta {
            org_id: OrgId::new("1"),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0,
            t1,
            started_at: t1,
            finished_at: t1,
            calls: 3,
            http_429s: 0,
        };
        store.store_request_window(&meta, &records).unwrap();
        let window = AnalysisWindow::new(t0, t1).unwrap();
        audit_org(&store, &OrgId::new("1"), window, AuditOptions::default()).unwrap()
    }

    fn previous(consumers: serde_json::Value, key: &str) -> AuditRecord {
        AuditRecord {
            org_id: callbudget_store::OrgId::new("1"),
            // Two days: per-day figures halve the totals below.
            t0: t("2026-11-17T00:00:00Z"),
            t1: t("2026-11-19T00:00:00Z"),
            created_at: t("2026-11-19T00:00:00Z"),
            requests: 4_000,
            http_429s: 10,
            summary: serde_json::json!({"consumer_key": key, "consumers": consumers}),
        }
    }

    #[test]
    fn consumers_move_per_day_and_findings_resolve() {
        let audit = audit_of_one_day();
        let then = previous(
            serde_json::json!([
                {"consumer": "Up/1", "requests": 2_000, "http_429s": 0},
                {"consumer": "Same/1", "requests": 2_100, "http_429s": 0},
                {"consumer": "Gone/1", "requests": 600, "http_429s": 10}
            ]),
            "application",
        );
        let resolved = StoredFinding {
            kind: "ignores_retry_after".into(),
            severity: "warning".into(),
            consumer: Some("Gone/1".into()),
            start: then.t0,
            end: then.t1,
            summary: "Gone/1 retried early".into(),
            metrics: serde_json::json!({}),
        };
        let trends = compare(&audit, &then, std::slice::from_ref(&resolved));
        assert!(trends.consumers_compared);
        assert_eq!(trends.requests_per_day, 3_000.0);
        assert_eq!(trends.previous_requests_per_day, 2_000.0);
        assert_eq!(trends.previous_429s_per_day, 5.0);
        let find = |name: &str| {
            trends
                .consumers
                .iter()
                .find(|c| c.consumer.as_deref() == Some(name))
                .unwrap()
        };
        // 1,000/day → 2,000/day: up 100 %.
        assert_eq!(find("Up/1").movement, ConsumerMove::Up);
        assert_eq!(find("Up/1").change_percent, Some(100.0));
        // 1,050/day → 1,000/day: under 20 % and 100/day, steady.
        assert_eq!(find("Same/1").movement, ConsumerMove::Steady);
        assert_eq!(find("Gone/1").movement, ConsumerMove::Gone);
        assert_eq!(find("Gone/1").previous_requests_per_day, 300.0);
        // Moves first, steady last.
        assert_eq!(
            trends.consumers.last().unwrap().consumer.as_deref(),
            Some("Same/1")
        );
        assert_eq!(trends.resolved_findings.len(), 1);
        assert_eq!(trends.resolved_findings[0].summary, "Gone/1 retried early");
        assert_eq!(trends.persisting_findings, 0);
    }

    #[test]
    fn consumers_grouped_differently_are_not_compared() {
        let audit = audit_of_one_day();
        let then = previous(
            serde_json::json!([{"consumer": "10.0.0.1", "requests": 5, "http_429s": 0}]),
            "source_ip",
        );
        let trends = compare(&audit, &then, &[]);
        assert!(!trends.consumers_compared);
        assert!(trends.consumers.is_empty());
        // An audit saved before consumers were recorded cannot be compared either.
        let old = AuditRecord {
            summary: serde_json::json!({"options": {}}),
            ..then
        };
        assert!(!compare(&audit, &old, &[]).consumers_compared);
    }
}
