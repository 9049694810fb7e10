//! The spans flags take — `90m`, `36h`, `7d`, and for waits `90s` — read by one parser: a whole
//! number and one unit letter, nothing else. It never panics, whatever the text (non-ASCII, signs,
//! numbers past any calendar), and says in one line what it expected; clap adds the flag's name
//! and exits 2.

use chrono::TimeDelta;

/// A unit a span may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl SpanUnit {
    fn letter(self) -> char {
        match self {
            SpanUnit::Seconds => 's',
            SpanUnit::Minutes => 'm',
            SpanUnit::Hours => 'h',
            SpanUnit::Days => 'd',
        }
    }

    fn seconds(self) -> i64 {
        match self {
            SpanUnit::Seconds => 1,
            SpanUnit::Minutes => 60,
            SpanUnit::Hours => 3600,
            SpanUnit::Days => 86_400,
        }
    }
}

/// What a flag's span may be.
#[derive(Debug, Clone, Copy)]
pub struct SpanRule {
    /// What the flag calls it in a message: "span", "wait".
    pub noun: &'static str,
    pub units: &'static [SpanUnit],
    pub example: &'static str,
    /// Whether zero means something (a wait of nothing does; a span of history of nothing not).
    pub zero: bool,
    pub longest: TimeDelta,
    /// [`SpanRule::longest`] as a message says it.
    pub longest_text: &'static str,
}

/// A span of history: `--since`/`--until` (ago), `--report-span`, `--max-span`. Longer than any
/// log worth reading, and short enough that "now minus it" is always a time.
pub const HISTORY: SpanRule = SpanRule {
    noun: "span",
    units: &[SpanUnit::Minutes, SpanUnit::Hours, SpanUnit::Days],
    example: "36h",
    zero: false,
    longest: TimeDelta::days(36_500),
    longest_text: "36500d (100 years)",
};

/// A wait: `--max-wait`. Zero is a run that may not wait at all.
pub const WAIT: SpanRule = SpanRule {
    noun: "wait",
    units: &[SpanUnit::Seconds, SpanUnit::Minutes, SpanUnit::Hours],
    example: "30m",
    zero: true,
    longest: TimeDelta::days(7),
    longest_text: "a week",
};

/// Why a text is not a span a flag takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    #[error("{text:?}: a {noun} is a whole number ending in {units} (e.g. {example})")]
    NotASpan {
        text: String,
        noun: &'static str,
        units: String,
        example: &'static str,
    },
    #[error("{text:?}: a {noun} cannot be negative")]
    Negative { text: String, noun: &'static str },
    #[error("{text:?}: a {noun} must be longer than zero")]
    Zero { text: String, noun: &'static str },
    #[error("{text:?}: a {noun} is at most {longest}")]
    TooLong {
        text: String,
        noun: &'static str,
        longest: &'static str,
    },
}

impl SpanRule {
    /// Reads `text` as a whole number of one of the rule's units.
    pub fn parse(&self, text: &str) -> Result<TimeDelta, SpanError> {
        let not_a_span = || SpanError::NotASpan {
            text: text.to_owned(),
            noun: self.noun,
            units: self.units_text(),
            example: self.example,
        };
        let unit = text
            .chars()
            .last()
            .and_then(|last| self.units.iter().find(|u| u.letter() == last))
            .ok_or_else(not_a_span)?;
        // The unit is one ASCII letter: what comes before it is a whole char boundary.
        let number = &text[..text.len() - 1];
        let (negative, digits) = match number.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, number),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_a_span());
        }
        let too_long = || SpanError::TooLong {
            text: text.to_owned(),
            noun: self.noun,
            longest: self.longest_text,
        };
        let is_zero = digits.bytes().all(|b| b == b'0');
        if negative && !is_zero {
            return Err(SpanError::Negative {
                text: text.to_owned(),
                noun: self.noun,
            });
        }
        if is_zero && !self.zero {
            return Err(SpanError::Zero {
                text: text.to_owned(),
                noun: self.noun,
            });
        }
        let seconds = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit.seconds()))
            .ok_or_else(too_long)?;
        TimeDelta::try_seconds(seconds)
            .filter(|span| *span <= self.longest)
            .ok_or_else(too_long)
    }

    /// "s, m or h".
    fn units_text(&self) -> String {
        let letters: Vec<String> = self.units.iter().map(|u| u.letter().to_string()).collect();
        match letters.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_each_unit() {
        assert_eq!(HISTORY.parse("90m"), Ok(TimeDelta::minutes(90)));
        assert_eq!(HISTORY.parse("36h"), Ok(TimeDelta::hours(36)));
        assert_eq!(HISTORY.parse("7d"), Ok(TimeDelta::days(7)));
        assert_eq!(HISTORY.parse("36500d"), Ok(TimeDelta::days(36_500)));
        assert_eq!(WAIT.parse("90s"), Ok(TimeDelta::seconds(90)));
        assert_eq!(WAIT.parse("0s"), Ok(TimeDelta::zero()));
        assert_eq!(WAIT.parse("168h"), Ok(TimeDelta::days(7)));
    }

    #[test]
    fn hostile_spans_are_refused_with_one_line_saying_why() {
        let expected_history =
            |t: &str| format!("{t:?}: a span is a whole number ending in m, h or d (e.g. 36h)");
        for text in [
            "7é",
            "é",
            "7\u{301}",
            "日",
            "7日",
            "",
            "d",
            "7",
            "7 d",
            " 7d",
            "7d ",
            "+7d",
            "7.5h",
            "1e3m",
            "7D",
            "--7d",
            "7dd",
            "0x10m",
            "7s",
            "\u{0}7d",
            "7\u{1b}[2Jd",
        ] {
            assert_eq!(
                HISTORY.parse(text).map_err(|e| e.to_string()),
                Err(expected_history(text)),
                "{text:?}"
            );
        }
        for (text, says) in [
            ("-5d", "\"-5d\": a span cannot be negative"),
            ("-0h", "\"-0h\": a span must be longer than zero"),
            ("0h", "\"0h\": a span must be longer than zero"),
            ("000m", "\"000m\": a span must be longer than zero"),
            ("36501d", "\"36501d\": a span is at most 36500d (100 years)"),
            (
                "9223372036854775807d",
                "\"9223372036854775807d\": a span is at most 36500d (100 years)",
            ),
            (
                "99999999999999999999999m",
                "\"99999999999999999999999m\": a span is at most 36500d (100 years)",
            ),
        ] {
            assert_eq!(
                HISTORY.parse(text).map_err(|e| e.to_string()),
                Err(says.to_owned())
            );
        }
        for (text, says) in [
            (
                "10",
                "\"10\": a wait is a whole number ending in s, m or h (e.g. 30m)",
            ),
            (
                "7é",
                "\"7é\": a wait is a whole number ending in s, m or h (e.g. 30m)",
            ),
            ("-1s", "\"-1s\": a wait cannot be negative"),
            ("169h", "\"169h\": a wait is at most a week"),
        ] {
            assert_eq!(
                WAIT.parse(text).map_err(|e| e.to_string()),
                Err(says.to_owned())
            );
        }
    }

    #[test]
    fn any_text_is_read_without_a_panic_and_every_span_is_within_its_rule() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        let text = prop_oneof![
            any::<String>(),
            "-?[0-9]{0,25}[smhdé日]?",
            "[0-9é\u{301}]{0,4}[smhd]",
        ];
        runner
            .run(&text, |text| {
                for rule in [HISTORY, WAIT] {
                    if let Ok(span) = rule.parse(&text) {
                        prop_assert!(span >= TimeDelta::zero() && span <= rule.longest);
                        prop_assert!(rule.zero || span > TimeDelta::zero());
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}
