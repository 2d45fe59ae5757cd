//! # strata-ingest: bytes in, Arrow batches out
//!
//! A request body arrives from HTTP (or, later, a Kafka message or a file) together with the
//! table it is for. This crate turns it into one Arrow [`RecordBatch`] that
//! [`strata_storage::Table::append`] can store, or into a precise error that names the line, the
//! column and the reason, so that a bad request changes nothing.
//!
//! ```text
//!  body (NDJSON | CSV | Arrow IPC | Parquet) + the table's schema, if the table exists
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
pub mod fuzzing;
mod json;
pub mod kafka;
pub mod limits;
mod parquet_body;
mod precheck;

pub use error::{Error, Result};
pub use limits::{LimitKind, Limits};

use std::io::Cursor;

use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, SchemaRef, DECIMAL128_MAX_PRECISION};
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
    /// A Parquet file (`application/vnd.apache.parquet`, `application/x-parquet`).
    Parquet,
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
            "application/vnd.apache.parquet" | "application/x-parquet" | "application/parquet" => {
                Some(Format::Parquet)
            }
            _ => None,
        }
    }

    /// The `Content-Type` to send a body of this format with.
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::NdJson => "application/x-ndjson",
            Format::Csv => "text/csv",
            Format::ArrowIpc => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
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

impl Decoded {
    /// The definition of table `name` created from these rows (ingest into a table that does
    /// not exist yet): their columns, every one nullable (later rows may lack any field) but
    /// the time column, which the definition makes NOT NULL.
    pub fn table_def(&self, name: &str) -> strata_storage::TableDef {
        strata_storage::TableDef {
            name: name.to_string(),
            schema: std::sync::Arc::new(arrow::datatypes::Schema::new(
                self.batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            options: strata_storage::TableOptions {
                time_column: self.time_column.clone(),
                ..Default::default()
            },
        }
    }
}

/// Decodes `body` for a table whose current schema is `schema` (`None` when the table does not
/// exist yet and will be created from the body), within `limits`.
pub fn decode(
    format: Format,
    body: &[u8],
    schema: Option<&SchemaRef>,
    limits: &Limits,
) -> Result<Decoded> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyBody);
    }
    let decoded = match format {
        Format::NdJson => json::decode(body, schema, limits),
        Format::Csv => csv::decode(body, schema, limits),
        Format::ArrowIpc => decode_ipc(body, limits),
        Format::Parquet => decode_parquet(body, limits),
    }?;
    limits::check_row_bytes(limits, &decoded.batch, format, body)?;
    // The rows' own bytes (a decoder's arrays may share buffers they only slice).
    let decoded_bytes: usize = decoded
        .batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
        .sum();
    if decoded_bytes > limits.decoded_bytes_max {
        return Err(Error::Limit {
            kind: LimitKind::DecodedBytes,
            line: None,
            found: decoded_bytes,
            max: limits.decoded_bytes_max,
        });
    }
    Ok(decoded)
}

/// One row [`decode_skipping_bad_rows`] left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The 1-based line of the body.
    pub line: usize,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Like [`decode`], but a bad line of an NDJSON or CSV body is left out and reported instead of
/// failing the whole body (`?on_error=skip`). Returns the good rows (`None` when no line was
/// good) and the bad lines. Errors that name no line (an empty body, a bad CSV header, an
/// Arrow or Parquet body), and more than `max_errors` bad lines, still fail the whole body.
///
/// Each bad line costs one more decode of the rest of the body: meant for bodies with a few bad
/// rows, which is what `max_errors` bounds. (A CSV field that spans lines is not supported here.)
pub fn decode_skipping_bad_rows(
    format: Format,
    body: &[u8],
    schema: Option<&SchemaRef>,
    limits: &Limits,
    max_errors: usize,
) -> Result<(Option<Decoded>, Vec<RowError>)> {
    if !matches!(format, Format::NdJson | Format::Csv) {
        return decode(format, body, schema, limits).map(|d| (Some(d), vec![]));
    }
    // The body's lines, by their 1-based number in the original body.
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let mut kept: Vec<usize> = (1..=lines.len()).collect();
    let mut errors = Vec::new();
    let mut current = body.to_vec();
    loop {
        let error = match decode(format, &current, schema, limits) {
            Ok(decoded) => return Ok((Some(decoded), errors)),
            Err(Error::EmptyBody) if !errors.is_empty() => return Ok((None, errors)),
            Err(e) => e,
        };
        let Some(at) = error.line().and_then(|l| l.checked_sub(1)) else {
            return Err(error);
        };
        // The CSV header is line 1: without it nothing can be read.
        let header = format == Format::Csv && at == 0;
        if header || at >= kept.len() || errors.len() >= max_errors {
            return Err(error);
        }
        let line = kept.remove(at);
        errors.push(RowError {
            line,
            column: error.column().map(str::to_string),
            reason: error.reason(),
        });
        current.clear();
        for (i, &n) in kept.iter().enumerate() {
            if i > 0 {
                current.push(b'\n');
            }
            current.extend_from_slice(lines.get(n - 1).copied().unwrap_or_default());
        }
        let data_lines = kept.len() - usize::from(format == Format::Csv);
        if data_lines == 0 || current.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok((None, errors));
        }
    }
}

fn decode_parquet(body: &[u8], limits: &Limits) -> Result<Decoded> {
    let bad = |reason: String| Error::Parquet { reason };
    // parquet 60's page decoder panics on some malformed pages (fuzz/known-crashes/parquet:
    // definition levels past the null bitmap), which no check of the file can see first. A
    // panic in a dependency's decoder is the body's fault, not the server's: it is answered as
    // an invalid body (400), not as a failed task (500). Nothing is shared across the call, so
    // no state can be left half-changed by the unwind.
    let batch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parquet_body::decode(body, limits)
    }))
    .map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        bad(format!(
            "the Parquet reader failed on this file ({what}); the file is malformed: write it \
             again with a Parquet writer, or send it as Arrow IPC"
        ))
    })??;
    let batch = normalise_types(batch).map_err(|e| bad(e.to_string()))?;
    let time_column = batch
        .schema()
        .fields()
        .iter()
        .find(|f| is_time_name(f.name()) && f.data_type() == &TIMESTAMP_TYPE)
        .map(|f| f.name().clone());
    Ok(Decoded { batch, time_column })
}

fn decode_ipc(body: &[u8], limits: &Limits) -> Result<Decoded> {
    let bad = |e: arrow::error::ArrowError| Error::Ipc {
        reason: e.to_string(),
    };
    precheck::check_ipc_stream(body)?;
    let reader = StreamReader::try_new(Cursor::new(body), None).map_err(bad)?;
    let schema = reader.schema();
    limits::check_fields(limits, schema.fields().len(), None)?;
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
/// any unit to milliseconds, large and view strings to strings, small integers widened,
/// decimals as Decimal128).
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
            // Parquet and Arrow decimals of any width are stored as Decimal128 (at most 38
            // digits; a wider Decimal256 is refused as an unsupported type).
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
            DataType::Decimal256(p, s) if *p <= DECIMAL128_MAX_PRECISION => {
                DataType::Decimal128(*p, *s)
            }
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
