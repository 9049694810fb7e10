//! Consumers and retry behaviour on whole scenarios whose clients' behaviour is known: the retry
//! findings name only the clients that retry before Retry-After could have passed (acme-week,
//! tiny, retry-mix, and a scenario no threshold was tuned on), a good citizen never ranks above a
//! far bigger sender, and every part of an audit names a consumer the same way.

use crate::support::{
    ACME_ORG, API_KEY, TINY_ORG, acme_week_config, collect_acme_range, sample_path, serve,
    store_hourly_log, time, tiny_scenario,
};
use callbudget_analysis::{
    AnalysisWindow, AuditRequest, ConsumerKey, FindingKind, OrgAudit, RetryOptions, Severity,
    consumer_findings, consumer_usage, load_request_log, retry_behaviour, retry_findings,
    run_audits,
};
use callbudget_api::budget::BudgetModel;
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{SimConfig, Simulator};
use callbudget_store::{OrgId, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where the scenarios' timelines end: their day is 2026-11-19.
const END: &str = "2026-11-20T00:00:00Z";
/// retry-mix.toml's organization.
const RETRY_MIX_ORG: &str = "316000";

/// The retry findings that say a client misbehaves (all but the note on jitter).
const MISBEHAVIOUR: [FindingKind; 3] = [
    FindingKind::IgnoresRetryAfter,
    FindingKind::RetryStorm,
    FindingKind::NoBackoffGrowth,
];

/// The audit of a scenario's whole day, its log stored an hour a window, as `analyze` runs it.
fn audit_day(scenario: Scenario) -> (OrgAudit, Simulator) {
    audit_hours(scenario, "2026-11-19T00:00:00Z", END)
}

/// The audit of `[from, to)` of a scenario's day, only those hours stored.
fn audit_hours(scenario: Scenario, from: &str, to: &str) -> (OrgAudit, Simulator) {
    let org = scenario.org_id.clone();
    let simulator = Simulator::build(SimConfig::new(vec![scenario], time(END), API_KEY))
        .expect("the scenario builds");
    let mut store = Store::open_in_memory().expect("a database in memory");
    store_hourly_log(&mut store, &simulator, &org, time(from), time(to));
    let mut run = run_audits(&store, &AuditRequest::default()).expect("the audit runs");
    assert_eq!(run.audits.len(), 1);
    (run.audits.remove(0), simulator)
}

/// Each scenario consumer's name (as the scenario calls it) → its name in the audit (its
/// application). The ground truth is read once: it walks the whole log.
fn applications(simulator: &Simulator) -> BTreeMap<String, String> {
    simulator.ground_truth().organizations[0]
        .consumers
        .iter()
        .map(|c| {
            let name = ConsumerKey::Application.client_name(&c.user_agent);
            (c.name.clone(), name.to_owned())
        })
        .collect()
}

/// The audit's name of the scenario consumer `name`.
fn named_in<'a>(names: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    names
        .get(name)
        .unwrap_or_else(|| panic!("the scenario has a consumer {name}"))
}

/// The consumers named by findings of `kinds` at `severity` or above.
fn named(audit: &OrgAudit, kinds: &[FindingKind], severity: Severity) -> BTreeSet<String> {
    audit
        .findings
        .iter()
        .filter(|f| kinds.contains(&f.kind) && f.severity >= severity)
        .filter_map(|f| f.consumer.clone())
        .collect()
}

/// Every name an audit gives a consumer, anywhere.
fn every_name(audit: &OrgAudit) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = audit
        .findings
        .iter()
        .filter_map(|f| f.consumer.clone())
        .collect();
    names.extend(audit.retries.iter().filter_map(|r| r.consumer.clone()));
    names.extend(audit.recommendations.iter().map(|r| r.consumer.clone()));
    names.extend(audit.what_ifs.iter().map(|w| w.consumer.clone()));
    for spike in &audit.spikes {
        let named = spike.most_refused.iter().chain(&spike.top_senders_at_start);
        names.extend(named.filter_map(|c| c.consumer.clone()));
    }
    names.extend(
        audit
            .series
            .retry_delays
            .iter()
            .filter_map(|h| h.consumer.clone()),
    );
    names
}

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
    // The poller, running the budget flat out all day, drives most of the saturated seconds and
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
    let behaviour = retry_behaviour(&log, ConsumerKey::UserAgent, &options).expect("retries");
    let findings = retry_findings(&behaviour, &window);
    let flagged = |kinds: &[FindingKind]| -> BTreeSet<String> {
        findings
            .iter()
            .filter(|f| kinds.contains(&f.kind) && f.severity >= Severity::Warning)
            .filter_map(|f| f.consumer.clone())
            .collect()
    };
    // The script retries every 200 ms, and the other consumers were refused in those seconds.
    // The poller waits a fixed second after each answer: with Retry-After at 1 s that is
    // compliant by any reading of the log, so it is not flagged (it was, before issue 16).
    assert_eq!(
        flagged(&MISBEHAVIOUR),
        BTreeSet::from([agent("port-config-script")])
    );
    let ignores = findings
        .iter()
        .find(|f| f.kind == FindingKind::IgnoresRetryAfter)
        .expect("the script ignores Retry-After");
    assert_eq!(ignores.severity, Severity::Critical);
    let poller = behaviour
        .behaviours
        .iter()
        .find(|b| b.consumer.as_deref() == Some(agent("noc-poller").as_str()))
        .expect("the poller was refused");
    assert!(poller.judged(), "{poller:?}");
    assert_eq!(poller.early_retries, 0);
    let sdk = behaviour
        .behaviours
        .iter()
        .find(|b| b.consumer.as_deref() == Some(agent("sdk-inventory-app").as_str()));
    assert!(sdk.is_none_or(|b| b.early_retries == 0), "{sdk:?}");
}

#[test]
fn retry_mix_names_only_the_client_that_retries_before_retry_after() {
    let scenario = Scenario::load(&sample_path("retry-mix.toml")).expect("retry-mix is valid");
    let (audit, simulator) = audit_day(scenario);
    assert_eq!(audit.org_id, RETRY_MIX_ORG);
    let names = applications(&simulator);
    let app = |name: &str| named_in(&names, name).to_owned();
    let burst = app("port-burst");

    // Only the burst script, retrying 0.5 s after each answer, is told it misbehaves.
    assert_eq!(
        named(&audit, &MISBEHAVIOUR, Severity::Info),
        BTreeSet::from([burst.clone()])
    );
    // Its early retries refused others (the poller and the inventory script run at 03:00 too).
    let ignores: Vec<_> = audit
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::IgnoresRetryAfter)
        .collect();
    assert_eq!(ignores.len(), 1);
    assert!(ignores[0].severity >= Severity::Warning, "{:?}", ignores[0]);
    // The poller waits exactly Retry-After after each of its hundreds of refusals: compliant, with
    // at most a note that it does not jitter. The SDK app (1–2 s) has one "early retry": at
    // 00:30:09.163 its getOrganizationDevices was refused, and 0.57 s later its trickle happened to
    // call that path again, before the retry came — the log cannot tell the two apart, which is why
    // one early retry is not evidence.
    let retries = |name: &str| {
        audit
            .retries
            .iter()
            .find(|r| r.consumer.as_deref() == Some(app(name).as_str()))
            .unwrap_or_else(|| panic!("{name} was refused"))
            .clone()
    };
    let poller = retries("status-poller");
    assert!(poller.retried_429s >= 100, "{poller:?}");
    assert_eq!(poller.early_retries, 0);
    let sdk = retries("sdk-app");
    assert_eq!((sdk.retried_429s, sdk.early_retries), (13, 1));
    assert!(!sdk.ignores_retry_after());
    assert_eq!(
        named(
            &audit,
            &[FindingKind::SynchronizedRetries],
            Severity::Warning
        ),
        BTreeSet::from([burst.clone()])
    );
    let burst_retries = retries("port-burst");
    assert_eq!(burst_retries.early_retries, burst_retries.retried_429s);
    // The retry-delay chart counts what the finding counts.
    let histogram = audit
        .series
        .retry_delays
        .iter()
        .find(|h| h.consumer.as_deref() == Some(burst.as_str()))
        .expect("the burst script's retries are drawn");
    assert_eq!(histogram.early_retries(), burst_retries.early_retries);

    // The poller drives the saturated seconds; the burst comes next; the rest are bystanders,
    // ranked by what they send: the SDK app (a good citizen, 3 × fewer requests than the
    // inventory script) last.
    let ranking: Vec<String> = audit
        .consumers
        .iter()
        .filter_map(|c| c.consumer.clone())
        .collect();
    assert_eq!(
        ranking,
        [
            app("status-poller"),
            burst.clone(),
            app("inventory-script"),
            app("client-scraper"),
            app("sdk-app")
        ]
    );

    // One name per consumer: whatever part of the audit names a consumer uses its row's name,
    // and the full user agent is a detail.
    let rows: BTreeSet<String> = ranking.into_iter().collect();
    let names = every_name(&audit);
    assert!(names.is_subset(&rows), "{names:?} not all in {rows:?}");
    assert!(names.contains(&app("status-poller")));
    assert_eq!(
        audit.consumers[0].user_agent.as_deref(),
        Some("python-meraki/4.7.0 Caller/(SwitchWatch/1.4 RetryMix)")
    );
}

#[test]
fn tiny_names_only_its_burst_script_which_refused_nobody_else() {
    let (audit, simulator) = audit_day(tiny_scenario());
    assert_eq!(audit.org_id, TINY_ORG);
    let pusher = named_in(&applications(&simulator), "burst-script").to_owned();
    assert_eq!(
        named(&audit, &MISBEHAVIOUR, Severity::Info),
        BTreeSet::from([pusher.clone()])
    );
    // Nobody else was refused at 06:00: the early retries held up only the script itself.
    assert_eq!(
        named(&audit, &MISBEHAVIOUR, Severity::Warning),
        BTreeSet::new()
    );
    let rows: BTreeSet<String> = audit
        .consumers
        .iter()
        .filter_map(|c| c.consumer.clone())
        .collect();
    assert!(every_name(&audit).is_subset(&rows));
}

/// Written after the thresholds were set, with other numbers: a poller that honours Retry-After
/// with 2.5–5 s of jitter, a script that retries 0.9 s after each answer (answers in 10–40 ms), and
/// one that backs off exponentially from Retry-After without jitter.
const HOLDOUT: &str = r#"
[organization]
id = "424242"
name = "Holdout Co"
days = 1
seed = 99

[inventory]
networks = 4
devices = 80

[[admins]]
id = "42"
name = "Hal Out"
email = "hal@holdout.example"

[[consumers]]
name = "jittered-poller"
user_agent = "python-meraki/4.7.0 Caller/(StatusBoard/3.0 Holdout)"
admin = "42"
source_ip = "192.0.2.1"
client_id = "k_h1"
latency_ms = [40, 60]
on_429 = { honours_retry_after = true, backoff = "none", jitter = true, retry_delay_seconds = 2.5, max_retries = 6 }

[[consumers.traffic]]
kind = "poll"
operation = "getDeviceClients"
every_minutes = 10
targets = 80
concurrency = 2

[[consumers]]
name = "quick-retrier"
user_agent = "ConfigSync/0.7 Holdout"
admin = "42"
source_ip = "192.0.2.2"
client_id = "k_h2"
latency_ms = [10, 40]
on_429 = { honours_retry_after = false, backoff = "none", jitter = false, retry_delay_seconds = 0.9, max_retries = 8 }

[[consumers.traffic]]
kind = "burst"
operations = ["updateDeviceSwitchPort"]
at = "12:00"
requests = 200
concurrency = 3

[[consumers]]
name = "backing-off"
user_agent = "python-meraki/4.7.0 Caller/(Reports/1.1 Holdout)"
admin = "42"
source_ip = "192.0.2.3"
client_id = "k_h3"
latency_ms = [60, 120]
on_429 = { honours_retry_after = true, backoff = "exponential", jitter = false, retry_delay_seconds = 1.0, max_retries = 5 }

[[consumers.traffic]]
kind = "poll"
operation = "getDevice"
every_minutes = 30
targets = 80
concurrency = 2
"#;

#[test]
fn a_scenario_no_threshold_was_tuned_on_names_only_the_quick_retrier() {
    let scenario =
        Scenario::parse(Path::new("holdout.toml"), HOLDOUT).expect("the holdout scenario is valid");
    let (audit, simulator) = audit_day(scenario);
    let names = applications(&simulator);
    let app = |name: &str| named_in(&names, name).to_owned();
    let judged = |name: &str| {
        audit
            .retries
            .iter()
            .find(|r| r.consumer.as_deref() == Some(app(name).as_str()))
            .unwrap_or_else(|| panic!("{name} was refused: {:?}", audit.retries))
            .clone()
    };
    // Every client met enough refusals to be judged.
    for name in ["jittered-poller", "quick-retrier", "backing-off"] {
        assert!(judged(name).judged(), "{:?}", judged(name));
    }
    assert_eq!(judged("jittered-poller").early_retries, 0);
    assert_eq!(judged("backing-off").early_retries, 0);
    let quick = judged("quick-retrier");
    assert_eq!(quick.early_retries, quick.retried_429s);
    assert_eq!(
        named(&audit, &MISBEHAVIOUR, Severity::Info),
        BTreeSet::from([app("quick-retrier")])
    );
    let ignores = named(&audit, &[FindingKind::IgnoresRetryAfter], Severity::Info);
    assert_eq!(ignores, BTreeSet::from([app("quick-retrier")]));
}

#[test]
fn five_consumers_names_only_the_burst_and_its_compliant_poller_repeats_on_its_own_rhythm() {
    // Issue 16's trial, 02:00–04:00 (the 03:00 burst). The poller waits exactly Retry-After, but
    // its 10-second cycles outlast their interval, so another cycle often sends the same call
    // within a second: as often after an answer as after a refusal, which is its rhythm, not an
    // early retry.
    let scenario =
        Scenario::load(&sample_path("five-consumers.toml")).expect("five-consumers is valid");
    let (audit, simulator) = audit_hours(scenario, "2026-11-19T02:00:00Z", "2026-11-19T04:00:00Z");
    let names = applications(&simulator);
    let app = |name: &str| named_in(&names, name).to_owned();
    assert_eq!(
        named(&audit, &MISBEHAVIOUR, Severity::Info),
        BTreeSet::from([app("port-pusher")])
    );
    let poller = audit
        .retries
        .iter()
        .find(|r| r.consumer.as_deref() == Some(app("switch-status-poller").as_str()))
        .expect("the poller was refused");
    assert!(poller.early_retries > 1_000, "{poller:?}");
    assert!(poller.quick_repeat_share > 0.1, "{poller:?}");
    assert!(!poller.ignores_retry_after(), "{poller:?}");
    // The SDK app, a good citizen sending 18 × fewer requests than the inventory script, ranks
    // below it and below the scraper.
    let rank = |name: &str| {
        audit
            .consumers
            .iter()
            .position(|c| c.consumer.as_deref() == Some(app(name).as_str()))
            .unwrap_or_else(|| panic!("{name} is a consumer"))
    };
    assert_eq!(rank("switch-status-poller"), 0);
    assert!(rank("sdk-app") > rank("inventory-script"));
    assert!(rank("sdk-app") > rank("ap-client-scraper"));
}
