//! `strata-bench freshness`: from an ingest acknowledgement to the moment a query sees the row.
//!
//! ```text
//!  background: --ingest-clients threads post NDJSON `events` (time = now) at --ingest-rate rows/s
//!              into table `fresh`, for the whole run
//!  probe:      every --interval-ms: POST one row {"user_id": "probe-K", "time": now, ...}
//!              ── acknowledged at t_ack ──> SELECT count(*) FROM fresh
//!                                             WHERE time >= <probe time> AND user_id = 'probe-K'
//!              repeated until it answers 1, at t_seen; freshness = t_seen - t_ack
//! ```
//!
//! Strata's contract is that an acknowledged row is visible to the next query, so every probe
//! should be seen by its first query, and the freshness figure is that query's round trip under
//! the ingest load. The report also counts the probes that needed more than one query (a
//! contract violation) and gives the probe's own ingest latency.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{
    content_type, events_ddl, now_ms, sql_timestamp, Client, Latencies, LatencySummary, RunInfo,
    RunStart,
};
use crate::gen::events;

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "freshness";
/// A probe not seen after this long counts as lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Command-line arguments of `strata-bench freshness`.
#[derive(Debug, Clone, clap::Args)]
pub struct FreshnessArgs {
    /// Probe rows to time.
    #[arg(long, default_value_t = 300)]
    pub probes: usize,
    /// Pause between probes, milliseconds.
    #[arg(long, default_value_t = 20)]
    pub interval_ms: u64,
    /// Background ingest, rows per second in all (0: none).
    #[arg(long, default_value_t = 100_000)]
    pub ingest_rate: u64,
    /// Background ingest rows per request.
    #[arg(long, default_value_t = 5_000)]
    pub batch_rows: usize,
    /// Background ingest client threads.
    #[arg(long, default_value_t = 2)]
    pub ingest_clients: usize,
    /// The server's `--fsync`.
    #[arg(long, default_value = "always")]
    pub fsync: String,
    /// The `strata` binary to start (default `target/release/strata`).
    #[arg(long)]
    pub strata_bin: Option<PathBuf>,
    /// Write nothing to `bench/results` and `docs/benchmarks.md`.
    #[arg(long)]
    pub no_write: bool,
    /// The Kafka mode (`--kafka`, see `freshness_kafka`).
    #[command(flatten)]
    pub kafka: super::freshness_kafka::KafkaArgs,
}

/// The JSON result of `strata-bench freshness`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `freshness`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// The server's fsync policy.
    pub fsync: String,
    /// Probes sent.
    pub probes: usize,
    /// Probes seen by the first query after their acknowledgement.
    pub seen_first_query: usize,
    /// Probes never seen within the timeout.
    pub lost: usize,
    /// Most queries one probe needed.
    pub max_queries: usize,
    /// Acknowledgement to visible.
    pub ack_to_visible: LatencySummary,
    /// The probe's ingest request (send to acknowledgement).
    pub probe_ingest: LatencySummary,
    /// Background ingest: target and achieved rows/s, and its request latencies.
    pub background_target_rows_per_s: u64,
    /// Achieved background rows per second.
    pub background_rows_per_s: f64,
    /// Background request latencies.
    pub background_ingest: LatencySummary,
    /// Seconds the background clients waited for the body generator.
    pub background_waited_for_generator_s: f64,
    /// Rows in the table when the probes ended.
    pub table_rows: u64,
}

/// Runs the benchmark, prints and writes the result.
pub fn run(a: &FreshnessArgs) -> Result<Report> {
    if a.probes == 0 || a.batch_rows == 0 {
        bail!("--probes and --batch-rows must be at least 1");
    }
    let bin = super::strata_bin(a.strata_bin.as_deref());
    let start = RunStart::now(&bin);
    let server = super::StrataServer::start(&bin, &["--fsync".into(), a.fsync.clone()])?;
    let client = Client::new(server.base_url())?;
    client.query(&events_ddl("fresh"))?;
    eprintln!("strata: serving at {}", server.base_url());

    let stop = AtomicBool::new(false);
    let background_rows = AtomicU64::new(0);
    let (report, background) = std::thread::scope(|s| -> Result<_> {
        let bg = (a.ingest_rate > 0).then(|| {
            s.spawn(|| {
                paced_ingest(
                    &client,
                    "fresh",
                    a.ingest_rate,
                    a.batch_rows,
                    a.ingest_clients.max(1),
                    &stop,
                    &background_rows,
                )
            })
        });
        // Let the background ingest reach its pace first.
        std::thread::sleep(Duration::from_millis(if bg.is_some() { 1000 } else { 0 }));
        let bg_started = Instant::now();
        let rows_before = background_rows.load(Ordering::Relaxed);
        let probes = probe(&client, a);
        let bg_secs = super::secs_since(bg_started);
        let bg_rows = background_rows.load(Ordering::Relaxed) - rows_before;
        stop.store(true, Ordering::Relaxed);
        let background = match bg {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("background ingest panicked"))??,
            None => Latencies::default(),
        };
        Ok(((probes?, bg_rows as f64 / bg_secs), background))
    })?;
    let ((probes, bg_rate), background) = (report, background);
    let table_rows = client
        .query("SELECT count(*) FROM fresh")?
        .first()
        .and_then(|r| r[0].as_u64())
        .context("count(*) of fresh")?;
    drop(server);

    let mut visible = Latencies::default();
    let mut ingest = Latencies::default();
    let mut seen_first = 0;
    let mut lost = 0;
    let mut max_queries = 0;
    for p in &probes {
        ingest.push(p.ingest_s);
        match p.visible_s {
            Some(v) => visible.push(v),
            None => lost += 1,
        }
        seen_first += usize::from(p.visible_s.is_some() && p.queries == 1);
        max_queries = max_queries.max(p.queries);
    }
    let report = Report {
        benchmark: "freshness",
        run: start.finish(),
        fsync: a.fsync.clone(),
        probes: probes.len(),
        seen_first_query: seen_first,
        lost,
        max_queries,
        ack_to_visible: visible.summary(),
        probe_ingest: ingest.summary(),
        background_target_rows_per_s: a.ingest_rate,
        background_rows_per_s: bg_rate,
        background_ingest: background.summary(),
        background_waited_for_generator_s: background.waited_s,
        table_rows,
    };
    let md = render_markdown(&report);
    print!("{md}");
    if !a.no_write {
        super::write_result(
            &format!("freshness-{}", report.run.commit.hash),
            &report,
            DOCS_SECTION,
            &md,
        )?;
    }
    Ok(report)
}

struct Probe {
    ingest_s: f64,
    visible_s: Option<f64>,
    queries: usize,
}

fn probe(client: &Client, a: &FreshnessArgs) -> Result<Vec<Probe>> {
    let mut out = Vec::with_capacity(a.probes);
    for k in 0..a.probes {
        let t = now_ms();
        let row = format!(
            "{{\"time\":{t},\"country\":\"ZZ\",\"device\":\"probe\",\"url\":\"/probe\",\
             \"user_id\":\"probe-{k}\",\"bytes\":1,\"amount\":0.0,\"latency_ms\":1.0,\"status\":200}}\n"
        );
        let sql = format!(
            "SELECT count(*) FROM fresh WHERE time >= TIMESTAMP '{}' AND user_id = 'probe-{k}'",
            sql_timestamp(t)
        );
        let sent = Instant::now();
        let n = client.ingest("fresh", content_type::NDJSON, row)?;
        let acked = Instant::now();
        if n != 1 {
            bail!("probe {k}: {n} rows acknowledged");
        }
        let mut queries = 0;
        let visible_s = loop {
            queries += 1;
            let rows = client.query(&sql)?;
            if rows.first().and_then(|r| r[0].as_u64()) == Some(1) {
                break Some(super::secs_since(acked));
            }
            if acked.elapsed() > PROBE_TIMEOUT {
                break None;
            }
        };
        out.push(Probe {
            ingest_s: (acked - sent).as_secs_f64(),
            visible_s,
            queries,
        });
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
    Ok(out)
}

/// Posts NDJSON `events` with `time` near the wall clock at `rate` rows/s in all, from `clients`
/// threads, until `stop`; counts acknowledged rows in `acked` and returns the request latencies.
///
/// Bodies are generated one step ahead by a producer thread; each client sends `batch_rows` rows per
/// `clients * batch_rows / rate` seconds (a shorter body moves its next send forward in proportion) and, when it falls behind, sends the next at once
/// (the achieved rate then shows the shortfall).
pub fn paced_ingest(
    client: &Client,
    table: &str,
    rate: u64,
    batch_rows: usize,
    clients: usize,
    stop: &AtomicBool,
    acked: &AtomicU64,
) -> Result<Latencies> {
    paced_ingest_from(
        client,
        table,
        rate,
        batch_rows,
        clients,
        stop,
        acked,
        now_ms(),
    )
}

/// [`paced_ingest`] with event times starting at `start_ms` (and advancing at `rate`).
#[allow(clippy::too_many_arguments)]
pub fn paced_ingest_from(
    client: &Client,
    table: &str,
    rate: u64,
    batch_rows: usize,
    clients: usize,
    stop: &AtomicBool,
    acked: &AtomicU64,
    start_ms: i64,
) -> Result<Latencies> {
    // (body, rows): the generator's 64K-row batches do not split evenly into `batch_rows`, so
    // clients pace by the rows they send, not by requests.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(clients * 2);
    let rx = std::sync::Mutex::new(rx);
    let period = Duration::from_secs_f64(clients as f64 * batch_rows as f64 / rate.max(1) as f64);
    std::thread::scope(|s| -> Result<Latencies> {
        let producer = s.spawn(move || -> Result<()> {
            let mut g = events::EventsGenerator::new(u64::MAX, 7, start_ms, rate.max(1) as f64)?;
            while let Some(batch) = g.next_batch()? {
                let mut offset = 0;
                while offset < batch.num_rows() {
                    let n = batch_rows.min(batch.num_rows() - offset);
                    let mut body = Vec::with_capacity(n * 192);
                    events::append_ndjson(&batch.slice(offset, n), &mut body)?;
                    offset += n;
                    let mut body = Some((body, n));
                    while let Some(b) = body.take() {
                        match tx.try_send(b) {
                            Ok(()) => {}
                            Err(std::sync::mpsc::TrySendError::Full(b)) => {
                                if stop.load(Ordering::Relaxed) {
                                    return Ok(());
                                }
                                body = Some(b);
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Ok(()),
                        }
                    }
                }
            }
            Ok(())
        });
        let mut handles = Vec::new();
        for c in 0..clients {
            let rx = &rx;
            handles.push(s.spawn(move || -> Result<Latencies> {
                let mut lat = Latencies::default();
                // Stagger the clients over one period.
                let mut next = Instant::now() + period.mul_f64(c as f64 / clients as f64);
                while !stop.load(Ordering::Relaxed) {
                    let waited = Instant::now();
                    let (body, rows) = match rx.lock() {
                        Ok(r) => match r.recv() {
                            Ok(b) => b,
                            Err(_) => break,
                        },
                        Err(_) => break,
                    };
                    lat.waited_s += super::secs_since(waited);
                    loop {
                        let now = Instant::now();
                        if next <= now || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    }
                    next += period.mul_f64(rows as f64 / batch_rows as f64);
                    let sent = Instant::now();
                    let n = client.ingest(table, content_type::NDJSON, body)?;
                    lat.push(super::secs_since(sent));
                    acked.fetch_add(n, Ordering::Relaxed);
                }
                Ok(lat)
            }));
        }
        let mut all = Latencies::default();
        let mut first_error = None;
        for h in handles {
            match h.join() {
                Ok(Ok(l)) => all.extend(&l),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(anyhow::anyhow!("an ingest client panicked"));
                }
            }
        }
        stop.store(true, Ordering::Relaxed); // also when a client failed: unblocks the producer
        let _ = producer.join();
        match first_error {
            Some(e) => Err(e),
            None => Ok(all),
        }
    })
}

/// The markdown section.
pub fn render_markdown(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Freshness: ingest acknowledgement to visible, {} probes, `--fsync {}`\n",
        r.probes, r.fsync
    );
    s.push_str(&r.run.render_markdown());
    let _ = writeln!(
        s,
        "- Background ingest: NDJSON at a target of {} rows/s, achieved {:.0} rows/s (request p50 \
         {:.1} ms, p99 {:.1} ms; the clients waited {:.1} s in all for the body generator); {} \
         rows in the table at the end\n",
        r.background_target_rows_per_s,
        r.background_rows_per_s,
        r.background_ingest.p50_ms,
        r.background_ingest.p99_ms,
        r.background_waited_for_generator_s,
        r.table_rows
    );
    let _ = writeln!(s, "| measure | p50 ms | p95 ms | p99 ms | max ms |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for (name, l) in [
        ("acknowledgement → a query sees the row", &r.ack_to_visible),
        ("the probe's ingest request (1 row)", &r.probe_ingest),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
        );
    }
    let _ = writeln!(
        s,
        "\nSeen by the first query after the acknowledgement: {} of {} probes (most queries for one \
         probe: {}; never seen within {} s: {}).",
        r.seen_first_query,
        r.probes,
        r.max_queries,
        PROBE_TIMEOUT.as_secs(),
        r.lost
    );
    s
}
