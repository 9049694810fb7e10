//! Where notifications go: webhook URLs, which are secrets (whoever holds one can post into the
//! channel), so a target prints as "notification 1 (hooks.slack.com)" and nothing more, and the
//! message format each one speaks.

use super::NotifyError;
use reqwest::Url;
use std::fmt;
use std::path::Path;

/// The environment variable that may hold webhook URLs (whitespace-separated).
pub const NOTIFY_URL_ENV: &str = "CALLBUDGET_NOTIFY_URL";

/// The shape of the message a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyFormat {
    /// callbudget's own JSON (docs/notification.schema.json), for scripts and alert routers.
    Generic,
    /// A Webex incoming webhook: `{"markdown": …}`.
    Webex,
    /// A Slack incoming webhook: `{"text": …}` in Slack's mrkdwn.
    Slack,
    /// A Microsoft Teams Workflows webhook: a message with an Adaptive Card attachment.
    Teams,
}

impl NotifyFormat {
    pub const NAMES: [&'static str; 4] = ["generic", "webex", "slack", "teams"];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyFormat::Generic => "generic",
            NotifyFormat::Webex => "webex",
            NotifyFormat::Slack => "slack",
            NotifyFormat::Teams => "teams",
        }
    }

    /// The format a webhook host speaks: Slack's, Webex's and Teams' (Power Automate Workflows,
    /// and the retired Office 365 connectors) own hosts; anything else gets the generic JSON.
    pub fn for_host(host: &str) -> NotifyFormat {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if host == "hooks.slack.com" {
            NotifyFormat::Slack
        } else if under("webexapis.com") || under("ciscospark.com") {
            NotifyFormat::Webex
        } else if under("webhook.office.com")
            || under("logic.azure.com")
            || under("powerplatform.com")
        {
            NotifyFormat::Teams
        } else {
            NotifyFormat::Generic
        }
    }
}

impl std::str::FromStr for NotifyFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "generic" => Ok(NotifyFormat::Generic),
            "webex" => Ok(NotifyFormat::Webex),
            "slack" => Ok(NotifyFormat::Slack),
            "teams" => Ok(NotifyFormat::Teams),
            other => Err(format!(
                "{other:?}: expected {}",
                NotifyFormat::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for NotifyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One webhook to post to. Its URL never leaves this type except into the HTTP request:
/// `Display` and `Debug` say "notification N (host)".
#[derive(Clone)]
pub struct WebhookTarget {
    /// 1-based, in the order the URLs were given (flags, then the file, then the environment).
    pub number: usize,
    pub format: NotifyFormat,
    url: Url,
}

impl WebhookTarget {
    /// The host, which is all of the URL that may be shown.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("?")
    }

    pub(super) fn url(&self) -> &Url {
        &self.url
    }

    /// `text` with the URL, and its path and query, cut out: for error texts from the HTTP stack,
    /// which may quote what they were asked to reach.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(self.url.as_str(), "…");
        let path = self.url.path();
        if path.len() > 1 {
            out = out.replace(path, "/…");
        }
        if let Some(query) = self.url.query().filter(|q| !q.is_empty()) {
            out = out.replace(query, "…");
        }
        out
    }
}

impl fmt::Display for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "notification {} ({})", self.number, self.host())
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookTarget({self}, {})", self.format)
    }
}

/// Where the webhook URLs come from: `--notify` flags, a file (one URL a line; blank lines and
/// `#` comments skipped) and the environment ([`NOTIFY_URL_ENV`]).
#[derive(Debug, Default)]
pub struct TargetSources<'a> {
    pub flags: &'a [String],
    pub file: Option<&'a Path>,
    pub env: Option<String>,
    /// One format for every target; default: each URL's host decides.
    pub format: Option<NotifyFormat>,
}

/// The targets `sources` name, each URL once. A URL that cannot be used is refused naming where it
/// came from and why, never the URL itself.
pub fn webhook_targets(sources: &TargetSources<'_>) -> Result<Vec<WebhookTarget>, NotifyError> {
    let mut given: Vec<(String, String)> = sources
        .flags
        .iter()
        .enumerate()
        .map(|(i, url)| (url.clone(), format!("--notify number {}", i + 1)))
        .collect();
    if let Some(path) = sources.file {
        let text = std::fs::read_to_string(path).map_err(|source| NotifyError::UrlFile {
            path: path.to_owned(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                given.push((line.to_owned(), format!("{}:{}", path.display(), i + 1)));
            }
        }
    }
    if let Some(env) = &sources.env {
        for (i, url) in env.split_whitespace().enumerate() {
            given.push((url.to_owned(), format!("{NOTIFY_URL_ENV} (URL {})", i + 1)));
        }
    }
    let mut targets: Vec<WebhookTarget> = Vec::with_capacity(given.len());
    for (text, origin) in given {
        let url = parse_webhook_url(&text).map_err(|reason| NotifyError::BadUrl {
            origin: origin.clone(),
            reason,
        })?;
        if targets.iter().any(|t| t.url == url) {
            continue;
        }
        let format = sources
            .format
            .unwrap_or_else(|| NotifyFormat::for_host(url.host_str().unwrap_or_default()));
        targets.push(WebhookTarget {
            number: targets.len() + 1,
            format,
            url,
        });
    }
    Ok(targets)
}

/// A URL a notification may be posted to: HTTPS, or plain HTTP to this machine (the URL is a
/// secret, and the message is not for the network to read).
fn parse_webhook_url(text: &str) -> Result<Url, &'static str> {
    let url = Url::parse(text).map_err(|_| "not a URL")?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the URL has no host")?;
    // An IPv6 host is written in brackets.
    let loopback = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => std::net::IpAddr::is_loopback(&ip),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err("plain http is only for this machine (127.0.0.1, ::1, localhost): use https"),
        _ => Err("not an http(s) URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(flags: &[&str]) -> Result<Vec<WebhookTarget>, NotifyError> {
        let flags: Vec<String> = flags.iter().map(|s| (*s).to_owned()).collect();
        webhook_targets(&TargetSources {
            flags: &flags,
            ..TargetSources::default()
        })
    }

    #[test]
    fn the_host_chooses_the_format() {
        for (host, format) in [
            ("hooks.slack.com", NotifyFormat::Slack),
            ("webexapis.com", NotifyFormat::Webex),
            ("acme.webhook.office.com", NotifyFormat::Teams),
            ("prod-12.westeurope.logic.azure.com", NotifyFormat::Teams),
            (
                "default1234.ab.environment.api.powerplatform.com",
                NotifyFormat::Teams,
            ),
            ("alerts.example.com", NotifyFormat::Generic),
            // A look-alike is not the service.
            ("hooks.slack.com.example.net", NotifyFormat::Generic),
            ("notwebexapis.com", NotifyFormat::Generic),
        ] {
            assert_eq!(NotifyFormat::for_host(host), format, "{host}");
        }
    }

    #[test]
    fn a_target_shows_only_its_number_and_host() {
        let t = targets(&[
            "https://hooks.slack.com/services/T000/B000/SECRETSECRET",
            "https://alerts.example.com/hook?token=SECRET2",
        ])
        .unwrap();
        assert_eq!(t[0].to_string(), "notification 1 (hooks.slack.com)");
        assert_eq!(t[0].format, NotifyFormat::Slack);
        assert_eq!(
            format!("{:?}", t[1]),
            "WebhookTarget(notification 2 (alerts.example.com), generic)"
        );
        assert_eq!(
            t[0].redact("error sending https://hooks.slack.com/services/T000/B000/SECRETSECRET"),
            "error sending …"
        );
        assert_eq!(
            t[1].redact("for /hook?token=SECRET2: refused"),
            "for /…?…: refused"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_being_repeated() {
        let e = targets(&["https://ok.example/x", "ftp://files.example/SECRET"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--notify number 2: not an http(s) URL (the URL itself is not shown: it is a secret)"
        );
        let e = targets(&["http://alerts.example.com/SECRET"]).unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(targets(&["hooks.slack.com/SECRET"]).is_err());
        assert_eq!(targets(&["http://127.0.0.1:9/x"]).unwrap().len(), 1);
    }

    #[test]
    fn urls_come_from_flags_a_file_and_the_environment_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hooks");
        std::fs::write(
            &file,
            "# the SOC channel\nhttps://hooks.slack.com/services/A\n\nhttps://webexapis.com/v1/webhooks/incoming/B\n",
        )
        .unwrap();
        let flags = vec!["https://hooks.slack.com/services/A".to_owned()];
        let t = webhook_targets(&TargetSources {
            flags: &flags,
            file: Some(&file),
            env: Some(
                " https://alerts.example.com/C  https://webexapis.com/v1/webhooks/incoming/B "
                    .into(),
            ),
            format: None,
        })
        .unwrap();
        let shown: Vec<String> = t.iter().map(|t| format!("{t} {}", t.format)).collect();
        assert_eq!(
            shown,
            [
                "notification 1 (hooks.slack.com) slack",
                "notification 2 (webexapis.com) webex",
                "notification 3 (alerts.example.com) generic",
            ]
        );
        let forced = webhook_targets(&TargetSources {
            flags: &flags,
            format: Some(NotifyFormat::Generic),
            ..TargetSources::default()
        })
        .unwrap();
        assert_eq!(forced[0].format, NotifyFormat::Generic);

        std::fs::write(&file, "https://ok.example/a\nnot a url SECRET\n").unwrap();
        let e = webhook_targets(&TargetSources {
            file: Some(&file),
            ..TargetSources::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2: not a URL (the URL itself is not shown: it is a secret)",
                file.display()
            )
        );
    }
}
