//! One `--rate` as the server counts it: at most N arrivals in any span of the period.
//!
//! The server counts a request when it *arrives*, which we cannot see. What we can see is that it
//! arrived before its answer came back. So request number `k` may go only when every request
//! numbered `k - N` or lower has been answered, and a full period has passed since the latest of
//! those answers: then at most the `N - 1` requests just before it can share the server's window
//! with it, however the network delayed or reordered them. The cost is one answer's latency per
//! period (100 calls a minute over a 200 ms network: 99.7% of the quota).

use std::collections::VecDeque;

use tokio::time::Instant;

use super::rate::Rate;

struct Entry {
    seq: u64,
    /// When it was booked to be sent, then when its answer arrived.
    time: Instant,
    answered: bool,
}

/// When the next request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// At this instant (or now, when `None`).
    At(Option<Instant>),
    /// Not before some earlier request has been answered.
    AfterAnswer,
}

pub(super) struct Window {
    rate: Rate,
    /// Requests not yet folded into `floor`, oldest first: the last `N - 1`, and any older one
    /// still waiting for its answer.
    entries: VecDeque<Entry>,
    /// The latest time among the folded (older, answered) requests.
    floor: Option<Instant>,
}

impl Window {
    pub(super) fn new(rate: Rate) -> Window {
        let entries = VecDeque::with_capacity(rate.calls as usize);
        Window {
            rate,
            entries,
            floor: None,
        }
    }

    /// The turn of request `seq`, the next one to be booked.
    pub(super) fn turn(&self, seq: u64) -> Turn {
        let calls = u64::from(self.rate.calls);
        let Some(limit) = seq.checked_sub(calls) else {
            return Turn::At(None); // fewer than N requests so far
        };
        let mut latest = self.floor;
        for e in self.entries.iter().take_while(|e| e.seq <= limit) {
            if !e.answered {
                return Turn::AfterAnswer;
            }
            latest = latest.max(Some(e.time));
        }
        Turn::At(latest.map(|t| t + self.rate.per))
    }

    pub(super) fn book(&mut self, seq: u64, at: Instant) {
        self.entries.push_back(Entry {
            seq,
            time: at,
            answered: false,
        });
    }

    /// Request `seq` was answered at `at` (or its booking was given up).
    pub(super) fn answered(&mut self, seq: u64, at: Instant) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.seq == seq) {
            e.time = e.time.max(at);
            e.answered = true;
        }
        let keep = self.rate.calls as usize - 1;
        while self.entries.len() > keep && self.entries.front().is_some_and(|e| e.answered) {
            let e = self.entries.pop_front().expect("not empty");
            self.floor = self.floor.max(Some(e.time));
        }
    }

    /// Booked times still ahead of `now` (for the progress display).
    pub(super) fn booked_after(&self, now: Instant) -> impl Iterator<Item = Instant> + '_ {
        self.entries
            .iter()
            .map(|e| e.time)
            .chain(self.floor)
            .filter(move |t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn window(calls: u32) -> Window {
        Window::new(Rate {
            calls,
            per: Duration::from_secs(1),
        })
    }

    #[test]
    fn the_first_n_go_at_once() {
        let mut w = window(3);
        let t0 = Instant::now();
        for seq in 0..3 {
            assert_eq!(w.turn(seq), Turn::At(None));
            w.book(seq, t0);
        }
        assert_eq!(
            w.turn(3),
            Turn::AfterAnswer,
            "the first has not been answered"
        );
    }

    #[test]
    fn the_next_waits_a_period_after_the_latest_answer_of_the_older_ones() {
        let mut w = window(2);
        let t0 = Instant::now();
        w.book(0, t0);
        w.book(1, t0);
        w.answered(1, t0 + Duration::from_millis(50));
        assert_eq!(w.turn(2), Turn::AfterAnswer);
        w.answered(0, t0 + Duration::from_millis(300));
        assert_eq!(w.turn(2), Turn::At(Some(t0 + Duration::from_millis(1300))));
        w.book(2, t0 + Duration::from_millis(1300));
        // Request 3 depends on request 1, answered at 50 ms.
        assert_eq!(w.turn(3), Turn::At(Some(t0 + Duration::from_millis(1300))));
    }

    #[test]
    fn answered_entries_are_folded_so_the_window_stays_small() {
        let mut w = window(3);
        let t0 = Instant::now();
        for seq in 0..100 {
            w.book(seq, t0);
            w.answered(seq, t0);
        }
        assert_eq!(w.entries.len(), 2);
        assert_eq!(w.turn(100), Turn::At(Some(t0 + Duration::from_secs(1))));
    }
}
