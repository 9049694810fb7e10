//! Serde models of the Dashboard API answers callbudget reads, in the API's own JSON shape.
//!
//! Every field of a per-request record may be missing or null in real data, so all but `ts` are
//! optional. [`RequestRecord`] is generic over its string type so that the simulator can serialize
//! borrowed records without copying; the collector decodes each page of them into a compact
//! [`RequestPage`] (every string of the page in one buffer) and the store reads them borrowed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of `getOrganizationApiRequests`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord<S = String> {
    #[serde(default)]
    pub admin_id: Option<S>,
    #[serde(default)]
    pub method: Option<S>,
    #[serde(default)]
    pub host: Option<S>,
    #[serde(default)]
    pub path: Option<S>,
    #[serde(default)]
    pub query_string: Option<S>,
    #[serde(default)]
    pub user_agent: Option<S>,
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub ts: DateTime<Utc>,
    #[serde(default)]
    pub response_code: Option<u16>,
    #[serde(default)]
    pub source_ip: Option<S>,
    #[serde(default)]
    pub version: Option<u8>,
    #[serde(default)]
    pub operation_id: Option<S>,
    #[serde(default)]
    pub client: Option<ApiClient<S>>,
}

/// The `client` object of a request record: which API key or OAuth app made the call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ApiClient<S = String> {
    #[serde(default)]
    pub id: Option<S>,
    /// `api_key` or `oauth`.
    #[serde(default, rename = "type")]
    pub kind: Option<S>,
}

impl<S> RequestRecord<S> {
    /// The same record with each of its strings passed through `f`, in field order.
    pub fn map_text<T>(&self, mut f: impl FnMut(&S) -> T) -> RequestRecord<T> {
        let mut text = |value: &Option<S>| value.as_ref().map(&mut f);
        RequestRecord {
            admin_id: text(&self.admin_id),
            method: text(&self.method),
            host: text(&self.host),
            path: text(&self.path),
            query_string: text(&self.query_string),
            user_agent: text(&self.user_agent),
            ts: self.ts,
            response_code: self.response_code,
            source_ip: text(&self.source_ip),
            version: self.version,
            operation_id: text(&self.operation_id),
            client: self.client.as_ref().map(|c| ApiClient {
                id: text(&c.id),
                kind: text(&c.kind),
            }),
        }
    }
}

impl<S: AsRef<str>> RequestRecord<S> {
    /// An owned copy, e.g. of a simulator's borrowed record.
    pub fn to_owned_record(&self) -> RequestRecord {
        self.map_text(|v| v.as_ref().to_owned())
    }
}

/// A string of a request record, borrowed from the page's JSON when it holds no escape, copied
/// when it does. Decoding a page into `RequestRecord<Text>` allocates nothing for most strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Text<'a>(pub std::borrow::Cow<'a, str>);

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// Where a string of a [`RequestPage`] lies in the page's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

/// One page of `getOrganizationApiRequests`, decoded compactly: every string of every record is
/// copied once into one buffer and named by its place there, so a page of 1000 records takes two
/// allocations instead of ~9000, and freeing it two frees. [`RequestPage::records`] reads the
/// records back as `RequestRecord<&str>`, which [`crate::store::Store::store_request_pages`]
/// stores. Decodes from the API's JSON array like `Vec<RequestRecord>` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPage {
    text: String,
    records: Vec<RequestRecord<Span>>,
}

impl RequestPage {
    /// Appends a record, copying its strings.
    pub fn push<S: AsRef<str>>(&mut self, record: &RequestRecord<S>) {
        let text = &mut self.text;
        let record = record.map_text(|v| {
            let start = text.len();
            text.push_str(v.as_ref());
            // A page is one HTTP answer: never 4 GiB of text.
            let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            Span {
                start: at(start),
                end: at(text.len()),
            }
        });
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, in order, their strings borrowed from the page.
    pub fn records(&self) -> impl ExactSizeIterator<Item = RequestRecord<&str>> + Clone + '_ {
        let text = self.text.as_str();
        self.records.iter().map(move |r| {
            r.map_text(|s| {
                text.get(s.start as usize..s.end as usize)
                    .unwrap_or_default()
            })
        })
    }

    /// Keeps only the records whose `ts` passes `keep` (their strings stay in the buffer).
    pub fn retain_ts(&mut self, mut keep: impl FnMut(DateTime<Utc>) -> bool) {
        self.records.retain(|r| keep(r.ts));
    }
}

impl<'de> Deserialize<'de> for RequestPage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PageVisitor;
        impl<'de> serde::de::Visitor<'de> for PageVisitor {
            type Value = RequestPage;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of request records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RequestPage, A::Error> {
                let mut page = RequestPage::default();
                if let Some(n) = seq.size_hint() {
                    page.records.reserve(n);
                }
                while let Some(record) = seq.next_element::<RequestRecord<Text<'de>>>()? {
                    page.push(&record);
                }
                Ok(page)
            }
        }
        d.deserialize_seq(PageVisitor)
    }
}

/// One entry of `getOrganizations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub api: Option<ApiAccess>,
    #[serde(default)]
    pub licensing: Option<serde_json::Value>,
    #[serde(default)]
    pub cloud: Option<serde_json::Value>,
    #[serde(default)]
    pub management: Option<serde_json::Value>,
}

/// Whether the Dashboard API is enabled for an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAccess {
    pub enabled: bool,
}

/// One entry of `getOrganizationAdmins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Admin {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub org_access: Option<String>,
    #[serde(default)]
    pub account_status: Option<String>,
    #[serde(default)]
    pub two_factor_auth_enabled: Option<bool>,
    #[serde(default)]
    pub has_api_key: Option<bool>,
    /// Kept as text: the API sends an ISO timestamp, sometimes empty.
    #[serde(default)]
    pub last_active: Option<String>,
    #[serde(default)]
    pub tags: Vec<serde_json::Value>,
    #[serde(default)]
    pub networks: Vec<serde_json::Value>,
    #[serde(default)]
    pub authentication_method: Option<String>,
}

/// The answer of `getOrganizationApiRequestsOverview`: request counts keyed by response code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestsOverview {
    pub response_code_counts: BTreeMap<String, u64>,
}

/// One interval of `getOrganizationApiRequestsOverviewResponseCodesByInterval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseCodeInterval {
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub start_ts: DateTime<Utc>,
    #[serde(with = "crate::timestamp::serde_canonical")]
    pub end_ts: DateTime<Utc>,
    pub counts: Vec<ResponseCodeCount>,
}

/// A response code and how many requests got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseCodeCount {
    pub code: u16,
    pub count: u64,
}

/// The API's error body: `{"errors": ["..."]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errors: Vec<String>,
}

/// The byInterval intervals the API accepts, in seconds.
pub const RESPONSE_CODE_INTERVALS: [u32; 4] = [120, 3600, 14400, 21600];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_record_reads_the_documented_example() {
        let json = r#"{"adminId": "212406", "method": "GET", "host": "api.meraki.com",
 "path": "/api/v1/devices/Q2XX-AAAA-0001/lldpCdp", "queryString": "",
 "userAgent": "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)",
 "ts": "2026-11-20T10:15:02.120000Z", "responseCode": 429, "sourceIp": "203.0.113.7",
 "version": 1, "operationId": "getDeviceLldpCdp",
 "client": {"id": "k_3f9", "type": "api_key"}}"#;
        let record: RequestRecord = serde_json::from_str(json).unwrap();
        assert_eq!(record.response_code, Some(429));
        assert_eq!(
            record.client.as_ref().unwrap().kind.as_deref(),
            Some("api_key")
        );
        assert_eq!(record.operation_id.as_deref(), Some("getDeviceLldpCdp"));
    }

    #[test]
    fn request_record_needs_only_ts() {
        let record: RequestRecord =
            serde_json::from_str(r#"{"ts": "2026-11-20T10:15:02Z", "adminId": null}"#).unwrap();
        assert_eq!(record.admin_id, None);
        assert_eq!(record.client, None);
        assert!(serde_json::from_str::<RequestRecord>(r#"{"adminId": "1"}"#).is_err());
    }

    #[test]
    fn borrowed_and_owned_records_serialize_identically() {
        let owned: RequestRecord = serde_json::from_str(
            r#"{"ts": "2026-11-20T10:15:02Z", "path": "/x", "client": {"id": "k", "type": "oauth"}}"#,
        )
        .unwrap();
        let borrowed = RequestRecord::<&str> {
            admin_id: None,
            method: None,
            host: None,
            path: Some("/x"),
            query_string: None,
            user_agent: None,
            ts: owned.ts,
            response_code: None,
            source_ip: None,
            version: None,
            operation_id: None,
            client: Some(ApiClient {
                id: Some("k"),
                kind: Some("oauth"),
            }),
        };
        assert_eq!(
            serde_json::to_string(&borrowed).unwrap(),
            serde_json::to_string(&owned).unwrap()
        );
        assert_eq!(borrowed.to_owned_record(), owned);
    }

    #[test]
    fn a_request_page_decodes_as_the_records_do() {
        // Escaped strings (copied), plain ones (borrowed), nulls, missing fields, empty strings.
        let json = r#"[
 {"adminId": "212406", "method": "GET", "host": "api.meraki.com",
  "path": "/api/v1/devices/Q2XX-AAAA-0001/lldpCdp", "queryString": "",
  "userAgent": "python-meraki/4.7.0 \"Caller\"/(NocPoller/2.1 Acme) \u00e9",
  "ts": "2026-11-20T10:15:02.120000Z", "responseCode": 429, "sourceIp": "203.0.113.7",
  "version": 1, "operationId": "getDeviceLldpCdp",
  "client": {"id": "k_3f9", "type": "api_key"}},
 {"ts": "2026-11-20T11:15:02+01:00", "adminId": null, "path": "/x\/y", "client": {"id": null}},
 {"ts": "2026-11-20T10:15:02.5Z", "method": "POST", "queryString": "a=1&b=\t2"}
]"#;
        let owned: Vec<RequestRecord> = serde_json::from_str(json).unwrap();
        let page: RequestPage = serde_json::from_str(json).unwrap();
        assert_eq!(page.len(), 3);
        let read: Vec<RequestRecord> = page.records().map(|r| r.to_owned_record()).collect();
        assert_eq!(read, owned);
        assert_eq!(
            owned[0].user_agent.as_deref(),
            Some("python-meraki/4.7.0 \"Caller\"/(NocPoller/2.1 Acme) \u{e9}")
        );
        assert_eq!(owned[1].path.as_deref(), Some("/x/y"));

        let mut kept = page.clone();
        kept.retain_ts(|ts| ts != owned[1].ts);
        let read: Vec<RequestRecord> = kept.records().map(|r| r.to_owned_record()).collect();
        assert_eq!(read, vec![owned[0].clone(), owned[2].clone()]);

        assert!(serde_json::from_str::<RequestPage>(r#"[{"adminId": "1"}]"#).is_err());
        assert!(serde_json::from_str::<RequestPage>(r#"{"ts": "2026-11-20T10:15:02Z"}"#).is_err());
        assert!(
            serde_json::from_str::<RequestPage>("[]")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn timestamps_decode_on_the_fast_path_and_off_it_alike() {
        for text in [
            "2026-11-20T10:15:02.120000Z",
            "2026-11-20T10:15:02.12Z",
            "2026-11-20T11:15:02.120000+01:00",
            " 2026-11-20T10:15:02.120000Z",
        ] {
            let json = format!(r#"{{"ts": "{text}"}}"#);
            let record: RequestRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(record.ts, crate::timestamp::parse(text).unwrap(), "{text}");
        }
        assert!(
            serde_json::from_str::<RequestRecord>(r#"{"ts": "2026-02-30T10:15:02.000000Z"}"#)
                .is_err()
        );
    }
}
