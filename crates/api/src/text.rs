//! Text for people: numbers with thousands separators, written one way everywhere (findings'
//! arithmetic, tables, charts, the HTML report), and the one sanitiser for text that came from
//! outside the process (the API, an imported file) before it reaches a terminal, Markdown, SVG
//! or HTML.

use std::borrow::Cow;

/// A length of time in its two largest units that matter: "42 s", "3 min 5 s", "1 h 5 min",
/// "1 d 6 h". Negative spans read as "0 s".
pub fn duration(span: chrono::TimeDelta) -> String {
    let seconds = span.num_seconds().max(0);
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// A count with thousands separators: 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number rounded to a whole, with thousands separators: 69120.4 → "69,120", -1234 → "-1,234".
pub fn thousands_rounded(value: f64) -> String {
    let rounded = value.round();
    let digits = thousands(rounded.abs() as u64);
    if rounded < 0.0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// Whether a character must not reach a reader as itself: C0 and C1 controls (ESC starts terminal
/// escape sequences, BEL rings, BS and CR overwrite what was printed), DEL, and the Unicode
/// bidirectional overrides and isolates that reorder what a line appears to say.
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Outside text made safe to print on a terminal or in Markdown: every control character, DEL and
/// bidi override is written as a visible escape (`\u{1b}`), so a hostile user agent or error body
/// can neither drive the terminal nor hide what it says. Borrows when nothing needs replacing.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Outside text made valid in XML 1.0 (SVG): the characters XML forbids (C0 controls but tab, LF
/// and CR; U+FFFE, U+FFFF) become U+FFFD, so one user agent cannot make a chart invalid. Markup
/// characters are still the writer's to escape.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    let forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    if !text.chars().any(forbidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if forbidden(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

/// Outside text made safe for a markup document (HTML, SVG): [`printable`], then [`xml_safe`].
/// Markup characters are still the writer's to escape.
pub fn markup_safe(text: &str) -> Cow<'_, str> {
    match printable(text) {
        Cow::Borrowed(text) => xml_safe(text),
        Cow::Owned(text) => Cow::Owned(xml_safe(&text).into_owned()),
    }
}

/// An error and each of its causes on one line, "outer: inner: innermost", as `anyhow`'s `{:#}`
/// prints them: for the places that keep an error as text (a failed window's row, an event).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(duration(TimeDelta::zero()), "0 s");
        assert_eq!(duration(TimeDelta::seconds(-5)), "0 s");
        assert_eq!(duration(TimeDelta::seconds(42)), "42 s");
        assert_eq!(duration(TimeDelta::seconds(180)), "3 min");
        assert_eq!(duration(TimeDelta::seconds(185)), "3 min 5 s");
        assert_eq!(duration(TimeDelta::seconds(3_900)), "1 h 5 min");
        assert_eq!(duration(TimeDelta::seconds(3_605)), "1 h");
        assert_eq!(duration(TimeDelta::days(7)), "7 d");
        assert_eq!(duration(TimeDelta::hours(30)), "1 d 6 h");
        assert_eq!(
            duration(TimeDelta::hours(76) + TimeDelta::seconds(5)),
            "3 d 4 h"
        );
    }

    #[test]
    fn control_characters_and_bidi_overrides_print_as_visible_escapes() {
        assert!(matches!(printable("NocPoller/2.1 Acme"), Cow::Borrowed(_)));
        assert_eq!(printable("\u{1b}]0;title\u{7}"), "\\u{1b}]0;title\\u{7}");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            printable("x\u{8}\u{0}\u{7f}\u{9b}y"),
            "x\\u{8}\\u{0}\\u{7f}\\u{9b}y"
        );
        assert_eq!(printable("a\tb\nc\rd"), "a\\u{9}b\\u{a}c\\u{d}d");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("café ✓"), "café ✓");
    }

    #[test]
    fn an_error_chain_reads_outer_to_inner_on_one_line() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read the API key file k.txt")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory",
        ));
        assert_eq!(
            error_chain(&e),
            "cannot read the API key file k.txt: No such file or directory"
        );
    }

    #[test]
    fn characters_xml_forbids_become_replacement_characters() {
        assert!(matches!(xml_safe("a < b"), Cow::Borrowed(_)));
        assert_eq!(xml_safe("a\u{1b}[31mb\u{0}"), "a\u{fffd}[31mb\u{fffd}");
        assert_eq!(xml_safe("tab\there\nline"), "tab\there\nline");
        assert_eq!(xml_safe("\u{ffff}"), "\u{fffd}");
    }

    #[test]
    fn numbers_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(679_351), "679,351");
        assert_eq!(thousands(26_784_000), "26,784,000");
        assert_eq!(thousands_rounded(65_664.4), "65,664");
        assert_eq!(thousands_rounded(999.0), "999");
        assert_eq!(thousands_rounded(1_000_000.0), "1,000,000");
        assert_eq!(thousands_rounded(-1_234.0), "-1,234");
    }
}
