//! The message itself, in each webhook's format: callbudget's generic JSON
//! (docs/notification.schema.json), Webex's `{"markdown"}`, Slack's `{"text"}` in mrkdwn, and a
//! Teams Workflows message carrying an Adaptive Card. Text that came from the API (organization and
//! consumer names, findings' summaries) is cut to a length ([`MAX_NAME_CHARS`],
//! [`MAX_SUMMARY_CHARS`]), passes `text::printable`, loses what a chat would turn into a link
//! (`http://` → `http[:]//`, `www.` → `www[.]`), then the format's own escaping (Slack, which has
//! none for its formatting characters, gets look-alikes: `∗ ˍ ∼ ˋ`). A chat message is kept
//! within its service's documented limit ([`limit_of`]): items are left out from the end, and a
//! last line says how many.

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

/// The most characters of a name from outside (a user agent, an organization's name) a message
/// shows; a longer one is cut with an ellipsis, also inside the summaries that name it.
pub const MAX_NAME_CHARS: usize = 80;

/// The most characters of a finding's summary a message shows.
pub const MAX_SUMMARY_CHARS: usize = 600;

/// What a chat service takes at most, as its documentation states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageLimit {
    /// Bytes of the message's text (Webex: 7,439 bytes of `markdown`).
    TextBytes(usize),
    /// Characters of the message's text (Slack: `text` is best kept to 4,000 characters, and is
    /// cut past 40,000).
    TextChars(usize),
    /// Bytes of the whole JSON payload (Teams: about 28 KB for a message with its card).
    PayloadBytes(usize),
}

/// The limit of a webhook format; none for the generic JSON, which no chat renders.
pub fn limit_of(format: NotifyFormat) -> Option<MessageLimit> {
    match format {
        NotifyFormat::Generic => None,
        NotifyFormat::Webex => Some(MessageLimit::TextBytes(7_439)),
        NotifyFormat::Slack => Some(MessageLimit::TextChars(4_000)),
        NotifyFormat::Teams => Some(MessageLimit::PayloadBytes(28_000)),
    }
}

/// The JSON body for a webhook of `format`, within the format's limit.
pub fn payload(news: &News<'_>, format: NotifyFormat, generated_at: DateTime<Utc>) -> Value {
    let markup = match format {
        NotifyFormat::Generic => return generic(news, generated_at),
        NotifyFormat::Slack => Markup::Slack,
        NotifyFormat::Webex | NotifyFormat::Teams => Markup::Markdown,
    };
    let orgs: Vec<OrgText> = news.orgs.iter().map(|o| org_text(o, markup)).collect();
    let body = |cut: &Cut| match format {
        NotifyFormat::Slack => json!({ "text": lines(&orgs, cut, markup).join("\n") }),
        NotifyFormat::Teams => teams(&orgs, cut),
        _ => json!({ "markdown": lines(&orgs, cut, markup).join("\n") }),
    };
    let Some(limit) = limit_of(format) else {
        return body(&Cut::none(&orgs));
    };
    let size = |value: &Value| match limit {
        MessageLimit::TextBytes(_) => value["markdown"].as_str().map_or(0, str::len),
        MessageLimit::TextChars(_) => value["text"].as_str().map_or(0, |t| t.chars().count()),
        MessageLimit::PayloadBytes(_) => value.to_string().len(),
    };
    let most = match limit {
        MessageLimit::TextBytes(n) | MessageLimit::TextChars(n) | MessageLimit::PayloadBytes(n) => {
            n
        }
    };
    let mut cut = Cut::none(&orgs);
    loop {
        let value = body(&cut);
        if size(&value) <= most || !cut.leave_out_one(&orgs) {
            return value;
        }
    }
}

/// What a message keeps of each organization's items, and of the organizations.
#[derive(Debug, Clone)]
struct Cut {
    /// Items kept per organization shown.
    items: Vec<usize>,
    /// Organizations shown (the first ones).
    orgs: usize,
    /// Items left out, of the organizations shown and not.
    left_out_items: usize,
}

impl Cut {
    fn none(orgs: &[OrgText]) -> Cut {
        Cut {
            items: orgs.iter().map(|o| o.items.len()).collect(),
            orgs: orgs.len(),
            left_out_items: 0,
        }
    }

    /// Leaves out the last item shown, or when no item is left, the last organization; false
    /// when nothing more can go (one organization's heading stays).
    fn leave_out_one(&mut self, orgs: &[OrgText]) -> bool {
        if let Some(kept) = self.items[..self.orgs].iter_mut().rev().find(|k| **k > 0) {
            *kept -= 1;
            self.left_out_items += 1;
            return true;
        }
        if self.orgs > 1 {
            self.orgs -= 1;
            self.left_out_items += orgs[self.orgs].items.len();
            return true;
        }
        false
    }

    /// The last line when something was left out.
    fn note(&self, orgs: &[OrgText]) -> Option<String> {
        let orgs_left_out = orgs.len() - self.orgs;
        if self.left_out_items == 0 && orgs_left_out == 0 {
            return None;
        }
        let mut note = format!(
            "… {} more item(s) left out to fit the message's size limit",
            self.left_out_items
        );
        if orgs_left_out > 0 {
            note = format!(
                "… {} more item(s) and {orgs_left_out} more organization(s) left out to fit the message's size limit",
                self.left_out_items
            );
        }
        note.push_str(": the report has them all");
        Some(note)
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

/// `text` cut to `max` characters, an ellipsis marking the cut.
fn cut_to(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((at, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// A name from outside as a message shows it: at most [`MAX_NAME_CHARS`].
pub fn short_name(name: &str) -> std::borrow::Cow<'_, str> {
    cut_to(name, MAX_NAME_CHARS)
}

/// A finding's summary as a message shows it: every long name of `names` in it shortened as
/// [`short_name`] shortens it, then at most [`MAX_SUMMARY_CHARS`].
fn short_summary<'a>(summary: &str, names: impl Iterator<Item = &'a str>) -> String {
    let mut text = summary.to_owned();
    for name in names {
        if name.chars().count() > MAX_NAME_CHARS && text.contains(name) {
            text = text.replace(name, &short_name(name));
        }
    }
    cut_to(&text, MAX_SUMMARY_CHARS).into_owned()
}

/// Text with what a chat would make a link broken up: `scheme://` → `scheme[:]//`, `www.` →
/// `www[.]` (in any case).
fn defanged(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("://") && !lower.contains("www.") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < text.len() {
        let rest = &lower[i..];
        if rest.starts_with("://") {
            out.push_str("[:]//");
            i += 3;
        } else if rest.starts_with("www.") {
            out.push_str(&text[i..i + 3]);
            out.push_str("[.]");
            i += 4;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    std::borrow::Cow::Owned(out)
}

impl Markup {
    /// Text from outside, made printable and inert in this markup: no formatting, no link, no
    /// mention.
    fn outside(self, text: &str) -> String {
        let text = printable(text);
        let text = match self {
            Markup::Plain => text,
            Markup::Markdown | Markup::Slack => {
                std::borrow::Cow::Owned(defanged(&text).into_owned())
            }
        };
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
            // mrkdwn escapes only these three; its formatting characters get look-alikes.
            Markup::Slack => text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('*', "\u{2217}")
                .replace('_', "\u{2cd}")
                .replace('~', "\u{223c}")
                .replace('`', "\u{2cb}"),
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
    let id = markup.outside(&short_name(org.audit.org_id.as_str()));
    match &org.audit.organization_name {
        Some(name) => format!("{} ({id})", markup.outside(&short_name(name))),
        None => id,
    }
}

/// The names a summary of `org`'s audit may quote: its consumers'.
fn quoted_names<'a>(org: &'a OrgNews<'_>) -> impl Iterator<Item = &'a str> + Clone {
    org.audit
        .consumers
        .iter()
        .filter_map(|c| c.consumer.as_deref())
        .chain(
            org.new_findings
                .iter()
                .filter_map(|f| f.consumer.as_deref()),
        )
}

/// One organization's part of a chat message: its heading and its items.
struct OrgText {
    heading: Vec<String>,
    items: Vec<String>,
}

fn org_text(org: &OrgNews<'_>, markup: Markup) -> OrgText {
    OrgText {
        heading: org_heading(org, markup),
        items: org_items(org, markup),
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
                markup.outside(&short_summary(&f.summary, quoted_names(org)))
            )
        })
        .collect();
    for c in &org.consumers {
        let name = markup.outside(&short_name(c.consumer.as_deref().unwrap_or("(unknown)")));
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

/// The whole message as lines, in a chat format (or plain for the generic payload's `text`), as
/// much of it as `cut` keeps.
fn lines(orgs: &[OrgText], cut: &Cut, markup: Markup) -> Vec<String> {
    let mut lines = vec![markup.bold(TITLE)];
    for (org, &kept) in orgs.iter().zip(&cut.items).take(cut.orgs) {
        lines.push(String::new());
        lines.extend(org.heading.iter().cloned());
        lines.extend(
            org.items[..kept]
                .iter()
                .map(|item| format!("{}{item}", markup.bullet())),
        );
    }
    if let Some(note) = cut.note(orgs) {
        lines.push(String::new());
        lines.push(note);
    }
    lines
}

/// The whole message in plain text, uncut.
fn plain_text(news: &News<'_>) -> String {
    let orgs: Vec<OrgText> = news
        .orgs
        .iter()
        .map(|o| org_text(o, Markup::Plain))
        .collect();
    lines(&orgs, &Cut::none(&orgs), Markup::Plain).join("\n")
}

fn generic(news: &News<'_>, generated_at: DateTime<Utc>) -> Value {
    let outside = |text: &str| printable(&short_name(text)).into_owned();
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
                    "summary": printable(&short_summary(&f.summary, quoted_names(org))).into_owned(),
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
        "text": plain_text(news),
        "organizations": organizations,
    })
}

/// A Workflows ("When a Teams webhook request is received") message: one Adaptive Card, a text
/// block per line so that every finding wraps on its own.
fn teams(orgs: &[OrgText], cut: &Cut) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": TITLE, "weight": "Bolder", "size": "Medium", "wrap": true,
    })];
    for (org, &kept) in orgs.iter().zip(&cut.items).take(cut.orgs) {
        let mut heading = org.heading.iter();
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
        for item in &org.items[..kept] {
            body.push(json!({ "type": "TextBlock", "text": format!("- {item}"), "wrap": true }));
        }
    }
    if let Some(note) = cut.note(orgs) {
        body.push(json!({ "type": "TextBlock", "text": note, "isSubtle": true, "wrap": true }));
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
    use callbudget_analysis::{
        AnalysisWindow, AuditOptions, Finding, OrgAudit, Severity, audit_org,
    };
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
        audit_with_a_consumer_named(EVIL)
    }

    /// [`audit_with_a_hostile_consumer`] with the hostile consumer's user agent `agent`.
    fn audit_with_a_consumer_named(agent: &str) -> OrgAudit {
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
                    agent,
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
             • critical noisy consumer: Evil\u{2217}Bot &lt;!channel&gt; &amp; \\u{1b}[2J sent 60 of the 60 requests that put the budget at or over its limit (100 %).\n\
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
        let hostile =
            "Evil*Bot_1 ~x~ `c` <!channel> [x](http://e) & \u{1b}[2J\nline WWW.e.example HTTPS://f";
        assert_eq!(
            Markup::Plain.outside(hostile),
            "Evil*Bot_1 ~x~ `c` <!channel> [x](http://e) & \\u{1b}[2J\\u{a}line WWW.e.example HTTPS://f"
        );
        // Slack: no formatting character left, no link, no mention.
        assert_eq!(
            Markup::Slack.outside(hostile),
            "Evil\u{2217}Bot\u{2cd}1 \u{223c}x\u{223c} \u{2cb}c\u{2cb} &lt;!channel&gt; [x](http[:]//e) &amp; \\u{1b}[2J\\u{a}line WWW[.]e.example HTTPS[:]//f"
        );
        assert_eq!(
            Markup::Markdown.outside(hostile),
            "Evil\\*Bot\\_1 \\~x\\~ \\`c\\` \\<\\!channel\\> \\[x\\]\\(http\\[:\\]//e\\) \\& \\\\u{1b}\\[2J\\\\u{a}line WWW\\[.\\]e.example HTTPS\\[:\\]//f"
        );
    }

    /// Issue 30, item 9: a 10 KB user agent made a 31 KB message (its name three times, never
    /// cut), past what Webex (7,439 bytes) and Teams (~28 KB) take.
    #[test]
    fn a_huge_name_is_cut_and_every_chat_message_fits_its_limit() {
        let audit = audit_with_a_consumer_named(&format!(
            "Huge/1.0 {} http://evil.example/x",
            "A".repeat(10_000)
        ));
        let mut news = news_of(&audit);
        let generated = t("2026-11-19T11:05:00Z");
        for format in [
            NotifyFormat::Slack,
            NotifyFormat::Webex,
            NotifyFormat::Teams,
        ] {
            let value = payload(&news, format, generated);
            let text = value.to_string();
            assert!(
                !text.contains(&"A".repeat(MAX_NAME_CHARS + 1)),
                "{format:?}"
            );
            assert!(
                text.contains(&format!("{}…", "A".repeat(MAX_NAME_CHARS - 9))),
                "{format:?}"
            );
            assert!(!text.contains("http://evil"), "{format:?}");
            match limit_of(format).unwrap() {
                MessageLimit::TextBytes(n) => {
                    assert!(value["markdown"].as_str().unwrap().len() <= n)
                }
                MessageLimit::TextChars(n) => {
                    assert!(value["text"].as_str().unwrap().chars().count() <= n)
                }
                MessageLimit::PayloadBytes(n) => assert!(text.len() <= n),
            }
        }
        let generic = payload(&news, NotifyFormat::Generic, generated);
        assert!(
            generic.to_string().len() < 6_000,
            "{}",
            generic.to_string().len()
        );

        // Many findings: the last are left out, and the message says how many.
        let many: Vec<&Finding> = std::iter::repeat_n(news.orgs[0].new_findings[0], 200).collect();
        news.orgs[0].new_findings = many;
        for format in [
            NotifyFormat::Slack,
            NotifyFormat::Webex,
            NotifyFormat::Teams,
        ] {
            let value = payload(&news, format, generated);
            let text = value.to_string();
            let fits = match limit_of(format).unwrap() {
                MessageLimit::TextBytes(n) => value["markdown"].as_str().unwrap().len() <= n,
                MessageLimit::TextChars(n) => value["text"].as_str().unwrap().chars().count() <= n,
                MessageLimit::PayloadBytes(n) => text.len() <= n,
            };
            assert!(fits, "{format:?}");
            let left_out = text
                .rsplit("… ")
                .next()
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{format:?}: no note in {text}"));
            assert!((1..200).contains(&left_out), "{format:?}: {left_out}");
            assert!(text.contains(
                "more item(s) left out to fit the message's size limit: the report has them all"
            ));
        }
    }
}
