//! The HTTP API (axum). Blocking work (decoding, the log's fsync, query execution) runs on
//! tokio's blocking pool, never on the async workers.

use std::sync::Arc;

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
use strata_storage::Storage;

use crate::auth::{self, AuthError, Principal};
use crate::config::Config;
use crate::error::ApiError;
use crate::result::{Encoder, Freshness, ResultFormat};
use crate::statement::{Admitted, Protocol, Request, Statements};

/// What every handler shares.
pub struct AppState {
    config: Arc<Config>,
    storage: Arc<Storage>,
    statements: Arc<Statements>,
    /// When this server last acknowledged an ingest (epoch ms; 0: never).
    /// One permit per ingest request that may run at once (`--ingest-concurrency-max`).
    ingest_permits: Arc<tokio::sync::Semaphore>,
}

/// An ingest request over `--ingest-concurrency-max` waits this long for a free place before it
/// is refused with 429 TOO_MANY_INGEST_REQUESTS.
const INGEST_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// A result is sent in chunks of about this many encoded bytes.
const CHUNK_BYTES: usize = 256 << 10;

/// A result batch is encoded this many rows at a time.
const ENCODE_ROWS: usize = 8192;

/// Opens the data directory and serves the HTTP API (and the PostgreSQL endpoint) until SIGINT
/// or SIGTERM.
pub async fn serve(config: Arc<Config>) -> anyhow::Result<()> {
    crate::metrics::install()?;
    let data_dir = config.data_dir.clone();
    let storage_config = config.storage.clone();
    let storage =
        tokio::task::spawn_blocking(move || Storage::open(&data_dir, storage_config)).await??;
    tracing::info!(data_dir = %config.data_dir.display(), tables = storage.table_names().len(), "storage open");
    if let Some(rate) = config.demo_rate {
        crate::demo::start(storage.clone(), rate)?;
    }
    let sources =
        crate::sources::Sources::start(storage.clone(), &config.data_dir, config.ingest.limits)?;
    let queries = Arc::new(crate::queries::Registry::default());
    storage.virtual_tables().register(
        "system",
        "queries",
        Arc::new(crate::queries::QueriesTable(queries.clone())),
    );
    if !config.auth.enabled() {
        tracing::info!("authentication off (no tokens configured)");
    }
    let statements = Arc::new(Statements::new(
        QueryEngine::new(storage.clone()).with_sql_limits(config.query.sql),
        queries,
        config.clone(),
    ));
    let state = Arc::new(AppState {
        config: config.clone(),
        storage,
        statements: statements.clone(),
        ingest_permits: Arc::new(tokio::sync::Semaphore::new(config.ingest.concurrency_max)),
    });
    if let Some(pg_addr) = config.pg_addr {
        // The PostgreSQL endpoint: the same tokens (as passwords), TLS and statement path.
        crate::pg::start(pg_addr, config.clone(), statements).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.http_addr).await?;
    let addr = listener.local_addr()?;
    match &config.tls {
        Some(tls) => {
            tracing::info!("listening on https://{addr}");
            let listener = crate::tls::TlsListener::new(listener, tls.clone())?;
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
    let limit = state.config.body_bytes_max;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/sql", post(sql_post).get(sql_get))
        .route("/v1/queries/{id}", axum::routing::delete(cancel_query))
        .route(
            "/v1/tables/{table}/ingest",
            post(ingest).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                admit_ingest,
            )),
        )
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

/// Admits an ingest request before its body is read: a place among the
/// `--ingest-concurrency-max` running ones (waiting up to [`INGEST_QUEUE_WAIT`] for one), and
/// room in the storage's ingest budget. A refusal (429 with Retry-After) stores nothing; the
/// storage checks its budget again when it appends.
async fn admit_ingest(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let permit = match state.ingest_permits.clone().try_acquire_owned() {
        Ok(permit) => Ok(permit),
        Err(_) => tokio::time::timeout(
            INGEST_QUEUE_WAIT,
            state.ingest_permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| ())
        .and_then(|p| p.map_err(|_| ())),
    };
    let Ok(_permit) = permit else {
        metrics::counter!("strata_ingest_refused_total", "reason" => "concurrency").increment(1);
        let refusal = ApiError::TooManyIngestRequests {
            limit: state.config.ingest.concurrency_max,
        };
        return refuse_unread(request, refusal, state.config.body_bytes_max).await;
    };
    if let Err(e) = state.storage.budget().admit() {
        metrics::counter!("strata_ingest_refused_total", "reason" => "budget").increment(1);
        return refuse_unread(request, ApiError::Storage(e), state.config.body_bytes_max).await;
    }
    next.run(request).await
}

/// Answers `refusal` to a request whose body was not read: the body is read and dropped first,
/// a chunk at a time (up to `limit` bytes), because a client still sending it would otherwise
/// meet a closed connection (a broken pipe) instead of the answer and its `Retry-After`.
async fn refuse_unread(
    request: axum::extract::Request,
    refusal: ApiError,
    limit: usize,
) -> Response {
    use futures_util::StreamExt;
    let mut body = request.into_body().into_data_stream();
    let mut read = 0usize;
    while let Some(Ok(chunk)) = body.next().await {
        read += chunk.len();
        if read > limit {
            break;
        }
    }
    refusal.into_response()
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
    match state.config.auth.authenticate_header(header) {
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
    /// The session time zone of this query (an IANA name; default UTC), as PostgreSQL's
    /// `SET TIME ZONE`.
    #[serde(default)]
    time_zone: Option<String>,
}

/// `DELETE /v1/queries/{id}`: cancels a running query (the caller's own; an admin's: any).
async fn cancel_query(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let any_owner = principal.role == auth::Role::Admin;
    match state
        .statements
        .queries()
        .cancel(&id, &principal.name, any_owner)
    {
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
                 memory_limit_bytes, time_zone): {}",
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
    let body = body_or_error(body, state.config.body_bytes_max)?;
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
            time_zone: None,
        })
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: "INVALID_REQUEST",
            message: format!(
                "the body must be a JSON object like {{\"query\": \"SELECT 1\"}} (optional: \
                 format, timeout_ms, memory_limit_bytes, time_zone): {e}"
            ),
        })
    }
}

/// What the query task sends the response body.
type Chunk = Result<Bytes, ApiError>;

/// Runs a query through the shared statement path ([`Statements`]): the statement runs on the
/// blocking pool, its batches are encoded there and sent through a bounded channel to the
/// response body, so the server holds a few chunks of the result at a time, never all of it.
/// Errors before the first chunk are ordinary error responses; after it, JSON ends with an
/// `"error"` member and the other formats abort the response (the client sees a truncated
/// body, never a silently short one).
async fn run_sql(
    state: Arc<AppState>,
    principal: Principal,
    headers: &HeaderMap,
    request: SqlRequest,
) -> Response {
    let format = match ResultFormat::parse(request.format.as_deref()) {
        Ok(format) => format,
        Err(e) => return e.into_response(),
    };
    let time_zone = match request
        .time_zone
        .as_deref()
        .map(strata_query::parse_time_zone)
    {
        None => None,
        Some(Ok(zone)) => zone,
        Some(Err(e)) => {
            return ApiError::BadRequest {
                code: "INVALID_TIME_ZONE",
                message: e.to_string(),
            }
            .into_response()
        }
    };
    // The client may name the query (header X-Strata-Query-Id), so that it can cancel it while it
    // runs; otherwise the server names it.
    let wanted = headers
        .get("x-strata-query-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let admitted = state
        .statements
        .admit(Request {
            sql: request.query,
            principal,
            protocol: Protocol::Http,
            query_id: wanted,
            timeout_ms: request.timeout_ms,
            memory_limit_bytes: request.memory_limit_bytes,
            time_zone,
        })
        .await;
    let admitted = match admitted {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let id = admitted.id().to_string();
    let mut response = start_query(state, admitted, format).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-strata-query-id", value);
    }
    response
}

async fn start_query(state: Arc<AppState>, admitted: Admitted, format: ResultFormat) -> Response {
    // Dropping the receiver (the client went away, before or during the body) cancels the
    // query.
    let (sender, mut rx) = crate::statement::channel::<Chunk>(&admitted, 4);
    tokio::task::spawn_blocking(move || produce(&state, admitted, format, &sender));
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return e.into_response(),
        None => {
            return ApiError::Internal("the query task ended without an answer".into())
                .into_response()
        }
    };
    // The rest of the body.
    let rest = futures_util::stream::unfold((rx, false), |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        match rx.recv().await {
            Some(Ok(bytes)) => Some((Ok(bytes), (rx, false))),
            Some(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), (rx, false))),
            // The task ended: normally after its last chunk; if not (cancelled while sending),
            // abort the response so the client cannot take a partial result for a whole one.
            None if rx.is_done() => None,
            None => {
                let e = std::io::Error::other("the query was cancelled");
                Some((Err(e), (rx, true)))
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

/// The query task: start the statement, encode its batches, send them.
fn produce(
    state: &AppState,
    admitted: Admitted,
    format: ResultFormat,
    sender: &crate::statement::Sender<Chunk>,
) {
    // An error before the first chunk is the answer; after it, an aborted body (the body ends
    // in an error whether or not this chunk gets through, as the sender is not done).
    let mut running = match admitted.start() {
        Ok(running) => running,
        Err(e) => {
            let _ = sender.send_last(Err(e));
            return;
        }
    };
    let fail = |running: crate::statement::Running, e: ApiError| {
        running.finish(Some(&e));
        let _ = sender.send_last(Err(e));
    };
    let encoding = |e: std::io::Error| ApiError::Internal(format!("writing the result: {e}"));
    let mut encoder = match Encoder::new(format, &running.schema) {
        Ok(encoder) => encoder,
        Err(e) => return fail(running, encoding(e)),
    };
    let max_result_rows = state.config.query.result_rows_max;
    let mut sent_any = false;
    let mut error = None;
    while let Some(batch) = running.next_batch() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        if format == ResultFormat::Json && running.rows() > max_result_rows as u64 {
            error = Some(ApiError::ResultTooLarge {
                limit: max_result_rows,
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
                running.progress();
                if let Err(e) = sender.send(Ok(Bytes::from(encoder.take()))) {
                    // The client went away, cancelled the query, or stopped reading past its
                    // time limit.
                    running.finish(Some(&e));
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
    let stats = running.stop();
    let elapsed = running.elapsed();
    if let Some(e) = error {
        if !sent_any || format != ResultFormat::Json {
            return fail(running, e);
        }
        // JSON whose first rows are out: the error goes into the trailer.
        let trailer = encoder.finish(&stats, elapsed, &freshness(&running), Some(&e));
        running.finish(Some(&e));
        if trailer.is_ok() {
            let _ = sender.send_last(Ok(Bytes::from(encoder.take())));
        }
        return;
    }
    match encoder.finish(&stats, elapsed, &freshness(&running), None) {
        Ok(()) => {
            running.finish(None);
            // Only once the last chunk is queued does the body end normally after it.
            let _ = sender.send_last(Ok(Bytes::from(encoder.take())));
        }
        Err(e) => fail(running, encoding(e)),
    }
}

/// What the answer includes, per table it read: the snapshot's newest acknowledged append.
fn freshness(running: &crate::statement::Running) -> Freshness {
    Freshness {
        newest_ingest_ms: running.freshness.iter().filter_map(|(_, ms)| *ms).max(),
        tables: running.freshness.clone(),
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

/// The response header that marks an answer replayed for a repeated `Idempotency-Key`.
const REPLAYED_HEADER: &str = "idempotent-replayed";

/// An ingest request's `Idempotency-Key` and the fingerprint of what it asks.
struct IdempotencyKey {
    key: String,
    fingerprint: String,
}

/// What an ingest request came to.
enum Ingested {
    /// Decoded and stored (or nothing to store): the table, the rows stored and the answer.
    Stored {
        table: String,
        rows: usize,
        response: String,
    },
    /// A repeated `Idempotency-Key`: the first request's answer; nothing stored.
    Replayed {
        table: String,
        status: u16,
        response: String,
    },
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
    let key = idempotency_key(&headers)?;
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
    let body = body_or_error(body, state.config.body_bytes_max)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let worker = state.clone();
    let (ingested, bytes) = tokio::task::spawn_blocking(move || {
        let body = decompress(&encoding, body, worker.config.body_bytes_max)?;
        let format = body_format(&headers, &body)?;
        let key = key.map(|key| IdempotencyKey {
            fingerprint: fingerprint(format, skip, &body),
            key,
        });
        let ingested = ingest_blocking(&worker, &table, format, &body, skip, key.as_ref())?;
        Ok::<_, ApiError>((ingested, body.len()))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))??;
    let (name, rows, response) = match ingested {
        Ingested::Stored {
            table,
            rows,
            response,
        } => (table, rows, response),
        Ingested::Replayed {
            table,
            status,
            response,
        } => {
            metrics::counter!("strata_idempotent_replays_total", "table" => table).increment(1);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return Ok((
                status,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::HeaderName::from_static(REPLAYED_HEADER), "true"),
                ],
                response,
            )
                .into_response());
        }
    };
    metrics::counter!("strata_ingest_rows_total", "table" => name.clone()).increment(rows as u64);
    metrics::counter!("strata_ingest_bytes_total", "table" => name.clone()).increment(bytes as u64);
    Ok(([(header::CONTENT_TYPE, "application/json")], response).into_response())
}

/// The answer to an ingest request that stored `rows` rows into `table` and (with `skip`) left
/// out the `bad` ones: a JSON line. With an idempotency key (`keyed`) the errors list is cut
/// to fit [`strata_storage::idempotency::RESPONSE_BYTES_MAX`] (`"errors_truncated": true`;
/// `rows_rejected` and `system.ingest_errors` keep the full count), so that the first answer
/// and its replays are the same.
fn ingest_response(
    table: &str,
    rows: usize,
    bad: &[strata_ingest::RowError],
    skip: bool,
    keyed: bool,
) -> String {
    let line = |v: &serde_json::Value| format!("{v}\n");
    if !skip {
        return line(&json!({"table": table, "rows_ingested": rows}));
    }
    let mut errors: Vec<serde_json::Value> = bad
        .iter()
        .map(|e| json!({"line": e.line, "column": e.column, "reason": e.reason}))
        .collect();
    let answer = |errors: &[serde_json::Value], truncated: bool| {
        let mut v = json!({
            "table": table,
            "rows_ingested": rows,
            "rows_rejected": bad.len(),
            "errors": errors,
        });
        if truncated {
            v["errors_truncated"] = json!(true);
        }
        line(&v)
    };
    let mut text = answer(&errors, false);
    while keyed
        && text.len() > strata_storage::idempotency::RESPONSE_BYTES_MAX
        && !errors.is_empty()
    {
        errors.truncate(errors.len() / 2);
        text = answer(&errors, true);
    }
    text
}

/// The `Idempotency-Key` of a request: none, or one valid key. Both the bare form (Stripe's)
/// and the quoted string of the IETF draft (`"key"`) are taken.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidIdempotencyKey {
        reason: reason.to_string(),
    };
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("the header appears more than once"));
    }
    let text = value
        .to_str()
        .map_err(|_| invalid("it has bytes that are not visible ASCII"))?
        .trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    strata_storage::idempotency::validate_key(key).map_err(|reason| invalid(&reason))?;
    Ok(Some(key.to_string()))
}

/// A digest of what an ingest request asks: its format, its `on_error` and its (decompressed)
/// body. A retry digests the same; a different request reusing the key does not.
fn fingerprint(format: Format, skip: bool, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let on_error = if skip { "skip" } else { "abort" };
    hash.update(format!("strata-ingest-1\n{format:?}\n{on_error}\n").as_bytes());
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What an idempotency key lets a request do.
enum KeyAnswer<'a> {
    /// Go on (holding the key in flight when there is one).
    Proceed(Option<strata_storage::idempotency::KeyGuard<'a>>),
    /// Answer the first request's result.
    Replay(Ingested),
}

/// Looks `key` up on table `t`: a replay, a refusal (409 in flight, 422 reused), or go on.
fn hold_key<'a>(
    t: &'a strata_storage::Table,
    key: Option<&IdempotencyKey>,
) -> Result<KeyAnswer<'a>, ApiError> {
    use strata_storage::KeyCheck;
    let Some(key) = key else {
        return Ok(KeyAnswer::Proceed(None));
    };
    match t.check_key(&key.key, &key.fingerprint) {
        KeyCheck::New(guard) => Ok(KeyAnswer::Proceed(Some(guard))),
        KeyCheck::Replay(record) => Ok(KeyAnswer::Replay(Ingested::Replayed {
            table: t.name().to_string(),
            status: record.status,
            response: record.response.clone(),
        })),
        KeyCheck::Mismatch(_) => Err(ApiError::IdempotencyKeyReused {
            key: key.key.clone(),
            table: t.name().to_string(),
        }),
        KeyCheck::InFlight => Err(ApiError::IdempotencyKeyInFlight {
            key: key.key.clone(),
            table: t.name().to_string(),
        }),
    }
}

/// Appends a decoded body to `t` in one log frame with its dead letters and, with a key, the
/// key and the answer (stored together: after a crash both or neither are there).
fn append_body(
    t: &strata_storage::Table,
    batch: Option<arrow::record_batch::RecordBatch>,
    body: &[u8],
    bad: &[strata_ingest::RowError],
    skip: bool,
    key: Option<&IdempotencyKey>,
) -> Result<Ingested, ApiError> {
    let rows = batch.as_ref().map_or(0, |b| b.num_rows());
    let name = t.name().to_string();
    let response = ingest_response(&name, rows, bad, skip, key.is_some());
    let mut meta = dead_letters(body, bad);
    meta.idempotency = key.map(|key| strata_storage::IdempotencyRecord {
        key: key.key.clone(),
        fingerprint: key.fingerprint.clone(),
        time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        status: StatusCode::OK.as_u16(),
        response: response.clone(),
    });
    let outcome = t.append_with(batch, meta)?;
    if !bad.is_empty() {
        tracing::debug!(table = %name, rejected = bad.len(), "ingest skipped bad rows");
    }
    Ok(Ingested::Stored {
        table: name,
        rows: outcome.rows,
        response,
    })
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

/// Decodes and appends a body (or, for a repeated idempotency key, finds the first answer).
fn ingest_blocking(
    state: &AppState,
    table: &str,
    format: Format,
    body: &[u8],
    skip: bool,
    key: Option<&IdempotencyKey>,
) -> Result<Ingested, ApiError> {
    let decode = |schema: Option<&arrow::datatypes::SchemaRef>| {
        if skip {
            strata_ingest::decode_skipping_bad_rows(
                format,
                body,
                schema,
                &state.config.ingest.limits,
                SKIP_ERRORS_MAX,
            )
        } else {
            strata_ingest::decode(format, body, schema, &state.config.ingest.limits)
                .map(|d| (Some(d), vec![]))
        }
    };
    match state.storage.table(table) {
        Ok(t) => {
            // A repeated key is answered before the body is decoded.
            let _guard = match hold_key(&t, key)? {
                KeyAnswer::Replay(replay) => return Ok(replay),
                KeyAnswer::Proceed(guard) => guard,
            };
            let (decoded, bad) = decode(Some(&t.schema()))?;
            append_body(&t, decoded.map(|d| d.batch), body, &bad, skip, key)
        }
        Err(strata_storage::Error::TableNotFound { .. }) => {
            strata_storage::catalog::validate_table_name(table)?;
            let (decoded, bad) = decode(None)?;
            let Some(decoded) = decoded else {
                // Not one good row: no table to create, and none to keep the dead letters (or
                // a key) in: they are reported in the response only.
                let response = ingest_response(table, 0, &bad, skip, key.is_some());
                return Ok(Ingested::Stored {
                    table: table.to_string(),
                    rows: 0,
                    response,
                });
            };
            let def = decoded.table_def(table);
            if state.storage.create_table(def, true)? {
                tracing::info!(table, "created table from ingested data");
            }
            let t = state.storage.table(table)?;
            // A concurrent request with the key may have created the table and stored first.
            let _guard = match hold_key(&t, key)? {
                KeyAnswer::Replay(replay) => return Ok(replay),
                KeyAnswer::Proceed(guard) => guard,
            };
            append_body(&t, Some(decoded.batch), body, &bad, skip, key)
        }
        Err(e) => Err(e.into()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                "idempotency-key",
                axum::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn key_error(values: &[&str]) -> String {
        idempotency_key(&headers(values)).unwrap_err().to_string()
    }

    #[test]
    fn idempotency_keys_are_read_bare_or_quoted_and_checked() {
        assert_eq!(idempotency_key(&headers(&[])).unwrap(), None);
        assert_eq!(
            idempotency_key(&headers(&["abc-1"])).unwrap().as_deref(),
            Some("abc-1")
        );
        assert_eq!(
            idempotency_key(&headers(&["\"abc-1\""]))
                .unwrap()
                .as_deref(),
            Some("abc-1")
        );
        assert!(key_error(&["a", "b"]).contains("more than once"));
        assert!(key_error(&[""]).contains("empty"));
        assert!(key_error(&["\"\""]).contains("empty"));
        assert!(key_error(&[&"k".repeat(256)]).contains("256 bytes"));
        assert!(key_error(&["a b"]).contains("byte 1"));
        let mut latin = HeaderMap::new();
        latin.insert(
            "idempotency-key",
            axum::http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let e = idempotency_key(&latin).unwrap_err().to_string();
        assert!(e.contains("not visible ASCII"), "{e}");
    }

    #[test]
    fn a_request_digests_its_format_options_and_body() {
        let a = fingerprint(Format::NdJson, false, b"{}");
        assert_eq!(a, fingerprint(Format::NdJson, false, b"{}"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint(Format::NdJson, true, b"{}"));
        assert_ne!(a, fingerprint(Format::Csv, false, b"{}"));
        assert_ne!(a, fingerprint(Format::NdJson, false, b"{} "));
    }

    #[test]
    fn a_keyed_answer_cuts_its_errors_to_the_stored_size() {
        let bad: Vec<strata_ingest::RowError> = (1..=1000)
            .map(|line| strata_ingest::RowError {
                line,
                column: Some("n".to_string()),
                reason: "x".repeat(100),
            })
            .collect();
        let full = ingest_response("t", 5, &bad, true, false);
        assert!(full.len() > strata_storage::idempotency::RESPONSE_BYTES_MAX);
        let keyed = ingest_response("t", 5, &bad, true, true);
        assert!(keyed.len() <= strata_storage::idempotency::RESPONSE_BYTES_MAX);
        let v: serde_json::Value = serde_json::from_str(&keyed).unwrap();
        assert_eq!(v["rows_rejected"], 1000);
        assert_eq!(v["errors_truncated"], true);
        let kept = v["errors"].as_array().unwrap().len();
        assert!(kept > 0 && kept < 1000, "{kept}");
        assert_eq!(v["errors"][0]["line"], 1);
        // A small answer is the same with or without a key.
        assert_eq!(
            ingest_response("t", 5, &bad[..2], true, true),
            ingest_response("t", 5, &bad[..2], true, false)
        );
        assert_eq!(
            ingest_response("t", 5, &[], false, true),
            "{\"rows_ingested\":5,\"table\":\"t\"}\n"
        );
    }
}
