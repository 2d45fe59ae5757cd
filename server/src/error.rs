//! Errors as the HTTP API reports them: one status and one stable code per failure, decided in
//! one place ([`ApiError::parts`]), as JSON `{"error": {"code": ..., "message": ...}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The SQL failed.
    #[error(transparent)]
    Query(#[from] strata_query::Error),
    /// Storage refused or failed.
    #[error(transparent)]
    Storage(#[from] strata_storage::Error),
    /// The request body could not be decoded into rows.
    #[error(transparent)]
    Ingest(#[from] strata_ingest::Error),
    /// The request itself is malformed.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The body exceeds the configured limit.
    #[error("the request body exceeds the limit of {limit} bytes; send smaller batches or raise --body-bytes-max")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body's content type is not one Strata reads.
    #[error("unsupported Content-Type \"{0}\"; use application/x-ndjson, text/csv, application/vnd.apache.arrow.stream or application/vnd.apache.parquet")]
    UnsupportedMediaType(String),
    /// No running query has that id.
    #[error("no running query has id \"{0}\"; it finished already, or the id is wrong")]
    NoQuery(String),
    /// A JSON result would have more rows than allowed.
    #[error("the result has more than the {limit} rows the JSON format returns; add a LIMIT, aggregate more, or ask for \"format\": \"ndjson\", \"csv\", \"arrow\" or \"parquet\" (streamed, not capped)")]
    ResultTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The server runs as many statements as it may (`--query-concurrency-max`) and none
    /// finished within the queue wait.
    #[error("the server is running its limit of {limit} statements at once and none finished within {waited_ms} ms; retry shortly (see Retry-After), spread the queries out, or raise --query-concurrency-max")]
    TooManyQueries {
        /// The limit.
        limit: usize,
        /// How long the statement waited for a slot.
        waited_ms: u64,
    },
    /// Authentication or authorization failed.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// No such route.
    #[error("no endpoint {0}; see docs/http-api.md")]
    NoRoute(String),
    /// More ingest requests are running than `--ingest-concurrency-max` allows.
    #[error("{limit} ingest requests are already running, the most this server takes at once (--ingest-concurrency-max); nothing of this request was stored: retry after the Retry-After seconds, or send fewer, larger requests")]
    TooManyIngestRequests {
        /// The limit.
        limit: usize,
    },
    /// The `Idempotency-Key` header is malformed.
    #[error("the Idempotency-Key header is invalid: {reason}; send one key of 1 to 255 visible ASCII characters (a UUID is a good key), once per request, optionally in double quotes")]
    InvalidIdempotencyKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The key was acknowledged within the window for a request with another body or options.
    #[error("Idempotency-Key \"{key}\" was already used for a different request to table \"{table}\" (another body, body format or on_error) acknowledged within the window; nothing was stored: use a new key for a new request, or resend exactly the first request to get its answer")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// The table.
        table: String,
    },
    /// A request with the key is still running.
    #[error("a request with Idempotency-Key \"{key}\" to table \"{table}\" is still running; nothing of this one was stored: retry after it has been answered (see Retry-After) to get its answer")]
    IdempotencyKeyInFlight {
        /// The key.
        key: String,
        /// The table.
        table: String,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Seconds a client should wait before retrying after a full disk (space rarely comes back at
/// once; the background persist retries at most every 16 s).
pub const DISK_FULL_RETRY_AFTER_S: u64 = 10;
/// Seconds a client should wait before retrying after backpressure or too many requests (a
/// persist takes about that long to free memory).
pub const BACKPRESSURE_RETRY_AFTER_S: u64 = 1;

/// The longest error message sent, in characters.
const MESSAGE_CHARS_MAX: usize = 4096;

/// The HTTP status of a storage error.
fn storage_status(e: &strata_storage::Error) -> StatusCode {
    match e {
        strata_storage::Error::TableNotFound { .. }
        | strata_storage::Error::TableDropped { .. } => StatusCode::NOT_FOUND,
        strata_storage::Error::DiskFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
        strata_storage::Error::Backpressure { .. } => StatusCode::TOO_MANY_REQUESTS,
        e if e.is_user_error() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// The HTTP status and the stable code.
    pub fn parts(&self) -> (StatusCode, &'static str) {
        use strata_query::ErrorKind;
        match self {
            // A storage failure behind a statement (FLUSH TABLE, INSERT) answers as it would
            // from ingest: a full disk is a 503 there too.
            ApiError::Query(strata_query::Error::Storage(e)) if e.is_retryable() => {
                (storage_status(e), e.code())
            }
            ApiError::Query(e) => {
                let status = match e.kind() {
                    ErrorKind::User => StatusCode::BAD_REQUEST,
                    ErrorKind::NotFound => StatusCode::NOT_FOUND,
                    ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorKind::Resource => StatusCode::BAD_REQUEST,
                    ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    // Client Closed Request: the status nginx uses for a cancelled request.
                    ErrorKind::Cancelled => {
                        StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
                    }
                };
                (status, e.code())
            }
            ApiError::Storage(e) => (storage_status(e), e.code()),
            ApiError::TooManyIngestRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_INGEST_REQUESTS")
            }
            ApiError::Ingest(e) => (StatusCode::BAD_REQUEST, e.code()),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, "NO_SUCH_ENDPOINT"),
            ApiError::NoQuery(_) => (StatusCode::NOT_FOUND, "QUERY_NOT_FOUND"),
            ApiError::ResultTooLarge { .. } => (StatusCode::BAD_REQUEST, "RESULT_TOO_LARGE"),
            ApiError::TooManyQueries { .. } => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_QUERIES"),
            ApiError::InvalidIdempotencyKey { .. } => {
                (StatusCode::BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY")
            }
            ApiError::IdempotencyKeyReused { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
            }
            ApiError::IdempotencyKeyInFlight { .. } => {
                (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_FLIGHT")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            ApiError::Auth(crate::auth::AuthError::Forbidden { .. }) => {
                (StatusCode::FORBIDDEN, "FORBIDDEN")
            }
            ApiError::Auth(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut message = self.to_string();
        // A message quotes what the client sent (a name, a piece of SQL): never more than a
        // few KiB of it back.
        if let Some((at, _)) = message.char_indices().nth(MESSAGE_CHARS_MAX) {
            let cut = message.len() - at;
            message.truncate(at);
            message.push_str(&format!("... ({cut} more bytes)"));
        }
        let mut error = json!({"code": code, "message": message});
        if let ApiError::Ingest(e) = &self {
            if let Some(line) = e.line() {
                error["line"] = json!(line);
            }
            if let Some(column) = e.column() {
                error["column"] = json!(column);
            }
        }
        if status.is_server_error() {
            tracing::error!(%code, error = %self, "request failed");
        }
        metrics::counter!("strata_errors_total", "code" => code).increment(1);
        let mut response =
            (status, crate::http::json_line(json!({ "error": error }))).into_response();
        let retry_after = match status {
            StatusCode::SERVICE_UNAVAILABLE => Some(DISK_FULL_RETRY_AFTER_S),
            StatusCode::TOO_MANY_REQUESTS => Some(BACKPRESSURE_RETRY_AFTER_S),
            // The running request with the key is usually answered within a second.
            _ if matches!(self, ApiError::IdempotencyKeyInFlight { .. }) => {
                Some(BACKPRESSURE_RETRY_AFTER_S)
            }
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Statements are short: a slot is usually free again within a second.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
