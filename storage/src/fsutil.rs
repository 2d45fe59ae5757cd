//! Small file-system helpers that attach the path and operation to every I/O error, and lock
//! helpers that survive poisoning (a panicking thread must not take the table down with it).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{Error, Result};

pub(crate) fn io<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| io_error(op, path, source)
}

/// `ENOSPC` and `EDQUOT` on Linux.
const DISK_FULL_ERRNOS: [i32; 2] = [28, 122];

/// True when `e` (or an error it wraps) says the file system is full.
pub(crate) fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull
                || io
                    .raw_os_error()
                    .is_some_and(|n| DISK_FULL_ERRNOS.contains(&n))
            {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                if is_disk_full(inner) {
                    return true;
                }
            }
        }
        next = e.source();
    }
    // Some wrappers (the Parquet writer) keep only the message of the I/O error.
    let text = e.to_string();
    text.contains("os error 28") || text.contains("No space left on device")
}

/// The error for a failed I/O operation: [`Error::DiskFull`] when the file system is full,
/// [`Error::Io`] otherwise.
pub(crate) fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> Error {
    if is_disk_full(&source) {
        Error::DiskFull {
            op,
            path: path.to_path_buf(),
            source,
        }
    } else {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Removes `path` when it exists (cleaning up after a failed write); a failure is logged, not
/// returned (the file is an orphan that start-up removes).
pub(crate) fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a partial file");
        }
        _ => {}
    }
}

pub(crate) fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(io("create directory", path))
}

pub(crate) fn remove_dir_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            op: "remove directory",
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn read_dir(path: &Path) -> Result<Vec<fs::DirEntry>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(path).map_err(io("list directory", path))? {
        out.push(entry.map_err(io("list directory", path))?);
    }
    Ok(out)
}

/// fsyncs a directory, so that a rename or create inside it is durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", path))
}

/// Replaces `path` with `bytes` atomically: write a temporary file, fsync it, rename it over
/// `path`, fsync the directory.
/// On failure the temporary file is removed and `path` is unchanged.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io("rename", path))
    })();
    if let Err(e) = written {
        remove_quietly(&tmp);
        return Err(e);
    }
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
