//! The collector against servers that answer the way the real API and its clients expect (issue
//! 14): Links in every form, pages in either order, a shard that redirects, hosts it must not send
//! the key to. Each mode collects three hours of acme-week and must store exactly the simulator's
//! truth; an untrusted host must never receive the key, asserted on the receiving side.

use crate::support::{
    ACME_ORG, API_KEY, acme_week_config, assert_same_records, collect_into, fast_client_config,
    records_in, request_log_windows, serve, stored_records, time, tiny_config,
};
use assert_cmd::Command;
use callbudget_collect::dashboard::API_KEY_ENV;
use callbudget_collect::dashboard::client::ClientError;
use callbudget_collect::{CollectError, CollectOptions, CollectSummary, OrgSelection};
use callbudget_sim::{HostPort, LinkStyle, PageOrder, SimConfig, SimulatorHandle};
use callbudget_store::{OrgId, WindowStatus};
use std::path::Path;
use std::time::Duration;

const NOW: &str = "2026-11-20T00:00:00Z";
/// Three hours with the 09:00 burst: several pages each, 429s among the records.
const SINCE: &str = "2026-11-19T07:00:00Z";
const UNTIL: &str = "2026-11-19T10:00:00Z";

fn acme(link_style: LinkStyle) -> SimConfig {
    SimConfig {
        link_style,
        ..acme_week_config(NOW)
    }
}

fn host_port(handle: &SimulatorHandle) -> HostPort {
    handle
        .addr()
        .to_string()
        .parse()
        .expect("a socket address is a host and port")
}

fn options() -> CollectOptions {
    CollectOptions {
        orgs: OrgSelection::Ids(vec![OrgId::new(ACME_ORG)]),
        since: Some(time(SINCE)),
        until: Some(time(UNTIL)),
        ..CollectOptions::default()
    }
}

/// Collects the three hours from `handle`, trusting `trusted` besides the base URL's host.
fn collect(handle: &SimulatorHandle, db: &Path, trusted: &[&SimulatorHandle]) -> CollectSummary {
    let mut config = fast_client_config(handle);
    config.trusted_hosts = trusted
        .iter()
        .map(|h| h.addr().to_string().parse().expect("a valid trusted host"))
        .collect();
    collect_into(db, config, options())
}

/// The run succeeded, stored the three hour windows complete, and they hold exactly what `truth`
/// (a simulator serving the same log) holds for them, 429s included.
fn assert_stored_the_truth(summary: &CollectSummary, db: &Path, truth: &SimulatorHandle) {
    let failed: Vec<_> = summary.failed().collect();
    assert!(failed.is_empty(), "organizations failed: {failed:?}");
    let expected = records_in(truth, ACME_ORG, time(SINCE), time(UNTIL));
    assert!(
        expected.len() > 3 * 1000,
        "several pages a window: {}",
        expected.len()
    );
    assert!(expected.iter().any(|r| r.response_code == Some(429)));
    assert_eq!(summary.total().records, expected.len() as u64);
    assert_same_records(
        stored_records(db, ACME_ORG, time(SINCE), time(UNTIL)),
        expected,
    );
    let statuses: Vec<WindowStatus> = request_log_windows(db, ACME_ORG)
        .into_iter()
        .map(|w| w.2)
        .collect();
    assert_eq!(statuses, [WindowStatus::Complete; 3]);
}

fn collects_the_truth_with(config: SimConfig) {
    let handle = serve(config);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect(&handle, &db, &[]);
    assert_stored_the_truth(&summary, &db, &handle);
}

#[test]
fn absolute_links_on_the_base_host_collect_the_truth() {
    collects_the_truth_with(acme(LinkStyle::Absolute));
}

#[test]
fn relative_links_below_the_base_url_collect_the_truth() {
    collects_the_truth_with(acme(LinkStyle::Relative));
}

#[test]
fn relative_links_with_the_base_path_collect_the_truth() {
    collects_the_truth_with(acme(LinkStyle::FullPath));
}

#[test]
fn pages_newest_first_collect_the_truth() {
    collects_the_truth_with(SimConfig {
        page_order: PageOrder::NewestFirst,
        ..acme(LinkStyle::Relative)
    });
}

#[test]
fn pages_oldest_first_collect_the_truth() {
    collects_the_truth_with(SimConfig {
        page_order: PageOrder::OldestFirst,
        ..acme(LinkStyle::Relative)
    });
}

/// A simulator whose absolute Links name `other`, a second simulator serving the same log.
fn linking_to(other: &SimulatorHandle) -> SimulatorHandle {
    serve(SimConfig {
        link_host: Some(host_port(other)),
        ..acme(LinkStyle::Absolute)
    })
}

#[test]
fn links_to_a_trusted_host_collect_the_truth_there() {
    let other = serve(acme(LinkStyle::Absolute));
    let linking = linking_to(&other);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect(&linking, &db, &[&other]);
    assert_stored_the_truth(&summary, &db, &other);
    // The later pages came from the trusted host, with the key.
    assert!(other.simulator().calls_with_key() > 3);
}

#[test]
fn a_link_to_an_untrusted_host_fails_naming_it_stores_nothing_and_never_sends_it_the_key() {
    let untrusted = serve(acme(LinkStyle::Absolute));
    let linking = linking_to(&untrusted);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect(&linking, &db, &[]);

    let failed: Vec<(&OrgId, &str)> = summary.failed().collect();
    let host = untrusted.addr().to_string();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].1,
        format!(
            "refused to send the API key to {host}, reached by a pagination link: it is neither the --base-url's host nor one of Meraki's over https (if it is yours, add --trust-host {host}); nothing from it is stored"
        )
    );
    assert!(stored_records(&db, ACME_ORG, time(SINCE), time(UNTIL)).is_empty());
    let windows = request_log_windows(&db, ACME_ORG);
    assert_eq!(windows.len(), 1, "the first window, recorded as failed");
    assert_eq!(windows[0].2, WindowStatus::Failed);
    assert_eq!(summary.total().windows, 0);
    let receiving = untrusted.simulator();
    assert_eq!(
        (receiving.calls_received(), receiving.calls_with_key()),
        (0, 0)
    );
}

/// A simulator that answers every call with 308 to `shard`, as `api.meraki.com` may.
fn redirecting_to(shard: &SimulatorHandle) -> SimulatorHandle {
    serve(SimConfig {
        redirect_to: Some(host_port(shard)),
        ..acme(LinkStyle::Relative)
    })
}

#[test]
fn a_shard_redirect_to_a_trusted_host_collects_the_truth_and_later_calls_go_to_the_shard() {
    let shard = serve(acme(LinkStyle::Relative));
    let redirecting = redirecting_to(&shard);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let summary = collect(&redirecting, &db, &[&shard]);
    assert_stored_the_truth(&summary, &db, &shard);
    // Listing the organizations, then the organization's first call: every later call of the
    // organization goes to the shard directly, as the official SDK does.
    assert_eq!(redirecting.simulator().calls_received(), 2);
    // The shard got the rest: the listing's call and every call of the organization.
    assert_eq!(
        shard.simulator().calls_received(),
        1 + summary.total().tally.calls
    );
}

#[test]
fn a_redirect_to_an_untrusted_host_is_refused_naming_it_before_it_ever_gets_the_key() {
    let untrusted = serve(acme(LinkStyle::Relative));
    let redirecting = redirecting_to(&untrusted);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let client = callbudget_collect::dashboard::client::DashboardClient::new(fast_client_config(
        &redirecting,
    ))
    .expect("the client builds");
    let error = callbudget_collect::run(client, &db, options(), |_| {}).expect_err("the run fails");
    let host = untrusted.addr().to_string();
    let redirecting_host = redirecting.addr().to_string();
    assert!(matches!(
        &error,
        CollectError::ListOrganizations {
            source: ClientError::UntrustedHost { host: h, how },
            ..
        } if *h == host && *how == format!("a redirect from {redirecting_host}")
    ));
    assert!(!db.exists(), "nothing was opened or written");
    let receiving = untrusted.simulator();
    assert_eq!(
        (receiving.calls_received(), receiving.calls_with_key()),
        (0, 0)
    );
}

#[test]
fn a_401_from_a_trusted_shard_is_not_reported_as_a_wrong_key() {
    // The shard knows another key: it refuses ours, though the base URL's host would not.
    let shard = serve(SimConfig {
        api_key: "the-shards-own-key".to_owned(),
        ..tiny_config()
    });
    let redirecting = serve(SimConfig {
        redirect_to: Some(host_port(&shard)),
        ..tiny_config()
    });
    let mut config = fast_client_config(&redirecting);
    config.trusted_hosts = vec![shard.addr().to_string().parse().expect("a host")];
    let client = callbudget_collect::dashboard::client::DashboardClient::new(config)
        .expect("the client builds");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let error = callbudget_collect::run(client, &dir.path().join("cb.db"), options(), |_| {})
        .expect_err("the run fails");
    let CollectError::ListOrganizations { source, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(
        source.to_string(),
        format!(
            "{} refused the API key (401 Unauthorized); it is not the --base-url's host but was reached by a redirect from {}, so the key may well be right for the base URL",
            shard.addr(),
            redirecting.addr()
        )
    );
}

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    cmd.env_remove(API_KEY_ENV)
        .env(API_KEY_ENV, API_KEY)
        .timeout(Duration::from_secs(60));
    cmd
}

fn collect_cli(handle: &SimulatorHandle, db: &Path) -> Command {
    let mut cmd = callbudget();
    cmd.arg("collect")
        .arg("--db")
        .arg(db)
        .args(["--org", ACME_ORG, "--base-url", &handle.base_url()])
        .args(["--since", SINCE, "--until", UNTIL, "-q"])
        .args(["--budget-share", "1", "--org-rate", "1000"])
        .args(["--source-ip-rate", "10000"]);
    cmd
}

#[test]
fn collect_trust_host_follows_a_shard_redirect_and_without_it_fails_in_one_line() {
    let shard = serve(acme(LinkStyle::Relative));
    let redirecting = redirecting_to(&shard);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let host = shard.addr().to_string();

    let refused = collect_cli(&redirecting, &dir.path().join("refused.db"))
        .output()
        .expect("callbudget runs");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).expect("UTF-8");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "callbudget: error: cannot list organizations at {}: refused to send the API key to {host}, reached by a redirect from {}",
            redirecting.base_url(),
            redirecting.addr()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("add --trust-host {host}")));
    assert_eq!(shard.simulator().calls_received(), 0);

    let db = dir.path().join("trusted.db");
    let trusted = collect_cli(&redirecting, &db)
        .args(["--trust-host", &host])
        .output()
        .expect("callbudget runs");
    assert!(trusted.status.success(), "{trusted:?}");
    assert_same_records(
        stored_records(&db, ACME_ORG, time(SINCE), time(UNTIL)),
        records_in(&shard, ACME_ORG, time(SINCE), time(UNTIL)),
    );
}

#[test]
fn a_trust_host_that_is_not_a_host_is_a_usage_error() {
    let output = callbudget()
        .args([
            "collect",
            "--org",
            ACME_ORG,
            "--trust-host",
            "http://n1.example/",
        ])
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    assert!(
        stderr.contains("\"http://n1.example/\": expected HOST or HOST:PORT"),
        "{stderr}"
    );
}

#[test]
fn a_base_url_on_merakis_hosts_over_plain_http_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = callbudget()
        .arg("collect")
        .arg("--db")
        .arg(dir.path().join("cb.db"))
        .args([
            "--org",
            ACME_ORG,
            "--base-url",
            "http://api.meraki.com/api/v1",
        ])
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr).expect("UTF-8"),
        "error: invalid value 'http://api.meraki.com/api/v1' for '--base-url <URL>': Meraki's API is served over https only, and the key would travel in clear text\n"
    );
}

#[test]
fn a_refused_base_url_or_trust_host_is_echoed_without_its_secrets() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (flag, value, says) in [
        (
            "--base-url",
            "https://user:PASS-SECRET@h.example/api/v1",
            "error: invalid value 'https://***@h.example/api/v1' for '--base-url <URL>': it carries credentials: the API key goes in MERAKI_DASHBOARD_API_KEY or --api-key-file",
        ),
        (
            "--base-url",
            "https://h.example/api/v1?api_key=QUERY-SECRET",
            "error: invalid value 'https://h.example/api/v1?api_key=***' for '--base-url <URL>': it carries a query or fragment",
        ),
        (
            "--base-url",
            "not a url://user:PASS-SECRET@h?token=QUERY-SECRET",
            "error: invalid value 'not a url://***@h?token=***' for '--base-url <URL>': not a URL (e.g. https://api.meraki.com/api/v1)",
        ),
        (
            "--trust-host",
            "user:PASS-SECRET@h.example:8443",
            "error: invalid value '***@h.example:8443' for '--trust-host <HOST[:PORT]>': \"***@h.example:8443\": expected HOST or HOST:PORT (no scheme or path), e.g. n42.example.net:8443",
        ),
    ] {
        let output = callbudget()
            .arg("collect")
            .arg("--db")
            .arg(dir.path().join("cb.db"))
            .args(["--org", ACME_ORG, flag, value])
            .env("MERAKI_DASHBOARD_API_KEY", "any-secret-you-like")
            .output()
            .expect("callbudget runs");
        assert_eq!(output.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8(output.stderr).expect("UTF-8");
        assert_eq!(stderr, format!("{says}\n"));
        assert!(!stderr.contains("SECRET"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    assert!(!dir.path().join("cb.db").exists());
}
