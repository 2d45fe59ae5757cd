//! Pruning with zone maps: which blocks of a segment the pushed-down filters might match.
//!
//! A conservative test: `false` only when the zone map proves that no row of the block can make
//! the filter true; any shape it does not understand answers `true`. Understood: conjunctions and
//! disjunctions of `column op literal` (`=`, `<>`, `<`, `<=`, `>`, `>=`, either side, integer
//! widening casts of the column allowed), `IS NULL`, `IS NOT NULL`, and a hashed `IN` list of
//! literals (by its smallest and largest value). A comparison with a NULL literal is never true.
//! A DECIMAL column's zone holds unscaled integers, compared with a literal of the same type
//! (the column possibly cast to a wider precision at its scale).

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMillisecondType,
};
use strata_storage::zonemap::{StatValue, Zone};

use crate::expr::{BinaryOp, Expr};

/// Whether some row of the block summarised by `zone` might satisfy every filter.
pub fn may_match_all(filters: &[Expr], zone: &Zone) -> bool {
    filters.iter().all(|f| may_match(f, zone))
}

// Expressions nest up to --expression-depth-max: grow the stack as needed (scan threads
// have the default 2 MiB).
#[recursive::recursive]
fn may_match(expr: &Expr, zone: &Zone) -> bool {
    match expr {
        Expr::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => may_match(left, zone) && may_match(right, zone),
        Expr::Binary {
            op: BinaryOp::Or,
            left,
            right,
        } => may_match(left, zone) || may_match(right, zone),
        Expr::Binary { op, left, right } if op.is_comparison() => {
            if !decimal_scales_agree(left, right) {
                return true;
            }
            match (
                column_name(left),
                literal(right),
                column_name(right),
                literal(left),
            ) {
                (Some(col), Some(lit), _, _) => compare(zone, col, *op, lit),
                (_, _, Some(col), Some(lit)) => compare(zone, col, flip(*op), lit),
                _ => true,
            }
        }
        Expr::InSet {
            expr,
            set,
            negated: false,
        } => {
            // An IN list of literals: only a block whose range meets [smallest, largest] value.
            let (Some(col), Some(literals)) = (column_name(expr), set.literals()) else {
                return true;
            };
            let Some((low, high)) = &literals.bounds else {
                // Only NULLs: never true.
                return false;
            };
            match (stat_value(low), stat_value(high)) {
                (Some(low), Some(high)) => {
                    compare(zone, col, BinaryOp::GtEq, low)
                        && compare(zone, col, BinaryOp::LtEq, high)
                }
                _ => true,
            }
        }
        Expr::IsNull(inner) => match column_name(inner).and_then(|c| zone.columns.get(c)) {
            Some(z) => z.null_count != Some(0),
            None => true,
        },
        Expr::IsNotNull(inner) => match column_name(inner).and_then(|c| zone.columns.get(c)) {
            Some(z) => z.null_count != Some(zone.rows),
            None => true,
        },
        _ => true,
    }
}

/// False when a side is a DECIMAL of another type than the other side: their zone-map values
/// (unscaled integers) are then at different scales. The binder never builds such a comparison.
fn decimal_scales_agree(left: &Expr, right: &Expr) -> bool {
    let (l, r) = (left.data_type(), right.data_type());
    let decimal = |dt: &DataType| matches!(dt, DataType::Decimal128(_, _));
    !(decimal(&l) || decimal(&r)) || l == r
}

/// `a op b` as `b flip(op) a`.
fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

fn is_integer(dt: &DataType) -> bool {
    matches!(dt, DataType::Int16 | DataType::Int32 | DataType::Int64)
}

/// The column an expression reads unchanged (or through an integer widening cast, or a cast
/// of a decimal to a wider precision at the same scale, which keeps its unscaled values).
fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column { name, .. } => Some(name),
        Expr::Cast {
            expr,
            data_type: DataType::Decimal128(_, to),
        } => match expr.as_ref() {
            Expr::Column {
                name,
                data_type: DataType::Decimal128(_, from),
                ..
            } if from == to => Some(name),
            _ => None,
        },
        Expr::Cast { expr, data_type } if is_integer(data_type) => match expr.as_ref() {
            Expr::Column {
                name,
                data_type: from,
                ..
            } if is_integer(from) => Some(name),
            _ => None,
        },
        _ => None,
    }
}

/// A literal as a zone-map value: `Some(None)` for a NULL literal, `None` when the type has no
/// zone-map order.
fn literal(expr: &Expr) -> Option<Option<StatValue>> {
    let Expr::Literal(array) = expr else {
        return None;
    };
    stat_value(array)
}

/// A one-element array as a zone-map value: `Some(None)` for NULL, `None` when the type has no
/// zone-map order.
pub(super) fn stat_value(array: &ArrayRef) -> Option<Option<StatValue>> {
    if array.is_empty() {
        return None;
    }
    if array.is_null(0) {
        return Some(None);
    }
    let int = |v: i64| Some(Some(StatValue::Int(v)));
    match array.data_type() {
        DataType::Int16 => int(i64::from(array.as_primitive::<Int16Type>().value(0))),
        DataType::Int32 => int(i64::from(array.as_primitive::<Int32Type>().value(0))),
        DataType::Int64 => int(array.as_primitive::<Int64Type>().value(0)),
        DataType::Date32 => int(i64::from(array.as_primitive::<Date32Type>().value(0))),
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            int(array.as_primitive::<TimestampMillisecondType>().value(0))
        }
        DataType::Utf8 => Some(Some(StatValue::Str(
            array.as_string::<i32>().value(0).to_string(),
        ))),
        DataType::Boolean => Some(Some(StatValue::Bool(array.as_boolean().value(0)))),
        // Unscaled, like the zone maps of a decimal column: the binder gave the literal the
        // column's own type (an uncast column met a literal of its type), so the scales agree.
        DataType::Decimal128(_, _) => {
            let v = array
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0);
            i64::try_from(v).ok().and_then(int)
        }
        _ => None,
    }
}

fn compare(zone: &Zone, column: &str, op: BinaryOp, literal: Option<StatValue>) -> bool {
    use BinaryOp::{Eq, Gt, GtEq, Lt, LtEq, NotEq};
    if !matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq) {
        return true;
    }
    // `x op NULL` is NULL, never true.
    let Some(value) = literal else { return false };
    let Some(z) = zone.columns.get(column) else {
        return true;
    };
    if z.null_count == Some(zone.rows) {
        // Only NULLs in the block: no comparison is true.
        return false;
    }
    let (Some(min), Some(max)) = (&z.min, &z.max) else {
        return true;
    };
    let (Some(lo), Some(hi)) = (min.partial_cmp_value(&value), max.partial_cmp_value(&value))
    else {
        return true;
    };
    match op {
        Eq => lo != Ordering::Greater && hi != Ordering::Less,
        NotEq => !(lo == Ordering::Equal && hi == Ordering::Equal),
        Lt => lo == Ordering::Less,
        LtEq => lo != Ordering::Greater,
        Gt => hi == Ordering::Greater,
        GtEq => hi != Ordering::Less,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::DataType;
    use std::sync::Arc;
    use strata_storage::zonemap::ColumnZone;

    fn zone(min: i64, max: i64, nulls: u64, rows: u64) -> Zone {
        let mut z = Zone {
            rows,
            ..Zone::default()
        };
        z.columns.insert(
            "n".to_string(),
            ColumnZone {
                min: Some(StatValue::Int(min)),
                max: Some(StatValue::Int(max)),
                null_count: Some(nulls),
            },
        );
        z
    }

    fn col() -> Expr {
        Expr::column(0, "n", DataType::Int64)
    }

    fn lit(v: Option<i64>) -> Expr {
        Expr::Literal(Arc::new(Int64Array::from(vec![v])))
    }

    fn cmp(op: BinaryOp, v: i64) -> Expr {
        col().binary(op, lit(Some(v)))
    }

    #[test]
    fn comparisons_prune_only_blocks_that_cannot_match() {
        let z = zone(10, 20, 0, 100);
        assert!(may_match_all(&[cmp(BinaryOp::Eq, 15)], &z));
        assert!(!may_match_all(&[cmp(BinaryOp::Eq, 21)], &z));
        assert!(!may_match_all(&[cmp(BinaryOp::Lt, 10)], &z));
        assert!(may_match_all(&[cmp(BinaryOp::LtEq, 10)], &z));
        assert!(!may_match_all(&[cmp(BinaryOp::Gt, 20)], &z));
        assert!(may_match_all(&[cmp(BinaryOp::GtEq, 20)], &z));
        assert!(may_match_all(&[cmp(BinaryOp::NotEq, 15)], &z));
        assert!(!may_match_all(
            &[cmp(BinaryOp::NotEq, 7)],
            &zone(7, 7, 0, 3)
        ));
        // literal on the left
        assert!(!may_match_all(
            &[lit(Some(5)).binary(BinaryOp::Gt, col())],
            &z
        ));
        // AND / OR
        let and = cmp(BinaryOp::Gt, 5).binary(BinaryOp::And, cmp(BinaryOp::Lt, 8));
        assert!(!may_match_all(&[and], &z));
        let or = cmp(BinaryOp::Eq, 1).binary(BinaryOp::Or, cmp(BinaryOp::Eq, 12));
        assert!(may_match_all(&[or], &z));
        // NULL literal, IS NULL
        assert!(!may_match_all(&[col().binary(BinaryOp::Eq, lit(None))], &z));
        assert!(!may_match_all(&[Expr::IsNull(Box::new(col()))], &z));
        assert!(may_match_all(
            &[Expr::IsNull(Box::new(col()))],
            &zone(1, 2, 1, 5)
        ));
    }

    #[test]
    fn unknown_shapes_and_columns_never_prune() {
        let z = zone(10, 20, 0, 100);
        let other = Expr::column(1, "other", DataType::Int64).binary(BinaryOp::Eq, lit(Some(99)));
        assert!(may_match_all(&[other], &z));
        let arithmetic = col()
            .binary(BinaryOp::Plus, lit(Some(1)))
            .binary(BinaryOp::Eq, lit(Some(99)));
        assert!(may_match_all(&[arithmetic], &z));
        let text = Expr::Literal(Arc::new(StringArray::from(vec!["x"])));
        assert!(may_match_all(&[col().binary(BinaryOp::Eq, text)], &z));
    }
}
