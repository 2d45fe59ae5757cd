//! Seeded randomness for the generators: a SplitMix64 generator, stateless mixing for
//! counter-based streams (a value is a pure function of `(seed, stream, index)`), and the
//! samplers the specs ask for (Zipf, weighted tables, log-normal, Lomax).
//!
//! Everything here is deterministic for a given binary: no global state, no time, no thread ids.

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finalizer: a bijection on `u64` with good avalanche.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed 64-bit value for `(seed, stream, index)`; the basis of counter-based streams.
#[inline]
pub fn hash3(seed: u64, stream: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ stream.wrapping_mul(GOLDEN)) ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of `x`.
#[inline]
pub fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[0, n)` from a 64-bit value (multiply-shift; bias below 2^-40 for the
/// sizes used here).
#[inline]
pub fn below(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// A bijection on `[0, 2^63)`: xor-shifts and odd multiplications modulo 2^63. Distinct inputs
/// below 2^63 give distinct outputs, which makes unique random-looking ids (WatchID).
#[inline]
pub fn bijection63(x: u64) -> u64 {
    const MASK: u64 = (1u64 << 63) - 1;
    let mut z = x & MASK;
    z ^= z >> 31;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9) & MASK;
    z ^= z >> 29;
    z = z.wrapping_mul(0x94D0_49BB_1331_11EB) & MASK;
    z ^= z >> 32;
    z
}

/// SplitMix64: a small, fast, seedable generator (one add and one mix per draw).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for one seed.
    pub fn new(seed: u64) -> Rng {
        Rng { state: mix64(seed) }
    }

    /// A generator for one element of one stream: a pure function of `(seed, stream, index)`.
    #[inline]
    pub fn for_index(seed: u64, stream: u64, index: u64) -> Rng {
        Rng {
            state: hash3(seed, stream, index),
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// A uniform `f64` in `[0, 1)`.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }

    /// A uniform integer in `[0, n)`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }

    /// A uniform integer in `[lo, hi]` (inclusive).
    #[inline]
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// A standard normal deviate (Box-Muller, one of the pair).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal deviate with the given median and shape `sigma`.
    #[inline]
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Zipf's law over `1..=n` with exponent `s > 0`, by rejection-inversion (Hörmann and
/// Derflinger 1996, as in Apache Commons RNG): O(1) per draw, no table, any `n`.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    threshold: f64,
}

impl Zipf {
    /// A sampler over `1..=n` (`n >= 1`) with exponent `s > 0`.
    pub fn new(n: u64, s: f64) -> Zipf {
        assert!(n >= 1 && s > 0.0, "Zipf needs n >= 1 and s > 0");
        let n = n as f64;
        let h_x1 = h_integral(1.5, s) - 1.0;
        let h_n = h_integral(n + 0.5, s);
        let threshold = 2.0 - h_integral_inverse(h_integral(2.5, s) - h(2.0, s), s);
        Zipf {
            n,
            s,
            h_x1,
            h_n,
            threshold,
        }
    }

    /// A draw in `1..=n`; rank 1 is the most likely.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        // The acceptance rate is above 90% for every (n, s); bound the loop anyway.
        for _ in 0..64 {
            let u = self.h_n + rng.f64() * (self.h_x1 - self.h_n);
            let x = h_integral_inverse(u, self.s);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= h_integral(k + 0.5, self.s) - h(k, self.s) {
                return k as u64;
            }
        }
        1
    }
}

#[inline]
fn h(x: f64, s: f64) -> f64 {
    (-s * x.ln()).exp()
}

#[inline]
fn h_integral(x: f64, s: f64) -> f64 {
    let log_x = x.ln();
    helper2((1.0 - s) * log_x) * log_x
}

#[inline]
fn h_integral_inverse(x: f64, s: f64) -> f64 {
    let t = (x * (1.0 - s)).max(-1.0);
    (helper1(t) * x).exp()
}

/// `ln(1 + x) / x`, accurate near 0.
#[inline]
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(exp(x) - 1) / x`, accurate near 0.
#[inline]
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// A discrete distribution over `0..weights.len()` from arbitrary non-negative weights, sampled
/// by a guide table over the cumulative sums: O(1) expected per draw.
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
    guide: Vec<u32>,
}

impl Weighted {
    /// A table for `weights` (at least one positive).
    pub fn new(weights: &[f64]) -> Weighted {
        assert!(!weights.is_empty(), "Weighted needs at least one weight");
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "Weighted needs a positive weight");
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for w in weights {
            acc += w / total;
            cumulative.push(acc);
        }
        // Guard the end against rounding: every u in [0, 1) stops at or before the last entry.
        let last = cumulative.len() - 1;
        cumulative[last] = f64::INFINITY;
        let slots = weights.len().clamp(1, 1 << 20);
        let mut guide = Vec::with_capacity(slots);
        let mut i = 0usize;
        for j in 0..slots {
            let t = j as f64 / slots as f64;
            while cumulative[i] <= t {
                i += 1;
            }
            guide.push(i as u32);
        }
        Weighted { cumulative, guide }
    }

    /// Zipf weights `k^-s` for ranks `offset+1 ..= offset+n`, as a table over `0..n`.
    pub fn zipf(n: usize, s: f64, offset: usize) -> Weighted {
        let weights: Vec<f64> = (0..n).map(|k| ((k + 1 + offset) as f64).powf(-s)).collect();
        Weighted::new(&weights)
    }

    /// The number of outcomes.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// True when there are no outcomes (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// An outcome for a uniform `u` in `[0, 1)`.
    #[inline]
    pub fn at(&self, u: f64) -> usize {
        let slot = ((u * self.guide.len() as f64) as usize).min(self.guide.len() - 1);
        let mut i = self.guide[slot] as usize;
        while self.cumulative[i] <= u {
            i += 1;
        }
        i
    }

    /// A draw.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> usize {
        self.at(rng.f64())
    }
}

/// `1 + floor(X)` with `X ~ Lomax(scale, alpha)`, truncated at `max`: a discrete heavy tail for
/// rows per user.
#[derive(Debug, Clone, Copy)]
pub struct DiscreteLomax {
    /// Scale of the Lomax (Pareto II) distribution.
    pub scale: f64,
    /// Tail index.
    pub alpha: f64,
    /// Largest value returned.
    pub max: u32,
}

impl DiscreteLomax {
    /// The expected value, `sum_{j=0}^{max-1} (1 + j/scale)^-alpha`.
    pub fn mean(&self) -> f64 {
        (0..self.max)
            .map(|j| (1.0 + f64::from(j) / self.scale).powf(-self.alpha))
            .sum()
    }

    /// The scale that gives `mean` for this `alpha` and `max` (bisection; `mean` is clamped to
    /// what the truncation allows).
    pub fn with_mean(mean: f64, alpha: f64, max: u32) -> DiscreteLomax {
        let mut lo: f64 = 1e-3;
        let mut hi: f64 = 1e9;
        for _ in 0..200 {
            let mid = (lo * hi).sqrt();
            let d = DiscreteLomax {
                scale: mid,
                alpha,
                max,
            };
            if d.mean() < mean {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        DiscreteLomax {
            scale: (lo * hi).sqrt(),
            alpha,
            max,
        }
    }

    /// A draw in `1..=max`.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let u = 1.0 - rng.f64(); // (0, 1]
        let x = self.scale * (u.powf(-1.0 / self.alpha) - 1.0);
        let v = 1.0 + x.floor();
        if v >= f64::from(self.max) {
            self.max
        } else {
            v as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn bijection63_is_injective_on_a_range() {
        let mut seen: Vec<u64> = (0..100_000).map(bijection63).collect();
        assert!(seen.iter().all(|&v| v < (1u64 << 63)));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn zipf_matches_its_probabilities() {
        let z = Zipf::new(1000, 1.1);
        let mut rng = Rng::new(1);
        let n = 200_000;
        let mut counts = vec![0u32; 1001];
        for _ in 0..n {
            counts[z.sample(&mut rng) as usize] += 1;
        }
        let norm: f64 = (1..=1000).map(|k| (k as f64).powf(-1.1)).sum();
        for k in [1usize, 2, 10] {
            let expected = (k as f64).powf(-1.1) / norm;
            let got = f64::from(counts[k]) / n as f64;
            assert!(
                (got - expected).abs() < 0.1 * expected,
                "rank {k}: {got} vs {expected}"
            );
        }
        assert_eq!(counts[0], 0);
    }

    #[test]
    fn weighted_follows_weights() {
        let w = Weighted::new(&[1.0, 0.0, 3.0]);
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[2]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{share}");
        assert_eq!(w.at(0.999_999_999), 2);
    }

    #[test]
    fn lomax_mean_is_calibrated() {
        let d = DiscreteLomax::with_mean(5.67, 1.25, 400);
        assert!((d.mean() - 5.67).abs() < 1e-6);
        let mut rng = Rng::new(5);
        let n = 400_000;
        let total: u64 = (0..n).map(|_| u64::from(d.sample(&mut rng))).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 5.67).abs() < 0.15, "{mean}");
    }
}
