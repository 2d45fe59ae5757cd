//! Fuzz harnesses: the bodies of the `cargo fuzz` targets in `fuzz/` that read this crate's
//! files back (see `docs/fuzzing.md`).
//!
//! A damaged file on disk (a torn write, a bad sector, an operator's mistake) must make
//! [`Storage::open`] return an error or the intact prefix, never panic and never allocate what a
//! length field claims. Each harness writes the fuzzed bytes where the file lives in a scratch
//! data directory (under `/dev/shm` when there is one, so fsyncs are cheap) and opens the
//! storage over it with the real code. The same functions replay the committed corpus in
//! `cargo test` (`storage/tests/fuzz_smoke.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema};

use crate::index::{BlockIndex, IndexLookup};
use crate::types::TIMESTAMP_TYPE;
use crate::{FsyncPolicy, Storage, StorageConfig, TableDef, TableOptions};

/// The `fuzz/` directory of the repository this crate was built from: its `corpus/<target>/`
/// holds the committed seed inputs of each target, `regressions/<target>/` the inputs that once
/// crashed it.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
}

/// Where a seed-writing test (`write_seed_corpus` in each crate's `tests/fuzz_smoke.rs`) puts
/// the seeds it makes with the real write path: the committed `fuzz/corpus` when
/// `STRATA_WRITE_FUZZ_SEEDS=1` (to refresh it after a format change), else a scratch directory
/// that the test replays, so that the seeds today's write path makes are run through the
/// harness in every test run.
pub fn seed_corpus_dir(tag: &str) -> PathBuf {
    if std::env::var_os("STRATA_WRITE_FUZZ_SEEDS").is_some_and(|v| v == "1") {
        return fuzz_dir().join("corpus");
    }
    std::env::temp_dir().join(format!("strata-fuzz-seeds-{tag}-{}", std::process::id()))
}

/// The paths of the `inputs` on which `harness` panics (what a smoke test asserts is empty).
pub fn panicking(inputs: &[(PathBuf, Vec<u8>)], harness: impl Fn(&[u8])) -> Vec<String> {
    inputs
        .iter()
        .filter(|(_, bytes)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| harness(bytes))).is_err()
        })
        .map(|(path, _)| path.display().to_string())
        .collect()
}

/// The files of `dir/target`, sorted by name, with their bytes.
pub fn inputs_in(dir: &Path, target: &str) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(target))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p, b)))
        .collect()
}

/// Every committed input of fuzz target `target`, seeds then regressions, each sorted by file
/// name, with its path (the smoke tests replay them). A missing directory holds nothing.
///
/// # Errors
/// An entry of either directory that cannot be read.
pub fn committed_inputs(target: &str) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry?.path();
            // `.gitkeep` and the like keep an empty folder in git; they are not inputs.
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !hidden {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path)?;
            inputs.push((path, bytes));
        }
    }
    Ok(inputs)
}

/// The name of the one table of the scratch data directory.
pub const FUZZ_TABLE: &str = "t";

/// The definition of [`FUZZ_TABLE`]: a time column, an indexed string, an integer. The seed
/// logs of `fuzz/corpus/wal_replay` hold rows of this shape.
pub fn fuzz_table_def() -> TableDef {
    TableDef {
        name: FUZZ_TABLE.to_string(),
        schema: Arc::new(Schema::new(vec![
            Field::new("time", TIMESTAMP_TYPE, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("value", DataType::Int64, true),
        ])),
        options: TableOptions {
            time_column: Some("time".to_string()),
            indexes: Some(vec!["region".to_string()]),
            ..Default::default()
        },
    }
}

/// The storage settings of the harnesses: no fsync, no background thread, a small cache.
pub fn fuzz_config() -> StorageConfig {
    StorageConfig {
        fsync: FsyncPolicy::Never,
        maintenance_interval: None,
        cache_bytes: 1 << 20,
        ..Default::default()
    }
}

/// The `catalog.json` of a data directory holding [`FUZZ_TABLE`] with id 1, made once per
/// process by the real [`Storage::create_table`].
fn template_catalog() -> &'static [u8] {
    static CATALOG: OnceLock<Vec<u8>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let dir = scratch_dir("template");
        let storage = Storage::open(&dir, fuzz_config()).unwrap_or_else(|e| panic!("{e}"));
        storage
            .create_table(fuzz_table_def(), false)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(storage);
        std::fs::read(dir.join("catalog.json")).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A fresh, empty directory for this process (the same path each call with the same tag, wiped
/// first, so a long fuzzing run does not fill the disk).
fn scratch_dir(tag: &str) -> PathBuf {
    let dir = scratch_base().join(format!("{tag}-{}", thread_number()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Deletes this thread's scratch directories (the smoke test calls it when done; a fuzzing run
/// reuses the same few directories, so it leaves one small set behind).
pub fn remove_scratch_dirs() {
    let suffix = format!("-{}", thread_number());
    if let Ok(entries) = std::fs::read_dir(scratch_base()) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(scratch_base());
}

/// One directory per thread: the smoke tests run harnesses on parallel threads.
fn thread_number() -> String {
    let thread = format!("{:?}", std::thread::current().id());
    thread.chars().filter(char::is_ascii_digit).collect()
}

fn scratch_base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        root.join(format!("strata-fuzz-{}", std::process::id()))
    })
}

/// A data directory with [`FUZZ_TABLE`] (id 1) and nothing else; returns it and the table's
/// directory.
fn table_data_dir(tag: &str) -> (PathBuf, PathBuf) {
    let catalog = template_catalog();
    let dir = scratch_dir(tag);
    let table = dir.join("tables").join("1");
    std::fs::create_dir_all(table.join("wal")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("catalog.json"), catalog).unwrap_or_else(|e| panic!("{e}"));
    (dir, table)
}

/// Opens the storage in `dir`; on success, the row count of every table (sorted by name).
fn open_and_count(dir: &Path) -> Option<Vec<(String, usize)>> {
    let storage = Storage::open(dir, fuzz_config()).ok()?;
    let mut counts = Vec::new();
    for name in storage.table_names() {
        let Ok(table) = storage.table(&name) else {
            continue;
        };
        let snapshot = table.snapshot();
        // Reading every batch back checks that what replay kept is whole.
        let rows: usize = snapshot
            .read_all()
            .map(|b| b.iter().map(|b| b.num_rows()).sum())
            .unwrap_or(0);
        assert_eq!(rows, snapshot.row_count(), "snapshot rows disagree");
        counts.push((name, rows));
    }
    Some(counts)
}

/// Recomputes the CRC-32C of every whole frame of a log file (`docs/format.md`), so that
/// mutated lengths, kinds, LSNs and bodies get past the checksum to the code behind it.
pub fn fix_wal_checksums(log: &mut [u8]) {
    let mut pos = 12;
    while pos + 8 <= log.len() {
        let len = u32::from_le_bytes([log[pos], log[pos + 1], log[pos + 2], log[pos + 3]]) as usize;
        let start = pos + 8;
        let Some(end) = start.checked_add(len).filter(|&e| e <= log.len()) else {
            break;
        };
        let crc = crc32c::crc32c(&log[start..end]);
        log[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

/// Replays a damaged write-ahead log. `data` is one flags byte, then the bytes of the table's
/// only log file. Flags bit 0 clear: the frame checksums are recomputed first (so the fuzzer
/// reaches frame bodies: the Arrow IPC stream and the source metadata); set: the bytes are
/// written as they are (checksum and torn-tail handling). A log that opened once must open
/// again with the same rows (the first open cut the damaged tail off for good).
pub fn fuzz_wal_replay(data: &[u8]) {
    let Some((&flags, log)) = data.split_first() else {
        return;
    };
    let mut log = log.to_vec();
    if flags & 1 == 0 {
        fix_wal_checksums(&mut log);
    }
    let (dir, table) = table_data_dir("wal");
    let path = table.join("wal").join(format!("{:020}.wal", 1));
    std::fs::write(&path, &log).unwrap_or_else(|e| panic!("{e}"));
    if let Some(first) = open_and_count(&dir) {
        let second = open_and_count(&dir);
        assert_eq!(
            Some(&first),
            second.as_ref(),
            "a log that replayed once must replay again to the same rows"
        );
    }
}

/// The metadata readers of a data directory, one fuzz target for three files: the first byte
/// of `data` picks the reader (its value modulo 3: 0 the table's `manifest.json`
/// ([`fuzz_manifest`]), 1 the data directory's `catalog.json` ([`fuzz_catalog`]), 2 a bitmap index
/// sidecar ([`fuzz_index_sidecar`])); the rest is that reader's input.
pub fn fuzz_metadata(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => fuzz_manifest(rest),
        1 => fuzz_catalog(rest),
        _ => fuzz_index_sidecar(rest),
    }
}

/// Opens a table whose `manifest.json` is `data`.
pub fn fuzz_manifest(data: &[u8]) {
    let (dir, table) = table_data_dir("manifest");
    std::fs::write(crate::manifest::Manifest::path(&table), data).unwrap_or_else(|e| panic!("{e}"));
    let _ = crate::manifest::Manifest::load(&table);
    let _ = open_and_count(&dir);
}

/// Opens a data directory whose `catalog.json` is `data`.
pub fn fuzz_catalog(data: &[u8]) {
    let dir = scratch_dir("catalog");
    std::fs::write(dir.join("catalog.json"), data).unwrap_or_else(|e| panic!("{e}"));
    if let Some(first) = open_and_count(&dir) {
        // Opening creates the directories of the listed tables; a second open sees the same.
        let second = open_and_count(&dir);
        assert_eq!(
            Some(&first),
            second.as_ref(),
            "a catalog that opened once must again"
        );
    }
}

/// Parses a bitmap index sidecar. `data` is one flags byte, then the file. Flags bit 0 clear:
/// the footer checksum is recomputed first (so the fuzzer reaches the column parser). What
/// parses must answer lookups and serialise back to an index that parses to the same value.
pub fn fuzz_index_sidecar(data: &[u8]) {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 1 == 0 && file.len() >= 12 {
        let end = file.len() - 12;
        let crc = crc32c::crc32c(&file[..end]);
        file[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let path = Path::new("fuzzed.idx");
    let Ok(index) = BlockIndex::from_bytes(&file, path) else {
        return;
    };
    let values: Vec<String> = index
        .columns
        .values()
        .flat_map(|c| c.values().iter().take(2).cloned())
        .collect();
    for (name, column) in &index.columns {
        let mut lookups = vec![IndexLookup::IsNull, IndexLookup::IsNotNull];
        lookups.push(IndexLookup::In(values.clone()));
        for v in &values {
            lookups.push(IndexLookup::Eq(v.clone()));
            lookups.push(IndexLookup::Prefix(v.chars().take(1).collect()));
        }
        for lookup in &lookups {
            let rows = column.lookup(lookup);
            assert!(
                rows.max().is_none_or(|r| r < index.rows),
                "index of {name} answers a row past the block"
            );
            assert!(index.lookup(name, lookup).is_some());
        }
    }
    let bytes = index.to_bytes().unwrap_or_else(|e| panic!("{e}"));
    let back = BlockIndex::from_bytes(&bytes, path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, index, "an index must survive its own round trip");
}
