//! The type of an aggregate call: which argument types each aggregate accepts and what it
//! returns (PostgreSQL's: `SUM` of integers is BIGINT, `AVG` is DOUBLE, ...; DECIMAL: `SUM` is
//! DECIMAL(38, s) as in DuckDB, `AVG` DECIMAL(38, max(s, 6))).

use arrow::datatypes::DataType;

use crate::error::{Error, Result};
use crate::expr::coerce::{avg_decimal_scale, is_numeric, is_temporal, type_name};
use crate::expr::{AggregateExpr, AggregateFunction, Expr};

/// Types the call of `func` whose argument (`None` for `COUNT(*)`), `FILTER` and percentile
/// fraction are bound: picks the result type, gives a NULL argument a real type, and makes the
/// percentiles sort DOUBLEs.
pub(super) fn aggregate_call(
    func: AggregateFunction,
    arg: Option<Expr>,
    distinct: bool,
    filter: Option<Expr>,
    fraction: Option<f64>,
) -> Result<Expr> {
    let arg_type = arg.as_ref().map(Expr::data_type).unwrap_or(DataType::Null);
    let data_type = match func {
        AggregateFunction::Count => DataType::Int64,
        AggregateFunction::Sum => match arg_type {
            DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null => DataType::Int64,
            DataType::Float32 | DataType::Float64 => DataType::Float64,
            DataType::Decimal128(_, s) => DataType::Decimal128(38, s),
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::ApproxCountDistinct => match arg_type {
            dt if is_numeric(&dt)
                || is_temporal(&dt)
                || dt == DataType::Utf8
                || dt == DataType::Boolean
                || dt == DataType::Null =>
            {
                DataType::Int64
            }
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::Avg => match arg_type {
            DataType::Decimal128(_, s) => DataType::Decimal128(38, avg_decimal_scale(s)),
            dt if is_numeric(&dt) || dt == DataType::Null => DataType::Float64,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::ApproxPercentile
        | AggregateFunction::PercentileCont
        | AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => match arg_type {
            dt if is_numeric(&dt) || dt == DataType::Null => DataType::Float64,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::AnyValue => {
            match arg_type {
                // PostgreSQL resolves an untyped NULL to text.
                DataType::Null => DataType::Utf8,
                dt if is_numeric(&dt)
                    || is_temporal(&dt)
                    || crate::interval::is_interval(&dt)
                    || dt == DataType::Utf8
                    || dt == DataType::Boolean =>
                {
                    dt
                }
                other => return Err(agg_mismatch(func, &other)),
            }
        }
    };
    // A NULL literal argument gets a real type (the result's, or BIGINT for COUNT, SUM and the
    // DOUBLE aggregates), so that the kernels see one.
    let arg = arg.map(|a| {
        if a.data_type() != DataType::Null {
            a
        } else if matches!(
            func,
            AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::AnyValue
        ) {
            a.cast_to(&data_type)
        } else {
            a.cast_to(&DataType::Int64)
        }
    });
    // The percentiles sort DOUBLEs; the variances of decimals run on DOUBLEs.
    let arg = match func {
        AggregateFunction::ApproxPercentile | AggregateFunction::PercentileCont => {
            arg.map(|a| a.cast_to(&DataType::Float64))
        }
        AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => arg.map(|a| match a.data_type() {
            DataType::Decimal128(_, _) => a.cast_to(&DataType::Float64),
            _ => a,
        }),
        _ => arg,
    };
    Ok(Expr::Aggregate(Box::new(AggregateExpr {
        func,
        arg,
        distinct,
        filter,
        data_type,
        fraction,
    })))
}

fn agg_mismatch(func: AggregateFunction, dt: &DataType) -> Error {
    Error::mismatch(format!(
        "{}() cannot be applied to {}{}",
        func.name(),
        type_name(dt),
        if !matches!(
            func,
            AggregateFunction::Count
                | AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::AnyValue
        ) {
            "; it needs numbers"
        } else {
            ""
        }
    ))
}
