//! Where the simulator points its callers: the URLs of its `Link` headers, written in the style a
//! client follows (absolute on a host, or a path the client resolves), and the shard redirect that
//! answers a call on any other host with `308` to the shard, as the real API may answer
//! `api.meraki.com`.

use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, header};
use callbudget_api::API_PATH_PREFIX;
use std::fmt;
use std::str::FromStr;

/// How Link URLs are written. The official Python SDK follows a Link as given only when its host
/// is under one of Meraki's domains; any other Link it appends to its base URL — so against a
/// simulator on 127.0.0.1 only [`LinkStyle::Relative`] pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkStyle {
    /// `<http://HOST/api/v1/organizations/…>`, on the host the call came to (or the link host):
    /// the real API's form.
    #[default]
    Absolute,
    /// `</organizations/…>`, below the base URL: what the SDK appends to `…/api/v1`, and what an
    /// RFC 3986 client (curl, a browser) resolves to the bare path, which the simulator serves too.
    Relative,
    /// `</api/v1/organizations/…>`: the whole path on the host.
    FullPath,
}

impl LinkStyle {
    /// The names `FromStr` reads, for the command line.
    pub const NAMES: [&'static str; 3] = ["relative", "full-path", "absolute"];

    /// The style to serve: `asked`, else relative (the form every client follows) — or absolute
    /// when a link host is given, since only absolute Links carry a host.
    pub fn for_link_host(
        asked: Option<LinkStyle>,
        link_host: bool,
    ) -> Result<LinkStyle, super::super::SimError> {
        match (asked, link_host) {
            (Some(style), true) if style != LinkStyle::Absolute => {
                Err(super::super::SimError::LinkHostNeedsAbsoluteLinks)
            }
            (Some(style), _) => Ok(style),
            (None, true) => Ok(LinkStyle::Absolute),
            (None, false) => Ok(LinkStyle::Relative),
        }
    }
}

impl FromStr for LinkStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "absolute" => Ok(LinkStyle::Absolute),
            "relative" => Ok(LinkStyle::Relative),
            "full-path" => Ok(LinkStyle::FullPath),
            other => Err(format!(
                "{other:?}: expected absolute, relative or full-path"
            )),
        }
    }
}

/// A `HOST[:PORT]` the simulator names: in Link URLs, or as the shard it redirects to. Without a
/// port, the port the call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refused = || format!("{s:?}: expected HOST or HOST:PORT, e.g. localhost:8787");
        if s.is_empty() || s.contains(['@', '/']) {
            return Err(refused());
        }
        let authority: Authority = s.parse().map_err(|_| refused())?;
        // Whatever follows the host must be a port: `x:port` parses, but without one.
        let after_host = s.get(authority.host().len()..).unwrap_or_default();
        if !after_host.is_empty() && authority.port_u16().is_none() {
            return Err(refused());
        }
        Ok(HostPort {
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The host a call names in its `Host` header, as written (`127.0.0.1:8787`).
pub fn call_host(headers: &HeaderMap) -> Option<HostPort> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse().ok())
}

impl HostPort {
    /// This host with the call's port filled in when it has none of its own.
    fn on_port_of(&self, call: Option<&HostPort>) -> HostPort {
        HostPort {
            host: self.host.clone(),
            port: self.port.or(call.and_then(|c| c.port)),
        }
    }
}

/// Writes the Link URLs of one answer.
pub struct LinkWriter {
    style: LinkStyle,
    /// The host absolute links name.
    host: String,
}

impl LinkWriter {
    /// Links for a call that came to `call` (its Host header), naming `link_host` if set.
    pub fn new(style: LinkStyle, link_host: Option<&HostPort>, call: Option<&HostPort>) -> Self {
        let host = match (link_host, call) {
            (Some(h), call) => h.on_port_of(call).to_string(),
            (None, Some(call)) => call.to_string(),
            (None, None) => "127.0.0.1".to_owned(),
        };
        LinkWriter { style, host }
    }

    /// The URL of a resource given by its path below the base URL (`/organizations/1/admins?…`).
    pub fn url(&self, below_base: &str) -> String {
        match self.style {
            LinkStyle::Absolute => format!("http://{}{API_PATH_PREFIX}{below_base}", self.host),
            LinkStyle::Relative => below_base.to_owned(),
            LinkStyle::FullPath => format!("{API_PATH_PREFIX}{below_base}"),
        }
    }
}

/// `<url>; rel=first, <url>; rel=next`, or `None` when a URL cannot go in a header.
pub fn link_header(links: &[(String, &str)]) -> Option<HeaderValue> {
    let text: Vec<String> = links
        .iter()
        .map(|(url, rel)| format!("<{url}>; rel={rel}"))
        .collect();
    HeaderValue::from_str(&text.join(", ")).ok()
}

/// Where a call on a host other than the shard is sent: the shard, same path and query.
pub fn shard_location(
    shard: &HostPort,
    call: Option<&HostPort>,
    path_and_query: &str,
) -> Option<String> {
    let shard = shard.on_port_of(call);
    if call == Some(&shard) {
        return None;
    }
    Some(format!("http://{shard}{path_and_query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> HostPort {
        s.parse().expect("a valid host")
    }

    #[test]
    fn hosts_parse_with_or_without_a_port_and_refuse_urls() {
        assert_eq!(
            host("Localhost:8787"),
            HostPort {
                host: "localhost".to_owned(),
                port: Some(8787)
            }
        );
        assert_eq!(host("n42.meraki.test").port, None);
        assert_eq!(host("[::1]:80").to_string(), "[::1]:80");
        for bad in ["", "http://x", "x/y", "user@x", "x:port", "x:99999"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
    }

    #[test]
    fn each_style_writes_its_form() {
        let call = host("127.0.0.1:8787");
        let below = "/organizations/1/apiRequests?perPage=3";
        let url = |style, link_host: Option<&str>| {
            LinkWriter::new(style, link_host.map(host).as_ref(), Some(&call)).url(below)
        };
        assert_eq!(
            url(LinkStyle::Absolute, None),
            "http://127.0.0.1:8787/api/v1/organizations/1/apiRequests?perPage=3"
        );
        assert_eq!(
            url(LinkStyle::Absolute, Some("localhost")),
            "http://localhost:8787/api/v1/organizations/1/apiRequests?perPage=3"
        );
        assert_eq!(
            url(LinkStyle::Absolute, Some("n1.example:9")),
            "http://n1.example:9/api/v1/organizations/1/apiRequests?perPage=3"
        );
        assert_eq!(url(LinkStyle::Relative, None), below);
        assert_eq!(
            url(LinkStyle::FullPath, None),
            "/api/v1/organizations/1/apiRequests?perPage=3"
        );
    }

    #[test]
    fn the_shard_redirects_every_other_host_and_serves_its_own() {
        let shard = host("localhost");
        let on = |h: &str| shard_location(&shard, Some(&host(h)), "/api/v1/organizations?x=1");
        assert_eq!(on("localhost:8787"), None);
        assert_eq!(
            on("127.0.0.1:8787").as_deref(),
            Some("http://localhost:8787/api/v1/organizations?x=1")
        );
        // Without a port of its own, the shard is the named host on whatever port was called.
        assert_eq!(on("localhost:9999"), None);
        let fixed = host("localhost:1234");
        assert_eq!(
            shard_location(&fixed, Some(&host("localhost:9999")), "/x").as_deref(),
            Some("http://localhost:1234/x")
        );
    }
}
