//! The output files: formats, and the rule that nothing appears until the run decides to publish.

pub mod atomic;
pub mod csv;
pub mod parquet;

use std::path::Path;

use crate::dedup::{Link, MergedUser};
use crate::error::Result;
pub use atomic::Staged;

/// Format of the user and links tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    /// `.csv` or `.parquet` (any case); `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

pub fn write_users(format: Format, path: &Path, users: &[MergedUser]) -> Result<Staged> {
    match format {
        Format::Csv => csv::write_users(path, users),
        Format::Parquet => parquet::write_users(path, users),
    }
}

pub fn write_links(format: Format, path: &Path, links: &[Link]) -> Result<Staged> {
    match format {
        Format::Csv => csv::write_links(path, links),
        Format::Parquet => parquet::write_links(path, links),
    }
}
