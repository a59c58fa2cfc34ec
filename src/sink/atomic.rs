//! Files that appear whole or not at all: written under a temporary name in the target's folder,
//! synced, then renamed over the target. Created owner-only (0600): the outputs hold personal data.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// An output being written. Dropped without `finish`, its temporary file is removed.
pub struct Pending {
    file: NamedTempFile,
    path: PathBuf,
}

/// A fully written and synced output, waiting for the run to decide to publish it.
pub struct Staged {
    file: NamedTempFile,
    path: PathBuf,
}

impl Pending {
    /// Creates `.<name>.<random>.tmp` beside `path`, so the final rename never crosses filesystems.
    pub fn create(path: &Path) -> Result<Pending> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        // tempfile's error names the random temporary name; the user needs the OS reason only.
        let file = builder.tempfile_in(dir).map_err(|e| {
            let e = e
                .raw_os_error()
                .map(io::Error::from_raw_os_error)
                .unwrap_or(e);
            write_error(path, e)
        })?;
        Ok(Pending {
            file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bare temporary file, for writers that buffer by themselves; pass it to `stage`.
    pub fn into_file(self) -> NamedTempFile {
        self.file
    }

    /// A buffered writer over the temporary file.
    pub fn writer(self) -> Writer {
        Writer {
            inner: BufWriter::with_capacity(256 * 1024, self.file),
            path: self.path,
        }
    }
}

/// Buffered writing into a `Pending` file; `finish` flushes and syncs it.
pub struct Writer {
    inner: BufWriter<NamedTempFile>,
    path: PathBuf,
}

impl Writer {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn finish(self) -> Result<Staged> {
        let path = self.path;
        let file = self
            .inner
            .into_inner()
            .map_err(|e| write_error(&path, e.into_error()))?;
        stage(file, path)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Syncs a completely written temporary file.
pub(crate) fn stage(mut file: NamedTempFile, path: PathBuf) -> Result<Staged> {
    file.flush().map_err(|e| write_error(&path, e))?;
    file.as_file()
        .sync_all()
        .map_err(|e| write_error(&path, e))?;
    Ok(Staged { file, path })
}

impl Staged {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file over its target (atomic on POSIX) and syncs the folder so the rename
    /// survives a power loss.
    pub fn publish(self) -> Result<PathBuf> {
        let Staged { file, path } = self;
        file.persist(&path)
            .map_err(|e| write_error(&path, e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Some filesystems refuse to sync a folder; the file itself is already synced.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(path)
    }
}

pub(crate) fn write_error(path: &Path, source: io::Error) -> Error {
    Error::Write {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appears_only_when_published_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "previous").unwrap();
        let mut w = Pending::create(&target).unwrap().writer();
        w.write_all(b"new contents").unwrap();
        let staged = w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous");
        staged.publish().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new contents");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn dropped_output_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        let mut w = Pending::create(&target).unwrap().writer();
        w.write_all(b"half").unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_path() {
        let err = Pending::create(Path::new("/nonexistent-dir/x.csv"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent-dir/x.csv"), "{err}");
    }
}
