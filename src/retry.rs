//! Which answers are worth another try, and how long to wait before it.

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Bounded exponential backoff with full jitter: attempt `k` waits a random time in
/// `[0, min(cap, base * 2^(k-1))]`, so retrying workers spread out instead of retrying in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`--retries`).
    pub retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(
                1u32.checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Statuses retried with backoff: the server's trouble, not the request's.
/// 400, 403 and 404 are final; 401 and 429 have their own handling.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || (500..=599).contains(&status)
}

/// When a 429 allows the next request: `Retry-After` in seconds or as an HTTP date.
/// `None` when absent or unreadable (the caller then waits the documented default).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait after a 429 without a usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_to_the_cap_and_never_beyond() {
        let p = RetryPolicy {
            retries: 9,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for attempt in 1..40 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(attempt.min(20) - 1))
                .min(Duration::from_secs(1));
            for _ in 0..50 {
                assert!(p.backoff(attempt) <= ceiling, "attempt {attempt}");
            }
        }
        // Full jitter: the waits of one attempt are spread, not all equal.
        let waits: std::collections::HashSet<Duration> = (0..20).map(|_| p.backoff(4)).collect();
        assert!(waits.len() > 10);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(115) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn only_server_trouble_is_retried() {
        for s in [408, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 429] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
