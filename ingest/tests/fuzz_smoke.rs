//! The stable smoke run of the ingest fuzz targets (`docs/fuzzing.md`): every committed seed and
//! regression input of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the
//! same harness function the `cargo fuzz` target calls. No cargo-fuzz, no nightly: plain
//! `cargo test`.
//!
//! `STRATA_WRITE_FUZZ_SEEDS=1 cargo test -p strata-ingest --test fuzz_smoke write_seed_corpus` writes the
//! Arrow IPC and Parquet seed files again (the NDJSON and CSV seeds are written by hand).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use strata_ingest::fuzzing::{fuzz_arrow_ipc, fuzz_csv, fuzz_ndjson, fuzz_parquet};
use strata_ingest::{decode, Error, Format};
use strata_storage::fuzzing::{committed_inputs, fuzz_dir, inputs_in, panicking, seed_corpus_dir};

/// Runs `harness` over every committed input of `target`; fails naming each input that panics.
fn replay(target: &str, harness: fn(&[u8])) {
    let inputs = committed_inputs(target).unwrap_or_else(|e| panic!("reading fuzz/{target}: {e}"));
    assert!(
        !inputs.is_empty(),
        "fuzz/corpus/{target}/ holds no seed input"
    );
    let failed = panicking(&inputs, harness);
    assert!(
        failed.is_empty(),
        "{target}: these inputs panic: {failed:#?}"
    );
}

#[test]
fn ndjson_corpus_and_regressions_replay_without_panic() {
    replay("ndjson", fuzz_ndjson);
}

#[test]
fn csv_corpus_and_regressions_replay_without_panic() {
    replay("csv", fuzz_csv);
}

#[test]
fn arrow_ipc_corpus_and_regressions_replay_without_panic() {
    replay("arrow_ipc", fuzz_arrow_ipc);
}

#[test]
fn parquet_corpus_and_regressions_replay_without_panic() {
    replay("parquet", fuzz_parquet);
}

/// A regression input of `target` (`fuzz/regressions/<target>/<name>`).
fn regression(target: &str, name: &str) -> Vec<u8> {
    let path = fuzz_dir().join("regressions").join(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn arrow_ipc_buffer_past_message_body_is_refused_not_a_panic() {
    // A record batch whose buffer offset + length points 4 TiB past its 192-byte body: arrow-ipc
    // sliced the body with it and panicked.
    let body = regression("arrow_ipc", "buffer-past-message-body");
    let err = decode(Format::ArrowIpc, &body, None, &Default::default()).err();
    assert!(
        matches!(&err, Some(Error::Ipc { reason }) if reason.contains("outside the message body")),
        "{err:?}"
    );
}

#[test]
fn arrow_ipc_offsets_buffer_of_partial_offsets_is_refused_not_a_panic() {
    // A string column whose offsets buffer is not a whole number of 4-byte offsets: arrow-data's
    // offset validation asserted on it (`typed_data::<i32>`).
    let body = regression("arrow_ipc", "offsets-buffer-not-whole-values");
    let err = decode(Format::ArrowIpc, &body, None, &Default::default()).err();
    assert!(
        matches!(&err, Some(Error::Ipc { reason }) if reason.contains("whole number")),
        "{err:?}"
    );
}

#[test]
fn arrow_ipc_partial_offsets_in_a_message_with_too_few_buffers_is_refused_not_a_panic() {
    // A Binary column whose offsets buffer is 26 bytes, in a record batch listing fewer buffers
    // than its schema takes: the check skipped such messages (the reader builds the first column
    // before it misses a buffer, and arrow-data asserted on the partial offsets). Found in fork
    // mode by the fourth fuzz campaign. (Its batch also claims more rows than its body holds,
    // which is refused first now.)
    let body = regression("arrow_ipc", "offsets-buffer-partial-with-too-few-buffers");
    let err = decode(Format::ArrowIpc, &body, None, &Default::default()).err();
    assert!(
        matches!(&err, Some(Error::Ipc { reason }) if (reason.contains("whole number") || reason.contains("rows in a body"))),
        "{err:?}"
    );
}

#[test]
fn arrow_ipc_union_column_is_refused_not_a_panic() {
    // A dense union whose type ids buffer is shorter than its length: arrow-ipc 60 sliced it
    // unchecked and panicked (found by the fourth fuzz campaign).
    let body = regression("arrow_ipc", "union-type-ids-shorter-than-its-length");
    let err = decode(Format::ArrowIpc, &body, None, &Default::default()).err();
    assert!(
        matches!(&err, Some(Error::Ipc { reason }) if reason.contains("union type")),
        "{err:?}"
    );
}

#[test]
fn parquet_negative_column_chunk_start_is_refused_not_a_panic() {
    // A footer whose column chunk starts at a negative offset: parquet asserted and panicked.
    let body = regression("parquet", "negative-column-chunk-start");
    let err = decode(Format::Parquet, &body, None, &Default::default()).err();
    assert!(
        matches!(&err, Some(Error::Parquet { reason }) if reason.contains("outside the file")),
        "{err:?}"
    );
}

#[test]
fn parquet_page_decoder_panic_is_an_invalid_body() {
    // A data page whose definition levels run past the null bitmap: parquet 60's page decoder
    // panics inside, where no check of the file can see it first; the panic is caught and the
    // body refused (it was a 500 from a failed ingest task).
    let body = regression("parquet", "definition-levels-past-null-bitmap");
    let err = decode(Format::Parquet, &body, None, &Default::default()).err();
    assert!(
        matches!(&err, Some(Error::Parquet { reason }) if reason.contains("malformed")),
        "{err:?}"
    );
}

#[test]
fn binary_seeds_decode_past_the_prechecks() {
    // The checks in front of arrow-ipc and parquet must not refuse what their writers produce.
    for (target, format) in [
        ("arrow_ipc", Format::ArrowIpc),
        ("parquet", Format::Parquet),
    ] {
        let dir = fuzz_dir().join("corpus").join(target);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            let decoded = decode(format, &body, None, &Default::default());
            assert!(decoded.is_ok(), "{}: {:?}", path.display(), decoded.err());
        }
    }
}

#[test]
fn parquet_footer_listing_billions_of_booleans_is_refused_quickly() {
    // A 2.8 KB file whose footer holds unknown fields that are lists of up to 2^31 booleans:
    // parquet skipped them element by element without reading a byte, 20 s of CPU per body.
    let body = regression("parquet", "footer-list-of-billions-of-booleans");
    let started = std::time::Instant::now();
    let err = decode(Format::Parquet, &body, None, &Default::default()).err();
    assert!(matches!(&err, Some(Error::Parquet { .. })), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

/// The batches the binary seeds hold: the table schema of the harness (every kind of column
/// ingest stores), and a batch of types ingest normalises (nanosecond timestamps, small ints).
fn seed_batches() -> Vec<RecordBatch> {
    let table = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("region", DataType::Utf8, true),
        Field::new("value", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new("day", DataType::Date32, true),
        Field::new("small", DataType::Int32, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(vec![
            1_714_521_600_000,
            1_714_521_601_000,
            1_714_521_602_000,
        ])),
        Arc::new(StringArray::from(vec![Some("eu"), None, Some("us")])),
        Arc::new(Int64Array::from(vec![Some(1), Some(i64::MIN), None])),
        Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-0.0)])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        Arc::new(Date32Array::from(vec![Some(19_844), None, Some(0)])),
        Arc::new(Int32Array::from(vec![Some(7), Some(i32::MAX), None])),
    ];
    let first = RecordBatch::try_new(table, columns).unwrap_or_else(|e| panic!("{e}"));
    let other = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("code", DataType::Int16, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(vec![Some(1), None])),
        Arc::new(arrow::array::Int16Array::from(vec![Some(-3), Some(300)])),
    ];
    let second = RecordBatch::try_new(other, columns).unwrap_or_else(|e| panic!("{e}"));
    vec![first, second]
}

fn ipc_stream(batches: &[&RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batches[0].schema())
        .unwrap_or_else(|e| panic!("{e}"));
    for batch in batches {
        writer.write(batch).unwrap_or_else(|e| panic!("{e}"));
    }
    writer.finish().unwrap_or_else(|e| panic!("{e}"));
    drop(writer);
    out
}

fn parquet_file(batch: &RecordBatch, dictionary: bool) -> Vec<u8> {
    // The dictionary seed is ZSTD-compressed (as segment files are), the other plain.
    let compression = if dictionary {
        parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::default())
    } else {
        parquet::basic::Compression::UNCOMPRESSED
    };
    let props = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(dictionary)
        .set_compression(compression)
        .set_max_row_group_row_count(Some(2))
        .build();
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
        .unwrap_or_else(|e| panic!("{e}"));
    writer.write(batch).unwrap_or_else(|e| panic!("{e}"));
    writer.close().unwrap_or_else(|e| panic!("{e}"));
    out
}

/// The Arrow and Parquet seeds, made by the arrow writers, run through their harnesses (and
/// written to `fuzz/corpus` with `STRATA_WRITE_FUZZ_SEEDS=1`).
#[test]
fn write_seed_corpus() {
    let batches = seed_batches();
    let corpus = seed_corpus_dir("ingest");
    let write = |target: &str, name: &str, bytes: Vec<u8>| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
    };
    let first = &batches[0];
    write(
        "arrow_ipc",
        "table-schema-two-batches",
        ipc_stream(&[first, &first.slice(1, 2)]),
    );
    write(
        "arrow_ipc",
        "nanosecond-time-int16",
        ipc_stream(&[&batches[1]]),
    );
    write(
        "parquet",
        "table-schema-dictionary",
        parquet_file(first, true),
    );
    write("parquet", "table-schema-plain", parquet_file(first, false));
    write(
        "parquet",
        "nanosecond-time-int16",
        parquet_file(&batches[1], true),
    );
    let seeds = inputs_in(&corpus, "arrow_ipc").unwrap_or_else(|e| panic!("{e}"));
    let failed = panicking(&seeds, fuzz_arrow_ipc);
    assert!(
        failed.is_empty(),
        "these arrow_ipc seeds panic: {failed:#?}"
    );
    let seeds = inputs_in(&corpus, "parquet").unwrap_or_else(|e| panic!("{e}"));
    let failed = panicking(&seeds, fuzz_parquet);
    assert!(failed.is_empty(), "these parquet seeds panic: {failed:#?}");
    if corpus != fuzz_dir().join("corpus") {
        let _ = std::fs::remove_dir_all(&corpus);
    }
}
