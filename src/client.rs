//! One call to `GET /api/alerts/{id}/user` and the classification of its answer.
//!
//! This layer decides what an answer *is*; `pipeline` decides what to do about it.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use crate::auth::Secret;
use crate::error::{Error, Result};
use crate::ledger::FailureKind;
use crate::net::Network;
use crate::retry::{is_retryable_status, retry_after};
use crate::user::{Body, UserRecord, parse_body};

/// Everything but RFC 3986's unreserved characters is escaped: the ID stays one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub const USER_AGENT: &str = concat!("alert-users/", env!("CARGO_PKG_VERSION"));

/// The API's error body: `{"error": {"code", "message", "target"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    pub code: Option<String>,
    pub message: Option<String>,
    /// The correlation id Microsoft support asks for.
    pub target: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ApiError,
}

impl ApiError {
    /// Reads an error body; anything else (HTML from a proxy, empty) gives an empty `ApiError`
    /// with the start of the body as message, so the failures file still says something useful.
    fn parse(body: &[u8]) -> ApiError {
        if let Ok(e) = serde_json::from_slice::<ErrorEnvelope>(body) {
            return e.error;
        }
        let text = String::from_utf8_lossy(body);
        let text: String = text.trim().chars().take(200).collect();
        ApiError {
            message: (!text.is_empty()).then_some(text),
            ..ApiError::default()
        }
    }
}

/// What one request came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    User(Box<UserRecord>),
    /// 2xx with an empty body or no `id`.
    Empty,
    NotFound(ApiError),
    /// 429: wait `retry_after` (when the API said how long) and ask again.
    Throttled(Option<Duration>),
    Unauthorized(ApiError),
    Forbidden(ApiError),
    /// Anything else; `retryable` when another try may succeed.
    Failed(Problem),
}

/// A failed request, as it will be written to the failures file if it is the last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: FailureKind,
    pub status: Option<u16>,
    pub error: ApiError,
    pub retryable: bool,
}

impl Problem {
    /// A one-line message: the API's message, else the status or transport error.
    pub fn message(&self) -> String {
        self.error
            .message
            .clone()
            .unwrap_or_else(|| match self.status {
                Some(s) => format!("HTTP {s}"),
                None => self.kind.to_string(),
            })
    }
}

/// The HTTP client, shared by all workers (one connection pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
}

impl Client {
    /// `timeout` bounds each request from connect to the last body byte; `network` adds the
    /// `--ca-cert` roots (proxies come from the environment).
    pub fn new(
        base: &reqwest::Url,
        timeout: Duration,
        pool: usize,
        network: &Network,
    ) -> Result<Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = network
            .builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(pool)
            .build()
            .map_err(|e| Error::HttpClient(chain(&e)))?;
        let base = base.as_str().trim_end_matches('/').to_owned();
        Ok(Client { http, base })
    }

    pub fn url(&self, alert_id: &str) -> String {
        format!(
            "{}/api/alerts/{}/user",
            self.base,
            utf8_percent_encode(alert_id, SEGMENT)
        )
    }

    /// Sends one request and classifies the answer. Never fails: transport errors are answers too.
    pub async fn get_user(&self, alert_id: &str, token: &Secret) -> Answer {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        auth.set_sensitive(true);
        let sent = self
            .http
            .get(self.url(alert_id))
            .header(AUTHORIZATION, auth)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return transport(&e),
        };
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport(&e),
        };
        tracing::debug!(alert_id, status, bytes = body.len(), "answer");
        classify(status, wait, &body)
    }
}

fn classify(status: u16, wait: Option<Duration>, body: &[u8]) -> Answer {
    match status {
        200..=299 => match parse_body(body) {
            Ok(Body::User(u)) => Answer::User(u),
            Ok(Body::Empty) => Answer::Empty,
            Err(reason) => Answer::Failed(Problem {
                kind: FailureKind::MalformedResponse,
                status: Some(status),
                error: ApiError {
                    message: Some(reason),
                    ..ApiError::default()
                },
                retryable: true,
            }),
        },
        404 => Answer::NotFound(ApiError::parse(body)),
        429 => Answer::Throttled(wait),
        401 => Answer::Unauthorized(ApiError::parse(body)),
        403 => Answer::Forbidden(ApiError::parse(body)),
        _ => Answer::Failed(Problem {
            kind: FailureKind::HttpStatus,
            status: Some(status),
            error: ApiError::parse(body),
            retryable: is_retryable_status(status),
        }),
    }
}

fn transport(e: &reqwest::Error) -> Answer {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Connection
    };
    Answer::Failed(Problem {
        kind,
        status: None,
        error: ApiError {
            message: Some(chain(e)),
            ..ApiError::default()
        },
        retryable: true,
    })
}

/// An error and its causes on one line ("error sending request: connection refused").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !text.contains(&msg) {
            text.push_str(": ");
            text.push_str(&msg);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_path_segment() {
        let base = reqwest::Url::parse("https://api.example/").unwrap();
        let c = Client::new(&base, Duration::from_secs(1), 1, &Network::default()).unwrap();
        assert_eq!(
            c.url("da6_-1"),
            "https://api.example/api/alerts/da6_-1/user"
        );
        assert_eq!(
            c.url("a/b?c%d"),
            "https://api.example/api/alerts/a%2Fb%3Fc%25d/user"
        );
    }

    #[test]
    fn answers_are_classified_by_status_and_body() {
        let nf = br#"{"error":{"code":"ResourceNotFound","message":"Alert x not found","target":"t-1"}}"#;
        let Answer::NotFound(e) = classify(404, None, nf) else {
            panic!()
        };
        assert_eq!(
            (e.code.as_deref(), e.target.as_deref()),
            (Some("ResourceNotFound"), Some("t-1"))
        );
        assert_eq!(
            classify(429, Some(Duration::from_secs(3)), b""),
            Answer::Throttled(Some(Duration::from_secs(3)))
        );
        assert_eq!(classify(204, None, b""), Answer::Empty);
        assert!(matches!(
            classify(200, None, br#"{"id":"a\\b"}"#),
            Answer::User(_)
        ));
        let Answer::Failed(p) = classify(200, None, br#"{"id":"#) else {
            panic!()
        };
        assert_eq!(
            (p.kind, p.retryable),
            (FailureKind::MalformedResponse, true)
        );
        let Answer::Failed(p) = classify(503, None, b"<html>busy</html>") else {
            panic!()
        };
        assert_eq!(
            (p.status, p.retryable, p.message()),
            (Some(503), true, "<html>busy</html>".to_owned())
        );
        let Answer::Failed(p) = classify(400, None, br#"{"error":{"code":"InvalidInput"}}"#) else {
            panic!()
        };
        assert_eq!((p.retryable, p.message()), (false, "HTTP 400".to_owned()));
        assert!(matches!(classify(401, None, b""), Answer::Unauthorized(_)));
        assert!(matches!(classify(403, None, b""), Answer::Forbidden(_)));
    }
}
