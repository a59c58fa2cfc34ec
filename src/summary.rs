//! The run summary: the final stderr line, the exit code, and the `--summary` JSON document.
//!
//! The JSON is for machines (cron wrappers, dashboards): stable field names, a `schema_version`
//! bumped on any incompatible change, and never a secret (the base URL is shown without any
//! user, password or query).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::{Config, Input};
use crate::error::{EXIT_PARTIAL, Error, Result};
use crate::ledger::{Counts, Failure};
use crate::sink::atomic::Pending;

/// Bumped when a field changes meaning or disappears; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// How many failure messages the JSON carries (the failures file has them all).
pub const FIRST_FAILURES: usize = 5;

/// What a run that started reports, whether it succeeded or not.
#[derive(Debug)]
pub struct Summary {
    pub counts: Counts,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub elapsed: Duration,
    /// The files published, user table last; empty when the run failed.
    pub outputs: Vec<PathBuf>,
    /// Why the run stopped, if it did not finish.
    pub error: Option<Error>,
    pub first_failures: Vec<Failure>,
    /// Time spent writing and publishing the outputs at the end of the run.
    pub write_elapsed: Duration,
}

impl Summary {
    /// 0 all resolved; 3 written but some IDs failed or were invalid; the error's code otherwise.
    pub fn exit_code(&self) -> i32 {
        match &self.error {
            Some(e) => e.exit_code(),
            None if self.counts.failed > 0 => EXIT_PARTIAL,
            None => 0,
        }
    }

    /// The final stderr line: `done: …` for a finished run, `stopped: …` otherwise.
    pub fn line(&self) -> String {
        let word = if self.error.is_some() {
            "stopped"
        } else {
            "done"
        };
        format!("{word}: {}", self.counts.line(self.elapsed))
    }

    /// Calls per second over the whole run.
    pub fn request_rate(&self) -> f64 {
        self.counts.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn to_json(&self, config: &Config) -> serde_json::Value {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let o = &config.outputs;
        let input = match &config.input {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_owned(),
            Input::Embedded(_) => "<demo sample>".to_owned(),
        };
        let failures: Vec<FailureJson> =
            self.first_failures.iter().map(FailureJson::from).collect();
        serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "tool": "alert-users",
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": time(&self.started_at),
            "finished_at": time(&self.finished_at),
            "elapsed_seconds": round3(self.elapsed.as_secs_f64()),
            "write_seconds": round3(self.write_elapsed.as_secs_f64()),
            "exit_code": self.exit_code(),
            "status": self.status(),
            "error": self.error.as_ref().map(|e| e.to_string()),
            "arguments": {
                "input": input,
                "output": o.users.display().to_string(),
                "format": format!("{:?}", o.format).to_lowercase(),
                "not_found": o.not_found.display().to_string(),
                "failures": o.failures.display().to_string(),
                "links": o.links.as_ref().map(|p| p.display().to_string()),
                "concurrency": config.concurrency,
                "rates": config.rates.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "base_url": config.base_url_for_display(),
                "retries": config.retry.retries,
                "timeout_seconds": config.timeout.as_secs_f64(),
            },
            "counts": self.counts,
            "request_rate_per_second": round3(self.request_rate()),
            "outputs": self.outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "first_failures": failures,
        })
    }

    fn status(&self) -> &'static str {
        match (&self.error, self.counts.failed) {
            (Some(Error::Interrupted), _) => "interrupted",
            (Some(_), _) => "failed",
            (None, 0) => "ok",
            (None, _) => "partial",
        }
    }

    /// Writes the JSON document atomically, owner-only like every output.
    pub fn write(&self, config: &Config, path: &Path) -> Result<()> {
        let mut w = Pending::create(path)?.writer();
        let text = serde_json::to_string_pretty(&self.to_json(config)).expect("summary serialises");
        std::io::Write::write_all(&mut w, format!("{text}\n").as_bytes()).map_err(|source| {
            Error::Write {
                path: path.to_owned(),
                source,
            }
        })?;
        w.finish()?.publish()?;
        Ok(())
    }
}

#[derive(Serialize)]
struct FailureJson<'a> {
    alert_id: &'a str,
    kind: &'static str,
    http_status: Option<u16>,
    message: &'a str,
}

impl<'a> From<&'a Failure> for FailureJson<'a> {
    fn from(f: &'a Failure) -> Self {
        FailureJson {
            alert_id: &f.alert_id,
            kind: f.kind.as_str(),
            http_status: f.http_status,
            message: &f.message,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
