//! End-to-end tests of [`QueryEngine`]: SQL in, rows out, over a real [`Storage`] in a
//! temporary directory. Expected values follow PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use strata_storage::{FsyncPolicy, Storage, StorageConfig};

use crate::{ErrorKind, QueryEngine, QueryLimits, QueryOutput};

mod aggregate;
mod ddl;
mod expressions;
mod hostile;
mod join;
mod select;
mod subquery;
mod system;
mod time_zone;
mod top_n;
mod window;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("strata-query-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn engine(tag: &str) -> QueryEngine {
    let config = StorageConfig {
        fsync: FsyncPolicy::Never,
        ..StorageConfig::default()
    };
    QueryEngine::new(Storage::open(temp_dir(tag), config).unwrap())
}

/// An engine with table `events`:
///
/// | id | region | user_id | amount | ts                  |
/// |----|--------|---------|--------|---------------------|
/// | 1  | eu     | 10      | 1.5    | 2024-01-01 00:00:00 |
/// | 2  | us     | 20      | 2.5    | 2024-01-01 01:00:00 |
/// | 3  | eu     | 10      | NULL   | 2024-01-02 00:00:00 |
/// | 4  | NULL   | 30      | 4.0    | 2024-01-02 12:00:00 |
/// | 5  | asia   | NULL    | 5.0    | 2024-01-03 00:00:00 |  (second batch)
/// | 6  | eu     | 20      | 6.0    | 2024-01-03 06:00:00 |  (second batch)
fn events(tag: &str) -> QueryEngine {
    let engine = engine(tag);
    engine
        .execute(
            "CREATE TABLE events (id INTEGER NOT NULL, region VARCHAR, user_id BIGINT, amount DOUBLE, ts TIMESTAMP) \
             WITH (time_column = 'ts', partition = 'hour')",
        )
        .unwrap();
    let table = engine.storage.table("events").unwrap();
    let schema = table.def().schema;
    let hour = 3_600_000i64;
    let day = 24 * hour;
    let t0 = 1_704_067_200_000i64; // 2024-01-01T00:00:00Z
    let batch = |id: Vec<i32>,
                 region: Vec<Option<&str>>,
                 user: Vec<Option<i64>>,
                 amount: Vec<Option<f64>>,
                 ts: Vec<i64>| {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(id)),
            Arc::new(StringArray::from(region)),
            Arc::new(Int64Array::from(user)),
            Arc::new(Float64Array::from(amount)),
            Arc::new(TimestampMillisecondArray::from(ts)),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    table
        .append(batch(
            vec![1, 2, 3, 4],
            vec![Some("eu"), Some("us"), Some("eu"), None],
            vec![Some(10), Some(20), Some(10), Some(30)],
            vec![Some(1.5), Some(2.5), None, Some(4.0)],
            vec![t0, t0 + hour, t0 + day, t0 + day + 12 * hour],
        ))
        .unwrap();
    table
        .append(batch(
            vec![5, 6],
            vec![Some("asia"), Some("eu")],
            vec![None, Some(20)],
            vec![Some(5.0), Some(6.0)],
            vec![t0 + 2 * day, t0 + 2 * day + 6 * hour],
        ))
        .unwrap();
    engine
}

/// The rows of a result as text, cells joined by `|`, NULL as `NULL`.
fn rows(out: &QueryOutput) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut lines = vec![];
    for batch in &out.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            lines.push(cells.join("|"));
        }
    }
    lines
}

fn query(engine: &QueryEngine, sql: &str) -> Vec<String> {
    match engine.execute(sql) {
        Ok(out) => rows(&out),
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn error(engine: &QueryEngine, sql: &str) -> crate::Error {
    match engine.execute(sql) {
        Ok(out) => panic!("{sql}: expected an error, got {:?}", rows(&out)),
        Err(e) => e,
    }
}

fn column_names(out: &QueryOutput) -> Vec<String> {
    out.schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// An engine with `events` and a dimension table `regions(name, label)`.
fn events_and_regions(tag: &str) -> QueryEngine {
    let e = events(tag);
    query(&e, "CREATE TABLE regions (name VARCHAR, label VARCHAR)");
    query(
        &e,
        "INSERT INTO regions VALUES ('eu', 'Europe'), ('us', 'United States'), (NULL, 'none')",
    );
    e
}
