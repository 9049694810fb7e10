//! The reviewed replacement table (`replacements.toml`, embedded): which cheaper call replaces
//! which loop, which lists change slowly, which status reads to follow as changes and which event
//! feeds webhooks can push — checked against the operation catalog when it is loaded, so a
//! catalog update that renames, removes or re-describes an operation fails the tests until the
//! pair is reviewed again.
//!
//! The first version was proposed by `propose_replacements.py` (beside this file) and reviewed
//! pair by pair; see `docs/recommendations.md` for the review rule and every pair.

use callbudget_api::{Operation, OperationCatalog};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::OnceLock;

const TABLE_TOML: &str = include_str!("replacements.toml");

/// A table that does not fit the catalog, or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("replacements.toml does not parse")]
    Parse(#[source] toml::de::Error),
    #[error("replacements.toml: {operation}: {problem}")]
    Invalid { operation: String, problem: String },
}

fn invalid(operation: &str, problem: impl Into<String>) -> TableError {
    TableError::Invalid {
        operation: operation.to_owned(),
        problem: problem.into(),
    }
}

/// The query parameter that narrows an org-wide call to the targets a loop visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Filter {
    #[serde(rename = "serials")]
    Serials,
    #[serde(rename = "networkIds")]
    NetworkIds,
    #[serde(rename = "productTypes")]
    ProductTypes,
}

impl Filter {
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Serials => "serials",
            Filter::NetworkIds => "networkIds",
            Filter::ProductTypes => "productTypes",
        }
    }
}

/// What one replacement call covers, per polling cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// One org-wide call for every target, paginated: ⌈targets / `targets_per_call`⌉ calls
    /// (`None`: not paginated, one call).
    Organization { targets_per_call: Option<u32> },
    /// One call per network of the targets.
    Network,
    /// One call per device: the list of what was read item by item.
    Device,
}

/// A per-target operation and the call that returns the same for many targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutPair {
    pub current: String,
    /// Query parameters a call of `current` must name for the pair to hold (`deviceSerial`: one
    /// AP's history)…
    pub with_query: Vec<String>,
    /// …and those it must not name (neither `deviceSerial` nor `clientId`: a network's average).
    /// With either, the pair is decided from each call's parameters, not from its operation.
    pub without_query: Vec<String>,
    pub replacement: String,
    pub filter: Option<Filter>,
    pub coverage: Coverage,
    /// The org-wide operation's largest page, from the catalog.
    pub per_page: Option<u32>,
    /// The two summaries, quoted, and why the one answers for the other.
    pub reason: String,
}

/// How much of an event feed webhooks can push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Webhooks {
    /// Every entry is an alert a webhook can carry.
    Full,
    /// Only the entries that are also alert types.
    Partial,
    /// No webhook carries this data.
    None,
}

/// An operation read again and again, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reread {
    pub operation: String,
    /// The operation to follow instead (configuration changes, availability changes); `None`
    /// for an event feed.
    pub follow: Option<String>,
    /// For an event feed.
    pub webhooks: Option<Webhooks>,
    pub reason: String,
}

/// An org-wide operation reviewed and not paired, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub operation: String,
    pub reason: String,
}

/// The whole table, checked against a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacementTable {
    pub fan_out: Vec<FanOutPair>,
    pub slow_changing_lists: Vec<Reread>,
    pub status_repolls: Vec<Reread>,
    pub event_feeds: Vec<Reread>,
    pub rejected: Vec<Rejected>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    fan_out: Vec<FanOutEntry>,
    slow_changing_list: Vec<RereadEntry>,
    status_repoll: Vec<RereadEntry>,
    event_feed: Vec<RereadEntry>,
    rejected: Vec<RejectedEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FanOutEntry {
    current: String,
    #[serde(default)]
    with_query: Vec<String>,
    #[serde(default)]
    without_query: Vec<String>,
    replacement: String,
    filter: Option<Filter>,
    /// The most targets one call may name, where the documentation caps the filter below the
    /// page size.
    targets_per_call: Option<u32>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RereadEntry {
    operation: String,
    follow: Option<String>,
    webhooks: Option<Webhooks>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectedEntry {
    operation: String,
    reason: String,
}

/// The parameter a per-target operation's calls are counted by: `serial` or `networkId`.
pub fn target_parameter(op: &Operation) -> Option<&str> {
    op.path_parameters()
        .find(|p| *p == "serial" || *p == "networkId")
}

/// Whether `op` reads one item of its target (a port, a VLAN, a client): a path parameter beyond
/// the organization, network or device.
pub fn reads_items(op: &Operation) -> bool {
    op.path_parameters()
        .any(|p| !matches!(p, "serial" | "networkId" | "organizationId"))
}

impl ReplacementTable {
    /// The embedded table over the embedded catalog, checked once.
    pub fn meraki_v1() -> &'static ReplacementTable {
        static TABLE: OnceLock<ReplacementTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            // The table is part of the binary and a test loads it: a failure is a build defect.
            ReplacementTable::parse(TABLE_TOML, OperationCatalog::meraki_v1())
                .expect("the embedded replacement table fits the embedded catalog")
        })
    }

    /// Parses `text` and checks every row against `catalog`.
    pub fn parse(text: &str, catalog: &OperationCatalog) -> Result<Self, TableError> {
        let file: TableFile = toml::from_str(text).map_err(TableError::Parse)?;
        let mut seen = BTreeSet::new();
        let mut once = |op: &str| {
            if seen.insert(op.to_owned()) {
                Ok(())
            } else {
                Err(invalid(op, "has more than one row"))
            }
        };
        let get = |id: &str| -> Result<&Operation, TableError> {
            let op = catalog
                .get(id)
                .ok_or_else(|| invalid(id, "is not in the catalog"))?;
            if op.method != "GET" {
                return Err(invalid(id, "is not a GET"));
            }
            Ok(op)
        };
        let quotes = |reason: &str, op: &Operation| -> Result<(), TableError> {
            if reason.contains(&format!("\"{}\"", op.summary)) {
                Ok(())
            } else {
                Err(invalid(
                    &op.operation_id,
                    format!(
                        "the reason does not quote its summary \"{}\": review the row again",
                        op.summary
                    ),
                ))
            }
        };

        let mut fan_out: Vec<FanOutPair> = Vec::new();
        for row in file.fan_out {
            // An operation may have several rows, when their query conditions tell its calls
            // apart: no call may match two.
            let conditioned = !row.with_query.is_empty() || !row.without_query.is_empty();
            let apart = |other: &FanOutPair| {
                row.with_query
                    .iter()
                    .any(|p| other.without_query.contains(p))
                    || row
                        .without_query
                        .iter()
                        .any(|p| other.with_query.contains(p))
            };
            let earlier: Vec<&FanOutPair> = fan_out
                .iter()
                .filter(|p| p.current == row.current)
                .collect();
            if earlier.is_empty() {
                once(&row.current)?;
            } else if !conditioned || !earlier.iter().all(|p| apart(p)) {
                return Err(invalid(
                    &row.current,
                    "has more than one row a call could match: tell them apart by with_query \
                     and without_query",
                ));
            }
            let current = get(&row.current)?;
            if let Some(unknown) = row
                .with_query
                .iter()
                .chain(&row.without_query)
                .find(|p| !current.accepts(p))
            {
                return Err(invalid(
                    &row.current,
                    format!("takes no query parameter {unknown}"),
                ));
            }
            let replacement = get(&row.replacement)?;
            quotes(&row.reason, current)?;
            quotes(&row.reason, replacement)?;
            let target = target_parameter(current).ok_or_else(|| {
                invalid(
                    &row.current,
                    "addresses neither a {serial} nor a {networkId}",
                )
            })?;
            let items = reads_items(current);
            let coverage = match replacement.path_parameters().collect::<Vec<_>>()[..] {
                ["organizationId"] => Coverage::Organization {
                    targets_per_call: row
                        .targets_per_call
                        .or(replacement.max_per_page())
                        .filter(|_| replacement.paginated || row.targets_per_call.is_some()),
                },
                ["networkId"] if target == "serial" || items => Coverage::Network,
                ["serial"] if target == "serial" && items => Coverage::Device,
                _ => {
                    return Err(invalid(
                        &row.replacement,
                        format!("does not cover more than one call of {}", row.current),
                    ));
                }
            };
            if let Some(filter) = row.filter
                && !replacement.accepts(filter.as_str())
            {
                return Err(invalid(
                    &row.replacement,
                    format!("takes no {} filter", filter.as_str()),
                ));
            }
            if row.targets_per_call == Some(0)
                || (row.targets_per_call.is_some()
                    && !matches!(coverage, Coverage::Organization { .. }))
            {
                return Err(invalid(
                    &row.current,
                    "targets_per_call must be a positive number, for an org-wide replacement",
                ));
            }
            fan_out.push(FanOutPair {
                current: row.current,
                with_query: row.with_query,
                without_query: row.without_query,
                replacement: row.replacement,
                filter: row.filter,
                coverage,
                per_page: replacement.max_per_page(),
                reason: row.reason,
            });
        }

        let mut rereads = |rows: Vec<RereadEntry>, events: bool| {
            let mut out = Vec::new();
            for row in rows {
                once(&row.operation)?;
                let op = get(&row.operation)?;
                quotes(&row.reason, op)?;
                if events != row.webhooks.is_some() || (events && row.follow.is_some()) {
                    return Err(invalid(
                        &row.operation,
                        "an event feed has `webhooks` and no `follow`; other rows the reverse",
                    ));
                }
                if let Some(follow) = &row.follow {
                    get(follow)?;
                } else if !events {
                    return Err(invalid(&row.operation, "needs an operation to `follow`"));
                }
                out.push(Reread {
                    operation: row.operation,
                    follow: row.follow,
                    webhooks: row.webhooks,
                    reason: row.reason,
                });
            }
            Ok::<_, TableError>(out)
        };
        let slow_changing_lists = rereads(file.slow_changing_list, false)?;
        let status_repolls = rereads(file.status_repoll, false)?;
        let event_feeds = rereads(file.event_feed, true)?;

        let mut rejected = Vec::new();
        for row in file.rejected {
            get(&row.operation)?;
            if fan_out.iter().any(|p| p.replacement == row.operation) {
                return Err(invalid(&row.operation, "is both paired and rejected"));
            }
            rejected.push(Rejected {
                operation: row.operation,
                reason: row.reason,
            });
        }
        Ok(ReplacementTable {
            fan_out,
            slow_changing_lists,
            status_repolls,
            event_feeds,
            rejected,
        })
    }

    /// The pair of `current` whatever a call's parameters (its first row).
    pub fn fan_out_pair(&self, current: &str) -> Option<&FanOutPair> {
        self.fan_out.iter().find(|p| p.current == current)
    }

    /// The pair a call of `current` with these query parameters (`selector`, as
    /// [`ReplacementTable::query_selector`] writes it; `None`: not known) has: a row with query
    /// conditions holds only for a call whose parameters are known and meet them.
    pub fn fan_out_pair_for(&self, current: &str, selector: Option<&str>) -> Option<&FanOutPair> {
        fn names(selector: &str) -> Vec<&str> {
            selector
                .split('&')
                .filter_map(|pair| pair.split_once('=').map(|(name, _)| name))
                .collect()
        }
        self.fan_out
            .iter()
            .filter(|p| p.current == current)
            .find(|p| {
                if p.with_query.is_empty() && p.without_query.is_empty() {
                    return true;
                }
                let Some(selector) = selector else {
                    return false;
                };
                let named = names(selector);
                p.with_query.iter().all(|q| named.contains(&q.as_str()))
                    && !p.without_query.iter().any(|q| named.contains(&q.as_str()))
            })
    }

    /// The query parameters that tell the calls of `operation` apart (those its rows' conditions
    /// name), if any: the only query parameters the analysis reads.
    pub fn query_parameters(&self, operation: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .fan_out
            .iter()
            .filter(|p| p.current == operation)
            .flat_map(|p| p.with_query.iter().chain(&p.without_query))
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// What of `query` tells a call of an operation with these `parameters` apart: each of them
    /// the query names with a value, `name=value`, by name, joined by `&` ("" for none of them).
    pub fn query_selector(parameters: &[&str], query: &str) -> String {
        let mut named: Vec<&str> = query
            .split(['&', ';'])
            .filter(|pair| {
                pair.split_once('=')
                    .is_some_and(|(name, value)| !value.is_empty() && parameters.contains(&name))
            })
            .collect();
        named.sort_unstable();
        named.dedup();
        named.join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callbudget_api::text::thousands;
    use std::fmt::Write as _;

    const BY_TARGET: [&str; 3] = ["ByDevice", "ByNetwork", "BySwitch"];

    #[test]
    fn the_embedded_table_fits_the_catalog() {
        let table = ReplacementTable::meraki_v1();
        assert_eq!(table.fan_out.len(), 59);
        assert_eq!(
            (
                table.slow_changing_lists.len(),
                table.status_repolls.len(),
                table.event_feeds.len(),
                table.rejected.len()
            ),
            (10, 2, 6, 49)
        );
        let ports = table.fan_out_pair("getDeviceSwitchPortsStatuses").unwrap();
        assert_eq!(
            (ports.coverage, ports.per_page, ports.filter),
            (
                Coverage::Organization {
                    targets_per_call: Some(20)
                },
                Some(20),
                Some(Filter::Serials)
            )
        );
        let devices = table.fan_out_pair("getDevice").unwrap();
        assert_eq!(devices.per_page, Some(5000));
        assert_eq!(
            table.fan_out_pair("getDeviceLldpCdp").unwrap().coverage,
            Coverage::Network
        );
        assert_eq!(
            table
                .fan_out_pair("getDeviceSwitchRoutingInterface")
                .unwrap()
                .coverage,
            Coverage::Device
        );
    }

    #[test]
    fn a_channel_utilization_history_is_replaced_by_what_its_parameters_ask_for() {
        let table = ReplacementTable::meraki_v1();
        let op = "getNetworkWirelessChannelUtilizationHistory";
        assert_eq!(table.query_parameters(op), ["clientId", "deviceSerial"]);
        assert!(table.query_parameters("getDevice").is_empty());
        let selector =
            |query: &str| ReplacementTable::query_selector(&table.query_parameters(op), query);
        assert_eq!(selector("timespan=600&resolution=600"), "");
        assert_eq!(
            selector("t0=1&deviceSerial=Q2MR-1&band=5&deviceSerial=Q2MR-1"),
            "deviceSerial=Q2MR-1"
        );
        // A parameter named without a value names nothing.
        assert_eq!(selector("clientId=&timespan=60"), "");
        let replacement = |selector: Option<&str>| {
            table
                .fan_out_pair_for(op, selector)
                .map(|p| p.replacement.as_str())
        };
        // A network's average…
        assert_eq!(
            replacement(Some("")),
            Some("getOrganizationWirelessDevicesChannelUtilizationHistoryByNetworkByInterval")
        );
        // …one AP's history…
        assert_eq!(
            replacement(Some("deviceSerial=Q2MR-1")),
            Some("getOrganizationWirelessDevicesChannelUtilizationHistoryByDeviceByInterval")
        );
        // …a client's history, and calls whose parameters are not known: nothing is claimed.
        assert_eq!(replacement(Some("clientId=k1")), None);
        assert_eq!(replacement(Some("clientId=k1&deviceSerial=Q2MR-1")), None);
        assert_eq!(replacement(None), None);
        // An operation without conditions is paired whatever is known of its calls.
        assert_eq!(
            table
                .fan_out_pair_for("getDevice", None)
                .map(|p| p.replacement.as_str()),
            Some("getOrganizationDevices")
        );
    }

    #[test]
    fn every_org_wide_by_target_operation_is_paired_or_rejected_with_a_reason() {
        let catalog = OperationCatalog::meraki_v1();
        let table = ReplacementTable::meraki_v1();
        let by_target: Vec<&str> = catalog
            .all()
            .iter()
            .filter(|op| {
                op.method == "GET"
                    && op.scope == "organizations"
                    && BY_TARGET.iter().any(|b| op.operation_id.contains(b))
            })
            .map(|op| op.operation_id.as_str())
            .collect();
        assert_eq!(by_target.len(), 59);
        let considered: Vec<&str> = by_target
            .iter()
            .copied()
            .filter(|id| {
                table.fan_out.iter().any(|p| p.replacement == *id)
                    || table.rejected.iter().any(|r| r.operation == *id)
            })
            .collect();
        assert_eq!(considered, by_target);
        assert_eq!(
            by_target
                .iter()
                .filter(|id| table.fan_out.iter().any(|p| p.replacement == **id))
                .count(),
            12
        );
    }

    fn parse(rows: &str) -> Result<ReplacementTable, TableError> {
        let text = format!(
            "slow_changing_list = []\nstatus_repoll = []\nevent_feed = []\nrejected = []\n{rows}"
        );
        ReplacementTable::parse(&text, OperationCatalog::meraki_v1())
    }

    fn problem(rows: &str) -> String {
        parse(rows).unwrap_err().to_string()
    }

    const DEVICE: &str = r#""Return a single device""#;
    const DEVICES: &str =
        r#""List the devices in an organization that have been assigned to a network.""#;

    #[test]
    fn a_row_that_does_not_fit_the_catalog_is_refused_naming_the_operation() {
        let ok = format!(
            "[[fan_out]]\ncurrent = \"getDevice\"\nreplacement = \"getOrganizationDevices\"\n\
             filter = \"serials\"\nreason = '{DEVICE} → {DEVICES}: the same'\n"
        );
        assert_eq!(parse(&ok).unwrap().fan_out.len(), 1);
        assert_eq!(
            problem(&ok.replace("getOrganizationDevices\"", "getOrganizationDevicez\"")),
            "replacements.toml: getOrganizationDevicez: is not in the catalog"
        );
        assert_eq!(
            problem(&ok.replace(DEVICE, "\"Return one device\"")),
            "replacements.toml: getDevice: the reason does not quote its summary \
             \"Return a single device\": review the row again"
        );
        assert_eq!(
            problem(&ok.replace("serials", "networkIdz")),
            "replacements.toml does not parse"
        );
        assert_eq!(
            problem(
                &ok.replace("getOrganizationDevices\"", "getOrganizationNetworks\"")
                    .replace(
                        DEVICES,
                        "\"List the networks that the user has privileges on in an organization\""
                    )
            ),
            "replacements.toml: getOrganizationNetworks: takes no serials filter"
        );
        assert_eq!(
            problem(&format!("{ok}\n{ok}")),
            "replacements.toml: getDevice: has more than one row a call could match: tell them \
             apart by with_query and without_query"
        );
        assert_eq!(
            problem(&ok.replace(
                "current = \"getDevice\"",
                "current = \"getDevice\"\nwith_query = [\"deviceSerial\"]"
            )),
            "replacements.toml: getDevice: takes no query parameter deviceSerial"
        );
        assert_eq!(
            problem(&ok.replace("current = \"getDevice\"", "current = \"updateDevice\"")),
            "replacements.toml: updateDevice: is not a GET"
        );
    }

    /// docs/recommendations.md as the table and the catalog say it.
    fn recommendations_markdown(table: &ReplacementTable, catalog: &OperationCatalog) -> String {
        let cell = |text: &str| text.replace('|', "\\|");
        let mut md = String::new();
        let _ = write!(
            md,
            "# Recommendations: the replacement table\n\n\
             <!-- Generated from crates/analysis/src/recommend/replacements.toml and the operation catalog: \
             CALLBUDGET_WRITE_DOCS=1 cargo test -p callbudget-analysis recommendations_doc. A test fails when they differ. -->\n\n\
             callbudget's recommendations come from a reviewed table of replacements, checked \
             against the operation catalog: {source}, {operations} operations.\n\n\
             **How the table is made.** `crates/analysis/src/recommend/propose_replacements.py` \
             (Python 3.11+, standard library only) proposes candidate pairs from the catalog: every \
             organization-wide GET whose name ends in `ByDevice`, `ByNetwork` or `BySwitch` or that \
             takes a `serials`, `networkIds` or `productTypes` filter, scored against the \
             per-device and per-network GETs by the stems of their names, their tags, the words of \
             their summaries and whether the filter fits the loop's targets. Each proposal was then \
             reviewed by reading both summaries (and the SDK's parameter documentation where the \
             summaries leave it open). **The rule:** a pair goes in only when the replacement call \
             really returns what the replaced calls return — the same records, or a superset the \
             loop can pick from; settings are not statuses, a count is not a list, a network's \
             averages are not a device's figures. Every reason quotes both summaries as the catalog \
             has them, and loading the table checks it: a catalog update that re-describes an \
             operation fails the tests until its rows are reviewed again. \
             `propose_replacements.py --unreviewed` lists the org-wide operations the table neither \
             pairs nor rejects.\n\n\
             **How a pair is used.** A consumer that calls the per-target operation for at least \
             {min} paths in the window is fanning out; the replacement makes, per polling cycle, \
             ⌈targets / page⌉ org-wide calls (the page is the catalog's largest `perPage`, or the \
             filter's documented cap), or one call per network, or one per device (for items read \
             one by one); calls a day after = calls a day × calls a cycle after / paths read a \
             cycle. Retries of refused calls are not counted. Where an operation's query \
             parameters change what a call returns (one AP's history or a network's average), its \
             rows say which calls each holds for (\"its calls\"), and each call is paired by the \
             parameters it named; a call whose parameters are not known is paired with nothing.\n",
            source = catalog.source(),
            operations = thousands(catalog.len() as u64),
            min = super::super::MIN_FAN_OUT_TARGETS,
        );
        let _ = write!(
            md,
            "\n## Fan-outs → one call for many targets ({})\n\n\
             | per-target operation | its calls | replacement | one call covers | filter | page | reason |\n\
             |---|---|---|---|---|---|---|\n",
            table.fan_out.len()
        );
        for p in &table.fan_out {
            let (covers, page) = match p.coverage {
                Coverage::Organization {
                    targets_per_call: Some(n),
                } if Some(n) != p.per_page => {
                    ("the organization".to_owned(), format!("{n} targets"))
                }
                Coverage::Organization {
                    targets_per_call: Some(n),
                } => ("the organization".to_owned(), thousands(u64::from(n))),
                Coverage::Organization {
                    targets_per_call: None,
                } => ("the organization".to_owned(), "unpaged".to_owned()),
                Coverage::Network => ("a network".to_owned(), "—".to_owned()),
                Coverage::Device => ("a device".to_owned(), "—".to_owned()),
            };
            let with = p.with_query.iter().map(|q| format!("with `{q}`"));
            let without = p.without_query.iter().map(|q| format!("without `{q}`"));
            let calls = with.chain(without).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                md,
                "| `{}` | {} | [`{}`]({}) | {covers} | {} | {page} | {} |",
                p.current,
                if calls.is_empty() { "all" } else { &calls },
                p.replacement,
                catalog
                    .get(&p.replacement)
                    .map(|op| op.documentation_url())
                    .unwrap_or_default(),
                p.filter.map_or("—", |f| f.as_str()),
                cell(&p.reason)
            );
        }
        let rereads = |md: &mut String, title: &str, rows: &[Reread], instead: &str| {
            let _ = write!(
                md,
                "\n## {title} ({})\n\n| operation | {instead} | reason |\n|---|---|---|\n",
                rows.len()
            );
            for r in rows {
                let what = match (&r.follow, r.webhooks) {
                    (Some(follow), _) => format!("`{follow}`"),
                    (None, Some(Webhooks::Full)) => "webhooks: all of it".to_owned(),
                    (None, Some(Webhooks::Partial)) => "webhooks: part of it".to_owned(),
                    (None, _) => "no webhook equivalent".to_owned(),
                };
                let _ = writeln!(md, "| `{}` | {what} | {} |", r.operation, cell(&r.reason));
            }
        };
        rereads(
            &mut md,
            "Slow-changing lists: read once a day, follow the change log hourly",
            &table.slow_changing_lists,
            "follow",
        );
        rereads(
            &mut md,
            "Status re-polls: follow the changes every 5 minutes",
            &table.status_repolls,
            "follow",
        );
        rereads(
            &mut md,
            "Event feeds: webhooks, else read what is new every 15 minutes",
            &table.event_feeds,
            "webhooks (https://developer.cisco.com/meraki/webhooks/)",
        );
        let by_rejected = table
            .rejected
            .iter()
            .filter(|r| BY_TARGET.iter().any(|b| r.operation.contains(b)))
            .count();
        let _ = write!(
            md,
            "\n## Considered and not paired ({})\n\n\
             All 59 organization-wide GETs named `…ByDevice`, `…ByNetwork` or `…BySwitch` were \
             considered: {} are replacements above, {} are not; with them, the other proposals \
             reviewed and not paired.\n\n\
             | operation | why not |\n|---|---|\n",
            table.rejected.len(),
            59 - by_rejected,
            by_rejected,
        );
        for r in &table.rejected {
            let _ = writeln!(md, "| `{}` | {} |", r.operation, cell(&r.reason));
        }
        md
    }

    #[test]
    fn recommendations_doc_lists_every_row_of_the_table() {
        // The doc is the workspace's (docs/ at its root), two levels above this crate.
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/recommendations.md");
        let expected =
            recommendations_markdown(ReplacementTable::meraki_v1(), OperationCatalog::meraki_v1());
        if std::env::var_os("CALLBUDGET_WRITE_DOCS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == expected,
            "docs/recommendations.md differs from the table: regenerate it with \
             CALLBUDGET_WRITE_DOCS=1 cargo test -p callbudget-analysis recommendations_doc"
        );
    }
}
