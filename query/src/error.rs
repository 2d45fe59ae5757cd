//! The query error type: one enum for the crate, grouped by who is at fault.

use arrow::error::ArrowError;

/// Result of query operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who is at fault for an [`Error`]; the server maps it to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The statement is wrong (HTTP 400).
    User,
    /// The statement names a table that does not exist (HTTP 404).
    NotFound,
    /// Not the user's fault (HTTP 500): a bug in Strata, or the environment failed (disk, I/O;
    /// [`Error::code`] tells which, e.g. `IO_ERROR` vs `INTERNAL`).
    Internal,
    /// The query was cancelled by request (or its client went away).
    Cancelled,
    /// The query ran past its time limit.
    Timeout,
    /// The query needed more than its memory limit.
    Resource,
}

/// Everything that can go wrong while parsing, planning or running a statement.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- resources and guard rails ---
    /// The query was cancelled.
    #[error("the query was cancelled (DELETE /v1/queries/{{id}}, or its client disconnected)")]
    Cancelled,
    /// The query ran past its time limit.
    #[error(
        "the query ran longer than its time limit of {limit_ms} ms; narrow it (a time range, a \
         filter, a LIMIT) or raise the limit (\"timeout_ms\" in the request, --query-timeout-ms)"
    )]
    Timeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The query needed more memory than its limit.
    #[error(
        "the query needs more than its memory limit of {limit_bytes} bytes (for grouping, \
         distinct values or sorting); group by fewer keys, filter more, or raise the limit \
         (\"memory_limit_bytes\" in the request, --query-memory-limit-bytes)"
    )]
    MemoryLimit {
        /// The limit.
        limit_bytes: usize,
    },

    /// The statement text is longer than `--query-bytes-max`.
    #[error(
        "the statement is {bytes} bytes long, over the limit of {limit} bytes; send a shorter \
         statement (a very long IN list can go into a table and a join) or raise the limit \
         (--query-bytes-max, STRATA_QUERY_BYTES_MAX)"
    )]
    QueryTooLarge {
        /// The statement's length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Expressions or subqueries nest deeper than `--expression-depth-max`.
    #[error(
        "the statement nests expressions or subqueries more than {limit} levels deep; flatten it \
         (split a long a + b + c + ... chain with a subquery, or unnest parentheses) or raise the \
         limit (--expression-depth-max, STRATA_EXPRESSION_DEPTH_MAX)"
    )]
    ExpressionTooDeep {
        /// The limit.
        limit: usize,
    },

    // --- the user ---
    /// The SQL text does not parse.
    #[error("syntax error: {message}")]
    SqlSyntax {
        /// The parser's message, with line and column.
        message: String,
    },
    /// No table of that name.
    #[error("table \"{name}\" does not exist; SHOW TABLES lists the tables")]
    TableNotFound {
        /// The name asked for.
        name: String,
    },
    /// A table of that name exists already.
    #[error(
        "table \"{name}\" already exists; use CREATE TABLE IF NOT EXISTS or pick another name"
    )]
    TableExists {
        /// The name asked for.
        name: String,
    },
    /// No column of that name in scope.
    #[error("column \"{name}\" does not exist{}; columns are: {}", in_table(.table), .candidates.join(", "))]
    ColumnNotFound {
        /// The name asked for.
        name: String,
        /// The table searched, when there is one.
        table: Option<String>,
        /// The columns that do exist.
        candidates: Vec<String>,
    },
    /// A column name matches several columns that differ only by case.
    #[error("column reference \"{name}\" is ambiguous: it matches {}; quote the exact name", .matches.join(", "))]
    AmbiguousColumn {
        /// The name asked for.
        name: String,
        /// The columns it could mean.
        matches: Vec<String>,
    },
    /// Operand types do not fit an operator or function.
    #[error("type mismatch: {message}")]
    TypeMismatch {
        /// What does not fit and how to fix it.
        message: String,
    },
    /// A column used outside an aggregate is not grouped.
    #[error(
        "column \"{name}\" must appear in the GROUP BY clause or be used in an aggregate function"
    )]
    NotGrouped {
        /// The column.
        name: String,
    },
    /// Valid SQL that Strata does not support (yet).
    #[error("not supported: {feature}")]
    Unsupported {
        /// What is not supported, and the alternative when there is one.
        feature: String,
    },
    /// Division (or modulo) by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// A value does not fit its type.
    #[error(
        "numeric overflow: {message}; cast the operands to a wider type such as BIGINT or DOUBLE"
    )]
    NumericOverflow {
        /// What overflowed.
        message: String,
    },
    /// A named object that is not a table or column does not exist: a type, schema or
    /// relation named in a PostgreSQL object-identifier cast (`'x'::regtype`).
    #[error("{message}")]
    UndefinedObject {
        /// What does not exist, as PostgreSQL says it (`type "x" does not exist`).
        message: String,
    },
    /// A value or argument is not acceptable (a bad cast, a bad LIMIT, a bad table option).
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong and how to fix it.
        message: String,
    },

    // --- the environment and storage ---
    /// The storage engine refused or failed.
    #[error(transparent)]
    Storage(strata_storage::Error),

    // --- bugs ---
    /// An Arrow kernel failed where it should not.
    #[error("internal error (arrow): {0}")]
    Arrow(ArrowError),
    /// A broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

fn in_table(table: &Option<String>) -> String {
    match table {
        Some(t) => format!(" in table \"{t}\""),
        None => String::new(),
    }
}

impl From<ArrowError> for Error {
    fn from(e: ArrowError) -> Self {
        match e {
            ArrowError::DivideByZero => Error::DivisionByZero,
            ArrowError::ArithmeticOverflow(message) => Error::NumericOverflow { message },
            ArrowError::CastError(message) | ArrowError::ParseError(message) => {
                Error::InvalidArgument { message }
            }
            ArrowError::ComputeError(message) if message.contains("Overflow") => {
                Error::NumericOverflow { message }
            }
            other => Error::Arrow(other),
        }
    }
}

impl From<strata_storage::Error> for Error {
    fn from(e: strata_storage::Error) -> Self {
        match e {
            strata_storage::Error::TableNotFound { name }
            | strata_storage::Error::TableDropped { name } => Error::TableNotFound { name },
            strata_storage::Error::TableExists { name } => Error::TableExists { name },
            other => Error::Storage(other),
        }
    }
}

impl From<sqlparser::parser::ParserError> for Error {
    fn from(e: sqlparser::parser::ParserError) -> Self {
        let message = match e {
            sqlparser::parser::ParserError::TokenizerError(m)
            | sqlparser::parser::ParserError::ParserError(m) => m,
            sqlparser::parser::ParserError::RecursionLimitExceeded => {
                "statement nested too deeply".to_string()
            }
        };
        Error::SqlSyntax { message }
    }
}

/// The most characters of a statement an error message quotes.
pub const QUOTED_CHARS_MAX: usize = 200;

impl Error {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Cancelled => "QUERY_CANCELLED",
            Error::Timeout { .. } => "QUERY_TIMEOUT",
            Error::MemoryLimit { .. } => "MEMORY_LIMIT_EXCEEDED",
            Error::QueryTooLarge { .. } => "QUERY_TOO_LARGE",
            Error::ExpressionTooDeep { .. } => "EXPRESSION_TOO_DEEP",
            Error::SqlSyntax { .. } => "SQL_SYNTAX",
            Error::TableNotFound { .. } => "TABLE_NOT_FOUND",
            Error::TableExists { .. } => "TABLE_EXISTS",
            Error::ColumnNotFound { .. } => "COLUMN_NOT_FOUND",
            Error::AmbiguousColumn { .. } => "AMBIGUOUS_COLUMN",
            Error::TypeMismatch { .. } => "TYPE_MISMATCH",
            Error::NotGrouped { .. } => "NOT_GROUPED",
            Error::Unsupported { .. } => "UNSUPPORTED",
            Error::DivisionByZero => "DIVISION_BY_ZERO",
            Error::NumericOverflow { .. } => "NUMERIC_OVERFLOW",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::UndefinedObject { .. } => "UNDEFINED_OBJECT",
            Error::Storage(e) => e.code(),
            Error::Arrow(_) | Error::Internal(_) => "INTERNAL",
        }
    }

    /// Who is at fault, for the server's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::TableNotFound { .. } => ErrorKind::NotFound,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::MemoryLimit { .. } => ErrorKind::Resource,
            Error::Storage(e) if e.is_user_error() => ErrorKind::User,
            Error::Storage(_) => ErrorKind::Internal,
            Error::Arrow(_) | Error::Internal(_) => ErrorKind::Internal,
            _ => ErrorKind::User,
        }
    }

    /// Shorthand for [`Error::Unsupported`]. The feature's text (which may quote a piece of the
    /// statement) is cut at [`QUOTED_CHARS_MAX`] characters.
    pub(crate) fn unsupported(feature: impl Into<String>) -> Self {
        let mut feature: String = feature.into();
        if let Some((at, _)) = feature.char_indices().nth(QUOTED_CHARS_MAX) {
            feature.truncate(at);
            feature.push_str("...");
        }
        Error::Unsupported { feature }
    }

    /// Shorthand for [`Error::TypeMismatch`].
    pub(crate) fn mismatch(message: impl Into<String>) -> Self {
        Error::TypeMismatch {
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Internal`].
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }
}
