//! The peers: DuckDB and ClickHouse (through chDB), run from a Python virtual environment.
//!
//! [`ensure_venv`] creates `bench/.venv` with `duckdb` and `chdb` from PyPI when it is missing;
//! [`run`] starts `bench/peers/run_peer.py` for one engine, which loads the Parquet file into the
//! engine's native storage, runs each query `runs` times and prints one JSON line per query. The
//! peer's stderr passes through to ours.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A peer engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// DuckDB, a native in-memory table.
    DuckDb,
    /// ClickHouse through chDB, a MergeTree table.
    ChDb,
}

impl Engine {
    /// The name `run_peer.py --engine` takes.
    pub fn name(self) -> &'static str {
        match self {
            Engine::DuckDb => "duckdb",
            Engine::ChDb => "chdb",
        }
    }

    /// The name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Engine::DuckDb => "DuckDB",
            Engine::ChDb => "chDB",
        }
    }
}

/// The virtual environment's directory: `bench/.venv`.
pub fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv")
}

/// The peer script: `bench/peers/run_peer.py`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/run_peer.py")
}

fn python() -> PathBuf {
    venv_dir().join("bin/python")
}

/// Creates `bench/.venv` and installs `duckdb` and `chdb` unless both import already.
pub fn ensure_venv() -> Result<()> {
    let imports = || {
        Command::new(python())
            .args(["-c", "import duckdb, chdb"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if imports() {
        return Ok(());
    }
    let venv = venv_dir();
    eprintln!(
        "peers: creating {} with duckdb and chdb (pip)",
        venv.display()
    );
    if !python().exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .context("python3 -m venv")?;
        if !status.success() {
            bail!("python3 -m venv {} failed: {status}", venv.display());
        }
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "duckdb", "chdb"])
        .status()
        .context("pip install duckdb chdb")?;
    if !status.success() || !imports() {
        bail!("pip install duckdb chdb into {} failed", venv.display());
    }
    Ok(())
}

/// Makes sure `bench/.venv` has `duckdb` and the `tpchgen-cli` command (PyPI `tpchgen-cli`, the
/// Rust TPC-H generator), installing what is missing; `strata-bench tpch` needs both even
/// without peers (DuckDB converts the generated DECIMAL columns).
pub fn ensure_tpch_venv() -> Result<()> {
    let venv = venv_dir();
    let ready = || {
        venv.join("bin/tpchgen-cli").exists()
            && Command::new(python())
                .args(["-c", "import duckdb"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    if ready() {
        return Ok(());
    }
    eprintln!(
        "peers: installing duckdb and tpchgen-cli into {} (pip)",
        venv.display()
    );
    if !python().exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .context("python3 -m venv")?;
        if !status.success() {
            bail!("python3 -m venv {} failed: {status}", venv.display());
        }
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "duckdb", "tpchgen-cli"])
        .status()
        .context("pip install duckdb tpchgen-cli")?;
    if !status.success() || !ready() {
        bail!(
            "pip install duckdb tpchgen-cli into {} failed",
            venv.display()
        );
    }
    Ok(())
}

/// The `tpchgen-cli` command of `bench/.venv`.
pub fn tpchgen_cli() -> PathBuf {
    venv_dir().join("bin/tpchgen-cli")
}

/// The venv's Python interpreter (for the helper scripts in `bench/peers`).
pub fn venv_python() -> PathBuf {
    python()
}

/// Versions and load of one peer run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerLoad {
    /// Seconds to load the Parquet file into native storage.
    pub seconds: f64,
    /// Rows the table holds after the load.
    pub rows: u64,
    /// The engine's version.
    #[serde(default)]
    pub version: String,
}

/// One query's outcome on a peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerQuery {
    /// 1-based query number.
    pub query: usize,
    /// Wall seconds of each completed run.
    #[serde(default)]
    pub times_s: Vec<f64>,
    /// Result rows, when the query succeeded.
    #[serde(default)]
    pub rows: Option<u64>,
    /// The error, when it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// A peer's whole run.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// Which engine.
    pub engine: Engine,
    /// The load.
    pub load: PeerLoad,
    /// Per query, in file order.
    pub queries: Vec<PeerQuery>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Load { load: PeerLoad },
    Query(PeerQuery),
}

/// Runs `run_peer.py` for `engine` on `parquet` with the queries of `queries_file`.
pub fn run(
    engine: Engine,
    parquet: &Path,
    queries_file: &Path,
    create_sql: &Path,
    runs: usize,
) -> Result<PeerRun> {
    let mut child = Command::new(python())
        .arg(script())
        .args(["--engine", engine.name()])
        .arg("--parquet")
        .arg(parquet)
        .arg("--queries")
        .arg(queries_file)
        .arg("--create")
        .arg(create_sql)
        .args(["--runs", &runs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {} for {}", script().display(), engine.name()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout pipe"))?;
    let mut load = None;
    let mut queries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("read peer output")?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(&line)
            .with_context(|| format!("{}: unexpected line {line}", engine.name()))?
        {
            Line::Load { load: l } => {
                eprintln!(
                    "{}: loaded {} rows in {:.2} s",
                    engine.label(),
                    l.rows,
                    l.seconds
                );
                load = Some(l);
            }
            Line::Query(q) => {
                eprintln!("{}: {}", engine.label(), describe(&q));
                queries.push(q);
            }
        }
    }
    let status = child.wait().context("wait for peer")?;
    if !status.success() {
        bail!("{} peer exited with {status}", engine.name());
    }
    Ok(PeerRun {
        engine,
        load: load.ok_or_else(|| anyhow!("{} printed no load line", engine.name()))?,
        queries,
    })
}

fn describe(q: &PeerQuery) -> String {
    let times: Vec<String> = q.times_s.iter().map(|t| format!("{t:.3}")).collect();
    match (&q.error, q.rows) {
        (Some(e), _) => format!("Q{} failed: {}", q.query, e.lines().next().unwrap_or("")),
        (None, Some(r)) => format!("Q{} {} rows, {} s", q.query, r, times.join(" / ")),
        (None, None) => format!("Q{}", q.query),
    }
}

/// Runs `run_peer.py` with `args` (a mode other than the ClickBench queries: `--mode ingest`,
/// `--mode dashboard`) and returns each JSON line it printed on stdout, in order.
pub fn run_json_lines(args: &[String]) -> Result<Vec<serde_json::Value>> {
    let output = Command::new(python())
        .arg(script())
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("start {} {}", script().display(), args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{} {} exited with {}",
            script().display(),
            args.join(" "),
            output.status
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("peer printed {l}")))
        .collect()
}
