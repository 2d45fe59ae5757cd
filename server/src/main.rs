//! The `strata` binary: `strata serve` runs the database (HTTP API, and the PostgreSQL wire
//! protocol: `pg`); `strata sql` and `strata ingest` talk to a running server over HTTP.

/// mimalloc instead of glibc's malloc: see `Cargo.toml`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod auth;
mod cli;
mod config;
mod console;
mod demo;
mod error;
mod http;
mod metrics;
mod pg;
mod queries;
mod result;
mod sources;
mod statement;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Strata: a real-time columnar analytics database.
#[derive(Parser, Debug)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the database server.
    Serve(Box<ServeArgs>),
    /// Run one SQL statement against a running server and print the result.
    Sql(cli::SqlArgs),
    /// Stream an NDJSON, CSV or Parquet file into a table of a running server.
    Ingest(cli::IngestArgs),
}

/// Options of `strata serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// The data directory (created when missing).
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "./strata-data")]
    pub data_dir: PathBuf,
    /// The HTTP listen address; port 0 picks a free port.
    #[arg(long, env = "STRATA_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The largest request body accepted, in bytes (413 BODY_TOO_LARGE beyond; a compressed
    /// body is limited by its decompressed size).
    #[arg(long, env = "STRATA_BODY_BYTES_MAX", alias = "max-body-bytes", default_value_t = 64 << 20)]
    pub body_bytes_max: usize,
    /// When the write-ahead log is fsynced: `always` (before every acknowledgement; survives
    /// power loss) or `never` (survives a process crash only).
    #[arg(long, env = "STRATA_FSYNC", default_value = "always", value_parser = parse_fsync)]
    pub fsync: strata_storage::FsyncPolicy,
    /// A table's live segment is persisted to a Parquet segment once it holds this many rows.
    #[arg(long, env = "STRATA_SEGMENT_ROWS_MAX", default_value_t = 1_000_000)]
    pub segment_rows_max: usize,
    /// ... or once its oldest row is this many seconds old.
    #[arg(long, env = "STRATA_SEGMENT_AGE_MAX_S", default_value_t = 600)]
    pub segment_age_max_s: u64,
    /// The byte budget of the read cache of persisted segments (decoded column chunks and
    /// bitmap indexes); 0 disables it.
    #[arg(long, env = "STRATA_CACHE_BYTES", default_value_t = strata_storage::DEFAULT_CACHE_BYTES)]
    pub cache_bytes: usize,
    /// A query fails with QUERY_TIMEOUT after this many milliseconds (per request:
    /// "timeout_ms").
    #[arg(long, env = "STRATA_QUERY_TIMEOUT_MS", default_value_t = 300_000)]
    pub query_timeout_ms: u64,
    /// A query fails with MEMORY_LIMIT_EXCEEDED when its grouping, distinct and sort state
    /// exceeds this many bytes (per request: "memory_limit_bytes").
    #[arg(long, env = "STRATA_QUERY_MEMORY_LIMIT_BYTES", default_value_t = 4 << 30)]
    pub query_memory_limit_bytes: usize,
    /// Threads a query's scan may use (0: one per core).
    #[arg(long, env = "STRATA_QUERY_THREADS", default_value_t = 0)]
    pub query_threads: usize,
    /// The most rows a JSON result may have (400 RESULT_TOO_LARGE beyond; NDJSON, CSV, Arrow,
    /// Parquet and PostgreSQL results stream and are not capped).
    #[arg(
        long,
        env = "STRATA_RESULT_ROWS_MAX",
        alias = "max-result-rows",
        default_value_t = 1_000_000
    )]
    pub result_rows_max: usize,
    /// The most statements (HTTP and PostgreSQL together) that run at once; more wait up to
    /// --query-queue-wait-ms for a free slot, then are refused (HTTP 429 TOO_MANY_QUERIES,
    /// SQLSTATE 53300). Ingest is never counted nor held back by it.
    #[arg(
        long,
        env = "STRATA_QUERY_CONCURRENCY_MAX",
        alias = "max-concurrent-queries",
        default_value_t = 8
    )]
    pub query_concurrency_max: usize,
    /// How long a statement waits for a free slot (see --query-concurrency-max) before it is
    /// refused, in milliseconds.
    #[arg(long, env = "STRATA_QUERY_QUEUE_WAIT_MS", default_value_t = 500)]
    pub query_queue_wait_ms: u64,
    /// The longest SQL statement accepted, in bytes (QUERY_TOO_LARGE beyond; an IN list of
    /// 100,000 UUIDs is about 4 MB).
    #[arg(long, env = "STRATA_QUERY_BYTES_MAX", alias = "max-query-bytes", default_value_t = strata_query::limits::DEFAULT_MAX_QUERY_BYTES)]
    pub query_bytes_max: usize,
    /// How deeply a statement's expressions and subqueries may nest (EXPRESSION_TOO_DEEP
    /// beyond). Flat lists do not count: IN lists, AND/OR/|| chains, UNION branches.
    #[arg(long, env = "STRATA_EXPRESSION_DEPTH_MAX", alias = "max-expression-depth", default_value_t = strata_query::limits::DEFAULT_MAX_EXPRESSION_DEPTH)]
    pub expression_depth_max: usize,
    /// The most columns a table may have, created or grown by ingest (400 TOO_MANY_COLUMNS
    /// beyond).
    #[arg(long, env = "STRATA_TABLE_COLUMNS_MAX", default_value_t = strata_storage::DEFAULT_TABLE_COLUMNS_MAX)]
    pub table_columns_max: usize,
    /// The most fields one ingested row may have: the keys of a JSON line, the columns of a CSV
    /// header, an Arrow stream or a Parquet file (400 TOO_MANY_FIELDS beyond).
    #[arg(long, env = "STRATA_ROW_FIELDS_MAX", default_value_t = strata_ingest::limits::DEFAULT_ROW_FIELDS_MAX)]
    pub row_fields_max: usize,
    /// The most bytes one ingested row may hold, its values' sizes summed (400 ROW_TOO_LARGE
    /// beyond).
    #[arg(long, env = "STRATA_ROW_BYTES_MAX", default_value_t = strata_ingest::limits::DEFAULT_ROW_BYTES_MAX)]
    pub row_bytes_max: usize,
    /// How deeply an ingested JSON line or Parquet schema may nest (400 NESTING_TOO_DEEP beyond;
    /// Strata stores flat rows, so any nested value is refused, this bounds the work of reading
    /// one).
    #[arg(long, env = "STRATA_NESTING_DEPTH_MAX", default_value_t = strata_ingest::limits::DEFAULT_NESTING_DEPTH_MAX)]
    pub nesting_depth_max: usize,
    /// The most memory one ingest body's rows may take once decoded (400 DECODED_TOO_LARGE
    /// beyond): a Parquet body's encodings can expand it a thousandfold.
    #[arg(long, env = "STRATA_DECODED_BYTES_MAX", default_value_t = strata_ingest::limits::DEFAULT_DECODED_BYTES_MAX)]
    pub decoded_bytes_max: usize,
    /// Ingest is refused (429 INGEST_BACKPRESSURE, Retry-After) while the rows not yet persisted
    /// to Parquet, all tables, hold this many bytes of memory; persistence is pushed once half
    /// of it is used. 0: no limit. The default, 2 GiB, suits a 24 GiB machine: eight full live
    /// segments, a tenth of the memory.
    #[arg(long, env = "STRATA_LIVE_BYTES_MAX", default_value_t = strata_storage::DEFAULT_LIVE_BYTES_MAX)]
    pub live_bytes_max: u64,
    /// ... or while the write-ahead logs, all tables, hold this many bytes on disk. 0: no
    /// limit. The default, 4 GiB: the log holds the unpersisted rows (Arrow IPC, about their
    /// memory size) plus files that persistence covers but that are not yet deleted.
    #[arg(long, env = "STRATA_WAL_BYTES_MAX", default_value_t = strata_storage::DEFAULT_WAL_BYTES_MAX)]
    pub wal_bytes_max: u64,
    /// At most this many ingest requests run at once; one more waits 100 ms for a place, then
    /// gets 429 TOO_MANY_INGEST_REQUESTS with Retry-After. Bounds the memory of bodies in flight
    /// (this times --body-bytes-max plus --decoded-bytes-max). The default, 8: four times the
    /// cores of a small machine, enough to keep the log's group commit busy.
    #[arg(long, env = "STRATA_INGEST_CONCURRENCY_MAX", default_value_t = 8)]
    pub ingest_concurrency_max: usize,
    /// How long an ingest request's Idempotency-Key is recognised after the request was
    /// acknowledged, in milliseconds (default 24 h): a retry with the key within it gets the
    /// first answer and stores nothing (docs/http-api.md).
    #[arg(long, env = "STRATA_IDEMPOTENCY_WINDOW_MS", default_value_t = strata_storage::idempotency::DEFAULT_WINDOW_MS)]
    pub idempotency_window_ms: u64,
    /// The most idempotency keys one table keeps; past it the oldest are forgotten before their
    /// window ends (a retry of one is stored again; counted in
    /// strata_idempotency_keys_evicted_total).
    #[arg(long, env = "STRATA_IDEMPOTENCY_KEYS_MAX", default_value_t = strata_storage::idempotency::DEFAULT_KEYS_MAX)]
    pub idempotency_keys_max: usize,
    /// Creates an `events` table (when missing) and feeds it generated events, for a first look.
    #[arg(long, env = "STRATA_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,
    /// Rows per second the demo generator appends to `events`.
    #[arg(long, env = "STRATA_DEMO_RATE", default_value_t = 1_000)]
    pub demo_rate: u64,
    /// The PostgreSQL wire protocol listen address (port 0 picks a free port), or `off`.
    #[arg(long, env = "STRATA_PG_ADDR", default_value = "127.0.0.1:5433", value_parser = pg::parse_addr)]
    pub pg_addr: pg::PgAddr,
    /// Access tokens and their roles, from a TOML or JSON file (see docs/http-api.md).
    #[arg(long, env = "STRATA_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// Access tokens as `token:role,...` (roles: read, write, admin); adds to --auth-file.
    #[arg(long, env = "STRATA_TOKENS", hide_env_values = true)]
    pub tokens: Option<String>,
    /// Listen on a non-loopback address without any token (anyone who reaches it is admin).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "STRATA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "STRATA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

fn parse_fsync(s: &str) -> Result<strata_storage::FsyncPolicy, String> {
    strata_storage::FsyncPolicy::parse(s)
        .ok_or_else(|| format!("expected always or never, got {s}"))
}

/// Environment variables renamed to put the qualifier last (docs/operations.md), and the names
/// they replace, still read when the new one is not set.
const RENAMED_ENV: [(&str, &str); 5] = [
    ("STRATA_BODY_BYTES_MAX", "STRATA_MAX_BODY_BYTES"),
    ("STRATA_RESULT_ROWS_MAX", "STRATA_MAX_RESULT_ROWS"),
    (
        "STRATA_QUERY_CONCURRENCY_MAX",
        "STRATA_MAX_CONCURRENT_QUERIES",
    ),
    ("STRATA_QUERY_BYTES_MAX", "STRATA_MAX_QUERY_BYTES"),
    ("STRATA_EXPRESSION_DEPTH_MAX", "STRATA_MAX_EXPRESSION_DEPTH"),
];

fn main() -> std::process::ExitCode {
    for (new, old) in RENAMED_ENV {
        if std::env::var_os(new).is_none() {
            if let Some(value) = std::env::var_os(old) {
                // Single-threaded still: nothing else reads the environment yet.
                std::env::set_var(new, value);
            }
        }
    }
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Sql(args) => cli::sql(args),
        Command::Ingest(args) => cli::ingest(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Every configuration error is reported here, before anything is opened or bound.
    let config = std::sync::Arc::new(config::Config::from_args(&args)?);
    runtime.block_on(http::serve(config))
}
