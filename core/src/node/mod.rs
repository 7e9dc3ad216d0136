//! The shard node: one shard's validators as the protocol sees them (believable league,
//! the normal league's checker and sampler, the FinalBlock leader and signers), as a
//! deterministic state machine (PROTOCOL.md §6.5 and §5.5; what is computed per shard:
//! DESIGN.md §2). No threads, clocks, files or randomness sources: the host calls
//! [`ShardNode::submit`], [`ShardNode::poll`], [`ShardNode::deliver`] and
//! [`ShardNode::on_persisted`], each with the time, and performs what the node asks for
//! in [`ShardNode::effects`] (outcomes for clients, FinalBlock records to append,
//! transactions made final) and in the Atomix outbox (messages to shards). Fresh bytes
//! (CoSi nonce material, batch-verification weights) come in the setup.
//!
//! One file per step of PROTOCOL.md §6.5, each an `impl ShardNode` block:
//! 1. `ordering` (believable league, steps 1–3; goes first, it is what clients wait
//!    for): route, verify in one batch, apply to the ordering view, sign OptBlocks:
//!    provisional.
//! 2. `checking` (the normal league, steps 4–6; runs when no ordering batch is due,
//!    or when it has fallen behind): every signed OptBlock's header, body and cheap
//!    checks against the normal view, and the VRF samples.
//! 3. `proofs`: a failed check or sample is a proof; the culprit is slashed, its
//!    unfinalized work re-verified, invalid transactions excluded with what spent them.
//! 4. `finality` (steps 7–8): FinalBlocks over OptBlocks older than the challenge
//!    window, cosigned by the normal league; standing; epochs.
//! 5. `atomix_order` and [`atomix`] (§5.5): lock requests and unlocks ordered at each
//!    FinalBlock; the shard side and the coordinator rule.
//!
//! The validators never learn what clients hold back or know: a lock request for an
//! input they do not know is refused after `t_unlock` FinalBlocks, whoever sent it.
//! Byzantine behaviour is the host's: the node asks its [`adversary::Adversary`] at
//! each point where a validator has a choice (drop, crash, forge, equivocate, plant a
//! conflicting spend) and has no branch of its own on who is Byzantine.
//!
//! With fewer eligible believable validators than `league_min` (or `believable = 0`)
//! the shard runs one league: verified transactions go straight into the normal
//! league's own batches (provisional when batched, final when persisted).
//!
//! Invariants: every submission ends final exactly once, rejected with a reason, or
//! handed back to its client to send again (a re-route, an exposure deferral, an
//! exclusion); the
//! normal view applies OptBlocks and the league's own batches in one sequence, and a
//! FinalBlock finalizes a prefix of it, so no final transaction depends on one that is
//! not; transactions are final only after their record is persisted; no allocation per
//! transaction on the honest path (vectors are per batch or per block).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::atomix::{self as core_atomix, Signatures};
use crate::block::{BlockHeader, FinalCertificate};
use crate::crypto::cosi::{Roster, Signers, ValidatorKey, sign_round};
use crate::crypto::sig::{BatchVerifier, KeyCache};
use crate::merkle;
use crate::pob::exposure::Exposure;
use crate::pob::final_body::{CheckProof, FraudProof, PobBody};
use crate::pob::league::Leagues;
use crate::pob::optblock::{
    BadSignatureProof, EquivocationDetector, OptBlockHeader, SignedOptHeader,
};
use crate::pob::sample::{Sample, SampleProof, route};
use crate::prg::Prg;
use crate::tx::{RejectReason, Rejection, Transaction, TxOut};
use crate::types::{Epoch, Hash, Height, OutPoint, Owner, ShardId, TxId, ValidatorId};
use crate::utxo::{UtxoError, UtxoSet};
use rustc_hash::{FxHashMap, FxHashSet};

pub mod adversary;
pub mod atomix;
mod atomix_order;
mod checking;
mod finality;
pub mod meter;
mod ordering;
pub mod pob;
mod proofs;

use crate::record::{Annex, encode_record};
use adversary::{Adversary, Routed, Sealed};
use atomix::{AtomixNode, BlockEntry, Federation, MessageBody, TxRef};
use meter::{Role, RoleMeter, Stopwatch};
use pob::{Believable, OptBlock, OptTx, PobCounters, PobParams, Validators};

/// A transaction a client sends to the shard's validators: the transaction itself
/// (shared, not copied: the validators hold it until it is final or given back), its
/// position in the shard's stream (the client's handle on it, carried back in
/// outcomes), when it was meant to be sent (for latency), and which attempt it is.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The signed transaction.
    pub tx: Arc<Transaction>,
    /// Position in the shard's stream.
    pub index: u32,
    /// Intended send time, ns (opaque to the validators).
    pub intended: u64,
    /// Times the client re-routed it.
    pub retry: u16,
    /// Sent at once, not batched with later arrivals (a re-submission, or one its client
    /// held for its funds).
    pub urgent: bool,
}

/// A transaction its client sends again at `due_ns`.
#[derive(Clone, Debug)]
pub struct Retry {
    /// The submission (its `retry` is the attempt it will be).
    pub submission: Submission,
    /// When.
    pub due_ns: u64,
}

/// A FinalBlock record for the store.
#[derive(Debug)]
pub struct Record {
    /// The block's height.
    pub height: u64,
    /// The encoded record.
    pub bytes: Vec<u8>,
}

/// What the validators tell a client about its submission.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It is provisional (in a signed OptBlock, or the normal league's own batch).
    Provisional {
        /// Stream position.
        index: u32,
        /// Its id.
        id: TxId,
        /// Intended send time.
        intended: u64,
    },
    /// It is rejected, for this reason.
    Rejected(Submission, Rejection),
    /// Its client must send it again (a re-route, an exposure deferral, an exclusion).
    Retry(Retry),
}

/// What the validators' last step asks of their host and their clients. The host drains
/// every list after each call into the node (the buffers are kept: no allocation per
/// transaction).
#[derive(Debug, Default)]
pub struct Effects {
    /// Outcomes for clients, in the order the validators reached them (a client's
    /// reaction can depend on it: a transaction rejected for an input whose creator is
    /// being re-submitted waits for it).
    pub outcomes: Vec<Outcome>,
    /// Transactions now final (their record is durable): stream position, intended.
    pub finals: Vec<(u32, u64)>,
    /// FinalBlock records to append to the block log, in height order.
    pub records: Vec<Record>,
}

impl Effects {
    /// Whether there is nothing to perform.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty() && self.finals.is_empty() && self.records.is_empty()
    }
}

/// Counts kept by a shard. `submitted`, `rejected` and `store_backpressure` are the
/// host's and its clients' (see `super::host::Shard::counters`); the node counts the
/// rest.
#[derive(Clone, Debug, Default)]
pub struct ShardCounters {
    /// Transactions released to the shard.
    pub submitted: u64,
    /// Inclusions in an OptBlock (or, with one league, in a built block); a transaction
    /// excluded and re-submitted counts once per inclusion.
    pub provisional: u64,
    /// Transactions in persisted, certified blocks.
    pub final_: u64,
    /// Rejections by reason (indexed like [`RejectReason::ALL`]).
    pub rejected: [u64; RejectReason::ALL.len()],
    /// FinalBlocks built.
    pub blocks: u64,
    /// Signature batch equations evaluated (bisection included).
    pub verify_batches: u64,
    /// Signatures verified (ordering, samples and re-checks).
    pub signatures: u64,
    /// Signatures verified one by one (in batches that failed).
    pub verify_singles: u64,
    /// Sends to the store that found its queue full.
    pub store_backpressure: u64,
}

impl ShardCounters {
    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// A FinalBlock waiting for persistence.
struct Unpersisted {
    height: u64,
    /// Its clients' transactions (not planted ones): stream position and intended send
    /// time.
    txs: Vec<(u32, u64)>,
    /// Proofs of its Atomix entries, published once it is persisted (with the
    /// transaction and its client's home).
    publish: Vec<(core_atomix::EntryProof, TxRef, ShardId)>,
}

/// Where the ordering step sends a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Straight to the normal league (one league, or every believable one slashed).
    Normal,
    /// To the believable validator with this league index.
    Believable(u16),
    /// The believable validator it was routed to dropped it (censor, crash).
    Dropped,
}

/// A signed OptBlock on its way to the normal validator (checked when the shard's
/// worker has no ordering batch due: ordering goes first, it is what clients wait for).
#[derive(Debug)]
struct Arrival {
    block: OptBlock,
    signed: SignedOptHeader,
    signer: ValidatorId,
    /// A second header for the same slot (equivocation), delivered right after.
    conflicting: Option<SignedOptHeader>,
}

/// A signature the normal league checks: which OptBlock (by arrival number) and which of
/// its transactions.
#[derive(Clone, Copy, Debug)]
struct SampleEntry {
    block: u64,
    position: u32,
}

/// What a shard needs to start.
pub struct ShardSetup {
    /// The shard.
    pub id: ShardId,
    /// Shards in the federation.
    pub shard_count: u32,
    /// The roster's keys (the simulated validators), member `i` = roster index `i`.
    pub roster_keys: Vec<ValidatorKey>,
    /// The roster they form.
    pub roster: Roster,
    /// Fresh bytes of the run: seed of the CoSi nonce material and of the signature
    /// verifiers' batch weights.
    pub nonce_seed: [u8; 32],
    /// The run's seed (validator keys and standing, Byzantine plans).
    pub seed: u64,
    /// Engine limits.
    pub verify_batch_max: usize,
    /// A batch is verified once this many transactions are pending…
    pub verify_batch_min: usize,
    /// …or once the oldest pending one is this old (ns past its intended time).
    pub verify_wait_ns: u64,
    /// Block size bound (one league).
    pub block_tx_max: usize,
    /// Block age bound (one league).
    pub block_interval_ns: u64,
    /// Spent entries kept for double-spend attribution.
    pub spent_retention: usize,
    /// PoB parameters.
    pub pob: PobParams,
    /// What corrupted validators do ([`adversary::Honest`]: nothing).
    pub adversary: Box<dyn Adversary>,
    /// Every shard's roster (Atomix proofs are checked against them).
    pub federation: Arc<Federation>,
    /// FinalBlocks without news about a cross-shard transaction before its coordinator
    /// acts.
    pub t_unlock_blocks: u64,
    /// What the role meter reads ([`meter::Unmetered`]: no metering).
    pub stopwatch: Box<dyn Stopwatch>,
}

impl std::fmt::Debug for ShardSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSetup")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Sampled signatures are verified once this many are pending (or when the oldest
/// OptBlock waiting for them is half a challenge window old).
const SAMPLE_BATCH: usize = 512;

/// The seed of one of a shard's signature verifiers' batch weights, from the run's fresh
/// bytes (unpredictable to clients; the verdicts do not depend on it).
fn weights_seed(fresh: &[u8; 32], shard: ShardId, role: &[u8]) -> [u8; 32] {
    Prg::new(&[
        b"ioschain/batch-weights",
        fresh,
        &shard.0.to_le_bytes(),
        role,
    ])
    .bytes32()
}

/// One shard's validators as the protocol sees them (believable league, the normal
/// league's checker, sampler, leader and signers): a state machine driven by its host
/// through [`ShardNode::submit`], [`ShardNode::poll`], [`ShardNode::deliver`] and
/// [`ShardNode::on_persisted`], each at a time the host gives, with what it asks of the
/// host in [`ShardNode::effects`].
pub struct ShardNode {
    /// The shard's id.
    pub id: ShardId,
    /// The normal league's UTXO view: the state FinalBlocks commit to.
    pub utxo: UtxoSet,
    /// The ordering view (believable validators, or the one league's leader).
    utxo_order: UtxoSet,
    keys: KeyCache,
    verifier: BatchVerifier,
    sample_verifier: BatchVerifier,
    roster_keys: Vec<ValidatorKey>,
    /// The roster (certificates verify against it).
    pub roster: Roster,
    nonce_seed: Prg,
    epoch: Epoch,
    height: u64,
    prev: Hash,
    /// Submissions waiting for the next ordering batch (at most `verify_batch_max`).
    incoming: VecDeque<Submission>,
    /// Urgent submissions in `incoming`.
    urgent: usize,
    /// The time of the input being handled.
    now: u64,
    fx: Effects,
    batch_index: Vec<u32>,
    batch_tx: Vec<Arc<Transaction>>,
    batch_id: Vec<TxId>,
    batch_intended: Vec<u64>,
    batch_retry: Vec<u16>,
    batch_route: Vec<Route>,
    batch_verdict: Vec<Option<Rejection>>,
    bad: Vec<u32>,
    /// Transactions the normal league orders itself (one league, or clients no
    /// believable validator served), not yet in the inflight sequence.
    direct: Vec<OptTx>,
    direct_since_ns: u64,
    unpersisted: VecDeque<Unpersisted>,
    spare_finals: Vec<Vec<(u32, u64)>>,
    spare_buffers: Vec<Vec<u8>>,
    merkle_scratch: Vec<Hash>,
    verify_batch_max: usize,
    verify_batch_min: usize,
    verify_wait_ns: u64,
    block_tx_max: usize,
    block_interval_ns: u64,
    // PoB.
    params: PobParams,
    /// Validators, their standing and the current leagues.
    pub validators: Validators,
    believable: Vec<Believable>,
    /// The host's adversary (what corrupted validators do).
    adversary: Box<dyn Adversary>,
    exposure: Vec<Exposure>,
    detector: EquivocationDetector,
    arrivals: VecDeque<Arrival>,
    inflight: VecDeque<OptBlock>,
    /// Arrival number of `inflight.front()`.
    inflight_base: u64,
    /// Corrupted copies signed by `bad-signature` validators, by (stream index, retry).
    copies: Copies,
    /// Which believable validator holds each transaction of an open (unsigned)
    /// OptBlock: a transaction spending its outputs can only be included after that
    /// block is signed and seen.
    open_owner: FxHashMap<TxId, u16>,
    sample_entries: Vec<SampleEntry>,
    sample_since_ns: Option<u64>,
    proofs: Vec<FraudProof>,
    excluded: Vec<TxId>,
    /// Atomix entries ordered since the last FinalBlock (they go into the next one).
    atomix_entries: Vec<BlockEntry>,
    /// When the normal league last ordered Atomix requests.
    last_ordered_ns: u64,
    /// Scratch set of the transactions not final yet (see `order_atomix`).
    unfinal: FxHashSet<TxId>,
    last_final_ns: u64,
    /// PoB counts.
    pub pob: PobCounters,
    /// Atomix: this shard's cross-shard state, its clients and its coordinator duties.
    pub atomix: AtomixNode,
    /// Counters.
    pub counters: ShardCounters,
    /// Time by role (the host switches it to its own roles around its work).
    pub meter: RoleMeter,
}

impl std::fmt::Debug for ShardNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl ShardNode {
    /// A shard's validators at `genesis` (the shard's initial outputs).
    pub fn new(setup: ShardSetup, genesis: &[(OutPoint, TxOut)]) -> ShardNode {
        let roster = setup.roster;
        let genesis_set = || {
            let mut utxo = UtxoSet::with_spent_retention(genesis.len() * 2, setup.spent_retention);
            for (outpoint, output) in genesis {
                utxo.create(*outpoint, *output)
                    .expect("genesis outpoints are distinct");
            }
            utxo
        };
        let utxo = genesis_set();
        let utxo_order = genesis_set();
        let capacity = setup.block_tx_max.max(setup.verify_batch_max);
        let validators = Validators::genesis(setup.seed, setup.id, roster.len(), setup.pob.stake);
        let exposure = validators
            .records
            .iter()
            .map(|r| Exposure::new(u128::from(r.stake)))
            .collect();
        let mut shard = ShardNode {
            id: setup.id,
            utxo,
            utxo_order,
            keys: KeyCache::new(),
            verifier: BatchVerifier::with_capacity(
                setup.verify_batch_max * 2,
                weights_seed(&setup.nonce_seed, setup.id, b"ordering"),
            ),
            sample_verifier: BatchVerifier::with_capacity(
                SAMPLE_BATCH * 2,
                weights_seed(&setup.nonce_seed, setup.id, b"sampling"),
            ),
            roster_keys: setup.roster_keys,
            roster,
            nonce_seed: Prg::new(&[
                b"ioschain/cosi-fresh",
                &setup.nonce_seed,
                &setup.id.0.to_le_bytes(),
            ]),
            epoch: Epoch(0),
            height: 0,
            prev: Hash::ZERO,
            incoming: VecDeque::with_capacity(setup.verify_batch_max),
            urgent: 0,
            now: 0,
            fx: Effects::default(),
            batch_index: Vec::with_capacity(setup.verify_batch_max),
            batch_tx: Vec::with_capacity(setup.verify_batch_max),
            batch_id: Vec::with_capacity(setup.verify_batch_max),
            batch_intended: Vec::with_capacity(setup.verify_batch_max),
            batch_retry: Vec::with_capacity(setup.verify_batch_max),
            batch_route: Vec::with_capacity(setup.verify_batch_max),
            batch_verdict: Vec::with_capacity(setup.verify_batch_max),
            bad: Vec::new(),
            direct: Vec::with_capacity(capacity),
            direct_since_ns: 0,
            unpersisted: VecDeque::new(),
            spare_finals: Vec::new(),
            spare_buffers: Vec::new(),
            merkle_scratch: Vec::with_capacity(capacity),
            verify_batch_max: setup.verify_batch_max,
            verify_batch_min: setup.verify_batch_min.min(setup.verify_batch_max),
            verify_wait_ns: setup.verify_wait_ns,
            block_tx_max: setup.block_tx_max,
            block_interval_ns: setup.block_interval_ns,
            params: setup.pob,
            validators,
            believable: Vec::new(),
            adversary: setup.adversary,
            exposure,
            detector: EquivocationDetector::new(),
            arrivals: VecDeque::new(),
            inflight: VecDeque::new(),
            inflight_base: 0,
            copies: Copies::default(),
            open_owner: FxHashMap::default(),
            sample_entries: Vec::new(),
            sample_since_ns: None,
            proofs: Vec::new(),
            excluded: Vec::new(),
            atomix_entries: Vec::new(),
            last_ordered_ns: 0,
            unfinal: FxHashSet::default(),
            last_final_ns: 0,
            pob: PobCounters::default(),
            atomix: AtomixNode::new(
                setup.id,
                setup.shard_count,
                setup.federation,
                setup.t_unlock_blocks,
            ),
            counters: ShardCounters::default(),
            meter: RoleMeter::new(setup.stopwatch),
        };
        shard.start_epoch();
        // A validator that has been running holds its owners' keys decompressed; at
        // genesis it loads them with the UTXO set (before the clock starts), so the first
        // seconds of a run do not pay a cold cache that a live network never has.
        for (_, output) in genesis {
            shard.keys.get(&output.owner);
        }
        shard
    }

    /// Whether nothing is pending: no submission unprocessed, no open or unfinalized
    /// block, no block awaiting persistence, no Atomix request or message queued.
    pub fn is_idle(&self) -> bool {
        self.incoming.is_empty()
            && self.direct.is_empty()
            && self.believable.iter().all(|b| b.open.is_empty())
            && self.arrivals.is_empty()
            && self.inflight.is_empty()
            && self.proofs.is_empty()
            && self.excluded.is_empty()
            && self.unpersisted.is_empty()
            && self.atomix_entries.is_empty()
            && self.atomix.is_idle()
            && self.fx.is_empty()
    }

    /// Transactions with the validators and not yet in a FinalBlock: submitted and not
    /// ordered, open at a believable validator or the normal league, or in an OptBlock
    /// awaiting finality (a level for the timeline, not a count of work).
    pub fn queued(&self) -> usize {
        self.incoming.len()
            + self.direct.len()
            + self.believable.iter().map(|b| b.open.len()).sum::<usize>()
            + self.inflight.iter().map(|b| b.txs.len()).sum::<usize>()
    }

    /// What the last calls ask of the host; it drains every list.
    pub fn effects(&mut self) -> &mut Effects {
        &mut self.fx
    }

    /// [`ShardNode::effects`], and the role meter the host charges its work on them to.
    pub fn effects_metered(&mut self) -> (&mut Effects, &mut RoleMeter) {
        (&mut self.fx, &mut self.meter)
    }

    /// Sets how long the oldest pending submission may wait for `verify_batch_min`
    /// (the host's adaptive batching; any value is protocol-correct, it only trades
    /// latency for the batches' fixed costs).
    pub fn set_verify_wait(&mut self, ns: u64) {
        self.verify_wait_ns = ns;
    }

    /// How many more submissions the validators take before their next ordering batch.
    pub fn wants(&self) -> usize {
        self.verify_batch_max.saturating_sub(self.incoming.len())
    }

    /// A client sends a transaction.
    pub fn submit(&mut self, submission: Submission) {
        self.urgent += usize::from(submission.urgent);
        self.incoming.push_back(submission);
    }

    /// Whether this epoch runs believable-first (two leagues).
    fn split(&self) -> bool {
        matches!(self.validators.leagues, Leagues::Split { .. })
    }

    /// One step at time `now_ns`. Returns whether there was work.
    pub fn poll(&mut self, now_ns: u64) -> bool {
        self.now = now_ns;
        let mut worked = false;
        // Batches verify faster per signature the larger they are (BENCHMARKING.md:
        // 67k sig/s at 64, 98k at 1024 on one core), so a shard that keeps up waits for
        // `verify_batch_min` transactions, but never lets the oldest wait past
        // `verify_wait`. Urgent submissions go at once.
        let ordering_due = self.urgent > 0
            || self.incoming.front().is_some_and(|front| {
                self.incoming.len() >= self.verify_batch_min
                    || now_ns.saturating_sub(front.intended) >= self.verify_wait_ns
            });
        if ordering_due {
            self.metered(Role::Ordering, |node| node.process_batch(now_ns));
            worked = true;
        }
        for b in 0..self.believable.len() {
            let open = &self.believable[b];
            if !open.open.is_empty()
                && now_ns.saturating_sub(open.open_since_ns) >= self.params.opt_block_interval_ns
            {
                self.metered(Role::Ordering, |node| node.seal_opt(b));
                worked = true;
            }
        }
        // The normal league's work waits while an ordering batch is due, unless it has
        // fallen behind (too many unchecked OptBlocks, or a FinalBlock overdue).
        let behind = self.arrivals.len() >= 4 * self.believable.len().max(1)
            || now_ns.saturating_sub(self.last_final_ns) >= 2 * self.params.final_interval_ns;
        if ordering_due && !behind {
            return worked;
        }
        if !self.arrivals.is_empty() {
            self.metered(Role::Checking, Self::check_arrivals);
            worked = true;
        }
        if let Some(since) = self.sample_since_ns
            && (self.sample_entries.len() >= SAMPLE_BATCH
                || now_ns.saturating_sub(since) >= self.params.challenge_window_ns / 2)
        {
            self.metered(Role::Sampling, Self::verify_samples);
            worked = true;
        }
        if now_ns.saturating_sub(self.last_final_ns) >= self.params.final_interval_ns {
            worked |= self.metered(Role::Leader, |node| node.finalize(now_ns));
        }
        if !self.direct.is_empty()
            && now_ns.saturating_sub(self.direct_since_ns) >= self.block_interval_ns
        {
            self.metered(Role::Ordering, Self::flush_direct);
            worked = true;
        }
        worked
    }

    /// Runs `step` with `role` current on the meter (see [`meter`]), then restores the
    /// role it replaced.
    fn metered<R>(&mut self, role: Role, step: impl FnOnce(&mut Self) -> R) -> R {
        let previous = self.meter.enter(role);
        let result = step(self);
        self.meter.leave(previous);
        result
    }

    /// The normal validator checks every OptBlock that arrived, in order.
    fn check_arrivals(&mut self) {
        while let Some(arrival) = self.arrivals.pop_front() {
            self.check_opt(
                arrival.block,
                arrival.signed,
                arrival.signer,
                arrival.conflicting,
            );
        }
    }

    /// The host made this shard's chain durable up to `height` at `now_ns` (and hands
    /// back the record buffers it is done with): those blocks' transactions are final.
    pub fn on_persisted(&mut self, now_ns: u64, height: u64, buffers: Vec<Vec<u8>>) {
        self.now = now_ns;
        self.spare_buffers.extend(buffers);
        while self.unpersisted.front().is_some_and(|s| s.height <= height) {
            let mut block = self.unpersisted.pop_front().expect("checked");
            self.counters.final_ += block.txs.len() as u64;
            self.fx.finals.append(&mut block.txs);
            if !block.publish.is_empty() {
                let publish = std::mem::take(&mut block.publish);
                self.metered(Role::Atomix, |node| node.atomix.publish(publish));
            }
            self.spare_finals.push(block.txs);
        }
    }

    /// An Atomix request, or a proof published to this shard as a named input shard,
    /// arrived at `now_ns`.
    pub fn deliver(&mut self, now_ns: u64, body: MessageBody) {
        self.now = now_ns;
        // Not metered here (one message): the host charges its batches of messages to
        // [`Role::Atomix`].
        self.atomix.deliver(body, self.height);
    }

    /// What keeps the shard busy (for a drain that timed out).
    pub fn busy(&self) -> String {
        format!(
            "incoming {} open {} believable-open {:?} inflight {} (unsampled {:?}) proofs {} excluded {} unpersisted {}; {}",
            self.incoming.len(),
            self.direct.len(),
            self.believable
                .iter()
                .map(|b| b.open.len())
                .collect::<Vec<_>>(),
            self.inflight.len(),
            self.inflight
                .iter()
                .map(|b| b.unsampled)
                .take(4)
                .collect::<Vec<_>>(),
            self.proofs.len(),
            self.excluded.len(),
            self.unpersisted.len(),
            self.atomix.busy()
        )
    }

    /// PoB parameters of this shard.
    pub fn pob_params(&self) -> &PobParams {
        &self.params
    }
}

/// Corrupted copies Byzantine `bad-signature` validators signed in place of their
/// clients' transactions (by stream position and attempt), kept until their OptBlock is
/// final or dropped.
#[derive(Debug, Default)]
struct Copies {
    forged: FxHashMap<(u32, u16), Transaction>,
}

/// The transaction an OptBlock entry stands for: the forged copy if its signer made one,
/// the transaction it holds otherwise (its client's, or the one its signer planted).
fn tx_in<'a>(copies: &'a Copies, opt: &'a OptTx) -> &'a Transaction {
    if opt.forged {
        &copies.forged[&(opt.index, opt.retry)]
    } else {
        &opt.tx
    }
}

#[cfg(test)]
mod tests;
