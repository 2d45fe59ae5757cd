//! System tables: read-only tables in the `system` schema that describe the database itself.
//!
//! - `system.segments`: one row per segment of every table — `table`, `segment_id` (persisted
//!   segments only), `state` (`live`, `sealed`, `persisted`), `rows`, `bytes` (file size, or
//!   Arrow memory for in-memory segments), `min_time` / `max_time` (the time column's range, when
//!   the table has one), `file` (relative to the data directory).
//! - `system.cache`: one row — the read cache's `budget_bytes`, `bytes` and `entries` held now,
//!   and its `hits`, `misses` and `evictions` since start.
//!
//! System tables are [`VirtualTable`]s registered on the storage (see
//! `strata_storage::virtual_table`); any crate may register more, in any schema. A virtual table is
//! computed when a query's physical plan is built, as one in-memory segment, so filters,
//! projections, aggregates and joins work on it like on any table.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use strata_storage::index::BlockIndex;
use strata_storage::segment::{Block, MemSegment};
use strata_storage::zonemap::zone_of_batch;
use strata_storage::{SegmentKind, Storage, TableSnapshot, VirtualTable};

use crate::error::{Error, Result};

/// The system schema's name.
pub const SCHEMA: &str = "system";

/// `system.segments`.
const SEGMENTS: &str = "segments";
/// `system.cache`.
const CACHE: &str = "cache";

/// Registers the system tables this crate computes (`system.segments`) on `storage`. Other
/// crates register theirs (`system.sources`, `system.queries`, `pg_catalog.*`) the same way.
pub fn register(storage: &Storage) {
    storage
        .virtual_tables()
        .register(SCHEMA, SEGMENTS, Arc::new(SegmentsTable));
    storage
        .virtual_tables()
        .register(SCHEMA, CACHE, Arc::new(CacheTable));
}

/// `system.cache`: one row with the read cache's budget, holdings and counters.
struct CacheTable;

impl VirtualTable for CacheTable {
    fn schema(&self) -> SchemaRef {
        let field = |name: &str| Field::new(name, DataType::Int64, false);
        Arc::new(Schema::new(vec![
            field("budget_bytes"),
            field("bytes"),
            field("entries"),
            field("hits"),
            field("misses"),
            field("evictions"),
        ]))
    }

    fn batches(&self, storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        let s = storage.cache().stats();
        let columns: Vec<ArrayRef> = [
            s.budget_bytes,
            s.bytes,
            s.entries,
            s.hits,
            s.misses,
            s.evictions,
        ]
        .iter()
        .map(|&v| Arc::new(Int64Array::from(vec![v as i64])) as ArrayRef)
        .collect();
        Ok(vec![RecordBatch::try_new(self.schema(), columns)?])
    }
}

/// `system.segments` as a virtual table.
struct SegmentsTable;

impl VirtualTable for SegmentsTable {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
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
        ]))
    }

    fn batches(&self, storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        Ok(vec![segments(storage, &self.schema())?])
    }
}

/// The error for an unknown table of a virtual schema.
pub fn unknown(storage: &Storage, schema: &str, name: &str) -> Error {
    Error::InvalidArgument {
        message: format!(
            "unknown table \"{schema}.{name}\"; tables of schema {schema}: {}",
            storage
                .virtual_tables()
                .names_in(schema)
                .iter()
                .map(|t| format!("{schema}.{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The current contents of virtual table `schema.name`, as a snapshot of one in-memory segment.
pub fn snapshot(storage: &Storage, schema: &str, name: &str) -> Result<TableSnapshot> {
    let table = storage
        .virtual_tables()
        .get(schema, name)
        .ok_or_else(|| unknown(storage, schema, name))?;
    let table_schema = table.schema();
    let mut blocks = vec![];
    for batch in table.batches(storage)? {
        if batch.schema().fields() != table_schema.fields() {
            return Err(Error::internal(format!(
                "virtual table {schema}.{name} produced a batch of another schema"
            )));
        }
        blocks.push(Block {
            zone: Arc::new(zone_of_batch(&batch)),
            index: Arc::new(BlockIndex::build(&batch, &[])),
            batch,
            origins: Vec::new(),
            deleted: None,
        });
    }
    let segment = MemSegment::new(SegmentKind::Sealed, blocks);
    Ok(TableSnapshot {
        schema: table_schema,
        segments: vec![Arc::new(segment)],
        newest_ack_ms: None,
    })
}

fn segments(storage: &Storage, schema: &SchemaRef) -> strata_storage::Result<RecordBatch> {
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
