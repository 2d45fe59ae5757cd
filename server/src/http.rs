//! The HTTP API (axum). Blocking work (decoding, the log's fsync, query execution) runs on
//! tokio's blocking pool, never on the async workers.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use futures_util::StreamExt;
use strata_query::Access;

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
use strata_storage::{Storage, StorageConfig};

use crate::auth::{self, Auth, AuthError, Principal, Tokens};
use crate::error::ApiError;
use crate::result::{Encoder, Freshness, ResultFormat};
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
    queries: Arc<crate::queries::Registry>,
    auth: Auth,
    /// When this server last acknowledged an ingest (epoch ms; 0: never).
    last_ingest_ms: AtomicI64,
}

/// A result is sent in chunks of about this many encoded bytes.
const CHUNK_BYTES: usize = 256 << 10;

/// A result batch is encoded this many rows at a time.
const ENCODE_ROWS: usize = 8192;

/// Opens the data directory and serves the HTTP API until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut tokens = match &args.auth_file {
        Some(path) => Tokens::from_file(path)?,
        None => Tokens::default(),
    };
    if let Some(list) = &args.tokens {
        tokens.add_list(list)?;
    }
    let public = std::iter::once(args.http_addr)
        .chain(args.pg_addr.0)
        .find(|a| !a.ip().is_loopback());
    if let Some(public) = public {
        if tokens.is_empty() && !args.insecure_no_auth {
            anyhow::bail!(
                "refusing to listen on {public} without authentication: configure tokens \
                 (--auth-file or STRATA_TOKENS=token:role,...), listen on a loopback address, or \
                 pass --insecure-no-auth"
            );
        }
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    crate::metrics::install()?;
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
    let queries = Arc::new(crate::queries::Registry::default());
    storage.virtual_tables().register(
        "system",
        "queries",
        Arc::new(crate::queries::QueriesTable(queries.clone())),
    );
    if tokens.is_empty() {
        tracing::info!("authentication off (no tokens configured)");
    } else {
        tracing::info!(tokens = tokens.len(), "authentication on");
    }
    let state = Arc::new(AppState {
        engine: QueryEngine::new(storage.clone()),
        storage,
        max_body_bytes: args.max_body_bytes,
        query_timeout_ms: args.query_timeout_ms,
        query_memory_limit_bytes: args.query_memory_limit_bytes,
        query_threads: args.query_threads,
        max_result_rows: args.max_result_rows,
        queries,
        auth: Auth::new(tokens),
        last_ingest_ms: AtomicI64::new(0),
    });
    if let Some(pg_addr) = args.pg_addr.0 {
        // The PostgreSQL endpoint: the same tokens (as passwords), TLS and query registry.
        let pg = crate::pg::PgConfig {
            engine: state.engine.clone(),
            query_timeout_ms: args.query_timeout_ms,
            query_memory_limit_bytes: args.query_memory_limit_bytes,
            query_threads: args.query_threads,
            queries: state.queries.clone(),
            auth: state.auth.clone(),
            tls: tls.clone(),
        };
        crate::pg::start(pg_addr, pg).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.http_addr).await?;
    let addr = listener.local_addr()?;
    match tls {
        Some(config) => {
            tracing::info!("listening on https://{addr}");
            let listener = crate::tls::TlsListener::new(listener, config)?;
            axum::serve(
                listener,
                router(state, crate::sources::router(sources.clone())),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
        None => {
            tracing::info!("listening on http://{addr}");
            axum::serve(
                listener,
                router(state, crate::sources::router(sources.clone())),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
    }
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
/// `extra` (the sources API, which has its own state) sits behind the same authentication.
pub fn router(state: Arc<AppState>, extra: Router) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/sql", post(sql_post).get(sql_get))
        .route("/v1/queries/{id}", axum::routing::delete(cancel_query))
        .route("/v1/tables/{table}/ingest", post(ingest))
        .merge(crate::console::routes())
        .fallback(no_route)
        .with_state(state.clone())
        .merge(extra)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            tower_http::compression::CompressionLayer::new()
                .gzip(true)
                .zstd(true),
        )
}

/// Authenticates every request but `/health` and the console's static files (the page, its
/// script and style, the OpenAPI document: no data; the console sends the token with its API
/// calls) — 401 without a valid token when auth is on — and hands the [`Principal`] to the
/// handlers, which check its role. The sources API is checked here: reading sources needs
/// `read`, changing them `admin`.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path == "/health"
        || path == "/"
        || path.starts_with("/console/")
        || path == "/v1/openapi.json"
    {
        return next.run(request).await;
    }
    let sources = path == "/v1/sources" || path.starts_with("/v1/sources/");
    let reading = request.method() == axum::http::Method::GET;
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.authenticate_header(header) {
        Ok(principal) => {
            if sources {
                let access = if reading { Access::Read } else { Access::Admin };
                if let Err(e) = auth::authorize(&principal, access) {
                    return ApiError::Auth(e).into_response();
                }
            }
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => ApiError::Auth(e).into_response(),
    }
}

async fn health() -> Response {
    json_line(json!({"status": "ok"}))
}

/// `GET /metrics`: Prometheus text (read role).
async fn metrics_text(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    auth::authorize(&principal, Access::Read)?;
    let worker = state.clone();
    let text = tokio::task::spawn_blocking(move || crate::metrics::render(&worker.storage))
        .await
        .map_err(|e| ApiError::Internal(format!("metrics task failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
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

/// `DELETE /v1/queries/{id}`: cancels a running query (the caller's own; an admin's: any).
async fn cancel_query(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let any_owner = principal.role == auth::Role::Admin;
    match state.queries.cancel(&id, &principal.name, any_owner) {
        Ok(()) => Ok(json_line(json!({"query_id": id, "cancelled": true}))),
        Err(crate::queries::CancelError::NotFound) => Err(ApiError::NoQuery(id)),
        Err(crate::queries::CancelError::NotOwner) => Err(ApiError::Auth(AuthError::Forbidden {
            role: principal.role.as_str(),
            needed: "admin",
        })),
    }
}

/// `POST /v1/sql`: a JSON request, or the SQL text itself (`text/plain`, `application/sql`).
async fn sql_post(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match parse_sql_post(&state, &headers, body) {
        Ok(request) => run_sql(state, principal, &headers, request).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/sql?query=...&format=...`.
async fn sql_get(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<SqlRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(axum::extract::Query(request)) => run_sql(state, principal, &headers, request).await,
        Err(e) => ApiError::BadRequest {
            code: "INVALID_REQUEST",
            message: format!(
                "GET /v1/sql takes ?query=<SQL> (optional: format, timeout_ms, \
                 memory_limit_bytes): {}",
                e.body_text()
            ),
        }
        .into_response(),
    }
}

fn parse_sql_post(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<SqlRequest, ApiError> {
    let body = body_or_error(body, state.max_body_bytes)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("text/plain") || content_type.starts_with("application/sql") {
        let query = String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest {
            code: "INVALID_BODY",
            message: "the SQL text is not valid UTF-8".to_string(),
        })?;
        Ok(SqlRequest {
            query,
            format: None,
            timeout_ms: None,
            memory_limit_bytes: None,
        })
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: "INVALID_REQUEST",
            message: format!(
                "the body must be a JSON object like {{\"query\": \"SELECT 1\"}} (optional: \
                 format, timeout_ms, memory_limit_bytes): {e}"
            ),
        })
    }
}

/// What the query task sends the response body.
type Chunk = Result<Bytes, ApiError>;

/// Runs a query: the statement runs on the blocking pool, its batches are encoded there and
/// sent through a bounded channel to the response body, so the server holds a few chunks of the
/// result at a time, never all of it. Errors before the first chunk are ordinary error
/// responses; after it, JSON ends with an `"error"` member and the other formats abort the
/// response (the client sees a truncated body, never a silently short one).
async fn run_sql(
    state: Arc<AppState>,
    principal: Principal,
    headers: &HeaderMap,
    request: SqlRequest,
) -> Response {
    // The client may name the query (header X-Strata-Query-Id), so that it can cancel it while it
    // runs; otherwise the server names it.
    let wanted = headers
        .get("x-strata-query-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (id, cancel) = match state
        .queries
        .start(wanted.as_deref(), &request.query, &principal.name)
    {
        Ok(started) => started,
        Err(message) => {
            return ApiError::BadRequest {
                code: "INVALID_QUERY_ID",
                message,
            }
            .into_response()
        }
    };
    let guard = crate::queries::Guard::new(state.queries.clone(), id.clone(), cancel.clone());
    let mut response = match ResultFormat::parse(request.format.as_deref()) {
        Err(e) => {
            guard.finish(Err(e.to_string()));
            e.into_response()
        }
        Ok(format) => start_query(state, principal, request, format, guard, cancel).await,
    };
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-strata-query-id", value);
    }
    response
}

async fn start_query(
    state: Arc<AppState>,
    principal: Principal,
    request: SqlRequest,
    format: ResultFormat,
    guard: crate::queries::Guard,
    cancel: Arc<AtomicBool>,
) -> Response {
    let limits = strata_query::QueryLimits {
        timeout: Some(std::time::Duration::from_millis(
            request.timeout_ms.unwrap_or(state.query_timeout_ms),
        )),
        memory_limit_bytes: Some(
            request
                .memory_limit_bytes
                .unwrap_or(state.query_memory_limit_bytes),
        ),
        cancel: Some(cancel.clone()),
        threads: Some(state.query_threads),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let done = Arc::new(AtomicBool::new(false));
    let task_done = done.clone();
    let task_cancel = cancel.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let sender = Sender {
            handle,
            tx,
            cancel: task_cancel,
        };
        produce(
            &state,
            &principal,
            &request.query,
            format,
            &limits,
            guard,
            &sender,
            &task_done,
        )
    });
    // Dropping this (the client went away, before or during the body) cancels the query.
    let watch = CancelOnDrop { cancel, done };
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return e.into_response(),
        None => {
            return ApiError::Internal("the query task ended without an answer".into())
                .into_response()
        }
    };
    // The rest of the body.
    let rest = futures_util::stream::unfold((rx, watch), |(mut rx, watch)| async move {
        match rx.recv().await {
            Some(Ok(bytes)) => Some((Ok(bytes), (rx, watch))),
            Some(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), (rx, watch))),
            // The task ended: normally after its last chunk; if not (cancelled while sending),
            // abort the response so the client cannot take a partial result for a whole one.
            None if watch.done.load(Ordering::Acquire) => None,
            None => {
                let e = std::io::Error::other("the query was cancelled");
                watch.done.store(true, Ordering::Release);
                Some((Err(e), (rx, watch)))
            }
        }
    });
    // Fused: the compression layer may poll again after the end.
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
        .chain(rest)
        .fuse();
    (
        [(header::CONTENT_TYPE, format.content_type())],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// Sets a query's cancellation flag when the response body is dropped before the query ended.
struct CancelOnDrop {
    cancel: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.done.load(Ordering::Acquire) {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// The query task's end of the channel to the response body.
struct Sender {
    handle: tokio::runtime::Handle,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    cancel: Arc<AtomicBool>,
}

impl Sender {
    /// Sends a chunk, waiting while the channel is full (the client reads slower than the query
    /// produces); false when the body is gone or the query was cancelled meanwhile.
    fn send(&self, chunk: Chunk) -> bool {
        if chunk.is_ok() && self.cancel.load(Ordering::Relaxed) {
            return false;
        }
        loop {
            let wait =
                tokio::time::timeout(std::time::Duration::from_millis(100), self.tx.reserve());
            match self.handle.block_on(wait) {
                Ok(Ok(permit)) => {
                    permit.send(chunk);
                    return true;
                }
                Ok(Err(_)) => return false,
                Err(_) if self.cancel.load(Ordering::Relaxed) => return false,
                Err(_) => continue,
            }
        }
    }
}

/// The query task: parse, authorize, run, encode, send.
#[allow(clippy::too_many_arguments)]
fn produce(
    state: &AppState,
    principal: &Principal,
    sql: &str,
    format: ResultFormat,
    limits: &strata_query::QueryLimits,
    guard: crate::queries::Guard,
    sender: &Sender,
    done: &AtomicBool,
) {
    let started = Instant::now();
    let finish = |guard: crate::queries::Guard, error: Option<&ApiError>| {
        let status = match error {
            None => "ok",
            Some(ApiError::Query(e)) if e.kind() == strata_query::ErrorKind::Cancelled => {
                "cancelled"
            }
            Some(_) => "error",
        };
        metrics::counter!("strata_queries_total", "status" => status).increment(1);
        metrics::histogram!("strata_query_duration_seconds", "status" => status)
            .record(started.elapsed().as_secs_f64());
        guard.finish(match error {
            None => Ok(()),
            Some(e) => Err(e.to_string()),
        });
    };
    // An error: the answer before the first chunk, an aborted body after it (the body ends
    // in an error whether or not this chunk gets through, as `done` stays false).
    let fail = |guard, e: ApiError| {
        finish(guard, Some(&e));
        sender.send(Err(e));
    };
    // The last chunk: only once it is queued does the body end normally after it.
    let last = |bytes: Vec<u8>| {
        if sender.send(Ok(Bytes::from(bytes))) {
            done.store(true, Ordering::Release);
        }
    };
    let statement = match strata_query::parser::parse(sql) {
        Ok(statement) => statement,
        Err(e) => return fail(guard, e.into()),
    };
    if let Err(e) = auth::authorize(principal, strata_query::required_access(&statement)) {
        return fail(guard, e.into());
    }
    let mut stream = match state.engine.execute_statement(&statement, limits) {
        Ok(stream) => stream,
        Err(e) => return fail(guard, e.into()),
    };
    let encoding = |e: std::io::Error| ApiError::Internal(format!("writing the result: {e}"));
    let mut encoder = match Encoder::new(format, &stream.schema) {
        Ok(encoder) => encoder,
        Err(e) => return fail(guard, encoding(e)),
    };
    let mut rows = 0u64;
    let mut sent_any = false;
    let mut error = None;
    while let Some(batch) = stream.next() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                error = Some(ApiError::from(e));
                break;
            }
        };
        rows += batch.num_rows() as u64;
        if format == ResultFormat::Json && rows > state.max_result_rows as u64 {
            error = Some(ApiError::ResultTooLarge {
                limit: state.max_result_rows,
            });
            break;
        }
        // Encoded a slice at a time (zero-copy), so a chunk stays small however large the
        // batches that storage hands out.
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = ENCODE_ROWS.min(batch.num_rows() - offset);
            if let Err(e) = encoder.write_batch(&batch.slice(offset, len)) {
                error = Some(encoding(e));
                break;
            }
            offset += len;
            if encoder.buffered() >= CHUNK_BYTES {
                guard.progress(rows, &stream.stats());
                if !sender.send(Ok(Bytes::from(encoder.take()))) {
                    // The client went away or cancelled the query.
                    let e = ApiError::Query(strata_query::Error::Cancelled);
                    finish(guard, Some(&e));
                    return;
                }
                sent_any = true;
            }
        }
        if error.is_some() {
            break;
        }
    }
    // Stop the plan (and its scan threads) before the trailer.
    let stats = stream.stats();
    drop(stream);
    guard.progress(rows, &stats);
    if let Some(e) = error {
        if !sent_any || format != ResultFormat::Json {
            return fail(guard, e);
        }
        // JSON whose first rows are out: the error goes into the trailer.
        let freshness = freshness(state);
        let trailer = encoder.finish(&stats, started.elapsed(), &freshness, Some(&e));
        finish(guard, Some(&e));
        if trailer.is_ok() {
            last(encoder.take());
        }
        return;
    }
    match encoder.finish(&stats, started.elapsed(), &freshness(state), None) {
        Ok(()) => {
            finish(guard, None);
            last(encoder.take());
        }
        Err(e) => fail(guard, encoding(e)),
    }
}

fn freshness(state: &AppState) -> Freshness {
    let ms = state.last_ingest_ms.load(Ordering::Relaxed);
    Freshness {
        newest_ingest_ms: (ms > 0).then_some(ms),
        // Every query reads a snapshot that includes the live (in-memory) segments.
        live_rows_included: true,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IngestParams {
    /// `abort` (default): a bad row refuses the whole body; `skip`: store the good rows and
    /// report the bad ones.
    #[serde(default)]
    on_error: Option<String>,
}

async fn ingest(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
    params: Result<axum::extract::Query<IngestParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    auth::authorize(&principal, Access::Write)?;
    let params = params
        .map_err(|e| ApiError::BadRequest {
            code: "INVALID_REQUEST",
            message: format!("ingest takes ?on_error=abort|skip: {}", e.body_text()),
        })?
        .0;
    let skip = match params.on_error.as_deref() {
        None | Some("abort") => false,
        Some("skip") => true,
        Some(other) => {
            return Err(ApiError::BadRequest {
                code: "INVALID_REQUEST",
                message: format!("on_error must be abort or skip, not \"{other}\""),
            })
        }
    };
    let body = body_or_error(body, state.max_body_bytes)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let worker = state.clone();
    let (name, rows, bad, bytes) = tokio::task::spawn_blocking(move || {
        let body = decompress(&encoding, body, worker.max_body_bytes)?;
        let format = body_format(&headers, &body)?;
        let (name, rows, bad) = ingest_blocking(&worker, &table, format, &body, skip)?;
        Ok::<_, ApiError>((name, rows, bad, body.len()))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))??;
    metrics::counter!("strata_ingest_rows_total", "table" => name.clone()).increment(rows as u64);
    metrics::counter!("strata_ingest_bytes_total", "table" => name.clone()).increment(bytes as u64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    state.last_ingest_ms.fetch_max(now, Ordering::Relaxed);
    if skip {
        let errors: Vec<serde_json::Value> = bad
            .iter()
            .map(|e| json!({"line": e.line, "column": e.column, "reason": e.reason}))
            .collect();
        Ok(json_line(json!({
            "table": name,
            "rows_ingested": rows,
            "rows_rejected": errors.len(),
            "errors": errors,
        })))
    } else {
        Ok(json_line(json!({"table": name, "rows_ingested": rows})))
    }
}

/// Decodes a `Content-Encoding` (`gzip`, `zstd`, `identity`) into at most `limit` bytes; more
/// is a 413, as for an uncompressed body (a small compressed body can expand enormously).
fn decompress(encoding: &str, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    use std::io::Read;
    let mut out = Vec::new();
    let bad = |e: std::io::Error| ApiError::BadRequest {
        code: "INVALID_BODY",
        message: format!("the {encoding} body does not decompress: {e}"),
    };
    let take = limit as u64 + 1;
    match encoding {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => {
            flate2::read::MultiGzDecoder::new(body.as_ref())
                .take(take)
                .read_to_end(&mut out)
                .map_err(bad)?;
        }
        "zstd" => {
            zstd::stream::read::Decoder::new(body.as_ref())
                .map_err(bad)?
                .take(take)
                .read_to_end(&mut out)
                .map_err(bad)?;
        }
        other => {
            return Err(ApiError::BadRequest {
                code: "UNSUPPORTED_ENCODING",
                message: format!(
                    "unsupported Content-Encoding \"{other}\"; use gzip, zstd or none"
                ),
            })
        }
    }
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(out))
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
        if body.starts_with(b"PAR1") {
            return Ok(Format::Parquet);
        }
        if body.starts_with(&[0xff, 0xff, 0xff, 0xff]) {
            return Ok(Format::ArrowIpc);
        }
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

/// At most this many bad rows are reported (and skipped) per body with `?on_error=skip`.
const SKIP_ERRORS_MAX: usize = 1000;

/// Decodes and appends a body; returns the table's name, the rows stored and (with `skip`) the
/// rows left out.
fn ingest_blocking(
    state: &AppState,
    table: &str,
    format: Format,
    body: &[u8],
    skip: bool,
) -> Result<(String, usize, Vec<strata_ingest::RowError>), ApiError> {
    let decode = |schema: Option<&arrow::datatypes::SchemaRef>| {
        if skip {
            strata_ingest::decode_skipping_bad_rows(format, body, schema, SKIP_ERRORS_MAX)
        } else {
            strata_ingest::decode(format, body, schema).map(|d| (Some(d), vec![]))
        }
    };
    let (name, rows, bad) = match state.storage.table(table) {
        Ok(t) => {
            let (decoded, bad) = decode(Some(&t.schema()))?;
            let meta = dead_letters(body, &bad);
            let rows = t.append_with(decoded.map(|d| d.batch), meta)?.rows;
            (t.name().to_string(), rows, bad)
        }
        Err(strata_storage::Error::TableNotFound { .. }) => {
            strata_storage::catalog::validate_table_name(table)?;
            let (decoded, bad) = decode(None)?;
            let Some(decoded) = decoded else {
                // Not one good row: no table to create, and none to keep the dead letters in
                // (they are reported in the response only).
                return Ok((table.to_string(), 0, bad));
            };
            let def = decoded.table_def(table);
            if state.storage.create_table(def, true)? {
                tracing::info!(table, "created table from ingested data");
            }
            let t = state.storage.table(table)?;
            let outcome = t.append_with(Some(decoded.batch), dead_letters(body, &bad))?;
            (t.name().to_string(), outcome.rows, bad)
        }
        Err(e) => return Err(e.into()),
    };
    if !bad.is_empty() {
        tracing::debug!(table = %name, rejected = bad.len(), "ingest skipped bad rows");
    }
    Ok((name, rows, bad))
}

/// The skipped lines of a body as dead letters (`system.ingest_errors`, source `http`), stored
/// in the same log frame as the body's good rows: both or neither survive a crash.
fn dead_letters(body: &[u8], bad: &[strata_ingest::RowError]) -> strata_storage::AppendMeta {
    let mut meta = strata_storage::AppendMeta::default();
    if bad.is_empty() {
        return meta;
    }
    // Line starts, found once (a body may have up to SKIP_ERRORS_MAX bad lines).
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            body.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    for row in bad {
        let line = row.line.checked_sub(1).and_then(|i| {
            let start = *starts.get(i)?;
            let end = starts.get(i + 1).map_or(body.len(), |e| e - 1);
            body.get(start..end.max(start))
        });
        let mut error =
            strata_storage::IngestError::new("http", row.reason.clone(), line.unwrap_or_default());
        error.line = Some(row.line as u64);
        error.column = row.column.clone();
        meta.errors.push(error);
    }
    meta
}
