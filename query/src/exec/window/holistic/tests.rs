//! The holistic window aggregates against a brute-force computation of every frame.

use arrow::array::{AsArray, StringArray};
use arrow::datatypes::{Float64Type, Int64Type};

use super::*;

/// A seeded xorshift, so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random partitions with frames that move forward (sliding, running, whole, empty).
fn frames(rng: &mut Rng, rows: usize) -> (Vec<usize>, Vec<usize>) {
    let (mut start, mut end) = (vec![0; rows], vec![0; rows]);
    let mut p = 0;
    while p < rows {
        let len = (1 + rng.below(12) as usize).min(rows - p);
        let (before, after) = (rng.below(5) as usize, rng.below(5) as usize);
        let shape = rng.below(4);
        for row in p..p + len {
            let (s, e) = match shape {
                0 => (p, p + len),
                1 => (p, row + 1),
                2 => (
                    row.saturating_sub(before).max(p),
                    (row + after + 1).min(p + len),
                ),
                _ => (
                    row.saturating_sub(before + 2).max(p),
                    row.saturating_sub(before).max(p),
                ),
            };
            start[row] = s;
            end[row] = e.max(s);
        }
        p += len;
    }
    (start, end)
}

/// Every holistic aggregate against a brute-force computation of each frame.
#[test]
fn holistic_aggregates_match_brute_force_on_random_frames() {
    let stats = ExecStats::default();
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let rows = 1 + rng.below(60) as usize;
        let ints: Vec<Option<i64>> = (0..rows)
            .map(|_| (rng.below(6) != 0).then(|| rng.below(7) as i64))
            .collect();
        let texts: Vec<Option<String>> = ints.iter().map(|v| v.map(|v| format!("v{v}"))).collect();
        let value: ArrayRef = Arc::new(Int64Array::from(ints.clone()));
        let text: ArrayRef = Arc::new(StringArray::from(texts.clone()));
        let separator: ArrayRef = Arc::new(StringArray::from(vec![","; rows]));
        let filter: Vec<bool> = (0..rows).map(|_| rng.below(5) != 0).collect();
        let valid: Vec<bool> = (0..rows).map(|r| filter[r] && ints[r].is_some()).collect();
        let (start, end) = frames(&mut rng, rows);
        let frame = |r: usize| (start[r]..end[r]).filter(|&j| valid[j]);
        let descending = SortOptions {
            descending: true,
            nulls_first: true,
        };
        let call = |func, kind: &str, distinct, within: Vec<(ArrayRef, SortOptions)>| {
            let (value, separator) = match kind {
                "text" => (&text, Some(&separator)),
                _ => (&value, None),
            };
            let data_type = match func {
                AggregateFunction::StringAgg => DataType::Utf8,
                AggregateFunction::PercentileCont => DataType::Float64,
                _ => DataType::Int64,
            };
            let call = Call {
                func,
                value,
                separator,
                fraction: Some(0.3),
                distinct,
                within,
                valid: &valid,
                data_type: &data_type,
            };
            evaluate(&call, &start, &end, &stats).unwrap()
        };
        // string_agg in the frame's order, in descending order, and DISTINCT ascending.
        let got = call(AggregateFunction::StringAgg, "text", false, vec![]);
        let got_desc = call(
            AggregateFunction::StringAgg,
            "text",
            false,
            vec![(text.clone(), descending)],
        );
        let got_distinct = call(
            AggregateFunction::StringAgg,
            "text",
            true,
            vec![(text.clone(), SortOptions::default())],
        );
        let (got, got_desc, got_distinct) = (
            got.as_string::<i32>(),
            got_desc.as_string::<i32>(),
            got_distinct.as_string::<i32>(),
        );
        let count_distinct = call(AggregateFunction::Count, "int", true, vec![]);
        let sum_distinct = call(AggregateFunction::Sum, "int", true, vec![]);
        let mode = call(
            AggregateFunction::Mode,
            "int",
            false,
            vec![(value.clone(), SortOptions::default())],
        );
        let median = call(AggregateFunction::PercentileCont, "int", false, vec![]);
        let median_distinct = call(AggregateFunction::PercentileCont, "int", true, vec![]);
        for r in 0..rows {
            let mut values: Vec<String> = frame(r).map(|j| texts[j].clone().unwrap()).collect();
            let want = (!values.is_empty()).then(|| values.join(","));
            assert_eq!(
                got.is_valid(r).then(|| got.value(r).to_string()),
                want,
                "seed {seed} row {r}"
            );
            // Ties keep the position: a stable sort.
            values.sort_by(|a, b| b.cmp(a));
            let want = (!values.is_empty()).then(|| values.join(","));
            assert_eq!(
                got_desc.is_valid(r).then(|| got_desc.value(r).to_string()),
                want
            );
            values.sort();
            values.dedup();
            let want = (!values.is_empty()).then(|| values.join(","));
            assert_eq!(
                got_distinct
                    .is_valid(r)
                    .then(|| got_distinct.value(r).to_string()),
                want
            );
            let mut ints: Vec<i64> = frame(r).map(|j| ints[j].unwrap()).collect();
            ints.sort();
            let mut distinct = ints.clone();
            distinct.dedup();
            assert_eq!(
                count_distinct.as_primitive::<Int64Type>().value(r),
                distinct.len() as i64
            );
            let sums = sum_distinct.as_primitive::<Int64Type>();
            assert_eq!(
                sums.is_valid(r).then(|| sums.value(r)),
                (!distinct.is_empty()).then(|| distinct.iter().sum())
            );
            // The most frequent, the smallest among ties.
            let best = distinct
                .iter()
                .copied()
                .max_by_key(|v| (ints.iter().filter(|&x| x == v).count(), -v));
            let modes = mode.as_primitive::<Int64Type>();
            assert_eq!(
                modes.is_valid(r).then(|| modes.value(r)),
                best,
                "seed {seed} row {r}"
            );
            // The 0.3 quantile of all the frame's values and of its distinct values.
            for (result, values) in [(&median, &ints), (&median_distinct, &distinct)] {
                let got = result.as_primitive::<Float64Type>();
                let want = (!values.is_empty()).then(|| {
                    let position = 0.3 * (values.len() - 1) as f64;
                    let lo = position.floor() as usize;
                    let hi = (lo + 1).min(values.len() - 1);
                    values[lo] as f64 + (values[hi] - values[lo]) as f64 * (position - lo as f64)
                });
                let got = got.is_valid(r).then(|| got.value(r));
                assert!(
                    match (got, want) {
                        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                        (a, b) => a == b,
                    },
                    "seed {seed} row {r}: {got:?} {want:?}"
                );
            }
        }
    }
}
