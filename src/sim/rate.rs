//! The simulated throttle: a sliding window of accepted requests and the pause a 429 starts.
//!
//! Like the real API, one 429 starts a pause of `Retry-After` seconds during which every
//! request is refused, and requests sent during it are noted as "early" (they would keep a
//! real client throttled for longer).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Requests arriving this soon after the 429 were probably already on their way: not blamed.
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(100);

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Throttle {
        /// Whole seconds for the `Retry-After` header, at least 1.
        retry_after: u64,
        /// Sent while the pause was pending, after the grace period.
        early: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Pause {
    start: Instant,
    until: Instant,
}

#[derive(Debug)]
pub(crate) struct RateWindow {
    /// Requests accepted per window.
    capacity: usize,
    window: Duration,
    accepted: VecDeque<Instant>,
    pause: Option<Pause>,
}

impl RateWindow {
    /// `per_second` requests per second (must be positive). A whole rate means `per_second`
    /// requests in any 1 s window; a fractional one, e.g. 100 per minute = 1.667/s, is rounded
    /// up to 2 requests per 1.2 s window so the long-run rate is exact.
    pub(crate) fn new(per_second: f64) -> Self {
        let capacity = per_second.ceil().max(1.0);
        RateWindow {
            capacity: capacity as usize,
            window: Duration::from_secs_f64(capacity / per_second),
            accepted: VecDeque::with_capacity(capacity as usize),
            pause: None,
        }
    }

    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        if let Some(pause) = self.pause {
            if now < pause.until {
                // The pause is not extended: the client was told a time and may rely on it.
                return Verdict::Throttle {
                    retry_after: whole_seconds(pause.until - now),
                    early: now > pause.start + IN_FLIGHT_GRACE,
                };
            }
            self.pause = None;
        }
        while let Some(&oldest) = self.accepted.front() {
            if now.duration_since(oldest) < self.window {
                break;
            }
            self.accepted.pop_front();
        }
        if self.accepted.len() < self.capacity {
            self.accepted.push_back(now);
            return Verdict::Accept;
        }
        let free_at = self.accepted[0] + self.window;
        let retry_after = whole_seconds(free_at.saturating_duration_since(now));
        self.pause = Some(Pause {
            start: now,
            until: now + Duration::from_secs(retry_after),
        });
        Verdict::Throttle {
            retry_after,
            early: false,
        }
    }
}

/// Rounded up, at least 1: `Retry-After: 0` would invite an immediate retry.
fn whole_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_pause_and_early_requests() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = RateWindow::new(2.0);
        assert_eq!(w.check(ms(0)), Verdict::Accept);
        assert_eq!(w.check(ms(10)), Verdict::Accept);
        let first = Verdict::Throttle {
            retry_after: 1,
            early: false,
        };
        assert_eq!(w.check(ms(20)), first);
        assert_eq!(w.check(ms(50)), first, "in flight when the 429 was sent");
        let early = Verdict::Throttle {
            retry_after: 1,
            early: true,
        };
        assert_eq!(w.check(ms(200)), early);
        // The pause ends 1 s after the 429; by then the window has room again.
        assert_eq!(w.check(ms(1_020)), Verdict::Accept);
        assert_eq!(w.check(ms(1_030)), Verdict::Accept);
        assert!(matches!(w.check(ms(1_040)), Verdict::Throttle { .. }));
    }

    #[test]
    fn fractional_rates_keep_their_long_run_rate() {
        let w = RateWindow::new(100.0 / 60.0);
        assert_eq!(w.capacity, 2);
        assert!((w.window.as_secs_f64() - 1.2).abs() < 1e-9);
        let w = RateWindow::new(0.25);
        assert_eq!((w.capacity, w.window), (1, Duration::from_secs(4)));
    }
}
