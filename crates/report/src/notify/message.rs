//! The message itself, in each webhook's format: callbudget's generic JSON
//! (docs/notification.schema.json), Webex's `{"markdown"}`, Slack's `{"text"}` in mrkdwn, and a
//! Teams Workflows message carrying an Adaptive Card. Text that came from the API (organization and
//! consumer names, findings' summaries) passes `text::printable`, then the format's own escaping.

use super::news::{News, OrgNews, per_day_divisor};
use super::target::NotifyFormat;
use callbudget_analysis::ConsumerMove;
use callbudget_api::text::{printable, thousands_rounded};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The generic payload's `schema_version`: a change that breaks a reader bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The message's first line.
const TITLE: &str = "callbudget: new since the previous audit";

/// The JSON body for a webhook of `format`.
pub fn payload(news: &News<'_>, format: NotifyFormat, generated_at: DateTime<Utc>) -> Value {
    match format {
        NotifyFormat::Generic => generic(news, generated_at),
        NotifyFormat::Webex => json!({ "markdown": lines(news, Markup::Markdown).join("\n") }),
        NotifyFormat::Slack => json!({ "text": lines(news, Markup::Slack).join("\n") }),
        NotifyFormat::Teams => teams(news),
    }
}

/// How a chat format writes emphasis and escapes outside text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Markup {
    Plain,
    /// CommonMark: Webex, and the Markdown subset of Adaptive Cards.
    Markdown,
    /// Slack's mrkdwn, whose only escapes are `&amp;`, `&lt;` and `&gt;`.
    Slack,
}

impl Markup {
    /// Text from outside, made printable and inert in this markup.
    fn outside(self, text: &str) -> String {
        let text = printable(text);
        match self {
            Markup::Plain => text.into_owned(),
            Markup::Markdown => {
                let mut out = String::with_capacity(text.len() + 8);
                for c in text.chars() {
                    if matches!(
                        c,
                        '\\' | '`'
                            | '*'
                            | '_'
                            | '['
                            | ']'
                            | '('
                            | ')'
                            | '<'
                            | '>'
                            | '#'
                            | '|'
                            | '~'
                            | '!'
                            | '&'
                    ) {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out
            }
            Markup::Slack => text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
        }
    }

    fn bold(self, text: &str) -> String {
        match self {
            Markup::Plain => text.to_owned(),
            Markup::Markdown => format!("**{text}**"),
            Markup::Slack => format!("*{text}*"),
        }
    }

    fn bullet(self) -> &'static str {
        match self {
            Markup::Slack => "• ",
            Markup::Plain | Markup::Markdown => "- ",
        }
    }
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// "Acme Corp (549236)", or the id alone.
fn org_label(org: &OrgNews<'_>, markup: Markup) -> String {
    let id = markup.outside(org.audit.org_id.as_str());
    match &org.audit.organization_name {
        Some(name) => format!("{} ({id})", markup.outside(name)),
        None => id,
    }
}

/// The organization's heading: who, when, and its volume then and now.
fn org_heading(org: &OrgNews<'_>, markup: Markup) -> Vec<String> {
    let audit = org.audit;
    let days = per_day_divisor(audit.window.start, audit.window.end);
    let then = &org.compared_with;
    vec![
        markup.bold(&format!(
            "Organization {} · {} – {} UTC",
            org_label(org, markup),
            when(&audit.window.start),
            when(&audit.window.end)
        )),
        format!(
            "requests/day {} → {}, 429s/day {} → {} (against the audit of {} – {})",
            thousands_rounded(then.requests_per_day),
            thousands_rounded(audit.requests as f64 / days),
            thousands_rounded(then.http_429s_per_day),
            thousands_rounded(audit.http_429s as f64 / days),
            when(&then.start),
            when(&then.end)
        ),
    ]
}

/// One line per new finding, then the consumers new or up.
fn org_items(org: &OrgNews<'_>, markup: Markup) -> Vec<String> {
    let mut items: Vec<String> = org
        .new_findings
        .iter()
        .map(|f| {
            format!(
                "{} {}: {}",
                f.severity.as_str(),
                f.kind.as_str().replace('_', " "),
                markup.outside(&f.summary)
            )
        })
        .collect();
    for c in &org.consumers {
        let name = markup.outside(c.consumer.as_deref().unwrap_or("(unknown)"));
        items.push(match c.movement {
            ConsumerMove::New => format!(
                "new consumer {name}: {} requests/day, {} × 429/day",
                thousands_rounded(c.requests_per_day),
                thousands_rounded(c.http_429s_per_day)
            ),
            _ => format!(
                "consumer {name} up: {} → {} requests/day",
                thousands_rounded(c.previous_requests_per_day),
                thousands_rounded(c.requests_per_day)
            ),
        });
    }
    items
}

/// The whole message as lines, in a chat format (or plain for the generic payload's `text`).
fn lines(news: &News<'_>, markup: Markup) -> Vec<String> {
    let mut lines = vec![markup.bold(TITLE)];
    for org in &news.orgs {
        lines.push(String::new());
        lines.extend(org_heading(org, markup));
        lines.extend(
            org_items(org, markup)
                .into_iter()
                .map(|item| format!("{}{item}", markup.bullet())),
        );
    }
    lines
}

fn generic(news: &News<'_>, generated_at: DateTime<Utc>) -> Value {
    let outside = |text: &str| printable(text).into_owned();
    let organizations: Vec<Value> = news
        .orgs
        .iter()
        .map(|org| {
            let audit = org.audit;
            let days = per_day_divisor(audit.window.start, audit.window.end);
            json!({
                "org_id": outside(audit.org_id.as_str()),
                "name": audit.organization_name.as_deref().map(outside),
                "window": {
                    "start": callbudget_api::timestamp::format(&audit.window.start),
                    "end": callbudget_api::timestamp::format(&audit.window.end),
                },
                "compared_with": {
                    "start": callbudget_api::timestamp::format(&org.compared_with.start),
                    "end": callbudget_api::timestamp::format(&org.compared_with.end),
                    "requests_per_day": org.compared_with.requests_per_day,
                    "http_429s_per_day": org.compared_with.http_429s_per_day,
                },
                "requests_per_day": audit.requests as f64 / days,
                "http_429s_per_day": audit.http_429s as f64 / days,
                "new_findings": org.new_findings.iter().map(|f| json!({
                    "kind": f.kind.as_str(),
                    "severity": f.severity.as_str(),
                    "consumer": f.consumer.as_deref().map(outside),
                    "start": callbudget_api::timestamp::format(&f.start),
                    "end": callbudget_api::timestamp::format(&f.end),
                    "summary": outside(&f.summary),
                })).collect::<Vec<_>>(),
                "consumers": org.consumers.iter().map(|c| json!({
                    "consumer": c.consumer.as_deref().map(outside),
                    "move": c.movement.as_str(),
                    "previous_requests_per_day": c.previous_requests_per_day,
                    "requests_per_day": c.requests_per_day,
                    "http_429s_per_day": c.http_429s_per_day,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "source": "callbudget",
        "tool_version": callbudget_api::TOOL_VERSION,
        "generated_at": callbudget_api::timestamp::format(&generated_at),
        "text": lines(news, Markup::Plain).join("\n"),
        "organizations": organizations,
    })
}

/// A Workflows ("When a Teams webhook request is received") message: one Adaptive Card, a text
/// block per line so that every finding wraps on its own.
fn teams(news: &News<'_>) -> Value {
    let markup = Markup::Markdown;
    let mut body = vec![json!({
        "type": "TextBlock", "text": TITLE, "weight": "Bolder", "size": "Medium", "wrap": true,
    })];
    for org in &news.orgs {
        let mut heading = org_heading(org, markup).into_iter();
        if let Some(title) = heading.next() {
            body.push(json!({
                "type": "TextBlock", "text": title, "spacing": "Large", "wrap": true,
            }));
        }
        for line in heading {
            body.push(json!({
                "type": "TextBlock", "text": line, "isSubtle": true, "spacing": "None", "wrap": true,
            }));
        }
        for item in org_items(org, markup) {
            body.push(json!({ "type": "TextBlock", "text": format!("- {item}"), "wrap": true }));
        }
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::news::{ComparedAudit, OrgNews};
    use callbudget_analysis::{AnalysisWindow, AuditOptions, OrgAudit, Severity, audit_org};
    use callbudget_api::RequestRecord;
    use callbudget_api::timestamp;
    use callbudget_store::{CollectionFilter, Endpoint, OrgId, Store, WindowMeta};

    const EVIL: &str = "Evil*Bot <!channel> & \u{1b}[2J";

    fn t(s: &str) -> DateTime<Utc> {
        timestamp::parse(s).unwrap()
    }

    /// An hour of organization "7" in which a hostile user agent sends 60 requests in one second
    /// (the budget refuses 40 of them) and "Calm/1" one a minute.
    fn audit_with_a_hostile_consumer() -> OrgAudit {
        let mut store = Store::open_in_memory().unwrap();
        let (t0, t1) = (t("2026-11-19T10:00:00Z"), t("2026-11-19T11:00:00Z"));
        let record = |ts: DateTime<Utc>, agent: &str| -> RequestRecord {
            serde_json::from_value(serde_json::json!({
                "ts": timestamp::format(&ts),
                "method": "GET",
                "path": "/api/v1/organizations/7/networks",
                "userAgent": agent,
                "responseCode": 200,
                "operationId": "getOrganizationNetworks"
            }))
            .unwrap()
        };
        let mut records: Vec<RequestRecord> = (0..60)
            .map(|i| {
                record(
                    t0 + chrono::TimeDelta::milliseconds(1_800_000 + i * 10),
                    EVIL,
                )
            })
            .chain((0..60).map(|i| record(t0 + chrono::TimeDelta::seconds(i * 60 + 30), "Calm/1")))
            .collect();
        records.sort_by_key(|r| r.ts);
        let meta = WindowMeta {
            org_id: OrgId::new("7"),
            endpoint: Endpoint::ApiRequests,
            filter: CollectionFilter::None,
            t0,
            t1,
            started_at: t1,
            finished_at: t1,
            calls: 1,
            http_429s: 0,
        };
        store.store_request_window(&meta, &records).unwrap();
        let window = AnalysisWindow::new(t0, t1).unwrap();
        audit_org(&store, &OrgId::new("7"), window, AuditOptions::default()).unwrap()
    }

    fn news_of(audit: &OrgAudit) -> News<'_> {
        News {
            orgs: vec![OrgNews {
                audit,
                compared_with: ComparedAudit {
                    start: t("2026-11-18T10:00:00Z"),
                    end: t("2026-11-18T11:00:00Z"),
                    requests_per_day: 1_440.0,
                    http_429s_per_day: 0.0,
                },
                new_findings: audit
                    .findings
                    .iter()
                    .filter(|f| f.severity >= Severity::Warning)
                    .collect(),
                consumers: Vec::new(),
            }],
            first_audits: Vec::new(),
        }
    }

    #[test]
    fn slack_and_webex_get_one_escaped_text_each() {
        let audit = audit_with_a_hostile_consumer();
        let news = news_of(&audit);
        let generated = t("2026-11-19T11:05:00Z");
        let slack = payload(&news, NotifyFormat::Slack, generated);
        assert_eq!(
            slack["text"],
            "*callbudget: new since the previous audit*\n\n\
             *Organization 7 · 2026-11-19 10:00 – 2026-11-19 11:00 UTC*\n\
             requests/day 1,440 → 2,880, 429s/day 0 → 0 (against the audit of 2026-11-18 10:00 – 2026-11-18 11:00)\n\
             • critical noisy consumer: Evil*Bot &lt;!channel&gt; &amp; \\u{1b}[2J sent 60 of the 60 requests that put the budget at or over its limit (100 %).\n\
             • warning budget saturation: the budget (10/s + 10) was at or over its limit in 1 second(s) (0.03 % of the window); the busiest second had 60 requests"
        );
        let webex = payload(&news, NotifyFormat::Webex, generated);
        let markdown = webex["markdown"].as_str().unwrap();
        assert!(
            markdown.contains(
                "- critical noisy consumer: Evil\\*Bot \\<\\!channel\\> \\& \\\\u{1b}\\[2J sent 60 of the 60 requests that put the budget at or over its limit \\(100 %\\)."
            ),
            "{markdown}"
        );
        assert_eq!(webex.as_object().unwrap().len(), 1);
    }

    #[test]
    fn teams_gets_an_adaptive_card_in_a_workflows_message() {
        let audit = audit_with_a_hostile_consumer();
        let teams = payload(
            &news_of(&audit),
            NotifyFormat::Teams,
            t("2026-11-19T11:05:00Z"),
        );
        assert_eq!(teams["type"], "message");
        let attachment = &teams["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let texts: Vec<&str> = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .map(|block| block["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts[0], TITLE);
        assert_eq!(
            texts[1],
            "**Organization 7 · 2026-11-19 10:00 – 2026-11-19 11:00 UTC**"
        );
        assert!(
            texts[3].starts_with("- critical noisy consumer: Evil\\*Bot \\<"),
            "{}",
            texts[3]
        );
    }

    #[test]
    fn the_generic_payload_follows_its_schema() {
        let audit = audit_with_a_hostile_consumer();
        let generic = payload(
            &news_of(&audit),
            NotifyFormat::Generic,
            t("2026-11-19T11:05:00Z"),
        );
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../../docs/notification.schema.json"))
                .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&generic)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let org = &generic["organizations"][0];
        assert_eq!(org["org_id"], "7");
        assert_eq!(org["name"], serde_json::Value::Null);
        assert_eq!(org["requests_per_day"], 2_880.0);
        assert_eq!(
            org["new_findings"][0]["consumer"],
            "Evil*Bot <!channel> & \\u{1b}[2J"
        );
        assert_eq!(generic["generated_at"], "2026-11-19T11:05:00.000000Z");
    }

    #[test]
    fn outside_text_is_printable_and_inert_in_each_markup() {
        let hostile = "Evil*Bot_1 <!channel> [x](http://e) & \u{1b}[2J\nline";
        assert_eq!(
            Markup::Plain.outside(hostile),
            "Evil*Bot_1 <!channel> [x](http://e) & \\u{1b}[2J\\u{a}line"
        );
        assert_eq!(
            Markup::Slack.outside(hostile),
            "Evil*Bot_1 &lt;!channel&gt; [x](http://e) &amp; \\u{1b}[2J\\u{a}line"
        );
        assert_eq!(
            Markup::Markdown.outside(hostile),
            "Evil\\*Bot\\_1 \\<\\!channel\\> \\[x\\]\\(http://e\\) \\& \\\\u{1b}\\[2J\\\\u{a}line"
        );
    }
}
