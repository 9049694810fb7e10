//! Differential tests on logs nobody tuned the detectors for (issue 29): the independent
//! generator ([`generator`]) plants a problem ([`scenarios`]), its log goes through `callbudget
//! import --format jsonl` and `callbudget analyze --format json` as a user's would, and the
//! analysis is compared with the generator's own ground truth — and with itself, the same
//! records imported in another order.

mod generator;
mod scenarios;

use assert_cmd::Command;
use chrono::{DateTime, Utc};
use generator::Log;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn callbudget() -> Command {
    Command::cargo_bin("callbudget").expect("the callbudget binary is built")
}

/// `log`'s records in `order`, imported into a new database in `dir` named `name`.
fn import(log: &Log, order: impl IntoIterator<Item = usize>, dir: &Path, name: &str) -> PathBuf {
    let file = dir.join(format!("{name}.jsonl"));
    std::fs::write(&file, log.jsonl(order)).expect("the log is written");
    let db = dir.join(format!("{name}.db"));
    let output = callbudget()
        .args(["import", "--provider", "meraki", "--format", "jsonl", "-q"])
        .args(["--org", log.org_id, "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .expect("callbudget runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    db
}

/// `callbudget analyze` of `db` over `[since, until)` in `format`, as printed.
fn analyze(db: &Path, since: DateTime<Utc>, until: DateTime<Utc>, format: &str) -> String {
    let output = callbudget()
        .args(["analyze", "--format", format, "--since"])
        .arg(callbudget_api::timestamp::format(&since))
        .arg("--until")
        .arg(callbudget_api::timestamp::format(&until))
        .arg("--db")
        .arg(db)
        .output()
        .expect("callbudget runs");
    // Exit 3 would need --fail-on; anything but 0 is a failure here.
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The one audit of the JSON output.
fn audit(json: &str) -> Value {
    let mut parsed: Value = serde_json::from_str(json).expect("analyze prints JSON");
    parsed["audits"][0].take()
}

/// The recommendations of `application` (as the audit names consumers).
fn recommendations<'a>(audit: &'a Value, application: &str) -> Vec<&'a Value> {
    audit["recommendations"]
        .as_array()
        .expect("a list of recommendations")
        .iter()
        .filter(|r| r["consumer"] == application)
        .collect()
}

fn within(measured: f64, truth: f64, share: f64) -> bool {
    (measured - truth).abs() <= truth * share
}

/// The analysis of `log` over `[since, until)`, imported in time order.
fn analysed(log: &Log, since: DateTime<Utc>, until: DateTime<Utc>) -> Value {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = import(log, 0..log.records.len(), dir.path(), "log");
    audit(&analyze(&db, since, until, "json"))
}

#[test]
fn a_daily_write_burst_is_its_writes_once_on_each_date() {
    let (log, since, until) = scenarios::daily_write_burst();
    let truth = &log.truth.consumers["BulkPorts/2.0 IndieNet"];
    let writes = truth.intended["updateDeviceSwitchPort"] as f64;
    assert_eq!(writes, 1_000.0);
    let dates: Vec<_> = truth.intended_by_date.keys().map(|(_, d)| *d).collect();
    assert_eq!(dates.len(), 2, "the job ran on two dates");
    let audit = analysed(&log, since, until);
    let recs = recommendations(&audit, "BulkPorts/2.0 IndieNet");
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = recs[0];
    assert_eq!(r["kind"], "write_burst");
    let counted = r["calls_in_window"].as_f64().expect("a count");
    assert!(
        within(counted, writes, 0.02),
        "{counted} of {writes}: {}",
        r["arithmetic"]
    );
    // A daily job, once on each of the two dates: 500 a day, not 1,000 in "1 day".
    let per_day = r["current_calls_per_day"].as_f64().expect("a rate");
    assert!(
        within(per_day, 500.0, 0.02),
        "{per_day}/day: {}",
        r["arithmetic"]
    );
    let arithmetic = r["arithmetic"].as_str().expect("text");
    for date in ["2026-12-01", "2026-12-02"] {
        assert!(arithmetic.contains(date), "{arithmetic}");
    }
    // Its retry storm says which day's 03:00 it was.
    let storm = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == "retry_storm")
        .expect("the burst is a retry storm");
    let summary = storm["summary"].as_str().expect("text");
    assert!(
        summary.contains("2026-12-01 03:0") || summary.contains("2026-12-02 03:0"),
        "{summary}"
    );
}

#[test]
fn the_replacement_follows_the_parameters_of_the_calls() {
    let (log, since, until) = scenarios::networks_and_parameters();
    let audit = analysed(&log, since, until);
    let suggested = |application: &str| -> Vec<String> {
        recommendations(&audit, application)
            .iter()
            .filter(|r| r["current_operation"] == "getNetworkWirelessChannelUtilizationHistory")
            .map(|r| {
                r["suggested_operation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    // A network's average (no deviceSerial, no clientId) is the network series…
    assert_eq!(
        suggested("RfAverages/1.0 Indie"),
        ["getOrganizationWirelessDevicesChannelUtilizationHistoryByNetworkByInterval"]
    );
    // …one AP's history the series by device…
    assert_eq!(
        suggested("RfPerAp/2.2 Indie"),
        ["getOrganizationWirelessDevicesChannelUtilizationHistoryByDeviceByInterval"]
    );
    // …and a client's history nothing org-wide returns.
    assert_eq!(suggested("ClientRf/0.4 Indie"), Vec::<String>::new());
    // Each AP's calls are a target of their own: 36 APs in 12 networks, one org-wide call a cycle.
    let per_ap = recommendations(&audit, "RfPerAp/2.2 Indie")[0];
    assert_eq!(
        (
            &per_ap["distinct_resources"],
            &per_ap["distinct_targets"],
            &per_ap["calls_per_cycle_after"]
        ),
        (&Value::from(36), &Value::from(12), &Value::from(1)),
        "{}",
        per_ap["arithmetic"]
    );
}

#[test]
fn a_per_device_loop_counts_the_networks_of_its_own_calls() {
    let (log, since, until) = scenarios::networks_and_parameters();
    let truth = &log.truth.consumers["ClientScrape/0.7 Indie"];
    assert_eq!(truth.networks.len(), 12);
    let cycles = truth.intended["getDeviceClients"] / 200;
    assert_eq!(cycles, 24);
    let audit = analysed(&log, since, until);
    let recs = recommendations(&audit, "ClientScrape/0.7 Indie");
    let r = recs
        .iter()
        .find(|r| r["current_operation"] == "getDeviceClients")
        .expect("the scraper's fan-out is found");
    assert_eq!(r["suggested_operation"], "getNetworkClients");
    assert_eq!(r["calls_per_cycle_after"], 12, "{}", r["arithmetic"]);
    // 12 calls a cycle, 24 cycles: 288 a day (the import's log ends at its last request's second,
    // 14 s before midnight, which the rate is scaled over).
    let after = r["calls_per_day_after"].as_f64().expect("a rate");
    assert!(
        within(after, 12.0 * cycles as f64, 0.01),
        "{}",
        r["arithmetic"]
    );
    assert!(
        r["arithmetic"]
            .as_str()
            .is_some_and(|a| a.contains("(estimated: the networks its own calls name)")),
        "{}",
        r["arithmetic"]
    );
}

#[test]
fn the_one_offender_comes_first_in_what_to_do() {
    let (log, since, until) = scenarios::one_offender_among_wasteful_pollers();
    assert!(log.truth.consumers["SyncBlaster/3.1 Indie"].ignores_retry_after);
    let audit = analysed(&log, since, until);
    let actions = audit["actions"]["actions"].as_array().expect("actions");
    let order: Vec<&str> = actions
        .iter()
        .map(|a| a["consumer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(order.first(), Some(&"SyncBlaster/3.1 Indie"), "{order:?}");
    assert!(order.len() >= 3, "{order:?}");
    // Its critical finding: the one spike, which it drove (the LLDP fan-out, a little over the
    // bucket every minute, is a critical noisy consumer too, and still comes after it).
    let findings = audit["findings"].as_array().expect("findings");
    let critical: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["severity"] == "critical" && !f["consumer"].is_null())
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default(),
                f["consumer"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        critical.contains(&("spike_429", "SyncBlaster/3.1 Indie")),
        "{critical:?}"
    );
    assert_eq!(actions[0]["severity"], "critical");
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "ignores_retry_after" && f["consumer"] == "SyncBlaster/3.1 Indie"),
        "{findings:#?}"
    );
}

#[test]
fn the_same_records_in_any_order_are_the_same_analysis() {
    let mut disagreed = false;
    for (log, since, until) in [
        scenarios::daily_write_burst(),
        scenarios::networks_and_parameters(),
        scenarios::one_offender_among_wasteful_pollers(),
    ] {
        assert!(log.shared_timestamps() > 100, "ties to break");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let forward = import(&log, 0..log.records.len(), dir.path(), "forward");
        let backward = import(&log, (0..log.records.len()).rev(), dir.path(), "backward");
        let shuffled = import(&log, log.shuffled(7), dir.path(), "shuffled");
        for format in ["json", "markdown"] {
            let expected = analyze(&forward, since, until, format);
            assert_eq!(analyze(&backward, since, until, format), expected);
            assert_eq!(analyze(&shuffled, since, until, format), expected);
        }
        // The what-ifs' baselines are the log's refusals of the others, as the retries' are.
        let audit = audit(&analyze(&forward, since, until, "json"));
        let refused: u64 = log.truth.consumers.values().map(|c| c.refused).sum();
        disagreed |= audit["http_429s"] != audit["timeline"]["refused_by_replay"];
        for w in audit["what_ifs"].as_array().expect("what-ifs") {
            let own = log
                .truth
                .consumers
                .get(w["consumer"].as_str().unwrap_or_default())
                .map_or(0, |c| c.refused);
            assert_eq!(w["refused_others_before"], refused - own, "{w}");
            let retries = audit["retries"].as_array().expect("retries");
            if let Some(r) = retries.iter().find(|r| r["consumer"] == w["consumer"]) {
                assert_eq!(r["others_refused_in_window"], w["refused_others_before"]);
            }
        }
    }
    // The generator's server and callbudget's replay refuse different requests somewhere.
    assert!(disagreed);
}

#[test]
fn coverage_is_measured_against_the_hours_asked_for() {
    // A collection killed after 10 of the 26 hours asked for.
    let (log, since, until) = scenarios::daily_write_burst();
    let ten_hours = (since + chrono::TimeDelta::hours(10)).timestamp_millis();
    let collected: Vec<usize> = (0..log.records.len())
        .filter(|&i| log.records[i].ts_ms < ten_hours)
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = import(&log, collected, dir.path(), "ten-hours");
    let audit = audit(&analyze(&db, since, until, "json"));
    let coverage = &audit["data_coverage"];
    let missing = coverage["missing_share"].as_f64().expect("a share");
    assert!(within(missing, 16.0 / 26.0, 0.01), "{coverage:#}");
    let incomplete = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == "incomplete_data")
        .expect("the missing hours are a finding");
    assert_eq!(incomplete["severity"], "critical", "{incomplete:#}");
    let summary = incomplete["summary"].as_str().expect("text");
    assert!(
        summary.contains("of the 1 d 2 h asked for (62 %)"),
        "{summary}"
    );
}
