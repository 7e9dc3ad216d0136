//! The PoB state a shard keeps (PROTOCOL.md §6.5): the validators and their standing,
//! the leagues of the current epoch, the believable validators' open OptBlocks, the
//! OptBlocks the normal league applied and is waiting to finalize, and the seeded
//! Byzantine behaviour. The flows that use it live on [`super::ShardNode`].
//!
//! Who does what (DESIGN.md §2): each believable validator fully checks the
//! transactions routed to it (one ed25519 batch per poll covers all of them), orders
//! them into OptBlocks it signs (provisional); the shard's normal validator applies
//! every OptBlock with the cheap checks, draws one VRF per OptBlock and verifies the
//! signatures its sample selects (`samplers = "all"`: every normal validator's sample);
//! the normal league's leader proposes FinalBlocks over OptBlocks older than the
//! challenge window, cosigned by the normal league. Keys, stakes, Servi and reputation
//! of the roster's validators are derived from the seed.

use std::sync::Arc;

use crate::crypto::hash::Domain;
use crate::crypto::vrf::VrfSecretKey;
use crate::pob::league::{Leagues, select_leagues};
use crate::pob::optblock::SignedOptHeader;
use crate::pob::sample::SampleProof;
use crate::pob::score::{ScoreParams, ValidatorRecord};
use crate::prg::Prg;
use crate::tx::Transaction;
use crate::types::{Epoch, Hash, ShardId, TxId, ValidatorId};
use ed25519_dalek::SigningKey;

/// How a Byzantine believable validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Includes transactions whose signature it corrupted.
    BadSignature,
    /// Appends a spend of inputs its previous OptBlock spent, to another recipient,
    /// validly signed (it colludes with the inputs' owners).
    DoubleSpend,
    /// Signs two different OptBlocks for one sequence number.
    Equivocate,
    /// Drops the transactions routed to it.
    Censor,
    /// Stops.
    Crash,
}

impl Behaviour {
    /// Every behaviour with its configuration name.
    pub const ALL: [(&'static str, Behaviour); 5] = [
        ("bad-signature", Behaviour::BadSignature),
        ("double-spend", Behaviour::DoubleSpend),
        ("equivocate", Behaviour::Equivocate),
        ("censor", Behaviour::Censor),
        ("crash", Behaviour::Crash),
    ];
}

/// PoB parameters of a run (from `[pob]` and `[byzantine]`).
#[derive(Clone, Debug)]
pub struct PobParams {
    /// Believable league size `L` (0: one league).
    pub believable: usize,
    /// Fallback threshold `L_min`.
    pub league_min: usize,
    /// Sampling probability.
    pub p: f64,
    /// Compute every normal validator's sample.
    pub all_samplers: bool,
    /// OptBlock size bound.
    pub opt_block_tx_max: usize,
    /// OptBlock age bound, ns.
    pub opt_block_interval_ns: u64,
    /// FinalBlock cadence, ns.
    pub final_interval_ns: u64,
    /// Challenge window, ns.
    pub challenge_window_ns: u64,
    /// FinalBlocks per epoch.
    pub epoch_final_blocks: u64,
    /// Client re-route timeout, ns.
    pub reroute_timeout_ns: u64,
    /// Genesis stake scale.
    pub stake: u64,
    /// Score weights and eligibility.
    pub score: ScoreParams,
    /// The run's Byzantine behaviour, if any: read by the host's adversary and by the
    /// validity oracle; the node itself never reads it (it asks its `Adversary`).
    pub byzantine: Option<ByzantineParams>,
}

/// Seeded misbehaviour.
#[derive(Clone, Debug)]
pub struct ByzantineParams {
    /// How.
    pub behaviour: Behaviour,
    /// How many believable validators per affected shard.
    pub count: usize,
    /// Affected shards (empty: all).
    pub shards: Vec<u32>,
    /// Probability per opportunity.
    pub q: f64,
    /// OptBlock sequence numbers at which to misbehave (empty: use `q`).
    pub heights: Vec<u64>,
}

/// One transaction inside an OptBlock.
#[derive(Clone, Debug)]
pub struct OptTx {
    /// The transaction as its client sent it (or as its signer planted it).
    pub tx: Arc<Transaction>,
    /// Position in the shard's stream.
    pub index: u32,
    /// Its id.
    pub id: TxId,
    /// Intended send time, ns.
    pub intended: u64,
    /// Times the client re-routed it.
    pub retry: u16,
    /// Value moved (sum of outputs), for the exposure cap.
    pub value: u128,
    /// The signer corrupted its signature (Byzantine `bad-signature`).
    pub forged: bool,
    /// Planted by its signer, not sent by a client (a conflicting spend): no client
    /// waits for it, it is never applied to the ordering view.
    pub planted: bool,
    /// Left out of finality by a proof or the full re-check.
    pub excluded: bool,
}

/// A believable validator's OptBlock, from signing to finality; or a batch of
/// transactions the normal league ordered itself (`signed` is `None`: one-league
/// fallback, or clients no believable validator served), kept in the same sequence so
/// FinalBlocks finalize everything in the order the normal league applied it.
#[derive(Debug)]
pub struct OptBlock {
    /// The signed header (`None` for the normal league's own batch).
    pub signed: Option<SignedOptHeader>,
    /// Its hash.
    pub hash: Hash,
    /// The signer's roster index (`None` for the normal league's own batch).
    pub signer: Option<ValidatorId>,
    /// The transactions, in order.
    pub txs: Vec<OptTx>,
    /// When it was signed, ns.
    pub sealed_ns: u64,
    /// Sampled transactions whose signatures are not verified yet.
    pub unsampled: u32,
    /// The samplers' VRF proofs of their samples of it (published in the FinalBlock
    /// that finalizes it; empty if it was re-verified in full instead).
    pub samples: Vec<SampleProof>,
}

/// A believable validator of the current epoch.
#[derive(Debug)]
pub struct Believable {
    /// Its roster index.
    pub id: ValidatorId,
    /// Next sequence number.
    pub seq: u64,
    /// Hash of its previous OptBlock header.
    pub prev_opt: Hash,
    /// Transactions routed to it and checked, not yet in a signed OptBlock.
    pub open: Vec<OptTx>,
    /// When the first open transaction was added, ns.
    pub open_since_ns: u64,
    /// Slashed (clients route around it).
    pub banned: bool,
    /// Transactions re-routed away from it since the last FinalBlock.
    pub missed: u64,
    /// A transaction of its last OptBlock (what a `double-spend` adversary conflicts
    /// with).
    pub last_included: Option<OptTx>,
}

/// PoB counts of one shard.
#[derive(Clone, Debug, Default)]
pub struct PobCounters {
    /// OptBlocks signed.
    pub opt_blocks: u64,
    /// FinalBlocks that referenced at least one OptBlock.
    pub final_blocks: u64,
    /// Proofs by kind: bad signature, equivocation, failed check.
    pub proofs: [u64; 3],
    /// Validators slashed.
    pub slashes: u64,
    /// Transactions excluded from finality.
    pub excluded: u64,
    /// Client transactions whose provisional confirmation was reverted.
    pub harmed: u64,
    /// Value of the harmed transactions.
    pub harmed_value: u128,
    /// Stake slashed (the compensation pool).
    pub slashed_stake: u128,
    /// Transactions re-routed by their client after a timeout or a ban.
    pub reroutes: u64,
    /// Transactions held back by a believable validator's exposure cap.
    pub exposure_deferrals: u64,
    /// Signatures verified by the normal league's samplers.
    pub sampled_signatures: u64,
    /// Signatures verified in the full re-check after a slash.
    pub recheck_signatures: u64,
    /// VRF evaluations (one per sampler and OptBlock).
    pub vrf_proofs: u64,
    /// Partial signatures in FinalBlock CoSi rounds (signers summed over FinalBlocks).
    pub cosigners: u64,
    /// Forged transactions that some sampler selected.
    pub forged_sampled: u64,
    /// Forged transactions no sampler selected.
    pub forged_unsampled: u64,
    /// Σ over forged transactions of `(1 − p)^V` for the samplers `V` of their
    /// OptBlock: the expected number of unsampled ones.
    pub forged_escape_expected: f64,
    /// Forged transactions that reached a FinalBlock (escaped everything).
    pub forged_final: u64,
    /// Epochs started (league selections), including the first.
    pub epochs: u64,
    /// Epochs that ran as one league (fallback).
    pub single_league_epochs: u64,
    /// Believable league of every epoch (roster indices).
    pub league_history: Vec<Vec<u32>>,
}

/// The validators of one shard: keys, records, and the current leagues.
pub struct Validators {
    /// Standing of each roster member.
    pub records: Vec<ValidatorRecord>,
    /// OptBlock signing keys (ed25519), by roster index.
    pub opt_keys: Vec<SigningKey>,
    /// Their public keys.
    pub opt_public: Vec<[u8; 32]>,
    /// VRF keys of the samplers, by roster index.
    pub vrf_keys: Vec<VrfSecretKey>,
    /// The current epoch's leagues.
    pub leagues: Leagues,
    /// The current epoch's randomness.
    pub randomness: Hash,
    /// Roster indices of the validators the adversary corrupted (the first `count`
    /// believable validators of each epoch).
    pub byzantine: Vec<ValidatorId>,
}

impl std::fmt::Debug for Validators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validators")
            .field("leagues", &self.leagues)
            .finish_non_exhaustive()
    }
}

fn derived(seed: u64, shard: ShardId, what: &[u8], i: u32) -> [u8; 32] {
    Domain::ValidatorKey
        .hash_parts(&[
            what,
            &seed.to_le_bytes(),
            &shard.0.to_le_bytes(),
            &i.to_le_bytes(),
        ])
        .0
}

impl Validators {
    /// The roster's `n` validators at genesis: keys, stake in `stake..2·stake`, Servi in
    /// `0..100` and the starting reputation, all derived from the seed.
    pub fn genesis(seed: u64, shard: ShardId, n: usize, stake: u64) -> Validators {
        let mut prg = Prg::new(&[
            b"ioschain/pob-genesis",
            &seed.to_le_bytes(),
            &shard.0.to_le_bytes(),
        ]);
        let opt_keys: Vec<SigningKey> = (0..n as u32)
            .map(|i| SigningKey::from_bytes(&derived(seed, shard, b"ioschain/opt-key", i)))
            .collect();
        let opt_public: Vec<[u8; 32]> = opt_keys
            .iter()
            .map(|k| k.verifying_key().to_bytes())
            .collect();
        let vrf_keys = (0..n as u32)
            .map(|i| VrfSecretKey::from_seed(&derived(seed, shard, b"ioschain/vrf-key", i)))
            .collect();
        let records = (0..n)
            .map(|i| {
                ValidatorRecord::new(
                    ValidatorId(i as u32),
                    opt_public[i],
                    stake + prg.below(stake),
                    prg.below(100),
                )
            })
            .collect();
        let randomness = Domain::Prg.hash_parts(&[
            b"ioschain/epoch-randomness",
            &seed.to_le_bytes(),
            &shard.0.to_le_bytes(),
        ]);
        Validators {
            records,
            opt_keys,
            opt_public,
            vrf_keys,
            leagues: Leagues::Single { normal: Vec::new() },
            randomness,
            byzantine: Vec::new(),
        }
    }

    /// Selects the leagues of `epoch` (the randomness advances by a hash chain until the
    /// DRP exists).
    pub fn select(&mut self, params: &PobParams, shard: ShardId, epoch: Epoch) {
        if epoch.0 > 0 {
            self.randomness =
                Domain::Prg.hash_parts(&[b"ioschain/epoch-randomness-next", &self.randomness.0]);
        }
        self.leagues = if params.believable == 0 {
            Leagues::Single {
                normal: self.records.iter().map(|r| r.id).collect(),
            }
        } else {
            select_leagues(
                &self.records,
                &params.score,
                &self.randomness,
                shard,
                params.believable,
                params.league_min,
            )
        };
    }

    /// The roster index of the validator with OptBlock key `key`.
    pub fn by_key(&self, key: &[u8; 32]) -> Option<ValidatorId> {
        self.opt_public
            .iter()
            .position(|k| k == key)
            .map(|i| ValidatorId(i as u32))
    }
}
