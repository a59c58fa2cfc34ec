//! Answers in the state file: `Journal` commits a run's final answers as they arrive, `Known`
//! hands the pipeline a stored answer young enough to stand in for a request.
//!
//! A stored answer becomes exactly the `Outcome` the API's answer became (the user record as it
//! was parsed, the 404's reason, code and message), so a resumed run writes the same files as an
//! uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::store::{self, Access, Lock};
use super::{StateConfig, StateError, cutoff_ms, now_ms};
use crate::ledger::{NotFound, NotFoundReason};
use crate::pipeline::Outcome;
use crate::user::UserRecord;

/// The `kind` of an answer with a user; the others are the not-found reasons' names.
const USER: &str = "user";

const REASONS: [NotFoundReason; 3] = [
    NotFoundReason::NotFound,
    NotFoundReason::AlertNotFound,
    NotFoundReason::EmptyResponse,
];

const INSERT: &str = "INSERT OR REPLACE INTO answer \
    (alert_id, kind, user, error_code, message, answered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Only an answer younger than its kind's limit is returned (`?2` users, `?3` the others).
const LOOKUP: &str = "SELECT kind, user, error_code, message FROM answer \
    WHERE alert_id = ?1 AND answered_at > CASE kind WHEN 'user' THEN ?2 ELSE ?3 END";

/// The writing side, owned by the run's ledger. Holds the run's lock.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    /// Last: dropped after the connection (see `Lock`).
    _lock: Arc<Lock>,
}

/// The reading side, shared by the pipeline's workers.
pub struct Known {
    /// One lookup at a time is plenty: a lookup takes microseconds, a request 100 ms or more.
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Answers that arrived at or before these instants (ms) are too old to use.
    user_cutoff: i64,
    not_found_cutoff: i64,
    /// Last: dropped after the connection (see `Lock`).
    _lock: Arc<Lock>,
}

/// Opens the state for a run: locked, checked, migrated, and the freshness limits fixed at the
/// run's start (an answer stored during the run is never looked up: the input is deduplicated).
pub(super) fn open(config: &StateConfig) -> Result<(Journal, Known), StateError> {
    let path = &config.path;
    let opened = store::open(path, Access::Create)?;
    let reader = store::connect(path)?;
    // Nothing fails from here on, so the connections are never dropped after the lock.
    let lock = opened.lock.expect("a writer holds the lock");
    let now = now_ms();
    // --max-age caps every answer, so `--max-age 0` refetches everything; 404s expire sooner.
    let not_found_age = config.max_age.min(config.recheck_not_found);
    let known = Known {
        conn: Mutex::new(reader),
        path: path.clone(),
        user_cutoff: cutoff_ms(now, config.max_age),
        not_found_cutoff: cutoff_ms(now, not_found_age),
        _lock: Arc::clone(&lock),
    };
    let journal = Journal {
        conn: opened.conn,
        path: path.clone(),
        _lock: lock,
    };
    Ok((journal, known))
}

/// One row to write, borrowed from its outcome.
struct Row<'a> {
    alert_id: &'a str,
    kind: &'static str,
    user: Option<&'a UserRecord>,
    error_code: Option<&'a str>,
    message: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// Final answers asked for in this run. A failure is not an answer (the next run asks again),
    /// and an answer read from the state keeps its row, so its age stays the API's answer's age.
    fn of(outcome: &'a Outcome) -> Option<Row<'a>> {
        match outcome {
            Outcome::User { alert_id, record } => Some(Row {
                alert_id,
                kind: USER,
                user: Some(record),
                error_code: None,
                message: None,
            }),
            Outcome::NotFound(r) => Some(Row {
                alert_id: &r.alert_id,
                kind: r.reason.as_str(),
                user: None,
                error_code: r.error_code.as_deref(),
                message: r.message.as_deref(),
            }),
            Outcome::Stored(_) | Outcome::Failure(_) | Outcome::Fatal(_) | Outcome::Cancelled => {
                None
            }
        }
    }
}

impl Journal {
    /// Commits the final answers among `outcomes` in one transaction and returns how many there
    /// were. Only when this returns are they on disk: count them as stored after it, not before.
    pub fn save(&mut self, outcomes: &[Outcome]) -> Result<u64, StateError> {
        let rows: Vec<Row> = outcomes.iter().filter_map(Row::of).collect();
        if rows.is_empty() {
            return Ok(0);
        }
        let saved = rows.len() as u64;
        let answered_at = now_ms();
        let conn = &mut self.conn;
        let mut write = move || -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(INSERT)?;
                for row in &rows {
                    let user = row
                        .user
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    insert.execute(params![
                        row.alert_id,
                        row.kind,
                        user,
                        row.error_code,
                        row.message,
                        answered_at
                    ])?;
                }
            }
            tx.commit()
        };
        write().map_err(|e| StateError::sqlite(&self.path, e))?;
        Ok(saved)
    }
}

impl Known {
    /// The stored answer for `alert_id` as `Outcome::Stored`, when one is young enough; `Fatal`
    /// when the state cannot be read, for a run must not quietly pay for calls it meant to save.
    pub fn outcome(&self, alert_id: &str) -> Option<Outcome> {
        match self.find(alert_id) {
            Ok(found) => found.map(|o| Outcome::Stored(Box::new(o))),
            Err(e) => Some(Outcome::Fatal(e.into())),
        }
    }

    fn find(&self, alert_id: &str) -> Result<Option<Outcome>, StateError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let row = conn
            .prepare_cached(LOOKUP)
            .and_then(|mut lookup| {
                lookup
                    .query_row(
                        params![alert_id, self.user_cutoff, self.not_found_cutoff],
                        |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()
            })
            .map_err(|e| StateError::sqlite(&self.path, e))?;
        let Some((kind, user, error_code, message)) = row else {
            return Ok(None);
        };
        decode(&self.path, alert_id, &kind, user, error_code, message).map(Some)
    }
}

/// Rebuilds the outcome a stored row was made from.
fn decode(
    path: &Path,
    alert_id: &str,
    kind: &str,
    user: Option<String>,
    error_code: Option<String>,
    message: Option<String>,
) -> Result<Outcome, StateError> {
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if kind == USER {
        let record: UserRecord = serde_json::from_str(user.as_deref().unwrap_or_default())
            .map_err(|e| corrupt(format!("the stored user of alert {alert_id}: {e}")))?;
        return Ok(Outcome::User {
            alert_id: alert_id.to_owned(),
            record: Box::new(record),
        });
    }
    let reason = REASONS
        .into_iter()
        .find(|r| r.as_str() == kind)
        .ok_or_else(|| corrupt(format!("alert {alert_id} has an unknown kind '{kind}'")))?;
    Ok(Outcome::NotFound(NotFound {
        alert_id: alert_id.to_owned(),
        reason,
        error_code,
        message,
    }))
}
