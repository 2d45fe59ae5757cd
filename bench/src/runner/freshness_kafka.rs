//! `strata-bench freshness --kafka`: from a Kafka produce to the moment a query sees the row, and
//! how fast a source consumes a backlog.
//!
//! ```text
//!  broker:      --kafka-brokers, or a `tansu` broker started in a temporary directory
//!  throughput:  produce --kafka-messages `events` rows (NDJSON, one per message) to a topic of
//!               --kafka-partitions partitions, then POST /v1/sources; time until
//!               SELECT count(*) answers all of them: consumption rows/s (includes creating
//!               the table from the first messages)
//!  probes:      every --interval-ms: produce one row {"user_id": "probe-K", ...} (t_sent =
//!               before the produce call), then at once SELECT count(*) ... WHERE
//!               user_id = 'probe-K' until it answers 1 (t_seen);
//!               produce-to-queryable = t_seen - t_sent
//! ```
//!
//! The probe's latency includes the producer's round trip to the broker, the source's poll and
//! batch linger (50 ms at most), decoding, the log append with its fsync, and the query.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde::Serialize;

use super::{now_ms, Client, Latencies, LatencySummary, RunInfo, RunStart};
use crate::gen::events;

/// The name of the marked section in `docs/benchmarks.md`.
pub const DOCS_SECTION: &str = "freshness-kafka";
const TOPIC: &str = "fresh_kafka";
const TABLE: &str = "fresh_kafka";
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Kafka mode's options (part of `strata-bench freshness`).
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Measure Kafka produce -> queryable and consumption throughput instead of HTTP ingest.
    #[arg(long)]
    pub kafka: bool,
    /// Brokers to use (default: start `tansu` on a free port in a temporary directory).
    #[arg(long)]
    pub kafka_brokers: Option<String>,
    /// Messages produced before the source starts (the consumption throughput backlog).
    #[arg(long, default_value_t = 200_000)]
    pub kafka_messages: u64,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 3)]
    pub kafka_partitions: u32,
}

/// The JSON result of `strata-bench freshness --kafka`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `freshness-kafka`.
    pub benchmark: &'static str,
    /// Where, when, what.
    pub run: RunInfo,
    /// The broker.
    pub broker: String,
    /// The server's fsync policy.
    pub fsync: String,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Backlog messages consumed.
    pub backlog_messages: u64,
    /// Seconds from creating the source to all backlog rows being queryable.
    pub backlog_seconds: f64,
    /// Consumption rows per second.
    pub consumption_rows_per_s: f64,
    /// Probes sent.
    pub probes: usize,
    /// Probes never seen within the timeout.
    pub lost: usize,
    /// Produce (before the call) to queryable.
    pub produce_to_queryable: LatencySummary,
    /// The produce call until `flush` returned after the probe was seen (an upper bound of the
    /// broker's acknowledgement: librdkafka's flush wakes at a 100 ms granularity).
    pub produce_ack: LatencySummary,
}

/// A broker this benchmark started; killed on drop.
struct OwnedBroker {
    child: Child,
    _dir: TempDir,
}

impl Drop for OwnedBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tansu() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let installed = home.join(".cargo/bin/tansu");
    if installed.is_file() {
        installed
    } else {
        PathBuf::from("tansu")
    }
}

fn start_tansu() -> Result<(String, OwnedBroker)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("strata-bench-tansu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu())
        .current_dir(&dir)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start tansu (cargo install tansu --locked --no-default-features --features dynostore,libsql)")?;
    let broker = OwnedBroker {
        child,
        _dir: TempDir(dir),
    };
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline {
            bail!("tansu did not listen on {addr} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((addr, broker))
}

/// Runs the Kafka mode, prints and writes the result.
pub fn run(a: &super::freshness::FreshnessArgs) -> Result<Report> {
    let k = &a.kafka;
    let (brokers, _owned, topic_dir) = match &k.kafka_brokers {
        Some(b) => (b.clone(), None, None),
        None => {
            let (addr, owned) = start_tansu()?;
            let dir = owned._dir.0.clone();
            (addr, Some(owned), Some(dir))
        }
    };
    // The topic: with tansu, its CLI; with another broker, it must exist or be auto-created.
    if let Some(dir) = &topic_dir {
        let status = Command::new(tansu())
            .current_dir(dir)
            .args(["topic", "create", TOPIC])
            .args(["--partitions", &k.kafka_partitions.to_string()])
            .args(["--broker", &format!("tcp://{brokers}")])
            .status()
            .context("tansu topic create")?;
        if !status.success() {
            bail!("tansu topic create {TOPIC} failed");
        }
    }
    let bin = super::strata_bin(a.strata_bin.as_deref());
    let start = RunStart::now(&bin);
    let server = super::StrataServer::start(&bin, &["--fsync".into(), a.fsync.clone()])?;
    let client = Client::new(server.base_url())?;
    eprintln!("strata: serving at {}, broker {brokers}", server.base_url());

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "60000")
        .create()
        .context("create the Kafka producer")?;

    // Backlog.
    let mut g = events::EventsGenerator::new(k.kafka_messages, 7, now_ms(), 10_000.0)?;
    let mut produced = 0u64;
    let mut body = Vec::new();
    while let Some(batch) = g.next_batch()? {
        body.clear();
        events::append_ndjson(&batch, &mut body)?;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mut record = BaseRecord::<(), [u8]>::to(TOPIC).payload(line);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            produced += 1;
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flush the backlog")?;
    eprintln!("produced {produced} messages");

    let source = serde_json::json!({"name": "bench", "type": "kafka", "brokers": brokers,
        "topic": TOPIC, "table": TABLE, "format": "json", "start": "earliest"});
    let started = Instant::now();
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sources", server.base_url()))
        .json(&source)
        .send()?;
    if !r.status().is_success() {
        bail!("POST /v1/sources: {}: {}", r.status(), r.text()?);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = client
            .query(&format!("SELECT count(*) FROM {TABLE}"))
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r[0].as_u64()))
            .unwrap_or(0);
        if n >= produced {
            break;
        }
        if Instant::now() > deadline {
            bail!("the source consumed {n} of {produced} messages in 600 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let backlog_seconds = super::secs_since(started);

    // Probes.
    let mut visible = Latencies::default();
    let mut acks = Latencies::default();
    let mut lost = 0;
    for p in 0..a.probes {
        let row = format!(
            "{{\"time\":{},\"country\":\"ZZ\",\"device\":\"probe\",\"url\":\"/probe\",\
             \"user_id\":\"probe-{p}\",\"bytes\":1,\"amount\":0.0,\"latency_ms\":1.0,\"status\":200}}",
            now_ms()
        );
        let sql = format!("SELECT count(*) FROM {TABLE} WHERE user_id = 'probe-{p}'");
        let sent = Instant::now();
        producer
            .send(BaseRecord::<(), str>::to(TOPIC).payload(row.as_str()))
            .map_err(|(e, _)| anyhow::anyhow!("produce probe {p}: {e}"))?;
        // Query at once (not after `flush`, whose wake-ups come at a 100 ms granularity).
        loop {
            let rows = client.query(&sql)?;
            if rows.first().and_then(|r| r[0].as_u64()) == Some(1) {
                visible.push(super::secs_since(sent));
                break;
            }
            if sent.elapsed() > PROBE_TIMEOUT {
                lost += 1;
                break;
            }
        }
        producer.flush(Duration::from_secs(30))?;
        acks.push(super::secs_since(sent));
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
    drop(server);
    let report = Report {
        benchmark: "freshness-kafka",
        run: start.finish(),
        broker: if k.kafka_brokers.is_some() {
            brokers.clone()
        } else {
            "tansu 0.6 (sqlite storage), local".to_string()
        },
        fsync: a.fsync.clone(),
        partitions: k.kafka_partitions,
        backlog_messages: produced,
        backlog_seconds,
        consumption_rows_per_s: produced as f64 / backlog_seconds.max(1e-9),
        probes: a.probes,
        lost,
        produce_to_queryable: visible.summary(),
        produce_ack: acks.summary(),
    };
    let md = render_markdown(&report);
    print!("{md}");
    if !a.no_write {
        super::write_result(
            &format!("freshness-kafka-{}", report.run.commit.hash),
            &report,
            DOCS_SECTION,
            &md,
        )?;
    }
    Ok(report)
}

/// The markdown section.
pub fn render_markdown(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Kafka freshness: produce to queryable, {} probes, `--fsync {}`\n",
        r.probes, r.fsync
    );
    s.push_str(&r.run.render_markdown());
    let _ = writeln!(
        s,
        "- Broker: {}; topic of {} partitions; one JSON `events` row per message\n\
         - Consumption: a backlog of {} messages became queryable {:.2} s after the source was \
         created: **{:.0} rows/s**\n",
        r.broker, r.partitions, r.backlog_messages, r.backlog_seconds, r.consumption_rows_per_s
    );
    let _ = writeln!(s, "| measure | p50 ms | p95 ms | p99 ms | max ms |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for (name, l) in [
        ("produce → a query sees the row", &r.produce_to_queryable),
        (
            "produce until `flush` returned after the row was seen (bounds the broker ack)",
            &r.produce_ack,
        ),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
        );
    }
    let _ = writeln!(
        s,
        "\nProbes never seen within {} s: {} of {}.",
        PROBE_TIMEOUT.as_secs(),
        r.lost,
        r.probes
    );
    s
}
