//! `audit --notify`: which webhooks, what is new, and saying on stderr what was posted or not.

use anyhow::Result;
use callbudget::cli::NotifyArgs;
use callbudget::notify::{
    self, DeliveryPolicy, NOTIFY_URL_ENV, News, Posted, TargetSources, WebhookTarget,
};
use callbudget::store::Store;
use callbudget::text::printable;
use chrono::Utc;

/// The webhooks the flags, the file and the environment name; a URL that cannot be used is a
/// usage error, found before any work is done.
pub fn targets(args: &NotifyArgs) -> Result<Vec<WebhookTarget>> {
    let sources = TargetSources {
        flags: &args.notify_urls,
        file: args.notify_file.as_deref(),
        env: std::env::var(NOTIFY_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty()),
        format: args.notify_format,
    };
    notify::webhook_targets(&sources).map_err(|e| match e {
        notify::NotifyError::BadUrl { .. } => super::usage(e),
        other => other.into(),
    })
}

/// Posts `news` (when there is any), saying on stderr how each webhook took it; when none did,
/// the library marks this run's audits so that the next run posts the news again.
pub fn announce(
    store: &mut Store,
    targets: &[WebhookTarget],
    news: &News<'_>,
    quiet: bool,
) -> Result<Posted> {
    for org in &news.first_audits {
        if !quiet {
            eprintln!(
                "notify: organization {} has no earlier audit made this way: this one is the baseline, nothing posted for it",
                printable(org.as_str())
            );
        }
    }
    if news.is_empty() && !quiet {
        eprintln!("notify: nothing new since the previous audit, nothing posted");
    }
    let announcement =
        notify::announce(store, targets, news, Utc::now(), &DeliveryPolicy::default())?;
    for delivery in &announcement.deliveries {
        match delivery.outcome {
            Ok(_) if quiet => {}
            Ok(_) => eprintln!("notify: {}", delivery.describe(news)),
            Err(_) => super::error_line(&delivery.describe(news)),
        }
    }
    Ok(announcement.posted)
}
