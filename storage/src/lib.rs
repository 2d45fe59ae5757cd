//! # strata-storage: where an acknowledged row lives
//!
//! A row reaches this crate as part of an Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)
//! that `strata-ingest` built against a table's schema. Its journey:
//!
//! ```text
//!   Table::append(batch)
//!        |  1. reconcile with the table schema (add new nullable columns: schema evolution,
//!        |     persisted in the catalog before any row that needs them)
//!        v
//!   +---------+   2. one checksummed frame per request, under the table's write lock
//!   |   WAL   |   3. fsync outside the lock: concurrent writers share one fsync (group commit)
//!   +---------+
//!        |
//!        v
//!   +--------------+  4. the batch joins the table's live segment, tagged with its log sequence
//!   | live segment |     number (LSN); a snapshot shows only batches whose LSN is durable, so a
//!   +--------------+     query never sees a row that a crash could take away
//!        |
//!        v
//!   Table::snapshot() -> TableSnapshot { schema, batches }   (what the query engine reads)
//! ```
//!
//! Live segments are sealed and persisted to Parquet segment files (one per time partition, with a
//! bitmap index sidecar) by a background thread or `FLUSH TABLE`; each table's manifest lists its
//! persisted segments and the log position they cover, and the log is truncated up to it (whole
//! files, named by their first LSN). On start-up [`Storage::open`] loads the catalog, removes
//! directories of dropped tables, opens every table's manifest (deleting orphan files of an
//! interrupted persist) and replays only the log tail into its live segment. A torn or corrupt
//! frame at the tail of the log (a crash in the middle of a write) is detected by its checksum and
//! cut off; every earlier frame is kept.
//!
//! Modules: [`catalog`] (table definitions, persisted atomically), [`wal`] (the write-ahead log),
//! [`segment`] (live, sealed and persisted segments behind one trait), [`table`] (one table:
//! log, segments, persist, compaction, retention),
//! [`types`] (the SQL names of the supported Arrow types), [`zonemap`] (min/max/NULL count per
//! block), [`index`] (Roaring bitmap indexes of string columns: per batch in memory, a sidecar
//! file per persisted segment), [`manifest`] (the persisted segments of a table),
//! [`virtual_table`] (computed read-only tables such as `system.segments`, registered by the
//! crates above), [`source`] (source offsets and dead letters that travel in the log frame of
//! their rows: `Table::append_with`, `Table::source_offsets`, `system.ingest_errors`),
//! [`deletes`] (`DELETE`: delete bitmaps per segment, a log frame per statement, sidecars named
//! by the manifest; `Table::begin_delete`, [`DeleteTxn`]), [`idempotency`] (idempotency keys of
//! HTTP ingest: in the log frame of their rows, then in keys files the manifest lists;
//! `Table::check_key`).

pub mod budget;
pub mod cache;
pub mod catalog;
pub mod deletes;
mod error;
mod fsutil;
pub mod fuzzing;
pub mod idempotency;
pub mod index;
pub mod ipc;
pub mod manifest;
pub mod segment;
pub mod source;
pub mod table;
pub mod types;
pub mod virtual_table;
pub mod wal;
pub mod zonemap;

pub use arrow;
pub use catalog::{Partition, TableDef, TableOptions};
pub use error::{Error, Result};
pub use idempotency::{IdempotencyRecord, KeyCheck};
pub use roaring;
pub use segment::{Segment, SegmentKind, SegmentRef};
pub use source::{AppendMeta, IngestError, SourceOffsets};
pub use table::{DeleteInput, DeleteTxn, FlushOutcome, SegmentInfo, Table, TableSnapshot};
pub use types::{parse_sql_type, sql_type_name};
pub use virtual_table::{VirtualTable, VirtualTables};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cache::SegmentCache;
use catalog::Catalog;
use fsutil::{read_lock, write_lock};

/// When the write-ahead log is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fsync` before every acknowledgement (shared by concurrent writers). The default: an
    /// acknowledged row survives power loss.
    #[default]
    Always,
    /// Never `fsync`; an acknowledged row survives a process crash (it is in the OS page cache)
    /// but not power loss. For benchmarks and throwaway data.
    Never,
}

impl FsyncPolicy {
    /// Parses `always` / `never`.
    pub fn parse(s: &str) -> Option<FsyncPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "never" => Some(FsyncPolicy::Never),
            _ => None,
        }
    }
}

/// The default budget of unpersisted rows in memory, all tables: 2 GiB (eight full live
/// segments at the default `segment_bytes_max`; a tenth of a 24 GiB machine, leaving room for
/// the read cache, queries and the requests in flight).
pub const DEFAULT_LIVE_BYTES_MAX: u64 = 2 << 30;
/// The default budget of the write-ahead logs, all tables: 4 GiB (the log holds the unpersisted
/// rows, Arrow IPC-encoded, plus up to one file per table that persistence already covers).
pub const DEFAULT_WAL_BYTES_MAX: u64 = 4 << 30;

/// The default of [`StorageConfig::table_columns_max`]: 10,000 columns (ClickHouse users
/// rarely pass a thousand; Druid and Pinot tables of a few thousand are wide).
pub const DEFAULT_TABLE_COLUMNS_MAX: usize = 10_000;

/// Refuses a table of `columns` columns over `max`.
pub(crate) fn check_columns(table: &str, columns: usize, max: usize) -> Result<()> {
    if columns > max {
        return Err(Error::TooManyColumns {
            table: table.to_string(),
            columns,
            max,
        });
    }
    Ok(())
}

/// The default read-cache budget: 1 GiB.
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// Settings of the storage engine.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// When the log is fsynced.
    pub fsync: FsyncPolicy,
    /// A log file is closed and a new one started once it exceeds this size.
    pub wal_file_bytes_max: u64,
    /// The live segment is persisted once it holds this many durable rows.
    pub segment_rows_max: usize,
    /// ... or this many bytes of Arrow memory.
    pub segment_bytes_max: usize,
    /// ... or its oldest durable row arrived this long ago.
    pub segment_age_max: Duration,
    /// How often the background task checks those limits; `None` disables it (tests, tools).
    pub maintenance_interval: Option<Duration>,
    /// The byte budget of the read cache of persisted segments (decoded column chunks and
    /// bitmap index sidecars, see [`cache`]); 0 disables it.
    pub cache_bytes: usize,
    /// Appends are refused ([`Error::Backpressure`]) while the unpersisted rows of all tables
    /// hold this many bytes of Arrow memory; 0: no limit. See [`budget`].
    pub live_bytes_max: u64,
    /// ... or while the write-ahead logs of all tables hold this many bytes; 0: no limit.
    pub wal_bytes_max: u64,
    /// The most columns a table may have, by `CREATE TABLE` or by schema evolution
    /// ([`Error::TooManyColumns`] beyond).
    pub table_columns_max: usize,
    /// How long an idempotency key is recognised after its request was acknowledged, in
    /// milliseconds (see [`idempotency`]).
    pub idempotency_window_ms: u64,
    /// The most idempotency keys one table keeps in memory; past it the oldest are forgotten
    /// early.
    pub idempotency_keys_max: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            fsync: FsyncPolicy::Always,
            wal_file_bytes_max: 64 << 20,
            segment_rows_max: 1_000_000,
            segment_bytes_max: 256 << 20,
            segment_age_max: Duration::from_secs(600),
            maintenance_interval: Some(Duration::from_secs(1)),
            cache_bytes: DEFAULT_CACHE_BYTES,
            live_bytes_max: DEFAULT_LIVE_BYTES_MAX,
            wal_bytes_max: DEFAULT_WAL_BYTES_MAX,
            table_columns_max: DEFAULT_TABLE_COLUMNS_MAX,
            idempotency_window_ms: idempotency::DEFAULT_WINDOW_MS,
            idempotency_keys_max: idempotency::DEFAULT_KEYS_MAX,
        }
    }
}

/// The storage engine: the catalog and every open table of one data directory.
pub struct Storage {
    dir: PathBuf,
    config: StorageConfig,
    catalog: Arc<Catalog>,
    tables: RwLock<HashMap<String, Arc<Table>>>,
    virtual_tables: VirtualTables,
    cache: Arc<SegmentCache>,
    budget: Arc<budget::IngestBudget>,
    /// Tables whose background persist failed: when to try again and the current delay.
    backoff: std::sync::Mutex<HashMap<u64, (std::time::Instant, Duration)>>,
}

/// The first delay before the background persist retries a table that failed (a full disk);
/// it doubles on each failure up to [`PERSIST_RETRY_MAX`].
pub const PERSIST_RETRY_MIN: Duration = Duration::from_secs(1);
/// The longest delay between two background persist attempts of a failing table.
pub const PERSIST_RETRY_MAX: Duration = Duration::from_secs(16);

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("dir", &self.dir).finish()
    }
}

impl Storage {
    /// Opens (creating it when missing) the data directory `dir`, loads the catalog and replays
    /// every table's write-ahead log.
    pub fn open(dir: impl AsRef<Path>, config: StorageConfig) -> Result<Arc<Storage>> {
        let dir = dir.as_ref().to_path_buf();
        fsutil::create_dir_all(&dir)?;
        let tables_dir = dir.join("tables");
        fsutil::create_dir_all(&tables_dir)?;
        let catalog = Arc::new(Catalog::load(&dir)?);
        let cache = SegmentCache::new(config.cache_bytes);
        let budget = Arc::new(budget::IngestBudget::new(
            config.live_bytes_max,
            config.wal_bytes_max,
        ));
        let mut tables = HashMap::new();
        for (id, def) in catalog.tables() {
            let table = Table::open(
                id,
                def,
                table_dir(&dir, id),
                catalog.clone(),
                &config,
                cache.clone(),
                budget.clone(),
            )?;
            tables.insert(table.name().to_string(), Arc::new(table));
        }
        remove_orphan_table_dirs(&tables_dir, &catalog)?;
        let interval = config.maintenance_interval;
        let storage = Arc::new(Storage {
            dir,
            config,
            catalog,
            tables: RwLock::new(tables),
            virtual_tables: VirtualTables::default(),
            cache,
            budget,
            backoff: Default::default(),
        });
        source::register(&storage);
        if let Some(interval) = interval {
            spawn_maintenance(Arc::downgrade(&storage), storage.budget.clone(), interval)?;
        }
        Ok(storage)
    }

    /// Persists the live rows of every table that reached a segment limit (what the background
    /// task does every `maintenance_interval`).
    /// While an ingest budget is half used, every table with unpersisted rows is persisted.
    /// A table whose persist failed (a full disk) is retried after a delay that doubles from
    /// [`PERSIST_RETRY_MIN`] to [`PERSIST_RETRY_MAX`]; the first success clears it.
    pub fn maintain(&self) {
        let mut tables: Vec<Arc<Table>> = read_lock(&self.tables).values().cloned().collect();
        let pressure = self.budget.under_pressure();
        if pressure {
            // The largest first: it frees the most.
            tables.sort_by_key(|t| std::cmp::Reverse(t.unpersisted_bytes()));
        }
        for table in tables {
            let now = std::time::Instant::now();
            let delay = fsutil::lock(&self.backoff).get(&table.id()).copied();
            if delay.is_some_and(|(at, _)| now < at) {
                continue;
            }
            let outcome = if pressure && table.has_unpersisted_rows() {
                table.flush().and_then(|_| table.maintain().map(|_| ()))
            } else {
                table.maintain().map(|_| ())
            };
            let mut backoff = fsutil::lock(&self.backoff);
            match outcome {
                Ok(()) => {
                    if backoff.remove(&table.id()).is_some() {
                        tracing::info!(table = %table.name(), "background persist works again");
                    }
                }
                Err(Error::TableDropped { .. }) => {
                    backoff.remove(&table.id());
                }
                Err(e) => {
                    let next =
                        delay.map_or(PERSIST_RETRY_MIN, |(_, d)| (d * 2).min(PERSIST_RETRY_MAX));
                    tracing::error!(
                        table = %table.name(), error = %e, retry_in_s = next.as_secs(),
                        "background persist failed; the rows stay in memory and in the log"
                    );
                    metrics::counter!("strata_persist_failures_total", "code" => e.code())
                        .increment(1);
                    backoff.insert(table.id(), (now + next, next));
                }
            }
        }
        metrics::gauge!("strata_unpersisted_bytes").set(self.budget.live_bytes() as f64);
        metrics::gauge!("strata_wal_bytes").set(self.budget.wal_bytes() as f64);
    }

    /// The ingest budget shared by every table.
    pub fn budget(&self) -> &Arc<budget::IngestBudget> {
        &self.budget
    }

    /// The virtual (computed, read-only) tables of this storage: see [`virtual_table`].
    pub fn virtual_tables(&self) -> &VirtualTables {
        &self.virtual_tables
    }

    /// The read cache of persisted segments (its counters: [`SegmentCache::stats`]).
    pub fn cache(&self) -> &Arc<SegmentCache> {
        &self.cache
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a table. Returns `Ok(false)` when a table of that name exists and `if_not_exists`
    /// is set, [`Error::TableExists`] when it exists and it is not.
    pub fn create_table(&self, def: TableDef, if_not_exists: bool) -> Result<bool> {
        catalog::validate_table_name(&def.name)?;
        let def = def.validated()?;
        check_columns(
            &def.name,
            def.schema.fields().len(),
            self.config.table_columns_max,
        )?;
        let mut tables = write_lock(&self.tables);
        if find_name(&tables, &def.name).is_some() {
            if if_not_exists {
                return Ok(false);
            }
            return Err(Error::TableExists { name: def.name });
        }
        let id = self.catalog.add_table(&def)?;
        let table = Table::open(
            id,
            def,
            table_dir(&self.dir, id),
            self.catalog.clone(),
            &self.config,
            self.cache.clone(),
            self.budget.clone(),
        )?;
        tables.insert(table.name().to_string(), Arc::new(table));
        Ok(true)
    }

    /// Drops a table and deletes its data. Returns `Ok(false)` when there is no such table and
    /// `if_exists` is set.
    pub fn drop_table(&self, name: &str, if_exists: bool) -> Result<bool> {
        let mut tables = write_lock(&self.tables);
        let Some(key) = find_name(&tables, name) else {
            if if_exists {
                return Ok(false);
            }
            return Err(Error::TableNotFound {
                name: name.to_string(),
            });
        };
        let Some(table) = tables.remove(&key) else {
            return Err(Error::Internal(format!(
                "table {key} vanished while dropping it"
            )));
        };
        table.mark_dropped();
        self.catalog.remove_table(table.id())?;
        fsutil::remove_dir_all(&table_dir(&self.dir, table.id()))?;
        Ok(true)
    }

    /// Looks a table up by name: an exact match first, then a unique case-insensitive match.
    pub fn table(&self, name: &str) -> Result<Arc<Table>> {
        let tables = read_lock(&self.tables);
        find_name(&tables, name)
            .and_then(|key| tables.get(&key).cloned())
            .ok_or_else(|| Error::TableNotFound {
                name: name.to_string(),
            })
    }

    /// The names of all tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read_lock(&self.tables).keys().cloned().collect();
        names.sort();
        names
    }
}

/// Runs [`Storage::maintain`] every `interval` (or at once when an over-budget append wakes it)
/// until the storage is dropped.
fn spawn_maintenance(
    storage: std::sync::Weak<Storage>,
    budget: Arc<budget::IngestBudget>,
    interval: Duration,
) -> Result<()> {
    std::thread::Builder::new()
        .name("strata-persist".to_string())
        .spawn(move || loop {
            budget.wait(interval);
            let Some(storage) = storage.upgrade() else {
                break;
            };
            storage.maintain();
        })
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("cannot start the background persist thread: {e}")))
}

fn table_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join("tables").join(id.to_string())
}

/// Finds the key of `name`: exact, else the one key equal ignoring ASCII case.
fn find_name(tables: &HashMap<String, Arc<Table>>, name: &str) -> Option<String> {
    if tables.contains_key(name) {
        return Some(name.to_string());
    }
    tables
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// Deletes table directories that the catalog does not list (a crash during `DROP TABLE`, or
/// during `CREATE TABLE` before the catalog commit).
fn remove_orphan_table_dirs(tables_dir: &Path, catalog: &Catalog) -> Result<()> {
    let live: std::collections::HashSet<String> = catalog
        .tables()
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    for entry in fsutil::read_dir(tables_dir)? {
        let name = entry.file_name().to_string_lossy().to_string();
        if !live.contains(&name) {
            tracing::warn!(dir = %entry.path().display(), "removing orphan table directory");
            fsutil::remove_dir_all(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh, empty directory under the system temp dir.
    pub fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("strata-storage-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
