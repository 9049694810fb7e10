//! One request as the import formats spell it, and how it becomes the store's row: the column
//! names of docs/import.md's mapping (the Meraki record's fields and common aliases), times read as
//! RFC 3339, methods upper-cased, a `?query` split off the path (the store redacts credentials in
//! it, whoever wrote the row: [`callbudget_api::redact`]). Strings stay
//! borrowed from the line wherever nothing changes them.

use crate::RequestRow;
use callbudget_api::timestamp::TimestampError;
use callbudget_api::{ApiClient, Text};
use serde::Deserialize;
use std::borrow::Cow;

/// A request's fields as a JSONL object or a CSV row names them, before they are checked: every
/// field of the Meraki record, flat or nested, camelCase or snake_case, plus the names proxies
/// and applications commonly use. Generic over its string type like the record (decoded as
/// [`Text`], borrowed from the line).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RequestFields<S> {
    #[serde(default, alias = "timestamp", alias = "time")]
    pub ts: Option<S>,
    #[serde(default)]
    pub method: Option<S>,
    #[serde(default)]
    pub host: Option<S>,
    #[serde(default, alias = "url", alias = "uri")]
    pub path: Option<S>,
    #[serde(default, alias = "queryString", alias = "query")]
    pub query_string: Option<S>,
    #[serde(default, alias = "userAgent")]
    pub user_agent: Option<S>,
    #[serde(default, alias = "responseCode", alias = "status")]
    pub response_code: Option<u16>,
    #[serde(default, alias = "sourceIp", alias = "client_ip", alias = "ip")]
    pub source_ip: Option<S>,
    #[serde(default, alias = "adminId", alias = "user")]
    pub admin_id: Option<S>,
    #[serde(default, alias = "operationId", alias = "operation")]
    pub operation_id: Option<S>,
    #[serde(default)]
    pub version: Option<u8>,
    #[serde(default, alias = "clientId")]
    pub client_id: Option<S>,
    #[serde(default, alias = "clientType")]
    pub client_type: Option<S>,
    /// The Meraki record's nested `client` (JSONL only).
    #[serde(default)]
    pub client: Option<ApiClient<S>>,
}

impl<'a> RequestFields<Text<'a>> {
    /// The row these fields describe, or why they describe none. An empty string is no value.
    pub(super) fn into_row(self) -> Result<RequestRow<Cow<'a, str>>, String> {
        let some = |v: Option<Text<'a>>| v.map(|t| t.0).filter(|s| !s.is_empty());
        let ts = some(self.ts).ok_or("no time (ts, timestamp or time)")?;
        let ts_us = parse_time_us(&ts)?;
        let (path, query_in_path) = match some(self.path) {
            Some(p) => split_target(p),
            None => (None, None),
        };
        let (client_id, client_type) = match (some(self.client_id), some(self.client_type)) {
            (None, None) => match self.client {
                Some(nested) => (some(nested.id), some(nested.kind)),
                None => (None, None),
            },
            flat => flat,
        };
        Ok(RequestRow {
            ts_us,
            response_code: self.response_code,
            query_string: some(self.query_string).or(query_in_path),
            admin_id: some(self.admin_id),
            user_agent: some(self.user_agent),
            source_ip: some(self.source_ip),
            client_id,
            client_type,
            method: some(self.method).map(upper_case),
            host: some(self.host),
            path,
            version: self.version,
            operation_id: some(self.operation_id),
        })
    }
}

/// A field of [`RequestFields`], by any of its names (what a JSONL line's names and a CSV header's
/// columns are read as); `None` for a name it does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Ts,
    Method,
    Host,
    Path,
    QueryString,
    UserAgent,
    ResponseCode,
    SourceIp,
    AdminId,
    OperationId,
    Version,
    ClientId,
    ClientType,
    Client,
}

impl Field {
    /// The names `RequestFields` reads (its serde names and aliases).
    pub(super) fn named(name: &str) -> Option<Field> {
        Some(match name {
            "ts" | "timestamp" | "time" => Field::Ts,
            "method" => Field::Method,
            "host" => Field::Host,
            "path" | "url" | "uri" => Field::Path,
            "query_string" | "queryString" | "query" => Field::QueryString,
            "user_agent" | "userAgent" => Field::UserAgent,
            "response_code" | "responseCode" | "status" => Field::ResponseCode,
            "source_ip" | "sourceIp" | "client_ip" | "ip" => Field::SourceIp,
            "admin_id" | "adminId" | "user" => Field::AdminId,
            "operation_id" | "operationId" | "operation" => Field::OperationId,
            "version" => Field::Version,
            "client_id" | "clientId" => Field::ClientId,
            "client_type" | "clientType" => Field::ClientType,
            "client" => Field::Client,
            _ => return None,
        })
    }
}

/// A request target split at its first `?` into the path and the query.
pub(super) fn split_target(target: Cow<'_, str>) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    match target {
        Cow::Borrowed(t) => match t.split_once('?') {
            Some((path, query)) => (Some(Cow::Borrowed(path)), Some(Cow::Borrowed(query))),
            None => (Some(Cow::Borrowed(t)), None),
        },
        Cow::Owned(t) => match t.split_once('?') {
            Some((path, query)) => (Some(path.to_owned().into()), Some(query.to_owned().into())),
            None => (Some(Cow::Owned(t)), None),
        },
    }
}

fn upper_case(method: Cow<'_, str>) -> Cow<'_, str> {
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(method.to_ascii_uppercase())
    } else {
        method
    }
}

/// RFC 3339 with or without a fraction, `Z` or an offset; a space for the `T` is accepted too.
/// In microseconds since the Unix epoch; the canonical form without the general parser.
pub(super) fn parse_time_us(text: &str) -> Result<i64, String> {
    if let Some(us) = callbudget_api::timestamp::canonical_to_micros(text) {
        return Ok(us);
    }
    let trimmed = text.trim();
    callbudget_api::timestamp::parse(trimmed)
        .or_else(|e| match e {
            TimestampError::OutOfRange => Err(e),
            TimestampError::Format(_) => {
                callbudget_api::timestamp::parse(&trimmed.replacen(' ', "T", 1))
            }
        })
        .map(|t| callbudget_api::timestamp::to_micros(&t))
        .map_err(|e| match e {
            TimestampError::OutOfRange => format!(
                "the time {} lies outside the years 0001 to 9999 (UTC)",
                quote(text)
            ),
            TimestampError::Format(_) => {
                format!("the time {} is not an RFC 3339 timestamp", quote(text))
            }
        })
}

/// Text from the file, quoted for a message: at most 80 characters of it (a line may hold a
/// megabyte), `"…"` after a cut. Messages are made printable where they are kept.
pub(super) fn quote(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_every_documented_form() {
        for (text, us) in [
            ("2026-11-20T10:15:02.120000Z", 1_795_169_702_120_000),
            ("2026-11-20T10:15:02Z", 1_795_169_702_000_000),
            ("2026-11-20 11:15:02.5+01:00", 1_795_169_702_500_000),
            (" 2026-11-20T10:15:02.12Z ", 1_795_169_702_120_000),
        ] {
            assert_eq!(parse_time_us(text), Ok(us), "{text}");
        }
        assert_eq!(
            parse_time_us("0001-01-01 00:30:00+01:00"),
            Err(
                "the time \"0001-01-01 00:30:00+01:00\" lies outside the years 0001 to 9999 (UTC)"
                    .to_owned()
            )
        );
        assert_eq!(
            parse_time_us("yesterday"),
            Err("the time \"yesterday\" is not an RFC 3339 timestamp".to_owned())
        );
    }

    #[test]
    fn quoted_file_text_is_cut_at_80_characters() {
        let long = "é".repeat(100);
        assert_eq!(quote(&long), format!("{:?}…", "é".repeat(80)));
        assert_eq!(quote("a\"b"), r#""a\"b""#);
    }
}
