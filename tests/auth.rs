//! Signing in as an app, end to end: the real binary against a local stand-in of Entra ID
//! served over HTTPS by a CA made in the test (trusted only through `--ca-cert`), the simulator
//! accepting only the tokens issued and unexpired, and a counting CONNECT proxy.
//! The other modes are in `auth_modes.rs`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use alert_users::sim::AcceptToken;
use assert_cmd::Command;
use common::entra::{ASSERTION, CLIENT_ID, FakeEntra, SECRET, TENANT, token};
use common::tls::{ConnectProxy, TestCa, tls_front};
use common::*;
use tempfile::TempDir;

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

/// A working folder, a folder for secrets (not scanned: the secret is in it), the CA and Entra.
struct Setup {
    dir: TempDir,
    secrets: TempDir,
    ca_pem: PathBuf,
    ca: TestCa,
    entra: Arc<FakeEntra>,
}

fn setup(expires_in: u64) -> Setup {
    let (dir, secrets) = (tempdir(), tempdir());
    let ca = TestCa::new();
    let ca_pem = ca.write_pem(dir.path());
    let entra = Arc::new(FakeEntra::start(Some(&ca), expires_in));
    Setup {
        dir,
        secrets,
        ca_pem,
        ca,
        entra,
    }
}

/// `export` as an app registration, as cron runs it: IDs in the environment, the secret in an
/// owner-only file, the sign-in host of the test. `--ca-cert` is up to each test.
fn app_export(s: &Setup, base_url: &str) -> Command {
    let secret_file = s.secrets.path().join("client-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut cmd = bin();
    cmd.current_dir(s.dir.path())
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .args(["export", "--base-url", base_url])
        .args(["--authority-host", &s.entra.authority()])
        .arg("--client-secret-file")
        .arg(&secret_file)
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

#[test]
fn tokens_come_from_the_client_credentials_flow_and_are_renewed_before_they_expire() {
    // Tokens live 2 s and the run about 4 s: it needs several, and the simulator refuses any
    // token past its expiry, so a 401-free run proves they were renewed in time. 16 workers
    // share 5 calls a second, so most wait seconds for their turn: longer than a token lives.
    let s = setup(2);
    let mut config = synthetic(50, 0);
    config.latency_ms = 10;
    let sim = sim_accepting(config, s.entra.accept());
    write(s.dir.path(), "ids.txt", &ids(20));
    let out = app_export(&s, &sim.base_url())
        .arg("--ca-cert")
        .arg(&s.ca_pem)
        .args([
            "-i",
            "ids.txt",
            "-o",
            "users.csv",
            "-c",
            "16",
            "--rate",
            "5/s",
        ])
        .args(["-vv", "--progress-interval", "200ms"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let stats = sim.stats();
    assert_eq!((stats.requests, stats.unauthorized), (20, 0));
    let requests = s.entra.requests();
    assert!(requests.len() >= 2, "{} token requests", requests.len());
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, format!("/{TENANT}/oauth2/v2.0/token"));
        assert!(
            r.content_type
                .starts_with("application/x-www-form-urlencoded"),
            "{r:?}"
        );
        let fields: Vec<(&str, &str)> = r
            .form
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
                ("grant_type", "client_credentials"),
                ("scope", SCOPE),
            ]
        );
    }
    let mut secrets = s.entra.tokens();
    secrets.push(SECRET.to_owned());
    assert_nothing_leaked(&out, s.dir.path(), &secrets);
    assert!(text(&out.stderr).contains("signing in with the client secret of app"));
}

#[test]
fn a_wrong_secret_stops_the_run_before_any_api_call_with_the_providers_error() {
    let s = setup(3599);
    let sim = sim_accepting(synthetic(5, 0), s.entra.accept());
    write(s.dir.path(), "ids.txt", &ids(3));
    let wrong = "Wr0ng~Secret.Value_99";
    let out = bin()
        .current_dir(s.dir.path())
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", wrong)
        .args([
            "export",
            "-i",
            "ids.txt",
            "-o",
            "users.csv",
            "--base-url",
            &sim.base_url(),
        ])
        .args(["--authority-host", &s.entra.authority(), "-vv"])
        .arg("--ca-cert")
        .arg(&s.ca_pem)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    for needed in [
        "--auth client-secret",
        "invalid_client",
        "AADSTS7000215",
        "9c2a-correlation",
    ] {
        assert!(stderr.contains(needed), "{needed} missing from {stderr}");
    }
    assert_eq!(sim.stats().requests, 0);
    assert_eq!(
        s.entra.requests().len(),
        1,
        "a refused secret is not retried"
    );
    assert_eq!(listing(s.dir.path()), ["ids.txt", "test-root-ca.pem"]);
    assert_nothing_leaked(&out, s.dir.path(), &[wrong.to_owned(), SECRET.to_owned()]);

    // The right secret in the wrong tenant: Entra's words again.
    let out = app_export(&s, &sim.base_url())
        .env("AZURE_TENANT_ID", "fabrikam-tenant")
        .arg("--ca-cert")
        .arg(&s.ca_pem)
        .args(["-i", "ids.txt", "-o", "users.csv"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("AADSTS90002") && stderr.contains("fabrikam-tenant"),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests, 0);
    assert_nothing_leaked(&out, s.dir.path(), &[SECRET.to_owned()]);
}

#[test]
fn sign_in_and_api_calls_go_through_the_https_proxy_and_trust_only_the_given_ca() {
    let s = setup(3599);
    let sim = sim_accepting(synthetic(20, 0), s.entra.accept());
    let front = tls_front(&s.ca, sim.addr());
    let api = format!("https://localhost:{}", front.addr.port());
    let proxy = ConnectProxy::start();
    write(s.dir.path(), "ids.txt", &ids(10));
    let through_proxy = |cmd: &mut Command| {
        cmd.env_remove("NO_PROXY")
            .env("HTTPS_PROXY", proxy.url())
            .args(["-i", "ids.txt", "-o", "users.csv", "--rate", "off"]);
    };

    // Without --ca-cert, the private CA is not trusted (the system's roots are).
    let mut cmd = app_export(&s, &api);
    through_proxy(&mut cmd);
    let out = cmd.assert().code(1).get_output().clone();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(sim.stats().requests, 0);

    let mut cmd = app_export(&s, &api);
    through_proxy(&mut cmd);
    cmd.arg("--ca-cert").arg(&s.ca_pem).assert().code(0);
    assert_eq!(sim.stats().requests, 10);
    let targets = proxy.targets();
    let api_host = format!("localhost:{}", front.addr.port());
    assert!(targets.contains(&s.entra.host_port()), "{targets:?}");
    assert!(targets.contains(&api_host), "{targets:?}");
    assert!(
        targets
            .iter()
            .all(|t| *t == api_host || *t == s.entra.host_port()),
        "{targets:?}"
    );
}

#[test]
fn sixty_four_workers_refused_at_once_cause_one_new_token() {
    let s = setup(3599);
    // The first token is revoked after 30 calls: every worker in flight then gets a 401.
    let (entra, served) = (s.entra.clone(), Arc::new(AtomicU32::new(0)));
    let accept = AcceptToken(Arc::new(move |t: &str| {
        entra.is_valid(t) && (t != token(1) || served.fetch_add(1, Ordering::SeqCst) < 30)
    }));
    let mut config = synthetic(50, 0);
    config.latency_ms = 100;
    let sim = sim_accepting(config, accept);
    write(s.dir.path(), "ids.txt", &ids(400));
    app_export(&s, &sim.base_url())
        .arg("--ca-cert")
        .arg(&s.ca_pem)
        .args([
            "-i",
            "ids.txt",
            "-o",
            "users.csv",
            "-c",
            "64",
            "--rate",
            "off",
        ])
        .assert()
        .code(0);
    let stats = sim.stats();
    assert!(stats.unauthorized >= 30, "{stats:?}");
    assert_eq!(stats.requests, 400 + stats.unauthorized);
    assert_eq!(
        s.entra.tokens(),
        [token(1), token(2)],
        "one renewal for all workers"
    );
}

#[test]
fn auto_uses_workload_identity_when_a_federated_token_file_is_set() {
    let s = setup(3599);
    let sim = sim_accepting(synthetic(5, 0), s.entra.accept());
    let file = s.secrets.path().join("federated-token");
    std::fs::write(&file, ASSERTION).unwrap();
    write(s.dir.path(), "ids.txt", &ids(3));
    bin()
        .current_dir(s.dir.path())
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_FEDERATED_TOKEN_FILE", &file)
        .env("AZURE_AUTHORITY_HOST", s.entra.authority())
        .args(["export", "-i", "ids.txt", "-o", "u.csv", "--rate", "off"])
        .args(["--base-url", &sim.base_url()])
        .arg("--ca-cert")
        .arg(&s.ca_pem)
        .assert()
        .code(0);
    let requests = s.entra.requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0].form;
    assert_eq!(
        form.get("client_assertion").map(String::as_str),
        Some(ASSERTION)
    );
    assert_eq!(form.get("scope").map(String::as_str), Some(SCOPE));
    assert!(!form.contains_key("client_secret"));
    assert_eq!(sim.stats().requests, 3);
}
