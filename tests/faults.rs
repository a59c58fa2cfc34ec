//! Quota and faults: throttling, retries, timeouts, fatal answers and interruption.

mod common;

use std::time::{Duration, Instant};

use common::*;
use predicates::prelude::*;

/// Every input ID ends in exactly one of users (via links), not-found and failures.
fn assert_each_id_once(dir: &std::path::Path, ids: &str, links: &str, stem: &str) {
    let mut seen: Vec<String> = rows(dir, links).into_iter().map(|r| r[0].clone()).collect();
    seen.extend(
        rows(dir, &format!("{stem}.not-found.csv"))
            .into_iter()
            .map(|r| r[0].clone()),
    );
    seen.extend(
        rows(dir, &format!("{stem}.failures.csv"))
            .into_iter()
            .map(|r| r[0].clone()),
    );
    seen.sort();
    let mut expected: Vec<String> = ids.lines().map(String::from).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn fault_matrix_recovers_every_alert_and_matches_the_fault_free_run() {
    let input = ids(2000);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &input);

    let clean = sim(synthetic(300, 50));
    export(&clean, dir.path())
        .args([
            "-i",
            "ids.txt",
            "-o",
            "clean.csv",
            "--links",
            "clean-links.csv",
            "-c",
            "32",
        ])
        .assert()
        .code(0);

    let mut config = synthetic(300, 50);
    (
        config.fail_rate,
        config.reset_rate,
        config.hang_rate,
        config.malformed_rate,
    ) = (0.05, 0.02, 0.01, 0.01);
    config.rate_limit = Some(800.0);
    config.seed = 7;
    let faulty = sim(config);
    export(&faulty, dir.path())
        .args([
            "-i",
            "ids.txt",
            "-o",
            "faulty.csv",
            "--links",
            "faulty-links.csv",
            "-c",
            "32",
        ])
        .args(["--timeout", "400ms", "--retries", "5"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("0 failed"));
    let stats = faulty.stats();
    assert!(stats.faults > 100, "faults were injected: {stats:?}");
    assert!(stats.throttled > 0, "the server limit was hit: {stats:?}");
    assert_eq!(
        read(dir.path(), "faulty.csv"),
        read(dir.path(), "clean.csv")
    );
    assert_eq!(
        read(dir.path(), "faulty-links.csv"),
        read(dir.path(), "clean-links.csv")
    );
    assert_eq!(
        read(dir.path(), "faulty.not-found.csv"),
        read(dir.path(), "clean.not-found.csv")
    );
    assert_each_id_once(dir.path(), &input, "faulty-links.csv", "faulty");
}

#[test]
fn pacing_at_the_server_limit_sees_almost_no_429() {
    let mut config = synthetic(20, 0);
    config.rate_limit = Some(20.0);
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(80));
    export_paced(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv", "-c", "16", "--rate", "20/s"])
        .assert()
        .code(0);
    let stats = sim.stats();
    assert!(stats.throttled <= 3, "{stats:?}");
    assert_eq!(stats.early_requests, 0, "{stats:?}");
}

#[test]
fn retry_after_pauses_every_worker_under_a_tighter_server_limit() {
    let mut config = synthetic(20, 0);
    config.rate_limit = Some(10.0);
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(60));
    export_paced(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv", "-c", "16", "--rate", "40/s"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("0 failed"));
    let stats = sim.stats();
    assert!(
        stats.throttled > 0,
        "the client outpaced the server: {stats:?}"
    );
    assert_eq!(
        stats.early_requests, 0,
        "nobody sent before Retry-After passed: {stats:?}"
    );
    assert_eq!(
        rows(dir.path(), "u.failures.csv").len(),
        0,
        "a 429 never fails an alert"
    );
}

#[test]
fn a_token_that_stays_bad_stops_the_run_quickly() {
    let sim = sim(synthetic(5, 0));
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(500));
    export(&sim, dir.path())
        .env("DEFENDER_TOKEN", "wrong-token-value")
        .args(["-i", "ids.txt", "-o", "u.csv", "-c", "4"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("rejected the token")
                .and(predicate::str::contains("wrong-token-value").not()),
        );
    assert!(
        sim.stats().requests <= 8,
        "one try and one fresh try per worker at most: {:?}",
        sim.stats()
    );
    assert_eq!(listing(dir.path()), ["ids.txt"], "nothing published");
}

#[test]
fn forbidden_stops_the_run_naming_the_permission() {
    let sim = forbidden_sim();
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(500));
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv", "-c", "6"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("User.Read.All").and(predicate::str::contains("View Data")),
        );
    assert!(
        sim.stats().requests <= 6,
        "one request per worker at most: {:?}",
        sim.stats()
    );
    assert_eq!(listing(dir.path()), ["ids.txt"]);
}

#[test]
fn a_hanging_server_costs_the_timeout_per_attempt_and_the_run_ends() {
    let mut config = synthetic(5, 0);
    (config.hang_rate, config.faulty_attempts) = (1.0, u32::MAX);
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(3));
    let start = Instant::now();
    export(&sim, dir.path())
        .args([
            "-i",
            "ids.txt",
            "-o",
            "u.csv",
            "-c",
            "3",
            "--timeout",
            "300ms",
            "--retries",
            "2",
        ])
        .assert()
        .code(3);
    // Three attempts of 300 ms each, in parallel for the three IDs, plus tiny backoffs.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let failures = rows(dir.path(), "u.failures.csv");
    assert_eq!(failures.len(), 3);
    for f in failures {
        assert_eq!((f[1].as_str(), f[5].as_str()), ("timeout", "3"), "{f:?}");
    }
    assert_eq!(sim.stats().requests, 9);
}

#[test]
fn server_errors_after_the_last_retry_are_failures_with_status_and_attempts() {
    let mut config = synthetic(5, 0);
    (config.fail_rate, config.faulty_attempts) = (1.0, u32::MAX);
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(4));
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv", "--retries", "3"])
        .assert()
        .code(3);
    for f in rows(dir.path(), "u.failures.csv") {
        assert_eq!(f[1], "http_status");
        assert!(f[2] == "500" || f[2] == "503", "{f:?}");
        assert_eq!(f[5], "4", "first attempt and three retries");
        assert!(!f[6].is_empty(), "the API's correlation id is kept: {f:?}");
    }
    assert_eq!(sim.stats().requests, 16);
}

#[cfg(unix)]
#[test]
fn sigint_mid_run_exits_130_and_leaves_previous_outputs_alone() {
    let mut config = synthetic(20, 0);
    config.latency_ms = 100;
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(400));
    write(dir.path(), "users.csv", "previous run\n");
    let mut child = spawn_export(
        &sim,
        dir.path(),
        &["-i", "ids.txt", "-o", "users.csv", "-c", "4"],
    );
    while sim.stats().requests < 10 {
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(read(dir.path(), "users.csv"), "previous run\n");
    assert_eq!(
        listing(dir.path()),
        ["ids.txt", "users.csv"],
        "no new or temporary file"
    );
    assert!(
        sim.stats().requests < 100,
        "it stopped sending: {:?}",
        sim.stats()
    );
}

#[cfg(unix)]
#[test]
fn a_second_sigint_exits_at_once_instead_of_waiting_for_requests_in_flight() {
    let mut config = synthetic(5, 0);
    (config.hang_rate, config.faulty_attempts) = (1.0, u32::MAX);
    let sim = sim(config);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(50));
    let args = [
        "--timeout",
        "60s",
        "-i",
        "ids.txt",
        "-o",
        "users.csv",
        "-c",
        "4",
    ];
    let mut child = spawn_export(&sim, dir.path(), &args);
    while sim.stats().in_flight < 4 {
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGINT waits for the requests in flight"
    );
    let second = Instant::now();
    interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // The first SIGINT alone would wait up to 5 s for the four hanging requests.
    assert!(
        second.elapsed() < Duration::from_secs(3),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(listing(dir.path()), ["ids.txt"]);
}
