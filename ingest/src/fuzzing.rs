//! Fuzz harnesses: the bodies of the `cargo fuzz` targets in `fuzz/` (see `docs/fuzzing.md`).
//!
//! Each function takes arbitrary bytes as an HTTP ingest body and runs them through the real
//! decode paths: with no table schema (type inference, then the definition of the table ingest
//! would create, validated as `Storage::create_table` validates it), against a fixed table
//! schema, and through the skip-bad-rows loop. A function returns normally for any input that
//! gets an error or rows; a panic is a bug. The same functions replay the committed corpus in
//! `cargo test` (`ingest/tests/fuzz_smoke.rs`).

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use strata_storage::types::TIMESTAMP_TYPE;

use crate::{decode, decode_skipping_bad_rows, Decoded, Format};

/// Bad lines the skip-bad-rows pass may leave out before it fails the body (a small number:
/// each one costs a decode of the rest of the body).
const SKIP_ERRORS_MAX: usize = 8;

/// The table schema bodies are also decoded against: one column of each kind ingest handles.
fn table_schema() -> &'static SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("time", TIMESTAMP_TYPE, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("value", DataType::Int64, true),
            Field::new("price", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("day", DataType::Date32, true),
            Field::new("small", DataType::Int32, true),
        ]))
    })
}

/// An NDJSON body (`Format::NdJson`).
pub fn fuzz_ndjson(body: &[u8]) {
    fuzz_body(Format::NdJson, body);
}

/// A CSV body (`Format::Csv`).
pub fn fuzz_csv(body: &[u8]) {
    fuzz_body(Format::Csv, body);
}

/// An Arrow IPC stream body (`Format::ArrowIpc`).
pub fn fuzz_arrow_ipc(body: &[u8]) {
    fuzz_body(Format::ArrowIpc, body);
}

/// A Parquet file body (`Format::Parquet`).
pub fn fuzz_parquet(body: &[u8]) {
    fuzz_body(Format::Parquet, body);
}

/// The server's default limits, but a decoded size a fuzzer's memory limit can take: a body
/// that gets past a limit is a finding.
fn limits() -> crate::Limits {
    crate::Limits {
        decoded_bytes_max: 64 << 20,
        ..crate::Limits::default()
    }
}

fn fuzz_body(format: Format, body: &[u8]) {
    // No table yet: infer the schema, then the definition the new table would get.
    if let Ok(decoded) = decode(format, body, None, &limits()) {
        check_decoded(&decoded);
        if let Ok(def) = decoded.table_def("fuzzed").validated() {
            // The table just created from this body must take the same body again (the next
            // request of the same client). Only NDJSON and CSV read against the schema.
            if matches!(format, Format::NdJson | Format::Csv) {
                let again = decode(format, body, Some(&def.schema), &limits());
                if let Ok(d) = &again {
                    check_decoded(d);
                }
            }
        }
    }
    // An existing table.
    if let Ok(decoded) = decode(format, body, Some(table_schema()), &limits()) {
        check_decoded(&decoded);
    }
    // `?on_error=skip`, with and without a table.
    for schema in [None, Some(table_schema())] {
        if let Ok((decoded, errors)) =
            decode_skipping_bad_rows(format, body, schema, &limits(), SKIP_ERRORS_MAX)
        {
            assert!(
                errors.len() <= SKIP_ERRORS_MAX,
                "more skipped rows than allowed"
            );
            let lines = body.split(|&b| b == b'\n').count();
            if matches!(format, Format::NdJson | Format::Csv) {
                assert!(
                    errors.iter().all(|e| e.line >= 1 && e.line <= lines),
                    "a skipped row names a line outside the body"
                );
            }
            if let Some(d) = &decoded {
                check_decoded(d);
            }
        }
    }
}

/// What every decoded body must satisfy: columns as long as the batch, the time column (if any)
/// one of its columns.
fn check_decoded(decoded: &Decoded) {
    let batch = &decoded.batch;
    for column in batch.columns() {
        assert_eq!(
            column.len(),
            batch.num_rows(),
            "a column of the wrong length"
        );
    }
    if let Some(tc) = &decoded.time_column {
        assert!(
            batch.schema().field_with_name(tc).is_ok(),
            "time column {tc:?} is not a column of the batch"
        );
    }
}
