//! `strata-bench index`: what the bitmap indexes cost on disk and what they buy a filter.
//!
//! ```text
//!  gen::events (seeded) ──> Arrow IPC batches ──┬──> POST /v1/tables/ev_indexed/ingest
//!                                               └──> POST /v1/tables/ev_plain/ingest  (indexes = '')
//!  ──> FLUSH TABLE both ──> bytes on disk per row: Parquet and index sidecars, per table
//!  ──> each filter query on both tables, `runs` times through POST /v1/sql
//!  ──> hot time (min of runs 2..) and speed-up = plain / indexed
//! ```
//!
//! Both tables get the same rows (the default sort key, time, so the string columns are not
//! clustered and zone maps cannot skip anything: the speed-up is the index's alone).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;

use super::{Commit, Machine, SqlOutcome, StrataServer};
use crate::gen::events;

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "index";
const INDEXED: &str = "ev_indexed";
const PLAIN: &str = "ev_plain";

/// `strata-bench index`.
#[derive(Debug, Clone, clap::Args)]
pub struct IndexArgs {
    /// Rows of `events` to generate and load into each table.
    #[arg(long, default_value_t = 4_000_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Runs per query; the hot time is the minimum of runs 2 and later.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// The `strata` binary to start (default `target/release/strata`).
    #[arg(long)]
    pub strata_bin: Option<PathBuf>,
    /// Rows per ingest request.
    #[arg(long, default_value_t = 262_144)]
    pub batch_rows: usize,
    /// Write the results into the `index` section of `docs/benchmarks.md`.
    #[arg(long)]
    pub update_docs: bool,
}

/// One filter measured on both tables.
#[derive(Debug, Clone)]
struct Measured {
    label: &'static str,
    filter: String,
    rows: u64,
    indexed_s: f64,
    plain_s: f64,
    /// The first run on the indexed table (the first query after the flush reads the sidecars).
    indexed_first_s: f64,
}

/// Runs the benchmark and prints (and optionally writes) the report.
pub fn run(a: &IndexArgs) -> Result<()> {
    if a.runs < 2 {
        bail!("--runs must be at least 2 (the first run is a warm-up)");
    }
    let root = super::workspace_root();
    let bin = a
        .strata_bin
        .clone()
        .unwrap_or_else(|| root.join("target/release/strata"));
    let args = vec!["--body-bytes-max".to_string(), (1u64 << 30).to_string()];
    let server = StrataServer::start(&bin, &args)?;
    let columns = "time TIMESTAMP NOT NULL, country VARCHAR, device VARCHAR, url VARCHAR, \
                   user_id VARCHAR, bytes BIGINT, amount DOUBLE, latency_ms DOUBLE, status INTEGER";
    for (table, option) in [(INDEXED, ""), (PLAIN, ", indexes = ''")] {
        expect_ok(
            &server,
            &format!(
                "CREATE TABLE {table} ({columns}) WITH (time_column = 'time', partition = \
                 'day'{option})"
            ),
        )?;
    }

    let started = Instant::now();
    let mut generator =
        events::EventsGenerator::new(a.rows, a.seed, events::DEFAULT_START_MS, 1_000.0)?;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let mut first: Option<RecordBatch> = None;
    let mut loaded = 0u64;
    let mut ingest_s = [0f64; 2];
    loop {
        let batch = generator.next_batch()?;
        if let Some(b) = &batch {
            if first.is_none() {
                first = Some(b.clone());
            }
            pending_rows += b.num_rows();
            pending.push(b.clone());
        }
        if pending_rows >= a.batch_rows || (batch.is_none() && pending_rows > 0) {
            let body = arrow::compute::concat_batches(&events::schema(), &pending)?;
            let ipc = ipc_stream(&body)?;
            for (i, table) in [INDEXED, PLAIN].iter().enumerate() {
                let t = Instant::now();
                loaded += server.ingest_arrow(table, ipc.clone())?;
                ingest_s[i] += t.elapsed().as_secs_f64();
            }
            pending.clear();
            pending_rows = 0;
        }
        if batch.is_none() {
            break;
        }
    }
    let mut flush_s = [0f64; 2];
    for (i, table) in [INDEXED, PLAIN].iter().enumerate() {
        let t = Instant::now();
        expect_ok(&server, &format!("FLUSH TABLE {table}"))?;
        flush_s[i] = t.elapsed().as_secs_f64();
    }
    let load_s = started.elapsed().as_secs_f64();
    println!(
        "loaded {} rows into each table in {load_s:.1} s (generate + ingest twice + flush)",
        loaded / 2
    );

    let disk = |table: &str| table_bytes(server.data_dir(), table);
    let (indexed_parquet, indexed_sidecar) = disk(INDEXED)?;
    let (plain_parquet, plain_sidecar) = disk(PLAIN)?;

    let first = first.context("no rows generated")?;
    let value = |column: &str| -> Result<String> {
        let c = first
            .column_by_name(column)
            .with_context(|| format!("no column {column}"))?;
        Ok(c.as_string::<i32>().value(0).to_string())
    };
    let filters: Vec<(&'static str, String)> = vec![
        (
            "user_id = (100,000 values, high cardinality)",
            format!("user_id = '{}'", value("user_id")?),
        ),
        (
            "url = (10,000 values)",
            format!("url = '{}'", value("url")?),
        ),
        (
            "device = (5 values, 10% of rows)",
            "device = 'tablet'".into(),
        ),
        (
            "country IN (3 of 50 values)",
            "country IN ('SE', 'NO', 'FI')".into(),
        ),
    ];
    let mut results = Vec::new();
    for (label, filter) in filters {
        let mut times = [Vec::new(), Vec::new()];
        let mut counts = [0u64; 2];
        for (i, table) in [INDEXED, PLAIN].iter().enumerate() {
            let sql = format!("SELECT COUNT(*), SUM(bytes) FROM {table} WHERE {filter}");
            for _ in 0..a.runs {
                let t = Instant::now();
                let out = server.sql_json(&sql)?;
                times[i].push(t.elapsed().as_secs_f64());
                counts[i] = out["rows"][0][0].as_u64().unwrap_or(0);
            }
        }
        if counts[0] != counts[1] {
            bail!(
                "{filter}: the indexed table counts {} rows, the plain one {}",
                counts[0],
                counts[1]
            );
        }
        let hot = |t: &[f64]| t[1..].iter().copied().fold(f64::INFINITY, f64::min);
        let m = Measured {
            label,
            filter,
            rows: counts[0],
            indexed_s: hot(&times[0]),
            plain_s: hot(&times[1]),
            indexed_first_s: times[0][0],
        };
        println!(
            "{:<45} {:>9} rows  indexed {:>8.1} ms  scan {:>8.1} ms  speed-up {:>5.1}x",
            m.label,
            m.rows,
            m.indexed_s * 1e3,
            m.plain_s * 1e3,
            m.plain_s / m.indexed_s.max(1e-9)
        );
        results.push(m);
    }
    let rows = (loaded / 2).max(1) as f64;
    let report = render(
        a,
        rows,
        [
            indexed_parquet,
            indexed_sidecar,
            plain_parquet,
            plain_sidecar,
        ],
        [ingest_s, flush_s],
        &results,
    );
    print!("{report}");
    if a.update_docs {
        let path = root.join("docs/benchmarks.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, super::replace_section(&doc, DOCS_SECTION, &report))
            .with_context(|| format!("write {}", path.display()))?;
        println!("updated {}", path.display());
    }
    Ok(())
}

fn render(
    a: &IndexArgs,
    rows: f64,
    bytes: [u64; 4],
    load_s: [[f64; 2]; 2],
    results: &[Measured],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let commit = Commit::detect();
    let _ = writeln!(
        out,
        "Measured with `cargo run --release -p strata-bench -- index --rows {} --runs {}` on {} \
         (commit {}{}).\n",
        a.rows,
        a.runs,
        Machine::detect().describe(),
        commit.hash,
        if commit.dirty { ", dirty tree" } else { "" }
    );
    let _ = writeln!(
        out,
        "| table | Parquet bytes/row | index sidecar bytes/row | ingest s (HTTP, all requests) \
         | FLUSH TABLE s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| `{INDEXED}` (string columns indexed) | {:.2} | {:.2} | {:.1} | {:.1} |",
        bytes[0] as f64 / rows,
        bytes[1] as f64 / rows,
        load_s[0][0],
        load_s[1][0]
    );
    let _ = writeln!(
        out,
        "| `{PLAIN}` (`indexes = ''`) | {:.2} | {:.2} | {:.1} | {:.1} |\n",
        bytes[2] as f64 / rows,
        bytes[3] as f64 / rows,
        load_s[0][1],
        load_s[1][1]
    );
    let _ = writeln!(
        out,
        "`SELECT COUNT(*), SUM(bytes) FROM t WHERE <filter>`, hot time (min of runs 2..{}):\n",
        a.runs
    );
    let _ = writeln!(
        out,
        "| filter | rows | indexed ms | full scan ms | speed-up |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for m in results {
        let _ = writeln!(
            out,
            "| {} (`{}`) | {} | {:.1} | {:.1} | {:.1}x |",
            m.label,
            m.filter,
            m.rows,
            m.indexed_s * 1e3,
            m.plain_s * 1e3,
            m.plain_s / m.indexed_s.max(1e-9)
        );
    }
    if let Some(first) = results.first() {
        let _ = writeln!(
            out,
            "\nSidecars are read lazily: the first indexed query after the flush took {:.1} ms \
             (it reads the segments' sidecars), {:.1} ms hot.",
            first.indexed_first_s * 1e3,
            first.indexed_s * 1e3
        );
    }
    out
}

/// The bytes of a table's Parquet files and index sidecars (its directory is found through the
/// catalog).
fn table_bytes(data_dir: &Path, table: &str) -> Result<(u64, u64)> {
    let catalog: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data_dir.join("catalog.json")).context("read catalog.json")?,
    )?;
    let id = catalog["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == table))
        .and_then(|t| t["id"].as_u64())
        .with_context(|| format!("table {table} not in the catalog"))?;
    let dir = data_dir
        .join("tables")
        .join(id.to_string())
        .join("segments");
    let (mut parquet, mut sidecar) = (0, 0);
    for entry in std::fs::read_dir(&dir).with_context(|| format!("list {}", dir.display()))? {
        let entry = entry?;
        let len = entry.metadata()?.len();
        match entry.path().extension().and_then(|e| e.to_str()) {
            Some("parquet") => parquet += len,
            Some("idx") => sidecar += len,
            _ => {}
        }
    }
    Ok((parquet, sidecar))
}

fn expect_ok(server: &StrataServer, sql: &str) -> Result<()> {
    match server.sql(sql)? {
        SqlOutcome::Rows(_) => Ok(()),
        SqlOutcome::Failed { code, message, .. } => bail!("{sql}: {code}: {message}"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_the_command_and_the_ratios() {
        let a = IndexArgs {
            rows: 100,
            seed: 1,
            runs: 3,
            strata_bin: None,
            batch_rows: 10,
            update_docs: false,
        };
        let m = Measured {
            label: "x",
            filter: "a = 'b'".into(),
            rows: 5,
            indexed_s: 0.001,
            plain_s: 0.01,
            indexed_first_s: 0.002,
        };
        let text = render(
            &a,
            100.0,
            [1000, 200, 900, 0],
            [[1.0, 2.0], [3.0, 4.0]],
            &[m],
        );
        assert!(text.contains("index --rows 100 --runs 3"), "{text}");
        assert!(text.contains("| 10.00 | 2.00 | 1.0 | 3.0 |"), "{text}");
        assert!(text.contains("| 1.0 | 10.0 | 10.0x |"), "{text}");
    }
}
