//! # strata-ingest: bytes in, Arrow batches out
//!
//! A request body arrives from HTTP (or, later, a Kafka message or a file) together with the
//! table it is for. This crate turns it into one Arrow [`RecordBatch`] that
//! [`strata_storage::Table::append`] can store, or into a precise error that names the line, the
//! column and the reason, so that a bad request changes nothing.
//!
//! ```text
//!  body (NDJSON | CSV | Arrow IPC) + the table's schema, if the table exists
//!     |
//!     |  fast path: arrow's vectorized decoders against the known schema
//!     |  slow path (only when the fast path fails): line by line, to find new
//!     |  columns (schema evolution) or to say exactly which line is wrong
//!     v
//!  Decoded { batch, time_column }  ->  storage (log, live segment)
//! ```
//!
//! Type inference for a new table: JSON integers become BIGINT, other numbers DOUBLE, booleans
//! BOOLEAN, strings VARCHAR. A field named `time`, `timestamp` or `__time` whose values are all
//! RFC 3339 strings or integers (epoch milliseconds) becomes the table's NOT NULL TIMESTAMP time
//! column. Nested objects and arrays are refused with an error (flatten them first).

mod csv;
mod error;
mod json;
pub mod kafka;

pub use error::{Error, Result};

use std::io::Cursor;

use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::record_batch::RecordBatch;
use strata_storage::types::TIMESTAMP_TYPE;

/// Field names that make a column the time column of a table created by ingest.
pub const TIME_COLUMN_NAMES: [&str; 3] = ["time", "timestamp", "__time"];

/// The body formats Strata ingests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Newline-delimited JSON objects (`application/x-ndjson`, `application/json`).
    NdJson,
    /// CSV with a header row (`text/csv`).
    Csv,
    /// An Arrow IPC stream (`application/vnd.apache.arrow.stream`).
    ArrowIpc,
}

impl Format {
    /// The format for an HTTP `Content-Type` (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/json"
            | "application/x-jsonlines" => Some(Format::NdJson),
            "text/csv" | "application/csv" => Some(Format::Csv),
            "application/vnd.apache.arrow.stream" => Some(Format::ArrowIpc),
            _ => None,
        }
    }

    /// The `Content-Type` to send a body of this format with.
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::NdJson => "application/x-ndjson",
            Format::Csv => "text/csv",
            Format::ArrowIpc => "application/vnd.apache.arrow.stream",
        }
    }
}

/// A decoded request body.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The rows. Its schema holds the body's columns (a subset of, or more than, the table's:
    /// storage matches them by name and adds new ones).
    pub batch: RecordBatch,
    /// For a body decoded without a table schema: the column that should become the time
    /// column of the new table.
    pub time_column: Option<String>,
}

/// Decodes `body` for a table whose current schema is `schema` (`None` when the table does not
/// exist yet and will be created from the body).
pub fn decode(format: Format, body: &[u8], schema: Option<&SchemaRef>) -> Result<Decoded> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyBody);
    }
    match format {
        Format::NdJson => json::decode(body, schema),
        Format::Csv => csv::decode(body, schema),
        Format::ArrowIpc => decode_ipc(body),
    }
}

fn decode_ipc(body: &[u8]) -> Result<Decoded> {
    let bad = |e: arrow::error::ArrowError| Error::Ipc {
        reason: e.to_string(),
    };
    let reader = StreamReader::try_new(Cursor::new(body), None).map_err(bad)?;
    let schema = reader.schema();
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(bad)?);
    }
    let batch = concat_batches(&schema, &batches).map_err(bad)?;
    let batch = normalise_types(batch).map_err(bad)?;
    let time_column = schema
        .fields()
        .iter()
        .find(|f| is_time_name(f.name()) && f.data_type() == &TIMESTAMP_TYPE)
        .map(|f| f.name().clone());
    Ok(Decoded { batch, time_column })
}

/// Casts columns of types Strata does not store into the nearest type it does (timestamps of
/// any unit to milliseconds, large and view strings to strings, small integers widened).
pub fn normalise_types(
    batch: RecordBatch,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    let mut changed = false;
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        let target = match f.data_type() {
            DataType::Timestamp(_, _) => TIMESTAMP_TYPE,
            DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => DataType::Utf8,
            DataType::Int8 | DataType::UInt8 => DataType::Int16,
            DataType::UInt16 => DataType::Int32,
            DataType::UInt32 | DataType::UInt64 => DataType::Int64,
            DataType::Float16 => DataType::Float32,
            DataType::Date64 => DataType::Date32,
            other => other.clone(),
        };
        if &target != f.data_type() {
            changed = true;
            columns.push(arrow::compute::cast(c, &target)?);
            fields.push(f.as_ref().clone().with_data_type(target));
        } else {
            columns.push(c.clone());
            fields.push(f.as_ref().clone());
        }
    }
    if !changed {
        return Ok(batch);
    }
    RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
}

pub(crate) fn is_time_name(name: &str) -> bool {
    TIME_COLUMN_NAMES
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}
