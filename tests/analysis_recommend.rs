//! Recommendations and what-ifs on a collected acme-week morning: the per-device pollers, the
//! burst script and the dashboard exporter each get the scenario's cheaper operation, and taking
//! the consumer that drives saturation out of the replay spares the others' refusals.

use crate::support::{ACME_ORG, acme_week_config, collect_acme_range, serve, time};
use callbudget::analysis::{
    AnalysisWindow, RecommendOptions, Recommendation, RecommendationKind, WhatIfScenario,
    load_request_log, recommend, senders_in_refused_seconds, what_if, what_if_top,
};
use callbudget::api::OperationCatalog;
use callbudget::budget::BudgetModel;
use callbudget::store::{OrgId, Store};

const NOC_POLLER: &str = "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)";
const PORT_SCRIPT: &str = "PortPusher/0.9 AcmeNetEng";
const INVENTORY: &str = "python-meraki/4.7.0 Caller/(InventorySync/3.4 Acme)";
const EXPORTER: &str = "python-meraki/4.7.0 Caller/(MerakiExporter/1.2 Grafana)";
const GRAFANA: &str = "python-meraki/4.7.0 Caller/(MerakiExporter/1.2 Grafana)";

fn find<'a>(recs: &'a [Recommendation], consumer: &str, op: &str) -> &'a Recommendation {
    recs.iter()
        .find(|r| r.consumer == consumer && r.current_operation == op)
        .unwrap_or_else(|| panic!("a recommendation for {consumer} on {op} in {recs:#?}"))
}

/// Collects the acme-week morning and analyses it: the recommendations, the consumer that sent
/// most during saturated seconds, and the others' refusals spared without it and with its
/// recommendations applied.
fn analyse_once() -> (Vec<Recommendation>, String, u64, Option<u64>, f64) {
    let config = acme_week_config("2026-11-20T00:00:00Z");
    let scenario = &config.scenarios[0];
    let device_networks = scenario
        .devices
        .iter()
        .map(|d| (d.serial.clone(), scenario.networks[d.network].clone()))
        .collect();
    let networks = scenario.networks.len() as f64;
    let handle = serve(config);
    // The scenario's arithmetic: the LLDP poll's planned calls a day, minus one topology call per
    // network per cycle (240 devices every 5 min = 69,120/day → 12 × 288 = 3,456; 65,664 saved).
    let truth = handle.simulator().ground_truth();
    let lldp_pattern = truth
        .organizations
        .iter()
        .filter(|o| o.org_id == ACME_ORG)
        .flat_map(|o| &o.consumers)
        .filter(|c| c.user_agent == NOC_POLLER)
        .flat_map(|c| &c.patterns)
        .find(|p| p.operations.iter().any(|op| op == "getDeviceLldpCdp"))
        .expect("acme-week's noc-poller polls LLDP");
    let cycles_per_day = 24.0 * 60.0 / lldp_pattern.every_minutes.expect("a polling interval");
    let planned_saving = lldp_pattern.planned_calls_per_day - networks * cycles_per_day;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let (since, until) = (time("2026-11-19T06:00:00Z"), time("2026-11-19T12:00:00Z"));
    collect_acme_range(&handle, &db, since, until);
    let store = Store::open(&db).expect("the database opens");
    let window = AnalysisWindow::new(since, until).expect("a valid window");
    let log = load_request_log(&store, &OrgId::new(ACME_ORG), &window).expect("the log loads");
    let catalog = OperationCatalog::meraki_v1();
    let recs = recommend(
        &log,
        &window,
        catalog,
        &RecommendOptions { device_networks },
    )
    .expect("recommendations");

    let top = what_if_top(&log, &BudgetModel::meraki(), &recs, catalog, 3).expect("what-ifs");
    let spared_without_top: Vec<(String, u64, u64)> = top
        .iter()
        .filter(|w| w.scenario == WhatIfScenario::WithoutConsumer)
        .map(|w| (w.consumer.clone(), w.spared, w.refused_others_before))
        .collect();
    // The three biggest senders: the poller, the inventory app and the exporter (the burst
    // script sends 600 writes a day and their retries: fewer).
    assert_eq!(
        spared_without_top,
        [
            (NOC_POLLER.to_owned(), 65, 65),
            (INVENTORY.to_owned(), 2, 125),
            (EXPORTER.to_owned(), 3, 123),
        ]
    );
    let senders = senders_in_refused_seconds(&log, &BudgetModel::meraki()).expect("senders");
    let driver = senders
        .first()
        .and_then(|c| c.user_agent.clone())
        .expect("someone sends during saturated seconds");
    let what_ifs = what_if(
        &log,
        &BudgetModel::meraki(),
        &[driver.as_str()],
        &recs,
        catalog,
    )
    .expect("what-ifs");
    let without = what_ifs
        .iter()
        .find(|w| w.scenario == WhatIfScenario::WithoutConsumer)
        .expect("a what-if without the driver");
    let with_recs = what_ifs
        .iter()
        .find(|w| matches!(w.scenario, WhatIfScenario::WithRecommendations { .. }))
        .map(|w| w.spared);
    (recs, driver, without.spared, with_recs, planned_saving)
}

#[test]
fn acme_week_recommendations_follow_the_scenarios_arithmetic_and_the_what_if_spares_refusals() {
    let (recs, driver, spared, spared_with_recs, planned_saving) = analyse_once();
    assert_eq!(planned_saving, 65_664.0);

    let lldp = find(&recs, NOC_POLLER, "getDeviceLldpCdp");
    assert_eq!(lldp.kind, RecommendationKind::FanOut);
    assert_eq!(lldp.suggested_operation, "getNetworkTopologyLinkLayer");
    assert_eq!(lldp.distinct_targets, 240);
    assert!(
        (lldp.calls_saved_per_day - planned_saving).abs() <= planned_saving / 10.0,
        "{lldp:#?}"
    );
    assert!(!lldp.estimated);

    let statuses = find(&recs, NOC_POLLER, "getDeviceSwitchPortsStatuses");
    assert_eq!(
        statuses.suggested_operation,
        "getOrganizationSwitchPortsStatusesBySwitch"
    );
    assert_eq!(statuses.distinct_targets, 120);

    let ports = find(&recs, PORT_SCRIPT, "updateDeviceSwitchPort");
    assert_eq!(ports.kind, RecommendationKind::WriteBurst);
    assert_eq!(ports.suggested_operation, "createOrganizationActionBatch");

    let networks = find(&recs, GRAFANA, "getOrganizationNetworks");
    assert_eq!(networks.kind, RecommendationKind::SlowChangingList);
    assert_eq!(
        networks.suggested_operation,
        "getOrganizationConfigurationChanges"
    );
    assert_eq!(networks.calls_per_day_after, 25.0);
    let policy = find(&recs, GRAFANA, "getOrganizationPolicyObjects");
    assert_eq!(policy.kind, RecommendationKind::SlowChangingList);

    // The 09:00 burst script sends most during saturated seconds; the replay without it refuses
    // none of the others' 62 refused requests, and neither does one with its writes batched.
    assert_eq!(driver, PORT_SCRIPT);
    assert_eq!(spared, 62, "removing {driver} spares the others' refusals");
    assert_eq!(spared_with_recs, Some(62));
    let (_, driver_again, spared_again, with_recs_again, _) = analyse_once();
    assert_eq!(
        (driver_again, spared_again, with_recs_again),
        (driver.clone(), spared, spared_with_recs),
        "the what-if is deterministic"
    );
}
