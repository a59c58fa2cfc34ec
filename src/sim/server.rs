//! The HTTP side: the route, the checks one request goes through, in order, and the answers.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::SimConfig;
use super::faults::{Fault, correlation_id, delay, pick_fault};
use super::rate::Verdict;
use super::state::SimState;
use super::tenant::Answer;

/// Serve on an existing listener until `shutdown` resolves (used by `alert-users simulate`).
///
/// Shutdown is graceful: answers being delayed are still sent, but hanging requests have their
/// connection dropped so that shutdown does not wait on the client's timeout.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config.validate().map_err(io::Error::other)?;
    let (stop, stopping) = watch::channel(false);
    let state = Arc::new(SimState::new(config, stopping));
    let shutdown = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    serve_state(listener, state, shutdown).await
}

/// [`serve`] with the state (and its stop signal) made by the caller, who wants to see inside.
pub(crate) async fn serve_state(
    listener: TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Answers are small and latency is what benchmarks measure: don't let Nagle hold them.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new()
        .route("/api/alerts/{id}/user", get(user))
        .fallback(no_route)
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// What a request gets, decided as it arrives (the throttle goes by arrival time).
enum Plan {
    Answer(Response),
    Reset,
    Hang,
}

/// Why a request is refused before reaching the tenant.
enum Refusal {
    Unauthorized,
    Forbidden,
    Throttled { retry_after: u64 },
}

async fn user(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    // Held across every await: dropped with this future when the client gives up.
    let _in_flight = state.enter();
    let Ok(Path(id)) = path else {
        let target = correlation_id(state.config.seed, "", 0);
        let message = "The alert ID is not valid UTF-8 once percent-decoded";
        return error(StatusCode::BAD_REQUEST, "BadRequest", message, &target);
    };
    let (plan, request) = plan(&state, &headers, &id);
    let wait = delay(&state.config, &id, request);
    match plan {
        Plan::Hang => {
            state.stopped().await;
            reset()
        }
        Plan::Reset => {
            pause(wait).await;
            reset()
        }
        Plan::Answer(response) => {
            pause(wait).await;
            response
        }
    }
}

/// Steps 2 to 5 and 7 of a request: auth, permission, throttle, faults, then the tenant's
/// answer. Returns the plan and the request's 0-based number for this ID.
fn plan(state: &SimState, headers: &HeaderMap, id: &str) -> (Plan, u32) {
    let config = &state.config;
    let refusal = if !authorised(config, headers) {
        Some(Refusal::Unauthorized)
    } else if config.forbidden {
        Some(Refusal::Forbidden)
    } else {
        match state.throttle(Instant::now()) {
            Verdict::Accept => None,
            Verdict::Throttle { retry_after, .. } => Some(Refusal::Throttled { retry_after }),
        }
    };
    let seen = state.see(id, refusal.is_none());
    let target = || correlation_id(config.seed, id, seen.request);
    if let Some(refusal) = refusal {
        return (
            Plan::Answer(refuse(state, refusal, &target())),
            seen.request,
        );
    }
    let fault = seen.attempt.and_then(|k| pick_fault(config, id, k));
    let answer = config.tenant.answer(id);
    let plan = match fault {
        None => Plan::Answer(answer_response(answer, id, &target)),
        Some(fault) => {
            state
                .counters
                .faults
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(
                alert = id,
                ?fault,
                attempt = seen.attempt,
                "simulated fault"
            );
            match fault {
                Fault::Fail { unavailable } => Plan::Answer(failure(unavailable, &target())),
                Fault::Reset => Plan::Reset,
                Fault::Hang => Plan::Hang,
                Fault::Malformed => Plan::Answer(malformed(&answer)),
            }
        }
    };
    (plan, seen.request)
}

fn authorised(config: &SimConfig, headers: &HeaderMap) -> bool {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = value.and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    if let Some(accept) = &config.accept {
        return (accept.0)(token);
    }
    match &config.token {
        Some(expected) => token == expected,
        None => !token.trim().is_empty(),
    }
}

fn refuse(state: &SimState, refusal: Refusal, target: &str) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &state.counters;
    match refusal {
        Refusal::Unauthorized => {
            counters.unauthorized.fetch_add(1, Relaxed);
            let message = "Authorization failed: the bearer token is missing, invalid or expired";
            let mut response = error(StatusCode::UNAUTHORIZED, "Unauthorized", message, target);
            let challenge = HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
            response
        }
        Refusal::Forbidden => {
            counters.forbidden.fetch_add(1, Relaxed);
            let message = "The application does not have any of the required application \
                           permissions (User.Read.All) to access the resource";
            error(StatusCode::FORBIDDEN, "Forbidden", message, target)
        }
        Refusal::Throttled { retry_after } => {
            let message = format!("Rate limit is exceeded. Try again in {retry_after} seconds.");
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut response = error(status, "TooManyRequests", &message, target);
            let value = HeaderValue::from(retry_after);
            response.headers_mut().insert(header::RETRY_AFTER, value);
            response
        }
    }
}

/// The tenant's answer as the API sends it; `target` is only computed for errors.
fn answer_response(answer: Answer, id: &str, target: &dyn Fn() -> String) -> Response {
    match answer {
        Answer::User(body) => json(StatusCode::OK, body),
        Answer::Empty => Response::new(Body::empty()),
        Answer::NoUser => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "User not found",
            &target(),
        ),
        Answer::NotFound => {
            let message = format!("Alert {id} not found");
            error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &message,
                &target(),
            )
        }
    }
}

fn failure(unavailable: bool, target: &str) -> Response {
    if unavailable {
        let message = "The service is temporarily unavailable. Try again later.";
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            message,
            target,
        )
    } else {
        let message = "An error has occurred.";
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            message,
            target,
        )
    }
}

/// A user body cut in half (on a character boundary, so the client fails on JSON, not UTF-8).
/// Alerts without a user get a made-up one cut the same way.
fn malformed(answer: &Answer) -> Response {
    const STAND_IN: &[u8] = br#"{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Users/$entity","id":"contoso\\jdoe","accountName":"jdoe","accountDomain":"contoso"}"#;
    let body = match answer {
        Answer::User(body) => body.clone(),
        _ => Bytes::from_static(STAND_IN),
    };
    let mut cut = body.len() / 2;
    while cut > 0 && (body[cut] & 0xc0) == 0x80 {
        cut -= 1;
    }
    json(StatusCode::OK, body.slice(..cut))
}

/// A response whose body fails on its first poll: hyper then drops the connection without a
/// complete answer, which is what a client sees when a proxy or the network resets it.
fn reset() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        ))
    });
    Response::new(Body::from_stream(failing))
}

async fn no_route(uri: Uri) -> Response {
    let target = correlation_id(0, uri.path(), 0);
    let message = "No resource matches this path";
    error(StatusCode::NOT_FOUND, "ResourceNotFound", message, &target)
}

async fn pause(wait: Duration) {
    // Skipping the timer entirely matters when benchmarks run a million zero-latency requests.
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

fn json(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let content_type = HeaderValue::from_static("application/json");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// The API's error body: `{"error":{"code":..,"message":..,"target":..}}`.
fn error(status: StatusCode, code: &str, message: &str, target: &str) -> Response {
    let mut body = Vec::with_capacity(80 + code.len() + message.len() + target.len());
    body.extend_from_slice(b"{\"error\":{\"code\":");
    // Writing a string into a Vec cannot fail.
    serde_json::to_writer(&mut body, code).expect("serialising a string");
    body.extend_from_slice(b",\"message\":");
    serde_json::to_writer(&mut body, message).expect("serialising a string");
    body.extend_from_slice(b",\"target\":");
    serde_json::to_writer(&mut body, target).expect("serialising a string");
    body.extend_from_slice(b"}}");
    json(status, Bytes::from(body))
}
