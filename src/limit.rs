//! The shared quota: every worker takes its turn here, so the API sees one budget, not one per worker.
//!
//! Two mechanisms, both shared by all requests of a run:
//! - sliding windows ("at most N calls in any span of length W"), one per `--rate`;
//! - a global pause, set by a 429's `Retry-After`, during which nobody sends.
//!
//! Why not `governor`: its GCRA lets through a burst plus the steady rate, so with the burst
//! set to N a span of W can see close to 2N calls (the 1,500/h quota would be overrun), and
//! with the burst set to 1 an analyst's 300 IDs are spread over 12 minutes at 1,500/h pacing
//! instead of 3 at 100/min. A window that remembers its last N send times is exact for both,
//! and it is a few lines.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::{Instant, sleep_until};

/// `N` calls per `per`: `100/min`, `1500/h`, `10/s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub calls: u32,
    pub per: Duration,
}

impl Rate {
    /// The documented quota of the alert endpoints: 100 calls a minute and 1,500 an hour.
    pub fn documented() -> Vec<Rate> {
        vec![
            Rate {
                calls: 100,
                per: Duration::from_secs(60),
            },
            Rate {
                calls: 1500,
                per: Duration::from_secs(3600),
            },
        ]
    }

    /// Calls per second in the long run.
    pub fn per_second(&self) -> f64 {
        f64::from(self.calls) / self.per.as_secs_f64()
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad =
            || format!("invalid rate '{s}': expected N/s, N/min or N/h (e.g. 100/min), or 'off'");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let calls: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if calls == 0 {
            return Err(format!(
                "invalid rate '{s}': the number of calls must be at least 1"
            ));
        }
        Ok(Rate {
            calls,
            per: Duration::from_secs(per),
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{}s", self.calls, self.per.as_secs()),
        };
        write!(f, "{}/{unit}", self.calls)
    }
}

/// One `--rate`. The server counts a request when it *arrives*, which we cannot see; we can
/// see that it arrived before we got its answer. So each request is remembered by its send time
/// until its answer comes, then by the answer's time. A new request may go when every request
/// but the `calls - 1` most recent is known to have arrived a full window ago: then at most
/// `calls - 1` others can share the server's window with it, however the network reordered them.
struct Window {
    rate: Rate,
    /// The `calls - 1` most recent requests, oldest first: (ticket, send or answer time).
    recent: VecDeque<(u64, Instant)>,
    /// The latest time among all older requests.
    floor: Option<Instant>,
}

impl Window {
    fn earliest(&self) -> Option<Instant> {
        self.floor.map(|f| f + self.rate.per)
    }

    fn record(&mut self, ticket: u64, at: Instant) {
        self.recent.push_back((ticket, at));
        if self.recent.len() >= self.rate.calls as usize {
            let (_, oldest) = self.recent.pop_front().expect("not empty");
            self.floor = Some(self.floor.map_or(oldest, |f| f.max(oldest)));
        }
    }

    fn answered(&mut self, ticket: u64, at: Instant) {
        match self.recent.iter_mut().find(|(t, _)| *t == ticket) {
            Some((_, time)) => *time = (*time).max(at),
            None => self.floor = Some(self.floor.map_or(at, |f| f.max(at))),
        }
    }
}

struct State {
    windows: Vec<Window>,
    paused_until: Option<Instant>,
    next_ticket: u64,
}

/// Proof of a granted turn; hand it back with `answered` once the answer (or error) is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// The run's one budget. `acquire` before every request, `answered` after it; `pause` on a 429.
pub struct Limiter {
    state: Mutex<State>,
}

impl Limiter {
    /// No windows means no pacing (`--rate off`); the 429 pause still applies.
    pub fn new(rates: &[Rate]) -> Limiter {
        let windows = rates
            .iter()
            .map(|&rate| Window {
                rate,
                recent: VecDeque::with_capacity(rate.calls as usize),
                floor: None,
            })
            .collect();
        let state = State {
            windows,
            paused_until: None,
            next_ticket: 0,
        };
        Limiter {
            state: Mutex::new(state),
        }
    }

    /// Waits until a request may be sent without breaking any window or a pending pause.
    pub async fn acquire(&self) -> Ticket {
        loop {
            let (ticket, slot) = self.reserve();
            sleep_until(slot).await;
            match self.paused_until() {
                // A 429 arrived while we waited: our slot is void, wait the pause out and queue
                // again. The void slot stays booked, which only errs on the careful side.
                Some(until) if until > Instant::now() => sleep_until(until + spread()).await,
                _ => return ticket,
            }
        }
    }

    /// Books the earliest instant that keeps every window within its rate.
    fn reserve(&self) -> (Ticket, Instant) {
        let mut state = self.state.lock().expect("limiter lock");
        let now = Instant::now();
        let mut slot = state.paused_until.map_or(now, |p| p.max(now));
        for w in &state.windows {
            slot = w.earliest().map_or(slot, |e| slot.max(e));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        for w in &mut state.windows {
            w.record(ticket, slot);
        }
        (Ticket(ticket), slot)
    }

    /// The request of `ticket` has been answered (or has failed): it reached the server, if at
    /// all, before now.
    pub fn answered(&self, ticket: Ticket) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("limiter lock");
        for w in &mut state.windows {
            w.answered(ticket.0, now);
        }
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
        let booked = state
            .windows
            .iter()
            .flat_map(|w| w.recent.iter().map(|(_, t)| *t).chain(w.floor));
        booked.filter(|t| *t > now).min()
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

    #[test]
    fn parses_and_prints_rates() {
        assert_eq!(
            "100/min".parse::<Rate>().unwrap(),
            Rate {
                calls: 100,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!("1500/h".parse::<Rate>().unwrap().to_string(), "1500/h");
        assert_eq!(" 10 / s ".parse::<Rate>().unwrap().to_string(), "10/s");
        for bad in ["", "10", "0/s", "x/s", "10/day", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

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
                        l.answered(ticket);
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
        limiter.answered(second);
        tokio::time::sleep(Duration::from_millis(300)).await;
        limiter.answered(first);
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1300));
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_slot_says_how_long_the_quota_holds_requests_back() {
        let limiter = Arc::new(Limiter::new(&[Rate {
            calls: 1,
            per: Duration::from_secs(10),
        }]));
        let t = limiter.acquire().await;
        limiter.answered(t);
        assert_eq!(limiter.next_slot(), None);
        let booked = Instant::now();
        let l = limiter.clone();
        tokio::spawn(async move { l.acquire().await });
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
        limiter.acquire().await;
        let l = limiter.clone();
        let waiter = tokio::spawn(async move {
            l.acquire().await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        limiter.pause(Duration::from_secs(3));
        let sent = waiter.await.unwrap();
        assert!(sent >= start + Duration::from_secs(3));
    }
}
