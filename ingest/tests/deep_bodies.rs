//! Bodies whose schema nests deeply are refused on an ordinary thread's stack (2 MiB, what a
//! tokio blocking thread has), not by a stack overflow that aborts the server.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use strata_ingest::{decode, Format, Limits};

/// Builds a body on a thread with a large stack (the writers recurse too), decodes it on a
/// 2 MiB one, and returns the error code.
fn decode_on_small_stack(build: fn(usize) -> Vec<u8>, depth: usize, format: Format) -> String {
    let body = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || build(depth))
        .unwrap()
        .join()
        .unwrap();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(
            move || match decode(format, &body, None, &Limits::default()) {
                Ok(_) => "OK".to_string(),
                Err(e) => e.code().to_string(),
            },
        )
        .unwrap()
        .join()
        .expect("decoding must not overflow the stack")
}

fn nested_parquet(depth: usize) -> Vec<u8> {
    use parquet::basic::{Repetition, Type as PhysicalType};
    use parquet::schema::types::Type;
    let mut t = Type::primitive_type_builder("leaf", PhysicalType::INT32)
        .with_repetition(Repetition::OPTIONAL)
        .build()
        .unwrap();
    for i in 0..depth {
        t = Type::group_type_builder(&format!("g{i}"))
            .with_repetition(Repetition::OPTIONAL)
            .with_fields(vec![Arc::new(t)])
            .build()
            .unwrap();
    }
    let schema = Type::group_type_builder("schema")
        .with_fields(vec![Arc::new(t)])
        .build()
        .unwrap();
    let mut out = Vec::new();
    let props = Arc::new(parquet::file::properties::WriterProperties::builder().build());
    parquet::file::writer::SerializedFileWriter::new(&mut out, Arc::new(schema), props)
        .unwrap()
        .close()
        .unwrap();
    out
}

fn nested_arrow(depth: usize) -> Vec<u8> {
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    let mut dt = DataType::Int32;
    for i in 0..depth {
        dt = DataType::Struct(Fields::from(vec![Field::new(format!("f{i}"), dt, true)]));
    }
    let schema = Arc::new(Schema::new(vec![Field::new("x", dt, true)]));
    let mut out = Vec::new();
    arrow::ipc::writer::StreamWriter::try_new(&mut out, &schema)
        .unwrap()
        .finish()
        .unwrap();
    out
}

#[test]
fn a_parquet_schema_3000_groups_deep_is_refused_without_overflowing() {
    // 35 KB: the parquet crate's recursive schema conversion overflowed a 2 MiB stack.
    let code = decode_on_small_stack(nested_parquet, 3_000, Format::Parquet);
    assert_eq!(code, "NESTING_TOO_DEEP");
}

#[test]
fn an_arrow_schema_10000_structs_deep_is_refused_without_overflowing() {
    let code = decode_on_small_stack(nested_arrow, 10_000, Format::ArrowIpc);
    assert_eq!(code, "INVALID_BODY");
}
