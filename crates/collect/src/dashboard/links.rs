//! Pagination links: the `Link` header read as RFC 8288 writes it (several links in one header,
//! several headers, `rel` quoted or not and possibly naming several relations, parameters in any
//! order, commas inside `<…>` and quoted strings), and a link's target resolved the way the
//! official SDK does — absolute as given, a path-only target appended to the base URL
//! (`/organizations/…` after `https://host/api/v1`), or taken on the base URL's host when it
//! already carries the base path (`/api/v1/organizations/…`).

use reqwest::Url;
use reqwest::header::{self, HeaderMap};

/// One link of a `Link` header: its target as written and its relation types, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkValue {
    pub target: String,
    pub rels: Vec<String>,
}

/// Every link of one `Link` header value. Never fails: what cannot be read is skipped, up to the
/// next link.
pub fn parse_link_header(value: &str) -> Vec<LinkValue> {
    let mut scanner = Scanner {
        text: value.as_bytes(),
        at: 0,
    };
    let mut links = Vec::new();
    loop {
        scanner.skip(|b| b == b',' || is_ows(b));
        match scanner.peek() {
            None => break,
            Some(b'<') => {}
            Some(_) => {
                // Not a link: skip to the next one.
                scanner.skip_param_value();
                scanner.skip(|b| b != b',');
                continue;
            }
        }
        scanner.at += 1;
        let start = scanner.at;
        scanner.skip(|b| b != b'>');
        if scanner.peek().is_none() {
            break;
        }
        let target = value[start..scanner.at].trim().to_owned();
        scanner.at += 1;
        let mut rels = None;
        loop {
            scanner.skip(is_ows);
            if scanner.peek() != Some(b';') {
                break;
            }
            scanner.at += 1;
            scanner.skip(is_ows);
            let name_start = scanner.at;
            scanner.skip(|b| !matches!(b, b'=' | b';' | b',') && !is_ows(b));
            let name = &value[name_start..scanner.at];
            scanner.skip(is_ows);
            let param = if scanner.peek() == Some(b'=') {
                scanner.at += 1;
                scanner.skip(is_ows);
                scanner.param_value(value)
            } else {
                String::new()
            };
            // RFC 8288 §3.3: only the first `rel` counts.
            if rels.is_none() && name.eq_ignore_ascii_case("rel") {
                rels = Some(
                    param
                        .split_ascii_whitespace()
                        .map(str::to_ascii_lowercase)
                        .collect(),
                );
            }
        }
        links.push(LinkValue {
            target,
            rels: rels.unwrap_or_default(),
        });
        // Anything else before the next comma is not part of a link.
        scanner.skip(|b| b != b',');
    }
    links
}

/// The target of the first `rel=next` link of every `Link` header of an answer. Header bytes that
/// are not ASCII are read leniently, as the rest of the header still says where the next page is.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .flat_map(|v| parse_link_header(&String::from_utf8_lossy(v.as_bytes())))
        .find(|link| link.rels.iter().any(|r| r == "next"))
        .map(|link| link.target)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip(&mut self, while_: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&while_) {
            self.at += 1;
        }
    }

    /// A token or a quoted string (with `\` escapes), unquoted. Positions are at ASCII bytes, so
    /// slicing `value` there stays on character boundaries.
    fn param_value(&mut self, value: &str) -> String {
        if self.peek() == Some(b'"') {
            self.at += 1;
            let mut out = Vec::new();
            while let Some(b) = self.peek() {
                self.at += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        if let Some(escaped) = self.peek() {
                            out.push(escaped);
                            self.at += 1;
                        }
                    }
                    other => out.push(other),
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        } else {
            let start = self.at;
            self.skip(|b| !matches!(b, b';' | b',') && !is_ows(b));
            value[start..self.at].to_owned()
        }
    }

    /// Skips a stray token or quoted string, so that a comma inside quotes does not end it.
    fn skip_param_value(&mut self) {
        if self.peek() == Some(b'"') {
            self.at += 1;
            while let Some(b) = self.peek() {
                self.at += 1;
                match b {
                    b'"' => break,
                    b'\\' => self.at += 1,
                    _ => {}
                }
            }
        }
    }
}

/// Why a link target cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the pagination link {target:?} is not a URL")]
    NotAUrl { target: String },
    #[error("the pagination link {target:?} is not http or https")]
    Scheme { target: String },
}

/// Where a link target leads: against `base` (the organization's base URL, e.g.
/// `https://n149.meraki.com/api/v1`) for a path-only target, as the official SDK does, or against
/// `page` (the URL of the page that carried it) for other relative forms, as RFC 3986 does.
pub fn resolve(target: &str, base: &Url, page: &Url) -> Result<Url, LinkError> {
    let target = target.trim();
    let not_a_url = || LinkError::NotAUrl {
        target: target.to_owned(),
    };
    let url = match Url::parse(target) {
        Ok(url) => url,
        // Relative: a path-only target goes below the base URL, anything else against the page.
        Err(_) if target.starts_with('/') && !target.starts_with("//") => {
            let base_path = base.path().trim_end_matches('/');
            let carries_base_path = !base_path.is_empty()
                && target
                    .strip_prefix(base_path)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
            if carries_base_path {
                base.join(target).map_err(|_| not_a_url())?
            } else {
                let joined = format!("{}{target}", base.as_str().trim_end_matches('/'));
                Url::parse(&joined).map_err(|_| not_a_url())?
            }
        }
        Err(_) => page.join(target).map_err(|_| not_a_url())?,
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LinkError::Scheme {
            target: target.to_owned(),
        });
    }
    Ok(url)
}

/// The path of `url` below the base URL's path (`/organizations/1/apiRequests` for
/// `…/api/v1/organizations/1/apiRequests?…`), or its whole path when it does not carry it (the
/// bare path the API serves too); without a trailing slash. Two URLs name the same endpoint when
/// these are equal.
pub fn endpoint_of<'a>(url: &'a Url, base: &Url) -> &'a str {
    let path = url.path();
    let base_path = base.path().trim_end_matches('/');
    let below = match path.strip_prefix(base_path) {
        Some(rest) if !base_path.is_empty() && (rest.is_empty() || rest.starts_with('/')) => rest,
        _ => path,
    };
    match below.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The values of the paging cursors (`startingAfter`, `endingBefore`) a URL carries.
pub fn cursors(url: &Url) -> impl Iterator<Item = (String, String)> + '_ {
    url.query_pairs()
        .filter(|(k, _)| k == "startingAfter" || k == "endingBefore")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn link(target: &str, rels: &[&str]) -> LinkValue {
        LinkValue {
            target: target.to_owned(),
            rels: rels.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn rfc_8288_forms_are_read_with_quoted_or_bare_rels_and_commas_inside() {
        let v = "<https://x/api?a=1,2&t0=2026>; rel=first, <https://x/api?startingAfter=p1>; rel=\"next\"";
        assert_eq!(
            parse_link_header(v),
            vec![
                link("https://x/api?a=1,2&t0=2026", &["first"]),
                link("https://x/api?startingAfter=p1", &["next"]),
            ]
        );
        // Parameters in any order, a quoted value with a comma and a semicolon, several relations,
        // upper case, whitespace everywhere, an empty element, a second rel ignored.
        let v = " <  /p2 > ;title=\"a, b; c\" ; REL = \"prev Next\" ;rel=last ,, </p9>;rel=last";
        assert_eq!(
            parse_link_header(v),
            vec![link("/p2", &["prev", "next"]), link("/p9", &["last"])]
        );
        // Garbage between links costs only itself.
        let v = "junk \"with, comma\", <a>; rel=next";
        assert_eq!(parse_link_header(v), vec![link("a", &["next"])]);
        assert_eq!(parse_link_header("<unclosed; rel=next"), vec![]);
        assert_eq!(parse_link_header("<x>"), vec![link("x", &[])]);
    }

    #[test]
    fn the_next_link_may_come_in_any_of_several_link_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::LINK, HeaderValue::from_static("</p1>; rel=first"));
        assert_eq!(next_link(&headers), None);
        headers.append(
            header::LINK,
            HeaderValue::from_static("</p0>; rel=prev, </p2>; rel=\"next\""),
        );
        headers.append(header::LINK, HeaderValue::from_static("</p3>; rel=next"));
        assert_eq!(next_link(&headers).as_deref(), Some("/p2"));
    }

    #[test]
    fn links_resolve_as_the_sdk_resolves_them() {
        let base = Url::parse("https://api.meraki.com/api/v1").unwrap();
        let page =
            Url::parse("https://api.meraki.com/api/v1/organizations/1/apiRequests?t0=a").unwrap();
        let resolved = |t: &str| resolve(t, &base, &page).map(|u| u.to_string());
        let expected = "https://api.meraki.com/api/v1/organizations/1/apiRequests?startingAfter=x";
        // Below the base URL, as the SDK appends it; with the base path already; absolute.
        assert_eq!(
            resolved("/organizations/1/apiRequests?startingAfter=x").unwrap(),
            expected
        );
        assert_eq!(
            resolved("/api/v1/organizations/1/apiRequests?startingAfter=x").unwrap(),
            expected
        );
        assert_eq!(resolved(expected).unwrap(), expected);
        // Other relative forms against the page, as RFC 3986 does.
        assert_eq!(resolved("?startingAfter=x").unwrap(), expected);
        assert_eq!(resolved("apiRequests?startingAfter=x").unwrap(), expected);
        assert_eq!(
            resolved("//n9.meraki.com/api/v1/x").unwrap(),
            "https://n9.meraki.com/api/v1/x"
        );
        // `/api/v1foo` does not carry the base path: it goes below it.
        assert_eq!(
            resolved("/api/v1foo").unwrap(),
            "https://api.meraki.com/api/v1/api/v1foo"
        );
        assert_eq!(
            resolved("javascript:alert(1)"),
            Err(LinkError::Scheme {
                target: "javascript:alert(1)".to_owned()
            })
        );
        assert!(matches!(
            resolved("http://[::1"),
            Err(LinkError::NotAUrl { .. })
        ));
    }

    #[test]
    fn endpoints_compare_below_the_base_path() {
        let base = Url::parse("http://127.0.0.1:8787/api/v1").unwrap();
        let of = |u: &str| endpoint_of(&Url::parse(u).unwrap(), &base).to_owned();
        assert_eq!(
            of("http://127.0.0.1:8787/api/v1/organizations/1/apiRequests?x=1"),
            "/organizations/1/apiRequests"
        );
        assert_eq!(
            of("http://localhost:9/organizations/1/apiRequests/"),
            "/organizations/1/apiRequests"
        );
        assert_eq!(of("http://h/api/v1"), "/");
        let bare = Url::parse("http://127.0.0.1:8787").unwrap();
        assert_eq!(
            endpoint_of(&Url::parse("http://h/api/v1/x").unwrap(), &bare),
            "/api/v1/x"
        );
    }

    #[test]
    fn cursors_are_read_from_the_query() {
        let url = Url::parse("http://h/x?t0=1&startingAfter=a%20b&endingBefore=c").unwrap();
        assert_eq!(
            cursors(&url).collect::<Vec<_>>(),
            vec![
                ("startingAfter".to_owned(), "a b".to_owned()),
                ("endingBefore".to_owned(), "c".to_owned())
            ]
        );
    }
}
