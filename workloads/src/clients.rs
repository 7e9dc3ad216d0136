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

use std::collections::HashMap;

use ioschain_core::types::{OutPoint, ShardId, TxId};
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::Workload;

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
    /// clients' transactions: (their shard, their stream position).
    pub waiters: FxHashMap<u32, Vec<(ShardId, u32)>>,
}

impl Workload {
    /// The clients' waits (see the module doc), derived from the streams.
    pub fn dependencies(&self) -> Dependencies {
        // Keys are the first 8 bytes of an id (ids are hashes), and of an id with an
        // output index: a collision could only add a wait, never lose one.
        let tx_key = |id: &TxId| u64::from_le_bytes(id.0.0[..8].try_into().expect("8 bytes"));
        // A coin as a stream's clients name it (two streams may name the same outpoint that
        // never existed: their clients know nothing of each other).
        let coin_key = |shard: usize, o: &OutPoint| {
            tx_key(&o.tx) ^ u64::from(o.index).rotate_left(40) ^ (shard as u64).rotate_left(20)
        };
        let count: usize = self.shards.iter().map(|s| s.txs.len()).sum();
        let mut created: FxHashMap<u64, (u32, u32)> =
            HashMap::with_capacity_and_hasher(count, FxBuildHasher);
        for (shard, stream) in self.shards.iter().enumerate() {
            for (index, tx) in stream.txs.iter().enumerate() {
                created.insert(tx_key(&tx.id()), (shard as u32, index as u32));
            }
        }
        let mut out: Vec<ShardDependencies> = (0..self.shards.len())
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
        // Intra-shard transactions, in stream order: each coin's latest spend so far.
        let mut last_spender: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        for (shard, stream) in self.shards.iter().enumerate() {
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
                    // Only cross-shard payments: the stream's order (and the shard's
                    // UTXO check) covers the rest.
                    if let Some(&(s, k)) = created.get(&tx_key(&input.tx))
                        && self.shards[s as usize].cross_item(k).is_some()
                    {
                        add(&mut sources, (s, k));
                    }
                }
                record(shard, index, &sources);
            }
        }
        // Cross-shard transactions: every creator of an input, and every intra-shard
        // transaction that named one of them (all come before it: an input leaves its
        // owner's wallet when a cross-shard transaction takes it).
        for (shard, stream) in self.shards.iter().enumerate() {
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
        Dependencies { shards: out }
    }
}

#[cfg(test)]
mod tests {
    use ioschain_core::types::ShardId;

    use ioschain_core::tx::RejectReason;

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
    fn sources_of(deps: &super::Dependencies, shard: usize, index: u32) -> Vec<(usize, u32)> {
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
}
