//! Filters answered from bitmap indexes: which rows of a segment satisfy the pushed-down filters
//! on indexed string columns, computed as Roaring bitmap operations over the segment's
//! dictionaries instead of by reading and comparing the column.
//!
//! Understood shapes, on a string column (possibly through a cast of a dictionary column to
//! `VARCHAR`) and a string literal: `=`, `<>`, `IN` and `NOT IN` (the binder makes them `OR`s
//! of `=`, under a `NOT`), `LIKE 'abc%'` and `LIKE 'abc'` (case-sensitive, no other wildcard),
//! `NOT LIKE` of those, `IS NULL`, `IS NOT NULL`, and any nesting of them with `AND`, `OR`,
//! `NOT`. A long `IN` list (hashed by the binder, [`Expr::InSet`]) is one lookup of its values.
//!
//! SQL's three-valued logic is kept exactly by computing two bitmaps per sub-expression: the
//! rows where it is TRUE and the rows where it is FALSE (the rest are NULL). `NOT` swaps them;
//! `AND` intersects the TRUEs and unites the FALSEs; `OR` the other way round. So
//! `col <> 'x'`, `NOT IN` and `NOT (col = 'x')` never select a NULL row, and a comparison with a
//! NULL literal selects nothing, under a `NOT` too.
//!
//! A filter (a top-level conjunct) either is answered whole by the index, and is then not
//! evaluated again on the rows, or is left to the row-by-row filter. A segment that has no
//! index for a column (an old segment, a column added later) answers the filters on it row by
//! row, like any other.

use std::collections::HashMap;
use std::fmt;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use strata_storage::index::IndexLookup;
use strata_storage::roaring::RoaringBitmap;
use strata_storage::Segment;

use crate::error::Result;
use crate::expr::{BinaryOp, Expr};

/// A filter in the shapes a bitmap index answers.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexExpr {
    /// `column` satisfies `lookup` (TRUE) or is a non-NULL value that does not (FALSE);
    /// for `IS [NOT] NULL`, never NULL.
    Lookup {
        /// The column name.
        column: String,
        /// What is asked.
        lookup: IndexLookup,
    },
    /// A comparison with a NULL literal: NULL on every row.
    Unknown,
    /// `NOT e`
    Not(Box<IndexExpr>),
    /// `a AND b`
    And(Box<IndexExpr>, Box<IndexExpr>),
    /// `a OR b`
    Or(Box<IndexExpr>, Box<IndexExpr>),
}

impl IndexExpr {
    /// Translates `expr`, or `None` when some part of it is not answerable by an index.
    // Expressions nest up to --expression-depth-max: grow the stack as needed (scan threads
    // have the default 2 MiB).
    #[recursive::recursive]
    pub fn from_expr(expr: &Expr) -> Option<IndexExpr> {
        match expr {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => Some(IndexExpr::And(
                Box::new(IndexExpr::from_expr(left)?),
                Box::new(IndexExpr::from_expr(right)?),
            )),
            Expr::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } => {
                let (l, r) = (IndexExpr::from_expr(left)?, IndexExpr::from_expr(right)?);
                // `c = 'a' OR c = 'b'` (an IN list): one lookup of both values.
                if let (
                    IndexExpr::Lookup {
                        column: a,
                        lookup: la,
                    },
                    IndexExpr::Lookup {
                        column: b,
                        lookup: lb,
                    },
                ) = (&l, &r)
                {
                    if a == b {
                        let values = |l: &IndexLookup| match l {
                            IndexLookup::Eq(v) => Some(vec![v.clone()]),
                            IndexLookup::In(vs) => Some(vs.clone()),
                            _ => None,
                        };
                        if let (Some(mut va), Some(vb)) = (values(la), values(lb)) {
                            va.extend(vb);
                            return Some(IndexExpr::Lookup {
                                column: a.clone(),
                                lookup: IndexLookup::In(va),
                            });
                        }
                    }
                }
                Some(IndexExpr::Or(Box::new(l), Box::new(r)))
            }
            Expr::Not(inner) => Some(IndexExpr::Not(Box::new(IndexExpr::from_expr(inner)?))),
            Expr::InSet {
                expr: probe,
                set,
                negated,
            } => {
                // An IN list of string literals: one lookup of all its values.
                let column = string_column(probe)?;
                let values = set.literals()?.values.as_string_opt::<i32>()?;
                let strings: Vec<String> = values.iter().flatten().map(str::to_string).collect();
                let lookup = if strings.is_empty() {
                    IndexExpr::Unknown
                } else {
                    let lookup = IndexExpr::Lookup {
                        column: column.to_string(),
                        lookup: IndexLookup::In(strings),
                    };
                    if set.has_null() {
                        // A value not in the list is NULL, not false.
                        IndexExpr::Or(Box::new(lookup), Box::new(IndexExpr::Unknown))
                    } else {
                        lookup
                    }
                };
                Some(if *negated {
                    IndexExpr::Not(Box::new(lookup))
                } else {
                    lookup
                })
            }
            Expr::Binary { op, left, right } if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) => {
                let (column, literal) = match (string_column(left), string_column(right)) {
                    (Some(c), None) => (c, string_literal(right)?),
                    (None, Some(c)) => (c, string_literal(left)?),
                    _ => return None,
                };
                let eq = match literal {
                    None => IndexExpr::Unknown,
                    Some(value) => IndexExpr::Lookup {
                        column: column.to_string(),
                        lookup: IndexLookup::Eq(value),
                    },
                };
                Some(match op {
                    BinaryOp::Eq => eq,
                    _ => IndexExpr::Not(Box::new(eq)),
                })
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let lookup = IndexExpr::Lookup {
                    column: string_column(inner)?.to_string(),
                    lookup: IndexLookup::IsNull,
                };
                Some(match expr {
                    Expr::IsNull(_) => lookup,
                    _ => IndexExpr::Not(Box::new(lookup)),
                })
            }
            Expr::Like {
                negated,
                case_insensitive: false,
                expr,
                pattern,
            } => {
                let column = string_column(expr)?;
                let like = match string_literal(pattern)? {
                    None => IndexExpr::Unknown,
                    Some(pattern) => IndexExpr::Lookup {
                        column: column.to_string(),
                        lookup: like_lookup(&pattern)?,
                    },
                };
                Some(if *negated {
                    IndexExpr::Not(Box::new(like))
                } else {
                    like
                })
            }
            _ => None,
        }
    }

    /// The columns the expression asks about.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            IndexExpr::Lookup { column, .. } => {
                if !out.contains(column) {
                    out.push(column.clone());
                }
            }
            IndexExpr::Unknown => {}
            IndexExpr::Not(e) => e.columns(out),
            IndexExpr::And(a, b) | IndexExpr::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }

    /// The rows of `segment` where the expression is TRUE and where it is FALSE; `None` when
    /// the segment lacks the index of a column the expression asks about.
    // Expressions nest up to --expression-depth-max: grow the stack as needed (scan threads
    // have the default 2 MiB).
    #[recursive::recursive]
    pub fn evaluate(
        &self,
        segment: &dyn Segment,
        context: &mut SegmentContext,
    ) -> Result<Option<TruthBitmaps>> {
        Ok(Some(match self {
            IndexExpr::Lookup { column, lookup } => {
                let Some(non_null) = context.non_null(segment, column)? else {
                    return Ok(None);
                };
                let Some(rows) = segment.index_lookup(column, lookup)? else {
                    return Ok(None);
                };
                match lookup {
                    IndexLookup::IsNull => TruthBitmaps {
                        r#true: rows,
                        r#false: non_null,
                    },
                    _ => TruthBitmaps {
                        r#false: non_null - &rows,
                        r#true: rows,
                    },
                }
            }
            IndexExpr::Unknown => TruthBitmaps::default(),
            IndexExpr::Not(e) => {
                let Some(t) = e.evaluate(segment, context)? else {
                    return Ok(None);
                };
                TruthBitmaps {
                    r#true: t.r#false,
                    r#false: t.r#true,
                }
            }
            IndexExpr::And(a, b) | IndexExpr::Or(a, b) => {
                let Some(x) = a.evaluate(segment, context)? else {
                    return Ok(None);
                };
                let Some(y) = b.evaluate(segment, context)? else {
                    return Ok(None);
                };
                if matches!(self, IndexExpr::And(..)) {
                    TruthBitmaps {
                        r#true: x.r#true & y.r#true,
                        r#false: x.r#false | y.r#false,
                    }
                } else {
                    TruthBitmaps {
                        r#true: x.r#true | y.r#true,
                        r#false: x.r#false & y.r#false,
                    }
                }
            }
        }))
    }
}

/// The rows where an expression is TRUE and where it is FALSE (disjoint; the others are NULL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TruthBitmaps {
    /// TRUE rows.
    pub r#true: RoaringBitmap,
    /// FALSE rows.
    pub r#false: RoaringBitmap,
}

/// What the evaluation of several filters over one segment shares: the non-NULL rows of each
/// column asked about.
#[derive(Debug, Default)]
pub struct SegmentContext {
    non_null: HashMap<String, Option<RoaringBitmap>>,
}

impl SegmentContext {
    fn non_null(&mut self, segment: &dyn Segment, column: &str) -> Result<Option<RoaringBitmap>> {
        if let Some(b) = self.non_null.get(column) {
            return Ok(b.clone());
        }
        let b = segment.index_lookup(column, &IndexLookup::IsNotNull)?;
        self.non_null.insert(column.to_string(), b.clone());
        Ok(b)
    }
}

/// The string column an expression reads unchanged (or through a cast of a dictionary of
/// strings to `VARCHAR`).
fn string_column(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column {
            name,
            data_type: DataType::Utf8,
            ..
        } => Some(name),
        Expr::Cast {
            expr,
            data_type: DataType::Utf8,
        } => match expr.as_ref() {
            Expr::Column {
                name,
                data_type: DataType::Dictionary(_, value),
                ..
            } if value.as_ref() == &DataType::Utf8 => Some(name),
            _ => None,
        },
        _ => None,
    }
}

/// A string literal: `Some(None)` for a NULL of type `VARCHAR`.
fn string_literal(expr: &Expr) -> Option<Option<String>> {
    let literal = match expr {
        Expr::Literal(a) => a,
        Expr::Cast {
            expr,
            data_type: DataType::Utf8,
        } => match expr.as_ref() {
            Expr::Literal(a) if a.data_type() == &DataType::Null => return Some(None),
            _ => return None,
        },
        _ => return None,
    };
    if literal.len() != 1 || literal.data_type() != &DataType::Utf8 {
        return None;
    }
    if literal.is_null(0) {
        return Some(None);
    }
    Some(Some(literal.as_string::<i32>().value(0).to_string()))
}

/// `LIKE 'abc'` (no wildcard) is equality; `LIKE 'abc%'` (wildcards only at the end, all `%`)
/// is a prefix; anything else is not answered by the index.
fn like_lookup(pattern: &str) -> Option<IndexLookup> {
    let special = |c: char| matches!(c, '%' | '_' | '\\');
    let body = pattern.trim_end_matches('%');
    if body.contains(special) {
        return None;
    }
    Some(if body.len() == pattern.len() {
        IndexLookup::Eq(body.to_string())
    } else {
        IndexLookup::Prefix(body.to_string())
    })
}

impl fmt::Display for IndexExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        match self {
            IndexExpr::Lookup { column, lookup } => match lookup {
                IndexLookup::Eq(v) => write!(f, "{column} = {}", quote(v)),
                IndexLookup::In(vs) => {
                    let vs: Vec<String> = vs.iter().map(|v| quote(v)).collect();
                    write!(f, "{column} IN ({})", vs.join(", "))
                }
                IndexLookup::Prefix(p) => write!(f, "{column} LIKE {}", quote(&format!("{p}%"))),
                IndexLookup::IsNull => write!(f, "{column} IS NULL"),
                IndexLookup::IsNotNull => write!(f, "{column} IS NOT NULL"),
            },
            IndexExpr::Unknown => write!(f, "NULL"),
            IndexExpr::Not(e) => write!(f, "NOT ({e})"),
            IndexExpr::And(a, b) => write!(f, "({a} AND {b})"),
            IndexExpr::Or(a, b) => write!(f, "({a} OR {b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, NullArray, StringArray};
    use std::sync::Arc;

    fn col() -> Expr {
        Expr::column(0, "s", DataType::Utf8)
    }

    fn lit(v: Option<&str>) -> Expr {
        Expr::Literal(Arc::new(StringArray::from(vec![v])) as ArrayRef)
    }

    #[test]
    fn supported_shapes_translate_and_others_do_not() {
        let eq = col().binary(BinaryOp::Eq, lit(Some("a")));
        assert_eq!(IndexExpr::from_expr(&eq).unwrap().to_string(), "s = 'a'");
        let in_list = eq
            .clone()
            .binary(BinaryOp::Or, col().binary(BinaryOp::Eq, lit(Some("b"))));
        assert_eq!(
            IndexExpr::from_expr(&Expr::Not(Box::new(in_list)))
                .unwrap()
                .to_string(),
            "NOT (s IN ('a', 'b'))"
        );
        let like = |p: &str, ci: bool| Expr::Like {
            negated: false,
            case_insensitive: ci,
            expr: Box::new(col()),
            pattern: Box::new(lit(Some(p))),
        };
        assert_eq!(
            IndexExpr::from_expr(&like("ab%", false))
                .unwrap()
                .to_string(),
            "s LIKE 'ab%'"
        );
        assert_eq!(
            IndexExpr::from_expr(&like("ab", false))
                .unwrap()
                .to_string(),
            "s = 'ab'"
        );
        assert!(IndexExpr::from_expr(&like("a_b%", false)).is_none());
        assert!(IndexExpr::from_expr(&like("%ab", false)).is_none());
        assert!(IndexExpr::from_expr(&like("ab%", true)).is_none());
        let lt = col().binary(BinaryOp::Lt, lit(Some("a")));
        assert!(IndexExpr::from_expr(&lt).is_none());
        let null = col().binary(
            BinaryOp::NotEq,
            Expr::Cast {
                expr: Box::new(Expr::Literal(Arc::new(NullArray::new(1)))),
                data_type: DataType::Utf8,
            },
        );
        assert_eq!(
            IndexExpr::from_expr(&null).unwrap(),
            IndexExpr::Not(Box::new(IndexExpr::Unknown))
        );
        let number = Expr::column(1, "n", DataType::Int64).binary(
            BinaryOp::Eq,
            Expr::Literal(Arc::new(arrow::array::Int64Array::from(vec![1]))),
        );
        assert!(IndexExpr::from_expr(&number).is_none());
    }
}
