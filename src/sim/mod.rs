//! Built-in simulator of Defender's `GET /api/alerts/{id}/user`: configuration, stats and re-exports.
//!
//! The simulator answers from a [`Tenant`] (a JSON file, the embedded sample, or synthetic users
//! for any ID) and injects the API's misbehaviour on demand: latency, throttling with
//! `Retry-After`, 5xx, dropped connections, hangs and truncated bodies. Every random choice is
//! derived from `(seed, alert id, attempt)`, so a run can be replayed exactly.

mod args;
mod faults;
mod handle;
mod rate;
mod server;
mod state;
mod synthetic;
mod tenant;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use args::{SimulateArgs, run_simulate};
pub use handle::SimHandle;
pub use server::serve;
pub use tenant::{Answer, Tenant};

/// The sample input file matching [`Tenant::sample`], invalid lines included.
pub const SAMPLE_ALERT_IDS: &str = include_str!("../../sample-data/alert-ids.txt");

/// A test's rule for which bearer tokens are valid.
#[derive(Clone)]
pub struct AcceptToken(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for AcceptToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptToken(..)")
    }
}

/// How the simulator behaves. Rates are probabilities per faulty attempt and must sum to ≤ 1.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub tenant: Arc<Tenant>,
    /// Base latency of every answer, in milliseconds.
    pub latency_ms: u64,
    /// Uniform ± jitter around `latency_ms`, seeded.
    pub jitter_ms: u64,
    /// Requests per second accepted (sliding window); more are answered 429.
    pub rate_limit: Option<f64>,
    /// Answer 500 or 503 with the API's error body.
    pub fail_rate: f64,
    /// Drop the connection without a complete answer.
    pub reset_rate: f64,
    /// Never answer: only the client's timeout ends the request.
    pub hang_rate: f64,
    /// Answer 200 with a user JSON cut in half.
    pub malformed_rate: f64,
    /// Faults strike only an alert's first N attempts, so a client that retries recovers.
    pub faulty_attempts: u32,
    /// Only `Bearer <token>` is accepted; `None` accepts any non-empty bearer token.
    pub token: Option<String>,
    /// When set, decides alone which bearer tokens are accepted (e.g. those a test's identity
    /// provider issued, until they expire); `token` is then ignored.
    pub accept: Option<AcceptToken>,
    /// Every authorised request is answered 403, as for an app without `User.Read.All`.
    pub forbidden: bool,
    pub seed: u64,
}

impl Default for SimConfig {
    /// An empty tenant (every alert is unknown) and no faults.
    fn default() -> Self {
        SimConfig {
            tenant: Arc::new(Tenant::default()),
            latency_ms: 0,
            jitter_ms: 0,
            rate_limit: None,
            fail_rate: 0.0,
            reset_rate: 0.0,
            hang_rate: 0.0,
            malformed_rate: 0.0,
            faulty_attempts: 2,
            token: None,
            accept: None,
            forbidden: false,
            seed: 0,
        }
    }
}

impl SimConfig {
    /// A well-behaved simulator of `tenant`.
    pub fn new(tenant: impl Into<Arc<Tenant>>) -> Self {
        SimConfig {
            tenant: tenant.into(),
            ..SimConfig::default()
        }
    }

    /// Checks what the field types cannot: rates are probabilities, the rate limit is positive.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("fail rate", self.fail_rate),
            ("reset rate", self.reset_rate),
            ("hang rate", self.hang_rate),
            ("malformed rate", self.malformed_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        // A little slack so that e.g. 0.1 + 0.2 + 0.7 is not rejected for rounding.
        if sum > 1.0 + 1e-9 {
            return Err(format!("fault rates add up to {sum}, more than 1"));
        }
        match self.rate_limit {
            Some(r) if !(r.is_finite() && r > 0.0) => Err(format!(
                "rate limit must be a positive number of requests per second, got {r}"
            )),
            _ => Ok(()),
        }
    }
}

/// A snapshot of what the simulator has seen, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Every request received on the user route.
    pub requests: u64,
    /// Most requests being handled at once; a hanging request counts until the client drops it.
    pub max_in_flight: u64,
    pub in_flight: u64,
    /// 429s answered.
    pub throttled: u64,
    /// Requests that arrived while a `Retry-After` was pending, more than 100 ms after the 429
    /// that started it (earlier ones were probably already in flight and are not blamed).
    pub early_requests: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    /// Faults injected: 5xx, resets, hangs and malformed bodies.
    pub faults: u64,
    pub distinct_ids: u64,
}
