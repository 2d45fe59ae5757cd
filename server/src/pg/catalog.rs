//! The catalog queries of psql and Grafana, rewritten narrowly into SQL Strata runs.
//!
//! The catalog itself (`information_schema.*`, `pg_catalog.*`, `version()`, ...) is real: it
//! lives in `strata_query::pg_catalog`. What clients wrap around it uses PostgreSQL features the
//! engine does not have; each rule below replaces one such construct, matched on its exact shape:
//!
//! - `x OPERATOR(pg_catalog.~) '^(name)$' COLLATE pg_catalog.default` (psql's `\d name`) becomes
//!   `x = 'name'`; another `x ~ 'pattern'` / `x !~ 'pattern'` becomes `[NOT] regexp_like(x,
//!   'pattern')`.
//! - Grafana's schema constraint (`quote_ident(table_schema) IN (SELECT ... generate_series(...
//!   string_to_array(current_setting('search_path'), ...)))`) becomes `table_schema =
//!   'public'`; its column picker's `CASE WHEN array_length(parse_ident('t'),1) = 2 ... END`
//!   becomes the condition for the table named; `quote_ident(col)` becomes `col` (Strata's
//!   table and column names need no quoting in these answers).
//! - `format_type(oid, typmod)` becomes a `CASE` over the type OIDs Strata has; psql's
//!   correlated subqueries for a column's default and collation become `NULL` (Strata columns
//!   have neither); `array_to_string(acl, sep)` of a catalog column becomes the column (NULL).
//! - SQLAlchemy's correlated `(SELECT pg_catalog.pg_type.typcollation FROM pg_catalog.pg_type
//!   WHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid)` becomes `0` (every
//!   type's `typcollation` here). Its other correlated subqueries read tables without rows
//!   (`pg_attrdef`, `pg_sequence`, `pg_collation`) and the binder answers them NULL.
//! - `::regclass`, `::regtype`, `::oid` casts of catalog columns are dropped (OIDs are BIGINTs
//!   here); `::pg_catalog.text` becomes `::VARCHAR`.
//!
//! A statement that reads a catalog table or function Strata does not have fails with its
//! error and SQLSTATE (`42P01`, `42703`, `0A000`, ...), as PostgreSQL would: never an empty
//! answer that a client would mistake for "nothing there". The empty tables psql's `\d` reads
//! (`pg_policy`, `pg_inherits`, `pg_statistic_ext`, ...) exist, without rows, in
//! `strata_query::pg_catalog`.

use std::sync::LazyLock;

use regex::{Captures, Regex};

fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

static PSQL_NAME_MATCH: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?is)([\w.]+)\s+OPERATOR\(pg_catalog\.~\)\s+'\^\(([^'()|*+?\[\]\\]*)\)\$'(\s+COLLATE\s+pg_catalog\.default)?",
    )
});
static REGEX_MATCH: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?is)([\w.]+)\s+(?:OPERATOR\(pg_catalog\.(!?~)\)|(!?~))\s+('(?:[^']|'')*')(\s+COLLATE\s+pg_catalog\.default)?",
    )
});
static GRAFANA_SEARCH_PATH: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?is)quote_ident\(\s*table_schema\s*\)\s+IN\s*\(\s*SELECT\s+CASE\s+WHEN\s+trim\(s\[i\]\).*?string_to_array\(current_setting\('search_path'\),\s*','\)\s+s\s*\)",
    )
});
static GRAFANA_PARSE_IDENT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?is)CASE\s+WHEN\s+array_length\(parse_ident\(('(?:[^']|'')*')\),\s*1\)\s*=\s*2\s+THEN.*?\bELSE\b.*?\bEND\b",
    )
});
static QUOTE_IDENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)quote_ident\(\s*(\w+)\s*\)"));
static TEXT_CASTS: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)::\s*pg_catalog\.(?:text|name)\b"));
static FORMAT_TYPE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)(?:pg_catalog\.)?format_type\(\s*([\w.]+)\s*,\s*([\w.]+)\s*\)"));
static PSQL_ATTRDEF: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?is)\(SELECT\s+pg_catalog\.pg_get_expr\(d\.adbin.*?a\.atthasdef\)"));
static PSQL_COLLATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?is)\(SELECT\s+c\.collname\s+FROM\s+pg_catalog\.pg_collation.*?typcollation\)")
});
static ARRAY_TO_STRING: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?i)(?:pg_catalog\.)?array_to_string\(\s*([\w.]+)\s*,\s*E?'(?:[^']|'')*'\s*\)")
});
static SQLALCHEMY_TYPCOLLATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?is)\(SELECT\s+pg_catalog\.pg_type\.typcollation\s+FROM\s+pg_catalog\.pg_type\s+WHERE\s+pg_catalog\.pg_type\.oid\s*=\s*pg_catalog\.pg_attribute\.atttypid\s*\)",
    )
});
static CATALOG_CASTS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?i)::\s*(?:pg_catalog\.)?(?:regclass|regtype|regproc|regnamespace|oid)\b")
});

fn replace_all(
    re: &LazyLock<Option<Regex>>,
    sql: String,
    f: impl FnMut(&Captures<'_>) -> String,
) -> String {
    match re.as_ref() {
        Some(re) if re.is_match(&sql) => re.replace_all(&sql, f).into_owned(),
        _ => sql,
    }
}

/// `sql` with the client constructs Strata lacks rewritten (unchanged when none occurs).
pub fn rewrite(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let catalog = lower.contains("pg_catalog")
        || lower.contains("information_schema")
        || lower.contains("quote_ident");
    if !catalog {
        return sql.to_string();
    }
    let mut sql = sql.to_string();
    sql = replace_all(&GRAFANA_SEARCH_PATH, sql, |_| {
        format!("table_schema = '{}'", strata_query::pg_catalog::SCHEMA)
    });
    sql = replace_all(&GRAFANA_PARSE_IDENT, sql, |c| {
        let literal = &c[1];
        let name = literal[1..literal.len() - 1].replace("''", "'");
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        match name.split_once('.') {
            Some((schema, table)) => format!(
                "(table_schema = {} AND table_name = {})",
                quote(schema),
                quote(table)
            ),
            None => format!(
                "(table_name = {} AND table_schema = '{}')",
                quote(&name),
                strata_query::pg_catalog::SCHEMA
            ),
        }
    });
    sql = replace_all(&QUOTE_IDENT, sql, |c| c[1].to_string());
    sql = replace_all(&PSQL_NAME_MATCH, sql, |c| {
        format!("{} = '{}'", &c[1], c[2].replace('\'', "''"))
    });
    sql = replace_all(&REGEX_MATCH, sql, |c| {
        let op = c.get(2).or(c.get(3)).map(|m| m.as_str()).unwrap_or("~");
        let not = if op.starts_with('!') { "NOT " } else { "" };
        format!("{not}regexp_like({}, {})", &c[1], &c[4])
    });
    sql = replace_all(&FORMAT_TYPE, sql, |c| {
        let mut case = format!("CASE {}", &c[1]);
        // numeric's typmod carries its precision and scale: ((p << 16) | s) + 4.
        let typmod = &c[2];
        case.push_str(&format!(
            " WHEN 1700 THEN CASE WHEN {typmod} >= 4 THEN 'numeric(' || CAST(({typmod} - 4) / 65536 AS VARCHAR) || ',' || CAST(({typmod} - 4) % 65536 AS VARCHAR) || ')' ELSE 'numeric' END"
        ));
        for (oid, name) in strata_query::pg_catalog::FORMAT_TYPES {
            case.push_str(&format!(" WHEN {oid} THEN '{name}'"));
        }
        case.push_str(" ELSE 'text' END");
        case
    });
    sql = replace_all(&PSQL_ATTRDEF, sql, |_| "NULL".to_string());
    // Every type's collation is 0 here (Strata has no collations).
    sql = replace_all(&SQLALCHEMY_TYPCOLLATION, sql, |_| "0".to_string());
    sql = replace_all(&ARRAY_TO_STRING, sql, |c| c[1].to_string());
    sql = replace_all(&PSQL_COLLATION, sql, |_| "NULL".to_string());
    sql = replace_all(&CATALOG_CASTS, sql, |_| String::new());
    sql = replace_all(&TEXT_CASTS, sql, |_| "::VARCHAR".to_string());
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_name_patterns_become_equalities() {
        let sql = "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(events)$' COLLATE pg_catalog.default AND n.nspname !~ '^pg_toast'";
        assert_eq!(
            rewrite(sql),
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = 'events' AND NOT regexp_like(n.nspname, '^pg_toast')"
        );
    }

    #[test]
    fn grafana_column_picker_names_the_table() {
        let sql = "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\" FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('events'),1) = 2 THEN quote_ident(table_schema) = (parse_ident('events'))[1] AND quote_ident(table_name) = (parse_ident('events'))[2] ELSE quote_ident(table_name) = 'events' AND table_schema = 'public' END";
        assert_eq!(
            rewrite(sql),
            "SELECT column_name AS \"column\", data_type AS \"type\" FROM information_schema.columns WHERE (table_name = 'events' AND table_schema = 'public')"
        );
    }

    #[test]
    fn other_queries_are_untouched() {
        assert_eq!(rewrite("SELECT 'x ~ y'"), "SELECT 'x ~ y'");
    }
}
