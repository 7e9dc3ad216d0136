//! Finality and standing (PROTOCOL.md §6.5 steps 7–8): every `final_interval` the normal
//! league's leader proposes a FinalBlock over the OptBlocks older than the challenge
//! window whose samples are verified (a prefix of the order they were applied in), the
//! transactions it ordered itself, the Atomix entries, and the proofs and exclusions
//! since the last one; the normal league cosigns it (CoSi) and the host is asked to
//! append its record; standing (Servi, reputation, exposure) follows, and every
//! `epoch_final_blocks` FinalBlocks the leagues are re-selected.
//!
//! Invariant: a FinalBlock never covers an OptBlock younger than the challenge window or
//! with unverified samples; its transactions are final only once the host says its
//! record is durable (`ShardNode::on_persisted`).

use super::*;

impl ShardNode {
    /// The normal league's leader proposes a FinalBlock over the OptBlocks older than
    /// the challenge window (a prefix of the order they were applied in), with the proofs
    /// and exclusions since the last one. Returns whether it built one.
    pub(super) fn finalize(&mut self, now_ns: u64) -> bool {
        self.metered(Role::Atomix, Self::order_atomix);
        self.metered(Role::Ordering, Self::flush_direct);
        let window = self.params.challenge_window_ns;
        let old_enough = |b: &OptBlock| b.signed.is_none() || b.sealed_ns + window <= now_ns;
        if self
            .inflight
            .iter()
            .take_while(|b| old_enough(b))
            .any(|b| b.unsampled > 0)
        {
            self.metered(Role::Sampling, Self::verify_samples);
        }
        let ready = self.inflight.iter().take_while(|b| old_enough(b)).count();
        // With coordinator duties pending the chain keeps growing (empty blocks if need
        // be): the coordinator's timeout is counted in FinalBlocks.
        if ready == 0
            && self.proofs.is_empty()
            && self.excluded.is_empty()
            && !self.atomix.watching()
            && self.atomix_entries.is_empty()
        {
            return false;
        }
        self.last_final_ns = now_ns;
        let blocks: Vec<OptBlock> = self.inflight.drain(..ready).collect();
        self.inflight_base += ready as u64;
        let mut txs: Vec<OptTx> = Vec::new();
        for block in &blocks {
            txs.extend(block.txs.iter().filter(|t| !t.excluded).cloned());
        }
        let entries = std::mem::take(&mut self.atomix_entries);
        let body = PobBody {
            refs: blocks.iter().filter_map(|b| b.signed).collect(),
            samples: (blocks.iter().filter(|b| b.signed.is_some()))
                .map(|b| b.samples.clone())
                .collect(),
            proofs: std::mem::take(&mut self.proofs),
            excluded: std::mem::take(&mut self.excluded),
            // Every transaction of the league's own batches, excluded ones included
            // (their ids are in `excluded`, like those of OptBlocks).
            direct: blocks
                .iter()
                .filter(|b| b.signed.is_none())
                .map(|b| b.txs.len() as u32)
                .sum(),
        };
        let normal: Vec<usize> = self
            .validators
            .leagues
            .normal()
            .iter()
            .filter(|id| !self.validators.records[id.0 as usize].banned)
            .map(|id| id.0 as usize)
            .collect();
        let signers = if normal.len() >= self.roster.threshold() {
            Signers::from_indices(self.roster.len(), normal.iter().copied())
        } else {
            Signers::all(self.roster.len())
        };
        let mut finals = self.spare_finals.pop().unwrap_or_default();
        finals.extend(
            txs.iter()
                .filter(|t| !t.planted)
                .map(|t| (t.index, t.intended)),
        );
        self.pob.forged_final += txs.iter().filter(|t| t.forged).count() as u64;
        let ids: Vec<TxId> = txs.iter().map(|t| t.id).collect();
        let copies = std::mem::take(&mut self.copies);
        let tx_refs: Vec<&Transaction> = txs.iter().map(|t| tx_in(&copies, t)).collect();
        // The record's annex (blocklog::Annex), which lets anyone rebuild every
        // referenced OptBlock's root: where the league's own batches sit among the
        // OptBlocks, the excluded transactions as signed, and who is charged a missed
        // duty below.
        let mut annex = Annex::default();
        for block in &blocks {
            annex.block(block.signed.is_some(), block.txs.len());
            for (position, t) in block.txs.iter().enumerate().filter(|(_, t)| t.excluded) {
                annex.exclude(position, tx_in(&copies, t));
            }
        }
        annex.missed = (self.believable.iter())
            .filter(|b| b.missed > 0)
            .map(|b| b.id.0)
            .collect();
        self.commit_block(&ids, tx_refs, &body, &entries, &signers, finals, &annex);
        self.copies = copies;
        let height = self.height;
        self.metered(Role::Coordinator, |node| node.atomix.coordinate(height));
        // Effects of the commit on standing and exposure.
        for block in &blocks {
            let Some(signer) = block.signer else {
                continue;
            };
            let record = &mut self.validators.records[signer.0 as usize];
            if !record.banned {
                record.on_block_finalized();
            }
            let value: u128 = block
                .txs
                .iter()
                .filter(|t| !t.excluded)
                .map(|t| t.value)
                .sum();
            self.exposure[signer.0 as usize].settle(value);
        }
        for t in blocks.iter().flat_map(|b| &b.txs) {
            if t.forged {
                self.copies.forged.remove(&(t.index, t.retry));
            }
        }
        for id in normal {
            self.validators.records[id].accrue_servi(1);
        }
        for b in 0..self.believable.len() {
            if std::mem::take(&mut self.believable[b].missed) > 0 {
                let id = self.believable[b].id.0 as usize;
                self.validators.records[id].on_missed_duty();
            }
        }
        if blocks.iter().any(|b| b.signed.is_some()) {
            self.pob.final_blocks += 1;
        }
        if self.height.is_multiple_of(self.params.epoch_final_blocks) {
            self.next_epoch();
        }
        true
    }

    /// Builds the FinalBlock over `txs`, has `signers` cosign it, and asks the host to
    /// append its record (`finals`: what it makes final once durable).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_block(
        &mut self,
        ids: &[TxId],
        txs: Vec<&Transaction>,
        body: &PobBody,
        entries: &[BlockEntry],
        signers: &Signers,
        finals: Vec<(u32, u64)>,
        annex: &Annex,
    ) {
        let atomix_entries: Vec<core_atomix::Entry> = entries.iter().map(|e| e.entry).collect();
        let header = BlockHeader {
            shard: self.id,
            epoch: self.epoch,
            height: Height(self.height),
            prev: self.prev,
            tx_root: merkle::root_of(ids.iter().map(|id| id.0), &mut self.merkle_scratch),
            tx_count: ids.len() as u32,
            pob_root: body.root(),
            atomix_root: core_atomix::atomix_root(&atomix_entries),
        };
        let header_hash = header.hash();
        let fresh = self.nonce_seed.bytes32();
        self.pob.cosigners += signers.count() as u64;
        let signing = self.meter.enter(Role::Signing);
        let cosig = sign_round(
            &self.roster,
            &self.roster_keys,
            signers,
            &header_hash.0,
            &fresh,
        );
        self.meter.leave(signing);
        let certificate = FinalCertificate { header_hash, cosig };
        // The leader checks the aggregate before publishing it; failing here is a bug.
        certificate
            .verify(&header, &self.roster)
            .expect("the league's own cosignature verifies");
        let mut bytes = self.spare_buffers.pop().unwrap_or_default();
        bytes.clear();
        encode_record(
            &mut bytes,
            &header,
            txs.into_iter(),
            &certificate,
            body,
            entries.iter().map(|e| (&e.entry, &*e.xtx)),
            annex,
        );
        let publish = if entries.is_empty() {
            Vec::new()
        } else {
            core_atomix::block_proofs(&header, &certificate, &atomix_entries)
                .into_iter()
                .zip(entries)
                .map(|(proof, e)| (proof, e.xtx.clone(), e.client))
                .collect()
        };
        self.fx.records.push(Record {
            height: self.height,
            bytes,
        });
        self.unpersisted.push_back(Unpersisted {
            height: self.height,
            txs: finals,
            publish,
        });
        self.counters.blocks += 1;
        self.prev = header_hash;
        self.height += 1;
    }

    /// Starts the current epoch: leagues selected, believable validators fresh.
    pub(super) fn start_epoch(&mut self) {
        self.validators.select(&self.params, self.id, self.epoch);
        let believable = self.validators.leagues.believable().to_vec();
        self.pob
            .league_history
            .push(believable.iter().map(|id| id.0).collect());
        self.pob.epochs += 1;
        if !self.split() {
            self.pob.single_league_epochs += 1;
        }
        // The host's adversary may corrupt believable validators of the new league.
        let records = &self.validators.records;
        let score = self.params.score;
        let corrupted = self.adversary.corrupt(
            self.epoch,
            &believable,
            &self.validators.byzantine,
            &|id: ValidatorId| score.eligible(&records[id.0 as usize]),
        );
        self.validators.byzantine.extend(corrupted);
        self.believable = believable
            .into_iter()
            .map(|id| Believable {
                id,
                seq: 0,
                prev_opt: Hash::ZERO,
                open: Vec::new(),
                open_since_ns: 0,
                banned: self.validators.records[id.0 as usize].banned,
                missed: 0,
                last_included: None,
            })
            .collect();
        self.detector = EquivocationDetector::new();
    }

    /// Epoch change: the outgoing believable validators sign what they hold, then the
    /// leagues are re-selected.
    pub(super) fn next_epoch(&mut self) {
        for b in 0..self.believable.len() {
            self.seal_opt(b);
        }
        self.epoch = Epoch(self.epoch.0 + 1);
        self.start_epoch();
    }
}
