//! # strata-bench: the instrument that says whether Strata is faster
//!
//! Strata exists to be faster than what its users would pick instead (DuckDB, ClickHouse, Druid,
//! Pinot). This crate measures that, on data every system loads from the same file.
//!
//! The story starts with data. Real benchmark data sets cannot be downloaded here, so the
//! generators in [`gen`] synthesise them, deterministically from a seed, fast enough never to be
//! a benchmark's bottleneck:
//!
//! ```text
//!  seed, N ──> gen::hits   ──> hits.parquet   (ClickBench's 105-column `hits` table, built to
//!         │                                     shared/benchmarks/clickbench/hits-generator.md;
//!         │                                     `--check` runs that spec's acceptance list)
//!         └──> gen::events ──> events.parquet | events.ndjson
//!                                              (a narrow real-time stream for ingest, freshness
//!                                               and dashboard runs; NDJSON that Strata's
//!                                               `POST /v1/tables/{t}/ingest` accepts)
//! ```
//!
//! Inside a generator, randomness comes from [`gen::dist`]: SplitMix64 streams keyed by
//! (seed, stream, index), so a value depends on what it is, not on the order of the loop that
//! made it, plus the Zipf, weighted-table, log-normal and Lomax samplers the specs call for. Rows
//! are produced as Arrow [`arrow::record_batch::RecordBatch`]es of 64K rows, columns filled into
//! plain vectors, and written with the `parquet` crate's `ArrowWriter` ([`gen::write_parquet`]).
//!
//! On top of the data sit the runners ([`runner`]): each starts a real `strata serve`, drives it
//! over HTTP and runs the peers ([`peers`]: DuckDB and chDB from a Python venv) in the same run.
//! `clickbench` runs the 43 ClickBench queries; `ingest` measures NDJSON / CSV / Arrow ingest
//! with 1, 4 and 16 clients against chDB on the same bytes; `freshness` times acknowledgement to
//! visible under ingest; `dashboard` runs dashboard queries from 8 clients while ingest runs.
//! Criterion benches of the query and storage kernels live in `bench/benches/`.

#![forbid(unsafe_code)]

pub mod gen;
pub mod peers;
pub mod runner;

use std::path::PathBuf;

/// Errors of the benchmark crate, grouped by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller asked for something impossible (too few rows, an unknown file extension).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The file system failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done (`create`, `open`, `write`).
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing or reading Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building Arrow arrays failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A bug in the generator.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
