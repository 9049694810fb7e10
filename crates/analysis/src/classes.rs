//! Endpoint classes: the budget model's classes with limits of their own (Cisco XDR's workflow
//! runs, 10 per minute; event rules, 10 per minute and 5000 per day), each replayed over the log
//! in time order with [`BudgetReplay`], which also offers the org-wide limits, so each refusal is
//! told apart by scope. The timeline, consumers and what-if see the org-wide limits; this sees the
//! classes. Nothing to do (and nothing read) for a model without classes, such as Meraki's.

use super::columns::RequestColumns;
use super::{AnalysisError, AnalysisWindow, ConsumerKey, Finding, FindingKind, Severity};
use callbudget_api::budget::{BudgetModel, BudgetReplay, OfferedRequest};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// How one endpoint class used its own limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassUsage {
    pub class: String,
    /// The class's limits in words, e.g. `10 per 1 min rolling`.
    pub limits: String,
    /// The log's requests that belong to the class.
    pub requests: u64,
    /// Those the class's limits refuse in the replay.
    pub refused_by_replay: u64,
    /// Seconds with at least one of those refusals.
    pub seconds_with_refusals: u64,
    #[serde(serialize_with = "canonical_or_null")]
    pub first_refusal: Option<DateTime<Utc>>,
    /// The user agent with most refusals of the class, and how many.
    pub most_refused: Option<(String, u64)>,
}

fn canonical_or_null<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&callbudget_api::timestamp::format(t)),
        None => s.serialize_none(),
    }
}

/// The usage of every class of `budget` over `log`, in the model's order.
pub fn class_usage(
    log: &RequestColumns,
    budget: &BudgetModel,
) -> Result<Vec<ClassUsage>, AnalysisError> {
    Ok(classes_of(log, budget))
}

/// [`class_usage`] of the log's columns.
pub(crate) fn classes_of(log: &RequestColumns, budget: &BudgetModel) -> Vec<ClassUsage> {
    if budget.classes.is_empty() {
        return Vec::new();
    }
    let mut usage: Vec<ClassUsage> = budget
        .classes
        .iter()
        .map(|c| ClassUsage {
            class: c.name.clone(),
            limits: c
                .limits
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            requests: 0,
            refused_by_replay: 0,
            seconds_with_refusals: 0,
            first_refusal: None,
            most_refused: None,
        })
        .collect();
    let mut refused_by_agent: Vec<HashMap<Option<&str>, u64>> =
        vec![HashMap::new(); budget.classes.len()];
    let mut last_refused_second: Vec<Option<i64>> = vec![None; budget.classes.len()];
    let mut replay = BudgetReplay::new(budget);
    for (row, &ts_us) in log.ts_us.iter().enumerate() {
        let endpoint = &log.endpoints[log.endpoint[row] as usize];
        let request = OfferedRequest {
            ts_us,
            method: endpoint.method.as_deref(),
            path: endpoint.path.as_deref(),
            operation_id: endpoint.operation_id.as_deref(),
        };
        for (i, class) in budget.classes.iter().enumerate() {
            usage[i].requests += u64::from(class.matches(&request));
        }
        for refusal in replay.refusals(&request) {
            let Some(i) = refusal.class else { continue };
            let u = &mut usage[i];
            u.refused_by_replay += 1;
            u.first_refusal
                .get_or_insert(callbudget_api::timestamp::from_micros(ts_us));
            let second = ts_us.div_euclid(1_000_000);
            if last_refused_second[i] != Some(second) {
                last_refused_second[i] = Some(second);
                u.seconds_with_refusals += 1;
            }
            let agent = log.senders[log.sender[row] as usize].user_agent.as_deref();
            *refused_by_agent[i].entry(agent).or_default() += 1;
        }
    }
    for (u, agents) in usage.iter_mut().zip(refused_by_agent) {
        u.most_refused = agents
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(agent, n)| (agent.unwrap_or("(no user agent)").to_owned(), n));
    }
    usage
}

/// A class whose own limits refused requests: a warning, critical when a tenth or more of the
/// class's requests were over. The consumer refused most is named as `key` names clients.
pub fn class_findings(
    usage: &[ClassUsage],
    window: &AnalysisWindow,
    key: ConsumerKey,
) -> Vec<Finding> {
    usage
        .iter()
        .filter(|u| u.refused_by_replay > 0)
        .map(|u| {
            let share = u.refused_by_replay as f64 / u.requests.max(1) as f64;
            let consumer = u
                .most_refused
                .as_ref()
                .map(|(agent, _)| key.client_name(agent).to_owned());
            Finding {
                kind: FindingKind::ClassLimit,
                severity: if share >= 0.1 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                consumer: consumer.clone(),
                start: u.first_refusal.unwrap_or(window.start),
                end: window.end,
                summary: format!(
                    "endpoint class {} ({}) was over its own limit for {} of its {} requests, in {} second(s); most refused: {}",
                    u.class,
                    u.limits,
                    u.refused_by_replay,
                    u.requests,
                    u.seconds_with_refusals,
                    consumer.as_deref().unwrap_or("nobody")
                ),
                metrics: serde_json::to_value(u).unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, request};

    fn t0() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-19T12:00:00Z").unwrap()
    }

    /// (seconds after noon, method, path, user agent).
    fn request_log(requests: &[(i64, &str, &str, &str)]) -> RequestColumns {
        fixtures::log(requests.iter().map(|&(second, method, path, agent)| {
            request(t0().timestamp_micros() + second * 1_000_000)
                .method(method)
                .path(path)
                .user_agent(agent)
        }))
    }

    #[test]
    fn fourteen_workflow_runs_in_a_minute_put_four_over_the_class_limit() {
        let start = "/v1.1/workflows/01HQ/start";
        let mut requests: Vec<(i64, &str, &str, &str)> =
            (0..14).map(|i| (i, "POST", start, "soar/1")).collect();
        requests.push((3, "GET", start, "reader/1"));
        requests.push((5, "POST", "/iroh/private-intel/incident", "bridge/2"));
        let usage = class_usage(&request_log(&requests), &BudgetModel::xdr()).unwrap();
        assert_eq!(
            usage[0],
            ClassUsage {
                class: "workflow-runs".into(),
                limits: "10 per 1 min rolling".into(),
                requests: 14,
                refused_by_replay: 4,
                seconds_with_refusals: 4,
                first_refusal: Some(t0() + chrono::TimeDelta::seconds(10)),
                most_refused: Some(("soar/1".into(), 4)),
            }
        );
        assert_eq!((usage[1].requests, usage[1].refused_by_replay), (0, 0));
        let window = AnalysisWindow::new(t0(), t0() + chrono::TimeDelta::hours(1)).unwrap();
        let findings = class_findings(&usage, &window, ConsumerKey::Application);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Critical);
        assert_eq!(findings[0].consumer.as_deref(), Some("soar/1"));
        assert_eq!(
            findings[0].summary,
            "endpoint class workflow-runs (10 per 1 min rolling) was over its own limit for 4 of its 14 requests, in 4 second(s); most refused: soar/1"
        );
    }

    #[test]
    fn a_model_without_classes_reads_nothing() {
        let usage = class_usage(
            &request_log(&[(0, "GET", "/a", "x")]),
            &BudgetModel::meraki(),
        )
        .unwrap();
        assert!(usage.is_empty());
    }
}
