//! Strata errors as PostgreSQL `ErrorResponse`s: one SQLSTATE per error, decided in one `match`.

use pgwire::error::{ErrorInfo, PgWireError};

use crate::auth::AuthError;
use crate::error::ApiError;

/// The SQLSTATE of a query error.
pub fn sqlstate(e: &strata_query::Error) -> &'static str {
    use strata_query::Error as E;
    match e {
        E::SqlSyntax { .. } => "42601",
        E::TableNotFound { .. } => "42P01",
        E::TableExists { .. } => "42P07",
        E::ColumnNotFound { .. } => "42703",
        E::AmbiguousColumn { .. } => "42702",
        E::TypeMismatch { .. } => "42804",
        E::NotGrouped { .. } => "42803",
        E::Unsupported { .. } => "0A000",
        E::DivisionByZero => "22012",
        E::NumericOverflow { .. } => "22003",
        E::InvalidArgument { .. } => "22023",
        E::UndefinedObject { .. } => "42704",
        // program_limit_exceeded, statement_too_complex: PostgreSQL's answers to statements
        // past its limits.
        E::QueryTooLarge { .. } => "54000",
        E::ExpressionTooDeep { .. } => "54001",
        E::Cancelled | E::Timeout { .. } => "57014",
        E::MemoryLimit { .. } => "53200",
        E::Storage(s) if s.is_user_error() => match s.code() {
            "NULL_IN_NOT_NULL" => "23502",
            _ => "22000",
        },
        E::Storage(_) => "58000",
        E::Arrow(_) | E::Internal(_) => "XX000",
        // A new variant: the kind still tells whose fault it is.
        #[allow(unreachable_patterns)]
        other => match other.kind() {
            strata_query::ErrorKind::User => "22000",
            strata_query::ErrorKind::NotFound => "42P01",
            strata_query::ErrorKind::Cancelled | strata_query::ErrorKind::Timeout => "57014",
            strata_query::ErrorKind::Resource => "53200",
            strata_query::ErrorKind::Internal => "XX000",
        },
    }
}

/// An `ERROR` with `code` and `message`.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(code, message)))
}

/// The `ErrorResponse` fields of an `ERROR` with `code` and `message`.
pub fn error_info(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), code.to_string(), message.into())
}

/// The SQLSTATE of an error of the statement path (the HTTP code goes in the detail field).
pub fn api_sqlstate(e: &ApiError) -> &'static str {
    match e {
        ApiError::Query(q) => sqlstate(q),
        ApiError::Auth(AuthError::Forbidden { .. }) => "42501",
        ApiError::Auth(_) => "28000",
        // too_many_connections: what PostgreSQL answers past max_connections, which drivers
        // and poolers already treat as "retry later".
        ApiError::TooManyQueries { .. } => "53300",
        ApiError::Storage(s) if s.is_user_error() => "22000",
        ApiError::Storage(_) => "58000",
        ApiError::BadRequest { .. } => "08P01",
        ApiError::ResultTooLarge { .. } => "54000",
        _ => "XX000",
    }
}

/// An error of the statement path as the client sees it.
pub fn api_error(e: &ApiError) -> PgWireError {
    if let ApiError::Query(q) = e {
        return query_error(q);
    }
    let mut info = error_info(api_sqlstate(e), e.to_string());
    info.detail = Some(format!("strata error code {}", e.parts().1));
    PgWireError::UserError(Box::new(info))
}

/// A query error as the client sees it; the Strata code goes in the detail field.
pub fn query_error(e: &strata_query::Error) -> PgWireError {
    let mut info = ErrorInfo::new("ERROR".to_string(), sqlstate(e).to_string(), e.to_string());
    info.detail = Some(format!("strata error code {}", e.code()));
    if e.kind() == strata_query::ErrorKind::Internal {
        tracing::error!(code = e.code(), error = %e, "pg query failed");
    }
    PgWireError::UserError(Box::new(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_map_to_their_sqlstate() {
        let syntax = strata_query::Error::SqlSyntax {
            message: "x".into(),
        };
        assert_eq!(sqlstate(&syntax), "42601");
        let missing = strata_query::Error::TableNotFound { name: "t".into() };
        assert_eq!(sqlstate(&missing), "42P01");
        assert_eq!(sqlstate(&strata_query::Error::Cancelled), "57014");
        assert_eq!(sqlstate(&strata_query::Error::DivisionByZero), "22012");
    }
}
