//! `alert-users simulate`: command-line options and running the simulator until Ctrl-C.

use std::path::PathBuf;

use super::{SimConfig, Tenant, serve};

/// Run a local simulator of the Defender alert-user API, for trying the exporter out.
#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Tenant file (see sample-data/tenant.json); default: the built-in sample tenant.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Answer any unlisted alert ID with one of this many synthetic users.
    #[arg(long, value_name = "ACCOUNTS", value_parser = clap::value_parser!(u32).range(1..))]
    pub synthetic: Option<u32>,
    /// Base latency of every answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,
    /// Random (seeded) ± jitter around the latency, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub jitter: u64,
    /// Requests per second allowed before answering 429 (e.g. 1.667 for 100 per minute).
    #[arg(long, value_name = "N/s", value_parser = parse_rate_limit)]
    pub rate_limit: Option<f64>,
    /// Share of faulty attempts answered 500/503.
    #[arg(long, value_name = "0..1", default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Share of faulty attempts whose connection is dropped without an answer.
    #[arg(long, value_name = "0..1", default_value_t = 0.0, value_parser = parse_rate)]
    pub reset_rate: f64,
    /// Share of faulty attempts never answered (until the client gives up).
    #[arg(long, value_name = "0..1", default_value_t = 0.0, value_parser = parse_rate)]
    pub hang_rate: f64,
    /// Share of faulty attempts answered 200 with truncated JSON.
    #[arg(long, value_name = "0..1", default_value_t = 0.0, value_parser = parse_rate)]
    pub malformed_rate: f64,
    /// Faults strike only each alert's first N attempts, so retrying recovers.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub faulty_attempts: u32,
    /// Accept only this bearer token (default: any non-empty one).
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Answer every authorised request 403, like an app lacking User.Read.All.
    #[arg(long)]
    pub forbidden: bool,
    /// Seed for every random choice (faults, jitter), so a run can be replayed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
}

impl SimulateArgs {
    /// The simulator configuration these options describe; reads the tenant file.
    pub fn into_config(self) -> Result<SimConfig, String> {
        let mut tenant = match &self.data {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read tenant file {}: {e}", path.display()))?;
                Tenant::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Tenant::sample(),
        };
        if let Some(accounts) = self.synthetic {
            // Keep the file's not-found share when it has one.
            let permille = tenant.synthetic.map_or(50, |s| s.not_found_permille);
            tenant = tenant.with_synthetic(accounts, permille);
        }
        let config = SimConfig {
            latency_ms: self.latency,
            jitter_ms: self.jitter,
            rate_limit: self.rate_limit,
            fail_rate: self.fail_rate,
            reset_rate: self.reset_rate,
            hang_rate: self.hang_rate,
            malformed_rate: self.malformed_rate,
            faulty_attempts: self.faulty_attempts,
            token: self.token,
            forbidden: self.forbidden,
            seed: self.seed,
            ..SimConfig::new(tenant)
        };
        config.validate()?;
        Ok(config)
    }
}

/// Binds, says where on stderr, and serves until Ctrl-C.
pub async fn run_simulate(args: SimulateArgs) -> Result<(), String> {
    let listen = args.listen.clone();
    let config = args.into_config()?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("simulator listening on http://{addr}");
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            // Without a signal handler the simulator could never stop cleanly: stop now.
            tracing::error!("cannot wait for Ctrl-C: {e}");
        }
    };
    serve(listener, config, ctrl_c)
        .await
        .map_err(|e| format!("simulator failed: {e}"))
}

/// A probability: a number from 0 to 1.
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

fn parse_rate_limit(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(format!(
            "{rate} is not a positive number of requests per second"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(extra: &[&str]) -> Result<SimulateArgs, clap::Error> {
        let argv = ["simulate", "--listen", "127.0.0.1:0"].iter().chain(extra);
        Cli::try_parse_from(argv).map(|cli| cli.args)
    }

    #[test]
    fn options_become_a_config() {
        let args = parse(&[
            "--fail-rate",
            "0.25",
            "--rate-limit",
            "1.5",
            "--synthetic",
            "10",
        ]);
        let config = args.unwrap().into_config().unwrap();
        assert_eq!(config.fail_rate, 0.25);
        assert_eq!(config.rate_limit, Some(1.5));
        assert_eq!(config.faulty_attempts, 2);
        assert!(config.tenant.synthetic.is_some());
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(parse(&["--hang-rate", "1.5"]).is_err());
        assert!(parse(&["--rate-limit", "0"]).is_err());
        let args = parse(&["--fail-rate", "0.6", "--reset-rate", "0.6"]).unwrap();
        assert!(args.into_config().unwrap_err().contains("add up to"));
        let args = parse(&["--data", "/nonexistent/tenant.json"]).unwrap();
        let err = args.into_config().unwrap_err();
        assert!(err.contains("/nonexistent/tenant.json"), "{err}");
    }
}
