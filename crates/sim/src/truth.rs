//! The simulator's ground truth: the full request log as JSONL (one record per line, in the API's
//! own shape) and the anomalies the scenario planted, so tests can compare what callbudget collected
//! and concluded with what happened.

use super::engine;
use super::log::{PathBuilder, RequestLog};
use super::scenario::{Backoff, Scenario, TargetKind, TrafficPattern};
use callbudget_api::budget::BucketLimits;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A minute with at least this many 429s is part of a spike episode.
pub const EPISODE_MIN_429_PER_MINUTE: u64 = 5;
/// Spike minutes at most this many minutes apart belong to one episode.
pub const EPISODE_MAX_GAP_MINUTES: i64 = 2;

/// What the scenarios planted and what the traffic produced.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    pub organizations: Vec<OrgTruth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgTruth {
    pub org_id: String,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    pub budget: BucketLimits,
    pub requests: u64,
    pub http_429s: u64,
    pub consumers: Vec<ConsumerTruth>,
    pub episodes: Vec<EpisodeTruth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerTruth {
    pub name: String,
    pub user_agent: String,
    pub admin_id: String,
    pub source_ip: String,
    pub client_id: String,
    pub honours_retry_after: bool,
    pub backoff: Backoff,
    pub jitter: bool,
    pub requests: u64,
    pub http_429s: u64,
    pub patterns: Vec<PatternTruth>,
}

/// A traffic pattern and the calls a day it plans (first tries, before any retry).
#[derive(Debug, Clone, Serialize)]
pub struct PatternTruth {
    pub kind: &'static str,
    pub operations: Vec<String>,
    pub target_kind: TargetKind,
    pub targets: Option<u32>,
    pub every_minutes: Option<f64>,
    pub planned_calls_per_day: f64,
}

/// A run of minutes with many 429s: the ground truth for spike detection.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeTruth {
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub start: DateTime<Utc>,
    #[serde(with = "callbudget_api::timestamp::serde_canonical")]
    pub end: DateTime<Utc>,
    pub http_429s: u64,
    pub peak_429_per_minute: u64,
    /// The consumer that received the most 429s in the episode.
    pub most_refused: String,
    /// The consumer that sent the most requests from a minute before the episode began to a minute
    /// after: who was pushing the budget over when the 429s started.
    pub top_sender_at_start: String,
}

fn pattern_truth(p: &TrafficPattern) -> PatternTruth {
    match p {
        TrafficPattern::Poll {
            operation,
            every,
            targets,
            ..
        } => {
            let every_minutes = every.as_secs_f64() / 60.0;
            PatternTruth {
                kind: "poll",
                operations: vec![operation.operation_id.clone()],
                target_kind: operation.target,
                targets: Some(*targets),
                every_minutes: Some(every_minutes),
                planned_calls_per_day: f64::from(*targets) * 1440.0 / every_minutes,
            }
        }
        TrafficPattern::Burst {
            operations,
            requests,
            weekdays_only,
            ..
        } => PatternTruth {
            kind: "burst",
            operations: operations.iter().map(|o| o.operation_id.clone()).collect(),
            target_kind: operations[0].target,
            targets: None,
            every_minutes: None,
            planned_calls_per_day: f64::from(*requests)
                * if *weekdays_only { 5.0 / 7.0 } else { 1.0 },
        },
        TrafficPattern::Trickle {
            operations,
            per_hour,
        } => PatternTruth {
            kind: "trickle",
            operations: operations.iter().map(|o| o.operation_id.clone()).collect(),
            target_kind: operations[0].target,
            targets: None,
            every_minutes: None,
            planned_calls_per_day: per_hour * 24.0,
        },
    }
}

/// The name given to requests the simulator served itself (they match no scenario consumer).
pub const SERVED_CALLS_CONSUMER: &str = "(calls served by the simulator)";

impl GroundTruth {
    /// What the simulated traffic did, per organization and consumer, as lines for a terminal.
    /// Names and user agents come from scenario files, so they pass the sanitiser.
    pub fn summary(&self) -> String {
        use callbudget_api::text::printable;
        use callbudget_api::timestamp::format;
        let mut out = String::new();
        for org in &self.organizations {
            out.push_str(&format!(
                "organization {}: {} requests from {} to {}, {} answered 429, {} spike episode(s)\n",
                printable(&org.org_id),
                org.requests,
                format(&org.start),
                format(&org.end),
                org.http_429s,
                org.episodes.len()
            ));
            for c in &org.consumers {
                out.push_str(&format!(
                    "  {:<24} {:>9} requests {:>7} x 429  {}\n",
                    printable(&c.name),
                    c.requests,
                    c.http_429s,
                    printable(&c.user_agent)
                ));
            }
            for e in &org.episodes {
                out.push_str(&format!(
                    "  429 episode {} to {}: {} x 429 (peak {}/min), most refused: {}, top sender: {}\n",
                    format(&e.start),
                    format(&e.end),
                    e.http_429s,
                    e.peak_429_per_minute,
                    printable(&e.most_refused),
                    printable(&e.top_sender_at_start)
                ));
            }
        }
        out
    }

    pub fn compute(log: &RequestLog, scenarios: &[Scenario], end: DateTime<Utc>) -> GroundTruth {
        let builder = PathBuilder::new(scenarios);
        let organizations = scenarios
            .iter()
            .enumerate()
            .map(|(org, s)| {
                // Which scenario consumer each source id belongs to.
                let consumer_of: HashMap<u32, usize> = log
                    .sources
                    .values()
                    .iter()
                    .enumerate()
                    .filter_map(|(id, src)| {
                        (0..s.consumers.len())
                            .find(|&c| builder.source(org, c) == *src)
                            .map(|c| (id as u32, c))
                    })
                    .collect();
                let unknown = s.consumers.len();
                let name = |c: usize| {
                    s.consumers
                        .get(c)
                        .map_or(SERVED_CALLS_CONSUMER.to_owned(), |x| x.name.clone())
                };
                let entries = log
                    .org_index(&s.org_id)
                    .map_or(&[][..], |i| &log.orgs[i].entries[..]);
                let mut requests = vec![0u64; unknown + 1];
                let mut refused = vec![0u64; unknown + 1];
                let mut per_minute_429: Vec<(i64, u64)> = Vec::new();
                for e in entries {
                    let c = consumer_of.get(&e.source).copied().unwrap_or(unknown);
                    requests[c] += 1;
                    if e.response_code == 429 {
                        refused[c] += 1;
                        let minute = e.ts_us.div_euclid(60_000_000);
                        match per_minute_429.last_mut() {
                            Some((m, n)) if *m == minute => *n += 1,
                            _ => per_minute_429.push((minute, 1)),
                        }
                    }
                }
                let episodes = episodes(&per_minute_429)
                    .into_iter()
                    .map(|(first, last, total, peak)| {
                        let start_us = first * 60_000_000;
                        let end_us = (last + 1) * 60_000_000;
                        let mut refused_in = vec![0u64; unknown + 1];
                        let mut sent_before = vec![0u64; unknown + 1];
                        let from = entries.partition_point(|e| e.ts_us < start_us - 60_000_000);
                        let to = entries.partition_point(|e| e.ts_us < end_us);
                        for e in &entries[from..to] {
                            let c = consumer_of.get(&e.source).copied().unwrap_or(unknown);
                            if e.ts_us >= start_us && e.response_code == 429 {
                                refused_in[c] += 1;
                            }
                            if e.ts_us < start_us + 60_000_000 {
                                sent_before[c] += 1;
                            }
                        }
                        EpisodeTruth {
                            start: callbudget_api::timestamp::from_micros(start_us),
                            end: callbudget_api::timestamp::from_micros(end_us),
                            http_429s: total,
                            peak_429_per_minute: peak,
                            most_refused: name(argmax(&refused_in)),
                            top_sender_at_start: name(argmax(&sent_before)),
                        }
                    })
                    .collect();
                OrgTruth {
                    org_id: s.org_id.clone(),
                    start: end - chrono::TimeDelta::days(i64::from(s.days)),
                    end,
                    budget: s.org_budget,
                    requests: entries.len() as u64,
                    http_429s: refused.iter().sum(),
                    consumers: s
                        .consumers
                        .iter()
                        .enumerate()
                        .map(|(c, spec)| ConsumerTruth {
                            name: spec.name.clone(),
                            user_agent: spec.user_agent.clone(),
                            admin_id: spec.admin_id.clone(),
                            source_ip: spec.source_ip.clone(),
                            client_id: spec.client_id.clone(),
                            honours_retry_after: spec.on_429.honours_retry_after,
                            backoff: spec.on_429.backoff,
                            jitter: spec.on_429.jitter,
                            requests: requests[c],
                            http_429s: refused[c],
                            patterns: spec.traffic.iter().map(pattern_truth).collect(),
                        })
                        .collect(),
                    episodes,
                }
            })
            .collect();
        GroundTruth { organizations }
    }
}

fn argmax(counts: &[u64]) -> usize {
    // Ties go to the earlier consumer, so the answer is deterministic.
    let mut best = 0;
    for (i, &n) in counts.iter().enumerate() {
        if n > counts[best] {
            best = i;
        }
    }
    best
}

/// Merges minutes with many 429s into (first minute, last minute, 429s, peak per minute).
fn episodes(per_minute_429: &[(i64, u64)]) -> Vec<(i64, i64, u64, u64)> {
    let mut out: Vec<(i64, i64, u64, u64)> = Vec::new();
    for &(minute, n) in per_minute_429 {
        if n < EPISODE_MIN_429_PER_MINUTE {
            continue;
        }
        match out.last_mut() {
            Some(ep) if minute - ep.1 <= EPISODE_MAX_GAP_MINUTES => {
                ep.1 = minute;
                ep.2 += n;
                ep.3 = ep.3.max(n);
            }
            _ => out.push((minute, minute, n, n)),
        }
    }
    // The quieter minutes inside an episode count towards its total too.
    for ep in &mut out {
        ep.2 = per_minute_429
            .iter()
            .filter(|(m, _)| *m >= ep.0 && *m <= ep.1)
            .map(|(_, n)| n)
            .sum();
    }
    out
}

/// Writes every record of the log as JSONL, org by org, each in time order.
pub fn write_log_jsonl(log: &RequestLog, out: &mut impl Write) -> std::io::Result<u64> {
    let mut written = 0;
    for org in &log.orgs {
        for e in &org.entries {
            serde_json::to_writer(&mut *out, &log.record(e))?;
            out.write_all(b"\n")?;
            written += 1;
        }
    }
    Ok(written)
}

/// `truth.jsonl` → `truth.anomalies.json`: where [`write_truth_files`] puts the anomalies.
pub fn anomalies_path(out: &Path) -> PathBuf {
    out.with_extension("anomalies.json")
}

/// Writes the whole log as JSONL to `out` and the ground truth (each consumer's behaviour and
/// results, the 429 episodes) beside it; returns the anomalies file's path.
pub fn write_truth_files(
    simulator: &super::Simulator,
    truth: &GroundTruth,
    out: &Path,
) -> std::io::Result<PathBuf> {
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    simulator.write_log_jsonl(&mut writer)?;
    writer.flush()?;
    let anomalies = anomalies_path(out);
    std::fs::write(&anomalies, serde_json::to_vec_pretty(truth)?)?;
    Ok(anomalies)
}

/// Streams the scenarios' log as JSONL to the file `out` (see [`stream_log_jsonl`]).
pub fn stream_log_jsonl_to_file(
    scenarios: &[Scenario],
    end: DateTime<Utc>,
    out: &Path,
) -> std::io::Result<u64> {
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let written = stream_log_jsonl(scenarios, end, &mut writer)?;
    writer.flush()?;
    Ok(written)
}

/// Streams the scenarios' log as JSONL without holding it: for month-long benchmark logs.
/// Records of all organizations come interleaved in time order.
pub fn stream_log_jsonl(
    scenarios: &[Scenario],
    end: DateTime<Utc>,
    out: &mut impl Write,
) -> std::io::Result<u64> {
    let builder = PathBuilder::new(scenarios);
    let mut log = RequestLog::default();
    let mut endpoint_ids = HashMap::new();
    let mut source_ids = HashMap::new();
    let mut written = 0u64;
    let mut failure = None;
    engine::run(scenarios, end, |r| {
        if failure.is_some() {
            return;
        }
        let source = *source_ids
            .entry((r.org, r.consumer))
            .or_insert_with(|| log.sources.intern(builder.source(r.org, r.consumer)));
        let endpoint = *endpoint_ids
            .entry((r.org, r.consumer, r.call))
            .or_insert_with(|| log.endpoints.intern(builder.endpoint(r)));
        let entry = super::log::LogEntry {
            ts_us: r.ts_us,
            source,
            endpoint,
            response_code: r.response_code,
        };
        let result = serde_json::to_writer(&mut *out, &log.record(&entry))
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        match result {
            Ok(()) => written += 1,
            Err(e) => failure = Some(e),
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_minutes_merge_into_episodes_and_quiet_ones_do_not_start_one() {
        let minutes = [(10, 3), (11, 40), (12, 2), (13, 7), (20, 6), (30, 4)];
        assert_eq!(episodes(&minutes), vec![(11, 13, 49, 40), (20, 20, 6, 6)]);
    }

    #[test]
    fn argmax_prefers_the_first_of_equals() {
        assert_eq!(argmax(&[1, 5, 5, 0]), 1);
        assert_eq!(argmax(&[0, 0]), 0);
    }
}
