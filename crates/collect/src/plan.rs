//! Which time windows a run collects: from the end of the last complete window (re-pulling that
//! window, to catch late-arriving records) or from `--since`, to `--until`, in windows of a fixed
//! length aligned to a grid, so that a window re-pulled by a later run always contains the stored
//! one it replaces. Nothing older than the API's 31-day lookback can be had: that gap is reported.

use chrono::{DateTime, TimeDelta, Utc};

/// How far back the request log reaches, less a margin so a window is not refused by the time the
/// call arrives.
pub fn earliest_available(until: DateTime<Utc>) -> DateTime<Utc> {
    until - callbudget_api::MAX_TIMESPAN + TimeDelta::minutes(5)
}

/// Moves window boundaries that would cut through a stored window (collected by an earlier run
/// with another `--window-minutes`, or clamped at the lookback) to that window's edges, so that every
/// new window either contains a stored one or misses it: the store refuses partial overlaps.
pub fn respect_stored(
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    stored: &[(DateTime<Utc>, DateTime<Utc>)],
    earliest: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let inside = |t: DateTime<Utc>| stored.iter().find(|(s0, s1)| *s0 < t && t < *s1).copied();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(windows.len());
    for (mut t0, mut t1) in windows {
        if let Some(last) = out.last() {
            t0 = last.1;
        } else if let Some((s0, s1)) = inside(t0) {
            // Back to the stored window's start if the API still has it, else past its end.
            t0 = if s0 >= earliest { s0 } else { s1 };
        }
        while let Some((_, s1)) = inside(t1) {
            t1 = s1;
        }
        if t1 > t0 {
            out.push((t0, t1));
        }
    }
    out
}

/// What the planner knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanInput {
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    /// The API's clock: its lookback counts back from here.
    pub now: DateTime<Utc>,
    /// The last complete unfiltered request-log window of the org, if any: `(t0, t1)`.
    pub last_complete: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub window: TimeDelta,
    /// How far back a first run goes without `--since`.
    pub first_run_span: TimeDelta,
}

/// The windows to collect, and the span that is lost for good, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub lost: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

fn floor_to_grid(t: DateTime<Utc>, window: TimeDelta) -> DateTime<Utc> {
    let step = window.num_microseconds().unwrap_or(i64::MAX).max(1);
    let us = t.timestamp_micros();
    callbudget_api::timestamp::from_micros(us - us.rem_euclid(step))
}

pub fn plan(input: &PlanInput) -> Plan {
    let until = input.until;
    let start = match (input.since, input.last_complete) {
        (Some(since), _) => floor_to_grid(since, input.window),
        // Re-pull the newest window: records that arrived late land in it.
        (None, Some((t0, _))) => t0,
        (None, None) => floor_to_grid(until - input.first_run_span, input.window),
    };
    let earliest = earliest_available(input.now);
    let (start, lost) = if start < earliest {
        (earliest, Some((start, earliest)))
    } else {
        (start, None)
    };
    let mut windows = Vec::new();
    let mut t0 = start;
    while t0 < until {
        let t1 = (floor_to_grid(t0, input.window) + input.window).min(until);
        windows.push((t0, t1));
        t0 = t1;
    }
    Plan { windows, lost }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        callbudget_api::timestamp::parse(s).unwrap()
    }

    fn input(until: &str) -> PlanInput {
        PlanInput {
            since: None,
            until: t(until),
            now: t(until),
            last_complete: None,
            window: TimeDelta::hours(1),
            first_run_span: TimeDelta::hours(24),
        }
    }

    #[test]
    fn a_first_run_takes_the_last_day_in_hour_windows_ending_now() {
        let p = plan(&input("2026-11-20T10:30:00Z"));
        assert_eq!(p.windows.len(), 25);
        assert_eq!(
            p.windows[0],
            (t("2026-11-19T10:00:00Z"), t("2026-11-19T11:00:00Z"))
        );
        assert_eq!(
            p.windows[24],
            (t("2026-11-20T10:00:00Z"), t("2026-11-20T10:30:00Z"))
        );
        assert!(p.windows.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!(p.lost, None);
    }

    #[test]
    fn a_later_run_re_pulls_the_newest_window_so_it_contains_the_stored_one() {
        let mut i = input("2026-11-20T12:10:00Z");
        i.last_complete = Some((t("2026-11-20T10:00:00Z"), t("2026-11-20T10:30:00Z")));
        let p = plan(&i);
        assert_eq!(
            p.windows,
            vec![
                (t("2026-11-20T10:00:00Z"), t("2026-11-20T11:00:00Z")),
                (t("2026-11-20T11:00:00Z"), t("2026-11-20T12:00:00Z")),
                (t("2026-11-20T12:00:00Z"), t("2026-11-20T12:10:00Z")),
            ]
        );
    }

    #[test]
    fn since_older_than_the_lookback_is_clamped_and_the_gap_reported() {
        let mut i = input("2026-11-20T00:00:00Z");
        i.since = Some(t("2026-10-01T00:00:00Z"));
        let p = plan(&i);
        let earliest = t("2026-10-20T00:05:00Z");
        assert_eq!(p.lost, Some((t("2026-10-01T00:00:00Z"), earliest)));
        assert_eq!(p.windows[0], (earliest, t("2026-10-20T01:00:00Z")));
        assert_eq!(p.windows.last().unwrap().1, t("2026-11-20T00:00:00Z"));
    }

    #[test]
    fn boundaries_never_cut_through_a_stored_window() {
        let planned = vec![
            (t("2026-11-20T10:30:00Z"), t("2026-11-20T11:00:00Z")),
            (t("2026-11-20T11:00:00Z"), t("2026-11-20T11:30:00Z")),
            (t("2026-11-20T11:30:00Z"), t("2026-11-20T12:00:00Z")),
            (t("2026-11-20T12:00:00Z"), t("2026-11-20T12:10:00Z")),
        ];
        // An earlier run stored hour windows; its last one was partial.
        let stored = [
            (t("2026-11-20T10:00:00Z"), t("2026-11-20T11:00:00Z")),
            (t("2026-11-20T11:00:00Z"), t("2026-11-20T11:45:00Z")),
        ];
        let earliest = t("2026-10-20T00:00:00Z");
        assert_eq!(
            respect_stored(planned, &stored, earliest),
            vec![
                (t("2026-11-20T10:00:00Z"), t("2026-11-20T11:00:00Z")),
                (t("2026-11-20T11:00:00Z"), t("2026-11-20T11:45:00Z")),
                (t("2026-11-20T11:45:00Z"), t("2026-11-20T12:00:00Z")),
                (t("2026-11-20T12:00:00Z"), t("2026-11-20T12:10:00Z")),
            ]
        );
    }

    #[test]
    fn a_start_clamped_inside_a_stored_window_skips_past_it() {
        let planned = vec![
            (t("2026-10-20T00:05:00Z"), t("2026-10-20T01:00:00Z")),
            (t("2026-10-20T01:00:00Z"), t("2026-10-20T02:00:00Z")),
        ];
        let stored = [(t("2026-10-20T00:00:00Z"), t("2026-10-20T01:00:00Z"))];
        assert_eq!(
            respect_stored(planned, &stored, t("2026-10-20T00:05:00Z")),
            vec![(t("2026-10-20T01:00:00Z"), t("2026-10-20T02:00:00Z"))]
        );
    }

    #[test]
    fn nothing_to_do_when_since_is_not_before_until() {
        let mut i = input("2026-11-20T00:00:00Z");
        i.since = Some(t("2026-11-20T00:00:00Z"));
        assert!(plan(&i).windows.is_empty());
    }
}
