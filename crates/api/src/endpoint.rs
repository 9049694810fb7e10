//! The Dashboard API endpoints callbudget collects, spelt once: the name a collection window of
//! each is stored under, its path below the base URL (built for an organization, and parsed back
//! by the simulator), and its operation. The collector, the store and the simulator all use these;
//! no other code writes their paths.

/// An endpoint callbudget collects from (and the simulator serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// getOrganizations
    Organizations,
    /// getOrganizationAdmins
    Admins,
    /// getOrganizationApiRequests, the per-request log
    ApiRequests,
    /// getOrganizationApiRequestsOverview
    Overview,
    /// getOrganizationApiRequestsOverviewResponseCodesByInterval
    ResponseCodesByInterval,
}

/// Where an organization's id stands in a path.
const ORG: &str = "{organizationId}";

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Organizations,
        Endpoint::Admins,
        Endpoint::ApiRequests,
        Endpoint::Overview,
        Endpoint::ResponseCodesByInterval,
    ];

    /// The name a collection window of this endpoint is stored under.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Organizations => "organizations",
            Endpoint::Admins => "admins",
            Endpoint::ApiRequests => "apiRequests",
            Endpoint::Overview => "overview",
            Endpoint::ResponseCodesByInterval => "responseCodesByInterval",
        }
    }

    /// The endpoint stored under `name` ([`Self::as_str`]).
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Its operation in the API's catalog.
    pub fn operation_id(self) -> &'static str {
        match self {
            Endpoint::Organizations => "getOrganizations",
            Endpoint::Admins => "getOrganizationAdmins",
            Endpoint::ApiRequests => "getOrganizationApiRequests",
            Endpoint::Overview => "getOrganizationApiRequestsOverview",
            Endpoint::ResponseCodesByInterval => {
                "getOrganizationApiRequestsOverviewResponseCodesByInterval"
            }
        }
    }

    /// The path template's segments below the base URL.
    fn segments(self) -> &'static [&'static str] {
        match self {
            Endpoint::Organizations => &["organizations"],
            Endpoint::Admins => &["organizations", ORG, "admins"],
            Endpoint::ApiRequests => &["organizations", ORG, "apiRequests"],
            Endpoint::Overview => &["organizations", ORG, "apiRequests", "overview"],
            Endpoint::ResponseCodesByInterval => &[
                "organizations",
                ORG,
                "apiRequests",
                "overview",
                "responseCodes",
                "byInterval",
            ],
        }
    }

    /// Whether its path names an organization.
    pub fn is_per_organization(self) -> bool {
        self.segments().contains(&ORG)
    }

    /// Its path below the base URL (`/organizations/549236/apiRequests`), `org` written as one
    /// path segment whatever it holds: an id that is not the API's shape cannot reach another
    /// path. `org` is ignored by an endpoint that names none.
    pub fn path(self, org: &str) -> String {
        let mut path = String::new();
        for segment in self.segments() {
            path.push('/');
            if *segment == ORG {
                push_path_segment(&mut path, org);
            } else {
                path.push_str(segment);
            }
        }
        path
    }

    /// The endpoint a path below the base URL asks for, and the organization it names (decoded),
    /// if any; a trailing or doubled `/` is no new segment.
    pub fn parse(below_base: &str) -> Option<(Endpoint, Option<String>)> {
        let asked: Vec<&str> = below_base.split('/').filter(|s| !s.is_empty()).collect();
        Endpoint::ALL.into_iter().find_map(|endpoint| {
            let template = endpoint.segments();
            if template.len() != asked.len() {
                return None;
            }
            let mut org = None;
            for (want, got) in template.iter().zip(&asked) {
                if *want == ORG {
                    org = Some(percent_decoded(got)?);
                } else if want != got {
                    return None;
                }
            }
            Some((endpoint, org))
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Appends `value` as one path segment: every byte but RFC 3986's unreserved ones
/// percent-encoded, so `/`, `.` sequences, `?` and `#` stay inside the segment.
fn push_path_segment(path: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            path.push(char::from(byte));
        } else if byte == b'.' && !matches!(value, "." | "..") {
            path.push('.');
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// `segment` with its `%XX` escapes decoded; `None` when an escape is broken or the bytes are not
/// UTF-8.
fn percent_decoded(segment: &str) -> Option<String> {
    if !segment.contains('%') {
        return Some(segment.to_owned());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OperationCatalog;

    #[test]
    fn each_path_is_its_operations_template_and_parses_back() {
        let catalog = OperationCatalog::meraki_v1();
        for endpoint in Endpoint::ALL {
            let path = endpoint.path("549236");
            let full = format!("{}{path}", crate::API_PATH_PREFIX);
            let operation = catalog
                .match_path("GET", &full)
                .map(|op| op.operation_id.clone());
            assert_eq!(
                operation.as_deref(),
                Some(endpoint.operation_id()),
                "{path}"
            );
            let org = endpoint.is_per_organization().then(|| "549236".to_owned());
            assert_eq!(Endpoint::parse(&path), Some((endpoint, org)), "{path}");
            assert_eq!(Endpoint::from_name(endpoint.as_str()), Some(endpoint));
        }
        assert_eq!(
            Endpoint::ApiRequests.path("549236"),
            "/organizations/549236/apiRequests"
        );
        assert_eq!(Endpoint::Organizations.path("ignored"), "/organizations");
    }

    #[test]
    fn an_organization_id_stays_one_path_segment() {
        for hostile in ["1/../666666", "..", ".", "1?x=2", "1#f", "a b", "é"] {
            let path = Endpoint::Admins.path(hostile);
            assert_eq!(path.matches('/').count(), 3, "{path}");
            assert!(!path.contains(['?', '#', ' ']), "{path}");
            assert_eq!(
                Endpoint::parse(&path),
                Some((Endpoint::Admins, Some(hostile.to_owned()))),
                "{path}"
            );
        }
        assert_eq!(
            Endpoint::ApiRequests.path("1/../666666"),
            "/organizations/1%2F..%2F666666/apiRequests"
        );
    }

    #[test]
    fn paths_that_are_no_endpoint_parse_to_none() {
        for path in [
            "",
            "/",
            "/organizations/1",
            "/organizations/1/apiRequests/extra",
            "/networks/1/devices",
            "/organizations/%zz/admins",
        ] {
            assert_eq!(Endpoint::parse(path), None, "{path:?}");
        }
        assert_eq!(
            Endpoint::parse("//organizations//1/admins/"),
            Some((Endpoint::Admins, Some("1".to_owned())))
        );
    }
}
