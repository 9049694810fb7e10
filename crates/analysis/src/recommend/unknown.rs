//! Calls to operations the catalog does not know: an `operationId` it lacks (its path may still
//! match a catalog operation: renamed), or a path none of its templates matches (removed, or the
//! retired v0 API). Likely to fail one day, so each (consumer, operation) is named, with its calls
//! and the closest catalog operation by path.

use super::{Period, Recommendation, RecommendationKind, ResolvedLog, parse_user_agent};
use callbudget_api::OperationCatalog;
use callbudget_api::catalog::path_below_base;
use std::collections::{BTreeMap, BTreeSet};

/// What one consumer called that the catalog does not know.
#[derive(Default)]
struct Unknown {
    calls: u64,
    retries: u64,
    targets: BTreeSet<usize>,
    resources: BTreeSet<usize>,
    /// The closest catalog operation: the one the path matches, else the nearest template.
    closest: Option<String>,
}

/// One recommendation per consumer and unknown operation.
pub(super) fn recommendations(log: &ResolvedLog<'_>, period: &Period) -> Vec<Recommendation> {
    let catalog = OperationCatalog::meraki_v1();
    // (consumer, what was called) → its calls.
    let mut unknown: BTreeMap<(usize, String), Unknown> = BTreeMap::new();
    // Each shape's label and closest operation, worked out once.
    let mut labels: BTreeMap<usize, Option<(String, Option<String>)>> = BTreeMap::new();
    // Most logs call only known operations: then no request needs looking at.
    let requests = log
        .calls_unknown_operations()
        .then(|| log.requests())
        .into_iter()
        .flatten();
    for r in requests {
        let Some(consumer) = r.consumer() else {
            continue;
        };
        let r = &r;
        let shape = log.shape(r);
        if r.operation.is_some() && shape.unknown_operation_id.is_none() {
            continue;
        }
        let key = log.shape_index(r);
        let label = labels.entry(key).or_insert_with(|| {
            let method = shape.method.as_deref().unwrap_or("GET");
            let path = log.resource(r);
            if let Some(id) = &shape.unknown_operation_id {
                // Renamed: the path still matches; else the nearest template.
                let closest = r.operation.map(|op| op.operation_id.clone()).or_else(|| {
                    path.and_then(|p| catalog.closest(method, p))
                        .map(|op| op.operation_id.clone())
                });
                return Some((id.clone(), closest));
            }
            let path = path?;
            let closest = catalog.closest(method, path);
            Some((
                format!(
                    "{method} {}",
                    generalize(path, closest.map(|op| op.path.as_str()))
                ),
                closest.map(|op| op.operation_id.clone()),
            ))
        });
        let Some((label, closest)) = label.clone() else {
            continue;
        };
        let entry = unknown.entry((consumer, label)).or_default();
        entry.closest = closest;
        if r.retry {
            entry.retries += 1;
            continue;
        }
        entry.calls += 1;
        entry.targets.extend(r.target_index());
        entry.resources.extend(log.resource_index(r));
    }
    let source = catalog.source();
    unknown
        .into_iter()
        .filter(|(_, u)| u.calls > 0)
        .map(|((consumer, label), u)| {
            let current = (u.calls as f64 * period.per_day).round();
            let closest = u
                .closest
                .clone()
                .unwrap_or_else(|| "(no catalog operation shares a path segment)".to_owned());
            let arithmetic = format!(
                "{read}{retries} to {label}, which the catalog ({source}) does not list: \
                 deprecated, renamed or removed; the closest catalog operation by path is \
                 {closest}",
                read = period.calls_text(u.calls, current),
                retries = super::retries_text(u.retries, "calls"),
            );
            let user_agent = &log.consumers[consumer];
            Recommendation {
                kind: RecommendationKind::UnknownOperation,
                consumer: user_agent.clone(),
                application: parse_user_agent(user_agent).caller.to_owned(),
                current_operation: label,
                calls_in_window: u.calls,
                retries_excluded: u.retries,
                current_calls_per_day: current,
                distinct_targets: u.targets.len() as u64,
                distinct_resources: u.resources.len() as u64,
                polling_interval_seconds: None,
                cycles_per_day: None,
                suggested_operation: closest,
                calls_per_cycle_after: None,
                per_page: None,
                filter: None,
                calls_per_day_after: current,
                calls_saved_per_day: 0.0,
                estimated: false,
                arithmetic,
                reason: None,
                documentation_url: u
                    .closest
                    .as_deref()
                    .and_then(|id| catalog.get(id))
                    .map(|op| op.documentation_url()),
            }
        })
        .collect()
}

/// `path` with the segments that stand where `template` has a `{parameter}` replaced by it, so
/// that the calls of one unknown operation on many devices are named once; without a template,
/// segments holding a digit become `{id}`.
fn generalize(path: &str, template: Option<&str>) -> String {
    let segments = path_below_base(path).split('/').filter(|s| !s.is_empty());
    let template: Vec<&str> = template
        .map(|t| t.split('/').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut out = String::new();
    for (i, segment) in segments.enumerate() {
        out.push('/');
        match template.get(i) {
            Some(t) if t.starts_with('{') => out.push_str(t),
            None if segment.chars().any(|c| c.is_ascii_digit()) => out.push_str("{id}"),
            _ => out.push_str(segment),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_are_named_by_their_shape() {
        assert_eq!(
            generalize(
                "/devices/Q2XX-1/lldp_cdp",
                Some("/devices/{serial}/lldpCdp")
            ),
            "/devices/{serial}/lldp_cdp"
        );
        assert_eq!(generalize("/nothing/42/here", None), "/nothing/{id}/here");
    }
}
