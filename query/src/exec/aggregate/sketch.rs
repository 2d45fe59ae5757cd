//! The approximate and ordered-set aggregates: `approx_count_distinct` (HyperLogLog),
//! `approx_percentile` (t-digest) and `percentile_cont` (exact).
//!
//! Each keeps per-group state that merges with another partial state of the same aggregate
//! ([`GroupsAccumulator::merge`]), so the workers of a parallel aggregation combine them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use super::accumulator::{downcast, GroupsAccumulator};
use crate::error::{Error, Result};

/// log2 of the number of HyperLogLog registers.
const PRECISION: u32 = 12;
/// The number of registers: 4096 bytes per group, standard error 1.04 / sqrt(4096) = 1.6%.
const REGISTERS: usize = 1 << PRECISION;

/// A HyperLogLog sketch (Flajolet et al. 2007) with 2^12 one-byte registers over 64-bit hashes,
/// with the linear-counting correction for small cardinalities (below 2.5 * 4096 distinct
/// values the estimate is nearly exact). 64-bit hashes need no large-range correction.
#[derive(Debug, Clone)]
pub struct HyperLogLog {
    registers: Box<[u8]>,
}

impl Default for HyperLogLog {
    fn default() -> Self {
        HyperLogLog {
            registers: vec![0; REGISTERS].into_boxed_slice(),
        }
    }
}

impl HyperLogLog {
    /// Adds a value by its 64-bit hash.
    #[inline]
    pub fn add_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - PRECISION)) as usize;
        // The rank of the first 1 bit in the remaining bits (a guard bit bounds it).
        let rest = (hash << PRECISION) | (1 << (PRECISION - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if let Some(register) = self.registers.get_mut(index) {
            if *register < rank {
                *register = rank;
            }
        }
    }

    /// Adds every value of `other` (the union of the two sets).
    pub fn merge(&mut self, other: &HyperLogLog) {
        for (a, &b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(b);
        }
    }

    /// The estimated number of distinct values added.
    pub fn estimate(&self) -> f64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.registers.iter() {
            sum += 2f64.powi(-i32::from(r));
            zeros += usize::from(r == 0);
        }
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

/// `approx_count_distinct(x)`: a HyperLogLog sketch per group over the row encoding of the
/// values (so every type hashes the same way in every batch and on every core).
#[derive(Debug)]
pub struct ApproxCountDistinct {
    converter: RowConverter,
    hasher: ahash::RandomState,
    /// Allocated at a group's first value.
    sketches: Vec<Option<HyperLogLog>>,
}

impl ApproxCountDistinct {
    /// An accumulator for values of `data_type`.
    pub fn try_new(data_type: DataType) -> Result<Self> {
        Ok(ApproxCountDistinct {
            converter: RowConverter::new(vec![SortField::new(data_type)])?,
            // Fixed seeds: two partial states hash a value alike, so they merge.
            hasher: ahash::RandomState::with_seeds(
                0x5851_f42d_4c95_7f2d,
                0x1405_7b7e_f767_814f,
                0x9e37_79b9_7f4a_7c15,
                0xbf58_476d_1ce4_e5b9,
            ),
            sketches: vec![],
        })
    }
}

impl GroupsAccumulator for ApproxCountDistinct {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let values = values.ok_or_else(|| Error::internal("approx_count_distinct(*)"))?;
        self.sketches
            .resize(num_groups.max(self.sketches.len()), None);
        let values = crate::kernel::normalize_zero(values)?;
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(&values))?;
        let nulls = values.logical_nulls();
        for (row, &group) in groups.iter().enumerate() {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                continue;
            }
            let hash = self.hasher.hash_one(rows.row(row).as_ref());
            if let Some(slot) = self.sketches.get_mut(group) {
                slot.get_or_insert_with(HyperLogLog::default).add_hash(hash);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.sketches
            .resize(num_groups.max(self.sketches.len()), None);
        let counts: Int64Array = self
            .sketches
            .iter()
            .take(num_groups)
            .map(|s| Some(s.as_ref().map_or(0, |s| s.estimate().round() as i64)))
            .collect();
        Ok(Arc::new(counts))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        self.sketches
            .resize(num_groups.max(self.sketches.len()), None);
        for (g, theirs) in other.sketches.into_iter().enumerate() {
            let Some(theirs) = theirs else { continue };
            let Some(slot) = mapping.get(g).and_then(|&to| self.sketches.get_mut(to)) else {
                continue;
            };
            match slot {
                Some(mine) => mine.merge(&theirs),
                None => *slot = Some(theirs),
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.sketches.len() * std::mem::size_of::<Option<HyperLogLog>>()
            + self.sketches.iter().flatten().count() * REGISTERS
    }
}

/// `percentile_cont(p) WITHIN GROUP (ORDER BY x)`: keeps every non-NULL value of each group
/// (counted against the memory limit), and interpolates linearly between the two values around
/// position `p * (n - 1)` of the sorted values, as PostgreSQL does.
#[derive(Debug)]
pub struct Percentile {
    fraction: f64,
    values: Vec<Vec<f64>>,
    count: usize,
}

impl Percentile {
    /// An accumulator for the `fraction` quantile (in [0, 1]).
    pub fn new(fraction: f64) -> Self {
        Percentile {
            fraction,
            values: vec![],
            count: 0,
        }
    }
}

/// The `fraction` quantile of `values` (reordered in place), NULL for no values.
fn interpolate(values: &mut [f64], fraction: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let position = fraction * (n - 1) as f64;
    let lo = (position.floor() as usize).min(n - 1);
    let (_, &mut low, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if position == lo as f64 || above.is_empty() {
        return Some(low);
    }
    let high = above.iter().copied().min_by(f64::total_cmp).unwrap_or(low);
    Some(low + (high - low) * (position - lo as f64))
}

impl GroupsAccumulator for Percentile {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let values = values
            .and_then(|v| v.as_any().downcast_ref::<Float64Array>())
            .ok_or_else(|| Error::internal("percentile input is not DOUBLE"))?;
        if self.values.len() < num_groups {
            self.values.resize_with(num_groups, Vec::new);
        }
        let raw = values.values();
        for (row, &group) in groups.iter().enumerate() {
            if values.is_valid(row) {
                if let Some(list) = self.values.get_mut(group) {
                    list.push(raw[row]);
                    self.count += 1;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        if self.values.len() < num_groups {
            self.values.resize_with(num_groups, Vec::new);
        }
        let fraction = self.fraction;
        let out: Float64Array = self
            .values
            .iter_mut()
            .take(num_groups)
            .map(|v| interpolate(v, fraction))
            .collect();
        Ok(Arc::new(out))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        if self.values.len() < num_groups {
            self.values.resize_with(num_groups, Vec::new);
        }
        for (g, theirs) in other.values.into_iter().enumerate() {
            if let Some(mine) = mapping.get(g).and_then(|&to| self.values.get_mut(to)) {
                mine.extend_from_slice(&theirs);
            }
        }
        self.count += other.count;
        Ok(())
    }

    fn size(&self) -> usize {
        self.count * 8 + self.values.len() * std::mem::size_of::<Vec<f64>>()
    }
}

/// The compression of the t-digests: a few hundred centroids per group (growing with the log
/// of the number of values).
const COMPRESSION: f64 = 100.0;
/// Values buffered before a t-digest merges them into its centroids.
const BUFFER: usize = 512;

/// A merging t-digest (Dunning and Ertl, "Computing extremely accurate quantiles using
/// t-digests", 2019): centroids (mean, weight) sorted by mean, a centroid near quantile `q` of
/// `n` values holding at most `4 n q (1 - q) / 100` values, so the tails stay exact and the
/// middle is accurate to a fraction of a percent of rank. Values are buffered and merged in
/// batches of [`BUFFER`]. Below 200 values no centroid merges and quantiles are exact.
#[derive(Debug, Clone, Default)]
pub struct TDigest {
    /// Merged centroids, sorted by mean.
    centroids: Vec<(f64, f64)>,
    /// Unmerged (value, weight) pairs.
    buffer: Vec<(f64, f64)>,
    total: f64,
    min: f64,
    max: f64,
}

impl TDigest {
    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        self.add_weighted(value, 1.0);
    }

    fn add_weighted(&mut self, value: f64, weight: f64) {
        if self.total == 0.0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.total += weight;
        self.buffer.push((value, weight));
        if self.buffer.len() >= BUFFER {
            self.compress();
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &TDigest) {
        if other.total == 0.0 {
            return;
        }
        let (min, max) = (other.min, other.max);
        for &(mean, weight) in other.centroids.iter().chain(&other.buffer) {
            self.add_weighted(mean, weight);
        }
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }

    fn compress(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.centroids);
        all.append(&mut self.buffer);
        all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let total = self.total;
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(2 * COMPRESSION as usize);
        let mut before = 0.0;
        let mut current = all[0];
        for &(mean, weight) in &all[1..] {
            let q = (before + (current.1 + weight) / 2.0) / total;
            let limit = (4.0 * total * q * (1.0 - q) / COMPRESSION).max(1.0);
            if current.1 + weight <= limit {
                let sum = current.1 + weight;
                current.0 += (mean - current.0) * weight / sum;
                current.1 = sum;
            } else {
                before += current.1;
                merged.push(current);
                current = (mean, weight);
            }
        }
        merged.push(current);
        self.centroids = merged;
    }

    /// The `fraction` quantile, `None` without values. With no merged centroid it is exactly
    /// `percentile_cont`'s answer: centroid `i` is centred at rank `i`, and the rank asked for
    /// is `fraction × (n − 1)`.
    pub fn quantile(&mut self, fraction: f64) -> Option<f64> {
        self.compress();
        let centroids = &self.centroids;
        let (&(first, _), &(last, _)) = (centroids.first()?, centroids.last()?);
        let rank = fraction * (self.total - 1.0);
        // The rank at the centre of each centroid, walking up.
        let mut below = 0.0;
        let mut previous: Option<(f64, f64)> = None;
        for &(mean, weight) in centroids {
            let centre = below + (weight - 1.0) / 2.0;
            if rank <= centre {
                return Some(match previous {
                    None if weight > 1.0 && centre > 0.0 => {
                        self.min + (first - self.min) * (rank / centre)
                    }
                    None => first,
                    Some((prev_mean, prev_centre)) => {
                        prev_mean
                            + (mean - prev_mean) * (rank - prev_centre) / (centre - prev_centre)
                    }
                });
            }
            previous = Some((mean, centre));
            below += weight;
        }
        let (last_mean, last_centre) = previous?;
        let end = self.total - 1.0;
        Some(if end > last_centre {
            last_mean + (self.max - last_mean) * (rank - last_centre) / (end - last_centre)
        } else {
            last
        })
    }

    fn size(&self) -> usize {
        (self.centroids.capacity() + self.buffer.capacity()) * 16
    }
}

/// `approx_percentile(x, p)`: a [`TDigest`] per group.
#[derive(Debug)]
pub struct ApproxPercentile {
    fraction: f64,
    digests: Vec<TDigest>,
}

impl ApproxPercentile {
    /// An accumulator for the `fraction` quantile (in [0, 1]).
    pub fn new(fraction: f64) -> Self {
        ApproxPercentile {
            fraction,
            digests: vec![],
        }
    }
}

impl GroupsAccumulator for ApproxPercentile {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let values = values
            .and_then(|v| v.as_any().downcast_ref::<Float64Array>())
            .ok_or_else(|| Error::internal("percentile input is not DOUBLE"))?;
        if self.digests.len() < num_groups {
            self.digests.resize_with(num_groups, TDigest::default);
        }
        let raw = values.values();
        for (row, &group) in groups.iter().enumerate() {
            if values.is_valid(row) {
                if let Some(digest) = self.digests.get_mut(group) {
                    digest.add(raw[row]);
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        if self.digests.len() < num_groups {
            self.digests.resize_with(num_groups, TDigest::default);
        }
        let fraction = self.fraction;
        let out: Float64Array = self
            .digests
            .iter_mut()
            .take(num_groups)
            .map(|d| d.quantile(fraction))
            .collect();
        Ok(Arc::new(out))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        if self.digests.len() < num_groups {
            self.digests.resize_with(num_groups, TDigest::default);
        }
        for (g, theirs) in other.digests.iter().enumerate() {
            if let Some(mine) = mapping.get(g).and_then(|&to| self.digests.get_mut(to)) {
                mine.merge(theirs);
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.digests.iter().map(TDigest::size).sum::<usize>()
            + self.digests.len() * std::mem::size_of::<TDigest>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array as I64};
    use arrow::datatypes::{Float64Type, Int64Type};

    #[test]
    fn hyperloglog_is_within_a_few_percent_and_merges_like_one_sketch() {
        for n in [10u64, 1_000, 100_000] {
            let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
            let (mut a, mut b, mut whole) = (
                HyperLogLog::default(),
                HyperLogLog::default(),
                HyperLogLog::default(),
            );
            for v in 0..n {
                let h = hasher.hash_one(v);
                whole.add_hash(h);
                if v % 2 == 0 {
                    a.add_hash(h)
                } else {
                    b.add_hash(h)
                }
            }
            a.merge(&b);
            assert_eq!(a.estimate(), whole.estimate());
            let error = (whole.estimate() - n as f64).abs() / n as f64;
            assert!(error < 0.05, "n={n}: estimate {}", whole.estimate());
        }
    }

    #[test]
    fn approx_count_distinct_partial_states_merge() {
        let values: ArrayRef = Arc::new(I64::from_iter((0..5000).map(|v| Some(v % 1000))));
        let groups: Vec<usize> = (0..5000).map(|i| i % 2).collect();
        let mut a = ApproxCountDistinct::try_new(DataType::Int64).unwrap();
        let mut b = ApproxCountDistinct::try_new(DataType::Int64).unwrap();
        a.update_batch(Some(&values.slice(0, 2500)), &groups[..2500], 2)
            .unwrap();
        b.update_batch(Some(&values.slice(2500, 2500)), &groups[2500..], 2)
            .unwrap();
        a.merge(Box::new(b), &[0, 1], 2).unwrap();
        let result = a.evaluate(2).unwrap();
        for count in result.as_primitive::<Int64Type>().values() {
            assert!((490..=510).contains(count), "{count}");
        }
    }

    fn exact(values: &[f64], fraction: f64) -> f64 {
        interpolate(&mut values.to_vec(), fraction).unwrap()
    }

    #[test]
    fn tdigest_is_exact_for_few_values_and_close_for_many() {
        let few = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0];
        let mut digest = TDigest::default();
        few.iter().for_each(|&v| digest.add(v));
        for p in [0.0, 0.1, 0.25, 0.5, 0.77, 1.0] {
            assert!(
                (digest.quantile(p).unwrap() - exact(&few, p)).abs() < 1e-9,
                "p={p}"
            );
        }
        // 100,000 values in a scrambled order, split over two merged digests.
        let n = 100_000u64;
        let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
        let (mut a, mut b) = (TDigest::default(), TDigest::default());
        for (i, &v) in values.iter().enumerate() {
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
        }
        a.merge(&b);
        for p in [0.0, 0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let error = (a.quantile(p).unwrap() - exact(&values, p)).abs() / n as f64;
            assert!(error < 0.005, "p={p}: rank error {error}");
        }
        assert!(a.centroids.len() < 1000, "{} centroids", a.centroids.len());
        assert_eq!(TDigest::default().quantile(0.5), None);
    }

    #[test]
    fn percentile_interpolates_like_postgres_and_merges() {
        let mut p = Percentile::new(0.25);
        let values: ArrayRef = Arc::new(Float64Array::from(vec![Some(4.0), None, Some(1.0)]));
        p.update_batch(Some(&values), &[0, 0, 0], 2).unwrap();
        let mut q = Percentile::new(0.25);
        let more: ArrayRef = Arc::new(Float64Array::from(vec![3.0, 2.0]));
        q.update_batch(Some(&more), &[0, 0], 1).unwrap();
        p.merge(Box::new(q), &[0], 2).unwrap();
        let out = p.evaluate(2).unwrap();
        let out = out.as_primitive::<Float64Type>();
        // 1, 2, 3, 4: position 0.75 between 1 and 2.
        assert_eq!(out.value(0), 1.75);
        assert!(out.is_null(1));
    }
}
