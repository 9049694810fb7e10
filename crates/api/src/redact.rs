//! Credentials in requests: the one redaction every request record passes before it is stored,
//! whether collected from the API or imported from a file.
//!
//! - **Query strings** ([`redact_query`]): a parameter is a credential by its name, read the way a
//!   server reads it — percent-decoded (`%61pi_key`, `api%5Fkey`), `+` as a space, in any case,
//!   without spaces around it (`API_KEY =`) — and its value becomes `***`. The name is looked at
//!   part by part, brackets and dots splitting it (`api_key[0]`, `auth[token]`,
//!   `credentials.password`), each part without its `-` and `_`: a part is a credential when it is
//!   one of [`SECRET_PARAMETERS`] (`apikey`, `key`, `token`, `auth`, `sig`, …) or ends with one of
//!   [`SECRET_SUFFIXES`] (`x-api-key`, `X-Amz-Security-Token`, `X-Amz-Signature`, `private_token`,
//!   `accessToken`, `client_secret`, `new_password`).
//! - **URLs in a path or host** ([`redact_userinfo`]): `https://user:pass@host/…` in a JSONL `url`
//!   or a proxy's request line keeps its host and path, its user and password become `***`.
//! - A URL echoed in a message loses both ([`redact_url`]).

use std::borrow::Cow;

/// Names of query parameters that carry credentials, compared part by part without `-` and `_`
/// and in any case, as [`redact_query`] says: `api_key`, `API-Key` and `apiKey` are one name.
pub const SECRET_PARAMETERS: [&str; 19] = [
    "api_key",
    "apikey",
    "x-cisco-meraki-api-key",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "auth",
    "authorization",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "secret",
    "signature",
    "sig",
    "credential",
];

/// A name part ending with one of these (compared as [`SECRET_PARAMETERS`] are) is a credential
/// too, whatever comes before: `x-api-key`, `X-Amz-Security-Token`, `private_token`, `api_token`,
/// `accessToken`, `X-Amz-Signature`, `client_secret`, `new_password`.
pub const SECRET_SUFFIXES: [&str; 6] = [
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
];

/// The query string with the value of every credential-carrying parameter (see
/// [`SECRET_PARAMETERS`]) replaced by `***`, written `NAME=***` with the name as it was written;
/// everything else, separators (`&`, `;`) included, is kept byte for byte. Borrows when there is
/// nothing to redact.
pub fn redact_query(query: &str) -> Cow<'_, str> {
    if !query
        .split(['&', ';'])
        .any(|pair| secret_name(pair).is_some())
    {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let pair = &rest[..end];
        match secret_name(pair) {
            Some(name) => {
                out.push_str(&name);
                out.push_str("=***");
            }
            None => out.push_str(pair),
        }
        let Some(separator) = rest[end..].chars().next() else {
            break;
        };
        out.push(separator);
        rest = &rest[end + separator.len_utf8()..];
    }
    Cow::Owned(out)
}

/// A URL as given (parsable or not), fit for a message: the user and password before an `@` in
/// its authority become `***`, and its query and fragment pass [`redact_query`]. Borrows when
/// there is nothing to hide.
pub fn redact_url(text: &str) -> Cow<'_, str> {
    // The authority runs from after `//` (or the start, when the scheme is missing) to the first
    // `/`, `?` or `#`; its userinfo ends at its last `@`.
    let authority_start = text.find("//").map_or(0, |i| i + 2);
    let authority_end = text[authority_start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| authority_start + i);
    let userinfo_end = text[authority_start..authority_end]
        .rfind('@')
        .map(|i| authority_start + i);
    let query_start = text[authority_end..]
        .find(['?', '#'])
        .map(|i| authority_end + i);
    let tail = query_start.map(|start| &text[start..]);
    let redacted_tail = tail.map(|tail| {
        // `?query#fragment`: each part redacted alone, its separator kept.
        let mut out = String::with_capacity(tail.len());
        let mut rest = tail;
        while let Some(separator) = rest.chars().next() {
            let end = rest[1..].find('#').map_or(rest.len(), |i| i + 1);
            out.push(separator);
            out.push_str(&redact_query(&rest[1..end]));
            rest = &rest[end..];
        }
        out
    });
    let tail_changed = matches!((tail, &redacted_tail), (Some(t), Some(r)) if t != r);
    if userinfo_end.is_none() && !tail_changed {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    match userinfo_end {
        Some(at) => {
            out.push_str(&text[..authority_start]);
            out.push_str("***");
            out.push_str(&text[at..query_start.unwrap_or(text.len())]);
        }
        None => out.push_str(&text[..query_start.unwrap_or(text.len())]),
    }
    out.push_str(redacted_tail.as_deref().unwrap_or_default());
    Cow::Owned(out)
}

/// The name of `pair` as written (before its first `=`), when it names a credential and has a
/// value; a bare name without `=` hides nothing.
fn secret_name(pair: &str) -> Option<Cow<'_, str>> {
    let (decoded, _) = form_urlencoded::parse(pair.as_bytes()).next()?;
    // `%3D` decodes to a `=` that a lenient server may split on too.
    let (raw_name, has_value) = match pair.split_once('=') {
        Some((name, _)) => (Cow::Borrowed(name), true),
        None => match decoded.split_once('=') {
            Some((name, _)) => (Cow::Owned(name.to_owned()), true),
            None => (Cow::Borrowed(pair), false),
        },
    };
    let name = decoded.split('=').next().unwrap_or_default();
    (has_value && is_secret_name(name)).then_some(raw_name)
}

/// Whether a parameter name (decoded) names a credential: see the module's docs.
pub fn is_secret_name(name: &str) -> bool {
    name.split(['[', ']', '.'])
        .map(|part| {
            part.trim()
                .chars()
                .filter(|c| !matches!(c, '-' | '_'))
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|part| !part.is_empty())
        .any(|part| {
            SECRET_PARAMETERS.iter().any(|s| normalized(s) == part)
                || SECRET_SUFFIXES.iter().any(|s| part.ends_with(s))
        })
}

/// A listed name as parts are compared: without `-` and `_`.
fn normalized(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '-' | '_')).collect()
}

/// A request's path or host as stored: when it is (or starts with) a URL with a user or password
/// (`https://user:pass@host/x`, `//user@host/x`, `user:pass@host`), they become `***`; anything
/// else — a path such as `/api/v1/x@y`, whose `@` is no authority's — is kept and borrowed.
pub fn redact_userinfo(text: &str) -> Cow<'_, str> {
    // An authority is there only after `scheme://` or `//`, or as the whole text of a host.
    let authority_start = match text.find("//") {
        Some(i)
            if text[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b':'))
                && (i == 0 || text[..i].ends_with(':')) =>
        {
            i + 2
        }
        _ if !text.starts_with('/') => 0,
        _ => return Cow::Borrowed(text),
    };
    let authority_end = text[authority_start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| authority_start + i);
    match text[authority_start..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}***{}",
            &text[..authority_start],
            &text[authority_start + at..]
        )),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_credential_is_redacted() {
        let cases = [
            (
                "api_key=THIRD-PARTY-SECRET&perPage=10",
                "api_key=***&perPage=10",
            ),
            ("%61pi_key=THIRD-PARTY-SECRET&x=1", "%61pi_key=***&x=1"),
            ("api%5Fkey=THIRD-PARTY-SECRET", "api%5Fkey=***"),
            ("API_KEY =THIRD-PARTY-SECRET", "API_KEY =***"),
            ("x=1& Api_Key%20 = s", "x=1& Api_Key%20 =***"),
            ("api_key+=s", "api_key+=***"),
            ("token[]=a&token[]=b", "token[]=***&token[]=***"),
            ("a=1;password=hunter2;b=2", "a=1;password=***;b=2"),
            ("api_key%3Dsecret&x=1", "api_key=***&x=1"),
            ("Access_Token=abc&limit=5", "Access_Token=***&limit=5"),
            ("X-Cisco-Meraki-API-Key=k", "X-Cisco-Meraki-API-Key=***"),
            ("sig=ab%2Fcd&signature=x", "sig=***&signature=***"),
            ("api_key[0]=s&api_key[1]=t", "api_key[0]=***&api_key[1]=***"),
            ("x-api-key=s&X-API-KEY=t", "x-api-key=***&X-API-KEY=***"),
            (
                "X-Amz-Algorithm=AWS4&X-Amz-Security-Token=s&X-Amz-Signature=abc",
                "X-Amz-Algorithm=AWS4&X-Amz-Security-Token=***&X-Amz-Signature=***",
            ),
            (
                "private_token=s&api_token=t",
                "private_token=***&api_token=***",
            ),
            (
                "accessToken=s&auth=t&Auth=u",
                "accessToken=***&auth=***&Auth=***",
            ),
            (
                "user[password]=s&credentials.secret=t",
                "user[password]=***&credentials.secret=***",
            ),
            ("%78-api-key=s", "%78-api-key=***"),
        ];
        for (query, redacted) in cases {
            assert_eq!(redact_query(query), redacted, "{query}");
            // Redacting twice changes nothing more.
            assert_eq!(redact_query(redacted), redacted, "{redacted}");
        }
    }

    #[test]
    fn urls_lose_their_user_password_and_query_secrets() {
        for (url, redacted) in [
            (
                "https://user:secret@api.example.net/api/v1",
                "https://***@api.example.net/api/v1",
            ),
            ("https://secret@h:8443", "https://***@h:8443"),
            ("https://u:p@ss@h/x?y=1", "https://***@h/x?y=1"),
            (
                "https://h/api/v1?api_key=QSECRET&x=1",
                "https://h/api/v1?api_key=***&x=1",
            ),
            (
                "https://h/cb#access_token=FSECRET&state=2",
                "https://h/cb#access_token=***&state=2",
            ),
            (
                "ht!tp://user:secret@h/a@b?token=QSECRET#sig=x",
                "ht!tp://***@h/a@b?token=***#sig=***",
            ),
            ("user:secret@h.example", "***@h.example"),
            ("user:secret@h.example:8443", "***@h.example:8443"),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
            assert_eq!(redact_url(redacted), redacted, "{redacted}");
        }
        for url in [
            "https://api.meraki.com/api/v1",
            "http://127.0.0.1:8787/api/v1?perPage=10",
            "h.example:8443",
            "not a url",
            "",
            "https://h/path/with@at",
        ] {
            assert!(
                matches!(redact_url(url), Cow::Borrowed(u) if u == url),
                "{url}"
            );
        }
    }

    #[test]
    fn user_and_password_in_a_path_or_host_are_redacted() {
        for (text, redacted) in [
            (
                "https://user:pass@h.example/x?y=1",
                "https://***@h.example/x?y=1",
            ),
            ("http://u@h/x", "http://***@h/x"),
            ("//user:pass@h/x", "//***@h/x"),
            ("user:pass@proxy.example:3128", "***@proxy.example:3128"),
            ("https://u:p@ss@h/a@b", "https://***@h/a@b"),
        ] {
            assert_eq!(redact_userinfo(text), redacted, "{text}");
            assert_eq!(redact_userinfo(redacted), redacted, "{redacted}");
        }
        for text in [
            "/api/v1/devices/Q2XX/lldpCdp",
            "/api/v1/x@y",
            "/a//b@c/d",
            "https://h.example/x@y",
            "api.meraki.com",
            "",
        ] {
            assert!(
                matches!(redact_userinfo(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn other_parameters_are_kept_byte_for_byte_and_borrowed() {
        for query in [
            "",
            "t0=2026-11-20T00%3A00%3A00Z&perPage=1000",
            "tokens=1&keys=2&monkey=3&api_keys=4",
            "X-Amz-Credential=AKIA%2F20260101&X-Amz-Date=20260101T000000Z&perPage=5",
            "startingAfter=a&sortKey=b&oauth=c",
            "key",
            "&&;=&a=%ZZ",
            "café=thé",
        ] {
            assert!(
                matches!(redact_query(query), Cow::Borrowed(q) if q == query),
                "{query}"
            );
        }
    }
}
