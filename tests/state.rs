//! `--state`: resuming killed runs, incremental runs, and the `state` subcommands, end to end.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use alert_users::sim::{SimConfig, SimHandle};
use common::*;
use predicates::prelude::*;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

/// The files a run publishes, by name, to compare runs byte for byte.
const OUTPUTS: [&str; 4] = [
    "users.csv",
    "links.csv",
    "users.not-found.csv",
    "users.failures.csv",
];

fn outputs(dir: &Path) -> Vec<(String, String)> {
    OUTPUTS
        .iter()
        .map(|f| (f.to_string(), read(dir, f)))
        .collect()
}

/// `export` of ids.txt into users.csv and links.csv, with `--state state.db` when `state`.
fn run(sim: &SimHandle, dir: &Path, state: bool) -> assert_cmd::Command {
    let mut cmd = export(sim, dir);
    cmd.args(["-i", "ids.txt", "-o", "users.csv", "--links", "links.csv"]);
    if state {
        cmd.args(["--state", "state.db"]);
    }
    cmd
}

/// The same run as a child process, to kill it: `assert_cmd` only waits for its commands.
fn spawn(sim: &SimHandle, dir: &Path, out: &str) -> Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_alert-users"))
        .current_dir(dir)
        .env_clear()
        .env("DEFENDER_TOKEN", TOKEN)
        .env("NO_PROXY", "*")
        .args(["export", "--base-url", &sim.base_url(), "--rate", "off"])
        .args(["-i", "ids.txt", "-o", out, "--links", "links.csv"])
        .args(["--state", "state.db", "--progress", "never"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn alert-users")
}

/// The files of an uninterrupted run without a state, on a simulator of its own.
fn reference(tenant: SimConfig, ids_text: &str) -> Vec<(String, String)> {
    let sim = sim(tenant);
    let dir = tempdir();
    write(dir.path(), "ids.txt", ids_text);
    run(&sim, dir.path(), false).assert().code(0);
    outputs(dir.path())
}

/// The alert IDs the state holds, read as the next run would find them (never creating it).
fn stored_ids(state: &Path) -> Vec<String> {
    let Ok(conn) = Connection::open_with_flags(state, OpenFlags::SQLITE_OPEN_READ_WRITE) else {
        return Vec::new(); // killed before the file was made
    };
    let Ok(mut select) = conn.prepare("SELECT alert_id FROM answer") else {
        return Vec::new(); // killed before the schema was committed
    };
    select
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn stderr(output: &std::process::Output) -> String {
    text(&output.stderr)
}

#[test]
fn runs_killed_at_random_points_resume_without_asking_again_and_end_identical() {
    const N: usize = 4000;
    const KILLS: usize = 4;
    const CONCURRENCY: usize = 8; // the default
    let tenant = || {
        let mut config = synthetic(300, 80);
        // About 5 s of work at -c 8: more than the kills can take (at most 4 × 0.9 s).
        config.latency_ms = 10;
        config.jitter_ms = 4;
        config
    };
    let sim = sim(tenant());
    let dir = tempdir();
    let ids_text = ids(N);
    write(dir.path(), "ids.txt", &ids_text);
    let state = dir.path().join("state.db");
    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill points drawn with KILL_SEED={seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);

    // After each kill: what was stored, and how often each stored ID had been asked for.
    let mut snapshots: Vec<HashMap<String, u32>> = Vec::new();
    for _ in 0..KILLS {
        let mut child = spawn(&sim, dir.path(), "users.csv");
        std::thread::sleep(Duration::from_millis(rng.random_range(100..900)));
        child.kill().unwrap(); // SIGKILL: no handler, no flush, no goodbye
        child.wait().unwrap();
        let stored = stored_ids(&state);
        eprintln!("killed: {} answers stored", stored.len());
        snapshots.push(
            stored
                .into_iter()
                .map(|id| {
                    let asked = sim.requests_for(&id);
                    (id, asked)
                })
                .collect(),
        );
    }
    assert!(
        !dir.path().join("users.csv").exists(),
        "a killed run publishes nothing"
    );
    let stored_before = snapshots.last().unwrap().len();
    assert!(
        stored_before > 0,
        "the kills came too early to test anything"
    );
    let out = run(&sim, dir.path(), true).assert().code(0);
    let line = stderr(out.get_output());
    assert!(
        line.contains(&format!(
            "{stored_before} answers from the state ({stored_before} calls saved), {} stored",
            N - stored_before
        )),
        "{line}"
    );

    for (k, snapshot) in snapshots.iter().enumerate() {
        for (id, asked) in snapshot {
            assert_eq!(
                sim.requests_for(id),
                *asked,
                "{id} was asked again after kill {k} though its answer was stored"
            );
        }
    }
    let requests = sim.stats().requests as usize;
    let wasted = requests - N;
    eprintln!("{requests} requests for {N} IDs over {KILLS} kills");
    // Only answers in flight at a kill are lost: the requests out (≤ -c) and the group being
    // committed (answers that arrived together, ≤ -c as well).
    assert!(
        wasted <= KILLS * 2 * CONCURRENCY,
        "{requests} requests for {N} IDs"
    );
    assert_eq!(outputs(dir.path()), reference(tenant(), &ids_text));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state holds personal data");
    }
}

#[test]
fn a_nightly_run_over_yesterdays_ids_asks_only_for_the_new_ones() {
    let sim = sim(synthetic(200, 60));
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(1000));
    run(&sim, dir.path(), true)
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "0 answers from the state (0 calls saved), 1000 stored",
        ));
    // Tonight: yesterday's alerts and 10% new ones.
    write(dir.path(), "ids.txt", &ids(1100));
    run(&sim, dir.path(), true)
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "; 100 requests (0 retries, 0 throttled)",
        ))
        .stderr(predicate::str::contains(
            "1000 answers from the state (1000 calls saved), 100 stored",
        ));
    assert_eq!(sim.stats().requests, 1100);
    for line in ids(1100).lines() {
        assert_eq!(sim.requests_for(line), 1, "{line}");
    }
    assert_eq!(
        outputs(dir.path()),
        reference(synthetic(200, 60), &ids(1100))
    );
}

#[test]
fn max_age_0_asks_for_everything_again() {
    let sim = sim(synthetic(50, 100));
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(300));
    run(&sim, dir.path(), true).assert().code(0);
    let first = outputs(dir.path());
    run(&sim, dir.path(), true)
        .args(["--max-age", "0"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "0 answers from the state (0 calls saved), 300 stored",
        ));
    assert_eq!(sim.stats().requests, 600);
    assert_eq!(outputs(dir.path()), first);
    // --max-age is meaningless without --state: a usage error, not a silent no-op.
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "x.csv", "--max-age", "1d"])
        .assert()
        .code(2);
}

#[test]
fn failures_are_not_stored_and_are_asked_again() {
    let mut config = synthetic(50, 0);
    (config.fail_rate, config.faulty_attempts) = (0.3, 1_000);
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(400));
    run(&sim, dir.path(), true)
        .args(["--retries", "0"])
        .assert()
        .code(3);
    let failed: Vec<String> = rows(dir.path(), "users.failures.csv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!((60..200).contains(&failed.len()), "{}", failed.len());
    run(&sim, dir.path(), true)
        .args(["--retries", "0"])
        .assert()
        .code(3);
    assert_eq!(sim.stats().requests as usize, 400 + failed.len());
    for id in &failed {
        assert_eq!(sim.requests_for(id), 2, "{id}");
    }
}

#[test]
fn a_corrupt_or_foreign_state_is_exit_1_and_left_untouched() {
    let sim = sim(synthetic(50, 0));
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(500));
    run(&sim, dir.path(), true).assert().code(0);
    let mut damaged = std::fs::read(dir.path().join("state.db")).unwrap();
    assert!(damaged.len() > 64 * 1024, "{}", damaged.len());
    damaged[16 * 1024..48 * 1024].fill(0x5a);
    let garbage = b"alert_id,user\nda1,contoso\\alice\n".repeat(40);

    for (bytes, says) in [
        (&damaged[..], "is corrupt"),
        (&garbage[..], "not an alert-users state file"),
    ] {
        let dir = tempdir();
        write(dir.path(), "ids.txt", &ids(50));
        std::fs::write(dir.path().join("state.db"), bytes).unwrap();
        let requests = sim.stats().requests;
        let out = run(&sim, dir.path(), true).assert().code(1);
        let err = stderr(out.get_output());
        assert!(err.contains(says) && err.contains("'state.db'"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("state.db")).unwrap(), bytes);
        assert_eq!(sim.stats().requests, requests, "nothing was sent");
        assert_eq!(listing(dir.path()), ["ids.txt", "state.db"]);
    }
}

#[test]
fn a_second_run_on_the_same_state_fails_fast_and_the_first_finishes_unharmed() {
    let tenant = || {
        let mut config = synthetic(100, 50);
        config.latency_ms = 20;
        config
    };
    let sim = sim(tenant());
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(600));
    let mut first = spawn(&sim, dir.path(), "users.csv");
    let started = Instant::now();
    while sim.stats().requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "first run idle"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "second.csv", "--state", "state.db"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1);
    let err = stderr(out.get_output());
    assert!(
        err.contains("state file 'state.db' is in use by another alert-users run"),
        "{err}"
    );
    assert!(first.try_wait().unwrap().is_none(), "the first run goes on");
    assert!(first.wait().unwrap().success());
    assert_eq!(sim.stats().requests, 600, "the second run sent nothing");
    assert!(!dir.path().join("second.csv").exists());
    assert_eq!(outputs(dir.path()), reference(tenant(), &ids(600)));
}

/// A user with sub-second timestamps (exactness), a 404 of each kind, and an unknown alert.
fn mixed_tenant() -> SimConfig {
    SimConfig::new(tenant(json!({"alerts": {
        "a1": {"id": "CONTOSO\\Alice", "accountName": "Alice", "firstSeen": "2024-01-05T10:00:00.1234567Z",
               "lastSeen": "2024-02-01T00:00:00.000001Z", "logonTypes": "Interactive, Network",
               "logonMachinesCount": 3, "isDomainAdmin": false, "isOnlyNetworkUser": null},
        "a2": {"id": "contoso\\alice", "accountDomainName": "contoso", "lastSeen": "2024-03-01T12:00:00.5Z"},
        "nouser": null,
        "empty": "empty"
    }})))
}

#[test]
fn state_stats_and_prune_report_and_remove_answers_by_age() {
    let sim = sim(mixed_tenant());
    let dir = tempdir();
    write(dir.path(), "ids.txt", "a1\na2\nnouser\nempty\nunknown\n");
    run(&sim, dir.path(), true).assert().code(0);
    let first = outputs(dir.path());
    let state = |args: &[&str]| {
        let mut cmd = bin();
        cmd.current_dir(dir.path()).arg("state").args(args);
        cmd.args(["--state", "state.db"]);
        cmd
    };
    let out = state(&["stats"]).assert().code(0);
    let stats = text(&out.get_output().stdout);
    assert!(
        stats.starts_with(
            "state file: state.db (schema v1)\nanswers: 5\n  user: 2\n  not_found: 1\n  \
             alert_not_found: 1\n  empty_response: 1\noldest: 20"
        ),
        "{stats}"
    );
    assert!(stats.contains("\nnewest: 20"), "{stats}");

    // A rerun from the state alone writes the very same files.
    run(&sim, dir.path(), true).assert().code(0);
    assert_eq!(sim.stats().requests, 5);
    assert_eq!(outputs(dir.path()), first);

    state(&["prune", "--older-than", "1h"])
        .assert()
        .code(0)
        .stdout("removed 0 answers older than 1h from 'state.db'; 5 remain\n");
    let conn = Connection::open(dir.path().join("state.db")).unwrap();
    conn.execute(
        "UPDATE answer SET answered_at = answered_at - 2 * 86400000 WHERE alert_id IN ('a1', 'empty')",
        [],
    )
    .unwrap();
    drop(conn);
    state(&["prune", "--older-than", "1d"])
        .assert()
        .code(0)
        .stdout("removed 2 answers older than 1day from 'state.db'; 3 remain\n");
    run(&sim, dir.path(), true)
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "3 answers from the state (3 calls saved), 2 stored",
        ));
    assert_eq!(
        (sim.requests_for("a1"), sim.requests_for("a2")),
        (2, 1),
        "only the pruned answers are asked again"
    );
    state(&["stats"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("answers: 5\n"));

    bin()
        .current_dir(dir.path())
        .args(["state", "stats", "--state", "missing.db"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot open state file 'missing.db'",
        ));
    assert!(!dir.path().join("missing.db").exists());
}
