//! System tables: read-only tables in the `system` schema that describe the database itself.
//!
//! - `system.segments`: one row per segment of every table — `table`, `segment_id` (persisted
//!   segments only), `state` (`live`, `sealed`, `persisted`), `rows`, `bytes` (file size, or
//!   Arrow memory for in-memory segments), `min_time` / `max_time` (the time column's range, when
//!   the table has one), `file` (relative to the data directory).
//!
//! A system table is built when a query's physical plan is built, as one in-memory segment, so
//! filters, projections, aggregates and joins work on it like on any table.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use strata_storage::index::BlockIndex;
use strata_storage::segment::{Block, MemSegment};
use strata_storage::zonemap::zone_of_batch;
use strata_storage::{SegmentKind, Storage, TableSnapshot};

use crate::error::{Error, Result};

/// The system schema's name.
pub const SCHEMA: &str = "system";

/// `system.segments`.
const SEGMENTS: &str = "segments";

/// The tables of the system schema.
pub const TABLES: &[&str] = &[SEGMENTS];

/// The schema of system table `name` (without the `system.` prefix), or `None`.
pub fn schema(name: &str) -> Option<SchemaRef> {
    match name.to_ascii_lowercase().as_str() {
        SEGMENTS => Some(Arc::new(Schema::new(vec![
            Field::new("table", DataType::Utf8, false),
            Field::new("segment_id", DataType::Int64, true),
            Field::new("state", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new(
                "min_time",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new(
                "max_time",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("file", DataType::Utf8, true),
        ]))),
        _ => None,
    }
}

/// The error for an unknown system table.
pub fn unknown(name: &str) -> Error {
    Error::InvalidArgument {
        message: format!(
            "unknown system table \"{SCHEMA}.{name}\"; system tables: {}",
            TABLES
                .iter()
                .map(|t| format!("{SCHEMA}.{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The current contents of system table `name`, as a snapshot of one in-memory segment.
pub fn snapshot(storage: &Storage, name: &str) -> Result<TableSnapshot> {
    let schema = schema(name).ok_or_else(|| unknown(name))?;
    let batch = match name.to_ascii_lowercase().as_str() {
        SEGMENTS => segments(storage, &schema)?,
        _ => return Err(unknown(name)),
    };
    let block = Block {
        zone: Arc::new(zone_of_batch(&batch)),
        index: Arc::new(BlockIndex::build(&batch, &[])),
        batch,
    };
    let segment = MemSegment::new(SegmentKind::Sealed, vec![block]);
    Ok(TableSnapshot {
        schema,
        segments: vec![Arc::new(segment)],
    })
}

fn segments(storage: &Storage, schema: &SchemaRef) -> Result<RecordBatch> {
    let mut names = storage.table_names();
    names.sort();
    let mut table = vec![];
    let mut id = vec![];
    let mut state = vec![];
    let mut rows = vec![];
    let mut bytes = vec![];
    let mut min_time = vec![];
    let mut max_time = vec![];
    let mut file = vec![];
    for name in names {
        // A table dropped since the names were listed has no segments to show.
        let Ok(t) = storage.table(&name) else {
            continue;
        };
        for info in t.segment_infos() {
            table.push(name.clone());
            id.push(info.id.map(|i| i as i64));
            state.push(info.kind.as_str());
            rows.push(info.rows as i64);
            bytes.push(info.bytes as i64);
            min_time.push(info.time_min_ms);
            max_time.push(info.time_max_ms);
            file.push(info.file);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(table)),
        Arc::new(Int64Array::from(id)),
        Arc::new(StringArray::from(state)),
        Arc::new(Int64Array::from(rows)),
        Arc::new(Int64Array::from(bytes)),
        Arc::new(TimestampMillisecondArray::from(min_time)),
        Arc::new(TimestampMillisecondArray::from(max_time)),
        Arc::new(StringArray::from(file)),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
