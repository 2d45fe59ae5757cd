//! Criterion benches of Parquet segment decoding: 500,000 `events` rows flushed into a persisted
//! segment, read back through the storage API (`Table::snapshot`, `Segment::read`) with all
//! columns, one string column and one numeric column, and scanned by a query
//! (`SELECT sum(latency_ms)`, one scan thread) for the decode-plus-aggregate path.
//!
//! `cargo bench -p strata-bench --bench segment_decode`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use arrow::datatypes::Schema;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_storage::SegmentKind;

fn segment_decode(c: &mut Criterion) {
    let fixture = common::events_fixture("segment_decode", true);
    let table = fixture.storage.table("events").expect("table");
    let snapshot = table.snapshot();
    let persisted: Vec<_> = snapshot
        .segments
        .iter()
        .filter(|s| s.kind() == SegmentKind::Persisted)
        .cloned()
        .collect();
    assert!(!persisted.is_empty(), "FLUSH wrote no segment");
    let rows: usize = persisted.iter().map(|s| s.num_rows()).sum();
    assert_eq!(rows as u64, common::ROWS);
    let project = |names: &[&str]| {
        Arc::new(Schema::new(
            names
                .iter()
                .map(|n| snapshot.schema.field_with_name(n).expect("column").clone())
                .collect::<Vec<_>>(),
        ))
    };
    let mut g = c.benchmark_group("segment_decode");
    g.throughput(Throughput::Elements(common::ROWS));
    g.sample_size(10);
    for (name, schema) in [
        ("all_columns", snapshot.schema.clone()),
        ("string_url", project(&["url"])),
        ("double_latency_ms", project(&["latency_ms"])),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0;
                for s in &persisted {
                    for batch in s.read(&schema).expect("read") {
                        n += batch.num_rows();
                    }
                }
                assert_eq!(n, rows);
            })
        });
    }
    let limits = common::one_thread();
    let sql = "SELECT sum(latency_ms) FROM events";
    g.bench_function("query_sum_latency_ms", |b| {
        b.iter(|| fixture.engine.execute_with(sql, &limits).expect(sql))
    });
    g.finish();
}

criterion_group!(benches, segment_decode);
criterion_main!(benches);
