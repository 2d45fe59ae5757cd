//! The end-to-end runners: a real `strata serve` on a free port, the machine and commit a result
//! belongs to, and the `docs/benchmarks.md` section a runner owns.
//!
//! A runner's life: find (or generate) the data file, start [`StrataServer`] on a temporary data
//! directory, load the file through the HTTP ingest API, run a query suite through `/v1/sql`,
//! run the same suite on the peers ([`crate::peers`]), and write a JSON result plus a markdown
//! table between `<!-- NAME:begin -->` and `<!-- NAME:end -->` ([`replace_section`]).
//!
//! Runners are programs that orchestrate other programs (a server, a Python interpreter), so they
//! report failures as [`anyhow::Error`] with context rather than through [`crate::Error`].

pub mod clickbench;
pub mod index;

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
    /// True when `git status --porcelain` listed tracked changes (the binary may differ from the
    /// commit).
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
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
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
    stderr_tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
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
        let stderr_tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        spawn_stderr_reader(stderr, tx, stderr_tail.clone());
        let addr = match rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = stderr_tail.lock().map(|t| t.join("\n")).unwrap_or_default();
                bail!("strata serve printed no `listening on` line; its stderr:\n{tail}");
            }
        };
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
        let response = self
            .http
            .post(format!("{}/v1/tables/{table}/ingest", self.base_url))
            .header("Content-Type", "application/vnd.apache.arrow.stream")
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
}
