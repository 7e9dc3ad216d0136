//! One shard: the per-shard state machine the worker threads poll, running
//! Proof-of-Believability (PROTOCOL.md §6.5; what is computed per shard: DESIGN.md §2).
//!
//! Why one file of about 1,950 lines: it is the protocol logic that the node issue (12)
//! moves into `core` as a state machine split by the steps of PROTOCOL.md §6.5
//! (ordering, checking and sampling, proofs and slashing, finality); splitting it here
//! first would draw the same seams twice.
//!
//! Flow per poll:
//! 1. **Ordering** (believable league, phase 1; goes first, it is what clients wait
//!    for): take the ranges of the stream the driver released, and the transactions
//!    clients re-submit (after a timeout, a ban, or a fraud proof that reverted them);
//!    route each to believable validator `H(first input) mod L` (skipping slashed ones;
//!    a client every believable validator failed twice goes to the normal league);
//!    verify the whole batch (structure, then every witness in one ed25519 batch); apply
//!    in order to the ordering view of the UTXO set; each accepted transaction joins its
//!    believable validator's open OptBlock, within the validator's exposure cap. At the
//!    end of the batch every believable validator signs its OptBlock: its transactions
//!    are provisional. (A transaction spending an output another believable validator
//!    holds unsigned makes that one sign first, so blocks arrive in dependency order.)
//! 2. **Checking** (the normal validator, phase 2; runs when no ordering batch is due, or
//!    when it has fallen behind): each signed OptBlock, in order: header signature,
//!    equivocation, body against the header's root, the cheap checks of every
//!    transaction against the normal league's own UTXO view, and the VRF samples (one VRF
//!    per sampler and OptBlock; the selected signatures are verified in batches before
//!    the block may be finalized). A failed check is a proof that blames the signer: it
//!    is slashed, every transaction it signed that is not final is re-verified in full,
//!    invalid ones are excluded (reverted in both views, with the transactions that
//!    spent their outputs), and their clients re-submit.
//! 3. **Finality**: every `final_interval` the normal league's leader proposes a
//!    FinalBlock over the OptBlocks older than the challenge window whose samples are
//!    verified (a prefix of the order they were applied in), and the transactions it
//!    ordered itself, with the proofs and exclusions since the last one; the normal
//!    league cosigns it (CoSi), the record goes to the store, and the store's
//!    acknowledgement makes its transactions final. Every `epoch_final_blocks`
//!    FinalBlocks the leagues are re-selected.
//! 4. **Atomix** (cross-shard transactions, [`super::atomix`]): the released
//!    cross-shard transactions of this shard's stream go to their clients, not to the
//!    ordering step; lock requests and unlocks from any shard's clients (or
//!    coordinators) are ordered by the normal league at each FinalBlock, after every
//!    OptBlock before them is signed and checked, and their entries go into that
//!    FinalBlock.
//! 5. **Clients** (`ioschain_workloads::clients`): the client of a released transaction
//!    holds it until the transactions that created its inputs are done, as their
//!    clients' receipts ([`MessageBody::Receipt`]) say: a cross-shard transaction until each
//!    is final (or committed), an intra-shard one until the Atomix payment it spends
//!    committed. A transaction of the stream spending the outputs of a held one waits
//!    with it. The shard's validators never learn what is on its way: a lock request
//!    for an input they do not know is refused after `t_unlock` FinalBlocks.
//!
//! With fewer eligible believable validators than `league_min` (or `believable = 0`)
//! the shard runs one league: verified transactions go straight into the normal
//! league's own batches (provisional when batched, final when persisted).
//!
//! Invariants: every released transaction ends final exactly once or rejected with a
//! reason (re-routed and excluded ones are re-submitted until they are final; a
//! cross-shard one ends committed or aborted at its client); the
//! normal view applies OptBlocks and the league's own batches in one sequence, and a
//! FinalBlock finalizes a prefix of it, so no final transaction depends on one that is
//! not; transactions are final only after their record is persisted; no allocation per
//! transaction on the honest path (vectors are per batch or per block).

use std::collections::VecDeque;
use std::sync::Arc;

use ioschain_core::atomix::{self as core_atomix, Signatures};
use ioschain_core::block::{BlockHeader, FinalCertificate};
use ioschain_core::crypto::cosi::{Roster, Signers, ValidatorKey, sign_round};
use ioschain_core::crypto::sig::{BatchVerifier, KeyCache};
use ioschain_core::merkle;
use ioschain_core::pob::exposure::Exposure;
use ioschain_core::pob::final_body::{CheckProof, PobBody, Proof};
use ioschain_core::pob::league::Leagues;
use ioschain_core::pob::optblock::{
    EquivocationDetector, FraudProof, OptBlockHeader, SignedOptHeader,
};
use ioschain_core::pob::sample::{Sample, SampleProof, route};
use ioschain_core::prg::Prg;
use ioschain_core::tx::{RejectReason, Rejection, Transaction};
use ioschain_core::types::{Epoch, Hash, Height, Owner, ShardId, TxId, ValidatorId};
use ioschain_core::utxo::{UtxoError, UtxoSet};
use ioschain_workloads::{ShardWorkload, Workload};
use rustc_hash::{FxHashMap, FxHashSet};

use super::atomix::{AtomixNode, BlockEntry, Federation, MessageBody, TxRef};
use super::pob::{Believable, Fault, OptBlock, OptTx, PobCounters, PobParams, Validators};
use crate::blocklog::{Annex, encode_record};
use crate::config::Behaviour;

/// A transaction a client sends to the shard's validators: its position in the shard's
/// stream (the client's handle on it; the validators read its bytes from the stream),
/// when it was meant to be sent (carried back in outcomes, for latency), and which
/// attempt it is.
#[derive(Clone, Copy, Debug)]
pub struct Submission {
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
#[derive(Clone, Copy, Debug)]
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
#[derive(Clone, Copy, Debug)]
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
    /// Its transactions (not replays): stream position and intended send time.
    txs: Vec<(u32, u64)>,
    /// Proofs of its Atomix entries, published once it is persisted (with the
    /// transaction and its client's home).
    publish: Vec<(core_atomix::Proof, TxRef, ShardId)>,
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
    /// The workload (genesis and stream).
    pub workload: Arc<Workload>,
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
    /// Every shard's roster (Atomix proofs are checked against them).
    pub federation: Arc<Federation>,
    /// FinalBlocks without news about a cross-shard transaction before its coordinator
    /// acts.
    pub t_unlock_blocks: u64,
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
    workload: Arc<Workload>,
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
    seed: u64,
    /// Validators, their standing and the current leagues.
    pub validators: Validators,
    believable: Vec<Believable>,
    faults: FxHashMap<u32, Fault>,
    exposure: Vec<Exposure>,
    detector: EquivocationDetector,
    arrivals: VecDeque<Arrival>,
    inflight: VecDeque<OptBlock>,
    /// Arrival number of `inflight.front()`.
    inflight_base: u64,
    /// Corrupted copies signed by `bad-signature` validators, by (stream index, retry).
    forged: FxHashMap<(u32, u16), Transaction>,
    /// Which believable validator holds each transaction of an open (unsigned)
    /// OptBlock: a transaction spending its outputs can only be included after that
    /// block is signed and seen.
    open_owner: FxHashMap<TxId, u16>,
    sample_entries: Vec<SampleEntry>,
    sample_since_ns: Option<u64>,
    proofs: Vec<Proof>,
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
    /// A shard's validators at genesis.
    pub fn new(setup: ShardSetup) -> ShardNode {
        let roster = setup.roster;
        let part = &setup.workload.shards[setup.id.0 as usize];
        let genesis_set = || {
            let mut utxo =
                UtxoSet::with_spent_retention(part.genesis.len() * 2, setup.spent_retention);
            for (outpoint, output) in &part.genesis {
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
            seed: setup.seed,
            validators,
            believable: Vec::new(),
            faults: FxHashMap::default(),
            exposure,
            detector: EquivocationDetector::new(),
            arrivals: VecDeque::new(),
            inflight: VecDeque::new(),
            inflight_base: 0,
            forged: FxHashMap::default(),
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
                setup.workload.shards.len() as u32,
                setup.federation,
                setup.t_unlock_blocks,
            ),
            counters: ShardCounters::default(),
            workload: setup.workload,
        };
        shard.start_epoch();
        // A validator that has been running holds its owners' keys decompressed; at
        // genesis it loads them with the UTXO set (before the clock starts), so the first
        // seconds of a run do not pay a cold cache that a live network never has.
        let workload = Arc::clone(&shard.workload);
        for (_, output) in &workload.shards[shard.id.0 as usize].genesis {
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

    /// What the last calls ask of the host; it drains every list.
    pub fn effects(&mut self) -> &mut Effects {
        &mut self.fx
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
            self.process_batch(now_ns);
            worked = true;
        }
        for b in 0..self.believable.len() {
            let open = &self.believable[b];
            if !open.open.is_empty()
                && now_ns.saturating_sub(open.open_since_ns) >= self.params.opt_block_interval_ns
            {
                self.seal_opt(b);
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
            self.check_arrivals();
            worked = true;
        }
        if let Some(since) = self.sample_since_ns
            && (self.sample_entries.len() >= SAMPLE_BATCH
                || now_ns.saturating_sub(since) >= self.params.challenge_window_ns / 2)
        {
            self.verify_samples();
            worked = true;
        }
        if now_ns.saturating_sub(self.last_final_ns) >= self.params.final_interval_ns {
            worked |= self.finalize(now_ns);
        }
        if !self.direct.is_empty()
            && now_ns.saturating_sub(self.direct_since_ns) >= self.block_interval_ns
        {
            self.flush_direct();
            worked = true;
        }
        worked
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

    /// Takes the ordering batch out of `incoming`, in arrival order (clients send in the
    /// order their transactions may be applied in).
    fn take_batch(&mut self) {
        self.batch_index.clear();
        self.batch_intended.clear();
        self.batch_retry.clear();
        self.urgent = 0;
        for s in &self.incoming {
            self.batch_index.push(s.index);
            self.batch_intended.push(s.intended);
            self.batch_retry.push(s.retry);
        }
        self.incoming.clear();
    }

    /// The believable validator a client sends `tx` to on its `retry`-th attempt; clients
    /// skip slashed validators (the ban is public).
    fn route_of(&self, tx: &Transaction, retry: u16) -> Route {
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

    /// Whether believable validator `b` drops what is routed to it now.
    fn drops(&mut self, b: usize) -> bool {
        let id = self.believable[b].id;
        let seq = self.believable[b].seq;
        let Some(fault) = self.faults.get_mut(&id.0) else {
            return false;
        };
        match fault.behaviour {
            Behaviour::Censor => fault.strikes(seq),
            Behaviour::Crash => {
                if !fault.crashed && fault.strikes(seq) {
                    fault.crashed = true;
                    // What it had not signed yet is lost with it.
                    self.drop_open(b, self.params.reroute_timeout_ns);
                    return true;
                }
                fault.crashed
            }
            _ => false,
        }
    }

    /// The client of stream transaction `index` must send it again at `due_ns` (a
    /// re-route: its next attempt).
    fn resubmit(&mut self, index: u32, retry: u16, intended: u64, due_ns: u64) {
        self.pob.reroutes += 1;
        self.fx.outcomes.push(Outcome::Retry(Retry {
            submission: Submission {
                index,
                intended,
                retry: retry.saturating_add(1),
                urgent: false,
            },
            due_ns,
        }));
    }

    /// Believable validator `b`'s open transactions are abandoned (crash or ban): undone
    /// in the ordering view and re-submitted by their clients after `delay_ns`.
    fn drop_open(&mut self, b: usize, delay_ns: u64) {
        let open = std::mem::take(&mut self.believable[b].open);
        for t in &open {
            self.open_owner.remove(&t.id);
        }
        let due = self.now + delay_ns;
        let signer = self.believable[b].id;
        // Clients re-submit in order, before the clients of transactions that spent
        // these outputs (dropped or excluded by the reverts below) re-submit theirs.
        for opt in &open {
            self.resubmit(opt.index, opt.retry, opt.intended, due);
        }
        for opt in open.iter().rev() {
            let tx = self.tx_of(opt).clone();
            self.revert_order(&tx, opt.id);
            self.exposure[signer.0 as usize].settle(opt.value);
            self.forged.remove(&(opt.index, opt.retry));
        }
    }

    fn process_batch(&mut self, now_ns: u64) {
        self.take_batch();
        let workload = Arc::clone(&self.workload);
        let part = &workload.shards[self.id.0 as usize];
        self.batch_id.clear();
        self.batch_verdict.clear();
        self.batch_route.clear();
        let timeout = self.params.reroute_timeout_ns;
        for position in 0..self.batch_index.len() {
            let index = self.batch_index[position];
            let tx = &part.txs[index as usize];
            let mut route = self.route_of(tx, self.batch_retry[position]);
            if let Route::Believable(b) = route
                && self.drops(b as usize)
            {
                // The client hears nothing and re-routes after its timeout.
                self.believable[b as usize].missed += 1;
                let (retry, intended) = (self.batch_retry[position], self.batch_intended[position]);
                self.resubmit(index, retry, intended, now_ns + timeout);
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
            let tx = &part.txs[self.batch_index[position as usize] as usize];
            self.batch_verdict[position as usize].get_or_insert(Rejection::BadSignature {
                owner: tx.witnesses[0].owner,
            });
        }
        // Touch every input's map slot first: independent lookups overlap their cache
        // misses, where the dependent checks of the apply loop below would take them one
        // at a time.
        for &index in &self.batch_index {
            for input in &part.txs[index as usize].inputs {
                std::hint::black_box(self.utxo_order.get(input));
            }
        }
        for position in 0..self.batch_index.len() {
            let route = self.batch_route[position];
            if route == Route::Dropped {
                continue;
            }
            let index = self.batch_index[position];
            let tx = &part.txs[index as usize];
            let id = self.batch_id[position];
            let intended = self.batch_intended[position];
            let retry = self.batch_retry[position];
            let value: u128 = tx.outputs.iter().map(|o| u128::from(o.amount.0)).sum();
            if let (Route::Believable(b), None) = (route, self.batch_verdict[position]) {
                let signer = self.believable[b as usize].id.0 as usize;
                if !self.exposure[signer].try_admit(value) {
                    // The validator stops signing at its cap; the client re-routes.
                    self.pob.exposure_deferrals += 1;
                    self.resubmit(index, retry, intended, now_ns + timeout);
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
                        index,
                        id,
                        intended,
                        retry,
                        value,
                        forged: false,
                        replay: false,
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
        self.seal_all();
    }

    /// Believable validators sign what they checked in this batch.
    fn seal_all(&mut self) {
        for b in 0..self.believable.len() {
            self.seal_opt(b);
        }
    }

    /// Verifies what is queued in the ordering verifier; failed entries' tags go to
    /// `self.bad`.
    fn run_verifier(&mut self) {
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
    fn admit_single(&mut self, tx: &Transaction, opt: OptTx, now_ns: u64) {
        // Everything the believable validators accepted before it is signed and applied
        // first (it may spend those outputs).
        self.seal_all();
        self.check_arrivals();
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
    fn flush_direct(&mut self) {
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
    fn admit(&mut self, b: usize, mut opt: OptTx, now_ns: u64) {
        let workload = Arc::clone(&self.workload);
        for input in &workload.shards[self.id.0 as usize].txs[opt.index as usize].inputs {
            if let Some(&other) = self.open_owner.get(&input.tx)
                && usize::from(other) != b
            {
                self.seal_opt(usize::from(other));
            }
        }
        self.open_owner.insert(opt.id, b as u16);
        let id = self.believable[b].id;
        let seq = self.believable[b].seq;
        if let Some(fault) = self.faults.get_mut(&id.0)
            && fault.behaviour == Behaviour::BadSignature
            && fault.strikes(seq)
        {
            // It corrupts the signature of a transaction it was sent (and checked).
            let mut forged =
                self.workload.shards[self.id.0 as usize].txs[opt.index as usize].clone();
            forged.witnesses[0].signature[0] ^= 0x01;
            self.forged.insert((opt.index, opt.retry), forged);
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
    fn tx_of(&self, opt: &OptTx) -> &Transaction {
        tx_in(&self.forged, &self.workload.shards[self.id.0 as usize], opt)
    }

    /// Believable validator `b` signs its open OptBlock; the normal validator checks it.
    fn seal_opt(&mut self, b: usize) {
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
        let mut equivocate = false;
        if let Some(fault) = self.faults.get_mut(&signer.0) {
            let behaviour = fault.behaviour;
            match behaviour {
                Behaviour::DoubleSpend | Behaviour::Equivocate if fault.strikes(seq) => {
                    if behaviour == Behaviour::Equivocate {
                        equivocate = true;
                    } else if let Some(mut again) = self.believable[b].last_included {
                        // It includes again a transaction from one of its earlier blocks.
                        again.replay = true;
                        again.value = 0;
                        txs.push(again);
                    }
                }
                _ => {}
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
        for t in txs.iter().filter(|t| !t.replay) {
            self.fx.outcomes.push(Outcome::Provisional {
                index: t.index,
                id: t.id,
                intended: t.intended,
            });
            self.counters.provisional += 1;
        }
        let believable = &mut self.believable[b];
        believable.last_included = txs.iter().rev().find(|t| !t.replay && !t.forged).copied();
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

    /// The normal validator checks an OptBlock as it arrives (see the module doc) and
    /// keeps it until it is final.
    fn check_opt(
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
            self.blame(Proof::Equivocation(proof));
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
        let part = &self.workload.shards[self.id.0 as usize];
        for (position, opt) in block.txs.iter().enumerate() {
            if opt.excluded {
                continue;
            }
            let tx = tx_in(&self.forged, part, opt);
            let id = tx.id();
            if let Err(rejection) = self.utxo.apply(tx, id) {
                failed.push((position, rejection.reason()));
            }
        }
        let full_check = self.validators.records[signer.0 as usize].banned;
        if !full_check {
            self.draw_samples(&mut block, arrival);
        }
        self.inflight.push_back(block);
        // Every failed transaction is out before any proof is acted on (a slash re-checks
        // the signer's blocks, and must not undo these twice).
        let failed: Vec<(OptTx, usize, RejectReason)> = failed
            .into_iter()
            .map(|(position, reason)| {
                let block = self.block_mut(arrival);
                block.txs[position].excluded = true;
                (block.txs[position], position, reason)
            })
            .collect();
        let mut proofs = Vec::with_capacity(failed.len());
        for (opt, position, reason) in failed {
            // It failed its check, so the normal view never applied it.
            let tx = self.tx_of(&opt).clone();
            self.withdraw(&opt, Some(signer), false);
            let path = merkle::prove(&leaves, position).expect("position is in the block");
            proofs.push(Proof::FailedCheck(CheckProof {
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
    fn draw_samples(&mut self, block: &mut OptBlock, arrival: u64) {
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
            let opt = block.txs[position];
            if opt.excluded || opt.replay {
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
            let tx = tx_in(
                &self.forged,
                &self.workload.shards[self.id.0 as usize],
                &opt,
            );
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

    fn block_mut(&mut self, arrival: u64) -> &mut OptBlock {
        &mut self.inflight[(arrival - self.inflight_base) as usize]
    }

    /// Verifies the queued sample signatures; a failure is a fraud proof.
    fn verify_samples(&mut self) {
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
            let opt = block.txs[entry.position as usize];
            if opt.excluded {
                continue;
            }
            let proof = FraudProof {
                header: block.signed.expect("only signed OptBlocks are sampled"),
                tx: self.tx_of(&opt).clone(),
                path: self.path_in(entry.block, entry.position as usize),
            };
            self.blame(Proof::BadSignature(proof));
        }
        self.sample_entries = entries;
        self.sample_entries.clear();
        self.sample_since_ns = None;
    }

    fn path_in(&self, arrival: u64, position: usize) -> merkle::MerkleProof {
        let block = &self.inflight[(arrival - self.inflight_base) as usize];
        let leaves: Vec<Hash> = block
            .txs
            .iter()
            .map(|t| self.tx_of(t).witnessed_hash())
            .collect();
        merkle::prove(&leaves, position).expect("position is in the block")
    }

    /// A proof against a believable validator: verified as anyone would, then the
    /// culprit is slashed (once), its unsigned work dropped, and everything it signed
    /// that is not final re-verified in full.
    fn blame(&mut self, proof: Proof) {
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
            Proof::BadSignature(_) => 0,
            Proof::Equivocation(_) => 1,
            Proof::FailedCheck(_) => 2,
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
    fn recheck(&mut self, arrival: u64) {
        let index = (arrival - self.inflight_base) as usize;
        let count = self.inflight[index].txs.len();
        for position in 0..count {
            let opt = self.inflight[index].txs[position];
            if opt.excluded {
                continue;
            }
            let tx = tx_in(
                &self.forged,
                &self.workload.shards[self.id.0 as usize],
                &opt,
            );
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
    fn exclude(&mut self, arrival: u64, position: usize) {
        let block = self.block_mut(arrival);
        let opt = block.txs[position];
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
    /// and in the ordering view unless it is a replay (never applied there), and its
    /// value leaves its signer's exposure.
    fn withdraw(&mut self, opt: &OptTx, signer: Option<ValidatorId>, in_normal_view: bool) {
        let tx = self.tx_of(opt).clone();
        if !opt.replay {
            self.harm(opt);
        }
        if in_normal_view {
            self.revert_view(&tx, opt.id, true);
        }
        if !opt.replay {
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
    fn harm(&mut self, opt: &OptTx) {
        self.pob.harmed += 1;
        self.pob.harmed_value += opt.value;
        self.resubmit(opt.index, opt.retry, opt.intended, self.now);
    }

    /// Undoes `tx` in the normal view (`normal`) or the ordering view, first excluding or
    /// dropping whatever spent its outputs.
    fn revert_view(&mut self, tx: &Transaction, id: TxId, normal: bool) {
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

    fn revert_order(&mut self, tx: &Transaction, id: TxId) {
        self.revert_view(tx, id, false);
    }

    /// A transaction that spent an output of one being reverted: excluded if it is in
    /// an OptBlock, dropped from its validator's open block otherwise.
    fn undo_dependent(&mut self, id: TxId) {
        for k in 0..self.inflight.len() {
            if let Some(position) = self.inflight[k]
                .txs
                .iter()
                .position(|t| t.id == id && !t.excluded && !t.replay)
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
                .position(|t| t.id == id && !t.excluded && !t.replay)
            {
                // Signed but not checked yet: excluded before the normal view applies it.
                let arrival = &mut self.arrivals[k];
                arrival.block.txs[position].excluded = true;
                let (opt, signer) = (arrival.block.txs[position], arrival.signer);
                self.withdraw(&opt, Some(signer), false);
                return;
            }
        }
        for b in 0..self.believable.len() {
            if let Some(position) = self.believable[b].open.iter().position(|t| t.id == id) {
                let opt = self.believable[b].open.remove(position);
                self.open_owner.remove(&opt.id);
                self.resubmit(opt.index, opt.retry, opt.intended, self.now);
                let tx = self.tx_of(&opt).clone();
                self.revert_order(&tx, opt.id);
                let signer = self.believable[b].id.0 as usize;
                self.exposure[signer].settle(opt.value);
                self.forged.remove(&(opt.index, opt.retry));
                return;
            }
        }
        panic!("{id:?} spent an output being reverted but is in no unfinalized block");
    }

    /// The normal league's leader proposes a FinalBlock over the OptBlocks older than
    /// the challenge window (a prefix of the order they were applied in), with the proofs
    /// and exclusions since the last one. Returns whether it built one.
    fn finalize(&mut self, now_ns: u64) -> bool {
        self.order_atomix();
        self.flush_direct();
        let window = self.params.challenge_window_ns;
        let old_enough = |b: &OptBlock| b.signed.is_none() || b.sealed_ns + window <= now_ns;
        if self
            .inflight
            .iter()
            .take_while(|b| old_enough(b))
            .any(|b| b.unsampled > 0)
        {
            self.verify_samples();
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
            txs.extend(block.txs.iter().filter(|t| !t.excluded));
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
                .filter(|t| !t.replay)
                .map(|t| (t.index, t.intended)),
        );
        self.pob.forged_final += txs.iter().filter(|t| t.forged).count() as u64;
        let ids: Vec<TxId> = txs.iter().map(|t| t.id).collect();
        let workload = Arc::clone(&self.workload);
        let part = &workload.shards[self.id.0 as usize];
        let forged = std::mem::take(&mut self.forged);
        let tx_refs: Vec<&Transaction> = txs.iter().map(|t| tx_in(&forged, part, t)).collect();
        // The record's annex (blocklog::Annex), which lets anyone rebuild every
        // referenced OptBlock's root: where the league's own batches sit among the
        // OptBlocks, the excluded transactions as signed, and who is charged a missed
        // duty below.
        let mut annex = Annex::default();
        for block in &blocks {
            annex.block(block.signed.is_some(), block.txs.len());
            for (position, t) in block.txs.iter().enumerate().filter(|(_, t)| t.excluded) {
                annex.exclude(position, tx_in(&forged, part, t));
            }
        }
        annex.missed = (self.believable.iter())
            .filter(|b| b.missed > 0)
            .map(|b| b.id.0)
            .collect();
        self.commit_block(&ids, tx_refs, &body, &entries, &signers, finals, &annex);
        self.forged = forged;
        self.atomix.coordinate(self.height);
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
        for t in blocks.iter().flat_map(|b| &b.txs).filter(|t| t.forged) {
            self.forged.remove(&(t.index, t.retry));
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
    fn commit_block(
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
        let cosig = sign_round(
            &self.roster,
            &self.roster_keys,
            signers,
            &header_hash.0,
            &fresh,
        );
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
    fn start_epoch(&mut self) {
        self.validators.select(&self.params, self.id, self.epoch);
        let believable = self.validators.leagues.believable().to_vec();
        self.pob
            .league_history
            .push(believable.iter().map(|id| id.0).collect());
        self.pob.epochs += 1;
        if !self.split() {
            self.pob.single_league_epochs += 1;
        }
        // The adversary holds up to `count` corrupted validators that can still be
        // selected: whenever it has fewer, it corrupts believable validators of the new
        // epoch, lowest league index first (slashed ones are banned for good; crashed
        // ones lose eligibility through missed duty).
        if self.params.byzantine_in(self.id) {
            let count = self.params.byzantine.as_ref().map_or(0, |b| b.count);
            let score = self.params.score;
            let mut active = self
                .validators
                .byzantine
                .iter()
                .filter(|id| score.eligible(&self.validators.records[id.0 as usize]))
                .count();
            for &id in &believable {
                if active >= count {
                    break;
                }
                if !self.faults.contains_key(&id.0)
                    && let Some(fault) = self.params.fault(id, self.seed, self.id)
                {
                    self.faults.insert(id.0, fault);
                    self.validators.byzantine.push(id);
                    active += 1;
                }
            }
        }
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
    fn next_epoch(&mut self) {
        for b in 0..self.believable.len() {
            self.seal_opt(b);
        }
        self.epoch = Epoch(self.epoch.0 + 1);
        self.start_epoch();
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
                self.atomix.publish(std::mem::take(&mut block.publish));
            }
            self.spare_finals.push(block.txs);
        }
    }

    /// The normal league orders the Atomix requests that arrived since its last
    /// FinalBlock, after everything the believable validators accepted before them is
    /// signed and applied (so the two UTXO views agree): lock requests not verified in
    /// an ordering batch yet in one signature batch, then each request in arrival order.
    /// The entries go into the FinalBlock being proposed now.
    fn order_atomix(&mut self) {
        // At most once per FinalBlock interval: a `finalize` that seals nothing (every
        // request held back, nothing else ready) runs again at the next poll.
        let now_ns = self.now;
        if self.atomix.ops.is_empty()
            || now_ns.saturating_sub(self.last_ordered_ns) < self.params.final_interval_ns
        {
            return;
        }
        self.last_ordered_ns = now_ns;
        self.seal_all();
        self.check_arrivals();
        self.flush_direct();
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
    fn push_lock_witnesses(&mut self, base: u32) -> Vec<(usize, Owner)> {
        let shard_count = self.workload.shards.len() as u32;
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
    fn settle_lock_witnesses(&mut self, pushed: Vec<(usize, Owner)>, base: u32) {
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

    /// An Atomix request, or a proof published to this shard as a named input shard,
    /// arrived at `now_ns`.
    pub fn deliver(&mut self, now_ns: u64, body: MessageBody) {
        self.now = now_ns;
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

/// The transaction an OptBlock entry stands for: the forged copy if its signer corrupted
/// it, the client's transaction from the stream otherwise.
fn tx_in<'a>(
    forged: &'a FxHashMap<(u32, u16), Transaction>,
    part: &'a ShardWorkload,
    opt: &OptTx,
) -> &'a Transaction {
    if opt.forged {
        &forged[&(opt.index, opt.retry)]
    } else {
        &part.txs[opt.index as usize]
    }
}
