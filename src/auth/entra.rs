//! Tokens from Microsoft Entra ID through Microsoft's `azure_identity` crate: client secret,
//! managed identity, workload identity and the Azure CLI.
//!
//! Why this shape:
//! - `azure_identity` 1.x is built on `azure_core`, whose HTTP transport is any `HttpClient`,
//!   and `reqwest::Client` (0.13, the version we use) is one. Every flow is given *our* client,
//!   built by `net::Network` like the API's: the same `--ca-cert` roots, the same proxies,
//!   and no second HTTP/TLS stack to compile.
//! - The authority host is set per credential through `CloudConfiguration::Custom`, so
//!   `--cloud`, `--authority-host` and `AZURE_AUTHORITY_HOST` all reach the token request.
//! - A credential is built anew for each fetch, so `azure_identity`'s own cache is always
//!   empty and `cache::TokenCache` alone decides when to renew (see there why). Building one
//!   costs no I/O except for workload identity, which re-reads the federated token file: what a
//!   rotated Kubernetes token needs anyway.
//! - That transport also keeps the body of a failed answer: `azure_identity` 1.0 reads Entra's
//!   `error_description` as a borrowed `&str`, which fails on every real one (they end with
//!   `\r\nTrace ID: …`, an escape), and then reports a JSON error instead of Entra's words.
//!   The kept body gives the user Entra's `error`, description and correlation id.
//! - Token requests are retried like API calls (`--retries`, `--retry-base`, `--retry-cap`)
//!   rather than for the crate's default full minute; managed identity keeps the crate's IMDS
//!   retry policy, which follows Microsoft's guidance for that endpoint.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::Bytes;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, ExponentialRetryOptions, HttpClient, Request, RetryOptions,
    Transport,
};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use futures::future::BoxFuture;
use reqwest::Url;
use serde::Deserialize;

use super::Secret;
use super::cache::{Token, TokenSource};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// How a token is obtained from Entra ID.
#[derive(Debug, Clone)]
pub enum Flow {
    /// An app registration's client secret (client-credentials grant).
    ClientSecret {
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    /// The Azure resource's own identity (IMDS or App Service); `client_id` picks a
    /// user-assigned one.
    ManagedIdentity { client_id: Option<String> },
    /// A federated token file (Kubernetes workload identity) exchanged for a token.
    WorkloadIdentity {
        tenant: String,
        client_id: String,
        token_file: PathBuf,
    },
    /// The analyst's `az login`, run as `az account get-access-token`.
    AzureCli { tenant: Option<String> },
}

impl Flow {
    /// The `--auth` name of the flow.
    pub fn mode(&self) -> &'static str {
        match self {
            Flow::ClientSecret { .. } => "client-secret",
            Flow::ManagedIdentity { .. } => "managed-identity",
            Flow::WorkloadIdentity { .. } => "workload-identity",
            Flow::AzureCli { .. } => "azure-cli",
        }
    }

    /// Who signs in, for messages: never a secret.
    pub fn describe(&self) -> String {
        match self {
            Flow::ClientSecret {
                tenant, client_id, ..
            } => format!("client secret of app {client_id} in tenant {tenant}"),
            Flow::ManagedIdentity { client_id: None } => "system-assigned managed identity".into(),
            Flow::ManagedIdentity {
                client_id: Some(id),
            } => format!("user-assigned managed identity {id}"),
            Flow::WorkloadIdentity {
                tenant,
                client_id,
                token_file,
            } => format!(
                "workload identity of app {client_id} in tenant {tenant} (token file '{}')",
                token_file.display()
            ),
            Flow::AzureCli { tenant: None } => "Azure CLI login".into(),
            Flow::AzureCli { tenant: Some(t) } => format!("Azure CLI login in tenant {t}"),
        }
    }
}

/// The last failed answer of the identity provider: status and body.
type Failure = Arc<Mutex<Option<(u16, Bytes)>>>;

/// Our reqwest client as `azure_identity`'s transport, keeping the last failed answer.
#[derive(Debug)]
struct Keeping {
    http: reqwest::Client,
    failure: Failure,
}

#[async_trait::async_trait]
impl HttpClient for Keeping {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let response = self.http.execute_request(request).await?;
        if response.status().is_success() {
            return Ok(response); // it holds a token: never kept
        }
        let (status, headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        *self.failure.lock().expect("not poisoned") = Some((u16::from(status), bytes.clone()));
        Ok(AsyncRawResponse::from_bytes(status, headers, bytes))
    }
}

/// A token source for one flow, authority and scope.
pub struct Entra {
    flow: Flow,
    authority: Url,
    scope: String,
    transport: Arc<Keeping>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Entra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entra")
            .field("flow", &self.flow) // `Secret` fields print as ***
            .field("authority", &self.authority.as_str())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Entra {
    /// `http` carries the run's roots and proxies; managed identity gets its own client without
    /// proxies, as its endpoint is on the machine itself (169.254.169.254 or App Service's local
    /// endpoint), which no corporate proxy can reach.
    pub fn new(
        flow: Flow,
        authority: Url,
        scope: String,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> Entra {
        Entra {
            flow,
            authority,
            scope,
            transport: Arc::new(Keeping {
                http,
                failure: Failure::default(),
            }),
            retry,
        }
    }

    fn client_options(&self) -> ClientOptions {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = self.authority.as_str().trim_end_matches('/').to_owned();
        let std_to_time = |d: Duration| azure_core::time::Duration::try_from(d).unwrap_or_default();
        ClientOptions {
            transport: Some(Transport::new(self.transport.clone())),
            cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: std_to_time(self.retry.base),
                max_retries: self.retry.retries,
                max_delay: std_to_time(self.retry.cap),
                max_total_elapsed: azure_core::time::Duration::seconds(60),
            }),
            ..ClientOptions::default()
        }
    }

    /// A new, uncached credential of `azure_identity` for the flow.
    fn credential(&self) -> azure_core::Result<Arc<dyn TokenCredential>> {
        let client_options = self.client_options();
        Ok(match &self.flow {
            Flow::ClientSecret {
                tenant,
                client_id,
                secret,
            } => ClientSecretCredential::new(
                tenant,
                client_id.clone(),
                secret.expose().to_owned().into(),
                Some(ClientSecretCredentialOptions { client_options }),
            )?,
            Flow::ManagedIdentity { client_id } => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options,
                }))?
            }
            Flow::WorkloadIdentity {
                tenant,
                client_id,
                token_file,
            } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions { client_options },
                client_id: Some(client_id.clone()),
                tenant_id: Some(tenant.clone()),
                token_file_path: Some(token_file.clone()),
            }))?,
            // The CLI signs in at the cloud `az cloud set` chose; it takes no authority host.
            Flow::AzureCli { tenant } => {
                AzureCliCredential::new(Some(AzureCliCredentialOptions {
                    tenant_id: tenant.clone(),
                    ..AzureCliCredentialOptions::default()
                }))?
            }
        })
    }

    async fn fetch_token(&self) -> Result<Token> {
        // Fetches are serialised by the cache, so the kept failure is this fetch's.
        self.transport.failure.lock().expect("not poisoned").take();
        let credential = self.credential().map_err(|e| self.error(&e))?;
        let token = credential
            .get_token(&[&self.scope], None)
            .await
            .map_err(|e| self.error(&e))?;
        let left = token.expires_on - OffsetDateTime::now_utc();
        Ok(Token {
            secret: Secret::new(token.token.secret()),
            lifetime: Duration::try_from(left).unwrap_or_default(),
        })
    }

    /// The provider's own words (Entra's `error`, `error_description` and correlation id, or
    /// the CLI's message) on one line, with our secret masked in case a provider echoed it.
    fn error(&self, e: &azure_core::Error) -> Error {
        let failure = self.transport.failure.lock().expect("not poisoned").take();
        let mut detail = match failure {
            Some((status, body)) => provider_error(status, &body),
            None => crate::client::chain(e),
        };
        detail = detail.replace(['\r', '\n'], " ");
        if detail.contains("UnknownIssuer") {
            detail.push_str(
                " (if a proxy or gateway inspects TLS, trust its CA with --ca-cert <PEM>)",
            );
        }
        if let Flow::ClientSecret { secret, .. } = &self.flow
            && !secret.expose().is_empty()
        {
            detail = detail.replace(secret.expose(), "***");
        }
        Error::SignIn {
            who: self.describe(),
            mode: self.flow.mode(),
            detail,
        }
    }
}

impl TokenSource for Entra {
    fn fetch(&self) -> BoxFuture<'_, Result<Token>> {
        Box::pin(self.fetch_token())
    }

    /// The flow, and the sign-in host where one is used.
    fn describe(&self) -> String {
        match self.flow {
            Flow::ManagedIdentity { .. } | Flow::AzureCli { .. } => self.flow.describe(),
            _ => format!("{} at {}", self.flow.describe(), self.authority),
        }
    }
}

/// Entra's error body: `{"error": "invalid_client", "error_description": "AADSTS7000215: …",
/// "error_codes": [7000215], "correlation_id": "…"}`.
#[derive(Deserialize)]
struct EntraError {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// Entra's answer in words: "HTTP 401 invalid_client: AADSTS7000215: … (correlation id …)";
/// any other body (a proxy's HTML page) by its start.
fn provider_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<EntraError>(body) {
        Ok(e) => {
            let mut text = format!("HTTP {status} {}", e.error);
            if !e.error_description.trim().is_empty() {
                text.push_str(&format!(": {}", e.error_description.trim()));
            }
            if let Some(id) = e.correlation_id {
                text.push_str(&format!(" (correlation id {id})"));
            }
            text
        }
        Err(_) => {
            let body: String = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect();
            format!("HTTP {status}: {body}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_errors_are_worded_from_their_body() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1","error_codes":[7000215],"correlation_id":"c-1"}"#;
        assert_eq!(
            provider_error(401, body),
            "HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1 (correlation id c-1)"
        );
        assert_eq!(
            provider_error(401, br#"{"error":"unauthorized"}"#),
            "HTTP 401 unauthorized"
        );
        assert_eq!(
            provider_error(502, b"<html>bad gateway</html>"),
            "HTTP 502: <html>bad gateway</html>"
        );
    }
}
