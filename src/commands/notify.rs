//! `audit --notify`: which webhooks, what is new, and saying on stderr what was posted or not.

use anyhow::Result;
use callbudget::cli::NotifyArgs;
use callbudget::notify::{
    self, DeliveryPolicy, NOTIFY_URL_ENV, News, NotifyError, Posted, WebhookTarget,
};
use callbudget::store::Store;
use chrono::Utc;

/// The webhooks the flags, the file and the environment name; a URL that cannot be used is a
/// usage error, found before any work is done.
pub fn targets(args: &NotifyArgs) -> Result<Vec<WebhookTarget>> {
    let sources = args.target_sources(std::env::var(NOTIFY_URL_ENV).ok());
    notify::webhook_targets(&sources).map_err(super::usage_when(NotifyError::is_usage))
}

/// Posts `news` (when there is any: none without webhooks), saying on stderr how each webhook
/// took it; when none did, the library marks this run's audits so that the next run posts the
/// news again.
pub fn announce(
    store: &mut Store,
    targets: &[WebhookTarget],
    news: Option<&News<'_>>,
    quiet: bool,
) -> Result<Posted> {
    let Some(news) = news else {
        return Ok(Posted::Everywhere);
    };
    for line in news.nothing_posted() {
        say!(quiet, "notify: {line}");
    }
    let announcement =
        notify::announce(store, targets, news, Utc::now(), &DeliveryPolicy::default())?;
    for delivery in &announcement.deliveries {
        match delivery.outcome {
            Ok(_) => say!(quiet, "notify: {}", delivery.describe(news)),
            Err(_) => super::error_line(&delivery.describe(news)),
        }
    }
    Ok(announcement.posted)
}
