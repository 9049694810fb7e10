//! The aggregated series the report's charts are drawn from, computed once per audit in one pass
//! over the log's columns: requests per time bucket by response class with each bucket's
//! busiest second, the top consumers' requests and 429s per bucket, requests per UTC hour and
//! day, the 429 episodes as bucket spans, and each consumer's retry delays as a histogram.
//!
//! Whatever the size of the log, a series holds at most [`MAX_BUCKETS`] buckets (the bucket widens
//! with the window), so drawing costs the same for an hour and for 10 M records over a month.

use super::columns::{RequestColumns, TOO_MANY_REQUESTS};
use super::retries::{EarlyRetryRule, RetryDelays, retries_of};
use super::{
    AnalysisError, AnalysisWindow, ConsumerKey, ConsumerUsage, RetryAnalysis, RetryOptions,
    SpikeEpisode,
};
use callbudget_api::timestamp::{MICROS_PER_HOUR, MICROS_PER_SECOND};
use chrono::{DateTime, NaiveDate, Utc};
use std::time::Duration;

/// The most time buckets a series holds: a 24 h window gets 1-minute buckets, a 31-day window
/// 30-minute ones.
pub const MAX_BUCKETS: usize = 1_500;
/// How many of the top consumers get a timeline of their own (the rest are "others").
pub const CONSUMER_SERIES: usize = 8;
/// How many consumers get a retry-delay histogram (those with the most early retries).
pub const RETRY_SERIES: usize = 6;
/// Retry-delay histogram bins per decade of seconds (log-spaced, so 0.1 s and 60 s both read).
pub const RETRY_DELAY_BINS_PER_DECADE: i32 = 10;
/// The first bin's upper edge is 10^(this / bins per decade) s (10 ms); earlier retries fall in
/// it.
const RETRY_DELAY_FIRST_EDGE_EXPONENT: i32 = -20;
/// The last bin's lower edge is 10^(this / bins per decade) s (≈ 251 s, under the 5-minute
/// horizon); later retries fall in it.
const RETRY_DELAY_LAST_EDGE_EXPONENT: i32 = 24;

/// Bucket widths to choose from, in seconds: round ones, so tick labels fall on them.
const BUCKET_WIDTHS_SECONDS: [i64; 13] = [
    60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 604_800,
];

/// What a response says about the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseClass {
    Success,
    Redirect,
    /// 4xx other than 429: the caller's mistake, still a call spent.
    ClientError,
    /// 429: refused by the budget.
    TooManyRequests,
    ServerError,
    /// No status, or one outside 200–599.
    Unknown,
}

impl ResponseClass {
    pub const COUNT: usize = 6;
    /// Stacking order: successes at the bottom, refusals on top where they show.
    pub const ALL: [ResponseClass; Self::COUNT] = [
        ResponseClass::Success,
        ResponseClass::Redirect,
        ResponseClass::ClientError,
        ResponseClass::ServerError,
        ResponseClass::Unknown,
        ResponseClass::TooManyRequests,
    ];

    pub fn of(code: Option<i32>) -> ResponseClass {
        match code {
            Some(TOO_MANY_REQUESTS) => ResponseClass::TooManyRequests,
            Some(200..=299) => ResponseClass::Success,
            Some(300..=399) => ResponseClass::Redirect,
            Some(400..=499) => ResponseClass::ClientError,
            Some(500..=599) => ResponseClass::ServerError,
            _ => ResponseClass::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ResponseClass::Success => "2xx",
            ResponseClass::Redirect => "3xx",
            ResponseClass::ClientError => "4xx (not 429)",
            ResponseClass::TooManyRequests => "429 Too Many Requests",
            ResponseClass::ServerError => "5xx",
            ResponseClass::Unknown => "no status",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests per response class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCounts([u64; ResponseClass::COUNT]);

impl ClassCounts {
    pub fn get(&self, class: ResponseClass) -> u64 {
        self.0[class.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    fn add(&mut self, class: ResponseClass) {
        self.0[class.index()] += 1;
    }
}

/// One time bucket of the window: `[start, end)`, the last one cut at the window's end.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub requests: ClassCounts,
    /// The most requests in one calendar second of the bucket: an average over a minute or an
    /// hour hides the saturated seconds the budget refuses in.
    pub busiest_second: u64,
}

impl TimeBucket {
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_seconds_f64()
    }

    /// Requests of `class` per second, averaged over the bucket.
    pub fn rate(&self, class: ResponseClass) -> f64 {
        self.requests.get(class) as f64 / self.seconds().max(f64::MIN_POSITIVE)
    }
}

/// One top consumer's requests and 429s per bucket (same buckets as [`AuditSeries::buckets`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSeries {
    /// As in [`ConsumerUsage::consumer`]; `None` for records without the field.
    pub consumer: Option<String>,
    pub requests: Vec<u64>,
    pub http_429s: Vec<u64>,
}

/// Requests per UTC hour of each UTC day the window touches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourlyLoad {
    /// The UTC day of `requests[0]`; `None` for an empty window.
    pub first_day: Option<NaiveDate>,
    /// One row per day, one column per hour of the day (UTC).
    pub requests: Vec<[u64; 24]>,
}

/// A 429 episode as the buckets it covers (inclusive), for shading.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeSpan {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub first_bucket: usize,
    pub last_bucket: usize,
    pub http_429s: u64,
}

/// One consumer's retry delays after 429s, binned on [`AuditSeries::retry_delay_edges_seconds`].
#[derive(Debug, Clone, PartialEq)]
pub struct RetryDelayHistogram {
    /// As [`super::RetryBehaviour::consumer`]; `None` for records without a user agent.
    pub consumer: Option<String>,
    /// Retries per bin.
    pub retries: Vec<u64>,
    /// Of those, per bin, the retries sent before Retry-After could have passed (at most
    /// [`AuditSeries::early_at_most`] after the refusal, as [`EarlyRetryRule`] judges them): a bin
    /// can straddle that line.
    pub early: Vec<u64>,
    /// Of the early ones, those beyond the consumer's own rhythm of repeating calls
    /// ([`super::RetryBehaviour::early_beyond_rhythm`]): what its findings count.
    pub early_beyond_rhythm: u64,
}

impl RetryDelayHistogram {
    pub fn total(&self) -> u64 {
        self.retries.iter().sum()
    }

    pub fn early_retries(&self) -> u64 {
        self.early.iter().sum()
    }
}

/// Everything the charts draw, aggregated (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditSeries {
    /// The width of every bucket but the last, which the window's end may cut short.
    pub bucket_width: Duration,
    /// Contiguous, from the window's start to its end; empty only for a default series.
    pub buckets: Vec<TimeBucket>,
    /// The top consumers, in the audit's ranking order (up to [`CONSUMER_SERIES`]).
    pub consumers: Vec<ConsumerSeries>,
    /// The requests of every consumer not in `consumers`, per bucket (empty without consumers).
    pub other_consumers: Vec<u64>,
    pub hourly: HourlyLoad,
    pub episodes: Vec<EpisodeSpan>,
    /// Bin edges of the retry-delay histograms, in seconds; the first bin also holds earlier
    /// retries and the last later ones.
    pub retry_delay_edges_seconds: Vec<f64>,
    /// In the audit's retry order (most early retries first), consumers with retries only.
    pub retry_delays: Vec<RetryDelayHistogram>,
    /// The least Retry-After the API sends.
    pub retry_after: Duration,
    /// What the log's timestamps and clients' timers leave uncertain (see [`EarlyRetryRule`]).
    pub retry_tolerance: Duration,
    /// `retry_after − retry_tolerance`: a retry at most this long after its refusal is early.
    /// Zero when the log cannot prove any retry early.
    pub early_at_most: Duration,
}

/// What [`AuditSeries::compute`] needs from the rest of the audit.
pub struct SeriesInputs<'a> {
    pub consumer_key: ConsumerKey,
    /// The audit's ranked consumers (empty when the log cannot tell them apart).
    pub consumers: &'a [ConsumerUsage],
    pub spikes: &'a [SpikeEpisode],
    /// The audit's retry behaviour (none, or no retries: no retry histograms are computed).
    pub retries: Option<&'a RetryAnalysis>,
    pub retry_options: &'a RetryOptions,
}

impl AuditSeries {
    /// Aggregates `log`, the request log of `window`, for the charts. Records outside the
    /// window are left out.
    pub fn compute(
        log: &RequestColumns,
        window: &AnalysisWindow,
        inputs: &SeriesInputs<'_>,
    ) -> Result<AuditSeries, AnalysisError> {
        let delays = match inputs.retries {
            Some(retries) if retries.behaviours.iter().any(|r| r.retried_429s > 0) => {
                retries_of(log, inputs.consumer_key, inputs.retry_options).delays
            }
            _ => Vec::new(),
        };
        Ok(Self::of_columns(log, window, inputs, delays))
    }

    /// [`AuditSeries::compute`] of the log's columns, with the retry delays the retry detector
    /// paired (see [`super::retries::Retries`]).
    pub(crate) fn of_columns(
        log: &RequestColumns,
        window: &AnalysisWindow,
        inputs: &SeriesInputs<'_>,
        delays: Vec<RetryDelays>,
    ) -> AuditSeries {
        let width_s = bucket_width_seconds(window);
        let width_us = width_s * MICROS_PER_SECOND;
        let (start_us, end_us) = (window.start_us(), window.end_us());
        let bucket_count = ((end_us - start_us) as u64).div_ceil(width_us as u64) as usize;
        let window_seconds = ((end_us - start_us) as u64).div_ceil(MICROS_PER_SECOND as u64);
        let first_midnight_us = start_us.div_euclid(24 * MICROS_PER_HOUR) * 24 * MICROS_PER_HOUR;
        let days = ((end_us - 1 - first_midnight_us).div_euclid(24 * MICROS_PER_HOUR) + 1) as usize;

        let top: Vec<Option<&str>> = inputs
            .consumers
            .iter()
            .take(CONSUMER_SERIES)
            .map(|c| c.consumer.as_deref())
            .collect();
        let has_consumers = !inputs.consumers.is_empty();
        let others_slot = top.len();

        let mut classes = vec![ClassCounts::default(); bucket_count];
        // Requests per second of the window, to find each bucket's busiest second. u16 saturates
        // at 65,535 requests in a second, far past any organization's budget; a year-long window
        // costs 63 MB here.
        let mut per_second: Vec<u16> = Vec::new();
        let mut hourly = vec![[0u64; 24]; days];
        // One row per top consumer, then "others".
        let mut consumer_requests = vec![vec![0u64; bucket_count]; others_slot + 1];
        let mut consumer_429s = vec![vec![0u64; bucket_count]; others_slot];

        // Each sender's slot: a top consumer's index, or "others" (none without consumers).
        let null_slot = top.iter().position(Option::is_none).unwrap_or(others_slot);
        let slots: Vec<Option<usize>> = log
            .senders
            .iter()
            .map(|sender| {
                has_consumers.then(|| match inputs.consumer_key.consumer_of(sender) {
                    None => null_slot,
                    Some(name) => top
                        .iter()
                        .position(|t| *t == Some(name))
                        .unwrap_or(others_slot),
                })
            })
            .collect();
        if !log.is_empty() {
            per_second = vec![0u16; window_seconds as usize];
        }
        for row in log.rows_between(start_us, end_us) {
            let ts = log.ts_us[row];
            let offset = ts - start_us;
            let bucket = (offset / width_us) as usize;
            let class = ResponseClass::of(log.status_code(row));
            classes[bucket].add(class);
            let second = &mut per_second[(offset / MICROS_PER_SECOND) as usize];
            *second = second.saturating_add(1);
            let hour = ((ts - first_midnight_us) / MICROS_PER_HOUR) as usize;
            hourly[hour / 24][hour % 24] += 1;
            if let Some(slot) = slots[log.sender[row] as usize] {
                consumer_requests[slot][bucket] += 1;
                if slot < others_slot && class == ResponseClass::TooManyRequests {
                    consumer_429s[slot][bucket] += 1;
                }
            }
        }

        let seconds_per_bucket = width_s as usize;
        let buckets = classes
            .into_iter()
            .enumerate()
            .map(|(i, requests)| {
                let bucket_start = start_us + i as i64 * width_us;
                let busiest_second = per_second
                    .chunks(seconds_per_bucket)
                    .nth(i)
                    .and_then(|s| s.iter().max())
                    .map_or(0, |&n| u64::from(n));
                TimeBucket {
                    start: callbudget_api::timestamp::from_micros(bucket_start),
                    end: callbudget_api::timestamp::from_micros(
                        (bucket_start + width_us).min(end_us),
                    ),
                    requests,
                    busiest_second,
                }
            })
            .collect();

        let other_consumers = if has_consumers {
            consumer_requests.pop().unwrap_or_default()
        } else {
            Vec::new()
        };
        let consumers = top
            .iter()
            .zip(consumer_requests)
            .zip(consumer_429s)
            .map(|((name, requests), http_429s)| ConsumerSeries {
                consumer: name.map(str::to_owned),
                requests,
                http_429s,
            })
            .collect();

        let last_bucket = bucket_count - 1;
        let bucket_of = |t: DateTime<Utc>| -> usize {
            let offset = (t.timestamp_micros() - start_us).clamp(0, end_us - start_us - 1);
            ((offset / width_us) as usize).min(last_bucket)
        };
        let episodes = inputs
            .spikes
            .iter()
            .map(|e| EpisodeSpan {
                start: e.start,
                end: e.end,
                first_bucket: bucket_of(e.start),
                // `end` is exclusive: the bucket of its last microsecond.
                last_bucket: bucket_of(e.end - chrono::TimeDelta::microseconds(1)),
                http_429s: e.http_429s,
            })
            .collect();

        let options = inputs.retry_options;
        let edges = retry_delay_edges_seconds();
        let rule = inputs
            .retries
            .map_or_else(|| EarlyRetryRule::new(options, 1), |r| r.rule);
        let retry_delays = match inputs.retries {
            Some(retries) if retries.behaviours.iter().any(|r| r.retried_429s > 0) => {
                retry_histograms(delays, retries, &edges)
            }
            _ => Vec::new(),
        };

        AuditSeries {
            bucket_width: Duration::from_secs(width_s as u64),
            buckets,
            consumers,
            other_consumers,
            hourly: HourlyLoad {
                first_day: Some(
                    callbudget_api::timestamp::from_micros(first_midnight_us).date_naive(),
                ),
                requests: hourly,
            },
            episodes,
            retry_delay_edges_seconds: edges,
            retry_delays,
            retry_after: options.retry_after,
            retry_tolerance: Duration::from_secs_f64(rule.tolerance_seconds),
            early_at_most: Duration::from_secs_f64(rule.early_at_most_seconds.max(0.0)),
        }
    }

    /// Requests of every class over the window (equals the records in the window).
    pub fn total_requests(&self) -> u64 {
        self.buckets.iter().map(|b| b.requests.total()).sum()
    }
}

/// The narrowest round width that keeps the window within [`MAX_BUCKETS`] buckets.
fn bucket_width_seconds(window: &AnalysisWindow) -> i64 {
    let seconds = ((window.end_us() - window.start_us()) as u64).div_ceil(MICROS_PER_SECOND as u64);
    let buckets = |width: i64| seconds.div_ceil(width as u64) as i64;
    BUCKET_WIDTHS_SECONDS
        .into_iter()
        .find(|&w| buckets(w) <= MAX_BUCKETS as i64)
        .unwrap_or_else(|| {
            // Longer than any window `analyze` accepts: whole weeks, as many as it takes.
            let week = BUCKET_WIDTHS_SECONDS[BUCKET_WIDTHS_SECONDS.len() - 1];
            buckets(week * MAX_BUCKETS as i64) * week
        })
}

/// The retry-delay histogram's bin edges in seconds, log-spaced (see the constants).
pub fn retry_delay_edges_seconds() -> Vec<f64> {
    (RETRY_DELAY_FIRST_EDGE_EXPONENT - 1..=RETRY_DELAY_LAST_EDGE_EXPONENT + 1)
        .map(|k| 10f64.powf(f64::from(k) / f64::from(RETRY_DELAY_BINS_PER_DECADE)))
        .collect()
}

fn retry_histograms(
    mut delays: Vec<RetryDelays>,
    analysis: &RetryAnalysis,
    edges: &[f64],
) -> Vec<RetryDelayHistogram> {
    let bins = edges.len() - 1;
    analysis
        .behaviours
        .iter()
        .filter(|b| b.retried_429s > 0)
        .take(RETRY_SERIES)
        .filter_map(|b| {
            let at = delays.iter().position(|d| d.consumer == b.consumer)?;
            let consumer = delays.swap_remove(at);
            let mut retries = vec![0u64; bins];
            let mut early = vec![0u64; bins];
            for delay in &consumer.delays {
                // Bin i holds [edges[i], edges[i + 1]); the ends hold everything beyond them.
                let seconds = delay.as_secs_f64();
                let bin = edges[1..bins].partition_point(|&edge| edge <= seconds);
                retries[bin] += 1;
                early[bin] += u64::from(analysis.rule.is_early_delay(*delay));
            }
            Some(RetryDelayHistogram {
                consumer: consumer.consumer,
                retries,
                early,
                early_beyond_rhythm: b.early_beyond_rhythm,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, request};
    use crate::{consumer_usage, retry_behaviour};
    use callbudget_api::budget::BudgetModel;
    use chrono::TimeDelta;

    const SECOND: i64 = MICROS_PER_SECOND;
    const MINUTE: i64 = 60 * SECOND;
    const NOC: &str = "python-meraki/4.7.0 Caller/(NocPoller/2.1 Acme)";
    const NOC_OLD: &str = "python-meraki/4.6.0 Caller/(NocPoller/2.1 Acme)";
    const SCRIPT: &str = "PortPusher/0.9 AcmeNetEng";

    fn t0() -> DateTime<Utc> {
        callbudget_api::timestamp::parse("2026-11-19T22:00:00Z").unwrap()
    }

    fn window(hours: i64) -> AnalysisWindow {
        AnalysisWindow::new(t0(), t0() + TimeDelta::hours(hours)).unwrap()
    }

    /// (offset µs from 22:00, response code, user agent, path)
    type Req<'a> = (i64, Option<u16>, Option<&'a str>, &'a str);

    fn request_log(requests: &[Req<'_>]) -> RequestColumns {
        fixtures::log(requests.iter().map(|&(offset, code, user_agent, path)| {
            request(t0().timestamp_micros() + offset)
                .status(code)
                .path(path)
                .user_agent(user_agent)
        }))
    }

    /// The series as an audit computes it: consumers ranked by `consumer_usage`, retries by
    /// `retry_behaviour`.
    fn series(requests: &[Req<'_>], window: &AnalysisWindow) -> (AuditSeries, Vec<ConsumerUsage>) {
        let log = request_log(requests);
        let consumers = consumer_usage(
            &log,
            window,
            ConsumerKey::Application,
            &BudgetModel::meraki(),
            None,
        )
        .unwrap();
        let options = RetryOptions::default();
        let retries = retry_behaviour(&log, ConsumerKey::Application, &options).unwrap();
        let spikes = Vec::new();
        let inputs = SeriesInputs {
            consumer_key: ConsumerKey::Application,
            consumers: &consumers,
            spikes: &spikes,
            retries: Some(&retries),
            retry_options: &options,
        };
        (
            AuditSeries::compute(&log, window, &inputs).unwrap(),
            consumers,
        )
    }

    #[test]
    fn bucket_widths_keep_any_window_within_the_limit() {
        let width = |hours: i64| bucket_width_seconds(&window(hours));
        assert_eq!(width(1), 60);
        assert_eq!(width(24), 60);
        assert_eq!(width(25), 60);
        assert_eq!(width(26), 120);
        assert_eq!(width(7 * 24), 600);
        assert_eq!(width(31 * 24), 1_800);
        assert_eq!(width(366 * 24), 21_600);
        let century = width(100 * 366 * 24);
        assert_eq!(century % 604_800, 0);
        assert!((100 * 366 * 86_400u64).div_ceil(century as u64) <= MAX_BUCKETS as u64);
    }

    #[test]
    fn an_empty_log_has_every_bucket_empty() {
        let w = window(6);
        let (s, _) = series(&[], &w);
        assert_eq!(s.bucket_width, Duration::from_secs(60));
        assert_eq!(s.buckets.len(), 360);
        assert_eq!(s.total_requests(), 0);
        assert!(s.buckets.iter().all(|b| b.busiest_second == 0));
        assert!(s.consumers.is_empty() && s.other_consumers.is_empty());
        assert!(s.retry_delays.is_empty() && s.episodes.is_empty());
        assert_eq!(
            s.hourly.requests,
            vec![[0; 24]; 2],
            "22:00 to 04:00 spans two days"
        );
    }

    #[test]
    fn buckets_count_each_record_once_by_class_and_keep_the_busiest_second() {
        // 12 requests in the second 22:00:05, 3 more in that minute; a 429, a 503, a 404, a
        // 302 and one without a status in the next minute; one at the window's end (left out).
        let mut requests: Vec<Req<'_>> = vec![(5 * SECOND + 1, Some(200), Some(NOC), "/a"); 12];
        requests.extend([(59 * SECOND + 999_999, Some(200), Some(NOC), "/a"); 3]);
        requests.extend([
            (MINUTE, Some(429), Some(SCRIPT), "/p"),
            (MINUTE + 10 * SECOND, Some(503), Some(NOC), "/a"),
            (MINUTE + 20 * SECOND, Some(404), Some(NOC), "/a"),
            (MINUTE + 30 * SECOND, Some(302), Some(NOC), "/a"),
            (MINUTE + 40 * SECOND, None, Some(NOC), "/a"),
            (2 * 3_600 * SECOND, Some(200), Some(NOC), "/a"),
        ]);
        let w = window(2);
        let (s, _) = series(&requests, &w);
        assert_eq!(s.buckets.len(), 120);
        assert_eq!(s.total_requests(), 20);
        let first = &s.buckets[0];
        assert_eq!(
            (first.start, first.end),
            (t0(), t0() + TimeDelta::minutes(1))
        );
        assert_eq!(first.requests.get(ResponseClass::Success), 15);
        assert_eq!(first.busiest_second, 12);
        assert_eq!(first.rate(ResponseClass::Success), 0.25);
        let second = &s.buckets[1];
        assert_eq!(second.start, t0() + TimeDelta::minutes(1));
        let counts: Vec<u64> = ResponseClass::ALL
            .iter()
            .map(|&c| second.requests.get(c))
            .collect();
        // Success, Redirect, ClientError, ServerError, Unknown, TooManyRequests
        assert_eq!(counts, vec![0, 1, 1, 1, 1, 1]);
        assert_eq!(second.busiest_second, 1);
        assert!(s.buckets[2..].iter().all(|b| b.requests.total() == 0));
        let last = s.buckets.last().unwrap();
        assert_eq!(last.end, w.end);
    }

    #[test]
    fn a_window_that_does_not_divide_into_buckets_ends_with_a_short_one() {
        let w = AnalysisWindow::new(t0(), t0() + TimeDelta::seconds(150)).unwrap();
        let (s, _) = series(&[(149 * SECOND, Some(200), Some(NOC), "/a")], &w);
        assert_eq!(s.buckets.len(), 3);
        assert_eq!(s.buckets[2].seconds(), 30.0);
        assert_eq!(s.buckets[2].requests.total(), 1);
        assert_eq!(s.buckets[2].rate(ResponseClass::Success), 1.0 / 30.0);
    }

    #[test]
    fn consumers_follow_the_audit_ranking_and_sum_to_their_requests() {
        // NocPoller on two SDK versions is one application; the script is refused twice.
        let mut requests: Vec<Req<'_>> = (0..30)
            .map(|i| (i * SECOND, Some(200), Some(NOC), "/a"))
            .collect();
        requests.extend((0..10).map(|i| (MINUTE + i * SECOND, Some(200), Some(NOC_OLD), "/a")));
        requests.extend([
            (3 * MINUTE, Some(429), Some(SCRIPT), "/p"),
            (3 * MINUTE + SECOND, Some(429), Some(SCRIPT), "/p"),
            (4 * MINUTE, Some(200), None, "/x"),
        ]);
        let w = window(1);
        let (s, consumers) = series(&requests, &w);
        let names: Vec<Option<&str>> = s.consumers.iter().map(|c| c.consumer.as_deref()).collect();
        let ranked: Vec<Option<&str>> = consumers.iter().map(|c| c.consumer.as_deref()).collect();
        assert_eq!(names, ranked);
        assert_eq!(names, vec![Some("NocPoller/2.1 Acme"), Some(SCRIPT), None]);
        for (series, usage) in s.consumers.iter().zip(&consumers) {
            assert_eq!(series.requests.iter().sum::<u64>(), usage.requests);
            assert_eq!(series.http_429s.iter().sum::<u64>(), usage.http_429s);
        }
        let noc = &s.consumers[0];
        assert_eq!((noc.requests[0], noc.requests[1]), (30, 10));
        assert_eq!(s.consumers[1].http_429s[3], 2);
        assert_eq!(s.other_consumers.iter().sum::<u64>(), 0);
    }

    #[test]
    fn consumers_past_the_top_are_summed_as_others() {
        let agents: Vec<String> = (0..CONSUMER_SERIES + 3)
            .map(|i| format!("App{i}/1"))
            .collect();
        // App0 sends 1 request, App1 2, …: the ranking puts the biggest first.
        let requests: Vec<Req<'_>> = agents
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                (0..=i as i64).map(move |j| (j * SECOND, Some(200), Some(a.as_str()), "/a"))
            })
            .collect();
        let (s, consumers) = series(&requests, &window(1));
        assert_eq!(s.consumers.len(), CONSUMER_SERIES);
        assert_eq!(s.consumers[0].consumer.as_deref(), Some("App10/1"));
        let others: u64 = consumers[CONSUMER_SERIES..]
            .iter()
            .map(|c| c.requests)
            .sum();
        assert_eq!(others, 1 + 2 + 3);
        assert_eq!(s.other_consumers.iter().sum::<u64>(), others);
    }

    #[test]
    fn hours_are_utc_hours_of_utc_days() {
        let requests: Vec<Req<'_>> = vec![
            (0, Some(200), Some(NOC), "/a"),
            (59 * MINUTE, Some(200), Some(NOC), "/a"),
            (2 * 60 * MINUTE + 1, Some(429), Some(NOC), "/a"),
            (2 * 60 * MINUTE + 2, Some(200), Some(NOC), "/a"),
        ];
        let (s, _) = series(&requests, &window(4));
        assert_eq!(s.hourly.first_day, NaiveDate::from_ymd_opt(2026, 11, 19));
        assert_eq!(s.hourly.requests.len(), 2);
        assert_eq!(s.hourly.requests[0][22], 2);
        assert_eq!(s.hourly.requests[1][0], 2);
        let total: u64 = s.hourly.requests.iter().flatten().sum();
        assert_eq!(total, s.total_requests());
    }

    #[test]
    fn episodes_cover_the_buckets_they_touch() {
        let log = request_log(&[]);
        let w = window(1);
        let episode = |start: i64, end: i64| SpikeEpisode {
            start: t0() + TimeDelta::minutes(start),
            end: t0() + TimeDelta::minutes(end),
            http_429s: 7,
            peak_429_per_minute: 5,
            baseline_429_per_minute: 0.0,
            most_refused: Vec::new(),
            top_senders_at_start: Vec::new(),
        };
        let spikes = vec![episode(3, 6), episode(58, 60)];
        let options = RetryOptions::default();
        let inputs = SeriesInputs {
            consumer_key: ConsumerKey::Application,
            consumers: &[],
            spikes: &spikes,
            retries: None,
            retry_options: &options,
        };
        let s = AuditSeries::compute(&log, &w, &inputs).unwrap();
        let spans: Vec<(usize, usize, u64)> = s
            .episodes
            .iter()
            .map(|e| (e.first_bucket, e.last_bucket, e.http_429s))
            .collect();
        assert_eq!(spans, vec![(3, 5, 7), (58, 59, 7)]);
    }

    #[test]
    fn retry_delays_are_binned_per_consumer_with_early_ones_counted() {
        // The script retries 200 ms after each 429; the SDK app waits 1.5 s, then 3 s.
        let mut requests: Vec<Req<'_>> = Vec::new();
        for i in 0..4 {
            let at = i * MINUTE;
            requests.push((at, Some(429), Some(SCRIPT), "/p"));
            requests.push((at + 200_000, Some(200), Some(SCRIPT), "/p"));
        }
        requests.extend([
            (0, Some(429), Some(NOC), "/a"),
            (1_500_000, Some(429), Some(NOC), "/a"),
            (4_500_000, Some(200), Some(NOC), "/a"),
        ]);
        let (s, _) = series(&requests, &window(1));
        let edges = &s.retry_delay_edges_seconds;
        assert_eq!(edges.len(), 47);
        assert!((edges[1] - 0.01).abs() < 1e-12 && (edges[21] - 1.0).abs() < 1e-12);
        let by_consumer: Vec<(Option<&str>, u64, u64)> = s
            .retry_delays
            .iter()
            .map(|h| (h.consumer.as_deref(), h.total(), h.early_retries()))
            .collect();
        // Named as the consumers table names them: the application, not the SDK's user agent.
        assert_eq!(
            by_consumer,
            vec![(Some(SCRIPT), 4, 4), (Some("NocPoller/2.1 Acme"), 2, 0)]
        );
        let bin_of = |seconds: f64| edges.partition_point(|&e| e <= seconds) - 1;
        assert_eq!(s.retry_delays[0].retries[bin_of(0.2)], 4);
        assert_eq!(s.retry_delays[1].retries[bin_of(1.5)], 1);
        assert_eq!(s.retry_delays[1].retries[bin_of(3.0)], 1);
        // Timestamps to the millisecond: 1 s − (1 ms + a 16 ms tick).
        assert_eq!(s.retry_tolerance, Duration::from_millis(17));
        assert_eq!(s.early_at_most, Duration::from_millis(983));
    }

    #[test]
    fn a_bin_that_straddles_the_early_line_counts_both_sides() {
        // With millisecond timestamps 0.983 s is early and 0.984 s is not, though one bin
        // [0.7943, 1.0) holds 0.95 s, 0.983 s and 0.984 s.
        let requests: Vec<Req<'_>> = [950_000, 983_000, 984_000]
            .into_iter()
            .enumerate()
            .flat_map(|(i, delay)| {
                let at = i as i64 * MINUTE;
                [
                    (at, Some(429), Some(SCRIPT), "/p"),
                    (at + delay, Some(200), Some(SCRIPT), "/p"),
                ]
            })
            .collect();
        let (s, _) = series(&requests, &window(1));
        let h = &s.retry_delays[0];
        let bin = h.retries.iter().position(|&n| n > 0).unwrap();
        assert_eq!((h.retries[bin], h.early[bin]), (3, 2));
        assert_eq!(h.total(), 3);
    }
}
