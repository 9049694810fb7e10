//! The small answers of the Dashboard API callbudget reads besides the request log:
//! organizations, admins, the request overview, response codes by interval, and error bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

impl RequestsOverview {
    /// The requests counted over every response code; `None` when the counts add up to more than
    /// a `u64` holds (no real server's, but a hostile one's).
    pub fn total(&self) -> Option<u64> {
        self.response_code_counts
            .values()
            .try_fold(0u64, |sum, &count| sum.checked_add(count))
    }
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
    fn an_overviews_total_is_none_when_its_counts_overflow() {
        let overview = |counts: &[(&str, u64)]| RequestsOverview {
            response_code_counts: counts.iter().map(|&(c, n)| (c.to_owned(), n)).collect(),
        };
        assert_eq!(
            overview(&[("200", 50_120), ("429", 313)]).total(),
            Some(50_433)
        );
        assert_eq!(overview(&[]).total(), Some(0));
        assert_eq!(
            overview(&[("200", u64::MAX - 1), ("429", 1)]).total(),
            Some(u64::MAX)
        );
        assert_eq!(overview(&[("200", u64::MAX), ("429", 1)]).total(), None);
    }
}
