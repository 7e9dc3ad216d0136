//! The clients of one shard's stream (issue 12, item 3): everything a client does before
//! and after it sends a transaction, holding only what a client holds. The shard's
//! validators ([`ShardNode`]) see none of it: they receive submissions and
//! report outcomes.
//!
//! Message flow:
//! 1. The driver releases a range of the stream ([`Submit`]). For each transaction, in
//!    stream order, its client either holds it for receipts ([`Funds`]: the transactions
//!    that created its inputs are not done yet), or sends it: an intra-shard one to the
//!    shard's validators ([`ShardNode::submit`]), a cross-shard one through its Atomix
//!    client ([`AtomixClients`]: lock requests to its input shards).
//! 2. The validators answer with outcomes ([`ioschain_core::node::Effects`]): provisional,
//!    final, rejected, or "send it again at this time" (a re-route after a silent or
//!    banned believable validator, an exposure cap, an exclusion by a fraud proof). A
//!    client re-submits at the time given ([`StreamClients::retry`]); until then a
//!    transaction of the stream spending its outputs and rejected for it waits too, and
//!    is sent again once that one is in, instead of being given up.
//! 3. When a transaction is done (final, rejected for good, or an Atomix transaction
//!    finished), its client tells the clients waiting for it (receipts, [`Funds::waiters`]).
//!
//! 4. A transaction that arrives at the shard's full intake ([`super::intake`]) is
//!    refused as overloaded; its client sends it again, in arrival order, once the shard
//!    has room, and its latency runs from that attempt. One the shard never admitted by
//!    one latency budget after the schedule ended is given up ([`Shed::Abandoned`]), and
//!    so is any transaction depending on a given-up one — spending an output it would
//!    have created, or a coin whose earlier spend it was ([`Shed::Cascaded`]): its
//!    client learns so from the client of the given-up one (a receipt marked shed, for
//!    the waits of [`Funds`]) or, for an output of its own stream, knows it itself.
//!    What is not shed therefore meets the state the answer key assumed, and keeps the
//!    outcome it gives.
//!
//! Invariants: every released transaction is, at any time, in exactly one place: a
//! pending range, held by its client, queued for re-submission, with the validators,
//! done, or shed; submissions reach the validators in the order clients send them, at
//! most `verify_batch_max` waiting there at a time (so the validators' batches keep
//! their bound; what waits beyond is the intake's, which the host bounds).
//!
//! [`Funds`]: super::funds::Funds
//! [`Funds::waiters`]: super::funds::Funds::waiters

use std::collections::VecDeque;
use std::sync::Arc;

use std::sync::atomic::AtomicU32;

use ioschain_core::tx::{RejectReason, Rejection};
use ioschain_core::types::{ShardId, TxId};

use super::schedule::RateProfile;
use rustc_hash::{FxHashMap, FxHashSet};

use ioschain_core::node::atomix::{AtomixCounters, MessageBody, ShardMessage};
use ioschain_core::node::{Retry, ShardNode, Submission};

use super::client::{AtomixClients, Release};
use super::funds::Funds;
use super::stream::{ShardChunk, StreamWindow};

/// What reaches a shard's inbox from the driver's side: the next chunk of its stream
/// (always before any release of its positions), or a released range.
#[derive(Debug)]
pub enum Inbox {
    /// The next chunk of the stream.
    Chunk(Box<ShardChunk>),
    /// A range released.
    Release(Submit),
}

/// Why a transaction was shed (given up unsent: an outcome of overload, not an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// Never admitted by the shard's full intake before its clients gave up.
    Abandoned,
    /// Given up by its client because a transaction it depends on was shed.
    Cascaded,
}

/// The key clients keep of a shed transaction's id (its first 8 bytes: ids are hashes,
/// and a collision could only shed one more, never keep one that depends on a shed one).
pub fn shed_key(id: &TxId) -> u64 {
    u64::from_le_bytes(id.0.0[..8].try_into().expect("8 bytes"))
}

/// A range of the shard's stream released by the driver.
#[derive(Clone, Debug)]
pub struct Submit {
    /// First index released.
    pub start: u32,
    /// One past the last index released.
    pub end: u32,
    /// How the intended send time of each transaction is known.
    pub timing: Timing,
    /// Set by the shard's intake: the range arrived at a full intake, so its clients
    /// send it once there is room, and latency runs from then.
    pub refused: bool,
}

/// Intended send times.
#[derive(Clone, Debug)]
pub enum Timing {
    /// Open loop: transaction `k` was due at `k / rate` seconds after the start.
    Scheduled {
        /// Nanoseconds between two transactions of this shard.
        spacing_ns: f64,
    },
    /// Open loop on a rate profile: transaction `k` was due when the profile had offered
    /// `k` per shard (`RateProfile::time_of(k · shards)`).
    Profile {
        /// The profile (over all shards).
        profile: Arc<RateProfile>,
        /// Shards sharing it.
        shards: u32,
    },
    /// Closed loop: all were sent at this time (ns since the start).
    SentAt(u64),
}

impl Timing {
    /// When the transaction at stream position `index` was meant to be sent.
    pub fn intended_ns(&self, index: u32) -> u64 {
        match self {
            Timing::Scheduled { spacing_ns } => (f64::from(index) * spacing_ns) as u64,
            Timing::Profile { profile, shards } => {
                (profile.time_of(f64::from(index) * f64::from(*shards)) * 1e9) as u64
            }
            Timing::SentAt(ns) => *ns,
        }
    }
}

/// The clients of one shard's stream.
#[derive(Debug)]
pub struct StreamClients {
    /// The stream's chunks not yet done.
    pub window: StreamWindow,
    pending: VecDeque<Submit>,
    /// Released transactions in `pending`.
    pending_count: usize,
    /// One past the last stream position released.
    released_end: u32,
    /// Transactions to send again, by due time.
    resubmits: VecDeque<Retry>,
    /// Transactions waiting to be re-submitted, with when: a transaction spending one of
    /// their outputs and rejected for it waits with it.
    awaiting: FxHashMap<TxId, u64>,
    /// How long a client whose input is being re-submitted waits before it looks again.
    wait_again_ns: u64,
    /// The clients waiting for their funds.
    pub funds: Funds,
    /// The Atomix clients of the stream's cross-shard transactions.
    pub atomix: AtomixClients,
    /// Their counts (dispatched, committed, aborted, misbehaviour sent).
    pub atomix_counters: AtomixCounters,
    /// Messages the clients send (lock requests, unlocks, receipts).
    pub outbox: Vec<ShardMessage>,
    /// Every rejection the clients accepted as final: stream position and reason (what
    /// the oracle checks the canaries against).
    pub rejections: Vec<(u32, RejectReason)>,
    /// Rejections by reason (indexed like [`RejectReason::ALL`]).
    pub rejected: [u64; RejectReason::ALL.len()],
    /// Every shed transaction: stream position and why (what the oracle accounts for).
    pub shed: Vec<(u32, Shed)>,
    /// Shed transactions the host has not counted yet.
    pub newly_shed: u64,
    /// Refused transactions admitted later: the time they waited at their clients, in
    /// all and at most (ns).
    pub refused_wait_ns: u64,
    /// (See `refused_wait_ns`.)
    pub refused_wait_max_ns: u64,
    /// Refused transactions admitted later.
    pub refused_admitted: u64,
    /// Refused transactions in `pending`.
    refused_waiting: u64,
    /// Refused transactions never admitted (given up at the end).
    pub abandoned: u64,
    /// The shed transactions' ids ([`shed_key`]): a transaction of the stream spending
    /// one's output is shed too.
    shed_ids: FxHashSet<u64>,
    /// The shed transactions' positions (a client that learns late that it waits for
    /// one is told it was shed).
    shed_positions: FxHashSet<u32>,
}

impl StreamClients {
    /// The clients of `id`'s stream (of `shard_count`), before its first chunk, the
    /// start of their window published through `window_start`. `wait_again_ns`: how
    /// long one whose input is being re-submitted waits before it sends again (a
    /// FinalBlock interval).
    pub fn new(
        id: ShardId,
        shard_count: u32,
        window_start: Arc<AtomicU32>,
        wait_again_ns: u64,
    ) -> Self {
        StreamClients {
            window: StreamWindow::new(window_start),
            pending: VecDeque::new(),
            pending_count: 0,
            released_end: 0,
            resubmits: VecDeque::new(),
            awaiting: FxHashMap::default(),
            wait_again_ns,
            funds: Funds::new(),
            atomix: AtomixClients::new(id, shard_count),
            atomix_counters: AtomixCounters::default(),
            outbox: Vec::new(),
            rejections: Vec::new(),
            rejected: [0; RejectReason::ALL.len()],
            shed: Vec::new(),
            newly_shed: 0,
            refused_wait_ns: 0,
            refused_wait_max_ns: 0,
            refused_admitted: 0,
            refused_waiting: 0,
            abandoned: 0,
            shed_ids: FxHashSet::default(),
            shed_positions: FxHashSet::default(),
        }
    }

    /// The next chunk of the stream came: its transactions join the window, its waits
    /// the funds; a client found waiting for a transaction that is already done gets its
    /// receipt now.
    pub fn load(&mut self, chunk: ShardChunk) {
        let mut chunk = chunk;
        let waits = std::mem::take(&mut chunk.waits);
        self.window.push(chunk);
        self.funds.add_waits(&waits.waiting);
        for (source, waiters) in waits.waiters {
            if !self.window.is_done(source) {
                self.funds.add_waiters(source, waiters);
                continue;
            }
            let shed = self.shed_positions.contains(&source);
            for (to, index) in waiters {
                self.outbox.push(ShardMessage {
                    to,
                    body: MessageBody::Receipt { index, shed },
                });
            }
        }
    }

    /// A receipt for the client of stream position `index` (`shed`: its source was
    /// shed).
    pub fn on_receipt(&mut self, index: u32, shed: bool) {
        self.funds.on_receipt(index, shed, self.window.end());
    }

    /// The driver released `submit` while the shard's intake had `room` for more in
    /// flight, less what the refused ones still waiting take first: what arrives beyond
    /// it is refused (its clients send it once there is room). Returns how many were
    /// admitted.
    pub fn release_range(&mut self, submit: Submit, room: u64) -> u32 {
        self.released_end = submit.end;
        let len = submit.end - submit.start;
        // The refused ones still waiting are first in line for the room.
        let admitted = room
            .saturating_sub(self.refused_waiting)
            .min(u64::from(len)) as u32;
        self.pending_count += len as usize;
        self.refused_waiting += u64::from(len - admitted);
        let cut = submit.start + admitted;
        if admitted > 0 {
            self.pending.push_back(Submit {
                end: cut,
                refused: false,
                ..submit.clone()
            });
        }
        if cut < submit.end {
            self.pending.push_back(Submit {
                start: cut,
                refused: true,
                ..submit
            });
        }
        admitted
    }

    /// Refused transactions not admitted yet.
    pub fn refused_waiting(&self) -> u64 {
        self.refused_waiting
    }

    /// The clients give up every refused transaction the shard has not admitted (the
    /// schedule is over); what was admitted stays in line.
    pub fn abandon(&mut self) {
        let ranges = std::mem::take(&mut self.pending);
        for range in ranges {
            if !range.refused {
                self.pending.push_back(range);
                continue;
            }
            for index in range.start..range.end {
                self.give_up(index, Shed::Abandoned);
            }
            self.pending_count -= (range.end - range.start) as usize;
            self.abandoned += u64::from(range.end - range.start);
        }
        self.refused_waiting = 0;
    }

    /// The client of stream position `index` gives its transaction up (`cause`): the
    /// clients waiting for it hear that it was shed, a conflicting partner waiting for
    /// it goes alone, and what follows it in the stream is released to be judged in
    /// turn.
    fn give_up(&mut self, index: u32, cause: Shed) {
        let stream = &self.window;
        let id = stream.id(index);
        if let Some(item) = stream.cross_item(index)
            && let Some((first, intended)) = self.atomix.shed(item)
        {
            let first = Release {
                tx: stream.tx(first),
                item: stream
                    .cross_item(first)
                    .expect("a pair is two cross-shard transactions"),
                intended,
            };
            self.atomix
                .dispatch(first, None, &mut self.outbox, &mut self.atomix_counters);
        }
        // What followed it (spending its outputs) is released, and shed in its turn.
        self.funds.sent(index, &id);
        self.shed_ids.insert(shed_key(&id));
        self.shed_positions.insert(index);
        self.shed.push((index, cause));
        self.newly_shed += 1;
        self.send_receipts_of(index, true);
    }

    /// Whether the client of stream position `index` gives it up because one it depends
    /// on was shed: a receipt said so, or it spends an output of a shed one.
    fn depends_on_shed(&mut self, index: u32) -> bool {
        if self.funds.doomed(index) {
            return true;
        }
        if self.shed_ids.is_empty() {
            return false;
        }
        self.window
            .tx(index)
            .inputs
            .iter()
            .any(|input| self.shed_ids.contains(&shed_key(&input.tx)))
    }

    /// Whether no client has anything left to send or wait for.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
            && self.resubmits.is_empty()
            && self.funds.held() == 0
            && self.atomix.is_idle()
    }

    /// Transactions the clients hold: released and not sent yet, held for their funds, or
    /// waiting to be sent again (a level for the timeline; the first are the intake's).
    pub fn queued(&self) -> usize {
        self.pending_count + self.funds.held() + self.resubmits.len()
    }

    /// What the clients still hold (for a drain that timed out).
    pub fn busy(&self) -> String {
        format!(
            "pending {} held {} resubmits {} atomix clients {}",
            self.pending_count,
            self.funds.held(),
            self.resubmits.len(),
            self.atomix.working()
        )
    }

    /// Clients send what is due at `now_ns` to `node`, until it holds
    /// `node.wants()` more: first the held transactions whose funds came (others may
    /// wait for them), then re-submissions due, then the released stream in order (of
    /// its refused transactions, at most `room`: the intake admits them now). Returns
    /// whether anything was sent.
    pub fn send(&mut self, now_ns: u64, node: &mut ShardNode, mut room: u64) -> bool {
        let mut sent = false;
        while node.wants() > 0
            && let Some((index, intended)) = self.funds.unparked.pop_front()
        {
            sent = true;
            if self.depends_on_shed(index) {
                self.give_up(index, Shed::Cascaded);
                continue;
            }
            if self.window.cross_item(index).is_some() {
                self.release(index, intended, true, node);
                continue;
            }
            let id = self.window.id(index);
            // Its funds came, but an input of its own stream is still held: after that.
            if let Some(leader) = self.follows_held(index)
                && leader != index
            {
                self.funds.park_after(leader, index, intended, id);
                continue;
            }
            self.release(index, intended, true, node);
            self.funds.sent(index, &id);
        }
        while node.wants() > 0 && self.resubmits.front().is_some_and(|r| r.due_ns <= now_ns) {
            let r = self.resubmits.pop_front().expect("checked");
            node.submit(Submission {
                urgent: true,
                ..r.submission
            });
            sent = true;
        }
        while node.wants() > 0 {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let mut take = (front.end - front.start).min(node.wants() as u32);
            let refused = front.refused;
            if refused {
                // Admitted only as the intake has room.
                take = take.min(room.min(u64::from(u32::MAX)) as u32);
                if take == 0 {
                    break;
                }
                room -= u64::from(take);
                self.refused_waiting -= u64::from(take);
            }
            let (start, timing) = (front.start, front.timing.clone());
            front.start += take;
            if front.start == front.end {
                self.pending.pop_front();
            }
            self.pending_count -= take as usize;
            sent = true;
            for index in start..start + take {
                let mut intended = timing.intended_ns(index);
                if refused {
                    // Admitted now, at its client's next attempt.
                    let waited = now_ns.saturating_sub(intended);
                    self.refused_admitted += 1;
                    self.refused_wait_ns += waited;
                    self.refused_wait_max_ns = self.refused_wait_max_ns.max(waited);
                    intended = intended.max(now_ns);
                }
                if self.funds.must_wait(index) {
                    self.park(index, intended);
                } else if self.depends_on_shed(index) {
                    self.give_up(index, Shed::Cascaded);
                } else if let Some(leader) = self.follows_held(index) {
                    let id = self.window.id(index);
                    self.funds.park_after(leader, index, intended, id);
                } else {
                    self.release(index, intended, false, node);
                }
            }
        }
        sent
    }

    /// The client of stream position `index` holds it until its receipts come; an
    /// intra-shard transaction of the stream spending its outputs follows it.
    fn park(&mut self, index: u32, intended: u64) {
        let stream = &self.window;
        let id = stream.cross_item(index).is_none().then(|| stream.id(index));
        self.funds.park(index, intended, id);
    }

    /// The held transaction of the stream whose output the intra-shard transaction at
    /// `index` spends: its client sends it after that one.
    fn follows_held(&self, index: u32) -> Option<u32> {
        if self.window.cross_item(index).is_some() {
            return None;
        }
        self.funds.follows_held(self.window.tx(index))
    }

    /// The client of stream position `index` sends it: a cross-shard transaction through
    /// its Atomix client (the first of a conflicting pair waits for its partner), an
    /// intra-shard one to the validators.
    fn release(&mut self, index: u32, intended: u64, urgent: bool, node: &mut ShardNode) {
        let stream = &self.window;
        let Some(item) = stream.cross_item(index) else {
            node.submit(Submission {
                tx: Arc::clone(stream.tx(index)),
                index,
                intended,
                retry: 0,
                urgent,
            });
            return;
        };
        // A conflicting pair waits for its second transaction only if that one is
        // released too.
        if self.atomix.hold_pair(item, intended, self.released_end) {
            return;
        }
        let release = |index: u32, intended: u64| Release {
            tx: stream.tx(index),
            item: stream
                .cross_item(index)
                .expect("a pair is two cross-shard transactions"),
            intended,
        };
        let (first, second) = match self.atomix.take_pair_first(item) {
            Some((first, first_intended)) => (
                release(first, first_intended),
                Some(release(index, intended)),
            ),
            None => (release(index, intended), None),
        };
        self.atomix
            .dispatch(first, second, &mut self.outbox, &mut self.atomix_counters);
    }

    /// The transaction at stream position `index` is done (final or rejected; a
    /// cross-shard one committed or aborted): its client tells the clients waiting for
    /// it.
    pub fn send_receipts(&mut self, index: u32) {
        self.send_receipts_of(index, false);
    }

    /// Receipts for the clients waiting for stream position `index` (`shed`: it was),
    /// which is done: the window may drop it.
    fn send_receipts_of(&mut self, index: u32, shed: bool) {
        for (to, index) in self.funds.take_waiters(index) {
            self.outbox.push(ShardMessage {
                to,
                body: MessageBody::Receipt { index, shed },
            });
        }
        self.window.mark_done(index);
    }

    /// The validators tell the client to send its transaction again at `due_ns` (with
    /// the attempt number given); until then, transactions spending its outputs wait
    /// with it.
    pub fn retry(&mut self, retry: Retry) {
        let id = self.window.id(retry.submission.index);
        self.awaiting.insert(id, retry.due_ns);
        let at = self
            .resubmits
            .iter()
            .rposition(|r| r.due_ns <= retry.due_ns)
            .map_or(0, |p| p + 1);
        self.resubmits.insert(at, retry);
    }

    /// The validators took `id` (provisional): a client waiting for it sends again.
    pub fn taken(&mut self, id: &TxId) {
        if !self.awaiting.is_empty() {
            self.awaiting.remove(id);
        }
    }

    /// The validators rejected the submission at `now_ns`. Returns whether the rejection
    /// is final: a transaction rejected because an input comes from one being
    /// re-submitted waits for it instead (and is sent again once that one is in, looking
    /// again every `wait_again_ns` while it is not).
    pub fn rejected(&mut self, submission: Submission, rejection: Rejection, now_ns: u64) -> bool {
        if !self.awaiting.is_empty() {
            let id = self.window.id(submission.index);
            self.awaiting.remove(&id);
            if let Rejection::UnknownInput { outpoint } = rejection
                && let Some(due) = self.awaiting.get_mut(&outpoint.tx)
            {
                if *due <= now_ns {
                    *due = now_ns + self.wait_again_ns;
                }
                let due_ns = *due;
                // Waiting, not a re-route: the same attempt.
                self.retry(Retry { submission, due_ns });
                return false;
            }
        }
        let reason = rejection.reason();
        let slot = RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("listed");
        self.rejected[slot] += 1;
        self.rejections.push((submission.index, reason));
        self.send_receipts(submission.index);
        true
    }

    /// All rejections the clients accepted.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::AtomicU64;

    use clap::Parser;
    use crossbeam::channel::unbounded;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::engine::host::Shard;
    use crate::engine::{Clock, build_shards};
    use crate::metrics::Window;

    /// The one shard of a small intra-shard workload whose accounts spend each other's
    /// outputs often (40 accounts), its validators taking everything sent; and the
    /// workload.
    fn shard(dir: &std::path::Path) -> (Shard, Arc<ioschain_workloads::Workload>) {
        let (out, cache) = (dir.join("out"), dir.join("cache"));
        let cli = Cli::try_parse_from([
            "ioschain",
            "sim",
            "--txs",
            "2000",
            "--shards",
            "1",
            "--cross-shard",
            "0",
            "--accounts",
            "40",
            "--validators-per-shard",
            "7",
            "--believable",
            "2",
            "--verify-batch-max",
            "65536",
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .unwrap();
        let Command::Sim(args) = cli.command else {
            unreachable!("parsed as sim")
        };
        let (_, params, _) = crate::sim::prepare(&args).unwrap().unwrap();
        let (store, _) = unbounded();
        let (reports, _) = unbounded();
        let now: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let window = Window {
            warmup_end_ns: 0,
            measure_end_ns: 1,
        };
        let shard = build_shards(
            &params,
            [7; 32],
            1,
            &store,
            &reports,
            window,
            Clock::Logical(now),
        )
        .unwrap()
        .shards
        .remove(0);
        let workload = Arc::clone(params.stream.workload().expect("in memory"));
        (shard, workload)
    }

    fn range(start: u32, end: u32) -> Submit {
        Submit {
            start,
            end,
            timing: Timing::SentAt(0),
            refused: false,
        }
    }

    #[test]
    fn what_spends_or_waits_for_a_given_up_transaction_is_given_up_too() {
        let dir = tempfile::tempdir().unwrap();
        let (mut shard, workload) = shard(dir.path());
        let stream = &workload.shards[0];
        let n = stream.txs.len() as u32;
        let k = n / 4;
        // The first quarter arrives at a full intake and is never admitted.
        let c = &mut shard.clients;
        assert_eq!(c.release_range(range(0, k), 0), 0);
        assert_eq!(c.refused_waiting(), u64::from(k));
        c.abandon();
        assert_eq!((c.shed.len() as u32, c.abandoned), (k, u64::from(k)));
        assert!(c.shed.iter().all(|&(_, cause)| cause == Shed::Abandoned));
        // The rest is admitted; the clients hear their receipts (sent to this shard) and
        // send what they may.
        assert_eq!(c.release_range(range(k, n), u64::MAX), n - k);
        loop {
            let receipts = std::mem::take(&mut c.outbox);
            for message in &receipts {
                if let MessageBody::Receipt { index, shed } = message.body {
                    c.on_receipt(index, shed);
                }
            }
            let sent = c.send(0, &mut shard.node, u64::MAX);
            if !sent && c.outbox.is_empty() {
                break;
            }
        }
        let shed: HashSet<u32> = c.shed.iter().map(|&(index, _)| index).collect();
        let cascaded: Vec<u32> = c
            .shed
            .iter()
            .filter(|(_, cause)| *cause == Shed::Cascaded)
            .map(|&(index, _)| index)
            .collect();
        assert!(
            cascaded.len() > 100,
            "{} given up for another",
            cascaded.len()
        );
        // Each depends on a shed one: spends its output, or waits for it.
        let shed_ids: HashSet<TxId> = shed.iter().map(|&i| stream.txs[i as usize].id()).collect();
        let dependencies = workload.dependencies();
        let waits_on_shed: HashSet<u32> = shed
            .iter()
            .flat_map(|i| dependencies.shards[0].waiters.get(i).into_iter().flatten())
            .map(|&(_, waiter)| waiter)
            .collect();
        for &i in &cascaded {
            let spends = stream.txs[i as usize]
                .inputs
                .iter()
                .any(|input| shed_ids.contains(&input.tx));
            assert!(spends || waits_on_shed.contains(&i), "tx {i}");
        }
        // Everything is shed, with the validators, or held for receipts of what is not
        // done yet, and the host has every shed one still to count.
        assert_eq!(
            u64::from(n),
            shed.len() as u64 + shard.node.queued() as u64 + c.funds.held() as u64
        );
        assert_eq!(c.newly_shed, shed.len() as u64);
    }
}
