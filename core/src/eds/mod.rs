//! EDS, Efficient Distributed Sharding (PROTOCOL.md §3): who runs the epoch's DRP, and
//! which validators form which shard.
//!
//! Message flow of one epoch (§3.3, §1.6 steps 2–4):
//!
//! 1. [`ticket`]: every validator draws `Ticket{e, v, pk_i, π_i}` with
//!    `y_i = VRF_{sk_i}("leader" ‖ config_e ‖ e ‖ v)` and gossips it for `Δ`.
//! 2. [`election`]: each validator verifies the tickets it sees, keeps the three smallest,
//!    and after `Δ` fixes the leader and two backups; a leader that withholds the DRP (a
//!    timeout input) is excluded for the epoch (`LeaderFailed`) and the next backup takes
//!    over; after both backups the view advances and fresh tickets are drawn.
//! 3. The leader runs the DRP (§2, not here) and broadcasts `rnd_e` with its proof.
//! 4. [`assignment`]: everyone computes `π_e = FisherYates(PRG(rnd_e))` over the ordered
//!    validator list and cuts it into `m` buckets whose sizes differ by at most one.
//! 5. [`sizing`]: how large shards must be, so that a shard formed this way breaks its BFT
//!    threshold only with negligible probability (§3.4).
//!
//! Invariants (§3.5), each with a test of its id in `tests.rs`: E1 one ticket per
//! (validator, epoch, view), verifiable only under its key; E2 the same tickets give the
//! same leader; E3 the shard map is a pure function of `(rnd_e, validators)`, a partition
//! with sizes within one; E4 a failed leader is never re-selected in the epoch; E5 shard
//! composition is uniformly random (a statistical test against the hypergeometric model,
//! which also rejects a deliberately biased shuffle). Everything is pure: no clock (timeouts
//! are inputs), no randomness source (`rnd_e` and keys are inputs).

pub mod assignment;
pub mod election;
pub mod sizing;
pub mod ticket;

#[cfg(test)]
mod tests;

pub use assignment::ShardMap;
pub use election::{Effect, Election, ElectionError, Input, Phase};
pub use sizing::{LnFactorials, Plan, PlanInput, Threshold};
pub use ticket::{Ticket, TicketError, View};
