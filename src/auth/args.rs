//! The sign-in, cloud and network flags of `export`, and the choice of one credential from them
//! and the environment (`--auth auto`), made before any request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::entra::{Entra, Flow};
use super::{Credential, TokenCache, read_secret_file};
use crate::cloud::{self, Cloud, Endpoints, Overrides, Region};
use crate::error::{Error, Result};
use crate::net::Network;
use crate::retry::RetryPolicy;

/// The `export --help` section of these flags.
pub const HELP_HEADING: &str = "Sign-in, clouds and networks";

/// `--auth`: where tokens come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// token if one is given, else client-secret if a secret is, else workload-identity if a
    /// federated token file is; never managed-identity (probing it hangs off Azure)
    #[default]
    Auto,
    /// DEFENDER_TOKEN or --token-file, used as is
    Token,
    /// An app registration: tenant ID, client ID and a client secret
    ClientSecret,
    /// The Azure VM's, App Service's or Function's own identity
    ManagedIdentity,
    /// A Kubernetes federated token: tenant ID, client ID and the token file
    WorkloadIdentity,
    /// The signed-in user of `az login` (delegated, for analysts)
    AzureCli,
}

/// Each flag carries the heading: `next_help_heading` would also move the flags after it.
#[derive(Args, Debug)]
pub struct AuthArgs {
    /// How to get tokens
    #[arg(long, help_heading = HELP_HEADING, value_enum, default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,

    /// Directory (tenant) ID of the app registration [e.g. --tenant-id contoso.onmicrosoft.com]
    #[arg(long, help_heading = HELP_HEADING, value_name = "ID", env = "AZURE_TENANT_ID")]
    pub tenant_id: Option<String>,

    /// Application (client) ID; with managed-identity, the client ID of a user-assigned identity
    #[arg(long, help_heading = HELP_HEADING, value_name = "ID", env = "AZURE_CLIENT_ID")]
    pub client_id: Option<String>,

    /// File holding the client secret, read once; else AZURE_CLIENT_SECRET. No flag takes the secret itself: it would show in `ps`
    #[arg(long, help_heading = HELP_HEADING, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,

    /// Federated token file of workload identity
    #[arg(long, help_heading = HELP_HEADING, value_name = "PATH", env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub federated_token_file: Option<PathBuf>,

    /// Microsoft cloud: picks the API host, sign-in host and scope together (see the table below)
    #[arg(long, help_heading = HELP_HEADING, value_enum, default_value_t = Cloud::Public)]
    pub cloud: Cloud,

    /// Regional API host of the public cloud
    #[arg(long, help_heading = HELP_HEADING, value_enum)]
    pub region: Option<Region>,

    /// Sign-in host, overriding --cloud [e.g. --authority-host https://login.microsoftonline.us]
    #[arg(long, help_heading = HELP_HEADING, value_name = "URL", env = "AZURE_AUTHORITY_HOST")]
    pub authority_host: Option<String>,

    /// Token scope, overriding --cloud [e.g. --scope https://api.security.microsoft.com/.default]
    #[arg(long, help_heading = HELP_HEADING, value_name = "SCOPE")]
    pub scope: Option<String>,

    /// Extra trusted root certificates (PEM) for API and sign-in, e.g. a TLS-inspecting proxy's CA; the system's stay trusted. Repeatable
    #[arg(long, help_heading = HELP_HEADING, value_name = "PEM")]
    pub ca_cert: Vec<PathBuf>,
}

/// The variables read for credentials that clap does not bind to a flag: secrets must not be
/// flag values (they would show in `ps` and in `--help`).
#[derive(Default)]
pub struct Environment {
    pub defender_token: Option<String>,
    pub client_secret: Option<String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Environment {
            defender_token: var("DEFENDER_TOKEN"),
            client_secret: var("AZURE_CLIENT_SECRET"),
        }
    }
}

/// The message when `auto` finds nothing: every mode and what it needs.
const NO_CREDENTIAL: &str = "no credential found; give one of:
  --auth token              DEFENDER_TOKEN, or --token-file <PATH>
  --auth client-secret      AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
                            (or --tenant-id, --client-id and --client-secret-file <PATH>)
  --auth workload-identity  AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE
  --auth managed-identity   on an Azure VM, App Service or Function (--client-id for a
                            user-assigned identity); auto never tries it
  --auth azure-cli          after `az login`; auto never tries it
or try the simulator with --demo";

impl AuthArgs {
    /// The API host, sign-in host and scope: `--cloud`/`--region`, then each override.
    pub fn endpoints(&self, base_url: Option<&str>) -> Result<Endpoints> {
        let overrides = Overrides {
            base_url,
            authority_host: self
                .authority_host
                .as_deref()
                .filter(|s| !s.trim().is_empty()),
            scope: self.scope.as_deref(),
        };
        cloud::resolve(self.cloud, self.region, &overrides)
    }

    /// `auto` resolved to a concrete mode; explicit file flags that another mode would ignore
    /// are refused rather than silently dropped.
    pub fn mode(&self, token_file: Option<&Path>, env: &Environment) -> Result<AuthMode> {
        let mode = match self.auth {
            AuthMode::Auto if token_file.is_some() || env.defender_token.is_some() => {
                AuthMode::Token
            }
            AuthMode::Auto if self.client_secret_file.is_some() || env.client_secret.is_some() => {
                AuthMode::ClientSecret
            }
            AuthMode::Auto if self.federated_token_file.is_some() => AuthMode::WorkloadIdentity,
            AuthMode::Auto => return Err(Error::Credential(NO_CREDENTIAL.into())),
            explicit => explicit,
        };
        let misplaced = |flag: &str, wanted: &str| {
            Error::Usage(format!(
                "{flag} only applies to --auth {wanted}, not --auth {}",
                mode.to_possible_value()
                    .expect("no skipped value")
                    .get_name()
            ))
        };
        if token_file.is_some() && mode != AuthMode::Token {
            return Err(misplaced("--token-file", "token"));
        }
        if self.client_secret_file.is_some() && mode != AuthMode::ClientSecret {
            return Err(misplaced("--client-secret-file", "client-secret"));
        }
        Ok(mode)
    }

    /// The run's credential, with secrets read once, here. Renewable credentials make no
    /// request yet: `Credential::sign_in` does, when the run starts.
    pub fn credential(
        &self,
        endpoints: &Endpoints,
        network: &Network,
        token_file: Option<&Path>,
        env: Environment,
        http: HttpSettings,
    ) -> Result<Credential> {
        let flow = match self.mode(token_file, &env)? {
            AuthMode::Token | AuthMode::Auto => {
                return Credential::from_token_sources(token_file, env.defender_token);
            }
            AuthMode::ClientSecret => {
                let (tenant, client_id) = self.app("client-secret", "a client secret", || {
                    self.client_secret_file.is_some() || env.client_secret.is_some()
                })?;
                let secret = match &self.client_secret_file {
                    Some(path) => read_secret_file(path)?,
                    None => super::Secret::new(env.client_secret.unwrap_or_default().trim()),
                };
                Flow::ClientSecret {
                    tenant,
                    client_id,
                    secret,
                }
            }
            AuthMode::WorkloadIdentity => {
                let (tenant, client_id) =
                    self.app("workload-identity", "a federated token file", || {
                        self.federated_token_file.is_some()
                    })?;
                Flow::WorkloadIdentity {
                    tenant,
                    client_id,
                    token_file: self.federated_token_file.clone().unwrap_or_default(),
                }
            }
            AuthMode::ManagedIdentity => Flow::ManagedIdentity {
                client_id: non_empty(&self.client_id),
            },
            AuthMode::AzureCli => Flow::AzureCli {
                tenant: non_empty(&self.tenant_id),
            },
        };
        let mut builder = network
            .builder()
            .timeout(http.timeout)
            .connect_timeout(http.timeout.min(Duration::from_secs(10)));
        if matches!(flow, Flow::ManagedIdentity { .. }) {
            // Its endpoint is on this machine (IMDS's link-local address, App Service's local
            // port): a proxy cannot reach it, whatever HTTP_PROXY says.
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| Error::HttpClient(crate::client::chain(&e)))?;
        let source = Entra::new(
            flow,
            endpoints.authority.clone(),
            endpoints.scope.clone(),
            client,
            http.retry,
        );
        Ok(Credential::Renewable(Arc::new(TokenCache::new(Box::new(
            source,
        )))))
    }

    /// Tenant and client ID of an app registration, or one error naming all that is missing.
    fn app(
        &self,
        mode: &str,
        proof: &str,
        has_proof: impl Fn() -> bool,
    ) -> Result<(String, String)> {
        let (tenant, client) = (non_empty(&self.tenant_id), non_empty(&self.client_id));
        let mut missing = Vec::new();
        if tenant.is_none() {
            missing.push("the tenant ID (--tenant-id or AZURE_TENANT_ID)".to_owned());
        }
        if client.is_none() {
            missing.push("the client ID (--client-id or AZURE_CLIENT_ID)".to_owned());
        }
        if !has_proof() {
            missing.push(match mode {
                "client-secret" => {
                    format!("{proof} (--client-secret-file <PATH> or AZURE_CLIENT_SECRET)")
                }
                _ => format!("{proof} (--federated-token-file or AZURE_FEDERATED_TOKEN_FILE)"),
            });
        }
        match (tenant, client) {
            (Some(t), Some(c)) if missing.is_empty() => Ok((t, c)),
            _ => Err(Error::Credential(format!(
                "--auth {mode} needs {}",
                missing.join(", ")
            ))),
        }
    }
}

/// What the token requests share with the API's: the request time limit and retry policy.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built by hand, not parsed: clap would read AZURE_* from the test's own environment.
    fn args(auth: AuthMode, tenant: Option<&str>, client: Option<&str>) -> AuthArgs {
        AuthArgs {
            auth,
            tenant_id: tenant.map(String::from),
            client_id: client.map(String::from),
            client_secret_file: None,
            federated_token_file: None,
            cloud: Cloud::Public,
            region: None,
            authority_host: None,
            scope: None,
            ca_cert: Vec::new(),
        }
    }

    fn env(token: Option<&str>, secret: Option<&str>) -> Environment {
        Environment {
            defender_token: token.map(String::from),
            client_secret: secret.map(String::from),
        }
    }

    fn credential(a: &AuthArgs, env: Environment) -> Result<Credential> {
        let http = HttpSettings {
            timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        };
        let endpoints = a.endpoints(None)?;
        a.credential(&endpoints, &Network::default(), None, env, http)
    }

    #[test]
    fn auto_prefers_a_token_then_a_secret_then_workload_identity() {
        let mut a = args(AuthMode::Auto, Some("t"), Some("c"));
        let mode = |a: &AuthArgs, e| a.mode(None, &e).unwrap();
        assert_eq!(mode(&a, env(Some("tok"), Some("s"))), AuthMode::Token);
        assert_eq!(mode(&a, env(None, Some("s"))), AuthMode::ClientSecret);
        let e = a.mode(None, &env(None, None)).unwrap_err().to_string();
        for m in [
            "token",
            "client-secret",
            "workload-identity",
            "managed-identity",
            "azure-cli",
        ] {
            assert!(e.contains(&format!("--auth {m}")), "{e}");
        }
        assert!(
            e.contains("never tries"),
            "auto must say it skips managed identity: {e}"
        );
        a.federated_token_file = Some("/var/run/token".into());
        assert_eq!(mode(&a, env(None, None)), AuthMode::WorkloadIdentity);
    }

    #[test]
    fn a_client_secret_needs_tenant_and_client_and_says_which_is_missing() {
        let a = args(AuthMode::ClientSecret, None, Some("c"));
        let e = credential(&a, env(None, Some("very-secret-value")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tenant ID") && !e.contains("client ID"), "{e}");
        assert!(!e.contains("very-secret-value"), "{e}");
    }

    #[test]
    fn file_flags_of_another_mode_are_refused() {
        let a = args(AuthMode::AzureCli, None, None);
        let e = a.mode(Some(Path::new("t")), &env(None, None)).unwrap_err();
        assert!(
            matches!(e, Error::Usage(ref m) if m.contains("--token-file")),
            "{e}"
        );
        let mut a = args(AuthMode::Token, None, None);
        a.client_secret_file = Some("s".into());
        assert!(matches!(
            a.mode(None, &env(Some("t"), None)),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn debug_of_a_client_secret_credential_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cr3t-value\n").unwrap();
        let mut a = args(AuthMode::Auto, Some("contoso"), Some("app"));
        a.client_secret_file = Some(file);
        let shown = format!("{:?}", credential(&a, env(None, None)).unwrap());
        assert!(
            shown.contains("contoso") && shown.contains("app"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
