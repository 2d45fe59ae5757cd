//! Conditional functions: `coalesce` and `nullif`.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, NullArray};
use arrow::compute::kernels::{boolean, zip};
use arrow::datatypes::DataType;

use super::{arg, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::{coerce_pair, common_type};
use crate::expr::{BinaryOp, Expr, ScalarFunction};

/// The conditional functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &["coalesce"],
        bind: bind_coalesce,
    },
    Definition {
        names: &["nullif"],
        bind: bind_nullif,
    },
];

/// `coalesce(a, b, ...)`: every argument cast to the type they share (VARCHAR for NULLs only).
fn bind_coalesce(call: Call) -> Result<Expr> {
    if call.args.is_empty() {
        return Err(Error::InvalidArgument {
            message: "coalesce() needs at least one argument".into(),
        });
    }
    let mut target = common_type(&call.args, "coalesce()")?;
    if target == DataType::Null {
        target = DataType::Utf8;
    }
    let args = call.args.into_iter().map(|a| a.cast_to(&target)).collect();
    Ok(Expr::call(Coalesce, args))
}

/// `nullif(a, b)` is `CASE WHEN a = b THEN NULL ELSE a END`, typed like `a = b`.
fn bind_nullif(mut call: Call) -> Result<Expr> {
    call.arity(2)?;
    let b = call.args.remove(1);
    let a = call.args.remove(0);
    let (a, b) = coerce_pair(a, b, BinaryOp::Eq)?;
    let data_type = a.data_type();
    Ok(Expr::Case {
        when_then: vec![(
            a.clone().binary(BinaryOp::Eq, b),
            Expr::Literal(Arc::new(NullArray::new(1))).cast_to(&data_type),
        )],
        else_result: Some(Box::new(a)),
    })
}

/// `coalesce(a, b, ...)`: the first non-NULL argument. The executor evaluates a call over
/// columns lazily (each argument only over the rows the earlier ones left NULL, see
/// [`crate::eval`]); this kernel, over arguments all computed, serves constant folding.
#[derive(Debug, PartialEq)]
pub(crate) struct Coalesce;

impl ScalarFunction for Coalesce {
    fn name(&self) -> &'static str {
        "coalesce"
    }

    fn return_type(&self, args: &[Expr]) -> DataType {
        args.first().map(Expr::data_type).unwrap_or(DataType::Null)
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let mut result = arg(args, 0)?.clone();
        for next in &args[1..] {
            let present = boolean::is_not_null(result.as_ref())?;
            result = zip::zip(&present, &result, next)?;
        }
        Ok(result)
    }
}

/// The value of a correlated scalar subquery that is not an aggregate, decorrelated into a
/// grouping of its rows per outer key: `single_row(count, value)` is `value` (one of the rows'
/// values) when the subquery matched at most one row, and the error PostgreSQL gives when it
/// matched more. Internal: the binder's, not callable from SQL.
#[derive(Debug, PartialEq)]
pub(crate) struct SingleRow;

impl ScalarFunction for SingleRow {
    fn name(&self) -> &'static str {
        "single_row"
    }

    fn return_type(&self, args: &[Expr]) -> DataType {
        args.get(1).map_or(DataType::Null, Expr::data_type)
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let [count, value] = args else {
            return Err(Error::internal("single_row takes (count, value)"));
        };
        let count = count
            .as_primitive_opt::<arrow::datatypes::Int64Type>()
            .ok_or_else(|| Error::internal("single_row's count is not BIGINT"))?;
        if arrow::compute::max(count).is_some_and(|rows| rows > 1) {
            return Err(Error::InvalidArgument {
                message: "more than one row returned by a subquery used as an expression".into(),
            });
        }
        Ok(value.clone())
    }
}
