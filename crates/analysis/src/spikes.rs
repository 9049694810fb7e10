//! Detector 2, 429 spikes: minutes whose 429 count rises well above its own recent baseline,
//! merged into episodes, each with who was refused and who was sending when it began (the cause
//! is often not the one being refused).
//!
//! Baseline: the median and MAD of the trailing [`SpikeOptions::baseline_minutes`] minutes of the
//! window (minutes before the window are unknown and count as none, so the first minutes of a
//! window compare against a quiet baseline). A minute is a spike minute when its 429s reach
//! [`SpikeOptions::min_429_per_minute`] and exceed `median + threshold × scale`, where scale is
//! the MAD scaled to a standard deviation (× 1.4826), but at least √median and at least 1 — the
//! Poisson noise of a count, so that a baseline of zeros does not flag every stray 429. While an
//! episode lasts (spike minutes at most [`SpikeOptions::max_gap_minutes`] apart), its minutes are
//! judged against the baseline it began with.

use super::columns::{RequestColumns, TOO_MANY_REQUESTS};
use super::{AnalysisError, AnalysisWindow, ConsumerKey};
use callbudget_api::timestamp::MICROS_PER_MINUTE;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// MAD × this estimates the standard deviation of normally distributed counts.
const MAD_TO_SIGMA: f64 = 1.4826;
/// How many consumers each episode names per role.
const CONSUMERS_PER_EPISODE: usize = 3;

/// How spike minutes are found and merged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpikeOptions {
    /// Minutes of trailing history the baseline is taken over.
    pub baseline_minutes: u32,
    /// How many baseline scales above the baseline median a spike minute must be.
    pub threshold: f64,
    /// The fewest 429s a minute needs to be a spike minute, however quiet the baseline.
    pub min_429_per_minute: u64,
    /// Spike minutes at most this many minutes apart belong to one episode.
    pub max_gap_minutes: u32,
}

impl Default for SpikeOptions {
    fn default() -> Self {
        SpikeOptions {
            baseline_minutes: 60,
            threshold: 3.0,
            min_429_per_minute: 5,
            max_gap_minutes: 2,
        }
    }
}

/// A run of minutes with 429s well above their baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikeEpisode {
    /// The start of the first spike minute.
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    /// The end of the last spike minute (exclusive).
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    /// 429s in `[start, end)`, quieter minutes inside the episode included.
    pub http_429s: u64,
    pub peak_429_per_minute: u64,
    /// The baseline median 429s per minute when the episode began.
    pub baseline_429_per_minute: f64,
    /// Who received the most 429s in the episode, most first (up to three).
    pub most_refused: Vec<EpisodeConsumer>,
    /// Who sent the most requests from a minute before the episode to the end of its first
    /// minute, most first (up to three).
    pub top_senders_at_start: Vec<EpisodeConsumer>,
}

/// A user agent (`None` for records without one) and how many requests it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerCount {
    pub user_agent: Option<String>,
    pub requests: u64,
}

/// A consumer in a spike episode, named as its consumer row names it
/// ([`ConsumerKey::client_name`]), and how many requests it counts there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpisodeConsumer {
    /// `None` for records without a user agent.
    pub consumer: Option<String>,
    /// The full user agent behind most of those requests (a detail).
    pub user_agent: Option<String>,
    pub requests: u64,
}

/// Finds the 429 spike episodes of `log`, the request log of `window`; the consumers each names
/// are named as `key` names clients.
pub fn detect_spikes(
    log: &RequestColumns,
    window: &AnalysisWindow,
    options: &SpikeOptions,
    key: ConsumerKey,
) -> Result<Vec<SpikeEpisode>, AnalysisError> {
    Ok(spikes_of(log, window, options, key))
}

/// [`detect_spikes`] of the log's columns.
pub(crate) fn spikes_of(
    log: &RequestColumns,
    window: &AnalysisWindow,
    options: &SpikeOptions,
    key: ConsumerKey,
) -> Vec<SpikeEpisode> {
    let first_minute = window.start_us().div_euclid(MICROS_PER_MINUTE) * MICROS_PER_MINUTE;
    let per_minute = refusals_per_minute(log, first_minute, window.end_us());
    let mut episodes = Vec::new();
    for run in spike_runs(&per_minute, options) {
        let start_us = first_minute + run.first as i64 * MICROS_PER_MINUTE;
        let end_us = first_minute + (run.last as i64 + 1) * MICROS_PER_MINUTE;
        let minutes = &per_minute[run.first..=run.last];
        episodes.push(SpikeEpisode {
            // Minutes are counted whole; the episode never reaches outside the window.
            start: callbudget_api::timestamp::from_micros(start_us.max(window.start_us())),
            end: callbudget_api::timestamp::from_micros(end_us.min(window.end_us())),
            http_429s: minutes.iter().sum(),
            peak_429_per_minute: minutes.iter().copied().max().unwrap_or_default(),
            baseline_429_per_minute: run.baseline,
            most_refused: requests_by_consumer(log, start_us, end_us, true, key),
            top_senders_at_start: requests_by_consumer(
                log,
                start_us - MICROS_PER_MINUTE,
                start_us + MICROS_PER_MINUTE,
                false,
                key,
            ),
        });
    }
    episodes
}

/// 429s in every minute from `first_minute` (µs) up to `end_us`, zeros included.
fn refusals_per_minute(log: &RequestColumns, first_minute: i64, end_us: i64) -> Vec<u64> {
    let minutes = (end_us - first_minute).max(0).div_euclid(MICROS_PER_MINUTE)
        + i64::from((end_us - first_minute).rem_euclid(MICROS_PER_MINUTE) != 0);
    let mut counts = vec![0u64; usize::try_from(minutes).unwrap_or_default()];
    let first = first_minute.div_euclid(MICROS_PER_MINUTE);
    for (&ts, &status) in log.ts_us.iter().zip(&log.status) {
        if i32::from(status) != TOO_MANY_REQUESTS {
            continue;
        }
        // Records outside the window (a log not loaded for it) are not the window's spikes.
        let index = ts.div_euclid(MICROS_PER_MINUTE) - first;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
            *slot += 1;
        }
    }
    counts
}

/// A run of spike minutes, as indexes into the per-minute counts.
#[derive(Debug, PartialEq)]
struct SpikeRun {
    first: usize,
    last: usize,
    baseline: f64,
}

fn spike_runs(per_minute: &[u64], options: &SpikeOptions) -> Vec<SpikeRun> {
    let history = options.baseline_minutes as usize;
    let gap = options.max_gap_minutes as usize;
    let mut runs: Vec<SpikeRun> = Vec::new();
    let mut trailing = Vec::with_capacity(history);
    // While an episode lasts its baseline stays the one it began with: otherwise a sustained
    // episode would become its own baseline after a minute and end early.
    let mut episode_baseline: Option<(f64, f64)> = None;
    for (minute, &n) in per_minute.iter().enumerate() {
        let in_episode = runs.last().is_some_and(|run| minute - run.last <= gap);
        let (median, scale) = match episode_baseline {
            Some(baseline) if in_episode => baseline,
            _ => {
                let baseline = trailing_baseline(per_minute, minute, history, &mut trailing);
                episode_baseline = None;
                baseline
            }
        };
        let is_spike =
            n >= options.min_429_per_minute && n as f64 > median + options.threshold * scale;
        if !is_spike {
            continue;
        }
        match runs.last_mut() {
            Some(run) if in_episode => run.last = minute,
            _ => {
                episode_baseline = Some((median, scale));
                runs.push(SpikeRun {
                    first: minute,
                    last: minute,
                    baseline: median,
                });
            }
        }
    }
    runs
}

/// (median, scale) of the `history` minutes before `minute`; `scratch` is reused between calls.
fn trailing_baseline(
    per_minute: &[u64],
    minute: usize,
    history: usize,
    scratch: &mut Vec<f64>,
) -> (f64, f64) {
    scratch.clear();
    scratch.extend(
        per_minute[minute.saturating_sub(history)..minute]
            .iter()
            .map(|&c| c as f64),
    );
    let median = median_or_zero(scratch);
    for value in scratch.iter_mut() {
        *value = (*value - median).abs();
    }
    let mad = median_or_zero(scratch);
    (median, (MAD_TO_SIGMA * mad).max(median.sqrt()).max(1.0))
}

/// The median of `values` (reordered); 0 for none: a window's first minute has no history.
fn median_or_zero(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Requests (only 429s if `refused_only`) with `from_us <= ts < to_us`, by consumer, most
/// first; ties in name order, records without a user agent last.
fn requests_by_consumer(
    log: &RequestColumns,
    from_us: i64,
    to_us: i64,
    refused_only: bool,
    key: ConsumerKey,
) -> Vec<EpisodeConsumer> {
    let mut by_sender = vec![0u64; log.senders.len()];
    for row in log.rows_between(from_us, to_us) {
        if !refused_only || log.refused(row) {
            by_sender[log.sender[row] as usize] += 1;
        }
    }
    // By user agent, then by consumer: its requests, and its user agent with the most of them.
    let mut by_agent: HashMap<Option<&str>, u64> = HashMap::new();
    for (sender, &n) in log.senders.iter().zip(&by_sender) {
        if n > 0 {
            *by_agent.entry(sender.user_agent.as_deref()).or_default() += n;
        }
    }
    type Tally<'a> = (u64, Option<(&'a str, u64)>);
    let mut by_consumer: HashMap<Option<&str>, Tally<'_>> = HashMap::new();
    for (agent, n) in by_agent {
        let (total, top) = by_consumer
            .entry(agent.map(|ua| key.client_name(ua)))
            .or_default();
        *total += n;
        if let Some(agent) = agent
            && top.is_none_or(|(ua, most)| n > most || (n == most && agent < ua))
        {
            *top = Some((agent, n));
        }
    }
    let mut consumers: Vec<EpisodeConsumer> = by_consumer
        .into_iter()
        .map(|(consumer, (requests, top))| EpisodeConsumer {
            consumer: consumer.map(str::to_owned),
            user_agent: top.map(|(ua, _)| ua.to_owned()),
            requests,
        })
        .collect();
    consumers.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.consumer.is_none().cmp(&b.consumer.is_none()))
            .then_with(|| a.consumer.cmp(&b.consumer))
    });
    consumers.truncate(CONSUMERS_PER_EPISODE);
    consumers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, request};

    const MINUTE: i64 = MICROS_PER_MINUTE;

    fn at(text: &str) -> i64 {
        callbudget_api::timestamp::parse(text)
            .unwrap()
            .timestamp_micros()
    }

    /// 10:00, where every test window starts.
    fn t0() -> i64 {
        at("2026-11-19T10:00:00Z")
    }

    fn window() -> AnalysisWindow {
        AnalysisWindow::new(
            callbudget_api::timestamp::parse("2026-11-19T10:00:00Z").unwrap(),
            callbudget_api::timestamp::parse("2026-11-19T12:00:00Z").unwrap(),
        )
        .unwrap()
    }

    /// A log of (µs, response code, user agent) records.
    fn request_log(records: &[(i64, u16, Option<&str>)]) -> RequestColumns {
        fixtures::log(
            records.iter().map(|&(ts_us, code, user_agent)| {
                request(ts_us).status(code).user_agent(user_agent)
            }),
        )
    }

    /// `n` records in minute `minute` of the window, spread over its seconds.
    fn minute_of(
        minute: i64,
        n: usize,
        code: u16,
        agent: Option<&'static str>,
    ) -> Vec<(i64, u16, Option<&'static str>)> {
        (0..n)
            .map(|i| {
                (
                    t0() + minute * MINUTE + (i as i64 % 60) * 1_000_000 + i as i64,
                    code,
                    agent,
                )
            })
            .collect()
    }

    fn ua(name: &str, requests: u64) -> EpisodeConsumer {
        EpisodeConsumer {
            consumer: Some(name.to_owned()),
            user_agent: Some(name.to_owned()),
            requests,
        }
    }

    fn spikes(log: &RequestColumns, window: &AnalysisWindow) -> Vec<SpikeEpisode> {
        detect_spikes(
            log,
            window,
            &SpikeOptions::default(),
            ConsumerKey::Application,
        )
        .unwrap()
    }

    fn minute_time(minute: i64) -> DateTime<Utc> {
        callbudget_api::timestamp::from_micros(t0() + minute * MINUTE)
    }

    #[test]
    fn an_episode_never_reaches_outside_a_window_not_aligned_to_the_minute() {
        let window = AnalysisWindow::new(
            callbudget_api::timestamp::parse("2026-11-19T10:00:30Z").unwrap(),
            callbudget_api::timestamp::parse("2026-11-19T10:05:30Z").unwrap(),
        )
        .unwrap();
        // 30 × 429 at 10:00:40 and at 10:05:10: two episodes, in the window's first and last minute.
        let mut records: Vec<_> = (0..30)
            .map(|i| (t0() + 40_000_000 + i, 429, Some("a")))
            .collect();
        records.extend((0..30).map(|i| (t0() + 5 * MINUTE + 10_000_000 + i, 429, Some("a"))));
        let episodes = spikes(&request_log(&records), &window);
        assert_eq!(episodes.len(), 2, "{episodes:?}");
        assert_eq!(
            (episodes[0].start, episodes[0].end),
            (window.start, minute_time(1))
        );
        assert_eq!(
            (episodes[1].start, episodes[1].end),
            (minute_time(5), window.end)
        );
        assert_eq!(episodes[0].http_429s + episodes[1].http_429s, 60);
    }

    #[test]
    fn an_empty_window_has_no_episodes() {
        let episodes = spikes(&request_log(&[]), &window());
        assert_eq!(episodes, []);
    }

    #[test]
    fn one_429_is_not_a_spike() {
        let log = request_log(&[(t0() + 5 * MINUTE, 429, Some("a"))]);
        let episodes = spikes(&log, &window());
        assert_eq!(episodes, []);
    }

    #[test]
    fn a_window_of_only_429s_is_one_episode_even_with_skewed_clocks() {
        let mut records: Vec<_> = (0..3)
            .flat_map(|m| minute_of(m, 10, 429, Some("a")))
            .collect();
        records.reverse();
        records.swap(0, 17);
        let episodes = spikes(&request_log(&records), &window());
        assert_eq!(
            episodes,
            [SpikeEpisode {
                start: minute_time(0),
                end: minute_time(3),
                http_429s: 30,
                peak_429_per_minute: 10,
                baseline_429_per_minute: 0.0,
                most_refused: vec![ua("a", 30)],
                top_senders_at_start: vec![ua("a", 10)],
            }]
        );
    }

    #[test]
    fn spikes_are_measured_against_the_baseline_not_a_fixed_threshold() {
        // 2/min for half an hour, then a steady 6/min (above a fixed threshold of 5, but not well
        // above its baseline) with 30 and 25 at minutes 50 and 52.
        let mut records = Vec::new();
        for m in 0..80 {
            let n = match m {
                0..30 => 2,
                50 => 30,
                52 => 25,
                _ => 6,
            };
            records.extend(minute_of(m, n, 429, Some("a")));
        }
        let episodes = spikes(&request_log(&records), &window());
        assert_eq!(episodes.len(), 1, "{episodes:?}");
        let episode = &episodes[0];
        assert_eq!(
            (episode.start, episode.end),
            (minute_time(50), minute_time(53))
        );
        assert_eq!(episode.http_429s, 30 + 6 + 25);
        assert_eq!(episode.peak_429_per_minute, 30);
        assert_eq!(episode.baseline_429_per_minute, 2.0);
    }

    #[test]
    fn spike_minutes_more_than_two_minutes_apart_are_separate_episodes() {
        let mut records = minute_of(10, 20, 429, Some("a"));
        records.extend(minute_of(14, 20, 429, Some("a")));
        let episodes = spikes(&request_log(&records), &window());
        let spans: Vec<_> = episodes.iter().map(|e| (e.start, e.end)).collect();
        assert_eq!(
            spans,
            [
                (minute_time(10), minute_time(11)),
                (minute_time(14), minute_time(15))
            ]
        );
    }

    #[test]
    fn an_episode_names_an_application_once_whatever_its_sdk_versions() {
        const NEW: &str = "python-meraki/4.7.0 Caller/(Poller/2 Acme)";
        const OLD: &str = "python-meraki/4.6.0 Caller/(Poller/2 Acme)";
        let mut records = minute_of(10, 12, 429, Some(NEW));
        records.extend(minute_of(10, 8, 429, Some(OLD)));
        let log = request_log(&records);
        let episodes = spikes(&log, &window());
        assert_eq!(
            episodes[0].most_refused,
            vec![EpisodeConsumer {
                consumer: Some("Poller/2 Acme".to_owned()),
                user_agent: Some(NEW.to_owned()),
                requests: 20
            }]
        );
        // Grouped by user agent, each version is named in full.
        let by_agent = detect_spikes(
            &log,
            &window(),
            &SpikeOptions::default(),
            ConsumerKey::UserAgent,
        )
        .unwrap();
        let names: Vec<_> = by_agent[0]
            .most_refused
            .iter()
            .map(|c| (c.consumer.as_deref(), c.requests))
            .collect();
        assert_eq!(names, vec![(Some(NEW), 12), (Some(OLD), 8)]);
    }

    #[test]
    fn an_episode_names_who_was_refused_and_who_was_sending_when_it_began() {
        let mut records = minute_of(9, 30, 200, Some("noisy"));
        records.extend(minute_of(10, 20, 200, Some("noisy")));
        records.extend(minute_of(10, 12, 429, Some("victim")));
        // A record without a user agent is counted, under `None`, and sorts after named ones.
        records.extend(minute_of(10, 6, 429, None));
        records.extend(minute_of(11, 40, 200, Some("late")));
        let episodes = spikes(&request_log(&records), &window());
        assert_eq!(
            episodes,
            [SpikeEpisode {
                start: minute_time(10),
                end: minute_time(11),
                http_429s: 18,
                peak_429_per_minute: 18,
                baseline_429_per_minute: 0.0,
                most_refused: vec![
                    ua("victim", 12),
                    EpisodeConsumer {
                        consumer: None,
                        user_agent: None,
                        requests: 6
                    }
                ],
                top_senders_at_start: vec![
                    ua("noisy", 50),
                    ua("victim", 12),
                    EpisodeConsumer {
                        consumer: None,
                        user_agent: None,
                        requests: 6
                    }
                ],
            }]
        );
    }
}
