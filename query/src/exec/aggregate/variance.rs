//! `VAR_SAMP`, `VAR_POP`, `STDDEV_SAMP`, `STDDEV_POP`.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{ArrayRef, ArrowPrimitiveType, Float64Array};

use super::accumulator::{
    downcast, for_each_valid, primitive, validity, GroupsAccumulator, Number,
};
use crate::error::Result;

/// Which spread statistic a [`Variance`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spread {
    StddevSamp,
    StddevPop,
    VarSamp,
    VarPop,
}

/// `VAR_SAMP`, `VAR_POP`, `STDDEV_SAMP`, `STDDEV_POP`: DOUBLE. Welford's online update per group
/// (count, mean, sum of squared deviations), numerically stable; two partial states combine
/// with Chan's formula. The sample statistics are NULL below two values, the population ones
/// without values.
#[derive(Debug)]
pub(super) struct Variance<T> {
    kind: Spread,
    counts: Vec<u64>,
    means: Vec<f64>,
    m2s: Vec<f64>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Variance<T> {
    pub(super) fn new(kind: Spread) -> Self {
        Variance {
            kind,
            counts: vec![],
            means: vec![],
            m2s: vec![],
            _type: PhantomData,
        }
    }

    fn resize(&mut self, num_groups: usize) {
        self.counts.resize(num_groups, 0);
        self.means.resize(num_groups, 0.0);
        self.m2s.resize(num_groups, 0.0);
    }
}

impl<T> GroupsAccumulator for Variance<T>
where
    T: ArrowPrimitiveType + std::fmt::Debug,
    T::Native: Number,
{
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.resize(num_groups);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let (counts, means, m2s) = (&mut self.counts, &mut self.means, &mut self.m2s);
        for_each_valid(array, groups, |row, g| {
            let x = data[row].to_f64();
            counts[g] += 1;
            let delta = x - means[g];
            means[g] += delta / counts[g] as f64;
            m2s[g] += delta * (x - means[g]);
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.resize(num_groups);
        let sample = matches!(self.kind, Spread::StddevSamp | Spread::VarSamp);
        let root = matches!(self.kind, Spread::StddevSamp | Spread::StddevPop);
        let minimum = if sample { 2 } else { 1 };
        let results: Vec<f64> = self
            .counts
            .iter()
            .zip(&self.m2s)
            .map(|(&n, &m2)| {
                if n < minimum {
                    return 0.0;
                }
                let variance = m2 / (n - u64::from(sample)) as f64;
                if root {
                    variance.sqrt()
                } else {
                    variance
                }
            })
            .collect();
        let seen: Vec<bool> = self.counts.iter().map(|&n| n >= minimum).collect();
        Ok(Arc::new(Float64Array::new(results.into(), validity(&seen))))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    /// Chan et al.'s pairwise combination of (count, mean, M2).
    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        self.resize(num_groups);
        for (g, &to) in mapping.iter().enumerate().take(other.counts.len()) {
            let nb = other.counts[g];
            if nb == 0 {
                continue;
            }
            let na = self.counts[to];
            let n = na + nb;
            let delta = other.means[g] - self.means[to];
            self.means[to] += delta * nb as f64 / n as f64;
            self.m2s[to] += other.m2s[g] + delta * delta * (na as f64 * nb as f64 / n as f64);
            self.counts[to] = n;
        }
        Ok(())
    }
}
