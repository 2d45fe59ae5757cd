//! `strata-bench overload`: a producer faster than persistence, and what the server does about it
//! (issue 13): refuse with 429/503 and `Retry-After` instead of growing, keep its resident memory
//! under the documented bound, lose no acknowledged row.
//!
//! ```text
//!  gen::events ──> bench/.data/events_N_S.ndjson (cached) ──> chunks of --batch-rows lines
//!  --clients threads, each: POST the next chunk (cycling) as fast as the server answers;
//!     200 -> count its rows; 429/503 -> sleep Retry-After, then the next chunk
//!  a sampler thread: the server's VmRSS every 100 ms
//!  after --seconds: SELECT COUNT(*) must equal the rows acknowledged
//! ```
//!
//! The server runs with its defaults plus `--server-arg`s (for example a smaller
//! `--live-bytes-max` to see the budget refuse sooner); the report gives the bound those settings
//! imply (docs/operations.md, "The memory bound") beside the measured peak.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use serde::Serialize;

use super::{content_type, events_ddl, RunInfo};

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "overload";

/// Command-line arguments of `strata-bench overload`.
#[derive(Debug, Clone, clap::Args)]
pub struct OverloadArgs {
    /// Rows of `events` in the body file the producers cycle through.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rows per request.
    #[arg(long, default_value_t = 10_000)]
    pub batch_rows: usize,
    /// Producer connections.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long the producers run, seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// More `strata serve` arguments, one per flag (repeat: `--server-arg=--live-bytes-max
    /// --server-arg=268435456`).
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
    /// Where the data and the binary are, output.
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `overload`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// Producer connections.
    pub clients: usize,
    /// Rows per request.
    pub batch_rows: usize,
    /// Seconds the producers ran.
    pub seconds: f64,
    /// The extra server arguments.
    pub server_args: Vec<String>,
    /// Requests by answer: `200`, `429 INGEST_BACKPRESSURE`, `503 DISK_FULL`, ...
    pub answers: BTreeMap<String, u64>,
    /// Rows acknowledged (200).
    pub rows_acked: u64,
    /// `SELECT COUNT(*)` after the run.
    pub rows_counted: u64,
    /// Acknowledged rows per second.
    pub rows_per_s: f64,
    /// Body bytes acknowledged per second.
    pub acked_bytes_per_s: f64,
    /// The server's resident memory: samples, peak, median, at the end (bytes).
    pub rss_samples: usize,
    /// Peak RSS.
    pub rss_peak_bytes: u64,
    /// Median RSS.
    pub rss_median_bytes: u64,
    /// RSS when the producers stopped.
    pub rss_end_bytes: u64,
    /// The bound docs/operations.md gives for the settings the server ran with (bytes).
    pub rss_bound_bytes: u64,
}

/// Runs the benchmark, prints and writes the results.
pub fn run(a: &OverloadArgs) -> Result<Report> {
    if a.rows == 0 || a.batch_rows == 0 || a.clients == 0 || a.seconds == 0 {
        bail!("--rows, --batch-rows, --clients and --seconds must be at least 1");
    }
    let (bin, start, data_dir) = a.run.begin();
    let ndjson = super::ingest::ensure_events(&data_dir, a.rows, a.seed, "ndjson")?;
    let text = std::fs::read(&ndjson).with_context(|| format!("read {}", ndjson.display()))?;
    let chunks: Vec<Bytes> = super::ingest::line_chunks(&text, a.batch_rows, 0);
    drop(text);
    let server = super::StrataServer::start(&bin, &a.server_arg)?;
    let client = super::Client::new(server.base_url())?;
    client.query(&events_ddl("events"))?;
    let pid = server.pid();
    eprintln!(
        "overload: {} producers for {} s at {}",
        a.clients,
        a.seconds,
        server.base_url()
    );

    let stop = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let acked_rows = AtomicU64::new(0);
    let acked_bytes = AtomicU64::new(0);
    let answers: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let samples: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(a.clients)
        .build()?;
    let url = format!("{}/v1/tables/events/ingest", server.base_url());
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes(pid) {
                    if let Ok(mut v) = samples.lock() {
                        v.push(rss);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for _ in 0..a.clients {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let body = &chunks[next.fetch_add(1, Ordering::Relaxed) % chunks.len()];
                    match post(&http, &url, body.clone()) {
                        Ok((status, code, rows, retry_after)) => {
                            if let Ok(mut m) = answers.lock() {
                                *m.entry(format!("{status} {code}").trim().to_string())
                                    .or_default() += 1;
                            }
                            if status == 200 {
                                acked_rows.fetch_add(rows, Ordering::Relaxed);
                                acked_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                            } else if let Some(wait) = retry_after {
                                std::thread::sleep(Duration::from_secs(wait));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        while started.elapsed() < Duration::from_secs(a.seconds) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e.context(format!("server log:\n{}", server.stderr_tail())));
    }
    let rss_end_bytes = rss_bytes(pid).unwrap_or(0);
    let rows_counted = client
        .query("SELECT COUNT(*) FROM events")?
        .first()
        .and_then(|r| r[0].as_u64())
        .context("COUNT(*) answered no number")?;
    let rows_acked = acked_rows.load(Ordering::Relaxed);
    if rows_counted != rows_acked {
        bail!("{rows_acked} rows were acknowledged but the table holds {rows_counted}");
    }
    let mut rss = samples.into_inner().unwrap_or_default();
    rss.sort_unstable();
    let report = Report {
        benchmark: "overload",
        run: start.finish(),
        clients: a.clients,
        batch_rows: a.batch_rows,
        seconds,
        server_args: a.server_arg.clone(),
        answers: answers.into_inner().unwrap_or_default(),
        rows_acked,
        rows_counted,
        rows_per_s: rows_acked as f64 / seconds,
        acked_bytes_per_s: acked_bytes.load(Ordering::Relaxed) as f64 / seconds,
        rss_samples: rss.len(),
        rss_peak_bytes: rss.last().copied().unwrap_or(0),
        rss_median_bytes: rss.get(rss.len() / 2).copied().unwrap_or(0),
        rss_end_bytes,
        rss_bound_bytes: bound(&a.server_arg),
    };
    drop(server);
    let md = render_markdown(&report);
    print!("{md}");
    if !a.run.no_write {
        // A run with server arguments has a section of its own beside the defaults' one.
        let section = if a.server_arg.is_empty() {
            DOCS_SECTION.to_string()
        } else {
            format!("{DOCS_SECTION}-with-args")
        };
        super::write_result(
            &format!("{section}-{}", report.run.commit.hash),
            &report,
            &section,
            &md,
        )?;
    }
    Ok(report)
}

/// One POST: status, error code, rows acknowledged, Retry-After seconds.
fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    body: Bytes,
) -> Result<(u16, String, u64, Option<u64>)> {
    let r = http
        .post(url)
        .header("Content-Type", content_type::NDJSON)
        .body(body)
        .send()
        .context("POST ingest")?;
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let v: serde_json::Value = r.json().context("ingest answer")?;
    let code = v["error"]["code"].as_str().unwrap_or("").to_string();
    if status != 200 && !matches!(status, 429 | 503) {
        bail!("ingest answered {status}: {v}");
    }
    Ok((
        status,
        code,
        v["rows_ingested"].as_u64().unwrap_or(0),
        retry_after,
    ))
}

/// The resident memory of process `pid`, from `/proc/PID/status`.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// docs/operations.md's bound for the server's settings: the defaults, overridden by the
/// `--flag value` pairs of `args`. Queries do not run here, so their term is left out.
fn bound(args: &[String]) -> u64 {
    let setting = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // The server's defaults (docs/operations.md, "All options").
    let cache = setting("--cache-bytes", 1 << 30);
    let live = setting("--live-bytes-max", 2 << 30);
    let concurrency = setting("--ingest-concurrency-max", 8);
    let body = setting("--body-bytes-max", 64 << 20);
    let decoded = setting("--decoded-bytes-max", 512 << 20);
    cache + 3 * live + concurrency * (body + decoded) + (256 << 20)
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
}

/// The markdown section.
pub fn render_markdown(r: &Report) -> String {
    let mut md = String::new();
    md.push_str("### Overload: a producer faster than persistence\n\n");
    md.push_str(&format!(
        "{} producers posting {}-row NDJSON bodies of `events` as fast as the server answers, for \
         {:.0} s, honouring `Retry-After`; the server's resident memory sampled every 100 ms. \
         Server settings: defaults{}. Machine: {}; load average {} at the start, {} at the end; \
         commit `{}`{}.\n\n",
        r.clients,
        r.batch_rows,
        r.seconds,
        if r.server_args.is_empty() {
            String::new()
        } else {
            format!(", `{}`", r.server_args.join(" "))
        },
        r.run.machine.describe(),
        r.run.load_average[0],
        r.run.load_average[1],
        r.run.commit.hash,
        if r.run.commit.dirty { " (dirty)" } else { "" },
    ));
    md.push_str("| answer | requests |\n|---|---|\n");
    for (answer, n) in &r.answers {
        md.push_str(&format!("| {answer} | {n} |\n"));
    }
    md.push_str(&format!(
        "\n| measure | value |\n|---|---|\n\
         | rows acknowledged | {} |\n\
         | `COUNT(*)` after the run | {} |\n\
         | acknowledged rows/s | {:.0} |\n\
         | acknowledged body MB/s | {:.1} |\n\
         | RSS peak | {} |\n\
         | RSS median | {} |\n\
         | RSS when the producers stopped | {} |\n\
         | the bound for these settings (operations.md) | {} |\n\n",
        r.rows_acked,
        r.rows_counted,
        r.rows_per_s,
        r.acked_bytes_per_s / 1e6,
        mib(r.rss_peak_bytes),
        mib(r.rss_median_bytes),
        mib(r.rss_end_bytes),
        mib(r.rss_bound_bytes),
    ));
    md.push_str(&format!("Command: `{}`\n", r.run.command));
    md
}
