//! The input side of a run: opening it before any request, counting it for progress, and
//! reading it on its own thread.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::Stream;
use tokio::sync::mpsc;

use crate::config::Input;
use crate::error::{Error, Result};
use crate::ids::{IdReader, Item};
use crate::progress::Tally;

pub(super) fn open_input(input: &Input) -> Result<Box<dyn BufRead + Send>> {
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
pub(super) fn count_items(input: &Input) -> Result<Option<u64>> {
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

/// What the reader has seen so far, for the summary.
#[derive(Default)]
pub(super) struct ReadCounts {
    pub(super) lines: AtomicU64,
    pub(super) distinct: AtomicU64,
    pub(super) duplicates: AtomicU64,
}

/// Reads the input on its own thread, so a slow pipe never stalls the requests in flight.
pub(super) fn stream_items(
    reader: Box<dyn BufRead + Send>,
    name: PathBuf,
    tally: Arc<Tally>,
    read: Arc<ReadCounts>,
) -> impl Stream<Item = Result<Item>> + Send + 'static {
    let (tx, rx) = mpsc::channel(1024);
    std::thread::spawn(move || {
        let mut ids = IdReader::new(reader, name);
        let counting = !tally.total_known.load(Ordering::Relaxed);
        while let Some(item) = ids.next() {
            read.lines.store(ids.lines(), Ordering::Relaxed);
            read.distinct.store(ids.distinct(), Ordering::Relaxed);
            read.duplicates.store(ids.duplicates, Ordering::Relaxed);
            if counting {
                tally.total.fetch_add(1, Ordering::Relaxed);
            }
            if tx.blocking_send(item).is_err() {
                return; // the run stopped
            }
        }
        // Trailing blank lines, comments and duplicates come after the last item.
        read.lines.store(ids.lines(), Ordering::Relaxed);
        read.duplicates.store(ids.duplicates, Ordering::Relaxed);
        tally.total_known.store(true, Ordering::Relaxed);
    });
    futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|i| (i, rx)) })
}
