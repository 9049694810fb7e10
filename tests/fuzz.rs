//! Property tests of what reads a server's answer before anything checks it: the `Link` parser and
//! resolver, the `Retry-After` parser and the request-log page decoder (issue 15). Each runs
//! proptest's default 256 cases here; a longer run, with 0 panics expected:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --test integration fuzz_
//! ```

use callbudget_api::{RequestPage, RequestRecord};
use callbudget_collect::dashboard::links::{
    LinkValue, endpoint_of, next_link, parse_link_header, resolve,
};
use callbudget_collect::dashboard::retry::{MAX_WAIT, parse_retry_after};
use proptest::prelude::*;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::{Duration, UNIX_EPOCH};

/// Text made mostly of the characters a Link header's grammar turns on, so that the cases reach
/// every branch of the parser rather than only "not a link".
fn link_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just(";".to_owned()),
        Just(",".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("=".to_owned()),
        Just(" ".to_owned()),
        Just("rel".to_owned()),
        Just("next".to_owned()),
        Just("/organizations/1/apiRequests?startingAfter=a".to_owned()),
        Just("http://h:1/api/v1".to_owned()),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// A link target as servers write them: no `<`, `>` or surrounding spaces.
fn target() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/?&=%:._~,;-]{0,40}".prop_map(|t| t.trim().to_owned())
}

/// A relation type (a token, any case).
fn rel() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9.-]{0,8}"
}

/// One link written in one of RFC 8288's forms: `rel` quoted or not (several relations need
/// quotes), other parameters around it, whitespace where it may be.
fn written_link() -> impl Strategy<Value = (LinkValue, String)> {
    (
        target(),
        prop::collection::vec(rel(), 1..3),
        any::<bool>(),
        any::<bool>(),
        " {0,2}",
    )
        .prop_map(|(target, rels, quoted, title_first, space)| {
            let rel_value = if quoted || rels.len() > 1 {
                format!("\"{}\"", rels.join(" "))
            } else {
                rels[0].clone()
            };
            let title = format!("{space};{space}title=\"a, b; c\"");
            let rel_param = format!("{space};{space}rel={rel_value}");
            let params = if title_first {
                format!("{title}{rel_param}")
            } else {
                format!("{rel_param}{title}")
            };
            let link = LinkValue {
                target: target.clone(),
                rels: rels.iter().map(|r| r.to_ascii_lowercase()).collect(),
            };
            (link, format!("<{target}>{params}"))
        })
}

proptest! {
    #[test]
    fn fuzz_link_parser_never_panics_on_any_text(text in link_soup()) {
        for link in parse_link_header(&text) {
            prop_assert!(!link.target.contains('>'));
        }
    }

    #[test]
    fn fuzz_link_parser_never_panics_on_any_header_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            headers.append("link", value);
        }
        let _ = next_link(&headers);
    }

    #[test]
    fn fuzz_links_written_in_any_rfc_8288_form_read_back(
        links in prop::collection::vec(written_link(), 1..5),
        separator in prop_oneof![Just(","), Just(", "), Just(" ,\t")],
    ) {
        let header = links.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>().join(separator);
        let read = parse_link_header(&header);
        let expected: Vec<LinkValue> = links.into_iter().map(|(l, _)| l).collect();
        prop_assert_eq!(read, expected);
    }

    #[test]
    fn fuzz_link_resolution_never_panics_and_yields_http_only(target in link_soup()) {
        let base = Url::parse("http://127.0.0.1:8787/api/v1").expect("a URL");
        let page = Url::parse("http://127.0.0.1:8787/api/v1/organizations/1/apiRequests?t0=a")
            .expect("a URL");
        if let Ok(url) = resolve(&target, &base, &page) {
            prop_assert!(matches!(url.scheme(), "http" | "https"));
            let _ = endpoint_of(&url, &base);
        }
    }

    #[test]
    fn fuzz_retry_after_never_panics_and_never_exceeds_the_cap(
        text in prop_oneof![any::<String>(), "[0-9. s+eE-]{0,24}"],
        now in 0u64..8_000_000_000,
    ) {
        let now = UNIX_EPOCH + Duration::from_secs(now);
        if let Some(wait) = parse_retry_after(&text, now) {
            prop_assert!(wait <= MAX_WAIT);
        }
    }

    #[test]
    fn fuzz_retry_after_reads_whole_seconds_and_http_dates(
        seconds in 0u64..100_000,
        ahead in 0u64..100_000,
        now in 0u64..4_000_000_000,
        unit in any::<bool>(),
    ) {
        let now_time = UNIX_EPOCH + Duration::from_secs(now);
        let written = if unit { format!("{seconds}s") } else { seconds.to_string() };
        prop_assert_eq!(
            parse_retry_after(&written, now_time),
            Some(Duration::from_secs(seconds).min(MAX_WAIT))
        );
        let date = httpdate::fmt_http_date(now_time + Duration::from_secs(ahead));
        prop_assert_eq!(
            parse_retry_after(&date, now_time),
            Some(Duration::from_secs(ahead).min(MAX_WAIT))
        );
    }

    #[test]
    fn fuzz_page_decoder_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = serde_json::from_slice::<RequestPage>(&bytes);
    }

    #[test]
    fn fuzz_page_decoder_never_panics_on_any_json(value in json_value()) {
        let text = value.to_string();
        let page = serde_json::from_str::<RequestPage>(&text);
        let records = serde_json::from_str::<Vec<RequestRecord>>(&text);
        // The compact page decodes exactly what the plain records decode.
        match (page, records) {
            (Ok(page), Ok(records)) => {
                let read: Vec<RequestRecord> = page.records().map(|r| r.to_owned_record()).collect();
                prop_assert_eq!(read, records);
            }
            (page, records) => prop_assert_eq!(page.is_ok(), records.is_ok()),
        }
    }

    #[test]
    fn fuzz_pages_of_records_with_any_strings_decode_as_the_records_do(records in prop::collection::vec(record_json(), 0..8)) {
        let text = serde_json::Value::Array(records).to_string();
        let page: RequestPage = serde_json::from_str(&text).expect("a page of valid records");
        let plain: Vec<RequestRecord> = serde_json::from_str(&text).expect("valid records");
        let read: Vec<RequestRecord> = page.records().map(|r| r.to_owned_record()).collect();
        prop_assert_eq!(read, plain);
    }
}

/// Any JSON value, a few levels deep, biased towards arrays of objects with the record's keys.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("ts".to_owned()),
        Just("adminId".to_owned()),
        Just("path".to_owned()),
        Just("responseCode".to_owned()),
        Just("client".to_owned()),
        Just("version".to_owned()),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2026-11-20T10:15:02.120000Z")),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request record with a valid `ts` and any strings (escapes, quotes, non-ASCII) elsewhere,
/// fields present, null or missing.
fn record_json() -> impl Strategy<Value = serde_json::Value> {
    let text = prop::option::of(any::<String>());
    (
        -2_000_000_000i64..4_000_000_000,
        prop::collection::vec(text, 9),
        prop::option::of(0u16..1000),
        any::<bool>(),
    )
        .prop_map(|(secs, texts, code, with_client)| {
            let ts = chrono::DateTime::from_timestamp(secs, 0)
                .map(|t| callbudget_api::timestamp::format(&t))
                .unwrap_or_default();
            let mut record = serde_json::json!({ "ts": ts, "responseCode": code });
            let names = [
                "adminId",
                "method",
                "host",
                "path",
                "queryString",
                "userAgent",
                "sourceIp",
                "operationId",
            ];
            for (name, value) in names.iter().zip(&texts) {
                if let Some(v) = value {
                    record[*name] = serde_json::Value::from(v.as_str());
                }
            }
            if with_client {
                record["client"] = serde_json::json!({ "id": texts[8], "type": "api_key" });
            }
            record
        })
}

// ---- Issue 30: the parsers this turn added ---------------------------------------------------
//
// Bounded for CI: 256 cases each (PROPTEST_CASES raises it for a longer run).

/// A credential parameter's name in one of the spellings a server reads: any case, `-` or `_`
/// between words, a prefix (`x-`, `X-Amz-`, `private_`) on the names matched by their ending, a
/// bracket suffix or wrapper (`[]`, `[0]`, `auth[…]`), spaces around, some bytes percent-encoded.
fn credential_name() -> impl Strategy<Value = String> {
    let exact = prop::sample::select(
        callbudget_api::redact::SECRET_PARAMETERS
            .iter()
            .map(|s| s.to_string())
            .chain(["API-Key", "apiKey", "x-cisco-meraki-api-key"].map(str::to_owned))
            .collect::<Vec<_>>(),
    );
    let by_ending = (
        prop::sample::select(vec![
            "",
            "x-",
            "X-Amz-Security-",
            "X-Amz-",
            "private_",
            "api_",
            "access",
            "new_",
        ]),
        prop::sample::select(vec![
            "token",
            "Token",
            "secret",
            "password",
            "passwd",
            "signature",
            "api_key",
            "api-key",
            "apiKey",
        ]),
    )
        .prop_map(|(prefix, ending)| format!("{prefix}{ending}"));
    (
        prop_oneof![exact, by_ending],
        prop::collection::vec(any::<bool>(), 40),
        prop::sample::select(vec!["", "[]", "[0]", "[17]", "[x]"]),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 40),
        " {0,2}",
    )
        .prop_map(|(name, upper, suffix, wrapped, encoded, space)| {
            let cased: String = name
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, up)| {
                    if *up {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            let whole = if wrapped {
                format!("data[{cased}]{suffix}")
            } else {
                format!("{cased}{suffix}")
            };
            let written: String = whole
                .bytes()
                .zip(encoded.iter().cycle())
                .map(|(b, enc)| {
                    if *enc && b.is_ascii_alphabetic() {
                        format!("%{b:02X}")
                    } else {
                        char::from(b).to_string()
                    }
                })
                .collect();
            format!("{space}{written}{space}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fuzz_credentials_in_any_spelling_are_redacted(
        name in credential_name(),
        value in "SECRET[A-Za-z0-9]{6,12}",
        before in "[a-z]{1,6}=[0-9]{1,3}",
        separator in prop_oneof![Just('&'), Just(';')],
    ) {
        let query = format!("{before}{separator}{name}={value}{separator}perPage=10");
        let redacted = callbudget_api::redact::redact_query(&query);
        prop_assert!(!redacted.contains(&value), "{} -> {}", query, redacted);
        prop_assert!(redacted.starts_with(&before), "{}", redacted);
        prop_assert!(redacted.ends_with("perPage=10"), "{}", redacted);
        prop_assert_eq!(callbudget_api::redact::redact_query(&redacted), redacted.clone());
    }

    #[test]
    fn fuzz_redaction_never_panics_and_is_idempotent(text in link_soup()) {
        let once = callbudget_api::redact::redact_query(&text).into_owned();
        prop_assert_eq!(callbudget_api::redact::redact_query(&once), once.clone());
        let once = callbudget_api::redact::redact_userinfo(&text).into_owned();
        prop_assert_eq!(callbudget_api::redact::redact_userinfo(&once), once.clone());
    }

    #[test]
    fn fuzz_userinfo_in_any_url_never_reaches_the_database(
        scheme in prop_oneof![Just("https://"), Just("http://"), Just("//"), Just("")],
        user in "[A-Za-z0-9._~-]{1,8}",
        password in "PASS[A-Za-z0-9]{4,8}",
        host in "[a-z]{1,8}\\.example(:[0-9]{2,4})?",
        path in "(/[a-z0-9@]{0,6}){0,3}",
    ) {
        let url = format!("{scheme}{user}:{password}@{host}{path}");
        let redacted = callbudget_api::redact::redact_userinfo(&url);
        prop_assert!(!redacted.contains(&password), "{} -> {}", url, redacted);
        prop_assert_eq!(redacted.as_ref(), format!("{scheme}***@{host}{path}"));
    }

    #[test]
    fn fuzz_organization_ids_are_refused_unless_digits_and_stay_one_segment(
        id in prop_oneof![any::<String>(), "[0-9]{1,30}", "[0-9./%a-z]{0,12}"],
    ) {
        let digits = !id.is_empty()
            && id.len() <= callbudget_api::ids::MAX_ORG_ID_DIGITS
            && id.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(callbudget_api::ids::check_org_id(&id).is_ok(), digits);
        // Whatever it holds, a non-empty id is one path segment and reads back as itself.
        let path = callbudget_api::Endpoint::ApiRequests.path(&id);
        let parsed = callbudget_api::Endpoint::parse(&path);
        if id.is_empty() {
            prop_assert_eq!(parsed, None);
        } else {
            prop_assert_eq!(parsed, Some((callbudget_api::Endpoint::ApiRequests, Some(id.clone()))));
        }
        if let Err(e) = callbudget_api::ids::check_org_id(&id) {
            prop_assert!(!e.to_string().chars().any(char::is_control));
        }
    }

    #[test]
    fn fuzz_page_checks_never_panic_and_refuse_copies(
        records in prop::collection::vec(record_json(), 1..12),
        copies in 1usize..6,
    ) {
        use callbudget_collect::bounds::{PageFault, PageGuard};
        let one: RequestPage = serde_json::from_str(&serde_json::Value::Array(records.clone()).to_string())
            .expect("a page of valid records");
        let repeated: Vec<serde_json::Value> = std::iter::repeat_n(records, copies).flatten().collect();
        let page: RequestPage = serde_json::from_str(&serde_json::Value::Array(repeated).to_string())
            .expect("a page of valid records");
        let mut guard = PageGuard::new(usize::MAX);
        match guard.check(&page) {
            Ok(()) => prop_assert!(page.repeated_records() < 10 || 2 * page.repeated_records() <= page.len()),
            Err(fault) => prop_assert!(matches!(fault, PageFault::RepeatsItself { .. }), "{fault}"),
        }
        // The same page again is always refused once the first passed.
        if guard.check(&page).is_ok() {
            prop_assert!(false, "a page served twice passed");
        }
        let _ = PageGuard::new(0).check(&one);
    }

    #[test]
    fn fuzz_a_page_decodes_up_to_1000_records_and_not_one_more(extra in 0usize..3, fewer in 0usize..3) {
        let record = r#"{"ts":"2026-11-20T10:15:02Z"}"#;
        let at_most = callbudget_api::pages::MAX_RECORDS_PER_PAGE - fewer;
        let json = |n: usize| format!("[{}]", vec![record; n].join(","));
        prop_assert!(serde_json::from_str::<RequestPage>(&json(at_most)).is_ok());
        let over = callbudget_api::pages::MAX_RECORDS_PER_PAGE + 1 + extra;
        prop_assert!(serde_json::from_str::<RequestPage>(&json(over)).is_err());
    }
}
