//! Operators over bound expressions: `a op b` typed like PostgreSQL (the sides coerced to one
//! type), the SQL operator names, and long `AND` / `OR` chains, planned flat: a balanced tree,
//! and the equalities of one expression with constants in an `OR` as one hashed set.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use sqlparser::ast as sql;

use crate::error::{Error, Result};
use crate::expr::coerce::{coerce_pair, expect_boolean};
use crate::expr::{BinaryOp, Expr, InSet};

/// Fewer equalities of one expression with constants than this stay `OR`s.
const IN_SET_MIN_VALUES: usize = 4;

/// `t1 OR t2 OR ...` (boolean terms, at least one): the equalities of one expression with
/// constants (`x = 1 OR x = 2 ...`, an `IN` list) become one hashed [`InSet`] (in the place of
/// the first of them), and the terms are joined by a balanced tree of `OR`s, so neither the
/// evaluation nor any later walk nests as deep as the list is long.
pub(super) fn disjunction(terms: Vec<Expr>) -> Result<Expr> {
    if terms.len() < IN_SET_MIN_VALUES {
        return balanced(terms, BinaryOp::Or);
    }
    // Equalities grouped by their non-constant side (keyed by its text, confirmed by `==`).
    let mut groups: Vec<(Expr, Vec<ArrayRef>)> = vec![];
    let mut by_key: HashMap<String, usize> = HashMap::new();
    // Each term is either kept or the first member of group `g`.
    enum Slot {
        Term(Expr),
        Group(usize),
    }
    let mut slots = Vec::with_capacity(terms.len());
    for term in terms {
        let Some((probe, value)) = equality_with_constant(&term)? else {
            slots.push(Slot::Term(term));
            continue;
        };
        let key = probe.to_string();
        match by_key.get(&key) {
            Some(&g) if groups[g].0 == probe && groups[g].1[0].data_type() == value.data_type() => {
                groups[g].1.push(value);
            }
            Some(_) => slots.push(Slot::Term(term)),
            None => {
                by_key.insert(key, groups.len());
                slots.push(Slot::Group(groups.len()));
                groups.push((probe, vec![value]));
            }
        }
    }
    let mut groups: Vec<Option<(Expr, Vec<ArrayRef>)>> = groups.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Slot::Term(term) => out.push(term),
            Slot::Group(g) => {
                let Some((probe, values)) = groups.get_mut(g).and_then(Option::take) else {
                    return Err(Error::internal("IN group taken twice"));
                };
                if values.len() < IN_SET_MIN_VALUES {
                    for value in values {
                        out.push(probe.clone().binary(BinaryOp::Eq, Expr::Literal(value)));
                    }
                } else {
                    let parts: Vec<&dyn Array> = values.iter().map(|v| v.as_ref()).collect();
                    let values = arrow::compute::concat(&parts)?;
                    out.push(Expr::InSet {
                        expr: Box::new(probe),
                        set: Arc::new(InSet::from_literals(values)?),
                        negated: false,
                    });
                }
            }
        }
    }
    balanced(out, BinaryOp::Or)
}

/// `probe = constant` (either side): the probe and the constant's value (one element, folded).
pub(super) fn equality_with_constant(term: &Expr) -> Result<Option<(Expr, ArrayRef)>> {
    let Expr::Binary {
        op: BinaryOp::Eq,
        left,
        right,
    } = term
    else {
        return Ok(None);
    };
    let (probe, constant) = match (left.is_constant(), right.is_constant()) {
        (false, true) => (left, right),
        (true, false) => (right, left),
        _ => return Ok(None),
    };
    match crate::eval::fold_constants(constant.as_ref().clone())? {
        Expr::Literal(value) if value.len() == 1 && value.data_type() == &probe.data_type() => {
            Ok(Some((probe.as_ref().clone(), value)))
        }
        _ => Ok(None),
    }
}

/// `t1 op t2 op ...` for `AND` or `OR` (at least one term) as a balanced tree.
pub(super) fn balanced(terms: Vec<Expr>, op: BinaryOp) -> Result<Expr> {
    Expr::balanced(terms, op).ok_or_else(|| Error::internal(format!("{} of no terms", op.symbol())))
}

pub(super) fn bind_binary(left: Expr, op: BinaryOp, right: Expr) -> Result<Expr> {
    if matches!(op, BinaryOp::And | BinaryOp::Or) {
        let clause = op.symbol();
        return Ok(expect_boolean(left, clause)?.binary(op, expect_boolean(right, clause)?));
    }
    let is_list = |e: &Expr| matches!(e.data_type(), arrow::datatypes::DataType::List(_));
    if is_list(&left) || is_list(&right) {
        return Err(Error::unsupported(format!(
            "operator {} on arrays (not implemented yet; compare elements: a[1] = ...)",
            op.symbol()
        )));
    }
    let (left, right) = coerce_pair(left, right, op)?;
    Ok(left.binary(op, right))
}

pub(super) fn map_binary_op(op: &sql::BinaryOperator) -> Result<BinaryOp> {
    Ok(match op {
        sql::BinaryOperator::Eq => BinaryOp::Eq,
        sql::BinaryOperator::NotEq => BinaryOp::NotEq,
        sql::BinaryOperator::Lt => BinaryOp::Lt,
        sql::BinaryOperator::LtEq => BinaryOp::LtEq,
        sql::BinaryOperator::Gt => BinaryOp::Gt,
        sql::BinaryOperator::GtEq => BinaryOp::GtEq,
        sql::BinaryOperator::And => BinaryOp::And,
        sql::BinaryOperator::Or => BinaryOp::Or,
        sql::BinaryOperator::Plus => BinaryOp::Plus,
        sql::BinaryOperator::Minus => BinaryOp::Minus,
        sql::BinaryOperator::Multiply => BinaryOp::Multiply,
        sql::BinaryOperator::Divide => BinaryOp::Divide,
        sql::BinaryOperator::Modulo => BinaryOp::Modulo,
        sql::BinaryOperator::StringConcat => {
            return Err(Error::internal("|| is bound as a function"))
        }
        other => return Err(Error::unsupported(format!("operator {other}"))),
    })
}
