//! The stable smoke run of the storage fuzz targets (`docs/fuzzing.md`): every committed seed and
//! regression input of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the
//! same harness function the `cargo fuzz` target calls. No cargo-fuzz, no nightly: plain
//! `cargo test`.
//!
//! `STRATA_WRITE_FUZZ_SEEDS=1 cargo test -p strata-storage --test fuzz_smoke write_seed_corpus` writes the
//! seed files of `wal_replay` and `metadata` again from the real write path.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::record_batch::RecordBatch;
use strata_storage::fuzzing::{
    committed_inputs, fix_wal_checksums, fuzz_config, fuzz_dir, fuzz_metadata, fuzz_table_def,
    fuzz_wal_replay, inputs_in, panicking, remove_scratch_dirs, seed_corpus_dir, FUZZ_TABLE,
};
use strata_storage::{AppendMeta, IngestError, Storage};

/// Runs `harness` over every committed input of `target`; fails naming each input that panics.
fn replay(target: &str, harness: fn(&[u8])) {
    let inputs = committed_inputs(target).unwrap_or_else(|e| panic!("reading fuzz/{target}: {e}"));
    assert!(
        !inputs.is_empty(),
        "fuzz/corpus/{target}/ holds no seed input"
    );
    let failed = panicking(&inputs, harness);
    remove_scratch_dirs();
    assert!(
        failed.is_empty(),
        "{target}: these inputs panic: {failed:#?}"
    );
}

#[test]
fn wal_replay_corpus_and_regressions_replay_without_panic() {
    replay("wal_replay", fuzz_wal_replay);
}

#[test]
fn metadata_corpus_and_regressions_replay_without_panic() {
    replay("metadata", fuzz_metadata);
}

/// Replays `fuzz/regressions/wal_replay/<name>` (a panic fails the test).
fn replay_wal_regression(name: &str) {
    let path = fuzz_dir().join("regressions").join("wal_replay").join(name);
    let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fuzz_wal_replay(&input);
    remove_scratch_dirs();
}

#[test]
fn wal_frame_with_an_ipc_buffer_past_its_body_is_damage_not_a_panic() {
    // Found by the wal_replay fuzz target: a log frame (checksum fixed up) whose Arrow IPC
    // record batch names a buffer far past the frame body; arrow-ipc panicked slicing it.
    replay_wal_regression("ipc-buffer-past-frame-body");
}

#[test]
fn wal_frame_with_a_partial_offsets_buffer_is_damage_not_a_panic() {
    // Found by the wal_replay fuzz target: a string column's offsets buffer that is not a whole
    // number of 4-byte offsets; arrow-data's validation asserted on it.
    replay_wal_regression("ipc-offsets-buffer-not-whole-values");
}

#[test]
fn wal_frame_with_a_union_column_is_damage_not_a_panic() {
    // Found by the wal_replay fuzz target (fourth campaign, 250 CPU s): a frame whose IPC schema
    // has a union whose type ids buffer is shorter than its length; arrow-ipc panicked slicing
    // it. Strata writes no union, so replay refuses the frame as damage.
    replay_wal_regression("ipc-union-type-ids-shorter-than-its-length");
}

#[test]
fn wal_frame_claiming_more_rows_than_its_body_holds_is_damage_not_a_panic() {
    // Found by the wal_replay fuzz target (fourth campaign, fork mode): a frame whose record
    // batch claims billions of rows with no column that takes bytes per row; replay filled the
    // table's other columns with that many NULLs (an overflow panic, or memory exhaustion).
    replay_wal_regression("ipc-batch-of-more-rows-than-its-body-holds");
}

fn rows(first_ms: i64, regions: &[Option<&str>]) -> RecordBatch {
    let n = regions.len();
    let times: Vec<i64> = (0..n as i64).map(|i| first_ms + i * 1000).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(times)),
        Arc::new(StringArray::from(regions.to_vec())),
        Arc::new(Int64Array::from(
            (0..n as i64)
                .map(|i| (i % 3 != 2).then_some(i * 7 - 5))
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(fuzz_table_def().schema, columns).unwrap_or_else(|e| panic!("{e}"))
}

fn write(dir: &Path, name: &str, parts: &[&[u8]]) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(name), parts.concat()).unwrap_or_else(|e| panic!("{e}"));
}

/// Writes the seed inputs of `wal_replay` and `metadata` from a data directory made by the real
/// write path: a log with a plain frame and a frame with source offsets and a dead letter, the
/// manifest and index sidecar of a flushed segment, the catalog.
///
/// They are run through their harnesses, and written to `fuzz/corpus` with
/// `STRATA_WRITE_FUZZ_SEEDS=1`.
#[test]
fn write_seed_corpus() {
    let data = std::env::temp_dir().join(format!("strata-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let storage = Storage::open(&data, fuzz_config()).unwrap_or_else(|e| panic!("{e}"));
    storage
        .create_table(fuzz_table_def(), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let table = storage.table(FUZZ_TABLE).unwrap_or_else(|e| panic!("{e}"));
    table
        .append(rows(1_714_521_600_000, &[Some("eu"), Some("us"), None]))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut meta = AppendMeta::default();
    meta.offsets
        .entry("clicks".to_string())
        .or_default()
        .insert(0, 42);
    let mut dead = IngestError::new("clicks", "not JSON", b"{oops");
    dead.partition = Some(0);
    dead.offset = Some(41);
    meta.errors.push(dead);
    table
        .append_with(
            Some(rows(1_714_608_000_000, &[Some("ap"), Some("eu")])),
            meta,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let table_dir = data.join("tables").join("1");
    let wal = std::fs::read(table_dir.join("wal").join(format!("{:020}.wal", 1)))
        .unwrap_or_else(|e| panic!("{e}"));
    let corpus = seed_corpus_dir("storage");
    let wal_dir = corpus.join("wal_replay");
    // Flags 0: checksums are recomputed by the harness; 1: the bytes as they are.
    write(&wal_dir, "two-frames-batch-and-meta", &[&[0], &wal]);
    write(&wal_dir, "two-frames-raw-checksums", &[&[1], &wal]);
    let mut torn = wal[..wal.len() - 7].to_vec();
    fix_wal_checksums(&mut torn);
    write(&wal_dir, "torn-last-frame", &[&[1], &torn]);
    write(&wal_dir, "header-only", &[&[0], &wal[..12]]);

    table.flush().unwrap_or_else(|e| panic!("{e}"));
    let meta_dir = corpus.join("metadata");
    let manifest = std::fs::read(table_dir.join("manifest.json")).unwrap_or_else(|e| panic!("{e}"));
    write(&meta_dir, "manifest-one-segment", &[&[0], &manifest]);
    let catalog = std::fs::read(data.join("catalog.json")).unwrap_or_else(|e| panic!("{e}"));
    write(&meta_dir, "catalog-one-table", &[&[1], &catalog]);
    let mut sidecars = Vec::new();
    for entry in std::fs::read_dir(table_dir.join("segments")).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_some_and(|e| e == "idx") {
            sidecars.push(std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    assert!(!sidecars.is_empty(), "the flush wrote no index sidecar");
    for (i, idx) in sidecars.iter().enumerate() {
        // Selector 2, then the sidecar harness's flags byte (0: fix the footer checksum).
        write(&meta_dir, &format!("index-sidecar-{i}"), &[&[2, 0], idx]);
    }
    drop(table);
    drop(storage);
    let _ = std::fs::remove_dir_all(&data);
    let seeds = inputs_in(&corpus, "wal_replay").unwrap_or_else(|e| panic!("{e}"));
    let failed = panicking(&seeds, fuzz_wal_replay);
    assert!(
        failed.is_empty(),
        "these wal_replay seeds panic: {failed:#?}"
    );
    let seeds = inputs_in(&corpus, "metadata").unwrap_or_else(|e| panic!("{e}"));
    let failed = panicking(&seeds, fuzz_metadata);
    assert!(failed.is_empty(), "these metadata seeds panic: {failed:#?}");
    remove_scratch_dirs();
    if corpus != fuzz_dir().join("corpus") {
        let _ = std::fs::remove_dir_all(&corpus);
    }
}
