//! JSON functions over VARCHAR columns holding JSON text (what ingest keeps for a nested
//! object or array): `json -> key | index` and `json_extract(json, path)` (the JSON text of the
//! value found), `json ->> key | index` and `json_extract_string(json, path)` (a string's value,
//! unquoted; another value's JSON text; NULL for JSON null), PostgreSQL's
//! `json_extract_path[_text](json, key, ...)`, and `json_valid(text)`.
//!
//! Paths are constants, parsed once when the call is bound: `'$.a.b[0]'`, `'$."a b"'`, or a
//! plain key. Each row's text is walked without building values: at each step the object's keys
//! are compared as they are read (borrowed from the text unless they hold escapes), the other
//! members skipped, and the member found is taken as a slice of the row's text
//! ([`RawValue`]). Objects and arrays come out minified, byte for byte otherwise; numbers as
//! written (DuckDB re-prints them: `1.50` is `1.5` there). Text that is not JSON is an error, as
//! in DuckDB and PostgreSQL; a missing key or index gives NULL.

use std::borrow::Cow;
use std::fmt;

use arrow::array::{Array, ArrayRef, BooleanArray, StringBuilder};
use arrow::datatypes::DataType;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{arg, string_literal, strings, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::{Expr, ScalarFunction};

/// The JSON functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &["json_extract", "json_extract_string"],
        bind: bind_extract,
    },
    Definition {
        names: &["json_extract_path", "json_extract_path_text"],
        bind: bind_extract_path,
    },
    Definition {
        names: &["json_valid"],
        bind: bind_valid,
    },
];

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// An object member.
    Key(String),
    /// An array element (negative: from the end).
    Index(i64),
}

/// `$.a.b[0]`, `$."a b"[1]`, `$` (the whole value); anything not starting with `$` is one key.
fn parse_path(text: &str) -> Result<Vec<Step>> {
    let bad = |why: &str| Error::InvalidArgument {
        message: format!("invalid JSON path '{text}': {why}; write e.g. '$.a.b[0]'"),
    };
    let Some(mut rest) = text.strip_prefix('$') else {
        return Ok(vec![Step::Key(text.to_string())]);
    };
    let mut steps = vec![];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"').ok_or_else(|| bad("unclosed quote"))?;
                steps.push(Step::Key(quoted[..end].to_string()));
                rest = &quoted[end + 1..];
            } else {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                if end == 0 {
                    return Err(bad("empty key"));
                }
                steps.push(Step::Key(after[..end].to_string()));
                rest = &after[end..];
            }
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| bad("unclosed ["))?;
            let inner = after[..end].trim();
            let index = match inner.strip_prefix('#') {
                // `[#-1]`: DuckDB's spelling of "from the end".
                Some(from_end) => from_end.trim().parse::<i64>().ok().filter(|i| *i < 0),
                None => inner.parse::<i64>().ok().filter(|i| *i >= 0),
            }
            .ok_or_else(|| bad("an index is a number, [#-n] from the end"))?;
            steps.push(Step::Index(index));
            rest = &after[end + 1..];
        } else {
            return Err(bad("expected . or ["));
        }
    }
    Ok(steps)
}

/// The step a `->` / `->>` right operand names: a string is a key (a `$` path when it starts
/// with `$`), an integer an array index.
pub(crate) fn operator_path(operand: &Expr) -> Result<Vec<Step>> {
    if let Some(text) = string_literal(operand) {
        return parse_path(&text);
    }
    if let Expr::Literal(v) = operand {
        if let Ok(i) = arrow::compute::cast(v, &DataType::Int64) {
            if let Some(i) = i
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .filter(|i| i.is_valid(0))
            {
                return Ok(vec![Step::Index(i.value(0))]);
            }
        }
    }
    Err(Error::InvalidArgument {
        message: format!(
            "the right side of -> / ->> must be a constant key or index, not {operand}"
        ),
    })
}

/// `json -> step` (`text`: `->>`): the call the binder builds for the operators.
pub(crate) fn extract_call(json: Expr, path: Vec<Step>, text: bool) -> Result<Expr> {
    let dt = json.data_type();
    if !matches!(dt, DataType::Utf8 | DataType::Null) {
        return Err(Error::mismatch(format!(
            "-> and ->> read JSON text (VARCHAR), not {dt} ({json})"
        )));
    }
    Ok(Expr::call(
        JsonExtract { path, text },
        vec![json.cast_to(&DataType::Utf8)],
    ))
}

fn bind_extract(mut call: Call) -> Result<Expr> {
    call.arity(2)?;
    let path = call.args.remove(1);
    let text = string_literal(&path).ok_or_else(|| Error::InvalidArgument {
        message: format!("{}() takes a constant path, e.g. '$.a.b'", call.name),
    })?;
    let json = call.args.remove(0);
    extract_call(json, parse_path(&text)?, call.name == "json_extract_string")
}

fn bind_extract_path(mut call: Call) -> Result<Expr> {
    if call.args.len() < 2 {
        return Err(Error::InvalidArgument {
            message: format!("{}(json, key, ...) needs at least one key", call.name),
        });
    }
    let keys = call.args.split_off(1);
    let mut path = Vec::with_capacity(keys.len());
    for key in &keys {
        let key = string_literal(key).ok_or_else(|| Error::InvalidArgument {
            message: format!("{}() takes constant keys", call.name),
        })?;
        // PostgreSQL: a key that is an integer also indexes an array.
        path.push(match key.parse::<i64>() {
            Ok(i) => Step::Index(i),
            Err(_) => Step::Key(key),
        });
    }
    let json = call.args.remove(0);
    extract_call(json, path, call.name == "json_extract_path_text")
}

fn bind_valid(mut call: Call) -> Result<Expr> {
    call.arity(1)?;
    let json = call.args.remove(0);
    Ok(Expr::call(JsonValid, vec![json.cast_to(&DataType::Utf8)]))
}

/// An object key as read: borrowed from the text unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Finds one step's member in a value: `None` when the value is not a container of the right
/// kind or has no such member.
struct Find<'p>(&'p Step);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.0 {
                Step::Key(wanted) if found.is_none() && key.0 == wanted.as_str() => {
                    found = Some(map.next_value::<&'de RawValue>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        match *self.0 {
            Step::Index(wanted) if wanted >= 0 => {
                let mut i = 0;
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    if i == wanted {
                        found = Some(v);
                    }
                    i += 1;
                }
            }
            Step::Index(from_end) => {
                // Keep the last -from_end elements in a small ring.
                let keep = from_end.unsigned_abs() as usize;
                let mut ring: std::collections::VecDeque<&'de RawValue> =
                    std::collections::VecDeque::with_capacity(keep.min(64));
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    if ring.len() == keep {
                        ring.pop_front();
                    }
                    ring.push_back(v);
                }
                if ring.len() == keep {
                    found = ring.front().copied();
                }
            }
            Step::Key(_) => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
}

/// The value at `path` in `text`, as a slice of it; an error when `text` is not JSON.
fn find<'t>(text: &'t str, path: &[Step]) -> Result<Option<&'t str>> {
    let invalid = |e: serde_json::Error| Error::InvalidArgument {
        message: format!("malformed JSON ({e}) in {}", preview(text)),
    };
    if path.is_empty() {
        let whole: &'t RawValue = serde_json::from_str(text).map_err(invalid)?;
        return Ok(Some(whole.get().trim()));
    }
    let mut current: &'t str = text;
    for (depth, step) in path.iter().enumerate() {
        let mut d = serde_json::Deserializer::from_str(current);
        let found = Find(step).deserialize(&mut d).map_err(invalid)?;
        if depth == 0 {
            // The members were read or skipped (and so checked) to the end of the value: what
            // follows it must be whitespace.
            d.end().map_err(invalid)?;
        }
        match found {
            Some(v) => current = v.get(),
            None => return Ok(None),
        }
    }
    Ok(Some(current.trim()))
}

fn preview(text: &str) -> String {
    let cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        format!("'{cut}...'")
    } else {
        format!("'{cut}'")
    }
}

/// Appends `raw` (one JSON value) without the whitespace outside its strings.
fn push_minified(raw: &str, out: &mut String) {
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
}

/// `json_extract` / `->` (`text: false`) and `json_extract_string` / `->>` (`text: true`) at a
/// fixed path.
#[derive(Debug, PartialEq)]
pub(crate) struct JsonExtract {
    path: Vec<Step>,
    text: bool,
}

impl ScalarFunction for JsonExtract {
    fn name(&self) -> &'static str {
        if self.text {
            "json_extract_string"
        } else {
            "json_extract"
        }
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let input = strings(arg(args, 0)?)?;
        let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len() / 2);
        // One buffer for the minified values, reused across rows.
        let mut scratch = String::new();
        for i in 0..input.len() {
            if input.is_null(i) {
                out.append_null();
                continue;
            }
            let Some(raw) = find(input.value(i), &self.path)? else {
                out.append_null();
                continue;
            };
            match raw.as_bytes().first() {
                Some(b'n') if self.text => out.append_null(),
                Some(b'"') if self.text => {
                    let value: Cow<'_, str> = serde_json::from_str::<Key<'_>>(raw)
                        .map(|k| k.0)
                        .map_err(|e| Error::InvalidArgument {
                            message: format!("malformed JSON string ({e})"),
                        })?;
                    out.append_value(value);
                }
                Some(b'{' | b'[') => {
                    scratch.clear();
                    push_minified(raw, &mut scratch);
                    out.append_value(&scratch);
                }
                _ => out.append_value(raw),
            }
        }
        Ok(std::sync::Arc::new(out.finish()))
    }

    fn fmt_call(&self, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path: Vec<String> = self
            .path
            .iter()
            .map(|s| match s {
                Step::Key(k) => format!(".{k}"),
                Step::Index(i) => format!("[{i}]"),
            })
            .collect();
        write!(
            f,
            "{}({}, '${}')",
            self.name(),
            args.join(", "),
            path.concat()
        )
    }
}

/// `json_valid(text)`: whether the text is one JSON value (NULL for NULL).
#[derive(Debug, PartialEq)]
pub(crate) struct JsonValid;

impl ScalarFunction for JsonValid {
    fn name(&self) -> &'static str {
        "json_valid"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        DataType::Boolean
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let input = strings(arg(args, 0)?)?;
        let out: BooleanArray = input
            .iter()
            .map(|v| v.map(|t| serde_json::from_str::<IgnoredAny>(t).is_ok()))
            .collect();
        Ok(std::sync::Arc::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_duckdb() {
        assert_eq!(
            parse_path("$.a.\"b c\"[2][#-1]").unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Key("b c".into()),
                Step::Index(2),
                Step::Index(-1)
            ]
        );
        assert_eq!(
            parse_path("plain").unwrap(),
            vec![Step::Key("plain".into())]
        );
        assert!(parse_path("$.").is_err());
        assert!(parse_path("$[x]").is_err());
    }

    #[test]
    fn find_walks_without_building_values() {
        let text = r#"{"a": {"b": [1, {"c": "x"}, 3]}, "a": 2, "s": "q\"q"}"#;
        let path = parse_path("$.a.b[1].c").unwrap();
        assert_eq!(find(text, &path).unwrap(), Some("\"x\""));
        assert_eq!(find(text, &[Step::Key("zz".into())]).unwrap(), None);
        assert_eq!(find("[1,2,3]", &[Step::Index(-1)]).unwrap(), Some("3"));
        assert_eq!(find("[1,2,3]", &[Step::Index(-4)]).unwrap(), None);
        assert!(find("{nope", &[Step::Key("a".into())]).is_err());
        let mut out = String::new();
        push_minified("{ \"a b\" : [1, \"x y\"] }", &mut out);
        assert_eq!(out, "{\"a b\":[1,\"x y\"]}");
    }
}
