//! `strata-bench dashboard`: dashboard queries from 8 clients while ingest runs at a steady rate.
//!
//! ```text
//!  gen::events (--rows over the last --hours) ──> bench/.data/events_dash_N_S_H.parquet (cached)
//!     ──> Arrow IPC ──> POST /v1/tables/events/ingest ──> FLUSH TABLE events
//!  idle:   each query kind --idle-runs times, one client, no ingest (cutoff = end of data - 1 h)
//!  loaded: NDJSON ingest at --ingest-rate rows/s (events timed on a clock that starts at the end
//!          of the data), and --query-clients threads cycling through the query kinds for
//!          --duration-s, each with cutoff = that clock - 1 h
//!  peers:  DuckDB and chDB load the same Parquet file and run the idle queries (same cutoff)
//! ```
//!
//! The query kinds are those of a real-time dashboard: per-minute counts over the last hour with
//! a filter, the top 10 URLs of the last hour, distinct users of the last hour, and the p95
//! latency of the last hour. Strata has no percentile aggregate yet (`docs/sql.md`: "Not supported
//! yet ... percentiles"), so unless `percentile_cont` answers at run time, the p95 kind asks for
//! a histogram of whole milliseconds and the client takes the 95th percentile from it; the peers
//! run the same histogram query, so the comparison is like for like.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::freshness::paced_ingest_from;
use super::{content_type, events_ddl, sql_timestamp, Client, Latencies, LatencySummary, RunInfo};
use crate::gen::{self, events};
use crate::peers::{self, Engine};

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "dashboard";
const HOUR_MS: i64 = 3_600_000;

/// Command-line arguments of `strata-bench dashboard`.
#[derive(Debug, Clone, clap::Args)]
pub struct DashboardArgs {
    /// Rows of `events` loaded before the run.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hours of event time the loaded rows span (the last of them is "the last hour").
    #[arg(long, default_value_t = 3)]
    pub hours: u64,
    /// Target ingest rate during the loaded phase, rows/s.
    #[arg(long, default_value_t = 100_000)]
    pub ingest_rate: u64,
    /// Rows per ingest request (NDJSON).
    #[arg(long, default_value_t = 10_000)]
    pub batch_rows: usize,
    /// Ingest client threads.
    #[arg(long, default_value_t = 2)]
    pub ingest_clients: usize,
    /// Concurrent query clients.
    #[arg(long, default_value_t = 8)]
    pub query_clients: usize,
    /// Seconds of the loaded phase.
    #[arg(long, default_value_t = 30)]
    pub duration_s: u64,
    /// Runs of each query kind in the idle phase (and on each peer).
    #[arg(long, default_value_t = 10)]
    pub idle_runs: usize,
    /// The server's `--fsync`.
    #[arg(long, default_value = "always")]
    pub fsync: String,
    /// Where the data and the binary are, peers, output.
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// A dashboard query kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// Per-minute counts over the last hour, filtered on one country.
    PerMinute,
    /// The 10 most viewed URLs of the last hour.
    TopUrls,
    /// Distinct users of the last hour.
    DistinctUsers,
    /// The 95th percentile of `latency_ms` over the last hour.
    LatencyP95,
}

/// Every kind, in the order clients cycle through them.
pub const KINDS: [Kind; 4] = [
    Kind::PerMinute,
    Kind::TopUrls,
    Kind::DistinctUsers,
    Kind::LatencyP95,
];

impl Kind {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PerMinute => "per-minute counts, country = 'DE'",
            Kind::TopUrls => "top 10 URLs",
            Kind::DistinctUsers => "distinct users",
            Kind::LatencyP95 => "p95 latency",
        }
    }

    /// The SQL for events newer than `cutoff_ms`; `percentile` says whether Strata answers
    /// `percentile_cont` (else the p95 kind is a histogram).
    pub fn sql(self, cutoff_ms: i64, percentile: bool) -> String {
        let since = format!("time >= TIMESTAMP '{}'", sql_timestamp(cutoff_ms));
        match self {
            Kind::PerMinute => format!(
                "SELECT date_trunc('minute', time) AS minute, count(*) AS n FROM events \
                 WHERE {since} AND country = 'DE' GROUP BY 1 ORDER BY 1"
            ),
            Kind::TopUrls => format!(
                "SELECT url, count(*) AS views FROM events WHERE {since} \
                 GROUP BY url ORDER BY views DESC, url LIMIT 10"
            ),
            Kind::DistinctUsers => {
                format!("SELECT count(DISTINCT user_id) AS users FROM events WHERE {since}")
            }
            Kind::LatencyP95 if percentile => format!(
                "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95 \
                 FROM events WHERE {since}"
            ),
            Kind::LatencyP95 => format!(
                "SELECT CAST(latency_ms AS BIGINT) AS ms, count(*) AS n FROM events \
                 WHERE {since} GROUP BY 1"
            ),
        }
    }
}

/// The 95th percentile of a histogram answer (`[[ms, n], ...]`), milliseconds.
pub fn histogram_p95(rows: &[serde_json::Value]) -> Option<i64> {
    let mut buckets: Vec<(i64, u64)> = rows
        .iter()
        .filter_map(|r| Some((r[0].as_i64()?, r[1].as_u64()?)))
        .collect();
    buckets.sort_unstable();
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let rank = (total as f64 * 0.95).ceil() as u64;
    let mut seen = 0;
    for (ms, n) in buckets {
        seen += n;
        if seen >= rank.max(1) {
            return Some(ms);
        }
    }
    None
}

/// One query kind's latencies in one phase on one system.
#[derive(Debug, Clone, Serialize)]
pub struct KindResult {
    /// The kind.
    pub kind: Kind,
    /// Its SQL (with the cutoff of the idle phase).
    pub sql: String,
    /// Latencies of the successful runs.
    pub latency: LatencySummary,
    /// Failed runs.
    pub failed: usize,
}

/// The JSON result of `strata-bench dashboard`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `dashboard`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// Rows loaded before the run.
    pub rows: u64,
    /// Hours they span.
    pub hours: u64,
    /// The server's fsync policy.
    pub fsync: String,
    /// Whether Strata answered `percentile_cont` (else the p95 kind is a histogram).
    pub percentile_supported: bool,
    /// Seconds to load the rows (Arrow IPC over HTTP) and flush them.
    pub load_s: f64,
    /// Strata, one client, no ingest.
    pub idle: Vec<KindResult>,
    /// Strata, `query_clients` clients, ingest running.
    pub loaded: Vec<KindResult>,
    /// Query clients in the loaded phase.
    pub query_clients: usize,
    /// Seconds of the loaded phase.
    pub duration_s: f64,
    /// Queries per second answered in the loaded phase.
    pub loaded_qps: f64,
    /// Target ingest rate.
    pub ingest_target_rows_per_s: u64,
    /// Achieved ingest rate over the loaded phase.
    pub ingest_rows_per_s: f64,
    /// Ingest request latencies.
    pub ingest_latency: LatencySummary,
    /// Seconds the ingest clients waited for the body generator (summed over clients): when it
    /// is large, the client side, not the server, held the rate back.
    pub ingest_waited_for_generator_s: f64,
    /// Rows in the table at the end.
    pub table_rows: u64,
    /// Per peer (`DuckDB`, `chDB`): its idle results and version.
    pub peers: Vec<PeerResult>,
}

/// A peer's idle run of the same queries.
#[derive(Debug, Clone, Serialize)]
pub struct PeerResult {
    /// `DuckDB` or `chDB`.
    pub system: String,
    /// Its version.
    pub version: String,
    /// Seconds to load the Parquet file.
    pub load_s: f64,
    /// Per kind.
    pub idle: Vec<KindResult>,
}

/// Runs the benchmark, prints and writes the result.
pub fn run(a: &DashboardArgs) -> Result<Report> {
    if a.rows == 0 || a.hours == 0 || a.batch_rows == 0 || a.query_clients == 0 {
        bail!("--rows, --hours, --batch-rows and --query-clients must be at least 1");
    }
    if a.idle_runs < 2 {
        bail!("--idle-runs must be at least 2 (the first run is dropped as cold)");
    }
    let (bin, start, data_dir) = a.run.begin();
    let parquet = ensure_data(&data_dir, a)?;

    let server = super::StrataServer::start(
        &bin,
        &[
            "--fsync".into(),
            a.fsync.clone(),
            "--body-bytes-max".into(),
            (1u64 << 30).to_string(),
        ],
    )?;
    let client = Client::new(server.base_url())?;
    eprintln!("strata: serving at {}", server.base_url());
    client.query(&events_ddl("events"))?;
    let load_started = Instant::now();
    load_parquet(&client, &parquet)?;
    client.query("FLUSH TABLE events")?;
    let load_s = super::secs_since(load_started);
    let end_ms = client
        .query("SELECT CAST(extract(epoch FROM max(time)) * 1000 AS BIGINT) FROM events")?
        .first()
        .and_then(|r| r[0].as_i64())
        .context("max(time) of events")?;
    eprintln!("strata: loaded {} rows in {load_s:.1} s", a.rows);

    let percentile = client
        .query(&Kind::LatencyP95.sql(end_ms - HOUR_MS, true))
        .is_ok();
    let cutoff = end_ms - HOUR_MS;
    let idle: Vec<KindResult> = KINDS
        .iter()
        .map(|&k| {
            let sql = k.sql(cutoff, percentile);
            let mut l = Latencies::default();
            let mut failed = 0;
            for run in 0..a.idle_runs {
                let t = Instant::now();
                match client.query(&sql) {
                    Ok(rows) => {
                        if run > 0 {
                            l.push(super::secs_since(t));
                        }
                        if run == 0 {
                            eprintln!("strata idle: {}: {}", k.name(), answer(k, &rows));
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("strata idle: {}: {e:#}", k.name());
                    }
                }
            }
            KindResult {
                kind: k,
                sql,
                latency: l.summary(),
                failed,
            }
        })
        .collect();

    // The loaded phase.
    let stop = AtomicBool::new(false);
    let acked = AtomicU64::new(0);
    let per_kind: Vec<Mutex<(Latencies, usize)>> = KINDS
        .iter()
        .map(|_| Mutex::new((Latencies::default(), 0)))
        .collect();
    let answered = AtomicUsize::new(0);
    let phase_start = Instant::now();
    let clock = |at: Instant| end_ms + (at - phase_start).as_millis() as i64;
    let (ingest_latency, ingest_rate, duration_s) = std::thread::scope(|s| -> Result<_> {
        let ingest = s.spawn(|| {
            paced_ingest_from(
                &client,
                "events",
                a.ingest_rate,
                a.batch_rows,
                a.ingest_clients.max(1),
                &stop,
                &acked,
                end_ms,
            )
        });
        std::thread::sleep(Duration::from_secs(1));
        let acked_before = acked.load(Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(a.duration_s);
        let mut clients = Vec::new();
        for c in 0..a.query_clients {
            let (client, per_kind, answered) = (&client, &per_kind, &answered);
            clients.push(s.spawn(move || {
                let mut i = c;
                while Instant::now() < deadline {
                    let k = KINDS[i % KINDS.len()];
                    i += 1;
                    let sql = k.sql(clock(Instant::now()) - HOUR_MS, percentile);
                    let t = Instant::now();
                    let outcome = client.query(&sql);
                    let secs = super::secs_since(t);
                    if let Ok(mut slot) = per_kind[i.wrapping_sub(1) % KINDS.len()].lock() {
                        match outcome {
                            Ok(_) => {
                                slot.0.push(secs);
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                if slot.1 == 0 {
                                    eprintln!("strata loaded: {}: {e:#}", k.name());
                                }
                                slot.1 += 1;
                            }
                        }
                    }
                }
            }));
        }
        for c in clients {
            let _ = c.join();
        }
        let duration_s = super::secs_since(started);
        let rate = (acked.load(Ordering::Relaxed) - acked_before) as f64 / duration_s;
        stop.store(true, Ordering::Relaxed);
        let lat = ingest
            .join()
            .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))??;
        Ok((lat, rate, duration_s))
    })?;
    let loaded: Vec<KindResult> = KINDS
        .iter()
        .zip(per_kind)
        .map(|(&k, m)| {
            let (l, failed) = m.into_inner().unwrap_or_default();
            KindResult {
                kind: k,
                sql: k.sql(cutoff, percentile),
                latency: l.summary(),
                failed,
            }
        })
        .collect();
    let table_rows = client
        .query("SELECT count(*) FROM events")?
        .first()
        .and_then(|r| r[0].as_u64())
        .context("count(*) of events")?;
    drop(server);

    let mut peer_results = Vec::new();
    if !a.run.skip_peers {
        peers::ensure_venv()?;
        for engine in [Engine::DuckDb, Engine::ChDb] {
            match run_peer(engine, &parquet, &data_dir, cutoff, percentile, a.idle_runs) {
                Ok(p) => peer_results.push(p),
                Err(e) => eprintln!("{}: failed, reported without it: {e:#}", engine.label()),
            }
        }
    }

    let report = Report {
        benchmark: "dashboard",
        run: start.finish(),
        rows: a.rows,
        hours: a.hours,
        fsync: a.fsync.clone(),
        percentile_supported: percentile,
        load_s,
        idle,
        loaded,
        query_clients: a.query_clients,
        duration_s,
        loaded_qps: answered.into_inner() as f64 / duration_s,
        ingest_target_rows_per_s: a.ingest_rate,
        ingest_rows_per_s: ingest_rate,
        ingest_latency: ingest_latency.summary(),
        ingest_waited_for_generator_s: ingest_latency.waited_s,
        table_rows,
        peers: peer_results,
    };
    let md = render_markdown(&report);
    print!("{md}");
    if !a.run.no_write {
        super::write_result(
            &format!("dashboard-{}-{}", report.rows, report.run.commit.hash),
            &report,
            DOCS_SECTION,
            &md,
        )?;
    }
    Ok(report)
}

fn answer(k: Kind, rows: &[serde_json::Value]) -> String {
    match k {
        Kind::LatencyP95 if rows.len() > 1 => match histogram_p95(rows) {
            Some(p) => format!("{} buckets, p95 = {p} ms", rows.len()),
            None => format!("{} buckets", rows.len()),
        },
        _ => {
            let first: String = rows
                .first()
                .map(|r| r.to_string())
                .unwrap_or_default()
                .chars()
                .take(80)
                .collect();
            format!("{} rows, first {first}", rows.len())
        }
    }
}

fn ensure_data(dir: &Path, a: &DashboardArgs) -> Result<PathBuf> {
    let path = dir.join(format!(
        "events_dash_{}_{}_{}h.parquet",
        a.rows, a.seed, a.hours
    ));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let partial = path.with_extension("parquet.partial");
    let rate = a.rows as f64 / (a.hours as f64 * 3600.0);
    let started = Instant::now();
    let mut g = events::EventsGenerator::new(a.rows, a.seed, events::DEFAULT_START_MS, rate)?;
    gen::write_parquet(&mut g, &partial, events::writer_properties()?)?;
    std::fs::rename(&partial, &path).with_context(|| format!("rename to {}", path.display()))?;
    eprintln!(
        "data: generated {} in {:.1} s",
        path.display(),
        super::secs_since(started)
    );
    Ok(path)
}

fn load_parquet(client: &Client, parquet: &Path) -> Result<()> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(parquet).with_context(|| format!("open {}", parquet.display()))?,
    )?
    .with_batch_size(200_000)
    .build()?;
    for batch in reader {
        let batch = batch?;
        let mut body = Vec::with_capacity(batch.get_array_memory_size());
        {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut body, &batch.schema())?;
            w.write(&batch)?;
            w.finish()?;
        }
        client.ingest("events", content_type::ARROW, body)?;
    }
    Ok(())
}

fn run_peer(
    engine: Engine,
    parquet: &Path,
    data_dir: &Path,
    cutoff: i64,
    percentile: bool,
    runs: usize,
) -> Result<PeerResult> {
    let sqls: Vec<String> = KINDS.iter().map(|k| k.sql(cutoff, percentile)).collect();
    let sqls: Vec<String> = sqls
        .into_iter()
        .map(|s| match engine {
            // Strata's `percentile_cont ... WITHIN GROUP` in each peer's spelling.
            Engine::ChDb => s.replace(
                "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)",
                "quantileExact(0.95)(latency_ms)",
            ),
            Engine::DuckDb => s,
        })
        .collect();
    let file = data_dir.join(format!("dashboard-queries-{}.sql", engine.name()));
    std::fs::write(&file, sqls.join(";\n") + ";\n")
        .with_context(|| format!("write {}", file.display()))?;
    eprintln!(
        "{}: loading {} and running the queries",
        engine.label(),
        parquet.display()
    );
    let lines = peers::run_json_lines(&[
        "--engine".into(),
        engine.name().into(),
        "--dataset".into(),
        "events".into(),
        "--parquet".into(),
        parquet.display().to_string(),
        "--queries".into(),
        file.display().to_string(),
        "--runs".into(),
        runs.to_string(),
    ])?;
    let mut load_s = 0.0;
    let mut version = String::new();
    let mut idle = Vec::new();
    for line in &lines {
        if let Some(l) = line.get("load") {
            load_s = l["seconds"].as_f64().unwrap_or(0.0);
            version = l["version"].as_str().unwrap_or("").to_string();
            continue;
        }
        let n = line["query"].as_u64().context("peer line without query")? as usize;
        let k = *KINDS
            .get(n.wrapping_sub(1))
            .with_context(|| format!("peer answered query {n}"))?;
        let mut l = Latencies::default();
        let times: Vec<f64> = line["times_s"]
            .as_array()
            .map(|t| t.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default();
        for t in times.iter().skip(1) {
            l.push(*t);
        }
        if let Some(e) = line["error"].as_str() {
            eprintln!("{}: {}: {e}", engine.label(), k.name());
        }
        idle.push(KindResult {
            kind: k,
            sql: sqls[n - 1].clone(),
            latency: l.summary(),
            failed: usize::from(line.get("error").is_some_and(|e| !e.is_null())),
        });
    }
    Ok(PeerResult {
        system: engine.label().into(),
        version,
        load_s,
        idle,
    })
}

/// The markdown section.
pub fn render_markdown(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Dashboard under load: {} `events` rows over {} h, ingest target {} rows/s, {} query \
         clients, `--fsync {}`\n",
        r.rows, r.hours, r.ingest_target_rows_per_s, r.query_clients, r.fsync
    );
    s.push_str(&r.run.render_markdown());
    let kept = r.ingest_rows_per_s >= 0.95 * r.ingest_target_rows_per_s as f64;
    let _ = writeln!(
        s,
        "- Load: {:.1} s (Arrow IPC over HTTP, then FLUSH); {} rows at the end\n\
         - Ingest during the loaded phase: **{:.0} rows/s achieved of {} targeted ({})**, NDJSON \
         requests p50 {:.1} ms, p99 {:.1} ms; the ingest clients waited {:.1} s in all for the \
         body generator\n\
         - Loaded phase: {:.1} s, {:.1} queries/s answered\n\
         - p95 latency query: {}\n",
        r.load_s,
        r.table_rows,
        r.ingest_rows_per_s,
        r.ingest_target_rows_per_s,
        if kept {
            "kept its rate"
        } else {
            "did NOT keep its rate"
        },
        r.ingest_latency.p50_ms,
        r.ingest_latency.p99_ms,
        r.ingest_waited_for_generator_s,
        r.duration_s,
        r.loaded_qps,
        if r.percentile_supported {
            "`percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)` (chDB: `quantileExact`)"
        } else {
            "Strata has no percentile aggregate yet, so it is a histogram of whole milliseconds \
             (`GROUP BY CAST(latency_ms AS BIGINT)`) from which the client reads the 95th \
             percentile; the peers run the same query"
        }
    );
    let _ =
        writeln!(
        s,
        "| query | loaded p50 ms | loaded p99 ms | loaded n (failed) | idle p50 ms | idle p99 ms \
         {}|",
        r.peers
            .iter()
            .map(|p| format!("| {} idle p50 ms | Strata ÷ {} (idle p50) ", p.system, p.system))
            .collect::<String>()
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:{}|",
        "|---:|---:".repeat(r.peers.len())
    );
    for (i, k) in KINDS.iter().enumerate() {
        let loaded = &r.loaded[i];
        let idle = &r.idle[i];
        let mut row = format!(
            "| {} | {:.1} | {:.1} | {} ({}) | {:.1} | {:.1} ",
            k.name(),
            loaded.latency.p50_ms,
            loaded.latency.p99_ms,
            loaded.latency.count,
            loaded.failed,
            idle.latency.p50_ms,
            idle.latency.p99_ms
        );
        for p in &r.peers {
            match p.idle.iter().find(|x| x.kind == *k) {
                Some(x) if x.failed == 0 && x.latency.count > 0 => {
                    let _ = write!(
                        row,
                        "| {:.1} | {:.2} ",
                        x.latency.p50_ms,
                        idle.latency.p50_ms / x.latency.p50_ms.max(1e-9)
                    );
                }
                _ => row.push_str("| fail | - "),
            }
        }
        let _ = writeln!(s, "{row}|");
    }
    let _ = writeln!(
        s,
        "\nIdle: one client, no ingest, {} runs per query, the first dropped. Loaded: {} clients \
         cycling through the four queries, the last hour measured on a clock that starts at the \
         end of the loaded data. Peer versions: {}.",
        r.idle.first().map_or(0, |x| x.latency.count + 1),
        r.query_clients,
        if r.peers.is_empty() {
            "none run".to_string()
        } else {
            r.peers
                .iter()
                .map(|p| format!("{} {} (load {:.1} s)", p.system, p.version, p.load_s))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_p95_takes_the_bucket_holding_the_rank() {
        let rows: Vec<serde_json::Value> =
            serde_json::from_str("[[3, 50], [1, 40], [9, 10]]").unwrap();
        // 100 values: ranks 1-40 are 1 ms, 41-90 are 3 ms, 91-100 are 9 ms; rank 95 is 9 ms.
        assert_eq!(histogram_p95(&rows), Some(9));
        let rows: Vec<serde_json::Value> = serde_json::from_str("[[5, 95], [7, 5]]").unwrap();
        assert_eq!(histogram_p95(&rows), Some(5));
        assert_eq!(histogram_p95(&[]), None);
    }

    #[test]
    fn every_kind_filters_on_the_last_hour() {
        for k in KINDS {
            let sql = k.sql(1_767_225_600_000, false);
            assert!(
                sql.contains("time >= TIMESTAMP '2026-01-01 00:00:00.000'"),
                "{sql}"
            );
        }
    }
}
