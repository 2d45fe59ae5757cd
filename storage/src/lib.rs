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
//! their rows: `Table::append_with`, `Table::source_offsets`, `system.ingest_errors`).

pub mod cache;
pub mod catalog;
mod error;
mod fsutil;
pub mod fuzzing;
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
pub use roaring;
pub use segment::{Segment, SegmentKind, SegmentRef};
pub use source::{AppendMeta, IngestError, SourceOffsets};
pub use table::{FlushOutcome, SegmentInfo, Table, TableSnapshot};
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
}

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
        let mut tables = HashMap::new();
        for (id, def) in catalog.tables() {
            let table = Table::open(
                id,
                def,
                table_dir(&dir, id),
                catalog.clone(),
                &config,
                cache.clone(),
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
        });
        source::register(&storage);
        if let Some(interval) = interval {
            spawn_maintenance(Arc::downgrade(&storage), interval)?;
        }
        Ok(storage)
    }

    /// Persists the live rows of every table that reached a segment limit (what the background
    /// task does every `maintenance_interval`).
    pub fn maintain(&self) {
        let tables: Vec<Arc<Table>> = read_lock(&self.tables).values().cloned().collect();
        for table in tables {
            if let Err(e) = table.maintain() {
                tracing::error!(table = %table.name(), error = %e, "background persist failed");
            }
        }
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

/// Runs [`Storage::maintain`] every `interval` until the storage is dropped.
fn spawn_maintenance(storage: std::sync::Weak<Storage>, interval: Duration) -> Result<()> {
    std::thread::Builder::new()
        .name("strata-persist".to_string())
        .spawn(move || loop {
            std::thread::sleep(interval);
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
