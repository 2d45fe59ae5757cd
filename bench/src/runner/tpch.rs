//! `strata-bench tpch`: the 22 TPC-H queries on Strata and DuckDB over the same generated data,
//! answers compared by value (issue 14).
//!
//! ```text
//!  tpchgen-cli parquet -s SCALE ──> bench/.data/tpch-sfSCALE-decimal/<table>.parquet (cached)
//!  tpch_decimal_to_double.py    ──> bench/.data/tpch-sfSCALE-double/<table>.parquet  (cached;
//!                                   skipped with --keep-decimal)
//!     Strata: CREATE TABLE per table (types from the Parquet schema), Arrow IPC batches posted to
//!             /v1/tables/<t>/ingest (429/503 retried after Retry-After), FLUSH TABLE;
//!             bench/tpch/qNN.sql each --runs times through /v1/sql, the rows kept
//!     DuckDB: run_peer.py --dataset tpch: native tables, the same statements --runs times
//!  ──> per query: cold = run 1, hot = the fastest of runs 2.. (run 1 when --runs 1), answers
//!      compared value by value (numbers within a relative 1e-6)
//!  ──> memory check: the server restarted on the same data with a small query memory limit, a
//!      lineitem x orders join must fail with MEMORY_LIMIT_EXCEEDED and the server keep serving
//!  ──> bench/results/tpch-sfSCALE-COMMIT.json and the `tpch` section of docs/benchmarks.md
//! ```
//!
//! By default every DECIMAL column is converted to DOUBLE for both engines (a named, separate
//! step: [`DOUBLE_SCRIPT`]), as the first runs did before Strata had DECIMAL; `--keep-decimal`
//! loads tpchgen's own types instead (not run yet with Strata's DECIMAL). A query Strata refuses or answers differently
//! is reported with its error or the first difference; the run goes on.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::clickbench::{hot_time, parse_queries, SCORE_OFFSET_S};
use super::{secs_since, RunInfo, SqlAnswer, StrataServer};
use crate::peers;

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "tpch";
/// The number of TPC-H queries.
pub const QUERY_COUNT: usize = 22;
/// The eight tables, smallest first (the load order).
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];
/// The step that rewrites DECIMAL columns as DOUBLE (drop it once Strata has DECIMAL).
pub const DOUBLE_SCRIPT: &str = "peers/tpch_decimal_to_double.py";
/// Relative tolerance when two numbers of an answer are compared (sums of doubles differ in
/// their last bits with the order of addition).
pub const RELATIVE_TOLERANCE: f64 = 1e-6;
/// Longest wait for one ingest request to be accepted while the server pushes back.
const INGEST_RETRY_S: u64 = 600;

/// Command-line arguments of `strata-bench tpch`.
#[derive(Debug, Clone, clap::Args)]
pub struct TpchArgs {
    /// TPC-H scale factor (1 = 6M lineitem rows).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Runs per query: the first is the cold run, the hot time is the fastest of the others.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Load tpchgen's own types (DECIMAL(15,2) prices and quantities) instead of DOUBLE.
    #[arg(long)]
    pub keep_decimal: bool,
    /// Rows per ingest request (one Arrow IPC stream each).
    #[arg(long, default_value_t = 200_000)]
    pub batch_rows: usize,
    /// The server's query time limit, seconds.
    #[arg(long, default_value_t = 300)]
    pub query_timeout_s: u64,
    /// The query memory limit of the memory check, bytes (0: no memory check).
    #[arg(long, default_value_t = 32 << 20)]
    pub check_memory_limit_bytes: u64,
    /// Run only these queries (comma-separated numbers); default all 22.
    #[arg(long, value_delimiter = ',')]
    pub queries: Vec<usize>,
    /// Where the data and the binary are, peers, output.
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// One engine's outcome for one query.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineQuery {
    /// Wall seconds of each completed run (the first is cold).
    pub times_s: Vec<f64>,
    /// The first run, seconds.
    pub cold_s: Option<f64>,
    /// The fastest run after the first (the only run with `--runs 1`), seconds.
    pub hot_s: Option<f64>,
    /// Result rows.
    pub rows: Option<usize>,
    /// The error code (Strata's stable code; `ERROR` for DuckDB).
    pub error_code: Option<String>,
    /// The error message.
    pub error: Option<String>,
    /// The answer of the last run (kept out of the JSON report).
    #[serde(skip)]
    pub result: Vec<serde_json::Value>,
}

/// One query on both engines.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// 1-based query number.
    pub query: usize,
    /// Strata.
    pub strata: EngineQuery,
    /// DuckDB (absent with `--skip-peers`).
    pub duckdb: Option<EngineQuery>,
    /// `match`, `match (order of tied rows differs)`, `differs: ...`, or `-` when an engine
    /// gave no answer.
    pub answer: String,
}

impl QueryResult {
    /// `(t + 10 ms) / (ref + 10 ms)` of the hot times, when both engines answered.
    pub fn ratio(&self) -> Option<f64> {
        let s = self.strata.hot_s?;
        let d = self.duckdb.as_ref()?.hot_s?;
        Some((s + SCORE_OFFSET_S) / (d + SCORE_OFFSET_S))
    }
}

/// One table's load into Strata.
#[derive(Debug, Clone, Serialize)]
pub struct TableLoad {
    /// Table name.
    pub table: String,
    /// Rows acknowledged.
    pub rows: u64,
    /// Wall seconds: reading Parquet, encoding IPC, requests (with their retries), FLUSH.
    pub seconds: f64,
    /// Seconds of `FLUSH TABLE`.
    pub flush_s: f64,
    /// Requests answered 429/503 and retried.
    pub retries: u64,
}

/// The memory check: a join over the limit on a server with a small query memory limit.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryCheck {
    /// `--query-memory-limit-bytes` of the restarted server.
    pub limit_bytes: u64,
    /// The statement.
    pub sql: String,
    /// What it answered: `400 MEMORY_LIMIT_EXCEEDED: ...`, or the row count.
    pub outcome: String,
    /// Whether it failed with `MEMORY_LIMIT_EXCEEDED`.
    pub memory_limit_exceeded: bool,
    /// Seconds until the answer.
    pub seconds: f64,
    /// Whether the server answered `SELECT count(*) FROM orders` afterwards.
    pub server_alive_after: bool,
    /// The server's peak resident memory (VmHWM) after the check, bytes (0 if unknown).
    pub server_peak_rss_bytes: u64,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `tpch`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// Scale factor.
    pub scale: f64,
    /// Runs per query.
    pub runs: usize,
    /// `DOUBLE` (converted) or `DECIMAL` (`--keep-decimal`).
    pub numeric_type: &'static str,
    /// DuckDB's version, when it ran.
    pub duckdb_version: Option<String>,
    /// DuckDB's load (native tables from the same Parquet files), seconds.
    pub duckdb_load_s: Option<f64>,
    /// Strata's load, per table.
    pub strata_load: Vec<TableLoad>,
    /// Per query.
    pub queries: Vec<QueryResult>,
    /// Geometric mean of [`QueryResult::ratio`] over the queries both engines answered.
    pub geomean_ratio: Option<f64>,
    /// The memory check, when it ran.
    pub memory_check: Option<MemoryCheck>,
}

/// Runs the benchmark, prints and writes the results.
pub fn run(a: &TpchArgs) -> Result<Report> {
    if a.runs == 0 || a.batch_rows == 0 || a.scale.is_nan() || a.scale <= 0.0 {
        bail!("--runs, --batch-rows and --scale must be positive");
    }
    let (bin, start, data_dir) = a.run.begin();
    let numbers: Vec<usize> = if a.queries.is_empty() {
        (1..=QUERY_COUNT).collect()
    } else {
        a.queries.clone()
    };
    let queries = read_queries(&numbers)?;
    peers::ensure_tpch_venv()?;
    let data = ensure_data(&data_dir, a.scale, a.keep_decimal)?;

    // No PostgreSQL listener: its fixed default port would collide with any other server on
    // the machine.
    let args = vec![
        "--body-bytes-max".to_string(),
        (1u64 << 30).to_string(),
        "--query-timeout-ms".to_string(),
        (a.query_timeout_s * 1000).to_string(),
        "--pg-addr".to_string(),
        "off".to_string(),
    ];
    let mut server = StrataServer::start(&bin, &args)?;
    eprintln!("strata: serving at {}", server.base_url());
    let mut strata_load = Vec::new();
    for table in TABLES {
        let l = load_table(&server, &data, table, a.batch_rows)
            .with_context(|| format!("load {table}; server log:\n{}", server.stderr_tail()))?;
        eprintln!(
            "strata: {table}: {} rows in {:.1} s (flush {:.1} s, {} retried requests)",
            l.rows, l.seconds, l.flush_s, l.retries
        );
        strata_load.push(l);
    }

    let mut results = Vec::new();
    for (n, sql) in &queries {
        let strata = run_strata_query(&mut server, &bin, &args, &data, a, sql)?;
        eprintln!("Strata: Q{n} {}", describe(&strata));
        results.push(QueryResult {
            query: *n,
            strata,
            duckdb: None,
            answer: "-".into(),
        });
    }

    let memory_check = if a.check_memory_limit_bytes > 0 {
        Some(memory_check(
            &mut server,
            &bin,
            &args,
            a.check_memory_limit_bytes,
        )?)
    } else {
        None
    };
    drop(server);

    let mut duckdb_version = None;
    let mut duckdb_load_s = None;
    if !a.run.skip_peers {
        let dir = std::env::temp_dir().join(format!("strata-bench-tpch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let file = dir.join("tpch.sql");
        let text: Vec<&str> = queries.iter().map(|(_, sql)| sql.as_str()).collect();
        std::fs::write(&file, text.join(";\n") + ";\n")?;
        eprintln!("DuckDB: loading and running the queries");
        let lines = peers::run_json_lines(&[
            "--engine".into(),
            "duckdb".into(),
            "--dataset".into(),
            "tpch".into(),
            "--parquet".into(),
            data.display().to_string(),
            "--queries".into(),
            file.display().to_string(),
            "--runs".into(),
            a.runs.to_string(),
        ]);
        let _ = std::fs::remove_dir_all(&dir);
        for line in lines? {
            if let Some(v) = line["load"]["version"].as_str() {
                duckdb_version = Some(v.to_string());
                duckdb_load_s = line["load"]["seconds"].as_f64();
                continue;
            }
            let Some(i) = line["query"].as_u64() else {
                continue;
            };
            let Some(q) = (i as usize).checked_sub(1).and_then(|i| results.get_mut(i)) else {
                continue;
            };
            let times: Vec<f64> = line["times_s"]
                .as_array()
                .map(|t| t.iter().filter_map(serde_json::Value::as_f64).collect())
                .unwrap_or_default();
            let mut d = EngineQuery {
                cold_s: times.first().copied(),
                hot_s: None,
                times_s: times,
                ..EngineQuery::default()
            };
            if let Some(e) = line["error"].as_str() {
                d.error_code = Some("ERROR".into());
                d.error = Some(e.to_string());
            } else {
                d.hot_s = hot_time(&d.times_s);
                d.result = line["result"].as_array().cloned().unwrap_or_default();
                d.rows = Some(d.result.len());
            }
            eprintln!("DuckDB: Q{} {}", q.query, describe(&d));
            q.duckdb = Some(d);
        }
        for q in &mut results {
            if let Some(d) = &q.duckdb {
                if q.strata.error.is_none() && d.error.is_none() {
                    q.answer = compare_answers(&q.strata.result, &d.result);
                }
            }
        }
    }
    let ratios: Vec<f64> = results.iter().filter_map(QueryResult::ratio).collect();
    let geomean_ratio = (!ratios.is_empty())
        .then(|| (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp());
    let report = Report {
        benchmark: "tpch",
        run: start.finish(),
        scale: a.scale,
        runs: a.runs,
        numeric_type: if a.keep_decimal { "DECIMAL" } else { "DOUBLE" },
        duckdb_version,
        duckdb_load_s,
        strata_load,
        queries: results,
        geomean_ratio,
        memory_check,
    };
    let md = render_markdown(&report);
    print!("{md}");
    if !a.run.no_write {
        super::write_result(
            &format!(
                "tpch-sf{}-{}",
                scale_name(report.scale),
                report.run.commit.hash
            ),
            &report,
            DOCS_SECTION,
            &md,
        )?;
    }
    Ok(report)
}

/// `bench/tpch/qNN.sql` for each number, comment lines dropped: `(number, statement)`.
pub fn read_queries(numbers: &[usize]) -> Result<Vec<(usize, String)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tpch");
    numbers
        .iter()
        .map(|&n| {
            if !(1..=QUERY_COUNT).contains(&n) {
                bail!("there is no TPC-H query {n}");
            }
            let path = dir.join(format!("q{n:02}.sql"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            let mut statements = parse_queries(&text);
            if statements.len() != 1 {
                bail!(
                    "{} holds {} statements, not one",
                    path.display(),
                    statements.len()
                );
            }
            Ok((n, statements.remove(0)))
        })
        .collect()
}

/// `1`, `0.1`: the scale factor as it appears in file names.
fn scale_name(scale: f64) -> String {
    format!("{scale}")
}

/// Generates (once) tpchgen's Parquet files and, unless `keep_decimal`, their DOUBLE copies;
/// returns the directory holding the eight `<table>.parquet` files to load.
pub fn ensure_data(data_dir: &Path, scale: f64, keep_decimal: bool) -> Result<PathBuf> {
    let name = scale_name(scale);
    let decimal = data_dir.join(format!("tpch-sf{name}-decimal"));
    if !decimal.exists() {
        let partial = data_dir.join(format!("tpch-sf{name}-decimal.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial)
            .with_context(|| format!("create {}", partial.display()))?;
        eprintln!(
            "data: tpchgen-cli parquet -s {name} into {}",
            partial.display()
        );
        let started = Instant::now();
        let status = Command::new(peers::tpchgen_cli())
            .args(["parquet", "-s", &name, "--output-dir"])
            .arg(&partial)
            .status()
            .context("run tpchgen-cli")?;
        if !status.success() {
            bail!("tpchgen-cli failed: {status}");
        }
        std::fs::rename(&partial, &decimal)
            .with_context(|| format!("rename to {}", decimal.display()))?;
        eprintln!("data: generated in {:.1} s", secs_since(started));
    }
    if keep_decimal {
        return Ok(decimal);
    }
    let double = data_dir.join(format!("tpch-sf{name}-double"));
    if !double.exists() {
        let partial = data_dir.join(format!("tpch-sf{name}-double.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        eprintln!("data: DECIMAL columns to DOUBLE into {}", partial.display());
        let started = Instant::now();
        let status = Command::new(peers::venv_python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(DOUBLE_SCRIPT))
            .arg(&decimal)
            .arg(&partial)
            .status()
            .context("run the DECIMAL to DOUBLE step")?;
        if !status.success() {
            bail!("{DOUBLE_SCRIPT} failed: {status}");
        }
        std::fs::rename(&partial, &double)
            .with_context(|| format!("rename to {}", double.display()))?;
        eprintln!("data: converted in {:.1} s", secs_since(started));
    }
    Ok(double)
}

/// The SQL type Strata's `CREATE TABLE` takes for an Arrow type of the Parquet files.
pub fn sql_type(t: &DataType) -> Result<String> {
    Ok(match t {
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        other => bail!("no SQL type for the Parquet column type {other}"),
    })
}

/// The VARCHAR columns that get a bitmap index: the low-cardinality ones TPC-H filters on
/// (flags, modes, segments, priorities, brands, types, containers, nation and region names).
/// Comments, names, addresses and phones (one value per row) get none.
pub fn indexed_columns(table: &str) -> &'static str {
    match table {
        "region" => "r_name",
        "nation" => "n_name",
        "customer" => "c_mktsegment",
        "part" => "p_mfgr, p_brand, p_type, p_container",
        "orders" => "o_orderstatus, o_orderpriority",
        "lineitem" => "l_returnflag, l_linestatus, l_shipinstruct, l_shipmode",
        _ => "",
    }
}

/// `CREATE TABLE` for `table` with the columns of `schema`.
pub fn create_table_sql(table: &str, schema: &Schema) -> Result<String> {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| Ok(format!("{} {}", f.name(), sql_type(f.data_type())?)))
        .collect::<Result<_>>()?;
    Ok(format!(
        "CREATE TABLE {table} ({}) WITH (indexes = '{}')",
        columns.join(", "),
        indexed_columns(table)
    ))
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

/// Creates `table`, posts its Parquet file as Arrow IPC batches and flushes it.
fn load_table(
    server: &StrataServer,
    dir: &Path,
    table: &str,
    batch_rows: usize,
) -> Result<TableLoad> {
    let started = Instant::now();
    let path = dir.join(format!("{table}.parquet"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(
        File::open(&path).with_context(|| format!("open {}", path.display()))?,
    )?;
    let ddl = create_table_sql(table, builder.schema())?;
    match server.sql_rows(&ddl)? {
        SqlAnswer::Rows(_) => {}
        SqlAnswer::Failed { code, message, .. } => bail!("{ddl}: {code}: {message}"),
    }
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .context("HTTP client")?;
    let url = format!("{}/v1/tables/{table}/ingest", server.base_url());
    let mut rows = 0u64;
    let mut retries = 0u64;
    for batch in builder.with_batch_size(batch_rows).build()? {
        let batch = batch?;
        let body = ipc_stream(&batch)?;
        let deadline = Instant::now() + Duration::from_secs(INGEST_RETRY_S);
        loop {
            let response = http
                .post(&url)
                .header("Content-Type", super::content_type::ARROW)
                .body(body.clone())
                .send()
                .context("POST ingest")?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let text = response.text().context("read the ingest answer")?;
            if status == 200 {
                let v: serde_json::Value =
                    serde_json::from_str(&text).with_context(|| format!("ingest answer {text}"))?;
                let n = v["rows_ingested"].as_u64().unwrap_or(0);
                if n != batch.num_rows() as u64 {
                    bail!("ingest acknowledged {n} of {} rows", batch.num_rows());
                }
                rows += n;
                break;
            }
            if matches!(status, 429 | 503) && Instant::now() < deadline {
                retries += 1;
                std::thread::sleep(Duration::from_secs(retry_after.unwrap_or(1).clamp(1, 30)));
                continue;
            }
            bail!("ingest into {table} answered {status}: {text}");
        }
    }
    let flush_started = Instant::now();
    match server.sql_rows(&format!("FLUSH TABLE {table}"))? {
        SqlAnswer::Rows(_) => {}
        SqlAnswer::Failed { code, message, .. } => bail!("FLUSH TABLE {table}: {code}: {message}"),
    }
    Ok(TableLoad {
        table: table.to_string(),
        rows,
        seconds: secs_since(started),
        flush_s: secs_since(flush_started),
        retries,
    })
}

/// Runs one query `runs` times; a refused query is not repeated, a crash restarts the server
/// on a fresh load.
fn run_strata_query(
    server: &mut StrataServer,
    bin: &Path,
    args: &[String],
    data: &Path,
    a: &TpchArgs,
    sql: &str,
) -> Result<EngineQuery> {
    let mut q = EngineQuery::default();
    for _ in 0..a.runs {
        let started = Instant::now();
        let outcome = server.sql_rows(sql);
        let elapsed = secs_since(started);
        match outcome {
            Ok(SqlAnswer::Rows(rows)) => {
                q.times_s.push(elapsed);
                q.rows = Some(rows.len());
                q.result = rows;
            }
            Ok(SqlAnswer::Failed { code, message, .. }) => {
                q.error_code = Some(code);
                q.error = Some(message);
                break;
            }
            Err(e) => {
                let running = server.is_running();
                q.error_code = Some(if running { "HTTP" } else { "SERVER_CRASHED" }.into());
                q.error = Some(format!("{e:#}; server log tail:\n{}", server.stderr_tail()));
                if !running {
                    eprintln!("strata: server died; restarting it on a new copy of the data");
                    *server = StrataServer::start(bin, args)?;
                    for table in TABLES {
                        load_table(server, data, table, a.batch_rows)?;
                    }
                }
                break;
            }
        }
    }
    if q.error.is_none() {
        q.cold_s = q.times_s.first().copied();
        q.hot_s = hot_time(&q.times_s);
    } else {
        q.result.clear();
        q.rows = None;
    }
    Ok(q)
}

/// Restarts the server on the same (flushed) data with `--query-memory-limit-bytes limit`, runs
/// a lineitem x orders join whose hash table is far larger, and checks that it fails with
/// `MEMORY_LIMIT_EXCEEDED` while the server keeps answering.
fn memory_check(
    server: &mut StrataServer,
    bin: &Path,
    args: &[String],
    limit: u64,
) -> Result<MemoryCheck> {
    let mut limited = args.to_vec();
    limited.extend(["--query-memory-limit-bytes".to_string(), limit.to_string()]);
    server.restart(bin, &limited)?;
    let sql = "SELECT o_orderpriority, count(*), sum(l_extendedprice) FROM lineitem, orders \
               WHERE l_orderkey = o_orderkey GROUP BY o_orderpriority ORDER BY o_orderpriority";
    eprintln!(
        "memory check: --query-memory-limit-bytes {limit}, {}",
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let started = Instant::now();
    let answer = server.sql_rows(sql);
    let seconds = secs_since(started);
    let (outcome, exceeded) = match answer {
        Ok(SqlAnswer::Rows(rows)) => (format!("answered {} rows", rows.len()), false),
        Ok(SqlAnswer::Failed {
            status,
            code,
            message,
        }) => (
            format!("{status} {code}: {message}"),
            code == "MEMORY_LIMIT_EXCEEDED",
        ),
        Err(e) => (format!("transport error: {e:#}"), false),
    };
    let alive = matches!(
        server.sql_rows("SELECT count(*) FROM orders"),
        Ok(SqlAnswer::Rows(_))
    );
    let peak = peak_rss_bytes(server.pid()).unwrap_or(0);
    eprintln!(
        "memory check: {outcome} in {seconds:.2} s; server alive after: {alive}; peak RSS {:.0} MB",
        peak as f64 / 1e6
    );
    Ok(MemoryCheck {
        limit_bytes: limit,
        sql: sql.to_string(),
        outcome,
        memory_limit_exceeded: exceeded,
        seconds,
        server_alive_after: alive,
        server_peak_rss_bytes: peak,
    })
}

/// `VmHWM` of process `pid`, bytes.
fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Whether two JSON values are the same answer: numbers within [`RELATIVE_TOLERANCE`] (an
/// integer and a float compare as numbers), everything else equal.
pub fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => {
            x == y || (x - y).abs() <= RELATIVE_TOLERANCE * x.abs().max(y.abs()).max(1e-12)
        }
        _ => a == b,
    }
}

fn same_row(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_array(), b.as_array()) {
        (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y)),
        _ => false,
    }
}

/// A row as a sort key that ignores the last digits of numbers (for comparing as multisets).
fn row_key(row: &serde_json::Value) -> String {
    let values = row.as_array().cloned().unwrap_or_default();
    values
        .iter()
        .map(|v| match v.as_f64() {
            Some(x) => format!("{x:.4e}"),
            None => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Compares Strata's rows with DuckDB's: `match`, `match (order of tied rows differs)` when the
/// same rows come in another order, or `differs: ...` with the first difference.
pub fn compare_answers(strata: &[serde_json::Value], duckdb: &[serde_json::Value]) -> String {
    if strata.len() != duckdb.len() {
        return format!("differs: {} rows, DuckDB {}", strata.len(), duckdb.len());
    }
    let Some(i) = (0..strata.len()).find(|&i| !same_row(&strata[i], &duckdb[i])) else {
        return "match".into();
    };
    let mut s: Vec<&serde_json::Value> = strata.iter().collect();
    let mut d: Vec<&serde_json::Value> = duckdb.iter().collect();
    s.sort_by_cached_key(|r| row_key(r));
    d.sort_by_cached_key(|r| row_key(r));
    if s.iter().zip(&d).all(|(x, y)| same_row(x, y)) {
        return "match (order of tied rows differs)".into();
    }
    format!(
        "differs: row {} is {} , DuckDB {}",
        i + 1,
        shorten(&strata[i].to_string()),
        shorten(&duckdb[i].to_string())
    )
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(160).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn describe(q: &EngineQuery) -> String {
    match (&q.error, q.rows) {
        (Some(e), _) => format!(
            "failed: {}: {}",
            q.error_code.as_deref().unwrap_or("ERROR"),
            e.lines().next().unwrap_or("")
        ),
        (None, rows) => format!(
            "{} rows, {} s",
            rows.unwrap_or(0),
            q.times_s
                .iter()
                .map(|t| format!("{t:.3}"))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    }
}

fn ms(t: Option<f64>) -> String {
    t.map_or_else(|| "-".into(), |t| format!("{:.0}", t * 1e3))
}

/// The markdown section: how it ran, the loads, per-query figures, failures, memory check.
pub fn render_markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### TPC-H, scale factor {} (tpchgen-cli; {} numbers)\n",
        scale_name(r.scale),
        r.numeric_type
    );
    s.push_str(&r.run.render_markdown());
    let _ = writeln!(
        s,
        "- DuckDB: {} (Python, in-process, native tables loaded from the same Parquet files in \
         {}; its default threads, one per core, as the ClickBench runner runs it)\n\
         - Queries: `bench/tpch/qNN.sql`, the 22 TPC-H queries with the specification's \
         validation parameters (Q15's view as a CTE); the same text on both engines\n\
         - Numbers: {}; answers compared by value, in order, numbers within a relative {:e}\n\
         - Times: end to end (Strata through HTTP `/v1/sql` with the JSON result, DuckDB \
         execute-and-fetch in process); cold = the first of {} runs, hot = the fastest of the \
         others; ratio = (Strata hot + 10 ms) / (DuckDB hot + 10 ms)\n",
        r.duckdb_version.as_deref().unwrap_or("(not run)"),
        r.duckdb_load_s
            .map_or_else(|| "-".into(), |t| format!("{t:.1} s")),
        if r.numeric_type == "DOUBLE" {
            "tpchgen's DECIMAL(15,2) columns converted to DOUBLE for both engines (as the first \
             runs, before Strata had DECIMAL; --keep-decimal loads them as DECIMAL), so sums \
             differ from DECIMAL answers in their last digits"
        } else {
            "tpchgen's DECIMAL(15,2) columns as they are"
        },
        RELATIVE_TOLERANCE,
        r.runs,
    );
    let rows: u64 = r.strata_load.iter().map(|l| l.rows).sum();
    let secs: f64 = r.strata_load.iter().map(|l| l.seconds).sum();
    let flush: f64 = r.strata_load.iter().map(|l| l.flush_s).sum();
    let _ = writeln!(
        s,
        "Strata load: {rows} rows in {secs:.1} s ({:.0} rows/s; Arrow IPC over HTTP, FLUSH \
         {flush:.1} s; lineitem {} s). DuckDB load: {}.\n",
        rows as f64 / secs.max(1e-9),
        r.strata_load
            .iter()
            .find(|l| l.table == "lineitem")
            .map_or_else(|| "-".into(), |l| format!("{:.1}", l.seconds)),
        r.duckdb_load_s
            .map_or_else(|| "-".into(), |t| format!("{t:.1} s")),
    );
    let answered = r.queries.iter().filter(|q| q.ratio().is_some()).count();
    let matched = r
        .queries
        .iter()
        .filter(|q| q.answer.starts_with("match"))
        .count();
    let _ =
        writeln!(
        s,
        "Strata answered {} of {} queries, {matched} the same as DuckDB; geometric mean of the \
         ratios over the {answered} queries both answered: **{}**.\n",
        r.queries.iter().filter(|q| q.strata.error.is_none()).count(),
        r.queries.len(),
        r.geomean_ratio
            .map_or_else(|| "-".into(), |g| format!("{g:.2}")),
    );
    let _ = writeln!(
        s,
        "| Q | Strata hot (ms) | Strata cold (ms) | DuckDB hot (ms) | ratio | rows | answer |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|");
    for q in &r.queries {
        let answer = match &q.strata.error {
            Some(e) => format!(
                "Strata: `{}`: {}",
                q.strata.error_code.as_deref().unwrap_or("ERROR"),
                shorten(e.lines().next().unwrap_or(""))
            ),
            None => q.answer.clone(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            q.query,
            ms(q.strata.hot_s),
            ms(q.strata.cold_s),
            ms(q.duckdb.as_ref().and_then(|d| d.hot_s)),
            q.ratio().map_or_else(|| "-".into(), |x| format!("{x:.2}")),
            q.strata
                .rows
                .or(q.duckdb.as_ref().and_then(|d| d.rows))
                .map_or_else(|| "-".into(), |n| n.to_string()),
            answer.replace('|', "\\|")
        );
    }
    if let Some(m) = &r.memory_check {
        let _ = writeln!(
            s,
            "\nMemory: with `--query-memory-limit-bytes {}` (the server restarted on the same \
             data), `{}` answered `{}` in {:.2} s; the server {} afterwards (peak RSS {:.0} MB).",
            m.limit_bytes,
            m.sql,
            shorten(&m.outcome).replace('|', "\\|"),
            m.seconds,
            if m.server_alive_after {
                "kept answering"
            } else {
                "did NOT answer"
            },
            m.server_peak_rss_bytes as f64 / 1e6
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_22_query_files_hold_one_statement() {
        let q = read_queries(&(1..=QUERY_COUNT).collect::<Vec<_>>()).unwrap();
        assert_eq!(q.len(), QUERY_COUNT);
        assert!(q[14].1.starts_with("with revenue0"), "{}", q[14].1);
        assert!(read_queries(&[23]).is_err());
    }

    #[test]
    fn answers_compare_numbers_within_the_tolerance() {
        let a = vec![json!(["A", 1, 100.0]), json!(["B", 2, 3.000_000_000_1])];
        let b = vec![json!(["A", 1.0, 100.000_000_01]), json!(["B", 2, 3.0])];
        assert_eq!(compare_answers(&a, &b), "match");
        let c = vec![json!(["A", 1, 100.0]), json!(["B", 2, 3.1])];
        assert!(compare_answers(&a, &c).starts_with("differs: row 2"));
        assert!(compare_answers(&a, &a[..1]).starts_with("differs: 2 rows"));
        let swapped = vec![a[1].clone(), a[0].clone()];
        assert_eq!(
            compare_answers(&swapped, &b),
            "match (order of tied rows differs)"
        );
        assert_eq!(
            compare_answers(
                &[json!([null, "1995-03-05"])],
                &[json!([null, "1995-03-05"])]
            ),
            "match"
        );
    }

    #[test]
    fn tables_map_to_sql_types() {
        use arrow::datatypes::Field;
        let schema = Schema::new(vec![
            Field::new("l_orderkey", DataType::Int64, true),
            Field::new("l_linenumber", DataType::Int32, true),
            Field::new("l_quantity", DataType::Decimal128(15, 2), true),
            Field::new("l_shipdate", DataType::Date32, true),
            Field::new("l_shipmode", DataType::Utf8View, true),
        ]);
        assert_eq!(
            create_table_sql("lineitem", &schema).unwrap(),
            "CREATE TABLE lineitem (l_orderkey BIGINT, l_linenumber INTEGER, l_quantity \
             DECIMAL(15, 2), l_shipdate DATE, l_shipmode VARCHAR) WITH (indexes = \
             'l_returnflag, l_linestatus, l_shipinstruct, l_shipmode')"
        );
        assert!(sql_type(&DataType::Boolean).is_err());
    }
}
