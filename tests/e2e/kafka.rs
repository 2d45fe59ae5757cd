//! Kafka sources against a real Kafka-protocol broker (`tansu`, sqlite storage, started per test
//! in a temporary directory): exactly once across SIGKILLs, a broker outage, and the source
//! lifecycle (pause, resume, delete, restart with a defined source).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{json, Value};

use crate::harness::{Rng, Server, TempDir};

/// The tansu binary: on PATH, or where `cargo install` puts it.
fn tansu_bin() -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("tansu");
            if p.is_file() {
                return p;
            }
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let p = home.join(".cargo/bin/tansu");
    assert!(
        p.is_file(),
        "the Kafka tests need the tansu broker: cargo install tansu --locked \
         --no-default-features --features dynostore,libsql (bash .ci/test installs it)"
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker with its data in a directory, stoppable and restartable on the same port.
struct Broker {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let mut b = Broker {
            dir: dir.to_path_buf(),
            port: free_port(),
            child: None,
        };
        b.restart();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        assert!(self.child.is_none());
        let url = format!("tcp://{}", self.addr());
        let child = Command::new(tansu_bin())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.addr()).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new(tansu_bin())
            .current_dir(&self.dir)
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://{}", self.addr())])
            .status()
            .unwrap();
        assert!(status.success(), "tansu topic create {topic} failed");
    }

    fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "1")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "120000")
            .create()
            .unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Produces `payloads` (partition, bytes) in order and waits until the broker has them all.
fn produce(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    msgs: &[(i32, Vec<u8>)],
) {
    for (partition, payload) in msgs {
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .payload(payload.as_slice())
            .partition(*partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

fn create_source(server: &Server, name: &str, broker: &Broker, topic: &str, table: &str) {
    let (status, body) = post(
        server,
        "/v1/sources",
        json!({"name": name, "type": "kafka", "brokers": broker.addr(), "topic": topic,
               "table": table, "format": "json", "start": "earliest"}),
    );
    assert_eq!(status, 201, "{body}");
}

fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.url))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn request(server: &Server, method: reqwest::Method, path: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .request(method, format!("{}{path}", server.url))
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn count(server: &Server, table: &str) -> i64 {
    let (status, body) = server.sql_raw(&format!("SELECT count(*) FROM {table}"));
    if status != 200 {
        return 0; // not created yet
    }
    body["rows"][0][0].as_i64().unwrap()
}

/// Waits (up to a generous deadline, so that a hang fails instead of blocking CI) until `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn total_lag(server: &Server, source: &str) -> Option<i64> {
    let rows = server.rows(&format!(
        "SELECT lag FROM system.sources WHERE name = '{source}'"
    ));
    rows.iter().map(|r| r[0].as_i64()).sum()
}

/// Acceptance 1: 3 partitions, 100,000 messages (50 malformed), Strata SIGKILLed at least 3
/// times at seeded random moments while it consumes: exactly the good ids, each once, and
/// exactly the 50 bad offsets as dead letters.
#[test]
fn kafka_exactly_once_across_sigkills() {
    const MESSAGES: i64 = 100_000;
    const BAD: usize = 50;
    let seed = std::env::var("STRATA_KAFKA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    eprintln!("kafka crash test seed {seed} (replay with STRATA_KAFKA_SEED={seed})");
    let mut rng = Rng::new(seed);
    let broker_dir = TempDir::new("kafka-broker");
    let broker = Broker::start(broker_dir.path());
    broker.create_topic("events", 3);
    let mut bad_ids = BTreeSet::new();
    while bad_ids.len() < BAD {
        bad_ids.insert(rng.range(0, MESSAGES as u64) as i64);
    }
    // Message i goes to partition i % 3, so its offset there is i / 3.
    let messages: Vec<(i32, Vec<u8>)> = (0..MESSAGES)
        .map(|i| {
            let payload = if bad_ids.contains(&i) {
                format!("{{\"id\": {i}, \"v\": oops")
            } else {
                format!("{{\"id\": {i}, \"v\": \"value {i}\", \"n\": {}}}", i % 97)
            };
            ((i % 3) as i32, payload.into_bytes())
        })
        .collect();
    let expected_bad: BTreeSet<(i64, i64)> = bad_ids.iter().map(|i| (i % 3, i / 3)).collect();

    let data = TempDir::new("kafka-exactly-once");
    let args = ["--segment-rows-max", "7000"];
    let mut server = Server::start_with(data.path(), &args);
    create_source(&server, "events", &broker, "events", "events");
    // The producer feeds the topic in chunks while Strata is killed and restarted.
    let producer_thread = {
        let addr = broker.addr();
        let messages = messages.clone();
        std::thread::spawn(move || {
            let b = Broker {
                dir: PathBuf::new(),
                port: addr.rsplit(':').next().unwrap().parse().unwrap(),
                child: None,
            };
            let producer = b.producer();
            // Small chunks: the source appends many batches of varied sizes while it is killed.
            for chunk in messages.chunks(2_000) {
                produce(&producer, "events", chunk);
                std::thread::sleep(Duration::from_millis(30));
            }
        })
    };
    // Kill when the table passes seeded random row counts (plus a random few milliseconds), so
    // that every kill lands while the source is consuming.
    let kills = 3 + rng.range(0, 2) as usize;
    let mut targets: Vec<i64> = (0..kills)
        .map(|_| rng.range(2_000, 90_000) as i64)
        .collect();
    targets.sort_unstable();
    for (k, target) in targets.iter().enumerate() {
        wait_for("consumption to reach the next kill point", || {
            count(&server, "events") >= *target
        });
        std::thread::sleep(Duration::from_millis(rng.range(0, 100)));
        let before = count(&server, "events");
        server.kill();
        eprintln!("kill {k} at {before} rows (target {target})");
        assert!(
            before < MESSAGES - BAD as i64,
            "consumption ended before kill {k}"
        );
        server = Server::start_with(data.path(), &args);
    }
    producer_thread.join().unwrap();
    let good = MESSAGES - BAD as i64;
    wait_for("every message consumed", || {
        count(&server, "events") >= good
            && server.scalar("SELECT count(*) FROM system.ingest_errors") == json!(BAD)
            && total_lag(&server, "events") == Some(0)
    });
    let row = &server
        .rows("SELECT count(*), count(DISTINCT id), min(id), max(id), sum(id) FROM events")[0];
    let expected_sum: i64 = (0..MESSAGES).filter(|i| !bad_ids.contains(i)).sum();
    assert_eq!(row[0], json!(good), "{row:?}");
    assert_eq!(row[1], json!(good), "duplicates: {row:?}");
    assert_eq!(row[4], json!(expected_sum), "{row:?}");
    let list: Vec<String> = bad_ids.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        server.scalar(&format!(
            "SELECT count(*) FROM events WHERE id IN ({})",
            list.join(", ")
        )),
        json!(0)
    );
    let dead: BTreeSet<(i64, i64)> = server
        .rows("SELECT \"partition\", \"offset\", topic, source FROM system.ingest_errors")
        .iter()
        .map(|r| {
            assert_eq!(r[2], json!("events"));
            assert_eq!(r[3], json!("events"));
            (r[0].as_i64().unwrap(), r[1].as_i64().unwrap())
        })
        .collect();
    assert_eq!(dead, expected_bad);
    let sums = &server.rows(
        "SELECT sum(committed_offset), sum(high_watermark), sum(rows_rejected) \
         FROM system.sources",
    )[0];
    assert_eq!(sums[0], json!(MESSAGES), "{sums:?}");
    assert_eq!(sums[1], json!(MESSAGES), "{sums:?}");
}

/// Acceptance 2: the broker goes away mid-stream; the source reports it and then catches up
/// without loss or duplicates.
#[test]
fn kafka_broker_outage_is_reported_and_recovered() {
    let broker_dir = TempDir::new("kafka-outage-broker");
    let mut broker = Broker::start(broker_dir.path());
    broker.create_topic("clicks", 2);
    let msgs = |from: i64, to: i64| -> Vec<(i32, Vec<u8>)> {
        (from..to)
            .map(|i| ((i % 2) as i32, format!("{{\"id\": {i}}}").into_bytes()))
            .collect()
    };
    produce(&broker.producer(), "clicks", &msgs(0, 5000));
    let data = TempDir::new("kafka-outage");
    let server = Server::start(data.path());
    create_source(&server, "clicks", &broker, "clicks", "clicks");
    wait_for("the first messages", || count(&server, "clicks") > 0);
    broker.stop();
    wait_for("the outage to be reported", || {
        let (_, body) = request(&server, reqwest::Method::GET, "/v1/sources/clicks");
        body["state"] == json!("retrying") && body["last_error"].is_string()
    });
    let rows = server.rows("SELECT state, last_error FROM system.sources WHERE name = 'clicks'");
    assert_eq!(rows[0][0], json!("retrying"), "{rows:?}");
    assert!(rows[0][1].is_string(), "{rows:?}");
    broker.restart();
    produce(&broker.producer(), "clicks", &msgs(5000, 10_000));
    wait_for("catching up", || {
        count(&server, "clicks") >= 10_000 && total_lag(&server, "clicks") == Some(0)
    });
    let row = &server.rows("SELECT count(*), count(DISTINCT id), sum(id) FROM clicks")[0];
    assert_eq!(row[0], json!(10_000));
    assert_eq!(row[1], json!(10_000));
    assert_eq!(row[2], json!((0..10_000i64).sum::<i64>()));
    let (_, body) = request(&server, reqwest::Method::GET, "/v1/sources/clicks");
    assert_eq!(body["state"], json!("running"), "{body}");
}

/// Acceptance 3: pause, resume, restart with a defined source (lag reaches 0), delete; and the
/// API's errors.
#[test]
fn kafka_source_lifecycle() {
    let broker_dir = TempDir::new("kafka-life-broker");
    let broker = Broker::start(broker_dir.path());
    broker.create_topic("orders", 3);
    let producer = broker.producer();
    let msgs = |from: i64, to: i64| -> Vec<(i32, Vec<u8>)> {
        (from..to)
            .map(|i| {
                (
                    (i % 3) as i32,
                    format!("{{\"id\": {i}, \"amount\": {}.5}}", i % 10).into_bytes(),
                )
            })
            .collect()
    };
    produce(&producer, "orders", &msgs(0, 1000));
    let data = TempDir::new("kafka-life");
    let mut server = Server::start(data.path());

    // API errors.
    let (status, body) = post(&server, "/v1/sources", json!({"name": "x"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], json!("INVALID_SOURCE"));
    let (status, _) = post(
        &server,
        "/v1/sources",
        json!({"name": "bad name", "brokers": broker.addr(), "topic": "orders", "table": "o"}),
    );
    assert_eq!(status, 400);
    let (status, body) = request(&server, reqwest::Method::GET, "/v1/sources/nope");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], json!("SOURCE_NOT_FOUND"));
    let (status, _) = post(&server, "/v1/sources/nope/pause", json!({}));
    assert_eq!(status, 404);

    create_source(&server, "orders", &broker, "orders", "orders");
    let (status, body) = post(
        &server,
        "/v1/sources",
        json!({"name": "orders", "brokers": broker.addr(), "topic": "orders", "table": "o2"}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], json!("SOURCE_EXISTS"));
    wait_for("1000 rows", || {
        count(&server, "orders") == 1000 && total_lag(&server, "orders") == Some(0)
    });
    let (_, list) = request(&server, reqwest::Method::GET, "/v1/sources");
    assert_eq!(list["sources"][0]["name"], json!("orders"));
    assert_eq!(list["sources"][0]["rows_ingested"], json!(1000));

    // Paused: nothing is consumed and the lag shows what waits.
    let (status, body) = post(&server, "/v1/sources/orders/pause", json!({}));
    assert_eq!(status, 200, "{body}");
    wait_for("paused", || {
        server.scalar("SELECT min(state) FROM system.sources") == json!("paused")
    });
    produce(&producer, "orders", &msgs(1000, 1500));
    wait_for("the lag of the paused source", || {
        total_lag(&server, "orders") == Some(500)
    });
    assert_eq!(count(&server, "orders"), 1000);

    // Resumed: it catches up.
    let (status, _) = post(&server, "/v1/sources/orders/resume", json!({}));
    assert_eq!(status, 200);
    wait_for("1500 rows", || {
        count(&server, "orders") == 1500 && total_lag(&server, "orders") == Some(0)
    });

    // Restarted: the source is still defined and resumes where the table says.
    server.kill();
    produce(&producer, "orders", &msgs(1500, 2000));
    server = Server::start(data.path());
    wait_for("2000 rows after the restart", || {
        count(&server, "orders") == 2000 && total_lag(&server, "orders") == Some(0)
    });
    let row = &server.rows("SELECT count(DISTINCT id), sum(id) FROM orders")[0];
    assert_eq!(row[0], json!(2000));
    assert_eq!(row[1], json!((0..2000i64).sum::<i64>()));
    assert_eq!(
        server.scalar("SELECT sum(high_watermark) FROM system.sources WHERE name = 'orders'"),
        json!(2000)
    );

    // Deleted: gone from the API and from system.sources, and it consumes no more.
    let (status, _) = request(&server, reqwest::Method::DELETE, "/v1/sources/orders");
    assert_eq!(status, 200);
    let (status, _) = request(&server, reqwest::Method::GET, "/v1/sources/orders");
    assert_eq!(status, 404);
    let (status, _) = request(&server, reqwest::Method::DELETE, "/v1/sources/orders");
    assert_eq!(status, 404);
    assert_eq!(
        server.scalar("SELECT count(*) FROM system.sources"),
        json!(0)
    );
    produce(&producer, "orders", &msgs(2000, 2100));
    server.kill();
    server = Server::start(data.path());
    let (_, list) = request(&server, reqwest::Method::GET, "/v1/sources");
    assert_eq!(list["sources"], json!([]));
    assert_eq!(count(&server, "orders"), 2000);
}
