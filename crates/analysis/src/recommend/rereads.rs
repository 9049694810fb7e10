//! Re-reads of the same paths on a short cycle, for the operations the replacement table names:
//! slow-changing lists (read once a day, then follow the configuration change log hourly),
//! status polls (follow the availability change history every 5 minutes) and event feeds
//! (webhooks where they carry the data, else incremental reads every 15 minutes).

use super::table::{ReplacementTable, Reread, Webhooks};
use super::{
    CONFIGURATION_CHANGES_POLLS_PER_DAY, EVENT_READS_PER_DAY, Period, Reads, Recommendation,
    RecommendationKind, ResolvedLog, SLOW_LIST_READS_PER_DAY, STATUS_POLLS_PER_DAY,
    WEBHOOK_DOCUMENTATION, each_every, thousands,
};
use callbudget_api::OperationCatalog;

/// The recommendation for `usage` if the table lists its operation as re-read too often.
pub(super) fn recommendation(
    log: &ResolvedLog<'_>,
    period: &Period,
    usage: &Reads<'_>,
    table: &ReplacementTable,
) -> Option<Recommendation> {
    let id = usage.operation.operation_id.as_str();
    let find = |rows: &'_ [Reread]| rows.iter().find(|r| r.operation == id).cloned();
    if let Some(row) = find(&table.slow_changing_lists) {
        slow_list(log, period, usage, &row)
    } else if let Some(row) = find(&table.status_repolls) {
        status(log, period, usage, &row)
    } else {
        find(&table.event_feeds).and_then(|row| event_feed(log, period, usage, &row))
    }
}

/// Where `operation` is documented.
fn documentation(operation: &str) -> Option<String> {
    OperationCatalog::meraki_v1()
        .get(operation)
        .map(|op| op.documentation_url())
}

fn slow_list(
    log: &ResolvedLog<'_>,
    period: &Period,
    usage: &Reads<'_>,
    row: &Reread,
) -> Option<Recommendation> {
    let resources = usage.resources().max(1);
    let current = usage.per_day(period);
    if current / resources as f64 <= SLOW_LIST_READS_PER_DAY {
        return None;
    }
    let follow = row.follow.as_deref().unwrap_or_default();
    let after = resources as f64 + CONFIGURATION_CHANGES_POLLS_PER_DAY;
    let arithmetic = format!(
        "{read}{retries}: {resources} list(s){every} → read each once a day ({resources}) + \
         {follow} hourly ({changes}) = {after}/day; saves {saved}/day (one hourly change-log \
         read serves every list of the organization)",
        read = period.calls_text(usage.calls, current),
        retries = usage.retries_text(),
        every = each_every(usage.interval_seconds()),
        changes = CONFIGURATION_CHANGES_POLLS_PER_DAY,
        after = thousands(after),
        saved = thousands(current - after),
    );
    let mut rec = usage.recommendation(
        log,
        period,
        RecommendationKind::SlowChangingList,
        follow,
        after,
    );
    rec.arithmetic = arithmetic;
    rec.reason = Some(row.reason.clone());
    rec.documentation_url = documentation(follow);
    Some(rec)
}

fn status(
    log: &ResolvedLog<'_>,
    period: &Period,
    usage: &Reads<'_>,
    row: &Reread,
) -> Option<Recommendation> {
    let current = usage.per_day(period);
    if current <= STATUS_POLLS_PER_DAY {
        return None;
    }
    let follow = row.follow.as_deref().unwrap_or_default();
    let after = STATUS_POLLS_PER_DAY;
    let arithmetic = format!(
        "{read}{retries} → {follow} every 5 minutes, changes only ({after}/day); saves \
         {saved}/day",
        read = period.calls_text(usage.calls, current),
        retries = usage.retries_text(),
        after = thousands(after),
        saved = thousands(current - after),
    );
    let mut rec =
        usage.recommendation(log, period, RecommendationKind::StatusRepoll, follow, after);
    rec.arithmetic = arithmetic;
    rec.reason = Some(row.reason.clone());
    rec.documentation_url = documentation(follow);
    Some(rec)
}

/// The word for what replaces polling an event feed.
const WEBHOOKS: &str = "webhooks";

fn event_feed(
    log: &ResolvedLog<'_>,
    period: &Period,
    usage: &Reads<'_>,
    row: &Reread,
) -> Option<Recommendation> {
    let resources = usage.resources().max(1);
    let current = usage.per_day(period);
    if current / resources as f64 <= EVENT_READS_PER_DAY {
        return None;
    }
    let incremental = resources as f64 * EVENT_READS_PER_DAY;
    let (suggested, after, instead) = match row.webhooks.unwrap_or(Webhooks::None) {
        Webhooks::Full => (
            WEBHOOKS.to_owned(),
            resources as f64,
            format!(
                "webhooks push each alert as it happens; read each feed once a day for \
                 deliveries missed ({resources}/day)"
            ),
        ),
        Webhooks::Partial => (
            WEBHOOKS.to_owned(),
            incremental,
            format!(
                "webhooks for what the alert types cover, and the rest read from the last event \
                 every 15 minutes ({resources} × {EVENT_READS_PER_DAY} = {}/day)",
                thousands(incremental)
            ),
        ),
        Webhooks::None => (
            usage.operation.operation_id.clone(),
            incremental,
            format!(
                "no webhook carries this data: read what is new since the last event every 15 \
                 minutes ({resources} × {EVENT_READS_PER_DAY} = {}/day)",
                thousands(incremental)
            ),
        ),
    };
    let arithmetic = format!(
        "{read}{retries}: {resources} feed(s){every} → {instead}; saves {saved}/day",
        read = period.calls_text(usage.calls, current),
        retries = usage.retries_text(),
        every = each_every(usage.interval_seconds()),
        saved = thousands(current - after),
    );
    let mut rec = usage.recommendation(
        log,
        period,
        RecommendationKind::EventPolling,
        &suggested,
        after,
    );
    rec.arithmetic = arithmetic;
    rec.reason = Some(row.reason.clone());
    rec.documentation_url = Some(match row.webhooks {
        Some(Webhooks::None) | None => usage.operation.documentation_url(),
        Some(_) => WEBHOOK_DOCUMENTATION.to_owned(),
    });
    Some(rec)
}
