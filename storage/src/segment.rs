//! Segments: the units a table's rows are kept in, and the one interface a query reads them by.
//!
//! - The **live** segment ([`LiveSegment`]) receives new rows. Batches arrive in log order, each
//!   tagged with the LSN of the log frame that holds it; a reader sees the prefix of batches whose
//!   LSN is durable. Runs of small durable batches are concatenated so that many tiny requests do
//!   not make scans slow.
//! - A **sealed** segment is a live segment's durable batches, frozen and still in memory, while
//!   a background task writes them to a file.
//! - A **persisted** segment ([`persisted::ParquetSegment`]) is a Parquet file listed in the
//!   table's manifest.
//!
//! All three are read through [`Segment`], so the query engine cannot tell them apart except by
//! speed. That includes the bitmap indexes ([`crate::index`]): an in-memory segment keeps one
//! per batch, built when the batch arrives; a persisted segment one per file, in a sidecar.

pub mod persisted;

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use roaring::RoaringBitmap;

use crate::index::{indexed_columns, BlockIndex, IndexLookup};
use crate::zonemap::{merge_zones, zone_of_batch, Zone};
use crate::Result;

/// Which stage of its life a segment is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// Receiving rows, in memory.
    Live,
    /// Frozen, in memory, being persisted.
    Sealed,
    /// A Parquet file listed in the manifest.
    Persisted,
}

impl SegmentKind {
    /// The lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SegmentKind::Live => "live",
            SegmentKind::Sealed => "sealed",
            SegmentKind::Persisted => "persisted",
        }
    }
}

/// What every segment offers a reader.
pub trait Segment: Send + Sync + std::fmt::Debug {
    /// Its stage.
    fn kind(&self) -> SegmentKind;
    /// The number of rows.
    fn num_rows(&self) -> usize;
    /// Reads the columns of `projected` (a projection of the table's schema; columns are matched
    /// by name) as batches of exactly that schema. Columns the segment predates read as NULL.
    fn read(&self, projected: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let all: Vec<usize> = (0..self.zones().len()).collect();
        self.read_blocks(projected, &all)
    }
    /// The zone map of each block of rows, in order.
    fn zones(&self) -> Vec<Arc<Zone>>;
    /// Reads only the blocks `blocks` (indexes into [`Segment::zones`], ascending), like
    /// [`Segment::read`].
    fn read_blocks(&self, projected: &SchemaRef, blocks: &[usize]) -> Result<Vec<RecordBatch>>;
    /// The rows that satisfy `lookup` on `column`, answered from the bitmap index, as row ids of
    /// the segment (the rows of its blocks numbered from 0, blocks in order). `Ok(None)` when
    /// `column` has no index in this segment; an error when the index cannot be read.
    fn index_lookup(&self, column: &str, lookup: &IndexLookup) -> Result<Option<RoaringBitmap>>;
    /// Like [`Segment::read_blocks`] for the single block `block`, returning only the rows of
    /// `selection` (row ids of the segment, all inside the block). The default reads the block
    /// and filters it; a segment may skip undecoded rows instead.
    fn read_selected(
        &self,
        projected: &SchemaRef,
        block: usize,
        block_start: u32,
        selection: &RoaringBitmap,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        let mut offset = block_start;
        for batch in self.read_blocks(projected, &[block])? {
            let n = batch.num_rows() as u32;
            let mask = selection_mask(selection, offset, n);
            offset += n;
            let batch = arrow::compute::filter_record_batch(&batch, &mask)?;
            if batch.num_rows() > 0 {
                out.push(batch);
            }
        }
        Ok(out)
    }
}

/// The rows `start .. start + len` of `selection` as a boolean mask of `len` values, built a run
/// of set or unset rows at a time.
pub fn selection_mask(
    selection: &RoaringBitmap,
    start: u32,
    len: u32,
) -> arrow::array::BooleanArray {
    let end = u64::from(start) + u64::from(len);
    let mut bits = arrow::array::BooleanBufferBuilder::new(len as usize);
    let mut at = u64::from(start);
    let mut runs = selection.range(start..start.saturating_add(len));
    while let Some(run) = runs.next_range() {
        let (lo, hi) = (u64::from(*run.start()), u64::from(*run.end()));
        bits.append_n((lo - at) as usize, false);
        bits.append_n((hi - lo + 1) as usize, true);
        at = hi + 1;
    }
    bits.append_n((end - at) as usize, false);
    arrow::array::BooleanArray::new(bits.finish(), None)
}

/// A shared segment.
pub type SegmentRef = Arc<dyn Segment>;

/// A block of rows of an in-memory segment with its zone map and bitmap index.
#[derive(Debug, Clone)]
pub struct Block {
    /// The rows.
    pub batch: RecordBatch,
    /// Their zone map.
    pub zone: Arc<Zone>,
    /// Their bitmap index (row ids within the batch).
    pub index: Arc<BlockIndex>,
    /// The log frames the rows came from, in order: (LSN, rows). Empty for rows of no frame
    /// (computed tables). A row's identity is (LSN, row within the frame): `DELETE` names
    /// in-memory rows by it, because it survives coalescing and replay.
    pub origins: Vec<(u64, u32)>,
    /// Rows (within the batch) deleted by `DELETE` (see [`crate::deletes`]); `None`: none.
    pub deleted: Option<Arc<RoaringBitmap>>,
}

/// Matches `batch` to `projected` by column name: reorders, casts where the type differs, fills
/// missing columns with NULLs, keeps the row count (also for zero columns).
pub fn align_batch(batch: &RecordBatch, projected: &SchemaRef) -> Result<RecordBatch> {
    if &batch.schema() == projected {
        return Ok(batch.clone());
    }
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(projected.fields().len());
    for field in projected.fields() {
        let column = match batch.column_by_name(field.name()) {
            Some(c) if c.data_type() == field.data_type() => c.clone(),
            Some(c) => cast(c, field.data_type())?,
            None => new_null_array(field.data_type(), rows),
        };
        columns.push(column);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        projected.clone(),
        columns,
        &options,
    )?)
}

/// An immutable in-memory segment: the visible part of a live segment at one moment, or a
/// sealed segment.
#[derive(Debug, Clone)]
pub struct MemSegment {
    kind: SegmentKind,
    batches: Vec<RecordBatch>,
    zones: Vec<Arc<Zone>>,
    indexes: Vec<Arc<BlockIndex>>,
    origins: Vec<Vec<(u64, u32)>>,
    deleted: Vec<Option<Arc<RoaringBitmap>>>,
    rows: usize,
}

impl MemSegment {
    /// A segment of `batches`.
    pub fn new(kind: SegmentKind, blocks: Vec<Block>) -> MemSegment {
        let rows = blocks.iter().map(|b| b.batch.num_rows()).sum();
        let mut batches = Vec::with_capacity(blocks.len());
        let mut zones = Vec::with_capacity(blocks.len());
        let mut indexes = Vec::with_capacity(blocks.len());
        let mut origins = Vec::with_capacity(blocks.len());
        let mut deleted = Vec::with_capacity(blocks.len());
        for block in blocks {
            batches.push(block.batch);
            zones.push(block.zone);
            indexes.push(block.index);
            origins.push(block.origins);
            deleted.push(block.deleted);
        }
        MemSegment {
            kind,
            zones,
            batches,
            indexes,
            origins,
            deleted,
            rows,
        }
    }

    /// The batches, deleted rows included.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// The batches without their deleted rows (what a persist writes); batches left without
    /// rows are skipped.
    pub fn surviving_batches(&self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(self.batches.len());
        for (batch, deleted) in self.batches.iter().zip(&self.deleted) {
            let batch = match deleted {
                None => batch.clone(),
                Some(d) => {
                    let mask = selection_mask(d, 0, batch.num_rows() as u32);
                    let keep = arrow::compute::not(&mask)?;
                    arrow::compute::filter_record_batch(batch, &keep)?
                }
            };
            if batch.num_rows() > 0 {
                out.push(batch);
            }
        }
        Ok(out)
    }

    /// The deleted rows as row ids of the segment (`None`: no row is deleted).
    pub fn deleted_rows(&self) -> Option<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let mut offset: u32 = 0;
        for (batch, deleted) in self.batches.iter().zip(&self.deleted) {
            if let Some(d) = deleted {
                out.extend(d.iter().map(|r| r + offset));
            }
            offset = offset.saturating_add(batch.num_rows() as u32);
        }
        (!out.is_empty()).then_some(out)
    }

    /// The log frames of its rows as runs of segment row ids: (LSN, first row id, rows).
    pub fn origin_runs(&self) -> Vec<(u64, u32, u32)> {
        let mut out = Vec::new();
        let mut offset: u32 = 0;
        for origins in &self.origins {
            for &(lsn, rows) in origins {
                out.push((lsn, offset, rows));
                offset = offset.saturating_add(rows);
            }
        }
        out
    }

    /// Marks `rows` (row numbers within the frame `lsn`) deleted; returns the segment with the
    /// mark, or `None` when none of its rows came from that frame.
    pub fn with_deleted(&self, lsn: u64, rows: &RoaringBitmap) -> Option<MemSegment> {
        let (block, start) =
            self.origins.iter().enumerate().find_map(|(b, origins)| {
                origin_start(origins, lsn, rows).map(|start| (b, start))
            })?;
        let mut next = self.clone();
        next.deleted[block] = Some(Arc::new(merge_deleted(
            self.deleted[block].as_deref(),
            rows,
            start,
        )));
        Some(next)
    }
}

/// The first row (within its batch) of frame `lsn` among `origins`, if it is there and holds
/// every row of `rows`.
fn origin_start(origins: &[(u64, u32)], lsn: u64, rows: &RoaringBitmap) -> Option<u32> {
    let mut start = 0u32;
    for &(l, n) in origins {
        if l == lsn {
            return rows.max().is_none_or(|m| m < n).then_some(start);
        }
        start = start.saturating_add(n);
    }
    None
}

/// `old` with `rows` shifted by `shift` added.
fn merge_deleted(old: Option<&RoaringBitmap>, rows: &RoaringBitmap, shift: u32) -> RoaringBitmap {
    let mut out = old.cloned().unwrap_or_default();
    out.extend(rows.iter().map(|r| r.saturating_add(shift)));
    out
}

impl Segment for MemSegment {
    fn kind(&self) -> SegmentKind {
        self.kind
    }

    fn num_rows(&self) -> usize {
        self.rows
    }

    fn zones(&self) -> Vec<Arc<Zone>> {
        self.zones.clone()
    }

    fn read_blocks(&self, projected: &SchemaRef, blocks: &[usize]) -> Result<Vec<RecordBatch>> {
        blocks
            .iter()
            .filter_map(|i| self.batches.get(*i))
            .map(|b| align_batch(b, projected))
            .collect()
    }

    fn index_lookup(&self, column: &str, lookup: &IndexLookup) -> Result<Option<RoaringBitmap>> {
        // One lookup per block, its row ids shifted by the block's first row.
        let mut out = RoaringBitmap::new();
        let mut offset: u32 = 0;
        for (index, batch) in self.indexes.iter().zip(&self.batches) {
            let Some(rows) = index.lookup(column, lookup) else {
                return Ok(None);
            };
            if offset == 0 {
                out = rows;
            } else if !rows.is_empty() {
                out.append(rows.iter().map(|r| r + offset))
                    .map_err(|e| crate::Error::Internal(format!("index rows out of order: {e}")))?;
            }
            offset = u32::try_from(batch.num_rows())
                .ok()
                .and_then(|n| offset.checked_add(n))
                .ok_or_else(|| {
                    crate::Error::Internal("in-memory segment exceeds 2^32 rows".to_string())
                })?;
        }
        Ok(Some(out))
    }
}

/// A batch with fewer rows than this is "small" and a candidate for coalescing.
pub const SMALL_BATCH_ROWS: usize = 8192;
/// Coalesce once this many small durable batches are adjacent.
pub const SMALL_BATCH_RUN_MAX: usize = 32;

#[derive(Debug, Clone)]
struct Chunk {
    lsn: u64,
    batch: RecordBatch,
    zone: Arc<Zone>,
    index: Arc<BlockIndex>,
    arrived: Instant,
    /// The batch's and its index's memory, counted once when the chunk is made.
    bytes: usize,
    /// The frames of its rows: (LSN, rows), in order.
    origins: Vec<(u64, u32)>,
    /// Its deleted rows.
    deleted: Option<Arc<RoaringBitmap>>,
}

/// The memory a chunk of `batch` with `index` takes: the index of a high-cardinality string
/// column (a string and a bitmap per distinct value) can be larger than the batch itself.
fn chunk_bytes(batch: &RecordBatch, index: &BlockIndex) -> usize {
    // The rows' own bytes: a batch decoded from Parquet may share (and slice) buffers with
    // others, which get_array_memory_size would count whole, once per batch.
    let rows: usize = batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
        .sum();
    rows + index.memory_bytes()
}

impl Chunk {
    fn block(&self) -> Block {
        Block {
            batch: self.batch.clone(),
            zone: self.zone.clone(),
            index: self.index.clone(),
            origins: self.origins.clone(),
            deleted: self.deleted.clone(),
        }
    }
}

/// The in-memory segment that receives a table's new rows.
#[derive(Debug)]
pub struct LiveSegment {
    schema: SchemaRef,
    chunks: Vec<Chunk>,
    rows: usize,
    /// The table's `indexes` option (`None`: every string column).
    index_spec: Option<Vec<String>>,
    /// The columns indexed under it in the current schema.
    indexed: Vec<String>,
}

impl LiveSegment {
    /// An empty segment of `schema`.
    pub fn new(schema: SchemaRef) -> LiveSegment {
        LiveSegment::with_indexes(schema, None)
    }

    /// An empty segment of `schema` that indexes the columns chosen by the table option
    /// `index_spec` (`None`: every string column; see [`indexed_columns`]).
    pub fn with_indexes(schema: SchemaRef, index_spec: Option<Vec<String>>) -> LiveSegment {
        let indexed = indexed_columns(index_spec.as_deref(), &schema);
        LiveSegment {
            schema,
            chunks: Vec::new(),
            rows: 0,
            index_spec,
            indexed,
        }
    }

    /// The current schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Every row, durable or not.
    pub fn row_count(&self) -> usize {
        self.rows
    }

    /// Appends `batch` (of exactly the segment's schema) written at `lsn`. LSNs must grow.
    pub fn push(&mut self, lsn: u64, batch: RecordBatch) {
        assert!(
            self.chunks.last().is_none_or(|c| c.lsn < lsn),
            "LSNs must grow"
        );
        assert_eq!(
            batch.schema(),
            self.schema,
            "batch schema must be the segment's"
        );
        self.rows += batch.num_rows();
        let zone = Arc::new(zone_of_batch(&batch));
        let index = Arc::new(BlockIndex::build(&batch, &self.indexed));
        let bytes = chunk_bytes(&batch, &index);
        let origins = vec![(lsn, batch.num_rows() as u32)];
        self.chunks.push(Chunk {
            bytes,
            origins,
            deleted: None,
            lsn,
            batch,
            zone,
            index,
            arrived: Instant::now(),
        });
    }

    /// Removes and returns the durable batches (LSN at most `durable_lsn`) with the highest LSN
    /// among them and the memory they take (batches and indexes), or `None` when there are none.
    pub fn take_durable(&mut self, durable_lsn: u64) -> Option<(Vec<Block>, u64, usize)> {
        let n = self.chunks.partition_point(|c| c.lsn <= durable_lsn);
        if n == 0 {
            return None;
        }
        let taken: Vec<Chunk> = self.chunks.drain(..n).collect();
        let lsn = taken[n - 1].lsn;
        let bytes = taken.iter().map(|c| c.bytes).sum();
        let blocks: Vec<Block> = taken
            .into_iter()
            .map(|c| Block {
                batch: c.batch,
                zone: c.zone,
                index: c.index,
                origins: c.origins,
                deleted: c.deleted,
            })
            .collect();
        self.rows -= blocks.iter().map(|b| b.batch.num_rows()).sum::<usize>();
        Some((blocks, lsn, bytes))
    }

    /// Rows, memory bytes and the age of the oldest batch, over the durable batches.
    pub fn durable_stats(&self, durable_lsn: u64) -> (usize, usize, Option<std::time::Duration>) {
        let n = self.chunks.partition_point(|c| c.lsn <= durable_lsn);
        let chunks = &self.chunks[..n];
        let rows = chunks.iter().map(|c| c.batch.num_rows()).sum();
        let bytes = chunks.iter().map(|c| c.batch.get_array_memory_size()).sum();
        let age = chunks.iter().map(|c| c.arrived).min().map(|t| t.elapsed());
        (rows, bytes, age)
    }

    /// The batches whose LSN is at most `durable_lsn`.
    pub fn visible(&self, durable_lsn: u64) -> Vec<Block> {
        let n = self.chunks.partition_point(|c| c.lsn <= durable_lsn);
        self.chunks[..n].iter().map(Chunk::block).collect()
    }

    /// Adopts a schema that extends the current one with new nullable columns at the end:
    /// existing batches get all-null columns.
    pub fn widen(&mut self, schema: SchemaRef) -> Result<()> {
        let old = self.schema.fields().len();
        self.indexed = indexed_columns(self.index_spec.as_deref(), &schema);
        for chunk in &mut self.chunks {
            let rows = chunk.batch.num_rows();
            let mut columns = chunk.batch.columns().to_vec();
            for f in &schema.fields()[old..] {
                columns.push(new_null_array(f.data_type(), rows));
            }
            chunk.batch = RecordBatch::try_new(schema.clone(), columns)?;
            chunk.index = Arc::new(BlockIndex::build(&chunk.batch, &self.indexed));
            chunk.bytes = chunk_bytes(&chunk.batch, &chunk.index);
        }
        self.schema = schema;
        Ok(())
    }

    /// Concatenates the run of small durable batches that ends at the newest durable batch once
    /// it is [`SMALL_BATCH_RUN_MAX`] long.
    pub fn coalesce(&mut self, durable_lsn: u64) -> Result<()> {
        let end = self.chunks.partition_point(|c| c.lsn <= durable_lsn);
        let mut start = end;
        while start > 0 && self.chunks[start - 1].batch.num_rows() < SMALL_BATCH_ROWS {
            start -= 1;
        }
        if end - start < SMALL_BATCH_RUN_MAX {
            return Ok(());
        }
        let run = &self.chunks[start..end];
        let lsn = run[run.len() - 1].lsn;
        let arrived = run
            .iter()
            .map(|c| c.arrived)
            .min()
            .unwrap_or_else(Instant::now);
        let batch = concat_batches(&self.schema, run.iter().map(|c| &c.batch))?;
        let zones: Vec<Zone> = run.iter().map(|c| c.zone.as_ref().clone()).collect();
        let zone = Arc::new(merge_zones(&zones));
        let index = Arc::new(BlockIndex::build(&batch, &self.indexed));
        let bytes = chunk_bytes(&batch, &index);
        let mut origins = Vec::new();
        let mut deleted: Option<RoaringBitmap> = None;
        let mut offset = 0u32;
        for c in run {
            if let Some(d) = &c.deleted {
                deleted = Some(merge_deleted(deleted.as_ref(), d, offset));
            }
            origins.extend_from_slice(&c.origins);
            offset = offset.saturating_add(c.batch.num_rows() as u32);
        }
        self.chunks.splice(
            start..end,
            [Chunk {
                origins,
                deleted: deleted.map(Arc::new),
                bytes,
                lsn,
                batch,
                zone,
                index,
                arrived,
            }],
        );
        Ok(())
    }

    /// The memory of every batch and its bitmap index, durable or not.
    pub fn memory_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.bytes).sum()
    }

    /// The chunk that holds the rows of frame `lsn`, and where they start in it, when they are
    /// there and include every row of `rows`.
    fn locate(&self, lsn: u64, rows: &RoaringBitmap) -> Option<(usize, u32)> {
        // Chunks are in LSN order and a chunk's LSN is the newest of its frames.
        let at = self.chunks.partition_point(|c| c.lsn < lsn);
        let chunk = self.chunks.get(at)?;
        origin_start(&chunk.origins, lsn, rows).map(|start| (at, start))
    }

    /// Whether [`LiveSegment::delete`] of these rows would find them.
    pub fn holds(&self, lsn: u64, rows: &RoaringBitmap) -> bool {
        self.locate(lsn, rows).is_some()
    }

    /// Marks `rows` (row numbers within the frame `lsn`) deleted; false when no chunk holds
    /// rows of that frame (or not all of `rows`).
    pub fn delete(&mut self, lsn: u64, rows: &RoaringBitmap) -> bool {
        let Some((at, start)) = self.locate(lsn, rows) else {
            return false;
        };
        let chunk = &mut self.chunks[at];
        chunk.deleted = Some(Arc::new(merge_deleted(
            chunk.deleted.as_deref(),
            rows,
            start,
        )));
        true
    }

    /// How many batches the segment holds (for tests and introspection).
    pub fn batch_count(&self) -> usize {
        self.chunks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(schema: &SchemaRef, vals: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vals.to_vec()))],
        )
        .unwrap()
    }

    #[test]
    fn readers_see_only_durable_batches() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let mut seg = LiveSegment::new(schema.clone());
        seg.push(1, batch(&schema, &[1]));
        seg.push(2, batch(&schema, &[2, 3]));
        assert_eq!(seg.visible(0).len(), 0);
        assert_eq!(seg.visible(1).len(), 1);
        assert_eq!(seg.visible(2).len(), 2);
        assert_eq!(seg.row_count(), 3);
    }

    #[test]
    fn small_durable_batches_are_coalesced_without_losing_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let mut seg = LiveSegment::new(schema.clone());
        for i in 0..100 {
            seg.push(i + 1, batch(&schema, &[i as i64]));
            seg.coalesce(i + 1 - (i % 3)).unwrap();
        }
        seg.coalesce(100).unwrap();
        assert!(seg.batch_count() < 10, "{} batches", seg.batch_count());
        let rows: Vec<i64> = seg
            .visible(100)
            .iter()
            .flat_map(|b| {
                let a = b
                    .batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(rows, (0..100).collect::<Vec<i64>>());
    }

    #[test]
    fn widening_adds_null_columns_to_existing_batches() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let mut seg = LiveSegment::new(schema.clone());
        seg.push(1, batch(&schema, &[1, 2]));
        let wide = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        seg.widen(wide.clone()).unwrap();
        let b = &seg.visible(1)[0];
        assert_eq!(b.batch.schema(), wide);
        assert_eq!(b.batch.column(1).null_count(), 2);
    }
}
