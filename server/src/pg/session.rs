//! Session statements answered by the endpoint itself: `SET x = y` / `SET x TO y` (kept per
//! connection, and otherwise ignored), `RESET`, `SHOW x` (the connection's value, else Strata's
//! default from `strata_query::pg_catalog::setting`), `BEGIN` / `COMMIT` / `ROLLBACK` (every
//! statement runs on its own: Strata has no transactions, so they only move the transaction
//! status clients track), `DISCARD`, `DEALLOCATE`, `SAVEPOINT`, `LISTEN`, ... (accepted).
//! `SHOW TABLES` and `SHOW COLUMNS` are Strata statements and go to the engine.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use pgwire::api::results::Tag;
use pgwire::error::PgWireResult;
use regex::{Captures, Regex};

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

/// The name a `SHOW` / `SET` names, lower case, with PostgreSQL's multi-word spellings
/// (`TRANSACTION ISOLATION LEVEL`, `TIME ZONE`, `SESSION AUTHORIZATION`) as their settings.
fn setting_name(name: &str) -> String {
    let name = unquote(name)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    match name.as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        "time zone" => "timezone".to_string(),
        "session authorization" => "session_authorization".to_string(),
        _ => name,
    }
}

/// The column name `SHOW name` answers with: the setting's name as PostgreSQL spells it.
fn show_column(name: &str) -> &str {
    match name {
        "timezone" => "TimeZone",
        "datestyle" => "DateStyle",
        "intervalstyle" => "IntervalStyle",
        other => other,
    }
}

/// The value of `SET name = value`, as `SHOW` answers it afterwards: a string literal's quotes
/// removed, a quoted identifier kept as written (`"$user"`), a list (`SET search_path TO a, b`)
/// joined with `, `.
fn setting_value(value: &str) -> String {
    let parts: Vec<String> = split_list(value)
        .iter()
        .map(|v| {
            if v.starts_with('\'') {
                unquote(v)
            } else {
                v.to_string()
            }
        })
        .collect();
    parts.join(", ")
}

/// `value` split at the commas outside quotes.
fn split_list(value: &str) -> Vec<&str> {
    let mut parts = vec![];
    let (mut start, mut quote) = (0, None);
    for (i, c) in value.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (',', None) => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts
}

/// The session time zone `value` names (`None`: UTC); an unknown zone is PostgreSQL's
/// `invalid value for parameter "TimeZone"` (SQLSTATE 22023).
fn zone_of(value: &str) -> PgWireResult<Option<strata_query::TimeZone>> {
    strata_query::parse_time_zone(value).map_err(|_| {
        sqlstate::user_error(
            "22023",
            format!("invalid value for parameter \"TimeZone\": \"{value}\""),
        )
    })
}

/// The session's `TimeZone` (`SET TIME ZONE`, or the `TimeZone` start-up parameter; `None`:
/// UTC). An invalid start-up value fails every statement with SQLSTATE 22023.
pub fn time_zone(
    settings: &HashMap<String, String>,
) -> PgWireResult<Option<strata_query::TimeZone>> {
    match session_value(settings, "timezone") {
        Some(value) => zone_of(&value),
        None => Ok(None),
    }
}

/// The value of setting `name` in this session: what it was `SET` to (or given as a start-up
/// parameter, whose name keeps the client's case: `TimeZone`), else Strata's default.
pub fn current(settings: &HashMap<String, String>, name: &str) -> Option<String> {
    let name = setting_name(name);
    session_value(settings, &name)
        .or_else(|| strata_query::pg_catalog::setting(&name).map(str::to_string))
}

/// What the session set `name` (lower case) to, `None` when it did not.
fn session_value(settings: &HashMap<String, String>, name: &str) -> Option<String> {
    settings.get(name).cloned().or_else(|| {
        settings
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    })
}

/// `SHOW ALL`: every setting with its session value, as PostgreSQL's `name`, `setting`,
/// `description` columns.
fn show_all(settings: &HashMap<String, String>) -> PgWireResult<Answer> {
    let mut names: Vec<String> = strata_query::pg_catalog::SETTINGS
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(settings.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let values: Vec<String> = names
        .iter()
        .map(|n| current(settings, n).unwrap_or_default())
        .collect();
    let descriptions = vec![""; names.len()];
    let schema = show_all_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(values)),
            Arc::new(StringArray::from(descriptions)),
        ],
    )
    .map_err(|e| sqlstate::user_error("XX000", e.to_string()))?;
    Ok(Answer::Rows {
        schema,
        batches: vec![batch],
    })
}

fn show_all_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("setting", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
    ]))
}

static CURRENT_SETTING: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:pg_catalog\.)?current_setting\(\s*'((?:[^']|'')*)'\s*(?:,\s*(?:true|false)\s*)?\)",
    )
    .ok()
});

/// `sql` with each `current_setting('name')` of a setting this session `SET` replaced by its
/// value (a string literal); the engine answers the others with Strata's defaults.
pub fn with_session_settings(settings: &HashMap<String, String>, sql: &str) -> String {
    let Some(re) = CURRENT_SETTING.as_ref() else {
        return sql.to_string();
    };
    if settings.is_empty() || !re.is_match(sql) {
        return sql.to_string();
    }
    re.replace_all(sql, |c: &Captures<'_>| {
        let name = setting_name(&c[1].replace("''", "'"));
        match session_value(settings, &name) {
            Some(value) => format!("'{}'", value.replace('\'', "''")),
            None => c[0].to_string(),
        }
    })
    .into_owned()
}

/// Answers a session statement; `None` when `sql` is not one.
pub fn answer(settings: &mut HashMap<String, String>, sql: &str) -> PgWireResult<Option<Answer>> {
    let verb = verb(sql);
    let rest = sql.trim()[verb.len().min(sql.trim().len())..].trim();
    Ok(Some(match verb.as_str() {
        "SET" => {
            let rest = strip_word(strip_word(rest, "SESSION"), "LOCAL");
            let (name, value) = if let Some(v) = strip_prefix_words(rest, &["TIME", "ZONE"]) {
                ("timezone".to_string(), setting_value(v))
            } else if let Some(level) = isolation_level(rest) {
                // SET [SESSION CHARACTERISTICS AS] TRANSACTION ISOLATION LEVEL x: there are
                // no transactions, so every level behaves alike; SHOW answers the one asked.
                ("transaction_isolation".to_string(), level)
            } else if strip_prefix_words(rest, &["TRANSACTION"]).is_some()
                || strip_prefix_words(rest, &["CHARACTERISTICS"]).is_some()
            {
                // SET TRANSACTION READ ONLY, DEFERRABLE, ...: accepted, nothing to change.
                return Ok(Some(Answer::Tag(Tag::new("SET"))));
            } else if let Some((name, value)) = rest.split_once('=') {
                (setting_name(name), setting_value(value))
            } else if let Some((name, value)) = split_word(rest, "TO") {
                (setting_name(name), setting_value(value))
            } else {
                (setting_name(rest), String::new())
            };
            if value.eq_ignore_ascii_case("default")
                || (name == "timezone" && value.eq_ignore_ascii_case("local"))
            {
                settings.remove(&name);
            } else {
                if name == "timezone" {
                    zone_of(&value)?;
                }
                settings.insert(name, value);
            }
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
            if name == "all" {
                return show_all(settings).map(Some);
            }
            let value = current(settings, &name).ok_or_else(|| {
                sqlstate::user_error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                )
            })?;
            return one_row(show_column(&name), &value).map(Some);
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
            let name = setting_name(sql.trim()[4..].trim());
            if name == "all" {
                return Some(Some(show_all_schema()));
            }
            Some(Some(text_schema(show_column(&name))))
        }
        "SET" | "RESET" | "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
        | "DISCARD" | "DEALLOCATE" | "SAVEPOINT" | "RELEASE" | "LISTEN" | "UNLISTEN" => Some(None),
        _ => None,
    }
}

/// The level of `[SESSION CHARACTERISTICS AS] TRANSACTION ISOLATION LEVEL level ...`, lower
/// case.
fn isolation_level(rest: &str) -> Option<String> {
    let rest = strip_prefix_words(rest, &["CHARACTERISTICS", "AS"]).unwrap_or(rest);
    let level = strip_prefix_words(rest, &["TRANSACTION", "ISOLATION", "LEVEL"])?;
    let words: Vec<String> = level
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let two = words.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
    Some(match two.as_str() {
        "read committed" | "read uncommitted" | "repeatable read" => two,
        _ => words.first().cloned().unwrap_or_default(),
    })
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

    fn shown(settings: &mut HashMap<String, String>, sql: &str) -> (String, String) {
        match answer(settings, sql) {
            Ok(Some(Answer::Rows { schema, batches })) => {
                let column = schema.field(0).name().clone();
                let value = batches[0]
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .value(0)
                    .to_string();
                (column, value)
            }
            _ => panic!("{sql} answered no row"),
        }
    }

    #[test]
    fn show_answers_what_sqlalchemy_and_psycopg_ask() {
        let mut settings = HashMap::new();
        let pairs = |c: &str, v: &str| (c.to_string(), v.to_string());
        assert_eq!(
            shown(&mut settings, "show transaction isolation level"),
            pairs("transaction_isolation", "read committed")
        );
        assert_eq!(
            shown(&mut settings, "SHOW TimeZone"),
            pairs("TimeZone", "UTC")
        );
        assert_eq!(
            shown(&mut settings, "SHOW server_version_num"),
            pairs("server_version_num", "160006")
        );
        answer(
            &mut settings,
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )
        .unwrap();
        assert_eq!(
            shown(&mut settings, "SHOW transaction_isolation").1,
            "repeatable read"
        );
        answer(&mut settings, "SET search_path TO public, \"$user\"").unwrap();
        assert_eq!(
            shown(&mut settings, "SHOW search_path").1,
            "public, \"$user\""
        );
        answer(&mut settings, "SET search_path TO DEFAULT").unwrap();
        assert_eq!(
            shown(&mut settings, "SHOW search_path").1,
            "\"$user\", public"
        );
        assert_eq!(
            with_session_settings(
                &settings,
                "SELECT current_setting('transaction_isolation'), current_setting('search_path')"
            ),
            "SELECT 'repeatable read', current_setting('search_path')"
        );
        assert!(matches!(
            answer(&mut settings, "SHOW ALL"),
            Ok(Some(Answer::Rows { .. }))
        ));
    }
}
