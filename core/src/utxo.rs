//! A shard's UTXO set: every output the shard holds, and its state.
//!
//! ```text
//! UNSPENT --apply(tx)--> SPENT(tx)
//! UNSPENT --lock(tx)---> LOCKED(tx) --commit_lock(tx)--> SPENT(tx)
//!   (or lock_inputs(tx, part): only the inputs this shard holds)
//!                        LOCKED(tx) --abort_lock(tx)---> UNSPENT
//! SPENT(tx) + tx's outputs unspent --revert(tx)--> UNSPENT, outputs gone
//! ```
//! `revert` undoes an applied transaction that was not final and turned out invalid
//! (PoB: a fraud proof excludes it, PROTOCOL.md §6.5); it refuses while one of the
//! transaction's outputs is spent or locked, naming the dependent transaction, which must
//! be reverted first.
//! (PROTOCOL.md §5.4: Atomix locks inputs of cross-shard transactions; intra-shard
//! transactions go straight from unspent to spent.)
//!
//! Spent entries are kept, with the spending transaction, so a double spend is told
//! apart from an unknown input and blamed on the transaction that spent first. They are
//! dropped by [`UtxoSet::prune_spent`] (at checkpoints) or, with a spent retention set
//! ([`UtxoSet::with_spent_retention`]), as soon as more than `retention` newer inputs
//! were spent: the map then stays at the live outputs plus a bounded tail, instead of
//! growing with every transaction (a growing map costs rehashes and cache misses on the
//! hot path). A double spend of an output pruned that way is reported as an unknown
//! input.
//!
//! Invariants (checked by property tests over random valid and invalid transactions):
//! - value is conserved: `unspent + locked + fees + exported` equals the value created
//!   at genesis plus outputs received from other shards;
//! - a rejected transaction leaves the set unchanged;
//! - an output is spent at most once.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use crate::tx::{Rejection, TX_INPUTS_MAX, Transaction, TxOut};
use crate::types::{Amount, OutPoint, Owner, TxId};

/// The state of one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UtxoState {
    /// Spendable.
    Unspent,
    /// Held by a pending cross-shard transaction.
    Locked(TxId),
    /// Spent by a final transaction.
    Spent(TxId),
}

/// One output held by the shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utxo {
    /// Who may spend it.
    pub owner: Owner,
    /// How much it holds.
    pub amount: Amount,
    /// Its state.
    pub state: UtxoState,
}

/// Misuse of the set by its caller (not a transaction's fault): these are bugs or
/// forged messages that the protocol layer must have rejected before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UtxoError {
    /// An output with this outpoint exists already.
    #[error("outpoint {0:?} exists already")]
    Exists(OutPoint),
    /// The output is not locked by this transaction.
    #[error("outpoint {outpoint:?} is not locked by {tx:?}")]
    NotLockedBy {
        /// The output.
        outpoint: OutPoint,
        /// The transaction that claimed the lock.
        tx: TxId,
    },
    /// Creating the output would overflow the set's value counters.
    #[error("value overflow")]
    ValueOverflow,
    /// An output of the transaction to revert was spent or locked by `by`.
    #[error("output {outpoint:?} was spent or locked by {by:?}, which must be reverted first")]
    OutputSpent {
        /// The output.
        outpoint: OutPoint,
        /// The transaction that spent or locked it.
        by: TxId,
    },
    /// The transaction to revert is not applied here (an output is missing, or an input
    /// is not spent by it or was pruned from the spent retention).
    #[error("{0:?} is not applied in full here (missing output, input not spent by it, or pruned)")]
    NotApplied(TxId),
}

/// The UTXO set of one shard.
#[derive(Debug, Default)]
pub struct UtxoSet {
    entries: FxHashMap<OutPoint, Utxo>,
    unspent_value: u128,
    locked_value: u128,
    fees: u128,
    created_value: u128,
    exported_value: u128,
    spent_entries: usize,
    /// Spent outpoints, oldest first, when a retention is set.
    spent_order: VecDeque<(OutPoint, TxId)>,
    spent_retention: Option<usize>,
}

impl UtxoSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `capacity` outputs.
    pub fn with_capacity(capacity: usize) -> Self {
        UtxoSet {
            entries: FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
            ..Self::default()
        }
    }

    /// An empty set with room for `capacity` outputs that keeps only the `retention`
    /// most recently spent entries (see the module doc).
    pub fn with_spent_retention(capacity: usize, retention: usize) -> Self {
        UtxoSet {
            entries: FxHashMap::with_capacity_and_hasher(capacity + retention, Default::default()),
            spent_order: VecDeque::with_capacity(retention + TX_INPUTS_MAX),
            spent_retention: Some(retention),
            ..Self::default()
        }
    }

    fn record_spent(&mut self, inputs: &[OutPoint], by: TxId) {
        self.spent_entries += inputs.len();
        let Some(retention) = self.spent_retention else {
            return;
        };
        self.spent_order
            .extend(inputs.iter().map(|input| (*input, by)));
        while self.spent_order.len() > retention {
            let (oldest, by) = self.spent_order.pop_front().expect("longer than retention");
            // A reverted spend leaves a stale entry in the order (and the output may be
            // spent again since, by another transaction, with a newer entry): only the
            // entry still spent by the transaction this one recorded is dropped.
            // One probe of the (cold) entry, not a lookup then a removal.
            if let Entry::Occupied(entry) = self.entries.entry(oldest)
                && entry.get().state == UtxoState::Spent(by)
            {
                entry.remove();
                self.spent_entries -= 1;
            }
        }
    }

    /// Adds an output created outside a transaction of this shard (genesis, or a
    /// cross-shard commit whose proofs were verified).
    pub fn create(&mut self, outpoint: OutPoint, output: TxOut) -> Result<(), UtxoError> {
        if self.entries.contains_key(&outpoint) {
            return Err(UtxoError::Exists(outpoint));
        }
        self.created_value = self
            .created_value
            .checked_add(u128::from(output.amount.0))
            .ok_or(UtxoError::ValueOverflow)?;
        self.unspent_value += u128::from(output.amount.0);
        self.entries.insert(
            outpoint,
            Utxo {
                owner: output.owner,
                amount: output.amount,
                state: UtxoState::Unspent,
            },
        );
        Ok(())
    }

    /// The entry for `outpoint`, if the set holds one.
    pub fn get(&self, outpoint: &OutPoint) -> Option<&Utxo> {
        self.entries.get(outpoint)
    }

    /// Checks `tx` against this set without changing it: structure, inputs exist here
    /// and are unspent, every input's owner has a witness and every witness owns an
    /// input, outputs do not exceed inputs. Signatures are not checked here (they are
    /// verified in batches, see [`crate::crypto::sig`]). Returns the fee (inputs minus
    /// outputs).
    pub fn check(&self, tx: &Transaction) -> Result<Amount, Rejection> {
        let outputs = tx.check_structure()?;
        let mut tally = InputTally::default();
        for outpoint in &tx.inputs {
            tally.add(outpoint, self.entries.get(outpoint), tx)?;
        }
        tally.settle(tx, outputs)
    }

    /// Checks `tx` like [`UtxoSet::check`] and moves its inputs to `state`, with one map
    /// lookup per input: inputs are moved as they pass, and moved back if a later check
    /// fails. Returns the fee and the value moved.
    fn take_inputs(
        &mut self,
        tx: &Transaction,
        state: UtxoState,
    ) -> Result<(Amount, u128), Rejection> {
        let outputs = tx.check_structure()?;
        let mut tally = InputTally::default();
        let mut moved: u128 = 0;
        let mut failure = None;
        for (taken, outpoint) in tx.inputs.iter().enumerate() {
            let entry = self.entries.get_mut(outpoint);
            let result = tally.add(outpoint, entry.as_deref(), tx);
            match (result, entry) {
                (Ok(()), Some(utxo)) => {
                    utxo.state = state;
                    moved += u128::from(utxo.amount.0);
                }
                (Err(rejection), _) => {
                    failure = Some((taken, rejection));
                    break;
                }
                (Ok(()), None) => unreachable!("an absent input is rejected"),
            }
        }
        let (taken, rejection) = match failure {
            None => match tally.settle(tx, outputs) {
                Ok(fee) => return Ok((fee, moved)),
                Err(rejection) => (tx.inputs.len(), rejection),
            },
            Some(failure) => failure,
        };
        for outpoint in &tx.inputs[..taken] {
            self.entries.get_mut(outpoint).expect("taken above").state = UtxoState::Unspent;
        }
        Err(rejection)
    }

    /// Checks `tx` (see [`UtxoSet::check`]) and, if it passes, spends its inputs and
    /// creates its outputs as `(id, index)`. `id` must be `tx.id()` (the caller computed
    /// it once for signature verification). On rejection nothing changes.
    pub fn apply(&mut self, tx: &Transaction, id: TxId) -> Result<Amount, Rejection> {
        #[cfg(feature = "test-skip-utxo-check")]
        if let Err(Rejection::UnknownInput { .. } | Rejection::DoubleSpend { .. }) = self.check(tx)
        {
            // Test-only: the check skipped, the outputs appear out of nothing (what the
            // canaries and the oracle must catch).
            self.insert_outputs(id, &tx.outputs);
            return Ok(Amount(0));
        }
        let (fee, spent_value) = self.take_inputs(tx, UtxoState::Spent(id))?;
        self.record_spent(&tx.inputs, id);
        self.unspent_value -= spent_value;
        self.fees += u128::from(fee.0);
        self.insert_outputs(id, &tx.outputs);
        Ok(fee)
    }

    /// Undoes [`UtxoSet::apply`] of `tx` (whose id is `id`): its outputs disappear and
    /// its inputs are unspent again. Refuses, changing nothing, while an output is spent
    /// or locked (the dependent transaction must be reverted first) or if `tx` is not
    /// applied in full here.
    pub fn revert(&mut self, tx: &Transaction, id: TxId) -> Result<(), UtxoError> {
        let mut value_out: u128 = 0;
        for index in 0..tx.outputs.len() {
            let outpoint = OutPoint {
                tx: id,
                index: index as u32,
            };
            match self.entries.get(&outpoint) {
                Some(utxo) => match utxo.state {
                    UtxoState::Unspent => value_out += u128::from(utxo.amount.0),
                    UtxoState::Spent(by) | UtxoState::Locked(by) => {
                        return Err(UtxoError::OutputSpent { outpoint, by });
                    }
                },
                None => return Err(UtxoError::NotApplied(id)),
            }
        }
        let mut value_in: u128 = 0;
        for input in &tx.inputs {
            match self.entries.get(input) {
                Some(utxo) if utxo.state == UtxoState::Spent(id) => {
                    value_in += u128::from(utxo.amount.0)
                }
                _ => return Err(UtxoError::NotApplied(id)),
            }
        }
        for index in 0..tx.outputs.len() {
            self.entries.remove(&OutPoint {
                tx: id,
                index: index as u32,
            });
        }
        for input in &tx.inputs {
            self.entries.get_mut(input).expect("checked above").state = UtxoState::Unspent;
        }
        self.spent_entries -= tx.inputs.len();
        self.unspent_value = self.unspent_value - value_out + value_in;
        self.fees -= value_in - value_out;
        Ok(())
    }

    fn insert_outputs(&mut self, id: TxId, outputs: &[TxOut]) {
        for (index, output) in outputs.iter().enumerate() {
            let previous = self.entries.insert(
                OutPoint {
                    tx: id,
                    index: index as u32,
                },
                Utxo {
                    owner: output.owner,
                    amount: output.amount,
                    state: UtxoState::Unspent,
                },
            );
            // An id is the hash of a body that spends unspent inputs, so the same id
            // cannot be applied twice.
            assert!(previous.is_none(), "outputs of {id:?} created twice");
            self.unspent_value += u128::from(output.amount.0);
        }
    }

    /// Checks `tx` as [`UtxoSet::check`] does and locks the inputs it holds for `id`
    /// (Atomix input shard). Used for the inputs of this shard only: `tx` here is the
    /// shard's part of a cross-shard transaction.
    pub fn lock(&mut self, tx: &Transaction, id: TxId) -> Result<(), Rejection> {
        let (_, locked) = self.take_inputs(tx, UtxoState::Locked(id))?;
        self.unspent_value -= locked;
        self.locked_value += locked;
        Ok(())
    }

    /// Locks `inputs` for `id`, all or nothing: each must exist here and be unspent
    /// (Atomix input shard, PROTOCOL.md §5.5 step 2: a cross-shard transaction's inputs
    /// are spread over shards, and each shard locks the part it holds). The caller checks
    /// witnesses, signatures and value beforehand ([`crate::atomix`] does, for the part);
    /// this only moves the state. Returns the value locked. On failure (unknown, spent or
    /// locked input, an input listed twice, a sum past `u64::MAX`) nothing changes.
    pub fn lock_inputs(&mut self, id: TxId, inputs: &[OutPoint]) -> Result<Amount, Rejection> {
        let mut locked = Amount::ZERO;
        let mut failure = None;
        for (taken, outpoint) in inputs.iter().enumerate() {
            let Some(utxo) = self.entries.get_mut(outpoint) else {
                failure = Some((
                    taken,
                    Rejection::UnknownInput {
                        outpoint: *outpoint,
                    },
                ));
                break;
            };
            let rejection = match utxo.state {
                UtxoState::Unspent => match locked.checked_add(utxo.amount) {
                    Some(sum) => {
                        locked = sum;
                        utxo.state = UtxoState::Locked(id);
                        continue;
                    }
                    None => Rejection::AmountOverflow,
                },
                UtxoState::Locked(locked_by) => Rejection::InputLocked {
                    outpoint: *outpoint,
                    locked_by,
                },
                UtxoState::Spent(spent_by) => Rejection::DoubleSpend {
                    outpoint: *outpoint,
                    spent_by,
                },
            };
            failure = Some((taken, rejection));
            break;
        }
        if let Some((taken, rejection)) = failure {
            for outpoint in &inputs[..taken] {
                self.entries.get_mut(outpoint).expect("taken above").state = UtxoState::Unspent;
            }
            return Err(rejection);
        }
        self.unspent_value -= u128::from(locked.0);
        self.locked_value += u128::from(locked.0);
        Ok(locked)
    }

    fn move_locked(
        &mut self,
        id: TxId,
        inputs: &[OutPoint],
        to: UtxoState,
    ) -> Result<u128, UtxoError> {
        for outpoint in inputs {
            match self.entries.get(outpoint) {
                Some(utxo) if utxo.state == UtxoState::Locked(id) => {}
                _ => {
                    return Err(UtxoError::NotLockedBy {
                        outpoint: *outpoint,
                        tx: id,
                    });
                }
            }
        }
        let mut moved: u128 = 0;
        for outpoint in inputs {
            let utxo = self.entries.get_mut(outpoint).expect("checked above");
            utxo.state = to;
            moved += u128::from(utxo.amount.0);
        }
        self.locked_value -= moved;
        Ok(moved)
    }

    /// Unlock-to-abort: returns the inputs locked by `id` to unspent. All or nothing.
    pub fn abort_lock(&mut self, id: TxId, inputs: &[OutPoint]) -> Result<(), UtxoError> {
        let moved = self.move_locked(id, inputs, UtxoState::Unspent)?;
        self.unspent_value += moved;
        Ok(())
    }

    /// Commit: the inputs locked by `id` become spent; their value left this shard for
    /// the output shards (counted as `exported`). All or nothing.
    pub fn commit_lock(&mut self, id: TxId, inputs: &[OutPoint]) -> Result<u128, UtxoError> {
        let moved = self.move_locked(id, inputs, UtxoState::Spent(id))?;
        self.exported_value += moved;
        self.record_spent(inputs, id);
        Ok(moved)
    }

    /// Drops spent entries (after a checkpoint made them unnecessary for double-spend
    /// attribution). Returns how many were dropped.
    pub fn prune_spent(&mut self) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|_, utxo| !matches!(utxo.state, UtxoState::Spent(_)));
        self.spent_entries = 0;
        self.spent_order.clear();
        before - self.entries.len()
    }

    /// Entries held, including spent ones not yet pruned.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Spent entries awaiting [`UtxoSet::prune_spent`].
    pub fn spent_entries(&self) -> usize {
        self.spent_entries
    }

    /// Sum of unspent outputs.
    pub fn unspent_value(&self) -> u128 {
        self.unspent_value
    }

    /// Sum of locked outputs.
    pub fn locked_value(&self) -> u128 {
        self.locked_value
    }

    /// Sum of fees (inputs minus outputs) of applied transactions.
    pub fn fees(&self) -> u128 {
        self.fees
    }

    /// Value that left this shard through committed cross-shard locks.
    pub fn exported_value(&self) -> u128 {
        self.exported_value
    }

    /// Sum of outputs created by [`UtxoSet::create`] (genesis and imports).
    pub fn created_value(&self) -> u128 {
        self.created_value
    }

    /// Iterates over all entries (order unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (&OutPoint, &Utxo)> {
        self.entries.iter()
    }
}

/// The running checks over a transaction's inputs, shared by the read-only check and
/// the one-lookup apply.
#[derive(Default)]
struct InputTally {
    inputs: Amount,
    /// Bit `i` set: witness `i` owns at least one input.
    witnesses_used: u32,
}

impl InputTally {
    fn add(
        &mut self,
        outpoint: &OutPoint,
        entry: Option<&Utxo>,
        tx: &Transaction,
    ) -> Result<(), Rejection> {
        let utxo = entry.ok_or(Rejection::UnknownInput {
            outpoint: *outpoint,
        })?;
        match utxo.state {
            UtxoState::Unspent => {}
            UtxoState::Locked(locked_by) => {
                return Err(Rejection::InputLocked {
                    outpoint: *outpoint,
                    locked_by,
                });
            }
            UtxoState::Spent(spent_by) => {
                return Err(Rejection::DoubleSpend {
                    outpoint: *outpoint,
                    spent_by,
                });
            }
        }
        let witness = tx
            .witnesses
            .iter()
            .position(|w| w.owner == utxo.owner)
            .ok_or(Rejection::MissingWitness { owner: utxo.owner })?;
        self.witnesses_used |= 1 << witness;
        // Input amounts are u64 like outputs; a sum past u64::MAX is refused, not wrapped.
        self.inputs = self
            .inputs
            .checked_add(utxo.amount)
            .ok_or(Rejection::AmountOverflow)?;
        Ok(())
    }

    /// The checks that need every input: no unused witness, no overspend. Returns the fee.
    fn settle(&self, tx: &Transaction, outputs: Amount) -> Result<Amount, Rejection> {
        if let Some(unused) = (0..tx.witnesses.len()).find(|i| self.witnesses_used & (1 << i) == 0)
        {
            return Err(Rejection::UnusedWitness {
                owner: tx.witnesses[unused].owner,
            });
        }
        self.inputs
            .checked_sub(outputs)
            .ok_or(Rejection::Overspend {
                inputs: self.inputs,
                outputs,
            })
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;
    use crate::types::Hash;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn owner(n: u8) -> Owner {
        Owner(key(n).verifying_key().to_bytes())
    }

    fn genesis_point(n: u8) -> OutPoint {
        OutPoint {
            tx: TxId(Hash([n; 32])),
            index: 0,
        }
    }

    /// Owners 1..=4 hold 100 each at genesis_point(owner).
    fn genesis() -> UtxoSet {
        genesis_into(UtxoSet::new())
    }

    fn genesis_into(mut set: UtxoSet) -> UtxoSet {
        for n in 1..=4 {
            set.create(
                genesis_point(n),
                TxOut {
                    owner: owner(n),
                    amount: Amount(100),
                },
            )
            .unwrap();
        }
        set
    }

    fn pay(from: u8, input: OutPoint, to: u8, amount: u64) -> Transaction {
        Transaction::signed(
            vec![input],
            vec![TxOut {
                owner: owner(to),
                amount: Amount(amount),
            }],
            &[&key(from)],
        )
    }

    fn conserved(set: &UtxoSet) -> bool {
        set.unspent_value() + set.locked_value() + set.fees() + set.exported_value()
            == set.created_value()
    }

    #[test]
    fn payment_spends_input_creates_output_and_keeps_fee() {
        let mut set = genesis();
        let tx = pay(1, genesis_point(1), 2, 90);
        let id = tx.id();
        assert_eq!(set.apply(&tx, id), Ok(Amount(10)));
        assert_eq!(
            set.get(&genesis_point(1)).unwrap().state,
            UtxoState::Spent(id)
        );
        let created = set.get(&OutPoint { tx: id, index: 0 }).unwrap();
        assert_eq!((created.owner, created.amount), (owner(2), Amount(90)));
        assert_eq!(set.fees(), 10);
        assert!(conserved(&set));
    }

    #[test]
    fn revert_restores_the_state_before_apply() {
        let mut set = genesis();
        let before: Vec<_> = {
            let mut v: Vec<_> = set.iter().map(|(o, u)| (*o, *u)).collect();
            v.sort_by_key(|(o, _)| (o.tx.0.0, o.index));
            v
        };
        let tx = pay(1, genesis_point(1), 2, 90);
        let id = tx.id();
        set.apply(&tx, id).unwrap();
        set.revert(&tx, id).unwrap();
        let mut after: Vec<_> = set.iter().map(|(o, u)| (*o, *u)).collect();
        after.sort_by_key(|(o, _)| (o.tx.0.0, o.index));
        assert_eq!(before, after);
        assert_eq!((set.fees(), set.spent_entries()), (0, 0));
        assert!(conserved(&set));
        // The input can be spent again.
        assert!(set.apply(&tx, id).is_ok());
    }

    #[test]
    fn a_spend_reverted_and_spent_again_is_kept_for_the_whole_retention() {
        // Retention 2: the entry spent again after a revert must stay until two newer
        // inputs are spent after the second spend, not be dropped by the stale first one.
        let mut set = genesis_into(UtxoSet::with_spent_retention(8, 2));
        let first = pay(1, genesis_point(1), 2, 90);
        set.apply(&first, first.id()).unwrap();
        set.revert(&first, first.id()).unwrap();
        let again = pay(1, genesis_point(1), 3, 80);
        set.apply(&again, again.id()).unwrap();
        let other = pay(2, genesis_point(2), 3, 90);
        set.apply(&other, other.id()).unwrap();
        // The stale record of `first` has been pushed out; `again`'s spend is still held.
        assert_eq!(
            set.get(&genesis_point(1)).map(|u| u.state),
            Some(UtxoState::Spent(again.id()))
        );
        assert!(conserved(&set));
    }

    #[test]
    fn revert_refuses_while_a_dependent_spends_an_output() {
        let mut set = genesis();
        let parent = pay(1, genesis_point(1), 2, 90);
        let parent_id = parent.id();
        set.apply(&parent, parent_id).unwrap();
        let child = pay(
            2,
            OutPoint {
                tx: parent_id,
                index: 0,
            },
            3,
            80,
        );
        let child_id = child.id();
        set.apply(&child, child_id).unwrap();
        assert_eq!(
            set.revert(&parent, parent_id),
            Err(UtxoError::OutputSpent {
                outpoint: OutPoint {
                    tx: parent_id,
                    index: 0
                },
                by: child_id
            })
        );
        assert!(conserved(&set));
        set.revert(&child, child_id).unwrap();
        set.revert(&parent, parent_id).unwrap();
        assert!(conserved(&set));
        assert_eq!(set.unspent_value(), 400);
        // Reverting what is not applied changes nothing.
        assert_eq!(
            set.revert(&child, child_id),
            Err(UtxoError::NotApplied(child_id))
        );
    }

    #[test]
    fn second_spend_is_a_double_spend_naming_the_first() {
        let mut set = genesis();
        let first = pay(1, genesis_point(1), 2, 50);
        let first_id = first.id();
        set.apply(&first, first_id).unwrap();
        let second = pay(1, genesis_point(1), 3, 50);
        assert_eq!(
            set.apply(&second, second.id()),
            Err(Rejection::DoubleSpend {
                outpoint: genesis_point(1),
                spent_by: first_id
            })
        );
    }

    #[test]
    fn unknown_input_is_rejected() {
        let set = genesis();
        let tx = pay(1, genesis_point(9), 2, 1);
        assert_eq!(
            set.check(&tx),
            Err(Rejection::UnknownInput {
                outpoint: genesis_point(9)
            })
        );
    }

    #[test]
    fn spending_someone_elses_output_is_a_missing_witness() {
        let set = genesis();
        let tx = pay(2, genesis_point(1), 2, 1);
        assert_eq!(
            set.check(&tx),
            Err(Rejection::MissingWitness { owner: owner(1) })
        );
    }

    #[test]
    fn extra_signer_is_an_unused_witness() {
        let set = genesis();
        let tx = Transaction::signed(
            vec![genesis_point(1)],
            vec![TxOut {
                owner: owner(2),
                amount: Amount(1),
            }],
            &[&key(1), &key(3)],
        );
        assert_eq!(
            set.check(&tx),
            Err(Rejection::UnusedWitness { owner: owner(3) })
        );
    }

    #[test]
    fn overspend_is_rejected_with_both_sums() {
        let set = genesis();
        let tx = pay(1, genesis_point(1), 2, 101);
        assert_eq!(
            set.check(&tx),
            Err(Rejection::Overspend {
                inputs: Amount(100),
                outputs: Amount(101)
            })
        );
    }

    #[test]
    fn two_owners_can_spend_together() {
        let mut set = genesis();
        let tx = Transaction::signed(
            vec![genesis_point(1), genesis_point(2)],
            vec![TxOut {
                owner: owner(3),
                amount: Amount(200),
            }],
            &[&key(1), &key(2)],
        );
        assert_eq!(set.apply(&tx, tx.id()), Ok(Amount::ZERO));
        assert!(conserved(&set));
    }

    #[test]
    fn locked_input_cannot_be_spent_until_aborted() {
        let mut set = genesis();
        let cross = pay(1, genesis_point(1), 2, 100);
        let cross_id = cross.id();
        set.lock(&cross, cross_id).unwrap();
        assert_eq!(set.locked_value(), 100);
        let local = pay(1, genesis_point(1), 3, 100);
        assert_eq!(
            set.check(&local),
            Err(Rejection::InputLocked {
                outpoint: genesis_point(1),
                locked_by: cross_id
            })
        );
        assert!(conserved(&set));
        set.abort_lock(cross_id, &cross.inputs).unwrap();
        assert!(conserved(&set));
        assert_eq!(set.apply(&local, local.id()), Ok(Amount::ZERO));
    }

    #[test]
    fn lock_cannot_be_released_by_another_transaction() {
        let mut set = genesis();
        let cross = pay(1, genesis_point(1), 2, 100);
        set.lock(&cross, cross.id()).unwrap();
        let other = TxId(Hash([0xee; 32]));
        assert!(set.abort_lock(other, &cross.inputs).is_err());
        assert!(set.commit_lock(other, &cross.inputs).is_err());
        assert_eq!(set.commit_lock(cross.id(), &cross.inputs), Ok(100));
        assert_eq!(set.locked_value(), 0);
        assert_eq!(set.exported_value(), 100);
        assert!(conserved(&set));
    }

    fn snapshot(set: &UtxoSet) -> Vec<(OutPoint, Utxo)> {
        let mut all: Vec<_> = set.iter().map(|(o, u)| (*o, *u)).collect();
        all.sort_by_key(|(o, _)| *o);
        all
    }

    #[test]
    fn lock_inputs_locks_a_part_that_commits_or_aborts_on_its_own() {
        let mut set = genesis();
        // A cross-shard transaction spends owners 1 and 2 here and more elsewhere: this
        // shard locks only its part.
        let id = TxId(Hash([0xc1; 32]));
        let part = [genesis_point(1), genesis_point(2)];
        assert_eq!(set.lock_inputs(id, &part), Ok(Amount(200)));
        assert_eq!(set.get(&part[0]).unwrap().state, UtxoState::Locked(id));
        assert_eq!((set.locked_value(), set.unspent_value()), (200, 200));
        assert!(conserved(&set));
        // A locked input cannot be spent locally meanwhile.
        let local = pay(1, genesis_point(1), 3, 100);
        assert_eq!(
            set.check(&local),
            Err(Rejection::InputLocked {
                outpoint: genesis_point(1),
                locked_by: id
            })
        );
        assert_eq!(set.commit_lock(id, &part), Ok(200));
        assert_eq!(set.get(&part[1]).unwrap().state, UtxoState::Spent(id));
        assert_eq!((set.exported_value(), set.locked_value()), (200, 0));
        assert!(conserved(&set));

        let other = TxId(Hash([0xc2; 32]));
        assert_eq!(set.lock_inputs(other, &[genesis_point(3)]), Ok(Amount(100)));
        set.abort_lock(other, &[genesis_point(3)]).unwrap();
        assert_eq!(
            set.get(&genesis_point(3)).unwrap().state,
            UtxoState::Unspent
        );
        assert_eq!(set.unspent_value(), 200);
        assert!(conserved(&set));
    }

    #[test]
    fn lock_inputs_failing_on_any_input_changes_nothing() {
        let mut set = genesis();
        let spent = pay(4, genesis_point(4), 4, 100);
        let spent_id = spent.id();
        set.apply(&spent, spent_id).unwrap();
        let holder = TxId(Hash([0xd0; 32]));
        set.lock_inputs(holder, &[genesis_point(3)]).unwrap();
        let before = snapshot(&set);
        let values = (set.unspent_value(), set.locked_value());
        let id = TxId(Hash([0xd1; 32]));
        let cases = [
            (
                vec![genesis_point(1), genesis_point(9)],
                Rejection::UnknownInput {
                    outpoint: genesis_point(9),
                },
            ),
            (
                vec![genesis_point(1), genesis_point(2), genesis_point(4)],
                Rejection::DoubleSpend {
                    outpoint: genesis_point(4),
                    spent_by: spent_id,
                },
            ),
            (
                vec![genesis_point(2), genesis_point(3)],
                Rejection::InputLocked {
                    outpoint: genesis_point(3),
                    locked_by: holder,
                },
            ),
            // Listed twice: the second sight finds it locked by this very transaction.
            (
                vec![genesis_point(1), genesis_point(1)],
                Rejection::InputLocked {
                    outpoint: genesis_point(1),
                    locked_by: id,
                },
            ),
        ];
        for (inputs, rejection) in cases {
            assert_eq!(set.lock_inputs(id, &inputs), Err(rejection));
            assert_eq!(snapshot(&set), before);
            assert_eq!((set.unspent_value(), set.locked_value()), values);
            assert!(conserved(&set));
        }
    }

    #[test]
    fn lock_inputs_refuses_a_sum_past_u64_max() {
        let mut set = UtxoSet::new();
        for n in 1..=2 {
            set.create(
                genesis_point(n),
                TxOut {
                    owner: owner(n),
                    amount: Amount(u64::MAX),
                },
            )
            .unwrap();
        }
        let id = TxId(Hash([0xe1; 32]));
        assert_eq!(
            set.lock_inputs(id, &[genesis_point(1), genesis_point(2)]),
            Err(Rejection::AmountOverflow)
        );
        assert_eq!(set.locked_value(), 0);
        assert!(set.iter().all(|(_, u)| u.state == UtxoState::Unspent));
    }

    #[test]
    fn pruning_drops_only_spent_entries() {
        let mut set = genesis();
        let tx = pay(1, genesis_point(1), 2, 100);
        set.apply(&tx, tx.id()).unwrap();
        assert_eq!(set.spent_entries(), 1);
        assert_eq!(set.prune_spent(), 1);
        assert_eq!(set.len(), 4);
        assert!(conserved(&set));
    }

    #[test]
    fn spent_retention_bounds_the_set_and_forgets_only_old_spends() {
        let mut set = genesis_into(UtxoSet::with_spent_retention(8, 2));
        let first = pay(1, genesis_point(1), 1, 100);
        set.apply(&first, first.id()).unwrap();
        let second = pay(2, genesis_point(2), 2, 100);
        set.apply(&second, second.id()).unwrap();
        // Both spends retained: a re-spend of the first is a double spend.
        let again = pay(1, genesis_point(1), 3, 1);
        assert!(matches!(
            set.check(&again),
            Err(Rejection::DoubleSpend { .. })
        ));
        let third = pay(3, genesis_point(3), 3, 100);
        set.apply(&third, third.id()).unwrap();
        // The oldest spend fell out of the two-entry tail.
        assert_eq!(set.spent_entries(), 2);
        assert!(matches!(
            set.check(&again),
            Err(Rejection::UnknownInput { .. })
        ));
        let recent = pay(3, genesis_point(3), 1, 1);
        assert!(matches!(
            set.check(&recent),
            Err(Rejection::DoubleSpend { .. })
        ));
        assert!(conserved(&set));
        assert_eq!(set.len(), 4 + 3 - 1);
    }

    #[test]
    fn creating_an_existing_outpoint_is_an_error() {
        let mut set = genesis();
        let again = TxOut {
            owner: owner(1),
            amount: Amount(1),
        };
        assert_eq!(
            set.create(genesis_point(1), again),
            Err(UtxoError::Exists(genesis_point(1)))
        );
    }

    /// One step of a random history: pick an owner and one of the set's outputs, try to
    /// pay some amount to another owner; some steps are invalid on purpose.
    #[derive(Clone, Debug)]
    struct Step {
        signer: u8,
        input: prop::sample::Index,
        to: u8,
        amount: u64,
        split: bool,
    }

    fn step() -> impl Strategy<Value = Step> {
        (
            1u8..=4,
            any::<prop::sample::Index>(),
            1u8..=4,
            1u64..=120,
            any::<bool>(),
        )
            .prop_map(|(signer, input, to, amount, split)| Step {
                signer,
                input,
                to,
                amount,
                split,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn value_is_conserved_and_rejections_change_nothing(steps in prop::collection::vec(step(), 1..40)) {
            let mut set = genesis();
            let mut known: Vec<OutPoint> = (1..=4).map(genesis_point).collect();
            for step in steps {
                let input = known[step.input.index(known.len())];
                let mut outputs = vec![TxOut { owner: owner(step.to), amount: Amount(step.amount) }];
                if step.split && step.amount > 1 {
                    outputs[0].amount = Amount(step.amount / 2);
                    outputs.push(TxOut { owner: owner(step.signer), amount: Amount(step.amount - step.amount / 2) });
                }
                let tx = Transaction::signed(vec![input], outputs, &[&key(step.signer)]);
                let id = tx.id();
                let before = (set.len(), set.unspent_value(), set.fees());
                let input_amount = set.get(&input).map_or(0, |utxo| utxo.amount.0);
                let expected_ok = match set.get(&input) {
                    Some(utxo) => utxo.state == UtxoState::Unspent
                        && utxo.owner == owner(step.signer)
                        && utxo.amount.0 >= step.amount,
                    None => false,
                };
                match set.apply(&tx, id) {
                    Ok(fee) => {
                        prop_assert!(expected_ok);
                        prop_assert_eq!(set.get(&input).unwrap().state, UtxoState::Spent(id));
                        prop_assert_eq!(fee.0, input_amount - step.amount);
                        known.extend((0..tx.outputs.len() as u32).map(|index| OutPoint { tx: id, index }));
                    }
                    Err(_) => {
                        prop_assert!(!expected_ok);
                        prop_assert_eq!(before, (set.len(), set.unspent_value(), set.fees()));
                    }
                }
                prop_assert!(conserved(&set));
                prop_assert_eq!(set.created_value(), 400);
            }
        }
    }
}
