//! The shard map of an epoch (PROTOCOL.md §3.3 step 5): `π_e = FisherYates(PRG(rnd_e))`
//! over the ordered validator list (validators are named by their position in it), cut
//! into `m` buckets; bucket `j` is the roster of shard `j`.
//!
//! Buckets are equal up to the remainder: with `N = q·m + r`, the first `r` buckets hold
//! `q + 1` validators and the others `q`, so sizes differ by at most one (E3). The map is
//! a pure function of `(rnd_e, N, m)` (E3), and with an unbiased `rnd_e` every
//! `m`-way split is equally likely because Fisher–Yates with an unbiased index draw
//! ([`Prg::below`], rejection sampling) gives every permutation probability `1/N!` (E5).

use crate::prg::Prg;
use crate::types::{Hash, ShardId};

/// The label of the permutation's PRG seed: `PRG(PERMUTATION_LABEL ‖ rnd_e)`.
pub const PERMUTATION_LABEL: &[u8] = b"eds/permutation";

/// The PRG of the permutation of `rnd`.
pub fn permutation_prg(rnd: &Hash) -> Prg {
    Prg::new(&[PERMUTATION_LABEL, rnd.as_bytes()])
}

/// Writes `π_e` for `n` validators into `order` (reusing its allocation): `order[p]` is
/// the validator at position `p`.
pub fn permutation_into(rnd: &Hash, n: usize, order: &mut Vec<u32>) {
    assert!(u32::try_from(n).is_ok(), "{n} validators");
    order.clear();
    order.extend(0..n as u32);
    permutation_prg(rnd).shuffle(order);
}

/// First position of bucket `j` when `n` validators are cut into `m` buckets (the first
/// `n mod m` buckets one larger). `bucket_start(n, m, m) == n`.
pub const fn bucket_start(n: usize, m: usize, j: usize) -> usize {
    let (q, r) = (n / m, n % m);
    j * q + if j < r { j } else { r }
}

/// Which validators serve in which shard this epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMap {
    order: Vec<u32>,
    shards: usize,
    shard_of: Vec<ShardId>,
}

impl ShardMap {
    /// The map of `rnd_e` for `validators` validators in `shards` shards.
    ///
    /// # Panics
    ///
    /// Unless `1 ≤ shards ≤ validators < 2^32` (an empty shard has no BFT quorum; the
    /// caller sizes shards with [`super::sizing`]).
    pub fn new(rnd: &Hash, validators: usize, shards: usize) -> Self {
        assert!(
            shards >= 1 && shards <= validators,
            "{shards} shards for {validators} validators"
        );
        let mut order = Vec::with_capacity(validators);
        permutation_into(rnd, validators, &mut order);
        let mut shard_of = vec![ShardId(0); validators];
        for j in 0..shards {
            for &v in
                &order[bucket_start(validators, shards, j)..bucket_start(validators, shards, j + 1)]
            {
                shard_of[v as usize] = ShardId(j as u32);
            }
        }
        ShardMap {
            order,
            shards,
            shard_of,
        }
    }

    /// Shards `m`.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Validators `N`.
    pub fn validators(&self) -> usize {
        self.order.len()
    }

    /// The roster of `shard`: positions in the ordered validator list.
    pub fn roster(&self, shard: ShardId) -> &[u32] {
        let (n, m, j) = (self.order.len(), self.shards, shard.0 as usize);
        &self.order[bucket_start(n, m, j)..bucket_start(n, m, j + 1)]
    }

    /// The shard of the validator at position `validator` of the ordered list.
    pub fn shard_of(&self, validator: usize) -> ShardId {
        self.shard_of[validator]
    }
}
