//! Serde models of the Dashboard API answers callbudget reads, in the API's own JSON shape.
//!
//! Every field of a per-request record may be missing or null in real data, so all but `ts` are
//! optional. [`RequestRecord`] is generic over its string type so that the simulator can serialize
//! borrowed records without copying while the client deserializes owned ones.

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

impl<S: AsRef<str>> RequestRecord<S> {
    /// An owned copy, e.g. of a simulator's borrowed record.
    pub fn to_owned_record(&self) -> RequestRecord {
        let own = |s: &Option<S>| s.as_ref().map(|v| v.as_ref().to_owned());
        RequestRecord {
            admin_id: own(&self.admin_id),
            method: own(&self.method),
            host: own(&self.host),
            path: own(&self.path),
            query_string: own(&self.query_string),
            user_agent: own(&self.user_agent),
            ts: self.ts,
            response_code: self.response_code,
            source_ip: own(&self.source_ip),
            version: self.version,
            operation_id: own(&self.operation_id),
            client: self.client.as_ref().map(|c| ApiClient {
                id: own(&c.id),
                kind: own(&c.kind),
            }),
        }
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
}
