//! The catalog of the Dashboard API v1's 926 operations (operationId, method, path template,
//! scope), taken from the official SDK 4.7.0 and embedded in the binary.
//!
//! It maps a concrete request path such as `/api/v1/devices/Q2XX-AAAA-0001/lldpCdp` to its
//! operation when a record lacks an `operationId`, and gives the simulator the paths to call.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

const CATALOG_JSON: &str = include_str!("meraki-operations.json");

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
}

impl Operation {
    /// The `{name}` parameters of the path template, in order.
    pub fn path_parameters(&self) -> impl Iterator<Item = &str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }
}

/// All operations, indexed by id and by (method, number of path segments).
#[derive(Debug)]
pub struct OperationCatalog {
    operations: Vec<Operation>,
    by_id: HashMap<String, usize>,
    by_shape: HashMap<(String, usize), Vec<usize>>,
}

/// The prefix every v1 path carries in request logs.
pub const API_PATH_PREFIX: &str = "/api/v1";

impl OperationCatalog {
    /// The embedded v1 catalog, parsed once.
    pub fn meraki_v1() -> &'static OperationCatalog {
        static CATALOG: OnceLock<OperationCatalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            // The JSON is part of the binary and covered by tests, so a failure here is a build defect.
            let operations: Vec<Operation> = serde_json::from_str(CATALOG_JSON)
                .expect("embedded operation catalog is valid JSON");
            OperationCatalog::new(operations)
        })
    }

    pub fn new(operations: Vec<Operation>) -> Self {
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
        }
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
    fn catalog_holds_all_926_operations() {
        let catalog = OperationCatalog::meraki_v1();
        assert_eq!(catalog.len(), 926);
        let op = catalog.get("getDeviceLldpCdp").unwrap();
        assert_eq!(op.path, "/devices/{serial}/lldpCdp");
        assert_eq!(op.path_parameters().collect::<Vec<_>>(), ["serial"]);
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
}
