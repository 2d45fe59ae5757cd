//! Virtual tables: `system.segments`, `system.cache`, and tables other crates register in
//! `pg_catalog`.

use super::*;

/// `system.segments` lists every segment of every table: persisted ones with their id and file,
/// the live one with its rows (one persisted segment per hour partition here), and works with WHERE, GROUP BY and ORDER BY like a table.
#[test]
fn system_segments_lists_persisted_and_live_segments() {
    let e = events("system-segments");
    let before = query(
        &e,
        "SELECT \"table\", state, rows, segment_id IS NULL, file IS NULL FROM system.segments",
    );
    assert_eq!(before, ["events|live|6|true|true"]);
    e.execute("FLUSH TABLE events").unwrap();
    e.execute("INSERT INTO events VALUES (7, 'eu', 10, 1.0, TIMESTAMP '2024-01-05 00:00:00')")
        .unwrap();
    let after = query(
        &e,
        "SELECT state, COUNT(*), SUM(rows), MIN(min_time), MAX(max_time) FROM system.segments \
         WHERE \"table\" = 'events' GROUP BY state ORDER BY state",
    );
    assert_eq!(
        after,
        [
            "live|1|1|2024-01-05T00:00:00|2024-01-05T00:00:00",
            "persisted|6|6|2024-01-01T00:00:00|2024-01-03T06:00:00"
        ]
    );
    let files = query(
        &e,
        "SELECT file FROM System.Segments WHERE state = 'persisted' ORDER BY segment_id LIMIT 1",
    );
    assert!(
        files[0].starts_with("tables/") && files[0].ends_with(".parquet"),
        "{files:?}"
    );
    assert_eq!(
        error(&e, "SELECT * FROM system.nope").code(),
        "INVALID_ARGUMENT"
    );
}

/// A virtual table registered by another crate: `pg_catalog.demo_names`.
struct DemoNames;

impl strata_storage::VirtualTable for DemoNames {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, false),
        ]))
    }

    fn batches(&self, storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        let mut names = storage.table_names();
        names.sort();
        let column: ArrayRef = Arc::new(StringArray::from(names));
        Ok(vec![RecordBatch::try_new(self.schema(), vec![column])?])
    }
}

#[test]
fn virtual_tables_resolve_qualified_and_through_the_pg_catalog_search_path() {
    let engine = events("virtual");
    engine
        .storage
        .virtual_tables()
        .register("pg_catalog", "demo_names", Arc::new(DemoNames));
    assert_eq!(
        query(&engine, "SELECT name FROM pg_catalog.demo_names"),
        ["events"]
    );
    assert_eq!(query(&engine, "SELECT count(*) FROM demo_names"), ["1"]);
    // A user table of the same name wins over the unqualified pg_catalog one.
    engine
        .execute("CREATE TABLE demo_names (x INTEGER)")
        .unwrap();
    assert_eq!(query(&engine, "SELECT count(*) FROM demo_names"), ["0"]);
    assert_eq!(
        query(&engine, "SELECT count(*) FROM PG_CATALOG.Demo_Names"),
        ["2"]
    );
    // Joins between virtual and user tables work like any scan.
    assert_eq!(
        query(
            &engine,
            "SELECT s.table, count(*) FROM system.segments s JOIN pg_catalog.demo_names d \
             ON s.table = d.name GROUP BY s.table"
        ),
        ["events|1"]
    );
    let e = error(&engine, "SELECT * FROM system.nope");
    assert!(e.to_string().contains("system.segments"), "{e}");
}

#[test]
fn system_cache_counts_chunk_reads_of_persisted_segments() {
    let engine = events("cache");
    engine.execute("FLUSH TABLE events").unwrap();
    let before = query(&engine, "SELECT hits, misses FROM system.cache");
    assert_eq!(before, ["0|0"]);
    query(&engine, "SELECT sum(amount) FROM events");
    let [first] = &query(&engine, "SELECT hits, misses, entries FROM system.cache")[..] else {
        panic!()
    };
    let first: Vec<i64> = first.split('|').map(|v| v.parse().unwrap()).collect();
    assert!(first[1] > 0 && first[2] > 0, "{first:?}");
    query(&engine, "SELECT sum(amount) FROM events");
    let [second] = &query(&engine, "SELECT hits, misses FROM system.cache")[..] else {
        panic!()
    };
    let second: Vec<i64> = second.split('|').map(|v| v.parse().unwrap()).collect();
    assert_eq!(second[1], first[1], "the second scan decodes nothing");
    assert!(second[0] > first[0]);
}
