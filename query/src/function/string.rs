//! String functions: `lower`, `upper`, `length`, `octet_length`, `concat`, `||`, `substring`,
//! `trim` and friends, `replace`, `strpos` / `position`, `starts_with`.
//!
//! Kernels walk the values with a `StringBuilder`; the function and the argument types are fixed
//! before the loop.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, PrimitiveArray, StringBuilder};
use arrow::datatypes::{DataType, Int64Type};

use super::{arg, fmt_error, strings, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::{integer_arg, string_arg};
use crate::expr::{Expr, ScalarFunction};

/// The string functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &[
            "lower",
            "upper",
            "length",
            "char_length",
            "character_length",
        ],
        bind: bind_one_string,
    },
    Definition {
        names: &["concat"],
        bind: bind_concat,
    },
    Definition {
        names: &["substr", "substring"],
        bind: bind_substring,
    },
    Definition {
        names: &["trim", "btrim", "ltrim", "rtrim"],
        bind: bind_trim,
    },
    Definition {
        names: &["replace", "strpos", "starts_with", "octet_length"],
        bind: bind_strings,
    },
];

/// `lower(s)`, `upper(s)`, `length(s)` (`char_length`, `character_length`).
fn bind_one_string(mut call: Call) -> Result<Expr> {
    call.arity(1)?;
    let dt = call.args[0].data_type();
    call.expect(
        &call.args[0],
        dt == DataType::Utf8 || dt == DataType::Null,
        "a VARCHAR",
    )?;
    let args = vec![call.args.remove(0).cast_to(&DataType::Utf8)];
    Ok(match call.name {
        "lower" => Expr::call(Lower, args),
        "upper" => Expr::call(Upper, args),
        _ => Expr::call(Length, args),
    })
}

/// `concat(a, b, ...)`: every argument as text.
fn bind_concat(call: Call) -> Result<Expr> {
    if call.args.is_empty() {
        return Err(Error::InvalidArgument {
            message: "concat() needs at least one argument".into(),
        });
    }
    let args = call
        .args
        .into_iter()
        .map(|a| a.cast_to(&DataType::Utf8))
        .collect();
    Ok(Expr::call(Concat, args))
}

/// `substring(s, start[, count])`, `substr`.
fn bind_substring(mut call: Call) -> Result<Expr> {
    if !(2..=3).contains(&call.args.len()) {
        return Err(Error::InvalidArgument {
            message: format!(
                "{}() takes 2 or 3 arguments, not {}",
                call.name,
                call.args.len()
            ),
        });
    }
    let mut bound = vec![string_arg(call.args.remove(0), "substring()")?];
    for a in call.args {
        bound.push(integer_arg(a, "substring()")?);
    }
    Ok(Expr::call(Substring, bound))
}

/// `trim(s[, chars])`, `btrim`, `ltrim`, `rtrim`.
fn bind_trim(call: Call) -> Result<Expr> {
    if !(1..=2).contains(&call.args.len()) {
        return Err(Error::InvalidArgument {
            message: format!(
                "{}() takes 1 or 2 arguments, not {}",
                call.name,
                call.args.len()
            ),
        });
    }
    let side = match call.name {
        "ltrim" => TrimSide::Leading,
        "rtrim" => TrimSide::Trailing,
        _ => TrimSide::Both,
    };
    let args = call
        .args
        .into_iter()
        .map(|a| string_arg(a, "trim()"))
        .collect::<Result<_>>()?;
    Ok(Expr::call(Trim(side), args))
}

/// `replace(s, from, to)`, `strpos(s, sub)`, `starts_with(s, prefix)`, `octet_length(s)`: a
/// fixed number of VARCHAR arguments.
fn bind_strings(call: Call) -> Result<Expr> {
    let func: Arc<dyn ScalarFunction> = match call.name {
        "replace" => {
            call.arity(3)?;
            Arc::new(Replace)
        }
        "strpos" => {
            call.arity(2)?;
            Arc::new(Strpos)
        }
        "starts_with" => {
            call.arity(2)?;
            Arc::new(StartsWith)
        }
        _ => {
            call.arity(1)?;
            Arc::new(OctetLength)
        }
    };
    let what = format!("{}()", call.name);
    let args = call
        .args
        .into_iter()
        .map(|a| string_arg(a, &what))
        .collect::<Result<_>>()?;
    Ok(Expr::Function { func, args })
}

/// `lower(s)`
#[derive(Debug, PartialEq)]
pub(crate) struct Lower;

impl ScalarFunction for Lower {
    fn name(&self) -> &'static str {
        "lower"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        change_case(arg(args, 0)?, true)
    }
}

/// `upper(s)`
#[derive(Debug, PartialEq)]
pub(crate) struct Upper;

impl ScalarFunction for Upper {
    fn name(&self) -> &'static str {
        "upper"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        change_case(arg(args, 0)?, false)
    }
}

/// `lower` (`lower == true`) or `upper` of every value, by Unicode's case mappings.
fn change_case(first: &ArrayRef, lower: bool) -> Result<ArrayRef> {
    let strings = first
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::internal("lower/upper of a non-VARCHAR"))?;
    let mut builder = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
    for value in strings.iter() {
        match value {
            None => builder.append_null(),
            Some(s) => {
                for c in s.chars() {
                    let result = if lower {
                        c.to_lowercase().try_for_each(|l| builder.write_char(l))
                    } else {
                        c.to_uppercase().try_for_each(|u| builder.write_char(u))
                    };
                    result.map_err(|e| Error::internal(e.to_string()))?;
                }
                builder.append_value("");
            }
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// `length(s)`: characters, INTEGER.
#[derive(Debug, PartialEq)]
pub(crate) struct Length;

impl ScalarFunction for Length {
    fn name(&self) -> &'static str {
        "length"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Int32
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let strings = arg(args, 0)?
            .as_string_opt::<i32>()
            .ok_or_else(|| Error::internal("length of a non-VARCHAR"))?;
        let lengths: Int32Array = strings
            .iter()
            .map(|s| s.map(|s| i32::try_from(s.chars().count()).unwrap_or(i32::MAX)))
            .collect();
        Ok(Arc::new(lengths))
    }
}

/// `octet_length(s)`: bytes, INTEGER.
#[derive(Debug, PartialEq)]
pub(crate) struct OctetLength;

impl ScalarFunction for OctetLength {
    fn name(&self) -> &'static str {
        "octet_length"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Int32
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        Ok(arrow::compute::kernels::length::length(arg(args, 0)?)?)
    }
}

/// `a || b || ...`: NULL when any operand is. The binder builds it from the operator, with
/// every operand cast to VARCHAR.
#[derive(Debug, PartialEq)]
pub(crate) struct ConcatOperator;

impl ScalarFunction for ConcatOperator {
    fn name(&self) -> &'static str {
        "||"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let first = arg(args, 0)?;
        if args.len() == 2 {
            let (a, b) = (strings(first)?, strings(arg(args, 1)?)?);
            return Ok(Arc::new(
                arrow::compute::kernels::concat_elements::concat_elements_utf8(a, b)?,
            ));
        }
        // `a || b || c ...` in one pass: NULL when any operand is NULL.
        let parts = args.iter().map(strings).collect::<Result<Vec<_>>>()?;
        let bytes = parts.iter().map(|p| p.value_data().len()).sum();
        let mut builder = StringBuilder::with_capacity(first.len(), bytes);
        for row in 0..first.len() {
            if parts.iter().all(|p| p.is_valid(row)) {
                for part in &parts {
                    builder.write_str(part.value(row)).map_err(fmt_error)?;
                }
                builder.append_value("");
            } else {
                builder.append_null();
            }
        }
        Ok(Arc::new(builder.finish()))
    }

    fn fmt_call(&self, args: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({})", args.join(" || "))
    }
}

/// `concat(a, b, ...)`: NULL arguments are skipped; never NULL.
#[derive(Debug, PartialEq)]
pub(crate) struct Concat;

impl ScalarFunction for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let first = arg(args, 0)?;
        let parts = args.iter().map(strings).collect::<Result<Vec<_>>>()?;
        let mut builder = StringBuilder::with_capacity(first.len(), 0);
        for row in 0..first.len() {
            for part in &parts {
                if part.is_valid(row) {
                    builder.write_str(part.value(row)).map_err(fmt_error)?;
                }
            }
            builder.append_value("");
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// `substring(s, start[, count])`, `substring(s FROM start FOR count)`, `substr`: 1-based
/// characters; a negative count is an error.
#[derive(Debug, PartialEq)]
pub(crate) struct Substring;

impl ScalarFunction for Substring {
    fn name(&self) -> &'static str {
        "substring"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        substring(args)
    }
}

/// PostgreSQL's `substring(s FROM start [FOR count])`: the characters at 1-based positions
/// `start .. start + count` that exist (a start before 1 still counts toward `count`).
fn substring(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    fn int64(a: &ArrayRef) -> Result<&PrimitiveArray<Int64Type>> {
        a.as_primitive_opt::<Int64Type>()
            .ok_or_else(|| Error::internal("substring() position is not BIGINT"))
    }
    let starts = int64(arg(args, 1)?)?;
    let counts = args.get(2).map(int64).transpose()?;
    let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
    for row in 0..values.len() {
        if values.is_null(row) || starts.is_null(row) || counts.is_some_and(|c| c.is_null(row)) {
            builder.append_null();
            continue;
        }
        let s = values.value(row);
        let start = starts.value(row);
        let end = match counts {
            Some(c) => {
                let count = c.value(row);
                if count < 0 {
                    return Err(Error::InvalidArgument {
                        message: "negative substring length not allowed".into(),
                    });
                }
                start.saturating_add(count)
            }
            None => i64::MAX,
        };
        // Characters [first, last) in 0-based positions.
        let first = usize::try_from(start.max(1) - 1).unwrap_or(usize::MAX);
        let last = usize::try_from(end.max(1) - 1).unwrap_or(usize::MAX);
        if last <= first {
            builder.append_value("");
        } else if s.is_ascii() {
            let (a, b) = (first.min(s.len()), last.min(s.len()));
            builder.append_value(&s[a..b]);
        } else {
            let piece: String = s.chars().skip(first).take(last - first).collect();
            builder.append_value(piece);
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// Which end(s) `trim` strips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimSide {
    /// `trim(s)`, `btrim(s, chars)`, `trim(BOTH ...)`
    Both,
    /// `ltrim`, `trim(LEADING ...)`
    Leading,
    /// `rtrim`, `trim(TRAILING ...)`
    Trailing,
}

/// `trim`, `ltrim`, `rtrim`, `btrim`: strips the characters of the second argument (spaces when
/// absent).
#[derive(Debug, PartialEq)]
pub(crate) struct Trim(pub(crate) TrimSide);

impl ScalarFunction for Trim {
    fn name(&self) -> &'static str {
        match self.0 {
            TrimSide::Both => "btrim",
            TrimSide::Leading => "ltrim",
            TrimSide::Trailing => "rtrim",
        }
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let values = strings(arg(args, 0)?)?;
        let chars = args.get(1).map(strings).transpose()?;
        let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
        for row in 0..values.len() {
            let set = match chars {
                Some(c) if c.is_null(row) => None,
                Some(c) => Some(c.value(row)),
                None => Some(" "),
            };
            match (values.is_valid(row), set) {
                (true, Some(set)) => {
                    let s = values.value(row);
                    let strip = |c: char| set.contains(c);
                    builder.append_value(match self.0 {
                        TrimSide::Both => s.trim_matches(strip),
                        TrimSide::Leading => s.trim_start_matches(strip),
                        TrimSide::Trailing => s.trim_end_matches(strip),
                    });
                }
                _ => builder.append_null(),
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// `replace(s, from, to)`: every occurrence.
#[derive(Debug, PartialEq)]
pub(crate) struct Replace;

impl ScalarFunction for Replace {
    fn name(&self) -> &'static str {
        "replace"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let (values, from, to) = (
            strings(arg(args, 0)?)?,
            strings(arg(args, 1)?)?,
            strings(arg(args, 2)?)?,
        );
        let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
        for row in 0..values.len() {
            if values.is_null(row) || from.is_null(row) || to.is_null(row) {
                builder.append_null();
            } else if from.value(row).is_empty() {
                builder.append_value(values.value(row));
            } else {
                builder.append_value(values.value(row).replace(from.value(row), to.value(row)));
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// `strpos(s, sub)`, `position(sub IN s)`: the 1-based character position, 0 when absent.
#[derive(Debug, PartialEq)]
pub(crate) struct Strpos;

impl ScalarFunction for Strpos {
    fn name(&self) -> &'static str {
        "strpos"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Int32
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let (values, needles) = (strings(arg(args, 0)?)?, strings(arg(args, 1)?)?);
        let positions: Int32Array = values
            .iter()
            .zip(needles.iter())
            .map(|(s, needle)| {
                let (s, needle) = (s?, needle?);
                let position = match s.find(needle) {
                    Some(byte) => s[..byte].chars().count() + 1,
                    None => 0,
                };
                Some(i32::try_from(position).unwrap_or(i32::MAX))
            })
            .collect();
        Ok(Arc::new(positions))
    }
}

/// `starts_with(s, prefix)`: BOOLEAN.
#[derive(Debug, PartialEq)]
pub(crate) struct StartsWith;

impl ScalarFunction for StartsWith {
    fn name(&self) -> &'static str {
        "starts_with"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Boolean
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        Ok(Arc::new(arrow::compute::kernels::comparison::starts_with(
            arg(args, 0)?,
            arg(args, 1)?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    #[test]
    fn substring_counts_a_start_before_one_toward_the_length() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["hello", "héllo"]));
        let start: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![-1, 2]));
        let count: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![3, 2]));
        let out = substring(&[s, start, count]).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!((out.value(0), out.value(1)), ("h", "él"));
    }
}
