//! Who moves in which batch (PROTOCOL.md §4.2 steps 1–2): the batch size `k`, and per
//! shard the members that leave (old roster minus new) and the validators that join
//! (new roster minus old), each list in an order drawn from `rnd_e` alone.
//!
//! - Leaving members of shard `j` are permuted by `PRG(LEAVING_LABEL ‖ j ‖ rnd_e)`
//!   (`π_{j,e}`, seeded by `σ_j = H(j ‖ rnd_e)` in the protocol's words).
//! - Every joining validator, in any shard, is permuted once by `PRG(JOINING_LABEL ‖
//!   rnd_e)` (`π_{0,e}`); each shard's joining list is that order restricted to it. The
//!   protocol seeds both with `H(j ‖ rnd_e)`, `j = 0` for the incoming list, which would
//!   give shard 0's leavers and the incoming list the same seed; distinct labels keep them
//!   independent.
//!
//! Both lists are sorted before they are shuffled, so the order in which rosters list
//! their members (or validators registered) does not matter: the plan is a pure function
//! of `rnd_e` and the two assignments as sets (T4).
//!
//! Batch `b` of a shard is `leaving[b·k .. (b+1)·k]` and `joining[b·k .. (b+1)·k]` (the
//! [`super::Transition`] runs them, carrying a joiner that was not ready, and the leaver
//! paired with it, into the next batch).

use rustc_hash::FxHashMap;

use crate::prg::Prg;
use crate::types::{Epoch, Hash, ShardId};

/// The label of a shard's leaving-order seed: `PRG(LEAVING_LABEL ‖ j ‖ rnd_e)`.
pub const LEAVING_LABEL: &[u8] = b"transepoch/leaving";
/// The label of the joining-order seed: `PRG(JOINING_LABEL ‖ rnd_e)`.
pub const JOINING_LABEL: &[u8] = b"transepoch/joining";

/// Why no plan could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The two assignments have different shard counts.
    #[error("the old assignment has {old} shards and the new one {new}")]
    ShardCountChanged {
        /// Shards before.
        old: usize,
        /// Shards after.
        new: usize,
    },
    /// A validator is listed in two shards (or twice in one) of one assignment.
    #[error("validator {validator} appears twice in the {which} assignment")]
    Duplicate {
        /// The validator.
        validator: u32,
        /// `"old"` or `"new"`.
        which: &'static str,
    },
    /// A shard is too small to change any member safely: `⌊(s−1)/3⌋ − margin < 1`.
    #[error(
        "a shard of {size} members cannot change members with a margin of {margin}: \
         k must stay at most ⌊(s−1)/3⌋ − margin"
    )]
    ShardTooSmall {
        /// The smallest shard's size.
        size: usize,
        /// The safety margin asked for.
        margin: usize,
    },
}

/// The batch size for shards of `size` members (§4.2 step 1): `max(1, ⌈log2 s⌉)`, capped at
/// `⌊(s−1)/3⌋ − margin` so that a batch never takes a shard's synchronized members below
/// two thirds (T1) with `margin` members to spare. `s = 72` gives 7.
pub fn batch_size(size: usize, margin: usize) -> Result<usize, PlanError> {
    let log2 = if size <= 1 {
        0
    } else {
        (usize::BITS - (size - 1).leading_zeros()) as usize
    };
    match (size.saturating_sub(1) / 3).checked_sub(margin) {
        Some(cap) if cap >= 1 => Ok(log2.clamp(1, cap)),
        _ => Err(PlanError::ShardTooSmall { size, margin }),
    }
}

/// One shard's part of the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardPlan {
    /// Members of the old roster not in the new one, in the order `π_{j,e}`.
    pub leaving: Vec<u32>,
    /// Members of the new roster not in the old one, in the order `π_{0,e}`.
    pub joining: Vec<u32>,
}

impl ShardPlan {
    /// Batches this shard needs when nobody is late.
    pub fn batches(&self, k: usize) -> usize {
        self.leaving.len().max(self.joining.len()).div_ceil(k)
    }
}

/// The transition from one epoch's assignment to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The epoch being entered.
    pub epoch: Epoch,
    /// Members changed per shard per batch, at most.
    pub k: usize,
    /// Per shard, in shard order.
    pub shards: Vec<ShardPlan>,
}

impl Plan {
    /// The plan of entering `epoch` with randomness `rnd` from the rosters `old` to the
    /// rosters `new` (validators named by their position in the ordered validator list;
    /// a validator in `new` and in no old roster is a new registration, one in `old` and
    /// in no new roster leaves the system). `margin` is the `f_shard_margin` of
    /// [`batch_size`], applied to the smallest roster of either assignment.
    pub fn new(
        rnd: &Hash,
        epoch: Epoch,
        old: &[Vec<u32>],
        new: &[Vec<u32>],
        margin: usize,
    ) -> Result<Plan, PlanError> {
        if old.len() != new.len() {
            return Err(PlanError::ShardCountChanged {
                old: old.len(),
                new: new.len(),
            });
        }
        let old_shard = shard_of(old, "old")?;
        let new_shard = shard_of(new, "new")?;
        let smallest = old.iter().chain(new).map(Vec::len).min().unwrap_or(0);
        let k = batch_size(smallest, margin)?;
        let mut shards = vec![ShardPlan::default(); old.len()];
        for (j, roster) in old.iter().enumerate() {
            let leaving = &mut shards[j].leaving;
            leaving.extend(
                roster
                    .iter()
                    .copied()
                    .filter(|v| new_shard.get(v) != Some(&(j as u32))),
            );
            leaving.sort_unstable();
            Prg::new(&[LEAVING_LABEL, &(j as u32).to_le_bytes(), rnd.as_bytes()]).shuffle(leaving);
        }
        let mut joining: Vec<(u32, u32)> = new_shard
            .iter()
            .filter(|(v, j)| old_shard.get(v) != Some(j))
            .map(|(&v, &j)| (v, j))
            .collect();
        joining.sort_unstable();
        Prg::new(&[JOINING_LABEL, rnd.as_bytes()]).shuffle(&mut joining);
        for (v, j) in joining {
            shards[j as usize].joining.push(v);
        }
        Ok(Plan { epoch, k, shards })
    }

    /// The plan of `shard`.
    pub fn shard(&self, shard: ShardId) -> &ShardPlan {
        &self.shards[shard.0 as usize]
    }

    /// Batches the slowest shard needs when nobody is late.
    pub fn batches(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.batches(self.k))
            .max()
            .unwrap_or(0)
    }

    /// Validators that change shard, join or leave (each counted once).
    pub fn moved(&self) -> usize {
        let mut all: Vec<u32> = self
            .shards
            .iter()
            .flat_map(|s| s.leaving.iter().chain(&s.joining))
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    }
}

/// Each validator's shard in `rosters`, refusing a validator listed twice.
fn shard_of(rosters: &[Vec<u32>], which: &'static str) -> Result<FxHashMap<u32, u32>, PlanError> {
    let mut map = FxHashMap::default();
    for (j, roster) in rosters.iter().enumerate() {
        for &v in roster {
            if map.insert(v, j as u32).is_some() {
                return Err(PlanError::Duplicate {
                    validator: v,
                    which,
                });
            }
        }
    }
    Ok(map)
}
