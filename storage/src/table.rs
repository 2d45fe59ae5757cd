//! One table: its definition, write-ahead log and live segment.

mod delete;

use delete::mem_ref;
pub use delete::{DeleteInput, DeleteTxn};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::budget::IngestBudget;
use crate::cache::SegmentCache;
use crate::catalog::Catalog;
use crate::deletes::DeleteFrame;
use crate::fsutil::{lock, read_lock, write_lock};
use crate::idempotency::{self as idem, KeyCheck, Keys};
use crate::manifest::Manifest;
use crate::segment::persisted::{self, ParquetSegment};
use crate::segment::{LiveSegment, MemSegment, Segment, SegmentKind, SegmentRef};
use crate::source::{merge_offsets, AppendMeta, IngestError, SourceOffsets};
use crate::types::{is_supported, sql_type_name};
use crate::wal::{FrameKind, Wal};
use crate::{Error, Result, StorageConfig, TableDef};

/// What a query reads: the table's schema and its segments at one moment. Every row acknowledged
/// before the snapshot was taken is in exactly one of the segments.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    /// The table's schema; segments are read in (projections of) it.
    pub schema: SchemaRef,
    /// Persisted segments (oldest first), then sealed ones, then the live segment's durable rows.
    pub segments: Vec<SegmentRef>,
    /// When the newest append the snapshot includes was acknowledged (epoch milliseconds), from
    /// any source (HTTP, Kafka, INSERT); `None` when nothing was appended since the server
    /// started (or for a virtual table).
    pub newest_ack_ms: Option<i64>,
}

impl TableSnapshot {
    /// The number of rows in the snapshot.
    pub fn row_count(&self) -> usize {
        self.segments.iter().map(|s| s.num_rows()).sum()
    }

    /// Reads every row, all columns (for tests and small tables).
    pub fn read_all(&self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for segment in &self.segments {
            out.extend(segment.read(&self.schema)?);
        }
        Ok(out)
    }
}

/// A time partition is compacted once it has this many small segments.
pub const COMPACT_SEGMENTS_MIN: usize = 4;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Segments written.
    pub segments: usize,
    /// Rows written.
    pub rows: usize,
}

#[derive(Debug, Clone)]
struct Sealed {
    segment: Arc<MemSegment>,
    lsn_max: u64,
    /// The memory its batches and indexes take (the ingest budget counts it).
    bytes: usize,
}

/// The segments of a table, changed under one lock so that a snapshot is consistent.
#[derive(Debug)]
struct TableState {
    live: LiveSegment,
    sealed: Vec<Sealed>,
    persisted: Vec<Arc<ParquetSegment>>,
    /// The deleted rows of persisted segments, by segment id: the rows and the LSN of the
    /// newest delete frame they hold.
    deletes: HashMap<u64, (Arc<roaring::RoaringBitmap>, u64)>,
}

/// One segment as `system.segments` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Live, sealed or persisted.
    pub kind: SegmentKind,
    /// The persisted segment's id (in-memory segments have none).
    pub id: Option<u64>,
    /// Rows.
    pub rows: u64,
    /// Bytes: the Parquet file's size, or the Arrow memory of an in-memory segment.
    pub bytes: u64,
    /// The smallest value of the table's time column (epoch milliseconds), when known.
    pub time_min_ms: Option<i64>,
    /// The largest value of the time column.
    pub time_max_ms: Option<i64>,
    /// The Parquet file, relative to the data directory.
    pub file: Option<String>,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Rows stored.
    pub rows: usize,
    /// The LSN of the log frame that holds them (0 when nothing was written).
    pub lsn: u64,
}

/// The source offsets and dead letters of a table: what the manifest holds, and the log frames
/// not yet covered by it (in LSN order).
#[derive(Debug, Default)]
struct SourceState {
    persisted_offsets: SourceOffsets,
    error_files: Vec<String>,
    pending: Vec<(u64, AppendMeta)>,
}

/// One table.
pub struct Table {
    id: u64,
    name: String,
    dir: PathBuf,
    catalog: Arc<Catalog>,
    config: StorageConfig,
    /// The storage's read cache of persisted segments.
    cache: Arc<SegmentCache>,
    def: RwLock<TableDef>,
    write: Mutex<()>,
    wal: Wal,
    state: RwLock<TableState>,
    /// Held for the whole of a persist; holds the committed manifest.
    persist: Mutex<Manifest>,
    /// Offsets and dead letters; taken after `write` or `persist`, never before.
    sources: Mutex<SourceState>,
    dropped: AtomicBool,
    /// When the newest append was acknowledged (epoch milliseconds; 0: none since start).
    newest_ack_ms: std::sync::atomic::AtomicI64,
    /// The storage engine's ingest budget.
    budget: Arc<IngestBudget>,
    /// This table's share of the budget's live bytes (Arrow memory of live and sealed rows).
    live_bytes: AtomicU64,
    /// Idempotency keys acknowledged within the window (see [`crate::idempotency`]).
    keys: Keys,
}

impl Drop for Table {
    fn drop(&mut self) {
        self.budget
            .replace_live(self.live_bytes.load(Ordering::Relaxed), 0);
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl Table {
    /// Opens table `id` in `dir`, replaying its log.
    pub(crate) fn open(
        id: u64,
        def: TableDef,
        dir: PathBuf,
        catalog: Arc<Catalog>,
        config: &StorageConfig,
        cache: Arc<SegmentCache>,
        budget: Arc<IngestBudget>,
    ) -> Result<Table> {
        crate::fsutil::create_dir_all(&dir)?;
        let manifest = Manifest::load(&dir)?;
        let keep: Vec<String> = manifest
            .segments
            .iter()
            .flat_map(|s| {
                std::iter::once(s.file.clone())
                    .chain(s.index_file.clone())
                    .chain(s.deletes_file.clone())
            })
            .collect();
        persisted::remove_orphans(&dir, &keep)?;
        remove_orphan_error_files(&dir, &manifest.error_files)?;
        let keys_files: Vec<String> = manifest
            .idempotency_files
            .iter()
            .map(|f| f.file.clone())
            .collect();
        remove_orphan_files(&dir, "idempotency", &keys_files)?;
        let keys = Keys::new(config.idempotency_window_ms, config.idempotency_keys_max);
        let now = now_ms();
        for entry in &manifest.idempotency_files {
            if keys.expired(entry.time_max_ms, now) {
                continue;
            }
            for record in idem::read_keys_file(&dir.join(&entry.file))? {
                keys.insert(record, now);
            }
        }
        let sources = SourceState {
            persisted_offsets: manifest.source_offsets.clone(),
            error_files: manifest.error_files.clone(),
            pending: Vec::new(),
        };
        let persisted = manifest
            .segments
            .iter()
            .map(|entry| ParquetSegment::open(&dir, entry.clone(), &cache).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let mut deletes = HashMap::new();
        for entry in &manifest.segments {
            if let (Some(file), Some(lsn)) = (&entry.deletes_file, entry.deletes_lsn) {
                let rows = crate::deletes::read_deletes_file(&dir.join(file), entry.rows)?;
                deletes.insert(entry.id, (Arc::new(rows), lsn));
            }
        }
        let (mut wal, frames) = Wal::open(
            &dir.join("wal"),
            &def.name,
            config.fsync,
            config.wal_file_bytes_max,
            manifest.wal_lsn_covered + 1,
        )?;
        wal.share_total(budget.wal_counter());
        let table = Table {
            id,
            name: def.name.clone(),
            dir,
            catalog,
            config: config.clone(),
            cache,
            state: RwLock::new(TableState {
                live: LiveSegment::with_indexes(def.schema.clone(), def.options.indexes.clone()),
                sealed: Vec::new(),
                persisted,
                deletes,
            }),
            def: RwLock::new(def),
            write: Mutex::new(()),
            wal,
            persist: Mutex::new(manifest),
            sources: Mutex::new(sources),
            dropped: AtomicBool::new(false),
            newest_ack_ms: std::sync::atomic::AtomicI64::new(0),
            budget,
            live_bytes: AtomicU64::new(0),
            keys,
        };
        let mut rows = 0;
        for frame in &frames {
            let corrupt = |reason: String| Error::Corrupt {
                path: table.dir.join("wal"),
                offset: 0,
                reason: format!("frame {}: {reason}", frame.lsn),
            };
            let ipc = if frame.kind == FrameKind::Batch as u8 {
                &frame.body[..]
            } else if frame.kind == FrameKind::Delete as u8 {
                let delete = DeleteFrame::decode(&frame.body).map_err(corrupt)?;
                table.apply_delete(&delete, frame.lsn, true)?;
                continue;
            } else if frame.kind == FrameKind::BatchWithMeta as u8
                || frame.kind == FrameKind::BatchWithKey as u8
            {
                let (meta, ipc) = split_meta(&frame.body).map_err(corrupt)?;
                if let Some(record) = &meta.idempotency {
                    table.keys.insert(record.clone(), now);
                }
                lock(&table.sources).pending.push((frame.lsn, meta));
                ipc
            } else {
                return Err(corrupt(format!("unknown kind {}", frame.kind)));
            };
            if ipc.is_empty() {
                continue;
            }
            // A frame that passed its checksum but does not decode is damage, not a bug.
            crate::ipc::check_stream(ipc).map_err(corrupt)?;
            for batch in decode_ipc(ipc)? {
                let batch = table.reconcile(batch)?;
                rows += batch.num_rows();
                write_lock(&table.state).live.push(frame.lsn, batch);
            }
        }
        let durable = table.wal.durable_lsn();
        write_lock(&table.state).live.coalesce(durable)?;
        table.account_memory();
        if !frames.is_empty() {
            tracing::info!(table = %table.name, frames = frames.len(), rows, "replayed log");
        }
        Ok(table)
    }

    /// The table id (names its directory).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current definition (its schema grows when ingest adds columns).
    pub fn def(&self) -> TableDef {
        read_lock(&self.def).clone()
    }

    /// The current schema.
    pub fn schema(&self) -> SchemaRef {
        read_lock(&self.state).live.schema().clone()
    }

    /// A consistent view of every durable row.
    pub fn snapshot(&self) -> TableSnapshot {
        // The durable position is read under the state lock: a coalesce (which takes the write
        // lock) merges chunks under the LSN of the newest, so a position read before the lock
        // could be older than a merged chunk and hide rows an earlier snapshot saw.
        // Read before the rows: the snapshot holds at least every append acknowledged by then.
        let acked = self.newest_ack_ms.load(Ordering::Acquire);
        let state = read_lock(&self.state);
        let durable = self.wal.durable_lsn();
        let mut segments: Vec<SegmentRef> = Vec::with_capacity(state.persisted.len() + 2);
        for p in &state.persisted {
            segments.push(state.persisted_ref(p));
        }
        for s in &state.sealed {
            segments.push(mem_ref(s.segment.clone()));
        }
        let live = state.live.visible(durable);
        if !live.is_empty() {
            segments.push(mem_ref(Arc::new(MemSegment::new(SegmentKind::Live, live))));
        }
        TableSnapshot {
            schema: state.live.schema().clone(),
            segments,
            newest_ack_ms: (acked > 0).then_some(acked),
        }
    }

    /// Seals the live segment's durable rows and persists every sealed segment; returns when
    /// they are in Parquet files listed by a committed manifest, and the log is truncated.
    pub fn flush(&self) -> Result<FlushOutcome> {
        let mut manifest = lock(&self.persist);
        if self.dropped.load(Ordering::Acquire) {
            return Err(Error::TableDropped {
                name: self.name.clone(),
            });
        }
        {
            let durable = self.wal.durable_lsn();
            let mut state = write_lock(&self.state);
            if let Some((blocks, lsn_max, bytes)) = state.live.take_durable(durable) {
                let segment = Arc::new(MemSegment::new(SegmentKind::Sealed, blocks));
                state.sealed.push(Sealed {
                    segment,
                    lsn_max,
                    bytes,
                });
            }
        }
        let flushed = self.persist_sealed(&mut manifest);
        self.account_memory();
        flushed
    }

    /// Persists the sealed segments, oldest first (the persist lock is held).
    fn persist_sealed(&self, manifest: &mut Manifest) -> Result<FlushOutcome> {
        let mut outcome = FlushOutcome::default();
        // Deleted rows of persisted segments reach the manifest before the log frames that
        // describe them can be truncated.
        self.write_delete_files(manifest)?;
        loop {
            let Some(sealed) = read_lock(&self.state).sealed.first().cloned() else {
                break;
            };
            // Deleted rows are dropped here, for good.
            let batches = sealed.segment.surviving_batches()?;
            let Some(first) = batches.first() else {
                // Nothing left to write: the log keeps the frames until a later persist covers
                // them (replay deletes the rows again).
                write_lock(&self.state).sealed.remove(0);
                continue;
            };
            let schema = first.schema();
            let (entries, segments) =
                self.write_segments(manifest, &schema, &batches, sealed.lsn_max)?;
            drop(batches);
            let rows: usize = entries.iter().map(|e| e.rows as usize).sum();
            let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
            let mut next = manifest.clone();
            next.next_segment_id += entries.len() as u64;
            next.wal_lsn_covered = sealed.lsn_max;
            next.segments.extend(entries);
            let committed = self
                .fold_sources(&mut next, sealed.lsn_max)
                .and_then(|()| next.commit(&self.dir));
            if let Err(e) = committed {
                // The manifest still lists only complete files and the rows stay sealed (in
                // memory, queryable, in the log): the next attempt writes them again.
                drop(segments);
                self.remove_uncommitted(&ids);
                return Err(e);
            }
            {
                let mut sources = lock(&self.sources);
                sources.pending.retain(|(lsn, _)| *lsn > sealed.lsn_max);
                sources.persisted_offsets = next.source_offsets.clone();
                sources.error_files = next.error_files.clone();
            }
            for gone in &manifest.idempotency_files {
                if !next.idempotency_files.contains(gone) {
                    crate::fsutil::remove_quietly(&self.dir.join(&gone.file));
                }
            }
            *manifest = next;
            {
                let mut state = write_lock(&self.state);
                state.sealed.remove(0);
                state.persisted.extend(segments.iter().cloned());
            }
            self.wal.truncate_through(sealed.lsn_max)?;
            tracing::info!(table = %self.name, segments = segments.len(), rows, "persisted");
            outcome.segments += segments.len();
            outcome.rows += rows;
        }
        Ok(outcome)
    }

    /// The background work of one table: persists the live segment when it reached its row,
    /// byte or age limit (and retries sealed segments an earlier persist failed to write),
    /// compacts small segments, drops expired partitions.
    pub fn maintain(&self) -> Result<Option<FlushOutcome>> {
        let (due, retry) = {
            let state = read_lock(&self.state);
            let durable = self.wal.durable_lsn();
            let (rows, bytes, age) = state.live.durable_stats(durable);
            let due = rows >= self.config.segment_rows_max
                || bytes >= self.config.segment_bytes_max
                || (rows > 0 && age.is_some_and(|a| a >= self.config.segment_age_max));
            (due, !state.sealed.is_empty())
        };
        let flushed = if due || retry {
            let started = std::time::Instant::now();
            let flushed = self.flush()?;
            metrics::histogram!("strata_persist_seconds").record(started.elapsed().as_secs_f64());
            Some(flushed)
        } else {
            None
        };
        let started = std::time::Instant::now();
        if self.compact()? > 0 {
            metrics::histogram!("strata_compaction_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        self.expire(now_ms())?;
        Ok(flushed)
    }

    /// Merges the small segments of one time partition into one: a partition with at least
    /// [`COMPACT_SEGMENTS_MIN`] segments each under half the segment row limit. Returns how many
    /// segments were merged (0: nothing to do). The old files are deleted once no running query
    /// reads them.
    pub fn compact(&self) -> Result<usize> {
        let mut manifest = lock(&self.persist);
        if self.dropped.load(Ordering::Acquire) {
            return Err(Error::TableDropped {
                name: self.name.clone(),
            });
        }
        let small = (self.config.segment_rows_max / 2).max(1) as u64;
        let mut groups: std::collections::BTreeMap<Option<i64>, Vec<u64>> = Default::default();
        // A segment counts by the rows a delete left it: one emptied by deletes is merged (and
        // its deleted rows dropped) like a small one.
        let deleted = self.deleted_counts();
        for e in &manifest.segments {
            if e.rows
                .saturating_sub(deleted.get(&e.id).copied().unwrap_or(0))
                < small
            {
                groups.entry(e.partition_start_ms).or_default().push(e.id);
            }
        }
        let Some((partition, ids)) = groups
            .into_iter()
            .find(|(_, ids)| ids.len() >= COMPACT_SEGMENTS_MIN)
        else {
            return Ok(0);
        };
        // Read without their deleted rows: compaction drops them for good.
        let inputs: Vec<(SegmentRef, u64)> = {
            let state = read_lock(&self.state);
            state
                .persisted
                .iter()
                .filter(|s| ids.contains(&s.entry().id))
                .map(|s| (state.persisted_ref(s), s.entry().lsn_max))
                .collect()
        };
        let schema = self.schema();
        let mut batches = Vec::new();
        for (segment, _) in &inputs {
            batches.extend(segment.read(&schema)?);
        }
        let lsn_max = inputs.iter().map(|(_, lsn)| *lsn).max().unwrap_or(0);
        let (entries, outputs) = self.write_segments(&manifest, &schema, &batches, lsn_max)?;
        drop(batches);
        let new_ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
        let mut next = manifest.clone();
        next.next_segment_id += entries.len() as u64;
        next.segments.retain(|e| !ids.contains(&e.id));
        next.segments.extend(entries);
        if let Err(e) = next.commit(&self.dir) {
            // The inputs stay as they are; the merged files go.
            drop(outputs);
            self.remove_uncommitted(&new_ids);
            return Err(e);
        }
        let old = std::mem::replace(&mut *manifest, next);
        self.swap_persisted(&ids, outputs);
        self.remove_delete_files(&old, &ids);
        tracing::info!(table = %self.name, ?partition, merged = ids.len(), "compacted");
        Ok(ids.len())
    }

    /// Drops the persisted segments of every time partition that ended more than the table's
    /// ttl before `now_ms`. Returns how many segments were dropped.
    pub fn expire(&self, now_ms: i64) -> Result<usize> {
        let options = read_lock(&self.def).options.clone();
        let Some(ttl) = options.ttl_ms else {
            return Ok(0);
        };
        let cutoff = now_ms.saturating_sub(ttl);
        let width = options.partition.width_ms();
        let mut manifest = lock(&self.persist);
        let expired: Vec<u64> = manifest
            .segments
            .iter()
            .filter(|e| match e.partition_start_ms {
                Some(start) => start.saturating_add(width) <= cutoff,
                None => e.time_max_ms.is_some_and(|t| t < cutoff),
            })
            .map(|e| e.id)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let mut next = manifest.clone();
        next.segments.retain(|e| !expired.contains(&e.id));
        next.commit(&self.dir)?;
        let old = std::mem::replace(&mut *manifest, next);
        self.swap_persisted(&expired, Vec::new());
        self.remove_delete_files(&old, &expired);
        tracing::info!(table = %self.name, segments = expired.len(), "retention dropped expired partitions");
        Ok(expired.len())
    }

    /// Writes `batches` as new segment files laid out by the table's options (one per time
    /// partition, sorted by the sort key), numbered from the manifest's next id, and opens them.
    /// The caller commits the manifest.
    fn write_segments(
        &self,
        manifest: &Manifest,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        lsn_max: u64,
    ) -> Result<(Vec<crate::manifest::SegmentEntry>, Vec<Arc<ParquetSegment>>)> {
        let options = read_lock(&self.def).options.clone();
        let sort_key = options.effective_sort_key();
        let layout = persisted::Layout {
            sort_key: &sort_key,
            time_column: options.time_column.as_deref(),
            partition_ms: options.partition.width_ms(),
            indexes: options.indexes.as_deref(),
        };
        let entries = persisted::write_segments(
            &self.dir,
            manifest.next_segment_id,
            schema,
            batches,
            &layout,
            lsn_max,
        )?;
        let segments = entries
            .iter()
            .map(|e| ParquetSegment::open(&self.dir, e.clone(), &self.cache).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok((entries, segments))
    }

    /// Removes the files of segments that were written but that no manifest lists (their
    /// manifest commit failed).
    fn remove_uncommitted(&self, ids: &[u64]) {
        for id in ids {
            persisted::remove_segment_files(&self.dir, *id);
        }
        let _ = crate::fsutil::sync_dir(&self.dir.join("segments"));
    }

    /// Recomputes this table's share of the ingest budget's live bytes: the Arrow memory of its
    /// live and sealed segments.
    fn account_memory(&self) {
        let bytes = {
            let state = read_lock(&self.state);
            let sealed: usize = state.sealed.iter().map(|s| s.bytes).sum();
            (state.live.memory_bytes() + sealed) as u64
        };
        let old = self.live_bytes.swap(bytes, Ordering::Relaxed);
        self.budget.replace_live(old, bytes);
    }

    /// This table's share of the ingest budget's live bytes.
    pub fn unpersisted_bytes(&self) -> u64 {
        self.live_bytes.load(Ordering::Relaxed)
    }

    /// True when the table holds durable rows that no persisted segment has yet.
    pub fn has_unpersisted_rows(&self) -> bool {
        let state = read_lock(&self.state);
        let durable = self.wal.durable_lsn();
        !state.sealed.is_empty() || state.live.durable_stats(durable).0 > 0
    }

    /// Replaces the persisted segments `ids` with `outputs` in the readable state; the old
    /// ones are deleted when the last snapshot holding them is dropped.
    fn swap_persisted(&self, ids: &[u64], outputs: Vec<Arc<ParquetSegment>>) {
        let mut state = write_lock(&self.state);
        state.persisted.retain(|s| {
            let gone = ids.contains(&s.entry().id);
            if gone {
                s.mark_obsolete();
            }
            !gone
        });
        state.deletes.retain(|id, _| !ids.contains(id));
        state.persisted.extend(outputs);
    }

    /// Segments and rows per stage (persisted, sealed, live), for introspection.
    pub fn segment_counts(&self) -> Vec<(SegmentKind, usize, usize)> {
        let state = read_lock(&self.state);
        let durable = self.wal.durable_lsn();
        let persisted_rows = state
            .persisted
            .iter()
            .map(|s| state.persisted_ref(s).num_rows())
            .sum();
        let sealed_rows = state
            .sealed
            .iter()
            .map(|s| mem_ref(s.segment.clone()).num_rows())
            .sum();
        let live_rows = {
            let live = state.live.visible(durable);
            mem_ref(Arc::new(MemSegment::new(SegmentKind::Live, live))).num_rows()
        };
        vec![
            (
                SegmentKind::Persisted,
                state.persisted.len(),
                persisted_rows,
            ),
            (SegmentKind::Sealed, state.sealed.len(), sealed_rows),
            (SegmentKind::Live, usize::from(live_rows > 0), live_rows),
        ]
    }

    /// One row per segment (persisted, then sealed, then the live segment when it holds durable
    /// rows), for `system.segments`.
    pub fn segment_infos(&self) -> Vec<SegmentInfo> {
        let (time_column, day_ms) = {
            let def = read_lock(&self.def);
            let column = def.options.time_column.clone();
            // A DATE time column's zone maps hold days.
            let days = column
                .as_ref()
                .and_then(|c| def.schema.field_with_name(c).ok())
                .is_some_and(|f| *f.data_type() == arrow::datatypes::DataType::Date32);
            (column, if days { crate::types::MS_PER_DAY } else { 1 })
        };
        let table_dir = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let time_range = |zones: &[Arc<crate::zonemap::Zone>]| -> (Option<i64>, Option<i64>) {
            let Some(column) = &time_column else {
                return (None, None);
            };
            let mut range: (Option<i64>, Option<i64>) = (None, None);
            for zone in zones {
                let Some(z) = zone.columns.get(column) else {
                    continue;
                };
                if let Some(crate::zonemap::StatValue::Int(v)) = &z.min {
                    let v = v.saturating_mul(day_ms);
                    range.0 = Some(range.0.map_or(v, |m| m.min(v)));
                }
                if let Some(crate::zonemap::StatValue::Int(v)) = &z.max {
                    let v = v.saturating_mul(day_ms);
                    range.1 = Some(range.1.map_or(v, |m| m.max(v)));
                }
            }
            range
        };
        let state = read_lock(&self.state);
        let durable = self.wal.durable_lsn();
        let mut out = Vec::new();
        for segment in &state.persisted {
            let entry = segment.entry();
            out.push(SegmentInfo {
                kind: SegmentKind::Persisted,
                id: Some(entry.id),
                rows: state.persisted_ref(segment).num_rows() as u64,
                bytes: entry.bytes,
                time_min_ms: entry.time_min_ms,
                time_max_ms: entry.time_max_ms,
                file: Some(format!("tables/{table_dir}/{}", entry.file)),
            });
        }
        let in_memory = |kind, segment: &dyn Segment| {
            let zones = segment.zones();
            let (time_min_ms, time_max_ms) = time_range(&zones);
            SegmentInfo {
                kind,
                id: None,
                rows: 0,
                bytes: 0,
                time_min_ms,
                time_max_ms,
                file: None,
            }
        };
        for sealed in &state.sealed {
            let mut info = in_memory(SegmentKind::Sealed, sealed.segment.as_ref());
            info.rows = mem_ref(sealed.segment.clone()).num_rows() as u64;
            info.bytes = sealed
                .segment
                .batches()
                .iter()
                .map(|b| b.get_array_memory_size() as u64)
                .sum();
            out.push(info);
        }
        let visible = state.live.visible(durable);
        if !visible.is_empty() {
            let bytes = visible
                .iter()
                .map(|b| b.batch.get_array_memory_size() as u64)
                .sum();
            let live = Arc::new(MemSegment::new(SegmentKind::Live, visible));
            let mut info = in_memory(SegmentKind::Live, live.as_ref());
            info.rows = mem_ref(live).num_rows() as u64;
            info.bytes = bytes;
            out.push(info);
        }
        out
    }

    /// Appends `batch` durably: when this returns `Ok`, its rows survive a crash (under the
    /// default fsync policy) and every later snapshot shows them. The batch is matched to the
    /// table's columns by name (case-insensitive): missing columns become NULL, values are cast
    /// to the column type, and columns the table lacks are added as nullable columns. The batch
    /// is stored wholly or not at all.
    pub fn append(&self, batch: RecordBatch) -> Result<AppendOutcome> {
        if batch.num_rows() == 0 {
            return Ok(AppendOutcome { rows: 0, lsn: 0 });
        }
        self.budget.admit()?;
        let rows = batch.num_rows();
        let lsn = {
            let _write = lock(&self.write);
            if self.dropped.load(Ordering::Acquire) {
                return Err(Error::TableDropped {
                    name: self.name.clone(),
                });
            }
            let batch = self.reconcile(batch)?;
            let body = encode_ipc(&batch)?;
            let lsn = self.wal.append(FrameKind::Batch, &body)?;
            write_lock(&self.state).live.push(lsn, batch);
            lsn
        };
        self.wal.sync(lsn)?;
        if rows > 0 {
            self.acknowledged();
        }
        let durable = self.wal.durable_lsn();
        write_lock(&self.state).live.coalesce(durable)?;
        self.account_memory();
        Ok(AppendOutcome { rows, lsn })
    }

    /// Appends `batch` (when it has rows) together with source offsets and dead letters, in one
    /// log frame: when this returns `Ok` all of it is durable, else none of it is (under the
    /// default fsync policy). [`Table::source_offsets`] and [`Table::ingest_errors`] show it from
    /// then on, across restarts. An append with no rows and empty `meta` does nothing.
    pub fn append_with(
        &self,
        batch: Option<RecordBatch>,
        meta: AppendMeta,
    ) -> Result<AppendOutcome> {
        let batch = batch.filter(|b| b.num_rows() > 0);
        if meta.is_empty() {
            return match batch {
                Some(batch) => self.append(batch),
                None => Ok(AppendOutcome { rows: 0, lsn: 0 }),
            };
        }
        self.budget.admit()?;
        let rows = batch.as_ref().map_or(0, |b| b.num_rows());
        let record = meta.idempotency.clone();
        if let Some(record) = &record {
            idem::validate_key(&record.key).map_err(|reason| {
                Error::Internal(format!(
                    "an append carries an invalid idempotency key: {reason}"
                ))
            })?;
        }
        let kind = if record.is_some() {
            FrameKind::BatchWithKey
        } else {
            FrameKind::BatchWithMeta
        };
        let lsn = {
            let _write = lock(&self.write);
            if self.dropped.load(Ordering::Acquire) {
                return Err(Error::TableDropped {
                    name: self.name.clone(),
                });
            }
            let batch = batch.map(|b| self.reconcile(b)).transpose()?;
            let meta_json = serde_json::to_vec(&meta)
                .map_err(|e| Error::Internal(format!("serialising append metadata: {e}")))?;
            let meta_len = u32::try_from(meta_json.len())
                .map_err(|_| Error::Internal("append metadata exceeds 4 GiB".to_string()))?;
            let mut body = Vec::with_capacity(4 + meta_json.len());
            body.extend_from_slice(&meta_len.to_le_bytes());
            body.extend_from_slice(&meta_json);
            if let Some(batch) = &batch {
                body.extend_from_slice(&encode_ipc(batch)?);
            }
            let lsn = self.wal.append(kind, &body)?;
            if let Some(batch) = batch {
                write_lock(&self.state).live.push(lsn, batch);
            }
            lock(&self.sources).pending.push((lsn, meta));
            lsn
        };
        self.wal.sync(lsn)?;
        if rows > 0 {
            self.acknowledged();
        }
        // Acknowledged: a retry with the key is answered from the record from now on.
        if let Some(record) = record {
            self.keys.insert(record, now_ms());
        }
        let durable = self.wal.durable_lsn();
        write_lock(&self.state).live.coalesce(durable)?;
        self.account_memory();
        Ok(AppendOutcome { rows, lsn })
    }

    /// Records that an append's rows are durable and visible now.
    fn acknowledged(&self) {
        self.newest_ack_ms.fetch_max(now_ms(), Ordering::AcqRel);
    }

    /// Looks up the idempotency key of a request whose body and options digest to
    /// `fingerprint` (see [`KeyCheck`]). A [`KeyCheck::New`] key is held in flight until its
    /// guard drops: append with the record in [`AppendMeta::idempotency`] before dropping it.
    pub fn check_key(&self, key: &str, fingerprint: &str) -> KeyCheck<'_> {
        self.keys.check(key, fingerprint, now_ms())
    }

    /// Idempotency keys held in memory.
    pub fn idempotency_keys(&self) -> usize {
        self.keys.len(now_ms())
    }

    /// The next offset per partition of `source`, as of every durable append (empty when the
    /// source never appended to this table).
    pub fn source_offsets(&self, source: &str) -> std::collections::BTreeMap<i32, i64> {
        let durable = self.wal.durable_lsn();
        let sources = lock(&self.sources);
        let mut all = SourceOffsets::new();
        if let Some(p) = sources.persisted_offsets.get(source) {
            all.insert(source.to_string(), p.clone());
        }
        for (lsn, meta) in &sources.pending {
            if *lsn <= durable {
                if let Some(p) = meta.offsets.get(source) {
                    merge_offsets(
                        &mut all,
                        &SourceOffsets::from([(source.to_string(), p.clone())]),
                    );
                }
            }
        }
        all.remove(source).unwrap_or_default()
    }

    /// Every durable dead letter of this table, oldest first.
    pub fn ingest_errors(&self) -> Result<Vec<IngestError>> {
        let durable = self.wal.durable_lsn();
        let (files, pending): (Vec<String>, Vec<IngestError>) = {
            let sources = lock(&self.sources);
            let pending = sources
                .pending
                .iter()
                .filter(|(lsn, _)| *lsn <= durable)
                .flat_map(|(_, m)| m.errors.iter().cloned())
                .collect();
            (sources.error_files.clone(), pending)
        };
        let mut out = Vec::new();
        for file in files {
            let path = self.dir.join(&file);
            let bytes = std::fs::read(&path).map_err(crate::fsutil::io("read", &path))?;
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let e: IngestError = serde_json::from_slice(line).map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    offset: i as u64,
                    reason: format!("dead letter on line {}: {e}", i + 1),
                })?;
                out.push(e);
            }
        }
        out.extend(pending);
        Ok(out)
    }

    /// Moves the offsets and dead letters of the log frames up to `lsn_max` into `next` (the
    /// manifest about to be committed), writing the dead letters to a file it lists.
    fn fold_sources(&self, next: &mut Manifest, lsn_max: u64) -> Result<()> {
        let covered: Vec<AppendMeta> = lock(&self.sources)
            .pending
            .iter()
            .filter(|(lsn, _)| *lsn <= lsn_max)
            .map(|(_, m)| m.clone())
            .collect();
        let mut lines = Vec::new();
        let mut records = Vec::new();
        for meta in &covered {
            merge_offsets(&mut next.source_offsets, &meta.offsets);
            records.extend(meta.idempotency.iter().cloned());
            for e in &meta.errors {
                serde_json::to_writer(&mut lines, e)
                    .map_err(|e| Error::Internal(format!("serialising a dead letter: {e}")))?;
                lines.push(b'\n');
            }
        }
        if !lines.is_empty() {
            let rel = format!("errors/{lsn_max:020}.ndjson");
            crate::fsutil::create_dir_all(&self.dir.join("errors"))?;
            crate::fsutil::write_atomic(&self.dir.join(&rel), &lines)?;
            if !next.error_files.contains(&rel) {
                next.error_files.push(rel);
            }
        }
        // Keys files whose newest key is past the window go; the caller deletes them once the
        // manifest without them is committed.
        let now = now_ms();
        next.idempotency_files
            .retain(|f| !self.keys.expired(f.time_max_ms, now));
        let records: Vec<_> = records
            .into_iter()
            .filter(|r| !self.keys.expired(r.time_ms, now))
            .collect();
        if let Some(time_max_ms) = records.iter().map(|r| r.time_ms).max() {
            let rel = idem::keys_file(lsn_max);
            idem::write_keys_file(&self.dir.join(&rel), &records)?;
            next.idempotency_files.retain(|f| f.file != rel);
            next.idempotency_files.push(idem::KeysFileEntry {
                file: rel,
                time_max_ms,
            });
        }
        Ok(())
    }

    /// Marks the table dropped: later appends and flushes fail.
    pub(crate) fn mark_dropped(&self) {
        let _persist = lock(&self.persist);
        let _write = lock(&self.write);
        self.dropped.store(true, Ordering::Release);
    }

    /// Matches `batch` to the table schema, evolving the schema for new columns. Called with the
    /// write lock held (or during replay, before the table is shared).
    fn reconcile(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let current = self.schema();
        let mut fields: Vec<Field> = current
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut sources: Vec<Option<usize>> = vec![None; fields.len()];
        // Column positions by exact name, then by lower-cased name (the first one wins): one
        // hash lookup per incoming column, so a wide table costs linear time here (and in
        // replay), not quadratic.
        let mut exact: HashMap<String, usize> = HashMap::with_capacity(fields.len());
        let mut folded: HashMap<String, usize> = HashMap::with_capacity(fields.len());
        for (p, t) in fields.iter().enumerate() {
            exact.entry(t.name().clone()).or_insert(p);
            folded.entry(t.name().to_ascii_lowercase()).or_insert(p);
        }
        let in_schema = batch.schema();
        for (i, f) in in_schema.fields().iter().enumerate() {
            let pos = exact
                .get(f.name())
                .or_else(|| folded.get(&f.name().to_ascii_lowercase()))
                .copied();
            match pos {
                Some(p) if sources[p].is_some() => {
                    return Err(Error::InvalidSchema {
                        reason: format!(
                            "the data has two columns that both match column \"{}\"",
                            fields[p].name()
                        ),
                    })
                }
                Some(p) => sources[p] = Some(i),
                None => {
                    crate::catalog::validate_column_name(f.name())?;
                    if !is_supported(f.data_type()) {
                        return Err(Error::InvalidSchema {
                            reason: format!(
                                "new column \"{}\" has unsupported type {}",
                                f.name(),
                                f.data_type()
                            ),
                        });
                    }
                    exact.entry(f.name().clone()).or_insert(fields.len());
                    folded
                        .entry(f.name().to_ascii_lowercase())
                        .or_insert(fields.len());
                    fields.push(Field::new(f.name(), f.data_type().clone(), true));
                    sources.push(Some(i));
                }
            }
        }
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for (field, source) in fields.iter().zip(&sources) {
            let column = match source {
                None => new_null_array(field.data_type(), rows),
                Some(i) => {
                    let col = batch.column(*i);
                    if col.data_type() == field.data_type() {
                        col.clone()
                    } else {
                        let opts = CastOptions {
                            safe: false,
                            ..Default::default()
                        };
                        cast_with_options(col, field.data_type(), &opts).map_err(|e| {
                            Error::SchemaConflict {
                                table: self.name.clone(),
                                column: field.name().clone(),
                                existing: sql_type_name(field.data_type()).to_string(),
                                incoming: sql_type_name(col.data_type()).to_string(),
                                reason: e.to_string(),
                            }
                        })?
                    }
                }
            };
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(Error::NullInNotNull {
                    table: self.name.clone(),
                    column: field.name().clone(),
                    count: column.null_count(),
                });
            }
            columns.push(column);
        }
        let schema = if fields.len() > current.fields().len() {
            let schema = Arc::new(Schema::new(fields));
            self.evolve(schema.clone())?;
            schema
        } else {
            current
        };
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Replaces the table's options (e.g. `ALTER TABLE t SET (ttl = '...')`): persisted in the
    /// catalog first. The time column and partitioning shape stored data and cannot change.
    pub fn set_options(&self, options: crate::TableOptions) -> Result<()> {
        let mut def = write_lock(&self.def);
        if options.time_column != def.options.time_column
            || options.partition != def.options.partition
        {
            return Err(Error::InvalidSchema {
                reason: format!(
                    "the time column and partitioning of table \"{}\" cannot change once it \
                     exists; create a new table and INSERT INTO it",
                    self.name
                ),
            });
        }
        let next = TableDef {
            name: def.name.clone(),
            schema: def.schema.clone(),
            options,
        };
        self.catalog.update_table(self.id, &next)?;
        tracing::info!(table = %self.name, "options changed");
        *def = next;
        Ok(())
    }

    /// Adopts a wider schema: persisted in the catalog first, then applied to the live segment.
    fn evolve(&self, schema: SchemaRef) -> Result<()> {
        crate::check_columns(
            &self.name,
            schema.fields().len(),
            self.config.table_columns_max,
        )?;
        let mut def = write_lock(&self.def);
        let next = TableDef {
            name: def.name.clone(),
            schema: schema.clone(),
            options: def.options.clone(),
        };
        self.catalog.update_table(self.id, &next)?;
        tracing::info!(table = %self.name, columns = schema.fields().len(), "schema evolved");
        write_lock(&self.state).live.widen(schema)?;
        *def = next;
        Ok(())
    }
}

fn encode_ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// Splits a kind 2 frame body into its metadata and its Arrow IPC stream (maybe empty).
fn split_meta(body: &[u8]) -> std::result::Result<(AppendMeta, &[u8]), String> {
    if body.len() < 4 {
        return Err("metadata length cut short".to_string());
    }
    let len = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
    if body.len() - 4 < len {
        return Err(format!("metadata length {len} exceeds the frame"));
    }
    let meta = serde_json::from_slice(&body[4..4 + len]).map_err(|e| format!("metadata: {e}"))?;
    Ok((meta, &body[4 + len..]))
}

/// Deletes dead-letter files that the manifest does not list (a crash before its commit).
fn remove_orphan_error_files(table_dir: &std::path::Path, keep: &[String]) -> Result<()> {
    remove_orphan_files(table_dir, "errors", keep)
}

/// Deletes the files of `table_dir/sub` that the manifest does not list in `keep` (paths
/// relative to the table directory): a crash before the commit that would have listed them.
fn remove_orphan_files(table_dir: &std::path::Path, sub: &str, keep: &[String]) -> Result<()> {
    let dir = table_dir.join(sub);
    if !dir.exists() {
        return Ok(());
    }
    for entry in crate::fsutil::read_dir(&dir)? {
        let rel = format!("{sub}/{}", entry.file_name().to_string_lossy());
        if !keep.contains(&rel) {
            tracing::warn!(file = %entry.path().display(), "removing orphan file");
            std::fs::remove_file(entry.path())
                .map_err(crate::fsutil::io("remove", &entry.path()))?;
        }
    }
    Ok(())
}

fn decode_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(bytes, None)?;
    let mut out = Vec::new();
    for batch in reader {
        out.push(batch?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_dir;
    use crate::{Storage, TableOptions};
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::DataType;

    fn def(name: &str) -> TableDef {
        TableDef {
            name: name.to_string(),
            schema: Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("s", DataType::Utf8, true),
            ])),
            options: TableOptions::default(),
        }
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    #[test]
    fn appended_rows_survive_reopen() {
        let dir = temp_dir("table-reopen");
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("T").unwrap();
            let out = t
                .append(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
                )]))
                .unwrap();
            assert_eq!(out.rows, 3);
            assert_eq!(t.snapshot().row_count(), 3);
        }
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let snap = storage.table("t").unwrap().snapshot();
        assert_eq!(snap.row_count(), 3);
        assert_eq!(snap.read_all().unwrap()[0].column(1).null_count(), 3);
    }

    #[test]
    fn new_columns_evolve_the_schema_and_survive_reopen() {
        let dir = temp_dir("table-evolve");
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            t.append(batch(vec![(
                "a",
                Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            )]))
            .unwrap();
            t.append(batch(vec![
                ("A", Arc::new(Int64Array::from(vec![2])) as ArrayRef),
                ("extra", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ]))
            .unwrap();
            assert_eq!(t.schema().fields().len(), 3);
        }
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let t = storage.table("t").unwrap();
        assert_eq!(t.schema().field(2).name(), "extra");
        let snap = t.snapshot();
        assert_eq!(snap.row_count(), 2);
        for b in &snap.read_all().unwrap() {
            assert_eq!(b.schema(), snap.schema);
        }
    }

    #[test]
    fn unconvertible_values_reject_the_batch_and_change_nothing() {
        let dir = temp_dir("table-conflict");
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        storage.create_table(def("t"), false).unwrap();
        let t = storage.table("t").unwrap();
        let err = t
            .append(batch(vec![
                (
                    "a",
                    Arc::new(StringArray::from(vec!["12", "nope"])) as ArrayRef,
                ),
                (
                    "new_col",
                    Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
                ),
            ]))
            .unwrap_err();
        assert!(matches!(err, Error::SchemaConflict { .. }), "{err}");
        assert_eq!(t.snapshot().row_count(), 0);
        assert_eq!(
            t.schema().fields().len(),
            2,
            "no column added by a rejected batch"
        );
    }

    #[test]
    fn dropped_table_is_gone_after_reopen_and_name_is_reusable() {
        let dir = temp_dir("table-drop");
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            storage
                .table("t")
                .unwrap()
                .append(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                )]))
                .unwrap();
            assert!(storage.drop_table("t", false).unwrap());
            assert!(!storage.drop_table("t", true).unwrap());
            assert!(matches!(
                storage.table("t"),
                Err(Error::TableNotFound { .. })
            ));
            storage.create_table(def("t"), false).unwrap();
        }
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        assert_eq!(storage.table_names(), vec!["t".to_string()]);
        assert_eq!(storage.table("t").unwrap().snapshot().row_count(), 0);
    }

    fn sum_a(snap: &TableSnapshot) -> i64 {
        snap.read_all()
            .unwrap()
            .iter()
            .map(|b| {
                let a = b.column_by_name("a").unwrap();
                let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
                a.iter().flatten().sum::<i64>()
            })
            .sum()
    }

    fn no_maintenance() -> StorageConfig {
        StorageConfig {
            maintenance_interval: None,
            ..StorageConfig::default()
        }
    }

    #[test]
    fn flushed_rows_read_the_same_and_survive_reopen_without_the_log() {
        let dir = temp_dir("table-flush");
        {
            let storage = Storage::open(&dir, no_maintenance()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            for i in 0..10i64 {
                t.append(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![i, 100 + i])) as ArrayRef,
                )]))
                .unwrap();
            }
            let before = sum_a(&t.snapshot());
            let out = t.flush().unwrap();
            assert_eq!(
                out,
                FlushOutcome {
                    segments: 1,
                    rows: 20
                }
            );
            let snap = t.snapshot();
            assert_eq!(snap.segments.len(), 1);
            assert_eq!(snap.segments[0].kind(), SegmentKind::Persisted);
            assert_eq!(sum_a(&snap), before);
            // More rows after the flush, and a column added after it.
            t.append(batch(vec![
                ("a", Arc::new(Int64Array::from(vec![1000])) as ArrayRef),
                ("late", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ]))
            .unwrap();
            assert_eq!(t.flush().unwrap().segments, 1);
            assert_eq!(t.flush().unwrap().segments, 0, "nothing left to flush");
        }
        let wal_files = std::fs::read_dir(dir.join("tables/1/wal")).unwrap().count();
        assert_eq!(wal_files, 1, "the log is truncated to its current file");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        let snap = storage.table("t").unwrap().snapshot();
        assert_eq!(snap.row_count(), 21);
        assert_eq!(
            sum_a(&snap),
            (0..10).map(|i| 100 + 2 * i).sum::<i64>() + 1000
        );
        let batches = snap.read_all().unwrap();
        let late_nulls: usize = batches.iter().map(|b| b.column(2).null_count()).sum();
        assert_eq!(
            late_nulls, 20,
            "rows persisted before the column existed read as NULL"
        );
    }

    #[test]
    fn segment_files_are_plain_parquet_sorted_by_the_sort_key() {
        let dir = temp_dir("table-parquet");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        let mut d = def("t");
        d.options.sort_key = vec!["a".to_string()];
        storage.create_table(d, false).unwrap();
        let t = storage.table("t").unwrap();
        t.append(batch(vec![(
            "a",
            Arc::new(Int64Array::from(vec![3, 1, 2])) as ArrayRef,
        )]))
        .unwrap();
        t.flush().unwrap();
        let path = dir.join("tables/1/segments/00000000000000000001.parquet");
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let values: Vec<i64> = reader
            .flat_map(|b| {
                let b = b.unwrap();
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(values, vec![1, 2, 3]);
    }

    #[test]
    fn orphan_segment_files_are_removed_at_open() {
        let dir = temp_dir("table-orphan");
        {
            let storage = Storage::open(&dir, no_maintenance()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            t.append(batch(vec![(
                "a",
                Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            )]))
            .unwrap();
        }
        let segments = dir.join("tables/1/segments");
        std::fs::create_dir_all(&segments).unwrap();
        std::fs::write(segments.join("00000000000000000007.parquet"), b"partial").unwrap();
        std::fs::write(
            segments.join("00000000000000000008.parquet.tmp"),
            b"partial",
        )
        .unwrap();
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        assert_eq!(std::fs::read_dir(&segments).unwrap().count(), 0);
        assert_eq!(storage.table("t").unwrap().snapshot().row_count(), 1);
    }

    #[test]
    fn snapshots_see_every_row_exactly_once_while_flushes_run() {
        let dir = temp_dir("table-concurrent-flush");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        storage.create_table(def("t"), false).unwrap();
        let t = storage.table("t").unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200i64 {
                    t.append(batch(vec![(
                        "a",
                        Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                    )]))
                    .unwrap();
                    if i % 40 == 0 {
                        t.flush().unwrap();
                    }
                }
                done.store(true, Ordering::Release);
            });
            let mut last = 0;
            while !done.load(Ordering::Acquire) {
                let snap = t.snapshot();
                let n = snap.row_count();
                assert_eq!(sum_a(&snap) as usize, n, "every row exactly once");
                assert!(n >= last, "row count went back from {last} to {n}");
                last = n;
            }
        });
        t.flush().unwrap();
        assert_eq!(t.snapshot().row_count(), 200);
    }

    #[test]
    fn background_task_persists_a_full_live_segment() {
        let dir = temp_dir("table-background");
        let config = StorageConfig {
            segment_rows_max: 10,
            maintenance_interval: Some(std::time::Duration::from_millis(20)),
            ..StorageConfig::default()
        };
        let storage = Storage::open(&dir, config).unwrap();
        storage.create_table(def("t"), false).unwrap();
        let t = storage.table("t").unwrap();
        t.append(batch(vec![(
            "a",
            Arc::new(Int64Array::from((0..25).collect::<Vec<i64>>())) as ArrayRef,
        )]))
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while t.segment_counts()[0].1 == 0 {
            assert!(std::time::Instant::now() < deadline, "nothing persisted");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(t.snapshot().row_count(), 25);
    }

    fn timed_def(name: &str, partition: crate::Partition, ttl_ms: Option<i64>) -> TableDef {
        TableDef {
            name: name.to_string(),
            schema: Arc::new(Schema::new(vec![
                Field::new("time", crate::types::TIMESTAMP_TYPE, false),
                Field::new("a", DataType::Int64, true),
            ])),
            options: TableOptions {
                time_column: Some("time".to_string()),
                partition,
                ttl_ms,
                ..TableOptions::default()
            },
        }
    }

    fn timed_batch(times: Vec<i64>) -> RecordBatch {
        let a: Vec<i64> = (0..times.len() as i64).collect();
        batch(vec![
            (
                "time",
                Arc::new(arrow::array::TimestampMillisecondArray::from(times)) as ArrayRef,
            ),
            ("a", Arc::new(Int64Array::from(a)) as ArrayRef),
        ])
    }

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn a_flush_writes_one_segment_per_time_partition() {
        let dir = temp_dir("table-partitions");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        storage
            .create_table(timed_def("t", crate::Partition::Hour, None), false)
            .unwrap();
        let t = storage.table("t").unwrap();
        t.append(timed_batch(vec![2 * HOUR + 5, 5, HOUR + 1, 2 * HOUR, 10]))
            .unwrap();
        assert_eq!(
            t.flush().unwrap(),
            FlushOutcome {
                segments: 3,
                rows: 5
            }
        );
        let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
        let mut parts: Vec<(Option<i64>, u64)> = manifest
            .segments
            .iter()
            .map(|e| (e.partition_start_ms, e.rows))
            .collect();
        parts.sort();
        assert_eq!(
            parts,
            vec![(Some(0), 2), (Some(HOUR), 1), (Some(2 * HOUR), 2)]
        );
        for e in &manifest.segments {
            let start = e.partition_start_ms.unwrap();
            assert!(e.time_min_ms.unwrap() >= start && e.time_max_ms.unwrap() < start + HOUR);
        }
    }

    #[test]
    fn compaction_merges_small_segments_and_deletes_old_files_after_the_last_reader() {
        let dir = temp_dir("table-compact");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        storage
            .create_table(timed_def("t", crate::Partition::Day, None), false)
            .unwrap();
        let t = storage.table("t").unwrap();
        for i in 0..5 {
            t.append(timed_batch(vec![i * 1000, i * 1000 + 1])).unwrap();
            t.flush().unwrap();
        }
        let before = sum_a(&t.snapshot());
        assert_eq!(t.snapshot().segments.len(), 5);
        let held = t.snapshot();
        assert_eq!(t.compact().unwrap(), 5);
        assert_eq!(
            t.compact().unwrap(),
            0,
            "one segment left: nothing to merge"
        );
        let snap = t.snapshot();
        assert_eq!(snap.segments.len(), 1);
        assert_eq!(snap.row_count(), 10);
        assert_eq!(sum_a(&snap), before);
        let files = || {
            std::fs::read_dir(dir.join("tables/1/segments"))
                .unwrap()
                .count()
        };
        assert_eq!(files(), 6, "old files stay while a snapshot reads them");
        assert_eq!(
            sum_a(&held),
            before,
            "the held snapshot still reads its segments"
        );
        drop(held);
        assert_eq!(files(), 1);
        drop(snap);
        drop(t);
        drop(storage);
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        assert_eq!(sum_a(&storage.table("t").unwrap().snapshot()), before);
    }

    #[test]
    fn retention_drops_whole_expired_partitions_and_keeps_the_rest() {
        let dir = temp_dir("table-ttl");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        storage
            .create_table(timed_def("t", crate::Partition::Day, Some(3 * DAY)), false)
            .unwrap();
        let t = storage.table("t").unwrap();
        let now = 100 * DAY + 12 * HOUR;
        // Ten days of data, two rows a day, the last day being today.
        let times: Vec<i64> = (0..10)
            .flat_map(|d| [(91 + d) * DAY + HOUR, (91 + d) * DAY + 20 * HOUR])
            .collect();
        t.append(timed_batch(times)).unwrap();
        t.flush().unwrap();
        assert_eq!(t.snapshot().segments.len(), 10);
        // Days 91..=96 ended at or before now - 3 days (97.5 days): dropped. 97..=100 stay.
        assert_eq!(t.expire(now).unwrap(), 6);
        assert_eq!(t.expire(now).unwrap(), 0);
        let snap = t.snapshot();
        assert_eq!(snap.row_count(), 8);
        let min_time: i64 = snap
            .read_all()
            .unwrap()
            .iter()
            .map(|b| {
                let ts = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::TimestampMillisecondArray>()
                    .unwrap();
                arrow::compute::min(ts).unwrap()
            })
            .min()
            .unwrap();
        assert_eq!(min_time, 97 * DAY + HOUR);
        drop(snap);
        assert_eq!(
            std::fs::read_dir(dir.join("tables/1/segments"))
                .unwrap()
                .count(),
            4
        );
    }

    #[test]
    fn index_sidecars_are_listed_answer_like_live_and_orphans_go() {
        use crate::index::IndexLookup;
        let dir = temp_dir("table-index");
        let values = vec![Some("x"), None, Some("y"), Some("x"), Some("xa")];
        let lookups = [
            (IndexLookup::Eq("x".into()), 4),
            (IndexLookup::In(vec!["x".into(), "y".into()]), 6),
            (IndexLookup::Prefix("x".into()), 6),
            (IndexLookup::IsNull, 2),
            (IndexLookup::IsNotNull, 8),
        ];
        let counts = |snap: &TableSnapshot| -> Vec<u64> {
            lookups
                .iter()
                .map(|(l, _)| {
                    snap.segments
                        .iter()
                        .map(|s| s.index_lookup("s", l).unwrap().unwrap().len())
                        .sum()
                })
                .collect()
        };
        let expected: Vec<u64> = lookups.iter().map(|(_, n)| *n).collect();
        {
            let storage = Storage::open(&dir, no_maintenance()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            for _ in 0..2 {
                t.append(batch(vec![
                    ("a", Arc::new(Int64Array::from(vec![1; 5])) as ArrayRef),
                    ("s", Arc::new(StringArray::from(values.clone())) as ArrayRef),
                ]))
                .unwrap();
            }
            let live = t.snapshot();
            assert_eq!(live.segments[0].kind(), SegmentKind::Live);
            let x = live.segments[0]
                .index_lookup("s", &IndexLookup::Eq("x".into()))
                .unwrap()
                .unwrap();
            assert_eq!(
                x.iter().collect::<Vec<u32>>(),
                vec![0, 3, 5, 8],
                "row ids of later batches are shifted"
            );
            assert!(live.segments[0]
                .index_lookup("a", &IndexLookup::IsNull)
                .unwrap()
                .is_none());
            assert_eq!(counts(&live), expected);
            t.flush().unwrap();
            let persisted = t.snapshot();
            assert_eq!(persisted.segments[0].kind(), SegmentKind::Persisted);
            assert_eq!(counts(&persisted), expected);
        }
        let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
        let sidecar = manifest.segments[0].index_file.clone().unwrap();
        let segments = dir.join("tables/1/segments");
        assert!(dir.join("tables/1").join(&sidecar).exists());
        std::fs::write(segments.join("00000000000000000009.idx"), b"partial").unwrap();
        std::fs::write(segments.join("00000000000000000010.idx.tmp"), b"partial").unwrap();
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        assert_eq!(
            std::fs::read_dir(&segments).unwrap().count(),
            2,
            "the listed Parquet file and sidecar stay, orphan sidecars go"
        );
        assert_eq!(counts(&storage.table("t").unwrap().snapshot()), expected);
    }

    #[test]
    fn an_empty_indexes_option_writes_no_sidecar() {
        let dir = temp_dir("table-noindex");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        let mut d = def("t");
        d.options.indexes = Some(Vec::new());
        storage.create_table(d, false).unwrap();
        let t = storage.table("t").unwrap();
        t.append(batch(vec![(
            "s",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )]))
        .unwrap();
        let lookup = crate::index::IndexLookup::IsNull;
        assert!(t.snapshot().segments[0]
            .index_lookup("s", &lookup)
            .unwrap()
            .is_none());
        t.flush().unwrap();
        let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
        assert_eq!(manifest.segments[0].index_file, None);
        assert!(t.snapshot().segments[0]
            .index_lookup("s", &lookup)
            .unwrap()
            .is_none());
        let mut bad = def("u");
        bad.options.indexes = Some(vec!["a".to_string()]);
        assert!(matches!(
            storage.create_table(bad, false),
            Err(Error::InvalidSchema { .. })
        ));
    }

    #[test]
    fn a_corrupt_sidecar_fails_the_lookup_with_a_clear_error() {
        let dir = temp_dir("table-badindex");
        let storage = Storage::open(&dir, no_maintenance()).unwrap();
        storage.create_table(def("t"), false).unwrap();
        let t = storage.table("t").unwrap();
        t.append(batch(vec![(
            "s",
            Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
        )]))
        .unwrap();
        t.flush().unwrap();
        let manifest = Manifest::load(&dir.join("tables/1")).unwrap();
        let path = dir
            .join("tables/1")
            .join(manifest.segments[0].index_file.as_ref().unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let err = t.snapshot().segments[0]
            .index_lookup("s", &crate::index::IndexLookup::IsNull)
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    fn meta(partition: i32, next: i64, bad: &[i64]) -> AppendMeta {
        let mut meta = AppendMeta::default();
        meta.offsets
            .entry("src".to_string())
            .or_default()
            .insert(partition, next);
        for o in bad {
            let mut e = IngestError::new("src", "bad json", b"{oops");
            e.topic = Some("topic".to_string());
            e.partition = Some(partition);
            e.offset = Some(*o);
            meta.errors.push(e);
        }
        meta
    }

    fn offsets_and_errors(t: &Table) -> (Vec<(i32, i64)>, Vec<i64>) {
        let offsets = t.source_offsets("src").into_iter().collect();
        let errors = t
            .ingest_errors()
            .unwrap()
            .iter()
            .map(|e| e.offset.unwrap())
            .collect();
        (offsets, errors)
    }

    #[test]
    fn source_offsets_and_dead_letters_survive_replay_and_persist() {
        let dir = temp_dir("table-offsets");
        let rows = |v: Vec<i64>| batch(vec![("a", Arc::new(Int64Array::from(v)) as ArrayRef)]);
        let expected = (vec![(0, 11), (1, 5)], vec![3, 9, 4]);
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            assert!(t.source_offsets("src").is_empty());
            t.append_with(Some(rows(vec![1, 2])), meta(0, 4, &[3]))
                .unwrap();
            // Only dead letters and an offset: still one durable frame.
            t.append_with(None, meta(1, 5, &[])).unwrap();
            t.append_with(Some(rows(vec![5])), meta(0, 10, &[9]))
                .unwrap();
            // Persist the rows so far: their offsets and dead letters go into the manifest.
            t.flush().unwrap();
            t.append_with(None, meta(1, 5, &[4])).unwrap();
            t.append_with(Some(rows(vec![10])), meta(0, 11, &[]))
                .unwrap();
            let (offsets, errors) = offsets_and_errors(&t);
            assert_eq!(offsets, expected.0);
            assert_eq!(errors.len(), 3);
            assert!(t.source_offsets("other").is_empty());
        }
        // Manifest + log tail.
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let t = storage.table("t").unwrap();
        assert_eq!(offsets_and_errors(&t), expected);
        assert_eq!(t.snapshot().row_count(), 4);
        let manifest = Manifest::load(&t.dir).unwrap();
        assert_eq!(manifest.source_offsets["src"][&0], 10);
        assert_eq!(manifest.error_files.len(), 1);
        // Everything persisted.
        t.flush().unwrap();
        drop(storage);
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let t = storage.table("t").unwrap();
        assert_eq!(offsets_and_errors(&t), expected);
        let manifest = Manifest::load(&t.dir).unwrap();
        assert_eq!(manifest.source_offsets["src"][&0], 11);
        assert_eq!(manifest.error_files.len(), 2);
        let batches = storage
            .virtual_tables()
            .get("system", "ingest_errors")
            .unwrap()
            .batches(&storage)
            .unwrap();
        assert_eq!(batches[0].num_rows(), 3);
    }

    #[test]
    fn a_torn_offset_frame_is_lost_with_its_rows() {
        let dir = temp_dir("table-offsets-torn");
        let wal_file;
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            t.append_with(
                Some(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                )])),
                meta(0, 1, &[]),
            )
            .unwrap();
            t.append_with(
                Some(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![2])) as ArrayRef,
                )])),
                meta(0, 3, &[1]),
            )
            .unwrap();
            let wal_dir = t.dir.join("wal");
            wal_file = crate::fsutil::read_dir(&wal_dir).unwrap()[0].path();
        }
        let bytes = std::fs::read(&wal_file).unwrap();
        std::fs::write(&wal_file, &bytes[..bytes.len() - 3]).unwrap();
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let t = storage.table("t").unwrap();
        assert_eq!(offsets_and_errors(&t), (vec![(0, 1)], vec![]));
        assert_eq!(t.snapshot().row_count(), 1);
    }
}
