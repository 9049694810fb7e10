//! The per-request record of `getOrganizationApiRequests`, in the API's own JSON shape.
//!
//! Every field may be missing or null in real data, so all but `ts` are optional.
//! [`RequestRecord`] is generic over its string type so that the simulator can serialize borrowed
//! records without copying and a page can be decoded with its strings borrowed ([`Text`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
        // Before year 0001 or after 9999 in UTC: refused on either path, never a wrong time.
        for text in [
            "0000-06-01T00:00:00.000000Z",
            "0001-01-01T00:30:00.000000+01:00",
            "9999-12-31T23:30:00.000000-01:00",
        ] {
            let json = format!(r#"{{"ts": "{text}"}}"#);
            let e = serde_json::from_str::<RequestRecord>(&json).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "invalid timestamp \"{text}\": it lies outside the years 0001 to 9999 (UTC)"
                )),
                "{e}"
            );
        }
    }
}
