//! The errors that end a run, each carrying the context (path, line, alert ID) a user needs to act.
//!
//! Per-alert problems (a 404, a 500 after all retries, an invalid line) are *not* errors:
//! they are outcomes written to the not-found and failures files, and the run goes on.
//! Only what makes the whole run meaningless stops it.

use std::io;
use std::path::PathBuf;

/// Exit code of a run whose outputs were written but where some IDs ended in the failures file.
pub const EXIT_PARTIAL: i32 = 3;
/// Exit code of a fatal error: nothing was published.
pub const EXIT_FATAL: i32 = 1;
/// Exit code of a usage error (bad flag, bad value).
pub const EXIT_USAGE: i32 = 2;
/// Exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells do).
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or value that cannot work, found before any request is sent.
    #[error("{0}")]
    Usage(String),

    #[error("cannot read input file '{path}': {source}")]
    ReadInput {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read token file '{path}': {source}")]
    ReadToken {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read client secret file '{path}': {source}")]
    ReadSecret {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read simulator data '{path}': {reason}")]
    SimData { path: PathBuf, reason: String },

    #[error("cannot write '{path}': {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot write Parquet file '{path}': {reason}")]
    Parquet { path: PathBuf, reason: String },

    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),

    #[error("cannot get a token: {0}")]
    Credential(String),

    /// The identity provider refused or could not be reached. `detail` carries its own error
    /// code and description (or the Azure CLI's message), never a secret.
    #[error("cannot sign in with the {who} (--auth {mode}): {detail}")]
    SignIn {
        who: String,
        mode: &'static str,
        detail: String,
    },

    #[error(
        "the API rejected the token (401 Unauthorized) for alert '{alert_id}', and again after a fresh \
         token was requested; check that the token is valid, unexpired and issued for the Defender API \
         (scope https://api.securitycenter.microsoft.com/.default){}",
        detail(code, message)
    )]
    TokenRejected {
        alert_id: String,
        code: Option<String>,
        message: Option<String>,
    },

    #[error(
        "the API refused access (403 Forbidden) for alert '{alert_id}': the app needs the permission \
         User.Read.All (WindowsDefenderATP), admin-consented; a user token also needs the \"View Data\" \
         role and access to the alert's device group{}",
        detail(code, message)
    )]
    Forbidden {
        alert_id: String,
        code: Option<String>,
        message: Option<String>,
    },

    #[error("cannot start the simulator on {addr}: {source}")]
    SimBind {
        addr: String,
        #[source]
        source: io::Error,
    },

    #[error("interrupted: no output was published")]
    Interrupted,

    /// The state file (`--state`) cannot be used; the variant names the file and the cause.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// Formats the API's own error code and message after our explanation, when it sent them.
fn detail(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(" (API said {c}: {m})"),
        (Some(c), None) => format!(" (API said {c})"),
        (None, Some(m)) => format!(" (API said: {m})"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// The process exit code this error maps to (see the README's table).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Interrupted => EXIT_INTERRUPTED,
            _ => EXIT_FATAL,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
