//! Prometheus metrics: the recorder behind the `metrics` facade, and the text `GET /metrics`
//! serves.
//!
//! Any crate emits through the facade (`metrics::counter!("strata_...").increment(n)`); this
//! module installs the one recorder, once per process, and at scrape time refreshes the gauges
//! that describe state rather than events (segments per state, the persist backlog). Metrics:
//!
//! - `strata_ingest_rows_total{table}`, `strata_ingest_bytes_total{table}`: HTTP ingest.
//! - `strata_wal_fsync_seconds`: histogram of write-ahead-log fsyncs (storage).
//! - `strata_segments{table,state}`, `strata_segment_bytes{table,state}`: gauges at scrape.
//! - `strata_persist_backlog_segments{table}`: sealed segments waiting to be written.
//! - `strata_queries_total{status}`, `strata_query_duration_seconds{status}`: per query.
//! - `strata_errors_total{code}`: every error response, by its stable code.
//! - `strata_idempotent_replays_total{table}`: ingest requests answered from an earlier request
//!   with the same `Idempotency-Key`; `strata_idempotency_keys_evicted_total` (storage): keys
//!   forgotten early at the memory bound; `strata_idempotency_keys{table}`: keys held, at scrape.
//! - `strata_cache_*`: the segment read cache (emitted by storage, once it has one).
//! - `strata_source_lag*`: emitted by the sources (Kafka).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use strata_storage::{SegmentKind, Storage};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Histogram buckets, in seconds, for every `*_seconds` histogram.
const BUCKETS: [f64; 14] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Installs the Prometheus recorder (once; later calls do nothing). Fails only when another
/// recorder was installed first.
pub fn install() -> anyhow::Result<()> {
    let handle = HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        match builder.install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "no metrics: the Prometheus recorder did not install");
                None
            }
        }
    });
    if handle.is_none() {
        anyhow::bail!("the Prometheus recorder could not be installed");
    }
    describe();
    Ok(())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("strata_ingest_rows_total", "Rows ingested, per table.");
    describe_counter!(
        "strata_ingest_bytes_total",
        Unit::Bytes,
        "Request body bytes ingested (decompressed), per table."
    );
    describe_histogram!(
        "strata_query_duration_seconds",
        Unit::Seconds,
        "Query time from request to the last byte, by status (ok, error, cancelled)."
    );
    describe_counter!("strata_queries_total", "Queries, by status.");
    describe_counter!("strata_errors_total", "Error responses, by error code.");
    describe_counter!(
        "strata_deleted_rows_total",
        "Rows removed by DELETE statements, all tables."
    );
    describe_counter!(
        "strata_idempotent_replays_total",
        "Ingest requests answered with the first answer of an earlier request with the same Idempotency-Key (nothing stored), per table."
    );
    describe_counter!(
        "strata_idempotency_keys_evicted_total",
        "Idempotency keys forgotten before their window ended because a table held its most keys."
    );
    describe_gauge!(
        "strata_idempotency_keys",
        "Idempotency keys a table holds (acknowledged within the window)."
    );
    describe_gauge!("strata_segments", "Segments per table and state.");
    describe_gauge!(
        "strata_segment_bytes",
        Unit::Bytes,
        "Segment bytes per table and state."
    );
    describe_gauge!(
        "strata_persist_backlog_segments",
        "Sealed segments waiting to be persisted, per table."
    );
    describe_histogram!(
        "strata_wal_fsync_seconds",
        Unit::Seconds,
        "Write-ahead log fsync latency."
    );
}

/// Refreshes the state gauges from `storage` and renders every metric as Prometheus text.
pub fn render(storage: &Storage) -> String {
    let Some(Some(handle)) = HANDLE.get() else {
        return String::new();
    };
    for name in storage.table_names() {
        let Ok(table) = storage.table(&name) else {
            continue;
        };
        let infos = table.segment_infos();
        let mut sealed = 0usize;
        for kind in [
            SegmentKind::Live,
            SegmentKind::Sealed,
            SegmentKind::Persisted,
        ] {
            let (count, bytes) = infos
                .iter()
                .filter(|i| i.kind == kind)
                .fold((0usize, 0u64), |(n, b), i| (n + 1, b + i.bytes));
            if kind == SegmentKind::Sealed {
                sealed = count;
            }
            let labels = [
                ("table", name.clone()),
                ("state", kind.as_str().to_string()),
            ];
            metrics::gauge!("strata_segments", &labels).set(count as f64);
            metrics::gauge!("strata_segment_bytes", &labels).set(bytes as f64);
        }
        metrics::gauge!("strata_persist_backlog_segments", "table" => name.clone())
            .set(sealed as f64);
        metrics::gauge!("strata_idempotency_keys", "table" => name.clone())
            .set(table.idempotency_keys() as f64);
    }
    let cache = storage.cache().stats();
    metrics::gauge!("strata_cache_budget_bytes").set(cache.budget_bytes as f64);
    metrics::gauge!("strata_cache_bytes").set(cache.bytes as f64);
    metrics::gauge!("strata_cache_entries").set(cache.entries as f64);
    metrics::counter!("strata_cache_hits_total").absolute(cache.hits);
    metrics::counter!("strata_cache_misses_total").absolute(cache.misses);
    metrics::counter!("strata_cache_evictions_total").absolute(cache.evictions);
    let lookups = cache.hits + cache.misses;
    let ratio = if lookups == 0 {
        0.0
    } else {
        cache.hits as f64 / lookups as f64
    };
    metrics::gauge!("strata_cache_hit_ratio").set(ratio);
    handle.render()
}
