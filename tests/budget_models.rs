//! Budget models as data (issue 8): the rolling window is a window of any 60 minutes, not a clock
//! hour; fixed windows are clock-aligned; endpoint classes have limits of their own; model files
//! round-trip and bad ones are refused with the reason.

use callbudget_api::budget::{
    BudgetModel, BudgetModelError, BudgetReplay, EndpointClass, Limit, OfferedRequest, Refusal,
    replay,
};

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;

fn at(text: &str) -> i64 {
    callbudget_api::timestamp::parse(text)
        .expect("a test time")
        .timestamp_micros()
}

/// Whether each of `timestamps` (in time order) is admitted by the model's org-wide limits.
fn admitted(model: &BudgetModel, timestamps: &[i64]) -> Vec<bool> {
    replay(model, timestamps.iter().copied())
        .map(|(_, ok)| ok)
        .collect()
}

/// The name of the endpoint class whose limit refused a request.
fn class_of<'a>(model: &'a BudgetModel, refusal: &Refusal) -> &'a str {
    let class = refusal.class.expect("a class's limit refused it");
    &model.classes[class].name
}

fn one_limit(limit: Limit) -> BudgetModel {
    BudgetModel {
        name: "test".into(),
        description: String::new(),
        limits: vec![limit],
        classes: Vec::new(),
        catalog: None,
    }
}

#[test]
fn xdr_admits_8000_requests_in_an_hour_and_refuses_the_8001st_within_60_minutes_of_the_first() {
    let xdr = BudgetModel::xdr();
    let start = at("2026-11-20T10:00:00Z");
    // 8000 requests 450 ms apart: 10:00:00 to 10:59:59.55.
    let mut ts: Vec<i64> = (0..8000).map(|i| start + i * 450_000).collect();
    assert!(admitted(&xdr, &ts).iter().all(|ok| *ok));

    // The 8001st a microsecond before 11:00:00 — within 60 minutes of the first — is over.
    ts.push(start + 60 * MINUTE - 1);
    let verdicts = admitted(&xdr, &ts);
    assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), 1);
    assert!(!verdicts[8000]);

    // At 11:00:00 exactly the first request has left the window: one more fits, and only one.
    ts.push(start + 60 * MINUTE);
    ts.push(start + 60 * MINUTE);
    let verdicts = admitted(&xdr, &ts);
    assert_eq!(&verdicts[8000..], [false, true, false]);
}

#[test]
fn xdr_rolling_window_is_not_clock_aligned_where_a_fixed_hour_is() {
    // 8000 requests spread over 10:30:00–11:29:59.55 (450 ms apart) and one more at 11:15:00: no
    // clock hour holds more than 4001, but the 60 minutes ending at 11:29:59.55 hold 8001.
    let start = at("2026-11-20T10:30:00Z");
    let mut ts: Vec<i64> = (0..8000).map(|i| start + i * 450_000).collect();
    ts.push(at("2026-11-20T11:15:00Z"));
    ts.sort_unstable();
    let per_clock_hour = |hour: &str| {
        let h = at(hour);
        ts.iter()
            .filter(|&&t| t >= h && t < h + 60 * MINUTE)
            .count()
    };
    assert_eq!(per_clock_hour("2026-11-20T10:00:00Z"), 4000);
    assert_eq!(per_clock_hour("2026-11-20T11:00:00Z"), 4001);

    let rolling = admitted(&BudgetModel::xdr(), &ts);
    let refused: Vec<usize> = (0..ts.len()).filter(|&i| !rolling[i]).collect();
    // The request that completes 8001 in 60 minutes is the last one, at 11:29:59.55.
    assert_eq!(refused, [8000]);
    assert_eq!(ts[8000], at("2026-11-20T11:29:59.550Z"));

    let clock_hour = one_limit(Limit::FixedWindow {
        limit: 8000,
        window_seconds: 3600,
    });
    assert!(admitted(&clock_hour, &ts).iter().all(|ok| *ok));
}

#[test]
fn a_fixed_window_resets_on_the_clock_minute() {
    let per_minute = one_limit(Limit::FixedWindow {
        limit: 100,
        window_seconds: 60,
    });
    // 101 requests at 10:00:59.9, then 2 at 10:01:00: the 101st is refused, the minute resets.
    let mut ts = vec![at("2026-11-20T10:00:59.900Z"); 101];
    ts.extend([at("2026-11-20T10:01:00Z"); 2]);
    let verdicts = admitted(&per_minute, &ts);
    assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), 1);
    assert!(!verdicts[100] && verdicts[101] && verdicts[102]);
}

#[test]
fn the_meraki_model_is_the_token_bucket_of_10_per_second_plus_10() {
    let meraki = BudgetModel::meraki();
    let verdicts = admitted(&meraki, &[5 * SECOND; 40]);
    assert_eq!(verdicts.iter().filter(|ok| **ok).count(), 20);
    assert_eq!(meraki.summary(), "10/s + 10");
    assert_eq!(meraki.per_second_limit(), Some(10.0));
    assert_eq!(BudgetModel::xdr().summary(), "8000 per 60 min rolling");
    assert_eq!(BudgetModel::xdr().per_second_limit(), None);
}

#[test]
fn xdr_workflow_runs_have_their_own_10_per_minute_and_the_refusal_names_the_class() {
    let xdr = BudgetModel::xdr();
    let mut replay = BudgetReplay::new(&xdr);
    let start = at("2026-11-20T10:00:00Z");
    let run = |i: i64| OfferedRequest {
        ts_us: start + i * SECOND,
        method: Some("POST"),
        path: Some("/v1.1/workflows/01ABC/start"),
        operation_id: None,
    };
    let verdicts: Vec<_> = (0..11).map(|i| replay.offer(&run(i))).collect();
    assert!(verdicts[..10].iter().all(Result::is_ok));
    let refusal = verdicts[10].expect_err("the 11th run in a minute");
    assert_eq!(class_of(&xdr, &refusal), "workflow-runs");
    // Reading the same path is not a workflow run; the org-wide budget has room.
    let read = OfferedRequest {
        method: Some("GET"),
        ..run(11)
    };
    assert_eq!(replay.offer(&read), Ok(()));
    // A minute after the first run, one more run fits.
    assert_eq!(replay.offer(&run(60)), Ok(()));
}

#[test]
fn event_rules_have_a_daily_limit_under_the_per_minute_one() {
    let xdr = BudgetModel::xdr();
    let mut replay = BudgetReplay::new(&xdr);
    let start = at("2026-11-20T00:00:00Z");
    // 10 events every minute for 501 minutes: 5010 offered, the per-minute limit never refuses,
    // the daily one refuses the last 10.
    let mut refused = 0;
    for minute in 0..501 {
        for i in 0..10 {
            let event = OfferedRequest {
                ts_us: start + minute * MINUTE + i * SECOND,
                method: Some("POST"),
                path: Some("/v1/event_rules/rule-7/events"),
                operation_id: None,
            };
            if let Err(r) = replay.offer(&event) {
                assert_eq!(class_of(&xdr, &r), "event-rules");
                assert_eq!(r.limit, 1, "the 5000/day limit");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 10);
}

#[test]
fn a_model_file_round_trips_through_json_and_the_committed_toml_is_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xdr.json");
    std::fs::write(&path, serde_json::to_string(&BudgetModel::xdr()).unwrap()).unwrap();
    let read = BudgetModel::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(read, BudgetModel::xdr());
    // The committed TOML is the built-in model written out.
    let committed = BudgetModel::resolve("sample-data/xdr-model.toml").unwrap();
    assert_eq!(committed, BudgetModel::xdr());
}

#[test]
fn a_hand_written_fixed_window_model_reads_and_bad_models_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let good = write(
        "acme.toml",
        r#"
name = "acme-api"
[[limits]]
kind = "fixed_window"
limit = 600
window_seconds = 60

[[classes]]
name = "exports"
paths = ["/api/*/exports/**"]
[[classes.limits]]
kind = "token_bucket"
rate_per_second = 1
burst = 0
"#,
    );
    let model = BudgetModel::resolve(&good).unwrap();
    assert_eq!(model.summary(), "600 per 1 min clock-aligned");
    let export = OfferedRequest {
        ts_us: 0,
        method: Some("GET"),
        path: Some("/api/v2/exports/big/part?page=2"),
        operation_id: None,
    };
    assert!(model.classes[0].matches(&export));
    assert!(!model.classes[0].matches(&OfferedRequest {
        path: Some("/api/v2/imports/x"),
        ..export
    }));
    // `*` stays within a segment.
    assert!(!model.classes[0].matches(&OfferedRequest {
        path: Some("/api/v2/x/exports/big"),
        ..export
    }));

    let typo = write(
        "typo.toml",
        "name = \"t\"\n[[limits]]\nkind = \"rolling_window\"\nlimit = 5\nwindow_secs = 60\n",
    );
    let err = BudgetModel::resolve(&typo).unwrap_err();
    assert!(matches!(err, BudgetModelError::Toml { .. }), "{err}");
    assert!(
        err.to_string().ends_with(
            "typo.toml:2: unknown field `window_secs`, expected `limit` or `window_seconds`"
        ),
        "{err}"
    );

    let zero = write(
        "zero.toml",
        "name = \"z\"\n[[limits]]\nkind = \"rolling_window\"\nlimit = 0\nwindow_seconds = 60\n",
    );
    let err = BudgetModel::resolve(&zero).unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");

    let no_match = BudgetModel {
        classes: vec![EndpointClass {
            name: "nothing".into(),
            paths: Vec::new(),
            operations: Vec::new(),
            methods: vec!["POST".into()],
            limits: vec![Limit::RollingWindow {
                limit: 1,
                window_seconds: 1,
            }],
        }],
        ..BudgetModel::xdr()
    };
    assert!(
        no_match
            .validate()
            .unwrap_err()
            .to_string()
            .contains("neither paths nor operations")
    );

    let err = BudgetModel::resolve("aws").unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"aws\" is neither a built-in budget model (meraki, xdr) nor a .toml or .json model file"
    );
}

/// The client reads XDR's `x-ratelimit-org-limit` / `-remaining`: it keeps the last quota, and an
/// answer that leaves nothing holds the organization's next call (slower, no 429 counted).
#[test]
fn the_client_keeps_xdrs_org_quota_and_holds_the_org_when_it_is_spent() {
    use callbudget_collect::dashboard::client::{CallTally, ClientConfig, DashboardClient};
    use callbudget_collect::dashboard::key::ApiKey;
    use callbudget_collect::dashboard::retry::{Backoff, RateLimitQuota};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    crate::support::block_on(async {
        let served = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&served);
        // 2 left, then 1, then 0, ...
        let app = axum::Router::new().route(
            "/api/v1/organizations/7/things",
            axum::routing::get(move || {
                let left = 2u64.saturating_sub(counter.fetch_add(1, Ordering::SeqCst));
                async move {
                    (
                        [
                            ("content-type", "application/json".to_owned()),
                            ("x-ratelimit-org-limit", "8000".to_owned()),
                            ("x-ratelimit-org-remaining", left.to_string()),
                        ],
                        "[]",
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });

        let key = ApiKey::new("any-secret-you-like").expect("a key");
        let mut config = ClientConfig::new(format!("http://{addr}/api/v1"), key, 1.0);
        config.org_rate = 1000.0;
        config.source_ip_rate = 10_000.0;
        config.backoff = Backoff {
            base: Duration::from_millis(400),
            cap: Duration::from_secs(1),
        };
        let client = DashboardClient::new(config).expect("a client");
        let url = client.url("/organizations/7/things", &[]);
        let mut tally = CallTally::default();
        assert_eq!(client.org_quota("7"), None);

        for left in [2, 1] {
            client
                .get::<Vec<serde_json::Value>>(Some("7"), &url, &mut tally)
                .await
                .expect("an answer");
            assert_eq!(
                client.org_quota("7"),
                Some(RateLimitQuota {
                    limit: 8000,
                    remaining: left
                })
            );
        }
        let rate = client.org_rate("7");
        client
            .get::<Vec<serde_json::Value>>(Some("7"), &url, &mut tally)
            .await
            .expect("an answer");
        assert_eq!(client.org_quota("7").map(|q| q.remaining), Some(0));
        assert!(
            client.org_rate("7") < rate,
            "the spent budget slows the pacer"
        );
        // The next call waits out the backoff's first step before it is sent.
        let waited = tally.waited;
        client
            .get::<Vec<serde_json::Value>>(Some("7"), &url, &mut tally)
            .await
            .expect("an answer");
        assert!(
            tally.waited - waited >= Duration::from_millis(350),
            "{:?}",
            tally.waited - waited
        );
        assert_eq!((tally.calls, tally.http_429s), (4, 0));
        assert_eq!(served.load(Ordering::SeqCst), 4);
    });
}
