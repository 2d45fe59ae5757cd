//! Selecting the rows of one string value: from the bitmap index (lookup, then a selection mask,
//! then `filter`) against a scan (compare every value, then `filter`). 1M rows, seeded.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::cmp::eq;
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion};
use strata_storage::index::{BlockIndex, IndexLookup};
use strata_storage::segment::selection_mask;

const ROWS: usize = 1 << 20;

fn batch(distinct: u64) -> RecordBatch {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let s: Vec<String> = (0..ROWS)
        .map(|_| format!("v{}", next() % distinct))
        .collect();
    let n: Vec<i64> = (0..ROWS as i64).collect();
    RecordBatch::try_from_iter(vec![
        ("s", Arc::new(StringArray::from(s)) as ArrayRef),
        ("n", Arc::new(Int64Array::from(n)) as ArrayRef),
    ])
    .unwrap()
}

fn bench(c: &mut Criterion) {
    for distinct in [10u64, 10_000] {
        let batch = batch(distinct);
        let index = BlockIndex::build(&batch, &["s".to_string()]);
        let lookup = IndexLookup::Eq("v7".to_string());
        let scalar = StringArray::new_scalar("v7");
        let mut group = c.benchmark_group(format!(
            "select one value of {distinct}, 1M rows, string column"
        ));
        group.bench_function("bitmap index", |b| {
            b.iter(|| {
                let rows = index.lookup("s", black_box(&lookup)).unwrap();
                let mask = selection_mask(&rows, 0, ROWS as u32);
                black_box(filter_record_batch(&batch, &mask).unwrap())
            })
        });
        group.bench_function("scan and compare", |b| {
            b.iter(|| {
                let s = batch.column(0);
                let mask = eq(s, black_box(&scalar)).unwrap();
                black_box(filter_record_batch(&batch, &mask).unwrap())
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
