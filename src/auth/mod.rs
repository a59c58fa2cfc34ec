//! Credentials and bearer tokens, kept out of every log, error and file.

use std::fmt;
use std::path::{Path, PathBuf};

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

/// Where bearer tokens come from.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A token given as is (`--token-file` or `DEFENDER_TOKEN`). It cannot be renewed: a fresh
    /// token after a 401 is the same token, so a rejected one stops the run.
    Static(Secret),
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

    /// The token to send now.
    pub async fn token(&self) -> Result<Secret> {
        match self {
            Credential::Static(s) => Ok(s.clone()),
        }
    }

    /// A token after the API refused the current one with 401.
    pub async fn fresh_token(&self) -> Result<Secret> {
        match self {
            Credential::Static(s) => Ok(s.clone()),
        }
    }
}

fn read_token_file(path: &Path) -> Result<String> {
    let err = |source| Error::ReadToken {
        path: PathBuf::from(path),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(err)?;
    warn_if_readable_by_others(path);
    Ok(text)
}

/// A token file others can read leaks the tenant's access; say so, but do not refuse it.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o044 != 0
        {
            tracing::warn!(
                "token file '{}' is readable by group or others; chmod 600 it",
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
        let Credential::Static(t) =
            Credential::from_token_sources(Some(&f), Some("env".into())).unwrap();
        assert_eq!(t.expose(), "abc");
        let Credential::Static(t) =
            Credential::from_token_sources(None, Some(" env ".into())).unwrap();
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
