//! Kafka sources: a topic consumed into a table, exactly once.
//!
//! ```text
//!  broker --(assign: every partition, at the table's recovered next offsets)--> consumer thread
//!     batch: up to BATCH_MESSAGES messages / BATCH_BYTES bytes / LINGER, closed early when
//!       no message arrived for IDLE_GAP
//!     decode with the NDJSON or CSV decoder (a bad message is found by its line and
//!       becomes a dead letter; the rest are decoded again)
//!     Table::append_with(rows, {offsets: partition -> next offset, errors: dead letters})
//!       one log frame: rows, offsets and dead letters are durable together or not at all
//! ```
//!
//! Strata, not the broker, owns the offsets: partitions are assigned explicitly (no consumer
//! group commits) and every (re)start seeks each partition to `Table::source_offsets(name)`, the
//! next offset of what is durable. So a crash at any moment neither loses nor repeats a message.
//! The consumer appends synchronously: while an append is pending nothing is polled, and
//! librdkafka's prefetch queue is bounded (`queued.max.messages.kbytes`), so memory stays
//! bounded under a fast producer. Broker errors put the source in state `retrying` (the last
//! error is kept) and it reconnects with exponential backoff; the topic's metadata is refreshed
//! periodically so new partitions are picked up (from their beginning).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use strata_storage::{AppendMeta, IngestError, Storage, Table};

use crate::{Error, Format, Result};

/// Messages per batch at most.
pub const BATCH_MESSAGES: usize = 10_000;
/// Payload bytes per batch at most.
pub const BATCH_BYTES: usize = 16 << 20;
/// How long a batch waits for more messages once it has its first.
pub const LINGER: Duration = Duration::from_millis(50);
/// A batch is closed when no message arrived for this long.
pub const IDLE_GAP: Duration = Duration::from_millis(5);
/// How often the topic's partitions and high watermarks are refreshed.
pub const METADATA_INTERVAL: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// A broker unreachable this long gets a fresh client.
const RECONNECT_AFTER: Duration = Duration::from_secs(15);

/// Where a source starts reading a partition it has no stored offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// The first message still in the topic.
    #[default]
    Earliest,
    /// Only messages produced after the source started.
    Latest,
}

/// The message format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MessageFormat {
    /// One JSON object per message.
    #[default]
    Json,
    /// One CSV record per message (no header; the columns are the source's `columns`).
    Csv,
}

/// A source definition, as `POST /v1/sources` takes it and the sources file stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Unique name; also the name under which the table stores the offsets.
    pub name: String,
    /// `kafka` (the only type so far).
    #[serde(rename = "type", default = "kafka_type")]
    pub kind: String,
    /// Bootstrap brokers, `host:port,...`.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The target table (created from the first messages when missing).
    pub table: String,
    /// `json` or `csv`.
    #[serde(default)]
    pub format: MessageFormat,
    /// `earliest` or `latest`.
    #[serde(default)]
    pub start: Start,
    /// For CSV: the column names of the records, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Paused sources keep their definition but do not consume.
    #[serde(default)]
    pub paused: bool,
}

fn kafka_type() -> String {
    "kafka".to_string()
}

impl SourceDef {
    /// Checks the definition; the error says what to fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::Source { reason });
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 128
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return bad(format!(
                "source name \"{}\" must be 1 to 128 characters of a-z, A-Z, 0-9, _ and -",
                self.name
            ));
        }
        if self.kind != "kafka" {
            return bad(format!(
                "source type \"{}\" is not supported; use \"kafka\"",
                self.kind
            ));
        }
        if self.brokers.trim().is_empty() {
            return bad("\"brokers\" must name at least one host:port".to_string());
        }
        if self.topic.trim().is_empty() {
            return bad("\"topic\" must not be empty".to_string());
        }
        if self.table.trim().is_empty() {
            return bad("\"table\" must not be empty".to_string());
        }
        if self.format == MessageFormat::Csv && self.columns.is_empty() {
            return bad(
                "a CSV source needs \"columns\": the column names of its records, in order"
                    .to_string(),
            );
        }
        Ok(())
    }
}

/// One partition as the source sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    /// The next offset to read, of what is durable in the table (`None`: nothing read yet).
    pub committed: Option<i64>,
    /// The partition's high watermark at the last refresh.
    pub high_watermark: Option<i64>,
    /// Rows ingested from it since start-up.
    pub rows: u64,
    /// Messages rejected (dead letters) since start-up.
    pub rejected: u64,
}

impl PartitionStatus {
    /// Messages in the partition not yet ingested.
    pub fn lag(&self) -> Option<i64> {
        let hw = self.high_watermark?;
        Some((hw - self.committed.unwrap_or(0)).max(0))
    }
}

/// A source's state and progress.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    /// `starting`, `running`, `paused`, `retrying`, `error` or `stopped`.
    pub state: String,
    /// The last error, kept until the source runs again.
    pub last_error: Option<String>,
    /// Per partition.
    pub partitions: BTreeMap<i32, PartitionStatus>,
}

/// A running source: a consumer thread and its status.
pub struct KafkaSource {
    def: Mutex<SourceDef>,
    status: Arc<Mutex<SourceStatus>>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("def", &*lock(&self.def))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KafkaSource {
    /// Starts consuming `def` into `storage` on its own thread; a message over `limits` is a
    /// dead letter.
    pub fn start(
        def: SourceDef,
        storage: Arc<Storage>,
        limits: crate::Limits,
    ) -> Result<Arc<KafkaSource>> {
        def.validate()?;
        let status = Arc::new(Mutex::new(SourceStatus {
            state: if def.paused { "paused" } else { "starting" }.to_string(),
            ..Default::default()
        }));
        let paused = Arc::new(AtomicBool::new(def.paused));
        let stop = Arc::new(AtomicBool::new(false));
        let runner = Runner {
            def: def.clone(),
            storage,
            limits,
            status: status.clone(),
            paused: paused.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("source-{}", def.name))
            .spawn(move || runner.run())
            .map_err(|e| Error::Source {
                reason: format!("could not start the consumer thread: {e}"),
            })?;
        Ok(Arc::new(KafkaSource {
            def: Mutex::new(def),
            status,
            paused,
            stop,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// The definition (with its current paused flag).
    pub fn def(&self) -> SourceDef {
        lock(&self.def).clone()
    }

    /// A copy of the status.
    pub fn status(&self) -> SourceStatus {
        lock(&self.status).clone()
    }

    /// Pauses or resumes consumption.
    pub fn set_paused(&self, paused: bool) {
        lock(&self.def).paused = paused;
        self.paused.store(paused, Ordering::Release);
    }

    /// Stops the consumer and waits for its thread (an append in progress completes first).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
        lock(&self.status).state = "stopped".to_string();
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// One message of a batch.
struct Msg {
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
}

/// The consumer thread.
struct Runner {
    limits: crate::Limits,
    def: SourceDef,
    storage: Arc<Storage>,
    status: Arc<Mutex<SourceStatus>>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Runner {
    fn run(self) {
        let mut backoff = BACKOFF_MIN;
        while !self.stop.load(Ordering::Acquire) {
            match self.session() {
                Ok(()) => backoff = BACKOFF_MIN,
                Err(e) => {
                    tracing::warn!(source = %self.def.name, error = %e, "source retrying");
                    self.set_state("retrying", Some(e));
                    let until = Instant::now() + backoff;
                    while Instant::now() < until && !self.stop.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    fn set_state(&self, state: &str, error: Option<String>) {
        let mut s = lock(&self.status);
        s.state = state.to_string();
        if error.is_some() {
            s.last_error = error;
        }
    }

    fn consumer(&self) -> std::result::Result<BaseConsumer, String> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.def.brokers)
            .set("group.id", format!("strata-{}", self.def.name))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // A stored offset the broker no longer has (retention deleted it) resumes at the
            // oldest message still there, not at the end.
            .set("auto.offset.reset", "earliest")
            // The broker answers a fetch at once when data arrives, else after this: low
            // produce-to-queryable latency at the cost of more idle fetches.
            .set("fetch.wait.max.ms", "20")
            .set("queued.max.messages.kbytes", "65536")
            .set("socket.timeout.ms", "5000")
            .set("reconnect.backoff.max.ms", "2000")
            .set("topic.metadata.refresh.interval.ms", "2000")
            .create()
            .map_err(|e| format!("creating the Kafka consumer: {e}"))
    }

    /// The partitions of the topic and their high watermarks.
    fn partitions(&self, consumer: &BaseConsumer) -> std::result::Result<Vec<i32>, String> {
        let metadata = consumer
            .fetch_metadata(Some(&self.def.topic), BROKER_TIMEOUT)
            .map_err(|e| format!("fetching metadata of topic \"{}\": {e}", self.def.topic))?;
        let Some(topic) = metadata.topics().first() else {
            return Err(format!("topic \"{}\" not found", self.def.topic));
        };
        if let Some(e) = topic.error() {
            return Err(format!("topic \"{}\": {:?}", self.def.topic, e));
        }
        let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        if ids.is_empty() {
            return Err(format!("topic \"{}\" has no partitions", self.def.topic));
        }
        Ok(ids)
    }

    /// The offsets stored in the table for this source.
    fn stored_offsets(&self) -> BTreeMap<i32, i64> {
        match self.storage.table(&self.def.table) {
            Ok(t) => t.source_offsets(&self.def.name),
            Err(_) => BTreeMap::new(),
        }
    }

    /// Assigns `partitions` at their next offsets.
    fn assign(
        &self,
        consumer: &BaseConsumer,
        partitions: &[i32],
        next: &BTreeMap<i32, i64>,
        first: bool,
    ) -> std::result::Result<(), String> {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            let offset = match next.get(p) {
                Some(o) => Offset::Offset(*o),
                None if first && self.def.start == Start::Latest => Offset::End,
                None => Offset::Beginning,
            };
            list.add_partition_offset(&self.def.topic, *p, offset)
                .map_err(|e| format!("assigning partition {p}: {e}"))?;
        }
        consumer
            .assign(&list)
            .map_err(|e| format!("assigning partitions: {e}"))
    }

    /// Connects, assigns and consumes until stopped, paused or an error (returned).
    fn session(&self) -> std::result::Result<(), String> {
        let consumer = self.consumer()?;
        let mut partitions = self.partitions(&consumer)?;
        let mut next = self.stored_offsets();
        self.assign(&consumer, &partitions, &next, true)?;
        {
            let mut s = lock(&self.status);
            for p in &partitions {
                let entry = s.partitions.entry(*p).or_default();
                entry.committed = next.get(p).copied();
            }
        }
        self.set_state("running", None);
        lock(&self.status).last_error = None;
        let mut last_refresh = Instant::now() - METADATA_INTERVAL;
        let mut carry: Vec<Msg> = Vec::new();
        let mut failing_since: Option<Instant> = None;
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let paused = self.paused.load(Ordering::Acquire);
            if last_refresh.elapsed() >= METADATA_INTERVAL {
                last_refresh = Instant::now();
                match self.partitions(&consumer) {
                    Ok(now) => {
                        if now != partitions {
                            tracing::info!(source = %self.def.name, partitions = now.len(), "topic partitions changed");
                            partitions = now;
                            self.assign(&consumer, &partitions, &next, false)?;
                        }
                        let fresh = self.refresh_watermarks(&consumer, &partitions);
                        let mut st = lock(&self.status);
                        if fresh && st.state == "retrying" && !paused {
                            st.state = "running".to_string();
                            failing_since = None;
                        }
                    }
                    Err(e) => {
                        self.set_state("retrying", Some(e.clone()));
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > RECONNECT_AFTER {
                            // librdkafka reconnects by itself; a long outage gets a fresh
                            // client, positioned at the stored offsets again.
                            return Err(e);
                        }
                    }
                }
            }
            if paused {
                // Nothing is polled (librdkafka's prefetch stays within its bound); the
                // metadata and high watermarks are still refreshed, so the lag shows what waits.
                if lock(&self.status).state != "paused" {
                    self.set_state("paused", None);
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if lock(&self.status).state == "paused" {
                self.set_state("running", None);
            }
            // Collect a batch.
            let mut batch: Vec<Msg> = std::mem::take(&mut carry);
            let mut bytes: usize = batch.iter().map(|m| m.payload.len()).sum();
            let mut first_at: Option<Instant> = None;
            let mut poll_error: Option<String> = None;
            while batch.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
                // Once a batch has a message it takes what arrives within IDLE_GAP of the last
                // one, for at most LINGER: a lone message is appended within a few ms, a busy
                // stream fills batches.
                let wait = match first_at {
                    Some(t) => match LINGER.checked_sub(t.elapsed()) {
                        Some(w) => w.min(IDLE_GAP),
                        None => break,
                    },
                    None => Duration::from_millis(100),
                };
                match consumer.poll(wait) {
                    None => break,
                    Some(Ok(m)) => {
                        let payload = m.payload().unwrap_or(&[]).to_vec();
                        bytes += payload.len();
                        // A message below the next offset was already ingested (a re-assign
                        // raced a fetch): skip it.
                        if next.get(&m.partition()).is_some_and(|n| m.offset() < *n) {
                            continue;
                        }
                        batch.push(Msg {
                            partition: m.partition(),
                            offset: m.offset(),
                            payload,
                        });
                        first_at.get_or_insert_with(Instant::now);
                    }
                    Some(Err(e)) => {
                        poll_error = Some(format!("consuming: {e}"));
                        break;
                    }
                }
            }
            if let Some(e) = poll_error {
                self.set_state("retrying", Some(e));
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RECONNECT_AFTER {
                    return Err(lock(&self.status)
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "broker unavailable".to_string()));
                }
                carry = batch;
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if batch.is_empty() {
                continue;
            }
            failing_since = None;
            if lock(&self.status).state != "running" {
                self.set_state("running", None);
            }
            match self.ingest(batch) {
                Ok(Outcome::Done(progress)) => {
                    let mut s = lock(&self.status);
                    for (p, (offset, rows, rejected)) in progress {
                        next.insert(p, offset);
                        let entry = s.partitions.entry(p).or_default();
                        entry.committed = Some(offset);
                        entry.rows += rows;
                        entry.rejected += rejected;
                        if entry.high_watermark.is_some_and(|hw| hw < offset) {
                            entry.high_watermark = Some(offset);
                        }
                        let labels = [
                            ("source", self.def.name.clone()),
                            ("partition", p.to_string()),
                        ];
                        metrics::counter!("strata_source_rows_total", &labels).increment(rows);
                        metrics::counter!("strata_source_rejected_total", &labels)
                            .increment(rejected);
                        if let Some(lag) = entry.lag() {
                            metrics::gauge!("strata_source_lag_messages", &labels).set(lag as f64);
                        }
                    }
                }
                Ok(Outcome::Held(msgs)) => carry = msgs,
                Err(e) => {
                    // Nothing of the batch is stored: read it again from the stored offsets.
                    return Err(e);
                }
            }
        }
    }

    /// Refreshes the high watermarks; false when the broker did not answer.
    fn refresh_watermarks(&self, consumer: &BaseConsumer, partitions: &[i32]) -> bool {
        for p in partitions {
            match consumer.fetch_watermarks(&self.def.topic, *p, BROKER_TIMEOUT) {
                Ok((_, high)) => {
                    let mut s = lock(&self.status);
                    let entry = s.partitions.entry(*p).or_default();
                    entry.high_watermark = Some(high);
                    if let Some(lag) = entry.lag() {
                        metrics::gauge!(
                            "strata_source_lag_messages",
                            "source" => self.def.name.clone(),
                            "partition" => p.to_string()
                        )
                        .set(lag as f64);
                    }
                }
                Err(e) => {
                    self.set_state(
                        "retrying",
                        Some(format!("fetching the high watermark of partition {p}: {e}")),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// Decodes and appends one batch with its offsets and dead letters.
    fn ingest(&self, batch: Vec<Msg>) -> std::result::Result<Outcome, String> {
        let table = self.storage.table(&self.def.table).ok();
        let schema = table.as_ref().map(|t| t.schema());
        let (rows, errors) = decode_messages(&self.def, &batch, schema.as_ref(), &self.limits);
        let table = match table {
            Some(t) => t,
            None => match &rows {
                Some(decoded) => self.create_table(decoded)?,
                // Nothing decodable yet to create the table from: keep the messages.
                None => return Ok(Outcome::Held(batch)),
            },
        };
        let batch_rows = rows.as_ref().map(|d| d.batch.clone());
        let meta = self.meta(&batch, errors.clone());
        match table.append_with(batch_rows, meta) {
            Ok(_) => Ok(Outcome::Done(progress(&batch, &errors))),
            Err(e) if e.is_user_error() && batch.len() > 1 => {
                // The rows decode but do not fit the table (a type conflict the decoder could
                // not see): ingest message by message so only the culprits become dead letters.
                tracing::warn!(source = %self.def.name, error = %e, "batch rejected, retrying message by message");
                let mut all: BTreeMap<i32, (i64, u64, u64)> = BTreeMap::new();
                for msg in batch {
                    let one = vec![msg];
                    let (rows, mut errors) =
                        decode_messages(&self.def, &one, Some(&table.schema()), &self.limits);
                    let meta = self.meta(&one, errors.clone());
                    let result = table.append_with(rows.map(|d| d.batch), meta);
                    match result {
                        Ok(_) => {}
                        Err(e) if e.is_user_error() => {
                            errors = vec![self.dead_letter(&one[0], e.to_string())];
                            table
                                .append_with(None, self.meta(&one, errors.clone()))
                                .map_err(|e| format!("appending to \"{}\": {e}", self.def.table))?;
                        }
                        Err(e) => return Err(format!("appending to \"{}\": {e}", self.def.table)),
                    }
                    for (p, (o, r, j)) in progress(&one, &errors) {
                        let entry = all.entry(p).or_default();
                        entry.0 = o;
                        entry.1 += r;
                        entry.2 += j;
                    }
                }
                Ok(Outcome::Done(all))
            }
            Err(e) => Err(format!("appending to \"{}\": {e}", self.def.table)),
        }
    }

    fn meta(&self, batch: &[Msg], errors: Vec<IngestError>) -> AppendMeta {
        let mut offsets = BTreeMap::new();
        for m in batch {
            let next = offsets.entry(m.partition).or_insert(m.offset + 1);
            *next = (*next).max(m.offset + 1);
        }
        let mut meta = AppendMeta {
            errors,
            ..Default::default()
        };
        meta.offsets.insert(self.def.name.clone(), offsets);
        meta
    }

    fn dead_letter(&self, m: &Msg, error: String) -> IngestError {
        dead_letter(&self.def, m, error)
    }

    fn create_table(&self, decoded: &crate::Decoded) -> std::result::Result<Arc<Table>, String> {
        let def = decoded.table_def(&self.def.table);
        let fail = |e: strata_storage::Error| format!("creating table \"{}\": {e}", self.def.table);
        if self.storage.create_table(def, true).map_err(fail)? {
            tracing::info!(table = %self.def.table, source = %self.def.name, "created table from Kafka messages");
        }
        self.storage.table(&self.def.table).map_err(fail)
    }
}

enum Outcome {
    /// Per partition: next offset, rows, rejected.
    Done(BTreeMap<i32, (i64, u64, u64)>),
    /// Nothing stored (the table does not exist and no message decoded): try again with more.
    Held(Vec<Msg>),
}

fn progress(batch: &[Msg], errors: &[IngestError]) -> BTreeMap<i32, (i64, u64, u64)> {
    let mut out: BTreeMap<i32, (i64, u64, u64)> = BTreeMap::new();
    for m in batch {
        let e = out.entry(m.partition).or_default();
        e.0 = e.0.max(m.offset + 1);
        e.1 += 1;
    }
    for err in errors {
        if let Some(p) = err.partition {
            if let Some(e) = out.get_mut(&p) {
                e.1 = e.1.saturating_sub(1);
                e.2 += 1;
            }
        }
    }
    out
}

fn dead_letter(def: &SourceDef, m: &Msg, error: String) -> IngestError {
    let mut e = IngestError::new(&def.name, error, &m.payload);
    e.topic = Some(def.topic.clone());
    e.partition = Some(m.partition);
    e.offset = Some(m.offset);
    e
}

/// Decodes the messages of a batch: the rows of the good ones (`None` when there are none) and a
/// dead letter per bad one. A bad message is found by the decoder's line number; the rest are
/// decoded again without it (bad input pays, good input decodes once).
fn decode_messages(
    def: &SourceDef,
    batch: &[Msg],
    schema: Option<&arrow::datatypes::SchemaRef>,
    limits: &crate::Limits,
) -> (Option<crate::Decoded>, Vec<IngestError>) {
    let mut errors = Vec::new();
    let mut good: Vec<usize> = Vec::with_capacity(batch.len());
    for (i, m) in batch.iter().enumerate() {
        if m.payload.iter().all(|b| b.is_ascii_whitespace()) {
            errors.push(dead_letter(def, m, "empty message".to_string()));
        } else {
            good.push(i);
        }
    }
    let (format, first_line) = match def.format {
        MessageFormat::Json => (Format::NdJson, 1),
        MessageFormat::Csv => (Format::Csv, 2),
    };
    loop {
        if good.is_empty() {
            return (None, errors);
        }
        let mut body = Vec::new();
        if def.format == MessageFormat::Csv {
            body.extend_from_slice(def.columns.join(",").as_bytes());
            body.push(b'\n');
        }
        for i in &good {
            // A raw newline is never inside a JSON string, and a CSV record is one line.
            body.extend(batch[*i].payload.iter().map(|b| match b {
                b'\n' | b'\r' => b' ',
                b => *b,
            }));
            body.push(b'\n');
        }
        match crate::decode(format, &body, schema, limits) {
            Ok(decoded) => {
                if decoded.batch.num_rows() == good.len() {
                    return (Some(decoded), errors);
                }
                // The decoder dropped rows it should not have: reject the whole remainder
                // rather than misattribute offsets.
                for i in good.drain(..) {
                    errors.push(dead_letter(
                        def,
                        &batch[i],
                        "the message did not decode to exactly one row".to_string(),
                    ));
                }
            }
            Err(e) => {
                let at = e
                    .line()
                    .and_then(|l| l.checked_sub(first_line))
                    .filter(|i| *i < good.len());
                match at {
                    Some(i) => {
                        let idx = good.remove(i);
                        errors.push(dead_letter(def, &batch[idx], e.to_string()));
                    }
                    None => {
                        for i in good.drain(..) {
                            errors.push(dead_letter(def, &batch[i], e.to_string()));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> SourceDef {
        SourceDef {
            name: "s".to_string(),
            kind: "kafka".to_string(),
            brokers: "localhost:9092".to_string(),
            topic: "t".to_string(),
            table: "t".to_string(),
            format: MessageFormat::Json,
            start: Start::Earliest,
            columns: Vec::new(),
            paused: false,
        }
    }

    fn msgs(payloads: &[&str]) -> Vec<Msg> {
        payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Msg {
                partition: 0,
                offset: i as i64 + 100,
                payload: p.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn bad_messages_become_dead_letters_and_the_rest_decode() {
        let batch = msgs(&[
            r#"{"id": 1}"#,
            "{not json",
            "",
            "{\"id\":\n 4}",
            r#"{"id": 5}"#,
            "[1, 2]",
        ]);
        let (rows, errors) = decode_messages(&def(), &batch, None, &crate::Limits::default());
        assert_eq!(rows.unwrap().batch.num_rows(), 3);
        let mut bad: Vec<i64> = errors.iter().map(|e| e.offset.unwrap()).collect();
        bad.sort();
        assert_eq!(bad, vec![101, 102, 105]);
        assert!(errors.iter().all(|e| e.topic.as_deref() == Some("t")));
    }

    #[test]
    fn csv_messages_decode_with_the_source_columns() {
        let mut d = def();
        d.format = MessageFormat::Csv;
        d.columns = vec!["id".to_string(), "name".to_string()];
        let (rows, errors) =
            decode_messages(&d, &msgs(&["1,a", "2,b"]), None, &crate::Limits::default());
        assert!(errors.is_empty());
        assert_eq!(rows.unwrap().batch.num_rows(), 2);
    }

    #[test]
    fn definitions_are_validated() {
        assert!(def().validate().is_ok());
        let mut d = def();
        d.name = "no spaces".to_string();
        assert!(d.validate().is_err());
        let mut d = def();
        d.format = MessageFormat::Csv;
        assert!(d.validate().is_err());
    }
}
