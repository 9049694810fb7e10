//! Scenario files: a TOML description of one organization (its admins, networks and devices) and of
//! the consumers that spend its API budget, each with a traffic pattern and a reaction to 429.
//! The format is documented in `sample-data/README.md`.
//!
//! Parsing keeps source spans so that every refusal names the file, the line and the field.

use callbudget_api::OperationCatalog;
use callbudget_api::budget::BucketLimits;
use chrono::NaiveTime;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
}

// ---- The file as written -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    organization: OrganizationSection,
    #[serde(default)]
    budget: Option<BudgetSection>,
    inventory: InventorySection,
    #[serde(default)]
    api_key: Option<ApiKeySection>,
    #[serde(default)]
    admins: Vec<AdminSection>,
    #[serde(default)]
    consumers: Vec<ConsumerSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationSection {
    id: Spanned<String>,
    name: String,
    days: Spanned<u32>,
    #[serde(default)]
    seed: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetSection {
    requests_per_second: Option<Spanned<f64>>,
    burst: Option<Spanned<f64>>,
    per_source_ip_per_second: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventorySection {
    networks: Spanned<u32>,
    devices: Spanned<u32>,
    network_id_prefix: Option<String>,
    serial_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeySection {
    admin: Spanned<String>,
    client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminSection {
    id: Spanned<String>,
    name: String,
    email: String,
    org_access: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerSection {
    name: Spanned<String>,
    user_agent: String,
    admin: Spanned<String>,
    source_ip: Spanned<String>,
    client_id: String,
    client_type: Option<Spanned<String>>,
    query_string: Option<String>,
    latency_ms: Option<Spanned<[u32; 2]>>,
    send_operation_id: Option<bool>,
    on_429: RetrySection,
    traffic: Vec<TrafficSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySection {
    honours_retry_after: bool,
    backoff: Spanned<String>,
    jitter: bool,
    retry_delay_seconds: Option<Spanned<f64>>,
    max_retries: u32,
}

/// One traffic pattern. A flat struct rather than a tagged enum: serde's tagged enums lose the
/// spans needed to name the line of a bad field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficSection {
    kind: Spanned<String>,
    operation: Option<Spanned<String>>,
    operations: Option<Vec<Spanned<String>>>,
    every_minutes: Option<Spanned<f64>>,
    offset_minutes: Option<Spanned<f64>>,
    targets: Option<Spanned<u32>>,
    concurrency: Option<Spanned<u32>>,
    at: Option<Spanned<String>>,
    requests: Option<Spanned<u32>>,
    weekdays_only: Option<bool>,
    per_hour: Option<Spanned<f64>>,
}

// ---- The validated model --------------------------------------------------------------------

/// A validated scenario: one organization and the traffic its consumers send.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub source: PathBuf,
    pub org_id: String,
    pub org_name: String,
    pub days: u32,
    pub seed: u64,
    pub org_budget: BucketLimits,
    pub source_ip_budget: BucketLimits,
    pub networks: Vec<String>,
    pub devices: Vec<Device>,
    pub admins: Vec<AdminSpec>,
    pub api_key_owner: ApiKeyOwner,
    pub consumers: Vec<ConsumerSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub serial: String,
    pub network: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSpec {
    pub id: String,
    pub name: String,
    pub email: String,
    pub org_access: String,
}

/// Whose key the simulator accepts: its calls are logged under this admin and client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyOwner {
    pub admin_id: String,
    pub client_id: String,
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub name: String,
    pub user_agent: String,
    pub admin_id: String,
    pub source_ip: String,
    pub client_id: String,
    pub client_type: String,
    /// The query string every call of this consumer is logged with (a script that puts a key in
    /// its URLs, say); empty for none.
    pub query_string: String,
    /// Response time range; a synchronous client sends its next request after the response.
    pub latency: (Duration, Duration),
    pub send_operation_id: bool,
    pub on_429: RetryPolicy,
    pub traffic: Vec<TrafficPattern>,
}

/// How a consumer reacts to a 429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub honours_retry_after: bool,
    pub backoff: Backoff,
    pub jitter: bool,
    pub retry_delay: Duration,
    pub max_retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// The same delay before every retry.
    None,
    /// The delay doubles with every retry.
    Exponential,
}

/// What a path parameter of an operation is filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Device,
    Network,
    Organization,
}

/// An operation a consumer calls, resolved against the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRef {
    pub catalog_index: usize,
    pub operation_id: String,
    pub target: TargetKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrafficPattern {
    /// Every `every`, one request per target for `targets` devices or networks.
    Poll {
        operation: OperationRef,
        every: Duration,
        offset: Option<Duration>,
        targets: u32,
        concurrency: u32,
    },
    /// Once a day at `at` (UTC), `requests` calls cycling through the operations.
    Burst {
        operations: Vec<OperationRef>,
        at: NaiveTime,
        requests: u32,
        concurrency: u32,
        weekdays_only: bool,
    },
    /// Single requests at random (Poisson) times, `per_hour` on average.
    Trickle {
        operations: Vec<OperationRef>,
        per_hour: f64,
    },
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    /// Validates scenario text; `path` is only used to name the file in errors.
    /// Loads every scenario file, each with `seed` instead of its own when one is given.
    pub fn load_all(paths: &[PathBuf], seed: Option<u64>) -> Result<Vec<Scenario>, ScenarioError> {
        paths
            .iter()
            .map(|path| {
                let mut scenario = Scenario::load(path)?;
                if let Some(seed) = seed {
                    scenario.seed = seed;
                }
                Ok(scenario)
            })
            .collect()
    }

    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let v = Validator { path, text };
        let file: ScenarioFile = toml::from_str(text).map_err(|e| v.toml_error(&e))?;
        v.validate(file)
    }

    /// The devices or networks an operation can target.
    pub fn target_count(&self, kind: TargetKind) -> usize {
        match kind {
            TargetKind::Device => self.devices.len(),
            TargetKind::Network => self.networks.len(),
            TargetKind::Organization => 1,
        }
    }
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn invalid(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.to_owned(),
            line: self.line_of(span.start),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let message = e.message().trim().to_owned();
        let line = e.span().map(|s| self.line_of(s.start)).unwrap_or(1);
        // serde names missing and unknown fields itself ("missing field `days`"); otherwise the
        // field is the key written on the offending line.
        let named = [
            "missing field",
            "unknown field",
            "duplicate key",
            "duplicate field",
        ]
        .iter()
        .any(|p| message.starts_with(p));
        let field = if named {
            message.split('`').nth(1).map(str::to_owned)
        } else {
            self.key_on_line(line)
        }
        .unwrap_or_else(|| "syntax".to_owned());
        ScenarioError::Invalid {
            path: self.path.to_owned(),
            line,
            field,
            message,
        }
    }

    /// The key assigned on a line (`every_minutes = 10` → `every_minutes`), or the table a header
    /// line opens (`[inventory` → `[inventory]`).
    fn key_on_line(&self, line: usize) -> Option<String> {
        let text = self.text.lines().nth(line.checked_sub(1)?)?.trim();
        if let Some((key, _)) = text.split_once('=') {
            let key = key.trim();
            return (!key.is_empty()).then(|| key.to_owned());
        }
        let header = text.trim_start_matches('[').trim_end_matches(']').trim();
        (text.starts_with('[') && !header.is_empty()).then(|| format!("[{header}]"))
    }

    /// The checks in the order a reader meets the sections: organization, budget, inventory,
    /// admins, the key's owner, then each consumer against all of them.
    fn validate(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        self.organization(&file.organization)?;
        let (org_budget, source_ip_budget) = self.budgets(file.budget.as_ref())?;
        let (networks, devices) = self.inventory(&file.inventory)?;
        let admins = self.admins(&file.admins)?;
        let api_key_owner = self.api_key_owner(file.api_key.as_ref(), &admins)?;
        let org = file.organization;
        let mut scenario = Scenario {
            source: self.path.to_owned(),
            org_id: org.id.into_inner(),
            org_name: org.name,
            days: org.days.into_inner(),
            seed: org.seed,
            org_budget,
            source_ip_budget,
            networks,
            devices,
            admins,
            api_key_owner,
            consumers: Vec::new(),
        };
        // Consumers are checked against the inventory and admins above (targets, admin ids).
        for (ci, c) in file.consumers.iter().enumerate() {
            if scenario
                .consumers
                .iter()
                .any(|x| x.name == *c.name.get_ref())
            {
                return Err(self.invalid(
                    c.name.span(),
                    &format!("consumers[{ci}].name"),
                    "duplicate consumer name",
                ));
            }
            let consumer = self.consumer(&scenario, ci, c)?;
            scenario.consumers.push(consumer);
        }
        Ok(scenario)
    }

    fn organization(&self, org: &OrganizationSection) -> Result<(), ScenarioError> {
        if org.id.get_ref().trim().is_empty() {
            return Err(self.invalid(org.id.span(), "organization.id", "must not be empty"));
        }
        if *org.days.get_ref() == 0 || *org.days.get_ref() > 31 {
            return Err(self.invalid(
                org.days.span(),
                "organization.days",
                "must be between 1 and 31 (the API's lookback)",
            ));
        }
        Ok(())
    }

    /// The organization's budget and the source IPs' (Meraki's unless the file says otherwise).
    fn budgets(
        &self,
        budget: Option<&BudgetSection>,
    ) -> Result<(BucketLimits, BucketLimits), ScenarioError> {
        let mut org_budget = BucketLimits::MERAKI_ORG;
        let mut source_ip_budget = BucketLimits::MERAKI_SOURCE_IP;
        let Some(b) = budget else {
            return Ok((org_budget, source_ip_budget));
        };
        if let Some(r) = &b.requests_per_second {
            org_budget.rate_per_second = self.positive(r, "budget.requests_per_second")?;
        }
        if let Some(r) = &b.burst {
            // `nan < 0.0` is false: finiteness is asked for, not implied.
            let burst = *r.get_ref();
            if !(burst.is_finite() && burst >= 0.0) {
                return Err(self.invalid(
                    r.span(),
                    "budget.burst",
                    "must be a number of at least 0",
                ));
            }
            org_budget.burst = burst;
        }
        if let Some(r) = &b.per_source_ip_per_second {
            source_ip_budget.rate_per_second =
                self.positive(r, "budget.per_source_ip_per_second")?;
        }
        Ok((org_budget, source_ip_budget))
    }

    /// The networks' ids and the devices' serials, devices spread round-robin over the networks.
    fn inventory(
        &self,
        inv: &InventorySection,
    ) -> Result<(Vec<String>, Vec<Device>), ScenarioError> {
        if *inv.networks.get_ref() == 0 {
            return Err(self.invalid(
                inv.networks.span(),
                "inventory.networks",
                "must be at least 1",
            ));
        }
        let network_prefix = inv.network_id_prefix.as_deref().unwrap_or("L_64618");
        let serial_prefix = inv.serial_prefix.as_deref().unwrap_or("Q2XX");
        let networks: Vec<String> = (0..*inv.networks.get_ref())
            .map(|i| format!("{network_prefix}{:012}", i + 1))
            .collect();
        let devices = (0..*inv.devices.get_ref() as usize)
            .map(|i| {
                let network = i % networks.len();
                Device {
                    serial: format!("{serial_prefix}-{:04}-{:04}", network + 1, i + 1),
                    network,
                }
            })
            .collect();
        Ok((networks, devices))
    }

    fn admins(&self, sections: &[AdminSection]) -> Result<Vec<AdminSpec>, ScenarioError> {
        let mut admins: Vec<AdminSpec> = Vec::new();
        for (i, a) in sections.iter().enumerate() {
            if admins.iter().any(|x| x.id == *a.id.get_ref()) {
                return Err(self.invalid(
                    a.id.span(),
                    &format!("admins[{i}].id"),
                    "duplicate admin id",
                ));
            }
            admins.push(AdminSpec {
                id: a.id.get_ref().clone(),
                name: a.name.clone(),
                email: a.email.clone(),
                org_access: a.org_access.clone().unwrap_or_else(|| "full".to_owned()),
            });
        }
        Ok(admins)
    }

    /// Whose key the simulator accepts: `[api_key]`'s admin, else the first admin.
    fn api_key_owner(
        &self,
        key: Option<&ApiKeySection>,
        admins: &[AdminSpec],
    ) -> Result<ApiKeyOwner, ScenarioError> {
        let Some(k) = key else {
            return Ok(ApiKeyOwner {
                admin_id: admins.first().map(|a| a.id.clone()).unwrap_or_default(),
                client_id: "k_simulator".to_owned(),
            });
        };
        self.known_admin(admins, &k.admin, "api_key.admin")?;
        Ok(ApiKeyOwner {
            admin_id: k.admin.get_ref().clone(),
            client_id: k
                .client_id
                .clone()
                .unwrap_or_else(|| "k_simulator".to_owned()),
        })
    }

    fn known_admin(
        &self,
        admins: &[AdminSpec],
        id: &Spanned<String>,
        field: &str,
    ) -> Result<(), ScenarioError> {
        if admins.iter().any(|a| a.id == *id.get_ref()) {
            Ok(())
        } else {
            Err(self.invalid(
                id.span(),
                field,
                format!("no admin with id {:?} in [[admins]]", id.get_ref()),
            ))
        }
    }

    /// One consumer: who it is (admin, source IP, client), how it answers 429 and what it sends.
    fn consumer(
        &self,
        scenario: &Scenario,
        ci: usize,
        c: &ConsumerSection,
    ) -> Result<ConsumerSpec, ScenarioError> {
        let at = |f: &str| format!("consumers[{ci}].{f}");
        self.known_admin(&scenario.admins, &c.admin, &at("admin"))?;
        if c.source_ip.get_ref().parse::<std::net::IpAddr>().is_err() {
            return Err(self.invalid(c.source_ip.span(), &at("source_ip"), "not an IP address"));
        }
        let client_type = match &c.client_type {
            None => "api_key".to_owned(),
            Some(t) if t.get_ref() == "api_key" || t.get_ref() == "oauth" => t.get_ref().clone(),
            Some(t) => {
                return Err(self.invalid(
                    t.span(),
                    &at("client_type"),
                    "must be \"api_key\" or \"oauth\"",
                ));
            }
        };
        let latency = self.latency(c.latency_ms.as_ref(), &at("latency_ms"))?;
        let on_429 = self.retry_policy(&c.on_429, &at("on_429"))?;
        if c.traffic.is_empty() {
            return Err(self.invalid(
                c.name.span(),
                &at("traffic"),
                "a consumer needs at least one [[consumers.traffic]]",
            ));
        }
        let catalog = OperationCatalog::meraki_v1();
        let traffic = c
            .traffic
            .iter()
            .enumerate()
            .map(|(ti, t)| self.traffic(scenario, catalog, t, &at(&format!("traffic[{ti}]"))))
            .collect::<Result<_, _>>()?;
        Ok(ConsumerSpec {
            name: c.name.get_ref().clone(),
            user_agent: c.user_agent.clone(),
            admin_id: c.admin.get_ref().clone(),
            source_ip: c.source_ip.get_ref().clone(),
            client_id: c.client_id.clone(),
            client_type,
            query_string: c
                .query_string
                .as_deref()
                .map(|q| q.strip_prefix('?').unwrap_or(q).to_owned())
                .unwrap_or_default(),
            latency,
            send_operation_id: c.send_operation_id.unwrap_or(true),
            on_429,
            traffic,
        })
    }

    /// A response time range, 80–250 ms unless given.
    fn latency(
        &self,
        range: Option<&Spanned<[u32; 2]>>,
        field: &str,
    ) -> Result<(Duration, Duration), ScenarioError> {
        let Some(l) = range else {
            return Ok((Duration::from_millis(80), Duration::from_millis(250)));
        };
        let [lo, hi] = *l.get_ref();
        if lo > hi || hi == 0 {
            return Err(self.invalid(
                l.span(),
                field,
                "must be [low, high] with low <= high and high > 0",
            ));
        }
        Ok((
            Duration::from_millis(lo.into()),
            Duration::from_millis(hi.into()),
        ))
    }

    fn retry_policy(&self, r: &RetrySection, field: &str) -> Result<RetryPolicy, ScenarioError> {
        let backoff = match r.backoff.get_ref().as_str() {
            "none" => Backoff::None,
            "exponential" => Backoff::Exponential,
            _ => {
                return Err(self.invalid(
                    r.backoff.span(),
                    &format!("{field}.backoff"),
                    "must be \"none\" or \"exponential\"",
                ));
            }
        };
        let retry_delay = match &r.retry_delay_seconds {
            None => Duration::from_secs(1),
            Some(d) => Duration::from_secs_f64(self.within(
                d,
                &format!("{field}.retry_delay_seconds"),
                0.001,
                3600.0,
            )?),
        };
        Ok(RetryPolicy {
            honours_retry_after: r.honours_retry_after,
            backoff,
            jitter: r.jitter,
            retry_delay,
            max_retries: r.max_retries,
        })
    }

    fn positive(&self, v: &Spanned<f64>, field: &str) -> Result<f64, ScenarioError> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(self.invalid(v.span(), field, "must be a number greater than 0"))
        }
    }

    /// A number within `[low, high]`: bounds keep the simulated clock arithmetic finite.
    fn within(
        &self,
        v: &Spanned<f64>,
        field: &str,
        low: f64,
        high: f64,
    ) -> Result<f64, ScenarioError> {
        let x = *v.get_ref();
        if x.is_finite() && (low..=high).contains(&x) {
            Ok(x)
        } else {
            Err(self.invalid(
                v.span(),
                field,
                format!("must be a number from {low} to {high}"),
            ))
        }
    }

    fn operation(
        &self,
        catalog: &OperationCatalog,
        op: &Spanned<String>,
        field: &str,
    ) -> Result<OperationRef, ScenarioError> {
        let id = op.get_ref();
        let Some(index) = catalog.index_of(id) else {
            return Err(self.invalid(
                op.span(),
                field,
                format!("unknown operation {id:?} (not in the Meraki v1 catalog)"),
            ));
        };
        let target = match catalog.all()[index].path_parameters().next() {
            Some("serial") => TargetKind::Device,
            Some("networkId") => TargetKind::Network,
            Some("organizationId") => TargetKind::Organization,
            _ => {
                return Err(self.invalid(
                    op.span(),
                    field,
                    format!("operation {id:?} is not scoped to a device, network or organization"),
                ));
            }
        };
        Ok(OperationRef {
            catalog_index: index,
            operation_id: id.clone(),
            target,
        })
    }

    fn operations(
        &self,
        catalog: &OperationCatalog,
        t: &TrafficSection,
        field: &str,
    ) -> Result<Vec<OperationRef>, ScenarioError> {
        let Some(ops) = &t.operations else {
            return Err(self.invalid(
                t.kind.span(),
                &format!("{field}.operations"),
                "required for this kind",
            ));
        };
        if ops.is_empty() {
            return Err(self.invalid(
                t.kind.span(),
                &format!("{field}.operations"),
                "must name at least one operation",
            ));
        }
        ops.iter()
            .enumerate()
            .map(|(i, op)| self.operation(catalog, op, &format!("{field}.operations[{i}]")))
            .collect()
    }

    fn required<'s, T>(
        &self,
        value: &'s Option<Spanned<T>>,
        t: &TrafficSection,
        field: &str,
    ) -> Result<&'s Spanned<T>, ScenarioError> {
        value.as_ref().ok_or_else(|| {
            self.invalid(
                t.kind.span(),
                field,
                format!("required for kind {:?}", t.kind.get_ref()),
            )
        })
    }

    fn count(&self, v: &Spanned<u32>, field: &str) -> Result<u32, ScenarioError> {
        match *v.get_ref() {
            0 => Err(self.invalid(v.span(), field, "must be at least 1")),
            n => Ok(n),
        }
    }

    fn traffic(
        &self,
        scenario: &Scenario,
        catalog: &OperationCatalog,
        t: &TrafficSection,
        field: &str,
    ) -> Result<TrafficPattern, ScenarioError> {
        let f = |name: &str| format!("{field}.{name}");
        let concurrency = match &t.concurrency {
            Some(c) => self.count(c, &f("concurrency"))?,
            None => 1,
        };
        match t.kind.get_ref().as_str() {
            "poll" => {
                let op = self.required(&t.operation, t, &f("operation"))?;
                let operation = self.operation(catalog, op, &f("operation"))?;
                let every = self.required(&t.every_minutes, t, &f("every_minutes"))?;
                // From once a second to once a month.
                let every_minutes = self.within(every, &f("every_minutes"), 1.0 / 60.0, 44640.0)?;
                let available = scenario.target_count(operation.target) as u32;
                let targets = match &t.targets {
                    Some(n) => self.count(n, &f("targets")).and_then(|count| {
                        if count > available {
                            Err(self.invalid(
                                n.span(),
                                &f("targets"),
                                format!(
                                    "{count} targets but the inventory has {available} for {}",
                                    operation.operation_id
                                ),
                            ))
                        } else {
                            Ok(count)
                        }
                    })?,
                    None => available,
                };
                let offset = match &t.offset_minutes {
                    Some(o) if !(0.0..every_minutes).contains(o.get_ref()) => {
                        return Err(self.invalid(
                            o.span(),
                            &f("offset_minutes"),
                            "must be at least 0 and less than every_minutes",
                        ));
                    }
                    Some(o) => Some(Duration::from_secs_f64(o.get_ref() * 60.0)),
                    None => None,
                };
                Ok(TrafficPattern::Poll {
                    operation,
                    every: Duration::from_secs_f64(every_minutes * 60.0),
                    offset,
                    targets,
                    concurrency,
                })
            }
            "burst" => {
                let operations = self.operations(catalog, t, field)?;
                let at = self.required(&t.at, t, &f("at"))?;
                let time = NaiveTime::parse_from_str(at.get_ref(), "%H:%M").map_err(|_| {
                    self.invalid(at.span(), &f("at"), "must be a UTC time of day as HH:MM")
                })?;
                let requests = self.count(
                    self.required(&t.requests, t, &f("requests"))?,
                    &f("requests"),
                )?;
                Ok(TrafficPattern::Burst {
                    operations,
                    at: time,
                    requests,
                    concurrency,
                    weekdays_only: t.weekdays_only.unwrap_or(false),
                })
            }
            "trickle" => {
                let operations = self.operations(catalog, t, field)?;
                let per_hour = self.within(
                    self.required(&t.per_hour, t, &f("per_hour"))?,
                    &f("per_hour"),
                    0.01,
                    3_600_000.0,
                )?;
                Ok(TrafficPattern::Trickle {
                    operations,
                    per_hour,
                })
            }
            other => Err(self.invalid(
                t.kind.span(),
                &f("kind"),
                format!(
                    "unknown traffic kind {other:?}: expected \"poll\", \"burst\" or \"trickle\""
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[organization]
id = "1"
name = "Test Org"
days = 1

[inventory]
networks = 2
devices = 4

[[admins]]
id = "100"
name = "Ada"
email = "ada@example.com"

[[consumers]]
name = "poller"
user_agent = "python-meraki/4.7.0 Caller/(Poller/1.0 Test)"
admin = "100"
source_ip = "192.0.2.1"
client_id = "k_1"
on_429 = { honours_retry_after = true, backoff = "exponential", jitter = true, max_retries = 3 }

[[consumers.traffic]]
kind = "poll"
operation = "getDeviceLldpCdp"
every_minutes = 5
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("test.toml"), text)
    }

    #[test]
    fn minimal_scenario_builds_inventory_and_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.networks, ["L_64618000000000001", "L_64618000000000002"]);
        assert_eq!(s.devices[3].serial, "Q2XX-0002-0004");
        assert_eq!(s.devices[3].network, 1);
        assert_eq!(s.org_budget, BucketLimits::MERAKI_ORG);
        assert_eq!(s.api_key_owner.admin_id, "100");
        let TrafficPattern::Poll { targets, every, .. } = &s.consumers[0].traffic[0] else {
            panic!("expected a poll");
        };
        assert_eq!(*targets, 4);
        assert_eq!(*every, Duration::from_secs(300));
    }

    fn error_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_operation_names_file_line_and_field() {
        let bad = MINIMAL.replace("getDeviceLldpCdp", "getDeviceLldp");
        assert_eq!(
            error_of(&bad),
            "test.toml:26: consumers[0].traffic[0].operation: unknown operation \"getDeviceLldp\" (not in the Meraki v1 catalog)"
        );
    }

    #[test]
    fn missing_field_is_named_with_its_line() {
        let bad = MINIMAL.replace("every_minutes = 5\n", "");
        assert_eq!(
            error_of(&bad),
            "test.toml:25: consumers[0].traffic[0].every_minutes: required for kind \"poll\""
        );
        let bad = MINIMAL.replace("days = 1\n", "");
        let e = error_of(&bad);
        assert!(e.starts_with("test.toml:2: days: "), "{e}");
    }

    #[test]
    fn misspelt_key_and_unknown_admin_are_refused() {
        let e = error_of(&MINIMAL.replace("every_minutes", "evry_minutes"));
        assert!(
            e.starts_with("test.toml:27: evry_minutes: unknown field"),
            "{e}"
        );
        let e = error_of(&MINIMAL.replace("admin = \"100\"", "admin = \"999\""));
        assert_eq!(
            e,
            "test.toml:19: consumers[0].admin: no admin with id \"999\" in [[admins]]"
        );
    }

    #[test]
    fn budgets_that_are_not_finite_numbers_are_refused_naming_file_line_and_field() {
        let with_budget = |budget: &str| {
            MINIMAL.replace("[inventory]", &format!("[budget]\n{budget}\n\n[inventory]"))
        };
        for (budget, says) in [
            (
                "burst = nan",
                "test.toml:8: budget.burst: must be a number of at least 0",
            ),
            (
                "burst = inf",
                "test.toml:8: budget.burst: must be a number of at least 0",
            ),
            (
                "burst = -1.0",
                "test.toml:8: budget.burst: must be a number of at least 0",
            ),
            (
                "requests_per_second = nan",
                "test.toml:8: budget.requests_per_second: must be a number greater than 0",
            ),
            (
                "requests_per_second = -inf",
                "test.toml:8: budget.requests_per_second: must be a number greater than 0",
            ),
            (
                "per_source_ip_per_second = -5.0",
                "test.toml:8: budget.per_source_ip_per_second: must be a number greater than 0",
            ),
        ] {
            assert_eq!(error_of(&with_budget(budget)), says, "{budget}");
        }
        assert_eq!(
            parse(&with_budget("burst = 0.0")).unwrap().org_budget.burst,
            0.0
        );
        // NaN passed "< 0 or >= every" too, and then panicked in Duration::from_secs_f64.
        let e = error_of(&MINIMAL.replace(
            "every_minutes = 5",
            "every_minutes = 5\noffset_minutes = nan",
        ));
        assert_eq!(
            e,
            "test.toml:28: consumers[0].traffic[0].offset_minutes: must be at least 0 and less than every_minutes"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let e = error_of(&MINIMAL.replace("192.0.2.1", "not-an-ip"));
        assert!(
            e.contains("consumers[0].source_ip: not an IP address"),
            "{e}"
        );
        let e = error_of(&MINIMAL.replace("backoff = \"exponential\"", "backoff = \"sometimes\""));
        assert!(e.contains("consumers[0].on_429.backoff"), "{e}");
        let e = error_of(&MINIMAL.replace("every_minutes = 5", "every_minutes = 5\ntargets = 9"));
        assert!(e.contains("9 targets but the inventory has 4"), "{e}");
        let e = error_of(&MINIMAL.replace("every_minutes = 5", "every_minutes = 1e300"));
        assert!(e.contains("every_minutes: must be a number from"), "{e}");
        let e = error_of(&MINIMAL.replace(
            "max_retries = 3 }",
            "max_retries = 3, retry_delay_seconds = 0.0 }",
        ));
        assert!(
            e.contains("retry_delay_seconds: must be a number from 0.001 to 3600"),
            "{e}"
        );
        let e = error_of(&MINIMAL.replace("kind = \"poll\"", "kind = \"flood\""));
        assert!(e.contains("unknown traffic kind \"flood\""), "{e}");
        let e = error_of("this is [not toml");
        assert!(e.starts_with("test.toml:1: "), "{e}");
    }
}
