//! The single owner of the outputs during a run: every outcome passes through here, once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::Config;
use crate::dedup::Merger;
use crate::error::Result;
use crate::ledger::{Failure, FailureKind, NotFound};
use crate::pipeline::Outcome;
use crate::progress::Tally;
use crate::sink::atomic::Pending;
use crate::sink::csv::{CsvFile, FAILURE_COLUMNS, NOT_FOUND_COLUMNS};
use crate::sink::{self, Staged};
use crate::state::Journal;
use crate::summary::FIRST_FAILURES;

/// The single owner of every output while the run goes on. Not-found and failure rows are kept
/// and sorted by alert ID at the end, so every file is the same whatever the completion order.
pub(super) struct Ledger {
    users: Merger,
    not_found: Vec<NotFound>,
    failures: Vec<Failure>,
    tally: Arc<Tally>,
    /// Where final answers are committed, with `--state`.
    journal: Option<Journal>,
}

impl Ledger {
    /// Checks that every output folder takes files now, so a typo fails before the first request.
    pub(super) fn create(
        config: &Config,
        tally: Arc<Tally>,
        journal: Option<Journal>,
    ) -> Result<Ledger> {
        let o = &config.outputs;
        for path in o.paths() {
            drop(Pending::create(path)?);
        }
        Ok(Ledger {
            users: Merger::new(o.links.is_some()),
            not_found: Vec::new(),
            failures: Vec::new(),
            tally,
            journal,
        })
    }

    /// Records outcomes that arrived together, after committing their answers to the state: an
    /// answer counts as stored only once it is on disk.
    pub(super) fn record_group(&mut self, group: Vec<Outcome>) -> Result<()> {
        if let Some(journal) = &mut self.journal {
            let stored = journal.save(&group)?;
            self.tally.state_stored.fetch_add(stored, Ordering::Relaxed);
        }
        group.into_iter().try_for_each(|o| self.record(o))
    }

    fn record(&mut self, outcome: Outcome) -> Result<()> {
        let t = &self.tally;
        match outcome {
            Outcome::User { alert_id, record } => {
                self.users.add(&alert_id, *record);
                t.users.fetch_add(1, Ordering::Relaxed);
                t.accounts
                    .store(self.users.accounts() as u64, Ordering::Relaxed);
            }
            Outcome::NotFound(r) => {
                self.not_found.push(r);
                t.not_found.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failure(f) => {
                tracing::debug!(alert_id = %f.alert_id, kind = %f.kind, "failed: {}", f.message);
                if f.kind == FailureKind::InvalidId {
                    t.invalid.fetch_add(1, Ordering::Relaxed);
                }
                let mut first = t.first_failures.lock().expect("tally lock");
                if first.len() < FIRST_FAILURES {
                    first.push(f.clone());
                }
                drop(first);
                self.failures.push(f);
                t.failed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Fatal(e) => return Err(e),
            Outcome::Cancelled => return Ok(()),
            // Recorded exactly as the API's answer was, so the outputs cannot tell them apart.
            Outcome::Stored(answer) => {
                t.state_reused.fetch_add(1, Ordering::Relaxed);
                return self.record(*answer);
            }
        }
        t.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the tables, then renames every file into place, the user table last.
    pub(super) fn publish(self, config: &Config) -> Result<Vec<PathBuf>> {
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
