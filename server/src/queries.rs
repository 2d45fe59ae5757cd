//! Running and recent queries: each gets an id (returned in `X-Strata-Query-Id`) and a
//! cancellation flag that `DELETE /v1/queries/{id}` sets, and that is also set when the client
//! goes away. The registry is also the virtual table `system.queries`: the running queries and
//! the last [`RECENT_MAX`] finished ones, with their SQL, state, elapsed time and counters.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use strata_query::QueryStats;
use strata_storage::{Storage, VirtualTable};

/// How many finished queries `system.queries` remembers.
pub const RECENT_MAX: usize = 200;

/// The longest SQL text `system.queries` keeps (longer text is cut, with `...`).
const SQL_MAX: usize = 4096;

/// One query, running or finished.
#[derive(Debug, Clone)]
struct Entry {
    sql: String,
    /// Who started it (the token's name; empty without auth).
    owner: String,
    /// The endpoint it came through: `http` or `pg`.
    protocol: &'static str,
    started_ms: i64,
    started: Instant,
    /// `running`, `finished`, `failed`, `cancelled`.
    state: &'static str,
    elapsed_ms: Option<f64>,
    rows: u64,
    stats: QueryStats,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    running: HashMap<String, (Entry, Arc<AtomicBool>)>,
    recent: VecDeque<(String, Entry)>,
}

/// The running and recent queries.
#[derive(Debug, Default)]
pub struct Registry {
    next: AtomicU64,
    inner: Mutex<Inner>,
}

/// Why a query could not be cancelled.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelError {
    /// No running query has that id.
    NotFound,
    /// It belongs to another client and the caller is not an admin.
    NotOwner,
}

impl Registry {
    /// Registers a new query under the client's id, or a new one; returns the id and the
    /// cancellation flag. Fails when the client's id is malformed or already running.
    pub fn start(
        &self,
        wanted: Option<&str>,
        sql: &str,
        owner: &str,
        protocol: &'static str,
    ) -> Result<(String, Arc<AtomicBool>), String> {
        let id = match wanted {
            Some(id) => {
                let ok = !id.is_empty()
                    && id.len() <= 128
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
                if !ok {
                    return Err(format!(
                        "query id \"{id}\" is not allowed: use 1 to 128 ASCII letters, digits, \
                         '-', '_', '.' or ':'"
                    ));
                }
                id.to_string()
            }
            None => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                format!("q-{:x}-{n}", now_ms())
            }
        };
        let flag = Arc::new(AtomicBool::new(false));
        let mut inner = self.lock();
        if inner.running.contains_key(&id) {
            return Err(format!(
                "a query with id \"{id}\" is already running; pick another id"
            ));
        }
        let mut text = sql.trim().to_string();
        if text.len() > SQL_MAX {
            let mut cut = SQL_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        let entry = Entry {
            sql: text,
            owner: owner.to_string(),
            protocol,
            started_ms: now_ms(),
            started: Instant::now(),
            state: "running",
            elapsed_ms: None,
            rows: 0,
            stats: QueryStats::default(),
            error: None,
        };
        inner.running.insert(id.clone(), (entry, flag.clone()));
        Ok((id, flag))
    }

    /// Sets the cancellation flag of a running query. Only its owner or an admin (`any_owner`)
    /// may cancel it.
    pub fn cancel(&self, id: &str, caller: &str, any_owner: bool) -> Result<(), CancelError> {
        match self.lock().running.get(id) {
            Some((entry, flag)) => {
                if !any_owner && entry.owner != caller {
                    return Err(CancelError::NotOwner);
                }
                flag.store(true, Ordering::Relaxed);
                Ok(())
            }
            None => Err(CancelError::NotFound),
        }
    }

    /// Updates a running query's counters (for `system.queries`).
    pub fn progress(&self, id: &str, rows: u64, stats: &QueryStats) {
        if let Some((entry, _)) = self.lock().running.get_mut(id) {
            entry.rows = rows;
            entry.stats = stats.clone();
        }
    }

    fn finish(&self, id: &str, state: &'static str, error: Option<String>) {
        let mut inner = self.lock();
        if let Some((mut entry, _)) = inner.running.remove(id) {
            entry.state = state;
            entry.error = error;
            entry.elapsed_ms = Some(entry.started.elapsed().as_secs_f64() * 1e3);
            if inner.recent.len() >= RECENT_MAX {
                inner.recent.pop_front();
            }
            inner.recent.push_back((id.to_string(), entry));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unregisters a query when it ends; if it is dropped before [`Guard::finish`] (the client
/// disconnected, the response body was dropped), the query is cancelled and recorded so.
pub struct Guard {
    registry: Arc<Registry>,
    id: String,
    cancel: Arc<AtomicBool>,
    finished: bool,
}

impl Guard {
    /// Guards query `id`.
    pub fn new(registry: Arc<Registry>, id: String, cancel: Arc<AtomicBool>) -> Guard {
        Guard {
            registry,
            id,
            cancel,
            finished: false,
        }
    }

    /// Records the counters so far.
    pub fn progress(&self, rows: u64, stats: &QueryStats) {
        self.registry.progress(&self.id, rows, stats);
    }

    /// The query ended: `Ok` or with an error (its message).
    pub fn finish(mut self, outcome: Result<(), String>) {
        self.finished = true;
        let cancelled = self.cancel.load(Ordering::Relaxed);
        match outcome {
            Ok(()) => self.registry.finish(&self.id, "finished", None),
            Err(e) if cancelled => self.registry.finish(&self.id, "cancelled", Some(e)),
            Err(e) => self.registry.finish(&self.id, "failed", Some(e)),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.store(true, Ordering::Relaxed);
            self.registry.finish(
                &self.id,
                "cancelled",
                Some("the client went away".to_string()),
            );
        }
    }
}

/// `system.queries`.
pub struct QueriesTable(pub Arc<Registry>);

impl VirtualTable for QueriesTable {
    fn schema(&self) -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        Arc::new(Schema::new(vec![
            Field::new("query_id", DataType::Utf8, false),
            Field::new("sql", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            Field::new("user", DataType::Utf8, false),
            Field::new("protocol", DataType::Utf8, false),
            Field::new("started", ts, false),
            Field::new("elapsed_ms", DataType::Float64, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("rows_scanned", DataType::Int64, false),
            Field::new("bytes_scanned", DataType::Int64, false),
            Field::new("segments_scanned", DataType::Int64, false),
            Field::new("segments_pruned", DataType::Int64, false),
            Field::new("error", DataType::Utf8, true),
        ]))
    }

    fn batches(&self, _storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        let entries: Vec<(String, Entry)> = {
            let inner = self.0.lock();
            let mut running: Vec<(String, Entry)> = inner
                .running
                .iter()
                .map(|(id, (e, _))| (id.clone(), e.clone()))
                .collect();
            running.sort_by_key(|(_, e)| e.started_ms);
            running
                .into_iter()
                .chain(inner.recent.iter().rev().cloned())
                .collect()
        };
        let i64s = |f: &dyn Fn(&Entry) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|(_, e)| f(e) as i64),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|(id, _)| id.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|(_, e)| e.sql.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|(_, e)| e.state),
            )),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|(_, e)| e.owner.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|(_, e)| e.protocol),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                entries.iter().map(|(_, e)| e.started_ms),
            )),
            Arc::new(Float64Array::from_iter_values(entries.iter().map(
                |(_, e)| {
                    e.elapsed_ms
                        .unwrap_or_else(|| e.started.elapsed().as_secs_f64() * 1e3)
                },
            ))),
            i64s(&|e| e.rows),
            i64s(&|e| e.stats.rows_scanned),
            i64s(&|e| e.stats.bytes_scanned),
            i64s(&|e| e.stats.segments_scanned),
            i64s(&|e| e.stats.segments_pruned),
            Arc::new(StringArray::from(
                entries
                    .iter()
                    .map(|(_, e)| e.error.clone())
                    .collect::<Vec<_>>(),
            )),
        ];
        Ok(vec![RecordBatch::try_new(self.schema(), columns)?])
    }
}
