//! The write-ahead log of one table.
//!
//! A log is a directory of files, each named by the log sequence number (LSN) of its first frame
//! (`00000000000000000001.wal`), so that truncating the log up to a persisted LSN deletes whole
//! files. Format (all integers little-endian):
//!
//! ```text
//! WAL_FILE := HEADER FRAME*
//! HEADER   := magic "STRATAWL" (8 bytes) version (u32 = 2; files of version 1 are read too)
//! FRAME    := len (u32, bytes of PAYLOAD) crc (u32, CRC-32C of PAYLOAD) PAYLOAD
//! PAYLOAD  := kind (u8) lsn (u64) body (len - 9 bytes)
//! kind 1   := body is one Arrow IPC stream (schema + batches): the rows of one request
//! kind 2   := meta_len (u32) META (meta_len bytes of JSON) IPC (the rest: an Arrow IPC stream
//!             as in kind 1, or nothing when the request stored no rows); META holds the source
//!             offsets and the dead letters of the request (version 2 files only)
//! kind 3   := DELETE_FRAME: the rows one `DELETE` removed (see [`crate::deletes`]; written into
//!             version 2 files; a build that predates it refuses such a log as corrupt rather
//!             than show the deleted rows again)
//! kind 4   := as kind 2, and META holds an idempotency record (the key and result of an HTTP
//!             request, see [`crate::idempotency`]): rows and key are one frame, durable together
//!             or not at all (written into version 2 files; a build that predates it refuses
//!             such a log as corrupt rather than forget the key and store a retry twice)
//! ```
//!
//! One request is one frame, so a request is in the log wholly or not at all. Writers append under
//! a mutex and fsync outside it: a writer that finds its LSN already covered by another writer's
//! fsync returns at once (group commit). A frame that fails its checksum, or is cut short, at the
//! end of the last file is a write that a crash interrupted: it is dropped and the file truncated
//! to the last good frame. Damage anywhere else is reported, never silently skipped.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::fsutil::{self, io, lock};
use crate::{Error, FsyncPolicy, Result};

/// Magic bytes at the start of every log file.
pub const WAL_MAGIC: &[u8; 8] = b"STRATAWL";
/// The log format version this build writes.
pub const WAL_VERSION: u32 = 2;
/// The oldest log format version this build reads (version 1 has only kind 1 frames).
pub const WAL_VERSION_MIN: u32 = 1;
const HEADER_LEN: u64 = 12;
const FRAME_HEADER_LEN: usize = 8;
const PAYLOAD_HEADER_LEN: usize = 9;
/// The largest frame payload accepted, written or read (1 GiB).
pub const FRAME_BYTES_MAX: usize = 1 << 30;

/// What a frame's body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// An Arrow IPC stream with the rows of one request.
    Batch = 1,
    /// Source offsets and dead letters (JSON) followed by an optional Arrow IPC stream.
    BatchWithMeta = 2,
    /// The rows one `DELETE` removed ([`crate::deletes::DeleteFrame`]).
    Delete = 3,
    /// As [`FrameKind::BatchWithMeta`], with an idempotency record in the metadata.
    BatchWithKey = 4,
}

/// One frame read back from the log.
#[derive(Debug)]
pub struct Frame {
    /// Its log sequence number.
    pub lsn: u64,
    /// What the body holds.
    pub kind: u8,
    /// The body.
    pub body: Vec<u8>,
}

struct Writer {
    file: File,
    path: PathBuf,
    len: u64,
    next_lsn: u64,
}

/// The write-ahead log of one table.
pub struct Wal {
    dir: PathBuf,
    table: String,
    fsync: FsyncPolicy,
    file_bytes_max: u64,
    writer: Mutex<Writer>,
    sync_lock: Mutex<()>,
    written_lsn: AtomicU64,
    synced_lsn: AtomicU64,
    /// Bytes of all the log's files (what the write-ahead log budget counts).
    bytes: AtomicU64,
    /// A counter shared with the other logs of the storage engine (the log budget).
    total_bytes: Arc<AtomicU64>,
    poisoned: Mutex<Option<String>>,
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.sub_bytes(self.bytes());
    }
}

impl Wal {
    /// Opens the log in `dir` (creating it when missing) and returns it with every intact frame
    /// whose LSN is at least `lsn_min`, in LSN order (frames below it are persisted elsewhere).
    /// New frames get LSNs of at least `lsn_min` too. A damaged tail is cut off.
    pub fn open(
        dir: &Path,
        table: &str,
        fsync: FsyncPolicy,
        file_bytes_max: u64,
        lsn_min: u64,
    ) -> Result<(Wal, Vec<Frame>)> {
        fsutil::create_dir_all(dir)?;
        let files = list_files(dir)?;
        let mut frames = Vec::new();
        let mut last: Option<(PathBuf, u64, u32)> = None;
        for (i, (first_lsn, path)) in files.iter().enumerate() {
            let is_last = i + 1 == files.len();
            let (good_len, version) = read_file(path, *first_lsn, is_last, &mut frames)?;
            if is_last {
                last = Some((path.clone(), good_len, version));
            }
        }
        // The LSN the last file would give its next frame.
        let natural_next = frames
            .last()
            .map(|f| f.lsn + 1)
            .unwrap_or_else(|| files.last().map(|(first, _)| *first).unwrap_or(1));
        let next_lsn = natural_next.max(lsn_min).max(1);
        frames.retain(|f| f.lsn >= lsn_min);
        // A jump (frames persisted elsewhere but lost from an unsynced log) starts a new file,
        // so that every file's frames stay consecutive from the LSN in its name.
        if natural_next != next_lsn {
            if let Some((path, len, _)) = &last {
                cut_torn_tail(path, *len)?;
            }
        }
        // A last file of an older version is left as it is (cut to its intact frames) and new
        // frames go to a new file of the current version.
        if let Some((path, len, version)) = &last {
            if *version != WAL_VERSION && natural_next == next_lsn {
                cut_torn_tail(path, *len)?;
            }
        }
        let last = last
            .filter(|(_, _, version)| *version == WAL_VERSION)
            .map(|(path, len, _)| (path, len))
            .filter(|_| natural_next == next_lsn);
        let writer = match last {
            Some((path, len)) => {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io("open", &path))?;
                let on_disk = file.metadata().map_err(io("stat", &path))?.len();
                if len < HEADER_LEN {
                    // A crash while the file was being created: lay the header again.
                    file.set_len(0).map_err(io("truncate", &path))?;
                    file.seek(SeekFrom::Start(0)).map_err(io("seek", &path))?;
                    file.write_all(&header()).map_err(io("write", &path))?;
                    file.sync_all().map_err(io("fsync", &path))?;
                    Writer {
                        file,
                        path,
                        len: HEADER_LEN,
                        next_lsn,
                    }
                } else {
                    if on_disk != len {
                        tracing::warn!(
                            path = %path.display(), good = len, on_disk,
                            "dropping a torn frame at the end of the write-ahead log"
                        );
                        file.set_len(len).map_err(io("truncate", &path))?;
                    }
                    file.sync_all().map_err(io("fsync", &path))?;
                    file.seek(SeekFrom::Start(len)).map_err(io("seek", &path))?;
                    Writer {
                        file,
                        path,
                        len,
                        next_lsn,
                    }
                }
            }
            None => new_file(dir, next_lsn)?,
        };
        let last_lsn = next_lsn - 1;
        let mut bytes = 0;
        for (_, path) in list_files(dir)? {
            bytes += std::fs::metadata(&path).map_err(io("stat", &path))?.len();
        }
        let wal = Wal {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            fsync,
            file_bytes_max,
            writer: Mutex::new(writer),
            sync_lock: Mutex::new(()),
            written_lsn: AtomicU64::new(last_lsn),
            synced_lsn: AtomicU64::new(last_lsn),
            bytes: AtomicU64::new(bytes),
            total_bytes: Arc::new(AtomicU64::new(bytes)),
            poisoned: Mutex::new(None),
        };
        Ok((wal, frames))
    }

    /// Appends one frame and returns its LSN. The frame is written (to the OS) but not yet
    /// durable: call [`Wal::sync`] with the LSN before acknowledging.
    pub fn append(&self, kind: FrameKind, body: &[u8]) -> Result<u64> {
        self.check_poisoned()?;
        let payload_len = PAYLOAD_HEADER_LEN + body.len();
        if payload_len > FRAME_BYTES_MAX {
            return Err(Error::Internal(format!(
                "a log frame of {payload_len} bytes exceeds the {FRAME_BYTES_MAX} byte limit"
            )));
        }
        let mut w = lock(&self.writer);
        if w.len >= self.file_bytes_max {
            self.roll(&mut w)?;
        }
        let lsn = w.next_lsn;
        let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload_len);
        frame.extend_from_slice(&(payload_len as u32).to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.push(kind as u8);
        frame.extend_from_slice(&lsn.to_le_bytes());
        frame.extend_from_slice(body);
        let crc = crc32c::crc32c(&frame[FRAME_HEADER_LEN..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = w.file.write_all(&frame) {
            // Take the partial frame back so that later frames do not follow garbage.
            let len = w.len;
            let undo = w
                .file
                .set_len(len)
                .and_then(|_| w.file.seek(SeekFrom::Start(len)));
            // (Cutting a file shorter needs no space, so this works on a full disk too: the
            // next frame starts right after the last good one, and replay never sees the
            // partial one.)
            if let Err(undo) = undo {
                self.poison(format!(
                    "write failed ({e}) and could not be undone ({undo})"
                ));
            }
            return Err(fsutil::io_error("append to", &w.path, e));
        }
        w.len += frame.len() as u64;
        self.add_bytes(frame.len() as u64);
        w.next_lsn += 1;
        self.written_lsn.store(lsn, Ordering::Release);
        Ok(lsn)
    }

    /// Makes every frame up to `lsn` durable according to the fsync policy. Concurrent callers
    /// share one fsync.
    pub fn sync(&self, lsn: u64) -> Result<()> {
        if self.fsync == FsyncPolicy::Never || self.synced_lsn.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        let _sync = lock(&self.sync_lock);
        if self.synced_lsn.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        self.check_poisoned()?;
        let (file, path, target) = {
            let w = lock(&self.writer);
            let file = w.file.try_clone().map_err(io("dup", &w.path))?;
            (file, w.path.clone(), w.next_lsn - 1)
        };
        let fsync_started = std::time::Instant::now();
        let synced = file.sync_data();
        metrics::histogram!("strata_wal_fsync_seconds")
            .record(fsync_started.elapsed().as_secs_f64());
        if let Err(e) = synced {
            self.poison(format!("fsync of {} failed: {e}", path.display()));
            return Err(fsutil::io_error("fsync", &path, e));
        }
        self.synced_lsn.store(target, Ordering::Release);
        Ok(())
    }

    /// The highest LSN that is durable under the fsync policy: a snapshot shows frames up to it.
    pub fn durable_lsn(&self) -> u64 {
        match self.fsync {
            FsyncPolicy::Always => self.synced_lsn.load(Ordering::Acquire),
            FsyncPolicy::Never => self.written_lsn.load(Ordering::Acquire),
        }
    }

    /// Deletes the log files whose frames all have LSNs up to `lsn` (they are persisted
    /// elsewhere). The file being written is never deleted.
    pub fn truncate_through(&self, lsn: u64) -> Result<usize> {
        let _w = lock(&self.writer);
        let files = list_files(&self.dir)?;
        let mut removed = 0;
        for pair in files.windows(2) {
            let (_, path) = &pair[0];
            let (next_first, _) = pair[1];
            if next_first <= lsn + 1 {
                let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(path).map_err(io("remove", path))?;
                self.sub_bytes(len);
                removed += 1;
            }
        }
        if removed > 0 {
            fsutil::sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Bytes of all the log's files.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Counts this log's bytes in `total` (shared by the logs of one storage engine) from now
    /// on, instead of in a counter of its own.
    pub(crate) fn share_total(&mut self, total: Arc<AtomicU64>) {
        let bytes = self.bytes();
        self.total_bytes.fetch_sub(bytes, Ordering::Relaxed);
        total.fetch_add(bytes, Ordering::Relaxed);
        self.total_bytes = total;
    }

    fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.total_bytes.fetch_add(n, Ordering::Relaxed);
    }

    fn sub_bytes(&self, n: u64) {
        let sub = |v: u64| Some(v.saturating_sub(n));
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub);
        let _ = self
            .total_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub);
    }

    fn roll(&self, w: &mut Writer) -> Result<()> {
        w.file.sync_all().map_err(io("fsync", &w.path))?;
        // On failure (a full disk) the new file is removed and frames go on into this one.
        let next = new_file(&self.dir, w.next_lsn)?;
        *w = next;
        self.add_bytes(HEADER_LEN);
        Ok(())
    }

    fn poison(&self, reason: String) {
        tracing::error!(table = %self.table, %reason, "write-ahead log poisoned");
        let mut p = lock(&self.poisoned);
        if p.is_none() {
            *p = Some(reason);
        }
    }

    fn check_poisoned(&self) -> Result<()> {
        match lock(&self.poisoned).as_ref() {
            Some(reason) => Err(Error::WalPoisoned {
                table: self.table.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Truncates a log file that is longer than its intact prefix of `len` bytes.
fn cut_torn_tail(path: &Path, len: u64) -> Result<()> {
    if len < HEADER_LEN {
        // Not even a header: a file whose creation a crash interrupted.
        return std::fs::remove_file(path).map_err(io("remove", path));
    }
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io("open", path))?;
    let on_disk = file.metadata().map_err(io("stat", path))?.len();
    if on_disk != len {
        tracing::warn!(path = %path.display(), good = len, on_disk, "dropping a torn log tail");
        file.set_len(len).map_err(io("truncate", path))?;
        file.sync_all().map_err(io("fsync", path))?;
    }
    Ok(())
}

fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(WAL_MAGIC);
    h[8..].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h
}

/// Creates the log file whose first frame will be `first_lsn`; on failure nothing is left.
fn new_file(dir: &Path, first_lsn: u64) -> Result<Writer> {
    let path = dir.join(format!("{first_lsn:020}.wal"));
    let created = (|| {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io("create", &path))?;
        file.write_all(&header()).map_err(io("write", &path))?;
        file.sync_all().map_err(io("fsync", &path))?;
        fsutil::sync_dir(dir)?;
        Ok(file)
    })();
    let file = match created {
        Ok(file) => file,
        Err(e) => {
            fsutil::remove_quietly(&path);
            return Err(e);
        }
    };
    Ok(Writer {
        file,
        path,
        len: HEADER_LEN,
        next_lsn: first_lsn,
    })
}

/// The log files of `dir`, sorted by first LSN.
fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fsutil::read_dir(dir)? {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".wal") {
            if let Ok(first) = stem.parse::<u64>() {
                files.push((first, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads the frames of one file into `out` and returns the length of its intact prefix and the
/// file's format version.
fn read_file(
    path: &Path,
    first_lsn: u64,
    is_last: bool,
    out: &mut Vec<Frame>,
) -> Result<(u64, u32)> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    let corrupt = |offset: usize, reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < HEADER_LEN as usize {
        if is_last {
            return Ok((0, WAL_VERSION));
        }
        return Err(corrupt(0, "file shorter than its header".to_string()));
    }
    if &bytes[..8] != WAL_MAGIC {
        return Err(corrupt(
            0,
            "not a Strata write-ahead log (bad magic)".to_string(),
        ));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if !(WAL_VERSION_MIN..=WAL_VERSION).contains(&version) {
        return Err(corrupt(
            8,
            format!("log version {version}, this build reads {WAL_VERSION_MIN} to {WAL_VERSION}"),
        ));
    }
    let mut pos = HEADER_LEN as usize;
    let mut expected_lsn = first_lsn;
    loop {
        if pos == bytes.len() {
            return Ok((pos as u64, version));
        }
        let damaged = |reason: String| -> Result<(u64, u32)> {
            if is_last {
                tracing::warn!(path = %path.display(), offset = pos, %reason, "torn log tail");
                Ok((pos as u64, version))
            } else {
                Err(corrupt(pos, reason))
            }
        };
        if bytes.len() - pos < FRAME_HEADER_LEN {
            return damaged("frame header cut short".to_string());
        }
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        let start = pos + FRAME_HEADER_LEN;
        if !(PAYLOAD_HEADER_LEN..=FRAME_BYTES_MAX).contains(&len) || bytes.len() - start < len {
            return damaged(format!("frame length {len} does not fit the file"));
        }
        let payload = &bytes[start..start + len];
        if crc32c::crc32c(payload) != crc {
            return damaged("frame checksum mismatch".to_string());
        }
        let kind = payload[0];
        let mut lsn_bytes = [0u8; 8];
        lsn_bytes.copy_from_slice(&payload[1..9]);
        let lsn = u64::from_le_bytes(lsn_bytes);
        if lsn != expected_lsn {
            return Err(corrupt(
                pos,
                format!("frame has LSN {lsn}, expected {expected_lsn}"),
            ));
        }
        out.push(Frame {
            lsn,
            kind,
            body: payload[PAYLOAD_HEADER_LEN..].to_vec(),
        });
        expected_lsn += 1;
        pos = start + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_dir;

    fn bodies(frames: &[Frame]) -> Vec<Vec<u8>> {
        frames.iter().map(|f| f.body.clone()).collect()
    }

    #[test]
    fn frames_round_trip_across_reopen_and_file_rolls() {
        let dir = temp_dir("wal-roundtrip");
        let mut expected = Vec::new();
        {
            let (wal, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 100, 0).unwrap();
            assert!(frames.is_empty());
            for i in 0..20u8 {
                let body = vec![i; i as usize * 7];
                let lsn = wal.append(FrameKind::Batch, &body).unwrap();
                assert_eq!(lsn, i as u64 + 1);
                wal.sync(lsn).unwrap();
                expected.push(body);
            }
            assert_eq!(wal.durable_lsn(), 20);
        }
        assert!(
            list_files(&dir).unwrap().len() > 1,
            "small file limit must roll files"
        );
        let (wal, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 100, 0).unwrap();
        assert_eq!(bodies(&frames), expected);
        assert_eq!(wal.append(FrameKind::Batch, b"x").unwrap(), 21);
    }

    #[test]
    fn torn_tail_is_dropped_and_earlier_frames_kept() {
        let dir = temp_dir("wal-torn");
        {
            let (wal, _) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
            for body in [b"one".as_slice(), b"two", b"three"] {
                let lsn = wal.append(FrameKind::Batch, body).unwrap();
                wal.sync(lsn).unwrap();
            }
        }
        let (_, path) = list_files(&dir).unwrap().pop().unwrap();
        let full = std::fs::read(&path).unwrap();
        // Every cut inside the last frame loses exactly that frame.
        let last_frame_len = FRAME_HEADER_LEN + PAYLOAD_HEADER_LEN + 5;
        for cut in 1..last_frame_len {
            std::fs::write(&path, &full[..full.len() - cut]).unwrap();
            let (wal, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
            assert_eq!(
                bodies(&frames),
                vec![b"one".to_vec(), b"two".to_vec()],
                "cut {cut}"
            );
            assert_eq!(wal.append(FrameKind::Batch, b"four").unwrap(), 3);
            drop(wal);
            std::fs::write(&path, &full).unwrap();
        }
        // A flipped bit in the last frame is caught by the checksum.
        let mut flipped = full.clone();
        let n = flipped.len();
        flipped[n - 2] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let (_, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn damage_before_the_last_file_is_an_error_not_a_silent_skip() {
        let dir = temp_dir("wal-damage");
        {
            let (wal, _) = Wal::open(&dir, "t", FsyncPolicy::Always, 40, 0).unwrap();
            for i in 0..6u8 {
                wal.append(FrameKind::Batch, &[i; 30]).unwrap();
            }
        }
        let (_, first) = list_files(&dir).unwrap().remove(0);
        let mut bytes = std::fs::read(&first).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        std::fs::write(&first, &bytes).unwrap();
        assert!(matches!(
            Wal::open(&dir, "t", FsyncPolicy::Always, 40, 0),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn truncate_through_removes_only_wholly_covered_files() {
        let dir = temp_dir("wal-truncate");
        let (wal, _) = Wal::open(&dir, "t", FsyncPolicy::Always, 40, 0).unwrap();
        for i in 0..6u8 {
            wal.append(FrameKind::Batch, &[i; 30]).unwrap();
        }
        let before = list_files(&dir).unwrap().len();
        assert_eq!(wal.truncate_through(3).unwrap(), 3);
        assert_eq!(list_files(&dir).unwrap().len(), before - 3);
        drop(wal);
        let (_, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 40, 0).unwrap();
        assert_eq!(frames.first().unwrap().lsn, 4);
    }

    #[test]
    fn frames_below_the_persisted_lsn_are_skipped_and_numbering_continues() {
        let dir = temp_dir("wal-lsn-min");
        {
            let (wal, _) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
            for i in 0..5u8 {
                wal.append(FrameKind::Batch, &[i]).unwrap();
            }
        }
        let (wal, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 4).unwrap();
        assert_eq!(frames.iter().map(|f| f.lsn).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(wal.append(FrameKind::Batch, b"x").unwrap(), 6);
        drop(wal);
        // A floor past the end of the log (its tail was lost) starts a new file at the floor.
        let (wal, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 10).unwrap();
        assert!(frames.is_empty());
        assert_eq!(wal.append(FrameKind::Batch, b"y").unwrap(), 10);
        drop(wal);
        let (_, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
        assert_eq!(
            frames.iter().map(|f| f.lsn).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6, 10]
        );
    }

    #[test]
    fn concurrent_writers_all_become_durable() {
        let dir = temp_dir("wal-concurrent");
        let (wal, _) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let wal = &wal;
                s.spawn(move || {
                    for i in 0..25u8 {
                        let lsn = wal.append(FrameKind::Batch, &[t, i]).unwrap();
                        wal.sync(lsn).unwrap();
                        assert!(wal.durable_lsn() >= lsn);
                    }
                });
            }
        });
        drop(wal);
        let (_, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
        assert_eq!(frames.len(), 100);
    }

    #[test]
    fn version_1_files_are_read_and_new_frames_go_to_a_version_2_file() {
        let dir = temp_dir("wal-v1");
        {
            let (wal, _) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
            wal.append(FrameKind::Batch, b"old").unwrap();
        }
        let (_, path) = list_files(&dir).unwrap().pop().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        {
            let (wal, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
            assert_eq!(bodies(&frames), vec![b"old".to_vec()]);
            assert_eq!(wal.append(FrameKind::BatchWithMeta, b"new").unwrap(), 2);
        }
        let files = list_files(&dir).unwrap();
        assert_eq!(files.len(), 2);
        let (_, frames) = Wal::open(&dir, "t", FsyncPolicy::Always, 1 << 20, 0).unwrap();
        assert_eq!(frames[1].kind, FrameKind::BatchWithMeta as u8);
        assert_eq!(bodies(&frames), vec![b"old".to_vec(), b"new".to_vec()]);
    }
}
