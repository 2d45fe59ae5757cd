//! Criterion benches of Parquet segment decoding: 500,000 `events` rows flushed into a persisted
//! segment, read back through the storage API (`Table::snapshot`, `Segment::read`) with all
//! columns, one string column and one numeric column, and scanned by a query
//! (`SELECT sum(latency_ms)`, one scan thread) for the decode-plus-aggregate path.
//!
//! Three ways to read a persisted segment, on the same files (the choice `storage/src/cache.rs`
//! explains):
//! - `segment_decode/*`: the read cache off — every read opens the file and decodes (the OS page
//!   cache holds the file: these are hot reads);
//! - `segment_cached/*`: the read cache on (1 GiB), warmed by one read — decoded column chunks;
//! - `segment_mmap/*`: the Parquet files memory-mapped and decoded from the mapping with the
//!   parquet crate (what a page cache of mapped files would do), against the same crate reading
//!   through `File` (`segment_file/*`).
//!
//! `cargo bench -p strata-bench --bench segment_decode`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
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
    let mut g = c.benchmark_group("segment_decode");
    g.throughput(Throughput::Elements(common::ROWS));
    g.sample_size(10);
    for (name, columns) in READS {
        let schema = columns.map_or(snapshot.schema.clone(), |c| project_of(&snapshot.schema, c));
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

    // The same reads through a warm read cache.
    let cached = common::events_fixture_cached("segment_cached", true, 1 << 30);
    let snapshot = cached.storage.table("events").expect("table").snapshot();
    let mut g = c.benchmark_group("segment_cached");
    g.throughput(Throughput::Elements(common::ROWS));
    g.sample_size(10);
    for (name, columns) in READS {
        let schema = columns.map_or(snapshot.schema.clone(), |c| project_of(&snapshot.schema, c));
        let read = || {
            let mut n = 0;
            for s in &snapshot.segments {
                for batch in s.read(&schema).expect("read") {
                    n += batch.num_rows();
                }
            }
            assert_eq!(n, rows);
        };
        read();
        g.bench_function(name, |b| b.iter(read));
    }
    g.bench_function("query_sum_latency_ms", |b| {
        b.iter(|| cached.engine.execute_with(sql, &limits).expect(sql))
    });
    g.finish();

    // The parquet crate alone on the segment files: through `File` and through a mapping.
    let files = parquet_files(&cached.dir);
    assert!(!files.is_empty());
    for (group, mapped) in [("segment_file", false), ("segment_mmap", true)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(common::ROWS));
        g.sample_size(10);
        for (name, columns) in READS {
            g.bench_function(name, |b| {
                b.iter(|| {
                    let n: usize = files.iter().map(|f| read_parquet(f, columns, mapped)).sum();
                    assert_eq!(n, rows);
                })
            });
        }
        g.finish();
    }
}

/// What every group reads: all columns, one string column, one numeric column.
const READS: [(&str, Option<&[&str]>); 3] = [
    ("all_columns", None),
    ("string_url", Some(&["url"])),
    ("double_latency_ms", Some(&["latency_ms"])),
];

fn project_of(schema: &SchemaRef, names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| schema.field_with_name(n).expect("column").clone())
            .collect::<Vec<_>>(),
    ))
}

fn parquet_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out
}

/// Decodes `columns` (all when `None`) of one Parquet file, read through `File` or a mapping;
/// returns the rows.
fn read_parquet(path: &std::path::Path, columns: Option<&[&str]>, mapped: bool) -> usize {
    let file = std::fs::File::open(path).expect("open");
    if mapped {
        // SAFETY: a mapping is undefined behaviour if the file changes underneath; nothing
        // writes these segment files (they are immutable once persisted) while the bench runs.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap");
        let bytes = bytes::Bytes::from_owner(map);
        count(
            ParquetRecordBatchReaderBuilder::try_new(bytes).expect("builder"),
            columns,
        )
    } else {
        count(
            ParquetRecordBatchReaderBuilder::try_new(file).expect("builder"),
            columns,
        )
    }
}

fn count<T: parquet::file::reader::ChunkReader + 'static>(
    builder: ParquetRecordBatchReaderBuilder<T>,
    columns: Option<&[&str]>,
) -> usize {
    let mask = match columns {
        None => ProjectionMask::all(),
        Some(names) => {
            let schema = builder.schema().clone();
            let roots: Vec<usize> = names
                .iter()
                .map(|n| schema.index_of(n).expect("column"))
                .collect();
            ProjectionMask::roots(builder.parquet_schema(), roots)
        }
    };
    builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .expect("reader")
        .map(|b| b.expect("batch").num_rows())
        .sum()
}

criterion_group!(benches, segment_decode);
criterion_main!(benches);
