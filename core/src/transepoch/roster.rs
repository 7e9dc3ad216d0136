//! The roster in force at each height of one shard's chain (PROTOCOL.md §4.3, T2): a
//! block is validated against exactly one roster, the one in force at its height, and
//! needs `⌊2|R|/3⌋ + 1` of its members. A [`RosterChange`] finalized at height `h` is in
//! force from `h + 1`; the block that carries it is still signed by the roster before.

use super::message::RosterChange;
use crate::types::{Height, ShardId};

/// Why a change or a block's signers were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// The change is for another shard.
    #[error("a roster change of shard {change} given to shard {shard}")]
    WrongShard {
        /// This history's shard.
        shard: ShardId,
        /// The change's.
        change: ShardId,
    },
    /// Changes must be final in height order, one per height.
    #[error("a change final at height {height} after one final at {last}")]
    OutOfOrder {
        /// The change's height.
        height: u64,
        /// The last change's.
        last: u64,
    },
    /// The change adds a member or removes a non-member.
    #[error("validator {validator} is {}", if *.member { "already a member" } else { "not a member" })]
    Membership {
        /// The validator.
        validator: u32,
        /// Whether it is a member (an add of a member) or not (a removal of a non-member).
        member: bool,
    },
    /// The change would leave the shard without members.
    #[error("the change leaves the shard empty")]
    Empty,
    /// The height is before the history begins.
    #[error("no roster is known at height {0}")]
    Unknown(u64),
    /// A signer is not a member of the roster in force.
    #[error("signer {signer} is not a member of the roster in force at height {height}")]
    NotMember {
        /// The signer.
        signer: u32,
        /// The block's height.
        height: u64,
    },
    /// Too few distinct members signed.
    #[error("{signed} distinct members signed at height {height}; the quorum is {quorum}")]
    NoQuorum {
        /// Distinct members that signed.
        signed: usize,
        /// `⌊2|R|/3⌋ + 1`.
        quorum: usize,
        /// The block's height.
        height: u64,
    },
}

/// The BFT quorum of a roster of `members`: `⌊2·members/3⌋ + 1`.
pub const fn quorum(members: usize) -> usize {
    2 * members / 3 + 1
}

/// One shard's rosters by height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterHistory {
    shard: ShardId,
    /// `(first height in force, members sorted)`, ascending by height.
    rosters: Vec<(u64, Vec<u32>)>,
}

impl RosterHistory {
    /// The history of `shard` whose roster from `height` on is `members`.
    pub fn new(shard: ShardId, height: Height, members: &[u32]) -> Self {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        RosterHistory {
            shard,
            rosters: vec![(height.0, members)],
        }
    }

    /// The shard.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// The roster in force at `height` (sorted), if the history reaches back that far.
    pub fn at(&self, height: Height) -> Option<&[u32]> {
        let i = self.rosters.partition_point(|(from, _)| *from <= height.0);
        i.checked_sub(1).map(|i| self.rosters[i].1.as_slice())
    }

    /// The roster in force after the last change.
    pub fn current(&self) -> &[u32] {
        &self.rosters.last().expect("never empty").1
    }

    /// Applies `change`, final in the block at `height`: in force from `height + 1`.
    pub fn apply(&mut self, height: Height, change: &RosterChange) -> Result<(), RosterError> {
        if change.shard != self.shard {
            return Err(RosterError::WrongShard {
                shard: self.shard,
                change: change.shard,
            });
        }
        let last = self.rosters.last().expect("never empty").0;
        if height.0 < last {
            return Err(RosterError::OutOfOrder {
                height: height.0,
                last: last.saturating_sub(1),
            });
        }
        let mut members = self.current().to_vec();
        for &v in &change.remove {
            match members.binary_search(&v) {
                Ok(i) => {
                    members.remove(i);
                }
                Err(_) => {
                    return Err(RosterError::Membership {
                        validator: v,
                        member: false,
                    });
                }
            }
        }
        for v in change.added() {
            match members.binary_search(&v) {
                Ok(_) => {
                    return Err(RosterError::Membership {
                        validator: v,
                        member: true,
                    });
                }
                Err(i) => members.insert(i, v),
            }
        }
        if members.is_empty() {
            return Err(RosterError::Empty);
        }
        self.rosters.push((height.0.saturating_add(1), members));
        Ok(())
    }

    /// Checks that `signers` (validators, in any order, repeats counted once) are a quorum
    /// of the roster in force at `height`.
    pub fn check_signers(&self, height: Height, signers: &[u32]) -> Result<(), RosterError> {
        let roster = self.at(height).ok_or(RosterError::Unknown(height.0))?;
        let mut distinct = signers.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if let Some(&signer) = distinct.iter().find(|v| roster.binary_search(v).is_err()) {
            return Err(RosterError::NotMember {
                signer,
                height: height.0,
            });
        }
        let need = quorum(roster.len());
        if distinct.len() < need {
            return Err(RosterError::NoQuorum {
                signed: distinct.len(),
                quorum: need,
                height: height.0,
            });
        }
        Ok(())
    }

    /// Forgets the rosters no longer in force at `height` or later.
    pub fn prune_before(&mut self, height: Height) {
        let i = self.rosters.partition_point(|(from, _)| *from <= height.0);
        if i > 1 {
            self.rosters.drain(..i - 1);
        }
    }
}
