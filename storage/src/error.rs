//! The storage error type.

use std::path::PathBuf;

/// Result of storage operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage engine, grouped by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the user ---
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
    /// The name cannot be used for a table.
    #[error("invalid table name \"{name}\": {reason}")]
    InvalidTableName {
        /// The name asked for.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// A table definition is inconsistent.
    #[error("invalid table definition: {reason}")]
    InvalidSchema {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Incoming data has a column whose type conflicts with the table's column.
    #[error(
        "column \"{column}\" is {existing} in table \"{table}\" but the data has {incoming} values \
         that cannot be converted: {reason}"
    )]
    SchemaConflict {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's SQL type.
        existing: String,
        /// The incoming SQL type.
        incoming: String,
        /// Why the conversion failed.
        reason: String,
    },
    /// Incoming data has no value for a NOT NULL column.
    #[error(
        "column \"{column}\" of table \"{table}\" is NOT NULL but {count} row(s) have no value"
    )]
    NullInNotNull {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// How many rows lack a value.
        count: usize,
    },
    /// The table was dropped while the operation ran.
    #[error("table \"{name}\" was dropped")]
    TableDropped {
        /// The table.
        name: String,
    },

    /// A column name is longer than [`crate::catalog::COLUMN_NAME_BYTES_MAX`].
    #[error(
        "column name \"{name}\" is {bytes} bytes long, over the limit of {max}; use a shorter \
         name (a long key belongs in a value, not a column name)"
    )]
    IdentifierTooLong {
        /// The name's start.
        name: String,
        /// Its length in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A table would have more columns than the server allows.
    #[error(
        "table \"{table}\" would have {columns} columns, over the limit of {max} \
         (--table-columns-max); nothing was stored: send fewer distinct fields (a field per \
         user or per id belongs in a value, not a column name), or raise the limit"
    )]
    TooManyColumns {
        /// The table.
        table: String,
        /// The columns it would have.
        columns: usize,
        /// The limit.
        max: usize,
    },

    // --- resources ---
    /// The file system is full (`ENOSPC`, or a quota: `EDQUOT`). Nothing of the failed
    /// operation was kept: a log append was taken back, temporary files were removed, the
    /// manifest still lists only complete files. Acknowledged rows stay; the background persist
    /// retries by itself once space is freed.
    #[error(
        "the disk is full ({op} {path}: {source}); nothing of this request was stored and every \
         acknowledged row is safe: free space on the data directory's file system (or grow it), \
         then retry; the server resumes by itself"
    )]
    DiskFull {
        /// What was being done.
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Ingest outruns persistence: the unpersisted rows in memory, or the write-ahead log, are
    /// over their budget. Nothing of the refused append was stored; persistence has been asked
    /// to catch up.
    #[error(
        "ingest is ahead of persistence: {what} holds {used} bytes, over its budget of {budget} \
         bytes ({flag}); nothing of this request was stored: retry after a short pause (the \
         server is persisting), send less at a time, or raise the budget"
    )]
    Backpressure {
        /// Which budget: "unpersisted rows in memory" or "the write-ahead log".
        what: &'static str,
        /// Bytes in use.
        used: u64,
        /// The budget in bytes.
        budget: u64,
        /// The flag that sets it.
        flag: &'static str,
    },

    // --- the environment ---
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file's content is damaged beyond the tail of the log.
    #[error("corrupt file {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write or fsync of this table's log failed; the log refuses further writes
    /// until the server is restarted (after an fsync failure the page cache can no longer be
    /// trusted).
    #[error(
        "the write-ahead log of table \"{table}\" failed earlier ({reason}); restart the server"
    )]
    WalPoisoned {
        /// The table.
        table: String,
        /// The first failure.
        reason: String,
    },

    // --- bugs ---
    /// An Arrow operation failed where it should not.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True when the error is a resource limit that clears by itself (a full disk, ingest
    /// backpressure): the client should retry later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::DiskFull { .. } | Error::Backpressure { .. })
    }

    /// True when the caller (user input) is at fault rather than the server.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::TableNotFound { .. }
                | Error::TableExists { .. }
                | Error::InvalidTableName { .. }
                | Error::InvalidSchema { .. }
                | Error::SchemaConflict { .. }
                | Error::NullInNotNull { .. }
                | Error::TableDropped { .. }
                | Error::TooManyColumns { .. }
                | Error::IdentifierTooLong { .. }
        )
    }

    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TableNotFound { .. } => "TABLE_NOT_FOUND",
            Error::TableExists { .. } => "TABLE_EXISTS",
            Error::InvalidTableName { .. } => "INVALID_TABLE_NAME",
            Error::InvalidSchema { .. } => "INVALID_SCHEMA",
            Error::TooManyColumns { .. } => "TOO_MANY_COLUMNS",
            Error::IdentifierTooLong { .. } => "IDENTIFIER_TOO_LONG",
            Error::SchemaConflict { .. } => "TYPE_MISMATCH",
            Error::NullInNotNull { .. } => "NULL_IN_NOT_NULL",
            Error::TableDropped { .. } => "TABLE_NOT_FOUND",
            Error::DiskFull { .. } => "DISK_FULL",
            Error::Backpressure { .. } => "INGEST_BACKPRESSURE",
            Error::Io { .. } => "IO_ERROR",
            Error::Corrupt { .. } => "CORRUPT_DATA",
            Error::WalPoisoned { .. } => "WAL_FAILED",
            Error::Arrow(_) | Error::Internal(_) => "INTERNAL",
        }
    }
}
