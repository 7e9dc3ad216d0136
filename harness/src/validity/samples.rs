//! `samples_proven`: the normal league's samples, proven from the log (PROTOCOL.md §6.5
//! step 5: the sample is "provable afterwards"), instead of trusting that the engine
//! drew and checked them.
//!
//! Derived from: the samplers' VRF public keys (from the seed, as
//! `Validators::genesis` derives them), the leagues and the standing the log implies
//! (`leagues.rs`: the samplers of an OptBlock are the non-banned normal league of its
//! epoch, only the first of them unless `pob.all_samplers`), the sampling probability
//! `pob.p`, and each referenced OptBlock's transactions (walked by `optblocks.rs`: the
//! logged ones and the excluded ones of the annex).
//!
//! Checks, for every OptBlock a FinalBlock references:
//! - its list of sample proofs in the certified PoB body holds exactly one proof per
//!   derived sampler, in league order, and no other;
//! - each proof verifies under its sampler's VRF key over the OptBlock's header hash;
//! - the sample is consistent: every logged transaction a proof selects has valid
//!   signatures (re-verified here by ed25519-zebra), so a selected transaction with a
//!   bad signature must have been excluded (by the fraud proof the sampler owed).
//!
//! A block whose signer was slashed before it arrived is re-verified in full instead of
//! sampled and carries no proofs: accepted only if the log slashes the signer by the
//! FinalBlock that finalizes it (the proof is in that body or an earlier one), and then
//! every logged transaction of it is re-verified.
//!
//! Ban timing: a sampler banned while the block was in flight may or may not have drawn
//! (the log shows when a proof was finalized, not when it was found), so a normal
//! validator banned by the record that finalizes the block may be present or absent;
//! every validator not banned by then must be there.

use ioschain_core::crypto::vrf::VrfPublicKey;
use ioschain_core::pob::optblock::SignedOptHeader;
use ioschain_core::pob::sample::Sample;
use ioschain_core::tx::Transaction;
use ioschain_core::types::ShardId;

use super::leagues::LeagueReplay;
use super::zip215_valid;
use crate::blocklog::Record;
use ioschain_core::node::pob::{PobParams, Validators};

/// How one referenced OptBlock of the current record was sampled.
#[derive(Debug)]
enum Sampled {
    /// By these verified samples.
    By(Vec<Sample>),
    /// Not at all: re-verified in full (its signer was slashed).
    Full,
}

/// The proof of one shard's samples, record by record.
#[derive(Debug, Default)]
pub(super) struct SampleReplay {
    shard: ShardId,
    p: f64,
    all: bool,
    vrf_public: Vec<VrfPublicKey>,
    /// The references of the record being replayed.
    current: Vec<Sampled>,
    height: u64,
    /// Sample proofs verified.
    pub proofs: u64,
    /// Referenced OptBlocks whose samples were proven.
    pub sampled: u64,
    /// Referenced OptBlocks re-verified in full instead (slashed signer).
    pub full: u64,
    /// Logged transactions a sample (or a full re-check) selected, re-verified.
    pub selected: u64,
    /// Transactions a sample selected that were excluded.
    pub selected_excluded: u64,
    pub problems: Vec<String>,
}

impl SampleReplay {
    /// The samplers' keys of `shard`'s roster of `roster_len`, from the seed.
    pub fn new(seed: u64, shard: ShardId, pob: &PobParams, roster_len: usize) -> SampleReplay {
        let genesis = Validators::genesis(seed, shard, roster_len, 1);
        SampleReplay {
            shard,
            p: pob.p,
            all: pob.all_samplers,
            vrf_public: genesis.vrf_keys.iter().map(|k| k.public()).collect(),
            ..SampleReplay::default()
        }
    }

    /// Checks the sample proofs of `record`'s references against the samplers `leagues`
    /// derives, with the standing after the record (see the module doc).
    pub fn on_record(&mut self, record: &Record, leagues: &LeagueReplay) {
        self.height = record.header.height.0;
        self.current.clear();
        for (signed, list) in record.pob.refs.iter().zip(&record.pob.samples) {
            let h = &signed.header;
            let what = format!(
                "OptBlock {} of league index {} (epoch {})",
                h.seq, h.league_index, h.epoch.0
            );
            let Some(normal) = leagues.normal_league(h.epoch.0) else {
                // Reported by `leagues_rederived`.
                self.current.push(Sampled::By(Vec::new()));
                continue;
            };
            let signer_slashed =
                (leagues.roster_index(&signed.signer)).is_some_and(|id| leagues.banned(id));
            if list.is_empty() && signer_slashed {
                self.full += 1;
                self.current.push(Sampled::Full);
                continue;
            }
            // The listed samplers against the derived ones, in league order.
            let mut listed = list.iter().map(|s| s.sampler).peekable();
            let mut taken = 0usize;
            for &id in normal {
                if !self.all && taken == 1 {
                    break;
                }
                if listed.peek() == Some(&id) {
                    listed.next();
                    taken += 1;
                } else if !leagues.banned(id.0) {
                    self.problem(format!(
                        "{what}: no sample proof by sampler {}, a non-banned normal validator",
                        id.0
                    ));
                    taken += 1;
                }
            }
            if let Some(extra) = listed.next() {
                self.problem(format!(
                    "{what}: a sample proof by validator {}, not one of its samplers (or out of league order)",
                    extra.0
                ));
            }
            let block = h.hash();
            let mut samples = Vec::with_capacity(list.len());
            for s in list {
                self.proofs += 1;
                let key = self.vrf_public.get(s.sampler.0 as usize);
                match key.map(|key| s.verify(key, &block)) {
                    Some(Ok(sample)) => samples.push(sample),
                    _ => self.problem(format!(
                        "{what}: sampler {}'s VRF proof does not verify under its key over the block's hash",
                        s.sampler.0
                    )),
                }
            }
            self.sampled += 1;
            self.current.push(Sampled::By(samples));
        }
    }

    /// The transactions of the record's `index`-th referenced OptBlock, each with whether
    /// it is logged (else excluded): every logged one the samples select must have valid
    /// signatures.
    pub fn on_block(
        &mut self,
        index: usize,
        signed: &SignedOptHeader,
        txs: &[(&Transaction, bool)],
    ) {
        let Some(sampled) = self.current.get(index) else {
            return;
        };
        let mut bad = Vec::new();
        for (position, &(tx, logged)) in txs.iter().enumerate() {
            let id = tx.id();
            let selected = match sampled {
                Sampled::By(samples) => samples.iter().any(|s| s.selects(&id.0, self.p)),
                Sampled::Full => true,
            };
            if !selected {
                continue;
            }
            if !logged {
                self.selected_excluded += 1;
                continue;
            }
            self.selected += 1;
            if !tx
                .witnesses
                .iter()
                .all(|w| zip215_valid(w, id.0.as_bytes()))
            {
                bad.push(position);
            }
        }
        let how = match sampled {
            Sampled::By(_) => "in its published sample",
            Sampled::Full => "re-verified in full (slashed signer)",
        };
        let h = &signed.header;
        for position in bad {
            self.problem(format!(
                "OptBlock {} of league index {} (epoch {}): the transaction at position {position} was {how} but is logged with a bad signature",
                h.seq,
                h.league_index,
                h.epoch.0,
            ));
        }
    }

    fn problem(&mut self, what: String) {
        self.problems.push(format!(
            "block {} of shard {}: {what}",
            self.height, self.shard
        ));
    }
}
