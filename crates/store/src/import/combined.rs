//! The Apache/nginx combined access-log format,
//! `%h %l %u [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`, and the common
//! format (without the last two). Proxies log what clients send: a line with stray bytes that
//! are not UTF-8 keeps the rest of its text.

use super::request::{quote, split_target};
use crate::RequestRow;
use callbudget_api::timestamp::{MICROS_PER_MINUTE, canonical_to_micros};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// The request a line holds, its strings borrowed from the line where they hold no escape.
pub(super) fn decode_line(line: &[u8]) -> Result<RequestRow<Cow<'_, str>>, String> {
    if let Ok(text) = std::str::from_utf8(line) {
        return parse_line(text);
    }
    // Rare: the repaired text is read and its strings copied out of it.
    let text = String::from_utf8_lossy(line);
    parse_line(&text).map(|row| row.map_text(|s| Cow::Owned(s.to_string())))
}

fn parse_line(line: &str) -> Result<RequestRow<Cow<'_, str>>, String> {
    let mut rest = line.trim();
    let mut word = |what: &str| -> Result<&str, String> {
        let (w, r) = rest
            .split_once(' ')
            .ok_or_else(|| format!("the line ends before its {what}"))?;
        rest = r.trim_start();
        Ok(w)
    };
    let source_ip = word("client address")?;
    let _ident = word("identity")?;
    let user = word("user")?;
    let rest = rest.strip_prefix('[').ok_or("no [time] after the user")?;
    let (time, rest) = rest.split_once(']').ok_or("the [time] is not closed")?;
    let ts_us = parse_time_us(time)?;
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
    let (method, target) = split_request(request)?;
    let (path, query) = match target {
        Some(t) => split_target(t),
        None => (None, None),
    };
    Ok(RequestRow {
        ts_us,
        response_code: Some(status),
        query_string: query,
        admin_id: logged(Cow::Borrowed(user)),
        user_agent: user_agent.and_then(logged),
        source_ip: logged(Cow::Borrowed(source_ip)),
        method,
        path,
        ..RequestRow::default()
    })
}

/// A logged value: `-` is the log's "none".
fn logged(value: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (value != "-" && !value.is_empty()).then_some(value)
}

/// The request line's method and target (`GET /a?b HTTP/1.1`); `-` or nothing is no method.
#[allow(clippy::type_complexity)]
fn split_request(
    request: Cow<'_, str>,
) -> Result<(Option<Cow<'_, str>>, Option<Cow<'_, str>>), String> {
    let parts = |text: &str| -> (Option<(usize, usize)>, Option<(usize, usize)>) {
        let mut words = text.split(' ').scan(0, |at, w| {
            let start = *at;
            *at += w.len() + 1;
            Some((start, start + w.len()))
        });
        let method = words.next().filter(|&(a, b)| a < b && &text[a..b] != "-");
        (method, words.next())
    };
    let (method, target) = parts(&request);
    if method.is_some() && target.is_none() {
        return Err(format!("the request line {} has no path", quote(&request)));
    }
    Ok(match request {
        Cow::Borrowed(text) => (
            method.map(|(a, b)| Cow::Borrowed(&text[a..b])),
            target.map(|(a, b)| Cow::Borrowed(&text[a..b])),
        ),
        Cow::Owned(text) => (
            method.map(|(a, b)| Cow::Owned(text[a..b].to_owned())),
            target.map(|(a, b)| Cow::Owned(text[a..b].to_owned())),
        ),
    })
}

/// `20/Nov/2026:10:15:02 +0100` in microseconds since the Unix epoch: the fixed layout without the
/// general parser (a large log is millions of them), else chrono's `%d/%b/%Y:%H:%M:%S %z`. A time
/// zone offset is at most ±23:59, as everywhere else.
fn parse_time_us(time: &str) -> Result<i64, String> {
    if let Some(us) = fast_time_us(time.as_bytes()) {
        return Ok(us);
    }
    if let Some((_, offset)) = time.rsplit_once(' ')
        && let [b'+' | b'-', h1, h2, m1, m2] = offset.as_bytes()
        && [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit())
        && (*h1, *h2) > (b'2', b'3')
    {
        return Err(format!(
            "the time zone offset {} of [{}] is beyond ±23:59",
            quote(offset),
            quote(time)
        ));
    }
    DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z")
        .map(|t| callbudget_api::timestamp::to_micros(&t.with_timezone(&Utc)))
        .map_err(|_| {
            format!(
                "the time [{}] is not like [20/Nov/2026:10:15:02 +0000]",
                quote(time)
            )
        })
}

fn fast_time_us(b: &[u8]) -> Option<i64> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let month: u8 = match [b[3], b[4], b[5]] {
        [b'J', b'a', b'n'] => 1,
        [b'F', b'e', b'b'] => 2,
        [b'M', b'a', b'r'] => 3,
        [b'A', b'p', b'r'] => 4,
        [b'M', b'a', b'y'] => 5,
        [b'J', b'u', b'n'] => 6,
        [b'J', b'u', b'l'] => 7,
        [b'A', b'u', b'g'] => 8,
        [b'S', b'e', b'p'] => 9,
        [b'O', b'c', b't'] => 10,
        [b'N', b'o', b'v'] => 11,
        [b'D', b'e', b'c'] => 12,
        _ => return None,
    };
    // The canonical form, checked and converted by the canonical parser.
    let mut canonical = *b"0000-00-00T00:00:00.000000Z";
    canonical[0..4].copy_from_slice(&b[7..11]);
    canonical[5] = b'0' + month / 10;
    canonical[6] = b'0' + month % 10;
    canonical[8..10].copy_from_slice(&b[0..2]);
    canonical[11..19].copy_from_slice(&b[12..20]);
    let local = canonical_to_micros(std::str::from_utf8(&canonical).ok()?)?;
    let digit = |i: usize| b[i].is_ascii_digit().then(|| i64::from(b[i] - b'0'));
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (digit(22)? * 10 + digit(23)?, digit(24)? * 10 + digit(25)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(local - sign * (hours * 60 + minutes) * MICROS_PER_MINUTE)
}

/// A `"…"` field with `\"` and `\\` escapes: its text (borrowed when it has no escape) and what
/// follows it.
fn quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = text.strip_prefix('"')?;
    let end = body.find(['"', '\\'])?;
    if body.as_bytes()[end] == b'"' {
        return Some((Cow::Borrowed(&body[..end]), &body[end + 1..]));
    }
    let mut out = String::from(&body[..end]);
    let mut chars = body[end..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((Cow::Owned(out), &body[end + i + 1..])),
            c => out.push(c),
        }
    }
    None
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
    fn a_combined_line_maps_to_a_request() {
        let r = row(
            r#"203.0.113.7 - alice [20/Nov/2026:10:15:02 +0100] "POST /iroh/v1/workflows/7/start?x=1&token=s HTTP/1.1" 429 52 "-" "soar-runner/2.0 (\"night\")""#,
        );
        // 09:15:02 UTC.
        assert_eq!(r.ts_us, 1_795_166_102_000_000);
        assert_eq!(r.source_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(r.admin_id.as_deref(), Some("alice"));
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.path.as_deref(), Some("/iroh/v1/workflows/7/start"));
        // Redacted when stored (callbudget_api::redact), as every row is.
        assert_eq!(r.query_string.as_deref(), Some("x=1&token=s"));
        assert_eq!(r.response_code, Some(429));
        assert_eq!(r.user_agent.as_deref(), Some("soar-runner/2.0 (\"night\")"));
    }

    #[test]
    fn times_read_on_the_fast_path_as_chrono_reads_them() {
        for time in [
            "20/Nov/2026:10:15:02 +0000",
            "01/Jan/2026:00:00:00 -0930",
            "29/Feb/2028:23:59:59 +1400",
            "20/Nov/2026:10:15:02 +2359",
            "20/Nov/2026:10:15:02 -2359",
            "31/Dec/1969:23:59:59 +0000",
        ] {
            let chrono = DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z")
                .map(|t| callbudget_api::timestamp::to_micros(&t.with_timezone(&Utc)))
                .ok();
            assert!(chrono.is_some(), "{time}");
            assert_eq!(fast_time_us(time.as_bytes()), chrono, "{time}");
        }
        for time in [
            "30/Feb/2026:10:15:02 +0000",
            "20/Nxv/2026:10:15:02 +0000",
            "20/Nov/2026:24:15:02 +0000",
            "20/Nov/2026:10:15:02 +0060",
            "20/Nov/2026:10:15:02 +2400",
            "20/Nov/2026:10:15:02 -9959",
            "20/Nov/2026:10:15:02 *0000",
        ] {
            assert_eq!(fast_time_us(time.as_bytes()), None, "{time}");
        }
    }

    #[test]
    fn a_common_format_line_has_no_user_agent_and_bad_bytes_are_kept_replaced() {
        let r = row(r#"10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] "GET /a HTTP/1.0" 200 -"#);
        assert_eq!((r.user_agent, r.admin_id), (None, None));
        assert_eq!(r.path.as_deref(), Some("/a"));
        let r = decode_line(
            b"10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"ua\xff\"",
        )
        .unwrap();
        assert_eq!(r.user_agent.as_deref(), Some("ua\u{fffd}"));
    }

    #[test]
    fn broken_combined_lines_say_what_is_wrong() {
        for (line, says) in [
            (
                "10.0.0.1 - - 20/Nov/2026 \"GET / HTTP/1.1\" 200 1",
                "no [time] after the user",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02] \"GET / HTTP/1.1\" 200 1",
                "the time [\"20/Nov/2026:10:15:02\"] is not like",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET / HTTP/1.1\" OK 1",
                "no HTTP status",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET / HTTP/1.1 200 1",
                "no quoted \"request line\"",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 +0000] \"GET\" 200 1",
                "the request line \"GET\" has no path",
            ),
            ("garbage", "the line ends before its client address"),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 +9959] \"GET / HTTP/1.1\" 200 1",
                "the time zone offset \"+9959\" of [\"20/Nov/2026:10:15:02 +9959\"] is beyond ±23:59",
            ),
            (
                "10.0.0.1 - - [20/Nov/2026:10:15:02 -2400] \"GET / HTTP/1.1\" 200 1",
                "the time zone offset \"-2400\" of [\"20/Nov/2026:10:15:02 -2400\"] is beyond ±23:59",
            ),
        ] {
            let err = decode_line(line.as_bytes()).unwrap_err();
            assert!(err.starts_with(says), "{line}: {err}");
        }
    }
}
