//! The state's schema and its forward migrations.
//!
//! `PRAGMA user_version` is the schema version: the number of migrations applied. `PRAGMA
//! application_id` marks the file as ours, so another program's database is refused rather than
//! altered. A migration is only ever added at the end of `MIGRATIONS`, never edited: a file
//! written by an older build is brought forward step by step, never dropped and rebuilt.

use rusqlite::{Connection, TransactionBehavior};

/// "AUSR" in the database header (offset 68): this file is an alert-users state.
pub const APPLICATION_ID: i32 = 0x4155_5352;

/// Version 1: one row per alert ID, its final answer, and when it arrived. A rowid table (not
/// WITHOUT ROWID): rows of ~500 bytes are appended at the end instead of split into the middle of
/// the key order, which measured 30% less to commit.
const V1: &str = "
CREATE TABLE answer (
    alert_id    TEXT NOT NULL UNIQUE,
    -- 'user', or why there is none: 'not_found', 'alert_not_found', 'empty_response'
    kind        TEXT NOT NULL
                CHECK (kind IN ('user', 'not_found', 'alert_not_found', 'empty_response')),
    -- the user record as JSON with the API's field names, for kind 'user' only
    user        TEXT CHECK ((kind = 'user') = (user IS NOT NULL)),
    -- the 404's error code and message, as the API sent them
    error_code  TEXT,
    message     TEXT,
    -- when the answer arrived: milliseconds since 1970-01-01 UTC
    answered_at INTEGER NOT NULL
) STRICT;
CREATE INDEX answer_by_age ON answer (answered_at);
";

/// Every migration in order; `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

/// The schema version this build writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies the migrations a file lacks, all in one transaction with the new version number, so
/// a run killed half-way leaves the file at its old version, whole. Returns (from, to).
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> rusqlite::Result<(u32, u32)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let to = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    if from >= to {
        return Ok((from, from));
    }
    for sql in &migrations[from as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", to)?;
    tx.commit()?;
    Ok((from, to))
}
