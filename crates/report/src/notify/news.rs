//! What is new in a run's audits, and so worth telling people: each organization's warning and
//! critical findings that its latest saved audit (made the same way) did not have. A finding still
//! open from the audit before is never announced again; an organization's first audit is the
//! baseline and announces nothing.

use super::NotifyError;
use callbudget_analysis::{
    ConsumerMove, ConsumerTrend, Finding, OrgAudit, Severity, finding_identity, made_alike,
};
use callbudget_api::text::printable;
use callbudget_store::{AuditRecord, OrgId, Store};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// How many earlier audits are looked through for one made the same way.
const BASE_CANDIDATES: usize = 50;

/// How many new or growing consumers a message names besides the findings.
const CONSUMERS_SHOWN: usize = 5;

/// A new consumer is named from this many requests a day: the floor trends put under "up" and
/// "down", so that a script trying one call does not make the message.
const NEW_CONSUMER_MIN_PER_DAY: f64 = 100.0;

/// What a run's audits have to tell.
#[derive(Debug, Default)]
pub struct News<'a> {
    /// Organizations with something new, in the run's order.
    pub orgs: Vec<OrgNews<'a>>,
    /// Organizations audited for the first time (the way this run audits them): nothing to
    /// compare with, so nothing announced.
    pub first_audits: Vec<OrgId>,
}

impl News<'_> {
    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    /// New findings over every organization.
    pub fn finding_count(&self) -> usize {
        self.orgs.iter().map(|o| o.new_findings.len()).sum()
    }

    /// Why nothing is posted, a line each: for each organization audited for the first time (the
    /// baseline), and for the run when there is no news at all.
    pub fn nothing_posted(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .first_audits
            .iter()
            .map(|org| {
                format!(
                    "organization {} has no earlier audit made this way: this one is the baseline, nothing posted for it",
                    printable(org.as_str())
                )
            })
            .collect();
        if self.is_empty() {
            lines.push("nothing new since the previous audit, nothing posted".to_owned());
        }
        lines
    }
}

/// One organization's news.
#[derive(Debug)]
pub struct OrgNews<'a> {
    pub audit: &'a OrgAudit,
    /// The audit compared with.
    pub compared_with: ComparedAudit,
    /// Warning and critical findings the audit compared with did not have, most severe first.
    pub new_findings: Vec<&'a Finding>,
    /// Consumers new (from 100 requests a day) or up since the audit's trends' previous audit,
    /// biggest change first.
    pub consumers: Vec<&'a ConsumerTrend>,
}

/// The saved audit a run's audit is compared with, per day so windows of any length compare.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedAudit {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub requests_per_day: f64,
    pub http_429s_per_day: f64,
}

impl ComparedAudit {
    fn of(record: &AuditRecord) -> Self {
        let days = per_day_divisor(record.t0, record.t1);
        ComparedAudit {
            start: record.t0,
            end: record.t1,
            requests_per_day: record.requests as f64 / days,
            http_429s_per_day: record.http_429s as f64 / days,
        }
    }
}

/// Days between two times, never zero.
pub(super) fn per_day_divisor(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    ((end - start).num_milliseconds() as f64 / 86_400_000.0).max(1e-9)
}

/// Compares each audit with the latest audit of its organization saved before it (ending by the
/// end of its window, made the same way, its news announced), whether or not their windows
/// overlap: run hourly over the last 24 h or twice over the same night, a finding is announced
/// once. Call it before the run's audits are saved.
pub fn news_since_saved_audits<'a>(
    store: &Store,
    audits: &'a [OrgAudit],
) -> Result<News<'a>, NotifyError> {
    let mut news = News::default();
    for audit in audits {
        let org_id = &audit.org_id;
        let store_error = |source| NotifyError::Store {
            org_id: org_id.clone(),
            source: Box::new(source),
        };
        // An audit whose news is still to be announced (it reached no webhook, or the run was
        // killed while posting) is no baseline: what it found is still unsaid.
        let pending = store.pending_announcements(org_id).map_err(store_error)?;
        let base = store
            .earlier_audits(org_id, audit.window.end, BASE_CANDIDATES)
            .map_err(store_error)?
            .into_iter()
            .find(|record| {
                made_alike(record, &audit.options) && !pending.contains(&(record.t0, record.t1))
            });
        let Some(base) = base else {
            news.first_audits.push(org_id.clone());
            continue;
        };
        let known: HashSet<String> = store
            .audit_findings(org_id, base.t0, base.t1)
            .map_err(store_error)?
            .iter()
            .map(|f| finding_identity(&f.kind, f.consumer.as_deref(), &f.metrics))
            .collect();
        let new_findings = new_findings(&audit.findings, &known);
        if new_findings.is_empty() {
            continue;
        }
        let consumers = audit
            .trends
            .iter()
            .flat_map(|t| &t.consumers)
            .filter(|c| match c.movement {
                ConsumerMove::New => c.requests_per_day >= NEW_CONSUMER_MIN_PER_DAY,
                ConsumerMove::Up => true,
                _ => false,
            })
            .take(CONSUMERS_SHOWN)
            .collect();
        news.orgs.push(OrgNews {
            audit,
            compared_with: ComparedAudit::of(&base),
            new_findings,
            consumers,
        });
    }
    Ok(news)
}

/// The warning and critical findings whose identity is not `known`, each identity once (a spike
/// every morning is one finding), in the audit's order (most severe first).
fn new_findings<'a>(findings: &'a [Finding], known: &HashSet<String>) -> Vec<&'a Finding> {
    let mut seen = HashSet::new();
    findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .filter(|f| {
            let id = finding_identity(f.kind.as_str(), f.consumer.as_deref(), &f.metrics);
            !known.contains(&id) && seen.insert(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use callbudget_analysis::FindingKind;

    fn finding(kind: FindingKind, severity: Severity, consumer: &str) -> Finding {
        Finding {
            kind,
            severity,
            consumer: Some(consumer.to_owned()),
            start: DateTime::UNIX_EPOCH,
            end: DateTime::UNIX_EPOCH,
            summary: format!("{consumer} did something"),
            metrics: serde_json::json!({}),
        }
    }

    #[test]
    fn a_first_audit_is_the_baseline_and_no_news_is_said() {
        let news = News {
            orgs: Vec::new(),
            first_audits: vec![OrgId::new("549236"), OrgId::new("evil\u{1b}[2J")],
        };
        assert_eq!(
            news.nothing_posted(),
            [
                "organization 549236 has no earlier audit made this way: this one is the baseline, nothing posted for it",
                "organization evil\\u{1b}[2J has no earlier audit made this way: this one is the baseline, nothing posted for it",
                "nothing new since the previous audit, nothing posted",
            ]
        );
    }

    #[test]
    fn only_warnings_and_criticals_not_known_are_new_each_once() {
        let findings = [
            finding(FindingKind::NoisyConsumer, Severity::Critical, "New/1"),
            finding(FindingKind::NoisyConsumer, Severity::Critical, "Old/1"),
            finding(FindingKind::Spike429, Severity::Warning, "New/1"),
            finding(FindingKind::Spike429, Severity::Critical, "New/1"),
            finding(FindingKind::Recommendation, Severity::Info, "New/1"),
        ];
        let known: HashSet<String> = [finding_identity(
            "noisy_consumer",
            Some("Old/1"),
            &serde_json::json!({}),
        )]
        .into();
        let new: Vec<(FindingKind, Severity)> = new_findings(&findings, &known)
            .iter()
            .map(|f| (f.kind, f.severity))
            .collect();
        assert_eq!(
            new,
            [
                (FindingKind::NoisyConsumer, Severity::Critical),
                (FindingKind::Spike429, Severity::Warning),
            ]
        );
    }
}
