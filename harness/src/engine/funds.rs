//! The clients of one shard's stream waiting for their funds (issue 12, item 4; what a
//! client knows: `ioschain_workloads::clients`).
//!
//! Message flow: each chunk of the stream comes with the waits of its positions
//! ([`Funds::add_waits`]) and the waiters found for this stream's transactions
//! ([`Funds::add_waiters`]; `super::stream`). The driver releases a range of the
//! stream; for each transaction, in stream order, [`Funds::must_wait`] says whether its
//! client still waits for the receipts of the transactions that created its inputs, and
//! [`Funds::park`] holds it. When such a transaction is done (final, rejected, or an
//! Atomix transaction finished), the shard where it was sent takes
//! [`Funds::take_waiters`] and sends each waiting client an
//! [`MessageBody::Receipt`](ioschain_core::node::atomix::MessageBody::Receipt); the receiving shard hands it to
//! [`Funds::on_receipt`], and a client with all its receipts sends its transaction
//! ([`Funds::unparked`], taken before the rest of the stream).
//!
//! A transaction of the stream spending an output of one its client holds is held with
//! it ([`Funds::follows_held`], [`Funds::park_after`]) and sent right after it
//! ([`Funds::sent`]), so it never reaches the shard before its input exists.
//!
//! A receipt may say its source was shed (refused at a full intake, or given up): the
//! waiting client's funds will never exist, and [`Funds::doomed`] tells it to give its
//! transaction up when it would send it.
//!
//! Invariants: a transaction is parked at most once (at its release); it leaves
//! `parked` exactly when its last receipt arrives, and its followers with it, in order;
//! a receipt that arrives before the release only lowers the count, so a client whose
//! funds are in by then never waits; one that arrives before the chunk of its position
//! is kept ([`Funds::on_receipt`] with the window's end) and lowers the count when the
//! chunk comes.
//! The shard's validators never see any of this: it is what clients do before they send.

use std::collections::VecDeque;

use ioschain_core::tx::Transaction;
use ioschain_core::types::{ShardId, TxId};
use rustc_hash::{FxHashMap, FxHashSet};

/// The waits of one shard's clients.
#[derive(Debug, Default)]
pub struct Funds {
    /// Receipts still missing, by the waiting transaction's stream position.
    missing: FxHashMap<u32, u8>,
    /// Receipts that came before the chunk of their position: how many.
    early: FxHashMap<u32, u8>,
    /// The clients waiting for a transaction of this stream, by its position: (their
    /// shard, their stream position).
    waiters: FxHashMap<u32, Vec<(ShardId, u32)>>,
    /// Released transactions held for receipts: position → intended send time.
    parked: FxHashMap<u32, u64>,
    /// The held intra-shard transactions (parked, or following a parked one), by id:
    /// their positions.
    held_ids: FxHashMap<TxId, u32>,
    /// Transactions held until the one at the key is sent, in release order.
    followers: FxHashMap<u32, Vec<(u32, u64)>>,
    /// Transactions in `followers`.
    following: usize,
    /// Held transactions whose receipts all came, in that order: their clients send
    /// them now.
    pub unparked: VecDeque<(u32, u64)>,
    /// Transactions whose clients waited (counted at the wait).
    pub waited: u64,
    /// Waiting transactions one of whose receipts said its source was shed: their
    /// clients give them up.
    doomed: FxHashSet<u32>,
}

impl Funds {
    /// The clients of a stream, before its first chunk.
    pub fn new() -> Funds {
        Funds::default()
    }

    /// A chunk came: each of `waiting`'s positions waits for that many receipts (less
    /// those that came before the chunk).
    pub fn add_waits(&mut self, waiting: &[(u32, u8)]) {
        for &(index, count) in waiting {
            let early = if self.early.is_empty() {
                0
            } else {
                self.early.remove(&index).unwrap_or(0)
            };
            if count > early {
                self.missing.insert(index, count - early);
            }
        }
    }

    /// The clients at `waiters` wait for this stream's transaction at `source` (not done
    /// yet: a done one answers at once, `super::clients::StreamClients::load`).
    pub fn add_waiters(&mut self, source: u32, waiters: Vec<(ShardId, u32)>) {
        self.waiters.entry(source).or_default().extend(waiters);
    }

    /// Whether the client of stream position `index` (released now) still waits for
    /// receipts before it sends.
    pub fn must_wait(&mut self, index: u32) -> bool {
        !self.missing.is_empty() && self.missing.contains_key(&index)
    }

    /// The client of `index` holds it until its receipts come. `id`: an intra-shard
    /// transaction's id (later transactions spending its outputs follow it).
    pub fn park(&mut self, index: u32, intended: u64, id: Option<TxId>) {
        self.waited += 1;
        self.parked.insert(index, intended);
        if let Some(id) = id {
            self.held_ids.insert(id, index);
        }
    }

    /// The held transaction whose output `tx` spends, if any.
    pub fn follows_held(&self, tx: &Transaction) -> Option<u32> {
        if self.held_ids.is_empty() {
            return None;
        }
        tx.inputs
            .iter()
            .find_map(|input| self.held_ids.get(&input.tx).copied())
    }

    /// The client of `index` (transaction `id`) holds it until the held transaction at
    /// `leader` is sent, and sends it right after.
    pub fn park_after(&mut self, leader: u32, index: u32, intended: u64, id: TxId) {
        // (One that waited for receipts first is counted once.)
        if self.held_ids.insert(id, index).is_none() {
            self.waited += 1;
        }
        self.following += 1;
        self.followers
            .entry(leader)
            .or_default()
            .push((index, intended));
    }

    /// The intra-shard transaction at `index` (id `id`) was sent: it no longer holds
    /// back what spends its outputs, and what followed it is sent next, in order.
    pub fn sent(&mut self, index: u32, id: &TxId) {
        if self.held_ids.is_empty() {
            return;
        }
        self.held_ids.remove(id);
        if let Some(followers) = self.followers.remove(&index) {
            self.following -= followers.len();
            for follower in followers.into_iter().rev() {
                self.unparked.push_front(follower);
            }
        }
    }

    /// A receipt for the client of stream position `index` (`shed`: its source was
    /// shed, so the client will give it up). `loaded_end`: one past the last position
    /// whose chunk came (a receipt for a later one is kept until its chunk comes).
    pub fn on_receipt(&mut self, index: u32, shed: bool, loaded_end: u32) {
        if index >= loaded_end {
            *self.early.entry(index).or_default() += 1;
            if shed {
                self.doomed.insert(index);
            }
            return;
        }
        let Some(missing) = self.missing.get_mut(&index) else {
            return;
        };
        if shed {
            self.doomed.insert(index);
        }
        *missing -= 1;
        if *missing == 0 {
            self.missing.remove(&index);
            if let Some(intended) = self.parked.remove(&index) {
                self.unparked.push_back((index, intended));
            }
        }
    }

    /// Whether the client of stream position `index` heard that a source of its funds
    /// was shed (asked once, when it would send).
    pub fn doomed(&mut self, index: u32) -> bool {
        !self.doomed.is_empty() && self.doomed.remove(&index)
    }

    /// The clients waiting for the transaction at stream position `index` of this
    /// shard, which is done: (their shard, their stream position). They are forgotten.
    pub fn take_waiters(&mut self, index: u32) -> Vec<(ShardId, u32)> {
        if self.waiters.is_empty() {
            return Vec::new();
        }
        self.waiters.remove(&index).unwrap_or_default()
    }

    /// Receipts still to come and clients still waiting, for memory accounting.
    pub fn tracked(&self) -> usize {
        self.missing.len() + self.early.len() + self.waiters.len()
    }

    /// Transactions held or about to be sent.
    pub fn held(&self) -> usize {
        self.parked.len() + self.following + self.unparked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream's first chunk (positions 0..10) is loaded: position 5 waits for two
    /// transactions.
    const LOADED: u32 = 10;

    fn funds() -> Funds {
        let mut f = Funds::new();
        f.add_waits(&[(5, 2)]);
        f
    }

    #[test]
    fn a_client_sends_once_its_last_receipt_comes() {
        let mut f = funds();
        assert!(!f.must_wait(4));
        assert!(f.must_wait(5));
        f.park(5, 77, None);
        f.on_receipt(5, false, LOADED);
        assert!(f.unparked.is_empty(), "one receipt of two");
        f.on_receipt(5, false, LOADED);
        assert_eq!(f.unparked.pop_front(), Some((5, 77)));
        assert_eq!(f.held(), 0);
        assert_eq!(f.waited, 1);
    }

    #[test]
    fn receipts_before_the_release_mean_no_wait() {
        let mut f = funds();
        f.on_receipt(5, false, LOADED);
        f.on_receipt(5, false, LOADED);
        assert!(!f.must_wait(5));
        assert!(f.unparked.is_empty());
    }

    #[test]
    fn a_receipt_before_the_chunk_of_its_position_counts_when_the_chunk_comes() {
        let mut f = Funds::new();
        // Position 12's chunk is not loaded: its receipt is kept.
        f.on_receipt(12, false, LOADED);
        f.add_waits(&[(12, 2)]);
        assert!(f.must_wait(12), "one of two came early");
        f.park(12, 9, None);
        f.on_receipt(12, false, 20);
        assert_eq!(f.unparked.pop_front(), Some((12, 9)));
        // Both early: no wait at all; an early receipt saying its source was shed
        // still dooms the transaction.
        f.on_receipt(15, false, LOADED);
        f.on_receipt(15, true, LOADED);
        f.add_waits(&[(15, 2)]);
        assert!(!f.must_wait(15));
        assert!(f.doomed(15));
        assert_eq!(f.tracked(), 0);
    }

    #[test]
    fn waiters_are_taken_once_by_the_source_position() {
        let mut f = Funds::new();
        f.add_waiters(2, vec![(ShardId(0), 5)]);
        f.add_waiters(2, vec![(ShardId(1), 7)]);
        assert!(f.take_waiters(3).is_empty());
        assert_eq!(f.take_waiters(2), vec![(ShardId(0), 5), (ShardId(1), 7)]);
        assert!(f.take_waiters(2).is_empty(), "forgotten once taken");
        assert_eq!(f.tracked(), 0);
    }

    #[test]
    fn what_spends_a_held_transaction_follows_it_in_order() {
        use ioschain_core::types::{Hash, OutPoint};
        let spending = |id: TxId| Transaction {
            inputs: vec![OutPoint { tx: id, index: 0 }],
            outputs: Vec::new(),
            witnesses: Vec::new(),
        };
        let (p, d, e) = (
            TxId(Hash([5; 32])),
            TxId(Hash([6; 32])),
            TxId(Hash([7; 32])),
        );
        let mut f = funds();
        assert!(f.must_wait(5));
        f.park(5, 50, Some(p));
        // 6 spends 5's output, 7 spends 6's: both follow.
        assert_eq!(f.follows_held(&spending(p)), Some(5));
        f.park_after(5, 6, 60, d);
        assert_eq!(f.follows_held(&spending(d)), Some(6));
        f.park_after(6, 7, 70, e);
        assert_eq!(f.held(), 3);
        f.on_receipt(5, false, LOADED);
        f.on_receipt(5, false, LOADED);
        // Each goes once the one it follows is sent.
        let mut sent = Vec::new();
        for id in [p, d, e] {
            let (index, intended) = f.unparked.pop_front().expect("next in line");
            sent.push((index, intended));
            f.sent(index, &id);
        }
        assert_eq!(sent, vec![(5, 50), (6, 60), (7, 70)]);
        assert_eq!(f.follows_held(&spending(p)), None);
        assert_eq!(f.held(), 0);
    }
}
