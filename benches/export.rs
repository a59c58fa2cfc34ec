//! End-to-end benchmarks: the release binary against the built-in simulator on loopback.
//!
//! `cargo bench --bench export` runs every scenario; name some to run only those
//! (`cargo bench --bench export -- pacing scale`). The simulator runs on this process's own
//! thread and runtime; the export is a child process, so its CPU time and peak RSS are its own
//! (read with `wait4`). Each figure is printed as a ratio or a per-unit cost where it can be,
//! so it holds on a noisy machine.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use alert_users::sim::{SimConfig, SimHandle, SimStats, Tenant};

const TOKEN: &str = "bench-token";

struct Run {
    wall: Duration,
    cpu: Duration,
    max_rss_mb: f64,
    code: i32,
    summary: serde_json::Value,
    sim: SimStats,
}

fn sim(latency_ms: u64, accounts: u32, rate_limit: Option<f64>) -> SimHandle {
    let mut config = SimConfig::new(Tenant::synthetic(accounts, 50));
    (config.latency_ms, config.rate_limit, config.token) =
        (latency_ms, rate_limit, Some(TOKEN.into()));
    SimHandle::start("127.0.0.1:0", config).expect("simulator")
}

/// `n` distinct IDs, plus `dup_permille` of them again, shuffled deterministically.
fn write_ids(path: &Path, n: usize, dup_permille: usize) {
    let mut ids: Vec<usize> = (0..n).collect();
    ids.extend((0..n * dup_permille / 1000).map(|i| (i * 7919) % n));
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for i in (1..ids.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ids.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in ids {
        writeln!(
            w,
            "da{:018}_{}",
            637_000_000_000_000_000u64 + i as u64,
            i % 9973
        )
        .unwrap();
    }
}

// The child is reaped by `wait4` in `wait`, which also returns its resource usage.
#[allow(clippy::zombie_processes)]
fn export(sim: &SimHandle, dir: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_alert-users"))
        .current_dir(dir)
        .env("DEFENDER_TOKEN", TOKEN)
        .env("NO_PROXY", "*")
        .args([
            "export",
            "--base-url",
            &sim.base_url(),
            "--progress",
            "never",
            "--summary",
            "run.json",
        ])
        .args(args)
        // The figures come from the summary JSON; the child's final line would only clutter the table.
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn alert-users");
    let (code, cpu, max_rss_mb) = wait(child.id());
    let wall = start.elapsed();
    let summary =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    Run {
        wall,
        cpu,
        max_rss_mb,
        code,
        summary,
        sim: sim.stats(),
    }
}

/// Waits for the child and returns its exit code, CPU time (user + system) and peak RSS.
fn wait(pid: u32) -> (i32, Duration, f64) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    assert_eq!(r, pid as libc::pid_t, "wait4");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        code,
        tv(ru.ru_utime) + tv(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

fn row(scenario: &str, figure: &str, value: String, target: &str, ok: Option<bool>) {
    let verdict = match ok {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "",
    };
    println!("{scenario:<11} {figure:<40} {value:>12}  {target:<10} {verdict}");
}

/// The client's own cost: CPU time per 10,000 calls and peak memory.
fn costs(run: &Run) {
    let cpu = format!("{:.3}", cpu_per_10k(run));
    row("", "CPU s per 10,000 calls (client only)", cpu, "", None);
    row(
        "",
        "peak RSS (MB)",
        format!("{:.1}", run.max_rss_mb),
        "",
        None,
    );
}

fn cpu_per_10k(run: &Run) -> f64 {
    run.cpu.as_secs_f64() * 10_000.0 / run.sim.requests.max(1) as f64
}

fn calls_per_s(run: &Run) -> f64 {
    run.sim.requests as f64 / run.summary["elapsed_seconds"].as_f64().unwrap()
}

fn throughput(dir: &Path) {
    let (c, latency) = (64.0, 0.020);
    let sim = sim(20, 5000, None);
    write_ids(&dir.join("ids.txt"), 20_000, 0);
    let run = export(
        &sim,
        dir,
        &["-i", "ids.txt", "-o", "u.csv", "-c", "64", "--rate", "off"],
    );
    assert_eq!(run.code, 0);
    let ideal = c / latency;
    let rate = calls_per_s(&run);
    row(
        "throughput",
        "calls/s (latency 20 ms, -c 64, 20,000 IDs)",
        format!("{rate:.0}"),
        "",
        None,
    );
    row(
        "",
        &format!("ratio to ideal c/latency = {ideal:.0}/s"),
        format!("{:.3}", rate / ideal),
        ">= 0.90",
        Some(rate / ideal >= 0.90),
    );
    costs(&run);
}

fn raw(dir: &Path) {
    let sim = sim(0, 5000, None);
    write_ids(&dir.join("ids.txt"), 200_000, 0);
    let run = export(
        &sim,
        dir,
        &["-i", "ids.txt", "-o", "u.csv", "-c", "64", "--rate", "off"],
    );
    assert_eq!(run.code, 0);
    let rate = calls_per_s(&run);
    row(
        "raw",
        "calls/s (latency 0, -c 64, 200,000 IDs)",
        format!("{rate:.0}"),
        ">= 10000",
        Some(rate >= 10_000.0),
    );
    costs(&run);
}

fn pacing(dir: &Path) {
    let (limit, n) = (50.0, 1500usize);
    let sim = sim(0, 500, Some(limit));
    write_ids(&dir.join("ids.txt"), n, 0);
    let run = export(
        &sim,
        dir,
        &["-i", "ids.txt", "-o", "u.csv", "-c", "16", "--rate", "50/s"],
    );
    assert_eq!(run.code, 0);
    // A sliding window of 50 per second lets the first 50 go at once: 1,500 calls need 29 s.
    let ideal = (n as f64 / limit).ceil() - 1.0;
    let elapsed = run.summary["elapsed_seconds"].as_f64().unwrap();
    let per_1000 = run.sim.throttled as f64 * 1000.0 / run.sim.requests as f64;
    row(
        "pacing",
        "elapsed s (--rate 50/s, server 50/s, 1,500)",
        format!("{elapsed:.2}"),
        "",
        None,
    );
    row(
        "",
        &format!("achieved / allowed (ideal {ideal:.0} s / elapsed)"),
        format!("{:.3}", ideal / elapsed),
        ">= 0.97",
        Some(ideal / elapsed >= 0.97),
    );
    row(
        "",
        "429s per 1,000 calls",
        format!("{per_1000:.2}"),
        "<= 1",
        Some(per_1000 <= 1.0),
    );
    row(
        "",
        "requests sent before Retry-After passed",
        run.sim.early_requests.to_string(),
        "0",
        Some(run.sim.early_requests == 0),
    );
}

fn scale(dir: &Path) {
    let sim = sim(0, 50_000, None);
    write_ids(&dir.join("ids.txt"), 950_000, 53);
    for (format, ext) in [("Parquet", "parquet"), ("CSV", "csv")] {
        let (users, links) = (format!("users.{ext}"), format!("links.{ext}"));
        let run = export(
            &sim,
            dir,
            &[
                "-i", "ids.txt", "-o", &users, "--links", &links, "-c", "64", "--rate", "off",
            ],
        );
        assert_eq!(run.code, 0);
        let size = |f: &str| {
            std::fs::metadata(dir.join(f))
                .map(|m| m.len() as f64 / 1e6)
                .unwrap_or(0.0)
        };
        let write = run.summary["write_seconds"].as_f64().unwrap();
        let lines = run.summary["counts"]["input_lines"].as_u64().unwrap();
        row(
            "scale",
            &format!("{format}: wall s ({lines} lines, 5% duplicates)"),
            format!("{:.1}", run.wall.as_secs_f64()),
            "",
            None,
        );
        row(
            "",
            &format!("{format}: peak RSS (MB)"),
            format!("{:.1}", run.max_rss_mb),
            "<= 250",
            Some(run.max_rss_mb <= 250.0),
        );
        row(
            "",
            &format!("{format}: writing all outputs (s)"),
            format!("{write:.3}"),
            "<= 2",
            Some(write <= 2.0),
        );
        row(
            "",
            &format!("{format}: users / links MB"),
            format!("{:.1} / {:.1}", size(&users), size(&links)),
            "",
            None,
        );
    }
}

type Bench = fn(&Path);

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all: [(&str, Bench); 4] = [
        ("throughput", throughput),
        ("raw", raw),
        ("pacing", pacing),
        ("scale", scale),
    ];
    println!(
        "{:<11} {:<40} {:>12}  {:<10} verdict",
        "scenario", "figure", "value", "target"
    );
    for (name, bench) in all {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            let dir = tempfile::tempdir().unwrap();
            bench(dir.path());
        }
    }
}
