//! Criterion benches of the query kernels, in process through `QueryEngine::execute_with` on
//! 500,000 `events` rows held in the live (in-memory) segment, one scan thread:
//!
//! - `group_by_low_cardinality`: GROUP BY a string key of 5 or 50 values (the dictionary-like
//!   case a dictionary-code group-by would serve);
//! - `hash_aggregate_fixed_width`: GROUP BY an INTEGER key of 5 values and a BIGINT key of
//!   hundreds of thousands of values;
//! - `top_n`: ORDER BY ... LIMIT 10 over rows (a DOUBLE key, which zone maps do not bound; the
//!   time column, whose zone maps let the top-N's bound skip blocks: the latest-events panel),
//!   and over the groups of a GROUP BY.
//!
//! `cargo bench -p strata-bench --bench query_kernels`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn run(c: &mut Criterion, group: &str, cases: &[(&str, &str)]) {
    let fixture = common::events_fixture(group, false);
    let limits = common::one_thread();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(common::ROWS));
    g.sample_size(20);
    for (name, sql) in cases {
        // Fail fast on SQL the engine does not take.
        fixture.engine.execute_with(sql, &limits).expect(sql);
        g.bench_function(*name, |b| {
            b.iter(|| fixture.engine.execute_with(sql, &limits).expect(sql))
        });
    }
    g.finish();
}

fn group_by_low_cardinality(c: &mut Criterion) {
    run(
        c,
        "group_by_low_cardinality",
        &[
            (
                "device_5_count",
                "SELECT device, count(*) FROM events GROUP BY device",
            ),
            (
                "country_50_count_sum",
                "SELECT country, count(*), sum(bytes) FROM events GROUP BY country",
            ),
            (
                "country_device_250",
                "SELECT country, device, count(*) FROM events GROUP BY country, device",
            ),
        ],
    );
}

fn hash_aggregate_fixed_width(c: &mut Criterion) {
    run(
        c,
        "hash_aggregate_fixed_width",
        &[
            (
                "status_int32_5",
                "SELECT status, count(*), avg(latency_ms) FROM events GROUP BY status",
            ),
            (
                "bytes_int64_high_cardinality",
                "SELECT bytes, count(*) FROM events GROUP BY bytes",
            ),
            (
                "status_bytes_two_keys",
                "SELECT status, bytes % 1000, count(*) FROM events GROUP BY 1, 2",
            ),
        ],
    );
}

fn top_n(c: &mut Criterion) {
    run(
        c,
        "top_n",
        &[
            (
                "rows_order_by_double_limit_10",
                "SELECT url, latency_ms FROM events ORDER BY latency_ms DESC LIMIT 10",
            ),
            (
                "latest_rows_order_by_time_limit_10",
                "SELECT * FROM events ORDER BY time DESC LIMIT 10",
            ),
            (
                // The same top-N with the key an expression: no bound reaches the scan (the
                // dynamic filter's A/B in one build).
                "latest_rows_order_by_time_expr_limit_10",
                "SELECT * FROM events ORDER BY time + INTERVAL '0 seconds' DESC LIMIT 10",
            ),
            (
                "groups_order_by_count_limit_10",
                "SELECT url, count(*) AS n FROM events GROUP BY url ORDER BY n DESC LIMIT 10",
            ),
        ],
    );
}

criterion_group!(
    benches,
    group_by_low_cardinality,
    hash_aggregate_fixed_width,
    top_n
);
criterion_main!(benches);
