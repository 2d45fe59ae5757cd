//! The ingest error type.

/// Result of decoding.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a body could not be turned into rows. Every variant is the client's to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body holds no rows.
    #[error("the request body is empty; send one JSON object per line, or CSV with a header row")]
    EmptyBody,
    /// A JSON line is wrong.
    #[error("line {line}{}: {reason}", column.as_ref().map(|c| format!(", column \"{c}\"")).unwrap_or_default())]
    Json {
        /// 1-based line number in the body.
        line: usize,
        /// The column, when one is at fault.
        column: Option<String>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A CSV body is wrong.
    #[error("{}{}: {reason}", line.map(|l| format!("line {l}")).unwrap_or_else(|| "CSV".to_string()), column.as_ref().map(|c| format!(", column \"{c}\"")).unwrap_or_default())]
    Csv {
        /// 1-based line number in the body (the header is line 1), when known.
        line: Option<usize>,
        /// The column, when one is at fault.
        column: Option<String>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A source definition is wrong, or a source could not start.
    #[error("{reason}")]
    Source {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A Parquet body is wrong.
    #[error("invalid Parquet file: {reason}")]
    Parquet {
        /// What is wrong.
        reason: String,
    },
    /// A body is over one of its shape limits ([`crate::Limits`]).
    #[error("{}{found} {}, over the limit of {max} ({}); nothing of this body was stored: send smaller rows, or raise the limit", line.map(|l| format!("line {l}: ")).unwrap_or_default(), kind.what(), kind.flag())]
    Limit {
        /// Which limit.
        kind: crate::LimitKind,
        /// The 1-based line at fault, where the format has lines.
        line: Option<usize>,
        /// What the body had.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// An Arrow IPC body is wrong.
    #[error("invalid Arrow IPC stream: {reason}")]
    Ipc {
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::EmptyBody => "EMPTY_BODY",
            Error::Json { .. } | Error::Csv { .. } => "INVALID_ROW",
            Error::Ipc { .. } | Error::Parquet { .. } => "INVALID_BODY",
            Error::Source { .. } => "INVALID_SOURCE",
            Error::Limit { kind, .. } => kind.code(),
        }
    }

    /// The 1-based line at fault, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Json { line, .. } => Some(*line),
            Error::Csv { line, .. } | Error::Limit { line, .. } => *line,
            _ => None,
        }
    }

    /// What is wrong, without the line and column.
    pub fn reason(&self) -> String {
        match self {
            Error::Json { reason, .. }
            | Error::Csv { reason, .. }
            | Error::Ipc { reason }
            | Error::Parquet { reason }
            | Error::Source { reason } => reason.clone(),
            Error::EmptyBody => self.to_string(),
            Error::Limit {
                kind, found, max, ..
            } => format!(
                "{found} {}, over the limit of {max} ({})",
                kind.what(),
                kind.flag()
            ),
        }
    }

    /// The column at fault, when there is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            Error::Json { column, .. } | Error::Csv { column, .. } => column.as_deref(),
            _ => None,
        }
    }
}
