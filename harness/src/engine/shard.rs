//! One shard's leader: the per-shard state machine the worker threads poll.
//!
//! Flow per poll: take the ranges of the shard's stream that the driver released (its
//! inbox), verify up to `verify_batch_max` transactions at once (structure, then every
//! witness in one ed25519 batch, bisected on failure), validate and apply them in
//! order to the shard's UTXO set, and append the accepted ones to the open block. A
//! block is sealed when it holds `block_tx_max` transactions or its first transaction
//! is `block_interval_ms` old: its header (Merkle root of the ids) makes its
//! transactions provisional; the roster's CoSi over the header makes the final
//! certificate; the encoded record goes to the store thread; the store's
//! acknowledgement makes the block's transactions final.
//!
//! Invariants: transactions are applied in stream order; every released transaction
//! ends either in exactly one block or rejected with a reason; a block's transactions
//! are final only after its record is persisted; no allocation per transaction (buffers
//! are reused, blocks are encoded straight from the workload).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::channel::{Receiver, Sender, TrySendError};
use ioschain_core::block::{BlockHeader, FinalCertificate};
use ioschain_core::crypto::cosi::{Roster, Signers, ValidatorKey, sign_round};
use ioschain_core::crypto::sig::{BatchVerifier, KeyCache};
use ioschain_core::merkle;
use ioschain_core::prg::Prg;
use ioschain_core::tx::{RejectReason, Rejection};
use ioschain_core::types::{Epoch, Hash, Height, ShardId, TxId};
use ioschain_core::utxo::UtxoSet;
use ioschain_workloads::{Expected, Workload};

use super::Clock;
use super::store::{Append, Persisted};
use crate::blocklog::encode_record;
use crate::metrics::{ShardMetrics, Stage};

/// A range of the shard's stream released by the driver.
#[derive(Clone, Copy, Debug)]
pub struct Submit {
    /// First index released.
    pub start: u32,
    /// One past the last index released.
    pub end: u32,
    /// How the intended send time of each transaction is known.
    pub timing: Timing,
}

/// Intended send times.
#[derive(Clone, Copy, Debug)]
pub enum Timing {
    /// Open loop: transaction `k` was due at `k / rate` seconds after the start.
    Scheduled {
        /// Nanoseconds between two transactions of this shard.
        spacing_ns: f64,
    },
    /// Closed loop: all were sent at this time (ns since the start).
    SentAt(u64),
}

impl Timing {
    fn intended_ns(self, index: u32) -> u64 {
        match self {
            Timing::Scheduled { spacing_ns } => (f64::from(index) * spacing_ns) as u64,
            Timing::SentAt(ns) => ns,
        }
    }
}

/// Counts kept by a shard.
#[derive(Clone, Debug, Default)]
pub struct ShardCounters {
    /// Transactions released to the shard.
    pub submitted: u64,
    /// Transactions in built blocks.
    pub provisional: u64,
    /// Transactions in persisted, certified blocks.
    pub final_: u64,
    /// Rejections by reason (indexed like [`RejectReason::ALL`]).
    pub rejected: [u64; RejectReason::ALL.len()],
    /// Outcomes that differ from what the workload expected (must be zero).
    pub mismatched: u64,
    /// The first mismatch, for the report.
    pub first_mismatch: Option<String>,
    /// Blocks sealed.
    pub blocks: u64,
    /// Signature batch equations evaluated (bisection included).
    pub verify_batches: u64,
    /// Signatures verified.
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

/// A sealed block waiting for persistence.
struct Sealed {
    height: u64,
    intended: Vec<u64>,
}

/// The shard's leader state.
pub struct Shard {
    /// The shard's id.
    pub id: ShardId,
    workload: Arc<Workload>,
    /// The UTXO set.
    pub utxo: UtxoSet,
    keys: KeyCache,
    verifier: BatchVerifier,
    roster_keys: Vec<ValidatorKey>,
    /// The roster (certificates verify against it).
    pub roster: Roster,
    signers: Signers,
    nonce_seed: Prg,
    epoch: Epoch,
    height: u64,
    prev: Hash,
    inbox: Receiver<Submit>,
    pending: VecDeque<Submit>,
    batch_index: Vec<u32>,
    batch_id: Vec<TxId>,
    batch_intended: Vec<u64>,
    batch_verdict: Vec<Option<Rejection>>,
    bad: Vec<u32>,
    open_index: Vec<u32>,
    open_id: Vec<TxId>,
    open_intended: Vec<u64>,
    open_since_ns: u64,
    sealed: VecDeque<Sealed>,
    spare_intended: Vec<Vec<u64>>,
    spare_buffers: Vec<Vec<u8>>,
    merkle_scratch: Vec<Hash>,
    store: Option<Sender<Append>>,
    worker: usize,
    verify_batch_max: usize,
    verify_batch_min: usize,
    verify_wait_ns: u64,
    pending_count: usize,
    block_tx_max: usize,
    block_interval_ns: u64,
    /// Final plus rejected, for the closed-loop driver.
    pub done: Arc<AtomicU64>,
    /// Counters.
    pub counters: ShardCounters,
    /// Latency recorder.
    pub metrics: ShardMetrics,
    /// The run's clock (set when the run starts).
    pub clock: Clock,
    /// The store thread stopped (a write or flush failed).
    pub store_failed: bool,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// What a shard needs to start.
pub struct ShardSetup {
    /// The shard.
    pub id: ShardId,
    /// The workload (genesis and stream).
    pub workload: Arc<Workload>,
    /// The roster's keys (the simulated validators), member `i` = roster index `i`.
    pub roster_keys: Vec<ValidatorKey>,
    /// Seed of the CoSi nonce material (fresh per run).
    pub nonce_seed: [u8; 32],
    /// The driver's channel.
    pub inbox: Receiver<Submit>,
    /// The store's channel.
    pub store: Sender<Append>,
    /// The worker that runs this shard.
    pub worker: usize,
    /// Engine limits.
    pub verify_batch_max: usize,
    /// A batch is verified once this many transactions are pending…
    pub verify_batch_min: usize,
    /// …or once the oldest pending one is this old (ns past its intended time).
    pub verify_wait_ns: u64,
    /// Block size bound.
    pub block_tx_max: usize,
    /// Block age bound.
    pub block_interval_ns: u64,
    /// Spent entries kept for double-spend attribution.
    pub spent_retention: usize,
    /// Metrics recorder.
    pub metrics: ShardMetrics,
    /// The run's clock.
    pub clock: Clock,
}

impl std::fmt::Debug for ShardSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSetup")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// A shard at genesis.
    pub fn new(setup: ShardSetup) -> Shard {
        let members: Vec<_> = setup
            .roster_keys
            .iter()
            .map(|k| (k.public(), k.prove_possession()))
            .collect();
        let roster =
            Roster::new(&members).expect("roster keys derived from seeds are valid and distinct");
        let part = &setup.workload.shards[setup.id.0 as usize];
        let mut utxo = UtxoSet::with_spent_retention(part.genesis.len() * 2, setup.spent_retention);
        for (outpoint, output) in &part.genesis {
            utxo.create(*outpoint, *output)
                .expect("genesis outpoints are distinct");
        }
        let signers = Signers::all(roster.len());
        let capacity = setup.block_tx_max.max(setup.verify_batch_max);
        Shard {
            id: setup.id,
            utxo,
            keys: KeyCache::new(),
            verifier: BatchVerifier::with_capacity(setup.verify_batch_max * 2),
            roster_keys: setup.roster_keys,
            roster,
            signers,
            nonce_seed: Prg::new(&[
                b"ioschain/cosi-fresh",
                &setup.nonce_seed,
                &setup.id.0.to_le_bytes(),
            ]),
            epoch: Epoch(0),
            height: 0,
            prev: Hash::ZERO,
            inbox: setup.inbox,
            pending: VecDeque::new(),
            batch_index: Vec::with_capacity(setup.verify_batch_max),
            batch_id: Vec::with_capacity(setup.verify_batch_max),
            batch_intended: Vec::with_capacity(setup.verify_batch_max),
            batch_verdict: Vec::with_capacity(setup.verify_batch_max),
            bad: Vec::new(),
            open_index: Vec::with_capacity(capacity),
            open_id: Vec::with_capacity(capacity),
            open_intended: Vec::with_capacity(capacity),
            open_since_ns: 0,
            sealed: VecDeque::new(),
            spare_intended: Vec::new(),
            spare_buffers: Vec::new(),
            merkle_scratch: Vec::with_capacity(capacity),
            store: Some(setup.store),
            worker: setup.worker,
            verify_batch_max: setup.verify_batch_max,
            verify_batch_min: setup.verify_batch_min.min(setup.verify_batch_max),
            verify_wait_ns: setup.verify_wait_ns,
            pending_count: 0,
            block_tx_max: setup.block_tx_max,
            block_interval_ns: setup.block_interval_ns,
            done: Arc::new(AtomicU64::new(0)),
            counters: ShardCounters::default(),
            metrics: setup.metrics,
            clock: setup.clock,
            store_failed: false,
            workload: setup.workload,
        }
    }

    /// Whether nothing is pending: no released transaction unprocessed, no open block,
    /// no block awaiting persistence.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
            && self.open_index.is_empty()
            && self.sealed.is_empty()
            && self.inbox.is_empty()
    }

    /// One step at time `now_ns`: take released ranges, verify and apply a batch, seal a
    /// block if due. Returns whether there was work.
    pub fn poll(&mut self, now_ns: u64) -> bool {
        self.metrics.at(now_ns);
        let mut worked = false;
        while let Ok(submit) = self.inbox.try_recv() {
            self.counters.submitted += u64::from(submit.end - submit.start);
            self.pending_count += (submit.end - submit.start) as usize;
            self.pending.push_back(submit);
            worked = true;
        }
        // Batches verify faster per signature the larger they are (BENCHMARKING.md:
        // 67k sig/s at 64, 98k at 1024 on one core), so a shard that keeps up waits for
        // `verify_batch_min` transactions, but never lets the oldest wait past
        // `verify_wait`.
        if let Some(front) = self.pending.front() {
            let oldest_ns = front.timing.intended_ns(front.start);
            if self.pending_count >= self.verify_batch_min
                || now_ns.saturating_sub(oldest_ns) >= self.verify_wait_ns
            {
                self.process_batch(now_ns);
                worked = true;
            }
        }
        if !self.open_index.is_empty()
            && now_ns.saturating_sub(self.open_since_ns) >= self.block_interval_ns
        {
            self.seal(now_ns);
            worked = true;
        }
        worked
    }

    fn take_batch(&mut self) {
        self.batch_index.clear();
        self.batch_intended.clear();
        while self.batch_index.len() < self.verify_batch_max {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let take = (front.end - front.start)
                .min((self.verify_batch_max - self.batch_index.len()) as u32);
            for index in front.start..front.start + take {
                self.batch_index.push(index);
                self.batch_intended.push(front.timing.intended_ns(index));
            }
            front.start += take;
            self.pending_count -= take as usize;
            if front.start == front.end {
                self.pending.pop_front();
            }
        }
    }

    fn process_batch(&mut self, now_ns: u64) {
        self.take_batch();
        let workload = Arc::clone(&self.workload);
        let part = &workload.shards[self.id.0 as usize];
        self.batch_id.clear();
        self.batch_verdict.clear();
        for (position, &index) in self.batch_index.iter().enumerate() {
            let tx = &part.txs[index as usize];
            let mut verdict = tx.check_structure().err();
            let id = if verdict.is_none() {
                tx.id()
            } else {
                TxId::default()
            };
            if verdict.is_none() {
                for witness in &tx.witnesses {
                    match self.keys.get(&witness.owner) {
                        Some(key) => {
                            self.verifier
                                .push(id.0.0, &witness.signature, key, position as u32);
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
            self.batch_id.push(id);
            self.batch_verdict.push(verdict);
        }
        let (batches, singles) = (
            self.verifier.batches_verified(),
            self.verifier.singles_verified(),
        );
        self.bad.clear();
        self.verifier.verify(&mut self.bad);
        self.counters.verify_batches += self.verifier.batches_verified() - batches;
        self.counters.verify_singles += self.verifier.singles_verified() - singles;
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
                std::hint::black_box(self.utxo.get(input));
            }
        }
        for position in 0..self.batch_index.len() {
            let index = self.batch_index[position];
            let tx = &part.txs[index as usize];
            let id = self.batch_id[position];
            let outcome = match self.batch_verdict[position] {
                Some(rejection) => Err(rejection),
                None => self.utxo.apply(tx, id).map(|_| ()),
            };
            let expected = part.expected[index as usize];
            match outcome {
                Ok(()) => {
                    if expected != Expected::Valid {
                        self.mismatch(index, format!("accepted, expected {expected:?}"));
                    }
                    if self.open_index.is_empty() {
                        self.open_since_ns = now_ns;
                    }
                    self.open_index.push(index);
                    self.open_id.push(id);
                    self.open_intended.push(self.batch_intended[position]);
                    if self.open_index.len() >= self.block_tx_max {
                        self.seal(now_ns);
                    }
                }
                Err(rejection) => {
                    let reason = rejection.reason();
                    if expected != Expected::Invalid(reason) {
                        self.mismatch(
                            index,
                            format!("rejected ({rejection}), expected {expected:?}"),
                        );
                    }
                    let slot = RejectReason::ALL
                        .iter()
                        .position(|r| *r == reason)
                        .expect("listed");
                    self.counters.rejected[slot] += 1;
                    self.metrics.rejected();
                    self.done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn mismatch(&mut self, index: u32, what: String) {
        self.counters.mismatched += 1;
        if self.counters.first_mismatch.is_none() {
            self.counters.first_mismatch = Some(format!("shard {} tx {index}: {what}", self.id));
        }
    }

    /// Seals the open block: header, provisional, CoSi certificate, record to the store.
    fn seal(&mut self, _due_ns: u64) {
        // Read the clock: a batch may have taken milliseconds since the poll began.
        self.metrics.at(self.clock.now_ns());
        let workload = Arc::clone(&self.workload);
        let part = &workload.shards[self.id.0 as usize];
        let header = BlockHeader {
            shard: self.id,
            epoch: self.epoch,
            height: Height(self.height),
            prev: self.prev,
            tx_root: merkle::root_of(self.open_id.iter().map(|id| id.0), &mut self.merkle_scratch),
            tx_count: self.open_index.len() as u32,
        };
        for &intended in &self.open_intended {
            self.metrics.record(Stage::Provisional, intended);
        }
        self.counters.provisional += self.open_index.len() as u64;
        let header_hash = header.hash();
        let fresh = self.nonce_seed.bytes32();
        let cosig = sign_round(
            &self.roster,
            &self.roster_keys,
            &self.signers,
            &header_hash.0,
            &fresh,
        );
        let certificate = FinalCertificate { header_hash, cosig };
        // The leader checks the aggregate before publishing it; failing here is a bug.
        certificate
            .verify(&header, &self.roster)
            .expect("the roster's own cosignature verifies");
        let mut bytes = self.spare_buffers.pop().unwrap_or_default();
        bytes.clear();
        encode_record(
            &mut bytes,
            &header,
            self.open_index.iter().map(|&i| &part.txs[i as usize]),
            &certificate,
        );
        let append = Append {
            shard: self.id.0,
            height: self.height,
            bytes,
            worker: self.worker,
        };
        let store = self.store.as_ref().expect("a running shard has its store");
        let sent = match store.try_send(append) {
            Ok(()) => true,
            Err(TrySendError::Full(append)) => {
                self.counters.store_backpressure += 1;
                self.metrics.backpressure();
                store.send(append).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        // The store only stops early when a write or flush failed; the run is then
        // aborted and the store's error reported (the block is never final).
        if !sent {
            self.store_failed = true;
        }
        let spare = self.spare_intended.pop().unwrap_or_default();
        let intended = std::mem::replace(&mut self.open_intended, spare);
        self.sealed.push_back(Sealed {
            height: self.height,
            intended,
        });
        self.open_index.clear();
        self.open_id.clear();
        self.counters.blocks += 1;
        self.prev = header_hash;
        self.height += 1;
    }

    /// The store persisted this shard's chain up to `ack.height`: those blocks' transactions
    /// are final.
    pub fn on_persisted(&mut self, ack: Persisted) {
        self.metrics.at(self.clock.now_ns());
        self.spare_buffers.extend(ack.buffers);
        while self.sealed.front().is_some_and(|s| s.height <= ack.height) {
            let mut block = self.sealed.pop_front().expect("checked");
            for &intended in &block.intended {
                self.metrics.record(Stage::Final, intended);
            }
            let n = block.intended.len() as u64;
            self.counters.final_ += n;
            self.done.fetch_add(n, Ordering::Relaxed);
            block.intended.clear();
            self.spare_intended.push(block.intended);
        }
    }

    /// Drops the shard's sender to the store, so the store ends once every shard has
    /// stopped.
    pub fn close_store(&mut self) {
        self.store = None;
    }
}
