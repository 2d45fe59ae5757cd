//! Idempotency keys: an HTTP ingest request that carries an `Idempotency-Key` and repeats a key
//! its table acknowledged within the window is answered with the first request's result and
//! stores nothing.
//!
//! A key is scoped to one table (the table owns the log and manifest that make it durable, and
//! the same key sent to two tables names two different requests). Its life:
//!
//! 1. [`crate::Table::check_key`] looks the key up. Acknowledged within the window: the stored
//!    [`IdempotencyRecord`] (replay, or a mismatch when the request's fingerprint differs). Held
//!    by a request still running: [`KeyCheck::InFlight`]. Otherwise the key is marked in flight
//!    until the returned [`KeyGuard`] drops.
//! 2. The request appends its rows with the record in [`crate::AppendMeta::idempotency`]: rows
//!    and key are one log frame (kind 4, see [`crate::wal`]), so after a crash both are there or
//!    neither is. Once the frame is durable the record joins the table's in-memory key set.
//! 3. A persist that covers the frame writes the records of the frames it covers to a keys file
//!    (`idempotency/<lsn_max>.keys`, [`write_keys_file`]) that the manifest lists with the newest
//!    acknowledgement time in it, before the log is truncated. A file whose newest key is older
//!    than the window is dropped from the manifest (and deleted) by the next persist.
//! 4. On open a table loads the keys of its listed files and then of the frames replayed from the
//!    log, skipping keys older than the window.
//!
//! Memory is bounded per table: at most `idempotency_keys_max` keys and [`KEYS_BYTES_MAX`] bytes
//! of records; past either bound the oldest keys are forgotten early (counted in
//! `strata_idempotency_keys_evicted_total`): a retry of an evicted key is stored again. A stored
//! response is at most [`RESPONSE_BYTES_MAX`] bytes (the server shortens longer ones).
//!
//! ```text
//! KEYS_FILE := magic "STRATAIK" version (u32 = 1) crc (u32, CRC-32C of LINES) LINES
//! LINES     := (RECORD "\n")*      RECORD: one IdempotencyRecord as JSON
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::fsutil::lock;
use crate::{Error, Result};

/// Magic bytes of a keys file.
pub const KEYS_MAGIC: &[u8; 8] = b"STRATAIK";
/// The keys file format version.
pub const KEYS_VERSION: u32 = 1;
/// The longest key accepted, in bytes.
pub const KEY_BYTES_MAX: usize = 255;
/// The longest stored response, in bytes.
pub const RESPONSE_BYTES_MAX: usize = 16 << 10;
/// The most bytes of records (key, fingerprint and response) one table keeps in memory: 64 MiB.
pub const KEYS_BYTES_MAX: usize = 64 << 20;
/// The default window: a key is recognised for 24 hours after its request was acknowledged.
pub const DEFAULT_WINDOW_MS: u64 = 24 * 3_600_000;
/// The default of the most keys one table keeps: 100,000 (a request a second for a day fits).
pub const DEFAULT_KEYS_MAX: usize = 100_000;

/// What a table keeps of an acknowledged request that carried an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The key, as the client sent it.
    pub key: String,
    /// A digest of what the request asked (its body and options), to tell a retry from a
    /// different request that reuses the key.
    pub fingerprint: String,
    /// When the request was acknowledged (epoch milliseconds).
    pub time_ms: i64,
    /// The response status.
    pub status: u16,
    /// The response body.
    pub response: String,
}

impl IdempotencyRecord {
    /// Memory it takes, roughly: what the bound counts.
    fn bytes(&self) -> usize {
        self.key.len() + self.fingerprint.len() + self.response.len() + 64
    }
}

/// Checks a key: 1 to [`KEY_BYTES_MAX`] bytes of visible ASCII (`!` to `~`). The error says
/// what is wrong.
pub fn validate_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".to_string());
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(format!(
            "the key is {} bytes long, longer than the {KEY_BYTES_MAX} allowed",
            key.len()
        ));
    }
    if let Some((at, c)) = key.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        return Err(format!(
            "the key has {c:?} at byte {at}; only visible ASCII characters (! to ~, no spaces) \
             are allowed"
        ));
    }
    Ok(())
}

/// The answer of [`crate::Table::check_key`].
#[derive(Debug)]
pub enum KeyCheck<'a> {
    /// Not acknowledged within the window: the request runs, holding the key until the guard
    /// drops (after its append).
    New(KeyGuard<'a>),
    /// Acknowledged with the same fingerprint: answer the stored result, store nothing.
    Replay(Arc<IdempotencyRecord>),
    /// Acknowledged with a different fingerprint: the key was reused for another request.
    Mismatch(Arc<IdempotencyRecord>),
    /// A request with this key is running now.
    InFlight,
}

/// Holds a key in flight; dropping it releases the key.
#[derive(Debug)]
pub struct KeyGuard<'a> {
    keys: &'a Keys,
    key: String,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        lock(&self.keys.inner).in_flight.remove(&self.key);
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_key: HashMap<String, Arc<IdempotencyRecord>>,
    /// Records in acknowledgement order (a record replaced by a newer one of its key stays
    /// until it reaches the front).
    order: VecDeque<Arc<IdempotencyRecord>>,
    bytes: usize,
    in_flight: HashSet<String>,
}

/// The idempotency keys of one table, in memory.
#[derive(Debug)]
pub(crate) struct Keys {
    inner: Mutex<Inner>,
    window_ms: i64,
    keys_max: usize,
    /// [`KEYS_BYTES_MAX`] (smaller in tests).
    bytes_max: usize,
}

impl Keys {
    /// An empty set that recognises keys for `window_ms` and keeps at most `keys_max` of them.
    pub(crate) fn new(window_ms: u64, keys_max: usize) -> Keys {
        Keys {
            inner: Mutex::new(Inner::default()),
            window_ms: i64::try_from(window_ms).unwrap_or(i64::MAX),
            keys_max: keys_max.max(1),
            bytes_max: KEYS_BYTES_MAX,
        }
    }

    /// True when a key acknowledged at `time_ms` is past the window at `now_ms`.
    pub(crate) fn expired(&self, time_ms: i64, now_ms: i64) -> bool {
        time_ms.saturating_add(self.window_ms) <= now_ms
    }

    /// Looks `key` up at `now_ms`; see [`KeyCheck`].
    pub(crate) fn check(&self, key: &str, fingerprint: &str, now_ms: i64) -> KeyCheck<'_> {
        let mut inner = lock(&self.inner);
        self.prune(&mut inner, now_ms);
        if inner.in_flight.contains(key) {
            return KeyCheck::InFlight;
        }
        if let Some(record) = inner.by_key.get(key) {
            if !self.expired(record.time_ms, now_ms) {
                return if record.fingerprint == fingerprint {
                    KeyCheck::Replay(record.clone())
                } else {
                    KeyCheck::Mismatch(record.clone())
                };
            }
        }
        inner.in_flight.insert(key.to_string());
        KeyCheck::New(KeyGuard {
            keys: self,
            key: key.to_string(),
        })
    }

    /// Adds an acknowledged record (a durable append, or one loaded at open); keys past the
    /// window at `now_ms` are skipped, and the oldest go when a bound is exceeded.
    pub(crate) fn insert(&self, record: IdempotencyRecord, now_ms: i64) {
        if self.expired(record.time_ms, now_ms) {
            return;
        }
        let record = Arc::new(record);
        let mut inner = lock(&self.inner);
        inner.bytes += record.bytes();
        inner.by_key.insert(record.key.clone(), record.clone());
        inner.order.push_back(record);
        let mut evicted = 0u64;
        while inner.order.len() > self.keys_max || inner.bytes > self.bytes_max {
            if !pop_front(&mut inner) {
                break;
            }
            evicted += 1;
        }
        if evicted > 0 {
            metrics::counter!("strata_idempotency_keys_evicted_total").increment(evicted);
        }
    }

    /// Keys held at `now_ms` (acknowledged within the window).
    pub(crate) fn len(&self, now_ms: i64) -> usize {
        let mut inner = lock(&self.inner);
        self.prune(&mut inner, now_ms);
        inner.by_key.len()
    }

    fn prune(&self, inner: &mut Inner, now_ms: i64) {
        while inner
            .order
            .front()
            .is_some_and(|r| self.expired(r.time_ms, now_ms))
        {
            pop_front(inner);
        }
    }
}

/// Forgets the oldest record; false when there is none.
fn pop_front(inner: &mut Inner) -> bool {
    let Some(old) = inner.order.pop_front() else {
        return false;
    };
    inner.bytes = inner.bytes.saturating_sub(old.bytes());
    if inner
        .by_key
        .get(&old.key)
        .is_some_and(|r| Arc::ptr_eq(r, &old))
    {
        inner.by_key.remove(&old.key);
    }
    true
}

/// The keys file of the frames a persist covered up to `lsn_max`, relative to the table
/// directory.
pub fn keys_file(lsn_max: u64) -> String {
    format!("idempotency/{lsn_max:020}.keys")
}

/// Writes `records` to `path`, atomically and durably.
pub fn write_keys_file(path: &Path, records: &[IdempotencyRecord]) -> Result<()> {
    let mut lines = Vec::new();
    for r in records {
        serde_json::to_writer(&mut lines, r)
            .map_err(|e| Error::Internal(format!("serialising an idempotency key: {e}")))?;
        lines.push(b'\n');
    }
    let mut out = Vec::with_capacity(16 + lines.len());
    out.extend_from_slice(KEYS_MAGIC);
    out.extend_from_slice(&KEYS_VERSION.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&lines).to_le_bytes());
    out.extend_from_slice(&lines);
    if let Some(dir) = path.parent() {
        crate::fsutil::create_dir_all(dir)?;
    }
    crate::fsutil::write_atomic(path, &out)
}

/// Reads a keys file, checking its magic, version and checksum.
pub fn read_keys_file(path: &Path) -> Result<Vec<IdempotencyRecord>> {
    let bytes = std::fs::read(path).map_err(crate::fsutil::io("read", path))?;
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    if bytes.len() < 16 || &bytes[..8] != KEYS_MAGIC {
        return Err(corrupt(
            "not an idempotency keys file (bad magic)".to_string(),
        ));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != KEYS_VERSION {
        return Err(corrupt(format!(
            "keys file version {version} is not {KEYS_VERSION}"
        )));
    }
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if crc32c::crc32c(&bytes[16..]) != crc {
        return Err(corrupt("keys file checksum mismatch".to_string()));
    }
    let mut out = Vec::new();
    for (i, line) in bytes[16..].split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let record = serde_json::from_slice(line)
            .map_err(|e| corrupt(format!("key on line {}: {e}", i + 1)))?;
        out.push(record);
    }
    Ok(out)
}

/// One keys file as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysFileEntry {
    /// The file, relative to the table directory.
    pub file: String,
    /// The newest acknowledgement time of its keys (epoch ms): the file expires with it.
    pub time_max_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, fingerprint: &str, time_ms: i64) -> IdempotencyRecord {
        IdempotencyRecord {
            key: key.to_string(),
            fingerprint: fingerprint.to_string(),
            time_ms,
            status: 200,
            response: format!("{{\"key\":\"{key}\"}}"),
        }
    }

    #[test]
    fn keys_are_validated_with_a_reason() {
        assert!(validate_key("order-42_retry.1~").is_ok());
        assert!(validate_key(&"k".repeat(KEY_BYTES_MAX)).is_ok());
        assert!(validate_key("").unwrap_err().contains("empty"));
        assert!(validate_key(&"k".repeat(KEY_BYTES_MAX + 1))
            .unwrap_err()
            .contains("256 bytes"));
        assert!(validate_key("a b").unwrap_err().contains("byte 1"));
        assert!(validate_key("é").is_err());
        assert!(validate_key("a\tb").is_err());
    }

    #[test]
    fn a_key_is_new_then_in_flight_then_replayed_or_mismatched_until_it_expires() {
        let keys = Keys::new(1000, 10);
        let guard = match keys.check("k", "f1", 0) {
            KeyCheck::New(guard) => guard,
            other => panic!("{other:?}"),
        };
        assert!(matches!(keys.check("k", "f1", 1), KeyCheck::InFlight));
        assert!(matches!(keys.check("k", "f2", 1), KeyCheck::InFlight));
        assert!(matches!(keys.check("other", "f1", 1), KeyCheck::New(_)));
        keys.insert(record("k", "f1", 5), 5);
        drop(guard);
        match keys.check("k", "f1", 10) {
            KeyCheck::Replay(r) => assert_eq!(r.response, "{\"key\":\"k\"}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(keys.check("k", "f2", 10), KeyCheck::Mismatch(_)));
        // 1000 ms after its acknowledgement the key is forgotten.
        assert!(matches!(keys.check("k", "f2", 1005), KeyCheck::New(_)));
        assert_eq!(keys.len(1005), 0);
        // A guard dropped without an insert (the request failed) frees the key for a retry.
        assert!(matches!(keys.check("k", "f1", 1006), KeyCheck::New(_)));
        assert!(matches!(keys.check("k", "f1", 1006), KeyCheck::New(_)));
    }

    #[test]
    fn past_the_count_bound_the_oldest_keys_go_first() {
        let keys = Keys::new(1_000_000, 3);
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            keys.insert(record(k, "f", i as i64), i as i64);
        }
        assert_eq!(keys.len(10), 3);
        assert!(matches!(keys.check("a", "f", 10), KeyCheck::New(_)));
        assert!(matches!(keys.check("d", "f", 10), KeyCheck::Replay(_)));
        // A record past the window is not loaded at all.
        keys.insert(record("old", "f", -2_000_000), 10);
        assert!(matches!(keys.check("old", "f", 10), KeyCheck::New(_)));
    }

    #[test]
    fn past_the_byte_bound_the_oldest_keys_go_first() {
        let mut keys = Keys::new(1_000_000, 1000);
        keys.bytes_max = 10_000;
        for i in 0..10 {
            let mut r = record(&format!("k{i}"), "f", i);
            r.response = "x".repeat(3000);
            keys.insert(r, i);
        }
        // Three records of about 3 KiB fit in 10,000 bytes.
        assert_eq!(keys.len(10), 3);
        assert!(matches!(keys.check("k6", "f", 10), KeyCheck::New(_)));
        assert!(matches!(keys.check("k7", "f", 10), KeyCheck::Replay(_)));
        assert!(lock(&keys.inner).bytes <= 10_000);
    }

    #[test]
    fn a_key_reused_after_expiry_keeps_its_new_record_when_the_old_one_is_pruned() {
        let keys = Keys::new(100, 10);
        keys.insert(record("k", "old", 0), 0);
        keys.insert(record("k", "new", 150), 150);
        // Pruning the old record (at the front) must not forget the new one.
        assert!(matches!(keys.check("k", "new", 160), KeyCheck::Replay(_)));
        assert_eq!(keys.len(160), 1);
    }

    mod table {
        use super::*;
        use crate::manifest::Manifest;
        use crate::testutil::temp_dir;
        use crate::{AppendMeta, Storage, StorageConfig, Table, TableDef, TableOptions};
        use arrow::array::{ArrayRef, Int64Array};
        use arrow::datatypes::{DataType, Field, Schema};
        use arrow::record_batch::RecordBatch;

        const HOUR_MS: i64 = 3_600_000;

        fn config() -> StorageConfig {
            StorageConfig {
                maintenance_interval: None,
                idempotency_window_ms: HOUR_MS as u64,
                ..StorageConfig::default()
            }
        }

        fn open(dir: &Path) -> Arc<Storage> {
            let storage = Storage::open(dir, config()).unwrap();
            if storage.table("t").is_err() {
                let def = TableDef {
                    name: "t".to_string(),
                    schema: Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)])),
                    options: TableOptions::default(),
                };
                storage.create_table(def, false).unwrap();
            }
            storage
        }

        fn now() -> i64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        }

        /// Appends `rows` rows as a request with `key` would: check, append with the record.
        fn append_keyed(t: &Table, key: &str, rows: i64, time_ms: i64) {
            let guard = match t.check_key(key, "fp") {
                KeyCheck::New(guard) => guard,
                other => panic!("{key}: {other:?}"),
            };
            let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
            let meta = AppendMeta {
                idempotency: Some(IdempotencyRecord {
                    key: key.to_string(),
                    fingerprint: "fp".to_string(),
                    time_ms,
                    status: 200,
                    response: format!("{{\"rows\":{rows}}}"),
                }),
                ..AppendMeta::default()
            };
            let batch = RecordBatch::try_from_iter([("a", a)]).unwrap();
            t.append_with(Some(batch), meta).unwrap();
            drop(guard);
        }

        fn replayed(t: &Table, key: &str) -> Option<String> {
            match t.check_key(key, "fp") {
                KeyCheck::Replay(r) => Some(r.response.clone()),
                KeyCheck::New(_) => None,
                other => panic!("{key}: {other:?}"),
            }
        }

        fn wal_kinds(dir: &Path) -> Vec<u8> {
            let (_, frames) = crate::wal::Wal::open(
                &dir.join("tables/1/wal"),
                "t",
                crate::FsyncPolicy::Always,
                1 << 20,
                0,
            )
            .unwrap();
            frames.iter().map(|f| f.kind).collect()
        }

        #[test]
        fn a_key_survives_replay_persist_and_log_truncation() {
            let dir = temp_dir("idem-durable");
            {
                let storage = open(&dir);
                let t = storage.table("t").unwrap();
                append_keyed(&t, "k1", 3, now());
                assert_eq!(replayed(&t, "k1").as_deref(), Some("{\"rows\":3}"));
                assert!(matches!(t.check_key("k1", "other"), KeyCheck::Mismatch(_)));
            }
            assert_eq!(
                wal_kinds(&dir),
                vec![crate::wal::FrameKind::BatchWithKey as u8]
            );
            {
                // Replayed from the log.
                let storage = open(&dir);
                let t = storage.table("t").unwrap();
                assert_eq!(replayed(&t, "k1").as_deref(), Some("{\"rows\":3}"));
                assert_eq!(t.snapshot().row_count(), 3);
                append_keyed(&t, "k2", 2, now());
                t.flush().unwrap();
                let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
                assert_eq!(manifest.idempotency_files.len(), 1);
                let file = dir
                    .join("tables/1")
                    .join(&manifest.idempotency_files[0].file);
                let keys: Vec<String> = read_keys_file(&file)
                    .unwrap()
                    .into_iter()
                    .map(|r| r.key)
                    .collect();
                assert_eq!(keys, vec!["k1", "k2"]);
                let text = std::fs::read_to_string(dir.join("tables/1/manifest.json")).unwrap();
                assert!(text.contains("\"version\": 4"), "{text}");
            }
            // The manifest covers every frame: without the log, the keys come from the keys
            // file alone (as after the log is truncated).
            std::fs::remove_dir_all(dir.join("tables/1/wal")).unwrap();
            let storage = open(&dir);
            let t = storage.table("t").unwrap();
            assert_eq!(replayed(&t, "k1").as_deref(), Some("{\"rows\":3}"));
            assert_eq!(replayed(&t, "k2").as_deref(), Some("{\"rows\":2}"));
            assert_eq!(replayed(&t, "k3"), None);
            assert_eq!(t.snapshot().row_count(), 5);
            assert_eq!(t.idempotency_keys(), 2);
        }

        #[test]
        fn a_torn_frame_loses_its_key_with_its_rows() {
            let dir = temp_dir("idem-torn");
            {
                let storage = open(&dir);
                let t = storage.table("t").unwrap();
                append_keyed(&t, "kept", 1, now());
                append_keyed(&t, "torn", 4, now());
            }
            let wal = dir.join("tables/1/wal");
            let file = crate::fsutil::read_dir(&wal).unwrap()[0].path();
            let bytes = std::fs::read(&file).unwrap();
            std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
            let storage = open(&dir);
            let t = storage.table("t").unwrap();
            assert!(replayed(&t, "kept").is_some());
            assert_eq!(replayed(&t, "torn"), None);
            assert_eq!(t.snapshot().row_count(), 1);
        }

        #[test]
        fn expired_keys_are_not_loaded_and_their_files_go_at_the_next_persist() {
            let dir = temp_dir("idem-expiry");
            let storage = open(&dir);
            let t = storage.table("t").unwrap();
            // Acknowledged almost a window ago: expires 300 ms from now.
            append_keyed(&t, "old", 1, now() - HOUR_MS + 300);
            append_keyed(&t, "fresh", 1, now());
            t.flush().unwrap();
            let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
            let first = manifest.idempotency_files[0].file.clone();
            assert!(dir.join("tables/1").join(&first).exists());
            std::thread::sleep(std::time::Duration::from_millis(400));
            assert_eq!(replayed(&t, "old"), None, "past the window");
            assert!(replayed(&t, "fresh").is_some());
            // The file still holds "fresh": it stays.
            append_keyed(&t, "newer", 1, now());
            t.flush().unwrap();
            let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
            assert_eq!(manifest.idempotency_files.len(), 2);
            drop(t);
            drop(storage);
            let storage = open(&dir);
            let t = storage.table("t").unwrap();
            assert_eq!(replayed(&t, "old"), None, "not loaded: past the window");
            assert!(replayed(&t, "fresh").is_some());
            assert!(replayed(&t, "newer").is_some());
        }

        #[test]
        fn a_keys_file_whose_keys_all_expired_is_dropped_by_the_next_persist() {
            let dir = temp_dir("idem-expiry-file");
            let storage = open(&dir);
            let t = storage.table("t").unwrap();
            append_keyed(&t, "old", 1, now() - HOUR_MS + 300);
            t.flush().unwrap();
            let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
            let old_file = dir
                .join("tables/1")
                .join(&manifest.idempotency_files[0].file);
            assert!(old_file.exists());
            std::thread::sleep(std::time::Duration::from_millis(400));
            t.append(
                RecordBatch::try_from_iter([(
                    "a",
                    Arc::new(Int64Array::from(vec![9])) as ArrayRef,
                )])
                .unwrap(),
            )
            .unwrap();
            t.flush().unwrap();
            let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
            assert!(manifest.idempotency_files.is_empty());
            assert!(!old_file.exists());
            let text = std::fs::read_to_string(dir.join("tables/1/manifest.json")).unwrap();
            assert!(text.contains("\"version\": 2"), "{text}");
        }

        #[test]
        fn an_unlisted_keys_file_is_an_orphan_removed_at_open() {
            let dir = temp_dir("idem-orphan");
            {
                let storage = open(&dir);
                let t = storage.table("t").unwrap();
                append_keyed(&t, "k", 1, now());
                t.flush().unwrap();
            }
            let orphan = dir.join("tables/1").join(keys_file(999));
            write_keys_file(&orphan, &[record("ghost", "fp", now())]).unwrap();
            let storage = open(&dir);
            let t = storage.table("t").unwrap();
            assert!(!orphan.exists());
            assert!(replayed(&t, "k").is_some());
            assert_eq!(replayed(&t, "ghost"), None);
        }
    }

    #[test]
    fn keys_files_round_trip_and_damage_is_reported() {
        let dir = crate::testutil::temp_dir("keys-file");
        let path = dir.join("idempotency/x.keys");
        let records = vec![record("a", "f", 1), record("b\"q", "g", 2)];
        write_keys_file(&path, &records).unwrap();
        assert_eq!(read_keys_file(&path).unwrap(), records);
        write_keys_file(&path, &[]).unwrap();
        assert!(read_keys_file(&path).unwrap().is_empty());
        write_keys_file(&path, &records).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_keys_file(&path).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        bytes[8] = 9;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_keys_file(&path)
            .unwrap_err()
            .to_string()
            .contains("version"));
    }
}
