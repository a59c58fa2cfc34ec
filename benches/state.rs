//! The state file at scale: 100,000 answers stored, then a rerun that needs no call.
//!
//! `cargo bench --bench state` (add `-- 20000` for another number of IDs). Three exports of the
//! same IDs against the in-process simulator without latency or pacing: without `--state` (the
//! pipeline's own pace), with a new state (the cost of committing every answer), and again with
//! that state (every answer from the file: no request at all).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_users::Summary;
use alert_users::cli::{Cli, Command};
use alert_users::sim::{SimConfig, SimHandle, Tenant};
use alert_users::state::{StateArgs, StateCommand, run_command};
use clap::Parser;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let sim = SimHandle::start(
        "127.0.0.1:0",
        SimConfig::new(Arc::new(Tenant::synthetic(20_000, 50))),
    )
    .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = dir.path().join("ids.txt");
    let text: String = (0..n)
        .map(|i| {
            format!(
                "da{:018}_{}\n",
                637_000_000_000_000_000u64 + i as u64 * 7919,
                i % 97
            )
        })
        .collect();
    std::fs::write(&ids, text).expect("ids");
    let token = dir.path().join("token");
    std::fs::write(&token, "bench-token").expect("token");
    let state = dir.path().join("state.db");
    let export = |out: &str, with_state: bool| -> (Summary, Duration) {
        let mut args: Vec<String> = [
            "alert-users",
            "export",
            "--rate",
            "off",
            "-c",
            "64",
            "--progress",
            "never",
        ]
        .map(String::from)
        .into();
        args.extend(["-i".into(), ids.display().to_string()]);
        args.extend(["-o".into(), dir.path().join(out).display().to_string()]);
        args.extend(["--base-url".into(), sim.base_url()]);
        args.extend(["--token-file".into(), token.display().to_string()]);
        if with_state {
            args.extend(["--state".into(), state.display().to_string()]);
        }
        let Command::Export(args) = Cli::parse_from(args).command else {
            unreachable!("an export")
        };
        let config = args.into_config().expect("config");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let started = Instant::now();
        let summary = runtime.block_on(alert_users::run(config, true));
        if let Some(e) = &summary.error {
            panic!("export failed: {e}");
        }
        (summary, started.elapsed())
    };

    println!(
        "state benchmark: {n} alert IDs, simulator without latency, --rate off, -c 64 (IDs/s include start-up and writing the outputs)"
    );
    let (plain, t) = export("plain.csv", false);
    line(
        "export, no --state",
        t,
        n,
        &format!("{} requests", plain.counts.requests),
    );
    let (first, t) = export("first.csv", true);
    let stored = first.counts.state.expect("state counts").stored;
    line(
        "export, new --state",
        t,
        n,
        &format!("{stored} answers stored"),
    );
    let requests_before = sim.stats().requests;
    let (rerun, t) = export("rerun.csv", true);
    let s = rerun.counts.state.expect("state counts");
    assert_eq!(
        sim.stats().requests,
        requests_before,
        "the rerun sent a request"
    );
    line(
        "rerun, same --state",
        t,
        n,
        &format!(
            "{} requests, {} calls saved, {:.1} µs per answer",
            rerun.counts.requests,
            s.reused,
            t.as_secs_f64() * 1e6 / n as f64
        ),
    );
    let same = |a: &str, b: &str| {
        std::fs::read(dir.path().join(a)).ok() == std::fs::read(dir.path().join(b)).ok()
    };
    assert!(same("first.csv", "rerun.csv") && same("plain.csv", "rerun.csv"));
    let started = Instant::now();
    let stats = run_command(StateArgs {
        command: StateCommand::Stats {
            state: state.clone(),
        },
    })
    .expect("stats");
    let answers = stats.lines().nth(1).unwrap_or_default().to_owned();
    line(
        "state stats (integrity check)",
        started.elapsed(),
        n,
        &format!("{answers}, file {}", size(&state)),
    );
}

fn line(what: &str, t: Duration, n: usize, detail: &str) {
    println!(
        "  {what:<30} {:>8.2} s  {:>9.0} IDs/s  {detail}",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64()
    );
}

fn size(path: &Path) -> String {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    format!("{:.1} MB", bytes as f64 / 1e6)
}
