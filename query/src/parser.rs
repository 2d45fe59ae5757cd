//! SQL text to a `sqlparser` AST (PostgreSQL dialect), one statement at a time.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::{Error, Result};

/// Parses exactly one statement (a trailing `;` is fine).
pub fn parse(sql: &str) -> Result<Statement> {
    if let Some(flush) = parse_flush(sql)? {
        return Ok(flush);
    }
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

/// `FLUSH TABLE[S] t [, ...]`, which the PostgreSQL dialect does not know: `None` when `sql` is
/// not a FLUSH statement.
fn parse_flush(sql: &str) -> Result<Option<Statement>> {
    use sqlparser::ast::{FlushType, Ident, ObjectName};
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        // Not tokenizable: the full parser reports the error.
        return Ok(None);
    };
    let mut words = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .peekable();
    match words.next() {
        Some(Token::Word(w)) if w.keyword == Keyword::FLUSH => {}
        _ => return Ok(None),
    }
    let syntax = |message: &str| Error::SqlSyntax {
        message: message.to_string(),
    };
    let plural = match words.next() {
        Some(Token::Word(w)) if matches!(w.keyword, Keyword::TABLE | Keyword::TABLES) => {
            w.keyword == Keyword::TABLES
        }
        _ => {
            return Err(syntax(
                "expected FLUSH TABLE name [, name ...] or FLUSH TABLES",
            ))
        }
    };
    let mut tables = Vec::new();
    // `FLUSH TABLES` alone: every table.
    while words.peek().is_some() {
        match words.next() {
            Some(Token::Word(w)) => {
                let ident = match w.quote_style {
                    Some(q) => Ident::with_quote(q, w.value),
                    None => Ident::new(w.value),
                };
                tables.push(ObjectName::from(vec![ident]));
            }
            _ => return Err(syntax("expected a table name after FLUSH TABLE")),
        }
        match words.next() {
            None => break,
            Some(Token::Comma) if words.peek().is_some() => continue,
            Some(Token::Comma) => return Err(syntax("expected a table name after the comma")),
            Some(other) => {
                return Err(syntax(&format!(
                    "unexpected {other} in FLUSH TABLE; expected a comma or the end"
                )))
            }
        }
    }
    if tables.is_empty() && !plural {
        return Err(syntax(
            "expected a table name after FLUSH TABLE (FLUSH TABLES alone flushes every table)",
        ));
    }
    Ok(Some(Statement::Flush {
        object_type: FlushType::Tables,
        location: None,
        channel: None,
        read_lock: false,
        export: false,
        tables,
    }))
}

/// The privilege a statement needs: what a role must allow for a client to run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Reads only: `SELECT`, `EXPLAIN [ANALYZE]`, `SHOW`, `DESCRIBE`.
    Read,
    /// Adds rows: `INSERT`, `FLUSH`.
    Write,
    /// Changes the schema: `CREATE`, `ALTER`, `DROP` and anything else.
    Admin,
}

/// The privilege `statement` needs. Unknown statements need [`Access::Admin`] (they fail later
/// anyway, but a reader should not learn more than "forbidden").
pub fn required_access(statement: &Statement) -> Access {
    match statement {
        Statement::Query(_)
        | Statement::Explain { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ExplainTable { .. } => Access::Read,
        Statement::Insert(_) | Statement::Flush { .. } => Access::Write,
        _ => Access::Admin,
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;

    #[test]
    fn statements_need_the_right_access() {
        let access = |sql: &str| required_access(&parse(sql).unwrap());
        assert_eq!(access("SELECT 1"), Access::Read);
        assert_eq!(access("EXPLAIN SELECT 1"), Access::Read);
        assert_eq!(access("SHOW TABLES"), Access::Read);
        assert_eq!(access("INSERT INTO t VALUES (1)"), Access::Write);
        assert_eq!(access("FLUSH TABLES"), Access::Write);
        assert_eq!(access("CREATE TABLE t (a INT)"), Access::Admin);
        assert_eq!(access("DROP TABLE t"), Access::Admin);
    }
}
