//! The statement path, one for both endpoints: HTTP (`POST /v1/sql`) and PostgreSQL (simple and
//! extended queries) admit, register, limit, run, count and stream a statement here; each
//! endpoint only decodes its request and encodes the batches (HTTP: json/csv/arrow/... in
//! `result`; PostgreSQL: `DataRow`s in `pg::encode`).
//!
//! ```text
//!   Request { sql, principal, protocol, limits }
//!      |
//!      | Statements::admit    a slot: at most --query-concurrency-max run at once; a statement
//!      |                      waits up to --query-queue-wait-ms for one, then is refused
//!      |                      (TOO_MANY_QUERIES); registered in the query registry
//!      |                      (system.queries, DELETE /v1/queries/{id}) with its cancel flag
//!      v
//!   Admitted ---- on the blocking pool ----> Admitted::start: parse, authorize (the statement's
//!      |                                      required access against the principal's role),
//!      v                                      plan and start under the limits
//!   Running   pulled batch by batch (Running::next_batch); the endpoint encodes each batch and
//!      |      sends it through a bounded channel (Sender -> Receiver) to its connection, so a
//!      |      result of any size is held a few chunks at a time
//!      v
//!   Running::finish   strata_queries_total / strata_query_duration_seconds {protocol, status},
//!                     the registry's outcome, the slot freed
//! ```
//!
//! A statement stops when its cancel flag is set: by `DELETE /v1/queries/{id}`, a PostgreSQL
//! CancelRequest (the connection drops the statement's [`Receiver`]), or its client going away
//! (the same). A client that stops reading holds its statement until the statement's time limit.
//!
//! Every use of the query crate's statement API (`parse`, `required_access`,
//! `execute_statement`) is in this file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use strata_query::{QueryEngine, QueryLimits, QueryStats, QueryStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{self, Principal};
use crate::config::Config;
use crate::error::ApiError;
use crate::queries::{Guard, Registry};

/// The endpoint a statement came through (the `protocol` label and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /v1/sql`, `GET /v1/sql`.
    Http,
    /// The PostgreSQL wire protocol.
    Pg,
}

impl Protocol {
    /// `http` or `pg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Pg => "pg",
        }
    }
}

/// One statement a client asks for.
pub struct Request {
    /// The SQL text (one statement).
    pub sql: String,
    /// Who asks.
    pub principal: Principal,
    /// Through which endpoint.
    pub protocol: Protocol,
    /// The id the client chose (HTTP's `X-Strata-Query-Id`), or `None` for a new one.
    pub query_id: Option<String>,
    /// Overrides the configured time limit.
    pub timeout_ms: Option<u64>,
    /// Overrides the configured memory limit.
    pub memory_limit_bytes: Option<usize>,
    /// The session time zone (`None`: UTC), see [`strata_query::QueryLimits::time_zone`].
    pub time_zone: Option<strata_query::TimeZone>,
}

/// What both endpoints share to run statements: the engine, the registry, the limits and the
/// admission slots.
pub struct Statements {
    engine: QueryEngine,
    queries: Arc<Registry>,
    config: Arc<Config>,
    slots: Arc<Semaphore>,
}

impl Statements {
    /// The statement path over `engine`, registering in `queries`, limited by `config.query`.
    pub fn new(engine: QueryEngine, queries: Arc<Registry>, config: Arc<Config>) -> Statements {
        let slots = Arc::new(Semaphore::new(config.query.concurrent_max));
        Statements {
            engine,
            queries,
            config,
            slots,
        }
    }

    /// The engine (for what is not a statement run: PostgreSQL's Describe).
    pub fn engine(&self) -> &QueryEngine {
        &self.engine
    }

    /// The query registry.
    pub fn queries(&self) -> &Arc<Registry> {
        &self.queries
    }

    /// Waits for a slot (at most the configured queue wait) and registers the statement.
    /// Fails with [`ApiError::TooManyQueries`] when no slot freed up in time, and with
    /// `INVALID_QUERY_ID` when the client's id is malformed or in use.
    pub async fn admit(&self, request: Request) -> Result<Admitted, ApiError> {
        let query = &self.config.query;
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let wait =
                    tokio::time::timeout(query.queue_wait, self.slots.clone().acquire_owned());
                match wait.await {
                    Ok(Ok(permit)) => permit,
                    // Timed out (the semaphore is never closed).
                    _ => {
                        let protocol = request.protocol.as_str();
                        metrics::counter!("strata_queries_total", "protocol" => protocol, "status" => "refused")
                            .increment(1);
                        return Err(ApiError::TooManyQueries {
                            limit: query.concurrent_max,
                            waited_ms: query.queue_wait.as_millis() as u64,
                        });
                    }
                }
            }
        };
        let (id, cancel) = self
            .queries
            .start(
                request.query_id.as_deref(),
                &request.sql,
                &request.principal.name,
                request.protocol.as_str(),
            )
            .map_err(|message| ApiError::BadRequest {
                code: "INVALID_QUERY_ID",
                message,
            })?;
        let timeout_ms = request.timeout_ms.unwrap_or(query.timeout_ms);
        let limits = QueryLimits {
            timeout: Some(Duration::from_millis(timeout_ms)),
            memory_limit_bytes: Some(
                request
                    .memory_limit_bytes
                    .unwrap_or(query.memory_limit_bytes),
            ),
            cancel: Some(cancel.clone()),
            threads: Some(query.threads),
            time_zone: request.time_zone,
        };
        metrics::gauge!("strata_queries_running").increment(1.0);
        let started = Instant::now();
        Ok(Admitted {
            engine: self.engine.clone(),
            sql: request.sql,
            principal: request.principal,
            limits,
            deadline: started + Duration::from_millis(timeout_ms),
            timeout_ms,
            record: Record {
                guard: Some(Guard::new(self.queries.clone(), id.clone(), cancel.clone())),
                permit: Some(permit),
                protocol: request.protocol,
                started,
                rows: 0,
            },
            id,
            cancel,
        })
    }
}

/// A statement that holds a slot and is registered, not yet started. Dropping it records it
/// as cancelled.
pub struct Admitted {
    id: String,
    cancel: Arc<AtomicBool>,
    engine: QueryEngine,
    sql: String,
    principal: Principal,
    limits: QueryLimits,
    deadline: Instant,
    timeout_ms: u64,
    record: Record,
}

impl Admitted {
    /// Its id in the registry (`system.queries`, `X-Strata-Query-Id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Parses, authorizes, plans and starts the statement (blocking: call it on the blocking
    /// pool). An error is recorded (metrics, registry) before it is returned.
    pub fn start(mut self) -> Result<Running, ApiError> {
        match self.open() {
            Ok(stream) => Ok(Running {
                schema: stream.schema.clone(),
                freshness: stream.freshness.clone(),
                stream: Some(stream),
                stats: QueryStats::default(),
                record: self.record,
            }),
            Err(e) => {
                self.record.finish(Some(&e));
                Err(e)
            }
        }
    }

    fn open(&self) -> Result<QueryStream, ApiError> {
        let statement = self.engine.parse(&self.sql)?;
        auth::authorize(&self.principal, strata_query::required_access(&statement))?;
        Ok(self.engine.execute_statement(&statement, &self.limits)?)
    }
}

/// A started statement, pulled batch by batch. Dropping it before [`Running::finish`] stops
/// the query and records it as cancelled.
pub struct Running {
    /// The schema of every batch.
    pub schema: SchemaRef,
    /// Per table read: when the newest append the answer includes was acknowledged (epoch
    /// milliseconds).
    pub freshness: Vec<(String, Option<i64>)>,
    stream: Option<QueryStream>,
    stats: QueryStats,
    record: Record,
}

impl Running {
    /// Runs the plan one batch further (on this thread).
    pub fn next_batch(&mut self) -> Option<Result<RecordBatch, ApiError>> {
        let next = self.stream.as_mut()?.next()?;
        Some(match next {
            Ok(batch) => {
                self.record.rows += batch.num_rows() as u64;
                Ok(batch)
            }
            Err(e) => Err(e.into()),
        })
    }

    /// The rows pulled so far.
    pub fn rows(&self) -> u64 {
        self.record.rows
    }

    /// Time since the statement was admitted.
    pub fn elapsed(&self) -> Duration {
        self.record.started.elapsed()
    }

    /// The counters so far (final after [`Running::stop`]).
    pub fn stats(&self) -> QueryStats {
        match &self.stream {
            Some(stream) => stream.stats(),
            None => self.stats.clone(),
        }
    }

    /// Shows the counters so far in `system.queries`.
    pub fn progress(&self) {
        if let Some(guard) = &self.record.guard {
            guard.progress(self.record.rows, &self.stats());
        }
    }

    /// Stops the plan (and its scan threads) and returns its final counters; the statement
    /// still counts as running until [`Running::finish`].
    pub fn stop(&mut self) -> QueryStats {
        if let Some(stream) = self.stream.take() {
            self.stats = stream.stats();
        }
        self.progress();
        self.stats.clone()
    }

    /// The statement ended: successfully (`None`) or with an error.
    pub fn finish(mut self, error: Option<&ApiError>) {
        self.stop();
        self.record.finish(error);
    }
}

/// What a statement leaves behind: its registry entry, its slot, its metrics.
struct Record {
    guard: Option<Guard>,
    permit: Option<OwnedSemaphorePermit>,
    protocol: Protocol,
    started: Instant,
    rows: u64,
}

impl Record {
    fn finish(&mut self, error: Option<&ApiError>) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let status = match error {
            None => "ok",
            Some(ApiError::Query(e)) if e.kind() == strata_query::ErrorKind::Cancelled => {
                "cancelled"
            }
            Some(_) => "error",
        };
        self.count(status);
        guard.finish(match error {
            None => Ok(()),
            Some(e) => Err(e.to_string()),
        });
        self.permit.take();
    }

    fn count(&self, status: &'static str) {
        let protocol = self.protocol.as_str();
        metrics::counter!("strata_queries_total", "protocol" => protocol, "status" => status)
            .increment(1);
        metrics::histogram!("strata_query_duration_seconds", "protocol" => protocol, "status" => status)
            .record(self.started.elapsed().as_secs_f64());
        metrics::gauge!("strata_queries_running").decrement(1.0);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.guard.is_some() {
            // Dropped unfinished: the client went away. The guard records it as cancelled.
            self.count("cancelled");
            self.guard.take();
        }
    }
}

/// A bounded channel from a statement's producer (on the blocking pool) to its connection;
/// dropping the [`Receiver`] before the producer is done cancels the statement.
pub fn channel<T>(admitted: &Admitted, capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    let done = Arc::new(AtomicBool::new(false));
    let sender = Sender {
        handle: tokio::runtime::Handle::current(),
        tx,
        cancel: admitted.cancel.clone(),
        done: done.clone(),
        deadline: admitted.deadline,
        timeout_ms: admitted.timeout_ms,
    };
    let receiver = Receiver {
        rx,
        cancel: admitted.cancel.clone(),
        done,
    };
    (sender, receiver)
}

/// The producer's end of [`channel`].
pub struct Sender<T> {
    handle: tokio::runtime::Handle,
    tx: tokio::sync::mpsc::Sender<T>,
    cancel: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    deadline: Instant,
    timeout_ms: u64,
}

impl<T> Sender<T> {
    /// Sends an item, waiting while the channel is full (the client reads slower than the
    /// statement produces). Fails with `QUERY_CANCELLED` when the connection is gone or the
    /// statement was cancelled meanwhile, and with `QUERY_TIMEOUT` when its time limit passes
    /// while the client does not read.
    pub fn send(&self, item: T) -> Result<(), ApiError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(strata_query::Error::Cancelled.into());
        }
        self.send_anyway(item)
    }

    /// Sends the last item (an error, or the end of the result), even when the statement was
    /// cancelled; once it is queued, the statement is done and dropping the receiver no longer
    /// cancels it.
    pub fn send_last(&self, item: T) -> Result<(), ApiError> {
        self.send_anyway(item)?;
        self.done.store(true, Ordering::Release);
        Ok(())
    }

    fn send_anyway(&self, item: T) -> Result<(), ApiError> {
        loop {
            let wait = tokio::time::timeout(Duration::from_millis(100), self.tx.reserve());
            match self.handle.block_on(wait) {
                Ok(Ok(permit)) => {
                    permit.send(item);
                    return Ok(());
                }
                Ok(Err(_)) => return Err(strata_query::Error::Cancelled.into()),
                Err(_) if self.cancel.load(Ordering::Relaxed) => {
                    return Err(strata_query::Error::Cancelled.into())
                }
                Err(_) if Instant::now() >= self.deadline => {
                    return Err(strata_query::Error::Timeout {
                        limit_ms: self.timeout_ms,
                    }
                    .into())
                }
                Err(_) => continue,
            }
        }
    }
}

/// The connection's end of [`channel`].
pub struct Receiver<T> {
    rx: tokio::sync::mpsc::Receiver<T>,
    cancel: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl<T> Receiver<T> {
    /// The next item; `None` once the producer ended.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// Whether the producer queued its last item ([`Sender::send_last`]).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if !self.is_done() {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }
}
