//! Checking and sampling (PROTOCOL.md §6.5 steps 4–6, the normal league): each signed
//! OptBlock in arrival order: the signer's entitlement and signature, equivocation, the
//! body against the header's root, the cheap checks of every transaction against the
//! normal league's own UTXO view, and the VRF samples (one VRF per sampler and OptBlock;
//! the selected signatures are verified in batches before the block may be finalized).
//!
//! Invariant: a failed check or a failed sample is a proof handed to
//! `proofs.rs` (`blame`); the failing transactions are out of the normal view before any
//! proof is acted on.

use super::*;

impl ShardNode {
    /// The normal validator checks an OptBlock as it arrives (see the module doc) and
    /// keeps it until it is final.
    pub(super) fn check_opt(
        &mut self,
        mut block: OptBlock,
        signed: SignedOptHeader,
        signer: ValidatorId,
        conflicting: Option<SignedOptHeader>,
    ) {
        // What the normal league ordered itself before this block comes first.
        self.flush_direct();
        let arrival = self.inflight_base + self.inflight.len() as u64;
        // Only the current believable validator at that index may sign for it; its
        // signature, then its slot, then the body against the header.
        let entitled = self
            .validators
            .leagues
            .believable()
            .get(usize::from(signed.header.league_index))
            .is_some_and(|id| self.validators.opt_public[id.0 as usize] == signed.signer);
        let valid = signed.verify();
        assert!(
            entitled && valid,
            "the engine's believable validators sign their own blocks"
        );
        self.detector.observe_verified(signed);
        if let Some(second) = conflicting
            && let Some(proof) = self.detector.observe(second)
        {
            self.blame(FraudProof::Equivocation(proof));
        }
        let leaves: Vec<Hash> = block
            .txs
            .iter()
            .map(|t| self.tx_of(t).witnessed_hash())
            .collect();
        assert_eq!(
            merkle::root_of(leaves.iter().copied(), &mut self.merkle_scratch),
            signed.header.tx_root,
            "the body matches its header"
        );
        // Cheap checks of every transaction, against the normal league's own view.
        let mut failed = Vec::new();
        for (position, opt) in block.txs.iter().enumerate() {
            if opt.excluded {
                continue;
            }
            let tx = tx_in(&self.copies, opt);
            let id = tx.id();
            if let Err(rejection) = self.utxo.apply(tx, id) {
                failed.push((position, rejection.reason()));
            }
        }
        let full_check = self.validators.records[signer.0 as usize].banned;
        if !full_check {
            self.metered(Role::Sampling, |node| {
                node.draw_samples(&mut block, arrival)
            });
        }
        self.inflight.push_back(block);
        // Every failed transaction is out before any proof is acted on (a slash re-checks
        // the signer's blocks, and must not undo these twice).
        let failed: Vec<(OptTx, usize, RejectReason)> = failed
            .into_iter()
            .map(|(position, reason)| {
                let block = self.block_mut(arrival);
                block.txs[position].excluded = true;
                (block.txs[position].clone(), position, reason)
            })
            .collect();
        let mut proofs = Vec::with_capacity(failed.len());
        for (opt, position, reason) in failed {
            // It failed its check, so the normal view never applied it.
            let tx = self.tx_of(&opt).clone();
            self.withdraw(&opt, Some(signer), false);
            let path = merkle::prove(&leaves, position).expect("position is in the block");
            proofs.push(FraudProof::FailedCheck(CheckProof {
                header: signed,
                tx,
                path,
                reason,
            }));
        }
        for proof in proofs {
            self.blame(proof);
        }
        if full_check {
            self.recheck(arrival);
        }
    }

    /// Draws the samplers' VRF samples of `block` and queues the selected signatures.
    pub(super) fn draw_samples(&mut self, block: &mut OptBlock, arrival: u64) {
        // Samplers: the shard's normal validator, or every normal validator that is not
        // banned.
        let records = &self.validators.records;
        let normal: Vec<ValidatorId> = self
            .validators
            .leagues
            .normal()
            .iter()
            .filter(|id| !records[id.0 as usize].banned)
            .take(if self.params.all_samplers {
                usize::MAX
            } else {
                1
            })
            .copied()
            .collect();
        let samples: Vec<Sample> = normal
            .iter()
            .map(|id| Sample::draw(&self.validators.vrf_keys[id.0 as usize], &block.hash))
            .collect();
        // Kept for the FinalBlock that finalizes the block (`PobBody::samples`).
        block.samples = (normal.iter().zip(&samples))
            .map(|(id, s)| SampleProof {
                sampler: *id,
                proof: s.proof,
            })
            .collect();
        let escape_model = (1.0 - self.params.p).powi(samples.len() as i32);
        self.pob.vrf_proofs += samples.len() as u64;
        for position in 0..block.txs.len() {
            let opt = block.txs[position].clone();
            if opt.excluded || opt.planted {
                continue;
            }
            let selected = samples.iter().any(|s| s.selects(&opt.id.0, self.params.p));
            if opt.forged {
                self.pob.forged_escape_expected += escape_model;
                if selected {
                    self.pob.forged_sampled += 1;
                } else {
                    self.pob.forged_unsampled += 1;
                }
            }
            if !selected {
                continue;
            }
            let tag = self.sample_entries.len() as u32;
            let tx = tx_in(&self.copies, &opt);
            for witness in &tx.witnesses {
                let key = self
                    .keys
                    .get(&witness.owner)
                    .expect("the ordering step cached every owner it accepted");
                self.sample_verifier
                    .push(opt.id.0.0, &witness.signature, key, tag);
                self.pob.sampled_signatures += 1;
                self.counters.signatures += 1;
            }
            self.sample_entries.push(SampleEntry {
                block: arrival,
                position: position as u32,
            });
            block.unsampled += 1;
        }
        if block.unsampled > 0 && self.sample_since_ns.is_none() {
            self.sample_since_ns = Some(block.sealed_ns);
        }
    }

    pub(super) fn block_mut(&mut self, arrival: u64) -> &mut OptBlock {
        &mut self.inflight[(arrival - self.inflight_base) as usize]
    }

    /// Verifies the queued sample signatures; a failure is a fraud proof.
    pub(super) fn verify_samples(&mut self) {
        if self.sample_entries.is_empty() {
            self.sample_since_ns = None;
            return;
        }
        let (batches, singles) = (
            self.sample_verifier.batches_verified(),
            self.sample_verifier.singles_verified(),
        );
        let mut bad = Vec::new();
        self.sample_verifier.verify(&mut bad);
        self.counters.verify_batches += self.sample_verifier.batches_verified() - batches;
        self.counters.verify_singles += self.sample_verifier.singles_verified() - singles;
        let entries = std::mem::take(&mut self.sample_entries);
        for entry in &entries {
            self.block_mut(entry.block).unsampled -= 1;
        }
        bad.sort_unstable();
        bad.dedup();
        for tag in bad {
            let entry = entries[tag as usize];
            let block = &self.inflight[(entry.block - self.inflight_base) as usize];
            let opt = block.txs[entry.position as usize].clone();
            if opt.excluded {
                continue;
            }
            let proof = BadSignatureProof {
                header: block.signed.expect("only signed OptBlocks are sampled"),
                tx: self.tx_of(&opt).clone(),
                path: self.path_in(entry.block, entry.position as usize),
            };
            self.blame(FraudProof::BadSignature(proof));
        }
        self.sample_entries = entries;
        self.sample_entries.clear();
        self.sample_since_ns = None;
    }

    pub(super) fn path_in(&self, arrival: u64, position: usize) -> merkle::MerkleProof {
        let block = &self.inflight[(arrival - self.inflight_base) as usize];
        let leaves: Vec<Hash> = block
            .txs
            .iter()
            .map(|t| self.tx_of(t).witnessed_hash())
            .collect();
        merkle::prove(&leaves, position).expect("position is in the block")
    }
}
