//! The audit as an OpenMetrics text file (`metrics.prom`), for node_exporter's textfile collector
//! and the Prometheus/Grafana dashboards teams already watch.
//!
//! Every figure describes the audit's window and is replaced by the next audit, so every family is
//! a **gauge**: a `_total` counter would promise a count that only grows, and `rate()` over one
//! that resets each night would invent numbers. Divide by `callbudget_audit_window_seconds` for a
//! rate. Consumers are one label (`consumer`, the name the audit gives them) with bounded
//! cardinality: the top [`TOP_CONSUMERS`] by requests, the rest summed as `other`. Every series has
//! one label set: what several consumers add up to under `other` (their recommendations for the
//! same operation too) is one sample, and two names that read the same once escaped (a user agent
//! with an escape character and one with the text `\u{1b}`) get labels told apart by a ` (2)`.
//! The text is
//! also valid Prometheus text format 0.0.4 (what the textfile collector reads): `# UNIT` and
//! `# EOF` are comments there.

use super::ReportInput;
use callbudget_analysis::{OrgAudit, Severity};
use std::collections::BTreeMap;
use std::fmt::Write;

/// How many consumers get a label of their own per organization; the rest are `other`.
pub const TOP_CONSUMERS: usize = 10;

/// The label value that sums every consumer beyond the top ones.
pub const OTHER_CONSUMERS: &str = "other";
/// The label of the requests that recorded no consumer.
pub const UNRECORDED_CONSUMER: &str = "(none)";

/// One metric family: its name, what it means, its unit (if it has one) and its samples.
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Option<&'static str>,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
    /// Each sample's place by its label set as written.
    written: std::collections::HashMap<String, usize>,
}

impl Family {
    fn new(name: &'static str, unit: Option<&'static str>, help: &'static str) -> Self {
        Family {
            name,
            help,
            unit,
            samples: Vec::new(),
            written: std::collections::HashMap::new(),
        }
    }

    /// Adds a sample; one whose label set reads as an earlier one's once written (the same
    /// series) is summed into it, so that the file never holds a series twice — every family is a
    /// count or a share, which add up.
    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        match self.written.entry(label_set(&labels)) {
            std::collections::hash_map::Entry::Occupied(at) => self.samples[*at.get()].1 += value,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(self.samples.len());
                self.samples.push((labels, value));
            }
        }
    }
}

/// The metric families `render` writes, by name: what the Grafana dashboard and the alert rules in
/// `docs/` may refer to (a test holds them to it).
pub const METRIC_NAMES: [&str; 16] = [
    "callbudget_audit_timestamp_seconds",
    "callbudget_audit_window_start_timestamp_seconds",
    "callbudget_audit_window_end_timestamp_seconds",
    "callbudget_audit_window_seconds",
    "callbudget_organization",
    "callbudget_requests",
    "callbudget_http_429_responses",
    "callbudget_time_at_or_over_limit_seconds",
    "callbudget_budget_used_ratio",
    "callbudget_budget_rate_requests_per_second",
    "callbudget_consumer_requests",
    "callbudget_consumer_http_429_responses",
    "callbudget_consumer_budget_share_ratio",
    "callbudget_consumer_early_retries",
    "callbudget_recommendation_calls_saved_per_day",
    "callbudget_findings",
];

pub fn render(input: &ReportInput<'_>) -> String {
    let mut families = vec![
        Family::new(
            "callbudget_audit_timestamp_seconds",
            Some("seconds"),
            "When the audit was made, as a Unix time.",
        ),
        Family::new(
            "callbudget_audit_window_start_timestamp_seconds",
            Some("seconds"),
            "Start of the audited window (inclusive), as a Unix time.",
        ),
        Family::new(
            "callbudget_audit_window_end_timestamp_seconds",
            Some("seconds"),
            "End of the audited window (exclusive), as a Unix time: how fresh the figures are.",
        ),
        Family::new(
            "callbudget_audit_window_seconds",
            Some("seconds"),
            "Length of the audited window; divide a count by it for a rate.",
        ),
        Family::new(
            "callbudget_organization",
            None,
            "The organization's name, as a label (value always 1).",
        ),
        Family::new(
            "callbudget_requests",
            None,
            "API requests the organization's log holds for the window (every consumer).",
        ),
        Family::new(
            "callbudget_http_429_responses",
            None,
            "Requests answered 429 Too Many Requests in the window.",
        ),
        Family::new(
            "callbudget_time_at_or_over_limit_seconds",
            Some("seconds"),
            "Seconds of the window in which the replayed budget refused a request or held its rate.",
        ),
        Family::new(
            "callbudget_budget_used_ratio",
            Some("ratio"),
            "Requests over what the budget's sustained rate admits in the window (0 to 1; averages hide bursts).",
        ),
        Family::new(
            "callbudget_budget_rate_requests_per_second",
            Some("requests_per_second"),
            "The budget's sustained rate (Meraki: 10 per second per organization).",
        ),
        Family::new(
            "callbudget_consumer_requests",
            None,
            "Requests a consumer sent in the window (top consumers; the rest as consumer=\"other\").",
        ),
        Family::new(
            "callbudget_consumer_http_429_responses",
            None,
            "429 answers a consumer received in the window.",
        ),
        Family::new(
            "callbudget_consumer_budget_share_ratio",
            Some("ratio"),
            "A consumer's requests over what the budget admits in the window.",
        ),
        Family::new(
            "callbudget_consumer_early_retries",
            None,
            "Retries a consumer sent after a 429 before Retry-After could have passed (beyond its own rhythm of repeating calls).",
        ),
        Family::new(
            "callbudget_recommendation_calls_saved_per_day",
            None,
            "Calls a day a recommendation would save (the consumer, the operation it calls, the one to call instead).",
        ),
        Family::new(
            "callbudget_findings",
            None,
            "The audit's findings by kind and severity.",
        ),
    ];
    debug_assert_eq!(
        families.iter().map(|f| f.name).collect::<Vec<_>>(),
        METRIC_NAMES
    );
    let generated = input.context.generated_at.timestamp_micros() as f64 / 1e6;
    families[0].add(Vec::new(), generated);
    for audit in input.audits {
        add_audit(&mut families, audit);
    }
    let mut out = String::new();
    for family in &families {
        if family.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        if let Some(unit) = family.unit {
            let _ = writeln!(out, "# UNIT {} {unit}", family.name);
        }
        for (labels, value) in &family.samples {
            let _ = writeln!(
                out,
                "{}{} {}",
                family.name,
                label_set(labels),
                number(*value)
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

fn add_audit(families: &mut [Family], audit: &OrgAudit) {
    let org = || vec![("org", audit.org_id.as_str().to_owned())];
    let window_seconds = (audit.window.end - audit.window.start).num_milliseconds() as f64 / 1e3;
    let rate = audit.timeline.budget.sustained_rate_per_second();
    let capacity = rate * window_seconds;
    let seconds = |t: &chrono::DateTime<chrono::Utc>| t.timestamp_micros() as f64 / 1e6;
    families[1].add(org(), seconds(&audit.window.start));
    families[2].add(org(), seconds(&audit.window.end));
    families[3].add(org(), window_seconds);
    let mut info = org();
    info.push(("name", audit.organization_name.clone().unwrap_or_default()));
    families[4].add(info, 1.0);
    families[5].add(org(), audit.requests as f64);
    families[6].add(org(), audit.http_429s as f64);
    families[7].add(org(), audit.timeline.seconds_at_or_over_limit as f64);
    families[8].add(
        org(),
        if capacity > 0.0 {
            audit.requests as f64 / capacity
        } else {
            0.0
        },
    );
    families[9].add(org(), rate);

    // The top consumers by requests keep their name; the rest are one `other`.
    let mut by_requests: Vec<_> = audit.consumers.iter().collect();
    by_requests.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(a.consumer.cmp(&b.consumer))
    });
    let named: Vec<Option<&str>> = by_requests
        .iter()
        .take(TOP_CONSUMERS)
        .map(|c| c.consumer.as_deref())
        .collect();
    let label = |name: Option<&str>| {
        if named.contains(&name) {
            consumer_label(name)
        } else {
            OTHER_CONSUMERS.to_owned()
        }
    };
    let mut consumers: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for c in &audit.consumers {
        let totals = consumers.entry(label(c.consumer.as_deref())).or_default();
        totals[0] += c.requests as f64;
        totals[1] += c.http_429s as f64;
        totals[2] += c.budget_share;
    }
    for r in &audit.retries {
        // The consumer's name, as the consumers are named; the early retries the analysis judges.
        consumers.entry(label(r.consumer.as_deref())).or_default()[3] +=
            r.early_beyond_rhythm as f64;
    }
    // `other` only when it holds something: an empty one would read as a consumer.
    consumers.retain(|name, values| name != OTHER_CONSUMERS || values.iter().any(|v| *v != 0.0));
    // One sample per (consumer, operation, suggestion): the consumers summed under `other` may
    // each have the same recommendation.
    let mut recommendations: BTreeMap<(String, &str, &str), f64> = BTreeMap::new();
    for r in &audit.recommendations {
        *recommendations
            .entry((
                label(Some(&r.consumer)),
                r.current_operation.as_str(),
                r.suggested_operation.as_str(),
            ))
            .or_default() += r.calls_saved_per_day;
    }
    let shown = distinct_labels(
        consumers
            .keys()
            .chain(recommendations.keys().map(|(name, _, _)| name)),
    );
    let shown = |name: &String| shown.get(name).cloned().unwrap_or_else(|| name.clone());
    for (name, [requests, refused, share, early]) in &consumers {
        let labels = || {
            let mut labels = org();
            labels.push(("consumer", shown(name)));
            labels
        };
        families[10].add(labels(), *requests);
        families[11].add(labels(), *refused);
        families[12].add(labels(), *share);
        families[13].add(labels(), *early);
    }
    for ((name, operation, suggested), saved) in &recommendations {
        let mut labels = org();
        labels.push(("consumer", shown(name)));
        labels.push(("operation", (*operation).to_owned()));
        labels.push(("suggested_operation", (*suggested).to_owned()));
        families[14].add(labels, *saved);
    }
    let mut findings: BTreeMap<(&str, Severity), u64> = BTreeMap::new();
    for f in &audit.findings {
        *findings.entry((f.kind.as_str(), f.severity)).or_default() += 1;
    }
    for ((kind, severity), count) in findings {
        let mut labels = org();
        labels.push(("kind", kind.to_owned()));
        labels.push(("severity", severity.as_str().to_owned()));
        families[15].add(labels, count as f64);
    }
}

/// The label of a consumer: requests without the field are `(none)`; a real consumer whose name
/// is one of those labels (or ends with the suffix that tells them apart) gets ` (named)`
/// appended, so no label ever sums two different consumers.
fn consumer_label(name: Option<&str>) -> String {
    const NAMED: &str = " (named)";
    match name {
        None => UNRECORDED_CONSUMER.to_owned(),
        Some(n) if n == OTHER_CONSUMERS || n == UNRECORDED_CONSUMER || n.ends_with(NAMED) => {
            format!("{n}{NAMED}")
        }
        Some(n) => n.to_owned(),
    }
}

/// The label value each consumer label is written with: itself, unless it reads as an earlier one
/// once made printable and escaped (`a\u{1b}` with an ESC, and with the six characters): then
/// with ` (2)`, ` (3)`… until it reads as no other. Labels come in order, so the same names get
/// the same values in every run.
fn distinct_labels<'a>(labels: impl Iterator<Item = &'a String>) -> BTreeMap<String, String> {
    let mut unique: Vec<&String> = labels.collect();
    unique.sort();
    unique.dedup();
    let mut written: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut shown = BTreeMap::new();
    for name in unique {
        let mut candidate = name.clone();
        let mut n = 1;
        while !written.insert(label_value(&candidate)) {
            n += 1;
            candidate = format!("{name} ({n})");
        }
        shown.insert(name.clone(), candidate);
    }
    shown
}

/// A label value as the file writes it: made printable, then escaped as the exposition format
/// says (backslash, quote; a newline cannot be left after the sanitiser).
fn label_value(value: &str) -> String {
    callbudget_api::text::printable(value)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// `{a="x",b="y"}`, values escaped as the exposition format says (backslash, quote, newline) after
/// the sanitiser has made any other control character visible; empty without labels.
fn label_set(labels: &[(&str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", label_value(value)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// A sample value: integers without a fraction, the rest as Rust writes an f64 (which both
/// parsers read); never NaN or infinite.
fn number(value: f64) -> String {
    if !value.is_finite() {
        "0".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_read_alike_once_escaped_are_told_apart() {
        let names = [
            "Evil\u{1b}X".to_owned(),
            "Evil\\u{1b}X".to_owned(),
            "Evil\\u{1b}X (2)".to_owned(),
            "Calm".to_owned(),
        ];
        let shown = distinct_labels(names.iter());
        assert_eq!(shown["Calm"], "Calm");
        let written: std::collections::BTreeSet<String> =
            shown.values().map(|v| label_value(v)).collect();
        assert_eq!(written.len(), shown.len(), "{shown:?}");
        assert_eq!(shown.len(), 4);
        // The same names in another order: the same labels.
        let again = distinct_labels(names.iter().rev());
        assert_eq!(again, shown);

        let mut family = Family::new("x", None, "y");
        family.add(vec![("consumer", "other".to_owned())], 2.0);
        family.add(vec![("consumer", "a".to_owned())], 1.0);
        family.add(vec![("consumer", "other".to_owned())], 3.0);
        assert_eq!(
            family.samples,
            [
                (vec![("consumer", "other".to_owned())], 5.0),
                (vec![("consumer", "a".to_owned())], 1.0)
            ]
        );
    }

    #[test]
    fn label_values_are_escaped_and_made_printable() {
        assert_eq!(
            label_set(&[("consumer", "a\"b\\c\nd\u{1b}".to_owned())]),
            "{consumer=\"a\\\"b\\\\c\\\\u{a}d\\\\u{1b}\"}"
        );
        assert_eq!(label_set(&[]), "");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::NAN), "0");
    }
}
