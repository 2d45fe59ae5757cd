//! `strata-bench clickbench`: the 43 ClickBench queries on Strata, DuckDB and chDB, same data.
//!
//! ```text
//!  gen::hits ──> bench/.data/hits_N_S.parquet ──┬──> Arrow IPC batches ──> POST /v1/tables/hits/ingest
//!                                               │     (timed), FLUSH TABLE hits, then each query
//!                                               │     `runs` times through POST /v1/sql
//!                                               ├──> run_peer.py duckdb: native table, queries-duckdb.sql
//!                                               └──> run_peer.py chdb:   MergeTree, queries.sql
//!  ──> per query: hot time (min of runs 2..), row counts compared, ratios
//!  ──> summary: geometric mean of (t + 10 ms) / (ref + 10 ms), ref = the faster peer
//!  ──> bench/results/clickbench-N-COMMIT.json and docs/benchmarks.md (clickbench section)
//! ```
//!
//! The Parquet file stores EventTime as Unix seconds and EventDate as days (UINT16), like
//! ClickBench's `hits.parquet`. Each system reads them as the SQL types of ClickBench's
//! `create.sql` (TIMESTAMP and DATE): Strata receives them cast to Arrow `Timestamp(s)` and
//! `Date32` ([`to_sql_types`]), chDB inserts into create.sql's table, and DuckDB keeps EventTime as
//! seconds with `queries-duckdb.sql`'s `toDateTime` (ClickBench's DuckDB setup).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::{now_rfc3339, secs_since, Commit, Machine, SqlOutcome, StrataBinary, StrataServer};
use crate::gen::{self, hits};
use crate::peers::{self, Engine, PeerLoad, PeerRun};

/// The time ClickBench charges a failed query, seconds.
pub const FAILED_QUERY_S: f64 = 300.0;
/// The offset ClickBench adds to both sides of a ratio, seconds (10 ms), so that sub-millisecond
/// answers do not dominate the geometric mean.
pub const SCORE_OFFSET_S: f64 = 0.01;
/// The number of queries in the suite.
pub const QUERY_COUNT: usize = 43;
/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "clickbench";

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows of `hits` to generate and load.
    pub rows: u64,
    /// Generator seed.
    pub seed: u64,
    /// Where generated files are cached.
    pub data_dir: PathBuf,
    /// Runs per query (the hot time is the minimum of runs 2 and later).
    pub runs: usize,
    /// The `strata` binary.
    pub strata_bin: PathBuf,
    /// Run Strata only.
    pub skip_peers: bool,
    /// Rows per ingest request.
    pub batch_rows: usize,
    /// The server's `--body-bytes-max`.
    pub max_body_bytes: u64,
    /// The server's `--query-timeout-ms`, as seconds.
    pub query_timeout_s: u64,
    /// The command line, recorded with the result.
    pub command: String,
    /// Where the JSON result goes.
    pub results_dir: PathBuf,
    /// The markdown file whose `clickbench` section is rewritten.
    pub docs_file: PathBuf,
}

/// Command-line arguments of `strata-bench clickbench`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickbenchArgs {
    /// Rows of `hits` to generate (cached as `hits_<rows>_<seed>.parquet`) and load.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cache directory for generated Parquet files (default `bench/.data`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Runs per query; the hot time is the minimum of runs 2 and later.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// The `strata` binary to start (default `target/release/strata`).
    #[arg(long)]
    pub strata_bin: Option<PathBuf>,
    /// Run Strata only (no DuckDB, no chDB, no ratios).
    #[arg(long)]
    pub skip_peers: bool,
    /// Rows per ingest request (one Arrow IPC stream each).
    #[arg(long, default_value_t = 100_000)]
    pub batch_rows: usize,
    /// The server's `--body-bytes-max`.
    #[arg(long, default_value_t = 1 << 30)]
    pub max_body_bytes: u64,
    /// The server's query time limit, seconds (ClickBench charges a failure 300 s).
    #[arg(long, default_value_t = 300)]
    pub query_timeout_s: u64,
}

impl ClickbenchArgs {
    /// The run's options: defaults resolved against the workspace, the command line recorded.
    pub fn options(&self) -> Options {
        let root = super::workspace_root();
        let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
        let command = super::command_line();
        Options {
            rows: self.rows,
            seed: self.seed,
            data_dir: self.data_dir.clone().unwrap_or_else(|| bench.join(".data")),
            runs: self.runs,
            strata_bin: self
                .strata_bin
                .clone()
                .unwrap_or_else(|| root.join("target/release/strata")),
            skip_peers: self.skip_peers,
            batch_rows: self.batch_rows,
            max_body_bytes: self.max_body_bytes,
            query_timeout_s: self.query_timeout_s,
            command,
            results_dir: bench.join("results"),
            docs_file: root.join("docs/benchmarks.md"),
        }
    }
}

/// Splits a SQL file into statements on `;` outside single-quoted strings; blank statements and
/// `--` comment lines are dropped.
pub fn parse_queries(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for line in text.lines() {
        if !quoted && line.trim_start().starts_with("--") {
            continue;
        }
        for c in line.chars() {
            if c == '\'' {
                quoted = !quoted;
            }
            if c == ';' && !quoted {
                push_statement(&mut out, &mut current);
            } else {
                current.push(c);
            }
        }
        current.push('\n');
    }
    push_statement(&mut out, &mut current);
    out
}

fn push_statement(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    current.clear();
}

/// The hot time of a query: the minimum of runs 2 and later (ClickBench's first run is cold), or
/// the only run. `None` without runs.
pub fn hot_time(times_s: &[f64]) -> Option<f64> {
    let hot = if times_s.len() > 1 {
        &times_s[1..]
    } else {
        times_s
    };
    hot.iter().copied().reduce(f64::min)
}

/// ClickBench's summary: the geometric mean over queries of `(t + 10 ms) / (ref + 10 ms)`, where
/// a missing `t` or `ref` (a failed query) counts as [`FAILED_QUERY_S`].
pub fn geomean_ratio(times_s: &[Option<f64>], refs_s: &[Option<f64>]) -> f64 {
    assert_eq!(times_s.len(), refs_s.len());
    if times_s.is_empty() {
        return f64::NAN;
    }
    let log_sum: f64 = times_s
        .iter()
        .zip(refs_s)
        .map(|(t, r)| {
            let t = t.unwrap_or(FAILED_QUERY_S) + SCORE_OFFSET_S;
            let r = r.unwrap_or(FAILED_QUERY_S) + SCORE_OFFSET_S;
            (t / r).ln()
        })
        .sum();
    (log_sum / times_s.len() as f64).exp()
}

/// A query's error on a system.
#[derive(Debug, Clone, Serialize)]
pub struct QueryError {
    /// Strata's stable error code (`HTTP` / `SERVER_CRASHED` for transport failures); `ERROR` for
    /// the peers, which have no codes here.
    pub code: String,
    /// The message.
    pub message: String,
}

/// One system's outcome for one query.
#[derive(Debug, Clone, Serialize)]
pub struct SystemQuery {
    /// Wall seconds of each completed run.
    pub times_s: Vec<f64>,
    /// The hot time ([`hot_time`]), when the query succeeded.
    pub hot_s: Option<f64>,
    /// Result rows, when it succeeded.
    pub rows: Option<u64>,
    /// The error, when it failed (a failed query is not repeated).
    pub error: Option<QueryError>,
}

impl SystemQuery {
    fn failed(code: &str, message: String, times_s: Vec<f64>) -> SystemQuery {
        SystemQuery {
            times_s,
            hot_s: None,
            rows: None,
            error: Some(QueryError {
                code: code.to_string(),
                message,
            }),
        }
    }
}

/// One query of the suite across the systems.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// 1-based number.
    pub query: usize,
    /// The SQL Strata and chDB ran.
    pub sql: String,
    /// Strata.
    pub strata: SystemQuery,
    /// DuckDB (absent with `--skip-peers`).
    pub duckdb: Option<SystemQuery>,
    /// chDB (absent with `--skip-peers`).
    pub chdb: Option<SystemQuery>,
    /// Whether the row counts of the systems that answered agree (`None`: fewer than two did).
    pub rows_agree: Option<bool>,
}

impl QueryResult {
    /// The faster successful peer's hot time.
    pub fn reference_s(&self) -> Option<f64> {
        [&self.duckdb, &self.chdb]
            .into_iter()
            .flatten()
            .filter_map(|s| s.hot_s)
            .reduce(f64::min)
    }
}

/// Loading the data into one system.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Rows loaded.
    pub rows: u64,
    /// Wall seconds of the whole load (Strata: reading Parquet, encoding Arrow IPC, the ingest
    /// requests and `FLUSH TABLE`).
    pub seconds: f64,
    /// Strata only: seconds spent inside the ingest requests.
    pub ingest_request_s: Option<f64>,
    /// Strata only: seconds of `FLUSH TABLE hits`.
    pub flush_s: Option<f64>,
    /// Strata only: bytes of Arrow IPC sent.
    pub ipc_bytes: Option<u64>,
    /// Rows per second over `seconds`.
    pub rows_per_s: f64,
    /// Parquet file megabytes (10^6) per second over `seconds`.
    pub parquet_mb_per_s: f64,
    /// The engine version (peers).
    pub version: Option<String>,
}

/// A system's ClickBench summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `Strata`, `DuckDB`, `chDB`.
    pub system: String,
    /// [`geomean_ratio`] against the faster peer per query (`None` with `--skip-peers`).
    pub geomean_ratio: Option<f64>,
    /// Queries that failed.
    pub failed: usize,
    /// Sum of hot times of the queries that succeeded, seconds.
    pub hot_sum_s: f64,
}

/// The JSON result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `clickbench`.
    pub benchmark: &'static str,
    /// Rows of `hits`.
    pub rows: u64,
    /// Generator seed.
    pub seed: u64,
    /// Runs per query.
    pub runs: usize,
    /// UTC time the run finished (RFC 3339).
    pub finished_at: String,
    /// The machine.
    pub machine: Machine,
    /// `/proc/loadavg` when the run started and when it finished: other work on the machine
    /// (a build, another benchmark) shows here and makes every time in the run suspect.
    pub load_average: [String; 2],
    /// The commit.
    pub commit: Commit,
    /// The `strata` binary and its modification time (UTC, RFC 3339): a binary older than the
    /// commit's server, query or storage changes measures older code.
    pub strata_binary: StrataBinary,
    /// The command line.
    pub command: String,
    /// The Parquet file's size, bytes.
    pub parquet_bytes: u64,
    /// How failed queries are scored.
    pub scoring: String,
    /// Loads per system.
    pub load: BTreeMap<String, LoadResult>,
    /// Per query.
    pub queries: Vec<QueryResult>,
    /// Per system.
    pub summaries: Vec<Summary>,
}

/// Runs the whole benchmark and writes its results; returns the report.
pub fn run(o: &Options) -> Result<Report> {
    if o.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let shared = super::shared_benchmark_dir("clickbench");
    let read = |name: &str| {
        let path = shared.join(name);
        std::fs::read_to_string(&path)
            .with_context(|| format!("read {} (set STRATA_SHARED_DIR)", path.display()))
    };
    let queries = parse_queries(&read("queries.sql")?);
    let duckdb_queries = parse_queries(&read("queries-duckdb.sql")?);
    if queries.len() != QUERY_COUNT || duckdb_queries.len() != QUERY_COUNT {
        bail!(
            "expected {QUERY_COUNT} queries, found {} in queries.sql and {} in queries-duckdb.sql",
            queries.len(),
            duckdb_queries.len()
        );
    }
    let sql_types = column_sql_types(&read("columns.tsv")?);

    // The commit is read before anything runs: the tree may move while the benchmark does.
    let commit = Commit::detect();
    let load_average_start = super::load_average();
    let strata_binary = StrataBinary::describe(&o.strata_bin);
    let parquet = ensure_data(o)?;
    let parquet_bytes = std::fs::metadata(&parquet).map_or(0, |m| m.len());

    if !o.skip_peers {
        peers::ensure_venv()?;
    }

    let mut load = BTreeMap::new();
    let (strata_load, strata) = run_strata(o, &parquet, parquet_bytes, &sql_types, &queries)?;
    load.insert("strata".to_string(), strata_load);

    let mut duckdb = None;
    let mut chdb = None;
    if !o.skip_peers {
        for engine in [Engine::DuckDb, Engine::ChDb] {
            let file = shared.join(match engine {
                Engine::DuckDb => "queries-duckdb.sql",
                Engine::ChDb => "queries.sql",
            });
            eprintln!("{}: loading and running the queries", engine.label());
            match peers::run(engine, &parquet, &file, &shared.join("create.sql"), o.runs) {
                Ok(run) => {
                    load.insert(
                        engine.name().to_string(),
                        peer_load(&run.load, parquet_bytes),
                    );
                    let per_query = peer_queries(&run);
                    match engine {
                        Engine::DuckDb => duckdb = Some(per_query),
                        Engine::ChDb => chdb = Some(per_query),
                    }
                }
                Err(e) => eprintln!("{}: failed, reported without it: {e:#}", engine.label()),
            }
        }
    }

    let results: Vec<QueryResult> = queries
        .iter()
        .enumerate()
        .map(|(i, sql)| {
            let duckdb = duckdb.as_ref().map(|d: &Vec<SystemQuery>| d[i].clone());
            let chdb = chdb.as_ref().map(|c: &Vec<SystemQuery>| c[i].clone());
            let counts: Vec<u64> = [Some(&strata[i]), duckdb.as_ref(), chdb.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|s| s.rows)
                .collect();
            let rows_agree = (counts.len() >= 2).then(|| counts.iter().all(|&c| c == counts[0]));
            QueryResult {
                query: i + 1,
                sql: sql.clone(),
                strata: strata[i].clone(),
                duckdb,
                chdb,
                rows_agree,
            }
        })
        .collect();

    let summaries = summarise(&results, !o.skip_peers);
    let report = Report {
        benchmark: "clickbench",
        rows: o.rows,
        seed: o.seed,
        runs: o.runs,
        finished_at: now_rfc3339(),
        machine: Machine::detect(),
        load_average: [load_average_start, super::load_average()],
        commit,
        strata_binary,
        command: o.command.clone(),
        parquet_bytes,
        scoring: format!(
            "hot time = min of runs 2..{runs}; ratio = geometric mean of (t + {offset} ms) / \
             (ref + {offset} ms) over the {QUERY_COUNT} queries, ref = the faster of DuckDB and chDB \
             per query; a failed query counts as {FAILED_QUERY_S} s",
            runs = o.runs,
            offset = SCORE_OFFSET_S * 1000.0
        ),
        load,
        queries: results,
        summaries,
    };
    print!("{}", render_text(&report));
    write_outputs(o, &report)?;
    Ok(report)
}

fn ensure_data(o: &Options) -> Result<PathBuf> {
    let path = o
        .data_dir
        .join(format!("hits_{}_{}.parquet", o.rows, o.seed));
    if path.exists() {
        eprintln!("data: reusing {}", path.display());
        return Ok(path);
    }
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("create {}", o.data_dir.display()))?;
    let partial = path.with_extension("parquet.partial");
    let started = Instant::now();
    eprintln!("data: generating {} rows into {}", o.rows, path.display());
    let mut generator = hits::HitsGenerator::new(o.rows, o.seed)?;
    gen::write_parquet(&mut generator, &partial, hits::writer_properties()?)
        .with_context(|| format!("write {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("rename to {}", path.display()))?;
    eprintln!("data: generated in {:.1} s", secs_since(started));
    Ok(path)
}

/// The SQL type (`TIMESTAMP`, `Date`, ...) of each column from `columns.tsv`.
pub fn column_sql_types(tsv: &str) -> BTreeMap<String, String> {
    tsv.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let ordinal = f.next()?;
            ordinal.trim().parse::<u32>().ok()?;
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

/// Casts the Parquet file's physical columns to create.sql's SQL types where they differ: Unix
/// seconds (INT64) to `Timestamp(s)` for TIMESTAMP columns, days (UINT16) to `Date32` for Date.
pub fn to_sql_types(
    batch: &RecordBatch,
    sql_types: &BTreeMap<String, String>,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let sql = sql_types.get(field.name()).map(|s| s.to_ascii_uppercase());
        let target = match (sql.as_deref(), column.data_type()) {
            (Some("TIMESTAMP"), DataType::Int64) => {
                Some(DataType::Timestamp(TimeUnit::Second, None))
            }
            (Some("DATE"), DataType::UInt16 | DataType::Int32 | DataType::Int16) => {
                Some(DataType::Date32)
            }
            _ => None,
        };
        match target {
            Some(DataType::Date32) => {
                let days = arrow::compute::cast(column, &DataType::Int32)?;
                columns.push(arrow::compute::cast(&days, &DataType::Date32)?);
                fields.push(field.as_ref().clone().with_data_type(DataType::Date32));
            }
            Some(t) => {
                columns.push(arrow::compute::cast(column, &t)?);
                fields.push(field.as_ref().clone().with_data_type(t));
            }
            None => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn ipc_stream(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size());
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &batch.schema())?;
        w.write(batch)?;
        w.finish()?;
    }
    Ok(buf)
}

fn run_strata(
    o: &Options,
    parquet: &Path,
    parquet_bytes: u64,
    sql_types: &BTreeMap<String, String>,
    queries: &[String],
) -> Result<(LoadResult, Vec<SystemQuery>)> {
    let args = vec![
        "--body-bytes-max".to_string(),
        o.max_body_bytes.to_string(),
        "--query-timeout-ms".to_string(),
        (o.query_timeout_s * 1000).to_string(),
    ];
    let mut server = StrataServer::start(&o.strata_bin, &args)?;
    eprintln!("strata: serving at {}", server.base_url());

    let started = Instant::now();
    let reader = ParquetRecordBatchReaderBuilder::try_new(
        File::open(parquet).with_context(|| format!("open {}", parquet.display()))?,
    )?
    .with_batch_size(o.batch_rows)
    .build()?;
    let mut rows = 0u64;
    let mut ipc_bytes = 0u64;
    let mut request_s = 0.0;
    for batch in reader {
        let batch = to_sql_types(&batch?, sql_types)?;
        let body = ipc_stream(&batch)?;
        ipc_bytes += body.len() as u64;
        let sent = Instant::now();
        let ingested = server
            .ingest_arrow("hits", body)
            .with_context(|| format!("after {rows} rows; server log:\n{}", server.stderr_tail()))?;
        request_s += secs_since(sent);
        if ingested != batch.num_rows() as u64 {
            bail!(
                "ingest acknowledged {ingested} of {} rows",
                batch.num_rows()
            );
        }
        rows += ingested;
    }
    let flush_started = Instant::now();
    match server.sql("FLUSH TABLE hits")? {
        SqlOutcome::Rows(_) => {}
        SqlOutcome::Failed { code, message, .. } => bail!("FLUSH TABLE hits: {code}: {message}"),
    }
    let flush_s = secs_since(flush_started);
    let seconds = secs_since(started);
    let load = LoadResult {
        rows,
        seconds,
        ingest_request_s: Some(request_s),
        flush_s: Some(flush_s),
        ipc_bytes: Some(ipc_bytes),
        rows_per_s: rows as f64 / seconds,
        parquet_mb_per_s: parquet_bytes as f64 / 1e6 / seconds,
        version: None,
    };
    eprintln!(
        "strata: loaded {rows} rows in {seconds:.2} s ({:.0} rows/s; requests {request_s:.2} s, \
         {:.0} MB of Arrow IPC at {:.0} MB/s; flush {flush_s:.2} s)",
        load.rows_per_s,
        ipc_bytes as f64 / 1e6,
        ipc_bytes as f64 / 1e6 / request_s.max(1e-9)
    );

    let mut results = Vec::with_capacity(queries.len());
    for (i, sql) in queries.iter().enumerate() {
        let result = run_strata_query(&mut server, sql, o.runs, &args, o)?;
        eprintln!("Strata: Q{} {}", i + 1, describe(&result));
        results.push(result);
    }
    Ok((load, results))
}

fn run_strata_query(
    server: &mut StrataServer,
    sql: &str,
    runs: usize,
    args: &[String],
    o: &Options,
) -> Result<SystemQuery> {
    let mut times = Vec::with_capacity(runs);
    let mut rows = None;
    for _ in 0..runs {
        let started = Instant::now();
        let outcome = server.sql(sql);
        let elapsed = secs_since(started);
        match outcome {
            Ok(SqlOutcome::Rows(r)) => {
                times.push(elapsed);
                rows = Some(r);
            }
            Ok(SqlOutcome::Failed { code, message, .. }) => {
                return Ok(SystemQuery::failed(&code, message, times));
            }
            Err(e) => {
                // The server went away (a crash): record it, restart on the same data.
                let running = server.is_running();
                let tail = server.stderr_tail();
                let code = if running { "HTTP" } else { "SERVER_CRASHED" };
                let message = format!("{e:#}; server log tail:\n{tail}");
                if !running {
                    eprintln!("strata: server died; restarting it on a new copy of the data");
                    *server = restart(args, o)?;
                }
                return Ok(SystemQuery::failed(code, message, times));
            }
        }
    }
    Ok(SystemQuery {
        hot_s: hot_time(&times),
        times_s: times,
        rows,
        error: None,
    })
}

/// After a crash the data directory may be damaged; start over with a fresh server and load.
fn restart(args: &[String], o: &Options) -> Result<StrataServer> {
    let server = StrataServer::start(&o.strata_bin, args)?;
    let parquet = o
        .data_dir
        .join(format!("hits_{}_{}.parquet", o.rows, o.seed));
    let shared = super::shared_benchmark_dir("clickbench");
    let sql_types = column_sql_types(
        &std::fs::read_to_string(shared.join("columns.tsv")).context("read columns.tsv")?,
    );
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&parquet)?)?
        .with_batch_size(o.batch_rows)
        .build()?;
    for batch in reader {
        let batch = to_sql_types(&batch?, &sql_types)?;
        server.ingest_arrow("hits", ipc_stream(&batch)?)?;
    }
    server.sql("FLUSH TABLE hits")?;
    Ok(server)
}

fn peer_load(l: &PeerLoad, parquet_bytes: u64) -> LoadResult {
    LoadResult {
        rows: l.rows,
        seconds: l.seconds,
        ingest_request_s: None,
        flush_s: None,
        ipc_bytes: None,
        rows_per_s: l.rows as f64 / l.seconds.max(1e-9),
        parquet_mb_per_s: parquet_bytes as f64 / 1e6 / l.seconds.max(1e-9),
        version: Some(l.version.clone()),
    }
}

fn peer_queries(run: &PeerRun) -> Vec<SystemQuery> {
    (1..=QUERY_COUNT)
        .map(|n| match run.queries.iter().find(|q| q.query == n) {
            Some(q) => match &q.error {
                Some(e) => SystemQuery::failed("ERROR", e.clone(), q.times_s.clone()),
                None => SystemQuery {
                    times_s: q.times_s.clone(),
                    hot_s: hot_time(&q.times_s),
                    rows: q.rows,
                    error: None,
                },
            },
            None => SystemQuery::failed("ERROR", "no result from the peer".into(), Vec::new()),
        })
        .collect()
}

/// Picks one system's outcome out of a query's results.
type SystemOf = fn(&QueryResult) -> Option<&SystemQuery>;

fn summarise(results: &[QueryResult], with_peers: bool) -> Vec<Summary> {
    let refs: Vec<Option<f64>> = results.iter().map(QueryResult::reference_s).collect();
    let mut out = Vec::new();
    let systems: [(&str, SystemOf); 3] = [
        ("Strata", |q| Some(&q.strata)),
        ("DuckDB", |q| q.duckdb.as_ref()),
        ("chDB", |q| q.chdb.as_ref()),
    ];
    for (name, get) in systems {
        let per: Vec<Option<&SystemQuery>> = results.iter().map(get).collect();
        if per.iter().all(Option::is_none) {
            continue;
        }
        let hots: Vec<Option<f64>> = per.iter().map(|s| s.and_then(|s| s.hot_s)).collect();
        out.push(Summary {
            system: name.to_string(),
            geomean_ratio: with_peers.then(|| geomean_ratio(&hots, &refs)),
            failed: hots.iter().filter(|h| h.is_none()).count(),
            hot_sum_s: hots.iter().flatten().sum(),
        });
    }
    out
}

fn describe(s: &SystemQuery) -> String {
    match (&s.error, s.rows) {
        (Some(e), _) => format!(
            "failed: {}: {}",
            e.code,
            e.message.lines().next().unwrap_or("")
        ),
        (None, rows) => format!(
            "{} rows, {} s",
            rows.unwrap_or(0),
            s.times_s
                .iter()
                .map(|t| format!("{t:.3}"))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    }
}

fn fmt_time(s: Option<&SystemQuery>) -> String {
    match s {
        None => "-".into(),
        Some(s) => match (s.hot_s, &s.error) {
            (Some(t), _) => format!("{t:.3}"),
            (None, Some(e)) => format!("fail ({})", e.code),
            (None, None) => "-".into(),
        },
    }
}

fn fmt_ratio(strata: &SystemQuery, peer: Option<&SystemQuery>) -> String {
    match (strata.hot_s, peer.and_then(|p| p.hot_s)) {
        (Some(s), Some(p)) => format!("{:.2}", (s + SCORE_OFFSET_S) / (p + SCORE_OFFSET_S)),
        _ => "-".into(),
    }
}

fn fmt_rows(q: &QueryResult) -> String {
    let r = |s: Option<&SystemQuery>| match s.and_then(|s| s.rows) {
        Some(n) => n.to_string(),
        None => "-".into(),
    };
    let mark = match q.rows_agree {
        Some(true) => "",
        Some(false) => " **≠**",
        None => "",
    };
    format!(
        "{}/{}/{}{mark}",
        r(Some(&q.strata)),
        r(q.duckdb.as_ref()),
        r(q.chdb.as_ref())
    )
}

/// The failed Strata queries grouped by error code: code -> (query numbers, first message).
pub fn strata_failures(report: &Report) -> BTreeMap<String, (Vec<usize>, String)> {
    let mut out: BTreeMap<String, (Vec<usize>, String)> = BTreeMap::new();
    for q in &report.queries {
        if let Some(e) = &q.strata.error {
            let entry = out
                .entry(e.code.clone())
                .or_insert_with(|| (Vec::new(), e.message.lines().next().unwrap_or("").into()));
            entry.0.push(q.query);
        }
    }
    out
}

/// The queries where Strata is furthest behind the faster peer (largest ratio, failures first).
pub fn furthest_behind(report: &Report, n: usize) -> Vec<(usize, f64)> {
    let mut ratios: Vec<(usize, f64)> = report
        .queries
        .iter()
        .filter_map(|q| {
            let r = q.reference_s()?;
            let t = q.strata.hot_s.unwrap_or(FAILED_QUERY_S);
            Some((q.query, (t + SCORE_OFFSET_S) / (r + SCORE_OFFSET_S)))
        })
        .collect();
    ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
    ratios.truncate(n);
    ratios
}

/// The markdown section: machine, commit, command, load, summary, per-query table, failures.
pub fn render_markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### ClickBench, {} rows (generated, seed {})\n",
        r.rows, r.seed
    );
    let _ = writeln!(
        s,
        "- Machine: {}\n- Commit: `{}`{} (read when the run started; `strata` binary built {})\n\
         - Finished: {} (load average before / after: {} / {})\n- Command: `{}`\n- Scoring: {}\n",
        r.machine.describe(),
        r.commit.hash,
        if r.commit.dirty {
            " (with uncommitted changes in the tree)"
        } else {
            ""
        },
        r.strata_binary.modified,
        r.finished_at,
        r.load_average[0],
        r.load_average[1],
        r.command,
        r.scoring
    );
    let _ = writeln!(s, "| load | rows/s | Parquet MB/s | seconds | notes |");
    let _ = writeln!(s, "|---|---:|---:|---:|---|");
    let ordered = ["strata", "duckdb", "chdb"]
        .into_iter()
        .filter_map(|name| Some((name, r.load.get(name)?)));
    for (name, l) in ordered {
        let notes = match (l.ingest_request_s, l.flush_s, l.ipc_bytes) {
            (Some(req), Some(flush), Some(ipc)) => format!(
                "HTTP Arrow IPC: {:.0} MB in {req:.1} s of requests, FLUSH {flush:.1} s",
                ipc as f64 / 1e6
            ),
            _ => l
                .version
                .clone()
                .map(|v| format!("version {v}"))
                .unwrap_or_default(),
        };
        let _ = writeln!(
            s,
            "| {name} | {:.0} | {:.1} | {:.2} | {notes} |",
            l.rows_per_s, l.parquet_mb_per_s, l.seconds
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| system | geomean ratio to the faster peer | failed | sum of hot times (s) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for m in &r.summaries {
        let ratio = m
            .geomean_ratio
            .map_or_else(|| "-".to_string(), |g| format!("{g:.2}"));
        let _ = writeln!(
            s,
            "| {} | {ratio} | {} | {:.2} |",
            m.system, m.failed, m.hot_sum_s
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| Q | Strata (s) | DuckDB (s) | chDB (s) | Strata/DuckDB (+10 ms) | Strata/chDB (+10 ms) \
         | rows S/D/C |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|");
    for q in &r.queries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            q.query,
            fmt_time(Some(&q.strata)),
            fmt_time(q.duckdb.as_ref()),
            fmt_time(q.chdb.as_ref()),
            fmt_ratio(&q.strata, q.duckdb.as_ref()),
            fmt_ratio(&q.strata, q.chdb.as_ref()),
            fmt_rows(q)
        );
    }
    let failures = strata_failures(r);
    if !failures.is_empty() {
        let _ = writeln!(s, "\nStrata's failed queries, by error code:\n");
        for (code, (qs, msg)) in failures {
            let qs: Vec<String> = qs.iter().map(|q| format!("Q{q}")).collect();
            let msg: String = msg.chars().take(160).collect();
            let _ = writeln!(
                s,
                "- `{code}`: {} (e.g. \"{}\")",
                qs.join(", "),
                msg.replace('|', "\\|")
            );
        }
    }
    let peers: Vec<String> = r
        .queries
        .iter()
        .flat_map(|q| {
            [("DuckDB", &q.duckdb), ("chDB", &q.chdb)]
                .into_iter()
                .filter_map(move |(n, s)| {
                    s.as_ref()?.error.as_ref().map(|e| {
                        format!(
                            "{n} Q{}: {}",
                            q.query,
                            e.message.lines().next().unwrap_or("")
                        )
                    })
                })
        })
        .collect();
    if !peers.is_empty() {
        let _ = writeln!(s, "\nPeer failures:\n");
        for p in peers {
            let p: String = p.chars().take(200).collect();
            let _ = writeln!(s, "- {}", p.replace('|', "\\|"));
        }
    }
    let behind = furthest_behind(r, 5);
    if !behind.is_empty() {
        let list: Vec<String> = behind
            .iter()
            .map(|(q, ratio)| format!("Q{q} ({ratio:.1}x)"))
            .collect();
        let _ = writeln!(
            s,
            "\nFurthest behind the faster peer ((t + 10 ms) / (ref + 10 ms)): {}",
            list.join(", ")
        );
    }
    let mismatches: Vec<String> = r
        .queries
        .iter()
        .filter(|q| q.rows_agree == Some(false))
        .map(|q| format!("Q{}", q.query))
        .collect();
    if !mismatches.is_empty() {
        let _ = writeln!(s, "\nRow counts disagree on: {}", mismatches.join(", "));
    }
    s
}

/// The console report: the markdown section as it is written to the docs.
pub fn render_text(r: &Report) -> String {
    render_markdown(r)
}

fn write_outputs(o: &Options, report: &Report) -> Result<()> {
    std::fs::create_dir_all(&o.results_dir)
        .with_context(|| format!("create {}", o.results_dir.display()))?;
    let json_path = o.results_dir.join(format!(
        "clickbench-{}-{}.json",
        report.rows, report.commit.hash
    ));
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("write {}", json_path.display()))?;
    let doc = std::fs::read_to_string(&o.docs_file).unwrap_or_default();
    let body = render_markdown(report);
    std::fs::write(
        &o.docs_file,
        super::replace_section(&doc, DOCS_SECTION, &body),
    )
    .with_context(|| format!("write {}", o.docs_file.display()))?;
    eprintln!(
        "wrote {} and the `{DOCS_SECTION}` section of {}",
        json_path.display(),
        o.docs_file.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Field;

    fn shared_file(name: &str) -> Option<String> {
        std::fs::read_to_string(super::super::shared_benchmark_dir("clickbench").join(name)).ok()
    }

    #[test]
    fn query_files_parse_into_43_statements() {
        let Some(q) = shared_file("queries.sql") else {
            eprintln!("shared benchmarks not found; skipped");
            return;
        };
        let q = parse_queries(&q);
        assert_eq!(q.len(), QUERY_COUNT);
        assert_eq!(q[0], "SELECT COUNT(*) FROM hits");
        assert!(q[28].contains(r"'\1'"), "Q29 keeps its regex: {}", q[28]);
        let d = parse_queries(&shared_file("queries-duckdb.sql").unwrap_or_default());
        assert_eq!(d.len(), QUERY_COUNT);
    }

    #[test]
    fn semicolons_inside_strings_and_comments_do_not_split() {
        let q = parse_queries("-- a comment; here\nSELECT ';' FROM t;\n\nSELECT 2\n;SELECT 3");
        assert_eq!(q, vec!["SELECT ';' FROM t", "SELECT 2", "SELECT 3"]);
    }

    #[test]
    fn hot_time_skips_the_cold_run() {
        assert_eq!(hot_time(&[5.0, 2.0, 3.0]), Some(2.0));
        assert_eq!(hot_time(&[1.0, 2.0, 3.0]), Some(2.0));
        assert_eq!(hot_time(&[4.0]), Some(4.0));
        assert_eq!(hot_time(&[]), None);
    }

    #[test]
    fn geomean_ratio_offsets_by_10ms_and_charges_failures_300s() {
        // Equal times: 1.0.
        let g = geomean_ratio(&[Some(0.5), Some(0.001)], &[Some(0.5), Some(0.001)]);
        assert!((g - 1.0).abs() < 1e-12);
        // 0.09 s vs 0.01 s: (0.1 / 0.02) = 5; with an equal second query: sqrt(5).
        let g = geomean_ratio(&[Some(0.09), Some(1.0)], &[Some(0.01), Some(1.0)]);
        assert!((g - 5f64.sqrt()).abs() < 1e-9, "{g}");
        // A failure against 0.99 s: (300.01 / 1.0).
        let g = geomean_ratio(&[None], &[Some(0.99)]);
        assert!((g - 300.01).abs() < 1e-9, "{g}");
    }

    #[test]
    fn timestamps_and_dates_take_their_sql_types() {
        use arrow::array::{Int64Array, UInt16Array};
        let schema = Arc::new(Schema::new(vec![
            Field::new("EventTime", DataType::Int64, false),
            Field::new("EventDate", DataType::UInt16, false),
            Field::new("UserID", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1_372_708_800])),
                Arc::new(UInt16Array::from(vec![15_888])),
                Arc::new(Int64Array::from(vec![7])),
            ],
        )
        .unwrap();
        let types = column_sql_types(
            "ordinal\tcolumn\ttype\n1\tEventTime\tTIMESTAMP\tx\n2\tEventDate\tDate\tx\n3\tUserID\tBIGINT\tx\n",
        );
        let out = to_sql_types(&batch, &types).unwrap();
        let s = out.schema();
        assert_eq!(
            s.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Second, None)
        );
        assert_eq!(s.field(1).data_type(), &DataType::Date32);
        assert_eq!(s.field(2).data_type(), &DataType::Int64);
        let date = out
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::Date32Array>()
            .unwrap();
        assert_eq!(date.value(0), 15_888);
    }
}
