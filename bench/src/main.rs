//! `strata-bench`: the data generators (`gen`) and the runners (`clickbench`, `tpch`, `ingest`,
//! `freshness`, `dashboard`, ...), one subcommand each of [`Command`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use strata_bench::gen::{self, events, hits};

#[derive(Parser)]
#[command(
    name = "strata-bench",
    version,
    about = "Strata benchmarks: data generators and runners"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a benchmark data set.
    #[command(subcommand)]
    Gen(GenCommand),
    /// The 43 ClickBench queries on Strata, DuckDB and chDB over the same generated data.
    Clickbench(strata_bench::runner::clickbench::ClickbenchArgs),
    /// NDJSON / CSV ingest over HTTP with 1, 4, 16 clients, an Arrow bulk load, and chDB on the
    /// same bytes.
    Ingest(strata_bench::runner::ingest::IngestArgs),
    /// Ingest acknowledgement to visible in a query, while ingest runs.
    Freshness(strata_bench::runner::freshness::FreshnessArgs),
    /// Dashboard queries from concurrent clients while ingest runs at a steady rate.
    Dashboard(strata_bench::runner::dashboard::DashboardArgs),
    /// Bytes on disk and filter speed with and without bitmap indexes, on generated events.
    Index(strata_bench::runner::index::IndexArgs),
    /// IN with 100,000 values and OR of 20,000 equalities, against DuckDB.
    Lists(strata_bench::runner::lists::ListsArgs),
    /// The 22 TPC-H queries on Strata and DuckDB (tpchgen-cli data), answers compared by value.
    Tpch(strata_bench::runner::tpch::TpchArgs),
    /// Producers faster than persistence: 429/503 answers, the server's RSS, no row lost.
    Overload(strata_bench::runner::overload::OverloadArgs),
}

#[derive(Subcommand)]
enum GenCommand {
    /// The ClickBench `hits` table (105 columns) per shared/benchmarks/clickbench/hits-generator.md.
    Hits(HitsArgs),
    /// A narrow real-time event stream (time, dimensions, metrics, latency).
    Events(EventsArgs),
}

#[derive(Args)]
struct HitsArgs {
    /// Rows to generate (the spec's minimum for its acceptance list is 5,000,000).
    #[arg(long, default_value_t = hits::DEFAULT_ROWS)]
    rows: u64,
    /// Seed; the same seed and row count give a byte-identical file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output Parquet file.
    #[arg(long, default_value = "hits.parquet")]
    out: PathBuf,
    /// Generate the batches but write nothing: measures the generator alone.
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,
    /// After writing, read the file back and run the spec's acceptance list; exit non-zero if a
    /// check fails.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct EventsArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Seed; the same seed and options give a byte-identical file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file: `.parquet` or `.ndjson` (the format follows the extension).
    #[arg(long, default_value = "events.parquet")]
    out: PathBuf,
    /// Event time of the first row, epoch milliseconds (default 2026-01-01T00:00:00Z).
    #[arg(long, default_value_t = events::DEFAULT_START_MS)]
    start_ms: i64,
    /// Events per second of event time (gaps are exponential around it).
    #[arg(long, default_value_t = events::DEFAULT_RATE_PER_S)]
    rate: f64,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Gen(GenCommand::Hits(a)) => gen_hits(&a),
        Command::Gen(GenCommand::Events(a)) => gen_events(&a),
        Command::Clickbench(a) => {
            strata_bench::runner::clickbench::run(&a.options())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tpch(a) => {
            strata_bench::runner::tpch::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(a) => {
            strata_bench::runner::ingest::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Freshness(a) if a.kafka.kafka => {
            strata_bench::runner::freshness_kafka::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Freshness(a) => {
            strata_bench::runner::freshness::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dashboard(a) => {
            strata_bench::runner::dashboard::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Index(a) => {
            strata_bench::runner::index::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lists(a) => {
            strata_bench::runner::lists::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Overload(a) => {
            strata_bench::runner::overload::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn gen_hits(a: &HitsArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut generator = hits::HitsGenerator::new(a.rows, a.seed)?;
    let planned = started.elapsed();
    if a.dry_run {
        let rows = gen::drain(&mut generator)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "generated {rows} rows (not written) in {secs:.2} s, plan {:.2} s: {:.0} rows/s",
            planned.as_secs_f64(),
            rows as f64 / secs.max(1e-9)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows = gen::write_parquet(&mut generator, &a.out, hits::writer_properties()?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    report_written(&a.out, rows, started, Some(planned));
    if !a.check {
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let report = hits::check::run(&a.out)?;
    print!("{}", report.render());
    println!("checked in {:.1} s", started.elapsed().as_secs_f64());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gen_events(a: &EventsArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut generator = events::EventsGenerator::new(a.rows, a.seed, a.start_ms, a.rate)?;
    let rows = match a.out.extension().and_then(|e| e.to_str()) {
        Some("parquet") => {
            gen::write_parquet(&mut generator, &a.out, events::writer_properties()?)?
        }
        Some("ndjson") | Some("jsonl") => events::write_ndjson(&mut generator, &a.out)?,
        _ => bail!("--out must end in .parquet or .ndjson: {}", a.out.display()),
    };
    report_written(&a.out, rows, started, None);
    Ok(ExitCode::SUCCESS)
}

fn report_written(path: &Path, rows: u64, started: Instant, planned: Option<std::time::Duration>) {
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let plan = planned
        .map(|p| format!(", plan {:.2} s", p.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "wrote {rows} rows to {} ({:.1} MB) in {secs:.2} s{plan}: {:.0} rows/s",
        path.display(),
        bytes as f64 / 1e6,
        rows as f64 / secs.max(1e-9)
    );
}
