//! The store on its own: what is kept, what is found again, what is refused, and migration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::command::{prune, stats};
use super::schema::{self, APPLICATION_ID, MIGRATIONS, VERSION};
use super::{Journal, Known, StateConfig, StateError, answers};
use crate::ledger::{Failure, FailureKind, NotFound, NotFoundReason};
use crate::pipeline::Outcome;
use crate::user::{Timestamp, UserRecord};

const DAY: Duration = Duration::from_secs(86_400);

fn open(path: &Path, max_age: Duration, recheck: Duration) -> (Journal, Known) {
    let config = StateConfig {
        path: path.to_owned(),
        max_age,
        recheck_not_found: recheck,
    };
    answers::open(&config).unwrap()
}

fn state(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state.db")
}

fn user(alert_id: &str) -> Outcome {
    Outcome::User {
        alert_id: alert_id.into(),
        record: Box::new(UserRecord {
            id: "contoso\\José".into(),
            account_name: Some("José \"JJ\", Jr.".into()),
            first_seen: Some(Timestamp(1_575_786_819_123_456)),
            last_seen: Some(Timestamp(-1)),
            log_on_machines_count: Some(3),
            is_domain_admin: Some(false),
            ..UserRecord::default()
        }),
    }
}

fn not_found(alert_id: &str, reason: NotFoundReason) -> Outcome {
    Outcome::NotFound(NotFound {
        alert_id: alert_id.into(),
        reason,
        error_code: Some("ResourceNotFound".into()),
        message: Some(format!("Alert {alert_id} not found")),
    })
}

fn failure(alert_id: &str) -> Outcome {
    Outcome::Failure(Failure {
        alert_id: alert_id.into(),
        kind: FailureKind::Timeout,
        http_status: None,
        error_code: None,
        message: "timed out".into(),
        attempts: 6,
        target: None,
    })
}

/// A comparable view of the outcomes that can be stored.
fn view(o: &Outcome) -> String {
    match o {
        Outcome::User { alert_id, record } => format!("user {alert_id} {record:?}"),
        Outcome::NotFound(r) => format!("not found {r:?}"),
        Outcome::Stored(inner) => format!("stored {}", view(inner)),
        other => format!("{other:?}"),
    }
}

/// Moves every stored answer's arrival back by `age`, as if stored that long ago.
fn age_all(path: &Path, age: Duration) {
    let conn = Connection::open(path).unwrap();
    conn.execute(
        "UPDATE answer SET answered_at = answered_at - ?1",
        [age.as_millis() as i64],
    )
    .unwrap();
}

#[test]
fn a_new_state_is_owner_only_in_wal_mode_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    let (journal, known) = open(&path, DAY, DAY);
    drop((journal, known));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let conn = Connection::open(&path).unwrap();
    let get = |pragma: &str| -> String {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| format!("{v:?}"))
        .unwrap()
    };
    assert_eq!(get("journal_mode"), "Text(\"wal\")");
    assert_eq!(get("user_version"), format!("Integer({VERSION})"));
    assert_eq!(get("application_id"), format!("Integer({APPLICATION_ID})"));
}

#[test]
fn final_answers_come_back_exactly_and_nothing_else_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    let (mut journal, _known) = open(&path, DAY, DAY);
    let group = [
        user("u1"),
        not_found("n1", NotFoundReason::NotFound),
        not_found("n2", NotFoundReason::AlertNotFound),
        not_found("n3", NotFoundReason::EmptyResponse),
        failure("f1"),
        Outcome::Cancelled,
        Outcome::Stored(Box::new(user("s1"))),
    ];
    assert_eq!(journal.save(&group).unwrap(), 4);
    drop((journal, _known));

    let (_journal, known) = open(&path, DAY, DAY);
    for o in &group[..4] {
        let (Outcome::User { alert_id: id, .. } | Outcome::NotFound(NotFound { alert_id: id, .. })) =
            o
        else {
            unreachable!()
        };
        let found = known.outcome(id).expect("stored");
        assert_eq!(view(&found), format!("stored {}", view(o)));
    }
    // A failure is asked again next run; a reused answer is not written back (its age stays).
    for id in ["f1", "s1", "never-seen"] {
        assert!(known.outcome(id).is_none(), "{id}");
    }
}

#[test]
fn answers_expire_by_kind_and_max_age_caps_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    let (mut journal, known) = open(&path, DAY, DAY);
    journal
        .save(&[user("u"), not_found("n", NotFoundReason::NotFound)])
        .unwrap();
    drop((journal, known));
    age_all(&path, 2 * DAY);

    let found = |max_age, recheck| {
        let (_journal, known) = open(&path, max_age, recheck);
        ["u", "n"].map(|id| known.outcome(id).is_some())
    };
    assert_eq!(
        found(7 * DAY, DAY),
        [true, false],
        "404s are rechecked sooner"
    );
    assert_eq!(found(7 * DAY, 3 * DAY), [true, true]);
    assert_eq!(
        found(DAY, 3 * DAY),
        [false, false],
        "--max-age caps 404s too"
    );
    assert_eq!(found(Duration::ZERO, 3 * DAY), [false, false]);
    assert_eq!(found(Duration::MAX, Duration::MAX), [true, true]);
}

#[test]
fn a_second_writer_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    let first = open(&path, DAY, DAY);
    let config = StateConfig {
        path: path.clone(),
        max_age: DAY,
        recheck_not_found: DAY,
    };
    let err = answers::open(&config).err().expect("locked");
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("in use by another alert-users run")
    );
    assert!(matches!(prune(&path, DAY), Err(StateError::Locked { .. })));
    // Reading is allowed beside a run.
    assert_eq!(stats(&path).unwrap().by_kind[0], ("user", 0));
    drop(first);
    answers::open(&config).unwrap();
}

/// Opens `path` as a run would and returns the error, checking the file's bytes did not change.
fn refused(path: &Path) -> StateError {
    let before = std::fs::read(path).unwrap();
    let config = StateConfig {
        path: path.to_owned(),
        max_age: DAY,
        recheck_not_found: DAY,
    };
    let err = answers::open(&config).err().expect("refused");
    assert_eq!(std::fs::read(path).unwrap(), before, "the file was changed");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    err
}

#[test]
fn foreign_newer_and_corrupt_files_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "alert ids to check\n".repeat(100)).unwrap();
    let err = refused(&text);
    assert!(matches!(err, StateError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");

    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let err = refused(&other);
    assert!(matches!(err, StateError::Foreign { .. }), "{err}");

    let newer = state(&dir);
    drop(open(&newer, DAY, DAY));
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", VERSION + 1)
        .unwrap();
    let err = refused(&newer);
    assert!(
        matches!(err, StateError::TooNew { found, .. } if found == VERSION + 1),
        "{err}"
    );

    let broken = dir.path().join("broken.db");
    let (mut journal, known) = open(&broken, DAY, DAY);
    let many: Vec<Outcome> = (0..2000).map(|i| user(&format!("a{i}"))).collect();
    journal.save(&many).unwrap();
    drop((journal, known));
    let mut bytes = std::fs::read(&broken).unwrap();
    assert!(bytes.len() > 40_000, "{} bytes", bytes.len());
    // Pages 3 to 6 become garbage; the header and the schema page stay valid.
    bytes[8192..24_576].fill(0xA5);
    std::fs::write(&broken, &bytes).unwrap();
    let err = refused(&broken);
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
}

#[test]
fn a_creation_cut_short_is_a_new_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    std::fs::write(&path, b"").unwrap();
    drop(open(&path, DAY, DAY));
    // Killed after WAL mode was set, before the schema was committed.
    let path = dir.path().join("half.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "journal_mode", "WAL")
        .unwrap();
    let (mut journal, _known) = open(&path, DAY, DAY);
    assert_eq!(journal.save(&[user("a")]).unwrap(), 1);
}

#[test]
fn migrations_run_forward_from_the_stored_version_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
    assert_eq!(
        schema::migrate(&mut conn, MIGRATIONS).unwrap(),
        (0, VERSION)
    );
    conn.execute(
        "INSERT INTO answer (alert_id, kind, answered_at) VALUES ('a', 'not_found', 1)",
        [],
    )
    .unwrap();
    assert_eq!(
        schema::migrate(&mut conn, MIGRATIONS).unwrap(),
        (VERSION, VERSION),
        "nothing to do at the current version"
    );

    let next = "ALTER TABLE answer ADD COLUMN note TEXT";
    let v2 = [MIGRATIONS, &[next]].concat();
    assert_eq!(
        schema::migrate(&mut conn, &v2).unwrap(),
        (VERSION, VERSION + 1)
    );
    let kept: String = conn
        .query_row("SELECT kind FROM answer WHERE alert_id = 'a'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, "not_found", "rows survive a migration");

    let broken = [&v2[..], &["CREATE TABLE extra (x)", "NOT SQL"]].concat();
    assert!(schema::migrate(&mut conn, &broken).is_err());
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, VERSION + 1, "a failed step leaves the old version");
    let extra: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(extra, 0, "and none of its steps");
}

#[test]
fn stats_count_by_kind_and_prune_removes_only_old_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    let (mut journal, known) = open(&path, DAY, DAY);
    journal
        .save(&[
            user("old1"),
            not_found("old2", NotFoundReason::EmptyResponse),
        ])
        .unwrap();
    drop((journal, known));
    age_all(&path, 10 * DAY);
    let (mut journal, known) = open(&path, DAY, DAY);
    journal
        .save(&[
            user("new1"),
            user("new2"),
            not_found("new3", NotFoundReason::NotFound),
        ])
        .unwrap();
    drop((journal, known));

    let s = stats(&path).unwrap();
    assert_eq!(
        s.by_kind,
        [
            ("user", 3),
            ("not_found", 1),
            ("alert_not_found", 0),
            ("empty_response", 1)
        ]
    );
    let (oldest, newest) = (s.oldest.unwrap(), s.newest.unwrap());
    assert!(newest - oldest >= 10 * 86_400_000, "{oldest} {newest}");
    let text = s.to_string();
    assert!(text.contains("answers: 5\n  user: 3\n"), "{text}");

    assert_eq!(prune(&path, 7 * DAY).unwrap(), (2, 3));
    assert_eq!(prune(&path, 7 * DAY).unwrap(), (0, 3));
    let (_journal, known) = open(&path, 30 * DAY, 30 * DAY);
    assert!(known.outcome("old1").is_none());
    assert!(known.outcome("new1").is_some());
    drop((_journal, known));
    assert_eq!(prune(&path, Duration::ZERO).unwrap(), (3, 0));
}

#[test]
fn stats_and_prune_need_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = state(&dir);
    let err = stats(&path).unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err}");
    assert!(matches!(prune(&path, DAY), Err(StateError::Io { .. })));
    assert!(!path.exists(), "neither creates the file");
}

#[test]
fn the_state_cannot_be_the_input_or_an_output() {
    use crate::config::{Input, Outputs};
    let outputs = Outputs::resolve("users.csv".into(), None, None, None, None).unwrap();
    let input = Input::Path("ids.txt".into());
    for clash in ["users.csv", "./users.not-found.csv", "ids.txt"] {
        let err = StateConfig::new(clash.into(), DAY, DAY, &input, &outputs).unwrap_err();
        assert!(err.to_string().contains("--state"), "{err}");
    }
    assert!(StateConfig::new("state.db".into(), DAY, DAY, &input, &outputs).is_ok());
}
