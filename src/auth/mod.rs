//! Credentials and bearer tokens, kept out of every log, error and file.
//!
//! A run has one `Credential`: a token given as is, or a renewable one from Entra ID
//! (`entra`, through Microsoft's `azure_identity`) kept in a `cache::TokenCache` shared by all
//! workers. `args` turns the flags and the environment into one of them.

mod args;
mod cache;
mod entra;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use args::{AuthArgs, AuthMode, Environment, HELP_HEADING, HttpSettings};
pub use cache::{RENEW_EARLY, Token, TokenCache, TokenSource};
pub use entra::{Entra, Flow};

use crate::error::{Error, Result};

/// A string that must never be shown: its `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value itself, for the one place that needs it (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where bearer tokens come from. `Debug` shows who signs in, never a secret or token.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A token given as is (`--token-file` or `DEFENDER_TOKEN`). It cannot be renewed: a fresh
    /// token after a 401 is the same token, so a rejected one stops the run.
    Static(Secret),
    /// Tokens from an identity provider, renewed before they expire; one cache for all workers.
    Renewable(Arc<TokenCache>),
}

impl Credential {
    /// `--token-file` if given, else `DEFENDER_TOKEN`; the file is read once, here.
    pub fn from_token_sources(file: Option<&Path>, env: Option<String>) -> Result<Credential> {
        let token = match file {
            Some(path) => read_token_file(path)?,
            None => env.unwrap_or_default(),
        };
        let token = token.trim();
        if token.is_empty() {
            let what = match file {
                Some(p) => format!("token file '{}' is empty", p.display()),
                None => "no token: pass --token-file <PATH> or set DEFENDER_TOKEN \
                         (or try the simulator with --demo)"
                    .to_owned(),
            };
            return Err(Error::Credential(what));
        }
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        Ok(Credential::Static(Secret::new(token)))
    }

    /// Gets the first token before any API call, so that a wrong secret, an unknown tenant or
    /// a missing `az login` stops the run before it starts.
    pub async fn sign_in(&self) -> Result<()> {
        if let Credential::Renewable(cache) = self {
            tracing::info!("signing in with the {}", cache.describe());
            cache.token().await?;
        }
        Ok(())
    }

    /// The token to send now.
    pub async fn token(&self) -> Result<Secret> {
        match self {
            Credential::Static(s) => Ok(s.clone()),
            Credential::Renewable(cache) => cache.token().await,
        }
    }

    /// A token to replace `rejected`, which the API refused with 401. Workers refused at once
    /// share one renewal.
    pub async fn fresh_token(&self, rejected: &Secret) -> Result<Secret> {
        match self {
            Credential::Static(s) => Ok(s.clone()),
            Credential::Renewable(cache) => cache.fresh_token(rejected).await,
        }
    }
}

fn read_token_file(path: &Path) -> Result<String> {
    let err = |source| Error::ReadToken {
        path: PathBuf::from(path),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(err)?;
    warn_if_readable_by_others(path, "token");
    Ok(text)
}

/// Reads a client secret file, once; surrounding whitespace (the newline `echo` adds) is not
/// part of a secret.
fn read_secret_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadSecret {
        path: PathBuf::from(path),
        source,
    })?;
    warn_if_readable_by_others(path, "client secret");
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Error::Credential(format!(
            "client secret file '{}' is empty",
            path.display()
        )));
    }
    Ok(Secret::new(secret))
}

/// A token or secret file others can read leaks the tenant's access; say so, but do not
/// refuse it.
fn warn_if_readable_by_others(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o044 != 0
        {
            tracing::warn!(
                "{what} file '{}' is readable by group or others; chmod 600 it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("eyJ0eXAi.secret");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        let c = Credential::Static(s);
        assert!(!format!("{c:?}").contains("eyJ"));
    }

    #[test]
    fn token_comes_from_file_first_then_env_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "Bearer abc\n").unwrap();
        let static_token = |c| match c {
            Credential::Static(t) => t,
            other => panic!("{other:?}"),
        };
        let t = static_token(Credential::from_token_sources(Some(&f), Some("env".into())).unwrap());
        assert_eq!(t.expose(), "abc");
        let t = static_token(Credential::from_token_sources(None, Some(" env ".into())).unwrap());
        assert_eq!(t.expose(), "env");
    }

    #[test]
    fn missing_or_empty_tokens_are_clear_errors() {
        let e = Credential::from_token_sources(None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("DEFENDER_TOKEN") && e.contains("--token-file"),
            "{e}"
        );
        let e =
            Credential::from_token_sources(Some(Path::new("/no/such/token")), None).unwrap_err();
        assert!(e.to_string().contains("/no/such/token"), "{e}");
    }
}
