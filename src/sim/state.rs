//! The simulator's shared state: counters, per-alert request counts and the throttle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use tokio::sync::watch;

use super::rate::{RateWindow, Verdict};
use super::{SimConfig, SimStats};

/// How often one alert ID was asked for.
#[derive(Debug, Default, Clone, Copy)]
struct IdCounts {
    /// Every request for the ID.
    requests: u32,
    /// Requests that got past authorisation and the throttle: the ones faults are drawn for,
    /// so the fault pattern does not depend on how throttling happened to fall.
    attempts: u32,
}

impl IdCounts {
    fn bump(&mut self, accepted: bool) -> Seen {
        let seen = Seen {
            request: self.requests,
            attempt: accepted.then_some(self.attempts),
        };
        self.requests = self.requests.saturating_add(1);
        if accepted {
            self.attempts = self.attempts.saturating_add(1);
        }
        seen
    }
}

/// Where one request stands for its alert, both 0-based.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub request: u32,
    pub attempt: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    pub throttled: AtomicU64,
    pub early_requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    pub faults: AtomicU64,
}

pub(crate) struct SimState {
    pub config: SimConfig,
    pub counters: Counters,
    ids: Mutex<HashMap<Box<str>, IdCounts>>,
    rate: Option<Mutex<RateWindow>>,
    /// Turns true when the server stops, releasing hanging requests so shutdown can finish.
    stopping: watch::Receiver<bool>,
}

/// Counts a request as in flight until dropped, which also happens when the client gives up
/// and hyper drops the handler's future.
pub(crate) struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl SimState {
    pub(crate) fn new(config: SimConfig, stopping: watch::Receiver<bool>) -> Self {
        let rate = config.rate_limit.map(|r| Mutex::new(RateWindow::new(r)));
        SimState {
            config,
            counters: Counters::default(),
            ids: Mutex::new(HashMap::new()),
            rate,
            stopping,
        }
    }

    /// Counts a new request on the route and holds it in flight.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        let c = &self.counters;
        c.requests.fetch_add(1, Relaxed);
        let now = c.in_flight.fetch_add(1, Relaxed) + 1;
        c.max_in_flight.fetch_max(now, Relaxed);
        InFlight(c)
    }

    /// The throttle's verdict on a request arriving `now`; counts 429s and early requests.
    pub(crate) fn throttle(&self, now: Instant) -> Verdict {
        let Some(rate) = &self.rate else {
            return Verdict::Accept;
        };
        let verdict = lock(rate).check(now);
        if let Verdict::Throttle { early, .. } = verdict {
            self.counters.throttled.fetch_add(1, Relaxed);
            if early {
                self.counters.early_requests.fetch_add(1, Relaxed);
            }
        }
        verdict
    }

    /// Records a request for `id`; `accepted` ones also count as an attempt.
    pub(crate) fn see(&self, id: &str, accepted: bool) -> Seen {
        let mut ids = lock(&self.ids);
        // Look up before inserting, so a repeated ID (the common case) allocates nothing.
        if let Some(counts) = ids.get_mut(id) {
            return counts.bump(accepted);
        }
        ids.entry(id.into()).or_default().bump(accepted)
    }

    pub(crate) fn requests_for(&self, id: &str) -> u32 {
        lock(&self.ids).get(id).map_or(0, |c| c.requests)
    }

    pub(crate) fn stats(&self) -> SimStats {
        let c = &self.counters;
        SimStats {
            requests: c.requests.load(Relaxed),
            max_in_flight: c.max_in_flight.load(Relaxed),
            in_flight: c.in_flight.load(Relaxed),
            throttled: c.throttled.load(Relaxed),
            early_requests: c.early_requests.load(Relaxed),
            unauthorized: c.unauthorized.load(Relaxed),
            forbidden: c.forbidden.load(Relaxed),
            faults: c.faults.load(Relaxed),
            distinct_ids: lock(&self.ids).len() as u64,
        }
    }

    /// Resolves when the server starts shutting down (or its controller is gone).
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stop| *stop).await;
    }
}

/// A panic while holding one of these locks leaves plain counters behind: still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
