//! Detector 1, the budget timeline: requests per second from the log, replayed through the
//! organization's token bucket, to tell how often and how hard the shared budget was hit.
//!
//! The replay starts with a full bucket at the first request of the window and offers it every
//! request of the log in time order, including those Meraki refused: it answers "what does this
//! demand do to a bucket of these limits", not "what did Meraki answer".

use super::columns::RequestColumns;
use super::{AnalysisError, AnalysisWindow};
use callbudget_api::budget::{BudgetModel, replay as replay_bucket};
use callbudget_api::timestamp::MICROS_PER_SECOND;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How the budget was used over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetTimeline {
    pub window: AnalysisWindow,
    /// The budget the log was replayed through.
    pub budget: BudgetModel,
    pub total_requests: u64,
    /// Seconds with at least one request.
    pub active_seconds: u64,
    /// Requests the replayed bucket refuses.
    pub refused_by_replay: u64,
    /// Seconds in which the replayed bucket refuses at least one request.
    pub seconds_with_refusals: u64,
    /// Seconds with at least the budget's per-second limit in requests (a token bucket's rate;
    /// window budgets have none, so 0).
    pub seconds_at_or_over_rate: u64,
    /// Seconds at or over the limit: with a refusal, or at or over the rate (the union of the two).
    pub seconds_at_or_over_limit: u64,
    /// The busiest second, 10 seconds and minute (sliding windows); `None` without requests.
    pub peak_1s: Option<PeakRate>,
    pub peak_10s: Option<PeakRate>,
    pub peak_60s: Option<PeakRate>,
    /// Headroom over the active seconds only (idle seconds would make every percentile 100 %);
    /// `None` without requests.
    pub headroom: Option<HeadroomPercentiles>,
}

/// The most requests seen within any `seconds` consecutive seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeakRate {
    /// The first active second of the busiest span.
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    pub seconds: u32,
    pub requests: u64,
    pub requests_per_second: f64,
}

/// Headroom of a second = (rate − requests in it) / rate: 1 idle, 0 at the rate, negative over it.
/// `pNN` is the headroom that NN % of active seconds had at least (nearest rank), so p99 is the
/// tight end: "99 % of active seconds left at least this share of the budget unused".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadroomPercentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// Builds the timeline of `log`, the request log of `window`.
pub fn budget_timeline(
    log: &RequestColumns,
    window: &AnalysisWindow,
    budget: &BudgetModel,
) -> Result<BudgetTimeline, AnalysisError> {
    check_rate(budget)?;
    let replay = BucketReplay::of(log, budget);
    timeline_of(log, window, budget, &replay)
}

fn check_rate(budget: &BudgetModel) -> Result<f64, AnalysisError> {
    let rate = budget.sustained_rate_per_second();
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(AnalysisError::InvalidRate(rate))
    }
}

/// [`budget_timeline`] of the log's columns, replayed.
pub(crate) fn timeline_of(
    log: &RequestColumns,
    window: &AnalysisWindow,
    budget: &BudgetModel,
    replay: &BucketReplay,
) -> Result<BudgetTimeline, AnalysisError> {
    let rate = check_rate(budget)?;
    let per_second_limit = budget.per_second_limit();
    // (second as µs since the epoch, requests in it) for every active second, in time order.
    let mut per_second: Vec<(i64, u64)> = Vec::new();
    let mut seconds_with_refusals = 0;
    let mut seconds_at_or_over_rate = 0;
    let mut seconds_at_or_over_limit = 0;
    for second in Seconds::of(log) {
        let requests = second.rows.len() as u64;
        per_second.push((second.start_us, requests));
        let refused = replay.any_refused(second.rows);
        let at_rate = per_second_limit.is_some_and(|limit| requests as f64 >= limit);
        seconds_with_refusals += u64::from(refused);
        seconds_at_or_over_rate += u64::from(at_rate);
        seconds_at_or_over_limit += u64::from(at_rate || refused);
    }
    Ok(BudgetTimeline {
        window: *window,
        budget: budget.clone(),
        total_requests: log.len() as u64,
        active_seconds: per_second.len() as u64,
        refused_by_replay: replay.refused_requests(),
        seconds_with_refusals,
        seconds_at_or_over_rate,
        seconds_at_or_over_limit,
        peak_1s: peak(&per_second, 1),
        peak_10s: peak(&per_second, 10),
        peak_60s: peak(&per_second, 60),
        headroom: headroom(&per_second, rate),
    })
}

/// The calendar seconds of a log in time order, each with its rows.
pub(crate) struct Seconds<'a> {
    ts_us: &'a [i64],
    next: usize,
}

/// One active second: its start (µs since the epoch) and its rows.
pub(crate) struct Second {
    pub start_us: i64,
    pub rows: std::ops::Range<usize>,
}

impl<'a> Seconds<'a> {
    pub fn of(log: &'a RequestColumns) -> Self {
        Seconds {
            ts_us: &log.ts_us,
            next: 0,
        }
    }
}

impl Iterator for Seconds<'_> {
    type Item = Second;

    fn next(&mut self) -> Option<Second> {
        let first = self.next;
        let second = self.ts_us.get(first)?.div_euclid(MICROS_PER_SECOND);
        let end_us = (second + 1) * MICROS_PER_SECOND;
        let mut end = first + 1;
        while end < self.ts_us.len() && self.ts_us[end] < end_us {
            end += 1;
        }
        self.next = end;
        Some(Second {
            start_us: second * MICROS_PER_SECOND,
            rows: first..end,
        })
    }
}

/// The log replayed once through the budget's org-wide limits (see the module docs): which
/// requests the bucket refuses, one bit each. The timeline, the consumers, the what-ifs and the
/// senders in refused seconds all read this one replay.
pub(crate) struct BucketReplay {
    refused: Vec<u64>,
    refused_requests: u64,
}

impl BucketReplay {
    pub fn of(log: &RequestColumns, budget: &BudgetModel) -> Self {
        let mut refused = vec![0u64; log.len().div_ceil(64)];
        let mut refused_requests = 0;
        for (row, (_, admitted)) in replay_bucket(budget, log.ts_us.iter().copied()).enumerate() {
            if !admitted {
                refused[row / 64] |= 1 << (row % 64);
                refused_requests += 1;
            }
        }
        BucketReplay {
            refused,
            refused_requests,
        }
    }

    /// Whether the bucket refuses request `row`.
    #[inline]
    pub fn refused(&self, row: usize) -> bool {
        self.refused[row / 64] & (1 << (row % 64)) != 0
    }

    /// Whether it refuses any of `rows`.
    #[inline]
    pub fn any_refused(&self, rows: std::ops::Range<usize>) -> bool {
        rows.into_iter().any(|row| self.refused(row))
    }

    pub fn refused_requests(&self) -> u64 {
        self.refused_requests
    }
}

/// The busiest span of `seconds` consecutive seconds; the earliest wins a tie.
fn peak(per_second: &[(i64, u64)], seconds: u32) -> Option<PeakRate> {
    let span = i64::from(seconds) * MICROS_PER_SECOND;
    let mut best: Option<(usize, u64)> = None;
    let (mut first, mut sum) = (0, 0u64);
    for &(second, requests) in per_second {
        sum += requests;
        while per_second[first].0 <= second - span {
            sum -= per_second[first].1;
            first += 1;
        }
        if best.is_none_or(|(_, most)| sum > most) {
            best = Some((first, sum));
        }
    }
    best.map(|(first, requests)| PeakRate {
        start: callbudget_api::timestamp::from_micros(per_second[first].0),
        seconds,
        requests,
        requests_per_second: requests as f64 / f64::from(seconds),
    })
}

fn headroom(per_second: &[(i64, u64)], rate: f64) -> Option<HeadroomPercentiles> {
    let mut headrooms: Vec<f64> = per_second
        .iter()
        .map(|&(_, n)| (rate - n as f64) / rate)
        .collect();
    if headrooms.is_empty() {
        return None;
    }
    // Most headroom first, so the NN % rank is the least headroom that NN % of seconds had.
    headrooms.sort_unstable_by(|a, b| b.total_cmp(a));
    let at = |percent: usize| {
        let rank = (percent * headrooms.len()).div_ceil(100).max(1);
        headrooms[rank - 1]
    };
    Some(HeadroomPercentiles {
        p50: at(50),
        p90: at(90),
        p99: at(99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, request};

    const SECOND: i64 = MICROS_PER_SECOND;

    fn t0() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap()
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + chrono::TimeDelta::hours(1)).unwrap()
    }

    /// A log of requests at these offsets (µs) from 10:00, all answered 200.
    fn request_log(offsets_us: &[i64]) -> RequestColumns {
        fixtures::log(
            offsets_us
                .iter()
                .map(|&offset| request(t0().timestamp_micros() + offset)),
        )
    }

    fn timeline(offsets_us: &[i64]) -> BudgetTimeline {
        budget_timeline(&request_log(offsets_us), &window(), &BudgetModel::meraki()).unwrap()
    }

    fn peak_at(second: i64, seconds: u32, requests: u64) -> Option<PeakRate> {
        Some(PeakRate {
            start: t0() + chrono::TimeDelta::seconds(second),
            seconds,
            requests,
            requests_per_second: requests as f64 / f64::from(seconds),
        })
    }

    #[test]
    fn an_empty_window_has_no_requests_peaks_or_headroom() {
        let t = timeline(&[]);
        assert_eq!(
            t,
            BudgetTimeline {
                window: window(),
                budget: BudgetModel::meraki(),
                total_requests: 0,
                active_seconds: 0,
                refused_by_replay: 0,
                seconds_with_refusals: 0,
                seconds_at_or_over_rate: 0,
                seconds_at_or_over_limit: 0,
                peak_1s: None,
                peak_10s: None,
                peak_60s: None,
                headroom: None,
            }
        );
    }

    #[test]
    fn one_request_leaves_nine_tenths_of_its_second() {
        let t = timeline(&[1_500_000]);
        assert_eq!((t.total_requests, t.active_seconds), (1, 1));
        assert_eq!((t.refused_by_replay, t.seconds_at_or_over_limit), (0, 0));
        assert_eq!(t.peak_1s, peak_at(1, 1, 1));
        assert_eq!(
            t.headroom,
            Some(HeadroomPercentiles {
                p50: 0.9,
                p90: 0.9,
                p99: 0.9
            })
        );
    }

    #[test]
    fn forty_requests_in_one_second_admit_twenty_and_put_one_second_over_the_limit() {
        let t = timeline(&[5 * SECOND; 40]);
        assert_eq!(t.total_requests, 40);
        assert_eq!(t.refused_by_replay, 20);
        assert_eq!(t.seconds_with_refusals, 1);
        assert_eq!(t.seconds_at_or_over_rate, 1);
        assert_eq!(t.seconds_at_or_over_limit, 1);
        assert_eq!(t.peak_1s, peak_at(5, 1, 40));
        assert_eq!(t.peak_10s, peak_at(5, 10, 40));
        assert_eq!(t.peak_60s, peak_at(5, 60, 40));
        assert_eq!(t.headroom.map(|h| (h.p50, h.p99)), Some((-3.0, -3.0)));
    }

    #[test]
    fn the_replay_sorts_skewed_timestamps_first() {
        // 25 requests a millisecond apart, as 25 records in reverse order: a full bucket admits 20
        // and refills only a quarter token in 24 ms.
        let mut offsets: Vec<i64> = (0..25).map(|i| i * 1_000).collect();
        offsets.reverse();
        let t = timeline(&offsets);
        assert_eq!(t.refused_by_replay, 5);
        assert_eq!(t.seconds_with_refusals, 1);
        assert_eq!(t.peak_1s, peak_at(0, 1, 25));
    }

    #[test]
    fn a_second_at_the_rate_is_at_the_limit_without_refusals() {
        let t = timeline(&(0..10).map(|i| 30 * SECOND + i * 1_000).collect::<Vec<_>>());
        assert_eq!(t.refused_by_replay, 0);
        assert_eq!(t.seconds_with_refusals, 0);
        assert_eq!(t.seconds_at_or_over_rate, 1);
        assert_eq!(t.seconds_at_or_over_limit, 1);
    }

    #[test]
    fn peaks_slide_over_seconds_and_headroom_ranks_active_seconds() {
        // 5 requests at 0 s and 9 s, 3 at 10 s, 1 at 65 s.
        let mut offsets = vec![0; 5];
        offsets.extend([9 * SECOND; 5]);
        offsets.extend([10 * SECOND; 3]);
        offsets.push(65 * SECOND);
        let t = timeline(&offsets);
        assert_eq!(t.peak_1s, peak_at(0, 1, 5));
        assert_eq!(t.peak_10s, peak_at(0, 10, 10));
        assert_eq!(t.peak_60s, peak_at(0, 60, 13));
        assert_eq!(t.active_seconds, 4);
        assert_eq!(
            t.headroom,
            Some(HeadroomPercentiles {
                p50: 0.7,
                p90: 0.5,
                p99: 0.5
            })
        );
    }

    #[test]
    fn a_rate_of_zero_is_refused() {
        let budget = BudgetModel::token_bucket(callbudget_api::budget::BucketLimits {
            rate_per_second: 0.0,
            burst: 10.0,
        });
        assert!(matches!(
            budget_timeline(&request_log(&[]), &window(), &budget),
            Err(AnalysisError::InvalidRate(_))
        ));
    }
}
