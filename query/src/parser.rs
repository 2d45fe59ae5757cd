//! SQL text to a `sqlparser` AST (PostgreSQL dialect), one statement at a time.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::{Error, Result};

/// Parses exactly one statement (a trailing `;` is fine).
pub fn parse(sql: &str) -> Result<Statement> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)?;
    match statements.len() {
        0 => Err(Error::SqlSyntax {
            message: "empty statement; send one SQL statement".into(),
        }),
        1 => statements
            .pop()
            .ok_or_else(|| Error::internal("statement vanished")),
        n => Err(Error::unsupported(format!(
            "{n} statements in one request; send one at a time"
        ))),
    }
}
