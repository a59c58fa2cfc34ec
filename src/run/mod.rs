//! One export from start to finish: open the input, run the concurrent stage, own the writers,
//! and publish every output only once the whole run has succeeded.

mod input;
mod ledger;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{FutureExt, Stream, StreamExt};

use crate::auth::{Credential, Secret};
use crate::client::Client;
use crate::config::{Config, Endpoint};
use crate::error::{Error, Result};
use crate::ledger::{Counts, StateCounts};
use crate::limit::Limiter;
use crate::pipeline::{Outcome, Stats, Worker, outcomes};
use crate::progress::{Progress, Sources, Tally};
use crate::sim::{SimConfig, SimHandle, Tenant};
use crate::summary::Summary;
use input::{ReadCounts, count_items, open_input, stream_items};
use ledger::Ledger;

/// Most outcomes recorded (and committed to the state) as one group.
const MAX_GROUP: usize = 4096;

/// The bearer the demo's simulator accepts; it guards nothing.
const DEMO_TOKEN: &str = "demo-token";

/// Counters every part of a run bumps, so a summary can be given however the run ends.
#[derive(Default)]
struct Shared {
    tally: Arc<Tally>,
    stats: Arc<Stats>,
    read: Arc<ReadCounts>,
    /// Time spent writing and publishing the outputs at the end.
    write_micros: AtomicU64,
}

/// Runs an export and says how it went; never panics on a failed run, the error is in the
/// summary. `quiet` silences progress output (errors and the final line remain). With
/// `--summary`, the JSON document is written whatever the outcome.
pub async fn run(config: Config, quiet: bool) -> Summary {
    let started = Instant::now();
    let started_at = Utc::now();
    let shared = Shared::default();
    let result = execute(&config, quiet, &shared).await;
    let (outputs, error) = match result {
        Ok(outputs) => (outputs, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let mut summary = Summary {
        counts: counts(&shared, config.state.is_some()),
        started_at,
        finished_at: Utc::now(),
        elapsed: started.elapsed(),
        outputs,
        error,
        first_failures: shared
            .tally
            .first_failures
            .lock()
            .expect("tally lock")
            .clone(),
        write_elapsed: Duration::from_micros(shared.write_micros.load(Ordering::Relaxed)),
    };
    if let Some(path) = &config.summary
        && let Err(e) = summary.write(&config, path)
    {
        // The run's own error, if any, matters more; otherwise failing to report is fatal.
        summary.error.get_or_insert(e);
    }
    summary
}

fn counts(s: &Shared, with_state: bool) -> Counts {
    let (t, st, r) = (&s.tally, &s.stats, &s.read);
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Counts {
        input_lines: get(&r.lines),
        distinct_ids: get(&r.distinct),
        duplicates: get(&r.duplicates),
        invalid: get(&t.invalid),
        users: get(&t.accounts),
        alerts_with_user: get(&t.users),
        not_found: get(&t.not_found),
        failed: get(&t.failed),
        requests: get(&st.requests),
        retries: get(&st.retries),
        throttled: get(&st.throttled),
        state: with_state.then(|| StateCounts {
            reused: get(&t.state_reused),
            stored: get(&t.state_stored),
        }),
    }
}

/// The run proper; returns the published files.
async fn execute(config: &Config, quiet: bool, shared: &Shared) -> Result<Vec<PathBuf>> {
    let (_sim, base, credential) = endpoint(&config.endpoint)?;
    // Everything that can fail locally fails here, before the first request.
    let reader = open_input(&config.input)?;
    let tally = shared.tally.clone();
    if let Some(total) = count_items(&config.input)? {
        tally.total.store(total, Ordering::Relaxed);
        tally.total_known.store(true, Ordering::Relaxed);
    }
    let (journal, known) = crate::state::open(config.state.as_ref())?;
    let mut ledger = Ledger::create(config, tally.clone(), journal)?;
    // The first token, before any API call: a credential problem ends the run here (exit 1).
    credential.sign_in().await?;
    let client = Client::new(&base, config.timeout, config.concurrency, &config.network)?;
    let limiter = Arc::new(Limiter::new(&config.rates));
    let stopping = Arc::new(AtomicBool::new(false));
    let worker = Arc::new(Worker {
        client,
        credential,
        limiter: limiter.clone(),
        policy: config.retry,
        stats: shared.stats.clone(),
        stopping: stopping.clone(),
        known,
    });
    let items = stream_items(
        reader,
        config.input.name(),
        tally.clone(),
        shared.read.clone(),
    );
    let sources = Sources {
        tally,
        stats: shared.stats.clone(),
        limiter,
        rates: config.rates.clone(),
    };
    let progress = Progress::start(config.progress, quiet, config.progress_interval, sources);
    let stream = outcomes(worker, items, config.concurrency);
    let result = drain(stream, &mut ledger, &stopping, config.grace).await;
    progress.finish();
    result?;
    let writing = Instant::now();
    let outputs = ledger.publish(config)?;
    let micros = u64::try_from(writing.elapsed().as_micros()).unwrap_or(u64::MAX);
    shared.write_micros.store(micros, Ordering::Relaxed);
    Ok(outputs)
}

/// The base URL and credential, starting the simulator for `--demo`.
fn endpoint(e: &Endpoint) -> Result<(Option<SimHandle>, reqwest::Url, Credential)> {
    match e {
        Endpoint::Api { base, credential } => Ok((None, base.clone(), credential.clone())),
        Endpoint::Demo => {
            let mut sim = SimConfig::new(Arc::new(Tenant::sample()));
            // A little latency, so the demo shows a run rather than a flash.
            (sim.latency_ms, sim.jitter_ms, sim.token) = (15, 10, Some(DEMO_TOKEN.into()));
            let handle = SimHandle::start("127.0.0.1:0", sim).map_err(|source| Error::SimBind {
                addr: "127.0.0.1:0".into(),
                source,
            })?;
            let base = reqwest::Url::parse(&handle.base_url()).expect("simulator URL");
            Ok((
                Some(handle),
                base,
                Credential::Static(Secret::new(DEMO_TOKEN)),
            ))
        }
    }
}

/// Consumes outcomes until the input is exhausted, a fatal answer arrives, or a signal stops the run.
async fn drain(
    stream: impl Stream<Item = Outcome>,
    ledger: &mut Ledger,
    stopping: &AtomicBool,
    grace: Duration,
) -> Result<()> {
    let mut stream = std::pin::pin!(stream);
    let mut signals = Signals::new()?;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let wait_out = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = stream.next() => match outcome {
                Some(o) => ledger.record_group(waiting(o, &mut stream))?,
                None if deadline.is_some() => return Err(Error::Interrupted),
                None => return Ok(()),
            },
            () = signals.next() => {
                if deadline.is_some() {
                    return Err(Error::Interrupted); // a second signal: stop at once
                }
                tracing::warn!("interrupted: sending no new request, waiting up to {grace:?} for those in flight");
                stopping.store(true, Ordering::SeqCst);
                deadline = Some(tokio::time::Instant::now() + grace);
            }
            () = wait_out => return Err(Error::Interrupted),
        }
    }
}

/// `first` and the outcomes already waiting behind it: the state commits them together, one disk
/// sync per group rather than per answer, and nothing waits for a group to fill. A fatal outcome
/// closes the group: polling on would start new requests after a 401 or 403.
fn waiting(first: Outcome, stream: &mut (impl Stream<Item = Outcome> + Unpin)) -> Vec<Outcome> {
    let mut group = vec![first];
    while group.len() < MAX_GROUP && !matches!(group.last(), Some(Outcome::Fatal(_))) {
        match stream.next().now_or_never() {
            Some(Some(o)) => group.push(o),
            _ => break,
        }
    }
    group
}

/// SIGINT and SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let err = |e: std::io::Error| Error::Usage(format!("cannot install signal handlers: {e}"));
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(err)?,
            term: signal(SignalKind::terminate()).map_err(err)?,
        })
    }

    #[cfg(unix)]
    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }

    #[cfg(not(unix))]
    fn new() -> Result<Signals> {
        Ok(Signals {})
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
