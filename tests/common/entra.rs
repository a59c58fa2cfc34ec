//! A local stand-in for Microsoft Entra ID: the v2 token endpoint (client secret and federated
//! client assertion) and App Service's managed identity endpoint, answering as Entra does,
//! recording every request and issuing tokens that expire.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_users::sim::AcceptToken;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::tls::{Background, TestCa};

pub const TENANT: &str = "contoso-tenant";
pub const CLIENT_ID: &str = "app-0000-1111";
pub const SECRET: &str = "Sup3r~Secret.Value_42";
/// The federated token of workload identity (a JWT in real life).
pub const ASSERTION: &str = "eyJhbGciOiJSUzI1NiJ9.federated.assertion";
/// App Service's per-process secret header of managed identity.
pub const IDENTITY_HEADER: &str = "identity-header-secret-77";

/// The `n`th token issued (1-based), shaped like the JWTs Entra issues.
pub fn token(n: u32) -> String {
    format!("eyJ0eXAiOiJKV1QifQ.issued-{n}.sig")
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub content_type: String,
    pub identity_header: Option<String>,
    pub form: BTreeMap<String, String>,
}

struct State {
    expires_in: u64,
    issued: Mutex<Vec<(String, Instant)>>,
    seen: Mutex<Vec<Seen>>,
    counter: AtomicU32,
}

impl State {
    /// What Entra answers to `request`: a new token, or Entra's error body.
    fn answer(&self, request: &Seen) -> (u16, String) {
        let path = request.target.split('?').next().unwrap_or_default();
        let form = &request.form;
        let field = |k: &str| form.get(k).map(String::as_str);
        if request.method == "GET" && path == "/msi/token" {
            if request.identity_header.as_deref() != Some(IDENTITY_HEADER) {
                return (401, r#"{"error":"unauthorized"}"#.into());
            }
            let (token, _) = self.issue();
            let expires_on = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + self.expires_in;
            return (
                200,
                format!(
                    r#"{{"access_token":"{token}","expires_on":"{expires_on}","resource":"x","token_type":"Bearer"}}"#
                ),
            );
        }
        if path != format!("/{TENANT}/oauth2/v2.0/token") {
            return error(
                400,
                "invalid_request",
                &format!("AADSTS90002: Tenant '{path}' not found."),
                90002,
            );
        }
        if field("grant_type") != Some("client_credentials")
            || field("client_id") != Some(CLIENT_ID)
        {
            return error(
                400,
                "unauthorized_client",
                "AADSTS700016: Application not found.",
                700016,
            );
        }
        let proof_ok = match (field("client_secret"), field("client_assertion")) {
            (Some(secret), None) => secret == SECRET,
            (None, Some(assertion)) => {
                assertion == ASSERTION
                    && field("client_assertion_type")
                        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            }
            _ => false,
        };
        if !proof_ok {
            return error(
                401,
                "invalid_client",
                &format!(
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent \
                     in the request is the client secret value, not the client secret ID, for a \
                     secret added to app '{CLIENT_ID}'.\r\nTrace ID: 5e1f Correlation ID: 9c2a"
                ),
                7000215,
            );
        }
        let (token, _) = self.issue();
        (
            200,
            format!(
                r#"{{"token_type":"Bearer","expires_in":{0},"ext_expires_in":{0},"access_token":"{token}"}}"#,
                self.expires_in
            ),
        )
    }

    fn issue(&self) -> (String, Instant) {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let token = token(n);
        let until = Instant::now() + Duration::from_secs(self.expires_in);
        self.issued.lock().unwrap().push((token.clone(), until));
        (token, until)
    }
}

fn error(status: u16, code: &str, description: &str, number: u32) -> (u16, String) {
    let body = serde_json::json!({
        "error": code,
        "error_description": description,
        "error_codes": [number],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "5e1f",
        "correlation_id": "9c2a-correlation",
    });
    (status, body.to_string())
}

/// The running fake; https when started with a CA, else plain http (App Service's endpoint is).
pub struct FakeEntra {
    server: Background,
    tls: bool,
    state: Arc<State>,
}

impl FakeEntra {
    pub fn start(ca: Option<&TestCa>, expires_in: u64) -> FakeEntra {
        let state = Arc::new(State {
            expires_in,
            issued: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            counter: AtomicU32::new(0),
        });
        let acceptor = ca.map(TestCa::acceptor);
        let shared = state.clone();
        let server = Background::start(move |stream| {
            let (acceptor, state) = (acceptor.clone(), shared.clone());
            async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(stream).await {
                            serve(tls, &state).await;
                        }
                    }
                    None => serve(stream, &state).await,
                }
            }
        });
        FakeEntra {
            server,
            tls: ca.is_some(),
            state,
        }
    }

    /// For `--authority-host`: the `localhost` name, which the certificate carries.
    pub fn authority(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://localhost:{}", self.server.addr.port())
    }

    pub fn host_port(&self) -> String {
        format!("localhost:{}", self.server.addr.port())
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Every token issued so far.
    pub fn tokens(&self) -> Vec<String> {
        let issued = self.state.issued.lock().unwrap();
        issued.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Whether the API should take `token`: issued here and not expired.
    pub fn is_valid(&self, token: &str) -> bool {
        let issued = self.state.issued.lock().unwrap();
        issued
            .iter()
            .any(|(t, until)| t == token && Instant::now() < *until)
    }

    /// A simulator rule accepting exactly the valid tokens.
    pub fn accept(self: &Arc<Self>) -> AcceptToken {
        let me = self.clone();
        AcceptToken(Arc::new(move |token| me.is_valid(token)))
    }
}

/// One request per connection: read it, record it, answer, close.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: &State) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        first.next().unwrap_or_default(),
        first.next().unwrap_or_default(),
    );
    let mut headers = BTreeMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let form = url::form_urlencoded::parse(&buf[head_end..head_end + length])
        .into_owned()
        .collect();
    let seen = Seen {
        method: method.to_owned(),
        target: target.to_owned(),
        content_type: headers.get("content-type").cloned().unwrap_or_default(),
        identity_header: headers.get("x-identity-header").cloned(),
        form,
    };
    let (status, body) = state.answer(&seen);
    state.seen.lock().unwrap().push(seen);
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
