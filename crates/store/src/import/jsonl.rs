//! JSON Lines: one request object per line, Meraki's `getOrganizationApiRequests` record shape
//! included (see [`super::request::RequestFields`] for the names read).
//!
//! Nearly every line of a real log is a flat object of the names read, with strings that hold no
//! escape: such a line is read by [`plain_fields`], a few comparisons per field. Any other line —
//! an unknown name, an escape, a float, a repeated field, a syntax error — goes to `serde_json`,
//! which reads it or says why not, exactly as it would have without the shortcut.

use super::request::{Field, RequestFields};
use crate::RequestRow;
use callbudget_api::{ApiClient, Text};
use std::borrow::Cow;

/// The request a line holds, its strings borrowed from the line where they hold no escape.
pub(super) fn decode_line(line: &[u8]) -> Result<RequestRow<Cow<'_, str>>, String> {
    // Checked once for the line, not string by string as the decoder of bytes would.
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 text".to_owned())?;
    let fields = match plain_fields(text) {
        Some(fields) => fields,
        None => serde_json::from_str::<RequestFields<Text<'_>>>(text)
            .map_err(|e| format!("not a request object: {e}"))?,
    };
    fields.into_row()
}

/// The API's record (`getOrganizationApiRequests`, the simulator's `--generate-out`): its names
/// in the order it writes them, the first tried for each field of a line.
const API_ORDER: [(&str, Field); 12] = [
    ("adminId", Field::AdminId),
    ("method", Field::Method),
    ("host", Field::Host),
    ("path", Field::Path),
    ("queryString", Field::QueryString),
    ("userAgent", Field::UserAgent),
    ("ts", Field::Ts),
    ("responseCode", Field::ResponseCode),
    ("sourceIp", Field::SourceIp),
    ("version", Field::Version),
    ("operationId", Field::OperationId),
    ("client", Field::Client),
];

/// The fields of a line that is one flat JSON object of [`RequestFields`]' names, each at most
/// once, its strings without escapes, its numbers plain integers, `client` an object of `id` and
/// `type` (any value may be `null`); `None` for any other line, which `serde_json` then reads.
/// What it returns is what `serde_json` would: the same values, borrowed from the line.
fn plain_fields(text: &str) -> Option<RequestFields<Text<'_>>> {
    let mut json = PlainJson {
        text,
        at: 0,
        quotes: Quotes::of(text.as_bytes())?,
        next_quote: 0,
    };
    let mut fields = RequestFields {
        ts: None,
        method: None,
        host: None,
        path: None,
        query_string: None,
        user_agent: None,
        response_code: None,
        source_ip: None,
        admin_id: None,
        operation_id: None,
        version: None,
        client_id: None,
        client_type: None,
        client: None,
    };
    json.consume(b'{')?;
    if json.next_is(b'}') {
        return json.at_end().then_some(fields);
    }
    // A field given twice is an error to serde_json, which then names it.
    let mut seen = 0u32;
    let mut expected = API_ORDER.iter();
    loop {
        let name = json.string()?;
        let field = match expected.next() {
            Some((api_name, field)) if *api_name == name => *field,
            _ => Field::named(name)?,
        };
        let bit = 1 << field as u32;
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        json.consume(b':')?;
        match field {
            Field::Ts => fields.ts = json.text()?,
            Field::Method => fields.method = json.text()?,
            Field::Host => fields.host = json.text()?,
            Field::Path => fields.path = json.text()?,
            Field::QueryString => fields.query_string = json.text()?,
            Field::UserAgent => fields.user_agent = json.text()?,
            Field::ResponseCode => fields.response_code = json.integer()?,
            Field::SourceIp => fields.source_ip = json.text()?,
            Field::AdminId => fields.admin_id = json.text()?,
            Field::OperationId => fields.operation_id = json.text()?,
            Field::Version => fields.version = json.integer()?,
            Field::ClientId => fields.client_id = json.text()?,
            Field::ClientType => fields.client_type = json.text()?,
            Field::Client => fields.client = json.client()?,
        }
        if !json.next_is(b',') {
            json.consume(b'}')?;
            return json.at_end().then_some(fields);
        }
    }
}

/// The most quotes a line read by [`plain_fields`] holds: the API's record has 56.
const MAX_QUOTES: usize = 96;

/// Where a line's quotes are, when it holds no backslash and no control character (not even a
/// tab): then every string of it lies between two quotes in a row. `None` for other lines.
struct Quotes {
    at: [u32; MAX_QUOTES],
    len: usize,
}

impl Quotes {
    /// One pass over the line, sixteen bytes at a time (the compiler makes each a few vector
    /// instructions), instead of a search per string.
    fn of(line: &[u8]) -> Option<Quotes> {
        const CHUNK: usize = 16;
        let mut quotes = Quotes {
            at: [0; MAX_QUOTES],
            len: 0,
        };
        let mut scan = |chunk: &[u8; CHUNK], base: usize| -> Option<()> {
            let (mut quote, mut other) = (0u32, 0u32);
            for (i, &b) in chunk.iter().enumerate() {
                quote |= u32::from(b == b'"') << i;
                other |= u32::from(b == b'\\' || b < 0x20) << i;
            }
            if other != 0 {
                return None;
            }
            while quote != 0 {
                let at = u32::try_from(base).ok()? + quote.trailing_zeros();
                *quotes.at.get_mut(quotes.len)? = at;
                quotes.len += 1;
                quote &= quote - 1;
            }
            Some(())
        };
        let mut chunks = line.chunks_exact(CHUNK);
        let mut base = 0;
        for chunk in &mut chunks {
            let mut bytes = [0; CHUNK];
            bytes.copy_from_slice(chunk);
            scan(&bytes, base)?;
            base += CHUNK;
        }
        // The rest, padded with spaces.
        let rest = chunks.remainder();
        let mut bytes = [b' '; CHUNK];
        bytes[..rest.len()].copy_from_slice(rest);
        scan(&bytes, base)?;
        Some(quotes)
    }
}

/// A cursor over a line of JSON for [`plain_fields`]: every method returns `None` where the text
/// is not what the shortcut reads.
struct PlainJson<'a> {
    text: &'a str,
    at: usize,
    quotes: Quotes,
    /// The next quote of `quotes`: the one that opens the next string.
    next_quote: usize,
}

impl<'a> PlainJson<'a> {
    /// The next byte after whitespace (JSON's: space, tab, line feed, carriage return).
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Whether `byte` comes next (then taken).
    fn next_is(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn consume(&mut self, byte: u8) -> Option<()> {
        self.next_is(byte).then_some(())
    }

    /// Only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// `null`, taken.
    fn null(&mut self) -> bool {
        let found = self.peek() == Some(b'n') && self.text[self.at..].starts_with("null");
        if found {
            self.at += 4;
        }
        found
    }

    /// A string (without escapes or control characters: see [`Quotes`]), borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.consume(b'"')?;
        let quotes = &self.quotes.at[..self.quotes.len];
        let (open, close) = (
            quotes.get(self.next_quote)?,
            quotes.get(self.next_quote + 1)?,
        );
        if *open as usize + 1 != self.at {
            return None;
        }
        self.next_quote += 2;
        let end = *close as usize;
        // Both ends lie at ASCII quotes: character boundaries.
        let value = self.text.get(self.at..end)?;
        self.at = end + 1;
        Some(value)
    }

    /// A string or `null`.
    fn text(&mut self) -> Option<Option<Text<'a>>> {
        if self.null() {
            return Some(None);
        }
        self.string().map(|s| Some(Text(Cow::Borrowed(s))))
    }

    /// A non-negative integer without a fraction, an exponent or leading zeros, that fits `T`, or
    /// `null`.
    fn integer<T: TryFrom<u64>>(&mut self) -> Option<Option<T>> {
        if self.null() {
            return Some(None);
        }
        self.peek()?;
        let bytes = &self.text.as_bytes()[self.at..];
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let plain = match digits {
            0 => false,
            // Longer numbers fit no field's type; serde_json says so.
            1..=5 => bytes[0] != b'0' || digits == 1,
            _ => false,
        };
        if !plain || matches!(bytes.get(digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = bytes[..digits]
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        self.at += digits;
        T::try_from(value).ok().map(Some)
    }

    /// `client`: an object of `id` and `type` (each at most once), or `null`.
    fn client(&mut self) -> Option<Option<ApiClient<Text<'a>>>> {
        if self.null() {
            return Some(None);
        }
        self.consume(b'{')?;
        let mut client = ApiClient {
            id: None,
            kind: None,
        };
        if self.next_is(b'}') {
            return Some(Some(client));
        }
        let (mut id, mut kind) = (false, false);
        loop {
            let is_id = match self.string()? {
                "id" => true,
                "type" => false,
                _ => return None,
            };
            let seen = if is_id { &mut id } else { &mut kind };
            if std::mem::replace(seen, true) {
                return None;
            }
            self.consume(b':')?;
            let value = self.text()?;
            if is_id {
                client.id = value;
            } else {
                client.kind = value;
            }
            if !self.next_is(b',') {
                self.consume(b'}')?;
                return Some(Some(client));
            }
        }
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

    /// What `serde_json` alone makes of a line: what [`decode_line`] must return, shortcut or not.
    fn by_serde(line: &str) -> Result<RequestRow<Cow<'_, str>>, String> {
        serde_json::from_str::<RequestFields<Text<'_>>>(line)
            .map_err(|e| format!("not a request object: {e}"))
            .and_then(RequestFields::into_row)
    }

    #[test]
    fn plain_lines_take_the_shortcut_and_decode_as_serde_json_does() {
        for line in [
            r#"{"adminId":"880002","method":"GET","host":"api.meraki.com","path":"/api/v1/networks/L_6/clients","queryString":"","userAgent":"python-meraki/4.7.0 Caller/(Reporter/1.1 Saturated)","ts":"2026-10-27T10:15:29.103206Z","responseCode":200,"sourceIp":"203.0.113.71","version":1,"operationId":"getNetworkClients","client":{"id":"k_sat002","type":"api_key"}}"#,
            r#" { "ts" : "2026-11-20T10:00:00Z" , "status" : 429 , "method" : "get" } "#,
            r#"{"ts":"2026-11-20T10:00:00Z","client":null,"version":null,"method":null,"status":null}"#,
            r#"{"timestamp":"2026-11-20 10:00:01.5+00:00","uri":"/p?x=1","user":"u","client_ip":"1.2.3.4","operation":"op","query":"y=2"}"#,
            r#"{"time":"2026-11-20T10:00:00Z","client":{"type":"oauth","id":"k"},"client_type":"api_key"}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","client":{},"status":0,"version":255,"user_agent":"Bé ☃"}"#,
            r#"{"ts":"","path":""}"#,
            r#"{"method":"GET"}"#,
            r#"{}"#,
        ] {
            assert!(plain_fields(line).is_some(), "not plain: {line}");
            assert_eq!(decode_line(line.as_bytes()), by_serde(line), "{line}");
        }
    }

    #[test]
    fn other_lines_go_to_serde_json_and_decode_or_fail_as_it_says() {
        for line in [
            // Read by serde_json: an escape, a name it ignores, a tab between tokens.
            r#"{"ts":"2026-11-20T10:00:00Z","uri":"/p\/q","userAgent":"Bé"}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","extra":[1,{"a":"b"}]}"#,
            "{\"ts\":\t\"2026-11-20T10:00:00Z\"}",
            r#"{"ts":"2026-11-20T10:00:00Z","client":{"id":"k","name":"x"}}"#,
            // Refused by serde_json, which says why.
            r#"{"ts":"2026-11-20T10:00:00Z","ts":"2026-11-20T10:00:01Z"}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","timestamp":"2026-11-20T10:00:01Z"}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","status":200.0}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","status":2e2}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","status":0200}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","status":-1}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","status":70000}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","version":256}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","status":"429"}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","client":{"id":"a","id":"b"}}"#,
            r#"{"ts":"2026-11-20T10:00:00Z","client":"k"}"#,
            r#"{"ts":"2026-11-20T10:00:00Z"} x"#,
            r#"{"ts":"2026-11-20T10:00:00Z","#,
            r#"{"ts":"2026-11-20T10:00:00Z""#,
            r#"{"ts":nul}"#,
            r#"[1]"#,
            r#""ts""#,
        ] {
            assert!(plain_fields(line).is_none(), "plain: {line}");
            assert_eq!(decode_line(line.as_bytes()), by_serde(line), "{line}");
        }
        assert!(by_serde(r#"{"ts":"2026-11-20T10:00:00Z","status":2e2}"#).is_err());
        assert!(by_serde(r#"{"ts":"2026-11-20T10:00:00Z","extra":[1]}"#).is_ok());
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

    /// JSON lines built from the pieces the shortcut turns on: every name it reads and some it
    /// does not, strings with and without escapes, integers at and past their limits, floats,
    /// nulls, nested `client` objects, whitespace, repeats and cut-off endings.
    fn json_soup() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop_oneof![
            Just("ts"),
            Just("timestamp"),
            Just("time"),
            Just("method"),
            Just("host"),
            Just("path"),
            Just("uri"),
            Just("queryString"),
            Just("userAgent"),
            Just("user_agent"),
            Just("responseCode"),
            Just("status"),
            Just("sourceIp"),
            Just("adminId"),
            Just("operationId"),
            Just("version"),
            Just("client"),
            Just("client_id"),
            Just("clientType"),
            Just("extra"),
            Just("Ts"),
        ];
        let plain_value = prop_oneof![
            Just("\"2026-11-20T10:00:00Z\"".to_owned()),
            Just("\"2026-11-20 10:00:01.5+01:00\"".to_owned()),
            Just("\"\"".to_owned()),
            Just("null".to_owned()),
            Just("{}".to_owned()),
            Just("{\"id\":\"k\",\"type\":\"oauth\"}".to_owned()),
            Just("{\"id\":null}".to_owned()),
            Just("\"Bé ☃\"".to_owned()),
            Just("\"/p?x=1&y=2\"".to_owned()),
            prop_oneof![
                Just(0i64),
                Just(200),
                Just(255),
                Just(256),
                Just(429),
                Just(65535),
                Just(65536),
                Just(-1),
                Just(i64::MAX),
            ]
            .prop_map(|n| n.to_string()),
            "[a-z0-9 ]{0,8}".prop_map(|t| format!("\"{t}\"")),
        ];
        let odd_value = prop_oneof![
            Just("true".to_owned()),
            Just("{\"id\":\"k\",\"id\":\"j\"}".to_owned()),
            Just("[1,\"a\"]".to_owned()),
            Just("\"a\\\"b\"".to_owned()),
            Just("\"\\u00e9\"".to_owned()),
            Just("0200".to_owned()),
            Just("2e2".to_owned()),
            Just("200.0".to_owned()),
            Just("-0".to_owned()),
        ];
        let value = prop_oneof![8 => plain_value, 1 => odd_value];
        let space = prop_oneof![8 => Just(""), 2 => Just(" "), 1 => Just("\t"), 1 => Just("\r\n ")];
        let member = (name, space.clone(), value, space.clone())
            .prop_map(|(n, s1, v, s2)| format!("\"{n}\"{s1}:{s2}{v}"));
        (
            prop::collection::vec(member, 0..5),
            space,
            prop_oneof![12 => Just(""), 1 => Just(" x"), 1 => Just(","), 1 => Just("}")],
            prop_oneof![12 => Just(0usize), 1 => 1usize..12],
        )
            .prop_map(|(members, s, tail, cut)| {
                let line = format!("{{{s}{}{s}}}{tail}", members.join(","));
                // Now and then a line cut short, as a truncated file ends.
                let keep = line.len().saturating_sub(cut);
                let keep = (0..=keep)
                    .rev()
                    .find(|&k| line.is_char_boundary(k))
                    .unwrap_or(0);
                line[..keep].to_owned()
            })
    }

    proptest::proptest! {
        #[test]
        fn every_line_decodes_as_serde_json_alone_decodes_it(line in json_soup()) {
            proptest::prop_assert_eq!(decode_line(line.as_bytes()), by_serde(&line), "{}", line);
        }
    }

    #[test]
    fn the_soup_reaches_the_shortcut_and_the_fallback_alike() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = json_soup();
        let plain = (0..2_000)
            .filter(|_| {
                let line = strategy.new_tree(&mut runner).unwrap().current();
                plain_fields(&line).is_some()
            })
            .count();
        // Neither side of the comparison above is vacuous.
        assert!((200..=1_800).contains(&plain), "{plain} of 2,000 plain");
    }
}
