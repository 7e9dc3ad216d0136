//! Shard sizing: how likely a randomly formed shard is to break its BFT threshold, and
//! what that means for an epoch and for a deployment's lifetime (PROTOCOL.md §3.4).
//!
//! A shard of `s` validators drawn at random from `N`, of whom `K = ⌊f·N⌋` are bad, fails
//! when it holds at least `⌈s/3⌉` bad members ([`Threshold::Third`], partially synchronous
//! BFT as in [OL]) or `⌈s/2⌉` ([`Threshold::Half`], a synchronous committee as in [RC]).
//!
//! - Binomial model ([OL], sampling with replacement):
//!   `P_shard = Σ_{x ≥ t} C(s,x) f^x (1−f)^(s−x)`.
//! - Hypergeometric model ([RC], exact for the EDS permutation, which samples without
//!   replacement): `P_shard = Σ_{x ≥ t} C(K,x) C(N−K,s−x) / C(N,s)`.
//! - Shards `m = ⌊N/s⌋`; epoch failure by the union bound `P_epoch = min(1, m·P_shard)`;
//!   `years_to_failure = 1 / (P_epoch · epochs_per_year)`.
//!
//! # Numerics
//!
//! Everything is computed in log space: `ln C(n,k)` from a table of `ln k!` built by
//! (compensated) summation of `ln k`, so `N` up to [`MAX_VALIDATORS`] never overflows, and
//! tails are summed with log-sum-exp. The terms of both distributions are log-concave in
//! `x`, hence unimodal: a tail that starts at or above the mode is summed upward from its
//! largest term; one that starts below the mode is `1 −` the lower tail, summed downward
//! from its largest term. Either walk stops once a term falls [`LN_CUTOFF`] below the
//! first (largest) one; log-concavity bounds what is left by that term times `1/(1−r)`,
//! `r` the (decreasing) ratio of successive terms, a relative error far below `f64`'s
//! precision for every parameter the table and the CLI use. The test
//! `truncated_tails_equal_full_sums` checks the walk against the untruncated sum.

/// The largest validator count the sizing accepts (the `ln k!` table is 8 bytes a
/// validator: 8 MB at this bound).
pub const MAX_VALIDATORS: u64 = 1_000_000;

/// A tail walk stops when a term is this far (in natural log) below its largest term:
/// `e^-50 ≈ 2e-22`.
pub const LN_CUTOFF: f64 = 50.0;

/// The BFT threshold a shard must not reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    /// Partially synchronous BFT: a shard fails with `⌈s/3⌉` bad members.
    Third,
    /// Synchronous committee ([RC]): a shard fails with `⌈s/2⌉` bad members.
    Half,
}

impl Threshold {
    /// The fewest bad members that break a shard of `s`.
    pub const fn bad_min(self, s: u64) -> u64 {
        match self {
            Threshold::Third => s.div_ceil(3),
            Threshold::Half => s.div_ceil(2),
        }
    }

    /// The CLI name (`third`, `half`).
    pub const fn name(self) -> &'static str {
        match self {
            Threshold::Third => "third",
            Threshold::Half => "half",
        }
    }
}

/// `ln k!` for `k = 0..=n`.
#[derive(Clone, Debug)]
pub struct LnFactorials {
    table: Vec<f64>,
}

impl LnFactorials {
    /// The table up to `n!`.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`MAX_VALIDATORS`] (a caller bug: the CLI checks its flags first).
    pub fn up_to(n: u64) -> Self {
        assert!(
            n <= MAX_VALIDATORS,
            "ln-factorial table for {n} > {MAX_VALIDATORS}"
        );
        let mut table = Vec::with_capacity(n as usize + 1);
        table.push(0.0);
        // Kahan summation: the table's last entry is about 1.3e7 at N = 1e6, and plain
        // summation would drift by a few ulps per step.
        let (mut sum, mut carry) = (0.0f64, 0.0f64);
        for k in 1..=n {
            let y = (k as f64).ln() - carry;
            let t = sum + y;
            carry = (t - sum) - y;
            sum = t;
            table.push(sum);
        }
        LnFactorials { table }
    }

    /// The largest `n` whose `ln n!` is in the table.
    pub fn max(&self) -> u64 {
        self.table.len() as u64 - 1
    }

    /// `ln n!`.
    pub fn ln_factorial(&self, n: u64) -> f64 {
        self.table[n as usize]
    }

    /// `ln C(n, k)`; `k ≤ n ≤ max()`.
    pub fn ln_choose(&self, n: u64, k: u64) -> f64 {
        debug_assert!(k <= n, "C({n}, {k})");
        self.table[n as usize] - self.table[k as usize] - self.table[(n - k) as usize]
    }
}

/// `ln(e^a + e^b)` without overflow (either may be `-inf`).
fn ln_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln Σ term(x)` walking from `start` by `step` (±1) while `x` stays in `lo..=hi`,
/// where `term` is nonincreasing along the walk; stops at [`LN_CUTOFF`] below the first.
fn ln_walk(start: u64, lo: u64, hi: u64, upward: bool, term: impl Fn(u64) -> f64) -> f64 {
    if start < lo || start > hi {
        return f64::NEG_INFINITY;
    }
    let first = term(start);
    let mut total = first;
    let mut x = start;
    loop {
        x = match (upward, x) {
            (true, x) if x < hi => x + 1,
            (false, x) if x > lo => x - 1,
            _ => return total,
        };
        let t = term(x);
        if t < first - LN_CUTOFF {
            return total;
        }
        total = ln_add(total, t);
    }
}

/// `ln P[X ≥ t]` for a log-concave pmf on `lo..=hi` with mode `mode` and log-terms `term`.
fn ln_upper_tail(t: u64, lo: u64, hi: u64, mode: u64, term: impl Fn(u64) -> f64) -> f64 {
    if t <= lo {
        return 0.0;
    }
    if t > hi {
        return f64::NEG_INFINITY;
    }
    if t >= mode {
        ln_walk(t, lo, hi, true, term)
    } else {
        let lower = ln_walk(t - 1, lo, hi, false, term).exp();
        (-lower).ln_1p()
    }
}

/// `ln P_shard` under the binomial model: a shard of `s`, each member bad with
/// probability `f`, fails at `threshold`. `s ≤ table.max()`, `f ∈ [0, 1]`.
pub fn ln_p_shard_binomial(table: &LnFactorials, s: u64, f: f64, threshold: Threshold) -> f64 {
    assert!((0.0..=1.0).contains(&f), "adversary fraction {f}");
    let t = threshold.bad_min(s);
    if f == 0.0 {
        return if t == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if f == 1.0 {
        return 0.0;
    }
    let (ln_f, ln_g) = (f.ln(), (-f).ln_1p());
    let mode = (((s + 1) as f64) * f).floor().min(s as f64) as u64;
    ln_upper_tail(t, 0, s, mode, |x| {
        table.ln_choose(s, x) + x as f64 * ln_f + (s - x) as f64 * ln_g
    })
}

/// `ln P_shard` under the hypergeometric model: a shard of `s` drawn without replacement
/// from `n` validators of whom `bad` are bad fails at `threshold`. `s ≤ n ≤ table.max()`.
pub fn ln_p_shard_hypergeometric(
    table: &LnFactorials,
    n: u64,
    bad: u64,
    s: u64,
    threshold: Threshold,
) -> f64 {
    assert!(bad <= n && s <= n, "n {n}, bad {bad}, s {s}");
    let good = n - bad;
    let lo = s.saturating_sub(good);
    let hi = s.min(bad);
    let mode = (((s + 1) as u128 * (bad + 1) as u128) / (n + 2) as u128) as u64;
    let ln_total = table.ln_choose(n, s);
    ln_upper_tail(threshold.bad_min(s), lo, hi, mode.clamp(lo, hi), |x| {
        table.ln_choose(bad, x) + table.ln_choose(good, s - x) - ln_total
    })
}

/// The bad validators of `n` at adversary fraction `f`: `⌊f·n⌋` (the adversary holds at
/// most a fraction `f`).
pub fn bad_count(n: u64, f: f64) -> u64 {
    ((f * n as f64).floor() as u64).min(n)
}

/// Shards of (at least) `s` validators out of `n`: `m = ⌊n/s⌋` (PROTOCOL.md §3.4); the
/// remainder is spread over the first buckets (see [`super::assignment`]).
pub const fn shard_count(n: u64, s: u64) -> u64 {
    n / s
}

/// A sizing question: `n` validators, a fraction `f` bad, shards of `s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanInput {
    /// Validators `N`.
    pub validators: u64,
    /// Adversary fraction `f ∈ [0, 1)`.
    pub adversary: f64,
    /// Shard size `s`, `1 ≤ s ≤ N`.
    pub shard_size: u64,
    /// The BFT threshold.
    pub threshold: Threshold,
    /// Epochs per year (one-day epochs give 365).
    pub epochs_per_year: f64,
}

/// The answer: per-shard and per-epoch failure under both models, and the lifetime.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// The question.
    pub input: PlanInput,
    /// Bad validators `K = ⌊f·N⌋`.
    pub bad: u64,
    /// Shards `m = ⌊N/s⌋`.
    pub shards: u64,
    /// `ln P_shard`, binomial model.
    pub ln_p_shard_binomial: f64,
    /// `ln P_shard`, hypergeometric model.
    pub ln_p_shard_hypergeometric: f64,
}

impl Plan {
    /// Evaluates `input` (whose fields must be in range: the CLI checks them).
    pub fn evaluate(table: &LnFactorials, input: PlanInput) -> Plan {
        let PlanInput {
            validators: n,
            adversary: f,
            shard_size: s,
            threshold,
            ..
        } = input;
        assert!(s >= 1 && s <= n && n <= table.max(), "n {n}, s {s}");
        let bad = bad_count(n, f);
        Plan {
            input,
            bad,
            shards: shard_count(n, s),
            ln_p_shard_binomial: ln_p_shard_binomial(table, s, f, threshold),
            ln_p_shard_hypergeometric: ln_p_shard_hypergeometric(table, n, bad, s, threshold),
        }
    }

    /// `P_shard`, binomial model.
    pub fn p_shard_binomial(&self) -> f64 {
        self.ln_p_shard_binomial.exp()
    }

    /// `P_shard`, hypergeometric model.
    pub fn p_shard_hypergeometric(&self) -> f64 {
        self.ln_p_shard_hypergeometric.exp()
    }

    /// `ln P_epoch = ln min(1, m·P_shard)` for a `ln P_shard`.
    pub fn ln_p_epoch_of(&self, ln_p_shard: f64) -> f64 {
        ((self.shards as f64).ln() + ln_p_shard).min(0.0)
    }

    /// `P_epoch` (union bound) under the hypergeometric model, the exact one for EDS.
    pub fn p_epoch(&self) -> f64 {
        self.ln_p_epoch_of(self.ln_p_shard_hypergeometric).exp()
    }

    /// `P_epoch` (union bound) under the binomial model ([OL]'s figures).
    pub fn p_epoch_binomial(&self) -> f64 {
        self.ln_p_epoch_of(self.ln_p_shard_binomial).exp()
    }

    /// Years to failure for a `ln P_shard`: `1 / (P_epoch · epochs_per_year)`; infinite
    /// when `P_epoch` underflows or is zero.
    pub fn years_to_failure_of(&self, ln_p_shard: f64) -> f64 {
        (-(self.ln_p_epoch_of(ln_p_shard) + self.input.epochs_per_year.ln())).exp()
    }

    /// Years to failure, hypergeometric model.
    pub fn years_to_failure(&self) -> f64 {
        self.years_to_failure_of(self.ln_p_shard_hypergeometric)
    }

    /// Years to failure, binomial model.
    pub fn years_to_failure_binomial(&self) -> f64 {
        self.years_to_failure_of(self.ln_p_shard_binomial)
    }
}

/// The smallest shard size `s ≤ n` whose hypergeometric `P_shard ≤ target`, if any
/// (`P_shard` is not monotone in `s`, as `⌈s/3⌉` steps every third size, so every size
/// is tried from 1 up).
pub fn smallest_shard_size(
    table: &LnFactorials,
    n: u64,
    f: f64,
    threshold: Threshold,
    target: f64,
) -> Option<u64> {
    let bad = bad_count(n, f);
    let ln_target = target.ln();
    (1..=n).find(|&s| ln_p_shard_hypergeometric(table, n, bad, s, threshold) <= ln_target)
}
