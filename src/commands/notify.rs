//! `audit --notify`: which webhooks the flags, the file and the environment name.

use anyhow::Result;
use callbudget::cli::NotifyArgs;
use callbudget_report::notify::{self, NOTIFY_URL_ENV, NotifyError, WebhookTarget};

/// The webhooks the flags, the file and the environment name; a URL that cannot be used is a
/// usage error, found before any work is done.
pub fn targets(args: &NotifyArgs) -> Result<Vec<WebhookTarget>> {
    let sources = args.target_sources(std::env::var(NOTIFY_URL_ENV).ok());
    notify::webhook_targets(&sources).map_err(super::usage_when(NotifyError::is_usage))
}
