//! The leagues, the Byzantine validators and the FinalBlock signers, re-derived from the
//! seed, the configuration and the log (never from the engine's `Validators`):
//! `leagues_rederived`, `only_byzantine_blamed` and `final_signers_are_normal_league`.
//!
//! Derived from: the genesis records of the roster (`Validators::genesis`: keys, stake
//! and Servi from the seed and `pob.stake`), the epoch randomness (a hash chain from the
//! seed), the `[pob]` settings (`believable`, `league_min`, the score, and
//! `epoch_final_blocks`: an epoch ends after every that many FinalBlocks) and the
//! `[byzantine]` ones (`count`, `shards`). The standing is replayed record by record as
//! PROTOCOL.md §6.5 applies it: the culprit of each proof in the record is slashed
//! (banned, once); the signer of each referenced OptBlock, unless banned, has its block
//! finalized (Servi reset, reputation up); every non-banned normal validator accrues one
//! unit of Servi; the believable validators the annex names are charged a missed duty.
//! At each epoch start the leagues are `select_leagues` over those records, and the
//! adversary, holding fewer than `count` corrupted validators that are still eligible,
//! corrupts believable validators of the new league in league order until it holds
//! `count` again (every roster member is corruptible once `[byzantine]` names the
//! shard).
//!
//! Checks:
//! - `leagues_rederived`: each FinalBlock's epoch is the derived one; each referenced
//!   OptBlock is signed by the derived believable validator at its league index in its
//!   epoch (no later than its FinalBlock's); a missed duty is charged only to a
//!   believable validator of the epoch that the derivation made Byzantine (an honest
//!   one never drops a transaction); and the derived Byzantine validators are the ones
//!   the engine reports (a cross-check of the derivation, compared, not used).
//! - `only_byzantine_blamed`: every proof's culprit is a validator the derivation made
//!   Byzantine by the time of the proof.
//! - `final_signers_are_normal_league`: each FinalBlock's CoSi signers are the epoch's
//!   normal league minus the validators banned so far, or the whole roster when fewer
//!   than the roster's threshold remain.
//!
//! Not derived from the log: the missed duties come from the annex, written by the
//! engine (only their holders are checked); with `crash` or `censor` faults the leagues
//! of later epochs depend on them.

use std::collections::HashMap;

use ioschain_core::crypto::cosi::Signers;
use ioschain_core::crypto::hash::Domain;
use ioschain_core::pob::league::{Leagues, select_leagues};
use ioschain_core::pob::score::ValidatorRecord;
use ioschain_core::types::{Hash, ShardId, ValidatorId};

use crate::blocklog::Record;
use ioschain_core::node::pob::{PobParams, Validators};

/// One shard's standing and leagues, replayed from genesis through its log.
#[derive(Debug, Default)]
pub(super) struct LeagueReplay {
    shard: ShardId,
    believable: usize,
    league_min: usize,
    score: ioschain_core::pob::score::ScoreParams,
    epoch_final_blocks: u64,
    /// Corrupted validators the adversary keeps in this shard (0: none).
    byzantine_count: usize,
    records: Vec<ValidatorRecord>,
    opt_keys: HashMap<[u8; 32], u32>,
    randomness: Hash,
    /// Leagues of every epoch so far (index = epoch).
    leagues: Vec<Leagues>,
    /// The derived Byzantine validators, in the order they were corrupted.
    pub byzantine: Vec<u32>,
    blocks: u64,
    roster_len: usize,
    threshold: usize,
    pub league_problems: Vec<String>,
    pub signer_problems: Vec<String>,
    /// Culprits of the log's proofs that the derivation does not make Byzantine.
    pub blamed_honest: Vec<String>,
    pub blamed: u64,
    pub refs_checked: u64,
}

impl LeagueReplay {
    /// The shard at genesis, its first epoch started.
    pub fn new(
        seed: u64,
        shard: ShardId,
        pob: &PobParams,
        roster_len: usize,
        threshold: usize,
    ) -> LeagueReplay {
        let genesis = Validators::genesis(seed, shard, roster_len, pob.stake);
        let byzantine_count = pob.byzantine.as_ref().map_or(0, |b| {
            if b.shards.is_empty() || b.shards.contains(&shard.0) {
                b.count
            } else {
                0
            }
        });
        let mut replay = LeagueReplay {
            shard,
            believable: pob.believable,
            league_min: pob.league_min,
            score: pob.score,
            epoch_final_blocks: pob.epoch_final_blocks.max(1),
            byzantine_count,
            opt_keys: genesis.opt_public.iter().copied().zip(0..).collect(),
            records: genesis.records,
            randomness: Domain::Prg.hash_parts(&[
                b"ioschain/epoch-randomness",
                &seed.to_le_bytes(),
                &shard.0.to_le_bytes(),
            ]),
            roster_len,
            threshold,
            ..LeagueReplay::default()
        };
        replay.start_epoch();
        replay
    }

    fn epoch(&self) -> usize {
        self.leagues.len() - 1
    }

    /// Selects the next epoch's leagues and lets the adversary corrupt.
    fn start_epoch(&mut self) {
        if !self.leagues.is_empty() {
            self.randomness =
                Domain::Prg.hash_parts(&[b"ioschain/epoch-randomness-next", &self.randomness.0]);
        }
        let leagues = if self.believable == 0 {
            Leagues::Single {
                normal: self.records.iter().map(|r| r.id).collect(),
            }
        } else {
            select_leagues(
                &self.records,
                &self.score,
                &self.randomness,
                self.shard,
                self.believable,
                self.league_min,
            )
        };
        let mut active = (self.byzantine.iter())
            .filter(|&&id| self.score.eligible(&self.records[id as usize]))
            .count();
        for id in leagues.believable() {
            if active >= self.byzantine_count {
                break;
            }
            if !self.byzantine.contains(&id.0) {
                self.byzantine.push(id.0);
                active += 1;
            }
        }
        self.leagues.push(leagues);
    }

    /// Replays one record's effects on standing (see the module doc), checking it.
    pub fn on_record(&mut self, record: &Record) {
        let (shard, height) = (self.shard, record.header.height);
        let epoch = self.epoch();
        if record.header.epoch.0 != epoch as u64 {
            self.league_problems.push(format!(
                "block {height} of shard {shard}: epoch {}, derived {epoch}",
                record.header.epoch.0
            ));
        }
        for proof in &record.pob.proofs {
            self.blamed += 1;
            // A proof that does not verify is reported by `blocks_certified_and_linked`.
            let Some(&culprit) = proof.culprit().ok().and_then(|k| self.opt_keys.get(&k)) else {
                continue;
            };
            if !self.byzantine.contains(&culprit) {
                self.blamed_honest.push(format!(
                    "shard {shard} validator {culprit} ({} proof in block {height})",
                    proof.kind()
                ));
            }
            let record = &mut self.records[culprit as usize];
            if !record.banned {
                record.slash();
            }
        }
        let normal: Vec<usize> = (self.leagues[epoch].normal().iter())
            .filter(|id| !self.records[id.0 as usize].banned)
            .map(|id| id.0 as usize)
            .collect();
        let expected = if normal.len() >= self.threshold {
            Signers::from_indices(self.roster_len, normal.iter().copied())
        } else {
            Signers::all(self.roster_len)
        };
        let signers = &record.certificate.cosig.signers;
        if !signers.iter().eq(expected.iter()) {
            self.signer_problems.push(format!(
                "block {height} of shard {shard}: signed by {:?}, the non-banned normal league of epoch {epoch} is {:?}",
                signers.iter().collect::<Vec<_>>(),
                expected.iter().collect::<Vec<_>>()
            ));
        }
        for signed in &record.pob.refs {
            self.refs_checked += 1;
            let h = &signed.header;
            let entitled = (self.leagues.get(h.epoch.0 as usize))
                .filter(|_| h.epoch.0 as usize <= epoch && h.shard == shard)
                .and_then(|l| l.believable().get(usize::from(h.league_index)))
                .is_some_and(|id| self.records[id.0 as usize].key == signed.signer);
            if !entitled {
                self.league_problems.push(format!(
                    "block {height} of shard {shard}: OptBlock {} of epoch {} is not signed by the derived believable validator at league index {}",
                    h.seq, h.epoch.0, h.league_index
                ));
            }
            if let Some(&id) = self.opt_keys.get(&signed.signer) {
                let record = &mut self.records[id as usize];
                if !record.banned {
                    record.on_block_finalized();
                }
            }
        }
        for id in normal {
            self.records[id].accrue_servi(1);
        }
        for &id in &record.annex.missed {
            let believable = (self.leagues[epoch].believable().iter()).any(|b| b.0 == id);
            if !believable || !self.byzantine.contains(&id) {
                self.league_problems.push(format!(
                    "block {height} of shard {shard}: validator {id} is charged a missed duty, but is not a Byzantine believable validator of epoch {epoch}"
                ));
            }
            if let Some(record) = self.records.get_mut(id as usize) {
                record.on_missed_duty();
            }
        }
        self.blocks += 1;
        if self.blocks.is_multiple_of(self.epoch_final_blocks) {
            self.start_epoch();
        }
    }

    /// Compares the derived Byzantine validators with the engine's report.
    pub fn finish(&mut self, engine_byzantine: &[ValidatorId]) {
        let engine: Vec<u32> = engine_byzantine.iter().map(|id| id.0).collect();
        if engine != self.byzantine {
            self.league_problems.push(format!(
                "shard {}: the seed and config make validators {:?} Byzantine, the engine reports {engine:?}",
                self.shard, self.byzantine
            ));
        }
    }

    /// The normal league of `epoch`, if the replay reached it.
    pub fn normal_league(&self, epoch: u64) -> Option<&[ValidatorId]> {
        (self.leagues.get(usize::try_from(epoch).ok()?)).map(Leagues::normal)
    }

    /// Whether roster member `id` is banned in the standing replayed so far.
    pub fn banned(&self, id: u32) -> bool {
        self.records.get(id as usize).is_some_and(|r| r.banned)
    }

    /// The roster index of the validator with OptBlock key `key`.
    pub fn roster_index(&self, key: &[u8; 32]) -> Option<u32> {
        self.opt_keys.get(key).copied()
    }

    /// Epochs the replay went through.
    pub fn epochs(&self) -> usize {
        self.leagues.len()
    }
}
