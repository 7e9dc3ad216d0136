//! Proofs, slashing and exclusion (PROTOCOL.md §6.5): a proof against a believable
//! validator is verified as anyone would, the culprit is slashed once, its unsigned work
//! dropped, and everything it signed that is not final re-verified in full; invalid
//! transactions are excluded, undone in both views with every transaction that spent
//! their outputs, and their clients told to send them again.
//!
//! Invariant: only the culprit of a verified proof is slashed; an excluded transaction
//! is never final, and neither is anything that spent its outputs.

use super::*;

impl ShardNode {
    /// A proof against a believable validator: verified as anyone would, then the
    /// culprit is slashed (once), its unsigned work dropped, and everything it signed
    /// that is not final re-verified in full.
    pub(super) fn blame(&mut self, proof: FraudProof) {
        // What the normal league ordered itself joins the inflight sequence first, so
        // the exclusion cascade below can find a direct transaction that spent an
        // excluded one's output.
        self.flush_direct();
        let culprit = proof
            .culprit()
            .expect("the normal validator's own proofs verify");
        let id = self
            .validators
            .by_key(&culprit)
            .expect("the culprit is a roster member");
        let kind = match proof {
            FraudProof::BadSignature(_) => 0,
            FraudProof::Equivocation(_) => 1,
            FraudProof::FailedCheck(_) => 2,
        };
        self.pob.proofs[kind] += 1;
        self.proofs.push(proof);
        let record = &mut self.validators.records[id.0 as usize];
        if record.banned {
            return;
        }
        self.pob.slashed_stake += u128::from(record.slash());
        self.pob.slashes += 1;
        if let Some(b) = self.believable.iter().position(|b| b.id == id) {
            self.believable[b].banned = true;
            self.drop_open(b, 0);
        }
        let arrivals: Vec<u64> = (0..self.inflight.len() as u64)
            .map(|k| self.inflight_base + k)
            .filter(|&a| self.inflight[(a - self.inflight_base) as usize].signer == Some(id))
            .collect();
        for arrival in arrivals {
            self.recheck(arrival);
        }
    }

    /// Re-verifies every transaction of an OptBlock in full and excludes the invalid.
    pub(super) fn recheck(&mut self, arrival: u64) {
        let index = (arrival - self.inflight_base) as usize;
        let count = self.inflight[index].txs.len();
        for position in 0..count {
            let opt = self.inflight[index].txs[position].clone();
            if opt.excluded {
                continue;
            }
            let tx = tx_in(&self.copies, &opt);
            for witness in &tx.witnesses {
                if let Some(key) = self.keys.get(&witness.owner) {
                    self.verifier
                        .push(opt.id.0.0, &witness.signature, key, position as u32);
                    self.pob.recheck_signatures += 1;
                    self.counters.signatures += 1;
                }
            }
        }
        self.run_verifier();
        let mut bad = std::mem::take(&mut self.bad);
        bad.sort_unstable();
        bad.dedup();
        for &position in &bad {
            self.exclude(arrival, position as usize);
        }
        self.bad = bad;
    }

    /// Excludes one transaction of an in-flight OptBlock: undone in both views (with
    /// every transaction that spent its outputs), and its client re-submits it.
    pub(super) fn exclude(&mut self, arrival: u64, position: usize) {
        let block = self.block_mut(arrival);
        let opt = block.txs[position].clone();
        if opt.excluded {
            return;
        }
        block.txs[position].excluded = true;
        let signer = block.signer;
        self.withdraw(&opt, signer, true);
    }

    /// Takes a signed transaction (already marked excluded) out of finality: its client
    /// re-submits it before the clients of the transactions that spent its outputs (the
    /// reverts below exclude those), it is undone in the normal view if that applied it
    /// and in the ordering view unless it was planted (never applied there), and its
    /// value leaves its signer's exposure.
    pub(super) fn withdraw(
        &mut self,
        opt: &OptTx,
        signer: Option<ValidatorId>,
        in_normal_view: bool,
    ) {
        let tx = self.tx_of(opt).clone();
        if !opt.planted {
            self.harm(opt);
        }
        if in_normal_view {
            self.revert_view(&tx, opt.id, true);
        }
        if !opt.planted {
            self.revert_order(&tx, opt.id);
        }
        self.excluded.push(opt.id);
        self.pob.excluded += 1;
        if let Some(signer) = signer {
            self.exposure[signer.0 as usize].settle(opt.value);
        }
    }

    /// A client's provisional confirmation was reverted: counted, compensated from the
    /// slashed stake, and the client re-submits its transaction.
    pub(super) fn harm(&mut self, opt: &OptTx) {
        self.pob.harmed += 1;
        self.pob.harmed_value += opt.value;
        self.resubmit_entry(opt, self.now);
    }

    /// Undoes `tx` in the normal view (`normal`) or the ordering view, first excluding or
    /// dropping whatever spent its outputs.
    pub(super) fn revert_view(&mut self, tx: &Transaction, id: TxId, normal: bool) {
        loop {
            let view = if normal {
                &mut self.utxo
            } else {
                &mut self.utxo_order
            };
            match view.revert(tx, id) {
                Ok(()) => return,
                Err(UtxoError::OutputSpent { by, .. }) => self.undo_dependent(by),
                Err(e) => panic!(
                    "cannot revert {id:?}: {e}; raise engine.spent_retention above the transactions of a challenge window"
                ),
            }
        }
    }

    pub(super) fn revert_order(&mut self, tx: &Transaction, id: TxId) {
        self.revert_view(tx, id, false);
    }

    /// A transaction that spent an output of one being reverted: excluded if it is in
    /// an OptBlock, dropped from its validator's open block otherwise.
    pub(super) fn undo_dependent(&mut self, id: TxId) {
        for k in 0..self.inflight.len() {
            if let Some(position) = self.inflight[k]
                .txs
                .iter()
                .position(|t| t.id == id && !t.excluded && !t.planted)
            {
                self.exclude(self.inflight_base + k as u64, position);
                return;
            }
        }
        for k in 0..self.arrivals.len() {
            if let Some(position) = self.arrivals[k]
                .block
                .txs
                .iter()
                .position(|t| t.id == id && !t.excluded && !t.planted)
            {
                // Signed but not checked yet: excluded before the normal view applies it.
                let arrival = &mut self.arrivals[k];
                arrival.block.txs[position].excluded = true;
                let (opt, signer) = (arrival.block.txs[position].clone(), arrival.signer);
                self.withdraw(&opt, Some(signer), false);
                return;
            }
        }
        for b in 0..self.believable.len() {
            if let Some(position) = self.believable[b].open.iter().position(|t| t.id == id) {
                let opt = self.believable[b].open.remove(position);
                self.open_owner.remove(&opt.id);
                self.resubmit_entry(&opt, self.now);
                let tx = self.tx_of(&opt).clone();
                self.revert_order(&tx, opt.id);
                let signer = self.believable[b].id.0 as usize;
                self.exposure[signer].settle(opt.value);
                self.copies.forged.remove(&(opt.index, opt.retry));
                return;
            }
        }
        panic!("{id:?} spent an output being reverted but is in no unfinalized block");
    }
}
