//! The command line as typed (raw clap structs), and its conversion into a validated `Config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::{AuthArgs, Environment, HELP_HEADING, HttpSettings};
use crate::config::{Config, Endpoint, Input, Outputs, same_file};
use crate::error::{Error, Result};
use crate::limit::Rate;
use crate::net::Network;
use crate::progress::ProgressMode;
use crate::retry::RetryPolicy;
use crate::sim::SAMPLE_ALERT_IDS;
use crate::sim::SimulateArgs;
use crate::sink::Format;
use crate::state::{StateArgs, StateConfig};

pub const DEFAULT_BASE_URL: &str = crate::cloud::PUBLIC_API;

/// Export the user accounts behind Microsoft Defender for Endpoint alerts.
#[derive(Parser, Debug)]
// A repeated option takes its last value, so a wrapper script's defaults can be overridden.
#[command(name = "alert-users", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fetch the user behind each alert ID and write a deduplicated user table.
    #[command(after_help = format!("{}\n{EXPORT_EXAMPLES}", crate::cloud::table()))]
    Export(Box<ExportArgs>),
    /// Serve the built-in simulator of the Defender API until interrupted.
    #[command(
        after_help = "Example:\n  alert-users simulate --listen 127.0.0.1:8080 --latency 50 --rate-limit 10"
    )]
    Simulate(SimulateArgs),
    /// Print a shell completion script [e.g. alert-users completions bash > /etc/bash_completion.d/alert-users]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) [e.g. alert-users man > /usr/local/share/man/man1/alert-users.1]
    Man,
    /// Look into (stats) or tidy (prune) the state file of `export --state`.
    #[command(
        after_help = "Examples:\n  alert-users state stats --state state.db\n  alert-users state prune --state state.db --older-than 30d"
    )]
    State(StateArgs),
}

const EXPORT_EXAMPLES: &str = "\
Examples:
  Try it on the built-in simulator (no tenant, no secrets); writes alert-users-demo.csv:
    alert-users export --demo
  An incident review, results for Excel:
    DEFENDER_TOKEN=$(cat token) alert-users export -i alert-ids.txt -o users.csv
  A nightly export to Parquet, with the alert-to-user links, as an app registration:
    AZURE_TENANT_ID=... AZURE_CLIENT_ID=... alert-users export -i ids.txt -o users.parquet \\
      --links links.parquet --client-secret-file /etc/alert-users/client-secret
  Add --state to resume a killed run and ask only for what the last 7 days did not answer:
    alert-users export -i ids.txt -o users.parquet --state state.db ...
  An analyst after `az login`:
    alert-users export -i ids.txt -o users.csv --auth azure-cli

Exit codes: 0 all resolved; 3 written, but some IDs failed (see the failures file);
1 fatal error, nothing published; 2 usage error; 130 interrupted, nothing published.";

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// File of alert IDs, one per line, or - for stdin [e.g. -i alert-ids.txt]
    #[arg(short, long, value_name = "PATH|-", required_unless_present = "demo")]
    pub input: Option<String>,

    /// The user table [e.g. -o users.parquet]
    #[arg(short, long, value_name = "PATH", required_unless_present = "demo")]
    pub output: Option<PathBuf>,

    /// Format of the user and links tables [default: from the output's extension]
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// The 404s: alert_id,reason,error_code,message [default: <output stem>.not-found.csv]
    #[arg(long, value_name = "PATH")]
    pub not_found: Option<PathBuf>,

    /// Everything else that gave no user [default: <output stem>.failures.csv]
    #[arg(long, value_name = "PATH")]
    pub failures: Option<PathBuf>,

    /// Also write the alert→user table (alert_id, user_id), in the output's format [e.g. --links links.csv]
    #[arg(long, value_name = "PATH")]
    pub links: Option<PathBuf>,

    /// Requests in flight at most, 1 to 256 [e.g. -c 16]
    #[arg(short, long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// The API's base URL, overriding --cloud/--region; http is allowed only for loopback hosts [default: from --cloud] [e.g. --base-url https://api.security.microsoft.com]
    #[arg(long, value_name = "URL", env = "DEFENDER_BASE_URL")]
    pub base_url: Option<String>,

    /// File holding a bearer token; else the DEFENDER_TOKEN variable is used [e.g. --token-file ~/.defender-token]
    #[arg(long, value_name = "PATH", help_heading = HELP_HEADING)]
    pub token_file: Option<PathBuf>,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Calls allowed per period, repeatable, all enforced at once; 'off' disables pacing [default: 100/min and 1500/h, the API's quota]
    #[arg(long = "rate", value_name = "N/s|N/min|N/h|off")]
    pub rates: Vec<String>,

    /// Retries after a 5xx, 408, timeout, connection error or malformed body [e.g. --retries 3]
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,

    /// First backoff ceiling; doubles per attempt up to --retry-cap, with full jitter [e.g. --retry-base 200ms]
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub retry_base: Duration,

    /// Longest wait between two attempts [e.g. --retry-cap 1m]
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub retry_cap: Duration,

    /// Time limit of one request, from connect to the last byte [e.g. --timeout 10s]
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Progress display: a bar on a terminal, plain lines otherwise (auto), or always/never
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Time between plain progress lines when stderr is not a terminal [e.g. --progress-interval 5m]
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub progress_interval: Duration,

    /// Only errors and the final line on stderr
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More log lines: -v per-request debug lines, -vv everything (RUST_LOG also works)
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Write a JSON summary of the run (counts, timing, exit code), whatever its outcome [e.g. --summary run.json]
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,

    /// Run against the built-in simulator and the bundled sample data (no tenant, no token)
    #[arg(long)]
    pub demo: bool,

    /// Keep every answer in this SQLite file (created 0600): a rerun resumes a killed run and asks only for what it does not know [e.g. --state /var/lib/alert-users/state.db]
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// With --state: no stored answer older than this is used; 0 asks for everything again [e.g. --max-age 30d]
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration, requires = "state")]
    pub max_age: Duration,

    /// With --state: a stored 404 (no user) older than this is asked again [e.g. --recheck-not-found 6h]
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration, requires = "state")]
    pub recheck_not_found: Duration,
}

pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration '{s}': {e} (e.g. 30s, 500ms, 2m)"))
}

/// Where the demo writes its user table when `-o` is not given.
pub const DEMO_OUTPUT: &str = "alert-users-demo.csv";

impl ExportArgs {
    /// Validates every flag and reads the token, before any request is sent.
    pub fn into_config(self) -> Result<Config> {
        let input = match self.input.as_deref() {
            Some("-") => Input::Stdin,
            Some(p) => Input::Path(PathBuf::from(p)),
            None => Input::Embedded(SAMPLE_ALERT_IDS),
        };
        let users = self
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEMO_OUTPUT));
        let outputs = Outputs::resolve(
            users,
            self.format,
            self.not_found,
            self.failures,
            self.links,
        )?;
        if let Input::Path(p) = &input
            && let Some(out) = outputs.paths().into_iter().find(|o| same_file(o, p))
        {
            return Err(Error::Usage(format!(
                "output '{}' would overwrite the input",
                out.display()
            )));
        }
        let rates = parse_rates(&self.rates, self.demo)?;
        if self.retry_base.is_zero() || self.retry_cap < self.retry_base {
            return Err(Error::Usage(
                "--retry-base must be above 0 and at most --retry-cap".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::Usage("--timeout must be above 0".into()));
        }
        let retry = RetryPolicy {
            retries: self.retries,
            base: self.retry_base,
            cap: self.retry_cap,
        };
        let network = Network::load(&self.auth.ca_cert)?;
        let endpoint = if self.demo {
            Endpoint::Demo
        } else {
            let endpoints = self.auth.endpoints(self.base_url.as_deref())?;
            let http = HttpSettings {
                timeout: self.timeout,
                retry,
            };
            let credential = self.auth.credential(
                &endpoints,
                &network,
                self.token_file.as_deref(),
                Environment::from_process(),
                http,
            )?;
            Endpoint::Api {
                base: endpoints.api,
                credential,
            }
        };
        let state = self
            .state
            .map(|path| {
                StateConfig::new(path, self.max_age, self.recheck_not_found, &input, &outputs)
            })
            .transpose()?;
        Ok(Config {
            input,
            outputs,
            state,
            endpoint,
            concurrency: usize::from(self.concurrency),
            rates,
            retry,
            timeout: self.timeout,
            network,
            grace: Duration::from_secs(5),
            progress: self.progress,
            progress_interval: self.progress_interval.max(Duration::from_millis(100)),
            summary: self.summary,
        })
    }
}

/// `--rate` values; none given means the documented quota (the demo's simulator has none).
fn parse_rates(raw: &[String], demo: bool) -> Result<Vec<Rate>> {
    if raw.iter().any(|r| r.trim().eq_ignore_ascii_case("off")) {
        if raw.len() > 1 {
            return Err(Error::Usage(
                "--rate off cannot be combined with other --rate values".into(),
            ));
        }
        return Ok(Vec::new());
    }
    if raw.is_empty() {
        return Ok(if demo { Vec::new() } else { Rate::documented() });
    }
    raw.iter()
        .map(|r| r.parse::<Rate>().map_err(Error::Usage))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from([&["alert-users", "export"], args].concat())
    }

    #[test]
    fn rates_default_to_the_quota_and_combine() {
        assert_eq!(parse_rates(&[], false).unwrap(), Rate::documented());
        assert!(parse_rates(&[], true).unwrap().is_empty());
        assert!(parse_rates(&["off".into()], false).unwrap().is_empty());
        assert_eq!(
            parse_rates(&["10/s".into(), "300/min".into()], false)
                .unwrap()
                .len(),
            2
        );
        assert!(parse_rates(&["off".into(), "1/s".into()], false).is_err());
        assert!(parse_rates(&["fast".into()], false).is_err());
    }

    #[test]
    fn concurrency_is_bounded_and_input_output_required_without_demo() {
        assert!(parse(&["-i", "x", "-o", "y.csv", "-c", "0"]).is_err());
        assert!(parse(&["-i", "x", "-o", "y.csv", "-c", "257"]).is_err());
        assert!(parse(&["-i", "x", "-o", "y.csv", "-c", "256"]).is_ok());
        assert!(parse(&["-o", "y.csv"]).is_err());
        assert!(parse(&["--demo"]).is_ok());
    }

    #[test]
    fn writing_over_the_input_is_refused() {
        let Command::Export(args) = parse(&["-i", "ids.csv", "-o", "ids.csv", "--demo"])
            .unwrap()
            .command
        else {
            panic!()
        };
        let e = args.into_config().unwrap_err();
        assert!(
            matches!(e, Error::Usage(ref m) if m.contains("overwrite the input")),
            "{e}"
        );
    }
}
