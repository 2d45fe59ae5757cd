//! SQL text to a `sqlparser` AST (PostgreSQL dialect), one statement at a time.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

use crate::error::{Error, Result};
use crate::limits::SqlLimits;

/// A parsed statement, with what it takes to drop it safely.
///
/// Derefs to the sqlparser [`Statement`]. A flat chain in the text (`1+1+1...`, `a OR b OR
/// ...`) is an AST as deep as the chain is long, and sqlparser's derived `Drop` is recursive,
/// so the statement is dropped on a stack grown to what its text can need
/// ([`crate::limits::with_stack_for`]).
pub struct Parsed {
    statement: Statement,
    text_len: usize,
}

impl Parsed {
    /// The length of the statement's text in bytes (what its walks' stack is sized by).
    pub fn text_len(&self) -> usize {
        self.text_len
    }
}

impl std::ops::Deref for Parsed {
    type Target = Statement;

    fn deref(&self) -> &Statement {
        &self.statement
    }
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("text_len", &self.text_len)
            .finish_non_exhaustive()
    }
}

impl Drop for Parsed {
    fn drop(&mut self) {
        let statement = std::mem::replace(&mut self.statement, empty_flush());
        crate::limits::with_stack_for(self.text_len, move || drop(statement));
    }
}

/// A statement that owns nothing (what a dropped [`Parsed`] leaves behind).
fn empty_flush() -> Statement {
    Statement::Flush {
        object_type: sqlparser::ast::FlushType::Tables,
        location: None,
        channel: None,
        read_lock: false,
        export: false,
        tables: vec![],
    }
}

/// Parses exactly one statement (a trailing `;` is fine) under the default [`SqlLimits`].
pub fn parse(sql: &str) -> Result<Parsed> {
    parse_with(sql, &SqlLimits::default())
}

/// Parses exactly one statement under `limits`: `QUERY_TOO_LARGE` for a text longer than
/// `max_query_bytes`, `EXPRESSION_TOO_DEEP` for nesting deeper than `max_expression_depth`.
pub fn parse_with(sql: &str, limits: &SqlLimits) -> Result<Parsed> {
    crate::limits::check_text(sql, limits)?;
    let statement =
        crate::limits::with_stack_for(sql.len(), || parse_one(sql, limits.max_expression_depth))?;
    Ok(Parsed {
        statement,
        text_len: sql.len(),
    })
}

fn parse_one(sql: &str, max_depth: usize) -> Result<Statement> {
    if let Some(flush) = parse_flush(sql)? {
        return Ok(flush);
    }
    let dialect = PostgreSqlDialect {};
    let mut statements = Parser::new(&dialect)
        .with_recursion_limit(max_depth)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| match e {
            ParserError::RecursionLimitExceeded => Error::ExpressionTooDeep { limit: max_depth },
            // sqlparser does not read a window frame's EXCLUDE clause: say that, not "expected )".
            other if other.to_string().contains("found: EXCLUDE") => Error::unsupported(
                "EXCLUDE in a window frame (EXCLUDE CURRENT ROW / GROUP / TIES / NO OTHERS)",
            ),
            other => Error::from(other),
        })?;
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
    /// Adds or removes rows: `INSERT`, `DELETE`, `FLUSH`.
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
        Statement::Insert(_) | Statement::Delete(_) | Statement::Flush { .. } => Access::Write,
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
        assert_eq!(access("DELETE FROM t WHERE a = 1"), Access::Write);
        assert_eq!(access("CREATE TABLE t (a INT)"), Access::Admin);
        assert_eq!(access("DROP TABLE t"), Access::Admin);
    }
}
