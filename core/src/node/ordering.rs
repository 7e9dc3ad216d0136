//! Ordering (PROTOCOL.md §6.5 steps 1–3, the believable league): a batch of submissions
//! is routed (`H(first input) mod L`, skipping slashed validators; a client every
//! believable validator failed twice goes to the normal league), verified (structure,
//! then every witness in one ed25519 batch), applied in order to the ordering view, and
//! each accepted transaction joins its believable validator's open OptBlock within its
//! exposure cap; at the end of the batch every believable validator signs its OptBlock
//! and its transactions are provisional. With one league, the normal league orders the
//! transactions itself (`admit_single`, `flush_direct`).
//!
//! Invariant: a transaction spending an output another believable validator holds
//! unsigned makes that one sign first, so OptBlocks reach the normal league in
//! dependency order.

use super::*;

impl ShardNode {
    /// Takes the ordering batch out of `incoming`, in arrival order (clients send in the
    /// order their transactions may be applied in).
    pub(super) fn take_batch(&mut self) {
        self.batch_index.clear();
        self.batch_tx.clear();
        self.batch_intended.clear();
        self.batch_retry.clear();
        self.urgent = 0;
        for s in self.incoming.drain(..) {
            self.batch_index.push(s.index);
            self.batch_tx.push(s.tx);
            self.batch_intended.push(s.intended);
            self.batch_retry.push(s.retry);
        }
    }

    /// The believable validator a client sends `tx` to on its `retry`-th attempt; clients
    /// skip slashed validators (the ban is public).
    pub(super) fn route_of(&self, tx: &Transaction, retry: u16) -> Route {
        if !self.split() || self.believable.is_empty() {
            return Route::Normal;
        }
        let l = self.believable.len() as u16;
        // A client every believable validator failed twice goes to the normal league.
        if retry >= 2 * l {
            return Route::Normal;
        }
        // A transaction without inputs is malformed; it is rejected by whoever checks it.
        let home = tx.inputs.first().map_or(0, |first| route(first, l, retry));
        (0..l)
            .map(|k| (home + k) % l)
            .find(|&b| !self.believable[b as usize].banned)
            .map_or(Route::Normal, Route::Believable)
    }

    /// Whether believable validator `b` drops what is routed to it now (the adversary's
    /// answer; a crash loses what it had not signed yet).
    pub(super) fn drops(&mut self, b: usize) -> bool {
        let (id, seq) = (self.believable[b].id, self.believable[b].seq);
        match self.adversary.routed(id, seq) {
            Routed::Accept => false,
            Routed::Drop => true,
            Routed::Crash => {
                self.drop_open(b, self.params.reroute_timeout_ns);
                true
            }
        }
    }

    /// The client of `tx` (stream transaction `index`) must send it again at `due_ns` (a
    /// re-route: its next attempt).
    pub(super) fn resubmit(
        &mut self,
        tx: Arc<Transaction>,
        index: u32,
        retry: u16,
        intended: u64,
        due_ns: u64,
    ) {
        self.pob.reroutes += 1;
        self.fx.outcomes.push(Outcome::Retry(Retry {
            submission: Submission {
                tx,
                index,
                intended,
                retry: retry.saturating_add(1),
                urgent: false,
            },
            due_ns,
        }));
    }

    /// The client of OptBlock entry `opt` must send it again at `due_ns`.
    pub(super) fn resubmit_entry(&mut self, opt: &OptTx, due_ns: u64) {
        let tx = Arc::clone(&opt.tx);
        self.resubmit(tx, opt.index, opt.retry, opt.intended, due_ns);
    }

    /// Believable validator `b`'s open transactions are abandoned (crash or ban): undone
    /// in the ordering view and re-submitted by their clients after `delay_ns`.
    pub(super) fn drop_open(&mut self, b: usize, delay_ns: u64) {
        let open = std::mem::take(&mut self.believable[b].open);
        for t in &open {
            self.open_owner.remove(&t.id);
        }
        let due = self.now + delay_ns;
        let signer = self.believable[b].id;
        // Clients re-submit in order, before the clients of transactions that spent
        // these outputs (dropped or excluded by the reverts below) re-submit theirs.
        for opt in &open {
            self.resubmit_entry(opt, due);
        }
        for opt in open.iter().rev() {
            let tx = self.tx_of(opt).clone();
            self.revert_order(&tx, opt.id);
            self.exposure[signer.0 as usize].settle(opt.value);
            self.copies.forged.remove(&(opt.index, opt.retry));
        }
    }

    pub(super) fn process_batch(&mut self, now_ns: u64) {
        self.take_batch();
        let batch_tx = std::mem::take(&mut self.batch_tx);
        self.batch_id.clear();
        self.batch_verdict.clear();
        self.batch_route.clear();
        let timeout = self.params.reroute_timeout_ns;
        for (position, tx) in batch_tx.iter().enumerate() {
            let index = self.batch_index[position];
            let mut route = self.route_of(tx, self.batch_retry[position]);
            if let Route::Believable(b) = route
                && self.drops(b as usize)
            {
                // The client hears nothing and re-routes after its timeout.
                self.believable[b as usize].missed += 1;
                let (retry, intended) = (self.batch_retry[position], self.batch_intended[position]);
                self.resubmit(Arc::clone(tx), index, retry, intended, now_ns + timeout);
                route = Route::Dropped;
            }
            self.batch_route.push(route);
            let mut verdict = None;
            let mut id = TxId::default();
            if route != Route::Dropped {
                verdict = tx.check_structure().err();
                if verdict.is_none() {
                    id = tx.id();
                    for witness in &tx.witnesses {
                        match self.keys.get(&witness.owner) {
                            Some(key) => {
                                self.verifier.push(
                                    id.0.0,
                                    &witness.signature,
                                    key,
                                    position as u32,
                                );
                                self.counters.signatures += 1;
                            }
                            None => {
                                verdict = Some(Rejection::BadSignature {
                                    owner: witness.owner,
                                })
                            }
                        }
                    }
                }
            }
            self.batch_id.push(id);
            self.batch_verdict.push(verdict);
        }
        let base = self.batch_index.len() as u32;
        let pushed = self.push_lock_witnesses(base);
        self.run_verifier();
        self.settle_lock_witnesses(pushed, base);
        self.bad.retain(|&tag| tag < base);
        for &position in &self.bad {
            // Entries are tagged by transaction; the first witness stands for the owner
            // in the rejection's detail (the counted reason is exact).
            let tx = &batch_tx[position as usize];
            self.batch_verdict[position as usize].get_or_insert(Rejection::BadSignature {
                owner: tx.witnesses[0].owner,
            });
        }
        // Touch every input's map slot first: independent lookups overlap their cache
        // misses, where the dependent checks of the apply loop below would take them one
        // at a time.
        for tx in &batch_tx {
            for input in &tx.inputs {
                std::hint::black_box(self.utxo_order.get(input));
            }
        }
        for (position, tx) in batch_tx.iter().enumerate() {
            let route = self.batch_route[position];
            if route == Route::Dropped {
                continue;
            }
            let index = self.batch_index[position];
            let id = self.batch_id[position];
            let intended = self.batch_intended[position];
            let retry = self.batch_retry[position];
            let value: u128 = tx.outputs.iter().map(|o| u128::from(o.amount.0)).sum();
            if let (Route::Believable(b), None) = (route, self.batch_verdict[position]) {
                let signer = self.believable[b as usize].id.0 as usize;
                if !self.exposure[signer].try_admit(value) {
                    // The validator stops signing at its cap; the client re-routes.
                    self.pob.exposure_deferrals += 1;
                    self.resubmit(Arc::clone(tx), index, retry, intended, now_ns + timeout);
                    continue;
                }
            }
            let outcome = match self.batch_verdict[position] {
                Some(rejection) => Err(rejection),
                None => self.utxo_order.apply(tx, id).map(|_| ()),
            };
            match outcome {
                Ok(()) => {
                    let opt = OptTx {
                        tx: Arc::clone(tx),
                        index,
                        id,
                        intended,
                        retry,
                        value,
                        forged: false,
                        planted: false,
                        excluded: false,
                    };
                    match route {
                        Route::Believable(b) => self.admit(b as usize, opt, now_ns),
                        _ => self.admit_single(tx, opt, now_ns),
                    }
                }
                Err(rejection) => {
                    if let Route::Believable(b) = route
                        && self.batch_verdict[position].is_none()
                    {
                        let signer = self.believable[b as usize].id.0 as usize;
                        self.exposure[signer].settle(value);
                    }
                    self.fx.outcomes.push(Outcome::Rejected(
                        Submission {
                            tx: Arc::clone(tx),
                            index,
                            intended,
                            retry,
                            urgent: false,
                        },
                        rejection,
                    ));
                }
            }
        }
        self.batch_tx = batch_tx;
        self.batch_tx.clear();
        self.seal_all();
    }

    /// Believable validators sign what they checked in this batch.
    pub(super) fn seal_all(&mut self) {
        for b in 0..self.believable.len() {
            self.seal_opt(b);
        }
    }

    /// Verifies what is queued in the ordering verifier; failed entries' tags go to
    /// `self.bad`.
    pub(super) fn run_verifier(&mut self) {
        let (batches, singles) = (
            self.verifier.batches_verified(),
            self.verifier.singles_verified(),
        );
        self.bad.clear();
        self.verifier.verify(&mut self.bad);
        self.counters.verify_batches += self.verifier.batches_verified() - batches;
        self.counters.verify_singles += self.verifier.singles_verified() - singles;
    }

    /// The normal league orders the accepted transaction itself (one league, or no
    /// believable validator served it): applied to its view now, in the inflight
    /// sequence at the next [`Shard::flush_direct`].
    pub(super) fn admit_single(&mut self, tx: &Transaction, opt: OptTx, now_ns: u64) {
        // Everything the believable validators accepted before it is signed and applied
        // first (it may spend those outputs).
        self.seal_all();
        if !self.arrivals.is_empty() {
            self.metered(Role::Checking, Self::check_arrivals);
        }
        self.utxo
            .apply(tx, opt.id)
            .expect("the ordering view and the normal view agree on what the leader orders");
        if self.direct.is_empty() {
            self.direct_since_ns = now_ns;
        }
        self.direct.push(opt);
        if self.direct.len() >= self.block_tx_max {
            self.flush_direct();
        }
    }

    /// Puts what the normal league ordered itself into the inflight sequence (it needs no
    /// challenge window: the league checked it in full): provisional now.
    pub(super) fn flush_direct(&mut self) {
        if self.direct.is_empty() {
            return;
        }
        let now_ns = self.now;
        let txs = std::mem::take(&mut self.direct);
        for t in &txs {
            self.fx.outcomes.push(Outcome::Provisional {
                index: t.index,
                id: t.id,
                intended: t.intended,
            });
        }
        self.counters.provisional += txs.len() as u64;
        self.inflight.push_back(OptBlock {
            signed: None,
            hash: Hash::ZERO,
            signer: None,
            txs,
            sealed_ns: now_ns,
            unsampled: 0,
            samples: Vec::new(),
        });
    }

    /// Believable validator `b` adds a checked transaction to its open OptBlock. If it
    /// spends an output of a transaction another believable validator holds unsigned,
    /// that validator signs its block first (so the normal league applies the two in
    /// dependency order).
    pub(super) fn admit(&mut self, b: usize, mut opt: OptTx, now_ns: u64) {
        for input in &opt.tx.inputs {
            if let Some(&other) = self.open_owner.get(&input.tx)
                && usize::from(other) != b
            {
                self.seal_opt(usize::from(other));
            }
        }
        self.open_owner.insert(opt.id, b as u16);
        let id = self.believable[b].id;
        let seq = self.believable[b].seq;
        if let Some(forged) = self.adversary.forge(id, seq, &opt.tx) {
            self.copies.forged.insert((opt.index, opt.retry), forged);
            opt.forged = true;
        }
        let believable = &mut self.believable[b];
        if believable.open.is_empty() {
            believable.open_since_ns = now_ns;
        }
        believable.open.push(opt);
        if believable.open.len() >= self.params.opt_block_tx_max {
            self.seal_opt(b);
        }
    }

    /// The transaction an OptBlock entry stands for (the forged copy if the signer
    /// corrupted it).
    pub(super) fn tx_of<'a>(&'a self, opt: &'a OptTx) -> &'a Transaction {
        tx_in(&self.copies, opt)
    }

    /// Believable validator `b` signs its open OptBlock; the normal validator checks it.
    pub(super) fn seal_opt(&mut self, b: usize) {
        let now_ns = self.now;
        let mut txs = std::mem::take(&mut self.believable[b].open);
        if txs.is_empty() {
            return;
        }
        for t in &txs {
            self.open_owner.remove(&t.id);
        }
        let signer = self.believable[b].id;
        let seq = self.believable[b].seq;
        let earlier = self.believable[b].last_included.clone();
        let earlier_tx = earlier.as_ref().map(|t| &*t.tx);
        let mut equivocate = false;
        match self.adversary.seal(signer, seq, earlier_tx) {
            Sealed::Honest => {}
            Sealed::Equivocate => equivocate = true,
            Sealed::ConflictingSpend(tx) => {
                let id = tx.id();
                let again = earlier.expect("a conflicting spend conflicts with an earlier one");
                // No client sent it: nobody waits for it and it moves no value of theirs.
                txs.push(OptTx {
                    tx: Arc::new(tx),
                    id,
                    intended: 0,
                    value: 0,
                    forged: false,
                    planted: true,
                    excluded: false,
                    ..again
                });
            }
        }
        let leaves: Vec<Hash> = txs.iter().map(|t| self.tx_of(t).witnessed_hash()).collect();
        let believable = &self.believable[b];
        let header = OptBlockHeader {
            shard: self.id,
            epoch: self.epoch,
            league_index: b as u16,
            seq,
            prev_opt: believable.prev_opt,
            prev_final: self.prev,
            tx_root: merkle::root_of(leaves.iter().copied(), &mut self.merkle_scratch),
            tx_count: txs.len() as u32,
        };
        let key = &self.validators.opt_keys[signer.0 as usize];
        let signed = SignedOptHeader::sign(header, key);
        // A second, different block for the same slot (it drops its last transaction).
        let conflicting = equivocate.then(|| {
            let n = leaves.len() - 1;
            SignedOptHeader::sign(
                OptBlockHeader {
                    tx_root: merkle::root(&leaves[..n]),
                    tx_count: n as u32,
                    ..header
                },
                key,
            )
        });
        for t in txs.iter().filter(|t| !t.planted) {
            self.fx.outcomes.push(Outcome::Provisional {
                index: t.index,
                id: t.id,
                intended: t.intended,
            });
            self.counters.provisional += 1;
        }
        let believable = &mut self.believable[b];
        believable.last_included = txs.iter().rev().find(|t| !t.planted && !t.forged).cloned();
        believable.seq += 1;
        believable.prev_opt = signed.header.hash();
        self.pob.opt_blocks += 1;
        let block = OptBlock {
            hash: signed.header.hash(),
            signed: Some(signed),
            signer: Some(signer),
            txs,
            sealed_ns: now_ns,
            unsampled: 0,
            samples: Vec::new(),
        };
        self.arrivals.push_back(Arrival {
            block,
            signed,
            signer,
            conflicting,
        });
    }
}
