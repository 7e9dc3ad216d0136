//! The seeded adversary of a run (`[byzantine]` in the config): the host's
//! implementation of `ioschain_core::node::adversary::Adversary`, which the shard node
//! asks at each point where a validator has a choice.
//!
//! Which validators: up to `count` corrupted validators per affected shard that can still
//! be selected; whenever it holds fewer, it corrupts believable validators of the new
//! epoch, lowest league index first (slashed ones are banned for good; crashed ones lose
//! eligibility through missed duty). What they do, at the listed OptBlock heights (if
//! any) with probability `q` each time, from a PRG seeded per validator:
//! - `censor`: drops what is routed to it; `crash`: stops at once (or from the first
//!   listed height) and drops everything from then on;
//! - `bad-signature`: includes a copy of an accepted transaction with a corrupted
//!   signature;
//! - `equivocate`: signs a second header for the same slot;
//! - `double-spend`: appends a transaction spending the inputs of one its previous
//!   OptBlock included, to another recipient, signed by the inputs' owners (the
//!   adversary colludes with clients: it holds the account keys the workload derives
//!   from the seed).
//!
//! The oracle re-derives the corrupted validators by the same rule from the seed and
//! config (`validity/leagues.rs`); it never reads this module's state.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use ioschain_core::crypto::hash::Domain;
use ioschain_core::node::adversary::{Adversary, Routed, Sealed};
use ioschain_core::node::pob::{Behaviour, ByzantineParams};
use ioschain_core::prg::Prg;
use ioschain_core::tx::{Transaction, TxOut};
use ioschain_core::types::{Epoch, Owner, ShardId, ValidatorId};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// The account keys a colluding client holds: every account's public key, with its
/// index (the signing key is derived when needed).
#[derive(Debug)]
pub struct AccountKeys {
    seed: u64,
    index: FxHashMap<[u8; 32], u32>,
}

impl AccountKeys {
    /// The `accounts` accounts of the workload seeded by `seed` (derived in parallel).
    pub fn derive(seed: u64, accounts: u32) -> AccountKeys {
        let index = (0..accounts)
            .into_par_iter()
            .map(|i| {
                let key = ioschain_workloads::account_key(seed, i);
                (key.verifying_key().to_bytes(), i)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        AccountKeys { seed, index }
    }

    /// The signing key of `owner`, if it is an account of the workload.
    fn key(&self, owner: &Owner) -> Option<SigningKey> {
        let &i = self.index.get(&owner.0)?;
        Some(ioschain_workloads::account_key(self.seed, i))
    }
}

/// A corrupted validator's plan.
#[derive(Debug)]
struct Fault {
    q: f64,
    heights: Vec<u64>,
    prg: Prg,
    crashed: bool,
}

/// The seeded adversary of one shard.
#[derive(Debug)]
pub struct SeededAdversary {
    params: Option<ByzantineParams>,
    seed: u64,
    shard: ShardId,
    faults: FxHashMap<u32, Fault>,
    keys: Option<Arc<AccountKeys>>,
    /// Who receives the conflicting spends.
    recipient: Owner,
}

impl SeededAdversary {
    /// The adversary of `shard` in a run seeded by `seed` (`params`: `None` for an
    /// honest run); `keys`: the account keys, for `double-spend`.
    pub fn new(
        params: Option<ByzantineParams>,
        seed: u64,
        shard: ShardId,
        keys: Option<Arc<AccountKeys>>,
    ) -> Self {
        let recipient = SigningKey::from_bytes(
            &Domain::ValidatorKey
                .hash_parts(&[b"ioschain/adversary-recipient", &seed.to_le_bytes()])
                .0,
        );
        SeededAdversary {
            params: params
                .filter(|b| b.count > 0 && (b.shards.is_empty() || b.shards.contains(&shard.0))),
            seed,
            shard,
            faults: FxHashMap::default(),
            keys,
            recipient: Owner(recipient.verifying_key().to_bytes()),
        }
    }

    fn behaviour(&self) -> Option<Behaviour> {
        self.params.as_ref().map(|p| p.behaviour)
    }

    /// Whether corrupted validator `id` misbehaves at this opportunity (its OptBlock
    /// `seq`): at the listed heights if any (`crash`: from the first of them on), with
    /// probability `q` each time (a crash strikes at once).
    fn strikes(&mut self, id: ValidatorId, seq: u64) -> bool {
        let Some(behaviour) = self.behaviour() else {
            return false;
        };
        let Some(fault) = self.faults.get_mut(&id.0) else {
            return false;
        };
        let at_height = match (behaviour, fault.heights.first()) {
            (_, None) => true,
            (Behaviour::Crash, Some(&first)) => seq >= first,
            _ => fault.heights.contains(&seq),
        };
        at_height && (behaviour == Behaviour::Crash || fault.q >= 1.0 || fault.prg.unit() < fault.q)
    }

    /// A spend of `earlier`'s inputs to the adversary's recipient, signed by their
    /// owners (`None` if it does not hold their keys).
    fn conflicting_spend(&self, earlier: &Transaction) -> Option<Transaction> {
        let keys = self.keys.as_ref()?;
        let signers: Vec<SigningKey> = earlier
            .witnesses
            .iter()
            .map(|w| keys.key(&w.owner))
            .collect::<Option<_>>()?;
        let outputs = earlier
            .outputs
            .iter()
            .map(|o| TxOut {
                owner: self.recipient,
                amount: o.amount,
            })
            .collect();
        let signers: Vec<&SigningKey> = signers.iter().collect();
        Some(Transaction::signed(
            earlier.inputs.clone(),
            outputs,
            &signers,
        ))
    }
}

impl Adversary for SeededAdversary {
    fn corrupt(
        &mut self,
        _: Epoch,
        league: &[ValidatorId],
        corrupted: &[ValidatorId],
        eligible: &dyn Fn(ValidatorId) -> bool,
    ) -> Vec<ValidatorId> {
        let Some(params) = self.params.as_ref() else {
            return Vec::new();
        };
        let mut active = corrupted.iter().filter(|id| eligible(**id)).count();
        let mut now = Vec::new();
        for &id in league {
            if active >= params.count {
                break;
            }
            if !self.faults.contains_key(&id.0) {
                self.faults.insert(
                    id.0,
                    Fault {
                        q: params.q,
                        heights: params.heights.clone(),
                        crashed: false,
                        prg: Prg::new(&[
                            b"ioschain/byzantine",
                            &self.seed.to_le_bytes(),
                            &self.shard.0.to_le_bytes(),
                            &id.0.to_le_bytes(),
                        ]),
                    },
                );
                now.push(id);
                active += 1;
            }
        }
        now
    }

    fn routed(&mut self, validator: ValidatorId, seq: u64) -> Routed {
        match self.behaviour() {
            Some(Behaviour::Censor) if self.strikes(validator, seq) => Routed::Drop,
            Some(Behaviour::Crash) => {
                let crashed = self.faults.get(&validator.0).is_some_and(|f| f.crashed);
                if crashed {
                    Routed::Drop
                } else if self.strikes(validator, seq) {
                    self.faults.get_mut(&validator.0).expect("struck").crashed = true;
                    Routed::Crash
                } else {
                    Routed::Accept
                }
            }
            _ => Routed::Accept,
        }
    }

    fn forge(&mut self, validator: ValidatorId, seq: u64, tx: &Transaction) -> Option<Transaction> {
        if self.behaviour() != Some(Behaviour::BadSignature) || !self.strikes(validator, seq) {
            return None;
        }
        // It corrupts the signature of a transaction it was sent (and checked).
        let mut forged = tx.clone();
        forged.witnesses[0].signature[0] ^= 0x01;
        Some(forged)
    }

    fn seal(&mut self, validator: ValidatorId, seq: u64, earlier: Option<&Transaction>) -> Sealed {
        match self.behaviour() {
            Some(Behaviour::Equivocate) if self.strikes(validator, seq) => Sealed::Equivocate,
            Some(Behaviour::DoubleSpend) if self.strikes(validator, seq) => earlier
                .and_then(|tx| self.conflicting_spend(tx))
                .map_or(Sealed::Honest, Sealed::ConflictingSpend),
            _ => Sealed::Honest,
        }
    }
}

#[cfg(test)]
mod tests {
    use ioschain_core::crypto::sig::verify_encoded;
    use ioschain_core::types::{Amount, Hash, OutPoint, TxId};

    use super::*;

    fn params(behaviour: Behaviour) -> ByzantineParams {
        ByzantineParams {
            behaviour,
            count: 1,
            shards: Vec::new(),
            q: 1.0,
            heights: Vec::new(),
        }
    }

    /// The adversary of shard 0 with validator 3 corrupted.
    fn corrupted(behaviour: Behaviour, keys: Option<Arc<AccountKeys>>) -> SeededAdversary {
        let mut adversary = SeededAdversary::new(Some(params(behaviour)), 9, ShardId(0), keys);
        let now = adversary.corrupt(Epoch(0), &[ValidatorId(3), ValidatorId(5)], &[], &|_| true);
        assert_eq!(
            now,
            vec![ValidatorId(3)],
            "one corrupted, lowest league index first"
        );
        adversary
    }

    fn spend_of_account(seed: u64, account: u32) -> Transaction {
        let key = ioschain_workloads::account_key(seed, account);
        Transaction::signed(
            vec![OutPoint {
                tx: TxId(Hash([7; 32])),
                index: 1,
            }],
            vec![TxOut {
                owner: Owner([8; 32]),
                amount: Amount(1_000),
            }],
            &[&key],
        )
    }

    #[test]
    fn a_double_spend_is_a_validly_signed_spend_of_the_same_inputs_to_another_recipient() {
        let keys = Arc::new(AccountKeys::derive(9, 16));
        let mut adversary = corrupted(Behaviour::DoubleSpend, Some(keys));
        let earlier = spend_of_account(9, 11);
        let Sealed::ConflictingSpend(conflict) = adversary.seal(ValidatorId(3), 4, Some(&earlier))
        else {
            panic!("a corrupted validator with q = 1 double-spends at every seal");
        };
        assert_eq!(conflict.inputs, earlier.inputs);
        assert_ne!(conflict.id(), earlier.id());
        assert!(
            conflict
                .outputs
                .iter()
                .all(|o| o.owner != earlier.outputs[0].owner)
        );
        let id = conflict.id();
        assert_eq!(conflict.witnesses.len(), 1);
        for w in &conflict.witnesses {
            assert_eq!(w.owner, earlier.witnesses[0].owner);
            assert!(verify_encoded(&w.owner.0, &id.0.0, &w.signature));
        }
        // An honest validator of the same shard does nothing.
        assert_eq!(
            adversary.seal(ValidatorId(5), 4, Some(&earlier)),
            Sealed::Honest
        );
    }

    #[test]
    fn without_the_owners_keys_there_is_no_conflicting_spend() {
        let keys = Arc::new(AccountKeys::derive(9, 4));
        let mut adversary = corrupted(Behaviour::DoubleSpend, Some(keys));
        // Account 11 is not among the 4 accounts whose keys it holds.
        let earlier = spend_of_account(9, 11);
        assert_eq!(
            adversary.seal(ValidatorId(3), 0, Some(&earlier)),
            Sealed::Honest
        );
    }

    #[test]
    fn a_crash_strikes_once_and_the_validator_drops_everything_after() {
        let mut adversary = corrupted(Behaviour::Crash, None);
        assert_eq!(adversary.routed(ValidatorId(5), 0), Routed::Accept);
        assert_eq!(adversary.routed(ValidatorId(3), 0), Routed::Crash);
        assert_eq!(adversary.routed(ValidatorId(3), 1), Routed::Drop);
    }

    #[test]
    fn a_shard_outside_the_configured_ones_has_no_adversary() {
        let mut p = params(Behaviour::BadSignature);
        p.shards = vec![1];
        let mut adversary = SeededAdversary::new(Some(p), 9, ShardId(0), None);
        assert!(
            adversary
                .corrupt(Epoch(0), &[ValidatorId(3)], &[], &|_| true)
                .is_empty()
        );
        let tx = spend_of_account(9, 1);
        assert!(adversary.forge(ValidatorId(3), 0, &tx).is_none());
    }
}
