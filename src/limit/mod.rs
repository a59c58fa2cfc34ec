//! The shared quota: every worker takes its turn here, so the API sees one budget, not one per worker.
//!
//! Two mechanisms, both shared by all requests of a run:
//! - sliding windows ("at most N calls in any span of length W"), one per `--rate` (`window`);
//! - a global pause, set by a 429's `Retry-After`, during which nobody sends.
//!
//! Why not `governor`: its GCRA lets through a burst plus the steady rate, so with the burst set
//! to N a span of W can see close to 2N calls (the 1,500/h quota would be overrun), and with the
//! burst set to 1 an analyst's 300 IDs are spread over 12 minutes at 1,500/h pacing instead of 3
//! at 100/min. Nor does any limiter crate know that the server counts arrivals, not sends; the
//! window here does, and is exact for both cases.

mod rate;
mod window;

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

pub use rate::Rate;
use window::{Turn, Window};

struct State {
    windows: Vec<Window>,
    paused_until: Option<Instant>,
    next_seq: u64,
}

/// A granted turn. Dropping it tells the limiter the request is over (answered, failed, or never
/// sent), so a forgotten or cancelled request can never hold the queue up.
pub struct Ticket<'a> {
    limiter: &'a Limiter,
    seq: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.limiter.answered(self.seq);
    }
}

/// The run's one budget: `acquire` before every request, drop the ticket when its answer is in;
/// `pause` on a 429.
pub struct Limiter {
    state: Mutex<State>,
    /// Woken when an answer may have freed a turn.
    answers: Notify,
}

impl Limiter {
    /// No windows means no pacing (`--rate off`); the 429 pause still applies.
    pub fn new(rates: &[Rate]) -> Limiter {
        let windows = rates.iter().map(|&r| Window::new(r)).collect();
        let state = State {
            windows,
            paused_until: None,
            next_seq: 0,
        };
        Limiter {
            state: Mutex::new(state),
            answers: Notify::new(),
        }
    }

    /// Waits until a request may be sent without breaking any window or a pending pause.
    pub async fn acquire(&self) -> Ticket<'_> {
        loop {
            // Registered before looking, so an answer arriving in between is not missed.
            let answered = self.answers.notified();
            let mut answered = std::pin::pin!(answered);
            answered.as_mut().enable();
            let Some((seq, slot)) = self.book() else {
                answered.await;
                continue;
            };
            let ticket = Ticket { limiter: self, seq };
            // tokio rounds deadlines up to the next millisecond: a slot that is already due
            // must not cost a timer tick (it did, a millisecond per request, without pacing).
            if slot > Instant::now() {
                sleep_until(slot).await;
            }
            match self.paused_until() {
                // A 429 arrived while we waited: give the turn back, wait the pause out, queue again.
                Some(until) if until > Instant::now() => {
                    drop(ticket);
                    sleep_until(until + spread()).await;
                }
                _ => return ticket,
            }
        }
    }

    /// Books the earliest instant that keeps every window within its rate, unless a window must
    /// first see an earlier request answered.
    fn book(&self) -> Option<(u64, Instant)> {
        let mut state = self.state.lock().expect("limiter lock");
        let now = Instant::now();
        let mut slot = state.paused_until.map_or(now, |p| p.max(now));
        let seq = state.next_seq;
        for w in &state.windows {
            match w.turn(seq) {
                Turn::AfterAnswer => return None,
                Turn::At(at) => slot = slot.max(at.unwrap_or(slot)),
            }
        }
        state.next_seq += 1;
        for w in &mut state.windows {
            w.book(seq, slot);
        }
        Some((seq, slot))
    }

    fn answered(&self, seq: u64) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("limiter lock");
        for w in &mut state.windows {
            w.answered(seq, now);
        }
        drop(state);
        self.answers.notify_waiters();
    }

    /// After a 429: nobody sends before `retry_after` has passed. Returns whether this started
    /// a new pause (rather than fell within one), so a 429 storm is logged once.
    pub fn pause(&self, retry_after: Duration) -> bool {
        let now = Instant::now();
        let until = now + retry_after;
        let mut state = self.state.lock().expect("limiter lock");
        let new = state.paused_until.is_none_or(|p| p <= now);
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        new
    }

    /// When the next booked request goes out, if it waits for the quota (for the progress display).
    pub fn next_slot(&self) -> Option<Instant> {
        let state = self.state.lock().expect("limiter lock");
        let now = Instant::now();
        state.windows.iter().flat_map(|w| w.booked_after(now)).min()
    }

    /// The end of the pending pause, if one is pending (for the progress display).
    pub fn paused_until(&self) -> Option<Instant> {
        let state = self.state.lock().expect("limiter lock");
        state.paused_until.filter(|p| *p > Instant::now())
    }
}

/// A small random delay after a pause, so the workers do not all send in the same millisecond.
fn spread() -> Duration {
    Duration::from_millis(rand::rng().random_range(0..=100u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Sends `n` acquisitions from `workers` tasks and returns the send instants, relative to start.
    async fn sends(limiter: Arc<Limiter>, n: usize, workers: usize) -> Vec<Duration> {
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (l, t, next) = (limiter.clone(), times.clone(), next.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                        let ticket = l.acquire().await;
                        t.lock().unwrap().push(start.elapsed());
                        drop(ticket);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut v = times.lock().unwrap().clone();
        v.sort();
        v
    }

    fn max_in_window(times: &[Duration], window: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_its_rate_and_the_quota_is_used_fully() {
        let rates = [
            Rate {
                calls: 10,
                per: Duration::from_secs(1),
            },
            Rate {
                calls: 25,
                per: Duration::from_secs(10),
            },
        ];
        let t = sends(Arc::new(Limiter::new(&rates)), 100, 16).await;
        assert!(max_in_window(&t, Duration::from_secs(1)) <= 10);
        assert!(max_in_window(&t, Duration::from_secs(10)) <= 25);
        // Each 10 s holds exactly 25: batches start at 0, 10, 20, 30 s, and the 10/s window
        // spreads each batch over three seconds, so the last call goes at 32 s, not later.
        assert_eq!(t[75], Duration::from_secs(30));
        assert_eq!(t[99], Duration::from_secs(32));
        // The first 10 go at once: an analyst's short run is not smoothed out.
        assert_eq!(t[9], Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_delays_the_request_that_would_share_its_window() {
        // The first request's answer takes 300 ms: it may have reached the server that late,
        // so the third request (2 per second) waits until 1.3 s, not 1 s.
        let limiter = Limiter::new(&[Rate {
            calls: 2,
            per: Duration::from_secs(1),
        }]);
        let start = Instant::now();
        let first = limiter.acquire().await;
        let second = limiter.acquire().await;
        drop(second);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
        let _third = limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1300));
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_slot_says_how_long_the_quota_holds_requests_back() {
        let limiter = Arc::new(Limiter::new(&[Rate {
            calls: 1,
            per: Duration::from_secs(10),
        }]));
        drop(limiter.acquire().await);
        assert_eq!(limiter.next_slot(), None);
        let booked = Instant::now();
        let l = limiter.clone();
        tokio::spawn(async move {
            let _ticket = l.acquire().await;
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(limiter.next_slot(), Some(booked + Duration::from_secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_worker_until_it_ends() {
        let limiter = Arc::new(Limiter::new(&[]));
        limiter.pause(Duration::from_secs(5));
        let t = sends(limiter.clone(), 20, 8).await;
        assert!(t.iter().all(|t| *t >= Duration::from_secs(5)), "{t:?}");
        assert!(t.iter().all(|t| *t <= Duration::from_millis(5100)), "{t:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_that_starts_while_waiting_voids_the_booked_slot() {
        let limiter = Arc::new(Limiter::new(&[Rate {
            calls: 1,
            per: Duration::from_secs(1),
        }]));
        drop(limiter.acquire().await);
        let l = limiter.clone();
        let waiter = tokio::spawn(async move {
            let _ticket = l.acquire().await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        limiter.pause(Duration::from_secs(3));
        let sent = waiter.await.unwrap();
        assert!(sent >= start + Duration::from_secs(3));
    }
}
