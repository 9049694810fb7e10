//! The recommendation detectors on small literal logs: each rule's arithmetic, counts of intent
//! (retries left out), and the findings' wording.

use super::*;
use crate::fixtures::{self, request};
use chrono::{DateTime, TimeDelta, Utc};

const POLLER: &str = "Poller/1.0";

fn t0() -> DateTime<Utc> {
    callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
}

/// One hour from 10:00: everything scales by 24 to a day.
fn hour() -> AnalysisWindow {
    AnalysisWindow::new(t0(), t0() + TimeDelta::hours(1)).unwrap()
}

#[derive(Clone)]
struct Call<'a> {
    at_ms: i64,
    code: u16,
    agent: &'a str,
    operation_id: Option<&'a str>,
    method: &'a str,
    path: String,
}

fn call<'a>(
    at_ms: i64,
    agent: &'a str,
    op: Option<&'a str>,
    method: &'a str,
    path: String,
) -> Call<'a> {
    Call {
        at_ms,
        code: 200,
        agent,
        operation_id: op,
        method,
        path,
    }
}

fn request_log(calls: &[Call<'_>]) -> RequestColumns {
    fixtures::log(calls.iter().map(|c| {
        request(t0().timestamp_micros() + c.at_ms * 1000)
            .status(c.code)
            .method(c.method)
            .path(c.path.as_str())
            .user_agent(c.agent)
            .operation(c.operation_id)
    }))
}

fn serial(i: usize) -> String {
    format!("Q2XX-0000-{i:04}")
}

/// `devices` serials polled every `every_s` seconds over the hour, one call a second apart.
fn per_device_polls(
    op: Option<&'static str>,
    suffix: &str,
    devices: usize,
    every_s: i64,
) -> Vec<Call<'static>> {
    let mut calls = Vec::new();
    for cycle in 0..(3600 / every_s) {
        for d in 0..devices {
            calls.push(call(
                (cycle * every_s + d as i64) * 1000,
                POLLER,
                op,
                "GET",
                format!("/api/v1/devices/{}{suffix}", serial(d)),
            ));
        }
    }
    calls
}

/// Devices 0..n in network `N_{i % networks}`.
fn inventory(devices: usize, networks: usize) -> RecommendOptions {
    RecommendOptions {
        device_networks: (0..devices)
            .map(|i| (serial(i), format!("N_{}", i % networks)))
            .collect(),
    }
}

fn run(calls: &[Call<'_>], options: &RecommendOptions) -> Vec<Recommendation> {
    recommend(
        &request_log(calls),
        &hour(),
        OperationCatalog::meraki_v1(),
        options,
    )
    .unwrap()
}

#[test]
fn per_device_lldp_polling_becomes_one_topology_call_per_network() {
    // 10 devices in 2 networks every 5 min: 120 calls an hour = 2,880/day.
    let calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
    let recs = run(&calls, &inventory(10, 2));
    let catalog = OperationCatalog::meraki_v1();
    assert_eq!(
        recs,
        [Recommendation {
            kind: RecommendationKind::FanOut,
            consumer: POLLER.to_owned(),
            application: POLLER.to_owned(),
            current_operation: "getDeviceLldpCdp".to_owned(),
            calls_in_window: 120,
            retries_excluded: 0,
            current_calls_per_day: 2880.0,
            distinct_targets: 10,
            distinct_resources: 10,
            polling_interval_seconds: Some(300.0),
            cycles_per_day: Some(288.0),
            suggested_operation: "getNetworkTopologyLinkLayer".to_owned(),
            calls_per_cycle_after: Some(2),
            per_page: None,
            filter: None,
            calls_per_day_after: 576.0,
            calls_saved_per_day: 2304.0,
            estimated: false,
            arithmetic: "120 calls in 1 h = 2,880/day: 10 devices, each every 5.0 min → \
                         getNetworkTopologyLinkLayer once for each of the 2 networks = 2 call(s) \
                         a cycle instead of 10: 2,880/day × 2/10 = 576/day; saves 2,304/day"
                .to_owned(),
            reason: ReplacementTable::meraki_v1()
                .fan_out_pair("getDeviceLldpCdp")
                .map(|p| p.reason.clone()),
            documentation_url: Some(
                catalog
                    .get("getNetworkTopologyLinkLayer")
                    .unwrap()
                    .documentation_url()
            ),
        }]
    );
}

#[test]
fn records_without_an_operation_id_are_resolved_from_their_path() {
    let mut calls = per_device_polls(None, "/lldpCdp", 10, 300);
    // Unmatched paths and records without an operation are left out, not counted.
    calls.push(call(
        5,
        POLLER,
        None,
        "GET",
        "/api/v1/nothing/here".to_owned(),
    ));
    calls.push(call(
        6,
        POLLER,
        Some("noSuchOperation"),
        "GET",
        "/x".to_owned(),
    ));
    let recs = run(&calls, &inventory(10, 2));
    assert_eq!(recs.len(), 3, "{recs:#?}");
    assert_eq!(recs[0].current_operation, "getDeviceLldpCdp");
    assert_eq!(recs[0].calls_in_window, 120);
    assert_eq!(recs[0].calls_saved_per_day, 2304.0);
    // … and the two the catalog does not know are named, not counted in the fan-out.
    let unknown: Vec<(&str, &str, u64)> = recs[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.kind, RecommendationKind::UnknownOperation);
            (
                r.current_operation.as_str(),
                r.suggested_operation.as_str(),
                r.calls_in_window,
            )
        })
        .collect();
    assert_eq!(
        unknown,
        [
            (
                "GET /nothing/here",
                "(no catalog operation shares a path segment)",
                1
            ),
            (
                "noSuchOperation",
                "(no catalog operation shares a path segment)",
                1
            ),
        ]
    );
}

#[test]
fn without_an_inventory_the_networks_are_those_of_the_consumers_own_calls() {
    let mut calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
    for (i, net) in ["L_1", "L_2", "L_3"].iter().enumerate() {
        calls.push(call(
            i as i64,
            "Other/1",
            None,
            "GET",
            format!("/api/v1/networks/{net}/clients"),
        ));
    }
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    assert!(recs[0].estimated);
    assert_eq!(recs[0].calls_per_day_after, 3.0 * 288.0);
    assert!(
        recs[0].arithmetic.contains(
            "once for each of the 3 networks (estimated from the networks in the log: its own \
             calls name none)"
        ),
        "{}",
        recs[0].arithmetic
    );
    // Once the poller's own calls name networks (it reads two networks' devices), its loop is
    // over those, not the other consumer's.
    for (i, net) in ["N_0", "N_1"].iter().enumerate() {
        calls.push(call(
            10 + i as i64,
            POLLER,
            Some("getNetworkDevices"),
            "GET",
            format!("/api/v1/networks/{net}/devices"),
        ));
    }
    let recs = run(&calls, &RecommendOptions::default());
    let lldp = recs
        .iter()
        .find(|r| r.current_operation == "getDeviceLldpCdp")
        .unwrap();
    assert!(lldp.estimated);
    assert_eq!(lldp.calls_per_cycle_after, Some(2));
    assert_eq!(lldp.calls_per_day_after, 2.0 * 288.0);
    assert!(
        lldp.arithmetic.contains(
            "once for each of the 2 networks (estimated: the networks its own calls name)"
        ),
        "{}",
        lldp.arithmetic
    );
}

#[test]
fn per_device_port_statuses_become_paginated_org_wide_calls() {
    // 25 switches every 10 min: 150 calls = 3,600/day → ⌈25/20⌉ = 2 pages × 144 = 288/day.
    let calls = per_device_polls(
        Some("getDeviceSwitchPortsStatuses"),
        "/switch/ports/statuses",
        25,
        600,
    );
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(
        r.suggested_operation,
        "getOrganizationSwitchPortsStatusesBySwitch"
    );
    assert_eq!(
        (
            r.current_calls_per_day,
            r.calls_per_day_after,
            r.calls_saved_per_day
        ),
        (3600.0, 288.0, 3312.0)
    );
    assert_eq!(r.cycles_per_day, Some(144.0));
}

#[test]
fn a_few_devices_are_not_a_fan_out() {
    let calls = per_device_polls(
        Some("getDeviceLldpCdp"),
        "/lldpCdp",
        MIN_FAN_OUT_TARGETS - 1,
        300,
    );
    assert!(run(&calls, &inventory(10, 2)).is_empty());
}

#[test]
fn a_slow_changing_list_read_every_minute_is_read_daily_and_changes_followed_hourly() {
    let calls: Vec<Call<'_>> = (0..60)
        .map(|m| {
            call(
                m * 60_000,
                "Exporter/1",
                None,
                "GET",
                "/api/v1/organizations/1/networks".to_owned(),
            )
        })
        .collect();
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.kind, RecommendationKind::SlowChangingList);
    assert_eq!(r.current_operation, "getOrganizationNetworks");
    assert_eq!(r.suggested_operation, "getOrganizationConfigurationChanges");
    assert_eq!(
        (
            r.current_calls_per_day,
            r.calls_per_day_after,
            r.calls_saved_per_day
        ),
        (1440.0, 25.0, 1415.0)
    );
    assert_eq!(r.polling_interval_seconds, Some(60.0));
}

#[test]
fn a_list_read_once_an_hour_is_left_alone() {
    let calls = [call(
        0,
        "Exporter/1",
        Some("getOrganizationNetworks"),
        "GET",
        "/api/v1/organizations/1/networks".to_owned(),
    )];
    assert!(run(&calls, &RecommendOptions::default()).is_empty());
}

#[test]
fn a_burst_of_single_writes_becomes_action_batches_counting_each_intended_write_once() {
    // 130 PUTs 100 ms apart from 10:00:00; 20 of them refused and retried twice, 0.3 s apart
    // (the second retry succeeds), and 5 refused and never retried: 130 writes meant, 40 retries.
    let path = |i: i64| {
        format!(
            "/api/v1/devices/{}/switch/ports/{}",
            serial(i as usize % 7),
            i
        )
    };
    let mut calls: Vec<Call<'_>> = Vec::new();
    for i in 0..130 {
        let mut first = call(i * 100, "Pusher/1", None, "PUT", path(i));
        if i < 25 {
            first.code = 429;
        }
        calls.push(first);
        if i < 20 {
            let mut retry = call(i * 100 + 300, "Pusher/1", None, "PUT", path(i));
            retry.code = 429;
            calls.push(retry);
            calls.push(call(i * 100 + 600, "Pusher/1", None, "PUT", path(i)));
        }
    }
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.kind, RecommendationKind::WriteBurst);
    assert_eq!(r.current_operation, "updateDeviceSwitchPort");
    assert_eq!(r.suggested_operation, "createOrganizationActionBatch");
    assert_eq!((r.distinct_targets, r.distinct_resources), (7, 130));
    // A one-hour window covers one day's burst: counted once a day.
    assert_eq!(
        (
            r.calls_in_window,
            r.retries_excluded,
            r.current_calls_per_day,
            r.calls_per_day_after,
            r.calls_saved_per_day
        ),
        (130, 40, 130.0, 2.0, 128.0)
    );
    assert_eq!(
        r.arithmetic,
        "130 writes in 1 burst(s), the first at 2026-11-19 10:00:00 UTC (40 retries of refused \
         writes not counted) → ⌈130 / 100⌉ = 2 action batch(es) of up to 100 actions; 1 burst(s) \
         on 2026-11-19, whose time of day the window holds on 1 date: 130 writes/day → 2 \
         batch(es)/day; saves 128/day"
    );
}

/// 250 writes at 10:00 (one burst of 3 batches) as `Pusher/1`, and the same an offset later.
fn burst_at(offset: TimeDelta) -> Vec<Call<'static>> {
    (0..250)
        .map(|i| {
            call(
                offset.num_milliseconds() + i * 50,
                "Pusher/1",
                None,
                "PUT",
                format!(
                    "/api/v1/devices/{}/switch/ports/{}",
                    serial(i as usize % 5),
                    i
                ),
            )
        })
        .collect()
}

#[test]
fn a_burst_counts_once_for_each_date_the_window_holds_its_time_of_day_on() {
    let recommend_over = |calls: &[Call<'_>], hours: i64| {
        let window = AnalysisWindow::new(t0(), t0() + TimeDelta::hours(hours)).unwrap();
        recommend(
            &request_log(calls),
            &window,
            OperationCatalog::meraki_v1(),
            &RecommendOptions::default(),
        )
        .unwrap()
        .remove(0)
    };
    // 23 hours from 10:00 hold 10:00 on one date: the burst is once a day.
    let once = burst_at(TimeDelta::zero());
    let r = recommend_over(&once, 23);
    assert_eq!(
        (r.current_calls_per_day, r.calls_per_day_after),
        (250.0, 3.0)
    );
    // 26 hours from 10:00 hold 10:00 on two dates, and the job ran on one of them: half of it a
    // day, as in two days (47 h).
    for hours in [26, 47] {
        let r = recommend_over(&once, hours);
        assert_eq!(
            (r.current_calls_per_day, r.calls_per_day_after),
            (125.0, 2.0)
        );
        assert!(
            r.arithmetic.ends_with(
                "1 burst(s) on 2026-11-19, whose time of day the window holds on 2 dates: 250 / \
                 2 = 125 writes/day → 3 / 2 = 2 batch(es)/day; saves 123/day"
            ),
            "{}",
            r.arithmetic
        );
    }
    // The daily job on both dates of 26 hours: once a day, not twice in "1 day".
    let mut daily = once.clone();
    daily.extend(burst_at(TimeDelta::days(1)));
    let r = recommend_over(&daily, 26);
    assert_eq!(
        (r.current_calls_per_day, r.calls_per_day_after),
        (250.0, 3.0)
    );
    assert!(
        r.arithmetic.ends_with(
            "2 burst(s) on 2026-11-19, 2026-11-20, whose time of day the window holds on 2 \
             dates: 500 / 2 = 250 writes/day → 6 / 2 = 3 batch(es)/day; saves 247/day"
        ),
        "{}",
        r.arithmetic
    );
}

#[test]
fn writes_spread_wider_than_a_minute_are_not_a_burst() {
    // 30 writes 4 s apart: at most 15 within a minute.
    let calls: Vec<Call<'_>> = (0..30)
        .map(|i| {
            call(
                i * 4_000,
                "Pusher/1",
                None,
                "PUT",
                format!("/api/v1/devices/{}/switch/ports/1", serial(0)),
            )
        })
        .collect();
    assert!(run(&calls, &RecommendOptions::default()).is_empty());
}

#[test]
fn org_wide_status_polled_every_30_s_follows_the_availability_changes() {
    let calls: Vec<Call<'_>> = (0..120)
        .map(|i| {
            call(
                i * 30_000,
                "Sync/1",
                Some("getOrganizationDevicesStatuses"),
                "GET",
                "/api/v1/organizations/1/devices/statuses".to_owned(),
            )
        })
        .collect();
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].kind, RecommendationKind::StatusRepoll);
    assert_eq!(
        recs[0].suggested_operation,
        "getOrganizationDevicesAvailabilitiesChangeHistory"
    );
    assert_eq!(
        (recs[0].current_calls_per_day, recs[0].calls_saved_per_day),
        (2880.0, 2592.0)
    );
}

#[test]
fn an_empty_window_has_no_recommendations_or_findings() {
    let recs = run(&[], &RecommendOptions::default());
    assert!(recs.is_empty());
    assert!(recommendation_findings(&recs, &hour(), 10.0).is_empty());
}

#[test]
fn findings_warn_when_a_recommendation_saves_a_percent_of_the_daily_budget() {
    let calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
    let recs = run(&calls, &inventory(10, 2));
    // 2,304 saved: under 1 % of 864,000, over 1 % of 86,400.
    let at_10 = recommendation_findings(&recs, &hour(), 10.0);
    assert_eq!(at_10[0].severity, Severity::Info);
    assert_eq!(at_10[0].consumer.as_deref(), Some(POLLER));
    assert_eq!(
        at_10[0].summary,
        "Poller/1.0: replace getDeviceLldpCdp (2,880/day) with getNetworkTopologyLinkLayer \
         (576/day): saves 2,304 calls/day"
    );
    assert_eq!(
        recommendation_findings(&recs, &hour(), 1.0)[0].severity,
        Severity::Warning
    );
}

#[test]
fn retries_of_refused_polls_are_not_counted_as_calls() {
    // 10 devices every 5 min; every call of the first cycle refused and retried 1 s later.
    let mut calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
    for c in calls.iter_mut().take(10) {
        c.code = 429;
    }
    let retries: Vec<Call<'_>> = (0..10)
        .map(|d| {
            call(
                (d as i64 + 1) * 1000 + 500,
                POLLER,
                Some("getDeviceLldpCdp"),
                "GET",
                format!("/api/v1/devices/{}/lldpCdp", serial(d)),
            )
        })
        .collect();
    calls.extend(retries);
    let recs = run(&calls, &inventory(10, 2));
    let r = &recs[0];
    assert_eq!(
        (
            r.calls_in_window,
            r.retries_excluded,
            r.current_calls_per_day
        ),
        (120, 10, 2880.0)
    );
    assert!(
        r.arithmetic.starts_with(
            "120 calls in 1 h = 2,880/day (10 retries of refused calls not counted): "
        ),
        "{}",
        r.arithmetic
    );
}

/// `networks` × `items` paths `/api/v1/networks/N_n/{suffix}/{item}` read every `every_s`.
fn per_item_polls(
    op: &'static str,
    suffix: &str,
    networks: usize,
    items: usize,
    every_s: i64,
) -> Vec<Call<'static>> {
    let mut calls = Vec::new();
    for cycle in 0..(3600 / every_s) {
        for n in 0..networks {
            for i in 0..items {
                calls.push(call(
                    cycle * every_s * 1000 + (n * items + i) as i64 * 100,
                    POLLER,
                    Some(op),
                    "GET",
                    format!("/api/v1/networks/N_{n}{suffix}/{i}"),
                ));
            }
        }
    }
    calls
}

#[test]
fn items_read_one_by_one_become_the_networks_list() {
    // 4 networks × 5 VLANs every 10 min: 120 calls = 2,880/day → 4 lists a cycle = 576/day.
    let calls = per_item_polls("getNetworkApplianceVlan", "/appliance/vlans", 4, 5, 600);
    let recs = run(&calls, &RecommendOptions::default());
    let r = &recs[0];
    assert_eq!(r.suggested_operation, "getNetworkApplianceVlans");
    assert_eq!((r.distinct_targets, r.distinct_resources), (4, 20));
    assert_eq!(
        r.arithmetic,
        "120 calls in 1 h = 2,880/day: 20 paths across 4 networks, each every 10.0 min → \
         getNetworkApplianceVlans once for each of the 4 networks = 4 call(s) a cycle instead of \
         20: 2,880/day × 4/20 = 576/day; saves 2,304/day"
    );
}

#[test]
fn a_documented_cap_on_the_filter_bounds_the_targets_per_call() {
    // 40 networks every 5 min: 480 calls = 11,520/day; networkIds takes 30 a call → 2 calls.
    let mut calls = Vec::new();
    for cycle in 0..12 {
        for n in 0..40 {
            calls.push(call(
                (cycle * 300 + n) * 1000,
                POLLER,
                None,
                "GET",
                format!("/api/v1/networks/N_{n}/policies/byClient"),
            ));
        }
    }
    let recs = run(&calls, &RecommendOptions::default());
    let r = &recs[0];
    assert_eq!(
        r.suggested_operation,
        "getOrganizationPoliciesAssignmentsByClient"
    );
    assert_eq!(
        (r.calls_per_cycle_after, r.per_page, r.filter.as_deref()),
        (Some(2), Some(1000), Some("networkIds"))
    );
    assert_eq!(
        (r.current_calls_per_day, r.calls_per_day_after),
        (11520.0, 576.0)
    );
    assert!(
        r.arithmetic.contains(
            "→ getOrganizationPoliciesAssignmentsByClient with networkIds[] naming the 40 networks, \
             ⌈40 / 30⌉ = 2 call(s) a cycle instead of 40"
        ),
        "{}",
        r.arithmetic
    );
}

#[test]
fn an_unpaged_org_wide_replacement_is_one_call_a_cycle() {
    let mut calls = Vec::new();
    for cycle in 0..60 {
        for n in 0..8 {
            calls.push(call(
                (cycle * 60 + n) * 1000,
                POLLER,
                None,
                "GET",
                format!("/api/v1/networks/N_{n}/appliance/uplinks/usageHistory"),
            ));
        }
    }
    let recs = run(&calls, &RecommendOptions::default());
    let r = &recs[0];
    assert_eq!(
        r.suggested_operation,
        "getOrganizationApplianceUplinksUsageByNetwork"
    );
    assert_eq!(
        (r.current_calls_per_day, r.calls_per_day_after),
        (11520.0, 1440.0)
    );
    assert!(r.arithmetic.contains(
        "(no filter: it returns every network of the organization) in one unpaged call = 1 call(s) a cycle instead of 8"
    ), "{}", r.arithmetic);
}

/// `networks` paths `/api/v1/networks/N_n{suffix}` read every `every_s` seconds for an hour.
fn per_network_polls(suffix: &str, networks: usize, every_s: i64) -> Vec<Call<'static>> {
    let mut calls = Vec::new();
    for cycle in 0..(3600 / every_s) {
        for n in 0..networks {
            calls.push(call(
                (cycle * every_s + n as i64) * 1000,
                "Siem/2",
                None,
                "GET",
                format!("/api/v1/networks/N_{n}{suffix}"),
            ));
        }
    }
    calls
}

#[test]
fn an_alert_history_polled_every_minute_is_replaced_by_webhooks() {
    // 6 networks every minute: 360 calls = 8,640/day → a daily read of each = 6/day.
    let recs = run(
        &per_network_polls("/alerts/history", 6, 60),
        &RecommendOptions::default(),
    );
    let r = &recs[0];
    assert_eq!(r.kind, RecommendationKind::EventPolling);
    assert_eq!(r.suggested_operation, "webhooks");
    assert_eq!(
        (r.current_calls_per_day, r.calls_per_day_after),
        (8640.0, 6.0)
    );
    assert_eq!(r.documentation_url.as_deref(), Some(WEBHOOK_DOCUMENTATION));
    assert_eq!(
        r.arithmetic,
        "360 calls in 1 h = 8,640/day: 6 feed(s), each every 1.0 min → webhooks push each alert \
         as it happens; read each feed once a day for deliveries missed (6/day); saves 8,634/day"
    );
}

#[test]
fn an_event_log_polled_every_minute_is_partly_replaced_by_webhooks() {
    let recs = run(
        &per_network_polls("/events", 6, 60),
        &RecommendOptions::default(),
    );
    let r = &recs[0];
    assert_eq!(
        (r.suggested_operation.as_str(), r.calls_per_day_after),
        ("webhooks", 576.0)
    );
    assert!(
        r.arithmetic.contains("(6 × 96 = 576/day)"),
        "{}",
        r.arithmetic
    );
}

#[test]
fn a_feed_without_webhooks_is_read_incrementally_and_says_so() {
    let recs = run(
        &per_network_polls("/wireless/failedConnections", 6, 60),
        &RecommendOptions::default(),
    );
    let r = &recs[0];
    assert_eq!(
        (r.suggested_operation.as_str(), r.calls_per_day_after),
        ("getNetworkWirelessFailedConnections", 576.0)
    );
    assert!(
        r.arithmetic.contains("no webhook carries this data"),
        "{}",
        r.arithmetic
    );
    // Read every 15 minutes already: nothing to say.
    assert!(
        run(
            &per_network_polls("/wireless/failedConnections", 6, 900),
            &RecommendOptions::default()
        )
        .is_empty()
    );
}

#[test]
fn an_operation_the_catalog_no_longer_lists_is_named_with_its_closest_operation() {
    // The DELETE of one ruleset assignment, which SDK 4.7.0's catalog file lacks, with its id.
    let calls: Vec<Call<'_>> = (0..30)
        .map(|i| {
            call(
                i * 60_000,
                "Cleaner/1",
                Some("deleteOrganizationPoliciesGlobalGroupPoliciesFirewallRulesetsAssignment"),
                "DELETE",
                format!(
                    "/api/v1/organizations/1/policies/global/group/policies/firewall/rulesets/assignments/{i}"
                ),
            )
        })
        .collect();
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.kind, RecommendationKind::UnknownOperation);
    assert_eq!(
        r.current_operation,
        "deleteOrganizationPoliciesGlobalGroupPoliciesFirewallRulesetsAssignment"
    );
    assert_eq!(
        r.suggested_operation,
        "getOrganizationPoliciesGlobalGroupPoliciesFirewallRulesetsAssignments"
    );
    assert_eq!(
        (
            r.calls_in_window,
            r.current_calls_per_day,
            r.calls_saved_per_day
        ),
        (30, 720.0, 0.0)
    );
    let findings = recommendation_findings(&recs, &hour(), 10.0);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert_eq!(
        findings[0].summary,
        "Cleaner/1: 720 calls/day to \
         deleteOrganizationPoliciesGlobalGroupPoliciesFirewallRulesetsAssignment, which the \
         operation catalog does not list (deprecated, renamed or removed?); closest in the \
         catalog: getOrganizationPoliciesGlobalGroupPoliciesFirewallRulesetsAssignments"
    );
}

#[test]
fn a_renamed_operation_is_matched_by_its_path_and_named() {
    let calls: Vec<Call<'_>> = (0..3)
        .map(|i| {
            call(
                i * 1000,
                "Old/1",
                Some("getDeviceLldp"),
                "GET",
                "/api/v1/devices/Q2XX-0000-0001/lldpCdp".to_owned(),
            )
        })
        .collect();
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(
        recs.iter()
            .map(|r| (
                r.kind,
                r.current_operation.as_str(),
                r.suggested_operation.as_str()
            ))
            .collect::<Vec<_>>(),
        [(
            RecommendationKind::UnknownOperation,
            "getDeviceLldp",
            "getDeviceLldpCdp"
        )]
    );
}

#[test]
fn v0_paths_are_grouped_by_shape_and_named() {
    let calls: Vec<Call<'_>> = (0..12)
        .map(|i| {
            call(
                i * 1000,
                "Legacy/0.1",
                None,
                "GET",
                format!("/api/v0/devices/{}/lldp_cdp", serial(i as usize)),
            )
        })
        .collect();
    let recs = run(&calls, &RecommendOptions::default());
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0].current_operation.as_str(),
            recs[0].suggested_operation.as_str(),
            recs[0].distinct_resources
        ),
        ("GET /devices/{serial}/lldp_cdp", "getDeviceLldpCdp", 12)
    );
}

#[test]
fn a_path_read_by_two_interleaved_jobs_is_read_at_their_average_interval() {
    // Two copies of one poller read the same 10 devices every 5 min, one a minute after the
    // other: each device is read every 2.5 min in the long run (gaps of 1 and 4 min, alternating).
    let mut calls = per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300);
    let shifted: Vec<Call<'static>> =
        per_device_polls(Some("getDeviceLldpCdp"), "/lldpCdp", 10, 300)
            .into_iter()
            .map(|mut c| {
                c.at_ms += 60_000;
                c
            })
            .collect();
    calls.extend(shifted);
    calls.sort_by_key(|c| c.at_ms);
    let recs = run(&calls, &inventory(10, 2));
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].calls_in_window, 240);
    // In the hour each device has 12 gaps of 1 min and 11 of 4 min; the middle half of the 230
    // gaps holds 63 of 1 min and 53 of 4 min (a median would say 1 min).
    assert_eq!(
        recs[0].polling_interval_seconds,
        Some((63.0 * 60.0 + 53.0 * 240.0) / 116.0)
    );
    assert!(
        recs[0]
            .arithmetic
            .contains("10 devices, each every 2.4 min"),
        "{}",
        recs[0].arithmetic
    );
}

#[test]
fn the_typical_interval_is_the_mean_of_the_middle_half_of_the_gaps() {
    assert_eq!(interquartile_mean(&mut []), None);
    assert_eq!(interquartile_mean(&mut [300]), Some(300.0));
    // A pause and a stray call lie outside the middle half.
    assert_eq!(
        interquartile_mean(&mut [300, 300, 10_800, 300, 300, 300, 300, 2]),
        Some(300.0)
    );
    assert_eq!(interquartile_mean(&mut [60, 240, 60, 240]), Some(150.0));
}

proptest::proptest! {
    /// The selections find the very middle half a sort finds, and its mean: gaps of up to
    /// eleven days, by the hundred, with repeats.
    #[test]
    fn the_interquartile_mean_is_that_of_the_sorted_gaps(
        mut gaps in proptest::collection::vec(
            proptest::prop_oneof![0i64..1_000_000_000_000, 0i64..5],
            1..300,
        )
    ) {
        let mut sorted = gaps.clone();
        sorted.sort_unstable();
        let quarter = sorted.len() / 4;
        let middle = &sorted[quarter..sorted.len() - quarter];
        let expected = middle.iter().map(|&v| v as f64).sum::<f64>() / middle.len() as f64;
        proptest::prop_assert_eq!(interquartile_mean(&mut gaps), Some(expected));
    }
}
