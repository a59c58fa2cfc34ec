//! What a person or a log sees during a run: a bar on a terminal, a plain line now and then elsewhere.
//!
//! The run loop (the only writer of results) bumps the `Tally`; a ticker task reads it together
//! with the workers' `Stats` and the limiter's pause, so drawing never slows a request.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ledger::format_elapsed;
use crate::limit::{Limiter, Rate};
use crate::pipeline::Stats;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain periodic lines otherwise.
    #[default]
    Auto,
    /// Always the bar.
    Always,
    /// No progress output at all (the final line is still printed).
    Never,
}

/// Outcomes so far, written by the run loop.
#[derive(Debug, Default)]
pub struct Tally {
    /// Input items (distinct IDs and invalid lines) known so far.
    pub total: AtomicU64,
    /// Whether `total` is final (a file counted up front) or still growing (stdin).
    pub total_known: AtomicBool,
    pub done: AtomicU64,
    pub users: AtomicU64,
    pub not_found: AtomicU64,
    pub failed: AtomicU64,
    pub invalid: AtomicU64,
    /// Distinct accounts so far.
    pub accounts: AtomicU64,
    /// Answers taken from the state file instead of asked for (`--state`).
    pub state_reused: AtomicU64,
    /// Answers of this run committed to the state file.
    pub state_stored: AtomicU64,
    /// The first few failures, for the summary.
    pub first_failures: Mutex<Vec<crate::ledger::Failure>>,
}

/// The bar that log lines must print around, if one is drawn.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A `tracing` writer that prints above the bar instead of through it.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().map(|b| b.clone()).unwrap_or(None);
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints a line to stderr without breaking the bar.
pub fn eprint_line(line: &str) {
    let _ = LogWriter.write_all(format!("{line}\n").as_bytes());
}

/// Shared sources the display reads.
pub struct Sources {
    pub tally: Arc<Tally>,
    pub stats: Arc<Stats>,
    pub limiter: Arc<Limiter>,
    pub rates: Vec<Rate>,
}

/// A running display; `finish` removes the bar (the final summary line follows it).
pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(
        mode: ProgressMode,
        quiet: bool,
        interval: Duration,
        sources: Sources,
    ) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let draw_bar =
            !quiet && (mode == ProgressMode::Always || (mode == ProgressMode::Auto && tty));
        let lines = !quiet && mode == ProgressMode::Auto && !tty;
        let started = Instant::now();
        if draw_bar {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template("{elapsed:>6} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            *BAR.lock().expect("bar lock") = Some(bar.clone());
            let b = bar.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    let s = snapshot(&sources, started);
                    b.set_length(s.total);
                    b.set_position(s.done);
                    b.set_message(s.bar_message());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            return Progress {
                bar: Some(bar),
                ticker: Some(ticker),
            };
        }
        let ticker = lines.then(|| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    eprint_line(&snapshot(&sources, started).plain_line());
                }
            })
        });
        Progress { bar: None, ticker }
    }

    pub fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            *BAR.lock().expect("bar lock") = None;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

/// One reading of every counter, and how to say it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub total: u64,
    pub total_known: bool,
    pub done: u64,
    pub users: u64,
    pub not_found: u64,
    pub failed: u64,
    pub requests: u64,
    pub elapsed: Duration,
    /// Time left on a 429 pause.
    pub paused: Option<Duration>,
    /// Time until the next request the quota holds back, when that is long enough to notice.
    pub quota_wait: Option<Duration>,
    /// Long-run calls per second the quota allows (`None`: no pacing).
    pub allowed_rate: Option<f64>,
}

fn snapshot(s: &Sources, started: Instant) -> Snapshot {
    let t = &s.tally;
    let now = tokio::time::Instant::now();
    Snapshot {
        total: t.total.load(Ordering::Relaxed),
        total_known: t.total_known.load(Ordering::Relaxed),
        done: t.done.load(Ordering::Relaxed),
        users: t.users.load(Ordering::Relaxed),
        not_found: t.not_found.load(Ordering::Relaxed),
        failed: t.failed.load(Ordering::Relaxed),
        requests: s.stats.requests.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        paused: s.limiter.paused_until().map(|u| u - now),
        quota_wait: s
            .limiter
            .next_slot()
            .map(|t| t - now)
            .filter(|d| *d >= Duration::from_secs(1)),
        allowed_rate: s.rates.iter().map(Rate::per_second).reduce(f64::min),
    }
}

impl Snapshot {
    /// Alerts resolved per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }

    /// Time left: at the observed rate, but never faster than the quota allows in the long run,
    /// so a 1,500/h run over 10,000 IDs says hours from its first minute.
    pub fn eta(&self) -> Option<Duration> {
        if !self.total_known || self.done == 0 {
            return None;
        }
        let left = self.total.saturating_sub(self.done) as f64;
        let rate = match self.allowed_rate {
            Some(allowed) => self.rate().min(allowed),
            None => self.rate(),
        };
        (rate > 0.0).then(|| Duration::from_secs_f64(left / rate))
    }

    fn counts(&self) -> String {
        format!(
            "{} users, {} not found, {} failed",
            self.users, self.not_found, self.failed
        )
    }

    fn waiting(&self) -> String {
        match (self.paused, self.quota_wait) {
            (Some(d), _) => format!("; throttled (429), waiting {}", format_elapsed(d)),
            (None, Some(d)) => format!(
                "; waiting for the quota, next call in {}",
                format_elapsed(d)
            ),
            (None, None) => String::new(),
        }
    }

    fn bar_message(&self) -> String {
        let eta = self
            .eta()
            .map(|e| format!(", ETA {}", format_elapsed(e)))
            .unwrap_or_default();
        format!(
            "{:.1}/s{eta} · {}{}",
            self.rate(),
            self.counts(),
            self.waiting()
        )
    }

    /// The line printed every `--progress-interval` when stderr is not a terminal.
    pub fn plain_line(&self) -> String {
        let of = if self.total_known {
            format!("/{}", self.total)
        } else {
            String::new()
        };
        let eta = self
            .eta()
            .map(|e| format!(", ETA {}", format_elapsed(e)))
            .unwrap_or_default();
        format!(
            "progress: {}{of} alerts, {}; {} requests, {:.1} alerts/s{eta}{}",
            self.done,
            self.counts(),
            self.requests,
            self.rate(),
            self.waiting()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(done: u64, total: u64, secs: u64, allowed: Option<f64>) -> Snapshot {
        Snapshot {
            total,
            total_known: true,
            done,
            users: 1,
            not_found: 2,
            failed: 3,
            requests: done,
            elapsed: Duration::from_secs(secs),
            paused: None,
            quota_wait: None,
            allowed_rate: allowed,
        }
    }

    #[test]
    fn eta_respects_the_quota() {
        // 100 alerts in the first minute, but 1,500/h in the long run: 9,900 left take 6.6 h.
        let s = snap(100, 10_000, 60, Some(1500.0 / 3600.0));
        let eta = s.eta().unwrap();
        assert!(
            eta > Duration::from_secs(6 * 3600) && eta < Duration::from_secs(7 * 3600),
            "{eta:?}"
        );
        assert!(s.plain_line().contains("ETA 6h"), "{}", s.plain_line());
        // Unpaced: the observed rate decides.
        assert_eq!(
            snap(100, 200, 10, None).eta(),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn plain_lines_say_the_pause_and_carry_no_control_characters() {
        let mut s = snap(5, 10, 1, None);
        s.paused = Some(Duration::from_secs(42));
        let line = s.plain_line();
        assert!(
            line.contains("5/10 alerts") && line.contains("waiting 42.000s"),
            "{line}"
        );
        assert!(!line.chars().any(|c| c.is_control()));
    }
}
