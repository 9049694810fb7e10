//! JSON Lines: one request object per line, Meraki's `getOrganizationApiRequests` record shape
//! included (see [`super::request::RequestFields`] for the names read).

use super::request::RequestFields;
use crate::api::Text;
use crate::store::RequestRow;
use std::borrow::Cow;

/// The request a line holds, its strings borrowed from the line where they hold no escape.
pub(super) fn decode_line(line: &[u8]) -> Result<RequestRow<Cow<'_, str>>, String> {
    // Checked once for the line, not string by string as the decoder of bytes would.
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 text".to_owned())?;
    match serde_json::from_str::<RequestFields<Text<'_>>>(text) {
        Ok(fields) => fields.into_row(),
        Err(e) => Err(format!("not a request object: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: &str) -> RequestRow<String> {
        decode_line(line.as_bytes())
            .unwrap()
            .map_text(|s| s.to_string())
    }

    #[test]
    fn jsonl_takes_the_meraki_shape_and_aliases() {
        let a = row(
            r#"{"ts":"2026-11-20T10:00:00Z","method":"get","path":"/x?a=1","userAgent":"A","responseCode":200,"client":{"id":"k1","type":"api_key"},"extra":[1]}"#,
        );
        assert_eq!(a.method.as_deref(), Some("GET"));
        assert_eq!(
            (a.path.as_deref(), a.query_string.as_deref()),
            (Some("/x"), Some("a=1"))
        );
        assert_eq!(
            (a.client_id.as_deref(), a.client_type.as_deref()),
            (Some("k1"), Some("api_key"))
        );
        let b = row(
            r#"{"timestamp":"2026-11-20 10:00:01.5+00:00","status":429,"user_agent":"B\u00e9","client_id":"k2","uri":"/p\/q"}"#,
        );
        assert_eq!(b.ts_us, 1_795_168_801_500_000);
        assert_eq!(b.response_code, Some(429));
        assert_eq!(b.user_agent.as_deref(), Some("Bé"));
        assert_eq!(b.path.as_deref(), Some("/p/q"));
        assert_eq!((b.client_id.as_deref(), b.client_type), (Some("k2"), None));
    }

    #[test]
    fn lines_that_are_not_requests_say_why() {
        for (line, says) in [
            (
                &br#"{"ts":"yesterday"}"#[..],
                "the time \"yesterday\" is not",
            ),
            (br#"{"method":"GET"}"#, "no time (ts, timestamp or time)"),
            (
                br#"{"ts":"2026-11-20T10:00:00Z","status":"OK"}"#,
                "not a request object: invalid type",
            ),
            (
                br#"{"ts": "2026-11-20T10:00:02Z", "method": "GET""#,
                "not a request object: EOF",
            ),
            (
                b"{\"ts\":\"2026-11-20T10:00:01Z\",\"userAgent\":\"\xff\"}",
                "not UTF-8 text",
            ),
            (br#"[1]"#, "not a request object"),
        ] {
            let reason = decode_line(line).unwrap_err();
            assert!(
                reason.starts_with(says),
                "{}: {reason}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
