//! HTTP settings shared by API calls and sign-in, so both reach the network the same way:
//! extra trusted roots (`--ca-cert`) and proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.

use std::path::{Path, PathBuf};

use crate::client::USER_AGENT;
use crate::error::{Error, Result};

/// How every HTTP client of a run is built.
#[derive(Clone, Default)]
pub struct Network {
    /// Roots trusted on top of the system's (a TLS-inspecting proxy's CA, a private gateway's).
    roots: Vec<reqwest::Certificate>,
    /// The files they came from, for messages.
    ca_files: Vec<PathBuf>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("ca_files", &self.ca_files)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Reads every `--ca-cert` file (PEM, one or more certificates each) once, here, so a wrong
    /// path or a file that is not a certificate is a usage error before any request.
    pub fn load(ca_files: &[PathBuf]) -> Result<Network> {
        let mut roots = Vec::new();
        for path in ca_files {
            roots.extend(read_pem(path)?);
        }
        let network = Network {
            roots,
            ca_files: ca_files.to_vec(),
        };
        if ca_files.is_empty() {
            return Ok(network);
        }
        // The certificates are only parsed when a client is built: build one now so that a
        // corrupt file is reported with its name rather than as a client error later.
        network.builder().build().map_err(|e| {
            Error::Usage(format!(
                "--ca-cert {}: not usable as a trusted root: {}",
                display(&network.ca_files),
                crate::client::chain(&e)
            ))
        })?;
        Ok(network)
    }

    /// A client builder with our user agent and the extra roots merged into the system's.
    ///
    /// Proxies need nothing here: reqwest reads `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (and their lowercase forms) when the client is built, for every host,
    /// loopback included, so a proxy applies to sign-in and API calls alike.
    pub fn builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .tls_certs_merge(self.roots.iter().cloned())
    }
}

fn read_pem(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read --ca-cert file '{}': {e}",
            path.display()
        ))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        Error::Usage(format!(
            "--ca-cert '{}': not a PEM certificate: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::Usage(format!(
            "--ca-cert '{}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

fn display(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_and_garbage_ca_files_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, needle) in [
            (dir.path().join("none.pem"), "cannot read"),
            (empty, "no PEM certificate"),
            (garbage, "garbage.pem"),
        ] {
            let e = Network::load(std::slice::from_ref(&path)).unwrap_err();
            assert!(
                matches!(e, Error::Usage(ref m) if m.contains(needle)),
                "{}: {e}",
                path.display()
            );
        }
        assert!(Network::load(&[]).is_ok());
    }
}
