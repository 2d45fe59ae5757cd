//! Regular expression functions: `regexp_replace`, `regexp_match`, `regexp_like`
//! (`regexp_matches`), with the `regex` crate's syntax. A pattern is compiled once per distinct
//! pattern in a row, so a constant pattern compiles once per batch.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::DataType;

use super::{arg, strings, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::string_arg;
use crate::expr::{Expr, ScalarFunction};

/// The regular expression functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &["regexp_replace"],
        bind: bind_regexp_replace,
    },
    Definition {
        names: &["regexp_match", "regexp_like", "regexp_matches"],
        bind: bind_regexp_match,
    },
];

/// `regexp_replace(s, pattern, replacement[, flags])`.
fn bind_regexp_replace(call: Call) -> Result<Expr> {
    if !(3..=4).contains(&call.args.len()) {
        return Err(Error::InvalidArgument {
            message: format!(
                "regexp_replace() takes 3 or 4 arguments, not {}",
                call.args.len()
            ),
        });
    }
    let what = format!("{}()", call.name);
    let args = call
        .args
        .into_iter()
        .map(|a| string_arg(a, &what))
        .collect::<Result<_>>()?;
    Ok(Expr::call(RegexpReplace, args))
}

/// `regexp_match(s, pattern)`, `regexp_like(s, pattern)` (`regexp_matches`).
fn bind_regexp_match(call: Call) -> Result<Expr> {
    call.arity(2)?;
    let what = format!("{}()", call.name);
    let matching = call.name == "regexp_match";
    let args = call
        .args
        .into_iter()
        .map(|a| string_arg(a, &what))
        .collect::<Result<_>>()?;
    Ok(if matching {
        Expr::call(RegexpMatch, args)
    } else {
        Expr::call(RegexpLike, args)
    })
}

/// `regexp_replace(s, pattern, replacement[, flags])`: the first match (every match with flag
/// `g`; `i` ignores case); `\1` in the replacement is the first group.
#[derive(Debug, PartialEq)]
pub(crate) struct RegexpReplace;

impl ScalarFunction for RegexpReplace {
    fn name(&self) -> &'static str {
        "regexp_replace"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        regexp_replace(args)
    }
}

/// `regexp_match(s, pattern)`: the text of the first capture group of the first match (the
/// whole match when the pattern has no group), NULL when nothing matches. PostgreSQL returns an
/// array of every group; Strata has no arrays, and this is its first element.
#[derive(Debug, PartialEq)]
pub(crate) struct RegexpMatch;

impl ScalarFunction for RegexpMatch {
    fn name(&self) -> &'static str {
        "regexp_match"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        regexp_match(args)
    }
}

/// `regexp_like(s, pattern)`, `regexp_matches(s, pattern)`: BOOLEAN, whether the pattern matches
/// anywhere in `s`.
#[derive(Debug, PartialEq)]
pub(crate) struct RegexpLike;

impl ScalarFunction for RegexpLike {
    fn name(&self) -> &'static str {
        "regexp_like"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Boolean
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        regexp_like(args)
    }
}

/// Translates a PostgreSQL replacement (`\1` a group, `\&` the match) into the `regex`
/// crate's (`${1}`, `${0}`; `$` is literal).
fn regex_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('&') => {
                    chars.next();
                    out.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// `regexp_replace(s, pattern, replacement[, flags])`; the pattern is compiled once per
/// distinct (pattern, flags) in a row, so a constant pattern compiles once per batch.
fn regexp_replace(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    let patterns = strings(arg(args, 1)?)?;
    let replacements = strings(arg(args, 2)?)?;
    let flags = args.get(3).map(strings).transpose()?;
    let mut compiled: Option<(String, String, regex::Regex, bool)> = None;
    let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
    for row in 0..values.len() {
        let flag = match flags {
            Some(f) if f.is_null(row) => None,
            Some(f) => Some(f.value(row)),
            None => Some(""),
        };
        let (Some(flag), true, true, true) = (
            flag,
            values.is_valid(row),
            patterns.is_valid(row),
            replacements.is_valid(row),
        ) else {
            builder.append_null();
            continue;
        };
        let pattern = patterns.value(row);
        let fresh = match &compiled {
            Some((p, f, _, _)) => p != pattern || f != flag,
            None => true,
        };
        if fresh {
            let mut global = false;
            let mut builder = regex::RegexBuilder::new(pattern);
            for c in flag.chars() {
                match c {
                    'g' => global = true,
                    'i' => {
                        builder.case_insensitive(true);
                    }
                    'c' => {
                        builder.case_insensitive(false);
                    }
                    other => {
                        return Err(Error::InvalidArgument {
                            message: format!(
                                "invalid regexp_replace() flag '{other}'; supported: g, i, c"
                            ),
                        })
                    }
                }
            }
            let re = builder.build().map_err(|e| Error::InvalidArgument {
                message: format!("invalid regular expression: {e}"),
            })?;
            compiled = Some((pattern.to_string(), flag.to_string(), re, global));
        }
        let Some((_, _, re, global)) = &compiled else {
            return Err(Error::internal("regex not compiled"));
        };
        let replacement = regex_replacement(replacements.value(row));
        let s = values.value(row);
        let replaced = if *global {
            re.replace_all(s, replacement.as_str())
        } else {
            re.replace(s, replacement.as_str())
        };
        builder.append_value(replaced);
    }
    Ok(Arc::new(builder.finish()))
}

/// Compiles `pattern` unless it is the one compiled for the previous row.
fn cached_regex<'c>(
    cache: &'c mut Option<(String, regex::Regex)>,
    pattern: &str,
) -> Result<&'c regex::Regex> {
    if cache.as_ref().is_none_or(|(p, _)| p != pattern) {
        let re = regex::Regex::new(pattern).map_err(|e| Error::InvalidArgument {
            message: format!("invalid regular expression: {e}"),
        })?;
        *cache = Some((pattern.to_string(), re));
    }
    match cache {
        Some((_, re)) => Ok(re),
        None => Err(Error::internal("regex not compiled")),
    }
}

/// `regexp_match(s, pattern)`: the first group of the first match (the match itself without
/// groups), NULL when there is none. The capture slots are reused from row to row.
fn regexp_match(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    let patterns = strings(arg(args, 1)?)?;
    let mut cache = None;
    let mut locations: Option<regex::CaptureLocations> = None;
    let mut builder = StringBuilder::with_capacity(values.len(), 0);
    for row in 0..values.len() {
        if values.is_null(row) || patterns.is_null(row) {
            builder.append_null();
            continue;
        }
        let fresh = cache
            .as_ref()
            .is_none_or(|(p, _): &(String, regex::Regex)| p != patterns.value(row));
        let re = cached_regex(&mut cache, patterns.value(row))?;
        if fresh || locations.is_none() {
            locations = Some(re.capture_locations());
        }
        let Some(locs) = locations.as_mut() else {
            return Err(Error::internal("no capture locations"));
        };
        let group = usize::from(re.captures_len() > 1);
        let s = values.value(row);
        match re.captures_read(locs, s).and(locs.get(group)) {
            Some((start, end)) => builder.append_value(&s[start..end]),
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// `regexp_like(s, pattern)`: whether the pattern matches anywhere.
fn regexp_like(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    let patterns = strings(arg(args, 1)?)?;
    let mut cache = None;
    let mut out = arrow::array::BooleanBuilder::with_capacity(values.len());
    for row in 0..values.len() {
        if values.is_null(row) || patterns.is_null(row) {
            out.append_null();
            continue;
        }
        let re = cached_regex(&mut cache, patterns.value(row))?;
        out.append_value(re.is_match(values.value(row)));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, StringArray};

    #[test]
    fn regexp_match_returns_the_first_group_or_the_whole_match() {
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            Some("key=42;x=7"),
            Some("none"),
            None,
        ]));
        let run = |pattern: &str| {
            let patterns: ArrayRef = Arc::new(StringArray::from(vec![pattern; 3]));
            let out = regexp_match(&[values.clone(), patterns]).unwrap();
            let out = out.as_string::<i32>();
            out.iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>()
        };
        assert_eq!(run("=([0-9]+)"), [Some("42".into()), None, None]);
        assert_eq!(run("[0-9]+"), [Some("42".into()), None, None]);
        assert_eq!(run("(x)?=(7)"), [Some("x".into()), None, None]);
    }

    #[test]
    fn regexp_replacement_translates_postgres_groups() {
        assert_eq!(regex_replacement(r"\2, \1"), "${2}, ${1}");
        assert_eq!(regex_replacement(r"[\&]"), "[${0}]");
        assert_eq!(regex_replacement("$5 \\\\ x"), "$$5 \\ x");
    }
}
