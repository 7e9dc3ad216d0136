//! The normal league orders Atomix requests (PROTOCOL.md §5.5) into its FinalBlocks:
//! after every OptBlock before them is signed and checked (so both UTXO views agree),
//! lock requests' witnesses are verified in one batch, then each request is applied in
//! arrival order by the shard side (`atomix::AtomixNode::apply`).

use super::*;

impl ShardNode {
    /// The normal league orders the Atomix requests that arrived since its last
    /// FinalBlock, after everything the believable validators accepted before them is
    /// signed and applied (so the two UTXO views agree): lock requests not verified in
    /// an ordering batch yet in one signature batch, then each request in arrival order.
    /// The entries go into the FinalBlock being proposed now.
    pub(super) fn order_atomix(&mut self) {
        // At most once per FinalBlock interval: a `finalize` that builds no FinalBlock (every
        // request held back, nothing else ready) runs again at the next poll.
        let now_ns = self.now;
        if self.atomix.ops.is_empty()
            || now_ns.saturating_sub(self.last_ordered_ns) < self.params.final_interval_ns
        {
            return;
        }
        self.last_ordered_ns = now_ns;
        // The believable validators' and the normal league's work that must come first
        // is theirs, not the Atomix side's.
        self.metered(Role::Ordering, Self::seal_all);
        self.metered(Role::Checking, Self::check_arrivals);
        self.metered(Role::Ordering, Self::flush_direct);
        // Lock requests that arrived since the last ordering batch.
        let pushed = self.push_lock_witnesses(0);
        self.run_verifier();
        self.settle_lock_witnesses(pushed, 0);
        // Transactions not final yet: a lock waits until the outputs it takes are final,
        // so its entry can be final in the next FinalBlock, ahead of OptBlocks still in
        // their challenge window (Atomix entries need no window: the normal league
        // checked them in full).
        // (The set is kept between rounds: refilled, not reallocated.)
        let mut unfinal = std::mem::take(&mut self.unfinal);
        unfinal.clear();
        if self.atomix.locks_queued() {
            unfinal.extend(
                self.inflight
                    .iter()
                    .flat_map(|b| b.txs.iter().map(|t| t.id)),
            );
        }
        let entries =
            self.atomix
                .apply(&mut self.utxo, &mut self.utxo_order, self.height, &unfinal);
        self.unfinal = unfinal;
        self.atomix_entries.extend(entries);
    }

    /// Queues the witnesses of every unverified lock request into the ordering
    /// verifier, tagged `base + k` (`k`: the request's queue position), so they share the
    /// next batch (large batches verify faster per signature). Returns the queue
    /// positions pushed, with each request's first witness, and settles at once the
    /// requests with a witness whose key is not a curve point.
    pub(super) fn push_lock_witnesses(&mut self, base: u32) -> Vec<(usize, Owner)> {
        let shard_count = self.atomix.shard_count();
        let mut pushed = Vec::new();
        let mut bad_keys = Vec::new();
        for (k, xtx) in self.atomix.unverified() {
            let id = xtx.id();
            let mut first = None;
            for witness in xtx.witnesses_of(self.id, shard_count) {
                first.get_or_insert(witness.owner);
                match self.keys.get(&witness.owner) {
                    Some(key) => {
                        self.verifier
                            .push(id.0.0, &witness.signature, key, base + k as u32);
                        self.counters.signatures += 1;
                    }
                    None => bad_keys.push((k, witness.owner)),
                }
            }
            if let Some(owner) = first {
                pushed.push((k, owner));
            } else {
                // No witness of this shard: the state machine refuses it (wrong
                // witness) whatever the verdict.
                pushed.push((k, Owner([0; 32])));
            }
        }
        for &(k, owner) in &bad_keys {
            self.atomix.set_verdict(k, Signatures::Bad { owner });
        }
        pushed.retain(|(k, _)| !bad_keys.iter().any(|(b, _)| b == k));
        pushed
    }

    /// Records the verdicts of the lock requests [`Shard::push_lock_witnesses`] queued
    /// with tag base `base`, from the verifier's failures in `self.bad`.
    pub(super) fn settle_lock_witnesses(&mut self, pushed: Vec<(usize, Owner)>, base: u32) {
        for (k, owner) in pushed {
            let bad = self.bad.contains(&(base + k as u32));
            self.atomix.set_verdict(
                k,
                if bad {
                    Signatures::Bad { owner }
                } else {
                    Signatures::Valid
                },
            );
        }
    }
}
