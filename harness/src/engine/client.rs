//! The Atomix clients of one shard's stream (PROTOCOL.md §5.5, steps 1 and 4; issue 12,
//! item 3): what a client of a cross-shard transaction does, holding only what a client
//! holds — its transactions, what it knows of them (declaration, behaviour, pair
//! partner), and the proofs the shards published to it.
//!
//! Message flow: [`AtomixClients::dispatch`] sends a released transaction's lock
//! requests to its named input shards (a conflicting pair's two in opposite orders, so
//! at most one can commit); [`AtomixClients::on_proof`] gathers the proofs the shards
//! publish and, once every named shard decided, sends the unlock-to-commit or
//! unlock-to-abort (`resolve_with`), forwarding the proofs as published (every shard
//! verifies each proof it acts on); the client is done when every shard that had to
//! apply the unlock published that it did ([`Finished`]). Misbehaving clients (never
//! unlock, commit at one shard only, forge a proof of acceptance, replay a commit) are
//! behaviours of this module; the shards' rules must survive them.
//!
//! Invariants: a client sends one unlock per transaction (a replaying client sends its
//! commit again only after the transaction is done); a transaction no shard can decide
//! on (malformed) is over for its client at once.

use std::sync::Arc;

use ioschain_core::atomix::{
    CrossTx, Entry, EntryProof, Refusal, Resolution, UnlockToCommit, resolve_with,
};
use ioschain_core::tx::Transaction;
use ioschain_core::types::{ShardId, TxId};
use ioschain_workloads::{ClientBehaviour, CrossItem};
use rustc_hash::{FxHashMap, FxHashSet};

use ioschain_core::node::atomix::{
    AtomixCounters, AtomixRequest, MessageBody, ShardMessage, settled,
};

/// A client finished a cross-shard transaction.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    /// Its position in the home stream.
    pub index: u32,
    /// Its intended send time.
    pub intended: u64,
    /// Committed (else aborted).
    pub committed: bool,
    /// For an abort, the refusal that caused it (`None`: a lock under another
    /// declaration).
    pub refusal: Option<Refusal>,
}

/// A cross-shard transaction of the home stream, released by the driver.
#[derive(Clone, Copy, Debug)]
pub struct Release<'a> {
    /// The signed transaction.
    pub tx: &'a Transaction,
    /// What the workload says about it.
    pub item: &'a CrossItem,
    /// Its intended send time.
    pub intended: u64,
}

/// A cross-shard transaction the client logic is working on.
#[derive(Debug)]
struct ClientTx {
    xtx: Arc<CrossTx>,
    /// Its named input shards and involved shards (computed once).
    named: Vec<ShardId>,
    involved: Vec<ShardId>,
    index: u32,
    intended: u64,
    client: ClientBehaviour,
    proofs: Vec<Arc<EntryProof>>,
    unlock_sent: bool,
    /// The client resolved the decided transaction (and sent its unlock, unless it
    /// misbehaves).
    acted: bool,
    forged: bool,
    commit: Option<Arc<UnlockToCommit>>,
}

/// The clients of the cross-shard transactions homed at one shard.
#[derive(Debug)]
pub struct AtomixClients {
    shard: ShardId,
    shard_count: u32,
    clients: FxHashMap<TxId, ClientTx>,
    /// The firsts of conflicting pairs waiting for their partners, by the partner's
    /// stream position: (the first's position, its intended time). Several can wait at
    /// once: a client holding a pair for its funds sends it when its receipts come.
    pair_firsts: FxHashMap<u32, (u32, u64)>,
    /// Pairs one of whose transactions went out alone (the first before its partner was
    /// released, or the second before its first was sent), by the position of the one
    /// still to come: it goes out alone too.
    pair_alone: FxHashSet<u32>,
    /// Clients that finished since the shard last looked.
    pub finished: Vec<Finished>,
}

/// Queues `body` for shard `to`.
fn send(out: &mut Vec<ShardMessage>, to: ShardId, body: MessageBody) {
    out.push(ShardMessage { to, body });
}

/// Sends the request `op` to each of `to` (a clone each: the payload is shared).
fn send_all(out: &mut Vec<ShardMessage>, to: impl IntoIterator<Item = ShardId>, op: AtomixRequest) {
    for shard in to {
        send(out, shard, MessageBody::Request(op.clone()));
    }
}

impl AtomixClients {
    /// The clients homed at `shard` of `shard_count`.
    pub fn new(shard: ShardId, shard_count: u32) -> Self {
        AtomixClients {
            shard,
            shard_count,
            clients: FxHashMap::default(),
            pair_firsts: FxHashMap::default(),
            pair_alone: FxHashSet::default(),
            finished: Vec::new(),
        }
    }

    /// Whether no client is working and no pair is waiting.
    pub fn is_idle(&self) -> bool {
        self.clients.is_empty() && self.pair_firsts.is_empty()
    }

    /// Clients still working.
    pub fn working(&self) -> usize {
        self.clients.len()
    }

    /// A proof published to this shard's clients.
    pub fn on_proof(
        &mut self,
        proof: Arc<EntryProof>,
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) {
        let tx = proof.entry.tx();
        if let Some(mut c) = self.clients.remove(&tx) {
            c.proofs.push(proof);
            if !self.advance(&mut c, out, counters) {
                self.clients.insert(tx, c);
            }
        }
    }

    /// The client logic takes the cross-shard transaction at `item.index` of this
    /// shard's stream (released now): it sends lock requests to its named input shards.
    /// The first of a conflicting pair waits for its partner, then both go out with
    /// their lock requests in opposite orders at the two input shards.
    pub fn dispatch(
        &mut self,
        first: Release<'_>,
        second: Option<Release<'_>>,
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) {
        let first = self.start(first, out, counters);
        let Some(second) = second else {
            for shard in first.input_shards() {
                let xtx = Arc::clone(&first);
                send(
                    out,
                    shard,
                    MessageBody::Request(AtomixRequest::lock(xtx, self.shard)),
                );
            }
            return;
        };
        let second = self.start(second, out, counters);
        // Opposite orders: the smallest input shard hears the first one first, every
        // other shard the second one first.
        for (k, shard) in first.input_shards().into_iter().enumerate() {
            let (a, b) = if k == 0 {
                (&first, &second)
            } else {
                (&second, &first)
            };
            for xtx in [a, b] {
                let xtx = Arc::clone(xtx);
                send(
                    out,
                    shard,
                    MessageBody::Request(AtomixRequest::lock(xtx, self.shard)),
                );
            }
        }
    }

    /// Whether the stream position is the first of a conflicting pair whose partner is
    /// released too (before `released_end`) and not sent yet: it waits for it (returns
    /// `true`). A first whose partner is not released goes out alone, so a pair split
    /// by the end of the schedule (or a closed loop's budget) never waits forever.
    pub fn hold_pair(&mut self, item: &CrossItem, intended: u64, released_end: u32) -> bool {
        let Some(partner) = item.partner else {
            return false;
        };
        if partner < item.index || self.pair_alone.remove(&item.index) {
            return false;
        }
        if partner < released_end {
            self.pair_firsts.insert(partner, (item.index, intended));
            return true;
        }
        self.pair_alone.insert(partner);
        false
    }

    /// The first of the pair whose second one is `item`, taken (`None`: it went out
    /// alone, or has not been sent yet and will go alone).
    pub fn take_pair_first(&mut self, item: &CrossItem) -> Option<(u32, u64)> {
        let partner = item.partner?;
        if partner > item.index {
            return None;
        }
        let first = self.pair_firsts.remove(&item.index);
        if first.is_none() && !self.pair_alone.remove(&item.index) {
            // Its first is still held by its client (waiting for funds): it goes alone.
            self.pair_alone.insert(partner);
        }
        first
    }

    /// The cross-shard transaction `item` was shed: the other of its conflicting pair
    /// goes alone — returned if it was waiting for this one (its client sends it now).
    pub fn shed(&mut self, item: &CrossItem) -> Option<(u32, u64)> {
        let partner = item.partner?;
        if partner > item.index {
            // The first never went: its second goes alone when it comes.
            self.pair_alone.insert(partner);
            return None;
        }
        self.take_pair_first(item)
    }

    fn start(
        &mut self,
        release: Release<'_>,
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) -> Arc<CrossTx> {
        let Release { tx, item, intended } = release;
        let xtx = Arc::new(CrossTx {
            tx: tx.clone(),
            declared: item.declared.clone(),
        });
        counters.dispatched += 1;
        let id = xtx.id();
        self.clients.insert(
            id,
            ClientTx {
                named: xtx.input_shards(),
                involved: xtx.involved_shards(self.shard_count),
                xtx: Arc::clone(&xtx),
                index: item.index,
                intended,
                client: item.client,
                proofs: Vec::new(),
                unlock_sent: false,
                acted: false,
                forged: false,
                commit: None,
            },
        );
        // A transaction no shard can decide on (malformed: every shard refuses it
        // without an entry) is over for its client at once: aborted, nothing locked.
        if xtx.check(self.shard_count).is_err()
            && let Some(mut c) = self.clients.remove(&id)
        {
            self.finish(&mut c, out, counters);
        }
        xtx
    }

    /// The client's next step after a new proof. Returns whether it is finished.
    fn advance(
        &mut self,
        c: &mut ClientTx,
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) -> bool {
        let named = std::mem::take(&mut c.named);
        let finished = self.step(c, &named, out, counters);
        c.named = named;
        finished
    }

    fn step(
        &mut self,
        c: &mut ClientTx,
        named: &[ShardId],
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) -> bool {
        let decided = named.iter().all(|shard| {
            c.proofs.iter().any(|p| {
                p.entry.shard() == *shard
                    && matches!(p.entry, Entry::Lock { .. } | Entry::Reject { .. })
            })
        });
        if c.client == ClientBehaviour::ForgedProof
            && !c.forged
            && decided
            && c.proofs
                .iter()
                .any(|p| matches!(p.entry, Entry::Reject { .. }))
        {
            c.forged = true;
            self.forge(c, named, out, counters);
        }
        // The client acts once every named shard decided (it builds the unlock), and
        // is done once every shard that must apply the unlock published that it did.
        // It forwards the proofs as the shards published them, unchecked: every shard
        // verifies each proof it acts on (checking them here too would be the client's
        // own work, not a validator's).
        if !decided {
            return false;
        }
        if c.acted {
            return settled(named, &c.involved, &c.proofs) && self.finish(c, out, counters);
        }
        c.acted = true;
        let resolution = resolve_with(
            &c.xtx,
            self.shard_count,
            c.proofs.iter().map(|p| &**p),
            |_| true,
        );
        match resolution {
            Resolution::Forward { .. } => false,
            Resolution::Commit { unlock, to } => {
                if !c.unlock_sent {
                    c.unlock_sent = true;
                    let unlock = Arc::new(unlock);
                    c.commit = Some(Arc::clone(&unlock));
                    let to: Vec<ShardId> = match c.client {
                        ClientBehaviour::NeverUnlock => Vec::new(),
                        ClientBehaviour::PartialCommit => to.into_iter().take(1).collect(),
                        _ => to,
                    };
                    send_all(
                        out,
                        to,
                        AtomixRequest::Commit {
                            unlock: Arc::clone(&unlock),
                            client: self.shard,
                        },
                    );
                }
                false
            }
            Resolution::Abort { unlock, to } => {
                if !c.unlock_sent
                    && decided
                    && !matches!(
                        c.client,
                        ClientBehaviour::NeverUnlock | ClientBehaviour::ForgedProof
                    )
                {
                    c.unlock_sent = true;
                    let unlock = Arc::new(*unlock);
                    send_all(
                        out,
                        to,
                        AtomixRequest::Abort {
                            unlock: Arc::clone(&unlock),
                            client: self.shard,
                        },
                    );
                }
                false
            }
            Resolution::Done => self.finish(c, out, counters),
        }
    }

    /// The client's transaction is finished everywhere: counted, compared with the
    /// workload's expectation, reported; a replaying client sends its commit again.
    /// Returns `true`.
    fn finish(
        &mut self,
        c: &mut ClientTx,
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) -> bool {
        let committed = c
            .proofs
            .iter()
            .any(|p| matches!(p.entry, Entry::Commit { .. }));
        if committed
            && c.client == ClientBehaviour::ReplayCommit
            && let Some(unlock) = c.commit.take()
        {
            counters.replays_sent += 1;
            for &shard in &c.involved {
                send(
                    out,
                    shard,
                    MessageBody::Request(AtomixRequest::Commit {
                        unlock: Arc::clone(&unlock),
                        client: self.shard,
                    }),
                );
            }
        }
        let refusal = if committed {
            None
        } else {
            c.proofs.iter().find_map(|p| match p.entry {
                Entry::Reject { reason, .. } => Some(reason),
                _ => None,
            })
        };
        if committed {
            counters.committed += 1;
        } else {
            counters.aborted += 1;
            let slot = refusal.map_or(Refusal::ALL.len(), |r| {
                Refusal::ALL.iter().position(|x| *x == r).expect("listed")
            });
            counters.aborted_by[slot] += 1;
        }
        self.finished.push(Finished {
            index: c.index,
            intended: c.intended,
            committed,
            refusal,
        });
        true
    }

    /// A malicious client turns the proof of rejection it got into a "proof of
    /// acceptance" (the same header, certificate and path under a lock entry) and sends
    /// an unlock-to-commit with it to the output shards.
    fn forge(
        &mut self,
        c: &ClientTx,
        named: &[ShardId],
        out: &mut Vec<ShardMessage>,
        counters: &mut AtomixCounters,
    ) {
        let id = c.xtx.id();
        let declaration = c.xtx.declaration_hash(id);
        let mut poas = Vec::with_capacity(named.len());
        for shard in named {
            let Some(proof) = c.proofs.iter().find(|p| {
                p.entry.shard() == *shard
                    && matches!(p.entry, Entry::Lock { .. } | Entry::Reject { .. })
            }) else {
                return;
            };
            let mut poa = (**proof).clone();
            poa.entry = Entry::Lock {
                tx: id,
                shard: *shard,
                value: c.xtx.part_value(*shard),
                declaration,
            };
            poas.push(poa);
        }
        counters.forged_sent += 1;
        let unlock = Arc::new(UnlockToCommit {
            xtx: (*c.xtx).clone(),
            poas,
        });
        send_all(
            out,
            c.xtx.output_shards(self.shard_count),
            AtomixRequest::Commit {
                unlock: Arc::clone(&unlock),
                client: self.shard,
            },
        );
    }
}
