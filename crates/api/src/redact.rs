//! Credentials in query strings: the one redaction every request record passes before it is
//! stored, whether collected from the API or imported from a file. A parameter is a credential by
//! its name, read the way a server reads it — percent-decoded (`%61pi_key`, `api%5Fkey`), `+` as a
//! space, in any case, without spaces around it (`API_KEY =`) or a trailing `[]` — and its value
//! becomes `***`. A URL echoed in a message loses its user and password too ([`redact_url`]).

use std::borrow::Cow;

/// The names of query parameters that carry credentials, compared as [`redact_query`] says.
pub const SECRET_PARAMETERS: [&str; 17] = [
    "api_key",
    "apikey",
    "api-key",
    "x-cisco-meraki-api-key",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "authorization",
    "client_secret",
    "password",
    "passwd",
    "secret",
    "signature",
    "sig",
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
    let name = decoded.split('=').next().unwrap_or_default().trim();
    let name = name.strip_suffix("[]").unwrap_or(name).trim();
    let secret = SECRET_PARAMETERS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name));
    (secret && has_value).then_some(raw_name)
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
    fn other_parameters_are_kept_byte_for_byte_and_borrowed() {
        for query in [
            "",
            "t0=2026-11-20T00%3A00%3A00Z&perPage=1000",
            "tokens=1&keys=2&monkey=3&api_keys=4",
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
