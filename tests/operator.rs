//! What an operator sees: progress, logs, the run summary, shell integration.

mod common;

use common::*;
use predicates::prelude::*;

fn slow_sim(latency_ms: u64) -> alert_users::sim::SimHandle {
    let mut config = synthetic(30, 100);
    config.latency_ms = latency_ms;
    sim(config)
}

#[test]
fn without_a_terminal_progress_is_plain_periodic_lines_then_the_final_line() {
    let sim = slow_sim(30);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(200));
    let out = export(&sim, dir.path())
        .args([
            "-i",
            "ids.txt",
            "-o",
            "u.csv",
            "-c",
            "4",
            "--progress-interval",
            "200ms",
        ])
        .assert()
        .code(0);
    let stderr = stderr_of(&out);
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "no control characters: {stderr:?}"
    );
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(progress.len() >= 3, "{stderr}");
    assert!(
        progress.iter().all(|l| l.contains("/200 alerts")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("done: 200 input lines"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn on_a_terminal_a_bar_is_drawn_and_cleared() {
    let sim = slow_sim(20);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(150));
    let cmd = format!(
        "{} export --base-url {} --rate off -i ids.txt -o u.csv -c 4",
        env!("CARGO_BIN_EXE_alert-users"),
        sim.base_url()
    );
    // `script` runs the command under a pseudo-terminal; -e passes its exit code on.
    let out = std::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env("DEFENDER_TOKEN", TOKEN)
        .env("NO_PROXY", "*")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("/150"),
        "the bar shows done/total: {screen:?}"
    );
    assert!(
        screen.contains('\x1b'),
        "drawn with terminal control sequences: {screen:?}"
    );
    assert!(screen.contains("done: 150 input lines"), "{screen:?}");
    assert!(
        !screen.contains("progress: "),
        "no plain lines on a terminal"
    );
    assert!(
        !rows(dir.path(), "u.csv").is_empty(),
        "the run wrote its table"
    );
}

#[test]
fn the_summary_json_matches_the_files_and_the_exit_code() {
    let sim = sim(synthetic(25, 100));
    let dir = tempdir();
    write(dir.path(), "ids.txt", &format!("{}bad/id\n", ids(300)));
    let out = export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.parquet", "--summary", "run.json"])
        .assert()
        .code(3);
    let json: serde_json::Value = serde_json::from_str(&read(dir.path(), "run.json")).unwrap();
    let c = &json["counts"];
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["status"], "partial");
    assert_eq!(c["input_lines"], 301);
    assert_eq!(c["distinct_ids"], 300);
    assert_eq!(c["invalid"], 1);
    assert_eq!(
        c["not_found"].as_u64().unwrap() as usize,
        rows(dir.path(), "u.not-found.csv").len()
    );
    assert_eq!(
        c["failed"].as_u64().unwrap() as usize,
        rows(dir.path(), "u.failures.csv").len()
    );
    assert_eq!(c["requests"], 300);
    assert_eq!(
        c["alerts_with_user"].as_u64().unwrap() + c["not_found"].as_u64().unwrap(),
        300
    );
    assert!(c["users"].as_u64().unwrap() <= 25);
    assert_eq!(json["first_failures"][0]["kind"], "invalid_id");
    assert_eq!(
        json["arguments"]["base_url"],
        format!("{}/", sim.base_url())
    );
    let text = read(dir.path(), "run.json");
    assert!(!text.contains(TOKEN), "no secret in the summary");
    // The final stderr line carries the same numbers.
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!("{} not found", c["not_found"])),
        "{stderr}"
    );
}

#[test]
fn a_failed_run_still_writes_its_summary() {
    let sim = forbidden_sim();
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(20));
    export(&sim, dir.path())
        .args(["-i", "ids.txt", "-o", "u.csv", "--summary", "run.json"])
        .assert()
        .code(1);
    let json: serde_json::Value = serde_json::from_str(&read(dir.path(), "run.json")).unwrap();
    assert_eq!(
        (json["exit_code"].as_i64(), json["status"].as_str()),
        (Some(1), Some("failed"))
    );
    assert!(json["error"].as_str().unwrap().contains("User.Read.All"));
    assert_eq!(json["outputs"].as_array().unwrap().len(), 0);
    assert_eq!(listing(dir.path()), ["ids.txt", "run.json"]);
}

#[test]
fn quiet_prints_only_the_final_line() {
    let sim = slow_sim(5);
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(50));
    let out = export(&sim, dir.path())
        .args([
            "-i",
            "ids.txt",
            "-o",
            "u.csv",
            "-q",
            "--progress-interval",
            "100ms",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty());
    let stderr = stderr_of(&out);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("done: 50 input lines"), "{stderr}");
}

#[test]
fn verbose_logs_each_request_without_the_token() {
    let sim = sim(synthetic(5, 0));
    let dir = tempdir();
    write(dir.path(), "ids.txt", &ids(5));
    for flag in ["-v", "-vv"] {
        let out = export(&sim, dir.path())
            .args(["-i", "ids.txt", "-o", "u.csv", flag])
            .assert()
            .code(0);
        let stderr = stderr_of(&out);
        let answers = stderr
            .lines()
            .filter(|l| l.contains("answer") && l.contains("status=200"))
            .count();
        assert_eq!(answers, 5, "{flag}: {stderr}");
        assert!(!stderr.contains(TOKEN), "{flag} leaks the token: {stderr}");
        assert!(
            !stderr.to_ascii_lowercase().contains("bearer"),
            "{flag}: {stderr}"
        );
    }
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        bin()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("alert-users")
                    .and(predicate::str::contains("concurrency")),
            );
    }
    bin()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH").and(predicate::str::contains("alert-users")));
}

#[test]
fn help_explains_every_flag_with_an_example() {
    let out = bin().args(["export", "--help"]).assert().success();
    let help = text(&out.get_output().stdout);
    for flag in [
        "--input",
        "--output",
        "--format",
        "--not-found",
        "--failures",
        "--links",
        "--concurrency",
        "--base-url",
        "--token-file",
        "--rate",
        "--retries",
        "--timeout",
        "--summary",
        "--demo",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(
        help.contains("Examples:") && help.contains("alert-users export --demo"),
        "{help}"
    );
}
