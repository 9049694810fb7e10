//! What each subcommand's flags ask of the library: the requests, options and settings built from
//! the parsed arguments, here at the edge that knows both, so that the binary's `commands` only
//! call the library and print.

use super::{
    AnalysisArgs, AuditArgs, Cli, CollectArgs, DemoArgs, ImportArgs, NotifyArgs, SimulateArgs,
};
use crate::demo::DemoRequest;
use callbudget_analysis::{AuditRequest, BudgetChoice, OrgChoice, WindowStart};
use callbudget_api::budget::BudgetModelError;
use callbudget_collect::dashboard::client::ClientConfig;
use callbudget_collect::dashboard::key::ApiKey;
use callbudget_collect::progress::Verbosity;
use callbudget_collect::{CollectOptions, OrgSelection};
use callbudget_report::notify::TargetSources;
use callbudget_sim::{FaultPlan, LinkStyle, Scenario, SimConfig, SimError};
use callbudget_store::OrgId;
use callbudget_store::import::{ImportBudgetError, ImportOptions};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// The key a simulator that only builds its log (`--no-serve`) accepts: nobody calls it.
const OFFLINE_API_KEY: &str = "unused-offline";

impl Cli {
    /// How much the commands say on stderr.
    pub fn verbosity(&self) -> Verbosity {
        Verbosity {
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }
}

impl AnalysisArgs {
    /// The audit `analyze` and `report` ask for: a budget on the command line applies to every
    /// organization, else each is replayed through its own.
    pub fn audit_request(&self) -> Result<AuditRequest, BudgetModelError> {
        let budget = BudgetChoice::from_flags(self.budget_model.as_deref(), self.rate, self.burst)?;
        Ok(AuditRequest {
            orgs: OrgChoice::named_or_collected(&self.orgs),
            since: self.since.unwrap_or(AuditRequest::default().since),
            until: self.until,
            budget,
            consumer_key: self.group_by,
        })
    }
}

impl AuditArgs {
    /// The audit `audit` asks for: the newest --report-span of each organization's log, through
    /// a token bucket of --org-rate and --burst. The audit narrows the organizations to the ones
    /// it collected (the database may hold others, e.g. imported ones).
    pub fn audit_request(&self) -> Result<AuditRequest, BudgetModelError> {
        Ok(AuditRequest {
            orgs: OrgChoice::Collected,
            since: WindowStart::Before(self.report_span),
            until: None,
            budget: BudgetChoice::from_flags(None, Some(self.collect.org_rate), Some(self.burst))?,
            consumer_key: self.group_by,
        })
    }
}

impl CollectArgs {
    /// The client `collect` calls the API with: `key`, spending --budget-share of each budget.
    pub fn client_config(&self, key: ApiKey) -> ClientConfig {
        let mut config = ClientConfig::new(&self.base_url, key, self.budget_share);
        config.org_rate = self.org_rate * self.budget_share;
        config.source_ip_rate = self.source_ip_rate * self.budget_share;
        config.ca_cert = self.ca_cert.clone();
        config.trusted_hosts = self.trust_host.clone();
        config
    }

    /// What `collect` pulls, over which range, and how.
    pub fn collect_options(&self) -> CollectOptions {
        CollectOptions {
            orgs: if self.all_orgs {
                OrgSelection::All
            } else {
                OrgSelection::Ids(self.orgs.iter().map(OrgId::new).collect())
            },
            since: self.since,
            until: self.until,
            window: TimeDelta::minutes(i64::from(self.window_minutes)),
            by_consumer: self.by_consumer,
            concurrent_orgs: self.concurrent_orgs as usize,
            max_wait: self.max_wait,
            repair: self.repair,
            org_budget_rate: self.org_rate,
            ..CollectOptions::default()
        }
    }
}

impl DemoArgs {
    /// The demo the flags ask for; its simulated week ends at --now, else at `now`.
    pub fn demo_request(&self, now: DateTime<Utc>) -> DemoRequest {
        DemoRequest {
            out: self.out.clone(),
            now: self.now.unwrap_or(now),
            days: self.days,
        }
    }
}

impl ImportArgs {
    /// The import the flags ask for, through the budget --budget-model names, else the
    /// provider's own (see [`callbudget_store::import::Provider::budget`]).
    pub fn import_options(&self) -> Result<ImportOptions, ImportBudgetError> {
        Ok(ImportOptions {
            org_id: OrgId::new(&self.org),
            org_name: self.org_name.clone(),
            provider: self.provider,
            format: self.format,
            budget: self.provider.budget(self.budget_model.as_deref())?,
            strict: self.strict,
            max_span: self.max_span,
        })
    }
}

impl NotifyArgs {
    /// Where the webhook URLs come from: the flags, the file, and `env`, the value of
    /// [`callbudget_report::notify::NOTIFY_URL_ENV`] (read by the caller; blank is unset).
    pub fn target_sources(&self, env: Option<String>) -> TargetSources<'_> {
        TargetSources {
            flags: &self.notify_urls,
            file: self.notify_file.as_deref(),
            env: env.filter(|v| !v.trim().is_empty()),
            format: self.notify_format,
        }
    }
}

impl SimulateArgs {
    /// The API key the simulator accepts: `from_env` (MERAKI_DASHBOARD_API_KEY) when set. The key
    /// is only needed to serve: building a log offline (--no-serve) needs none. `None`: one is
    /// needed and missing.
    pub fn api_key(&self, from_env: Option<String>) -> Option<String> {
        match from_env {
            Some(key) if !key.is_empty() => Some(key),
            _ if self.no_serve => Some(OFFLINE_API_KEY.to_owned()),
            _ => None,
        }
    }

    /// The faults the simulator injects.
    pub fn fault_plan(&self) -> FaultPlan {
        let mut faults = FaultPlan {
            retry_after: self.retry_after,
            seed: self.fault_seed,
            storm_length: Duration::from_secs_f64(self.storm_seconds),
            unavailable_for: Duration::from_secs_f64(self.unavailable_seconds),
            slow_delay: Duration::from_millis(self.slow_ms),
            ..FaultPlan::default()
        };
        for setting in &self.faults {
            faults = faults.with(*setting);
        }
        for setting in &self.hostile {
            faults = faults.with_hostile(*setting);
        }
        faults
    }

    /// The simulator the flags describe, playing `scenarios` up to `now` and accepting `api_key`;
    /// refused when --link-host asks for a host the --link-style cannot write.
    pub fn sim_config(
        &self,
        scenarios: Vec<Scenario>,
        now: DateTime<Utc>,
        api_key: String,
    ) -> Result<SimConfig, SimError> {
        let mut config = SimConfig::new(scenarios, now, api_key);
        config.enforce_rate_limits = !self.no_rate_limits;
        config.faults = self.fault_plan();
        // Relative Links are the ones every client follows; a link host asks for absolute ones.
        config.link_style = LinkStyle::for_link_host(self.link_style, self.link_host.is_some())?;
        config.link_host = self.link_host.clone();
        config.redirect_to = self.redirect_to.clone();
        config.page_order = self.page_order;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Command;
    use super::*;
    use clap::Parser;

    fn command(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("callbudget").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn collect_spends_its_share_of_each_budget() {
        let Command::Collect(args) = command(&[
            "collect",
            "--org",
            "549236",
            "--budget-share",
            "0.5",
            "--org-rate",
            "4",
            "--window-minutes",
            "15",
        ]) else {
            panic!("expected collect");
        };
        let config = args.client_config(ApiKey::new("k".repeat(40)).unwrap());
        assert_eq!(config.org_rate, 2.0);
        assert_eq!(config.source_ip_rate, 50.0);
        let options = args.collect_options();
        assert_eq!(options.orgs, OrgSelection::Ids(vec![OrgId::new("549236")]));
        assert_eq!(options.window, TimeDelta::minutes(15));
        assert_eq!(options.concurrent_orgs, 4);
    }

    #[test]
    fn an_analysis_without_budget_flags_replays_each_org_through_its_own() {
        let Command::Analyze(args) = command(&["analyze", "--since", "7d"]) else {
            panic!("expected analyze");
        };
        let request = args.analysis.audit_request().unwrap();
        assert_eq!(request.orgs, OrgChoice::Collected);
        assert_eq!(request.since, WindowStart::Before(TimeDelta::days(7)));
        assert_eq!(request.budget, BudgetChoice::Stored);
    }

    #[test]
    fn audit_reports_only_what_it_collected_through_its_org_rate() {
        let Command::Audit(args) = command(&[
            "audit",
            "--all-orgs",
            "--org-rate",
            "5",
            "--report-span",
            "2h",
        ]) else {
            panic!("expected audit");
        };
        let request = args.audit_request().unwrap();
        assert_eq!(request.orgs, OrgChoice::Collected);
        assert_eq!(request.since, WindowStart::Before(TimeDelta::hours(2)));
        assert_eq!(
            request.budget,
            BudgetChoice::from_flags(None, Some(5.0), Some(10.0)).unwrap()
        );
    }

    #[test]
    fn a_simulator_needs_a_key_only_to_serve() {
        let serving = ["simulate", "--scenario", "a.toml"];
        let Command::Simulate(args) = command(&serving) else {
            panic!("expected simulate");
        };
        assert_eq!(args.api_key(None), None);
        assert_eq!(args.api_key(Some(String::new())), None);
        assert_eq!(args.api_key(Some("key".into())), Some("key".into()));
        let Command::Simulate(offline) = command(&[&serving[..], &["--no-serve"]].concat()) else {
            panic!("expected simulate");
        };
        assert_eq!(offline.api_key(None), Some(OFFLINE_API_KEY.into()));
        assert_eq!(offline.api_key(Some("key".into())), Some("key".into()));
    }

    #[test]
    fn a_link_host_makes_links_absolute_unless_another_style_is_asked_for() {
        let config = |extra: &[&str]| {
            let base = ["simulate", "--scenario", "a.toml", "--no-rate-limits"];
            let Command::Simulate(args) = command(&[&base[..], extra].concat()) else {
                panic!("expected simulate");
            };
            args.sim_config(Vec::new(), DateTime::UNIX_EPOCH, "key".into())
        };
        let plain = config(&[]).unwrap();
        assert_eq!(plain.link_style, LinkStyle::Relative);
        assert!(!plain.enforce_rate_limits);
        let hosted = config(&["--link-host", "api.example.com"]).unwrap();
        assert_eq!(hosted.link_style, LinkStyle::Absolute);
        assert!(matches!(
            config(&["--link-host", "api.example.com", "--link-style", "relative"]),
            Err(SimError::LinkHostNeedsAbsoluteLinks)
        ));
    }

    #[test]
    fn a_blank_notify_variable_names_no_webhook() {
        let Command::Audit(args) = command(&["audit", "--all-orgs", "--notify", "https://x.test"])
        else {
            panic!("expected audit");
        };
        let sources = args.notify.target_sources(Some("  ".into()));
        assert_eq!(sources.flags, ["https://x.test".to_owned()]);
        assert_eq!(sources.env, None);
        assert_eq!(
            args.notify
                .target_sources(Some("https://y.test".into()))
                .env,
            Some("https://y.test".into())
        );
    }
}
