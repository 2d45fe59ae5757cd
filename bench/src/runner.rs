//! The end-to-end runners: a real `strata serve` on a free port, the machine and commit a result
//! belongs to, and the `docs/benchmarks.md` section a runner owns.
//!
//! A runner's life: find (or generate) the data file, start [`StrataServer`] on a temporary data
//! directory, load the file through the HTTP ingest API, run a query suite through `/v1/sql`,
//! run the same suite on the peers ([`crate::peers`]), and write a JSON result plus a markdown
//! table between `<!-- NAME:begin -->` and `<!-- NAME:end -->` ([`replace_section`]).
//!
//! The real-time runners ([`ingest`], [`freshness`], [`dashboard`]) share the `events` table of
//! [`crate::gen::events`] ([`EVENTS_DDL`]), the latency summaries of [`Latencies`] and the header
//! every result carries ([`RunInfo`]).
//!
//! Runners are programs that orchestrate other programs (a server, a Python interpreter), so they
//! report failures as [`anyhow::Error`] with context rather than through [`crate::Error`].

pub mod clickbench;
pub mod dashboard;
pub mod freshness;
pub mod freshness_kafka;
pub mod index;
pub mod ingest;
pub mod lists;
pub mod overload;
pub mod tpch;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

/// Longest wait for `strata serve` to print its address.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// HTTP client timeout: above the server's own 300 s query limit, so the server answers first.
const HTTP_TIMEOUT: Duration = Duration::from_secs(900);
/// Server stderr lines kept for an error report (the rest is discarded).
const STDERR_TAIL_LINES_MAX: usize = 50;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/benchmarks/<suite>` next to the workspace, or `$STRATA_SHARED_DIR/benchmarks/<suite>`
/// when `STRATA_SHARED_DIR` names the shared directory elsewhere.
pub fn shared_benchmark_dir(suite: &str) -> PathBuf {
    match std::env::var_os("STRATA_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir).join("benchmarks").join(suite),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/benchmarks")
            .join(suite),
    }
}

/// The machine a result was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal` from `/proc/meminfo`, bytes.
    pub memory_bytes: u64,
    /// `uname -sr`-like kernel string from `/proc/sys/kernel/osrelease`.
    pub kernel: String,
}

impl Machine {
    /// Reads the machine description from `/proc`; unknown fields stay empty or zero.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory_bytes,
            kernel,
        }
    }

    /// One line for a report: `2 CPUs (model), 23.4 GiB`.
    pub fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), {:.1} GiB RAM, Linux {}",
            self.nproc,
            self.cpu_model,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.kernel
        )
    }
}

/// The commit being measured: `git rev-parse --short HEAD`, and whether the tree had changes.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    /// Short hash, or `unknown` outside a git checkout.
    pub hash: String,
    /// True when `git status --porcelain` listed tracked changes other than the runners' own
    /// outputs (`docs/benchmarks.md`, `bench/results`): the binary may differ from the commit.
    pub dirty: bool,
}

impl Commit {
    /// Asks git in the workspace root.
    pub fn detect() -> Commit {
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(workspace_root())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let hash = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        // The files the runners write themselves do not make the tree dirty.
        let dirty = git(&[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs/benchmarks.md",
            ":!bench/results",
        ])
        .is_some_and(|s| !s.is_empty());
        Commit { hash, dirty }
    }
}

/// Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in `doc` with `body`,
/// or appends a new marked section when the markers are absent. Everything else is kept.
pub fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let body = body.trim_end_matches('\n');
    if let Some(b) = doc.find(&begin) {
        if let Some(e) = doc[b..].find(&end).map(|e| b + e) {
            return format!(
                "{}{begin}\n{body}\n{}",
                &doc[..b],
                &doc[e..] // starts with the end marker
            );
        }
    }
    let mut out = doc.trim_end_matches('\n').to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&format!("{begin}\n{body}\n{end}\n"));
    out
}

/// A `strata serve` child process on `127.0.0.1:0` with a temporary data directory; killed and
/// its directory removed on drop.
pub struct StrataServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base_url: String,
    data_dir: PathBuf,
    http: reqwest::blocking::Client,
    stderr_tail: StderrTail,
}

/// What `/v1/sql` answered.
#[derive(Debug, Clone)]
pub enum SqlOutcome {
    /// 200: the number of result rows.
    Rows(u64),
    /// An error response: HTTP status, stable code and message.
    Failed {
        /// HTTP status.
        status: u16,
        /// Strata's error code (`UNKNOWN_FUNCTION`, ...), or `HTTP` when the body was not JSON.
        code: String,
        /// The message.
        message: String,
    },
}

/// What `/v1/sql` answered, with the rows.
#[derive(Debug, Clone)]
pub enum SqlAnswer {
    /// 200: the result rows, each a JSON array of the row's values.
    Rows(Vec<serde_json::Value>),
    /// An error response: HTTP status, stable code and message.
    Failed {
        /// HTTP status.
        status: u16,
        /// Strata's error code (`MEMORY_LIMIT_EXCEEDED`, ...), or `HTTP` when the body was not
        /// JSON.
        code: String,
        /// The message.
        message: String,
    },
}

impl StrataServer {
    /// Starts `bin serve --data-dir <temp> --http-addr 127.0.0.1:0 <extra_args>` and waits for
    /// its `listening on http://ADDR` line.
    pub fn start(bin: &Path, extra_args: &[String]) -> Result<StrataServer> {
        if !bin.exists() {
            bail!(
                "{} does not exist; build it with `cargo build --release -p strata-server` or \
                 pass --strata-bin",
                bin.display()
            );
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let data_dir =
            std::env::temp_dir().join(format!("strata-bench-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create {}", data_dir.display()))?;
        let (child, addr, stderr_tail) = spawn_server(bin, &data_dir, extra_args)?;
        let http = reqwest::blocking::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .context("HTTP client")?;
        Ok(StrataServer {
            child,
            base_url: format!("http://{addr}"),
            data_dir,
            http,
            stderr_tail,
        })
    }

    /// Kills the server and starts `bin` again on the same data directory with `extra_args`
    /// (what it had persisted is read back; unflushed rows come back from the log).
    pub fn restart(&mut self, bin: &Path, extra_args: &[String]) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr, stderr_tail) = spawn_server(bin, &self.data_dir, extra_args)?;
        self.child = child;
        self.base_url = format!("http://{addr}");
        self.stderr_tail = stderr_tail;
        Ok(())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `POST /v1/sql` with `{"query": sql}`; the JSON answer, or an error for a failed query.
    pub fn sql_json(&self, sql: &str) -> Result<serde_json::Value> {
        let response = self
            .http
            .post(format!("{}/v1/sql", self.base_url))
            .json(&serde_json::json!({ "query": sql }))
            .send()
            .context("POST /v1/sql")?;
        let status = response.status();
        let text = response.text().context("read /v1/sql response")?;
        if !status.is_success() {
            bail!("{sql}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("/v1/sql answer {text}"))
    }

    /// The server's last stderr lines (for error reports).
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|t| t.join("\n"))
            .unwrap_or_default()
    }

    /// `POST /v1/tables/{table}/ingest` with an Arrow IPC stream body; returns the rows ingested.
    pub fn ingest_arrow(&self, table: &str, body: Vec<u8>) -> Result<u64> {
        post_ingest(
            &self.http,
            &self.base_url,
            table,
            "application/vnd.apache.arrow.stream",
            body,
        )
    }

    /// `POST /v1/sql` with `{"query": sql}`; a query error is an [`SqlOutcome::Failed`], a
    /// transport error an `Err`.
    pub fn sql(&self, sql: &str) -> Result<SqlOutcome> {
        let response = self
            .http
            .post(format!("{}/v1/sql", self.base_url))
            .json(&serde_json::json!({ "query": sql }))
            .send()
            .context("POST /v1/sql")?;
        let status = response.status();
        let bytes = response.bytes().context("read /v1/sql response")?;
        let v: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            let rows = v
                .as_ref()
                .and_then(|v| v["rows"].as_array())
                .map(|r| r.len() as u64)
                .ok_or_else(|| anyhow!("/v1/sql answered 200 without rows"))?;
            return Ok(SqlOutcome::Rows(rows));
        }
        let (code, message) = match v {
            Some(v) => (
                v["error"]["code"].as_str().unwrap_or("HTTP").to_string(),
                v["error"]["message"].as_str().unwrap_or("").to_string(),
            ),
            None => ("HTTP".to_string(), String::from_utf8_lossy(&bytes).into()),
        };
        Ok(SqlOutcome::Failed {
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// `POST /v1/sql` with `{"query": sql}`; the result rows (each a JSON array), or the error
    /// the server answered; a transport error is an `Err`.
    pub fn sql_rows(&self, sql: &str) -> Result<SqlAnswer> {
        let response = self
            .http
            .post(format!("{}/v1/sql", self.base_url))
            .json(&serde_json::json!({ "query": sql }))
            .send()
            .context("POST /v1/sql")?;
        let status = response.status();
        let bytes = response.bytes().context("read /v1/sql response")?;
        let v: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return match v {
                Some(serde_json::Value::Object(mut o)) => match o.remove("rows") {
                    Some(serde_json::Value::Array(rows)) => Ok(SqlAnswer::Rows(rows)),
                    _ => bail!("/v1/sql answered 200 without rows"),
                },
                _ => bail!("/v1/sql answered 200 without a JSON object"),
            };
        }
        let (code, message) = match v {
            Some(v) => (
                v["error"]["code"].as_str().unwrap_or("HTTP").to_string(),
                v["error"]["message"].as_str().unwrap_or("").to_string(),
            ),
            None => ("HTTP".to_string(), String::from_utf8_lossy(&bytes).into()),
        };
        Ok(SqlAnswer::Failed {
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// Whether the child process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for StrataServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Reads the server's stderr to the end (so the pipe never fills), sends the address of the
/// first `listening on http://ADDR` line, and keeps the last lines.
/// The arguments the ingest and dashboard runners share.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Cache directory for generated files (default `bench/.data`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The `strata` binary to start (default `target/release/strata`).
    #[arg(long)]
    pub strata_bin: Option<PathBuf>,
    /// Run Strata only (no peers, no ratios).
    #[arg(long)]
    pub skip_peers: bool,
    /// Write nothing to `bench/results` and `docs/benchmarks.md`.
    #[arg(long)]
    pub no_write: bool,
}

impl RunArgs {
    /// What every runner resolves first: the `strata` binary, the record of the run's start
    /// (commit, load average, binary) and the data cache directory.
    pub fn begin(&self) -> (PathBuf, RunStart, PathBuf) {
        let bin = strata_bin(self.strata_bin.as_deref());
        let start = RunStart::now(&bin);
        let data_dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        (bin, start, data_dir)
    }
}

/// `POST {base_url}/v1/tables/{table}/ingest`; returns the rows the server acknowledged.
fn post_ingest(
    http: &reqwest::blocking::Client,
    base_url: &str,
    table: &str,
    content_type: &str,
    body: impl Into<reqwest::blocking::Body>,
) -> Result<u64> {
    let response = http
        .post(format!("{base_url}/v1/tables/{table}/ingest"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .context("POST ingest")?;
    let status = response.status();
    let text = response.text().context("read ingest response")?;
    if !status.is_success() {
        bail!("ingest into {table} failed: {status}: {text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("ingest response {text}"))?;
    v["rows_ingested"]
        .as_u64()
        .ok_or_else(|| anyhow!("ingest response without rows_ingested: {text}"))
}

/// The last lines of a server's stderr, shared with the thread that reads it.
type StderrTail = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Spawns `bin serve` on `data_dir` and waits for its address.
fn spawn_server(
    bin: &Path,
    data_dir: &Path,
    extra_args: &[String],
) -> Result<(Child, String, StderrTail)> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http-addr", "127.0.0.1:0"])
        .args(extra_args)
        .env_remove("STRATA_HTTP_ADDR")
        .env_remove("STRATA_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {} serve", bin.display()))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow!("no stderr pipe"))?;
    let stderr_tail: StderrTail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    spawn_stderr_reader(stderr, tx, stderr_tail.clone());
    match rx.recv_timeout(SERVER_START_TIMEOUT) {
        Ok(addr) => Ok((child, addr, stderr_tail)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let tail = stderr_tail.lock().map(|t| t.join("\n")).unwrap_or_default();
            bail!("strata serve printed no `listening on` line; its stderr:\n{tail}");
        }
    }
}

fn spawn_stderr_reader(
    stderr: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
    tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
            if let Ok(mut t) = tail.lock() {
                if t.len() == STDERR_TAIL_LINES_MAX {
                    t.remove(0);
                }
                t.push(line);
            }
        }
    });
}

/// The `HOST:PORT` of a `... listening on http://HOST:PORT` log line.
fn listening_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg` (`0.12 0.30 0.41`), or empty.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Seconds since `started`.
pub fn secs_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// `--strata-bin`, or `target/release/strata` in the workspace.
pub fn strata_bin(arg: Option<&Path>) -> PathBuf {
    arg.map_or_else(
        || workspace_root().join("target/release/strata"),
        Path::to_path_buf,
    )
}

/// `bench/.data`, where generated files are cached.
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".data")
}

/// `CREATE TABLE {name}` with the columns of [`crate::gen::events::schema`], `time` as the time
/// column and hourly partitions (what a real-time deployment of that stream would declare).
pub fn events_ddl(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (time TIMESTAMP NOT NULL, country VARCHAR NOT NULL, \
         device VARCHAR NOT NULL, url VARCHAR NOT NULL, user_id VARCHAR NOT NULL, \
         bytes BIGINT NOT NULL, amount DOUBLE NOT NULL, latency_ms DOUBLE NOT NULL, \
         status INTEGER NOT NULL) WITH (time_column = 'time', partition = 'hour')"
    )
}

/// Content types of the ingest endpoint.
pub mod content_type {
    /// NDJSON.
    pub const NDJSON: &str = "application/x-ndjson";
    /// CSV with a header row.
    pub const CSV: &str = "text/csv";
    /// An Arrow IPC stream.
    pub const ARROW: &str = "application/vnd.apache.arrow.stream";
    /// A Parquet file.
    pub const PARQUET: &str = "application/vnd.apache.parquet";
}

/// A cheap, cloneable handle for client threads: `POST /v1/tables/{t}/ingest` and `/v1/sql`
/// against one server, over a shared connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client of the server at `base_url` (`http://HOST:PORT`).
    pub fn new(base_url: &str) -> Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .context("HTTP client")?;
        Ok(Client {
            base_url: base_url.to_string(),
            http,
        })
    }

    /// Posts `body` with `content_type` to the ingest endpoint; returns the rows acknowledged.
    pub fn ingest(
        &self,
        table: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> Result<u64> {
        post_ingest(&self.http, &self.base_url, table, content_type, body)
    }

    /// Runs `sql`; returns the JSON rows, or an error with the server's code and message.
    pub fn query(&self, sql: &str) -> Result<Vec<serde_json::Value>> {
        let response = self
            .http
            .post(format!("{}/v1/sql", self.base_url))
            .json(&serde_json::json!({ "query": sql }))
            .send()
            .context("POST /v1/sql")?;
        let status = response.status();
        let bytes = response.bytes().context("read /v1/sql response")?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "/v1/sql answered {status} with {}",
                String::from_utf8_lossy(&bytes)
            )
        })?;
        if !status.is_success() {
            bail!(
                "{sql}: {status} {}: {}",
                v["error"]["code"].as_str().unwrap_or("HTTP"),
                v["error"]["message"].as_str().unwrap_or("")
            );
        }
        match v {
            serde_json::Value::Object(mut o) => match o.remove("rows") {
                Some(serde_json::Value::Array(rows)) => Ok(rows),
                _ => bail!("/v1/sql answered 200 without rows"),
            },
            _ => bail!("/v1/sql answered 200 without an object"),
        }
    }
}

/// Latency samples in seconds, summarised as percentiles (nearest rank).
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    samples: Vec<f64>,
    /// Seconds the measuring thread spent waiting for its input (a paced ingest client waiting
    /// for the body generator); not part of the samples.
    pub waited_s: f64,
}

/// Percentiles of a [`Latencies`], milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latencies {
    /// Adds one sample, seconds.
    pub fn push(&mut self, seconds: f64) {
        self.samples.push(seconds);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Latencies) {
        self.samples.extend_from_slice(&other.samples);
        self.waited_s += other.waited_s;
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Nearest-rank percentiles in milliseconds (all zero without samples).
    pub fn summary(&self) -> LatencySummary {
        if self.samples.is_empty() {
            return LatencySummary::default();
        }
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
            s[rank - 1] * 1000.0
        };
        LatencySummary {
            count: s.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: s[s.len() - 1] * 1000.0,
            mean_ms: s.iter().sum::<f64>() / s.len() as f64 * 1000.0,
        }
    }
}

/// Which `strata` binary was measured.
#[derive(Debug, Clone, Serialize)]
pub struct StrataBinary {
    /// Its path.
    pub path: PathBuf,
    /// Its modification time, UTC (RFC 3339), empty when unknown.
    pub modified: String,
}

impl StrataBinary {
    /// The path and modification time of `path`.
    pub fn describe(path: &Path) -> StrataBinary {
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(String::new, |d| rfc3339(d.as_secs() as i64));
        StrataBinary {
            path: path.to_path_buf(),
            modified,
        }
    }
}

/// What every result records besides its figures: where, when, what and how it ran.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// UTC time the run finished (RFC 3339).
    pub finished_at: String,
    /// The machine.
    pub machine: Machine,
    /// `/proc/loadavg` when the run started and when it finished.
    pub load_average: [String; 2],
    /// The commit (read when the run started).
    pub commit: Commit,
    /// The `strata` binary.
    pub strata_binary: StrataBinary,
    /// The command line.
    pub command: String,
}

/// The part of a [`RunInfo`] known when a run starts.
#[derive(Debug, Clone)]
pub struct RunStart {
    load_average: String,
    commit: Commit,
    strata_binary: StrataBinary,
}

impl RunStart {
    /// Reads the commit, the load average and the binary's age now.
    pub fn now(strata_bin: &Path) -> RunStart {
        RunStart {
            load_average: load_average(),
            commit: Commit::detect(),
            strata_binary: StrataBinary::describe(strata_bin),
        }
    }

    /// The full record, finished now.
    pub fn finish(self) -> RunInfo {
        RunInfo {
            finished_at: now_rfc3339(),
            machine: Machine::detect(),
            load_average: [self.load_average, load_average()],
            commit: self.commit,
            strata_binary: self.strata_binary,
            command: command_line(),
        }
    }
}

impl RunInfo {
    /// The markdown bullet list every section starts with.
    pub fn render_markdown(&self) -> String {
        format!(
            "- Machine: {}\n- Commit: `{}`{} (read when the run started; `strata` binary built {})\n\
             - Finished: {} (load average before / after: {} / {}; the machine is shared with other \
             sessions' builds, so absolute figures are noisy: compare within a run)\n\
             - Command: `{}`\n",
            self.machine.describe(),
            self.commit.hash,
            if self.commit.dirty {
                " (with uncommitted changes in the tree)"
            } else {
                ""
            },
            self.strata_binary.modified,
            self.finished_at,
            self.load_average[0],
            self.load_average[1],
            self.command,
        )
    }
}

/// This process's command line, the binary relative to the workspace root when it lies inside.
pub fn command_line() -> String {
    let root = workspace_root();
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                let root = root.canonicalize().unwrap_or_else(|_| root.clone());
                Path::new(&a)
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.strip_prefix(&root).ok().map(Path::to_path_buf))
                    .map_or(a, |p| p.display().to_string())
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `json` to `bench/results/{file_stem}.json` and `section` between the markers `name`
/// of `docs/benchmarks.md`.
pub fn write_result(
    file_stem: &str,
    json: &impl Serialize,
    name: &str,
    section: &str,
) -> Result<()> {
    let results_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&results_dir)
        .with_context(|| format!("create {}", results_dir.display()))?;
    let json_path = results_dir.join(format!("{file_stem}.json"));
    let text = serde_json::to_string_pretty(json)?;
    std::fs::write(&json_path, text + "\n")
        .with_context(|| format!("write {}", json_path.display()))?;
    let docs = workspace_root().join("docs/benchmarks.md");
    let doc = std::fs::read_to_string(&docs).unwrap_or_default();
    std::fs::write(&docs, replace_section(&doc, name, section))
        .with_context(|| format!("write {}", docs.display()))?;
    eprintln!(
        "wrote {} and the `{name}` section of {}",
        json_path.display(),
        docs.display()
    );
    Ok(())
}

/// UTC now as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    )
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`, without a date crate.
pub fn rfc3339(secs: i64) -> String {
    let (date, rem) = civil(secs);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Epoch milliseconds as a SQL timestamp literal body, `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn sql_timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (date, rem) = civil(secs);
    format!(
        "{date} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// `YYYY-MM-DD` and the seconds into that day.
fn civil(secs: i64) -> (String, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{y:04}-{m:02}-{d:02}"), rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_is_appended_when_markers_are_absent() {
        let doc = "# Benchmarks\n\nIntro.\n";
        let out = replace_section(doc, "clickbench", "table\n");
        assert_eq!(
            out,
            "# Benchmarks\n\nIntro.\n\n<!-- clickbench:begin -->\ntable\n<!-- clickbench:end -->\n"
        );
    }

    #[test]
    fn section_is_replaced_and_the_rest_kept() {
        let doc = "head\n<!-- clickbench:begin -->\nold\nold2\n<!-- clickbench:end -->\ntail\n";
        let out = replace_section(doc, "clickbench", "new");
        assert_eq!(
            out,
            "head\n<!-- clickbench:begin -->\nnew\n<!-- clickbench:end -->\ntail\n"
        );
        assert_eq!(replace_section(&out, "clickbench", "new"), out);
    }

    #[test]
    fn listening_line_gives_the_address() {
        let line =
            "2026-11-25T14:00:00Z  INFO strata_server::http: listening on http://127.0.0.1:41234";
        assert_eq!(listening_addr(line).as_deref(), Some("127.0.0.1:41234"));
        assert_eq!(listening_addr("starting"), None);
    }

    #[test]
    fn rfc3339_formats_unix_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_372_708_800), "2013-07-01T20:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(now_rfc3339().len(), 20);
        assert_eq!(sql_timestamp(1_767_225_600_123), "2026-01-01 00:00:00.123");
        assert_eq!(sql_timestamp(-1), "1969-12-31 23:59:59.999");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.summary().count, 0);
        for i in 1..=100 {
            l.push(f64::from(i) / 1000.0);
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 1e-9);
        assert!((s.p99_ms - 99.0).abs() < 1e-9);
        assert!((s.max_ms - 100.0).abs() < 1e-9);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
    }
}
