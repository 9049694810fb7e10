//! Posting a message to each webhook: a timeout per attempt, a few attempts with doubling waits for
//! what a retry can cure (429, 5xx, the network), none for what it cannot (any other answer), and
//! no redirects (a webhook that moves would take its secret path with it).

use super::news::News;
use super::target::WebhookTarget;
use super::{NotifyError, message};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use std::time::Duration;

/// How hard delivery tries.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPolicy {
    /// For one attempt, connecting included.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles for each later one.
    pub first_backoff: Duration,
    /// The longest `Retry-After` of a 429 that is waited out (longer ones are cut to it).
    pub max_retry_after: Duration,
}

impl Default for DeliveryPolicy {
    /// 10 s per attempt, 4 attempts 1, 2 and 4 s apart: under a minute for a webhook that is down.
    fn default() -> Self {
        DeliveryPolicy {
            timeout: Duration::from_secs(10),
            attempts: 4,
            first_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook answered HTTP {status}, which a retry cannot change")]
    Refused { status: StatusCode },
    #[error("the webhook still answered HTTP {status} after {attempts} attempt(s)")]
    StillFailing { status: StatusCode, attempts: u32 },
    #[error("the webhook was not reached in {attempts} attempt(s)")]
    Unreachable {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
}

/// What happened to one target's message.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub target: &'a WebhookTarget,
    /// The attempts it took, or why it failed.
    pub outcome: Result<u32, DeliveryError>,
}

/// Posts `news` to every target, each in its own format, one after the other.
pub fn deliver<'t>(
    targets: &'t [WebhookTarget],
    news: &News<'_>,
    generated_at: DateTime<Utc>,
    policy: &DeliveryPolicy,
) -> Result<Vec<Delivery<'t>>, NotifyError> {
    // reqwest is built without a default crypto provider; ring needs no C toolchain.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .user_agent(format!("callbudget/{}", callbudget_api::TOOL_VERSION))
        .timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifyError::Client(e.without_url()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(NotifyError::Runtime)?;
    Ok(runtime.block_on(async {
        let mut deliveries = Vec::with_capacity(targets.len());
        for target in targets {
            let body = message::payload(news, target.format, generated_at);
            deliveries.push(Delivery {
                target,
                outcome: post(&client, target, &body, policy).await,
            });
        }
        deliveries
    }))
}

/// Posts `body` until it is accepted (any 2xx), refused, or the attempts are spent.
async fn post(
    client: &reqwest::Client,
    target: &WebhookTarget,
    body: &serde_json::Value,
    policy: &DeliveryPolicy,
) -> Result<u32, DeliveryError> {
    let attempts = policy.attempts.max(1);
    let mut backoff = policy.first_backoff;
    let mut attempt = 1;
    loop {
        let wait = match client.post(target.url().clone()).json(body).send().await {
            Ok(answer) if answer.status().is_success() => return Ok(attempt),
            Ok(answer) => {
                let status = answer.status();
                let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                if !retryable {
                    return Err(DeliveryError::Refused { status });
                }
                if attempt >= attempts {
                    return Err(DeliveryError::StillFailing { status, attempts });
                }
                retry_after(&answer)
                    .map(|asked| asked.min(policy.max_retry_after))
                    .unwrap_or(backoff)
                    .max(backoff)
            }
            Err(e) => {
                if attempt >= attempts {
                    return Err(DeliveryError::Unreachable {
                        attempts,
                        source: e.without_url(),
                    });
                }
                backoff
            }
        };
        tokio::time::sleep(wait).await;
        backoff = backoff.saturating_mul(2);
        attempt += 1;
    }
}

/// A `Retry-After` in whole seconds (what Slack and Teams send with a 429).
fn retry_after(answer: &reqwest::Response) -> Option<Duration> {
    answer
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
