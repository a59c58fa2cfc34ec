//! The state file (`--state`): every final answer kept in SQLite, so a killed run resumes where it
//! stopped and a nightly run asks only for what it does not already know.
//!
//! `store` opens the file (the lock, the checks that refuse a foreign or corrupt file, the
//! schema in `schema`); `answers` keeps the run's answers (`Journal`, owned by the run's ledger)
//! and finds the fresh ones (`Known`, asked by the pipeline before any request); `command` is
//! `alert-users state stats|prune`.

mod answers;
mod command;
mod schema;
mod store;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use answers::{Journal, Known};
pub use command::{StateArgs, StateCommand, run_command};
pub use schema::{APPLICATION_ID, VERSION};

use crate::config::{Input, Outputs, same_file};
use crate::error::{Error, Result};

/// What `--state`, `--max-age` and `--recheck-not-found` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    pub path: PathBuf,
    /// No stored answer older than this is used.
    pub max_age: Duration,
    /// A stored 404 (or empty answer) older than this is asked again, even within `max_age`:
    /// an alert without a user today may have one tomorrow.
    pub recheck_not_found: Duration,
}

impl StateConfig {
    /// Refuses a state path that is also the input or an output: one would destroy the other.
    pub fn new(
        path: PathBuf,
        max_age: Duration,
        recheck_not_found: Duration,
        input: &Input,
        outputs: &Outputs,
    ) -> Result<StateConfig> {
        let input = match input {
            Input::Path(p) => Some(p.as_path()),
            _ => None,
        };
        if let Some(other) = outputs
            .paths()
            .into_iter()
            .chain(input)
            .find(|o| same_file(o, &path))
        {
            return Err(Error::Usage(format!(
                "--state '{}' is also the input or an output",
                other.display()
            )));
        }
        Ok(StateConfig {
            path,
            max_age,
            recheck_not_found,
        })
    }
}

/// Opens the state for a run: the writer for the ledger and the reader for the pipeline, or
/// neither without `--state`. Fails before any request if the file is locked, foreign or corrupt.
pub fn open(config: Option<&StateConfig>) -> Result<(Option<Journal>, Option<Known>)> {
    let Some(config) = config else {
        return Ok((None, None));
    };
    let (journal, known) = answers::open(config)?;
    Ok((Some(journal), Some(known)))
}

/// Why the state file cannot be used. Every message names the file; none carries a stored value.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open state file '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "state file '{path}' is in use by another alert-users run (it holds the file's lock); \
         wait for that run to end, or give this one another --state"
    )]
    Locked { path: PathBuf },

    #[error(
        "'{path}' is not an alert-users state file ({reason}); it was left untouched: \
         give --state a new path, or the file an alert-users run created"
    )]
    Foreign { path: PathBuf, reason: String },

    #[error(
        "state file '{path}' is corrupt ({reason}); it was left untouched: move it aside and \
         the next run starts a new one (answers it held will be asked again)"
    )]
    Corrupt { path: PathBuf, reason: String },

    #[error(
        "state file '{path}' has schema version {found}, newer than this alert-users knows \
         ({known}): use the newer alert-users that wrote it"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },

    #[error(
        "state file '{path}' has schema version {found}, older than {known}: an export or \
         `alert-users state prune` migrates it"
    )]
    TooOld {
        path: PathBuf,
        found: u32,
        known: u32,
    },

    #[error("state file '{path}': {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StateError {
    /// Sorts an SQLite error on `path`: a file that is not a database, or a damaged one, gets a
    /// message that says so and what to do; anything else keeps SQLite's own words.
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> StateError {
        use rusqlite::ErrorCode;
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StateError::Foreign {
                path,
                reason: "not an SQLite database".into(),
            },
            Some(ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
                path,
                reason: source.to_string(),
            },
            _ => StateError::Sqlite { path, source },
        }
    }
}

/// Milliseconds since the Unix epoch: when an answer arrived. A clock before 1970 reads as 0.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `now_ms() - age`, saturating: a huge `--max-age` means "any stored answer".
pub(crate) fn cutoff_ms(now: i64, age: Duration) -> i64 {
    now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
}
