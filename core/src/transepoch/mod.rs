//! TransEpoch (PROTOCOL.md §4): moving validators from epoch `e−1`'s shards to epoch `e`'s
//! in small batches, make-before-break, while every shard keeps committing.
//!
//! Message flow of one shard's transition (§4.2, §1.6 step 5):
//!
//! 1. [`plan`]: from `rnd_e` and the two assignments (EDS's shard maps), everyone derives
//!    the batch size `k` and, per shard, the order in which members leave and validators
//!    join. Nobody chooses a position (T4).
//! 2. [`transition`]: at `start + b·Δ_swap` batch `b` takes the next `k` joiners and
//!    leavers; each joiner fetches the shard's state and sends a signed
//!    [`Ready`]`{e, j, validator, head}` naming a final block it replayed to.
//! 3. When every joiner is ready, or `Δ_swap` has passed, the shard proposes a
//!    [`RosterChange`] carrying the joiners' `Ready` messages and removing the leavers
//!    they release; members check it from its bytes before they sign
//!    ([`Transition::check`]).
//! 4. The block carrying it is final at height `h`: the new roster is in force from
//!    `h + 1` ([`RosterHistory`]); only now do the released leavers stop. Late joiners and
//!    their partners move to the next batch.
//!
//! Invariants (§4.3), each with a test of its id in `tests.rs`: T1 the roster in force
//! holds only synchronized members and never fewer than `s − k`; T2 every block is checked
//! against exactly the roster in force at its height, quorum `⌊2|R|/3⌋ + 1`; T3 at most `k`
//! members join and `k` leave per batch, each at most once; T4 the order is a pure
//! function of `rnd_e`; T5 a shard keeps finalizing blocks through every batch. Pure: no
//! clock (ticks are inputs), no network, no randomness source.

pub mod message;
pub mod plan;
pub mod roster;
pub mod transition;

#[cfg(test)]
mod tests;

pub use message::{CHANGE_MAX, Ready, RosterChange};
pub use plan::{Plan, PlanError, ShardPlan, batch_size};
pub use roster::{RosterError, RosterHistory, quorum};
pub use transition::{
    DEFERRALS_MAX, Effect, Input, ReadyError, Schedule, Transition, TransitionError,
};
