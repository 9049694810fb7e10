//! A run's announcement, at least once: the news marked "to announce" in the database before
//! anything is posted ([`mark_pending`], before the run's audits are saved), posted to every
//! webhook, and the mark cleared only once a webhook took it ([`announce`]). A run whose webhooks
//! are all down, or that is killed while posting, leaves the mark, and the next run says the news
//! again. What each delivery says is one line.

use super::NotifyError;
use super::delivery::{Delivery, DeliveryPolicy, deliver};
use super::news::News;
use super::target::WebhookTarget;
use callbudget_api::text::error_chain;
use callbudget_store::{Access, Store};
use chrono::{DateTime, Utc};

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

impl Posted {
    /// How `deliveries` went, taken together.
    pub fn of(deliveries: &[Delivery<'_>]) -> Posted {
        let delivered = deliveries.iter().filter(|d| d.outcome.is_ok()).count();
        match (delivered, deliveries.len() - delivered) {
            (_, 0) => Posted::Everywhere,
            (0, _) => Posted::Nowhere,
            _ => Posted::Partly,
        }
    }
}

/// What an announcement did: each target's delivery (none when there was no news) and how they
/// went together.
#[derive(Debug)]
pub struct Announcement<'t> {
    pub deliveries: Vec<Delivery<'t>>,
    pub posted: Posted,
}

/// Marks `news` as to be announced, before the audits it comes from are saved and before anything
/// is posted: until [`announce`] clears the mark, those audits are no baseline for the next run's
/// news. Nothing to do without news, or in a database this process may not write (which saves no
/// audit either, so the next run compares with the same baseline anyway).
pub fn mark_pending(
    store: &mut Store,
    news: &News<'_>,
    now: DateTime<Utc>,
) -> Result<(), NotifyError> {
    if news.is_empty() || store.access() != Access::ReadWrite {
        return Ok(());
    }
    let windows: Vec<_> = news
        .orgs
        .iter()
        .map(|org| {
            let window = &org.audit.window;
            (org.audit.org_id.clone(), window.start, window.end)
        })
        .collect();
    store
        .mark_announcements_pending(&windows, now)
        .map_err(|source| NotifyError::Announcements {
            org_id: windows[0].0.clone(),
            source: Box::new(source),
        })
}

/// Posts `news` to every target when there is any. When a target got it, the marks
/// [`mark_pending`] set are cleared; when none did, they stay, so the next run posts it again.
pub fn announce<'t>(
    store: &mut Store,
    targets: &'t [WebhookTarget],
    news: &News<'_>,
    now: DateTime<Utc>,
    policy: &DeliveryPolicy,
) -> Result<Announcement<'t>, NotifyError> {
    if news.is_empty() {
        return Ok(Announcement {
            deliveries: Vec::new(),
            posted: Posted::Everywhere,
        });
    }
    let deliveries = deliver(targets, news, now, policy)?;
    let posted = Posted::of(&deliveries);
    // (A read-only database has no mark to clear.)
    if posted != Posted::Nowhere && store.access() == Access::ReadWrite {
        for org in &news.orgs {
            store
                .clear_announcements(&org.audit.org_id, org.audit.window.end)
                .map_err(|source| NotifyError::Announcements {
                    org_id: org.audit.org_id.clone(),
                    source: Box::new(source),
                })?;
        }
    }
    Ok(Announcement { deliveries, posted })
}

impl Delivery<'_> {
    /// One line on how this delivery went, the webhook named by number and host only (never its
    /// URL, which is a secret).
    pub fn describe(&self, news: &News<'_>) -> String {
        match &self.outcome {
            Ok(attempts) => format!(
                "{}: posted {} new finding(s) of {} organization(s){}",
                self.target,
                news.finding_count(),
                news.orgs.len(),
                if *attempts > 1 {
                    format!(" (attempt {attempts})")
                } else {
                    String::new()
                }
            ),
            Err(e) => self.target.redact(&format!(
                "{}: not delivered: {}",
                self.target,
                error_chain(e)
            )),
        }
    }
}
