//! Reading request logs in the three import formats into Meraki-shaped request records: JSONL and
//! CSV with the column names of the README's mapping (the Meraki record's fields, and common
//! aliases), and the Apache/nginx "combined" access-log format.

use crate::api::{ApiClient, RequestRecord};
use crate::redact::redact_query;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::io::BufRead;

/// A line that could not be read as a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLine {
    /// 1-based line number in the file.
    pub line: u64,
    pub reason: String,
}

/// What a file held: its requests in file order, and the lines that were not requests.
#[derive(Debug, Default)]
pub struct ParsedLog {
    pub records: Vec<RequestRecord>,
    pub malformed: Vec<MalformedLine>,
}

/// One request as JSONL objects and CSV rows spell it: every field of the Meraki record, flat or
/// nested, camelCase or snake_case, plus the names proxies and applications commonly use.
#[derive(Debug, Deserialize)]
struct ImportedRequest {
    #[serde(alias = "timestamp", alias = "time")]
    ts: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default, alias = "url", alias = "uri")]
    path: Option<String>,
    #[serde(default, alias = "queryString", alias = "query")]
    query_string: Option<String>,
    #[serde(default, alias = "userAgent")]
    user_agent: Option<String>,
    #[serde(default, alias = "responseCode", alias = "status")]
    response_code: Option<u16>,
    #[serde(default, alias = "sourceIp", alias = "client_ip", alias = "ip")]
    source_ip: Option<String>,
    #[serde(default, alias = "adminId", alias = "user")]
    admin_id: Option<String>,
    #[serde(default, alias = "operationId", alias = "operation")]
    operation_id: Option<String>,
    #[serde(default)]
    version: Option<u8>,
    #[serde(default, alias = "clientId")]
    client_id: Option<String>,
    #[serde(default, alias = "clientType")]
    client_type: Option<String>,
    /// The Meraki record's nested `client` (JSONL only).
    #[serde(default)]
    client: Option<ApiClient>,
}

impl ImportedRequest {
    fn into_record(self) -> Result<RequestRecord, String> {
        let ts = parse_time(&self.ts)?;
        // An empty CSV cell is no value, not an empty one.
        let some = |v: Option<String>| v.filter(|s| !s.is_empty());
        let (path, query_in_path) = match some(self.path) {
            Some(p) => match p.split_once('?') {
                Some((path, query)) => (Some(path.to_owned()), Some(query.to_owned())),
                None => (Some(p), None),
            },
            None => (None, None),
        };
        let client = match (some(self.client_id), some(self.client_type), self.client) {
            (None, None, nested) => nested,
            (id, kind, _) => Some(ApiClient { id, kind }),
        };
        Ok(RequestRecord {
            admin_id: some(self.admin_id),
            method: some(self.method).map(|m| m.to_ascii_uppercase()),
            host: some(self.host),
            path,
            query_string: some(self.query_string)
                .or(query_in_path)
                .map(|q| redact_query(&q).into_owned()),
            user_agent: some(self.user_agent),
            ts,
            response_code: self.response_code,
            source_ip: some(self.source_ip),
            version: self.version,
            operation_id: some(self.operation_id),
            client,
        })
    }
}

/// RFC 3339 with or without a fraction, `Z` or an offset; a space for the `T` is accepted too.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    crate::timestamp::parse(text)
        .or_else(|_| crate::timestamp::parse(&text.replacen(' ', "T", 1)))
        .map_err(|_| format!("the time {text:?} is not an RFC 3339 timestamp"))
}

/// Each line of `input` with its 1-based number, without its `\n` or `\r\n`: a line that is not
/// UTF-8 is one bad line, not an unreadable file.
fn numbered_lines(
    input: impl BufRead,
) -> impl Iterator<Item = std::io::Result<(u64, Result<String, Vec<u8>>)>> {
    input.split(b'\n').enumerate().map(|(index, line)| {
        let mut bytes = line?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let text = String::from_utf8(bytes).map_err(|e| e.into_bytes());
        Ok((index as u64 + 1, text))
    })
}

/// JSON Lines: one object per line; blank lines are skipped silently.
pub fn read_jsonl(input: impl BufRead) -> Result<ParsedLog, std::io::Error> {
    let mut parsed = ParsedLog::default();
    for line in numbered_lines(input) {
        let (number, text) = line?;
        let Ok(line) = text else {
            parsed.malformed.push(MalformedLine {
                line: number,
                reason: "not UTF-8 text".to_owned(),
            });
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str::<ImportedRequest>(&line)
            .map_err(|e| format!("not a request object: {e}"))
            .and_then(ImportedRequest::into_record);
        match record {
            Ok(r) => parsed.records.push(r),
            Err(reason) => parsed.malformed.push(MalformedLine {
                line: number,
                reason,
            }),
        }
    }
    Ok(parsed)
}

/// CSV with a header row naming the columns; a row's line is where it starts in the file.
pub fn read_csv(input: impl std::io::Read) -> Result<ParsedLog, csv::Error> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    let mut parsed = ParsedLog::default();
    let mut row = csv::StringRecord::new();
    loop {
        let read = reader.read_record(&mut row);
        let line = row.position().map_or(0, |p| p.line());
        match read {
            Ok(false) => break,
            Ok(true) => {
                let record = row
                    .deserialize::<ImportedRequest>(Some(&headers))
                    .map_err(|e| format!("not a request row: {}", csv_reason(&e)))
                    .and_then(ImportedRequest::into_record);
                match record {
                    Ok(r) => parsed.records.push(r),
                    Err(reason) => parsed.malformed.push(MalformedLine { line, reason }),
                }
            }
            // A row of the wrong width or not UTF-8: the reader stays usable, the row is malformed.
            Err(e)
                if matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) =>
            {
                let line = e.position().map_or(line, |p| p.line());
                parsed.malformed.push(MalformedLine {
                    line,
                    reason: csv_reason(&e),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(parsed)
}

/// The csv error without its position (the line number is reported separately).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} field(s) where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8 text", err.field() + 1),
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(field) => format!("field {}: {}", field + 1, err.kind()),
            None => err.kind().to_string(),
        },
        _ => e.to_string(),
    }
}

/// Apache/nginx combined format:
/// `%h %l %u [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`
/// (the plain common format, without referer and user agent, is read too).
pub fn read_combined(input: impl BufRead) -> Result<ParsedLog, std::io::Error> {
    let mut parsed = ParsedLog::default();
    for line in numbered_lines(input) {
        // Proxies log what clients send: a user agent with stray bytes keeps the rest of its line.
        let (number, line) = line.map(|(n, text)| {
            (
                n,
                text.unwrap_or_else(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_combined_line(&line) {
            Ok(r) => parsed.records.push(r),
            Err(reason) => parsed.malformed.push(MalformedLine {
                line: number,
                reason,
            }),
        }
    }
    Ok(parsed)
}

fn parse_combined_line(line: &str) -> Result<RequestRecord, String> {
    let mut rest = line.trim();
    let mut word = |what: &str| -> Result<String, String> {
        let (w, r) = rest
            .split_once(' ')
            .ok_or_else(|| format!("the line ends before its {what}"))?;
        rest = r.trim_start();
        Ok(w.to_owned())
    };
    let source_ip = word("client address")?;
    let _ident = word("identity")?;
    let user = word("user")?;
    let rest = rest.strip_prefix('[').ok_or("no [time] after the user")?;
    let (time, rest) = rest.split_once(']').ok_or("the [time] is not closed")?;
    let ts = DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z")
        .map_err(|_| format!("the time [{time}] is not like [20/Nov/2026:10:15:02 +0000]"))?
        .with_timezone(&Utc);
    let (request, rest) = quoted(rest.trim_start()).ok_or("no quoted \"request line\"")?;
    let rest = rest.trim_start();
    let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let status: u16 = status
        .parse()
        .ok()
        .filter(|s| (100..600).contains(s))
        .ok_or("no HTTP status after the request line")?;
    // The response size, then (combined format only) the quoted referer and user agent.
    let rest = rest.trim_start();
    let (_bytes, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let user_agent = quoted(rest.trim_start())
        .and_then(|(_referer, rest)| quoted(rest.trim_start()).map(|(ua, _)| ua));
    let mut parts = request.split(' ');
    let method = parts.next().filter(|m| !m.is_empty() && *m != "-");
    let target = parts.next();
    if method.is_some() && target.is_none() {
        return Err(format!("the request line {request:?} has no path"));
    }
    let (path, query) = match target {
        Some(t) => match t.split_once('?') {
            Some((p, q)) => (Some(p.to_owned()), Some(q.to_owned())),
            None => (Some(t.to_owned()), None),
        },
        None => (None, None),
    };
    let dash = |v: String| (v != "-" && !v.is_empty()).then_some(v);
    Ok(RequestRecord {
        admin_id: dash(user),
        method: method.map(str::to_owned),
        host: None,
        path,
        query_string: query.map(|q| redact_query(&q).into_owned()),
        user_agent: user_agent.and_then(dash),
        ts,
        response_code: Some(status),
        source_ip: dash(source_ip),
        version: None,
        operation_id: None,
        client: None,
    })
}

/// A `"…"` field with `\"` and `\\` escapes: its text and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &body[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_combined_line_maps_to_a_request() {
        let r = parse_combined_line(
            r#"203.0.113.7 - alice [20/Nov/2026:10:15:02 +0100] "POST /iroh/v1/workflows/7/start?x=1 HTTP/1.1" 429 52 "-" "soar-runner/2.0 (\"night\")""#,
        )
        .unwrap();
        assert_eq!(
            crate::timestamp::format(&r.ts),
            "2026-11-20T09:15:02.000000Z"
        );
        assert_eq!(r.source_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(r.admin_id.as_deref(), Some("alice"));
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.path.as_deref(), Some("/iroh/v1/workflows/7/start"));
        assert_eq!(r.query_string.as_deref(), Some("x=1"));
        assert_eq!(r.response_code, Some(429));
        assert_eq!(r.user_agent.as_deref(), Some("soar-runner/2.0 (\"night\")"));
    }

    #[test]
    fn credentials_in_query_strings_are_redacted_in_every_format() {
        assert_eq!(
            redact_query("limit=5&api_key=s3cr3t&Access_Token=abc&tokens=1"),
            "limit=5&api_key=***&Access_Token=***&tokens=1"
        );
        let line = r#"10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] "GET /a?token=s3cr3t&x=1 HTTP/1.1" 200 1 "-" "ua""#;
        let r = parse_combined_line(line).unwrap();
        assert_eq!(r.query_string.as_deref(), Some("token=***&x=1"));
        let jsonl = r#"{"ts":"2026-11-20T10:00:00Z","path":"/x?key=s3cr3t"}"#;
        let parsed = read_jsonl(jsonl.as_bytes()).unwrap();
        assert_eq!(parsed.records[0].query_string.as_deref(), Some("key=***"));
        let csv = "ts,path,query_string\n2026-11-20T10:00:00Z,/x,password=hunter2&a=b\n";
        let parsed = read_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            parsed.records[0].query_string.as_deref(),
            Some("password=***&a=b")
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_spoil_one_line_not_the_file() {
        let mut jsonl = br#"{"ts":"2026-11-20T10:00:00Z","userAgent":"a"}"#.to_vec();
        jsonl.extend(b"\r\n{\"ts\":\"2026-11-20T10:00:01Z\",\"userAgent\":\"\xff\"}\n");
        jsonl.extend(br#"{"ts":"2026-11-20T10:00:02Z"}"#);
        let parsed = read_jsonl(&jsonl[..]).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(
            parsed.malformed,
            [MalformedLine {
                line: 2,
                reason: "not UTF-8 text".into()
            }]
        );

        let mut csv =
            b"ts,user_agent\n2026-11-20T10:00:00Z,a\n2026-11-20T10:00:01Z,\xff\n".to_vec();
        csv.extend(b"2026-11-20T10:00:02Z,c\n");
        let parsed = read_csv(&csv[..]).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.malformed[0].line, 3);
        assert_eq!(parsed.malformed[0].reason, "field 2 is not UTF-8 text");

        let combined = b"10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"ua\xff\"\r\n";
        let parsed = read_combined(&combined[..]).unwrap();
        assert_eq!(parsed.records[0].user_agent.as_deref(), Some("ua\u{fffd}"));
        assert!(parsed.malformed.is_empty());
    }

    #[test]
    fn a_common_format_line_has_no_user_agent() {
        let r = parse_combined_line(
            r#"10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] "GET /a HTTP/1.0" 200 -"#,
        )
        .unwrap();
        assert_eq!((r.user_agent, r.admin_id), (None, None));
        assert_eq!(r.path.as_deref(), Some("/a"));
    }

    #[test]
    fn broken_combined_lines_say_what_is_wrong() {
        for (line, says) in [
            (
                "10.0.0.1 - - 20/Nov/2026 \"GET / HTTP/1.1\" 200 1",
                "[time]",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02] \"GET / HTTP/1.1\" 200 1",
                "the time",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET / HTTP/1.1\" OK 1",
                "status",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET / HTTP/1.1 200 1",
                "request line",
            ),
            ("garbage", "ends before"),
        ] {
            let err = parse_combined_line(line).unwrap_err();
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn jsonl_takes_the_meraki_shape_and_aliases() {
        let input = concat!(
            r#"{"ts":"2026-11-20T10:00:00Z","method":"get","path":"/x?a=1","userAgent":"A","responseCode":200,"client":{"id":"k1","type":"api_key"}}"#,
            "\n\n",
            r#"{"timestamp":"2026-11-20 10:00:01.5+00:00","status":429,"user_agent":"B","client_id":"k2"}"#,
            "\n"
        );
        let parsed = read_jsonl(input.as_bytes()).unwrap();
        assert!(parsed.malformed.is_empty(), "{:?}", parsed.malformed);
        let [a, b] = &parsed.records[..] else {
            panic!("{:?}", parsed.records)
        };
        assert_eq!(a.method.as_deref(), Some("GET"));
        assert_eq!(
            (a.path.as_deref(), a.query_string.as_deref()),
            (Some("/x"), Some("a=1"))
        );
        assert_eq!(
            a.client.as_ref().and_then(|c| c.kind.as_deref()),
            Some("api_key")
        );
        assert_eq!(
            crate::timestamp::format(&b.ts),
            "2026-11-20T10:00:01.500000Z"
        );
        assert_eq!(b.response_code, Some(429));
        assert_eq!(b.client.as_ref().and_then(|c| c.id.as_deref()), Some("k2"));
    }
}
