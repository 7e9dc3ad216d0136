//! The coordinator rule (PROTOCOL.md §5.5 step 5): every named input shard keeps the
//! proofs that reach it about a transaction, and at each FinalBlock looks at those
//! without news for `t_unlock` blocks: if the proofs show the transaction finished it
//! forgets it; otherwise, as coordinator (or backup, after twice as long), it sends what
//! is missing and waits twice as long before acting again (up to `16·t_unlock`), so a
//! slow network is not flooded with duplicates.
//!
//! Invariant: a coordinator acts only after silence (`patience` FinalBlocks without a
//! new proof), and only on proofs it verifies. Only news breaks the silence: a proof it
//! already holds, or one that does not verify on arrival, is dropped (so neither a
//! replaying nor a forging sender can hold the coordinator off or fill its memory).

use super::*;

/// What a named input shard keeps for the coordinator rule.
#[derive(Debug)]
pub(super) struct Watch {
    pub(super) proofs: Vec<Arc<EntryProof>>,
    /// Height of this shard's chain when the last proof arrived (or it last acted).
    pub(super) last: u64,
    /// FinalBlocks without news before it acts: `t_unlock`, doubled after each action
    /// (up to `16·t_unlock`), so a slow network is not flooded with duplicates.
    pub(super) patience: u64,
    pub(super) client: ShardId,
}

impl AtomixNode {
    /// The coordinator rule, at a FinalBlock of height `height`: every watched
    /// transaction whose last proof is `t_unlock` blocks old (more after earlier
    /// actions, see `Watch::patience`) is looked at; what is missing is sent, what is
    /// done or no longer this shard's concern is forgotten.
    pub fn coordinate(&mut self, height: u64) {
        while let Some(&Reverse((at, tx))) = self.due.peek() {
            if at > height {
                break;
            }
            self.due.pop();
            let Some(watch) = self.watch.get(&tx) else {
                continue;
            };
            // News since it was queued: look again when that is `patience` blocks old.
            let due_at = watch.last + watch.patience;
            if due_at > height {
                self.due.push(Reverse((due_at, tx)));
                continue;
            }
            // The proofs that reached this shard (each verified on arrival) show the
            // transaction finished: nothing is left to coordinate.
            if self.state.decision(&tx).is_some_and(|d| {
                let xtx = &d.xtx;
                settled(
                    &xtx.input_shards(),
                    &xtx.involved_shards(self.shard_count),
                    &watch.proofs,
                )
            }) {
                self.watch.remove(&tx);
                continue;
            }
            let since = height.saturating_sub(watch.last);
            let client = watch.client;
            let resolution = self.state.coordinate(
                &tx,
                since,
                watch.patience,
                watch.proofs.iter().map(|p| &**p),
                &mut self.verifier,
                &*self.federation,
            );
            match resolution {
                None if self.state.role(&tx).is_some() => {
                    // A backup not due yet.
                    let watch = self.watch.get(&tx).expect("present");
                    self.due
                        .push(Reverse((watch.last + 2 * watch.patience, tx)));
                    continue;
                }
                None if self.state.decision(&tx).is_none() => {
                    // Proofs about a transaction this named shard has not decided on
                    // yet (its request is held back, or still on its way): kept, since
                    // its coordinator duty may need them once it decides.
                    self.due.push(Reverse((height + self.t_unlock, tx)));
                    continue;
                }
                None | Some(Resolution::Done) => {
                    self.watch.remove(&tx);
                    continue;
                }
                Some(Resolution::Forward { xtx, to }) => {
                    self.counters.coordinator_forwards += 1;
                    let xtx = Arc::new(xtx);
                    for shard in to {
                        self.send(
                            shard,
                            MessageBody::Request(AtomixRequest::lock(Arc::clone(&xtx), client)),
                        );
                    }
                }
                Some(Resolution::Commit { unlock, to }) => {
                    self.counters.coordinator_commits += 1;
                    let unlock = Arc::new(unlock);
                    self.send_all(
                        to,
                        AtomixRequest::Commit {
                            unlock: Arc::clone(&unlock),
                            client,
                        },
                    );
                }
                Some(Resolution::Abort { unlock, to }) => {
                    self.counters.coordinator_aborts += 1;
                    let unlock = Arc::new(*unlock);
                    self.send_all(
                        to,
                        AtomixRequest::Abort {
                            unlock: Arc::clone(&unlock),
                            client,
                        },
                    );
                }
            }
            if let Some(watch) = self.watch.get_mut(&tx) {
                watch.last = height;
                watch.patience = (watch.patience * 2).min(16 * self.t_unlock);
                self.due.push(Reverse((height + watch.patience, tx)));
            }
        }
    }
}

/// Whether `proofs` (entries only, unverified) show a transaction with
/// these named and involved shards finished: every named shard decided, and either every involved shard applied the commit or every
/// named shard that locked applied the abort.
pub fn settled(named: &[ShardId], involved: &[ShardId], proofs: &[Arc<EntryProof>]) -> bool {
    let has = |shard: ShardId, kind: fn(&Entry) -> bool| {
        proofs
            .iter()
            .any(|p| p.entry.shard() == shard && kind(&p.entry))
    };
    let lock = |e: &Entry| matches!(e, Entry::Lock { .. });
    let reject = |e: &Entry| matches!(e, Entry::Reject { .. });
    let commit = |e: &Entry| matches!(e, Entry::Commit { .. });
    let abort = |e: &Entry| matches!(e, Entry::Abort { .. });
    let decided = named
        .iter()
        .all(|&shard| has(shard, lock) || has(shard, reject));
    decided
        && (involved.iter().all(|&shard| has(shard, commit))
            || named
                .iter()
                .all(|&shard| !has(shard, lock) || has(shard, abort)))
}
