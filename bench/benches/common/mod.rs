//! Setup shared by the kernel benches: an in-process `Storage` in a temporary directory holding
//! `events` rows from `strata_bench::gen::events`, queried through `strata_query::QueryEngine`
//! (no server, no HTTP).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use strata_bench::gen::events::{self, EventsGenerator};
use strata_query::{QueryEngine, QueryLimits};
use strata_storage::{FsyncPolicy, Storage, StorageConfig};

/// Rows of `events` the benches run over.
pub const ROWS: u64 = 500_000;

/// A storage directory removed on drop, with an engine over it.
pub struct Fixture {
    /// The directory.
    pub dir: PathBuf,
    /// The storage.
    pub storage: Arc<Storage>,
    /// The engine.
    pub engine: QueryEngine,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Limits of a measured query: one scan thread, so the figures are the kernels' own cost and
/// not the machine's other load spread over two cores.
pub fn one_thread() -> QueryLimits {
    QueryLimits {
        threads: Some(1),
        ..QueryLimits::default()
    }
}

/// `ROWS` events in table `events`; `persist` flushes them into Parquet segment files (else
/// they stay in the live, in-memory segment). The segment read cache is off, so reads of
/// persisted segments measure decoding; [`events_fixture_cached`] turns it on.
pub fn events_fixture(tag: &str, persist: bool) -> Fixture {
    events_fixture_cached(tag, persist, 0)
}

/// [`events_fixture`] with a segment read cache of `cache_bytes`.
pub fn events_fixture_cached(tag: &str, persist: bool, cache_bytes: usize) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "strata-bench-criterion-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let config = StorageConfig {
        fsync: FsyncPolicy::Never,
        segment_rows_max: usize::MAX,
        segment_bytes_max: usize::MAX,
        maintenance_interval: None,
        cache_bytes,
        ..StorageConfig::default()
    };
    let storage = Storage::open(&dir, config).expect("open storage");
    let engine = QueryEngine::new(storage.clone());
    engine
        .execute(
            "CREATE TABLE events (time TIMESTAMP NOT NULL, country VARCHAR NOT NULL, \
             device VARCHAR NOT NULL, url VARCHAR NOT NULL, user_id VARCHAR NOT NULL, \
             bytes BIGINT NOT NULL, amount DOUBLE NOT NULL, latency_ms DOUBLE NOT NULL, \
             status INTEGER NOT NULL) WITH (time_column = 'time')",
        )
        .expect("create table");
    let table = storage.table("events").expect("table");
    let mut g = EventsGenerator::new(ROWS, 1, events::DEFAULT_START_MS, 1_000.0).expect("gen");
    while let Some(batch) = g.next_batch().expect("batch") {
        table.append(batch).expect("append");
    }
    if persist {
        engine.execute("FLUSH TABLE events").expect("flush");
    }
    Fixture {
        dir,
        storage,
        engine,
    }
}
