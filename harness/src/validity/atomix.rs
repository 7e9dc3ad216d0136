//! The Atomix part of the oracle (PROTOCOL.md §5.7): each shard's replay applies its
//! log's Atomix entries ([`Replay::apply_entry`]: a lock moves unspent outputs to locked,
//! a commit spends them and creates the outputs the shard owns, an abort returns them),
//! and [`check_atomix`] joins the entries of all shards per transaction for the
//! invariants A1–A7 (see the parent module's doc).

use std::collections::HashMap;

use ioschain_core::atomix::{CrossTx, Entry};
use ioschain_core::types::{Hash, OutPoint, ShardId, TxId};

use super::Replay;

/// One shard's Atomix entries about one transaction, as its log holds them.
#[derive(Debug)]
pub(super) struct AtomixSeen {
    pub(super) xtx: CrossTx,
    /// `(declaration, value)` of its lock entries.
    pub(super) locks: Vec<(Hash, u64)>,
    pub(super) rejects: u32,
    pub(super) commits: u32,
    pub(super) aborts: u32,
}

impl Replay {
    /// Applies one Atomix entry of this shard's log (see the module doc).
    pub(super) fn apply_entry(
        &mut self,
        shard: ShardId,
        shard_count: u32,
        entry: &Entry,
        xtx: &CrossTx,
    ) {
        let id = xtx.id();
        if entry.tx() != id || entry.shard() != shard {
            self.atomix_problems.push(format!(
                "shard {shard}: a {} entry for {:?} of shard {} logged with transaction {id:?}",
                entry.kind(),
                entry.tx(),
                entry.shard()
            ));
            return;
        }
        let part: Vec<OutPoint> = xtx.part(shard).map(|(o, _)| *o).collect();
        let seen = self.atomix_seen.entry(id).or_insert_with(|| AtomixSeen {
            xtx: xtx.clone(),
            locks: Vec::new(),
            rejects: 0,
            commits: 0,
            aborts: 0,
        });
        match *entry {
            Entry::Lock {
                value, declaration, ..
            } => {
                seen.locks.push((declaration, value.0));
                if declaration != xtx.declaration_hash(id) {
                    self.atomix_problems.push(format!(
                        "shard {shard}: lock of {id:?} logged with another declaration than its entry's"
                    ));
                }
                let mut sum = 0u64;
                for outpoint in &part {
                    match self.unspent.remove(outpoint) {
                        Some((owner, amount)) => {
                            if !xtx.tx.witnesses.iter().any(|w| w.owner == owner) {
                                self.atomix_problems.push(format!(
                                    "shard {shard}: {id:?} locks {outpoint:?} without its owner's witness"
                                ));
                            }
                            sum = sum.saturating_add(amount);
                            self.locked.insert(*outpoint, (id, owner, amount));
                        }
                        None => self.atomix_problems.push(format!(
                            "A2: shard {shard} locks {outpoint:?} for {id:?}, which is not unspent"
                        )),
                    }
                }
                if sum != value.0 {
                    self.atomix_problems.push(format!(
                        "shard {shard}: lock of {id:?} states {} but its inputs hold {sum}",
                        value.0
                    ));
                }
            }
            Entry::Reject { .. } => seen.rejects += 1,
            Entry::Commit { .. } => {
                seen.commits += 1;
                if seen.commits > 1 {
                    self.problems
                        .push(format!("A5: shard {shard} commits {id:?} twice"));
                    return;
                }
                if !seen.locks.is_empty() {
                    for outpoint in &part {
                        if self.locked.remove(outpoint).is_none() {
                            self.atomix_problems.push(format!(
                                "shard {shard}: commit of {id:?} spends {outpoint:?}, which it does not hold locked"
                            ));
                        }
                    }
                }
                for (index, out) in xtx.tx.outputs.iter().enumerate() {
                    if out.owner.shard(shard_count) == shard {
                        let outpoint = OutPoint {
                            tx: id,
                            index: index as u32,
                        };
                        if self
                            .unspent
                            .insert(outpoint, (out.owner, out.amount.0))
                            .is_some()
                        {
                            self.atomix_problems.push(format!(
                                "shard {shard}: commit of {id:?} creates {outpoint:?} twice"
                            ));
                        }
                    }
                }
            }
            Entry::Abort { .. } => {
                seen.aborts += 1;
                if seen.aborts > 1 {
                    self.problems
                        .push(format!("A5: shard {shard} aborts {id:?} twice"));
                    return;
                }
                for outpoint in &part {
                    match self.locked.remove(outpoint) {
                        Some((by, owner, amount)) if by == id => {
                            self.unspent.insert(*outpoint, (owner, amount));
                        }
                        _ => self.atomix_problems.push(format!(
                            "shard {shard}: abort of {id:?} returns {outpoint:?}, which it does not hold locked"
                        )),
                    }
                }
            }
        }
    }
}

/// The Atomix invariants over every shard's entries (see the module doc). Returns the
/// problems found, the cross-shard fees (locked value of committed transactions minus
/// their outputs), and per transaction whether it committed.
pub(super) fn check_atomix(
    replays: &[Replay],
    shard_count: u32,
    drained: bool,
) -> (Vec<String>, u128, HashMap<TxId, bool>) {
    let mut problems: Vec<String> = replays
        .iter()
        .flat_map(|r| r.atomix_problems.iter().cloned())
        .collect();
    let mut by_tx: HashMap<TxId, Vec<(ShardId, &AtomixSeen)>> = HashMap::new();
    for (shard, replay) in replays.iter().enumerate() {
        for (id, seen) in &replay.atomix_seen {
            by_tx
                .entry(*id)
                .or_default()
                .push((ShardId(shard as u32), seen));
        }
    }
    let mut fees = 0u128;
    let mut outcome = HashMap::with_capacity(by_tx.len());
    for (id, seen) in &by_tx {
        for (shard, s) in seen {
            if s.locks.len() + s.rejects as usize > 1 {
                problems.push(format!(
                    "A3: shard {shard} decided {id:?} {} times ({} locks, {} rejects)",
                    s.locks.len() + s.rejects as usize,
                    s.locks.len(),
                    s.rejects
                ));
            }
        }
        let committed: Vec<&(ShardId, &AtomixSeen)> =
            seen.iter().filter(|(_, s)| s.commits > 0).collect();
        let aborted = seen.iter().any(|(_, s)| s.aborts > 0);
        let lock_of = |shard: ShardId| {
            seen.iter()
                .find(|(s, _)| *s == shard)
                .and_then(|(_, x)| x.locks.first().copied())
        };
        if let Some((_, first)) = committed.first() {
            let xtx = &first.xtx;
            let declaration = xtx.declaration_hash(*id);
            let mut locked_value = 0u128;
            for shard in xtx.input_shards() {
                match lock_of(shard) {
                    Some((d, value)) if d == declaration => locked_value += u128::from(value),
                    _ => problems.push(format!(
                        "A4: {id:?} committed without a lock of input shard {shard} under its declaration"
                    )),
                }
            }
            // Not drained: a commit may still be on its way to some shards.
            for shard in xtx.involved_shards(shard_count) {
                if drained && !seen.iter().any(|(s, x)| *s == shard && x.commits > 0) {
                    problems.push(format!(
                        "A1: {id:?} committed, but shard {shard} never applied the commit"
                    ));
                }
            }
            if aborted {
                problems.push(format!("A1: {id:?} both committed and aborted"));
            }
            let outputs: u128 = xtx.tx.outputs.iter().map(|o| u128::from(o.amount.0)).sum();
            fees += locked_value.saturating_sub(outputs);
        } else {
            // Not committed: every lock must have been returned, and only with evidence.
            let xtx = &seen[0].1.xtx;
            let declaration = xtx.declaration_hash(*id);
            let evidence = seen.iter().any(|(shard, s)| {
                xtx.input_shards().contains(shard)
                    && (s.rejects > 0 || s.locks.iter().any(|(d, _)| *d != declaration))
            });
            if aborted && !evidence {
                problems.push(format!(
                    "A4: {id:?} aborted without a refusal of a named shard in the logs"
                ));
            }
            for (shard, s) in seen {
                if !s.locks.is_empty() && s.aborts == 0 && drained {
                    problems.push(format!(
                        "A7: shard {shard} still holds the inputs of {id:?} locked at the end of a drained run"
                    ));
                }
            }
        }
        outcome.insert(*id, !committed.is_empty());
    }
    (problems, fees, outcome)
}

#[cfg(test)]
mod tests {
    use ioschain_core::atomix::DeclaredInput;
    use ioschain_core::tx::{Transaction, TxOut};
    use ioschain_core::types::{Amount, Owner};

    use super::*;

    const SHARDS: u32 = 2;

    fn owner_in(shard: u32) -> Owner {
        (0u8..=255)
            .map(|b| Owner([b; 32]))
            .find(|o| o.shard(SHARDS).0 == shard)
            .expect("some byte pattern maps to each shard")
    }

    /// Inputs in shards 0 and 1 (100 each), one output of 150 to an owner of shard 1.
    fn xtx() -> CrossTx {
        let input = |n: u8| OutPoint {
            tx: TxId(Hash([n; 32])),
            index: 0,
        };
        CrossTx {
            tx: Transaction {
                inputs: vec![input(1), input(2)],
                outputs: vec![TxOut {
                    owner: owner_in(1),
                    amount: Amount(150),
                }],
                witnesses: vec![],
            },
            declared: vec![
                DeclaredInput {
                    shard: ShardId(0),
                    amount: Amount(100),
                },
                DeclaredInput {
                    shard: ShardId(1),
                    amount: Amount(100),
                },
            ],
        }
    }

    /// Replays whose logs hold, per shard, `(locks under the declaration, locks under
    /// another, rejects, commits, aborts)` for `xtx()`.
    fn replays(per_shard: [(u32, u32, u32, u32, u32); 2]) -> Vec<Replay> {
        let x = xtx();
        let id = x.id();
        let declaration = x.declaration_hash(id);
        per_shard
            .iter()
            .map(|&(locks, other, rejects, commits, aborts)| {
                let mut replay = Replay::default();
                let mut lock_list = vec![(declaration, 100); locks as usize];
                lock_list.extend(vec![(Hash([9; 32]), 100); other as usize]);
                if locks + other + rejects + commits + aborts > 0 {
                    replay.atomix_seen.insert(
                        id,
                        AtomixSeen {
                            xtx: x.clone(),
                            locks: lock_list,
                            rejects,
                            commits,
                            aborts,
                        },
                    );
                }
                replay
            })
            .collect()
    }

    fn problems(per_shard: [(u32, u32, u32, u32, u32); 2]) -> Vec<String> {
        check_atomix(&replays(per_shard), SHARDS, true).0
    }

    #[test]
    fn a_commit_everywhere_with_every_lock_passes_and_counts_the_fee() {
        let (problems, fees, outcome) =
            check_atomix(&replays([(1, 0, 0, 1, 0), (1, 0, 0, 1, 0)]), SHARDS, true);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(fees, 50);
        assert_eq!(outcome.get(&xtx().id()), Some(&true));
    }

    #[test]
    fn a_commit_missing_at_an_involved_shard_breaks_atomicity() {
        let p = problems([(1, 0, 0, 1, 0), (1, 0, 0, 0, 0)]);
        assert!(p.iter().any(|p| p.starts_with("A1")), "{p:?}");
    }

    #[test]
    fn a_commit_without_a_lock_under_its_declaration_is_caught() {
        let p = problems([(1, 0, 0, 1, 0), (0, 1, 0, 1, 0)]);
        assert!(p.iter().any(|p| p.starts_with("A4")), "{p:?}");
    }

    #[test]
    fn two_decisions_of_one_shard_are_caught() {
        let p = problems([(1, 0, 1, 0, 1), (0, 0, 1, 0, 0)]);
        assert!(p.iter().any(|p| p.starts_with("A3")), "{p:?}");
    }

    #[test]
    fn an_abort_without_a_refusal_is_caught() {
        let p = problems([(1, 0, 0, 0, 1), (1, 0, 0, 0, 1)]);
        assert!(p.iter().any(|p| p.starts_with("A4")), "{p:?}");
    }

    #[test]
    fn a_lock_left_at_the_end_of_a_drained_run_is_caught() {
        let p = problems([(1, 0, 0, 0, 0), (0, 0, 1, 0, 0)]);
        assert!(p.iter().any(|p| p.starts_with("A7")), "{p:?}");
        // Not drained: the lock may still be resolved, so it is no violation.
        let (p, _, _) = check_atomix(&replays([(1, 0, 0, 0, 0), (0, 0, 1, 0, 0)]), SHARDS, false);
        assert!(p.is_empty(), "{p:?}");
        // Aborted with the other shard's refusal: fine.
        assert!(problems([(1, 0, 0, 0, 1), (0, 0, 1, 0, 0)]).is_empty());
    }
}
