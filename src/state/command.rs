//! `alert-users state stats|prune`: what a state file holds, and removing old answers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use clap::{Args, Subcommand};
use rusqlite::Connection;

use super::store::{self, Access, Found, Opened};
use super::{StateError, VERSION, cutoff_ms, now_ms};
use crate::error::Result;

/// Look into or tidy the state file of `export --state`.
#[derive(Args, Debug)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Print what the state file holds: answers by kind, the oldest and the newest.
    /// Safe while an export runs on the same file.
    Stats {
        /// The state file [e.g. --state /var/lib/alert-users/state.db]
        #[arg(long, value_name = "PATH")]
        state: PathBuf,
    },
    /// Remove the answers that arrived longer ago than --older-than; the next export asks for
    /// them again.
    Prune {
        /// The state file [e.g. --state /var/lib/alert-users/state.db]
        #[arg(long, value_name = "PATH")]
        state: PathBuf,
        /// Age of the answers to remove [e.g. --older-than 30d; 0 removes every answer]
        #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration)]
        older_than: Duration,
    },
}

/// Runs a `state` subcommand and returns its report for stdout.
pub fn run_command(args: StateArgs) -> Result<String> {
    Ok(match args.command {
        StateCommand::Stats { state } => stats(&state)?.to_string(),
        StateCommand::Prune { state, older_than } => {
            let (removed, left) = prune(&state, older_than)?;
            format!(
                "removed {removed} answers older than {} from '{}'; {left} remain\n",
                humantime::format_duration(older_than),
                state.display()
            )
        }
    })
}

/// What `state stats` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub path: PathBuf,
    pub version: u32,
    /// Every kind, in a fixed order, zeros included: a script can rely on the lines.
    pub by_kind: Vec<(&'static str, u64)>,
    /// When the oldest and the newest answers arrived (ms since the epoch).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

const KINDS: [&str; 4] = ["user", "not_found", "alert_not_found", "empty_response"];

/// Reads the counts without the lock and without writing.
pub fn stats(path: &Path) -> Result<Stats, StateError> {
    let Opened { conn, found, .. } = store::open(path, Access::Read)?;
    let mut stats = Stats {
        path: path.to_owned(),
        version: VERSION,
        by_kind: KINDS.iter().map(|k| (*k, 0)).collect(),
        oldest: None,
        newest: None,
    };
    if found == Found::New {
        return Ok(stats); // an empty file: no table yet
    }
    let mut read = |conn: &Connection| -> rusqlite::Result<()> {
        let mut counts = conn.prepare("SELECT kind, count(*) FROM answer GROUP BY kind")?;
        let rows = counts.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (kind, n) = row?;
            if let Some(slot) = stats.by_kind.iter_mut().find(|(k, _)| *k == kind) {
                slot.1 = n.unsigned_abs();
            }
        }
        (stats.oldest, stats.newest) = conn.query_row(
            "SELECT min(answered_at), max(answered_at) FROM answer",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(())
    };
    read(&conn).map_err(|e| StateError::sqlite(path, e))?;
    Ok(stats)
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: u64 = self.by_kind.iter().map(|(_, n)| n).sum();
        let mut out = format!(
            "state file: {} (schema v{})\nanswers: {total}\n",
            self.path.display(),
            self.version
        );
        for (kind, n) in &self.by_kind {
            let _ = writeln!(out, "  {kind}: {n}");
        }
        for (name, at) in [("oldest", self.oldest), ("newest", self.newest)] {
            if let Some(at) = at {
                let _ = writeln!(out, "{name}: {}", format_ms(at));
            }
        }
        f.write_str(&out)
    }
}

/// `2026-05-02T03:04:05.678Z`.
fn format_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}

/// Removes answers that arrived more than `older_than` ago; returns (removed, remaining).
/// Takes the lock: pruning under a running export would make it ask again for what it just
/// stored.
pub fn prune(path: &Path, older_than: Duration) -> Result<(u64, u64), StateError> {
    let opened = store::open(path, Access::Write)?;
    let cutoff = cutoff_ms(now_ms(), older_than);
    let run = |conn: &Connection| -> rusqlite::Result<(u64, u64)> {
        // ON rather than FAST: every byte of a removed answer is overwritten, not only the cheap ones.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let removed = conn.execute("DELETE FROM answer WHERE answered_at < ?1", [cutoff])?;
        let left: i64 = conn.query_row("SELECT count(*) FROM answer", [], |r| r.get(0))?;
        // Copy the log into the file and empty it, so no removed answer lingers in the log.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok((removed as u64, left.unsigned_abs()))
    };
    let counts = run(&opened.conn);
    drop(opened); // the connection, then the lock
    counts.map_err(|e| StateError::sqlite(path, e))
}
