//! Fuzz harness: the body of the `sql` `cargo fuzz` target in `fuzz/` (see `docs/fuzzing.md`).
//!
//! Arbitrary text goes through the statement path a client's SQL takes: parse, bind, optimize,
//! build the physical plan and run it, against two tiny tables (a persisted segment and live
//! rows) created once per process, under a short timeout and a small memory limit. Statements
//! that would change something (DDL, `INSERT`, `FLUSH`) are only parsed and bound
//! ([`QueryEngine::describe`]), so every input sees the same tables. An error is a fine answer;
//! a panic, a hang past the timeout or an allocation past the fuzzer's limit is a bug. The same
//! function replays the committed corpus in `cargo test` (`query/tests/fuzz_smoke.rs`).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use strata_storage::{FsyncPolicy, Storage, StorageConfig};

use crate::parser::{parse, required_access, Access};
use crate::{QueryEngine, QueryLimits};

/// The longest SQL text the harness runs (bytes); longer inputs are ignored. The fuzz target is
/// run with the same `-max_len`.
pub const SQL_BYTES_MAX: usize = 4096;

/// The tables every input can query, made once per process.
const SETUP: &[&str] = &[
    "CREATE TABLE events (time TIMESTAMP NOT NULL, region VARCHAR, value BIGINT, \
     price DOUBLE, ok BOOLEAN, day DATE) WITH (time_column = 'time', indexes = 'region')",
    "INSERT INTO events VALUES \
     ('2024-01-01 00:00:00', 'eu', 1, 1.5, true, '2024-01-01'), \
     ('2024-01-01 01:00:00', 'us', 2, NULL, false, '2024-01-01'), \
     ('2024-01-02 00:00:00', NULL, NULL, -0.5, NULL, NULL)",
    "FLUSH TABLE events",
    "INSERT INTO events VALUES ('2024-01-03 00:00:00', 'eu', 9223372036854775807, 1e300, true, \
     '2024-01-03'), ('2024-01-03 00:00:01', 'ap', -9223372036854775808, 0, false, '1970-01-01')",
    "CREATE TABLE users (id BIGINT, name VARCHAR, score INTEGER)",
    "INSERT INTO users VALUES (1, 'ann', 10), (2, 'bob', NULL), (NULL, NULL, -3)",
];

fn engine() -> &'static QueryEngine {
    static ENGINE: OnceLock<QueryEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("strata-fuzz-sql-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = StorageConfig {
            fsync: FsyncPolicy::Never,
            maintenance_interval: None,
            cache_bytes: 1 << 20,
            ..Default::default()
        };
        let storage = Storage::open(&dir, config).unwrap_or_else(|e| panic!("{e}"));
        let engine = QueryEngine::new(storage);
        for sql in SETUP {
            engine
                .execute(sql)
                .unwrap_or_else(|e| panic!("fuzz setup {sql}: {e}"));
        }
        engine
    })
}

/// The limits each input runs under: 1 s, 64 MiB of operator state, one scan thread.
fn limits() -> QueryLimits {
    QueryLimits {
        timeout: Some(Duration::from_secs(1)),
        memory_limit_bytes: Some(64 << 20),
        cancel: None,
        threads: Some(1),
        time_zone: None,
    }
}

/// Runs one SQL text (bytes that are not UTF-8, and texts over [`SQL_BYTES_MAX`], are ignored).
pub fn fuzz_sql(data: &[u8]) {
    if data.len() > SQL_BYTES_MAX {
        return;
    }
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let engine = engine();
    let Ok(statement) = parse(sql) else {
        return;
    };
    match required_access(&statement) {
        Access::Read => {
            let _ = engine
                .execute_statement(&statement, &limits())
                .and_then(|stream| stream.collect_output());
        }
        Access::Write | Access::Admin => {
            let _ = engine.describe(sql);
        }
    }
}
