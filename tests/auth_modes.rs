//! The sign-in modes without an app secret, end to end: managed identity (App Service's local
//! endpoint, behind a proxy it must not use), the Azure CLI (a stand-in `az`), no credential at
//! all, and the cloud table of `export --help`.

mod common;

use std::path::Path;
use std::sync::Arc;

use alert_users::sim::SimHandle;
use common::entra::{FakeEntra, IDENTITY_HEADER};
use common::tls::{ConnectProxy, TestCa, tls_front};
use common::*;

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

#[test]
fn managed_identity_asks_the_local_endpoint_directly_even_behind_a_proxy() {
    // App Service's identity endpoint is plain http on the machine; HTTP_PROXY points nowhere,
    // so only a direct request can succeed. The API (https) still goes through HTTPS_PROXY.
    let ca = TestCa::new();
    let dir = tempdir();
    let ca_pem = ca.write_pem(dir.path());
    let identity = Arc::new(FakeEntra::start(None, 3599));
    let sim = sim_accepting(synthetic(5, 0), identity.accept());
    let front = tls_front(&ca, sim.addr());
    let proxy = ConnectProxy::start();
    write(dir.path(), "ids.txt", &ids(4));
    let out = bin()
        .current_dir(dir.path())
        .env_remove("NO_PROXY")
        .env("HTTP_PROXY", "http://127.0.0.1:1")
        .env("HTTPS_PROXY", proxy.url())
        .env(
            "IDENTITY_ENDPOINT",
            format!("{}/msi/token", identity.authority()),
        )
        .env("IDENTITY_HEADER", IDENTITY_HEADER)
        .args([
            "export", "-i", "ids.txt", "-o", "u.csv", "--rate", "off", "-vv",
        ])
        .args(["--auth", "managed-identity", "--client-id", "mi-client-1"])
        .args([
            "--base-url",
            &format!("https://localhost:{}", front.addr.port()),
        ])
        .arg("--ca-cert")
        .arg(&ca_pem)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let requests = identity.requests();
    assert_eq!(requests.len(), 1);
    let query = &requests[0].target;
    assert!(query.contains("client_id=mi-client-1"), "{query}");
    assert!(
        query.contains("resource=https%3A%2F%2Fapi.securitycenter.microsoft.com"),
        "{query}"
    );
    assert_eq!(sim.stats().requests, 4);
    let targets = proxy.targets();
    let api_host = format!("localhost:{}", front.addr.port());
    assert!(
        !targets.is_empty() && targets.iter().all(|t| *t == api_host),
        "{targets:?}"
    );
    let mut secrets = identity.tokens();
    secrets.push(IDENTITY_HEADER.to_owned());
    assert_nothing_leaked(&out, dir.path(), &secrets);
}

/// A stand-in `az` that records its arguments and answers like `az account get-access-token`,
/// or like the CLI before `az login`.
fn fake_az(dir: &Path, logged_in: bool) -> String {
    let script = if logged_in {
        r#"#!/bin/sh
echo "$@" > "$AZ_ARGS_FILE"
echo '{"accessToken": "cli-user-token-123", "expiresOn": "2100-01-01 00:00:00.000000", "expires_on": 4102444800, "tokenType": "Bearer"}'
"#
    } else {
        "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n"
    };
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn an_analyst_signs_in_with_the_azure_cli() {
    let (dir, bin_dir) = (tempdir(), tempdir());
    let path = fake_az(bin_dir.path(), true);
    let mut config = synthetic(5, 0);
    config.token = Some("cli-user-token-123".into());
    let sim = SimHandle::start("127.0.0.1:0", config).unwrap();
    write(dir.path(), "ids.txt", &ids(3));
    let args_file = bin_dir.path().join("args");
    bin()
        .current_dir(dir.path())
        .env("PATH", path)
        .env("AZ_ARGS_FILE", &args_file)
        .args(["export", "-i", "ids.txt", "-o", "u.csv", "--rate", "off"])
        .args([
            "--auth",
            "azure-cli",
            "--tenant-id",
            "contoso.onmicrosoft.com",
        ])
        .args(["--base-url", &sim.base_url()])
        .assert()
        .code(0);
    let args = std::fs::read_to_string(args_file).unwrap();
    assert!(args.contains("account get-access-token"), "{args}");
    assert!(args.contains(&format!("--scope {SCOPE}")), "{args}");
    assert!(args.contains("--tenant contoso.onmicrosoft.com"), "{args}");
    assert_eq!(sim.stats().requests, 3);
}

#[test]
fn without_an_az_login_the_run_stops_with_the_cli_message() {
    let (dir, bin_dir) = (tempdir(), tempdir());
    let path = fake_az(bin_dir.path(), false);
    let sim = sim(synthetic(5, 0));
    write(dir.path(), "ids.txt", &ids(3));
    let out = bin()
        .current_dir(dir.path())
        .env("PATH", path)
        .args([
            "export",
            "-i",
            "ids.txt",
            "-o",
            "u.csv",
            "--auth",
            "azure-cli",
        ])
        .args(["--base-url", &sim.base_url()])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Azure CLI") && stderr.contains("az login"),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests, 0);
    assert_eq!(listing(dir.path()), ["ids.txt"]);
}

#[test]
fn with_no_credential_auto_lists_every_mode_and_what_it_needs() {
    let dir = tempdir();
    write(dir.path(), "ids.txt", "a1\n");
    let out = bin()
        .current_dir(dir.path())
        .args(["export", "-i", "ids.txt", "-o", "u.csv"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    for needed in [
        "DEFENDER_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "--auth managed-identity",
        "--auth azure-cli",
    ] {
        assert!(stderr.contains(needed), "{needed} missing from {stderr}");
    }
}

#[test]
fn export_help_lists_the_cloud_table() {
    let out = bin()
        .args(["export", "--help"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let help = text(&out.stdout);
    for needed in [
        "--cloud",
        "gcc-high",
        "api-gov.securitycenter.microsoft.us",
        "login.microsoftonline.us",
        "api-gcc.securitycenter.microsoft.us",
        "--region eu",
        "--client-secret-file",
        "--ca-cert",
    ] {
        assert!(help.contains(needed), "{needed} missing from\n{help}");
    }
}
