//! `audit --notify`: which webhooks, what is new, and saying on stderr what was posted or not.

use anyhow::Result;
use callbudget::cli::NotifyArgs;
use callbudget::notify::{
    self, DeliveryPolicy, NOTIFY_URL_ENV, News, TargetSources, WebhookTarget,
};
use callbudget::text::error_chain;
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

/// How a run's notifications went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Every webhook got the news (or there was nothing to post).
    Everywhere,
    /// Some did, some did not: reported, not posted again.
    Partly,
    /// None did: the next audit says it again.
    Nowhere,
}

/// Posts `news` to every target and says how each went.
pub fn post(targets: &[WebhookTarget], news: &News<'_>, quiet: bool) -> Result<Posted> {
    for org in &news.first_audits {
        if !quiet {
            eprintln!(
                "notify: organization {} has no earlier audit made this way: this one is the baseline, nothing posted for it",
                callbudget::text::printable(org.as_str())
            );
        }
    }
    if news.is_empty() {
        if !quiet {
            eprintln!("notify: nothing new since the previous audit, nothing posted");
        }
        return Ok(Posted::Everywhere);
    }
    let deliveries = notify::deliver(targets, news, Utc::now(), &DeliveryPolicy::default())?;
    let (mut delivered, mut failed) = (0, 0);
    for delivery in deliveries {
        match delivery.outcome {
            Ok(_) if quiet => delivered += 1,
            Ok(attempts) => {
                delivered += 1;
                eprintln!(
                    "notify: {}: posted {} new finding(s) of {} organization(s){}",
                    delivery.target,
                    news.finding_count(),
                    news.orgs.len(),
                    if attempts > 1 {
                        format!(" (attempt {attempts})")
                    } else {
                        String::new()
                    }
                )
            }
            Err(e) => {
                failed += 1;
                super::error_line(&delivery.target.redact(&format!(
                    "{}: not delivered: {}",
                    delivery.target,
                    error_chain(&e)
                )));
            }
        }
    }
    Ok(match (delivered, failed) {
        (_, 0) => Posted::Everywhere,
        (0, _) => Posted::Nowhere,
        _ => Posted::Partly,
    })
}
