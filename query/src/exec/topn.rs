//! [`TopNBound`]: the dynamic filter of an `ORDER BY col [DESC] LIMIT n` over a scan.
//!
//! While the top-N sort runs, it knows the n-th best value of its first key among the rows seen
//! so far; a block whose zone map says that none of its rows can be better is not read (the
//! "latest N events" panel of a dashboard reads the newest blocks and skips the rest). The scan
//! also reads the most promising blocks first (the largest maximum first for `DESC`, the
//! smallest minimum for `ASC`), so the bound tightens after the first blocks. This is
//! DataFusion's and DuckDB's top-N dynamic filter, applied to zone maps.

use std::cmp::Ordering;
use std::sync::RwLock;

use strata_storage::zonemap::{ColumnZone, StatValue, Zone};

/// The current bound of a top-N's first sort key, shared by the sort (which tightens it) and
/// the scan below it (which skips the blocks it rules out).
#[derive(Debug)]
pub struct TopNBound {
    /// The scanned table column the first sort key reads.
    column: String,
    descending: bool,
    nulls_first: bool,
    /// The n-th best value so far (`None`: fewer than n rows, or a NULL there).
    value: RwLock<Option<StatValue>>,
}

impl TopNBound {
    /// A bound for the first key of an `ORDER BY column [DESC] [NULLS FIRST|LAST] LIMIT n`.
    pub fn new(column: String, descending: bool, nulls_first: bool) -> Self {
        TopNBound {
            column,
            descending,
            nulls_first,
            value: RwLock::new(None),
        }
    }

    /// The table column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// For EXPLAIN: `col DESC`.
    pub fn describe(&self) -> String {
        let order = if self.descending { "DESC" } else { "ASC" };
        format!("{} {order}", self.column)
    }

    /// The sort has `n` rows whose n-th best first key is `value`: only a row at least as good
    /// can still enter.
    pub fn tighten(&self, value: StatValue) {
        let Ok(mut current) = self.value.write() else {
            return;
        };
        let better = match current.as_ref().and_then(|c| value.partial_cmp_value(c)) {
            None => current.is_none(),
            Some(order) => {
                if self.descending {
                    order == Ordering::Greater
                } else {
                    order == Ordering::Less
                }
            }
        };
        if better {
            *current = Some(value);
        }
    }

    /// Whether a block with this zone map may hold a row that enters the top N (false only
    /// when its zone proves that every row is strictly worse than the bound).
    pub fn may_enter(&self, zone: &Zone) -> bool {
        let Ok(current) = self.value.read() else {
            return true;
        };
        let Some(bound) = current.as_ref() else {
            return true;
        };
        let Some(z) = zone.columns.get(&self.column) else {
            return true;
        };
        let nulls = z.null_count.unwrap_or(1);
        if self.nulls_first && nulls > 0 {
            // A NULL is better than any value.
            return true;
        }
        let best = if self.descending { &z.max } else { &z.min };
        match best {
            // No non-NULL value: NULLs last are worse than the bound's value.
            None => z.null_count != Some(zone.rows),
            Some(best) => match best.partial_cmp_value(bound) {
                None => true,
                Some(order) => {
                    if self.descending {
                        order != Ordering::Less
                    } else {
                        order != Ordering::Greater
                    }
                }
            },
        }
    }

    /// How promising a block is, for reading the best first: its best value.
    pub fn promise<'z>(&self, zone: &'z Zone) -> Option<&'z StatValue> {
        let z: &ColumnZone = zone.columns.get(&self.column)?;
        if self.descending {
            z.max.as_ref()
        } else {
            z.min.as_ref()
        }
    }

    /// Orders blocks best first: unknown zones first (they cannot be skipped), then by
    /// [`TopNBound::promise`].
    pub fn compare_promise(&self, a: Option<&StatValue>, b: Option<&StatValue>) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => {
                let order = a.partial_cmp_value(b).unwrap_or(Ordering::Equal);
                if self.descending {
                    order.reverse()
                } else {
                    order
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(min: i64, max: i64, nulls: u64) -> Zone {
        let mut z = Zone {
            rows: 10,
            ..Zone::default()
        };
        z.columns.insert(
            "ts".into(),
            ColumnZone {
                min: Some(StatValue::Int(min)),
                max: Some(StatValue::Int(max)),
                null_count: Some(nulls),
            },
        );
        z
    }

    #[test]
    fn a_descending_bound_skips_blocks_whose_maximum_is_below_it() {
        let b = TopNBound::new("ts".into(), true, false);
        assert!(b.may_enter(&zone(0, 5, 0)), "no bound yet");
        b.tighten(StatValue::Int(50));
        b.tighten(StatValue::Int(40)); // looser: ignored
        assert!(!b.may_enter(&zone(0, 49, 0)));
        assert!(b.may_enter(&zone(0, 50, 0)), "ties may enter");
        assert!(b.may_enter(&zone(60, 70, 0)));
        // NULLs last: a block of NULLs only cannot enter; NULLs first always may.
        let mut nulls = zone(0, 0, 10);
        if let Some(c) = nulls.columns.get_mut("ts") {
            c.min = None;
            c.max = None;
        }
        assert!(!b.may_enter(&nulls));
        let first = TopNBound::new("ts".into(), true, true);
        first.tighten(StatValue::Int(50));
        assert!(first.may_enter(&zone(0, 1, 3)));
        assert!(!first.may_enter(&zone(0, 1, 0)));
    }

    #[test]
    fn an_ascending_bound_skips_blocks_whose_minimum_is_above_it() {
        let b = TopNBound::new("ts".into(), false, false);
        b.tighten(StatValue::Int(10));
        assert!(!b.may_enter(&zone(11, 20, 0)));
        assert!(b.may_enter(&zone(10, 20, 0)));
        // Unknown columns are never skipped.
        let mut other = zone(11, 20, 0);
        other.columns.clear();
        assert!(b.may_enter(&other));
        // Best first.
        let (lo, hi) = (StatValue::Int(1), StatValue::Int(2));
        assert_eq!(b.compare_promise(Some(&lo), Some(&hi)), Ordering::Less);
        assert_eq!(b.compare_promise(None, Some(&lo)), Ordering::Less);
    }
}
