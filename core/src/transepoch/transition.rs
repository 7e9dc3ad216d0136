//! One shard's TransEpoch (PROTOCOL.md §4.2 step 3–4) as a pure state machine, run by
//! every member of the shard: the host feeds [`Input`]s (its clock as ticks, the shard's
//! final blocks, `Ready` messages) and performs the [`Effect`]s; nothing here reads a
//! clock or touches the network.
//!
//! ```text
//!             Tick ≥ start + b·Δ_swap                   all joiners Ready, or Δ_swap passed
//!   Waiting(b) ───────────────────────▶ Syncing(b) ─────────────────────────────────────▶ Proposed(b)
//!      ▲          BatchStarted{join, leave}  (Ready: verify, remember)     Propose(change)   │
//!      │                                                                                    │
//!      └──────────────── Final{change}: roster applied, Joined…, Left…, Deferred… ──────────┘
//!                        (queues empty: Complete)
//! ```
//!
//! A batch takes the next `k` of the shard's joining queue and the next `k` of its leaving
//! queue (the [`Plan`]'s orders). Leaver `i` is paired with joiner `i`; a leaver without a
//! pair (the shard shrinks) leaves with the batch. When the batch closes, the change adds
//! every joiner whose `Ready` verified and removes the unpaired leavers and the partners
//! of those joiners; a joiner not ready goes back to the front of the joining queue and
//! its partner stays, at the front of the leaving queue, for the next batch (at most
//! [`DEFERRALS_MAX`] times, then the joiner is given up for the epoch and its partner
//! keeps its seat).
//!
//! Invariants:
//! - make-before-break: a leaver stops ([`Effect::Left`]) only once the change removing
//!   it is final, and the joiner replacing it is in that same change, so the roster in
//!   force only ever holds members that are synchronized and participating (T1, T5);
//! - at most `k` added and `k` removed per change, each validator added and removed at
//!   most once (T3);
//! - the change is a function of the batch and of which joiners are ready: members check a
//!   proposed change with [`Transition::check`] from its bytes (the `Ready` messages it
//!   carries) and the chain (the heads and heights final so far), never from their clocks
//!   or from which `Ready` messages happened to reach them; the queues move only on a
//!   final change. So every member runs the same batches and reaches the same verdict on
//!   a change (T2, T4);
//! - a change may leave a joiner of its batch out only in a block at least `swap_blocks`
//!   after the batch began on chain (the block that ended the previous batch, or the
//!   transition's start block): a Byzantine leader cannot close batches early to give
//!   joiners up and pick who stays.
//!
//! A joiner given up leaves its partner in its seat for the rest of the epoch, as §4.2
//! step 4 keeps the outgoing node while its replacement is not ready; that partner may
//! then serve its new shard too, if it joins there.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};

use super::message::{CHANGE_MAX, Ready, RosterChange};
use super::plan::Plan;
use super::roster::{RosterError, RosterHistory};
use crate::types::{Epoch, Hash, Height, ShardId};

/// Times a joiner may be late before it is given up for the epoch.
pub const DEFERRALS_MAX: u16 = 3;

/// When batches start: batch `b` not before `start_ns + b·swap_ns`, nor before the
/// previous batch's change is final; a batch waits for its joiners `swap_ns` on the
/// member's clock and `swap_blocks` final blocks on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// When the transition starts (the host's clock).
    pub start_ns: u64,
    /// `Δ_swap`: how long a batch's joiners have to become ready.
    pub swap_ns: u64,
    /// `Δ_swap` in final blocks (at least 1): what members check.
    pub swap_blocks: u64,
}

/// Everything that can happen to a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The host's clock.
    Tick {
        /// Now.
        now_ns: u64,
    },
    /// A block of the shard is final.
    Final {
        /// Its height.
        height: Height,
        /// Its header hash.
        head: Hash,
        /// The roster change it carries, if any.
        change: Option<RosterChange>,
    },
    /// A `Ready` message arrived.
    Ready(Ready),
}

/// What the host must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A batch started: `join` should fetch the shard's state and send `Ready` within
    /// `Δ_swap`; `leave` will be replaced by them.
    BatchStarted {
        /// The batch.
        batch: u32,
        /// Validators asked to join.
        join: Vec<u32>,
        /// Members that leave with this batch if their partners are ready.
        leave: Vec<u32>,
    },
    /// Put this change in a block (if this member is the shard's leader) and run
    /// consensus on it.
    Propose(RosterChange),
    /// `validator` is a member from `from` on.
    Joined {
        /// The validator.
        validator: u32,
        /// First height it signs.
        from: Height,
    },
    /// `validator` stops participating in this shard now (it is not a member from
    /// `from` on).
    Left {
        /// The validator.
        validator: u32,
        /// First height it does not sign.
        from: Height,
    },
    /// `validator` was not ready in time: it is asked again in batch `batch`.
    Deferred {
        /// The validator.
        validator: u32,
        /// The batch it is retried in.
        batch: u32,
    },
    /// `validator` was late [`DEFERRALS_MAX`] times: it does not join this epoch, and the
    /// member it was to replace stays.
    GivenUp {
        /// The validator.
        validator: u32,
    },
    /// The shard's roster is as far as the plan takes it.
    Complete,
}

/// Why a `Ready` message was refused (a Byzantine or confused sender; nothing changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadyError {
    /// For another epoch.
    #[error("Ready for epoch {0}")]
    WrongEpoch(u64),
    /// For another shard.
    #[error("Ready for shard {0}")]
    WrongShard(u32),
    /// No batch is collecting `Ready` messages now.
    #[error("no batch is waiting for Ready messages")]
    NotSyncing,
    /// The validator is not asked to join in this batch.
    #[error("validator {0} does not join in this batch")]
    NotInBatch(u32),
    /// The key is not the validator's.
    #[error("validator {0} signed with a key that is not its own")]
    WrongKey(u32),
    /// The signature does not verify.
    #[error("the signature of validator {0} does not verify")]
    BadSignature(u32),
    /// The head is not a block of this shard final since the batch began.
    #[error("validator {0} names a head that is not a recent final block of the shard")]
    UnknownHead(u32),
    /// The validator is named twice.
    #[error("validator {0} is ready twice")]
    Duplicate(u32),
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// A `Ready` message (alone or in a change) was refused.
    #[error(transparent)]
    Ready(#[from] ReadyError),
    /// A change is not the one this batch yields.
    #[error("the change is not batch {batch}'s: {why}")]
    WrongChange {
        /// The batch expected.
        batch: u32,
        /// What differs.
        why: &'static str,
    },
    /// Applying a final change to the roster failed.
    #[error(transparent)]
    Roster(#[from] RosterError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    Syncing { since_ns: u64 },
    Proposed,
    Complete,
}

/// One member's view of one shard's TransEpoch.
#[derive(Clone, Debug)]
pub struct Transition {
    shard: ShardId,
    epoch: Epoch,
    k: usize,
    schedule: Schedule,
    /// The joiners' keys (ed25519), by validator.
    keys: FxHashMap<u32, [u8; 32]>,
    joining: VecDeque<u32>,
    leaving: VecDeque<u32>,
    deferrals: FxHashMap<u32, u16>,
    batch: u32,
    /// The current batch: joiners with their `Ready` once verified, and leavers.
    join: Vec<(u32, Option<Ready>)>,
    leave: Vec<u32>,
    /// Final heads since the current batch began on chain.
    heads: FxHashSet<Hash>,
    /// The latest final height, and the height the current batch began at.
    height: u64,
    batch_height: u64,
    phase: Phase,
    roster: RosterHistory,
    fx: Vec<Effect>,
}

impl Transition {
    /// `shard`'s part of `plan`, from the roster `roster` (its current roster is the old
    /// one), starting after the final block `start` (height and header hash; every member
    /// must give the same one: the last block of the previous epoch); `key_of` gives each
    /// joiner's ed25519 key. Returns `None` if a leaver of the plan is not a member, or a
    /// joiner is (the plan is not for this roster).
    pub fn new(
        plan: &Plan,
        shard: ShardId,
        schedule: Schedule,
        roster: RosterHistory,
        start: (Height, Hash),
        key_of: impl Fn(u32) -> [u8; 32],
    ) -> Option<Self> {
        let part = plan.shard(shard);
        let members = roster.current();
        if part
            .leaving
            .iter()
            .any(|v| members.binary_search(v).is_err())
            || part
                .joining
                .iter()
                .any(|v| members.binary_search(v).is_ok())
        {
            return None;
        }
        Some(Transition {
            shard,
            epoch: plan.epoch,
            k: plan.k.min(CHANGE_MAX),
            keys: part.joining.iter().map(|&v| (v, key_of(v))).collect(),
            joining: part.joining.iter().copied().collect(),
            leaving: part.leaving.iter().copied().collect(),
            deferrals: FxHashMap::default(),
            batch: 0,
            join: Vec::new(),
            leave: Vec::new(),
            heads: std::iter::once(start.1).collect(),
            height: start.0.0,
            batch_height: start.0.0,
            schedule: Schedule {
                swap_blocks: schedule.swap_blocks.max(1),
                ..schedule
            },
            phase: Phase::Waiting,
            roster,
            fx: Vec::new(),
        })
    }

    /// The rosters by height, as the final changes left them.
    pub fn roster(&self) -> &RosterHistory {
        &self.roster
    }

    /// The batch running or next.
    pub fn batch(&self) -> u32 {
        self.batch
    }

    /// Whether the plan is done for this shard.
    pub fn is_complete(&self) -> bool {
        self.phase == Phase::Complete
    }

    /// What the last inputs ask of the host; drain it.
    pub fn effects(&mut self) -> &mut Vec<Effect> {
        &mut self.fx
    }

    /// One input. A refused input changes nothing.
    pub fn handle(&mut self, input: Input) -> Result<(), TransitionError> {
        match input {
            Input::Tick { now_ns } => {
                self.tick(now_ns);
                Ok(())
            }
            Input::Ready(ready) => self.on_ready(ready),
            Input::Final {
                height,
                head,
                change,
            } => self.on_final(height, head, change),
        }
    }

    fn tick(&mut self, now_ns: u64) {
        match self.phase {
            Phase::Waiting => {
                let due = self
                    .schedule
                    .start_ns
                    .saturating_add(u64::from(self.batch).saturating_mul(self.schedule.swap_ns));
                if now_ns >= due {
                    self.start_batch(now_ns);
                }
            }
            Phase::Syncing { since_ns } => {
                if now_ns >= since_ns.saturating_add(self.schedule.swap_ns) && self.swap_passed() {
                    self.propose();
                }
            }
            Phase::Proposed | Phase::Complete => {}
        }
    }

    /// Takes the next batch off the queues, or completes.
    fn start_batch(&mut self, now_ns: u64) {
        if self.joining.is_empty() && self.leaving.is_empty() {
            self.phase = Phase::Complete;
            self.fx.push(Effect::Complete);
            return;
        }
        self.take_batch();
        self.phase = Phase::Syncing { since_ns: now_ns };
        self.fx.push(Effect::BatchStarted {
            batch: self.batch,
            join: self.join.iter().map(|(v, _)| *v).collect(),
            leave: self.leave.clone(),
        });
        if self.join.is_empty() {
            self.propose();
        }
    }

    /// Moves the next `k` of each queue into the batch.
    fn take_batch(&mut self) {
        let (j, l) = (
            self.k.min(self.joining.len()),
            self.k.min(self.leaving.len()),
        );
        self.join = self.joining.drain(..j).map(|v| (v, None)).collect();
        self.leave = self.leaving.drain(..l).collect();
    }

    /// The current batch's joiners and leavers; before it started (this member's clock
    /// is behind the block that ends it), the ones it will take.
    fn batch_lists(&self) -> (Vec<u32>, Vec<u32>) {
        match self.phase {
            Phase::Waiting => (
                self.joining.iter().take(self.k).copied().collect(),
                self.leaving.iter().take(self.k).copied().collect(),
            ),
            Phase::Complete => (Vec::new(), Vec::new()),
            Phase::Syncing { .. } | Phase::Proposed => (
                self.join.iter().map(|(v, _)| *v).collect(),
                self.leave.clone(),
            ),
        }
    }

    /// Verifies `ready` for a batch whose joiners are `join`; returns its slot.
    fn verify_ready(&self, ready: &Ready, join: &[u32]) -> Result<usize, ReadyError> {
        let v = ready.validator;
        if ready.epoch != self.epoch {
            return Err(ReadyError::WrongEpoch(ready.epoch.0));
        }
        if ready.shard != self.shard {
            return Err(ReadyError::WrongShard(ready.shard.0));
        }
        let slot = join
            .iter()
            .position(|j| *j == v)
            .ok_or(ReadyError::NotInBatch(v))?;
        if self.keys.get(&v) != Some(&ready.signer) {
            return Err(ReadyError::WrongKey(v));
        }
        if !self.heads.contains(&ready.head) {
            return Err(ReadyError::UnknownHead(v));
        }
        if !ready.verify() {
            return Err(ReadyError::BadSignature(v));
        }
        Ok(slot)
    }

    fn on_ready(&mut self, ready: Ready) -> Result<(), TransitionError> {
        if !matches!(self.phase, Phase::Syncing { .. }) {
            return Err(ReadyError::NotSyncing.into());
        }
        let (join, _) = self.batch_lists();
        let slot = self.verify_ready(&ready, &join)?;
        if self.join[slot].1.is_some() {
            return Err(ReadyError::Duplicate(ready.validator).into());
        }
        self.join[slot].1 = Some(ready);
        if self.join.iter().all(|(_, r)| r.is_some()) {
            self.propose();
        }
        Ok(())
    }

    fn propose(&mut self) {
        let change = RosterChange {
            epoch: self.epoch,
            shard: self.shard,
            batch: self.batch,
            ready: self.join.iter().filter_map(|(_, r)| *r).collect(),
            remove: removed(&self.leave, self.join.len(), |i| self.join[i].1.is_some()),
        };
        self.phase = Phase::Proposed;
        self.fx.push(Effect::Propose(change));
    }

    /// Whether the current batch has been open `swap_blocks` final blocks (so a block
    /// after the latest final one may leave joiners out).
    fn swap_passed(&self) -> bool {
        self.height + 1 >= self.batch_height.saturating_add(self.schedule.swap_blocks)
    }

    /// Checks a change carried by the block at `height`, as a member does before it
    /// signs that block and again when it is final: the current batch's, each `Ready`
    /// valid and for a joiner of the batch, in batch order, removing exactly the leavers
    /// those joiners release, and leaving a joiner out only `swap_blocks` after the batch
    /// began. Depends on the chain only, so every member reaches the same verdict.
    pub fn check(&self, height: Height, change: &RosterChange) -> Result<(), TransitionError> {
        let wrong = |why| TransitionError::WrongChange {
            batch: self.batch,
            why,
        };
        if change.epoch != self.epoch || change.shard != self.shard || change.batch != self.batch {
            return Err(wrong("epoch, shard or batch"));
        }
        let (join, leave) = self.batch_lists();
        if join.is_empty() && leave.is_empty() {
            return Err(wrong("nothing is left to change"));
        }
        let mut slots = Vec::with_capacity(change.ready.len());
        for ready in &change.ready {
            let slot = self.verify_ready(ready, &join)?;
            if slots.last().is_some_and(|&last| slot <= last) {
                return Err(if slots.contains(&slot) {
                    ReadyError::Duplicate(ready.validator).into()
                } else {
                    wrong("Ready messages out of batch order")
                });
            }
            slots.push(slot);
        }
        if change.remove != removed(&leave, join.len(), |i| slots.contains(&i)) {
            return Err(wrong("removes other members than its joiners release"));
        }
        if slots.len() < join.len()
            && height.0 < self.batch_height.saturating_add(self.schedule.swap_blocks)
        {
            return Err(wrong(
                "leaves joiners out before Δ_swap has passed on chain",
            ));
        }
        Ok(())
    }

    fn on_final(
        &mut self,
        height: Height,
        head: Hash,
        change: Option<RosterChange>,
    ) -> Result<(), TransitionError> {
        if let Some(change) = change {
            // A final change every honest member refuses means the shard's quorum signed
            // a block against the protocol (more than a third Byzantine): a safety
            // failure the host must stop on, never a state to carry on from.
            self.check(height, &change)?;
            self.roster.apply(height, &change)?;
            if self.phase == Phase::Waiting {
                self.take_batch();
            }
            self.finish_batch(height, &change);
        }
        self.height = self.height.max(height.0);
        self.heads.insert(head);
        Ok(())
    }

    /// The batch's change is final at `height`: effects, and the late joiners and their
    /// partners back to the front of the queues.
    fn finish_batch(&mut self, height: Height, change: &RosterChange) {
        let from = Height(height.0.saturating_add(1));
        let added: Vec<u32> = change.added().collect();
        for &validator in &added {
            self.fx.push(Effect::Joined { validator, from });
        }
        for &validator in &change.remove {
            self.fx.push(Effect::Left { validator, from });
        }
        let next = self.batch + 1;
        let (mut late, mut kept) = (Vec::new(), Vec::new());
        for (i, (v, _)) in self.join.iter().enumerate() {
            if added.contains(v) {
                continue;
            }
            let deferrals = self.deferrals.entry(*v).or_insert(0);
            *deferrals += 1;
            if *deferrals >= DEFERRALS_MAX {
                self.fx.push(Effect::GivenUp { validator: *v });
            } else {
                self.fx.push(Effect::Deferred {
                    validator: *v,
                    batch: next,
                });
                late.push(*v);
                if let Some(&partner) = self.leave.get(i) {
                    kept.push(partner);
                }
            }
        }
        for v in late.into_iter().rev() {
            self.joining.push_front(v);
        }
        for v in kept.into_iter().rev() {
            self.leaving.push_front(v);
        }
        self.join.clear();
        self.leave.clear();
        self.heads.clear();
        self.batch_height = height.0;
        self.batch = next;
        self.phase = Phase::Waiting;
    }
}

/// The leavers a change removes when the joiners at the slots `ready` are added (of
/// `joiners`): the unpaired leavers, and the partners of ready joiners.
fn removed(leave: &[u32], joiners: usize, ready: impl Fn(usize) -> bool) -> Vec<u32> {
    leave
        .iter()
        .enumerate()
        .filter(|&(i, _)| i >= joiners || ready(i))
        .map(|(_, &v)| v)
        .collect()
}
