//! CSV outputs: the user and links tables, and the streamed not-found and failures files.
//!
//! RFC 4180 quoting (the `csv` crate quotes only fields that need it), UTF-8, a header row,
//! timestamps as `2019-12-08T06:33:39Z`, booleans `true`/`false`, null as an empty field.

use std::path::Path;

use crate::dedup::{Link, MergedUser};
use crate::error::{Error, Result};
use crate::ledger::{Failure, NotFound};
use crate::sink::atomic::{Pending, Staged, Writer};
use crate::user::USER_COLUMNS;

pub const NOT_FOUND_COLUMNS: [&str; 4] = ["alert_id", "reason", "error_code", "message"];
pub const FAILURE_COLUMNS: [&str; 7] = [
    "alert_id",
    "kind",
    "http_status",
    "error_code",
    "message",
    "attempts",
    "target",
];
pub const LINK_COLUMNS: [&str; 2] = ["alert_id", "user_id"];

/// A CSV file being written row by row into its temporary file.
pub struct CsvFile {
    inner: csv::Writer<Writer>,
}

impl CsvFile {
    pub fn create(path: &Path, header: &[&str]) -> Result<CsvFile> {
        let writer = Pending::create(path)?.writer();
        let mut file = CsvFile {
            inner: csv::WriterBuilder::new().from_writer(writer),
        };
        file.row(header)?;
        Ok(file)
    }

    fn row<I, T>(&mut self, fields: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.inner.write_record(fields).map_err(|e| self.error(e))
    }

    fn error(&self, e: csv::Error) -> Error {
        let path = self.inner.get_ref().path().to_owned();
        let source = match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!("{other:?}")),
        };
        Error::Write { path, source }
    }

    pub fn not_found(&mut self, r: &NotFound) -> Result<()> {
        self.row([
            r.alert_id.as_str(),
            r.reason.as_str(),
            opt(&r.error_code),
            opt(&r.message),
        ])
    }

    pub fn failure(&mut self, r: &Failure) -> Result<()> {
        let status = r.http_status.map(|s| s.to_string()).unwrap_or_default();
        self.row([
            r.alert_id.as_str(),
            r.kind.as_str(),
            &status,
            opt(&r.error_code),
            &r.message,
            &r.attempts.to_string(),
            opt(&r.target),
        ])
    }

    pub fn user(&mut self, u: &MergedUser) -> Result<()> {
        let r = &u.record;
        let ts = |t: Option<crate::user::Timestamp>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let flag = |b: Option<bool>| b.map(|b| b.to_string()).unwrap_or_default();
        self.row([
            r.id.as_str(),
            opt(&r.account_name),
            opt(&r.account_domain),
            opt(&r.account_sid),
            &ts(r.first_seen),
            &ts(r.last_seen),
            opt(&r.most_prevalent_machine_id),
            opt(&r.least_prevalent_machine_id),
            opt(&r.logon_types),
            &num(r.log_on_machines_count),
            &flag(r.is_domain_admin),
            &flag(r.is_only_network_user),
            &u.alert_count.to_string(),
        ])
    }

    pub fn link(&mut self, l: &Link) -> Result<()> {
        self.row([l.alert_id.as_str(), &*l.user_id])
    }

    pub fn finish(self) -> Result<Staged> {
        let path = self.inner.get_ref().path().to_owned();
        let writer = self.inner.into_inner().map_err(|e| Error::Write {
            path,
            source: e.into_error(),
        })?;
        writer.finish()
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

pub fn write_users(path: &Path, users: &[MergedUser]) -> Result<Staged> {
    let mut f = CsvFile::create(path, &USER_COLUMNS)?;
    for u in users {
        f.user(u)?;
    }
    f.finish()
}

pub fn write_links(path: &Path, links: &[Link]) -> Result<Staged> {
    let mut f = CsvFile::create(path, &LINK_COLUMNS)?;
    for l in links {
        f.link(l)?;
    }
    f.finish()
}
