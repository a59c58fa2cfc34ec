//! One export from start to finish: open the input, run the concurrent stage, own the writers,
//! and publish every output only once the whole run has succeeded.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::auth::{Credential, Secret};
use crate::client::Client;
use crate::config::{Config, Endpoint, Input};
use crate::dedup::Merger;
use crate::error::{EXIT_PARTIAL, Error, Result};
use crate::ids::{IdReader, Item};
use crate::ledger::{Counts, Failure, FailureKind, NotFound};
use crate::limit::Limiter;
use crate::pipeline::{Outcome, Stats, Worker, outcomes};
use crate::progress::{Progress, Sources, Tally};
use crate::sim::{SimConfig, SimHandle, Tenant};
use crate::sink::atomic::Pending;
use crate::sink::csv::{CsvFile, FAILURE_COLUMNS, NOT_FOUND_COLUMNS};
use crate::sink::{self, Staged};

/// The bearer the demo's simulator accepts; it guards nothing.
const DEMO_TOKEN: &str = "demo-token";

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub counts: Counts,
    pub elapsed: Duration,
    /// The files published, user table last.
    pub outputs: Vec<PathBuf>,
}

impl Summary {
    /// 0 when every valid ID was resolved and no line was invalid, else 3 (see the README).
    pub fn exit_code(&self) -> i32 {
        if self.counts.failed > 0 {
            EXIT_PARTIAL
        } else {
            0
        }
    }

    pub fn line(&self) -> String {
        self.counts.line(self.elapsed)
    }
}

/// Runs an export. `quiet` silences progress output (errors and the final line remain).
pub async fn run(config: Config, quiet: bool) -> Result<Summary> {
    let started = Instant::now();
    let (_sim, base, credential) = endpoint(&config.endpoint)?;
    // Everything that can fail locally fails here, before the first request.
    let reader = open_input(&config.input)?;
    let tally = Arc::new(Tally::default());
    if let Some(total) = count_items(&config.input)? {
        tally.total.store(total, Ordering::Relaxed);
        tally.total_known.store(true, Ordering::Relaxed);
    }
    let mut ledger = Ledger::create(&config, tally.clone())?;
    // The first token, before any API call: a credential problem ends the run here (exit 1).
    credential.sign_in().await?;
    let client = Client::new(&base, config.timeout, config.concurrency, &config.network)?;
    let stats = Arc::new(Stats::default());
    let limiter = Arc::new(Limiter::new(&config.rates));
    let stopping = Arc::new(AtomicBool::new(false));
    let worker = Arc::new(Worker {
        client,
        credential,
        limiter: limiter.clone(),
        policy: config.retry,
        stats: stats.clone(),
        stopping: stopping.clone(),
    });
    let (items, reading) = stream_items(reader, config.input.name(), tally.clone());
    let sources = Sources {
        tally,
        stats: stats.clone(),
        limiter,
        rates: config.rates.clone(),
    };
    let progress = Progress::start(config.progress, quiet, config.progress_interval, sources);

    let stream = outcomes(worker, items, config.concurrency);
    let result = drain(stream, &mut ledger, &stopping, config.grace).await;
    progress.finish();
    result?;

    let read = reading.join().expect("input reader thread");
    let mut counts = ledger.counts.clone();
    counts.input_lines = read.lines;
    counts.distinct_ids = read.distinct;
    counts.duplicates = read.duplicates;
    counts.requests = stats.requests.load(Ordering::Relaxed);
    counts.retries = stats.retries.load(Ordering::Relaxed);
    counts.throttled = stats.throttled.load(Ordering::Relaxed);
    counts.users = ledger.users.accounts() as u64;
    let outputs = ledger.publish(&config)?;
    Ok(Summary {
        counts,
        elapsed: started.elapsed(),
        outputs,
    })
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

fn open_input(input: &Input) -> Result<Box<dyn BufRead + Send>> {
    Ok(match input {
        Input::Path(path) => {
            let file = File::open(path).map_err(|source| Error::ReadInput {
                path: path.clone(),
                source,
            })?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                let source = std::io::Error::other("is a directory");
                return Err(Error::ReadInput {
                    path: path.clone(),
                    source,
                });
            }
            Box::new(BufReader::with_capacity(256 * 1024, file))
        }
        Input::Stdin => Box::new(BufReader::new(std::io::stdin())),
        Input::Embedded(text) => Box::new(text.as_bytes()),
    })
}

/// Counts the items of a re-readable input up front, so progress has a total and an ETA.
/// Reading a million lines twice costs well under a second; stdin cannot be read twice.
fn count_items(input: &Input) -> Result<Option<u64>> {
    if matches!(input, Input::Stdin) {
        return Ok(None);
    }
    let mut n = 0;
    for item in IdReader::new(open_input(input)?, input.name()) {
        item?;
        n += 1;
    }
    Ok(Some(n))
}

/// What the reader thread learned, for the summary.
struct ReadCounts {
    lines: u64,
    distinct: u64,
    duplicates: u64,
}

/// Reads the input on its own thread, so a slow pipe never stalls the requests in flight.
fn stream_items(
    reader: Box<dyn BufRead + Send>,
    name: PathBuf,
    tally: Arc<Tally>,
) -> (
    impl Stream<Item = Result<Item>> + Send + 'static,
    std::thread::JoinHandle<ReadCounts>,
) {
    let (tx, rx) = mpsc::channel(1024);
    let thread = std::thread::spawn(move || {
        let mut ids = IdReader::new(reader, name);
        let counting = !tally.total_known.load(Ordering::Relaxed);
        for item in ids.by_ref() {
            if counting {
                tally.total.fetch_add(1, Ordering::Relaxed);
            }
            if tx.blocking_send(item).is_err() {
                break; // the run stopped
            }
        }
        tally.total_known.store(true, Ordering::Relaxed);
        ReadCounts {
            lines: ids.lines(),
            distinct: ids.distinct(),
            duplicates: ids.duplicates,
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|i| (i, rx)) });
    (stream, thread)
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
                Some(o) => ledger.record(o)?,
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

/// The single owner of every output while the run goes on. Not-found and failure rows are kept
/// and sorted by alert ID at the end, so every file is the same whatever the completion order.
struct Ledger {
    users: Merger,
    not_found: Vec<NotFound>,
    failures: Vec<Failure>,
    counts: Counts,
    tally: Arc<Tally>,
}

impl Ledger {
    /// Checks that every output folder takes files now, so a typo fails before the first request.
    fn create(config: &Config, tally: Arc<Tally>) -> Result<Ledger> {
        let o = &config.outputs;
        for path in o.paths() {
            drop(Pending::create(path)?);
        }
        Ok(Ledger {
            users: Merger::new(o.links.is_some()),
            not_found: Vec::new(),
            failures: Vec::new(),
            counts: Counts::default(),
            tally,
        })
    }

    fn record(&mut self, outcome: Outcome) -> Result<()> {
        let t = &self.tally;
        match outcome {
            Outcome::User { alert_id, record } => {
                self.users.add(&alert_id, *record);
                self.counts.alerts_with_user += 1;
                t.users.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::NotFound(r) => {
                self.not_found.push(r);
                self.counts.not_found += 1;
                t.not_found.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failure(f) => {
                tracing::debug!(alert_id = %f.alert_id, kind = %f.kind, "failed: {}", f.message);
                self.counts.failed += 1;
                if f.kind == FailureKind::InvalidId {
                    self.counts.invalid += 1;
                }
                self.failures.push(f);
                t.failed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Fatal(e) => return Err(e),
            Outcome::Cancelled => return Ok(()),
        }
        t.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the tables, then renames every file into place, the user table last.
    fn publish(self, config: &Config) -> Result<Vec<PathBuf>> {
        let o = &config.outputs;
        let (users, links) = self.users.finish();
        let mut not_found = self.not_found;
        not_found.sort_unstable_by(|a, b| a.alert_id.cmp(&b.alert_id));
        let mut file = CsvFile::create(&o.not_found, &NOT_FOUND_COLUMNS)?;
        for r in &not_found {
            file.not_found(r)?;
        }
        let mut staged: Vec<Staged> = vec![file.finish()?];
        let mut failures = self.failures;
        failures.sort_unstable_by(|a, b| (&a.alert_id, &a.message).cmp(&(&b.alert_id, &b.message)));
        let mut file = CsvFile::create(&o.failures, &FAILURE_COLUMNS)?;
        for f in &failures {
            file.failure(f)?;
        }
        staged.push(file.finish()?);
        if let Some(path) = &o.links {
            staged.push(sink::write_links(o.format, path, &links)?);
        }
        staged.push(sink::write_users(o.format, &o.users, &users)?);
        staged.into_iter().map(Staged::publish).collect()
    }
}
