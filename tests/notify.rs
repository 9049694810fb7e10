//! `audit --notify`: one message when something new appears, none for what is still open, in each
//! webhook's format, delivered with retries, and the webhook URL kept secret. A receiver on
//! 127.0.0.1:0 records every message.

use crate::support::{API_KEY, TINY_END, TINY_ORG, sample_path, serve, time, tiny_config};
use assert_cmd::Command;
use callbudget_sim::ClockMode;
use callbudget_sim::scenario::Scenario;
use chrono::TimeDelta;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One message as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: serde_json::Value,
}

/// A webhook receiver on 127.0.0.1:0: answers each POST with the next status of its script (then
/// 200), recording the message first; stops when dropped.
struct Receiver {
    address: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        use axum::extract::{Request, State};
        use axum::http::StatusCode;
        type Shared = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<u16>>>);

        async fn record(State((received, script)): State<Shared>, request: Request) -> StatusCode {
            let path = request
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let content_type = request
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
                .await
                .expect("a readable body");
            let body = serde_json::from_slice(&bytes).expect("a JSON message");
            received.lock().unwrap().push(Received {
                path,
                content_type,
                body,
            });
            let mut script = script.lock().unwrap();
            let status = if script.is_empty() {
                200
            } else {
                script.remove(0)
            };
            StatusCode::from_u16(status).expect("a valid status")
        }

        let received = Arc::new(Mutex::new(Vec::new()));
        let shared: Shared = (Arc::clone(&received), Arc::new(Mutex::new(script.to_vec())));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("a bound address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the receiver");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let app = axum::Router::new()
                    .fallback(axum::routing::post(record))
                    .with_state(shared);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("the receiver serves");
            });
        });
        Receiver {
            address,
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A URL on this receiver, with a secret path and query as real webhooks have.
    fn url(&self, secret: &str) -> String {
        format!("http://{}/hooks/{secret}?sig={secret}-sig", self.address)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn callbudget() -> Command {
    let mut cmd = Command::cargo_bin("callbudget").expect("the callbudget binary is built");
    cmd.env_remove(callbudget_report::notify::NOTIFY_URL_ENV)
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

/// tiny.toml plus a new consumer, "hoarder": 3,000 calls at 15:00 with eight threads, retrying
/// without waiting, which saturates the budget on its own.
fn tiny_with_hoarder() -> Scenario {
    let tiny = std::fs::read_to_string(sample_path("tiny.toml")).expect("tiny.toml is readable");
    let text = format!(
        "{tiny}
[[consumers]]
name = \"hoarder\"
user_agent = \"python-meraki/4.7.0 Caller/(Hoarder/9.9 Acme*Ops)\"
admin = \"900002\"
source_ip = \"192.0.2.40\"
client_id = \"k_tiny04\"
on_429 = {{ honours_retry_after = false, backoff = \"none\", jitter = false, retry_delay_seconds = 0.2, max_retries = 3 }}

[[consumers.traffic]]
kind = \"burst\"
operations = [\"getDeviceClients\"]
at = \"15:00\"
requests = 3000
concurrency = 8
"
    );
    Scenario::parse(Path::new("tiny-hoarder.toml"), &text).expect("the hoarder scenario is valid")
}

/// A nightly audit of tiny's organization against a simulator whose timeline ends `days` days
/// after tiny's, its clock standing there; the first night collects tiny's day, later nights
/// collect incrementally.
fn nightly_audit(
    scenario: Scenario,
    days: i64,
    db: &Path,
    out: &Path,
    notify: &[&str],
) -> std::process::Output {
    let flags: Vec<&str> = notify.iter().flat_map(|url| ["--notify", url]).collect();
    nightly_audit_with(scenario, days, db, out, &flags, None)
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// [`nightly_audit`] with any flags, and a URL in the environment.
fn nightly_audit_with(
    scenario: Scenario,
    days: i64,
    db: &Path,
    out: &Path,
    flags: &[&str],
    env_url: Option<&str>,
) -> std::process::Output {
    let mut config = tiny_config();
    config.scenarios = vec![scenario];
    config.now = time(TINY_END) + TimeDelta::days(days);
    config.clock = ClockMode::Frozen;
    let handle = serve(config);
    let mut cmd = callbudget();
    cmd.arg("audit")
        .arg("--db")
        .arg(db)
        .arg("--out")
        .arg(out)
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .args(["--budget-share", "1", "--source-ip-rate", "1000"])
        .args(["--format", "json"])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY);
    if days == 0 {
        cmd.args(["--since", "2026-11-19T00:00:00Z", "--until", TINY_END]);
    }
    cmd.args(flags);
    if let Some(url) = env_url {
        cmd.env(callbudget_report::notify::NOTIFY_URL_ENV, url);
    }
    cmd.output().expect("callbudget runs")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_new_noisy_consumer_is_announced_once_and_never_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, out) = (dir.path().join("cb.db"), dir.path().join("report"));
    let receiver = Receiver::start(&[]);
    let url = receiver.url("T0SECRET/B0SECRET/xoxSECRET");
    let tiny = crate::support::tiny_scenario();

    // Night 1: tiny's own day. The first audit is the baseline: nothing is posted.
    let first = nightly_audit(tiny, 0, &db, &out, &[&url]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stderr(&first).contains(&format!(
            "notify: organization {TINY_ORG} has no earlier audit made this way: this one is the baseline"
        )),
        "{}",
        stderr(&first)
    );
    assert_eq!(receiver.received().len(), 0);

    // Night 2: the hoarder appears. One message, naming it, to the URL in the file; the webhook
    // in the environment answers 404, which is not retried and makes the exit code 4.
    let gone = Receiver::start(&[404]);
    let url_file = dir.path().join("webhooks");
    std::fs::write(&url_file, format!("# the NOC channel\n{url}\n")).expect("a URL file");
    let second = nightly_audit_with(
        tiny_with_hoarder(),
        1,
        &db,
        &out,
        &["--notify-file", path_text(&url_file)],
        Some(&gone.url("GONESECRET")),
    );
    assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
    assert_eq!(gone.received().len(), 1);
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{}", stderr(&second));
    assert!(
        out.join("findings.json").is_file(),
        "the report is written first"
    );
    let message = &received[0];
    assert_eq!(
        message.path,
        "/hooks/T0SECRET/B0SECRET/xoxSECRET?sig=T0SECRET/B0SECRET/xoxSECRET-sig"
    );
    assert_eq!(message.content_type, "application/json");
    let org = &message.body["organizations"][0];
    assert_eq!(org["org_id"], TINY_ORG);
    assert_eq!(org["name"], "Tiny Test Org");
    // Compared with the night before (whose end was given); this night ends at the server's
    // clock, read to the millisecond.
    assert_eq!(org["compared_with"]["end"], "2026-11-20T00:00:00.000000Z");
    let end = org["window"]["end"].as_str().expect("an end");
    assert!(end.starts_with("2026-11-21T00:00:00."), "{end}");
    let new: Vec<(String, String, Option<String>)> = org["new_findings"]
        .as_array()
        .expect("new findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_owned(),
                f["severity"].as_str().unwrap_or_default().to_owned(),
                f["consumer"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert!(
        new.contains(&(
            "noisy_consumer".to_owned(),
            "critical".to_owned(),
            Some("Hoarder/9.9 Acme*Ops".to_owned())
        )),
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|(_, severity, _)| severity == "critical" || severity == "warning"),
        "{new:?}"
    );
    assert_eq!(org["consumers"][0]["consumer"], "Hoarder/9.9 Acme*Ops");
    assert_eq!(org["consumers"][0]["move"], "new");
    let text = message.body["text"].as_str().expect("a text");
    assert!(
        text.contains("critical noisy consumer: Hoarder/9.9 Acme*Ops sent "),
        "{text}"
    );
    assert!(
        text.contains("new consumer Hoarder/9.9 Acme*Ops: "),
        "{text}"
    );
    let said = stderr(&second);
    assert!(
        said.contains(&format!(
            "notify: notification 1 (127.0.0.1): posted {} new finding(s) of 1 organization(s)",
            new.len()
        )),
        "{said}"
    );
    assert!(
        said.contains(
            "callbudget: error: notification 2 (127.0.0.1): not delivered: the webhook answered HTTP 404 Not Found, which a retry cannot change"
        ),
        "{said}"
    );
    assert!(!said.contains("SECRET"), "{said}");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/notification.schema.json"),
        )
        .expect("the schema is readable"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&message.body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // Night 3: the same traffic. The hoarder's findings are still open: nothing is posted.
    let third = nightly_audit(tiny_with_hoarder(), 2, &db, &out, &[&url]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("notify: nothing new since the previous audit, nothing posted"),
        "{}",
        stderr(&third)
    );
    assert_eq!(receiver.received().len(), 1);

    // Night 3 audited again (nothing more to collect, the same window): still nothing.
    let again = nightly_audit(tiny_with_hoarder(), 2, &db, &out, &[&url]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(receiver.received().len(), 1, "{}", stderr(&again));

    // The URL reached neither the report nor the database.
    for file in [db.clone(), out.join("findings.json")] {
        let bytes = std::fs::read(&file).expect("a readable file");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("xoxSECRET"),
            "{}",
            file.display()
        );
    }
}

/// Delivers an empty message to `urls` with waits of a millisecond.
fn deliver_to(urls: &[String], attempts: u32) -> Vec<Result<u32, String>> {
    use callbudget_report::notify::{
        DeliveryPolicy, News, TargetSources, deliver, webhook_targets,
    };
    let targets = webhook_targets(&TargetSources {
        flags: urls,
        ..TargetSources::default()
    })
    .expect("valid URLs");
    let policy = DeliveryPolicy {
        timeout: std::time::Duration::from_secs(10),
        attempts,
        first_backoff: std::time::Duration::from_millis(1),
        max_retry_after: std::time::Duration::from_millis(1),
    };
    deliver(&targets, &News::default(), time(TINY_END), &policy)
        .expect("delivery runs")
        .into_iter()
        .map(|d| {
            d.outcome
                .map_err(|e| d.target.redact(&callbudget_api::text::error_chain(&e)))
        })
        .collect()
}

#[test]
fn delivery_retries_429_and_5xx_but_not_other_answers() {
    let flaky = Receiver::start(&[503, 429, 502]);
    let refused = Receiver::start(&[400]);
    let down = Receiver::start(&[500, 500, 500]);
    let outcomes = deliver_to(&[flaky.url("A"), refused.url("B")], 4);
    assert_eq!(outcomes[0], Ok(4));
    assert_eq!(flaky.received().len(), 4);
    assert_eq!(
        outcomes[1],
        Err("the webhook answered HTTP 400 Bad Request, which a retry cannot change".to_owned())
    );
    assert_eq!(refused.received().len(), 1);
    assert_eq!(
        deliver_to(&[down.url("C")], 3)[0],
        Err(
            "the webhook still answered HTTP 500 Internal Server Error after 3 attempt(s)"
                .to_owned()
        )
    );
    assert_eq!(down.received().len(), 3);
}

#[test]
fn an_unreachable_webhook_is_tried_again_and_never_named() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/hooks/UNREACHABLESECRET?sig=SIGSECRET");
    let outcome = deliver_to(&[url], 2).remove(0);
    let error = outcome.expect_err("nothing listens");
    assert!(
        error.starts_with("the webhook was not reached in 2 attempt(s): "),
        "{error}"
    );
    assert!(!error.contains("SECRET"), "{error}");
}

#[test]
fn a_bad_webhook_url_is_a_usage_error_before_any_work() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let output = callbudget()
        .arg("audit")
        .arg("--db")
        .arg(&db)
        .args(["--org", TINY_ORG, "--base-url", "http://127.0.0.1:9/api/v1"])
        .args(["--notify", "http://hooks.example.com/services/PLAINSECRET"])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
        .output()
        .expect("callbudget runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "callbudget: error: --notify number 1: plain http is only for this machine (127.0.0.1, ::1, localhost): use https (the URL itself is not shown: it is a secret)\n"
    );
    assert!(!db.exists());
}

/// Review finding: a notification that reached no webhook was never sent again — the audit became
/// the next baseline and the finding counted as "still open".
#[test]
fn news_that_reached_no_webhook_is_posted_by_the_next_audit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, out) = (dir.path().join("cb.db"), dir.path().join("report"));
    let first = nightly_audit(crate::support::tiny_scenario(), 0, &db, &out, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));

    // Night 2: the hoarder appears, but the only webhook is gone.
    let gone = Receiver::start(&[404]);
    let second = nightly_audit(tiny_with_hoarder(), 1, &db, &out, &[&gone.url("DOWN")]);
    assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
    assert_eq!(gone.received().len(), 1);

    // Night 3: the same traffic, the webhook back: what nobody was told is posted now, once.
    let receiver = Receiver::start(&[]);
    let url = receiver.url("BACK");
    let third = nightly_audit(tiny_with_hoarder(), 2, &db, &out, &[&url]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{}", stderr(&third));
    let consumers: Vec<&str> = received[0].body["organizations"][0]["new_findings"]
        .as_array()
        .expect("new findings")
        .iter()
        .filter_map(|f| f["consumer"].as_str())
        .collect();
    assert!(consumers.contains(&"Hoarder/9.9 Acme*Ops"), "{consumers:?}");

    // Night 4: told, so nothing more.
    let fourth = nightly_audit(tiny_with_hoarder(), 3, &db, &out, &[&url]);
    assert_eq!(fourth.status.code(), Some(0), "{}", stderr(&fourth));
    assert_eq!(receiver.received().len(), 1, "{}", stderr(&fourth));
}

/// A webhook that takes connections and reads what comes, but never answers; `posted` turns true
/// once a POST arrived.
struct HangingWebhook {
    address: std::net::SocketAddr,
    posted: Arc<std::sync::atomic::AtomicBool>,
}

impl HangingWebhook {
    fn start() -> HangingWebhook {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds 127.0.0.1:0");
        let address = listener.local_addr().expect("a bound address");
        let posted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::clone(&posted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let seen = Arc::clone(&seen);
                // Each connection held open, read and never answered, until the client goes.
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buffer) {
                        if n == 0 {
                            return;
                        }
                        if buffer[..n].starts_with(b"POST ") {
                            seen.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        HangingWebhook { address, posted }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/HANGSECRET", self.address)
    }

    fn posted(&self) -> bool {
        self.posted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Issue 30, item 3: a run killed while posting its news — the webhook hanging, the process
/// killed outright — left an audit that the next run took as its baseline, and the news was lost.
/// The news is now marked "to announce" before the audit is saved and cleared only after delivery.
#[test]
fn news_is_posted_again_after_an_audit_is_killed_while_posting_it() {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, out) = (dir.path().join("cb.db"), dir.path().join("report"));
    let first = nightly_audit(crate::support::tiny_scenario(), 0, &db, &out, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));

    // Night 2: the hoarder appears; the webhook takes the message and never answers, and the
    // process is killed (SIGKILL: nothing of it runs after) while it waits.
    let hanging = HangingWebhook::start();
    let mut config = tiny_config();
    config.scenarios = vec![tiny_with_hoarder()];
    config.now = time(TINY_END) + TimeDelta::days(1);
    config.clock = ClockMode::Frozen;
    let handle = serve(config);
    let mut child = std::process::Command::cargo_bin("callbudget")
        .expect("the callbudget binary is built")
        .env_remove(callbudget_report::notify::NOTIFY_URL_ENV)
        .arg("audit")
        .arg("--db")
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .args(["--org", TINY_ORG, "--base-url", &handle.base_url()])
        .args(["--budget-share", "1", "--source-ip-rate", "1000"])
        .args(["--format", "json", "--notify", &hanging.url()])
        .env("MERAKI_DASHBOARD_API_KEY", API_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("callbudget starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !hanging.posted() {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            panic!("the audit ended ({status}) before it posted");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the audit never posted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("the audit is killed");
    child.wait().expect("the killed audit is reaped");
    drop(handle);

    // Night 3: the same traffic, a webhook that answers: what nobody was told arrives now.
    let receiver = Receiver::start(&[]);
    let third = nightly_audit(tiny_with_hoarder(), 2, &db, &out, &[&receiver.url("BACK")]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{}", stderr(&third));
    let consumers: Vec<&str> = received[0].body["organizations"][0]["new_findings"]
        .as_array()
        .expect("new findings")
        .iter()
        .filter_map(|f| f["consumer"].as_str())
        .collect();
    assert!(consumers.contains(&"Hoarder/9.9 Acme*Ops"), "{consumers:?}");

    // Night 4: told, so nothing more.
    let fourth = nightly_audit(tiny_with_hoarder(), 3, &db, &out, &[&receiver.url("BACK")]);
    assert_eq!(fourth.status.code(), Some(0), "{}", stderr(&fourth));
    assert_eq!(receiver.received().len(), 1, "{}", stderr(&fourth));
}
