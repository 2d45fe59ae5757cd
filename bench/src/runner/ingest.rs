//! `strata-bench ingest`: how fast `events` rows get in over HTTP, against ClickHouse (chDB) on the
//! same bytes.
//!
//! ```text
//!  gen::events ──> bench/.data/events_N_S.{ndjson,csv,parquet}   (cached)
//!       NDJSON ──> chunks of --batch-rows lines ──> 1, 4, 16 client threads
//!                  ──> POST /v1/tables/ndjson_cK/ingest (one table per run, CREATE TABLE first)
//!       CSV    ──> the same chunks, each with the header row ──> POST .../csv_cK/ingest
//!       Parquet──> Arrow IPC batches of --arrow-batch-rows ──> POST .../arrow/ingest (1 client)
//!       NDJSON ──> run_peer.py --mode ingest: the same chunks as
//!                  `INSERT INTO events FORMAT JSONEachRow` into a MergeTree table (chDB, one
//!                  client, in-process), then the whole file through `file(..., JSONEachRow)`
//! ```
//!
//! A client thread takes the next chunk, posts it, and records the request's latency; rows/s and
//! MB/s are over the wall time of the whole run (first request sent to last acknowledged). Every
//! run checks that the acknowledged rows and `SELECT count(*)` equal the rows sent, then drops its
//! table. Bodies are prepared before the clock starts; the server's work (decode, log with fsync,
//! append) is what is timed, plus the HTTP round trip.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::{content_type, events_ddl, Client, Latencies, LatencySummary, RunInfo};
use crate::gen::{self, events};
use crate::peers;

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "ingest";

/// Command-line arguments of `strata-bench ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Rows of `events` per run (each format and client count ingests all of them).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rows per NDJSON / CSV request.
    #[arg(long, default_value_t = 10_000)]
    pub batch_rows: usize,
    /// Rows per Arrow IPC request of the bulk load.
    #[arg(long, default_value_t = 100_000)]
    pub arrow_batch_rows: usize,
    /// Concurrent client counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 4, 16])]
    pub clients: Vec<usize>,
    /// The server's `--fsync` (`always` acknowledges after the log is on disk).
    #[arg(long, default_value = "always")]
    pub fsync: String,
    /// Where the data and the binary are, peers, output.
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// One ingest run of one system, format and client count.
#[derive(Debug, Clone, Serialize)]
pub struct IngestRun {
    /// `Strata` or `chDB`.
    pub system: String,
    /// What was sent: `NDJSON`, `CSV`, `Arrow IPC (from Parquet)`, `NDJSON file()`.
    pub format: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Rows acknowledged.
    pub rows: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Requests sent.
    pub requests: usize,
    /// Wall seconds.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_s: f64,
    /// Body megabytes (10^6) per second.
    pub mb_per_s: f64,
    /// Request latencies (absent for a single bulk statement).
    pub latency: Option<LatencySummary>,
    /// Extra facts (Arrow: seconds reading Parquet and encoding IPC, included in `seconds`).
    pub note: String,
}

/// The JSON result of `strata-bench ingest`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `ingest`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// Rows per run.
    pub rows: u64,
    /// Rows per NDJSON / CSV request.
    pub batch_rows: usize,
    /// The server's fsync policy.
    pub fsync: String,
    /// File sizes: NDJSON, CSV, Parquet bytes.
    pub file_bytes: [u64; 3],
    /// Every run.
    pub runs: Vec<IngestRun>,
    /// The chDB version, when it ran.
    pub chdb_version: Option<String>,
}

/// Runs the benchmark, prints and writes the results.
pub fn run(a: &IngestArgs) -> Result<Report> {
    if a.rows == 0 || a.batch_rows == 0 || a.arrow_batch_rows == 0 {
        bail!("--rows, --batch-rows and --arrow-batch-rows must be at least 1");
    }
    if a.clients.is_empty() || a.clients.contains(&0) {
        bail!("--clients must list positive counts");
    }
    let (bin, start, data_dir) = a.run.begin();
    let ndjson = ensure_events(&data_dir, a.rows, a.seed, "ndjson")?;
    let csv = ensure_events(&data_dir, a.rows, a.seed, "csv")?;
    let parquet = ensure_events(&data_dir, a.rows, a.seed, "parquet")?;
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let file_bytes = [size(&ndjson), size(&csv), size(&parquet)];

    let ndjson_chunks = line_chunks(&read(&ndjson)?, a.batch_rows, 0);
    let csv_text = read(&csv)?;
    let csv_chunks: Vec<Bytes> = line_chunks(&csv_text, a.batch_rows, 1)
        .into_iter()
        .map(|c| {
            let mut body = events::CSV_HEADER.as_bytes().to_vec();
            body.extend_from_slice(&c);
            Bytes::from(body)
        })
        .collect();
    drop(csv_text);

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

    let mut runs = Vec::new();
    for (format, chunks, ct) in [
        ("NDJSON", &ndjson_chunks, content_type::NDJSON),
        ("CSV", &csv_chunks, content_type::CSV),
    ] {
        for &clients in &a.clients {
            let table = format!("{}_c{clients}", format.to_ascii_lowercase());
            let r = run_clients(&client, &table, format, ct, chunks, clients, a.rows)
                .with_context(|| format!("server log:\n{}", server.stderr_tail()))?;
            eprintln!("{}", describe(&r));
            runs.push(r);
        }
    }
    let r = run_arrow(&client, &parquet, a.arrow_batch_rows, a.rows)
        .with_context(|| format!("server log:\n{}", server.stderr_tail()))?;
    eprintln!("{}", describe(&r));
    runs.push(r);
    drop(server);

    let mut chdb_version = None;
    if !a.run.skip_peers {
        peers::ensure_venv()?;
        eprintln!("chDB: the same NDJSON chunks through INSERT ... FORMAT JSONEachRow");
        let lines = peers::run_json_lines(&[
            "--engine".into(),
            "chdb".into(),
            "--mode".into(),
            "ingest".into(),
            "--ndjson".into(),
            ndjson.display().to_string(),
            "--batch-rows".into(),
            a.batch_rows.to_string(),
        ])?;
        for line in lines {
            let r = peer_run(&line["ingest"])?;
            if r.rows != a.rows {
                bail!(
                    "chDB holds {} rows after {}, not {}",
                    r.rows,
                    r.format,
                    a.rows
                );
            }
            eprintln!("{}", describe(&r));
            chdb_version = line["version"].as_str().map(str::to_string);
            runs.push(r);
        }
    }

    let report = Report {
        benchmark: "ingest",
        run: start.finish(),
        rows: a.rows,
        batch_rows: a.batch_rows,
        fsync: a.fsync.clone(),
        file_bytes,
        runs,
        chdb_version,
    };
    let md = render_markdown(&report);
    print!("{md}");
    if !a.run.no_write {
        super::write_result(
            &format!("ingest-{}-{}", report.rows, report.run.commit.hash),
            &report,
            DOCS_SECTION,
            &md,
        )?;
    }
    Ok(report)
}

/// `bench/.data/events_{rows}_{seed}.{ext}`, generated when missing.
pub fn ensure_events(dir: &Path, rows: u64, seed: u64, ext: &str) -> Result<PathBuf> {
    let path = dir.join(format!("events_{rows}_{seed}.{ext}"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let partial = dir.join(format!("events_{rows}_{seed}.{ext}.partial"));
    let started = Instant::now();
    let mut g = events::EventsGenerator::new(
        rows,
        seed,
        events::DEFAULT_START_MS,
        events::DEFAULT_RATE_PER_S,
    )?;
    match ext {
        "ndjson" => events::write_ndjson(&mut g, &partial)?,
        "csv" => events::write_csv(&mut g, &partial)?,
        "parquet" => gen::write_parquet(&mut g, &partial, events::writer_properties()?)?,
        other => bail!("no events writer for .{other}"),
    };
    std::fs::rename(&partial, &path).with_context(|| format!("rename to {}", path.display()))?;
    eprintln!(
        "data: generated {} in {:.1} s",
        path.display(),
        super::secs_since(started)
    );
    Ok(path)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {}", path.display()))
}

/// Splits `text` into chunks of `lines_per_chunk` lines after skipping `skip` lines (a header).
pub fn line_chunks(text: &[u8], lines_per_chunk: usize, skip: usize) -> Vec<Bytes> {
    let text = Bytes::copy_from_slice(text);
    let mut out = Vec::new();
    let mut start = 0;
    let mut lines = 0;
    let mut skipped = 0;
    for (i, b) in text.iter().enumerate() {
        if *b != b'\n' {
            continue;
        }
        if skipped < skip {
            skipped += 1;
            start = i + 1;
            continue;
        }
        lines += 1;
        if lines == lines_per_chunk {
            out.push(text.slice(start..i + 1));
            start = i + 1;
            lines = 0;
        }
    }
    if start < text.len() {
        out.push(text.slice(start..));
    }
    out
}

fn run_clients(
    client: &Client,
    table: &str,
    format: &str,
    ct: &str,
    chunks: &[Bytes],
    clients: usize,
    expected_rows: u64,
) -> Result<IngestRun> {
    client.query(&events_ddl(table))?;
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Latencies::default());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let rows = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let mut mine = Latencies::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = chunks.get(i) else { break };
                    let sent = Instant::now();
                    match client.ingest(table, ct, body.clone()) {
                        Ok(n) => {
                            mine.push(super::secs_since(sent));
                            rows.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            next.store(chunks.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                }
                if let Ok(mut l) = latencies.lock() {
                    l.extend(&mine);
                }
            });
        }
    });
    let seconds = super::secs_since(started);
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e.context(format!("{format} with {clients} clients")));
    }
    let rows = rows.into_inner();
    let counted = count_rows(client, table)?;
    if rows != expected_rows || counted != expected_rows {
        bail!("{table}: {rows} rows acknowledged, {counted} counted, {expected_rows} sent");
    }
    client.query(&format!("DROP TABLE {table}"))?;
    let bytes: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let latencies = latencies.into_inner().unwrap_or_default();
    Ok(IngestRun {
        system: "Strata".into(),
        format: format.into(),
        clients,
        rows,
        bytes,
        requests: chunks.len(),
        seconds,
        rows_per_s: rows as f64 / seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        latency: Some(latencies.summary()),
        note: String::new(),
    })
}

fn count_rows(client: &Client, table: &str) -> Result<u64> {
    let rows = client.query(&format!("SELECT count(*) FROM {table}"))?;
    rows.first()
        .and_then(|r| r[0].as_u64())
        .with_context(|| format!("count(*) of {table} answered {rows:?}"))
}

/// The bulk load: the Parquet file read into Arrow batches, each posted as an Arrow IPC stream.
fn run_arrow(
    client: &Client,
    parquet: &Path,
    batch_rows: usize,
    expected_rows: u64,
) -> Result<IngestRun> {
    let table = "arrow_bulk";
    client.query(&events_ddl(table))?;
    let started = Instant::now();
    let reader = ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(parquet).with_context(|| format!("open {}", parquet.display()))?,
    )?
    .with_batch_size(batch_rows)
    .build()?;
    let mut latencies = Latencies::default();
    let mut rows = 0u64;
    let mut bytes = 0u64;
    let mut requests = 0;
    let mut prepare_s = 0.0;
    let mut prepared = Instant::now();
    for batch in reader {
        let batch = batch?;
        let mut body = Vec::with_capacity(batch.get_array_memory_size());
        {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut body, &batch.schema())?;
            w.write(&batch)?;
            w.finish()?;
        }
        prepare_s += super::secs_since(prepared);
        bytes += body.len() as u64;
        let sent = Instant::now();
        rows += client.ingest(table, content_type::ARROW, body)?;
        latencies.push(super::secs_since(sent));
        requests += 1;
        prepared = Instant::now();
    }
    let seconds = super::secs_since(started);
    let counted = count_rows(client, table)?;
    if rows != expected_rows || counted != expected_rows {
        bail!("{table}: {rows} rows acknowledged, {counted} counted, {expected_rows} sent");
    }
    client.query(&format!("DROP TABLE {table}"))?;
    Ok(IngestRun {
        system: "Strata".into(),
        format: "Arrow IPC (from Parquet)".into(),
        clients: 1,
        rows,
        bytes,
        requests,
        seconds,
        rows_per_s: rows as f64 / seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        latency: Some(latencies.summary()),
        note: format!(
            "{:.2} s of the total reading Parquet and encoding IPC; requests alone {:.0} rows/s",
            prepare_s,
            rows as f64 / (seconds - prepare_s).max(1e-9)
        ),
    })
}

fn peer_run(v: &serde_json::Value) -> Result<IngestRun> {
    let f = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("peer ingest line {v}"))
    };
    let rows = f("rows")? as u64;
    let seconds = f("seconds")?;
    let bytes = f("bytes")? as u64;
    let latency = v.get("p99_ms").and_then(|_| {
        Some(LatencySummary {
            count: v["requests"].as_u64()? as usize,
            p50_ms: v["p50_ms"].as_f64()?,
            p95_ms: v["p95_ms"].as_f64()?,
            p99_ms: v["p99_ms"].as_f64()?,
            max_ms: v["max_ms"].as_f64()?,
            mean_ms: v["mean_ms"].as_f64()?,
        })
    });
    Ok(IngestRun {
        system: "chDB".into(),
        format: v["format"].as_str().unwrap_or("?").into(),
        clients: 1,
        rows,
        bytes,
        requests: v["requests"].as_u64().unwrap_or(1) as usize,
        seconds,
        rows_per_s: rows as f64 / seconds.max(1e-9),
        mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
        latency,
        note: v["note"].as_str().unwrap_or("").into(),
    })
}

fn describe(r: &IngestRun) -> String {
    format!(
        "{} {} x{}: {} rows in {:.2} s = {:.0} rows/s, {:.1} MB/s{}",
        r.system,
        r.format,
        r.clients,
        r.rows,
        r.seconds,
        r.rows_per_s,
        r.mb_per_s,
        r.latency
            .map(|l| format!(", p50 {:.1} ms, p99 {:.1} ms", l.p50_ms, l.p99_ms))
            .unwrap_or_default()
    )
}

/// The markdown section.
pub fn render_markdown(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Ingest, {} `events` rows per run, {} rows per request, `--fsync {}`\n",
        r.rows, r.batch_rows, r.fsync
    );
    s.push_str(&r.run.render_markdown());
    let _ = writeln!(
        s,
        "- Files: NDJSON {:.1} MB, CSV {:.1} MB, Parquet {:.1} MB{}\n",
        r.file_bytes[0] as f64 / 1e6,
        r.file_bytes[1] as f64 / 1e6,
        r.file_bytes[2] as f64 / 1e6,
        r.chdb_version
            .as_ref()
            .map(|v| format!("; chDB {v}"))
            .unwrap_or_default()
    );
    let chdb = r
        .runs
        .iter()
        .find(|x| x.system == "chDB" && x.format == "NDJSON")
        .map(|x| x.rows_per_s);
    let _ = writeln!(
        s,
        "| system | format | clients | rows/s | MB/s | requests | p50 ms | p99 ms | rows/s ÷ chDB NDJSON | notes |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for x in &r.runs {
        let (p50, p99) = x.latency.map_or(("-".into(), "-".into()), |l| {
            (format!("{:.1}", l.p50_ms), format!("{:.1}", l.p99_ms))
        });
        let ratio = chdb.map_or("-".into(), |c| format!("{:.2}", x.rows_per_s / c));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.1} | {} | {p50} | {p99} | {ratio} | {} |",
            x.system, x.format, x.clients, x.rows_per_s, x.mb_per_s, x.requests, x.note
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_on_lines_and_skip_the_header() {
        let text = b"h\na\nb\nc\nd\ne";
        let c = line_chunks(text, 2, 1);
        assert_eq!(c, vec![&b"a\nb\n"[..], &b"c\nd\n"[..], &b"e"[..]]);
        let c = line_chunks(b"a\nb\n", 2, 0);
        assert_eq!(c, vec![&b"a\nb\n"[..]]);
        assert!(line_chunks(b"", 3, 0).is_empty());
    }
}
