//! `report --format openmetrics` and `analyze --format openmetrics`: a metrics file a real parser
//! reads, figures equal to the audit's, bounded labels, and a Grafana dashboard and alert rules
//! that only name metrics the file holds.

use crate::support::{
    TINY_END, TINY_ORG, collect_into, fast_client_config, serve, time, tiny_config,
};
use assert_cmd::Command;
use callbudget_collect::{CollectOptions, OrgSelection};
use callbudget_report::openmetrics::{METRIC_NAMES, OTHER_CONSUMERS, TOP_CONSUMERS};
use callbudget_store::OrgId;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

fn collect_tiny(db: &Path) {
    let handle = serve(tiny_config());
    let summary = collect_into(
        db,
        fast_client_config(&handle),
        CollectOptions {
            orgs: OrgSelection::Ids(vec![OrgId::new(TINY_ORG)]),
            since: Some(time("2026-11-19T00:00:00Z")),
            until: Some(time(TINY_END)),
            ..CollectOptions::default()
        },
    );
    assert_eq!(summary.failed().count(), 0);
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("the Prometheus text parser reads the file")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?}"));
    match sample.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name} is not a gauge: {other:?}"),
    }
}

#[test]
fn the_metrics_file_reads_back_as_the_audit_it_was_made_from() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny(&db);
    let out = dir.path().join("report");
    let report = callbudget()
        .args([
            "report",
            "--since",
            "24h",
            "--format",
            "openmetrics,json",
            "--db",
        ])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("callbudget runs");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let text = std::fs::read_to_string(out.join("metrics.prom")).expect("metrics.prom is written");
    assert!(text.ends_with("# EOF\n"));
    let scrape = parse(&text);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("findings.json")).expect("findings.json"),
    )
    .expect("JSON");
    let audit = &json["audits"][0];
    let org = [("org", TINY_ORG)];

    let names: BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    assert!(names.iter().all(|n| METRIC_NAMES.contains(n)), "{names:?}");
    assert_eq!(
        value(&scrape, "callbudget_requests", &org),
        audit["requests"].as_f64().expect("requests")
    );
    assert_eq!(
        value(&scrape, "callbudget_http_429_responses", &org),
        audit["http_429s"].as_f64().expect("429s")
    );
    assert_eq!(
        value(&scrape, "callbudget_time_at_or_over_limit_seconds", &org),
        audit["timeline"]["seconds_at_or_over_limit"]
            .as_f64()
            .expect("seconds")
    );
    assert_eq!(
        value(&scrape, "callbudget_audit_window_seconds", &org),
        86_400.0
    );
    assert_eq!(
        value(
            &scrape,
            "callbudget_audit_window_end_timestamp_seconds",
            &org
        ),
        time(TINY_END).timestamp() as f64
    );
    let used = value(&scrape, "callbudget_budget_used_ratio", &org);
    let expected = audit["requests"].as_f64().expect("requests") / (10.0 * 86_400.0);
    assert!((used - expected).abs() < 1e-9, "{used} vs {expected}");

    // Per consumer: the audit's consumers, their requests adding up to the organization's.
    let consumers: Vec<&prometheus_parse::Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "callbudget_consumer_requests")
        .collect();
    assert_eq!(
        consumers.len(),
        audit["consumers"].as_array().expect("consumers").len()
    );
    let summed: f64 = consumers
        .iter()
        .map(|s| value(&scrape, &s.metric, &[("consumer", &s.labels["consumer"])]))
        .sum();
    assert_eq!(summed, audit["requests"].as_f64().expect("requests"));
    for finding_kind in audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().expect("a kind"))
        .collect::<BTreeSet<_>>()
    {
        let counted: f64 = scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "callbudget_findings" && s.labels.get("kind") == Some(finding_kind)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) => v,
                _ => 0.0,
            })
            .sum();
        let listed = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["kind"] == finding_kind)
            .count();
        assert_eq!(counted, listed as f64, "{finding_kind}");
    }

    // analyze prints the same families.
    let printed = callbudget()
        .args([
            "analyze",
            "--since",
            "24h",
            "--format",
            "openmetrics",
            "--db",
        ])
        .arg(&db)
        .output()
        .expect("callbudget runs");
    assert!(printed.status.success());
    let again = parse(&String::from_utf8(printed.stdout).expect("UTF-8"));
    assert_eq!(
        value(&again, "callbudget_requests", &org),
        value(&scrape, "callbudget_requests", &org)
    );
}

/// tiny's audit with `extra` consumers (name, requests) added beside its own, as metrics; and the
/// requests of all its consumers.
fn metrics_with_consumers(extra: &[(Option<String>, u64)]) -> (prometheus_parse::Scrape, u64) {
    use callbudget_analysis::{AuditRequest, run_audits};
    use callbudget_report::{ReportContext, ReportInput};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny(&db);
    let store = callbudget_store::Store::open(&db).expect("the database opens");
    let mut run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    let audit = &mut run.audits[0];
    let template = audit.consumers[0].clone();
    for (name, requests) in extra {
        let mut c = template.clone();
        c.consumer = name.clone();
        c.requests = *requests;
        audit.consumers.push(c);
    }
    let total: u64 = audit.consumers.iter().map(|c| c.requests).sum();
    let context = ReportContext::new(&db, time(TINY_END));
    let text = callbudget_report::openmetrics::render(&ReportInput {
        audits: &run.audits,
        context: &context,
    });
    (parse(&text), total)
}

/// The `consumer` labels of `callbudget_consumer_requests`, with their values.
fn consumer_requests(scrape: &prometheus_parse::Scrape) -> BTreeMap<String, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "callbudget_consumer_requests")
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Gauge(v) => v,
                ref other => panic!("not a gauge: {other:?}"),
            };
            (s.labels["consumer"].to_owned(), value)
        })
        .collect()
}

#[test]
fn consumer_labels_are_bounded_to_the_top_ones_and_other() {
    // Fourteen consumers: tiny's three and eleven copies with other names and fewer requests.
    let copies: Vec<(Option<String>, u64)> = (0..11u64)
        .map(|i| (Some(format!("copy-{i:02}")), 10 + i))
        .collect();
    let (scrape, total) = metrics_with_consumers(&copies);
    let requests = consumer_requests(&scrape);
    assert_eq!(requests.len(), TOP_CONSUMERS + 1, "{requests:?}");
    // The four smallest copies (10..=13 requests) are the other ones.
    assert_eq!(requests[OTHER_CONSUMERS], (10 + 11 + 12 + 13) as f64);
    assert_eq!(requests.values().sum::<f64>(), total as f64);
}

#[test]
fn a_consumer_named_like_a_reserved_label_keeps_a_label_of_its_own() {
    // Consumers literally named "other" and "(none)", one with the suffix itself, and requests
    // that recorded no consumer: four labels, none summing two of them.
    let named = |name: &str| Some(name.to_owned());
    let (scrape, _) = metrics_with_consumers(&[
        (named("other"), 7),
        (named("(none)"), 5),
        (named("other (named)"), 3),
        (None, 2),
    ]);
    let requests = consumer_requests(&scrape);
    assert_eq!(requests["other (named)"], 7.0);
    assert_eq!(requests["(none) (named)"], 5.0);
    assert_eq!(requests["other (named) (named)"], 3.0);
    assert_eq!(requests["(none)"], 2.0);
    // Seven consumers fit in the top ones: no other.
    assert!(!requests.contains_key(OTHER_CONSUMERS), "{requests:?}");
}

/// The `callbudget_…` metric names an expression text mentions.
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("callbudget_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn the_grafana_dashboard_and_the_alert_rules_name_only_metrics_the_file_holds() {
    use callbudget_analysis::{AuditRequest, run_audits};
    use callbudget_report::{ReportContext, ReportInput};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny(&db);
    let store = callbudget_store::Store::open(&db).expect("the database opens");
    let run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    let context = ReportContext::new(&db, time(TINY_END));
    let text = callbudget_report::openmetrics::render(&ReportInput {
        audits: &run.audits,
        context: &context,
    });
    let held: BTreeSet<String> = parse(&text)
        .samples
        .iter()
        .map(|s| s.metric.clone())
        .collect();
    assert_eq!(
        held.len(),
        METRIC_NAMES.len(),
        "tiny's audit fills every family"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/grafana/callbudget-dashboard.json"))
            .expect("the dashboard is in docs/"),
    )
    .expect("the dashboard is JSON");
    let mut expressions = String::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            expressions.push_str(target["expr"].as_str().expect("an expression"));
            expressions.push('\n');
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        expressions.push_str(variable["definition"].as_str().unwrap_or_default());
    }
    let rules = std::fs::read_to_string(root.join("docs/prometheus/callbudget-rules.yml"))
        .expect("the alert rules are in docs/");
    let exprs: String = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:"))
        .collect::<Vec<_>>()
        .join("\n");
    for (what, text, at_least) in [("dashboard", expressions, 10), ("rules", exprs, 5)] {
        let named = metric_names_in(&text);
        assert!(named.len() >= at_least, "{what}: {named:?}");
        for name in &named {
            assert!(
                held.contains(name),
                "the {what} refers to {name}, which metrics.prom does not hold"
            );
        }
    }
}

/// Review finding: early retries were filed by the full user agent (so an SDK client's landed on
/// `other`) and counted raw, where the analysis judges those beyond the client's own rhythm.
#[test]
fn early_retries_go_to_the_consumer_by_its_name_and_count_what_the_analysis_judges() {
    use callbudget_analysis::{AuditRequest, run_audits};
    use callbudget_report::{ReportContext, ReportInput};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    collect_tiny(&db);
    let store = callbudget_store::Store::open(&db).expect("the database opens");
    let mut run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    let retry = run.audits[0]
        .retries
        .iter_mut()
        .find(|r| r.early_retries > 0)
        .expect("tiny's burst script retries early");
    let name = retry.consumer.clone().expect("a named consumer");
    // As an SDK client's would be: the full user agent differs from the name.
    retry.user_agent = Some(format!("python-meraki/4.7.0 Caller/({name})"));
    retry.early_beyond_rhythm = retry.early_retries / 2;
    let expected = retry.early_beyond_rhythm as f64;
    let context = ReportContext::new(&db, time(TINY_END));
    let scrape = parse(&callbudget_report::openmetrics::render(&ReportInput {
        audits: &run.audits,
        context: &context,
    }));
    assert_eq!(
        value(
            &scrape,
            "callbudget_consumer_early_retries",
            &[("consumer", &name)]
        ),
        expected
    );
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.labels.get("consumer") == Some(OTHER_CONSUMERS)),
        "three consumers need no other"
    );
}
