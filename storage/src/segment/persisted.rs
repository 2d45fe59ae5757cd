//! Persisted segments: one Parquet file per segment, rows sorted by the table's sort key.
//!
//! The files are plain Parquet (ZSTD, dictionary encoding, page-level statistics and the page
//! index), so any Parquet reader gets the same rows. Strata's own facts travel in the file's
//! key-value metadata (`strata.segment.format_version`, `strata.segment.lsn_max`).
//!
//! Next to each file lies its bitmap index sidecar (`<id>.idx`, see [`crate::index`]), written
//! before the Parquet file and listed with it in the manifest. It is read lazily, the first time
//! a query asks the segment an index question: start-up reads only footers, and a segment no
//! filter touches costs no index memory.
//!
//! Column chunks and sidecars are read through the storage's byte-budgeted
//! [`SegmentCache`](crate::cache::SegmentCache): a scan decodes only the (row group, column)
//! chunks the cache does not hold, and keeps them for the next one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array};
use arrow::compute::{
    concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
    SortOptions,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use roaring::RoaringBitmap;

use super::{align_batch, Segment, SegmentKind};
use crate::cache::{chunk_bytes, CacheKey, CacheValue, SegmentCache};
use crate::fsutil::{self, io};
use crate::index::{indexed_columns, BlockIndex, IndexLookup};
use crate::manifest::SegmentEntry;
use crate::zonemap::{zone_of_row_group, Zone};
use crate::{Error, Result};

/// The version of Strata's segment conventions inside the Parquet file.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Rows per Parquet row group (the granularity of row-group statistics).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows per batch when reading a segment back.
pub const READ_BATCH_ROWS: usize = 64 * 1024;

/// The directory of segment files inside a table directory.
pub fn segments_dir(table_dir: &Path) -> PathBuf {
    table_dir.join("segments")
}

/// The file name (relative to the table directory) of segment `id`.
pub fn segment_file(id: u64) -> String {
    format!("segments/{id:020}.parquet")
}

/// The bitmap index sidecar file name (relative to the table directory) of segment `id`.
pub fn index_file(id: u64) -> String {
    format!("segments/{id:020}.{}", crate::index::INDEX_FILE_EXTENSION)
}

/// A Parquet file listed in the manifest.
#[derive(Debug)]
pub struct ParquetSegment {
    entry: SegmentEntry,
    path: PathBuf,
    schema: SchemaRef,
    /// The parsed footer, kept so that reads do not parse it again.
    meta: ArrowReaderMetadata,
    zones: Vec<Arc<Zone>>,
    /// The sidecar file, if the segment has one.
    index_path: Option<PathBuf>,
    /// Where decoded chunks and the sidecar are kept.
    cache: Arc<SegmentCache>,
    /// This segment's id in the cache's keys.
    cache_id: u64,
    /// Set when a compaction or retention removed the segment from the manifest: the file is
    /// deleted when the last reader (snapshot) lets go of it.
    obsolete: std::sync::atomic::AtomicBool,
}

impl Drop for ParquetSegment {
    fn drop(&mut self) {
        self.cache.forget_segment(self.cache_id);
        if self.obsolete.load(std::sync::atomic::Ordering::Acquire) {
            for path in std::iter::once(&self.path).chain(self.index_path.iter()) {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete an obsolete segment file (start-up removes it)");
                }
            }
        }
    }
}

impl ParquetSegment {
    /// Opens the file of `entry` (reads its footer); reads go through `cache`.
    pub fn open(
        table_dir: &Path,
        entry: SegmentEntry,
        cache: &Arc<SegmentCache>,
    ) -> Result<ParquetSegment> {
        let path = table_dir.join(&entry.file);
        let file = File::open(&path).map_err(io("open segment", &path))?;
        // The page index lets a read through a row selection skip whole pages.
        let options = ArrowReaderOptions::new()
            .with_offset_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
        let meta = ArrowReaderMetadata::load(&file, options).map_err(|e| Error::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: e.to_string(),
        })?;
        let zones = meta
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| Arc::new(zone_of_row_group(rg, meta.schema())))
            .collect();
        Ok(ParquetSegment {
            schema: meta.schema().clone(),
            meta: meta.clone(),
            zones,
            index_path: entry.index_file.as_ref().map(|f| table_dir.join(f)),
            cache_id: cache.next_segment_id(),
            cache: cache.clone(),
            entry,
            path,
            obsolete: Default::default(),
        })
    }

    /// Marks the segment removed from the manifest: its file goes when the last reader does.
    pub fn mark_obsolete(&self) {
        self.obsolete
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The manifest entry.
    pub fn entry(&self) -> &SegmentEntry {
        &self.entry
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bitmap index, from the cache or read from the sidecar; `None` when the segment has
    /// none.
    pub fn index(&self) -> Result<Option<Arc<BlockIndex>>> {
        let Some(path) = &self.index_path else {
            return Ok(None);
        };
        let key = CacheKey::Index {
            segment: self.cache_id,
        };
        if let Some(CacheValue::Index(index)) = self.cache.get(&key) {
            return Ok(Some(index));
        }
        let index = BlockIndex::read_file(path)?;
        if u64::from(index.rows) != self.entry.rows {
            return Err(Error::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: format!(
                    "the index covers {} rows, the segment has {}",
                    index.rows, self.entry.rows
                ),
            });
        }
        let index = Arc::new(index);
        let bytes = index.memory_bytes();
        self.cache
            .insert(key, CacheValue::Index(index.clone()), bytes);
        Ok(Some(index))
    }

    /// The file-schema indexes of the columns of `projected` this file has.
    fn stored_columns(&self, projected: &SchemaRef) -> Vec<usize> {
        projected
            .fields()
            .iter()
            .filter_map(|f| self.schema.index_of(f.name()).ok())
            .collect()
    }

    fn chunk_key(&self, row_group: usize, column: usize) -> CacheKey {
        CacheKey::Chunk {
            segment: self.cache_id,
            row_group: row_group as u32,
            column: column as u32,
        }
    }

    /// The cached chunks of `columns` in `row_group`, or `None` unless all are cached.
    fn cached_chunks(
        &self,
        row_group: usize,
        columns: &[usize],
    ) -> Option<Vec<Arc<Vec<ArrayRef>>>> {
        // `contains` first, so a partial hit does not count hits for chunks that are then
        // decoded anyway.
        if !columns
            .iter()
            .all(|&c| self.cache.contains(&self.chunk_key(row_group, c)))
        {
            return None;
        }
        let mut chunks = Vec::with_capacity(columns.len());
        for &c in columns {
            match self.cache.get(&self.chunk_key(row_group, c)) {
                Some(CacheValue::Chunk(arrays)) => chunks.push(arrays),
                _ => return None,
            }
        }
        Some(chunks)
    }

    /// The chunks of `columns` in `row_group`: cached ones from the cache, the others decoded
    /// from the file together and cached.
    fn chunks(&self, row_group: usize, columns: &[usize]) -> Result<Vec<Arc<Vec<ArrayRef>>>> {
        let mut chunks: Vec<Option<Arc<Vec<ArrayRef>>>> = columns
            .iter()
            .map(|&c| match self.cache.get(&self.chunk_key(row_group, c)) {
                Some(CacheValue::Chunk(arrays)) => Some(arrays),
                _ => None,
            })
            .collect();
        let missing: Vec<usize> = columns
            .iter()
            .zip(&chunks)
            .filter(|(_, chunk)| chunk.is_none())
            .map(|(&c, _)| c)
            .collect();
        if !missing.is_empty() {
            let file = File::open(&self.path).map_err(io("open segment", &self.path))?;
            let builder =
                ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone());
            let mask = ProjectionMask::roots(builder.parquet_schema(), missing.iter().copied());
            let reader = builder
                .with_projection(mask)
                .with_row_groups(vec![row_group])
                .with_batch_size(READ_BATCH_ROWS)
                .build()
                .map_err(|e| self.corrupt(e))?;
            let mut decoded: Vec<Vec<ArrayRef>> = vec![Vec::new(); missing.len()];
            for batch in reader {
                let batch = batch.map_err(|e| self.corrupt(e))?;
                for (out, &c) in decoded.iter_mut().zip(&missing) {
                    let name = self.schema.field(c).name();
                    let column = batch.column_by_name(name).ok_or_else(|| {
                        self.corrupt(format!("the reader returned no column {name}"))
                    })?;
                    out.push(column.clone());
                }
            }
            for (arrays, c) in decoded.into_iter().zip(missing) {
                let bytes = chunk_bytes(&arrays);
                let arrays = Arc::new(arrays);
                self.cache.insert(
                    self.chunk_key(row_group, c),
                    CacheValue::Chunk(arrays.clone()),
                    bytes,
                );
                if let Some(slot) = columns
                    .iter()
                    .position(|&x| x == c)
                    .and_then(|i| chunks.get_mut(i))
                {
                    *slot = Some(arrays);
                }
            }
        }
        chunks
            .into_iter()
            .map(|c| c.ok_or_else(|| Error::Internal("a column chunk was not read".into())))
            .collect()
    }

    /// The batches of `projected` made of the chunks of `columns` (file-schema indexes).
    fn assemble(
        &self,
        projected: &SchemaRef,
        columns: &[usize],
        chunks: &[Arc<Vec<ArrayRef>>],
    ) -> Result<Vec<RecordBatch>> {
        let batches = chunks.first().map_or(0, |c| c.len());
        if chunks.iter().any(|c| c.len() != batches) {
            return Err(Error::Internal(
                "cached column chunks of one row group differ in batching".into(),
            ));
        }
        let file_schema = Arc::new(self.schema.project(columns)?);
        let mut out = Vec::with_capacity(batches);
        for i in 0..batches {
            let arrays: Vec<ArrayRef> = chunks.iter().map(|c| c[i].clone()).collect();
            let batch = RecordBatch::try_new(file_schema.clone(), arrays)?;
            out.push(align_batch(&batch, projected)?);
        }
        Ok(out)
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            offset: 0,
            reason: e.to_string(),
        }
    }
}

impl Segment for ParquetSegment {
    fn kind(&self) -> SegmentKind {
        SegmentKind::Persisted
    }

    fn num_rows(&self) -> usize {
        self.entry.rows as usize
    }

    fn zones(&self) -> Vec<Arc<Zone>> {
        self.zones.clone()
    }

    fn read_blocks(&self, projected: &SchemaRef, blocks: &[usize]) -> Result<Vec<RecordBatch>> {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = self.stored_columns(projected);
        if wanted.is_empty() {
            // No stored column is needed (COUNT(*), or only columns added after this segment):
            // the row counts are in the footer.
            let mut out = Vec::new();
            for block in blocks {
                let mut left = self.zones.get(*block).map(|z| z.rows as usize).unwrap_or(0);
                while left > 0 {
                    let n = left.min(READ_BATCH_ROWS);
                    out.push(null_batch(projected, n)?);
                    left -= n;
                }
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        for &block in blocks {
            let chunks = self.chunks(block, &wanted)?;
            out.extend(self.assemble(projected, &wanted, &chunks)?);
        }
        Ok(out)
    }

    fn index_lookup(&self, column: &str, lookup: &IndexLookup) -> Result<Option<RoaringBitmap>> {
        Ok(self.index()?.and_then(|index| index.lookup(column, lookup)))
    }

    /// Reads the row group `block` through a Parquet row selection made of the runs of
    /// `selection`: pages without a selected row are not decoded.
    fn read_selected(
        &self,
        projected: &SchemaRef,
        block: usize,
        block_start: u32,
        selection: &RoaringBitmap,
    ) -> Result<Vec<RecordBatch>> {
        let rows = self.zones.get(block).map(|z| z.rows as u32).unwrap_or(0);
        let end = block_start.saturating_add(rows);
        let wanted = self.stored_columns(projected);
        if wanted.is_empty() {
            let mut left = selection.range_cardinality(block_start..end) as usize;
            let mut out = Vec::new();
            while left > 0 {
                let n = left.min(READ_BATCH_ROWS);
                out.push(null_batch(projected, n)?);
                left -= n;
            }
            return Ok(out);
        }
        if let Some(chunks) = self.cached_chunks(block, &wanted) {
            // Every chunk is decoded already: filter them rather than decode selected pages.
            let mut out = Vec::new();
            let mut at = block_start;
            for batch in self.assemble(projected, &wanted, &chunks)? {
                let n = batch.num_rows() as u32;
                let mask = selection_mask(selection, at, n);
                at += n;
                if mask.true_count() > 0 {
                    out.push(filter_record_batch(&batch, &mask)?);
                }
            }
            return Ok(out);
        }
        let mut selectors = Vec::new();
        let mut at = block_start;
        let mut runs = selection.range(block_start..end);
        while let Some(run) = runs.next_range() {
            if *run.start() > at {
                selectors.push(RowSelector::skip((run.start() - at) as usize));
            }
            selectors.push(RowSelector::select((run.end() - run.start()) as usize + 1));
            at = run.end() + 1;
        }
        if at < end {
            selectors.push(RowSelector::skip((end - at) as usize));
        }
        let file = File::open(&self.path).map_err(io("open segment", &self.path))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![block])
            .with_row_selection(RowSelection::from(selectors))
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| self.corrupt(e))?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| self.corrupt(e))?;
            out.push(align_batch(&batch, projected)?);
        }
        Ok(out)
    }
}

/// The rows `start..start + len` of `selection` as a filter mask of `len` values.
fn selection_mask(selection: &RoaringBitmap, start: u32, len: u32) -> BooleanArray {
    let mut bits = arrow::array::BooleanBufferBuilder::new(len as usize);
    let end = start.saturating_add(len);
    let mut at = start;
    let mut runs = selection.range(start..end);
    while let Some(run) = runs.next_range() {
        bits.append_n((run.start() - at) as usize, false);
        bits.append_n((run.end() - run.start()) as usize + 1, true);
        at = run.end() + 1;
    }
    bits.append_n((end - at) as usize, false);
    BooleanArray::new(bits.finish(), None)
}

/// A batch of `projected` with `rows` rows and every column NULL.
fn null_batch(projected: &SchemaRef, rows: usize) -> Result<RecordBatch> {
    let columns = projected
        .fields()
        .iter()
        .map(|f| arrow::array::new_null_array(f.data_type(), rows))
        .collect();
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        projected.clone(),
        columns,
        &options,
    )?)
}

/// How the rows of a flush or a compaction are laid out in segment files.
#[derive(Debug, Clone)]
pub struct Layout<'a> {
    /// The columns to sort by within a segment.
    pub sort_key: &'a [String],
    /// The time column, if the table has one.
    pub time_column: Option<&'a str>,
    /// The partition width in milliseconds; rows of different partitions go to different
    /// segments. Ignored without a time column.
    pub partition_ms: i64,
    /// The table's `indexes` option: which columns get a bitmap index (`None`: every string
    /// column).
    pub indexes: Option<&'a [String]>,
}

/// Writes `batches` (all of `schema`) as segments numbered from `first_id`: one per time
/// partition present, rows sorted by the sort key, each to a temporary file that is fsynced and
/// renamed into place. Returns the manifest entries; the caller commits the manifest.
pub fn write_segments(
    table_dir: &Path,
    first_id: u64,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    layout: &Layout<'_>,
    lsn_max: u64,
) -> Result<Vec<SegmentEntry>> {
    let batch = concat_batches(schema, batches)?;
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let partitions = match layout.time_column.and_then(|c| batch.column_by_name(c)) {
        Some(col) if layout.partition_ms > 0 => {
            crate::types::time_values_ms(col.as_ref()).map(|ts| -> Int64Array {
                let width = layout.partition_ms;
                ts.unary(|t: i64| t.div_euclid(width) * width)
            })
        }
        _ => None,
    };
    let batch = sort_batch(batch, partitions.as_ref(), layout.sort_key)?;
    let partitions = match partitions {
        // Sorting moved the rows; recompute the partition of each sorted row.
        Some(_) => layout
            .time_column
            .and_then(|c| batch.column_by_name(c))
            .and_then(|c| crate::types::time_values_ms(c.as_ref()))
            .map(|ts| -> Int64Array {
                let width = layout.partition_ms;
                ts.unary(|t: i64| t.div_euclid(width) * width)
            }),
        None => None,
    };
    let mut entries = Vec::new();
    let mut id = first_id;
    let written = write_partitions(
        table_dir,
        &mut id,
        schema,
        &batch,
        partitions,
        layout,
        lsn_max,
        &mut entries,
    );
    if let Err(e) = written {
        // A full disk (or any failed write) leaves nothing behind: no temporary file, no
        // complete file that no manifest will list.
        for id in first_id..=id {
            remove_segment_files(table_dir, id);
        }
        return Err(e);
    }
    Ok(entries)
}

/// Removes every file segment `id` may have (Parquet file, sidecar, their temporary files):
/// the clean-up after a failed persist or a manifest commit that did not happen.
pub fn remove_segment_files(table_dir: &Path, id: u64) {
    let parquet = table_dir.join(segment_file(id));
    let index = table_dir.join(index_file(id));
    for path in [
        parquet.with_extension("parquet.tmp"),
        index.with_extension(format!("{}.tmp", crate::index::INDEX_FILE_EXTENSION)),
        parquet,
        index,
    ] {
        fsutil::remove_quietly(&path);
    }
}

#[allow(clippy::too_many_arguments)]
fn write_partitions(
    table_dir: &Path,
    id: &mut u64,
    schema: &SchemaRef,
    batch: &RecordBatch,
    partitions: Option<Int64Array>,
    layout: &Layout<'_>,
    lsn_max: u64,
    entries: &mut Vec<SegmentEntry>,
) -> Result<()> {
    match partitions {
        None => entries.push(write_one(
            table_dir, *id, schema, batch, layout, None, lsn_max,
        )?),
        Some(p) => {
            let values = p.values();
            let mut start = 0;
            while start < values.len() {
                let key = values[start];
                let len = values[start..].iter().take_while(|v| **v == key).count();
                let slice = batch.slice(start, len);
                entries.push(write_one(
                    table_dir,
                    *id,
                    schema,
                    &slice,
                    layout,
                    Some(key),
                    lsn_max,
                )?);
                *id += 1;
                start += len;
            }
        }
    }
    Ok(())
}

/// Writes one segment file.
fn write_one(
    table_dir: &Path,
    id: u64,
    schema: &SchemaRef,
    batch: &RecordBatch,
    layout: &Layout<'_>,
    partition_start_ms: Option<i64>,
    lsn_max: u64,
) -> Result<SegmentEntry> {
    let (time_min_ms, time_max_ms) = match layout.time_column.and_then(|c| batch.column_by_name(c))
    {
        Some(col) => match crate::types::time_values_ms(col.as_ref()) {
            Some(ts) if ts.len() > ts.null_count() => {
                (arrow::compute::min(&ts), arrow::compute::max(&ts))
            }
            _ => (None, None),
        },
        None => (None, None),
    };
    let dir = segments_dir(table_dir);
    fsutil::create_dir_all(&dir)?;
    // The sidecar first: a crash before the manifest commit leaves both as orphans.
    let indexed = indexed_columns(layout.indexes, schema);
    let index_name = if indexed.is_empty() {
        None
    } else {
        let index = BlockIndex::build(batch, &indexed);
        let name = index_file(id);
        index.write_file(&table_dir.join(&name))?;
        Some(name)
    };
    let file_name = segment_file(id);
    let path = table_dir.join(&file_name);
    let tmp = path.with_extension("parquet.tmp");
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(|e| Error::Internal(format!("zstd level: {e}")))?,
        ))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(
                "strata.segment.format_version".to_string(),
                SEGMENT_FORMAT_VERSION.to_string(),
            ),
            KeyValue::new("strata.segment.lsn_max".to_string(), lsn_max.to_string()),
        ]))
        .build();
    let file = File::create(&tmp).map_err(io("create", &tmp))?;
    let write_err = |e: parquet::errors::ParquetError| {
        fsutil::io_error("write segment", &tmp, std::io::Error::other(e))
    };
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(write_err)?;
    writer.write(batch).map_err(write_err)?;
    let file = writer.into_inner().map_err(write_err)?;
    file.sync_all().map_err(io("fsync", &tmp))?;
    let bytes = file.metadata().map_err(io("stat", &tmp))?.len();
    drop(file);
    std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
    fsutil::sync_dir(&dir)?;
    Ok(SegmentEntry {
        id,
        file: file_name,
        index_file: index_name,
        rows: batch.num_rows() as u64,
        bytes,
        time_min_ms,
        time_max_ms,
        lsn_max,
        partition_start_ms,
        deletes_file: None,
        deletes_lsn: None,
    })
}

/// Sorts `batch` by partition, then by the columns of `sort_key` that it has (ascending, NULLs
/// last; stable).
fn sort_batch(
    batch: RecordBatch,
    partitions: Option<&Int64Array>,
    sort_key: &[String],
) -> Result<RecordBatch> {
    let partition_column = partitions.map(|p| Arc::new(p.clone()) as arrow::array::ArrayRef);
    let columns: Vec<SortColumn> = partition_column
        .iter()
        .cloned()
        .chain(
            sort_key
                .iter()
                .filter_map(|name| batch.column_by_name(name).cloned()),
        )
        .map(|values| SortColumn {
            values,
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    if columns.is_empty() || batch.num_rows() < 2 {
        return Ok(batch);
    }
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(&batch, &indices)?)
}

/// Removes files in the segments directory that `keep` does not name (orphans of an
/// interrupted persist, temporary files). Returns how many were removed.
pub fn remove_orphans(table_dir: &Path, keep: &[String]) -> Result<usize> {
    let dir = segments_dir(table_dir);
    if !dir.exists() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in fsutil::read_dir(&dir)? {
        let rel = format!("segments/{}", entry.file_name().to_string_lossy());
        if !keep.contains(&rel) {
            tracing::warn!(file = %entry.path().display(), "removing orphan segment file");
            std::fs::remove_file(entry.path()).map_err(io("remove", &entry.path()))?;
            removed += 1;
        }
    }
    if removed > 0 {
        fsutil::sync_dir(&dir)?;
    }
    Ok(removed)
}

/// Shared handle.
pub type ParquetSegmentRef = Arc<ParquetSegment>;
