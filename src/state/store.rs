//! Opening a state file: the lock that keeps a second run out, the checks that refuse a foreign
//! or corrupt file before anything is written to it, and the connection's settings.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StateError;
use super::schema::{self, APPLICATION_ID, VERSION};

/// How long a statement waits for SQLite's own lock (held briefly by `state stats`, or by a
/// checkpoint) before giving up. Two runs never wait on each other: the file lock refuses one.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a caller means to do with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// An export: created if missing, locked, migrated.
    Create,
    /// `state prune`: must exist; locked, migrated.
    Write,
    /// `state stats`: must exist; not locked, since SQLite lets it read beside a running export;
    /// never written.
    Read,
}

/// The exclusive lock of one run on the state file, released when dropped or when the process
/// dies in any way (it is an `flock` on the open file, which the kernel drops with the process).
///
/// It must be dropped after every connection of this process to the file: closing any
/// descriptor of a file drops the process's POSIX locks on it, SQLite's included. Holders keep
/// it in their last field, so it outlives their connection.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

/// What the header says about a file before we write to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Empty: a new file, or one whose creation was interrupted before its first commit.
    New,
    /// Ours, at this schema version.
    Ours(u32),
}

/// An open, checked state file.
pub(crate) struct Opened {
    pub conn: Connection,
    pub found: Found,
    /// Held by writers. Last, so a dropped `Opened` closes the connection first (see `Lock`).
    pub lock: Option<Arc<Lock>>,
}

/// Opens and checks the state at `path`. Writers get the lock, WAL mode and the current schema.
pub(crate) fn open(path: &Path, access: Access) -> Result<Opened, StateError> {
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let lock = match access {
        Access::Read => {
            std::fs::metadata(path).map_err(io)?;
            None
        }
        Access::Create | Access::Write => {
            let file = owner_only(access == Access::Create)
                .open(path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(StateError::Locked {
                        path: path.to_owned(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            warn_if_shared(&file, path);
            Some(Arc::new(Lock { _file: file }))
        }
    };
    // Declared after `lock`, so an early return drops it first (see `Lock`).
    let mut conn = connect(path)?;
    let found = inspect(&conn, path)?;
    match (found, access) {
        (Found::Ours(v), _) if v > VERSION => {
            return Err(StateError::TooNew {
                path: path.to_owned(),
                found: v,
                known: VERSION,
            });
        }
        (Found::Ours(v), Access::Read) if v < VERSION => {
            return Err(StateError::TooOld {
                path: path.to_owned(),
                found: v,
                known: VERSION,
            });
        }
        _ => {}
    }
    if found != Found::New {
        quick_check(&conn, path)?;
    }
    if access != Access::Read {
        let sqlite = |e| StateError::sqlite(path, e);
        // WAL: a commit appends to the log, readers (`state stats`) never block the run, and a
        // process killed mid-commit leaves the last committed state. The mode is kept in the file.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Io {
                path: path.to_owned(),
                source: std::io::Error::other(format!(
                    "cannot switch to WAL mode (the filesystem gave '{mode}'); \
                     put the state on a local disk"
                )),
            });
        }
        let (from, to) = schema::migrate(&mut conn, schema::MIGRATIONS).map_err(sqlite)?;
        if from != to && found != Found::New {
            tracing::info!(
                "state file '{}' migrated from schema v{from} to v{to}",
                path.display()
            );
        }
    }
    Ok(Opened { conn, found, lock })
}

/// Another connection to a file `open` already checked (the pipeline's reader).
pub(crate) fn connect(path: &Path) -> Result<Connection, StateError> {
    let sqlite = |e| StateError::sqlite(path, e);
    // No CREATE (the caller made the file) and no URI (a path is a path).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // FULL syncs the log at every commit: an answer counted as stored survives a power cut,
    // not only a killed process. Answers are grouped per commit, so it costs one sync per group.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    // Removed answers are personal data: zero their bytes where that costs no extra I/O.
    conn.pragma_update(None, "secure_delete", "FAST")
        .map_err(sqlite)?;
    Ok(conn)
}

/// Creates the file owner-only (0600): it holds personal data. An existing file keeps its mode.
fn owner_only(create: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(create);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// A file others can read was made so by someone on purpose; say so rather than change it.
fn warn_if_shared(file: &File, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = file.metadata()
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "state file '{}' can be read by other users (mode {:o}) and holds personal data: \
                 chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
}

/// Reads the header and the schema list only: nothing is written to a file before it is known
/// to be ours.
fn inspect(conn: &Connection, path: &Path) -> Result<Found, StateError> {
    let read = || -> rusqlite::Result<(i32, u32, i64)> {
        let app: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let objects: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        Ok((app, version, objects))
    };
    match read().map_err(|e| StateError::sqlite(path, e))? {
        (0, 0, 0) => Ok(Found::New),
        (APPLICATION_ID, version, _) => Ok(Found::Ours(version)),
        (app, ..) => Err(StateError::Foreign {
            path: path.to_owned(),
            reason: if app == 0 {
                "an SQLite database of another program".into()
            } else {
                format!("an SQLite database of another program, application id {app:#x}")
            },
        }),
    }
}

/// Walks every page once (about 0.1 s per 100,000 answers), so damage is found now, before the
/// run writes into a broken file, rather than hours later.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| StateError::sqlite(path, e))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(StateError::Corrupt {
            path: path.to_owned(),
            reason: verdict,
        })
    }
}
