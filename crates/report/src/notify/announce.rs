//! A run's announcement: the news posted to every webhook, what each delivery says in a line, and
//! — when no webhook got it — the run's audits marked so that the next run says it again.

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

/// Posts `news` to every target when there is any. When no target got it, the audits it was made
/// from are marked as not announced (in a database this process may write), so they are no
/// baseline for the next run's news and the next run posts it again.
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
    // (A read-only database saved no audit, so there is none to mark.)
    if posted == Posted::Nowhere && store.access() == Access::ReadWrite {
        for org in &news.orgs {
            let window = &org.audit.window;
            store
                .mark_audit_not_notified(&org.audit.org_id, window.start, window.end)
                .map_err(|source| NotifyError::MarkNotAnnounced {
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
