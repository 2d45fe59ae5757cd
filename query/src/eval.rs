//! Vectorized expression evaluation: one Arrow kernel call per expression node per batch.
//!
//! Below the plans: the operators evaluate their expressions with it, and the binder and the
//! optimizer fold constant subexpressions with it ([`fold_constants`]). It knows expressions,
//! the scalar functions ([`ScalarFunction::invoke`](crate::expr::ScalarFunction::invoke)) and
//! the SQL kernels, nothing of plans.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Datum, Float64Array, Scalar, UInt32Array,
};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};
use crate::expr::{BinaryOp, Expr};
use crate::function::conditional::Coalesce;
use crate::kernel::{cast, fit_decimal, normalize_zero};

/// The value of an expression over a batch: a column, or one value for every row.
#[derive(Debug, Clone)]
pub enum Value {
    /// One value per row.
    Array(ArrayRef),
    /// The same value for every row (a one-element array).
    Scalar(ArrayRef),
}

impl Value {
    /// The value as a kernel argument (one boxed handle per node and batch, not per row).
    fn datum(&self) -> Box<dyn Datum> {
        match self {
            Value::Array(a) => Box::new(a.clone()),
            Value::Scalar(s) => Box::new(Scalar::new(s.clone())),
        }
    }

    /// The underlying array: all rows, or the single value.
    fn inner(&self) -> &ArrayRef {
        match self {
            Value::Array(a) => a,
            Value::Scalar(s) => s,
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Value::Scalar(_))
    }

    /// The value with `f` applied to its array (all rows, or the single value).
    fn map(self, f: impl FnOnce(&ArrayRef) -> Result<ArrayRef>) -> Result<Value> {
        Ok(match self {
            Value::Array(a) => Value::Array(f(&a)?),
            Value::Scalar(s) => Value::Scalar(f(&s)?),
        })
    }

    /// The value as an array of `num_rows` rows (a scalar is repeated).
    pub fn into_array(self, num_rows: usize) -> Result<ArrayRef> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(single) => {
                let indices = UInt32Array::from(vec![0u32; num_rows]);
                Ok(arrow::compute::take(single.as_ref(), &indices, None)?)
            }
        }
    }
}

/// Wraps a kernel result: a scalar when every input was one.
fn wrap(array: ArrayRef, scalar: bool) -> Value {
    if scalar && array.len() == 1 {
        Value::Scalar(array)
    } else {
        Value::Array(array)
    }
}

fn boolean_array(value: Value, num_rows: usize) -> Result<BooleanArray> {
    let array = value.into_array(num_rows)?;
    array
        .as_boolean_opt()
        .cloned()
        .ok_or_else(|| Error::internal(format!("expected BOOLEAN, got {}", array.data_type())))
}

/// Evaluates `expr` over every row of `batch`.
// Expressions nest up to --expression-depth-max: grow the stack as needed (scan threads
// have the default 2 MiB).
#[recursive::recursive]
pub fn evaluate(expr: &Expr, batch: &RecordBatch) -> Result<Value> {
    let rows = batch.num_rows();
    match expr {
        Expr::Column { index, name, .. } => batch
            .columns()
            .get(*index)
            .cloned()
            .map(Value::Array)
            .ok_or_else(|| Error::internal(format!("column {name}#{index} is not in the batch"))),
        Expr::OuterColumn { name, .. } => Err(Error::internal(format!(
            "outer column {name} of a correlated subquery left in the plan"
        ))),
        Expr::Subquery(subquery) => Err(Error::internal(format!(
            "{subquery} was not run before the query"
        ))),
        Expr::Literal(value) => Ok(Value::Scalar(value.clone())),
        Expr::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            left,
            right,
        } if !expr.is_constant() => evaluate_logical(*op, left, right, batch),
        Expr::Function { func, args } if func.is::<Coalesce>() && !expr.is_constant() => {
            evaluate_coalesce(expr.data_type(), args, batch)
        }
        Expr::Binary { op, left, right } => {
            let (mut l, mut r) = (evaluate(left, batch)?, evaluate(right, batch)?);
            if op.is_comparison() {
                l = l.map(normalize_zero)?;
                r = r.map(normalize_zero)?;
                if crate::interval::is_interval(l.inner().data_type()) {
                    (l, r) = comparable_intervals(l, r)?;
                }
            }
            let scalar = l.is_scalar() && r.is_scalar();
            let n = if scalar { 1 } else { rows };
            if op.is_arithmetic() {
                if let to @ DataType::Decimal128(_, _) = expr.data_type() {
                    let result =
                        decimal_arithmetic(*op, l.datum().as_ref(), r.datum().as_ref(), &to)?;
                    return Ok(wrap(result, scalar));
                }
            }
            let result: ArrayRef = match op {
                BinaryOp::Eq => Arc::new(cmp::eq(l.datum().as_ref(), r.datum().as_ref())?),
                BinaryOp::NotEq => Arc::new(cmp::neq(l.datum().as_ref(), r.datum().as_ref())?),
                BinaryOp::Lt => Arc::new(cmp::lt(l.datum().as_ref(), r.datum().as_ref())?),
                BinaryOp::LtEq => Arc::new(cmp::lt_eq(l.datum().as_ref(), r.datum().as_ref())?),
                BinaryOp::Gt => Arc::new(cmp::gt(l.datum().as_ref(), r.datum().as_ref())?),
                BinaryOp::GtEq => Arc::new(cmp::gt_eq(l.datum().as_ref(), r.datum().as_ref())?),
                BinaryOp::IsDistinctFrom => {
                    Arc::new(cmp::distinct(l.datum().as_ref(), r.datum().as_ref())?)
                }
                BinaryOp::IsNotDistinctFrom => {
                    Arc::new(cmp::not_distinct(l.datum().as_ref(), r.datum().as_ref())?)
                }
                BinaryOp::And => Arc::new(boolean::and_kleene(
                    &boolean_array(l, n)?,
                    &boolean_array(r, n)?,
                )?),
                BinaryOp::Or => Arc::new(boolean::or_kleene(
                    &boolean_array(l, n)?,
                    &boolean_array(r, n)?,
                )?),
                BinaryOp::Plus => numeric::add(l.datum().as_ref(), r.datum().as_ref())?,
                BinaryOp::Minus => subtract(&l, &r)?,
                BinaryOp::Multiply => numeric::mul(l.datum().as_ref(), r.datum().as_ref())?,
                BinaryOp::Divide => {
                    check_float_divisor(&r)?;
                    numeric::div(l.datum().as_ref(), r.datum().as_ref())?
                }
                BinaryOp::Modulo => {
                    check_float_divisor(&r)?;
                    numeric::rem(l.datum().as_ref(), r.datum().as_ref())?
                }
            };
            Ok(wrap(result, scalar))
        }
        Expr::Not(inner) => {
            let v = evaluate(inner, batch)?;
            let scalar = v.is_scalar();
            let b = v
                .inner()
                .as_boolean_opt()
                .ok_or_else(|| Error::internal("NOT of a non-boolean"))?;
            Ok(wrap(Arc::new(boolean::not(b)?), scalar))
        }
        Expr::Negative(inner) => {
            let v = evaluate(inner, batch)?;
            Ok(wrap(numeric::neg(v.inner().as_ref())?, v.is_scalar()))
        }
        Expr::IsNull(inner) => {
            let v = evaluate(inner, batch)?;
            Ok(wrap(
                Arc::new(boolean::is_null(v.inner().as_ref())?),
                v.is_scalar(),
            ))
        }
        Expr::IsNotNull(inner) => {
            let v = evaluate(inner, batch)?;
            Ok(wrap(
                Arc::new(boolean::is_not_null(v.inner().as_ref())?),
                v.is_scalar(),
            ))
        }
        Expr::Like {
            negated,
            case_insensitive,
            expr,
            pattern,
        } => {
            use arrow::compute::kernels::comparison::{ilike, like, nilike, nlike};
            let (v, p) = (evaluate(expr, batch)?, evaluate(pattern, batch)?);
            let scalar = v.is_scalar() && p.is_scalar();
            let result = match (negated, case_insensitive) {
                (false, false) => like(v.datum().as_ref(), p.datum().as_ref())?,
                (false, true) => ilike(v.datum().as_ref(), p.datum().as_ref())?,
                (true, false) => nlike(v.datum().as_ref(), p.datum().as_ref())?,
                (true, true) => nilike(v.datum().as_ref(), p.datum().as_ref())?,
            };
            Ok(wrap(Arc::new(result), scalar))
        }
        Expr::InSet { expr, set, negated } => {
            let v = evaluate(expr, batch)?;
            Ok(wrap(
                Arc::new(set.contains(v.inner(), *negated)?),
                v.is_scalar(),
            ))
        }
        Expr::Cast { expr, data_type } => {
            let v = evaluate(expr, batch)?;
            Ok(wrap(cast(v.inner(), data_type)?, v.is_scalar()))
        }
        Expr::Function { func, args } => {
            let values = args
                .iter()
                .map(|a| evaluate(a, batch))
                .collect::<Result<Vec<_>>>()?;
            let scalar = values.iter().all(Value::is_scalar);
            let n = if scalar { 1 } else { rows };
            let arrays = values
                .into_iter()
                .map(|v| v.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            if arrays.is_empty() {
                return Err(Error::internal(format!(
                    "{}() without arguments",
                    func.name()
                )));
            }
            Ok(wrap(func.invoke(&arrays)?, scalar))
        }
        Expr::Case {
            when_then,
            else_result,
        } => evaluate_case(expr.data_type(), when_then, else_result.as_deref(), batch),
        Expr::Aggregate(agg) => Err(Error::internal(format!(
            "aggregate {agg} reached the executor"
        ))),
        Expr::Window(window) => Err(Error::internal(format!(
            "window call {window} reached the executor"
        ))),
    }
}

/// PostgreSQL compares intervals with 30-day months and 24-hour days: both sides as that
/// length (kept out of [`evaluate`], which recurses, to keep its stack frame small).
#[inline(never)]
fn comparable_intervals(l: Value, r: Value) -> Result<(Value, Value)> {
    Ok((
        l.map(crate::interval::comparable)?,
        r.map(crate::interval::comparable)?,
    ))
}

/// `l - r`; `ts - ts` is an INTERVAL of days and a time part, as PostgreSQL (Arrow gives a
/// Duration).
#[inline(never)]
fn subtract(l: &Value, r: &Value) -> Result<ArrayRef> {
    let difference = numeric::sub(l.datum().as_ref(), r.datum().as_ref())?;
    if matches!(difference.data_type(), DataType::Duration(_)) {
        return crate::interval::from_duration_ms(&difference);
    }
    Ok(difference)
}

/// `AND` / `OR`, lazily like PostgreSQL: the right side runs only over the rows whose left side
/// does not decide the result (not false for AND, not true for OR), so `b <> 0 AND a / b > 1`
/// never divides by zero. The result is Kleene logic over both sides.
fn evaluate_logical(op: BinaryOp, left: &Expr, right: &Expr, batch: &RecordBatch) -> Result<Value> {
    let rows = batch.num_rows();
    let l = evaluate_predicate(left, batch)?;
    // `l` with NULL read as false.
    let l_true = if l.null_count() > 0 {
        arrow::compute::prep_null_mask_filter(&l)
    } else {
        l.clone()
    };
    let decided = match op {
        BinaryOp::And => boolean::and(&boolean::is_not_null(&l)?, &boolean::not(&l_true)?)?,
        _ => l_true,
    };
    let needed = boolean::not(&decided)?;
    let r = match needed.true_count() {
        0 => return Ok(Value::Array(Arc::new(l))),
        n if n == rows => evaluate_predicate(right, batch)?,
        _ => {
            let subset = arrow::compute::filter_record_batch(batch, &needed)?;
            let values = evaluate_predicate(right, &subset)?;
            // Back to one value per row; rows not evaluated are NULL (their result is decided).
            let mut k = 0u32;
            let indices: UInt32Array = needed
                .values()
                .iter()
                .map(|need| {
                    need.then(|| {
                        k += 1;
                        k - 1
                    })
                })
                .collect();
            arrow::compute::take(&values, &indices, None)?
                .as_boolean_opt()
                .cloned()
                .ok_or_else(|| Error::internal("AND/OR operand is not BOOLEAN"))?
        }
    };
    Ok(Value::Array(Arc::new(match op {
        BinaryOp::And => boolean::and_kleene(&l, &r)?,
        _ => boolean::or_kleene(&l, &r)?,
    })))
}

/// `coalesce`, lazily like PostgreSQL: each argument runs only over the rows that all earlier
/// arguments left NULL.
fn evaluate_coalesce(data_type: DataType, args: &[Expr], batch: &RecordBatch) -> Result<Value> {
    use arrow::compute::{filter, filter_record_batch};
    let rows = batch.num_rows();
    let mut remaining = batch.clone();
    let mut positions: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..rows as u32));
    let mut pieces: Vec<(ArrayRef, ArrayRef)> = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if remaining.num_rows() == 0 {
            break;
        }
        let values = evaluate_array(arg, &remaining)?;
        if i + 1 == args.len() || values.null_count() == 0 {
            pieces.push((values, positions));
            positions = arrow::array::new_empty_array(&DataType::UInt32);
            remaining = remaining.slice(0, 0);
            break;
        }
        let present = boolean::is_not_null(values.as_ref())?;
        let absent = boolean::not(&present)?;
        pieces.push((
            filter(values.as_ref(), &present)?,
            filter(positions.as_ref(), &present)?,
        ));
        remaining = filter_record_batch(&remaining, &absent)?;
        positions = filter(positions.as_ref(), &absent)?;
    }
    if remaining.num_rows() > 0 {
        let nulls = arrow::array::new_null_array(&data_type, remaining.num_rows());
        pieces.push((nulls, positions));
    }
    assemble(pieces, rows, &data_type)
}

/// Puts pieces of a result (values and, for each, its original row number) back in row order.
fn assemble(pieces: Vec<(ArrayRef, ArrayRef)>, rows: usize, data_type: &DataType) -> Result<Value> {
    use arrow::compute::{concat, take};
    if let [(values, _)] = pieces.as_slice() {
        if values.len() == rows {
            return Ok(Value::Array(values.clone()));
        }
    }
    if pieces.is_empty() {
        return Ok(Value::Array(arrow::array::new_null_array(data_type, rows)));
    }
    let values: Vec<&dyn Array> = pieces.iter().map(|(v, _)| v.as_ref()).collect();
    let origins: Vec<&dyn Array> = pieces.iter().map(|(_, p)| p.as_ref()).collect();
    let values = concat(&values)?;
    let origins = concat(&origins)?;
    let origins = origins
        .as_primitive_opt::<arrow::datatypes::UInt32Type>()
        .ok_or_else(|| Error::internal("row positions are not UINT32"))?;
    // Where each original row's value sits in `values`.
    let mut order = vec![0u32; rows];
    for (k, &origin) in origins.values().iter().enumerate() {
        order[origin as usize] = k as u32;
    }
    Ok(Value::Array(take(
        values.as_ref(),
        &UInt32Array::from(order),
        None,
    )?))
}

/// `CASE`, lazily like PostgreSQL: each condition is evaluated only over the rows no earlier
/// condition took, and each result only over the rows that take it, so `CASE WHEN b = 0 THEN
/// NULL ELSE a / b END` never divides by zero. Per branch: two filters of the remaining rows;
/// at the end one `take` puts the pieces back in row order.
fn evaluate_case(
    data_type: DataType,
    when_then: &[(Expr, Expr)],
    else_result: Option<&Expr>,
    batch: &RecordBatch,
) -> Result<Value> {
    use arrow::compute::{filter, filter_record_batch};
    let rows = batch.num_rows();
    let mut remaining = batch.clone();
    // The original row number of every remaining row.
    let mut positions: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..rows as u32));
    let mut pieces: Vec<(ArrayRef, ArrayRef)> = Vec::with_capacity(when_then.len() + 1);
    for (when, then) in when_then {
        if remaining.num_rows() == 0 {
            break;
        }
        let mask = evaluate_predicate(when, &remaining)?;
        let mask = if mask.null_count() > 0 {
            arrow::compute::prep_null_mask_filter(&mask)
        } else {
            mask
        };
        let taken = mask.true_count();
        if taken == 0 {
            continue;
        }
        if taken == remaining.num_rows() {
            pieces.push((evaluate_array(then, &remaining)?, positions));
            positions = arrow::array::new_empty_array(&DataType::UInt32);
            remaining = remaining.slice(0, 0);
            break;
        }
        let chosen = filter_record_batch(&remaining, &mask)?;
        pieces.push((
            evaluate_array(then, &chosen)?,
            filter(positions.as_ref(), &mask)?,
        ));
        let rest = boolean::not(&mask)?;
        remaining = filter_record_batch(&remaining, &rest)?;
        positions = filter(positions.as_ref(), &rest)?;
    }
    if remaining.num_rows() > 0 {
        let values = match else_result {
            Some(e) => evaluate_array(e, &remaining)?,
            None => arrow::array::new_null_array(&data_type, remaining.num_rows()),
        };
        pieces.push((values, positions));
    }
    assemble(pieces, rows, &data_type)
}

/// `l op r` on DECIMALs with Arrow's decimal kernels (exact i128 arithmetic), as `to` (the
/// type [`crate::expr::coerce::decimal_arithmetic`] gave the expression): a result beyond
/// i128 or beyond `to`'s precision is a `NUMERIC_OVERFLOW` error naming the type.
fn decimal_arithmetic(
    op: BinaryOp,
    l: &dyn Datum,
    r: &dyn Datum,
    to: &DataType,
) -> Result<ArrayRef> {
    let result = match op {
        BinaryOp::Plus => numeric::add(l, r),
        BinaryOp::Minus => numeric::sub(l, r),
        BinaryOp::Multiply => numeric::mul(l, r),
        BinaryOp::Divide => numeric::div(l, r),
        _ => numeric::rem(l, r),
    };
    let result = result.map_err(|e| match e {
        arrow::error::ArrowError::ArithmeticOverflow(e) => Error::NumericOverflow {
            message: format!(
                "numeric value out of range: the result of {} does not fit in {} ({e})",
                op.symbol(),
                strata_storage::sql_type_name(to)
            ),
        },
        e => Error::from(e),
    })?;
    fit_decimal(&result, to)
}

/// Arrow follows IEEE 754 for floats (x / 0.0 = inf); SQL says division by zero is an error.
fn check_float_divisor(divisor: &Value) -> Result<()> {
    let dt = divisor.inner().data_type().clone();
    if !matches!(dt, DataType::Float32 | DataType::Float64) {
        return Ok(());
    }
    let zero: ArrayRef =
        cast_with_options(&Float64Array::from(vec![0.0]), &dt, &CastOptions::default())?;
    let is_zero = cmp::eq(divisor.datum().as_ref(), &Scalar::new(zero))?;
    if is_zero.true_count() > 0 {
        return Err(Error::DivisionByZero);
    }
    Ok(())
}

/// Replaces every constant subexpression by its value.
// As deep as the expression (up to --expression-depth-max): grow the stack as needed.
#[recursive::recursive]
pub fn fold_constants(expr: Expr) -> Result<Expr> {
    let expr = expr.map_children(fold_constants)?;
    if matches!(expr, Expr::Literal(_)) || !expr.is_constant() {
        return Ok(expr);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(1));
    let one_row = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options)?;
    Ok(Expr::Literal(evaluate_array(&expr, &one_row)?))
}

/// Evaluates a predicate to a BOOLEAN array of `batch.num_rows()` rows.
pub fn evaluate_predicate(predicate: &Expr, batch: &RecordBatch) -> Result<BooleanArray> {
    boolean_array(evaluate(predicate, batch)?, batch.num_rows())
}

/// Evaluates an expression to an array of `batch.num_rows()` rows.
pub fn evaluate_array(expr: &Expr, batch: &RecordBatch) -> Result<ArrayRef> {
    evaluate(expr, batch)?.into_array(batch.num_rows())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;

    fn int(v: i32) -> Expr {
        Expr::Literal(Arc::new(Int32Array::from(vec![v])))
    }

    #[test]
    fn literal_only_subexpressions_are_folded() {
        let c = Expr::column(2, "c", DataType::Int32);
        let expr = c
            .clone()
            .binary(BinaryOp::Gt, int(1).binary(BinaryOp::Plus, int(2)));
        assert_eq!(
            fold_constants(expr).unwrap(),
            c.binary(BinaryOp::Gt, int(3))
        );
    }
}
