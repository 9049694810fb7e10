//! Consumers and retry behaviour on a collected acme-week: the noisy poller is the biggest
//! consumer, and the two clients that ignore Retry-After are told apart from the one that honours it.

use crate::support::{ACME_ORG, acme_week_config, collect_acme_range, serve, time};
use callbudget::analysis::{
    AnalysisWindow, ConsumerKey, FindingKind, RetryOptions, consumer_findings, consumer_usage,
    load_request_log, retry_behaviour, retry_findings,
};
use callbudget::budget::BudgetModel;
use callbudget::store::{OrgId, Store};

#[test]
fn acme_week_consumers_and_retry_behaviour_match_the_scenario() {
    let handle = serve(acme_week_config("2026-11-20T00:00:00Z"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let (since, until) = (time("2026-11-19T06:00:00Z"), time("2026-11-19T12:00:00Z"));
    collect_acme_range(&handle, &db, since, until);
    let store = Store::open(&db).expect("the database opens");
    let window = AnalysisWindow::new(since, until).expect("a valid window");
    let log = load_request_log(&store, &OrgId::new(ACME_ORG), &window).expect("the log loads");

    let truth = handle.simulator().ground_truth();
    let org_truth = truth
        .organizations
        .iter()
        .find(|o| o.org_id == ACME_ORG)
        .expect("acme-week's organization has a ground truth");
    let agent = |name: &str| {
        org_truth
            .consumers
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.user_agent.clone())
            .unwrap_or_else(|| panic!("acme-week has a consumer {name}"))
    };

    let usage = consumer_usage(
        &log,
        &window,
        ConsumerKey::UserAgent,
        &BudgetModel::meraki(),
        None,
    )
    .expect("consumer usage");
    let biggest = usage
        .iter()
        .max_by_key(|u| u.requests)
        .expect("acme-week has consumers");
    assert_eq!(
        biggest.consumer.as_deref(),
        Some(agent("noc-poller").as_str())
    );
    // The poller, running the budget flat out all day, fills most of the saturated seconds and
    // ranks first; the 09:00 burst script comes next.
    let ranking: Vec<Option<&str>> = usage
        .iter()
        .take(2)
        .map(|u| u.consumer.as_deref())
        .collect();
    assert_eq!(
        ranking,
        [
            Some(agent("noc-poller").as_str()),
            Some(agent("port-config-script").as_str())
        ]
    );
    let noisy = consumer_findings(&usage, &window, ConsumerKey::UserAgent);
    assert!(noisy.iter().any(|f| f.kind == FindingKind::NoisyConsumer
        && f.consumer.as_deref() == Some(agent("noc-poller").as_str())));

    let options = RetryOptions::default();
    let behaviour = retry_behaviour(&log, &options).expect("retry behaviour");
    let findings = retry_findings(&behaviour, &window, &options);
    let flagged = |kind: FindingKind, name: &str| {
        let ua = agent(name);
        findings
            .iter()
            .any(|f| f.kind == kind && f.consumer.as_deref() == Some(ua.as_str()))
    };
    assert!(flagged(
        FindingKind::IgnoresRetryAfter,
        "port-config-script"
    ));
    assert!(flagged(FindingKind::IgnoresRetryAfter, "noc-poller"));
    assert!(!flagged(
        FindingKind::IgnoresRetryAfter,
        "sdk-inventory-app"
    ));
    assert!(
        flagged(FindingKind::SynchronizedRetries, "port-config-script")
            || flagged(FindingKind::NoBackoffGrowth, "port-config-script")
    );
}
