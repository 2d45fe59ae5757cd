//! The HTTP API (axum). Blocking work (decoding, the log's fsync, query execution) runs on
//! tokio's blocking pool, never on the async workers.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use strata_ingest::Format;
use strata_query::QueryEngine;
use strata_storage::{Storage, StorageConfig, TableDef, TableOptions};

use crate::error::ApiError;
use crate::result::{write_result, ResultFormat};
use crate::ServeArgs;

/// What every handler shares.
pub struct AppState {
    storage: Arc<Storage>,
    engine: QueryEngine,
    max_body_bytes: usize,
    query_timeout_ms: u64,
    query_memory_limit_bytes: usize,
    query_threads: usize,
    max_result_rows: usize,
    queries: crate::queries::Registry,
}

/// Opens the data directory and serves the HTTP API until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = StorageConfig {
        fsync: args.fsync,
        segment_rows_max: args.segment_rows_max.max(1),
        segment_age_max: std::time::Duration::from_secs(args.segment_age_max_s),
        cache_bytes: args.cache_bytes,
        ..StorageConfig::default()
    };
    let data_dir = args.data_dir.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&data_dir, config)).await??;
    tracing::info!(data_dir = %args.data_dir.display(), tables = storage.table_names().len(), "storage open");
    if args.demo {
        crate::demo::start(storage.clone(), args.demo_rate)?;
    }
    let sources = crate::sources::Sources::start(storage.clone(), &args.data_dir)?;
    let state = Arc::new(AppState {
        engine: QueryEngine::new(storage.clone()),
        storage,
        max_body_bytes: args.max_body_bytes,
        query_timeout_ms: args.query_timeout_ms,
        query_memory_limit_bytes: args.query_memory_limit_bytes,
        query_threads: args.query_threads,
        max_result_rows: args.max_result_rows,
        queries: crate::queries::Registry::default(),
    });
    if let Some(pg_addr) = args.pg_addr.0 {
        // The PostgreSQL endpoint: trust authentication for now (password_check: None).
        let pg = crate::pg::PgConfig {
            engine: state.engine.clone(),
            query_timeout_ms: args.query_timeout_ms,
            query_memory_limit_bytes: args.query_memory_limit_bytes,
            query_threads: args.query_threads,
            password_check: None,
        };
        crate::pg::start(pg_addr, pg).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.http_addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");
    let app = router(state).merge(crate::sources::router(sources.clone()));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    sources.stop_all();
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/v1/sql", post(sql))
        .route("/v1/queries/{id}", axum::routing::delete(cancel_query))
        .route("/v1/tables/{table}/ingest", post(ingest))
        .merge(crate::console::routes())
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn health() -> Response {
    json_line(json!({"status": "ok"}))
}

/// A JSON response body ending in a newline (friendlier to curl and to line-oriented tools).
pub fn json_line(value: serde_json::Value) -> Response {
    let mut body = value.to_string();
    body.push('\n');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_string())
}

fn body_or_error(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest {
                code: "INVALID_BODY",
                message: rejection.body_text(),
            }
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    query: String,
    #[serde(default)]
    format: Option<String>,
    /// Overrides --query-timeout-ms for this query.
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Overrides --query-memory-limit-bytes for this query.
    #[serde(default)]
    memory_limit_bytes: Option<usize>,
}

/// `DELETE /v1/queries/{id}`: cancels a running query.
async fn cancel_query(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.queries.cancel(&id) {
        Ok(json_line(json!({"query_id": id, "cancelled": true})))
    } else {
        Err(ApiError::NoQuery(id))
    }
}

async fn sql(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The client may name the query (header X-Strata-Query-Id), so that it can cancel it while it
    // runs; otherwise the server names it.
    let wanted = headers
        .get("x-strata-query-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (id, cancel) = match state.queries.start(wanted.as_deref()) {
        Ok(started) => started,
        Err(message) => {
            return ApiError::BadRequest {
                code: "INVALID_QUERY_ID",
                message,
            }
            .into_response()
        }
    };
    // Dropped when the request ends, also when the client goes away mid-query: that cancels it.
    let guard = crate::queries::Guard::new(&state.queries, id.clone(), cancel.clone());
    let mut response = match run_sql(&state, headers, body, cancel).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    guard.finish();
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-strata-query-id", value);
    }
    response
}

async fn run_sql(
    state: &Arc<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    cancel: Arc<std::sync::atomic::AtomicBool>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body = body_or_error(body, state.max_body_bytes)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request: SqlRequest =
        if content_type.starts_with("text/plain") || content_type.starts_with("application/sql") {
            let query = String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest {
                code: "INVALID_BODY",
                message: "the SQL text is not valid UTF-8".to_string(),
            })?;
            SqlRequest {
                query,
                format: None,
                timeout_ms: None,
                memory_limit_bytes: None,
            }
        } else {
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
                code: "INVALID_REQUEST",
                message: format!(
                    "the body must be a JSON object like {{\"query\": \"SELECT 1\"}} (optional: \
                     format, timeout_ms, memory_limit_bytes): {e}"
                ),
            })?
        };
    let format = ResultFormat::parse(request.format.as_deref())?;
    let limits = strata_query::QueryLimits {
        timeout: Some(std::time::Duration::from_millis(
            request.timeout_ms.unwrap_or(state.query_timeout_ms),
        )),
        memory_limit_bytes: Some(
            request
                .memory_limit_bytes
                .unwrap_or(state.query_memory_limit_bytes),
        ),
        cancel: Some(cancel),
        threads: Some(state.query_threads),
    };
    let engine_state = state.clone();
    let sql = request.query;
    let output =
        tokio::task::spawn_blocking(move || engine_state.engine.execute_with(&sql, &limits))
            .await
            .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))??;
    if format == ResultFormat::Json && output.num_rows() > state.max_result_rows {
        return Err(ApiError::ResultTooLarge {
            rows: output.num_rows(),
            limit: state.max_result_rows,
        });
    }
    let (content_type, bytes) = write_result(format, &output, started.elapsed())?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

async fn ingest(
    State(state): State<Arc<AppState>>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_or_error(body, state.max_body_bytes)?;
    let format = body_format(&headers, &body)?;
    let worker = state.clone();
    let (name, rows) =
        tokio::task::spawn_blocking(move || ingest_blocking(&worker, &table, format, &body))
            .await
            .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))??;
    Ok(json_line(json!({"table": name, "rows_ingested": rows})))
}

/// The body format: from `Content-Type`; when the client sent none (or curl's form default),
/// sniffed from the first byte.
fn body_format(headers: &HeaderMap, body: &[u8]) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if content_type.is_empty()
        || content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("application/octet-stream")
    {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        return Ok(if first == Some(&b'{') {
            Format::NdJson
        } else {
            Format::Csv
        });
    }
    Format::from_content_type(content_type)
        .ok_or_else(|| ApiError::UnsupportedMediaType(content_type.to_string()))
}

fn ingest_blocking(
    state: &AppState,
    table: &str,
    format: Format,
    body: &[u8],
) -> Result<(String, usize), ApiError> {
    match state.storage.table(table) {
        Ok(t) => {
            let decoded = strata_ingest::decode(format, body, Some(&t.schema()))?;
            let outcome = t.append(decoded.batch)?;
            Ok((t.name().to_string(), outcome.rows))
        }
        Err(strata_storage::Error::TableNotFound { .. }) => {
            strata_storage::catalog::validate_table_name(table)?;
            let decoded = strata_ingest::decode(format, body, None)?;
            let def = TableDef {
                name: table.to_string(),
                // Every column nullable (later rows may lack any field) but the time column,
                // which the definition makes NOT NULL.
                schema: std::sync::Arc::new(arrow::datatypes::Schema::new(
                    decoded
                        .batch
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone().with_nullable(true))
                        .collect::<Vec<_>>(),
                )),
                options: TableOptions {
                    time_column: decoded.time_column.clone(),
                    ..Default::default()
                },
            };
            if state.storage.create_table(def, true)? {
                tracing::info!(table, "created table from ingested data");
            }
            let t = state.storage.table(table)?;
            let outcome = t.append(decoded.batch)?;
            Ok((t.name().to_string(), outcome.rows))
        }
        Err(e) => Err(e.into()),
    }
}
