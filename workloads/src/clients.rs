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
//!   on), so the shard never has to know which cross-shard payments are on their way.
//!
//! An input that no transaction of the run created (a genesis coin, or one the client
//! only believes it has) is spent at once. [`Dependencies`] is derived from the streams
//! alone — each input names its creating transaction's id — so it carries nothing of the
//! answer key: a cross-shard transaction meant to abort waits exactly like one meant to
//! commit.

use std::collections::HashMap;

use ioschain_core::types::{ShardId, TxId};
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
        let count: usize = self.shards.iter().map(|s| s.txs.len()).sum();
        let mut created: FxHashMap<TxId, (u32, u32)> =
            HashMap::with_capacity_and_hasher(count, FxBuildHasher);
        for (shard, part) in self.shards.iter().enumerate() {
            for (index, tx) in part.txs.iter().enumerate() {
                created.insert(tx.id(), (shard as u32, index as u32));
            }
        }
        let mut out: Vec<ShardDependencies> = (0..self.shards.len())
            .map(|_| ShardDependencies::default())
            .collect();
        let mut sources: Vec<(u32, u32)> = Vec::new();
        for (shard, part) in self.shards.iter().enumerate() {
            for (index, tx) in part.txs.iter().enumerate() {
                let cross = part.cross_item(index as u32).is_some();
                sources.clear();
                for input in &tx.inputs {
                    let Some(&(s, k)) = created.get(&input.tx) else {
                        continue;
                    };
                    // An intra-shard transaction waits only for cross-shard payments: its
                    // own stream's order (and the shard's UTXO check) covers the rest.
                    let wanted = cross || self.shards[s as usize].cross_item(k).is_some();
                    if wanted && !sources.contains(&(s, k)) {
                        sources.push((s, k));
                    }
                }
                if sources.is_empty() {
                    continue;
                }
                let waits = u8::try_from(sources.len()).expect("a transaction has few inputs");
                out[shard].waiting.push((index as u32, waits));
                for &(s, k) in &sources {
                    out[s as usize]
                        .waiters
                        .entry(k)
                        .or_default()
                        .push((ShardId(shard as u32), index as u32));
                }
            }
        }
        Dependencies { shards: out }
    }
}

#[cfg(test)]
mod tests {
    use ioschain_core::types::ShardId;

    use crate::{ClientMix, CrossExpected, SenderDistribution, Workload, WorkloadSpec, generate};

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
        for (shard, part) in w.shards.iter().enumerate() {
            assert!(deps.shards[shard].waiting.is_sorted_by_key(|&(i, _)| i));
            for &(index, waits) in &deps.shards[shard].waiting {
                let tx = &part.txs[index as usize];
                let sources = sources_of(&deps, shard, index);
                assert_eq!(sources.len(), usize::from(waits));
                for (s, k) in sources {
                    let id = w.shards[s].txs[k as usize].id();
                    assert!(tx.inputs.iter().any(|i| i.tx == id));
                    if part.cross_item(index).is_none() {
                        assert!(
                            w.shards[s].cross_item(k).is_some(),
                            "an intra-shard transaction waits only for Atomix payments"
                        );
                    }
                }
                if part.cross_item(index).is_some() {
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
        for (shard, part) in w.shards.iter().enumerate() {
            for item in &part.cross {
                if item.expected == CrossExpected::Abort && waits(shard, item.index) {
                    aborting += 1;
                }
            }
        }
        assert!(aborting > 0);
    }
}
