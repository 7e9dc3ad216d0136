//! Atomix at a shard node (PROTOCOL.md §5): what a shard's validators do with
//! cross-shard messages (the shard side), and the coordinator rule (`coordinator`).
//! The per-transaction state machines are `crate::atomix`; this module queues requests,
//! applies them when the normal league orders them into a FinalBlock
//! (`super::atomix_order`), and publishes proofs. The clients of cross-shard
//! transactions are the host's (the engine's `client` module): they talk to shards
//! only by these messages.
//!
//! # Message flow
//!
//! 1. The driver releases a cross-shard transaction into its *home* shard's stream; its
//!    client there sends a lock request
//!    ([`AtomixRequest::Lock`]) to every named input shard (the two of a conflicting pair go out together, in opposite
//!    orders at the two input shards).
//! 2. A shard queues every request it receives ([`AtomixNode::deliver`]). Lock requests'
//!    signatures join the ordering step's next signature batch. At its next FinalBlock
//!    the normal league orders the queue ([`AtomixNode::apply`]), after every OptBlock
//!    before it is signed and checked, so the ordering view and the normal view agree:
//!    lock or reject, unlock-to-commit, unlock-to-abort, each applied to both views. A
//!    lock request waits while an input it takes is created by a transaction that is not
//!    final yet; one whose input is unknown here waits at most `t_unlock` FinalBlocks and
//!    is then refused. The rule is the same for every sender: clients send their lock
//!    requests only once the transactions that created their inputs are done
//!    (`ioschain_workloads::clients`), so an honest request finds its inputs.
//! 3. Each decision is an [`Entry`] of the next FinalBlock (its header's `atomix_root`),
//!    ahead of OptBlocks still in their challenge window: the normal league checked the
//!    operation in full, and a lock only takes final outputs, so the block log still
//!    replays in order. Once that block is persisted its entries are final, and the
//!    shard publishes each entry's [`EntryProof`] (header, certificate, Merkle path) to the
//!    transaction's client and to every named input shard ([`AtomixNode::publish`]): the
//!    gossip the coordinator rule relies on.
//! 4. The client gathers the proofs and, once every named shard decided, builds with
//!    `resolve_with` the unlock-to-commit (every named shard locked) or unlock-to-abort
//!    (one refused) and sends it. It forwards the proofs as the shards published them:
//!    every shard verifies each proof it acts on. It is done when every shard that had
//!    to apply the unlock published that it did; a committed transaction's
//!    `cross_shard` latency ends then (the last output shard's commit is final).
//! 5. Every named input shard keeps the proofs that reach it (also before it has decided
//!    itself). At each FinalBlock it looks at the transactions without news for
//!    `t_unlock` blocks: if the proofs show the transaction finished it forgets it,
//!    otherwise, as coordinator (or backup, after twice as long), it sends what is
//!    missing ([`AtomixNode::coordinate`]) and waits twice as long before acting again.
//!
//! Shards never trust an unsigned word of another shard: every proof a shard acts on is
//! checked against the roster of its block's shard (each distinct certificate once, then
//! a Merkle path per proof). (A coordinator forgets a finished transaction on the
//! entries it was sent, unverified: that can cost liveness, never safety.) Clients only
//! hold their own transactions, what they know about them (declaration,
//! behaviour, pair partner, where their inputs come from), and the proofs published to
//! them; when a client's transaction is done it tells the clients waiting for it
//! ([`MessageBody::Receipt`], which the validators ignore).
//!
//! Invariants: a shard's Atomix state changes only in [`AtomixNode::apply`], identically
//! in both UTXO views; one decision per (transaction, shard); an entry is published only
//! after its block is persisted (A8: proofs reference final blocks).
//!
//! Not done: decisions and the CommittedSet are never pruned (core defines no horizon
//! after which a request may be refused outright), so they grow by one entry per
//! cross-shard transaction for the whole run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::atomix::{
    AbortOutcome, AtomixError, AtomixShard, CommitOutcome, CrossTx, Entry, EntryProof,
    ProofVerifier, Refusal, Resolution, Rosters, Signatures, UnlockToAbort, UnlockToCommit,
};
use crate::crypto::cosi::Roster;
use crate::types::{Epoch, Height, OutPoint, ShardId, TxId};
use crate::utxo::UtxoSet;
use rustc_hash::{FxHashMap, FxHashSet};

mod coordinator;

use coordinator::Watch;
pub use coordinator::settled;

/// The rosters of every shard: public knowledge (the identity chain). The engine's
/// validator set does not change between epochs and its shards run no TransEpoch yet, so
/// one roster per shard serves every epoch and height ([`crate::atomix::RosterBook`]
/// keeps rosters by epoch and height for when they change).
#[derive(Debug)]
pub struct Federation {
    rosters: Vec<Roster>,
}

impl Federation {
    /// The federation of these rosters, by shard.
    pub fn new(rosters: Vec<Roster>) -> Self {
        Federation { rosters }
    }
}

impl Rosters for Federation {
    fn roster(&self, shard: ShardId, _epoch: Epoch, _height: Height) -> Option<&Roster> {
        self.rosters.get(shard.0 as usize)
    }
}

/// A message to a shard.
#[derive(Clone, Debug)]
pub enum MessageBody {
    /// A request the receiving shard orders at its next FinalBlock: a lock request,
    /// an unlock-to-commit or an unlock-to-abort.
    Request(AtomixRequest),
    /// A published proof about a transaction.
    Proof {
        /// The proof.
        proof: Arc<EntryProof>,
        /// The client's home shard.
        client: ShardId,
        /// The receiver is the client's home (client logic takes it).
        for_client: bool,
        /// The receiver is a named input shard (coordinator logic takes it).
        named: bool,
    },
    /// A client tells another: the transaction whose outcome the receiver's client of
    /// stream position `index` waits for is done (final, committed, or failed), or was
    /// shed. Handled by the receiving shard's client side, not by its validators.
    Receipt {
        /// The waiting transaction's position in the receiving shard's stream.
        index: u32,
        /// It was shed (refused at a full intake, or given up because one it depends on
        /// was): the coins the waiter counts on will never exist, so its client gives it
        /// up too.
        shed: bool,
    },
}

/// A message and its destination.
#[derive(Clone, Debug)]
pub struct ShardMessage {
    /// The shard it is for.
    pub to: ShardId,
    /// What it says.
    pub body: MessageBody,
}

/// An operation the normal league orders into the next FinalBlock.
#[derive(Clone, Debug)]
pub enum AtomixRequest {
    /// A lock request.
    Lock {
        /// The transaction.
        xtx: Arc<CrossTx>,
        /// Its id (the receiving shard computes it again on arrival: one hash per
        /// request, not one per look).
        id: TxId,
        /// The client's home.
        client: ShardId,
        /// The receiving shard's height when the request reached it: a request whose
        /// input is unknown here waits at most `t_unlock` FinalBlocks from there.
        queued_at: u64,
        /// The verdict on the witnesses this shard verifies, once verified (in the
        /// ordering step's next batch, or at the FinalBlock).
        verdict: Option<Signatures>,
    },
    /// An unlock-to-commit.
    Commit {
        /// The message.
        unlock: Arc<UnlockToCommit>,
        /// The client's home.
        client: ShardId,
    },
    /// An unlock-to-abort.
    Abort {
        /// The message.
        unlock: Arc<UnlockToAbort>,
        /// The client's home.
        client: ShardId,
    },
}

impl AtomixRequest {
    /// A lock request, as its sender makes it.
    pub fn lock(xtx: Arc<CrossTx>, client: ShardId) -> AtomixRequest {
        AtomixRequest::Lock {
            id: xtx.id(),
            xtx,
            client,
            queued_at: 0,
            verdict: None,
        }
    }
}

/// A shared cross-shard transaction: on its own, or inside the unlock-to-commit that
/// carried it (no copy per entry).
#[derive(Clone, Debug)]
pub enum TxRef {
    /// The transaction.
    Tx(Arc<CrossTx>),
    /// The transaction of an unlock-to-commit.
    Unlock(Arc<UnlockToCommit>),
}

impl std::ops::Deref for TxRef {
    type Target = CrossTx;

    fn deref(&self) -> &CrossTx {
        match self {
            TxRef::Tx(xtx) => xtx,
            TxRef::Unlock(unlock) => &unlock.xtx,
        }
    }
}

/// An entry a FinalBlock carries, with what publishing its proof needs.
#[derive(Clone, Debug)]
pub struct BlockEntry {
    /// The entry.
    pub entry: Entry,
    /// The transaction it is about (logged with the entry).
    pub xtx: TxRef,
    /// The client's home.
    pub client: ShardId,
}

/// Atomix counts of a shard (its own operations and the clients homed there).
#[derive(Clone, Debug, Default)]
pub struct AtomixCounters {
    /// Cross-shard transactions whose clients started here.
    pub dispatched: u64,
    /// Of those, committed everywhere.
    pub committed: u64,
    /// Of those, aborted everywhere.
    pub aborted: u64,
    /// Aborts by the refusal that caused them (indexed like [`Refusal::ALL`]), and
    /// those caused by a lock under another declaration (last slot).
    pub aborted_by: [u64; Refusal::ALL.len() + 1],
    /// Lock entries this shard committed.
    pub locks: u64,
    /// Reject entries.
    pub rejects: u64,
    /// Commit entries.
    pub commits: u64,
    /// Abort entries.
    pub aborts: u64,
    /// Requests that changed nothing: a repeated lock request, a replayed or duplicate
    /// unlock.
    pub repeats: u64,
    /// Unlocks refused (a forged or wrong proof, a missing PoA), by error kind.
    pub refused: FxHashMap<&'static str, u64>,
    /// Coordinator (or backup) actions: forwards, commits and aborts sent.
    pub coordinator_forwards: u64,
    /// See `coordinator_forwards`.
    pub coordinator_commits: u64,
    /// See `coordinator_forwards`.
    pub coordinator_aborts: u64,
    /// Forged proofs clients sent.
    pub forged_sent: u64,
    /// Commits replayed by clients.
    pub replays_sent: u64,
    /// Proofs published (entries of persisted blocks × recipients).
    pub proofs_published: u64,
    /// Proofs for the coordinator rule that did not verify on arrival, dropped.
    pub proofs_dropped: u64,
    /// Times a lock request was held back at an ordering round because an input was
    /// not known, or not final, yet (an unknown one for at most `t_unlock` FinalBlocks).
    pub lock_waits: u64,
    /// Value of the outputs commits created here.
    pub created: u128,
    /// Messages this shard sent to shards of other workers.
    pub messages: u64,
    /// Sends to another worker that found its channel full (kept and sent later).
    pub backpressure: u64,
}

impl AtomixCounters {
    /// Adds `other`'s counts (a shard's validators' and its clients' are kept apart).
    pub fn add(&mut self, other: &AtomixCounters) {
        self.dispatched += other.dispatched;
        self.committed += other.committed;
        self.aborted += other.aborted;
        for (mine, theirs) in self.aborted_by.iter_mut().zip(other.aborted_by) {
            *mine += theirs;
        }
        self.locks += other.locks;
        self.rejects += other.rejects;
        self.commits += other.commits;
        self.aborts += other.aborts;
        self.repeats += other.repeats;
        for (kind, n) in &other.refused {
            *self.refused.entry(kind).or_default() += n;
        }
        self.coordinator_forwards += other.coordinator_forwards;
        self.coordinator_commits += other.coordinator_commits;
        self.coordinator_aborts += other.coordinator_aborts;
        self.forged_sent += other.forged_sent;
        self.replays_sent += other.replays_sent;
        self.proofs_published += other.proofs_published;
        self.proofs_dropped += other.proofs_dropped;
        self.lock_waits += other.lock_waits;
        self.created += other.created;
        self.messages += other.messages;
        self.backpressure += other.backpressure;
    }
}

/// One shard's Atomix side.
#[derive(Debug)]
pub struct AtomixNode {
    shard: ShardId,
    shard_count: u32,
    /// The core state machine.
    pub state: AtomixShard,
    federation: Arc<Federation>,
    verifier: ProofVerifier,
    /// Requests waiting for the next FinalBlock.
    pub ops: Vec<AtomixRequest>,
    /// The transactions of the lock requests in `ops`.
    queued: FxHashSet<TxId>,
    /// Messages to send.
    pub outbox: Vec<ShardMessage>,
    watch: FxHashMap<TxId, Watch>,
    /// When each watched transaction is next looked at (height), earliest first; an
    /// entry made stale by news is re-queued when popped.
    due: BinaryHeap<Reverse<(u64, TxId)>>,
    t_unlock: u64,
    /// Counts.
    pub counters: AtomixCounters,
}

impl AtomixNode {
    /// The Atomix side of `shard`, one of `shard_count`.
    pub fn new(
        shard: ShardId,
        shard_count: u32,
        federation: Arc<Federation>,
        t_unlock: u64,
    ) -> Self {
        AtomixNode {
            shard,
            shard_count,
            state: AtomixShard::new(shard, shard_count),
            federation,
            verifier: ProofVerifier::default(),
            ops: Vec::new(),
            queued: FxHashSet::default(),
            outbox: Vec::new(),
            watch: FxHashMap::default(),
            due: BinaryHeap::new(),
            t_unlock,
            counters: AtomixCounters::default(),
        }
    }

    /// Whether nothing is left to do here: no request to order, no message to send.
    pub fn is_idle(&self) -> bool {
        self.ops.is_empty() && self.outbox.is_empty()
    }

    /// Shards in the federation.
    pub fn shard_count(&self) -> u32 {
        self.shard_count
    }

    /// Whether coordinator duties are pending (the shard keeps producing FinalBlocks,
    /// empty ones if need be, so `t_unlock` elapses).
    pub fn watching(&self) -> bool {
        !self.watch.is_empty()
    }

    /// Clients still working (for a drain that timed out).
    pub fn busy(&self) -> String {
        format!("atomix: ops {} watch {}", self.ops.len(), self.watch.len(),)
    }

    fn send(&mut self, to: ShardId, body: MessageBody) {
        self.outbox.push(ShardMessage { to, body });
    }

    /// Sends the request `op` to each of `to` (a clone each: the payload is shared).
    fn send_all(&mut self, to: impl IntoIterator<Item = ShardId>, op: AtomixRequest) {
        for shard in to {
            self.send(shard, MessageBody::Request(op.clone()));
        }
    }

    /// A message arrived for this shard's validators (a proof addressed to the client
    /// side only is ignored here: the host hands it to the clients).
    pub fn deliver(&mut self, body: MessageBody, height: u64) {
        match body {
            MessageBody::Request(AtomixRequest::Lock { xtx, client, .. }) => {
                // The id as this shard computes it (not the sender's word).
                let id = xtx.id();
                // A request for a transaction whose request is still queued (held back
                // for its inputs) joins it: one decision.
                if !self.queued.insert(id) {
                    self.counters.repeats += 1;
                    return;
                }
                self.ops.push(AtomixRequest::Lock {
                    xtx,
                    id,
                    client,
                    queued_at: height,
                    verdict: None,
                })
            }
            MessageBody::Request(op) => self.ops.push(op),
            // Receipts are between clients; the validators have nothing to do with them.
            MessageBody::Receipt { .. } => {}
            MessageBody::Proof {
                proof,
                client,
                named,
                ..
            } => {
                let tx = proof.entry.tx();
                if named {
                    // Only news resets the coordinator's silence: a proof already held
                    // changes nothing, and one that does not verify (forged, or about a
                    // block no roster certified) is dropped, so nobody can hold a
                    // coordinator off, or fill its memory, by sending proofs.
                    if self
                        .watch
                        .get(&tx)
                        .is_some_and(|w| w.proofs.iter().any(|p| p.entry == proof.entry))
                    {
                        return;
                    }
                    if self.verifier.verify(&proof, &*self.federation).is_err() {
                        self.counters.proofs_dropped += 1;
                        return;
                    }
                    let t_unlock = self.t_unlock;
                    let due = &mut self.due;
                    let watch = self.watch.entry(tx).or_insert_with(|| {
                        due.push(Reverse((height + t_unlock, tx)));
                        Watch {
                            proofs: Vec::new(),
                            last: height,
                            patience: t_unlock,
                            client,
                        }
                    });
                    watch.proofs.push(proof);
                    watch.last = height;
                }
            }
        }
    }

    /// The queued lock requests whose signatures are not verified yet, by queue
    /// position.
    pub fn unverified(&self) -> impl Iterator<Item = (usize, &CrossTx)> {
        self.ops.iter().enumerate().filter_map(|(k, op)| match op {
            AtomixRequest::Lock {
                xtx, verdict: None, ..
            } => Some((k, &**xtx)),
            _ => None,
        })
    }

    /// Records the verdict on the witnesses of the lock request at queue position `k`.
    pub fn set_verdict(&mut self, k: usize, signatures: Signatures) {
        if let Some(AtomixRequest::Lock { verdict, .. }) = self.ops.get_mut(k) {
            *verdict = Some(signatures);
        }
    }

    /// Orders every queued request (the normal league, at a FinalBlock; both UTXO views
    /// agree on entry; every lock request's signatures are verified): applies it to
    /// `utxo` with the core state machine and mirrors the effect on `utxo_order`.
    /// `unfinal` holds the transactions not final yet. Returns the entries for the
    /// FinalBlock.
    pub fn apply(
        &mut self,
        utxo: &mut UtxoSet,
        utxo_order: &mut UtxoSet,
        height: u64,
        unfinal: &FxHashSet<TxId>,
    ) -> Vec<BlockEntry> {
        let ops = std::mem::take(&mut self.ops);
        let mut held_back = Vec::new();
        let t_unlock = self.t_unlock;
        let mut entries = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                AtomixRequest::Lock {
                    xtx,
                    id,
                    client,
                    queued_at,
                    verdict,
                } if (height < queued_at + self.t_unlock
                    && xtx.part(self.shard).any(|(o, _)| utxo.get(o).is_none())
                    || xtx.part(self.shard).any(|(o, _)| unfinal.contains(&o.tx)))
                    && self.state.decision(&id).is_none() =>
                {
                    // An input created by a transaction that is not final yet waits for
                    // it, so a lock, final in the next FinalBlock, never holds an output
                    // that is not. An input this shard does not know waits at most
                    // `t_unlock` FinalBlocks (its creator may be on its way), then the
                    // lock is refused: the same bound for every sender.
                    self.counters.lock_waits += 1;
                    held_back.push(AtomixRequest::Lock {
                        xtx,
                        id,
                        client,
                        queued_at,
                        verdict,
                    });
                }
                AtomixRequest::Lock {
                    xtx,
                    id,
                    client,
                    verdict,
                    ..
                } => {
                    self.queued.remove(&id);
                    let verdict =
                        verdict.expect("lock requests are verified before they are ordered");
                    match self.state.lock(utxo, &xtx, verdict) {
                        Ok(decided) if decided.fresh => {
                            if let Entry::Lock { tx, .. } = decided.entry {
                                let part: Vec<OutPoint> =
                                    xtx.part(self.shard).map(|(o, _)| *o).collect();
                                utxo_order.lock_inputs(tx, &part).expect(
                                    "both views agree when the normal league orders Atomix",
                                );
                                self.counters.locks += 1;
                            } else {
                                self.counters.rejects += 1;
                            }
                            let tx = decided.entry.tx();
                            let due = &mut self.due;
                            self.watch.entry(tx).or_insert_with(|| {
                                due.push(Reverse((height + t_unlock, tx)));
                                Watch {
                                    proofs: Vec::new(),
                                    last: height,
                                    patience: t_unlock,
                                    client,
                                }
                            });
                            entries.push(BlockEntry {
                                entry: decided.entry,
                                xtx: TxRef::Tx(xtx),
                                client,
                            });
                        }
                        Ok(_) => self.counters.repeats += 1,
                        Err(e) => self.refused(&e),
                    }
                }
                AtomixRequest::Commit { unlock, client } => {
                    match self.state.unlock_commit(
                        utxo,
                        &unlock,
                        &mut self.verifier,
                        &*self.federation,
                    ) {
                        Ok(CommitOutcome::Applied { entry, created, .. }) => {
                            let xtx = &unlock.xtx;
                            let id = entry.tx();
                            let part: Vec<OutPoint> =
                                xtx.part(self.shard).map(|(o, _)| *o).collect();
                            if !part.is_empty() {
                                utxo_order.commit_lock(id, &part).expect("both views agree");
                            }
                            for (index, out) in xtx.tx.outputs.iter().enumerate() {
                                if out.owner.shard(self.shard_count) == self.shard {
                                    utxo_order
                                        .create(
                                            OutPoint {
                                                tx: id,
                                                index: index as u32,
                                            },
                                            *out,
                                        )
                                        .expect("both views agree");
                                }
                            }
                            self.counters.commits += 1;
                            self.counters.created += u128::from(created.0);
                            entries.push(BlockEntry {
                                entry,
                                xtx: TxRef::Unlock(Arc::clone(&unlock)),
                                client,
                            });
                        }
                        Ok(CommitOutcome::AlreadyCommitted | CommitOutcome::NotInvolved) => {
                            self.counters.repeats += 1
                        }
                        Err(e) => self.refused(&e),
                    }
                }
                AtomixRequest::Abort { unlock, client } => {
                    match self.state.unlock_abort(
                        utxo,
                        &unlock,
                        &mut self.verifier,
                        &*self.federation,
                    ) {
                        Ok(AbortOutcome::Applied { entry, .. }) => {
                            // The part this shard locked, as its own decision recorded it
                            // (never the sender's copy of the transaction).
                            let xtx = Arc::new(
                                self.state
                                    .decision(&entry.tx())
                                    .expect("an applied abort has a lock decision")
                                    .xtx
                                    .clone(),
                            );
                            let part: Vec<OutPoint> =
                                xtx.part(self.shard).map(|(o, _)| *o).collect();
                            utxo_order
                                .abort_lock(entry.tx(), &part)
                                .expect("both views agree");
                            self.counters.aborts += 1;
                            entries.push(BlockEntry {
                                entry,
                                xtx: TxRef::Tx(xtx),
                                client,
                            });
                        }
                        Ok(AbortOutcome::AlreadyAborted | AbortOutcome::NotLocked) => {
                            self.counters.repeats += 1
                        }
                        Err(e) => self.refused(&e),
                    }
                }
            }
        }
        self.ops = held_back;
        entries
    }

    /// Whether a queued lock request may need to know which transactions are not final
    /// yet (see [`AtomixNode::apply`]).
    pub fn locks_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    fn refused(&mut self, error: &AtomixError) {
        let kind = match error {
            AtomixError::CrossTx(_) => "malformed",
            AtomixError::NotInputShard { .. } => "not_input_shard",
            AtomixError::Proof { .. } => "bad_proof",
            AtomixError::WrongTx { .. } => "wrong_tx",
            AtomixError::ShardNotNamed { .. } => "shard_not_named",
            AtomixError::MissingPoa { .. } => "missing_poa",
            AtomixError::DuplicateProof { .. } => "duplicate_proof",
            AtomixError::NotPoa { .. } => "not_poa",
            AtomixError::DeclarationMismatch { .. } => "declaration_mismatch",
            AtomixError::ValueMismatch { .. } => "value_mismatch",
            AtomixError::NotAbortEvidence { .. } => "not_abort_evidence",
            AtomixError::Conflict { .. } => "conflict",
            AtomixError::Utxo(_) => "utxo",
        };
        *self.counters.refused.entry(kind).or_default() += 1;
    }

    /// The block holding `entries` is persisted: publish their proofs to each
    /// transaction's client and to its named input shards.
    pub fn publish(&mut self, proofs: Vec<(EntryProof, TxRef, ShardId)>) {
        for (proof, xtx, client) in proofs {
            let proof = Arc::new(proof);
            let named = xtx.input_shards();
            let mut to: Vec<ShardId> = named.clone();
            if !to.contains(&client) {
                to.push(client);
            }
            for shard in to {
                self.counters.proofs_published += 1;
                self.send(
                    shard,
                    MessageBody::Proof {
                        proof: Arc::clone(&proof),
                        client,
                        for_client: shard == client,
                        named: named.contains(&shard),
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
