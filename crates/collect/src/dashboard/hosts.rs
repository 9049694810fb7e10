//! Where the API key may go: one policy for pagination links and redirects alike. The key travels to
//! the `--base-url`'s own scheme, host and port; to hosts under Meraki's domains over https (where
//! the official SDK keeps it too: `api.meraki.com` may redirect to a shard `nNNN.meraki.com`, and
//! regional clouds live under `.ca`, `.cn`, `.in` and `gov-meraki.com`); and to the hosts the user
//! names with `--trust-host`. Anything else never sees a request from callbudget at all.

use reqwest::Url;
use std::fmt;
use std::str::FromStr;

/// Meraki's own domains: a host is Meraki's when it is one of these or ends in `.` + one of these
/// (so `api.meraki.com.attacker.net` and `evilmeraki.com` are not).
pub const MERAKI_DOMAINS: [&str; 5] = [
    "meraki.com",
    "meraki.ca",
    "meraki.cn",
    "meraki.in",
    "gov-meraki.com",
];

/// Whether `host` (a DNS name) is under one of [`MERAKI_DOMAINS`], matched on the label boundary,
/// in any case, with or without the root's trailing dot.
pub fn is_meraki_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    MERAKI_DOMAINS.iter().any(|domain| {
        host == *domain
            || host
                .strip_suffix(domain)
                .is_some_and(|label| label.ends_with('.') && label.len() > 1)
    })
}

/// A host the user trusts with the key (`--trust-host HOST[:PORT]`): a lab, a proxy, a test
/// server. Without a port, any port of that host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedHost {
    host: String,
    port: Option<u16>,
}

impl FromStr for TrustedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || {
            format!(
                "{:?}: expected HOST or HOST:PORT (no scheme or path), e.g. n42.example.net:8443",
                callbudget_api::redact::redact_url(text)
            )
        };
        if text.is_empty() || text.contains(['/', '@', '?', '#', ' ']) {
            return Err(refused());
        }
        // Parsed the way URLs are, so the comparison sees the same host a URL names.
        let url = Url::parse(&format!("http://{text}/")).map_err(|_| refused())?;
        let host = url.host_str().ok_or_else(refused)?.to_owned();
        // `Url` drops port 80 for http: read the port as written.
        let port = match text.rsplit_once(':') {
            Some((_, port)) if !text.ends_with(']') => {
                Some(port.parse::<u16>().map_err(|_| refused())?)
            }
            _ => None,
        };
        Ok(TrustedHost { host, port })
    }
}

impl fmt::Display for TrustedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Why a `--base-url` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--base-url {url}: {reason}")]
pub struct BaseUrlError {
    pub url: String,
    pub reason: &'static str,
}

/// A `--base-url` checked: http or https, a host, no credentials, no query; Meraki's hosts over
/// https only (the key would otherwise cross the network in clear text).
pub fn parse_base_url(text: &str) -> Result<Url, BaseUrlError> {
    // The URL as given may carry a password or a secret in its query: a message shows neither.
    let refused = |reason| BaseUrlError {
        url: callbudget_api::redact::redact_url(text).into_owned(),
        reason,
    };
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|_| refused("not a URL (e.g. https://api.meraki.com/api/v1)"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("the scheme must be https (or http for a lab)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refused("it names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            "it carries credentials: the API key goes in MERAKI_DASHBOARD_API_KEY or --api-key-file",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refused("it carries a query or fragment"));
    }
    if url.scheme() == "http" && url.host_str().is_some_and(is_meraki_host) {
        return Err(refused(
            "Meraki's API is served over https only, and the key would travel in clear text",
        ));
    }
    Ok(url)
}

/// Scheme, host and port: what "the same server" means for the key.
pub fn origin(url: &Url) -> (String, Option<String>, Option<u16>) {
    (
        url.scheme().to_owned(),
        url.host_str().map(str::to_ascii_lowercase),
        url.port_or_known_default(),
    )
}

/// `host` or `host:port` of a URL, as people name a server in a message.
pub fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Where the key may go.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    base: Url,
    trusted: Vec<TrustedHost>,
}

impl KeyPolicy {
    pub fn new(base: Url, trusted: Vec<TrustedHost>) -> KeyPolicy {
        KeyPolicy { base, trusted }
    }

    /// Whether `url` is on the base URL's own scheme, host and port.
    pub fn is_base_origin(&self, url: &Url) -> bool {
        origin(url) == origin(&self.base)
    }

    /// Whether a request to `url` may carry the key: the base URL's origin; a Meraki host over
    /// https on the standard port; a trusted host — over https, or over http when the base URL
    /// itself is plain http (a lab), so trust never downgrades an https run to clear text.
    pub fn allows(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        if self.is_base_origin(url) {
            return true;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let https = url.scheme() == "https";
        if https && url.port_or_known_default() == Some(443) && is_meraki_domain_name(url) {
            return true;
        }
        let scheme_ok = https || (url.scheme() == "http" && self.base.scheme() == "http");
        scheme_ok
            && self.trusted.iter().any(|t| {
                t.host.eq_ignore_ascii_case(host)
                    && t.port
                        .is_none_or(|p| Some(p) == url.port_or_known_default())
            })
    }
}

/// A DNS name under Meraki's domains (an IP address never is).
fn is_meraki_domain_name(url: &Url) -> bool {
    url.domain().is_some_and(is_meraki_host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn policy(base: &str, trusted: &[&str]) -> KeyPolicy {
        KeyPolicy::new(
            parse_base_url(base).unwrap(),
            trusted.iter().map(|t| t.parse().unwrap()).collect(),
        )
    }

    #[test]
    fn meraki_hosts_match_on_the_label_boundary_only() {
        for host in [
            "meraki.com",
            "api.meraki.com",
            "n149.meraki.com",
            "API.Meraki.COM.",
            "api.meraki.ca",
            "api.meraki.cn",
            "api.meraki.in",
            "api.gov-meraki.com",
        ] {
            assert!(is_meraki_host(host), "{host}");
        }
        for host in [
            "api.meraki.com.attacker.net",
            "evilmeraki.com",
            "meraki.co",
            "gov-meraki.com.evil",
            ".meraki.com",
            "xmeraki.cn",
            "",
        ] {
            assert!(!is_meraki_host(host), "{host}");
        }
    }

    #[test]
    fn the_key_goes_to_the_base_origin_merakis_https_hosts_and_trusted_hosts_only() {
        let p = policy("https://api.meraki.com/api/v1", &[]);
        assert!(p.allows(&url("https://api.meraki.com/api/v1/organizations")));
        assert!(p.allows(&url("https://n149.meraki.com:443/api/v1/x")));
        assert!(p.allows(&url("https://api.meraki.cn/api/v1/x")));
        assert!(
            !p.allows(&url("http://n149.meraki.com/api/v1/x")),
            "clear text"
        );
        assert!(
            !p.allows(&url("https://n149.meraki.com:8443/x")),
            "odd port"
        );
        assert!(!p.allows(&url("https://api.meraki.com.attacker.net/x")));
        assert!(!p.allows(&url("https://127.0.0.1/x")));
        assert!(!p.allows(&url("https://user:pw@api.meraki.com/x")));

        let lab = policy(
            "http://127.0.0.1:8787/api/v1",
            &["localhost:9000", "proxy.lab"],
        );
        assert!(lab.allows(&url("http://127.0.0.1:8787/organizations")));
        assert!(
            !lab.allows(&url("http://127.0.0.1:8788/organizations")),
            "other port"
        );
        assert!(
            !lab.allows(&url("https://127.0.0.1:8787/x")),
            "other scheme"
        );
        assert!(lab.allows(&url("http://LOCALHOST:9000/x")));
        assert!(!lab.allows(&url("http://localhost:9001/x")));
        assert!(
            lab.allows(&url("http://proxy.lab:1234/x")),
            "any port when none is named"
        );
        assert!(
            !lab.allows(&url("http://n1.meraki.com/x")),
            "Meraki's hosts are https only"
        );

        // Trusting a host never downgrades an https run to clear text.
        let https = policy("https://api.meraki.com/api/v1", &["proxy.lab"]);
        assert!(https.allows(&url("https://proxy.lab/x")));
        assert!(!https.allows(&url("http://proxy.lab/x")));
    }

    #[test]
    fn trusted_hosts_parse_with_or_without_a_port() {
        let t: TrustedHost = "Localhost:8080".parse().unwrap();
        assert_eq!(t.to_string(), "localhost:8080");
        assert_eq!(
            "n1.meraki.example".parse::<TrustedHost>().unwrap().port,
            None
        );
        assert_eq!(
            "[::1]:80".parse::<TrustedHost>().unwrap().to_string(),
            "[::1]:80"
        );
        assert_eq!("10.0.0.1:80".parse::<TrustedHost>().unwrap().port, Some(80));
        for bad in ["", "http://x", "x/y", "user@x", "x:port", "x:99999", "a b"] {
            assert!(bad.parse::<TrustedHost>().is_err(), "{bad}");
        }
    }

    #[test]
    fn base_urls_of_regional_clouds_and_labs_are_accepted_and_odd_ones_refused() {
        for ok in [
            "https://api.meraki.com/api/v1",
            "https://api.meraki.ca/api/v1/",
            "https://api.meraki.cn/api/v1",
            "https://api.meraki.in/api/v1",
            "https://api.gov-meraki.com/api/v1",
            "http://127.0.0.1:8787/api/v1",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        let reason = |text: &str| parse_base_url(text).unwrap_err().reason;
        assert_eq!(
            reason("api.meraki.com"),
            "not a URL (e.g. https://api.meraki.com/api/v1)"
        );
        assert_eq!(
            reason("ftp://api.meraki.com"),
            "the scheme must be https (or http for a lab)"
        );
        assert!(reason("https://k:s@api.meraki.com").starts_with("it carries credentials"));
        assert_eq!(
            reason("https://api.meraki.com/api/v1?x=1"),
            "it carries a query or fragment"
        );
        assert!(reason("http://api.meraki.com/api/v1").contains("https only"));
        assert_eq!(
            parse_base_url("ftp://x/").unwrap_err().to_string(),
            "--base-url ftp://x/: the scheme must be https (or http for a lab)"
        );
        // A library caller's message shows the URL without its secrets too.
        assert_eq!(
            parse_base_url("https://k:SECRET@api.meraki.com/api/v1?token=SECRET")
                .unwrap_err()
                .to_string(),
            "--base-url https://***@api.meraki.com/api/v1?token=***: it carries credentials: the API key goes in MERAKI_DASHBOARD_API_KEY or --api-key-file"
        );
    }
}
