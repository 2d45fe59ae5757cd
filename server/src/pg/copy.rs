//! `COPY (query) TO STDOUT` and `COPY table [(columns)] TO STDOUT`, as `psql \copy ... TO`
//! sends them: the statement's rows leave as PostgreSQL's text or CSV COPY format, one
//! `CopyData` message per row, streamed like any result (the rows are encoded on the blocking
//! pool a batch slice at a time; see `pg::produce`).
//!
//! Both option syntaxes are read: `WITH (FORMAT csv, HEADER true, DELIMITER ';', NULL '-',
//! QUOTE '"', ESCAPE '\', FORCE_QUOTE (a, b) | *)` and the older `[WITH] [BINARY] [DELIMITER
//! [AS] 'x'] [NULL [AS] 'x'] [CSV [HEADER] [QUOTE [AS] 'x'] [ESCAPE [AS] 'x'] [FORCE QUOTE a, b |
//! *]]` that psql writes (`\copy t TO 'f' CSV HEADER` sends `COPY t TO STDOUT CSV HEADER`).
//!
//! Each value is written in PostgreSQL's text output form (`t`/`f`, `2024-01-31 10:00:00.5`,
//! shortest round-trip floats: the `DataRow` text encoding), then:
//! - text format: `\N` for NULL (or the `NULL` option), and a backslash before a backslash, the
//!   delimiter, `\b`, `\f`, `\n`, `\r`, `\t`, `\v` (PostgreSQL's `CopyAttributeOutText`);
//! - CSV: NULL as the empty string (or the `NULL` option); a value in quotes when it contains
//!   the delimiter, the quote, `\r` or `\n`, when it equals the NULL string, when it is `\.`
//!   alone in a one-column copy, or when `FORCE_QUOTE` names its column; inside quotes, the quote
//!   and escape characters are preceded by the escape character (PostgreSQL's
//!   `CopyAttributeOutCSV`).
//!
//! `COPY ... FROM STDIN`, `COPY ... TO 'file'` / `PROGRAM` and the binary format are refused
//! with SQLSTATE `0A000`.

use std::sync::LazyLock;

use arrow::datatypes::SchemaRef;
use bytes::{BufMut, Bytes, BytesMut};
use pgwire::error::PgWireError;
use pgwire::messages::data::DataRow;
use regex::Regex;
use sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::sqlstate;

static FORCE_QUOTE_ALL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\bFORCE\s+QUOTE\s+\*").ok());

/// A `COPY ... TO STDOUT` to run: the query whose rows it writes, and how.
#[derive(Debug, Clone)]
pub struct CopyOut {
    /// The `SELECT` that produces the rows.
    pub query: String,
    /// How each row is written.
    pub format: CopyFormat,
}

/// The text or CSV form of a `COPY ... TO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFormat {
    /// CSV (else PostgreSQL's text format).
    pub csv: bool,
    /// A first line with the column names.
    pub header: bool,
    /// Between values: a tab (text) or a comma (CSV) unless given.
    pub delimiter: u8,
    /// What a NULL is written as: `\N` (text) or the empty string (CSV) unless given.
    pub null: String,
    /// CSV's quote character (`"` unless given).
    pub quote: u8,
    /// CSV's escape character inside quotes (the quote unless given).
    pub escape: u8,
    /// CSV columns always quoted (when not NULL).
    pub force_quote: ForceQuote,
}

/// CSV's `FORCE_QUOTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceQuote {
    /// No column.
    None,
    /// `FORCE_QUOTE *`: every column.
    All,
    /// The columns named.
    Columns(Vec<String>),
}

impl Default for CopyFormat {
    fn default() -> Self {
        CopyFormat {
            csv: false,
            header: false,
            delimiter: b'\t',
            null: "\\N".to_string(),
            quote: b'"',
            escape: b'"',
            force_quote: ForceQuote::None,
        }
    }
}

/// Whether `sql` is a COPY statement (its first word).
pub fn is_copy(sql: &str) -> bool {
    super::session::verb(sql) == "COPY"
}

fn unsupported(message: impl Into<String>) -> PgWireError {
    sqlstate::user_error("0A000", message)
}

fn one_byte(c: char, what: &str) -> Result<u8, PgWireError> {
    u8::try_from(u32::from(c))
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| {
            sqlstate::user_error(
                "0A000",
                format!("COPY {what} must be a single one-byte character"),
            )
        })
}

/// Reads a COPY statement: `Ok` with what to run for `COPY ... TO STDOUT`, an error (with its
/// SQLSTATE) for every other COPY and for options PostgreSQL or Strata refuses.
pub fn parse(sql: &str) -> Result<CopyOut, PgWireError> {
    // The old syntax's `FORCE QUOTE *`, which the SQL parser does not read.
    let (sql, force_all) = match FORCE_QUOTE_ALL.as_ref().and_then(|re| re.find(sql)) {
        Some(m) => (format!("{}{}", &sql[..m.start()], &sql[m.end()..]), true),
        None => (sql.to_string(), false),
    };
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, &sql)
        .map_err(|e| sqlstate::user_error("42601", format!("syntax error: {e}")))?;
    let [Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    }] = statements.as_slice()
    else {
        return Err(sqlstate::user_error(
            "42601",
            "syntax error: expected one COPY statement",
        ));
    };
    if !to {
        return Err(unsupported(
            "COPY ... FROM is not supported; load rows with INSERT or the HTTP ingest \
             endpoints (POST /v1/ingest/{table})",
        ));
    }
    if *target != CopyTarget::Stdout {
        return Err(unsupported(format!(
            "COPY ... TO {target} is not supported: the server writes no files; use COPY ... TO \
             STDOUT (psql: \\copy ... TO 'file')"
        )));
    }
    let query = match source {
        CopySource::Query(query) => query.to_string(),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let list = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("SELECT {list} FROM {table_name}")
        }
    };
    let mut format = CopyFormat::default();
    let (mut delimiter, mut null, mut quote, mut escape) = (None, None, None, None);
    for option in options {
        match option {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "csv" => format.csv = true,
                "text" => format.csv = false,
                "binary" => return Err(unsupported("COPY in binary format is not supported")),
                other => {
                    return Err(sqlstate::user_error(
                        "22023",
                        format!("COPY format \"{other}\" not recognized"),
                    ))
                }
            },
            CopyOption::Header(on) => format.header = *on,
            CopyOption::Delimiter(c) => delimiter = Some(one_byte(*c, "delimiter")?),
            CopyOption::Null(s) => null = Some(s.clone()),
            CopyOption::Quote(c) => quote = Some(one_byte(*c, "quote")?),
            CopyOption::Escape(c) => escape = Some(one_byte(*c, "escape")?),
            CopyOption::ForceQuote(columns) => {
                format.force_quote =
                    ForceQuote::Columns(columns.iter().map(|c| c.value.clone()).collect())
            }
            CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") => {}
            CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf-8") => {}
            other => return Err(unsupported(format!("COPY option {other}"))),
        }
    }
    for option in legacy_options {
        match option {
            CopyLegacyOption::Binary => {
                return Err(unsupported("COPY in binary format is not supported"))
            }
            CopyLegacyOption::Delimiter(c) => delimiter = Some(one_byte(*c, "delimiter")?),
            CopyLegacyOption::Null(s) => null = Some(s.clone()),
            CopyLegacyOption::Header => format.header = true,
            CopyLegacyOption::Csv(csv) => {
                format.csv = true;
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => format.header = true,
                        CopyLegacyCsvOption::Quote(c) => quote = Some(one_byte(*c, "quote")?),
                        CopyLegacyCsvOption::Escape(c) => escape = Some(one_byte(*c, "escape")?),
                        CopyLegacyCsvOption::ForceQuote(columns) => {
                            format.force_quote = if columns.is_empty() {
                                ForceQuote::All
                            } else {
                                ForceQuote::Columns(
                                    columns.iter().map(|c| c.value.clone()).collect(),
                                )
                            }
                        }
                        other => return Err(unsupported(format!("COPY option {other}"))),
                    }
                }
            }
            other => return Err(unsupported(format!("COPY option {other}"))),
        }
    }
    if force_all {
        if !format.csv {
            return Err(sqlstate::user_error(
                "0A000",
                "COPY FORCE_QUOTE is available only in CSV mode",
            ));
        }
        format.force_quote = ForceQuote::All;
    }
    if !format.csv && (quote.is_some() || escape.is_some()) {
        return Err(sqlstate::user_error(
            "0A000",
            "COPY QUOTE and ESCAPE are available only in CSV mode",
        ));
    }
    if !format.csv && format.force_quote != ForceQuote::None {
        return Err(sqlstate::user_error(
            "0A000",
            "COPY FORCE_QUOTE is available only in CSV mode",
        ));
    }
    if format.csv {
        format.delimiter = b',';
        format.null = String::new();
    }
    if let Some(d) = delimiter {
        if d == b'\r' || d == b'\n' || (!format.csv && d == b'\\') {
            return Err(sqlstate::user_error(
                "22023",
                "COPY delimiter cannot be newline, carriage return or (in text format) backslash",
            ));
        }
        format.delimiter = d;
    }
    if let Some(n) = null {
        if n.contains(['\r', '\n']) {
            return Err(sqlstate::user_error(
                "22023",
                "COPY null representation cannot use newline or carriage return",
            ));
        }
        format.null = n;
    }
    if let Some(q) = quote {
        format.quote = q;
        format.escape = q;
    }
    if let Some(e) = escape {
        format.escape = e;
    }
    if format.csv && format.delimiter == format.quote {
        return Err(sqlstate::user_error(
            "22023",
            "COPY delimiter and quote must be different",
        ));
    }
    Ok(CopyOut { query, format })
}

/// How the rows of one COPY are written, with `FORCE_QUOTE` resolved to column positions.
#[derive(Debug, Clone)]
pub struct CopyWriter {
    format: CopyFormat,
    forced: Vec<bool>,
}

impl CopyWriter {
    /// A writer of rows of `schema` in `format`.
    pub fn new(format: CopyFormat, schema: &SchemaRef) -> CopyWriter {
        let forced = schema
            .fields()
            .iter()
            .map(|f| match &format.force_quote {
                ForceQuote::None => false,
                ForceQuote::All => true,
                ForceQuote::Columns(names) => names.iter().any(|n| n == f.name()),
            })
            .collect();
        CopyWriter { format, forced }
    }

    /// The header line (the column names), when the format has one.
    pub fn header(&self, schema: &SchemaRef) -> Option<Bytes> {
        if !self.format.header {
            return None;
        }
        let mut out = BytesMut::new();
        let columns = schema.fields().len();
        for (i, field) in schema.fields().iter().enumerate() {
            if i > 0 {
                out.put_u8(self.format.delimiter);
            }
            self.value(&mut out, Some(field.name().as_bytes()), false, columns);
        }
        out.put_u8(b'\n');
        Some(out.freeze())
    }

    /// One line per row of `rows` (text-format `DataRow`s).
    pub fn lines(&self, rows: &[DataRow]) -> Vec<Bytes> {
        rows.iter().map(|row| self.line(row)).collect()
    }

    fn line(&self, row: &DataRow) -> Bytes {
        let columns = row.field_count.max(0) as usize;
        let mut out = BytesMut::with_capacity(row.data.len() + columns);
        let mut data: &[u8] = &row.data;
        for i in 0..columns {
            if i > 0 {
                out.put_u8(self.format.delimiter);
            }
            let Some(len) = data
                .get(..4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            else {
                break;
            };
            data = &data[4..];
            let value = if len < 0 {
                None
            } else {
                let len = (len as usize).min(data.len());
                let (value, rest) = data.split_at(len);
                data = rest;
                Some(value)
            };
            let forced = self.forced.get(i).copied().unwrap_or(false);
            self.value(&mut out, value, forced, columns);
        }
        out.put_u8(b'\n');
        out.freeze()
    }

    /// Appends one value (`None`: NULL).
    fn value(&self, out: &mut BytesMut, value: Option<&[u8]>, forced: bool, columns: usize) {
        let f = &self.format;
        let Some(value) = value else {
            out.put_slice(f.null.as_bytes());
            return;
        };
        if !f.csv {
            for &b in value {
                match b {
                    b'\\' => out.put_slice(b"\\\\"),
                    b'\n' => out.put_slice(b"\\n"),
                    b'\r' => out.put_slice(b"\\r"),
                    b'\t' => out.put_slice(b"\\t"),
                    0x08 => out.put_slice(b"\\b"),
                    0x0c => out.put_slice(b"\\f"),
                    0x0b => out.put_slice(b"\\v"),
                    b if b == f.delimiter => {
                        out.put_u8(b'\\');
                        out.put_u8(b);
                    }
                    b => out.put_u8(b),
                }
            }
            return;
        }
        let quoted = forced
            || value == f.null.as_bytes()
            || (columns == 1 && value == b"\\.")
            || value
                .iter()
                .any(|&b| b == f.delimiter || b == f.quote || b == b'\n' || b == b'\r');
        if !quoted {
            out.put_slice(value);
            return;
        }
        out.put_u8(f.quote);
        for &b in value {
            if b == f.quote || b == f.escape {
                out.put_u8(f.escape);
            }
            out.put_u8(b);
        }
        out.put_u8(f.quote);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use pgwire::api::results::FieldFormat;

    use super::*;

    fn rows() -> (SchemaRef, Vec<DataRow>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4)])),
            Arc::new(StringArray::from(vec![
                Some("a,b \"q\""),
                None,
                Some("line\nbreak\ttab\\back"),
                Some(""),
            ])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let rows = super::super::encode::encode_batch(&batch, &[FieldFormat::Text; 2]);
        (schema, rows)
    }

    fn written(sql: &str) -> String {
        let copy = parse(sql).unwrap();
        let (schema, rows) = rows();
        let writer = CopyWriter::new(copy.format, &schema);
        let mut out = writer
            .header(&schema)
            .map(|h| String::from_utf8(h.to_vec()).unwrap())
            .unwrap_or_default();
        for line in writer.lines(&rows) {
            out.push_str(std::str::from_utf8(&line).unwrap());
        }
        out
    }

    #[test]
    fn text_format_escapes_as_postgresql() {
        assert_eq!(
            written("COPY (SELECT id, s FROM t) TO STDOUT"),
            "1\ta,b \"q\"\n\\N\t\\N\n3\tline\\nbreak\\ttab\\\\back\n4\t\n"
        );
    }

    #[test]
    fn csv_quotes_as_postgresql() {
        // psql's `\copy t TO 'f' CSV HEADER`.
        assert_eq!(
            written("COPY t TO STDOUT CSV HEADER"),
            "id,s\n1,\"a,b \"\"q\"\"\"\n,\n3,\"line\nbreak\ttab\\back\"\n4,\"\"\n"
        );
        assert_eq!(
            written("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER false, DELIMITER ';', NULL 'NA', FORCE_QUOTE (id))"),
            "\"1\";\"a,b \"\"q\"\"\"\nNA;NA\n\"3\";\"line\nbreak\ttab\\back\"\n\"4\";\n"
        );
    }

    #[test]
    fn copy_from_and_files_are_refused_with_0a000() {
        for sql in [
            "COPY t FROM STDIN",
            "COPY t TO '/tmp/x.csv'",
            "COPY t TO STDOUT (FORMAT binary)",
        ] {
            let Err(PgWireError::UserError(info)) = parse(sql) else {
                panic!("{sql} should fail");
            };
            assert_eq!(info.code, "0A000", "{sql}");
        }
        assert_eq!(
            parse("COPY t (a, b) TO STDOUT").unwrap().query,
            "SELECT a, b FROM t"
        );
    }
}
