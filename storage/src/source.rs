//! What an append carries besides its rows: the source offsets it consumed and the dead letters
//! (ingest errors) it produced.
//!
//! A streaming source (a Kafka topic, named by its source name) appends each batch of rows
//! together with, per partition, the offset of the next message to read. Both go into the same
//! write-ahead log frame (kind 2, see [`crate::wal`]), so that rows and offsets are durable
//! together or not at all; when the frame's rows persist, the offsets go into the manifest
//! (`source_offsets`). On open a table recovers them from the manifest and the log tail, and
//! [`Table::source_offsets`](crate::Table::source_offsets) returns exactly the next offset per
//! partition of what is durable: a source resumes there, without loss or duplicate.
//!
//! Messages that cannot be decoded are not dropped: they become [`IngestError`]s ("dead
//! letters"), recorded in the same frame as the offsets that move past them, so a crash can
//! neither lose one nor record one twice. When their frame persists they are written to an
//! `errors/<lsn>.ndjson` file listed by the manifest. `system.ingest_errors` lists them (see
//! [`register`]). HTTP ingest that skips bad rows records them the same way, without a topic,
//! partition or offset but with a line and column.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::virtual_table::VirtualTable;
use crate::{Result, Storage};

/// The most bytes of a bad message's payload that a dead letter keeps (1 KiB); longer payloads
/// are cut at a UTF-8 character boundary at or below it (`payload_bytes` keeps the full length).
pub const PAYLOAD_BYTES_MAX: usize = 1024;

/// Per source name, per partition, the offset of the next message to read.
pub type SourceOffsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// One dead letter: a message or row that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestError {
    /// The source name (a Kafka source's name; `http` for HTTP ingest).
    pub source: String,
    /// The Kafka topic, when the row came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The Kafka partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// The message's offset in its partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// The 1-based line in an HTTP body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The column at fault, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What is wrong.
    pub error: String,
    /// The payload, cut to [`PAYLOAD_BYTES_MAX`] bytes (invalid UTF-8 replaced by U+FFFD).
    pub payload: String,
    /// The payload's full length in bytes.
    pub payload_bytes: u64,
    /// When the error was recorded (epoch milliseconds).
    pub time_ms: i64,
}

impl IngestError {
    /// A dead letter for `payload` with `error`, recorded now; the caller fills in where it came
    /// from (topic/partition/offset or line/column).
    pub fn new(source: &str, error: impl Into<String>, payload: &[u8]) -> IngestError {
        IngestError {
            source: source.to_string(),
            topic: None,
            partition: None,
            offset: None,
            line: None,
            column: None,
            error: error.into(),
            payload: truncate_payload(payload),
            payload_bytes: payload.len() as u64,
            time_ms: now_ms(),
        }
    }
}

/// `payload` as text, cut to at most [`PAYLOAD_BYTES_MAX`] bytes at a character boundary.
pub fn truncate_payload(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(PAYLOAD_BYTES_MAX * 3)]);
    let mut end = text.len().min(PAYLOAD_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What an append carries besides rows (the META of a kind 2 log frame).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendMeta {
    /// The next offset per partition per source after this append.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsets: SourceOffsets,
    /// The dead letters of this append.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<IngestError>,
    /// The idempotency key of the request and its result (see [`crate::idempotency`]); a frame
    /// that carries one is written as kind 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<crate::idempotency::IdempotencyRecord>,
}

impl AppendMeta {
    /// True when it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty() && self.errors.is_empty() && self.idempotency.is_none()
    }
}

/// Folds `from` into `into`: a later append's offset of a partition replaces an earlier one.
pub fn merge_offsets(into: &mut SourceOffsets, from: &SourceOffsets) {
    for (source, partitions) in from {
        let entry = into.entry(source.clone()).or_default();
        for (p, o) in partitions {
            entry.insert(*p, *o);
        }
    }
}

/// The schema name of `system.ingest_errors`.
pub const SYSTEM_SCHEMA: &str = "system";
/// The name of `system.ingest_errors`.
pub const INGEST_ERRORS: &str = "ingest_errors";

/// Registers `system.ingest_errors` on `storage`.
pub fn register(storage: &Storage) {
    storage
        .virtual_tables()
        .register(SYSTEM_SCHEMA, INGEST_ERRORS, Arc::new(IngestErrorsTable));
}

/// `system.ingest_errors`: every durable dead letter of every table.
struct IngestErrorsTable;

impl VirtualTable for IngestErrorsTable {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("table", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("topic", DataType::Utf8, true),
            Field::new("partition", DataType::Int32, true),
            Field::new("offset", DataType::Int64, true),
            Field::new("line", DataType::Int64, true),
            Field::new("column", DataType::Utf8, true),
            Field::new("error", DataType::Utf8, false),
            Field::new("payload", DataType::Utf8, false),
            Field::new("payload_bytes", DataType::Int64, false),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]))
    }

    fn batches(&self, storage: &Storage) -> Result<Vec<RecordBatch>> {
        let mut rows: Vec<(String, IngestError)> = Vec::new();
        for name in storage.table_names() {
            let Ok(table) = storage.table(&name) else {
                continue;
            };
            for e in table.ingest_errors()? {
                rows.push((name.clone(), e));
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.1.source),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.1.topic.as_deref()),
            )),
            Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.1.partition))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1.offset))),
            Arc::new(Int64Array::from_iter(
                rows.iter().map(|r| r.1.line.map(|l| l as i64)),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.1.column.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.1.error),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.1.payload),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1.payload_bytes as i64),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.1.time_ms),
            )),
        ];
        Ok(vec![RecordBatch::try_new(self.schema(), columns)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_cut_at_a_character_boundary() {
        let long = "é".repeat(PAYLOAD_BYTES_MAX);
        let cut = truncate_payload(long.as_bytes());
        assert!(cut.len() <= PAYLOAD_BYTES_MAX && cut.len() >= PAYLOAD_BYTES_MAX - 1);
        assert_eq!(truncate_payload(b"abc"), "abc");
        assert_eq!(truncate_payload(&[0xff, b'a']), "\u{fffd}a");
    }
}
