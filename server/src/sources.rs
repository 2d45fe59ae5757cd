//! Source management: `POST/GET /v1/sources`, `GET/DELETE /v1/sources/{name}`,
//! `POST /v1/sources/{name}/pause|resume`, and `system.sources`.
//!
//! Definitions are kept in `DATA_DIR/sources.json` (`{"format": "strata-sources", "version": 1,
//! "sources": [SourceDef, ...]}`, replaced atomically: write `sources.tmp`, fsync, rename, fsync
//! the directory) and every source is started again at start-up. The offsets are not in this file:
//! they live in the target table's log and manifest (see `strata_ingest::kafka`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use strata_ingest::kafka::{KafkaSource, SourceDef};
use strata_storage::{Storage, VirtualTable};

const FILE: &str = "sources.json";
const FORMAT: &str = "strata-sources";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SourcesFile {
    format: String,
    version: u32,
    sources: Vec<SourceDef>,
}

/// The sources of one server.
pub struct Sources {
    storage: Arc<Storage>,
    /// The shape limits of a message (`Config::ingest.limits`).
    limits: strata_ingest::Limits,
    path: PathBuf,
    sources: Mutex<BTreeMap<String, Arc<KafkaSource>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error of the sources API: a status, a stable code, a message.
#[derive(Debug)]
pub struct SourceError(StatusCode, &'static str, String);

impl IntoResponse for SourceError {
    fn into_response(self) -> Response {
        if self.0.is_server_error() {
            tracing::error!(code = self.1, error = %self.2, "request failed");
        }
        (
            self.0,
            crate::http::json_line(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

fn not_found(name: &str) -> SourceError {
    SourceError(
        StatusCode::NOT_FOUND,
        "SOURCE_NOT_FOUND",
        format!("no source named \"{name}\"; GET /v1/sources lists them"),
    )
}

fn internal(e: impl std::fmt::Display) -> SourceError {
    SourceError(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string())
}

impl Sources {
    /// Loads the definitions of `data_dir`, starts every source and registers `system.sources`.
    pub fn start(
        storage: Arc<Storage>,
        data_dir: &FsPath,
        limits: strata_ingest::Limits,
    ) -> anyhow::Result<Arc<Sources>> {
        let path = data_dir.join(FILE);
        let defs = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: SourcesFile = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                if file.format != FORMAT || file.version != VERSION {
                    anyhow::bail!(
                        "{}: format {} version {} is not {FORMAT} version {VERSION}",
                        path.display(),
                        file.format,
                        file.version
                    );
                }
                file.sources
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
        };
        let mut map = BTreeMap::new();
        for def in defs {
            let name = def.name.clone();
            map.insert(name, KafkaSource::start(def, storage.clone(), limits)?);
        }
        if !map.is_empty() {
            tracing::info!(sources = map.len(), "sources started");
        }
        let sources = Arc::new(Sources {
            storage: storage.clone(),
            limits,
            path,
            sources: Mutex::new(map),
        });
        storage.virtual_tables().register(
            "system",
            "sources",
            Arc::new(SourcesTable(Arc::downgrade(&sources))),
        );
        Ok(sources)
    }

    /// Stops every source (at shutdown).
    pub fn stop_all(&self) {
        let all: Vec<Arc<KafkaSource>> = lock(&self.sources).values().cloned().collect();
        for s in all {
            s.stop();
        }
    }

    fn save(&self, map: &BTreeMap<String, Arc<KafkaSource>>) -> Result<(), SourceError> {
        let file = SourcesFile {
            format: FORMAT.to_string(),
            version: VERSION,
            sources: map.values().map(|s| s.def()).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(internal)?;
        write_atomic(&self.path, &bytes).map_err(|e| {
            internal(format!(
                "writing {}: {e} (the change is not saved)",
                self.path.display()
            ))
        })
    }

    fn get(&self, name: &str) -> Result<Arc<KafkaSource>, SourceError> {
        lock(&self.sources)
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }
}

fn write_atomic(path: &FsPath, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn view(source: &KafkaSource) -> Value {
    let def = source.def();
    let status = source.status();
    let partitions: Vec<Value> = status
        .partitions
        .iter()
        .map(|(p, s)| {
            json!({"partition": p, "committed_offset": s.committed, "high_watermark":
                s.high_watermark, "lag": s.lag(), "rows_ingested": s.rows,
                "rows_rejected": s.rejected})
        })
        .collect();
    json!({
        "name": def.name, "type": def.kind, "brokers": def.brokers, "topic": def.topic,
        "table": def.table, "format": def.format, "start": def.start, "paused": def.paused,
        "state": status.state, "last_error": status.last_error,
        "lag": status.partitions.values().filter_map(|p| p.lag()).sum::<i64>(),
        "rows_ingested": status.partitions.values().map(|p| p.rows).sum::<u64>(),
        "rows_rejected": status.partitions.values().map(|p| p.rejected).sum::<u64>(),
        "partitions": partitions,
    })
}

fn ok(value: Value) -> Response {
    crate::http::json_line(value)
}

/// The routes of the sources API.
pub fn router(sources: Arc<Sources>) -> Router {
    Router::new()
        .route("/v1/sources", post(create).get(list))
        .route("/v1/sources/{name}", get(show).delete(remove))
        .route("/v1/sources/{name}/pause", post(pause))
        .route("/v1/sources/{name}/resume", post(resume))
        .with_state(sources)
}

async fn create(State(sources): State<Arc<Sources>>, body: Bytes) -> Result<Response, SourceError> {
    let def: SourceDef = serde_json::from_slice(&body).map_err(|e| {
        SourceError(
            StatusCode::BAD_REQUEST,
            "INVALID_SOURCE",
            format!(
                "the body must be a JSON object like {{\"name\": \"clicks\", \"type\": \"kafka\", \
                 \"brokers\": \"host:9092\", \"topic\": \"clicks\", \"table\": \"clicks\", \
                 \"format\": \"json\", \"start\": \"earliest\"}}: {e}"
            ),
        )
    })?;
    def.validate()
        .map_err(|e| SourceError(StatusCode::BAD_REQUEST, "INVALID_SOURCE", e.to_string()))?;
    strata_storage::catalog::validate_table_name(&def.table)
        .map_err(|e| SourceError(StatusCode::BAD_REQUEST, "INVALID_SOURCE", e.to_string()))?;
    let worker = sources.clone();
    tokio::task::spawn_blocking(move || {
        let mut map = lock(&worker.sources);
        if map.contains_key(&def.name) {
            return Err(SourceError(
                StatusCode::CONFLICT,
                "SOURCE_EXISTS",
                format!(
                    "a source named \"{}\" exists; DELETE /v1/sources/{} first",
                    def.name, def.name
                ),
            ));
        }
        if let Some(other) = map
            .values()
            .find(|s| s.def().table.eq_ignore_ascii_case(&def.table) && s.def().topic == def.topic)
        {
            return Err(SourceError(
                StatusCode::CONFLICT,
                "SOURCE_EXISTS",
                format!(
                    "source \"{}\" already feeds topic \"{}\" into table \"{}\"",
                    other.def().name,
                    def.topic,
                    def.table
                ),
            ));
        }
        let source = KafkaSource::start(def.clone(), worker.storage.clone(), worker.limits)
            .map_err(|e| SourceError(StatusCode::BAD_REQUEST, "INVALID_SOURCE", e.to_string()))?;
        map.insert(def.name.clone(), source.clone());
        if let Err(e) = worker.save(&map) {
            map.remove(&def.name);
            source.stop();
            return Err(e);
        }
        tracing::info!(source = %def.name, topic = %def.topic, table = %def.table, "source created");
        Ok((StatusCode::CREATED, ok(view(&source))).into_response())
    })
    .await
    .map_err(internal)?
}

async fn list(State(sources): State<Arc<Sources>>) -> Response {
    let all: Vec<Value> = lock(&sources.sources).values().map(|s| view(s)).collect();
    ok(json!({ "sources": all }))
}

async fn show(
    State(sources): State<Arc<Sources>>,
    Path(name): Path<String>,
) -> Result<Response, SourceError> {
    let source = sources.get(&name)?;
    Ok(ok(view(&source)))
}

async fn remove(
    State(sources): State<Arc<Sources>>,
    Path(name): Path<String>,
) -> Result<Response, SourceError> {
    tokio::task::spawn_blocking(move || {
        let mut map = lock(&sources.sources);
        let Some(source) = map.remove(&name) else {
            return Err(not_found(&name));
        };
        if let Err(e) = sources.save(&map) {
            map.insert(name, source);
            return Err(e);
        }
        drop(map);
        source.stop();
        tracing::info!(source = %name, "source deleted");
        Ok(ok(json!({"name": name, "deleted": true})))
    })
    .await
    .map_err(internal)?
}

async fn pause(
    State(sources): State<Arc<Sources>>,
    Path(name): Path<String>,
) -> Result<Response, SourceError> {
    set_paused(sources, name, true).await
}

async fn resume(
    State(sources): State<Arc<Sources>>,
    Path(name): Path<String>,
) -> Result<Response, SourceError> {
    set_paused(sources, name, false).await
}

async fn set_paused(
    sources: Arc<Sources>,
    name: String,
    paused: bool,
) -> Result<Response, SourceError> {
    tokio::task::spawn_blocking(move || {
        let map = lock(&sources.sources);
        let source = map.get(&name).cloned().ok_or_else(|| not_found(&name))?;
        let was = source.def().paused;
        source.set_paused(paused);
        if let Err(e) = sources.save(&map) {
            source.set_paused(was);
            return Err(e);
        }
        Ok(ok(view(&source)))
    })
    .await
    .map_err(internal)?
}

/// `system.sources`: one row per source and partition.
struct SourcesTable(std::sync::Weak<Sources>);

impl VirtualTable for SourcesTable {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("topic", DataType::Utf8, false),
            Field::new("table", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            Field::new("partition", DataType::Int32, true),
            Field::new("committed_offset", DataType::Int64, true),
            Field::new("high_watermark", DataType::Int64, true),
            Field::new("lag", DataType::Int64, true),
            Field::new("rows_ingested", DataType::Int64, false),
            Field::new("rows_rejected", DataType::Int64, false),
            Field::new("last_error", DataType::Utf8, true),
        ]))
    }

    fn batches(&self, _storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        let all: Vec<Arc<KafkaSource>> = match self.0.upgrade() {
            Some(s) => lock(&s.sources).values().cloned().collect(),
            None => Vec::new(),
        };
        let mut name = Vec::new();
        let mut topic = Vec::new();
        let mut table = Vec::new();
        let mut state = Vec::new();
        let mut partition = Vec::new();
        let mut committed = Vec::new();
        let mut high = Vec::new();
        let mut lag = Vec::new();
        let mut rows = Vec::new();
        let mut rejected = Vec::new();
        let mut error = Vec::new();
        for source in all {
            let def = source.def();
            let status = source.status();
            let mut push = |p: Option<i32>, s: Option<&strata_ingest::kafka::PartitionStatus>| {
                name.push(def.name.clone());
                topic.push(def.topic.clone());
                table.push(def.table.clone());
                state.push(status.state.clone());
                partition.push(p);
                committed.push(s.and_then(|s| s.committed));
                high.push(s.and_then(|s| s.high_watermark));
                lag.push(s.and_then(|s| s.lag()));
                rows.push(s.map_or(0, |s| s.rows as i64));
                rejected.push(s.map_or(0, |s| s.rejected as i64));
                error.push(status.last_error.clone());
            };
            if status.partitions.is_empty() {
                push(None, None);
            }
            for (p, s) in &status.partitions {
                push(Some(*p), Some(s));
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(name)),
            Arc::new(StringArray::from(topic)),
            Arc::new(StringArray::from(table)),
            Arc::new(StringArray::from(state)),
            Arc::new(Int32Array::from(partition)),
            Arc::new(Int64Array::from(committed)),
            Arc::new(Int64Array::from(high)),
            Arc::new(Int64Array::from(lag)),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Int64Array::from(rejected)),
            Arc::new(StringArray::from(error)),
        ];
        Ok(vec![RecordBatch::try_new(self.schema(), columns)?])
    }
}
