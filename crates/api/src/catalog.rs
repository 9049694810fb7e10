//! The catalog of the Dashboard API v1's operations, embedded in the binary: for each, its
//! operationId, method, path template, scope, tags, one-line summary, the query parameters it
//! accepts, whether it paginates and its documented `perPage` range ([`CatalogSource`] says where
//! the list came from).
//!
//! It maps a concrete request path such as `/api/v1/devices/Q2XX-AAAA-0001/lldpCdp` to its
//! operation when a record lacks an `operationId`, gives the recommendations their page sizes and
//! filters, and gives the simulator the paths to call.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// `meraki-operations.json` as the official SDK's generator lists its operations, unchanged.
const CATALOG_JSON: &str = include_str!("meraki-operations.json");

/// Where the embedded catalog comes from.
const MERAKI_V1_SOURCE: CatalogSource = CatalogSource {
    api: "Meraki Dashboard API v1",
    api_version: "1.75.1",
    sdk: "meraki",
    sdk_version: "4.7.0",
    sdk_url: "https://pypi.org/project/meraki/4.7.0/",
    taken: "2026-11-27",
};

/// The provenance of an operation catalog: which API version, generated into which SDK release,
/// and when it was taken into callbudget. Recommendations name it, so a reader can tell how old
/// the list of operations behind them is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogSource {
    pub api: &'static str,
    /// The API version the SDK release was generated from (its `__api_version__`).
    pub api_version: &'static str,
    /// The package the operations were read from: the official Python SDK.
    pub sdk: &'static str,
    pub sdk_version: &'static str,
    pub sdk_url: &'static str,
    /// The day the file was taken into callbudget (UTC, `YYYY-MM-DD`).
    pub taken: &'static str,
}

impl std::fmt::Display for CatalogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} as the official Python SDK `{}` {} lists it (taken {})",
            self.api, self.api_version, self.sdk, self.sdk_version, self.taken
        )
    }
}

/// The documented range of an operation's `perPage` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct PerPage {
    pub min: u32,
    pub max: u32,
    /// Not every paginated operation documents a default.
    pub default: Option<u32>,
}

/// One operation of the API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_id: String,
    pub method: String,
    /// The path template below the base URL, e.g. `/devices/{serial}/lldpCdp`.
    pub path: String,
    /// `organizations`, `networks`, `devices` or `administered`.
    pub scope: String,
    /// The SDK's tags: product (`switch`, `wireless`, …), `configure` or `monitor`, then the
    /// path's nouns.
    pub tags: Vec<String>,
    /// The documentation's one-line summary.
    pub summary: String,
    /// Whether the answer is paged with `Link` headers.
    pub paginated: bool,
    /// The query parameters it accepts, e.g. `serials`, `networkIds`, `productTypes`.
    pub query_params: Vec<String>,
    /// The `perPage` range of a paginated operation, when the documentation states it.
    pub per_page: Option<PerPage>,
}

/// The address of the API's documentation pages; an operation's page follows `#!`.
const DOCUMENTATION_BASE: &str = "https://developer.cisco.com/meraki/api-v1/#!";

impl Operation {
    /// The `{name}` parameters of the path template, in order.
    pub fn path_parameters(&self) -> impl Iterator<Item = &str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    /// Whether the query parameter `name` is accepted.
    pub fn accepts(&self, name: &str) -> bool {
        self.query_params.iter().any(|p| p == name)
    }

    /// The largest page the documentation allows, for a paginated operation that states one.
    pub fn max_per_page(&self) -> Option<u32> {
        self.per_page.map(|p| p.max)
    }

    /// The operation's page in the API documentation, as the SDK links it: the operationId in
    /// kebab case with every capital and every digit set apart (`getNetworkWirelessSsidHotspot20`
    /// → `get-network-wireless-ssid-hotspot-2-0`).
    pub fn documentation_url(&self) -> String {
        let mut url = String::from(DOCUMENTATION_BASE);
        for c in self.operation_id.chars() {
            if c.is_ascii_uppercase() || c.is_ascii_digit() {
                url.push('-');
            }
            url.push(c.to_ascii_lowercase());
        }
        url
    }
}

/// All operations, indexed by id and by (method, number of path segments).
#[derive(Debug)]
pub struct OperationCatalog {
    operations: Vec<Operation>,
    by_id: HashMap<String, usize>,
    by_shape: HashMap<(String, usize), Vec<usize>>,
    source: CatalogSource,
}

/// The prefix every v1 path carries in request logs.
pub const API_PATH_PREFIX: &str = "/api/v1";

/// The path of a request below the API's base: without the query string and without an
/// `/api/vN` prefix (`/api/v0/…` paths of the retired v0 API are compared with v1's templates too).
pub fn path_below_base(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or_default();
    match path.strip_prefix("/api/v") {
        Some(rest) => {
            let version_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if version_end > 0 && rest[version_end..].starts_with('/') {
                &rest[version_end..]
            } else {
                path
            }
        }
        None => path,
    }
}

impl OperationCatalog {
    /// The embedded v1 catalog, parsed once.
    pub fn meraki_v1() -> &'static OperationCatalog {
        static CATALOG: OnceLock<OperationCatalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            // The JSON is part of the binary and covered by tests, so a failure here is a build defect.
            let operations: Vec<Operation> = serde_json::from_str(CATALOG_JSON)
                .expect("embedded operation catalog is valid JSON");
            OperationCatalog::new(operations, MERAKI_V1_SOURCE)
        })
    }

    pub fn new(operations: Vec<Operation>, source: CatalogSource) -> Self {
        let mut by_id = HashMap::new();
        let mut by_shape: HashMap<(String, usize), Vec<usize>> = HashMap::new();
        for (i, op) in operations.iter().enumerate() {
            by_id.insert(op.operation_id.clone(), i);
            let segments = op.path.split('/').filter(|s| !s.is_empty()).count();
            by_shape
                .entry((op.method.clone(), segments))
                .or_default()
                .push(i);
        }
        OperationCatalog {
            operations,
            by_id,
            by_shape,
            source,
        }
    }

    /// Where this catalog comes from, e.g. for a report's "recommendations from …" line.
    pub fn source(&self) -> &CatalogSource {
        &self.source
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    pub fn all(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation with this operationId.
    pub fn get(&self, operation_id: &str) -> Option<&Operation> {
        self.by_id.get(operation_id).map(|&i| &self.operations[i])
    }

    /// The position of an operation in [`Self::all`].
    pub fn index_of(&self, operation_id: &str) -> Option<usize> {
        self.by_id.get(operation_id).copied()
    }

    /// The operation a concrete request path belongs to. The path may carry the `/api/v1` prefix
    /// and a query string. Literal segments win over `{parameters}`, so
    /// `/organizations/1/devices/statuses` is not mistaken for a `{serial}` lookup.
    pub fn match_path(&self, method: &str, path: &str) -> Option<&Operation> {
        let path = path.split('?').next().unwrap_or_default();
        let path = path.strip_prefix(API_PATH_PREFIX).unwrap_or(path);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let candidates = self
            .by_shape
            .get(&(method.to_ascii_uppercase(), segments.len()))?;
        candidates
            .iter()
            .map(|&i| &self.operations[i])
            .filter_map(|op| literal_matches(&op.path, &segments).map(|n| (n, op)))
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, op)| op)
    }

    /// The operation whose template is nearest to a path the catalog does not know: most
    /// literal segments equal in place (a `{parameter}` counts half), fewest segments more or
    /// less, the same method before another; `None` when nothing shares a literal segment.
    /// For naming what a deprecated, renamed or removed operation became.
    pub fn closest(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path_below_base(path)
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        self.operations
            .iter()
            .filter_map(|op| {
                let template: Vec<&str> = op.path.split('/').filter(|s| !s.is_empty()).collect();
                let mut literals = 0i64;
                let mut parameters = 0i64;
                // Among equals, the template whose differing words start alike
                // (`uplinksLossAndLatency` for `uplinksLossAndLatencies`).
                let mut alike = 0usize;
                let mut mismatched_ids = 0i64;
                for (t, s) in template.iter().zip(&segments) {
                    if t.starts_with('{') {
                        parameters += 1;
                    } else if t == s {
                        literals += 1;
                    } else if s.chars().any(|c| c.is_ascii_digit()) {
                        // An id where the template has a word: a different resource.
                        mismatched_ids += 1;
                    } else {
                        alike += t
                            .chars()
                            .zip(s.chars())
                            .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                            .count();
                    }
                }
                if literals == 0 {
                    return None;
                }
                let score = 2 * literals + parameters
                    - 2 * mismatched_ids
                    - 2 * (template.len() as i64 - segments.len() as i64).abs();
                let same_method = op.method.eq_ignore_ascii_case(method);
                Some(((score, alike, same_method), op))
            })
            // The first of equals in catalog order, for a stable answer.
            .fold(
                None,
                |best: Option<((i64, usize, bool), &Operation)>, (key, op)| match best {
                    Some((best_key, _)) if best_key >= key => best,
                    _ => Some((key, op)),
                },
            )
            .map(|(_, op)| op)
    }
}

/// How many literal segments of `template` match `segments`, or `None` when it does not match.
fn literal_matches(template: &str, segments: &[&str]) -> Option<usize> {
    let mut literals = 0;
    for (t, s) in template.split('/').filter(|t| !t.is_empty()).zip(segments) {
        if t.starts_with('{') {
            continue;
        }
        if t != *s {
            return None;
        }
        literals += 1;
    }
    Some(literals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_holds_the_sdks_1034_operations_with_their_summaries_and_page_sizes() {
        let catalog = OperationCatalog::meraki_v1();
        assert_eq!(catalog.len(), 1034);
        assert_eq!(
            catalog
                .all()
                .iter()
                .filter(|o| o.per_page.is_some())
                .count(),
            180
        );
        let op = catalog.get("getDeviceLldpCdp").unwrap();
        assert_eq!(op.path, "/devices/{serial}/lldpCdp");
        assert_eq!(op.path_parameters().collect::<Vec<_>>(), ["serial"]);
        assert_eq!(op.summary, "List LLDP and CDP information for a device");
        assert_eq!(op.tags, ["devices", "monitor", "lldpCdp"]);
        assert!(!op.paginated);

        let devices = catalog.get("getOrganizationDevices").unwrap();
        assert_eq!(
            devices.per_page,
            Some(PerPage {
                min: 3,
                max: 5000,
                default: Some(1000)
            })
        );
        assert!(devices.accepts("serials") && devices.accepts("networkIds"));
        assert!(!devices.accepts("serial[]"));
        let ports = catalog
            .get("getOrganizationSwitchPortsStatusesBySwitch")
            .unwrap();
        assert_eq!(ports.max_per_page(), Some(20));
        // A paginated operation whose documentation states no default.
        let events = catalog
            .get("getNetworkWirelessClientConnectivityEvents")
            .unwrap();
        assert_eq!(
            events.per_page.map(|p| (p.max, p.default)),
            Some((1000, None))
        );
    }

    #[test]
    fn the_catalog_names_its_source_and_version() {
        let source = OperationCatalog::meraki_v1().source();
        assert_eq!((source.sdk, source.sdk_version), ("meraki", "4.7.0"));
        assert_eq!(
            source.to_string(),
            "Meraki Dashboard API v1 1.75.1 as the official Python SDK `meraki` 4.7.0 lists it \
             (taken 2026-11-27)"
        );
    }

    #[test]
    fn documentation_urls_set_capitals_and_digits_apart_as_the_sdk_links_them() {
        let catalog = OperationCatalog::meraki_v1();
        let url = |id| catalog.get(id).unwrap().documentation_url();
        assert_eq!(
            url("getOrganizationSwitchPortsStatusesBySwitch"),
            "https://developer.cisco.com/meraki/api-v1/#!get-organization-switch-ports-statuses-by-switch"
        );
        assert_eq!(
            url("getNetworkApplianceFirewallL3FirewallRules"),
            "https://developer.cisco.com/meraki/api-v1/#!get-network-appliance-firewall-l-3-firewall-rules"
        );
        assert_eq!(
            url("getNetworkWirelessSsidHotspot20"),
            "https://developer.cisco.com/meraki/api-v1/#!get-network-wireless-ssid-hotspot-2-0"
        );
    }

    #[test]
    fn concrete_paths_map_to_their_operation() {
        let catalog = OperationCatalog::meraki_v1();
        let id = |m, p| catalog.match_path(m, p).map(|o| o.operation_id.as_str());
        assert_eq!(
            id("GET", "/api/v1/devices/Q2XX-AAAA-0001/lldpCdp"),
            Some("getDeviceLldpCdp")
        );
        assert_eq!(
            id("PUT", "/api/v1/devices/Q2XX-AAAA-0001/switch/ports/12"),
            Some("updateDeviceSwitchPort")
        );
        assert_eq!(
            id("GET", "/organizations/549236/devices/statuses?perPage=1000"),
            Some("getOrganizationDevicesStatuses")
        );
        assert_eq!(id("get", "/api/v1/organizations"), Some("getOrganizations"));
        assert_eq!(id("GET", "/api/v1/nothing/here"), None);
    }

    #[test]
    fn an_unknown_path_is_named_after_its_closest_operation() {
        let catalog = OperationCatalog::meraki_v1();
        let closest = |m, p| catalog.closest(m, p).map(|o| o.operation_id.as_str());
        // Not in this catalog: the DELETE of one firewall ruleset assignment.
        assert_eq!(
            closest(
                "DELETE",
                "/api/v1/organizations/1/policies/global/group/policies/firewall/rulesets/assignments/7"
            ),
            Some("getOrganizationPoliciesGlobalGroupPoliciesFirewallRulesetsAssignments")
        );
        // A v0 path, and a renamed leaf under a known device path.
        assert_eq!(
            closest("GET", "/api/v0/devices/Q2XX-1/lldp_cdp"),
            Some("getDeviceLldpCdp")
        );
        assert_eq!(
            closest(
                "GET",
                "/api/v1/organizations/1/devices/uplinksLossAndLatencies"
            ),
            Some("getOrganizationDevicesUplinksLossAndLatency")
        );
        assert_eq!(closest("GET", "/nothing/here"), None);
        assert_eq!(path_below_base("/api/v0/devices/X?y=1"), "/devices/X");
        assert_eq!(path_below_base("/api/vx/devices"), "/api/vx/devices");
    }
}
