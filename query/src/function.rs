//! The scalar functions: one file per family, one registration table (`FAMILIES`).
//!
//! A function is a type implementing [`ScalarFunction`](crate::expr::ScalarFunction) (its name, result type and kernel: one
//! call per batch over whole arrays) and a [`Definition`] in its family's `FUNCTIONS` list (the
//! SQL names it answers to and how a call is bound: which arguments it accepts, the casts they
//! get, the options fixed at bind time). Adding a function is one edit in its family's file plus
//! its `.slt` records.
//!
//! ```text
//! string.rs       lower, upper, length, concat, ||, substring, trim, replace, strpos, ...
//! regex.rs        regexp_replace, regexp_match, regexp_like
//! time.rs         date_trunc, date_part / extract, to_timestamp, now
//! bucket.rs       time_bucket / date_bin (with a time zone: local days and months)
//! zone.rs         AT TIME ZONE and the time zone database (no SQL names of its own)
//! math.rs         abs, floor, ceil
//! conditional.rs  coalesce, nullif
//! grouping.rs     grouping (GROUPING SETS, ROLLUP, CUBE)
//! json.rs         json_extract[_string], json_extract_path[_text], json_valid; -> and ->>
//! list.rs         cardinality, array_length, the subscript a[i]
//! types.rs        typeof
//! ```
//!
//! The binder looks a name up with [`lookup`] (after the session functions of
//! [`crate::pg_catalog`]); the executor calls
//! [`ScalarFunction::invoke`](crate::expr::ScalarFunction::invoke).

pub(crate) mod age;
pub(crate) mod bucket;
pub(crate) mod conditional;
pub(crate) mod grouping;
pub(crate) mod json;
pub(crate) mod list;
pub(crate) mod math;
pub(crate) mod regex;
pub(crate) mod string;
pub(crate) mod time;
pub(crate) mod types;
pub(crate) mod zone;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};

use crate::error::{Error, Result};
use crate::expr::coerce::type_name;
use crate::expr::Expr;

/// Every family's functions.
const FAMILIES: &[&[Definition]] = &[
    string::FUNCTIONS,
    regex::FUNCTIONS,
    time::FUNCTIONS,
    bucket::FUNCTIONS,
    math::FUNCTIONS,
    conditional::FUNCTIONS,
    grouping::FUNCTIONS,
    json::FUNCTIONS,
    list::FUNCTIONS,
    types::FUNCTIONS,
    age::FUNCTIONS,
];

/// A SQL function of the registry: its names and how a call is bound.
#[derive(Debug)]
pub struct Definition {
    /// The lower-case names it answers to.
    pub names: &'static [&'static str],
    /// Checks and casts the bound arguments of a call and builds its expression (usually an
    /// [`Expr::Function`]; `nullif` is a `CASE`, `now()` a literal).
    pub bind: fn(Call) -> Result<Expr>,
}

/// The function named `name` (lower case), if there is one.
pub fn lookup(name: &str) -> Option<&'static Definition> {
    FAMILIES
        .iter()
        .flat_map(|family| family.iter())
        .find(|definition| definition.names.contains(&name))
}

/// A call being bound.
#[derive(Debug)]
pub struct Call<'a> {
    /// The name it was called by (for messages: `char_length()`, not `length()`).
    pub name: &'a str,
    /// The bound arguments, not yet coerced.
    pub args: Vec<Expr>,
    /// The statement's clock, milliseconds since the epoch (`None`: the wall clock).
    pub now_ms: Option<i64>,
    /// The session's `TimeZone` (`None`: UTC).
    pub time_zone: Option<crate::TimeZone>,
}

impl Call<'_> {
    /// Fails unless the call has `n` arguments.
    pub fn arity(&self, n: usize) -> Result<()> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                message: format!(
                    "{}() takes {n} argument(s), not {}",
                    self.name,
                    self.args.len()
                ),
            })
        }
    }

    /// Fails with a type mismatch naming `wanted` unless `ok`.
    pub fn expect(&self, arg: &Expr, ok: bool, wanted: &str) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::mismatch(format!(
                "{}() needs {wanted}, not {} ({arg})",
                self.name,
                type_name(&arg.data_type())
            )))
        }
    }
}

/// The text of a non-NULL string literal argument (a unit or field name), else `None`.
pub fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(v) => v
            .as_any()
            .downcast_ref::<StringArray>()
            .filter(|s| s.is_valid(0))
            .map(|s| s.value(0).to_string()),
        _ => None,
    }
}

fn fmt_error(e: std::fmt::Error) -> Error {
    Error::internal(e.to_string())
}

fn arg(args: &[ArrayRef], i: usize) -> Result<&ArrayRef> {
    args.get(i)
        .ok_or_else(|| Error::internal(format!("missing function argument #{i}")))
}

fn strings(array: &ArrayRef) -> Result<&StringArray> {
    array
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::internal(format!("expected VARCHAR, got {}", array.data_type())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_registered_once_in_lower_case() {
        let mut names: Vec<&str> = FAMILIES
            .iter()
            .flat_map(|family| family.iter())
            .flat_map(|definition| definition.names.iter().copied())
            .collect();
        assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name is registered twice");
    }
}
