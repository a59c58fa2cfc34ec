//! The limiter's promise, checked over random networks: whatever the delays, the server never
//! sees more than N arrivals in any window, and the quota is not left unused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alert_users::limit::{Limiter, Rate};
use proptest::prelude::*;
use tokio::time::Instant;

/// One simulated request: (ms after send it reaches the server, ms after that its answer comes).
type Delays = (u64, u64);

/// Runs `delays.len()` requests through the limiter with `workers` tasks, on paused time, and
/// returns the server-side arrival times in ms from the start.
fn arrivals(rate: Rate, workers: usize, delays: Vec<Delays>) -> Vec<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let limiter = Arc::new(Limiter::new(&[rate]));
        let start = Instant::now();
        let queue = Arc::new(Mutex::new(delays));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (limiter, queue, seen) = (limiter.clone(), queue.clone(), seen.clone());
                tokio::spawn(async move {
                    loop {
                        let Some((to_server, to_answer)) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let ticket = limiter.acquire().await;
                        tokio::time::sleep(Duration::from_millis(to_server)).await;
                        seen.lock()
                            .unwrap()
                            .push(start.elapsed().as_millis() as u64);
                        tokio::time::sleep(Duration::from_millis(to_answer)).await;
                        drop(ticket);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut v = seen.lock().unwrap().clone();
        v.sort_unstable();
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_server_never_sees_more_than_the_rate(
        calls in 1u32..8,
        per_ms in 200u64..2000,
        workers in 1usize..12,
        delays in prop::collection::vec((0u64..300, 0u64..300), 1..60),
    ) {
        let n = delays.len();
        let rate = Rate { calls, per: Duration::from_millis(per_ms) };
        let times = arrivals(rate, workers, delays);
        prop_assert_eq!(times.len(), n);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < t + per_ms).count();
            prop_assert!(in_window <= calls as usize, "{} arrivals within {} ms of {}: {:?}", in_window, per_ms, t, times);
        }
    }

    #[test]
    fn with_instant_answers_the_quota_is_used_fully(calls in 1u32..10, workers in 1usize..12, n in 1usize..50) {
        let per_ms = 1000;
        let rate = Rate { calls, per: Duration::from_millis(per_ms) };
        let times = arrivals(rate, workers, vec![(0, 0); n]);
        // A sliding window lets `calls` go at once, then `calls` more each period.
        let batches = (n as u64).div_ceil(u64::from(calls));
        prop_assert_eq!(*times.last().unwrap(), (batches - 1) * per_ms);
    }
}
