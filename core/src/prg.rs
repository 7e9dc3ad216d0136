//! `PRG(seed)`: the deterministic stream generator of PROTOCOL.md §0 — blake3 in XOF
//! mode over `Domain::Prg ‖ seed`.
//!
//! Used wherever the protocol or a workload needs reproducible randomness from a seed
//! (permutations, sampling, workload generation). It is not a source of fresh
//! randomness: the same seed gives the same stream, everywhere.

use crate::crypto::hash::Domain;

const BUFFER_LEN: usize = 64;

/// A deterministic pseudo-random stream keyed by a seed.
#[derive(Clone)]
pub struct Prg {
    reader: blake3::OutputReader,
    buffer: [u8; BUFFER_LEN],
    used: usize,
}

impl std::fmt::Debug for Prg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prg").finish_non_exhaustive()
    }
}

impl Prg {
    /// The stream for `seed` (any bytes; callers domain-separate their uses by putting a
    /// label in the seed, e.g. `b"workload/shard-3"`).
    pub fn new(seed: &[&[u8]]) -> Self {
        let mut hasher = Domain::Prg.hasher();
        for part in seed {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Prg {
            reader: hasher.finalize_xof(),
            buffer: [0; BUFFER_LEN],
            used: BUFFER_LEN,
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            if self.used == BUFFER_LEN {
                self.reader.fill(&mut self.buffer);
                self.used = 0;
            }
            let take = out.len().min(BUFFER_LEN - self.used);
            let (head, rest) = out.split_at_mut(take);
            head.copy_from_slice(&self.buffer[self.used..self.used + take]);
            self.used += take;
            out = rest;
        }
    }

    /// The next 32 bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.fill(&mut out);
        out
    }

    /// The next uniformly distributed `u64`.
    pub fn next_u64(&mut self) -> u64 {
        let mut out = [0u8; 8];
        self.fill(&mut out);
        u64::from_le_bytes(out)
    }

    /// A uniform integer in `0..n` (Lemire's multiply-and-reject; no modulo bias).
    /// `n` must be at least 1.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniform `f64` in `[0, 1)` (53 random bits).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut prg = Prg::new(&[b"seed"]);
                move |_| prg.next_u64()
            })
            .collect();
        let mut again = Prg::new(&[b"seed"]);
        assert!(a.iter().all(|x| *x == again.next_u64()));
        let mut other = Prg::new(&[b"seee"]);
        assert_ne!(a[0], other.next_u64());
    }

    #[test]
    fn seed_parts_are_length_prefixed() {
        let mut one = Prg::new(&[b"ab", b"c"]);
        let mut two = Prg::new(&[b"a", b"bc"]);
        assert_ne!(one.next_u64(), two.next_u64());
    }

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut prg = Prg::new(&[b"below"]);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[prg.below(7) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&count| (800..1200).contains(&count)),
            "{seen:?}"
        );
    }

    #[test]
    fn unit_is_in_the_half_open_interval() {
        let mut prg = Prg::new(&[b"unit"]);
        for _ in 0..1000 {
            let x = prg.unit();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut prg = Prg::new(&[b"shuffle"]);
        let mut items: Vec<u32> = (0..100).collect();
        prg.shuffle(&mut items);
        assert_ne!(items, (0..100).collect::<Vec<u32>>());
        items.sort_unstable();
        assert_eq!(items, (0..100).collect::<Vec<u32>>());
    }
}
