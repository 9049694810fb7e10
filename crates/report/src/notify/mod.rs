//! Notifications: telling a chat channel or an alert router when an audit finds something new
//! since the organization's previous audit. What counts as new ([`news`]), the message in each
//! webhook's format ([`message`]), where it goes and how that secret is kept ([`target`]), and
//! posting it with retries ([`delivery`]).
//!
//! A run decides what is new before its audits are saved (they become the next run's baseline),
//! and posts after its report files are written, so a webhook that is down never costs a report.

pub mod announce;
pub mod delivery;
pub mod message;
pub mod news;
pub mod target;

pub use announce::{Announcement, Posted, announce, mark_pending};
pub use delivery::{Delivery, DeliveryError, DeliveryPolicy, deliver};
pub use news::{News, OrgNews, news_since_saved_audits};
pub use target::{NOTIFY_URL_ENV, NotifyFormat, TargetSources, WebhookTarget, webhook_targets};

use callbudget_store::{OrgId, StoreError};
use std::path::PathBuf;

/// Why notifications could not be prepared or sent at all (one webhook failing is a
/// [`DeliveryError`] of that target, not this).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{origin}: {reason} (the URL itself is not shown: it is a secret)")]
    BadUrl {
        origin: String,
        reason: &'static str,
    },
    #[error("cannot read the webhook URL file {}", path.display())]
    UrlFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading organization {org_id}'s earlier audits")]
    Store {
        org_id: OrgId,
        source: Box<StoreError>,
    },
    #[error("recording whether organization {org_id}'s news is announced")]
    Announcements {
        org_id: OrgId,
        source: Box<StoreError>,
    },
    #[error("cannot set up the HTTP client for notifications")]
    Client(#[source] reqwest::Error),
    #[error("cannot start the async runtime for notifications")]
    Runtime(#[source] std::io::Error),
}

impl NotifyError {
    /// Whether the error is in how the webhooks were given (a usage error, found before any work
    /// is done), not in reading or posting.
    pub fn is_usage(&self) -> bool {
        matches!(self, NotifyError::BadUrl { .. })
    }
}
