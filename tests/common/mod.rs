//! The test harness: a simulator per test, a temp folder, and the real binary pointed at both.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod entra;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use alert_users::sim::{AcceptToken, SimConfig, SimHandle, Tenant};
use assert_cmd::Command;
use tempfile::TempDir;

pub const TOKEN: &str = "test-token-0123456789";

pub fn tenant(json: serde_json::Value) -> Arc<Tenant> {
    Arc::new(Tenant::from_json(json.to_string().as_bytes()).expect("test tenant"))
}

/// A simulator that accepts the tokens `accept` says are valid.
pub fn sim_accepting(mut config: SimConfig, accept: AcceptToken) -> SimHandle {
    config.accept = Some(accept);
    SimHandle::start("127.0.0.1:0", config).expect("simulator")
}

/// A simulator that only accepts `TOKEN`.
pub fn sim(mut config: SimConfig) -> SimHandle {
    config.token = Some(TOKEN.into());
    SimHandle::start("127.0.0.1:0", config).expect("simulator")
}

pub fn synthetic(accounts: u32, not_found_permille: u32) -> SimConfig {
    SimConfig::new(Arc::new(Tenant::synthetic(accounts, not_found_permille)))
}

/// The binary, with a clean environment of our variables (the Azure SDK's and the proxies'
/// included: a developer's shell often has some), and no proxy.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alert-users"));
    for var in [
        "DEFENDER_TOKEN",
        "DEFENDER_BASE_URL",
        "RUST_LOG",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "*");
    cmd
}

/// `export` against `sim` with fast retries and no pacing, writing into `dir`.
pub fn export(sim: &SimHandle, dir: &Path) -> Command {
    let mut cmd = export_paced(sim, dir);
    cmd.args(["--rate", "off"]);
    cmd
}

/// `export` against `sim` with fast retries; the test gives its own `--rate`.
pub fn export_paced(sim: &SimHandle, dir: &Path) -> Command {
    let mut cmd = bin();
    cmd.current_dir(dir)
        .env("DEFENDER_TOKEN", TOKEN)
        .args(["export", "--base-url", &sim.base_url()])
        .args([
            "--retry-base",
            "5ms",
            "--retry-cap",
            "20ms",
            "--timeout",
            "5s",
        ]);
    cmd
}

/// `export` against `sim` as a child process (for tests that signal it), stderr discarded.
pub fn spawn_export(sim: &SimHandle, dir: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_alert-users"))
        .current_dir(dir)
        .env("DEFENDER_TOKEN", TOKEN)
        .env("NO_PROXY", "*")
        .args(["export", "--base-url", &sim.base_url(), "--rate", "off"])
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn alert-users")
}

/// Sends SIGINT to a child, as Ctrl-C would.
#[cfg(unix)]
pub fn interrupt(child: &std::process::Child) {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT {pid}");
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Rows of a CSV file (header excluded), parsed with RFC 4180 rules.
pub fn rows(dir: &Path, name: &str) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(dir.join(name)).unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect()
}

/// N synthetic alert IDs, one per line.
pub fn ids(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "da{:018}_{}\n",
                637_000_000_000_000_000u64 + i as u64 * 7919,
                i % 97
            )
        })
        .collect()
}

pub fn tempdir() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// File names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a finished run printed on stderr.
pub fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    text(&out.get_output().stderr)
}

/// A simulator that answers every authorised request 403, as for an app without the permission.
pub fn forbidden_sim() -> SimHandle {
    let mut config = synthetic(5, 0);
    config.forbidden = true;
    sim(config)
}

/// No secret or token in stdout, stderr or any file the run left in `dir`.
pub fn assert_nothing_leaked(out: &Output, dir: &Path, secrets: &[String]) {
    let mut places = vec![
        ("stdout".to_owned(), text(&out.stdout)),
        ("stderr".to_owned(), text(&out.stderr)),
    ];
    for name in listing(dir) {
        places.push((name.clone(), text(&std::fs::read(dir.join(&name)).unwrap())));
    }
    for secret in secrets {
        for (place, content) in &places {
            assert!(
                !content.contains(secret.as_str()),
                "{secret} leaked into {place}"
            );
        }
    }
}
