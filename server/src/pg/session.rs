//! Session statements answered by the endpoint itself: `SET x = y` / `SET x TO y` (kept per
//! connection, and otherwise ignored), `RESET`, `SHOW x` (the connection's value, else Strata's
//! default from `strata_query::pg_catalog::setting`), `BEGIN` / `COMMIT` / `ROLLBACK` (every
//! statement runs on its own: Strata has no transactions, so they only move the transaction
//! status clients track), `DISCARD`, `DEALLOCATE`, `SAVEPOINT`, `LISTEN`, ... (accepted).
//! `SHOW TABLES` and `SHOW COLUMNS` are Strata statements and go to the engine.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use pgwire::api::results::Tag;
use pgwire::error::PgWireResult;

use super::{sqlstate, Answer};

/// The `server_version` reported at start-up: PostgreSQL 16's protocol, spoken by Strata.
pub const SERVER_VERSION: &str = strata_query::pg_catalog::SERVER_VERSION;

/// The statement's first word, upper case.
pub fn verb(sql: &str) -> String {
    words(sql).next().unwrap_or_default().to_ascii_uppercase()
}

/// The statement's second word, upper case (`TABLE` of `CREATE TABLE`).
pub fn second_word(sql: &str) -> String {
    words(sql).nth(1).unwrap_or_default().to_ascii_uppercase()
}

fn words(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
}

fn one_row(column: &str, value: &str) -> PgWireResult<Answer> {
    let schema = text_schema(column);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![value]))],
    )
    .map_err(|e| sqlstate::user_error("XX000", e.to_string()))?;
    Ok(Answer::Rows {
        schema,
        batches: vec![batch],
    })
}

fn text_schema(column: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, true)]))
}

/// `'x'` or `"x"` without its quotes.
fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].replace(&format!("{q}{q}"), &q.to_string());
        }
    }
    v.to_string()
}

/// The name a `SHOW` / `SET` names, lower case.
fn setting_name(name: &str) -> String {
    unquote(name).to_ascii_lowercase()
}

/// Answers a session statement; `None` when `sql` is not one.
pub fn answer(settings: &mut HashMap<String, String>, sql: &str) -> PgWireResult<Option<Answer>> {
    let verb = verb(sql);
    let rest = sql.trim()[verb.len().min(sql.trim().len())..].trim();
    Ok(Some(match verb.as_str() {
        "SET" => {
            let rest = strip_word(strip_word(rest, "SESSION"), "LOCAL");
            let (name, value) = if let Some(v) = strip_prefix_words(rest, &["TIME", "ZONE"]) {
                ("timezone".to_string(), unquote(v))
            } else if let Some((name, value)) = rest.split_once('=') {
                (setting_name(name), unquote(value))
            } else if let Some((name, value)) = split_word(rest, "TO") {
                (setting_name(name), unquote(value))
            } else {
                (setting_name(rest), String::new())
            };
            settings.insert(name, value);
            Answer::Tag(Tag::new("SET"))
        }
        "RESET" => {
            let name = setting_name(rest);
            if name == "all" {
                settings.clear();
            } else {
                settings.remove(&name);
            }
            Answer::Tag(Tag::new("RESET"))
        }
        "SHOW" => {
            let name = setting_name(rest);
            if matches!(second_word(sql).as_str(), "TABLES" | "COLUMNS") {
                return Ok(None);
            }
            let value = settings
                .get(&name)
                .cloned()
                .or_else(|| strata_query::pg_catalog::setting(&name).map(str::to_string))
                .ok_or_else(|| {
                    sqlstate::user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
            return one_row(&name, &value).map(Some);
        }
        "BEGIN" | "START" => Answer::Begin,
        "COMMIT" | "END" => Answer::End("COMMIT"),
        "ROLLBACK" | "ABORT" => Answer::End("ROLLBACK"),
        "DISCARD" => {
            settings.clear();
            Answer::Tag(Tag::new(&format!("DISCARD {}", second_word(sql))))
        }
        "DEALLOCATE" | "SAVEPOINT" | "RELEASE" | "LISTEN" | "UNLISTEN" => {
            Answer::Tag(Tag::new(&verb))
        }
        _ => return Ok(None),
    }))
}

/// The result schema of a session statement: `Some(None)` for no rows, `None` when `sql` is
/// not a session statement.
pub fn describe(sql: &str) -> Option<Option<SchemaRef>> {
    match verb(sql).as_str() {
        "SHOW" if !matches!(second_word(sql).as_str(), "TABLES" | "COLUMNS") => {
            let rest = sql.trim()[4..].trim();
            Some(Some(text_schema(&setting_name(rest))))
        }
        "SET" | "RESET" | "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
        | "DISCARD" | "DEALLOCATE" | "SAVEPOINT" | "RELEASE" | "LISTEN" | "UNLISTEN" => Some(None),
        _ => None,
    }
}

fn strip_word<'a>(s: &'a str, word: &str) -> &'a str {
    strip_prefix_words(s, &[word]).unwrap_or(s)
}

/// `s` after the leading `words` (case-insensitive, whitespace-separated).
fn strip_prefix_words<'a>(s: &'a str, words: &[&str]) -> Option<&'a str> {
    let mut rest = s.trim_start();
    for w in words {
        let head = rest.get(..w.len())?;
        let boundary = rest[w.len()..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace);
        if !head.eq_ignore_ascii_case(w) || !boundary {
            return None;
        }
        rest = rest[w.len()..].trim_start();
    }
    Some(rest)
}

/// Splits `name TO value` at the standalone word `TO`.
fn split_word<'a>(s: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    let mut offset = 0;
    for part in s.split_whitespace() {
        let at = s[offset..].find(part)? + offset;
        if part.eq_ignore_ascii_case(word) && at > 0 {
            return Some((&s[..at], &s[at + part.len()..]));
        }
        offset = at + part.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_show_round_trip() {
        let mut settings = HashMap::new();
        assert!(answer(&mut settings, "SET extra_float_digits = 3")
            .unwrap()
            .is_some());
        assert!(answer(&mut settings, "set search_path to 'public'")
            .unwrap()
            .is_some());
        assert!(answer(&mut settings, "SET TIME ZONE 'UTC'")
            .unwrap()
            .is_some());
        assert_eq!(settings["extra_float_digits"], "3");
        assert_eq!(settings["search_path"], "public");
        assert_eq!(settings["timezone"], "UTC");
        assert!(answer(&mut settings, "SHOW TABLES").unwrap().is_none());
        assert!(answer(&mut settings, "SELECT 1").unwrap().is_none());
        assert!(answer(&mut settings, "SHOW nonsense_setting").is_err());
    }
}
