//! The validated configuration of an export: every flag checked and resolved before any request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use crate::auth::Credential;
use crate::error::{Error, Result};
use crate::limit::Rate;
use crate::net::Network;
use crate::progress::ProgressMode;
use crate::retry::RetryPolicy;
use crate::sink::Format;
use crate::state::StateConfig;

/// Where alert IDs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
    /// Text embedded in the binary (the demo's sample IDs).
    Embedded(&'static str),
}

impl Input {
    /// How the input is named in messages.
    pub fn name(&self) -> PathBuf {
        match self {
            Input::Path(p) => p.clone(),
            Input::Stdin => PathBuf::from("<stdin>"),
            Input::Embedded(_) => PathBuf::from("<sample alert IDs>"),
        }
    }
}

/// The files a run publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub users: PathBuf,
    pub format: Format,
    pub not_found: PathBuf,
    pub failures: PathBuf,
    pub links: Option<PathBuf>,
}

impl Outputs {
    /// Fills in the defaults (`<stem>.not-found.csv`, `<stem>.failures.csv` beside the output)
    /// and refuses two outputs at one path: the second would silently replace the first.
    pub fn resolve(
        users: PathBuf,
        format: Option<Format>,
        not_found: Option<PathBuf>,
        failures: Option<PathBuf>,
        links: Option<PathBuf>,
    ) -> Result<Outputs> {
        let format = format.or_else(|| Format::from_path(&users)).ok_or_else(|| {
            Error::Usage(format!(
                "cannot tell the format of '{}' from its extension: name it .csv or .parquet, or pass --format",
                users.display()
            ))
        })?;
        let outputs = Outputs {
            not_found: not_found.unwrap_or_else(|| beside(&users, "not-found.csv")),
            failures: failures.unwrap_or_else(|| beside(&users, "failures.csv")),
            users,
            format,
            links,
        };
        let all = outputs.paths();
        for (i, a) in all.iter().enumerate() {
            if all[..i].iter().any(|b| same_file(a, b)) {
                return Err(Error::Usage(format!(
                    "two outputs would be written to '{}'",
                    a.display()
                )));
            }
        }
        Ok(outputs)
    }

    /// Every output path, the user table last (it is published last).
    pub fn paths(&self) -> Vec<&Path> {
        let mut v = vec![self.not_found.as_path(), self.failures.as_path()];
        v.extend(self.links.as_deref());
        v.push(&self.users);
        v
    }
}

/// `reports/users.parquet` + `failures.csv` → `reports/users.failures.csv`.
fn beside(output: &Path, suffix: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    output.with_file_name(format!("{stem}.{suffix}"))
}

/// Compares paths as written, then as resolved when both exist (`./a.csv` and `a.csv`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| {
        p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect::<PathBuf>()
    };
    if norm(a) == norm(b) {
        return true;
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Which API the run talks to.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Api {
        base: Url,
        credential: Credential,
    },
    /// The built-in simulator with the sample tenant, started by the run itself.
    Demo,
}

/// Refuses clear-text http except to this machine: a bearer token must never cross a network
/// unencrypted.
pub fn check_base_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::Usage(format!("invalid base URL '{raw}': {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::Usage(format!(
            "refusing clear-text base URL '{raw}': tokens are only sent over https \
             (http is allowed for loopback hosts: 127.0.0.1, ::1, localhost)"
        ))),
        other => Err(Error::Usage(format!(
            "invalid base URL '{raw}': scheme '{other}' is not http or https"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Everything an export needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub input: Input,
    pub outputs: Outputs,
    /// `--state`: the answers kept between runs.
    pub state: Option<StateConfig>,
    pub endpoint: Endpoint,
    pub concurrency: usize,
    /// Empty: no pacing (`--rate off`).
    pub rates: Vec<Rate>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// Extra trusted roots for the API (and sign-in, through the credential).
    pub network: Network,
    /// How long in-flight requests may finish after SIGINT/SIGTERM.
    pub grace: Duration,
    pub progress: ProgressMode,
    /// Seconds between plain progress lines when stderr is not a terminal.
    pub progress_interval: Duration,
    /// Where to write the JSON run summary (`--summary`).
    pub summary: Option<PathBuf>,
}

impl Config {
    /// The API's base URL as it may be shown: no user, password, query or fragment.
    pub fn base_url_for_display(&self) -> String {
        match &self.endpoint {
            Endpoint::Api { base, .. } => {
                let mut url = base.clone();
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.set_query(None);
                url.set_fragment(None);
                url.to_string()
            }
            Endpoint::Demo => "<built-in simulator>".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_sit_beside_the_output() {
        let o = Outputs::resolve("out/users.parquet".into(), None, None, None, None).unwrap();
        assert_eq!(o.format, Format::Parquet);
        assert_eq!(o.not_found, PathBuf::from("out/users.not-found.csv"));
        assert_eq!(o.failures, PathBuf::from("out/users.failures.csv"));
    }

    #[test]
    fn unknown_extensions_and_clashing_outputs_are_usage_errors() {
        let e = Outputs::resolve("users.txt".into(), None, None, None, None).unwrap_err();
        assert!(
            matches!(e, Error::Usage(ref m) if m.contains("users.txt")),
            "{e}"
        );
        assert!(Outputs::resolve("users.txt".into(), Some(Format::Csv), None, None, None).is_ok());
        let e =
            Outputs::resolve("u.csv".into(), None, Some("./u.csv".into()), None, None).unwrap_err();
        assert!(e.to_string().contains("two outputs"), "{e}");
    }

    #[test]
    fn clear_text_is_only_for_loopback() {
        for ok in [
            "https://api.securitycenter.microsoft.com",
            "http://127.0.0.1:8080",
            "http://[::1]:1",
            "http://localhost:9",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.securitycenter.microsoft.com",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
        ] {
            assert!(matches!(check_base_url(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
