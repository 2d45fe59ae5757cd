//! Statement text surgery on tokens (never on raw characters, so that a `$1` or a `;` inside a
//! string literal or a comment stays untouched): splitting a simple query into its statements,
//! counting the `$n` placeholders of an extended-protocol statement, and replacing them with
//! the bound values as typed, escaped literals.

use pgwire::api::Type;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::encode::{PG_EPOCH_DAYS, PG_EPOCH_MS};

/// One bound parameter: its bytes (`None`: NULL) and whether they are in binary format.
pub struct Param<'a> {
    /// The value as the client sent it.
    pub bytes: Option<&'a [u8]>,
    /// Binary format (else text).
    pub binary: bool,
    /// The parameter's type (declared by the client; `None`: unknown, treated as text).
    pub ty: Option<Type>,
}

fn tokens(sql: &str) -> Result<Vec<TokenWithSpan>, String> {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| e.to_string())
}

/// Byte offsets of every (1-based line, 1-based character column) position in `sql`.
struct Offsets {
    line_starts: Vec<usize>,
}

impl Offsets {
    fn new(sql: &str) -> Offsets {
        let mut line_starts = vec![0];
        for (i, b) in sql.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        Offsets { line_starts }
    }

    fn byte(&self, sql: &str, line: u64, column: u64) -> usize {
        let start = self
            .line_starts
            .get((line as usize).saturating_sub(1))
            .copied()
            .unwrap_or(sql.len());
        let rest = &sql[start..];
        rest.char_indices()
            .nth((column as usize).saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    }
}

/// The statements of a simple query, split at top-level semicolons, trimmed, empty ones
/// dropped. Text the tokenizer cannot read is returned whole (the parser reports the error).
pub fn split_statements(sql: &str) -> Vec<String> {
    let Ok(tokens) = tokens(sql) else {
        return vec![sql.trim().to_string()];
    };
    let offsets = Offsets::new(sql);
    let mut out = vec![];
    let mut start = 0;
    for t in &tokens {
        if t.token == Token::SemiColon {
            let end = offsets.byte(sql, t.span.start.line, t.span.start.column);
            out.push(sql[start..end].trim().to_string());
            start = end + 1;
        }
    }
    out.push(sql[start.min(sql.len())..].trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

/// The highest `$n` of the statement (0: none).
pub fn placeholder_count(sql: &str) -> usize {
    tokens(sql)
        .map(|tokens| {
            tokens
                .iter()
                .filter_map(|t| match &t.token {
                    Token::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok(),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// `sql` with every `$n` replaced by the literal of `params[n - 1]`.
pub fn substitute(sql: &str, params: &[Param<'_>]) -> Result<String, String> {
    let tokens = tokens(sql)?;
    let offsets = Offsets::new(sql);
    let mut out = String::with_capacity(sql.len() + 16 * params.len());
    let mut copied = 0;
    for t in &tokens {
        let Token::Placeholder(p) = &t.token else {
            continue;
        };
        let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let param = n
            .checked_sub(1)
            .and_then(|i| params.get(i))
            .ok_or_else(|| format!("there is no parameter ${n} ({} bound)", params.len()))?;
        let start = offsets.byte(sql, t.span.start.line, t.span.start.column);
        let end = offsets.byte(sql, t.span.end.line, t.span.end.column);
        out.push_str(&sql[copied..start]);
        out.push_str(&literal(param)?);
        copied = end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// A single-quoted SQL string literal of `text` (quotes doubled; standard-conforming strings,
/// so backslashes are plain characters).
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL literal of one parameter: NULL, or a typed literal whose text is escaped.
fn literal(param: &Param<'_>) -> Result<String, String> {
    let Some(bytes) = param.bytes else {
        return Ok(match param.ty.as_ref().and_then(sql_type) {
            Some(t) => format!("CAST(NULL AS {t})"),
            None => "NULL".to_string(),
        });
    };
    let ty = param.ty.clone().unwrap_or(Type::UNKNOWN);
    let text = if param.binary {
        binary_text(&ty, bytes)?
    } else {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| "a text parameter is not valid UTF-8".to_string())?;
        if ty == Type::TIMESTAMPTZ {
            utc_text(text)
        } else {
            text.to_string()
        }
    };
    if ty == Type::NUMERIC {
        if let Some(number) = decimal_literal(&text) {
            return Ok(number);
        }
    }
    Ok(match sql_type(&ty) {
        Some(t) => format!("CAST({} AS {t})", quote(&text)),
        // Unknown and text parameters are string literals: they take the type of what they
        // meet, like PostgreSQL's unknown-typed parameters.
        None => quote(&text),
    })
}

/// A NUMERIC parameter's text (`-12.50`, `.5`, `7`) as a bare, parenthesized number literal,
/// which the engine types as the DECIMAL of its digits, exactly; `None` for any other text
/// (`NaN`, an exponent: cast to DOUBLE).
fn decimal_literal(text: &str) -> Option<String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("({text})"))
}

/// The text of a NUMERIC in PostgreSQL's binary format: the count of base-10000 digits, the
/// weight of the first, the sign (0, 0x4000 negative, 0xC000 NaN), the display scale, then
/// the digits.
fn numeric_binary_text(bytes: &[u8]) -> Result<String, String> {
    let bad = || "a binary numeric parameter is malformed".to_string();
    let word = |i: usize| -> Result<i16, String> {
        let b = bytes.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if ndigits < 0 || dscale < 0 || bytes.len() != 8 + 2 * ndigits as usize {
        return Err(bad());
    }
    if sign == 0xC000 {
        return Ok("NaN".to_string());
    }
    let (ndigits, weight, dscale) = (ndigits as i32, i32::from(weight), dscale as usize);
    // At most 38 digits fit a DECIMAL; a longer number is refused rather than built.
    if weight > 40 || dscale > 40 {
        return Err("a numeric parameter has more than 38 digits".to_string());
    }
    let digit = |i: i32| -> Result<i32, String> {
        if i < 0 || i >= ndigits {
            return Ok(0);
        }
        let d = i32::from(word(4 + i as usize)?);
        if (0..10_000).contains(&d) {
            Ok(d)
        } else {
            Err(bad())
        }
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                text.push_str(&digit(i)?.to_string());
            } else {
                text.push_str(&format!("{:04}", digit(i)?));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        for j in 1..=dscale.div_ceil(4) as i32 {
            fraction.push_str(&format!("{:04}", digit(weight + j)?));
        }
        text.push('.');
        text.push_str(&fraction[..dscale]);
    }
    Ok(text)
}

/// The Strata type a parameter of PostgreSQL type `ty` is cast to (`None`: left a string).
fn sql_type(ty: &Type) -> Option<&'static str> {
    Some(match *ty {
        Type::BOOL => "BOOLEAN",
        Type::INT2 => "SMALLINT",
        Type::INT4 => "INTEGER",
        Type::INT8 => "BIGINT",
        Type::FLOAT4 => "REAL",
        Type::FLOAT8 | Type::NUMERIC => "DOUBLE",
        Type::DATE => "DATE",
        Type::TIMESTAMP | Type::TIMESTAMPTZ => "TIMESTAMP",
        _ => return None,
    })
}

/// A timestamptz in text form as UTC with an explicit `+00` offset, so that the session time
/// zone (which text without an offset is read in) does not move it; text that does not parse
/// here is left for the cast to read (or refuse).
fn utc_text(text: &str) -> String {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"));
    match parsed {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S%.3f+00")
            .to_string(),
        Err(_) => text.to_string(),
    }
}

fn fixed<const N: usize>(bytes: &[u8], ty: &Type) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| {
        format!(
            "a binary {} parameter needs {N} bytes, got {}",
            ty.name(),
            bytes.len()
        )
    })
}

/// The text form of a binary-format parameter.
fn binary_text(ty: &Type, bytes: &[u8]) -> Result<String, String> {
    Ok(match *ty {
        Type::BOOL => (fixed::<1>(bytes, ty)?[0] != 0).to_string(),
        Type::INT2 => i16::from_be_bytes(fixed(bytes, ty)?).to_string(),
        Type::INT4 => i32::from_be_bytes(fixed(bytes, ty)?).to_string(),
        Type::INT8 => i64::from_be_bytes(fixed(bytes, ty)?).to_string(),
        Type::FLOAT4 => f32::from_be_bytes(fixed(bytes, ty)?).to_string(),
        Type::FLOAT8 => f64::from_be_bytes(fixed(bytes, ty)?).to_string(),
        Type::NUMERIC => numeric_binary_text(bytes)?,
        Type::DATE => {
            let days = i32::from_be_bytes(fixed(bytes, ty)?) as i64 + PG_EPOCH_DAYS as i64;
            chrono::DateTime::from_timestamp(days * 86_400, 0)
                .ok_or_else(|| "a date parameter is out of range".to_string())?
                .format("%Y-%m-%d")
                .to_string()
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let us = i64::from_be_bytes(fixed(bytes, ty)?);
            let ms = us.div_euclid(1000).saturating_add(PG_EPOCH_MS);
            // A timestamptz is an instant (UTC, said so); a timestamp a wall-clock time, read
            // in the session time zone as PostgreSQL reads it against a timestamptz.
            let format = if *ty == Type::TIMESTAMPTZ {
                "%Y-%m-%d %H:%M:%S%.3f+00"
            } else {
                "%Y-%m-%d %H:%M:%S%.3f"
            };
            chrono::DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| "a timestamp parameter is out of range".to_string())?
                .format(format)
                .to_string()
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            std::str::from_utf8(bytes)
                .map_err(|_| "a text parameter is not valid UTF-8".to_string())?
                .to_string()
        }
        _ => {
            return Err(format!(
                "parameters of type {} in binary format are not supported; send them as text",
                ty.name()
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &str) -> Param<'_> {
        Param {
            bytes: Some(v.as_bytes()),
            binary: false,
            ty: None,
        }
    }

    #[test]
    fn placeholders_become_escaped_literals_and_strings_stay_untouched() {
        let sql = "SELECT '$1', x FROM t WHERE a = $1 AND b = $2 -- $1\n";
        let out = substitute(sql, &[text("it's'; DROP TABLE t; --"), text("2")]).unwrap();
        assert_eq!(
            out,
            "SELECT '$1', x FROM t WHERE a = 'it''s''; DROP TABLE t; --' AND b = '2' -- $1\n"
        );
        assert_eq!(placeholder_count(sql), 2);
    }

    #[test]
    fn numeric_parameters_are_exact_decimal_literals() {
        let numeric = |bytes: &[u8], binary: bool| {
            literal(&Param {
                bytes: Some(bytes),
                binary,
                ty: Some(Type::NUMERIC),
            })
        };
        assert_eq!(numeric(b"0.07", false).unwrap(), "(0.07)");
        assert_eq!(numeric(b"-12.50", false).unwrap(), "(-12.50)");
        assert_eq!(numeric(b"NaN", false).unwrap(), "CAST('NaN' AS DOUBLE)");
        assert_eq!(
            numeric(b"1); DROP TABLE t; --", false).unwrap(),
            "CAST('1); DROP TABLE t; --' AS DOUBLE)"
        );
        // 12345.6789: 3 digits, weight 1, positive, scale 4.
        let words: [i16; 7] = [3, 1, 0, 4, 1, 2345, 6789];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(numeric(&bytes, true).unwrap(), "(12345.6789)");
        // -0.00001: 1 digit (1000), weight -2, negative, scale 5.
        let words: [i16; 5] = [1, -2, 0x4000, 5, 1000];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(numeric(&bytes, true).unwrap(), "(-0.00001)");
        assert!(numeric(&[0, 5, 0], true).is_err());
        assert!(numeric(&[0, 1, 0, 0, 0, 0, 0, 0, 0x7f, 0x7f], true).is_err());
    }

    #[test]
    fn typed_and_binary_parameters_are_cast() {
        let v = 42i64.to_be_bytes();
        let p = Param {
            bytes: Some(&v),
            binary: true,
            ty: Some(Type::INT8),
        };
        assert_eq!(
            substitute("SELECT $1", &[p]).unwrap(),
            "SELECT CAST('42' AS BIGINT)"
        );
        let null = Param {
            bytes: None,
            binary: false,
            ty: Some(Type::INT4),
        };
        assert_eq!(
            substitute("SELECT $1", &[null]).unwrap(),
            "SELECT CAST(NULL AS INTEGER)"
        );
        assert!(substitute("SELECT $2", &[text("x")]).is_err());
        // A timestamptz keeps its instant under any session time zone: UTC, said so.
        let tz = |bytes: &[u8], binary: bool| {
            literal(&Param {
                bytes: Some(bytes),
                binary,
                ty: Some(Type::TIMESTAMPTZ),
            })
            .unwrap()
        };
        assert_eq!(
            tz(b"2024-03-10 13:00:00+01", false),
            "CAST('2024-03-10 12:00:00.000+00' AS TIMESTAMP)"
        );
        // 2024-03-10 12:00 UTC in microseconds since 2000-01-01.
        let us: i64 = (1_710_072_000_000 - 946_684_800_000) * 1000;
        assert_eq!(
            tz(&us.to_be_bytes(), true),
            "CAST('2024-03-10 12:00:00.000+00' AS TIMESTAMP)"
        );
        let naive = literal(&Param {
            bytes: Some(&us.to_be_bytes()),
            binary: true,
            ty: Some(Type::TIMESTAMP),
        })
        .unwrap();
        assert_eq!(naive, "CAST('2024-03-10 12:00:00.000' AS TIMESTAMP)");
    }

    #[test]
    fn statements_split_at_top_level_semicolons() {
        assert_eq!(
            split_statements("SELECT ';'; SET x = 1;; \n"),
            vec!["SELECT ';'", "SET x = 1"]
        );
    }
}
