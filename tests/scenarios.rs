//! The shipped scenarios tell the story their comments promise (sample-data/*.toml).

use crate::support::{sample_path, time};
use callbudget_sim::scenario::Scenario;
use callbudget_sim::{SimConfig, Simulator};
use chrono::{Datelike, Timelike, Weekday};

fn acme_week() -> Simulator {
    let scenario = Scenario::load(&sample_path("acme-week.toml")).expect("acme-week is valid");
    Simulator::build(SimConfig::new(
        vec![scenario],
        time("2026-11-20T00:00:00Z"),
        "k",
    ))
    .expect("acme-week builds")
}

#[test]
fn acme_week_plants_a_noisy_poller_and_a_bursting_script() {
    let truth = acme_week().ground_truth();
    let org = &truth.organizations[0];
    assert_eq!(org.org_id, "549236");
    let names: Vec<&str> = org.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "noc-poller",
            "port-config-script",
            "sdk-inventory-app",
            "grafana-exporter",
            "callbudget"
        ]
    );
    let by_requests = org
        .consumers
        .iter()
        .max_by_key(|c| c.requests)
        .map(|c| c.name.as_str());
    assert_eq!(by_requests, Some("noc-poller"));
    let by_429s = org
        .consumers
        .iter()
        .max_by_key(|c| c.http_429s)
        .map(|c| c.name.as_str());
    assert_eq!(by_429s, Some("port-config-script"));
    assert!(!org.consumers[1].honours_retry_after);
    // The per-device LLDP poll: 240 devices every 5 minutes.
    let lldp = &org.consumers[0].patterns[0];
    assert_eq!(lldp.operations, ["getDeviceLldpCdp"]);
    assert_eq!(lldp.planned_calls_per_day, 240.0 * 288.0);
    assert_eq!(
        org.requests,
        org.consumers.iter().map(|c| c.requests).sum::<u64>()
    );
}

#[test]
fn acme_week_spikes_every_weekday_at_nine_and_never_at_the_weekend() {
    let truth = acme_week().ground_truth();
    let episodes = &truth.organizations[0].episodes;
    let days: Vec<u32> = episodes.iter().map(|e| e.start.day()).collect();
    // 2026-11-13 is a Friday; the 14th and 15th are the weekend.
    assert_eq!(days, [13, 16, 17, 18, 19]);
    for e in episodes {
        assert_eq!((e.start.hour(), e.start.minute()), (9, 0));
        assert!(!matches!(e.start.weekday(), Weekday::Sat | Weekday::Sun));
        assert_eq!(e.most_refused, "port-config-script");
        assert!(e.http_429s >= 100, "{e:?}");
    }
}
