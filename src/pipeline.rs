//! The one concurrent stage: alert IDs in, one final outcome per ID out, at most `c` in flight.
//!
//! Each ID is resolved by `Worker::resolve`, which owns the retry loop: it takes a turn from
//! the shared `Limiter` before every request, honours 429 pauses for everyone, backs off on
//! server trouble and asks once for a fresh token on 401. Only 401-after-refresh and 403 end
//! the run; everything else becomes a row in one of the output files.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::{Stream, StreamExt};

use crate::auth::Credential;
use crate::client::{Answer, ApiError, Client, Problem};
use crate::error::Error;
use crate::ids::Item;
use crate::ledger::{Failure, FailureKind, NotFound, NotFoundReason};
use crate::limit::Limiter;
use crate::retry::{DEFAULT_RETRY_AFTER, RetryPolicy};
use crate::state::Known;
use crate::user::UserRecord;

/// Counters shared by all workers, read by the progress display and the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub in_flight: AtomicU64,
}

/// The final fate of one input line.
#[derive(Debug)]
pub enum Outcome {
    User {
        alert_id: String,
        record: Box<UserRecord>,
    },
    NotFound(NotFound),
    Failure(Failure),
    /// The run must stop (token rejected, permission missing).
    Fatal(Error),
    /// Not resolved because the run is stopping.
    Cancelled,
    /// A `User` or `NotFound` read from the state file instead of asked for (`--state`).
    Stored(Box<Outcome>),
}

/// What every request needs, shared by all in-flight resolutions.
pub struct Worker {
    pub client: Client,
    pub credential: Credential,
    pub limiter: Arc<Limiter>,
    pub policy: RetryPolicy,
    pub stats: Arc<Stats>,
    /// Set on SIGINT/SIGTERM: no new request is sent after it.
    pub stopping: Arc<AtomicBool>,
    /// The answers of earlier runs (`--state`): a fresh one is used instead of a request.
    pub known: Option<Known>,
}

impl Worker {
    /// Asks until the answer is final. Attempts count requests that were not throttled.
    pub async fn resolve(&self, alert_id: String) -> Outcome {
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            let ticket = self.limiter.acquire().await;
            if self.stopping.load(Ordering::SeqCst) {
                return Outcome::Cancelled;
            }
            // Taken after the turn, not before it: under the hourly quota a turn can take longer
            // than the token has left.
            let token = match self.credential.token().await {
                Ok(t) => t,
                Err(e) => return Outcome::Fatal(e),
            };
            attempts += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let answer = self.client.get_user(&alert_id, &token).await;
            drop(ticket); // the answer is in: the limiter may count this call as arrived
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            match answer {
                Answer::User(record) => return Outcome::User { alert_id, record },
                Answer::Empty => {
                    return not_found(alert_id, NotFoundReason::EmptyResponse, ApiError::default());
                }
                Answer::NotFound(e) => {
                    let reason = NotFoundReason::of_404(e.message.as_deref());
                    return not_found(alert_id, reason, e);
                }
                Answer::Throttled(wait) => {
                    attempts -= 1;
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let wait = wait.unwrap_or(DEFAULT_RETRY_AFTER);
                    if self.limiter.pause(wait) {
                        tracing::info!(
                            alert_id,
                            "429 Too Many Requests: every worker waits {wait:?}"
                        );
                    }
                }
                Answer::Unauthorized(e) if refreshed => {
                    return Outcome::Fatal(Error::TokenRejected {
                        alert_id,
                        code: e.code,
                        message: e.message,
                    });
                }
                Answer::Unauthorized(_) => {
                    refreshed = true;
                    attempts -= 1;
                    // The next turn's `token()` returns the replacement.
                    if let Err(e) = self.credential.fresh_token(&token).await {
                        return Outcome::Fatal(e);
                    }
                }
                Answer::Forbidden(e) => {
                    return Outcome::Fatal(Error::Forbidden {
                        alert_id,
                        code: e.code,
                        message: e.message,
                    });
                }
                Answer::Failed(p) if p.retryable && attempts <= self.policy.retries => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = self.policy.backoff(attempts);
                    tracing::debug!(alert_id, kind = %p.kind, status = ?p.status, "retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Answer::Failed(p) => return failure(alert_id, p, attempts),
            }
        }
    }

    /// An input line's outcome: invalid lines never reach the network, nor do IDs whose stored
    /// answer is fresh.
    async fn outcome(&self, item: Result<Item, Error>) -> Outcome {
        match item {
            Err(e) => Outcome::Fatal(e),
            Ok(Item::Id { id, .. }) => match self.known.as_ref().and_then(|k| k.outcome(&id)) {
                Some(stored) => stored,
                None => self.resolve(id).await,
            },
            Ok(Item::Invalid {
                line,
                value,
                reason,
            }) => Outcome::Failure(Failure {
                alert_id: value,
                kind: FailureKind::InvalidId,
                http_status: None,
                error_code: None,
                message: format!("line {line}: {reason}"),
                attempts: 0,
                target: None,
            }),
        }
    }
}

fn not_found(alert_id: String, reason: NotFoundReason, e: ApiError) -> Outcome {
    Outcome::NotFound(NotFound {
        alert_id,
        reason,
        error_code: e.code,
        message: e.message,
    })
}

fn failure(alert_id: String, p: Problem, attempts: u32) -> Outcome {
    let message = p.message();
    Outcome::Failure(Failure {
        alert_id,
        kind: p.kind,
        http_status: p.status,
        error_code: p.error.code,
        message,
        attempts,
        target: p.error.target,
    })
}

/// THE concurrent stage. `buffer_unordered` keeps `concurrency` resolutions in flight as long as
/// input remains (no batch-and-wait); outcomes come out in completion order, so the consumer
/// must not depend on order (the merge does not).
pub fn outcomes(
    worker: Arc<Worker>,
    items: impl Stream<Item = Result<Item, Error>> + Send + 'static,
    concurrency: usize,
) -> impl Stream<Item = Outcome> + Send + 'static {
    let stopping = worker.stopping.clone();
    items
        .take_while(move |_| futures::future::ready(!stopping.load(Ordering::SeqCst)))
        .map(move |item| {
            let worker = worker.clone();
            async move { worker.outcome(item).await }
        })
        .buffer_unordered(concurrency)
}
