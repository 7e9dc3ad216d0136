//! What clients know besides the transactions they send: where the coins they spend come
//! from (DESIGN.md §2, "The answer key and canaries"; issue 12, item 4).
//!
//! A client knows which of its transactions created the coins it spends, and whether it
//! has seen that transaction through: a real wallet spends a coin once it holds the
//! receipt of the transaction that paid it. The engine's clients act on that knowledge
//! (never on the answer key), so two waits are client rules:
//!
//! - the client of a **cross-shard transaction** sends its lock requests only once every
//!   transaction of the run that created one of its inputs is done (an intra-shard one
//!   final at its shard, a cross-shard one committed everywhere), so a lock request
//!   reaches an input shard that knows its inputs: the shard needs no word from the client
//!   that its funds are coming, and refuses after a bound what it does not know;
//! - the client of an **intra-shard transaction** that spends the output of a cross-shard
//!   transaction holds it until that transaction committed (its client passes the word
//!   on), so the shard never has to know which cross-shard payments are on their way;
//! - a client that spends again a coin it already spent in an earlier intra-shard
//!   transaction (after an invalid attempt, or as a planted double spend) sends it only
//!   once the latest such spend is done, so the shard sees a coin's spends in the order
//!   the client made them — whatever re-routing or holding the earlier ones went
//!   through — and which of two spends wins is not a race.
//!
//! An input that no transaction of the run created (a genesis coin, or one the client
//! only believes it has) is spent at once. [`Dependencies`] is derived from the streams
//! alone — each input names its creating transaction's id — so it carries nothing of the
//! answer key: a cross-shard transaction meant to abort waits exactly like one meant to
//! commit.
//!
//! # Chunk by chunk
//!
//! The engine reads its streams a chunk of positions at a time
//! ([`crate::cache::ShardReader`]) and never holds a whole workload, so the waits are
//! derived the same way: [`DependencyTracker::add`] takes the next positions of every
//! shard and returns the waits they add. [`Workload::dependencies`] feeds it a whole
//! in-memory workload, [`CHUNK_POSITIONS`] positions per shard at a time.
//!
//! The tracker keeps two maps, keyed by the first 8 bytes of an id (ids are hashes: a
//! collision could only add a wait, never lose one): `created`, a transaction's id → its
//! position (and whether it is cross-shard), and `last_spender`, a coin as a stream's
//! clients name it → the latest intra-shard transaction that spent it. Within one `add`,
//! every position of the chunk first enters `created`; then every intra-shard position
//! (shard order, then stream order) spends its inputs in `last_spender`, waiting for
//! the spend it replaces and for the cross-shard creators of its inputs; then every
//! cross-shard position (same order) waits for the latest intra-shard spend of each
//! input in the shard it declares holds it, and for each input's creator.
//!
//! **Invariant: a source not found is either not of the run or done.** It holds because
//!
//! - a creator is added no later than the chunk of any of its spenders: a stream spends
//!   only outputs that exist at that point, and outputs cross between streams with a
//!   margin of `cross_maturity` positions, so feeding every shard the same range of
//!   positions per chunk (as the cache's chunks are) suffices — shards may run at most
//!   `cross_maturity` positions out of step;
//! - every intra-shard spend of a cross-shard transaction's input comes before it (an
//!   input leaves its owner's wallet when a cross-shard transaction takes it), so
//!   `last_spender` already holds it when the cross-shard transaction looks;
//! - [`DependencyTracker::forget_below`] is told which positions are done (their
//!   clients sent their receipts), and from then on no wait names them: a wait for a
//!   done transaction is no wait.
//!
//! **Memory.** Each `add` remembers, per shard, the keys it entered in either map; once
//! every position of that chunk is done, `forget_below` removes those entries that still
//! point at a done position (a later spend may have replaced a `last_spender` entry: it
//! stays). Forgetting is by whole chunks (a chunk only partly done is kept whole, its
//! done positions filtered out of lookups), so what the tracker holds
//! ([`DependencyTracker::held`]) is bounded by the positions not yet done plus one
//! chunk per shard: at most `2 · (1 + TX_INPUTS_MAX)` entries per such position, about
//! `2 · (1 + inputs)` on a workload whose transactions have `inputs` inputs.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use ioschain_core::tx::Transaction;
use ioschain_core::types::{OutPoint, ShardId, TxId};
use rustc_hash::FxHashMap;

use crate::cache::{CHUNK_POSITIONS, StreamItem};
use crate::{CrossItem, Workload};

/// Who waits for whom, per shard's stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// By shard id.
    pub shards: Vec<ShardDependencies>,
}

/// One stream's waits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardDependencies {
    /// Stream positions whose client waits before sending, ascending, each with the number
    /// of distinct transactions it waits for.
    pub waiting: Vec<(u32, u8)>,
    /// Stream positions of this shard whose outcome other clients wait for, with those
    /// clients' transactions: (their shard, their stream position), ascending.
    pub waiters: FxHashMap<u32, Vec<(ShardId, u32)>>,
}

impl Dependencies {
    /// No waits, for `shards` streams.
    fn empty(shards: usize) -> Self {
        Dependencies {
            shards: (0..shards).map(|_| ShardDependencies::default()).collect(),
        }
    }

    /// Puts every waiters list in ascending order.
    fn sort_waiters(&mut self) {
        for shard in &mut self.shards {
            for waiters in shard.waiters.values_mut() {
                waiters.sort_unstable();
            }
        }
    }
}

impl Workload {
    /// The clients' waits (see the module doc), derived from the streams a chunk of
    /// [`CHUNK_POSITIONS`] positions at a time, as the engine derives them.
    pub fn dependencies(&self) -> Dependencies {
        self.dependencies_by_chunks(CHUNK_POSITIONS as usize)
    }

    /// [`Self::dependencies`], feeding the tracker `chunk_positions` positions per shard
    /// at a time and never forgetting.
    fn dependencies_by_chunks(&self, chunk_positions: usize) -> Dependencies {
        assert!(chunk_positions > 0, "a chunk holds positions");
        let mut tracker = DependencyTracker::new(self.shards.len());
        let mut out = Dependencies::empty(self.shards.len());
        let length = self.shards.iter().map(|s| s.txs.len()).max().unwrap_or(0);
        for start in (0..length).step_by(chunk_positions) {
            let chunk: Vec<Vec<Position<'_>>> = self
                .shards
                .iter()
                .map(|stream| {
                    let end = stream.txs.len().min(start + chunk_positions);
                    (start..end)
                        .map(|index| {
                            let tx = &stream.txs[index];
                            let index = index as u32;
                            Position {
                                index,
                                id: tx.id(),
                                tx,
                                cross: stream.cross_item(index),
                            }
                        })
                        .collect()
                })
                .collect();
            tracker.add_to(&chunk, &mut out);
        }
        out.sort_waiters();
        out
    }
}

/// One stream position as the tracker sees it.
#[derive(Clone, Copy, Debug)]
pub struct Position<'a> {
    /// Its position in its shard's stream.
    pub index: u32,
    /// `tx.id()` (computed once, by whoever holds the transaction).
    pub id: TxId,
    /// The signed transaction.
    pub tx: &'a Transaction,
    /// Set for a cross-shard transaction.
    pub cross: Option<&'a CrossItem>,
}

impl<'a> From<&'a StreamItem> for Position<'a> {
    fn from(item: &'a StreamItem) -> Self {
        Position {
            index: item.position,
            id: item.id,
            tx: &item.tx,
            cross: item.cross.as_ref(),
        }
    }
}

/// A transaction: (shard, stream position).
type At = (u32, u32);

/// Where a transaction of the run sits, and whether intra-shard spenders of its outputs
/// wait for it (only for a cross-shard one).
#[derive(Clone, Copy, Debug)]
struct Creator {
    at: At,
    cross: bool,
}

/// The keys one `add` entered for one shard, which forgetting that chunk removes.
#[derive(Debug)]
struct Added {
    /// One past the chunk's last position.
    end: u32,
    /// Keys entered in `created`.
    created: Vec<u64>,
    /// Keys entered (or replaced) in `last_spender`.
    spent: Vec<u64>,
}

impl Added {
    fn keys(&self) -> usize {
        self.created.len() + self.spent.len()
    }
}

/// What the tracker knows of one shard's stream.
#[derive(Debug, Default)]
struct Tracked {
    /// The next position `add` expects.
    next: u32,
    /// Positions below are done: no wait names them.
    done: u32,
    /// The chunks added and not yet forgotten, oldest first.
    added: VecDeque<Added>,
}

/// The clients' waits, computed a chunk of stream positions at a time (see the module
/// doc for why, for the order within a chunk, for the invariant that makes a lookup that
/// finds nothing safe, and for the memory bound).
#[derive(Debug)]
pub struct DependencyTracker {
    /// A transaction's id key → where it sits.
    created: FxHashMap<u64, Creator>,
    /// A coin's key (with the shard whose clients name it) → its latest intra-shard
    /// spend.
    last_spender: FxHashMap<u64, At>,
    /// By shard id.
    shards: Vec<Tracked>,
    /// Scratch: one transaction's distinct sources.
    sources: Vec<At>,
}

impl DependencyTracker {
    /// A tracker for `shards` streams, before their first positions.
    pub fn new(shards: usize) -> Self {
        DependencyTracker {
            created: FxHashMap::default(),
            last_spender: FxHashMap::default(),
            shards: (0..shards).map(|_| Tracked::default()).collect(),
            sources: Vec::new(),
        }
    }

    /// The next chunk: `chunk[s]` holds shard s's next positions, consecutive, continuing
    /// where its previous chunk ended (any length, possibly empty). Returns the waits
    /// these positions add: `waiting` entries for these positions only (ascending per
    /// shard), and `waiters` entries whose keys are source positions (in earlier chunks
    /// or in this one) and whose values are these positions (each list ascending).
    ///
    /// Panics if `chunk` has not one entry per shard or a shard's positions do not
    /// continue its stream.
    pub fn add(&mut self, chunk: &[Vec<Position<'_>>]) -> Dependencies {
        let mut out = Dependencies::empty(self.shards.len());
        self.add_to(chunk, &mut out);
        out.sort_waiters();
        out
    }

    /// [`Self::add`], appending to `out` (waiters lists in the order found).
    fn add_to(&mut self, chunk: &[Vec<Position<'_>>], out: &mut Dependencies) {
        assert_eq!(chunk.len(), self.shards.len(), "one entry per shard");
        let Self {
            created,
            last_spender,
            shards,
            sources,
        } = self;
        // Every position of the chunk is known before any looks.
        let mut logs: Vec<Added> = Vec::with_capacity(chunk.len());
        for (s, positions) in chunk.iter().enumerate() {
            let tracked = &mut shards[s];
            let mut log = Added {
                end: 0,
                created: Vec::with_capacity(positions.len()),
                spent: Vec::new(),
            };
            for p in positions {
                assert_eq!(
                    p.index, tracked.next,
                    "shard {s}: a chunk continues where the previous one ended"
                );
                tracked.next += 1;
                let key = tx_key(&p.id);
                let at = (s as u32, p.index);
                created.insert(
                    key,
                    Creator {
                        at,
                        cross: p.cross.is_some(),
                    },
                );
                log.created.push(key);
            }
            log.end = tracked.next;
            logs.push(log);
        }
        let waiting_before: Vec<usize> = out.shards.iter().map(|d| d.waiting.len()).collect();
        let add_source = |sources: &mut Vec<At>, source: At| {
            let done = source.1 < shards[source.0 as usize].done;
            if !done && !sources.contains(&source) {
                sources.push(source);
            }
        };
        // Intra-shard transactions, in stream order: each coin's latest spend so far.
        for (s, positions) in chunk.iter().enumerate() {
            for p in positions.iter().filter(|p| p.cross.is_none()) {
                sources.clear();
                let me = (s as u32, p.index);
                for input in &p.tx.inputs {
                    let coin = coin_key(s, input);
                    logs[s].spent.push(coin);
                    if let Some(before) = last_spender.insert(coin, me) {
                        add_source(sources, before);
                    }
                    // Only cross-shard payments: the stream's order (and the shard's
                    // UTXO check) covers the rest.
                    if let Some(creator) = created.get(&tx_key(&input.tx))
                        && creator.cross
                    {
                        add_source(sources, creator.at);
                    }
                }
                record(out, me, sources);
            }
        }
        // Cross-shard transactions: every creator of an input, and every intra-shard
        // transaction that named one of them (all come before it: an input leaves its
        // owner's wallet when a cross-shard transaction takes it).
        for (s, positions) in chunk.iter().enumerate() {
            for p in positions {
                let Some(item) = p.cross else { continue };
                sources.clear();
                for (input, declared) in p.tx.inputs.iter().zip(&item.declared) {
                    let held_by = declared.shard.0 as usize;
                    if let Some(&before) = last_spender.get(&coin_key(held_by, input)) {
                        add_source(sources, before);
                    }
                    if let Some(creator) = created.get(&tx_key(&input.tx)) {
                        add_source(sources, creator.at);
                    }
                }
                record(out, (s as u32, p.index), sources);
            }
        }
        for (shard, before) in out.shards.iter_mut().zip(waiting_before) {
            shard.waiting[before..].sort_unstable();
        }
        for (tracked, log) in shards.iter_mut().zip(logs) {
            if log.created.is_empty() {
                continue;
            }
            tracked.added.push_back(log);
        }
    }

    /// Every position of shard s below `done[s]` is done (its client has sent its
    /// receipts): no wait returned from now on names one. The tracker forgets every
    /// chunk added whose positions are all done (a chunk only partly done is kept until
    /// the rest is), so it holds what the positions not yet done need, plus at most one
    /// chunk per shard.
    ///
    /// Panics if `done` has not one entry per shard or names a position not yet added.
    /// A `done[s]` below an earlier one changes nothing.
    pub fn forget_below(&mut self, done: &[u32]) {
        assert_eq!(done.len(), self.shards.len(), "one entry per shard");
        let mut forgotten: Vec<Added> = Vec::new();
        for (s, (tracked, &done)) in self.shards.iter_mut().zip(done).enumerate() {
            assert!(
                done <= tracked.next,
                "shard {s}: position {done} is done before it was added"
            );
            tracked.done = tracked.done.max(done);
            while let Some(oldest) = tracked.added.pop_front() {
                if oldest.end > tracked.done {
                    tracked.added.push_front(oldest);
                    break;
                }
                forgotten.push(oldest);
            }
        }
        // After every shard's horizon moved: a `created` entry entered by one shard's
        // chunk may since point into another shard (a key collision).
        let shards = &self.shards;
        let is_done = |at: At| at.1 < shards[at.0 as usize].done;
        for log in forgotten {
            for key in log.created {
                if let Entry::Occupied(entry) = self.created.entry(key)
                    && is_done(entry.get().at)
                {
                    entry.remove();
                }
            }
            for key in log.spent {
                if let Entry::Occupied(entry) = self.last_spender.entry(key)
                    && is_done(*entry.get())
                {
                    entry.remove();
                }
            }
        }
    }

    /// Entries held: those of both maps, and the keys remembered to forget them by.
    pub fn held(&self) -> usize {
        let logged: usize = self
            .shards
            .iter()
            .flat_map(|t| &t.added)
            .map(Added::keys)
            .sum();
        self.created.len() + self.last_spender.len() + logged
    }
}

/// Notes that `waiter` waits for `sources` (if any).
fn record(out: &mut Dependencies, waiter: At, sources: &[At]) {
    if sources.is_empty() {
        return;
    }
    let waits = u8::try_from(sources.len()).expect("at most two sources per input, 16 inputs");
    let (shard, index) = waiter;
    out.shards[shard as usize].waiting.push((index, waits));
    for &(s, k) in sources {
        out.shards[s as usize]
            .waiters
            .entry(k)
            .or_default()
            .push((ShardId(shard), index));
    }
}

/// A transaction id's key: its first 8 bytes (ids are hashes).
fn tx_key(id: &TxId) -> u64 {
    u64::from_le_bytes(id.0.0[..8].try_into().expect("a hash has 32 bytes"))
}

/// A coin's key as `shard`'s clients name it (two streams may name the same outpoint
/// that never existed: their clients know nothing of each other).
fn coin_key(shard: usize, o: &OutPoint) -> u64 {
    tx_key(&o.tx) ^ u64::from(o.index).rotate_left(40) ^ (shard as u64).rotate_left(20)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use ioschain_core::tx::RejectReason;
    use ioschain_core::types::{OutPoint, ShardId, TxId};
    use rustc_hash::{FxBuildHasher, FxHashMap};

    use super::{Dependencies, DependencyTracker, Position, ShardDependencies};
    use crate::{
        ClientMix, CrossExpected, Expected, SenderDistribution, Workload, WorkloadSpec, generate,
    };

    fn workload() -> Workload {
        let spec = WorkloadSpec {
            seed: 5,
            shards: 3,
            accounts: 900,
            utxos_per_account: 4,
            genesis_amount: 1_000_000,
            inputs_per_tx: 2,
            outputs_per_tx: 2,
            sender: SenderDistribution::Uniform,
            invalid_fraction: 0.1,
            client_edge_signatures: 0.0,
            canary_rate: 0.0,
            txs_per_shard: 1_500,
            cross_shard: 0.3,
            cross_input_shards: 2,
            cross_maturity: 8,
            cross_conflicts: 0.1,
            clients: ClientMix::default(),
        };
        generate(&spec, &|_| {}).expect("a valid spec")
    }

    /// (source shard, source position) of each wait of `(shard, index)`.
    fn sources_of(deps: &Dependencies, shard: usize, index: u32) -> Vec<(usize, u32)> {
        let me = (ShardId(shard as u32), index);
        let mut out: Vec<(usize, u32)> = deps
            .shards
            .iter()
            .enumerate()
            .flat_map(|(s, d)| {
                d.waiters
                    .iter()
                    .filter(move |(_, ws)| ws.contains(&me))
                    .map(move |(&k, _)| (s, k))
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn every_wait_names_a_transaction_that_created_an_input() {
        let w = workload();
        let deps = w.dependencies();
        let mut cross_waits = 0;
        let mut intra_waits = 0;
        for (shard, stream) in w.shards.iter().enumerate() {
            assert!(deps.shards[shard].waiting.is_sorted_by_key(|&(i, _)| i));
            for &(index, waits) in &deps.shards[shard].waiting {
                let tx = &stream.txs[index as usize];
                let sources = sources_of(&deps, shard, index);
                assert_eq!(sources.len(), usize::from(waits));
                for (s, k) in sources {
                    let source = &w.shards[s].txs[k as usize];
                    let created_an_input = tx.inputs.iter().any(|i| i.tx == source.id());
                    // An earlier intra-shard spend of one of its inputs (for a
                    // cross-shard transaction, in another stream).
                    let spent_an_input_first = w.shards[s].cross_item(k).is_none()
                        && (stream.cross_item(index).is_some() || (s == shard && k < index))
                        && tx.inputs.iter().any(|i| source.inputs.contains(i));
                    assert!(
                        created_an_input || spent_an_input_first,
                        "shard {shard} tx {index} waits for shard {s} tx {k}"
                    );
                    if stream.cross_item(index).is_none() && created_an_input {
                        assert!(
                            w.shards[s].cross_item(k).is_some(),
                            "an intra-shard transaction waits only for Atomix payments"
                        );
                    }
                }
                if stream.cross_item(index).is_some() {
                    cross_waits += 1;
                } else {
                    intra_waits += 1;
                }
            }
        }
        assert!(
            cross_waits > 0,
            "cross-shard transactions spend outputs of the run"
        );
        assert!(
            intra_waits > 0,
            "intra-shard transactions spend Atomix payments"
        );
    }

    #[test]
    fn a_transaction_meant_to_abort_waits_like_one_meant_to_commit() {
        // Waits come from the inputs' creators, never from the answer key: a
        // never-existing input has no creator, and the real inputs beside it are waited
        // for like any other.
        let w = workload();
        let deps = w.dependencies();
        let waits = |shard: usize, index: u32| {
            deps.shards[shard]
                .waiting
                .binary_search_by_key(&index, |&(i, _)| i)
                .is_ok()
        };
        let mut aborting = 0;
        for (shard, stream) in w.shards.iter().enumerate() {
            for item in &stream.cross {
                if item.expected == CrossExpected::Abort && waits(shard, item.index) {
                    aborting += 1;
                }
            }
        }
        assert!(aborting > 0);
    }

    #[test]
    fn a_planted_double_spend_waits_for_the_spend_it_repeats() {
        let w = workload();
        let deps = w.dependencies();
        let mut planted = 0;
        for (shard, stream) in w.shards.iter().enumerate() {
            for (index, expected) in stream.expected.iter().enumerate() {
                if *expected != Expected::Invalid(RejectReason::DoubleSpend) {
                    continue;
                }
                planted += 1;
                let tx = &stream.txs[index];
                // The latest earlier intra-shard spend of its input (by brute force).
                let before = (0..index)
                    .rev()
                    .find(|&k| {
                        stream.cross_item(k as u32).is_none()
                            && tx.inputs.iter().any(|i| stream.txs[k].inputs.contains(i))
                    })
                    .expect("a planted double spend repeats an earlier spend");
                let sources = sources_of(&deps, shard, index as u32);
                assert!(
                    sources.contains(&(shard, before as u32)),
                    "shard {shard} tx {index} does not wait for {before}: {sources:?}"
                );
            }
        }
        assert!(planted > 0);
    }

    /// The whole-workload derivation the tracker replaced, kept as the reference it must
    /// match (waiters lists sorted: the engine sends a receipt to every waiter, in any
    /// order).
    fn reference(w: &Workload) -> Dependencies {
        let tx_key = |id: &TxId| u64::from_le_bytes(id.0.0[..8].try_into().expect("8 bytes"));
        let coin_key = |shard: usize, o: &OutPoint| {
            tx_key(&o.tx) ^ u64::from(o.index).rotate_left(40) ^ (shard as u64).rotate_left(20)
        };
        let count: usize = w.shards.iter().map(|s| s.txs.len()).sum();
        let mut created: FxHashMap<u64, (u32, u32)> =
            HashMap::with_capacity_and_hasher(count, FxBuildHasher);
        for (shard, stream) in w.shards.iter().enumerate() {
            for (index, tx) in stream.txs.iter().enumerate() {
                created.insert(tx_key(&tx.id()), (shard as u32, index as u32));
            }
        }
        let mut out: Vec<ShardDependencies> = (0..w.shards.len())
            .map(|_| ShardDependencies::default())
            .collect();
        let mut record = |shard: usize, index: usize, sources: &[(u32, u32)]| {
            if sources.is_empty() {
                return;
            }
            let waits = u8::try_from(sources.len()).expect("a transaction has few inputs");
            out[shard].waiting.push((index as u32, waits));
            for &(s, k) in sources {
                out[s as usize]
                    .waiters
                    .entry(k)
                    .or_default()
                    .push((ShardId(shard as u32), index as u32));
            }
        };
        let mut sources: Vec<(u32, u32)> = Vec::new();
        let add = |sources: &mut Vec<(u32, u32)>, source: (u32, u32)| {
            if !sources.contains(&source) {
                sources.push(source);
            }
        };
        let mut last_spender: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        for (shard, stream) in w.shards.iter().enumerate() {
            for (index, tx) in stream.txs.iter().enumerate() {
                if stream.cross_item(index as u32).is_some() {
                    continue;
                }
                sources.clear();
                let me = (shard as u32, index as u32);
                for input in &tx.inputs {
                    if let Some(before) = last_spender.insert(coin_key(shard, input), me) {
                        add(&mut sources, before);
                    }
                    if let Some(&(s, k)) = created.get(&tx_key(&input.tx))
                        && w.shards[s as usize].cross_item(k).is_some()
                    {
                        add(&mut sources, (s, k));
                    }
                }
                record(shard, index, &sources);
            }
        }
        for (shard, stream) in w.shards.iter().enumerate() {
            for item in &stream.cross {
                sources.clear();
                let inputs = &stream.txs[item.index as usize].inputs;
                for (input, declared) in inputs.iter().zip(&item.declared) {
                    let held_by = declared.shard.0 as usize;
                    if let Some(&before) = last_spender.get(&coin_key(held_by, input)) {
                        add(&mut sources, before);
                    }
                    if let Some(&creator) = created.get(&tx_key(&input.tx)) {
                        add(&mut sources, creator);
                    }
                }
                record(shard, item.index as usize, &sources);
            }
        }
        for shard in &mut out {
            shard.waiting.sort_unstable();
        }
        let mut deps = Dependencies { shards: out };
        deps.sort_waiters();
        deps
    }

    /// Every shard's positions `[start, end)` (fewer where a stream is shorter).
    fn positions(w: &Workload, start: usize, end: usize) -> Vec<Vec<Position<'_>>> {
        w.shards
            .iter()
            .map(|stream| {
                (start..end.min(stream.txs.len()))
                    .map(|index| {
                        let tx = &stream.txs[index];
                        Position {
                            index: index as u32,
                            id: tx.id(),
                            tx,
                            cross: stream.cross_item(index as u32),
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Feeds `tracker` the whole of `w`, `chunk` positions per shard at a time, calling
    /// `before(tracker, start)` before the chunk starting at `start`; returns each
    /// chunk's start and waits.
    fn feed(
        w: &Workload,
        tracker: &mut DependencyTracker,
        chunk: usize,
        mut before: impl FnMut(&mut DependencyTracker, usize),
    ) -> Vec<(usize, Dependencies)> {
        let length = w.shards.iter().map(|s| s.txs.len()).max().unwrap_or(0);
        (0..length)
            .step_by(chunk)
            .map(|start| {
                before(tracker, start);
                (start, tracker.add(&positions(w, start, start + chunk)))
            })
            .collect()
    }

    /// The chunks' waits as one (waiters lists sorted).
    fn merged(shards: usize, chunks: Vec<(usize, Dependencies)>) -> Dependencies {
        let mut out = Dependencies::empty(shards);
        for (_, deps) in chunks {
            for (all, shard) in out.shards.iter_mut().zip(deps.shards) {
                all.waiting.extend(shard.waiting);
                for (source, waiters) in shard.waiters {
                    all.waiters.entry(source).or_default().extend(waiters);
                }
            }
        }
        out.sort_waiters();
        out
    }

    /// Each waiting transaction's sources, checked against its count in `waiting`.
    fn waits(deps: &Dependencies) -> BTreeMap<(usize, u32), Vec<(usize, u32)>> {
        let mut out: BTreeMap<(usize, u32), Vec<(usize, u32)>> = BTreeMap::new();
        for (s, shard) in deps.shards.iter().enumerate() {
            for (&k, waiters) in &shard.waiters {
                for &(ShardId(w), i) in waiters {
                    out.entry((w as usize, i)).or_default().push((s, k));
                }
            }
        }
        for sources in out.values_mut() {
            sources.sort_unstable();
        }
        let counted: BTreeMap<(usize, u32), usize> = deps
            .shards
            .iter()
            .enumerate()
            .flat_map(|(s, d)| {
                d.waiting
                    .iter()
                    .map(move |&(i, n)| ((s, i), usize::from(n)))
            })
            .collect();
        let found: BTreeMap<(usize, u32), usize> = out
            .iter()
            .map(|(&at, sources)| (at, sources.len()))
            .collect();
        assert_eq!(counted, found, "every wait counted, every count found");
        out
    }

    #[test]
    fn the_tracker_fed_any_chunk_size_finds_the_whole_workload_waits() {
        let w = workload();
        let expected = reference(&w);
        assert!(expected.shards.iter().all(|s| !s.waiting.is_empty()));
        let length = w.shards.iter().map(|s| s.txs.len()).max().unwrap_or(0);
        for chunk in [1, 7, 100, length] {
            let mut tracker = DependencyTracker::new(w.shards.len());
            let chunks = feed(&w, &mut tracker, chunk, |_, _| {});
            assert_eq!(
                merged(w.shards.len(), chunks),
                expected,
                "chunks of {chunk}"
            );
        }
        assert_eq!(w.dependencies_by_chunks(7), expected);
        assert_eq!(w.dependencies(), expected);
    }

    #[test]
    fn a_done_position_is_never_named_and_every_other_wait_is_kept() {
        let w = workload();
        let chunk = 100;
        // Done horizons trailing the chunk being added, by a different, chunk-unaligned
        // lag per shard, so that partly done chunks are kept and filtered.
        let done_at = |start: usize| -> Vec<u32> {
            (0..w.shards.len())
                .map(|s| start.saturating_sub(130 + 45 * s) as u32)
                .collect()
        };
        let mut tracker = DependencyTracker::new(w.shards.len());
        let chunks = feed(&w, &mut tracker, chunk, |tracker, start| {
            tracker.forget_below(&done_at(start));
        });
        for (start, deps) in &chunks {
            let done = done_at(*start);
            for (s, shard) in deps.shards.iter().enumerate() {
                for &source in shard.waiters.keys() {
                    assert!(
                        source >= done[s],
                        "chunk at {start} names shard {s} position {source}, done below {}",
                        done[s]
                    );
                }
            }
        }
        let found = waits(&merged(w.shards.len(), chunks));
        // The reference's waits, less the sources done when their waiter was added.
        let all = waits(&reference(&w));
        let mut dropped = 0;
        let kept: BTreeMap<(usize, u32), Vec<(usize, u32)>> = all
            .iter()
            .filter_map(|(&(shard, index), sources)| {
                let done = done_at(index as usize / chunk * chunk);
                let left: Vec<(usize, u32)> = sources
                    .iter()
                    .copied()
                    .filter(|&(s, k)| k >= done[s])
                    .collect();
                dropped += sources.len() - left.len();
                (!left.is_empty()).then_some(((shard, index), left))
            })
            .collect();
        assert_eq!(found, kept);
        assert!(dropped > 0, "some waits named done positions");
        assert!(!found.is_empty(), "the other waits remain");
    }

    #[test]
    fn held_stays_bounded_when_forgetting_as_it_goes_and_grows_without() {
        let w = workload();
        let chunk = 75;
        let chunks_kept = 2;
        let inputs_max = w
            .shards
            .iter()
            .flat_map(|s| &s.txs)
            .map(|tx| tx.inputs.len())
            .max()
            .unwrap_or(0);
        // The chunks kept and the one added, each position at most an id key and its
        // spent coins' keys, both in a map and in its chunk's log.
        let bound = (chunks_kept + 1) * chunk * w.shards.len() * 2 * (1 + inputs_max);
        // Measured before each chunk's forgetting, and at the end: after each add.
        let mut forgetting = DependencyTracker::new(w.shards.len());
        let mut held_forgetting = Vec::new();
        let chunks = feed(&w, &mut forgetting, chunk, |tracker, start| {
            held_forgetting.push(tracker.held());
            let done = start.saturating_sub(chunks_kept * chunk) as u32;
            tracker.forget_below(&vec![done; w.shards.len()]);
        });
        held_forgetting.push(forgetting.held());
        assert_eq!(chunks.len(), 20);
        let mut keeping = DependencyTracker::new(w.shards.len());
        let mut held_keeping = Vec::new();
        feed(&w, &mut keeping, chunk, |tracker, _| {
            held_keeping.push(tracker.held());
        });
        held_keeping.push(keeping.held());
        let held_max = held_forgetting.iter().copied().max().unwrap_or(0);
        assert!(held_max <= bound, "held {held_forgetting:?}, bound {bound}");
        assert!(
            held_keeping.is_sorted(),
            "without forgetting, held only grows"
        );
        assert!(
            held_keeping[20] > 4 * bound,
            "held {held_keeping:?}, bound {bound}"
        );
    }
}
