//! The adversary hook: what corrupted believable validators do, at each point where the
//! protocol leaves a validator a choice. The host installs one per shard node
//! ([`super::ShardSetup::adversary`]); the protocol code asks it and acts on the answer,
//! with no branch of its own on who is Byzantine. An honest network installs
//! [`Honest`].
//!
//! Points of choice, in the order a transaction meets them:
//! 1. at each epoch's start the adversary may corrupt believable validators of the new
//!    league ([`Adversary::corrupt`]);
//! 2. a transaction routed to a believable validator may be dropped (censorship), or the
//!    validator may crash and lose what it holds unsigned ([`Adversary::routed`]);
//! 3. a transaction it accepted may be included as a corrupted copy
//!    ([`Adversary::forge`]);
//! 4. when it signs an OptBlock it may also sign a conflicting header for the same slot,
//!    or add a conflicting spend of an output one of its earlier OptBlocks spent
//!    ([`Adversary::seal`]).
//!
//! Whatever it answers, the rules must hold: a forged copy or a conflicting spend is
//! caught (sampled, checked) and proven, only its signer is slashed, and no honest
//! client's transaction is lost.

use crate::tx::Transaction;
use crate::types::{Epoch, ValidatorId};

/// What a believable validator does with a transaction routed to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// It takes it (checks it and, if valid, includes it).
    Accept,
    /// It drops it silently (its client hears nothing and re-routes after a timeout).
    Drop,
    /// It crashes now: this transaction and everything it holds unsigned are lost; it
    /// answers `Drop` from then on.
    Crash,
}

/// What a believable validator signs besides its OptBlock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sealed {
    /// Nothing.
    Honest,
    /// A second header for the same slot (it drops its last transaction).
    Equivocate,
    /// A transaction appended to the OptBlock that spends an output one of its earlier
    /// OptBlocks already spent, to another recipient, validly signed.
    ConflictingSpend(Transaction),
}

/// The host's adversary for one shard.
pub trait Adversary: Send + Sync {
    /// The believable league of `epoch` is `league` (roster indices in league order);
    /// `corrupted` are the validators corrupted in earlier epochs and `eligible` says
    /// whether a validator's standing still lets it be selected. Returns the validators
    /// it corrupts now.
    fn corrupt(
        &mut self,
        epoch: Epoch,
        league: &[ValidatorId],
        corrupted: &[ValidatorId],
        eligible: &dyn Fn(ValidatorId) -> bool,
    ) -> Vec<ValidatorId>;

    /// A transaction is routed to believable validator `validator`, whose next OptBlock
    /// has sequence number `seq`.
    fn routed(&mut self, validator: ValidatorId, seq: u64) -> Routed;

    /// Believable validator `validator` accepted `tx` for its OptBlock `seq`: the
    /// corrupted copy it includes instead, if any.
    fn forge(&mut self, validator: ValidatorId, seq: u64, tx: &Transaction) -> Option<Transaction>;

    /// Believable validator `validator` signs its OptBlock `seq`; `earlier` is a
    /// transaction of one of its earlier OptBlocks, if it has one.
    fn seal(&mut self, validator: ValidatorId, seq: u64, earlier: Option<&Transaction>) -> Sealed;
}

/// No validator misbehaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Honest;

impl Adversary for Honest {
    fn corrupt(
        &mut self,
        _: Epoch,
        _: &[ValidatorId],
        _: &[ValidatorId],
        _: &dyn Fn(ValidatorId) -> bool,
    ) -> Vec<ValidatorId> {
        Vec::new()
    }

    fn routed(&mut self, _: ValidatorId, _: u64) -> Routed {
        Routed::Accept
    }

    fn forge(&mut self, _: ValidatorId, _: u64, _: &Transaction) -> Option<Transaction> {
        None
    }

    fn seal(&mut self, _: ValidatorId, _: u64, _: Option<&Transaction>) -> Sealed {
        Sealed::Honest
    }
}
